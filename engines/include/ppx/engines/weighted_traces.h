#pragma once
// WeightedTraces: the posterior an engine returns — one row per trace (log weight, and for MCMC
// its chain and draw), a column per named scalar (samples, tags, and the result), full traces
// only on request. Memory grows with rows x named scalars, never with whole traces unless kept.
//
// Columns: every named sample or tag whose value is a single number, plus "result" when the run's
// result is a single number. A name absent from a trace is NaN in that row; a name that repeats
// within a trace keeps its last value (as pyprob's named variables do).
// Non-finite log weights (NaN, +inf) are dropped and counted; -inf is a valid zero weight.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ppx/core/rng.h"
#include "ppx/engines/trace.h"

namespace ppx::engines {

struct Category {
  double value;
  double probability;
};

struct VariableSummary {
  std::string name;
  bool discrete = false;
  double present = 0.0;  // posterior probability that the variable exists in a trace
  double mean = 0.0, sd = 0.0, q05 = 0.0, q50 = 0.0, q95 = 0.0;
  std::vector<Category> categories;  // discrete: by decreasing probability
};

struct TraceLengthStats {
  std::uint32_t min = 0, max = 0;
  double mean = 0.0;
};

class WeightedTraces {
 public:
  explicit WeightedTraces(bool keep_traces = false) : keep_traces_(keep_traces) {}

  // Adds a trace as the next row. `chain`/`draw` label MCMC rows (0 for IS).
  void add(Trace trace, std::uint32_t chain = 0, std::uint64_t draw = 0);

  std::size_t size() const { return log_weights_.size(); }
  std::uint64_t dropped() const { return dropped_; }
  const std::vector<double>& log_weights() const { return log_weights_; }
  const std::vector<std::uint32_t>& chains() const { return chains_; }
  const std::vector<std::uint64_t>& draws() const { return draws_; }
  const std::vector<std::string>& names() const { return names_; }  // first-seen order
  const std::vector<double>* column(std::string_view name) const;
  bool is_discrete(std::string_view name) const;
  const std::vector<Trace>& traces() const { return traces_; }  // empty unless kept
  TraceLengthStats trace_lengths() const;

  std::vector<double> normalized_weights() const;  // sums to 1 (all zero if no mass)
  double ess() const;                     // Kish, computed in log space
  double log_evidence() const;            // log mean weight
  double log_evidence_stderr() const;     // delta-method standard error
  VariableSummary summarize(std::string_view name, std::size_t top_categories = 5) const;
  // Systematic resampling: `n` row indices distributed by weight.
  std::vector<std::size_t> resample(std::size_t n, Rng& rng) const;

 private:
  // The column of `name` (tried first at `hint`), added if new with discrete() as its flag.
  template <typename Discrete>
  std::size_t column_index(std::string_view name, std::size_t hint, Discrete discrete);
  bool keep_traces_;
  std::uint64_t dropped_ = 0;
  std::vector<double> log_weights_;
  std::vector<std::uint32_t> chains_;
  std::vector<std::uint64_t> draws_;
  std::vector<std::string> names_;
  std::vector<bool> discrete_;
  std::vector<std::vector<double>> columns_;
  std::vector<Trace> traces_;
  std::vector<std::uint32_t> lengths_;
};

// Weighted quantile of values (NaN entries ignored), q in [0, 1].
double weighted_quantile(const std::vector<double>& values, const std::vector<double>& weights, double q);

}  // namespace ppx::engines
