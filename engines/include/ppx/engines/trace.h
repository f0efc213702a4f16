#pragma once
// Trace: one execution of a simulator as the engine scored it.
// Addresses are pyprob's: "<base>__<suffix>__<instance>", the instance counting repeats of
// "<base>__<suffix>" within the trace (1-based), so traces and networks are comparable with pyprob.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ppx/core/distribution.h"
#include "ppx/core/tensor.h"
#include "ppx/core/trace_record.h"

namespace ppx::engines {

// Observed values by name: what a query conditions on.
using Observations = std::map<std::string, Tensor, std::less<>>;

struct TraceEntry {
  SiteKind kind = SiteKind::Sample;
  std::string address;        // full address with suffix and instance
  std::string name;
  std::optional<Distribution> distribution;  // absent for tags
  Tensor value;
  double log_prob = 0.0;      // of value under distribution (0 for tags and unscored observes)
  std::optional<double> log_proposal;  // log q(value) when a proposal (not the prior) drew it
  bool control = true;        // sample drawn by the policy (false: always from the prior)
  bool observed = false;      // contributes to the likelihood (observe with a value, or clamped sample)
  bool reused = false;        // MCMC: value carried over from the previous trace
  bool discrete = false;      // the distribution is discrete (set by the recorder, also where the
                              // distribution itself is not kept)
};

struct Trace {
  std::vector<TraceEntry> entries;
  Tensor result;
  double log_likelihood = 0.0;  // sum of observed entries' log_prob
  double log_prior = 0.0;       // sum of unobserved samples' log_prob
  double log_weight = 0.0;      // importance weight: log_likelihood + log prior - log proposal
  std::uint32_t samples = 0;    // sample statements (unobserved)
  std::uint32_t unconditioned_observes = 0;  // observes with no value from query or simulator
  std::chrono::nanoseconds run_time{0};

  // The last entry with this name, or null.
  const TraceEntry* find_named(std::string_view name) const;
};

// Full address of an entry: "<base>__<suffix>__<instance>".
std::string full_address(std::string_view base, std::string_view suffix, std::uint32_t instance);

}  // namespace ppx::engines
