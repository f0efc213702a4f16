// `ppx addresses`: the address dictionary of any simulator, from N prior traces.
//   ppx addresses --simulator 'build/bin/branching --serve {endpoint}' --traces 200
// For each address key "<base>__<distribution suffix>" (what `--init` files and IC embeddings are
// keyed on, without the instance number): kind, distribution, name, the fraction of traces that
// reach it, instances per trace, controlled or not; and the trace types (the sequence of sample
// addresses of a trace) with their frequencies. Tables on stdout, or JSON (--json, --out FILE).
#include <algorithm>
#include <cstdint>
#include <fmt/format.h>
#include <iostream>
#include <map>

#include "ppx/engines/importance_sampling.h"
#include "ppx/server/report.h"
#include "toolbox.h"

namespace ppx::cli {
namespace {

using nlohmann::json;

// "<base>__<suffix>__<instance>" without "__<instance>".
std::string address_key(const std::string& address) {
  const auto cut = address.rfind("__");
  return cut == std::string::npos ? address : address.substr(0, cut);
}

struct AddressStats {
  std::string key;
  SiteKind kind = SiteKind::Sample;
  std::string distribution;  // pyprob's suffix ("Normal", "Categorical(len_probs:3)"), "None" for tags
  std::vector<std::string> names;  // every name seen at this address (normally one)
  bool controlled = false, uncontrolled = false, observed = false;
  std::uint64_t traces = 0;        // traces that reach it
  std::uint64_t instances = 0;     // total occurrences
  std::uint32_t min_per_trace = 0, max_per_trace = 0;
  std::size_t first_seen = 0;      // order of first appearance
};

class Dictionary {
 public:
  void add(const engines::Trace& trace) {
    ++traces_;
    std::map<std::string, std::uint32_t> counts;
    std::string type;
    for (const engines::TraceEntry& e : trace.entries) {
      const std::string key = address_key(e.address);
      auto [it, fresh] = stats_.try_emplace(key);
      AddressStats& s = it->second;
      if (fresh) {
        s.key = key;
        s.kind = e.kind;
        s.distribution = e.distribution ? e.distribution->address_suffix() : "None";
        s.first_seen = stats_.size();
        s.min_per_trace = traces_ > 1 ? 0 : UINT32_MAX;  // absent from every earlier trace
      }
      if (!e.name.empty() && std::find(s.names.begin(), s.names.end(), e.name) == s.names.end()) s.names.push_back(e.name);
      if (e.kind == SiteKind::Sample) (e.control ? s.controlled : s.uncontrolled) = true;
      if (e.observed) s.observed = true;
      ++counts[key];
      if (e.kind == SiteKind::Sample && !e.observed) type += (type.empty() ? "" : " ") + e.address;
    }
    for (auto& [key, s] : stats_) {
      const auto it = counts.find(key);
      const std::uint32_t n = it == counts.end() ? 0 : it->second;
      if (n > 0) {
        ++s.traces;
        s.instances += n;
      }
      s.min_per_trace = std::min(s.min_per_trace, n);
      s.max_per_trace = std::max(s.max_per_trace, n);
    }
    ++trace_types_[type];
  }

  std::vector<const AddressStats*> ordered() const {
    std::vector<const AddressStats*> out;
    for (const auto& [key, s] : stats_) out.push_back(&s);
    std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->first_seen < b->first_seen; });
    return out;
  }
  std::vector<std::pair<std::string, std::uint64_t>> trace_types() const {
    std::vector<std::pair<std::string, std::uint64_t>> out(trace_types_.begin(), trace_types_.end());
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    return out;
  }
  std::uint64_t traces() const { return traces_; }

 private:
  std::uint64_t traces_ = 0;
  std::map<std::string, AddressStats> stats_;
  std::map<std::string, std::uint64_t> trace_types_;
};

json dictionary_json(const Dictionary& d, const std::string& model_name, const AddressesOptions& o,
                     const std::vector<std::string>& command_line) {
  json addresses = json::array();
  for (const AddressStats* s : d.ordered()) {
    addresses.push_back({{"address", s->key},
                         {"kind", site_kind_name(s->kind)},
                         {"distribution", s->distribution},
                         {"names", s->names},
                         {"controlled", s->kind == SiteKind::Sample ? json(s->controlled && !s->uncontrolled) : json(nullptr)},
                         {"observed", s->observed},
                         {"traces", s->traces},
                         {"frequency", static_cast<double>(s->traces) / static_cast<double>(d.traces())},
                         {"instances_per_trace",
                          {{"min", s->min_per_trace},
                           {"mean", static_cast<double>(s->instances) / static_cast<double>(d.traces())},
                           {"max", s->max_per_trace}}}});
  }
  json types = json::array();
  for (const auto& [type, count] : d.trace_types()) {
    json addresses_of_type = json::array();
    std::size_t start = 0;
    while (start < type.size()) {
      const auto end = type.find(' ', start);
      addresses_of_type.push_back(type.substr(start, end == std::string::npos ? std::string::npos : end - start));
      start = end == std::string::npos ? type.size() : end + 1;
    }
    types.push_back({{"count", count},
                     {"frequency", static_cast<double>(count) / static_cast<double>(d.traces())},
                     {"samples", addresses_of_type.size()},
                     {"addresses", addresses_of_type}});
  }
  return {{"ppxd", {{"version", server::ppxd_version()}, {"git_revision", server::ppxd_git_revision()}}},
          {"command_line", command_line},
          {"model_name", model_name},
          {"traces", d.traces()},
          {"seed", o.seed},
          {"addresses", addresses},
          {"trace_types", types}};
}

std::string dictionary_text(const json& j, std::size_t top) {
  std::string out = fmt::format("model {}: {} prior traces, {} addresses, {} trace types\n\n",
                                j["model_name"].get<std::string>(), j["traces"].get<std::uint64_t>(),
                                j["addresses"].size(), j["trace_types"].size());
  out += fmt::format("{:<8} {:<28} {:<16} {:>6} {:>8} {:>7} {:>5}  {}\n", "kind", "distribution", "name", "freq",
                     "inst/tr", "max", "ctrl", "address");
  for (const json& a : j["addresses"]) {
    std::string names;
    for (const json& n : a["names"]) names += (names.empty() ? "" : ",") + n.get<std::string>();
    const json& c = a["controlled"];
    out += fmt::format("{:<8} {:<28} {:<16} {:>6.3f} {:>8.3g} {:>7} {:>5}  {}\n", a["kind"].get<std::string>(),
                       a["distribution"].get<std::string>(), names.empty() ? "-" : names, a["frequency"].get<double>(),
                       a["instances_per_trace"]["mean"].get<double>(), a["instances_per_trace"]["max"].get<std::uint32_t>(),
                       c.is_null() ? "-" : (c.get<bool>() ? "yes" : "no"), a["address"].get<std::string>());
  }
  out += "\ntrace types (sequences of sample addresses), most frequent first:\n";
  std::size_t shown = 0;
  for (const json& t : j["trace_types"]) {
    if (shown++ == top) {
      out += fmt::format("  ... {} more (see --json)\n", j["trace_types"].size() - top);
      break;
    }
    std::string line = fmt::format("  {:>6.3f}  {} samples:", t["frequency"].get<double>(), t["samples"].get<std::size_t>());
    std::size_t listed = 0;
    for (const json& a : t["addresses"]) {
      if (listed++ == 6) {
        line += " ...";
        break;
      }
      line += " " + a.get<std::string>();
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace

int run_addresses(const AddressesOptions& options, const std::vector<std::string>& command_line) {
  try {
    server::PoolOptions pool_options = options.pool;
    pool_options.log = [](const std::string& line) { std::cerr << "ppx: " << line << "\n"; };
    server::SimulatorPool pool(pool_options);
    const std::vector<engines::Simulator*> simulators = pool.simulators();
    const std::string model_name = simulators.front()->model_name();
    Dictionary dictionary;
    engines::ImportanceSamplingOptions is{.traces = options.traces,
                                          .seed = options.seed,
                                          .prior = true,
                                          .trace_sink = [&](const engines::Trace& t) { dictionary.add(t); }};
    engines::EngineCallbacks callbacks{.log = [](const std::string& line) { std::cerr << "ppx: " << line << "\n"; }};
    (void)engines::importance_sampling(simulators, {}, is, callbacks);
    const json j = dictionary_json(dictionary, model_name, options, command_line);
    if (!options.out.empty()) server::write_file_atomically(options.out, j.dump(2) + "\n");
    std::cout << (options.json ? j.dump(2) + "\n" : dictionary_text(j, options.top_trace_types));
    std::cout.flush();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "ppx addresses: error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace ppx::cli
