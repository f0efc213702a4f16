#include "ppx/engines/weighted_traces.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>

namespace ppx::engines {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double max_finite_or(const std::vector<double>& v, double fallback) {
  double m = -std::numeric_limits<double>::infinity();
  for (double x : v) m = std::max(m, x);
  return std::isfinite(m) ? m : fallback;
}

double log_sum_exp(const std::vector<double>& v, double scale = 1.0) {
  if (v.empty()) return -std::numeric_limits<double>::infinity();
  const double m = scale * max_finite_or(v, 0.0);
  double s = 0.0;
  for (double x : v) s += std::exp(scale * x - m);
  return m + std::log(s);
}

bool is_discrete_kind(const TraceEntry& entry) {
  return entry.discrete || (entry.distribution && entry.distribution->is_discrete());
}

}  // namespace

std::string element_column_name(std::string_view name, const std::vector<int32_t>& shape, std::size_t flat) {
  std::string out(name);
  std::vector<std::size_t> index(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    const auto extent = static_cast<std::size_t>(std::max<int32_t>(shape[d], 1));
    index[d] = flat % extent;
    flat /= extent;
  }
  for (std::size_t i : index) out += "." + std::to_string(i + 1);
  return out;
}

bool is_tabulated(const TraceEntry& entry, const Tabulation& tabulation) {
  if (entry.kind == SiteKind::Observe) return false;
  if (!entry.name.empty()) return true;
  return tabulation.all_samples && entry.kind == SiteKind::Sample && !entry.address.empty();
}

void WeightedTraces::add(Trace trace, std::uint32_t chain, std::uint64_t draw, double accept_stat) {
  if (std::isnan(trace.log_weight) || trace.log_weight == std::numeric_limits<double>::infinity()) {
    ++dropped_;
    return;
  }
  const std::size_t row = log_weights_.size();
  log_weights_.push_back(trace.log_weight);
  chains_.push_back(chain);
  draws_.push_back(draw);
  lengths_.push_back(trace.samples);
  for (auto& column : columns_) column.push_back(kNaN);
  std::size_t next = 0;
  const auto not_discrete = [] { return false; };
  if (log_joint_) {
    next = column_index(kLogJointColumn, kLogJointColumn, 0, not_discrete);
    columns_[next++][row] = trace.log_prior + trace.log_likelihood;
  }
  if (accept_stat_) {
    next = column_index(kAcceptStatColumn, kAcceptStatColumn, next, not_discrete);
    columns_[next++][row] = accept_stat;
  }
  // Occurrences of each name in this trace: a name seen twice gets a column per instance, or
  // (RepeatedNames::Last) only its last value. Unnamed samples are keyed by their full address,
  // which is unique within a trace.
  struct Occurrences {
    std::string_view name;
    std::uint32_t total = 0, stored = 0;
  };
  std::vector<Occurrences> seen;
  for (const TraceEntry& entry : trace.entries) {
    if (entry.name.empty() || !is_tabulated(entry, tabulation_)) continue;
    auto it = std::find_if(seen.begin(), seen.end(), [&](const auto& o) { return o.name == entry.name; });
    if (it == seen.end()) {
      seen.push_back({entry.name, 1});
    } else if (++it->total == 2 && std::find(repeated_.begin(), repeated_.end(), entry.name) == repeated_.end()) {
      mark_repeated(entry.name);
    }
  }
  const bool instances = tabulation_.repeated == RepeatedNames::Instances;
  // Traces of one model name their variables in much the same order: try the column after the
  // last one first.
  for (const TraceEntry& entry : trace.entries) {
    if (!is_tabulated(entry, tabulation_)) continue;
    if (entry.name.empty()) {
      next = store(entry.address, entry.address, entry.value, is_discrete_kind(entry), true, row, next);
      continue;
    }
    auto it = std::find_if(seen.begin(), seen.end(), [&](const auto& o) { return o.name == entry.name; });
    const std::uint32_t instance = ++it->stored;
    const bool repeated = std::find(repeated_.begin(), repeated_.end(), entry.name) != repeated_.end();
    if (!instances && instance < it->total) continue;  // Last: only the final value
    const std::string stem =
        instances && repeated ? entry.name + "." + std::to_string(instance) : entry.name;
    next = store(stem, entry.name, entry.value, is_discrete_kind(entry), false, row, next);
  }
  store("result", "result", trace.result, false, false, row, next);
  if (keep_traces_) traces_.push_back(std::move(trace));
}

void WeightedTraces::add_row(double log_weight, std::uint32_t chain, std::uint64_t draw,
                             const std::vector<ColumnValue>& values) {
  if (std::isnan(log_weight) || log_weight == std::numeric_limits<double>::infinity()) {
    ++dropped_;
    return;
  }
  const std::size_t row = log_weights_.size();
  log_weights_.push_back(log_weight);
  chains_.push_back(chain);
  draws_.push_back(draw);
  lengths_.push_back(0);  // not known from a table
  for (auto& column : columns_) column.push_back(kNaN);
  std::size_t next = 0;
  for (const ColumnValue& v : values) {
    next = column_index(v.column, v.base, next, [&] { return v.discrete; }, v.addressed);
    columns_[next++][row] = v.value;
  }
}

std::size_t WeightedTraces::store(std::string_view stem, std::string_view base, const Tensor& value, bool discrete,
                                  bool addressed, std::size_t row, std::size_t hint) {
  const std::size_t n = value.numel();
  if (n == 0) return hint;
  if (n > kMaxElementColumns) {
    if (!too_large_.contains(base)) too_large_.emplace(std::string(base), value.shape());
    return hint;
  }
  const auto is_discrete = [discrete] { return discrete; };
  if (n == 1) {
    hint = column_index(stem, base, hint, is_discrete, addressed);
    columns_[hint][row] = value[0];
    return hint + 1;
  }
  for (std::size_t k = 0; k < n; ++k) {
    hint = column_index(element_column_name(stem, value.shape(), k), base, hint, is_discrete, addressed);
    columns_[hint++][row] = value[k];
  }
  return hint;
}

void WeightedTraces::mark_repeated(std::string_view name) {
  repeated_.emplace_back(name);
  if (tabulation_.repeated == RepeatedNames::Last) return;  // the plain name keeps the last value
  // The columns so far held the only instance: they become instance 1.
  for (std::size_t i = 0; i < names_.size(); ++i) {
    if (bases_[i] == name) names_[i] = std::string(name) + ".1" + names_[i].substr(name.size());
  }
}

template <typename Discrete>
std::size_t WeightedTraces::column_index(std::string_view name, std::string_view base, std::size_t hint,
                                         Discrete discrete, bool addressed) {
  if (hint < names_.size() && names_[hint] == name) return hint;
  for (std::size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == name) return i;
  }
  names_.emplace_back(name);
  bases_.emplace_back(base);
  discrete_.push_back(discrete());
  addressed_.push_back(addressed);
  columns_.emplace_back(log_weights_.size(), kNaN);
  return names_.size() - 1;
}

const std::vector<double>* WeightedTraces::column(std::string_view name) const {
  for (std::size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == name) return &columns_[i];
  }
  return nullptr;
}

bool WeightedTraces::is_discrete(std::string_view name) const {
  for (std::size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == name) return discrete_[i];
  }
  return false;
}

bool WeightedTraces::is_addressed(std::string_view name) const {
  for (std::size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == name) return addressed_[i];
  }
  return false;
}

TraceLengthStats WeightedTraces::trace_lengths() const {
  if (lengths_.empty()) return {};
  const auto [lo, hi] = std::minmax_element(lengths_.begin(), lengths_.end());
  const double sum = std::accumulate(lengths_.begin(), lengths_.end(), 0.0);
  return {*lo, *hi, sum / static_cast<double>(lengths_.size())};
}

std::vector<double> WeightedTraces::normalized_weights() const {
  std::vector<double> w(log_weights_.size(), 0.0);
  const double total = log_sum_exp(log_weights_);
  if (!std::isfinite(total)) return w;
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = std::exp(log_weights_[i] - total);
  return w;
}

double WeightedTraces::ess() const {
  // Kish: (sum w)^2 / sum w^2, in log space so huge or tiny weights neither overflow nor vanish.
  const double log_sum = log_sum_exp(log_weights_);
  if (!std::isfinite(log_sum)) return 0.0;
  return std::exp(2.0 * log_sum - log_sum_exp(log_weights_, 2.0));
}

double WeightedTraces::log_evidence() const {
  const std::size_t n = log_weights_.size() + dropped_;
  if (n == 0) return -std::numeric_limits<double>::infinity();
  return log_sum_exp(log_weights_) - std::log(static_cast<double>(n));
}

double WeightedTraces::log_evidence_stderr() const {
  // Z = mean(w) over every trace (dropped ones count as zero weights, as in log_evidence);
  // se(Z) = sd(w)/sqrt(n); se(log Z) = se(Z)/Z (delta method), with w scaled by the max.
  const std::size_t n = log_weights_.size() + dropped_;
  if (n < 2) return std::numeric_limits<double>::infinity();
  const double m = max_finite_or(log_weights_, 0.0);
  double sum = 0.0, sum_sq = 0.0;
  for (double lw : log_weights_) {
    const double w = std::exp(lw - m);
    sum += w;
    sum_sq += w * w;
  }
  if (sum <= 0.0) return std::numeric_limits<double>::infinity();
  const double count = static_cast<double>(n);
  const double mean = sum / count;
  const double var = std::max(0.0, sum_sq / count - mean * mean) * count / (count - 1.0);
  return std::sqrt(var / count) / mean;
}

std::vector<double> weighted_quantiles(const std::vector<double>& values, const std::vector<double>& weights,
                                       const std::vector<double>& qs) {
  std::vector<std::pair<double, double>> pairs;
  pairs.reserve(values.size());
  double total = 0.0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (std::isnan(values[i]) || weights[i] <= 0.0) continue;
    pairs.emplace_back(values[i], weights[i]);
    total += weights[i];
  }
  std::vector<double> out(qs.size(), kNaN);
  if (pairs.empty() || total <= 0.0) return out;
  std::sort(pairs.begin(), pairs.end());
  // Smallest value whose cumulative weight reaches q (inverse of the weighted empirical CDF).
  // The slack absorbs rounding in the running sum (100 weights of 0.01 sum to 0.4999...).
  for (std::size_t k = 0; k < qs.size(); ++k) {
    const double target = qs[k] * total * (1.0 - 1e-12);
    double cumulative = 0.0;
    out[k] = pairs.back().first;
    for (const auto& [value, weight] : pairs) {
      cumulative += weight;
      if (cumulative >= target) {
        out[k] = value;
        break;
      }
    }
  }
  return out;
}

double weighted_quantile(const std::vector<double>& values, const std::vector<double>& weights, double q) {
  return weighted_quantiles(values, weights, {q})[0];
}

VariableSummary WeightedTraces::summarize(std::string_view name, std::size_t top_categories) const {
  VariableSummary s;
  s.name = std::string(name);
  const std::vector<double>* values = column(name);
  if (values == nullptr) return s;
  s.discrete = is_discrete(name);
  const std::vector<double> weights = normalized_weights();
  double mass = 0.0, mean = 0.0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    if (std::isnan((*values)[i])) continue;
    mass += weights[i];
    mean += weights[i] * (*values)[i];
  }
  s.present = std::min(mass, 1.0);  // rounding must not print 1.0000000002
  if (mass <= 0.0) {
    s.mean = s.sd = s.q05 = s.q50 = s.q95 = s.mcse_mean = kNaN;
    return s;
  }
  double sum_sq = 0.0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    if (!std::isnan((*values)[i])) sum_sq += weights[i] * weights[i];
  }
  s.ess = sum_sq > 0.0 ? mass * mass / sum_sq : 0.0;
  mean /= mass;
  double var = 0.0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    if (std::isnan((*values)[i])) continue;
    const double d = (*values)[i] - mean;
    var += weights[i] * d * d;
  }
  s.mean = mean;
  s.sd = std::sqrt(var / mass);
  s.mcse_mean = s.ess > 0.0 ? s.sd / std::sqrt(s.ess) : kNaN;
  const std::vector<double> q = weighted_quantiles(*values, weights, {0.05, 0.50, 0.95});
  s.q05 = q[0];
  s.q50 = q[1];
  s.q95 = q[2];
  if (s.discrete) {
    std::map<double, double> table;
    for (std::size_t i = 0; i < weights.size(); ++i) {
      if (!std::isnan((*values)[i])) table[(*values)[i]] += weights[i] / mass;
    }
    for (const auto& [value, p] : table) s.categories.push_back({value, p});
    std::stable_sort(s.categories.begin(), s.categories.end(),
                     [](const Category& a, const Category& b) { return a.probability > b.probability; });
    if (s.categories.size() > top_categories) s.categories.resize(top_categories);
  }
  return s;
}

std::vector<std::size_t> WeightedTraces::resample(std::size_t n, Rng& rng) const {
  std::vector<std::size_t> out;
  const std::vector<double> weights = normalized_weights();
  std::size_t last_positive = weights.size();
  for (std::size_t i = weights.size(); i-- > 0;) {
    if (weights[i] > 0.0) {
      last_positive = i;
      break;
    }
  }
  if (n == 0 || last_positive == weights.size()) return out;  // no mass: nothing to resample
  out.reserve(n);
  const double step = 1.0 / static_cast<double>(n);
  // u in (0, step]: a zero-weight row is never picked, not even the first.
  double u = step - std::uniform_real_distribution<double>(0.0, step)(rng);
  double cumulative = weights[0];
  std::size_t i = 0;
  for (std::size_t k = 0; k < n; ++k) {
    while (u > cumulative && i < last_positive) cumulative += weights[++i];
    out.push_back(i);
    u += step;
  }
  return out;
}

}  // namespace ppx::engines
