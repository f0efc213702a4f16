#include "ppx/server/query_check.h"

#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <optional>
#include <set>

#include "ppx/core/handler.h"
#include "ppx/core/rng.h"

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

// Looks and draws from the prior; scores nothing.
class LookingHandler final : public Handler {
 public:
  LookingHandler(const engines::Observations& observations, Rng& rng, QueryCheck& check, std::set<std::string>& names)
      : observations_(observations), rng_(rng), check_(check), names_(names) {}

  Tensor on_sample(const SampleSite& site) override {
    if (!site.name.empty()) {
      names_.emplace(site.name);
      if (auto it = observations_.find(site.name); it != observations_.end()) {
        check_shape(site.name, "sample", it->second, site.distribution);
        ++check_.conditioned;
        return it->second;  // clamped, as the engine does
      }
    }
    return site.distribution.sample(rng_);
  }

  void on_observe(const ObserveSite& site) override {
    const auto it = site.name.empty() ? observations_.end() : observations_.find(site.name);
    if (!site.name.empty()) names_.emplace(site.name);
    const Tensor* value = it != observations_.end() ? &it->second : site.value;
    if (value == nullptr) {
      add_once(check_.unconditioned, site.name.empty() ? std::string(site.address) : std::string(site.name));
      return;
    }
    ++check_.conditioned;
    if (site.likelihood != nullptr && it != observations_.end()) check_shape(site.name, "observe", *value, *site.likelihood);
  }

  void on_tag(const TagSite&) override {}

 private:
  static void add_once(std::vector<std::string>& list, std::string item) {
    if (std::find(list.begin(), list.end(), item) == list.end()) list.push_back(std::move(item));
  }
  void check_shape(std::string_view name, std::string_view statement, const Tensor& value, const Distribution& d) {
    const std::vector<int32_t> expected = d.value_shape();
    if (same_shape(value.shape(), expected)) return;
    add_once(check_.shape_errors,
             fmt::format("observation '{}' has shape {}, but the model's {} statement '{}' ({}) draws values of "
                         "shape {}; give a value of that shape",
                         name, shape_text(value.shape()), statement, name, d.name(), shape_text(expected)));
  }
  const engines::Observations& observations_;
  Rng& rng_;
  QueryCheck& check_;
  std::set<std::string>& names_;
};

}  // namespace

std::string shape_text(const std::vector<int32_t>& shape) {
  return shape.empty() ? "[] (a scalar)" : fmt::format("[{}]", fmt::join(shape, ", "));
}

std::string QueryCheck::error() const {
  if (!unknown.empty()) {
    return fmt::format("--observe {}: the model has no observe or sample statement of that name (after {} trace{}; "
                       "its names: {})",
                       fmt::join(unknown, ", "), traces, traces == 1 ? "" : "s",
                       model_names.empty() ? std::string("none") : fmt::format("{}", fmt::join(model_names, ", ")));
  }
  if (!shape_errors.empty()) return fmt::format("{}", fmt::join(shape_errors, "; "));
  return {};
}

QueryCheck check_query(engines::Simulator& simulator, const engines::Observations& observations,
                       std::uint64_t traces, std::uint64_t seed, std::uint64_t max_traces) {
  QueryCheck check;
  std::set<std::string> names;  // over all traces
  // Its own generator stream: the engine's streams (0, 1, ...) are not touched.
  Rng rng = make_rng(seed, UINT64_MAX);
  std::optional<std::set<std::string>> first_names;
  const auto missing = [&] {
    return std::any_of(observations.begin(), observations.end(), [&](const auto& o) { return !names.contains(o.first); });
  };
  while (check.traces < traces || (check.traces < max_traces && missing())) {
    std::set<std::string> trace_names;
    LookingHandler handler(observations, rng, check, trace_names);
    simulator.run(handler);
    ++check.traces;
    if (!first_names) {
      first_names = trace_names;
    } else if (trace_names != *first_names) {
      check.branching = true;
    }
    names.merge(trace_names);
  }
  check.model_names.assign(names.begin(), names.end());
  for (const auto& [name, value] : observations) {
    if (!names.contains(name)) (check.branching ? check.unseen : check.unknown).push_back(name);
  }
  return check;
}

}  // namespace ppx::server
