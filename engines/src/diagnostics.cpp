#include "ppx/engines/diagnostics.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <numbers>
#include <numeric>
#include <stdexcept>

namespace ppx::engines {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::size_t kMinDraws = 4;  // ArviZ's min_draws

std::size_t draws_per_chain(const ChainDraws& draws) {
  if (draws.empty()) return 0;
  const std::size_t n = draws.front().size();
  for (const auto& chain : draws) {
    if (chain.size() != n) throw std::invalid_argument("diagnostics: chains must have the same number of draws");
  }
  return n;
}

bool all_finite(const ChainDraws& draws) {
  for (const auto& chain : draws) {
    for (double x : chain) {
      if (!std::isfinite(x)) return false;
    }
  }
  return true;
}

// ArviZ's _not_valid(min_draws=4, min_chains=1) plus the finiteness check.
bool valid(const ChainDraws& draws) {
  return !draws.empty() && draws_per_chain(draws) >= kMinDraws && all_finite(draws);
}

std::vector<double> flatten(const ChainDraws& draws) {
  std::vector<double> out;
  for (const auto& chain : draws) out.insert(out.end(), chain.begin(), chain.end());
  return out;
}

double mean_of(std::span<const double> x) {
  return std::accumulate(x.begin(), x.end(), 0.0) / static_cast<double>(x.size());
}

double variance_of(std::span<const double> x) {  // ddof = 1
  const double m = mean_of(x);
  double s = 0.0;
  for (double v : x) s += (v - m) * (v - m);
  return s / static_cast<double>(x.size() - 1);
}

// numpy.median: the mean of the two middle values for an even count.
double median_of(std::vector<double> x) {
  const std::size_t n = x.size();
  std::nth_element(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(n / 2), x.end());
  const double upper = x[n / 2];
  if (n % 2 == 1) return upper;
  const double lower = *std::max_element(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(n / 2));
  return 0.5 * (lower + upper);
}

// numpy.quantile with the default "linear" method.
double quantile_of(std::vector<double> x, double q) {
  std::sort(x.begin(), x.end());
  const double h = static_cast<double>(x.size() - 1) * q;
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, x.size() - 1);
  return x[lo] + (h - static_cast<double>(lo)) * (x[hi] - x[lo]);
}

// In-place iterative radix-2 FFT (size a power of two); inverse without the 1/n factor.
void fft(std::vector<std::complex<double>>& a, bool inverse) {
  const std::size_t n = a.size();
  for (std::size_t i = 1, j = 0; i < n; ++i) {
    std::size_t bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) std::swap(a[i], a[j]);
  }
  for (std::size_t len = 2; len <= n; len <<= 1) {
    const double angle = 2.0 * std::numbers::pi / static_cast<double>(len) * (inverse ? 1.0 : -1.0);
    const std::complex<double> step(std::cos(angle), std::sin(angle));
    for (std::size_t i = 0; i < n; i += len) {
      std::complex<double> w(1.0, 0.0);
      for (std::size_t k = 0; k < len / 2; ++k) {
        const std::complex<double> u = a[i + k];
        const std::complex<double> v = a[i + k + len / 2] * w;
        a[i + k] = u + v;
        a[i + k + len / 2] = u - v;
        w *= step;
      }
    }
  }
}

ChainDraws apply(const ChainDraws& draws, auto&& f) {
  ChainDraws out = draws;
  for (auto& chain : out) {
    for (double& x : chain) x = f(x);
  }
  return out;
}

}  // namespace

namespace detail {

double normal_quantile(double p) {
  // Wichura (1988), Algorithm AS 241 (PPND16), as in R's qnorm: relative accuracy about 1e-16.
  if (std::isnan(p) || p < 0.0 || p > 1.0) return kNaN;
  if (p == 0.0) return -std::numeric_limits<double>::infinity();
  if (p == 1.0) return std::numeric_limits<double>::infinity();
  const double q = p - 0.5;
  if (std::fabs(q) <= 0.425) {
    const double r = 0.180625 - q * q;
    return q *
           (((((((r * 2509.0809287301226727 + 33430.575583588128105) * r + 67265.770927008700853) * r +
                45921.953931549871457) * r + 13731.693765509461125) * r + 1971.5909503065514427) * r +
             133.14166789178437745) * r + 3.387132872796366608) /
           (((((((r * 5226.495278852545925 + 28729.085735721942674) * r + 39307.89580009271061) * r +
                21213.794301586595867) * r + 5394.1960214247511077) * r + 687.1870074920579083) * r +
             42.313330701600911252) * r + 1.0);
  }
  double r = std::sqrt(-std::log(q < 0.0 ? p : 1.0 - p));
  double value;
  if (r <= 5.0) {
    r -= 1.6;
    value = (((((((r * 7.7454501427834140764e-4 + 0.0227238449892691845833) * r + 0.24178072517745061177) * r +
                 1.27045825245236838258) * r + 3.64784832476320460504) * r + 5.7694972214606914055) * r +
              4.6303378461565452959) * r + 1.42343711074968357734) /
            (((((((r * 1.05075007164441684324e-9 + 5.475938084995344946e-4) * r + 0.0151986665636164571966) * r +
                 0.14810397642748007459) * r + 0.68976733498510000455) * r + 1.6763848301838038494) * r +
              2.05319162663775882187) * r + 1.0);
  } else {
    r -= 5.0;
    value = (((((((r * 2.01033439929228813265e-7 + 2.71155556874348757815e-5) * r + 0.0012426609473880784386) * r +
                 0.026532189526576123093) * r + 0.29656057182850489123) * r + 1.7848265399172913358) * r +
              5.4637849111641143699) * r + 6.6579046435011037772) /
            (((((((r * 2.04426310338993978564e-15 + 1.4215117583164458887e-7) * r + 1.8463183175100546818e-5) * r +
                 7.868691311456132591e-4) * r + 0.0148753612908506148525) * r + 0.13692988092273580531) * r +
              0.59983220655588793769) * r + 1.0);
  }
  return q < 0.0 ? -value : value;
}

std::vector<double> autocovariance(std::span<const double> x) {
  const std::size_t n = x.size();
  if (n == 0) return {};
  std::size_t m = 1;
  while (m < 2 * n) m <<= 1;  // zero padding to >= 2n: the circular correlation has no wrap-around
  const double mean = mean_of(x);
  std::vector<std::complex<double>> a(m);
  for (std::size_t i = 0; i < n; ++i) a[i] = x[i] - mean;
  fft(a, false);
  for (auto& v : a) v = std::norm(v);
  fft(a, true);
  std::vector<double> out(n);
  for (std::size_t t = 0; t < n; ++t) out[t] = a[t].real() / static_cast<double>(m) / static_cast<double>(n);
  return out;
}

double ess_raw(const ChainDraws& chains) {
  if (chains.empty() || !all_finite(chains)) return kNaN;
  const std::size_t n_draw = draws_per_chain(chains);
  const std::size_t n_chain = chains.size();
  if (n_draw < 2) return kNaN;
  const std::vector<double> all = flatten(chains);
  const auto [lo, hi] = std::minmax_element(all.begin(), all.end());
  if (*hi - *lo < 1e-15) return static_cast<double>(all.size());  // numpy's float resolution

  std::vector<std::vector<double>> acov(n_chain);
  std::vector<double> chain_mean(n_chain);
  for (std::size_t c = 0; c < n_chain; ++c) {
    acov[c] = autocovariance(chains[c]);
    chain_mean[c] = mean_of(chains[c]);
  }
  const auto mean_acov = [&](std::size_t t) {
    double s = 0.0;
    for (const auto& a : acov) s += a[t];
    return s / static_cast<double>(n_chain);
  };
  const double n = static_cast<double>(n_draw);
  const double mean_var = mean_acov(0) * n / (n - 1.0);
  double var_plus = mean_var * (n - 1.0) / n;
  if (n_chain > 1) var_plus += variance_of(chain_mean);

  // Geyer's initial positive sequence, then the initial monotone sequence (ArviZ's _ess verbatim;
  // indices are signed because max_t may be -1).
  std::vector<double> rho(n_draw, 0.0);
  double rho_even = 1.0;
  rho[0] = rho_even;
  double rho_odd = 1.0 - (mean_var - mean_acov(1)) / var_plus;
  rho[1] = rho_odd;
  const auto nd = static_cast<std::ptrdiff_t>(n_draw);
  std::ptrdiff_t t = 1;
  while (t < nd - 3 && (rho_even + rho_odd) > 0.0) {
    rho_even = 1.0 - (mean_var - mean_acov(static_cast<std::size_t>(t + 1))) / var_plus;
    rho_odd = 1.0 - (mean_var - mean_acov(static_cast<std::size_t>(t + 2))) / var_plus;
    if (rho_even + rho_odd >= 0.0) {
      rho[static_cast<std::size_t>(t + 1)] = rho_even;
      rho[static_cast<std::size_t>(t + 2)] = rho_odd;
    }
    t += 2;
  }
  const std::ptrdiff_t max_t = t - 2;
  if (rho_even > 0.0) rho[static_cast<std::size_t>(max_t + 1)] = rho_even;
  t = 1;
  while (t <= max_t - 2) {
    const auto i = static_cast<std::size_t>(t);
    if (rho[i + 1] + rho[i + 2] > rho[i - 1] + rho[i]) {
      rho[i + 1] = (rho[i - 1] + rho[i]) / 2.0;
      rho[i + 2] = rho[i + 1];
    }
    t += 2;
  }
  const double total = static_cast<double>(n_chain) * n;
  double tau = -1.0;
  for (std::ptrdiff_t i = 0; i <= max_t; ++i) tau += 2.0 * rho[static_cast<std::size_t>(i)];
  if (max_t + 1 < nd) tau += rho[static_cast<std::size_t>(max_t + 1)];
  tau = std::max(tau, 1.0 / std::log10(total));
  for (double r : rho) {
    if (std::isnan(r)) return kNaN;
  }
  return total / tau;
}

double rhat_raw(const ChainDraws& chains) {
  if (chains.size() < 2 || !all_finite(chains)) return kNaN;
  const std::size_t n_draw = draws_per_chain(chains);
  if (n_draw < 2) return kNaN;
  std::vector<double> chain_mean, chain_var;
  for (const auto& c : chains) {
    chain_mean.push_back(mean_of(c));
    chain_var.push_back(variance_of(c));
  }
  const double n = static_cast<double>(n_draw);
  const double between = n * variance_of(chain_mean);
  const double within = mean_of(chain_var);
  return std::sqrt((between / within + n - 1.0) / n);  // NaN when every draw is equal (0/0)
}

ChainDraws split_chains(const ChainDraws& draws) {
  const std::size_t n = draws_per_chain(draws);
  const std::size_t half = n / 2;
  ChainDraws out;
  out.reserve(2 * draws.size());
  for (const auto& c : draws) out.emplace_back(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(half));
  for (const auto& c : draws) out.emplace_back(c.end() - static_cast<std::ptrdiff_t>(half), c.end());
  return out;
}

ChainDraws z_scale(const ChainDraws& draws) {
  const std::vector<double> all = flatten(draws);
  const std::size_t size = all.size();
  std::vector<std::size_t> order(size);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return all[a] < all[b]; });
  std::vector<double> rank(size);
  for (std::size_t i = 0; i < size;) {
    std::size_t j = i;
    while (j + 1 < size && all[order[j + 1]] == all[order[i]]) ++j;
    const double average = 0.5 * static_cast<double>(i + j) + 1.0;  // 1-based average rank of the tie
    for (std::size_t k = i; k <= j; ++k) rank[order[k]] = average;
    i = j + 1;
  }
  const double s = static_cast<double>(size);
  ChainDraws out = draws;
  std::size_t k = 0;
  for (auto& chain : out) {
    for (double& x : chain) x = normal_quantile((rank[k++] - 0.375) / (s + 0.25));
  }
  return out;
}

}  // namespace detail

double rank_normalized_split_rhat(const ChainDraws& draws) {
  if (!valid(draws)) return kNaN;
  const ChainDraws split = detail::split_chains(draws);
  const double bulk = detail::rhat_raw(detail::z_scale(split));
  const double median = median_of(flatten(split));
  const double tail = detail::rhat_raw(detail::z_scale(apply(split, [&](double x) { return std::fabs(x - median); })));
  if (std::isnan(bulk) || std::isnan(tail)) return kNaN;
  return std::max(bulk, tail);
}

double ess_bulk(const ChainDraws& draws) {
  if (!valid(draws)) return kNaN;
  return detail::ess_raw(detail::z_scale(detail::split_chains(draws)));
}

double ess_tail(const ChainDraws& draws) {
  if (!valid(draws)) return kNaN;
  const std::vector<double> all = flatten(draws);
  double out = std::numeric_limits<double>::infinity();
  for (const double prob : {0.05, 0.95}) {
    const double q = quantile_of(all, prob);
    const ChainDraws indicator = apply(draws, [&](double x) { return x <= q ? 1.0 : 0.0; });
    out = std::min(out, detail::ess_raw(detail::split_chains(indicator)));
  }
  return out;
}

double ess_mean(const ChainDraws& draws) {
  if (!valid(draws)) return kNaN;
  return detail::ess_raw(detail::split_chains(draws));
}

double mcse_mean(const ChainDraws& draws) {
  if (!valid(draws)) return kNaN;
  return std::sqrt(variance_of(flatten(draws))) / std::sqrt(ess_mean(draws));
}

VariableDiagnostics diagnose(const ChainDraws& draws) {
  VariableDiagnostics d{.r_hat = kNaN, .ess_bulk = kNaN, .ess_tail = kNaN, .mcse_mean = kNaN};
  if (draws.empty() || draws_per_chain(draws) < kMinDraws) {
    d.problem = "fewer than " + std::to_string(kMinDraws) + " draws per chain: R-hat and ESS are not defined";
    return d;
  }
  if (!all_finite(draws)) {
    d.problem = "some draws are not finite: R-hat and ESS are not defined";
    return d;
  }
  std::vector<std::size_t> constant;  // chains whose every draw is equal
  for (std::size_t c = 0; c < draws.size(); ++c) {
    const auto [lo, hi] = std::minmax_element(draws[c].begin(), draws[c].end());
    if (*lo == *hi) constant.push_back(c);
  }
  if (constant.size() == draws.size()) {
    bool all_equal = true;
    for (const auto& chain : draws) all_equal = all_equal && chain.front() == draws.front().front();
    if (all_equal) {
      d.problem = draws.size() == 1 ? "the chain never changed it (or it is constant in the model): no R-hat or ESS"
                                    : "no chain ever changed it, all chains hold the same value (or it is constant "
                                      "in the model): no R-hat or ESS";
    } else {
      d.r_hat = std::numeric_limits<double>::infinity();
      d.problem = "every chain stayed at its own value and the chains disagree: they are stuck (R-hat infinite)";
    }
    return d;
  }
  d = {.r_hat = rank_normalized_split_rhat(draws),
       .ess_bulk = ess_bulk(draws),
       .ess_tail = ess_tail(draws),
       .mcse_mean = mcse_mean(draws)};
  if (!constant.empty()) {
    std::string list;
    for (std::size_t c : constant) list += (list.empty() ? "" : ", ") + std::to_string(c);
    d.problem = (constant.size() > 1 ? "chains " : "chain ") + list + " never changed it: stuck";
  } else if (std::isnan(d.r_hat)) {
    d.problem = "R-hat could not be computed";
  }
  return d;
}

ChainDraws chain_draws(const WeightedTraces& posterior, std::string_view name) {
  const std::vector<double>* column = posterior.column(name);
  if (column == nullptr) return {};
  std::map<std::uint32_t, std::vector<std::pair<std::uint64_t, double>>> per_chain;
  for (std::size_t row = 0; row < column->size(); ++row) {
    per_chain[posterior.chains()[row]].emplace_back(posterior.draws()[row], (*column)[row]);
  }
  std::size_t shortest = std::numeric_limits<std::size_t>::max();
  for (const auto& [chain, rows] : per_chain) shortest = std::min(shortest, rows.size());
  ChainDraws out;
  for (auto& [chain, rows] : per_chain) {
    std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<double> values;
    values.reserve(shortest);
    for (std::size_t i = 0; i < shortest; ++i) values.push_back(rows[i].second);
    out.push_back(std::move(values));
  }
  return out;
}

std::map<std::string, VariableDiagnostics> diagnose_columns(const WeightedTraces& posterior) {
  std::map<std::string, VariableDiagnostics> out;
  for (const std::string& name : posterior.names()) out[name] = diagnose(chain_draws(posterior, name));
  return out;
}

}  // namespace ppx::engines
