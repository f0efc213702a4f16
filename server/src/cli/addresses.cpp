// `ppx addresses`: the address dictionary of any simulator, from N prior traces.
//   ppx addresses --simulator 'build/bin/branching --serve {endpoint}' --traces 200
// What it gathers is server::AddressDictionary (address_summary.h, shared with ppxd's
// GET /v1/models). Tables on stdout, or JSON (--json, --out FILE).
#include <algorithm>
#include <cstdint>
#include <fmt/format.h>
#include <iostream>

#include "ppx/engines/importance_sampling.h"
#include "ppx/server/address_summary.h"
#include "ppx/server/report.h"
#include "toolbox.h"

namespace ppx::cli {
namespace {

using nlohmann::json;

json dictionary_json(const server::AddressDictionary& d, const std::string& model_name, const AddressesOptions& o,
                     const std::vector<std::string>& command_line) {
  json j = d.to_json();
  j["ppxd"] = {{"version", server::ppxd_version()}, {"git_revision", server::ppxd_git_revision()}};
  j["command_line"] = command_line;
  j["model_name"] = model_name;
  j["seed"] = o.seed;
  return j;
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
    server::AddressDictionary dictionary;
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
