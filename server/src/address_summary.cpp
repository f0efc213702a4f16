#include "ppx/server/address_summary.h"

#include <algorithm>

namespace ppx::server {

using nlohmann::json;

std::string address_key(const std::string& address) {
  const auto cut = address.rfind("__");
  return cut == std::string::npos ? address : address.substr(0, cut);
}

void AddressDictionary::add(const engines::Trace& trace) {
  ++traces_;
  std::map<std::string, std::uint32_t> counts;
  std::vector<std::string> type;
  for (const engines::TraceEntry& e : trace.entries) {
    const std::string key = address_key(e.address);
    auto [it, fresh] = stats_.try_emplace(key);
    Stats& s = it->second;
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
    if (e.kind == SiteKind::Sample && !e.observed) type.push_back(e.address);
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

json AddressDictionary::to_json() const {
  std::vector<const Stats*> ordered;
  for (const auto& [key, s] : stats_) ordered.push_back(&s);
  std::sort(ordered.begin(), ordered.end(), [](auto* a, auto* b) { return a->first_seen < b->first_seen; });
  const double n = static_cast<double>(std::max<std::uint64_t>(traces_, 1));
  json addresses = json::array();
  for (const Stats* s : ordered) {
    addresses.push_back({{"address", s->key},
                         {"kind", site_kind_name(s->kind)},
                         {"distribution", s->distribution},
                         {"names", s->names},
                         {"controlled", s->kind == SiteKind::Sample ? json(s->controlled && !s->uncontrolled) : json(nullptr)},
                         {"observed", s->observed},
                         {"traces", s->traces},
                         {"frequency", static_cast<double>(s->traces) / n},
                         {"instances_per_trace",
                          {{"min", s->min_per_trace}, {"mean", static_cast<double>(s->instances) / n}, {"max", s->max_per_trace}}}});
  }
  std::vector<std::pair<const std::vector<std::string>*, std::uint64_t>> types;
  for (const auto& [type, count] : trace_types_) types.emplace_back(&type, count);
  std::stable_sort(types.begin(), types.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  json type_list = json::array();
  for (const auto& [type, count] : types) {
    type_list.push_back({{"count", count},
                         {"frequency", static_cast<double>(count) / n},
                         {"samples", type->size()},
                         {"addresses", *type}});
  }
  return {{"traces", traces_}, {"addresses", addresses}, {"trace_types", type_list}};
}

}  // namespace ppx::server
