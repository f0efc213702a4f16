#pragma once
// WeightedTraces: the posterior an engine returns — one row per trace (log weight, and for MCMC
// its chain and draw), a column per named scalar (samples, tags, and the result), full traces
// only on request. Memory grows with rows x named scalars, never with whole traces unless kept.
//
// Columns (named CmdStan-style, see element_column_name): every named sample or tag and the
// result; a tensor value gets one column per element, NAME.i.j (1-based, row-major), up to
// kMaxElementColumns elements (larger values are not tabulated: see too_large()). A name that
// repeats within a trace gets one column per instance, NAME.1, NAME.2, ... in the order of the
// trace (once a name repeats in any trace, its earlier single-instance column becomes NAME.1).
// Tabulation::repeated = Last keeps only the last instance, under the plain name (repeated()
// still lists the name). Tabulation::all_samples also tabulates unnamed samples, one column per
// full address ("<base>__<suffix>__<instance>", CmdStan element suffixes after it; is_addressed()).
// A name absent from a trace is NaN in that row. With record_log_joint(), "lp__" is the log
// joint (log prior + log likelihood) of each row, as in CmdStan; with record_accept_stat(),
// "accept_stat__" is the value given to add() (MCMC: the acceptance probability of the proposal
// made at the draw's iteration).
// Non-finite log weights (NaN, +inf) are dropped and counted; -inf is a valid zero weight.
#include <cstdint>
#include <limits>
#include <map>
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
  // Kish ESS of the weights of the rows where the variable is present, and the Monte Carlo
  // standard error of the mean from it, sd / sqrt(ess) (for equally weighted MCMC draws this
  // ignores autocorrelation: MCMC reports diagnostics.h's mcse_mean instead).
  double ess = 0.0, mcse_mean = 0.0;
  std::vector<Category> categories;  // discrete: by decreasing probability
};

// Largest tensor tabulated element by element.
inline constexpr std::size_t kMaxElementColumns = 1024;

// The column of element `flat` (row-major) of a value of `shape` named `name`: "name" for a
// scalar, "name.3" for a vector, "name.2.1" for a matrix (1-based indices, as CmdStan).
std::string element_column_name(std::string_view name, const std::vector<int32_t>& shape, std::size_t flat);

// One value of a row read back from a results file (samples.csv): its column, the variable the
// column belongs to ("result" for "result.2.1") and whether it is discrete (posterior.json says).
struct ColumnValue {
  std::string_view column;
  std::string_view base;
  double value;  // NaN: absent from this row
  bool discrete = false;
  bool addressed = false;  // the column is named by a full address (an unnamed sample)
};

// The sampler columns (CmdStan's names).
inline constexpr std::string_view kLogJointColumn = "lp__";
inline constexpr std::string_view kAcceptStatColumn = "accept_stat__";

enum class RepeatedNames { Instances, Last };

// What WeightedTraces makes columns of (`--variables`, `--repeated`).
struct Tabulation {
  bool all_samples = false;  // also unnamed samples, by full address (default: named ones only)
  RepeatedNames repeated = RepeatedNames::Instances;
};

// Whether `entry` gets columns under `tabulation`: named samples and tags, and with all_samples
// unnamed samples that carry an address; never observes. (Value size is checked separately.)
bool is_tabulated(const TraceEntry& entry, const Tabulation& tabulation);

struct TraceLengthStats {
  std::uint32_t min = 0, max = 0;
  double mean = 0.0;
};

class WeightedTraces {
 public:
  explicit WeightedTraces(bool keep_traces = false, Tabulation tabulation = {})
      : keep_traces_(keep_traces), tabulation_(tabulation) {}
  // Adds a row from already tabulated values (tools that recompute summaries from saved runs,
  // e.g. `ppx summary`); columns are created on first use, in the order given.
  void add_row(double log_weight, std::uint32_t chain, std::uint64_t draw, const std::vector<ColumnValue>& values);
  // Adds the "lp__" column (call before the first add()).
  void record_log_joint() { log_joint_ = true; }
  // Adds the "accept_stat__" column (call before the first add()).
  void record_accept_stat() { accept_stat_ = true; }

  // Adds a trace as the next row. `chain`/`draw` label MCMC rows (0 for IS); `accept_stat` goes
  // to the accept_stat__ column when recorded.
  void add(Trace trace, std::uint32_t chain = 0, std::uint64_t draw = 0,
           double accept_stat = std::numeric_limits<double>::quiet_NaN());
  const Tabulation& tabulation() const { return tabulation_; }
  // Rows read back from files: the names that repeated in the traces they came from.
  void restore_repeated(std::vector<std::string> names) { repeated_ = std::move(names); }

  std::size_t size() const { return log_weights_.size(); }
  std::uint64_t dropped() const { return dropped_; }
  const std::vector<double>& log_weights() const { return log_weights_; }
  const std::vector<std::uint32_t>& chains() const { return chains_; }
  const std::vector<std::uint64_t>& draws() const { return draws_; }
  const std::vector<std::string>& names() const { return names_; }  // first-seen order
  // Per column (parallel to names()): the variable it belongs to ("result" for "result.2.1",
  // "eps" for "eps.3").
  const std::vector<std::string>& bases() const { return bases_; }
  const std::vector<double>* column(std::string_view name) const;
  bool is_discrete(std::string_view name) const;
  // The column belongs to an unnamed sample and is named by its full address.
  bool is_addressed(std::string_view name) const;
  const std::vector<Trace>& traces() const { return traces_; }  // empty unless kept
  // Named values with more than kMaxElementColumns elements, not tabulated, with their shape.
  const std::map<std::string, std::vector<int32_t>, std::less<>>& too_large() const { return too_large_; }
  // Names that repeated within some trace (columns NAME.1, NAME.2, ..., or NAME: the last value).
  const std::vector<std::string>& repeated() const { return repeated_; }
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
  std::size_t column_index(std::string_view name, std::string_view base, std::size_t hint, Discrete discrete,
                           bool addressed = false);
  // Stores `value` of variable `base` in the columns named `stem` (with element suffixes for a
  // tensor); returns the next column hint.
  std::size_t store(std::string_view stem, std::string_view base, const Tensor& value, bool discrete, bool addressed,
                    std::size_t row, std::size_t hint);
  void mark_repeated(std::string_view name);
  bool log_joint_ = false;
  bool accept_stat_ = false;
  std::vector<bool> addressed_;
  std::vector<std::string> bases_;  // per column: the name it belongs to
  std::vector<std::string> repeated_;
  std::map<std::string, std::vector<int32_t>, std::less<>> too_large_;
  bool keep_traces_;
  Tabulation tabulation_;
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
// Several quantiles with one sort.
std::vector<double> weighted_quantiles(const std::vector<double>& values, const std::vector<double>& weights,
                                       const std::vector<double>& qs);

}  // namespace ppx::engines
