#include "ppx/server/query_check.h"

#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <set>

#include "ppx/core/rng.h"
#include "ppx/engines/executor.h"
#include "ppx/server/address_summary.h"

namespace ppx::server {
namespace {

std::size_t elements(const std::vector<int32_t>& shape) {
  std::size_t n = 1;
  for (int32_t d : shape) n *= static_cast<std::size_t>(std::max(d, 0));
  return n;
}

// Shapes match when equal, or when both hold one element ([] and [1] are one number).
bool same_shape(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  return a == b || (elements(a) == 1 && elements(b) == 1);
}

}  // namespace

void ModelSites::add(const engines::Trace& trace) {
  ++traces;
  std::vector<std::string> names;
  for (const engines::TraceEntry& e : trace.entries) {
    if (e.kind != SiteKind::Tag && !e.name.empty()) names.push_back(e.name);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  if (traces == 1) {
    first_names_ = std::move(names);
  } else if (names != first_names_) {
    branching = true;
  }
  for (const engines::TraceEntry& e : trace.entries) {
    if (e.kind == SiteKind::Tag || (e.name.empty() && e.kind != SiteKind::Observe)) continue;
    const std::string key = address_key(e.address);
    auto it = std::find_if(sites.begin(), sites.end(), [&](const Site& s) {
      return e.name.empty() ? s.name.empty() && s.address == key : s.name == e.name;
    });
    if (it == sites.end()) {
      Site site{.name = e.name, .address = key, .kind = e.kind};
      if (e.distribution) {
        site.distribution = e.distribution->name();
        site.shape = e.distribution->value_shape();
        site.has_distribution = true;
      }
      sites.push_back(std::move(site));
      it = std::prev(sites.end());
    }
    if (e.kind == SiteKind::Observe && e.observed) it->had_value = true;
  }
}

bool ModelSites::has_name(std::string_view name) const {
  return std::any_of(sites.begin(), sites.end(), [&](const Site& s) { return s.name == name; });
}

std::string shape_text(const std::vector<int32_t>& shape) {
  return shape.empty() ? "[] (a scalar)" : fmt::format("[{}]", fmt::join(shape, ", "));
}

std::string QueryCheck::error(std::string_view given) const {
  if (!unknown.empty()) {
    return fmt::format("{} {}: the model has no observe or sample statement of that name (after {} trace{}; "
                       "its names: {})",
                       given, fmt::join(unknown, ", "), traces, traces == 1 ? "" : "s",
                       model_names.empty() ? std::string("none") : fmt::format("{}", fmt::join(model_names, ", ")));
  }
  if (!shape_errors.empty()) return fmt::format("{}", fmt::join(shape_errors, "; "));
  return {};
}

std::vector<std::string> QueryCheck::warnings(std::string_view how) const {
  std::vector<std::string> out;
  if (!unconditioned.empty()) {
    out.push_back(fmt::format("observe statement{} {} got no value (give one with {}): not conditioned on",
                              unconditioned.size() > 1 ? "s" : "", fmt::join(unconditioned, ", "), how));
  }
  if (!unseen.empty()) {
    out.push_back(fmt::format("{}: no observe or sample statement of that name in {} prior traces; the model's traces "
                              "differ in what they reach, so it may be a branch seldom taken, or a misspelling (its "
                              "names: {})",
                              fmt::join(unseen, ", "), traces, fmt::join(model_names, ", ")));
  }
  if (conditioned == 0) out.push_back("no observation is given or supplied: this samples the prior, not a posterior");
  return out;
}

QueryCheck check_query(const ModelSites& model, const engines::Observations& observations) {
  QueryCheck check;
  check.traces = model.traces;
  check.branching = model.branching;
  std::set<std::string> names;
  for (const ModelSites::Site& site : model.sites) {
    if (!site.name.empty()) names.insert(site.name);
    const auto it = site.name.empty() ? observations.end() : observations.find(site.name);
    const bool given = it != observations.end();
    if (site.kind == SiteKind::Observe && !given && !site.had_value) {
      check.unconditioned.push_back(site.name.empty() ? site.address : site.name);
      continue;
    }
    if (!given && !site.had_value) continue;
    ++check.conditioned;
    if (!given || !site.has_distribution || same_shape(it->second.shape(), site.shape)) continue;
    const char* statement = site.kind == SiteKind::Observe ? "observe" : "sample";
    check.shape_errors.push_back(
        fmt::format("observation '{}' has shape {}, but the model's {} statement '{}' ({}) draws values of "
                    "shape {}; give a value of that shape",
                    site.name, shape_text(it->second.shape()), statement, site.name, site.distribution,
                    shape_text(site.shape)));
  }
  check.model_names.assign(names.begin(), names.end());
  for (const auto& [name, value] : observations) {
    if (!names.contains(name)) (model.branching ? check.unseen : check.unknown).push_back(name);
  }
  return check;
}

ModelSites learn_sites(engines::Simulator& simulator, const engines::Observations& observations, std::uint64_t traces,
                       std::uint64_t seed, const std::function<void(const engines::Trace&)>& sink,
                       std::uint64_t max_traces) {
  ModelSites sites;
  // Its own generator stream: the engine's streams (0, 1, ...) are not touched.
  Rng rng = make_rng(seed, UINT64_MAX);
  engines::PriorPolicy policy;
  engines::TraceRecorder recorder(policy, observations, rng, engines::Recording::Full);
  const auto missing = [&] {
    return std::any_of(observations.begin(), observations.end(), [&](const auto& o) { return !sites.has_name(o.first); });
  };
  while (sites.traces < traces || (sites.traces < max_traces && missing())) {
    Tensor result = simulator.run(recorder);
    const engines::Trace trace = recorder.finish(std::move(result));
    sites.add(trace);
    if (sink) sink(trace);
  }
  return sites;
}

QueryCheck check_query(engines::Simulator& simulator, const engines::Observations& observations,
                       std::uint64_t traces, std::uint64_t seed, std::uint64_t max_traces) {
  return check_query(learn_sites(simulator, observations, traces, seed, {}, max_traces), observations);
}

}  // namespace ppx::server
