#include "ppx/core/distribution.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <iterator>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <type_traits>
#include <utility>

// One table row per kind (kRows at the bottom of the maths section): name, parameters, support
// and the elementwise maths. Everything above the table is the per-kind maths on plain doubles;
// everything below it is the generic part (validation, broadcasting, sums) shared by every kind.
//
// Row functions see one element of the batch: `p` points at that element's parameter values in
// wire order (n of them), except for Categorical, where `p` is the element's row of K
// (unnormalised) probabilities and n = K.

namespace ppx {
namespace detail {

using Params = const double*;

struct Row {
  DistributionKind kind;
  std::string_view name;
  std::array<std::string_view, 4> parameters;
  std::size_t parameter_count;
  Support support;
  bool discrete;
  bool categories_last;       // the last dim of parameter 0 holds one element's values (Categorical)
  unsigned infinite_allowed;  // bit i: parameter i may be +-inf (else every parameter is finite)
  // nullptr when the element's parameters are valid, else what is wrong with them.
  const char* (*check)(Params p, std::size_t n);
  double (*sample)(Params p, std::size_t n, Rng& rng);
  bool (*in_support)(Params p, std::size_t n, double x);  // x is never NaN here
  double (*log_prob)(Params p, std::size_t n, double x);  // only called with x in the support
  double (*mean)(Params p, std::size_t n);
  double (*stddev)(Params p, std::size_t n);
};

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kPi = 3.14159265358979323846;
constexpr double kSqrt2 = 1.41421356237309504880;
constexpr double kHalfLog2Pi = 0.91893853320467274178;  // log(2*pi)/2
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1/sqrt(2*pi)

// ---- shared numerics -------------------------------------------------------------------------

// Uniform in [0, 1) with 53 random bits.
inline double uniform01(Rng& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }
// Uniform in (0, 1): safe to take the log of.
inline double uniform01_open(Rng& rng) {
  return (static_cast<double>(rng() >> 11) + 0.5) * 0x1.0p-53;
}

// Marsaglia's polar method (one of the pair is dropped: no hidden state between calls).
double standard_normal(Rng& rng) {
  double u, v, s;
  do {
    u = 2.0 * uniform01(rng) - 1.0;
    v = 2.0 * uniform01(rng) - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  return u * std::sqrt(-2.0 * std::log(s) / s);
}

// Marsaglia & Tsang (2000) for shape >= 1; boosted by U^(1/a) below 1. Rate 1.
double standard_gamma(double a, Rng& rng) {
  if (a < 1.0) {
    const double g = standard_gamma(a + 1.0, rng);
    return g * std::exp(std::log(uniform01_open(rng)) / a);  // may underflow to 0 for tiny a
  }
  const double d = a - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = standard_normal(rng);
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = uniform01_open(rng);
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

inline bool is_integer(double x) { return std::isfinite(x) && x == std::floor(x); }
// x*log(y) and x*log1p(y) with 0*log(0) = 0, as torch.xlogy.
inline double xlogy(double x, double y) { return x == 0.0 ? 0.0 : x * std::log(y); }
inline double xlog1py(double x, double y) { return x == 0.0 ? 0.0 : x * std::log1p(y); }
inline double log_beta(double a, double b) {
  return std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b);
}

// erfcx(x) = exp(x^2) erfc(x) for x >= 0, without overflow or underflow.
double erfcx(double x) {
  if (x < 25.0) {
    // exp(x^2) with x^2 split exactly into hi + lo, so the exponent carries no rounding error.
    const double hi = x * x;
    const double lo = std::fma(x, x, -hi);
    return std::exp(hi) * std::erfc(x) * (1.0 + lo);
  }
  // Asymptotic series 1/(x sqrt(pi)) sum (-1)^k (2k-1)!! / (2x^2)^k; at x >= 25 eight terms
  // leave a relative error below 1e-20.
  const double t = 1.0 / (2.0 * x * x);
  double term = 1.0, sum = 1.0;
  for (int k = 1; k <= 8; ++k) {
    term *= -(2.0 * k - 1.0) * t;
    sum += term;
  }
  return sum / (x * std::sqrt(kPi));
}

// Mills ratio R(t) = Q(t) / phi(t) for t >= 0 (Q = upper normal tail, phi = normal density).
inline double mills_ratio(double t) {
  return std::isinf(t) ? 0.0 : std::sqrt(kPi / 2.0) * erfcx(t / kSqrt2);
}

// Gauss-Legendre, 8 points on [-1, 1]: nodes and weights of the positive half.
constexpr double kGaussNodes[] = {0.1834346424956498, 0.5255324099163290, 0.7966664774136267,
                                  0.9602898564975363};
constexpr double kGaussWeights[] = {0.3626837833783620, 0.3137066458778873, 0.2223810344533745,
                                    0.1012285362903763};

// For 0 <= a < b <= inf: D = (Q(a) - Q(b)) / phi(a) (Q = upper normal tail, phi = density), so
// the mass is phi(a) D with nothing below the double range even when Q(a) is. Also sets
// one_minus_exp_delta = 1 - phi(b)/phi(a) = 1 - exp(-delta), delta = (b^2 - a^2)/2.
double tail_mass_over_phi(double a, double b, double& one_minus_exp_delta) {
  if (std::isinf(b)) {
    one_minus_exp_delta = 1.0;
    return mills_ratio(a);
  }
  const double width = b - a;
  const double delta = 0.5 * width * (b + a);
  const double em1 = std::expm1(-delta);  // exp(-delta) - 1, in (-1, 0]
  one_minus_exp_delta = -em1;
  if (delta <= 0.25) {
    // Short interval: R(a) - R(b) would cancel, so integrate phi(a + s)/phi(a) = exp(-a s - s^2/2)
    // over [0, width] directly. The integrand varies by less than e^0.25 there: 8-point
    // Gauss-Legendre is exact to rounding (error term ~1e-19 relative).
    const double half = 0.5 * width;
    double sum = 0.0;
    for (int i = 0; i < 4; ++i) {
      for (const double s : {half * (1.0 - kGaussNodes[i]), half * (1.0 + kGaussNodes[i])}) {
        sum += kGaussWeights[i] * std::exp(-s * (a + 0.5 * s));
      }
    }
    return half * sum;
  }
  // R(a) - exp(-delta) R(b), arranged so that the two terms add.
  const double rb = mills_ratio(b);
  return (mills_ratio(a) - rb) - rb * em1;
}

inline double normal_density(double t) {
  return std::isinf(t) ? 0.0 : kInvSqrt2Pi * std::exp(-0.5 * t * t);
}

// Mean and variance of the standard normal truncated to [a, b]. The variance 1 + t - m^2 loses
// digits where it is tiny next to m^2 (relative error ~1e-16 m^2 / variance: far tails, very
// short intervals); the mean stays accurate.
void truncated_standard_moments(double a, double b, double& mean, double& variance) {
  if (a >= 0.0 || b <= 0.0) {
    const double sign = a >= 0.0 ? 1.0 : -1.0;
    const double lo = a >= 0.0 ? a : -b;
    const double hi = a >= 0.0 ? b : -a;
    double one_minus_exp_delta;
    const double d = tail_mass_over_phi(lo, hi, one_minus_exp_delta);
    // With Z = phi(lo) d: (phi(lo) - phi(hi)) / Z and (lo phi(lo) - hi phi(hi)) / Z.
    const double m = one_minus_exp_delta / d;
    const double hi_term = std::isinf(hi) ? 0.0 : hi * (1.0 - one_minus_exp_delta);
    const double t = (lo - hi_term) / d;
    mean = sign * m;
    variance = 1.0 + t - m * m;
  } else {
    const double z = 0.5 * (std::erf(b / kSqrt2) - std::erf(a / kSqrt2));
    const double pa = normal_density(a), pb = normal_density(b);
    const double m = (pa - pb) / z;
    const double t = ((std::isinf(a) ? 0.0 : a * pa) - (std::isinf(b) ? 0.0 : b * pb)) / z;
    mean = m;
    variance = 1.0 + t - m * m;
  }
  variance = std::max(variance, 0.0);
}

// Right tail [a, b], a >= 0: Robert (1995)'s exponential proposal with the optimal rate, or a
// uniform proposal when the interval is short (then the exponential would overshoot b often).
// Written for every finite a (up to DBL_MAX): hypot instead of a*a, and (a - z)(a + z) as
// (a - z) * (a/2 + z/2), so nothing overflows into an inf rate or a NaN acceptance test.
double sample_truncated_right_tail(double a, double b, Rng& rng) {
  const double rate = 0.5 * a + 0.5 * std::hypot(a, 2.0);
  if (std::isinf(b) || rate * (b - a) >= 1.0) {
    for (;;) {
      const double z = a - std::log(uniform01_open(rng)) / rate;
      if (z > b) continue;
      const double d = z - rate;
      if (uniform01(rng) <= std::exp(-0.5 * d * d)) return z;
    }
  }
  for (;;) {  // acceptance >= exp(-(b^2 - a^2)/2) >= exp(-1.5) here
    const double z = a + (b - a) * uniform01(rng);
    if (uniform01(rng) <= std::exp((a - z) * (0.5 * a + 0.5 * z))) return z;
  }
}

// Standard normal truncated to [a, b].
double sample_truncated_standard(double a, double b, Rng& rng) {
  if (a >= 0.0) return sample_truncated_right_tail(a, b, rng);
  if (b <= 0.0) return -sample_truncated_right_tail(-b, -a, rng);
  if (b - a >= 1.0) {  // straddles 0 and wide: mass >= 0.34, plain rejection
    for (;;) {
      const double z = standard_normal(rng);
      if (z >= a && z <= b) return z;
    }
  }
  for (;;) {  // short interval around 0: uniform proposal, acceptance >= exp(-1/2)
    const double z = a + (b - a) * uniform01(rng);
    if (uniform01(rng) <= std::exp(-0.5 * z * z)) return z;
  }
}

// Hormann (1993) PTRS for rate >= 10 (as numpy); multiplication of uniforms below.
double sample_poisson(double rate, Rng& rng) {
  if (rate < 10.0) {
    const double limit = std::exp(-rate);
    double k = 0.0, prod = uniform01(rng);
    while (prod > limit) {
      k += 1.0;
      prod *= uniform01(rng);
    }
    return k;
  }
  const double slam = std::sqrt(rate), loglam = std::log(rate);
  const double b = 0.931 + 2.53 * slam;
  const double a = -0.059 + 0.02483 * b;
  const double inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
  const double vr = 0.9277 - 3.6224 / (b - 2.0);
  for (;;) {
    const double u = uniform01(rng) - 0.5;
    const double v = uniform01(rng);
    const double us = 0.5 - std::fabs(u);
    const double k = std::floor((2.0 * a / us + b) * u + rate + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0.0 || (us < 0.013 && v > us)) continue;
    if (std::log(v) + std::log(inv_alpha) - std::log(a / (us * us) + b) <=
        -rate + k * loglam - std::lgamma(k + 1.0)) {
      return k;
    }
  }
}

// log(k!) - Stirling's approximation of it (as PyTorch's BTRS).
double stirling_tail(double k) {
  static constexpr double kTable[] = {
      0.08106146679532726, 0.04134069595540929, 0.02767792568499834, 0.02079067210376509,
      0.01664469118982119, 0.01387612882307075, 0.01189670994589177, 0.01041126526197209,
      0.009255462182712733, 0.008330563433362871};
  if (k <= 9.0) return kTable[static_cast<int>(k)];
  const double kp1sq = (k + 1.0) * (k + 1.0);
  return (1.0 / 12.0 - (1.0 / 360.0 - 1.0 / 1260.0 / kp1sq) / kp1sq) / (k + 1.0);
}

// Inversion for n p < 10, else Hormann (1993) BTRS (as PyTorch and TensorFlow); p <= 1/2 by symmetry.
double sample_binomial(double n, double p, Rng& rng) {
  if (n == 0.0 || p == 0.0) return 0.0;
  if (p == 1.0) return n;
  if (p > 0.5) return n - sample_binomial(n, 1.0 - p, rng);
  const double q = 1.0 - p;
  if (n * p < 10.0) {
    const double s = p / q, a = (n + 1.0) * s;
    const double r0 = std::exp(n * std::log1p(-p));  // P(0) >= exp(-14) here
    for (;;) {
      double u = uniform01(rng), r = r0, k = 0.0;
      while (u > r && k <= n) {
        u -= r;
        k += 1.0;
        r *= a / k - s;
      }
      if (k <= n) return k;  // else rounding ran past n: draw again
    }
  }
  const double spq = std::sqrt(n * p * q);
  const double b = 1.15 + 2.53 * spq;
  const double a = -0.0873 + 0.0248 * b + 0.01 * p;
  const double c = n * p + 0.5;
  const double vr = 0.92 - 4.2 / b;
  const double r = p / q;
  const double alpha = (2.83 + 5.1 / b) * spq;
  const double m = std::floor((n + 1.0) * p);
  for (;;) {
    const double u = uniform01(rng) - 0.5;
    double v = uniform01(rng);
    const double us = 0.5 - std::fabs(u);
    const double k = std::floor((2.0 * a / us + b) * u + c);
    if (k < 0.0 || k > n) continue;
    if (us >= 0.07 && v <= vr) return k;
    v = std::log(v * alpha / (a / (us * us) + b));
    const double bound = (m + 0.5) * std::log((m + 1.0) / (r * (n - m + 1.0))) +
                         (n + 1.0) * std::log((n - m + 1.0) / (n - k + 1.0)) +
                         (k + 0.5) * std::log(r * (n - k + 1.0) / (k + 1.0)) + stirling_tail(m) +
                         stirling_tail(n - m) - stirling_tail(k) - stirling_tail(n - k);
    if (v <= bound) return k;
  }
}

// Johnk's algorithm (in log space against underflow) when both shapes are <= 1, where the gamma
// ratio could give 0/0; the gamma ratio otherwise.
double sample_beta(double a, double b, Rng& rng) {
  if (a <= 1.0 && b <= 1.0) {
    for (;;) {
      const double u = uniform01_open(rng), v = uniform01_open(rng);
      const double x = std::pow(u, 1.0 / a), y = std::pow(v, 1.0 / b);
      if (x + y > 1.0) continue;
      if (x + y > 0.0) return x / (x + y);
      double log_x = std::log(u) / a, log_y = std::log(v) / b;
      const double log_m = std::max(log_x, log_y);
      // Both -inf (shapes near the smallest double): the draw sits at 0 or 1, at 1 with the limit
      // probability a / (a + b).
      if (log_m == -kInf) return uniform01(rng) * (a + b) < a ? 1.0 : 0.0;
      log_x -= log_m;
      log_y -= log_m;
      return std::exp(log_x - std::log(std::exp(log_x) + std::exp(log_y)));
    }
  }
  const double ga = standard_gamma(a, rng), gb = standard_gamma(b, rng);
  return ga / (ga + gb);
}

// ---- the kinds ---------------------------------------------------------------------------------

bool real_line(Params, std::size_t, double x) { return std::isfinite(x); }
bool non_negative(Params, std::size_t, double x) { return x >= 0.0 && x < kInf; }
bool unit_interval(Params, std::size_t, double x) { return x >= 0.0 && x <= 1.0; }

namespace normal {  // mean, stddev
const char* check(Params p, std::size_t) { return p[1] > 0.0 ? nullptr : "stddev must be > 0"; }
double sample(Params p, std::size_t, Rng& rng) { return p[0] + p[1] * standard_normal(rng); }
double log_prob(Params p, std::size_t, double x) {
  const double z = (x - p[0]) / p[1];
  return -0.5 * z * z - std::log(p[1]) - kHalfLog2Pi;
}
double mean(Params p, std::size_t) { return p[0]; }
double stddev(Params p, std::size_t) { return p[1]; }
}  // namespace normal

namespace uniform {  // low, high; support [low, high)
const char* check(Params p, std::size_t) {
  if (!(p[0] < p[1])) return "low must be < high";
  return std::isfinite(p[1] - p[0]) ? nullptr : "high - low must be finite";
}
double sample(Params p, std::size_t, Rng& rng) {
  const double x = p[0] + (p[1] - p[0]) * uniform01(rng);
  return x < p[1] ? x : std::nextafter(p[1], p[0]);  // rounding could reach high
}
bool in_support(Params p, std::size_t, double x) { return x >= p[0] && x < p[1]; }
double log_prob(Params p, std::size_t, double) { return -std::log(p[1] - p[0]); }
double mean(Params p, std::size_t) { return 0.5 * (p[0] + p[1]); }
double stddev(Params p, std::size_t) { return (p[1] - p[0]) / std::sqrt(12.0); }
}  // namespace uniform

namespace categorical {  // probs (one row of K); value = index in [0, K)
double total(Params p, std::size_t k) {
  double s = 0.0;
  for (std::size_t i = 0; i < k; ++i) s += p[i];
  return s;
}
const char* check(Params p, std::size_t k) {
  for (std::size_t i = 0; i < k; ++i) {
    if (p[i] < 0.0) return "probs must be >= 0";
  }
  const double s = total(p, k);
  if (!(s > 0.0)) return "probs must not be all zero";
  return std::isfinite(s) ? nullptr : "probs must have a finite sum";
}
double sample(Params p, std::size_t k, Rng& rng) {
  const double target = uniform01(rng) * total(p, k);
  double acc = 0.0;
  std::size_t last = 0;
  for (std::size_t i = 0; i < k; ++i) {
    if (p[i] <= 0.0) continue;  // never draw a zero-probability category
    acc += p[i];
    last = i;
    if (target < acc) return static_cast<double>(i);
  }
  return static_cast<double>(last);  // rounding: the sum fell short of the target
}
bool in_support(Params, std::size_t k, double x) {
  return is_integer(x) && x >= 0.0 && x < static_cast<double>(k);
}
double log_prob(Params p, std::size_t k, double x) {
  const double px = p[static_cast<std::size_t>(x)];
  return px > 0.0 ? std::log(px) - std::log(total(p, k)) : -kInf;
}
double mean(Params p, std::size_t k) {
  double m = 0.0;
  for (std::size_t i = 0; i < k; ++i) m += static_cast<double>(i) * p[i];
  return m / total(p, k);
}
double stddev(Params p, std::size_t k) {
  const double m = mean(p, k);
  double v = 0.0;
  for (std::size_t i = 0; i < k; ++i) v += (static_cast<double>(i) - m) * (static_cast<double>(i) - m) * p[i];
  return std::sqrt(v / total(p, k));
}
}  // namespace categorical

namespace poisson {  // rate
const char* check(Params p, std::size_t) { return p[0] > 0.0 ? nullptr : "rate must be > 0"; }
double sample(Params p, std::size_t, Rng& rng) { return sample_poisson(p[0], rng); }
bool in_support(Params, std::size_t, double x) { return is_integer(x) && x >= 0.0; }
// Past 1e15 (rates up to DBL_MAX) x log r and lgamma(x + 1) overflow and cancel to NaN: Stirling's
// form x log(r/x) + (x - r) - log(2 pi x)/2 - 1/(12x) keeps the large terms apart (relative error
// below 1e-30 there).
double log_prob(Params p, std::size_t, double x) {
  if (x > 1e15) return x * std::log(p[0] / x) + (x - p[0]) - 0.5 * std::log(2.0 * kPi * x) - 1.0 / (12.0 * x);
  return x * std::log(p[0]) - p[0] - std::lgamma(x + 1.0);
}
double mean(Params p, std::size_t) { return p[0]; }
double stddev(Params p, std::size_t) { return std::sqrt(p[0]); }
}  // namespace poisson

namespace bernoulli {  // probs
const char* check(Params p, std::size_t) {
  return p[0] >= 0.0 && p[0] <= 1.0 ? nullptr : "probs must be in [0, 1]";
}
double sample(Params p, std::size_t, Rng& rng) { return uniform01(rng) < p[0] ? 1.0 : 0.0; }
bool in_support(Params, std::size_t, double x) { return x == 0.0 || x == 1.0; }
double log_prob(Params p, std::size_t, double x) {
  return x == 1.0 ? std::log(p[0]) : std::log1p(-p[0]);
}
double mean(Params p, std::size_t) { return p[0]; }
double stddev(Params p, std::size_t) { return std::sqrt(p[0] * (1.0 - p[0])); }
}  // namespace bernoulli

namespace beta {  // concentration1 (a), concentration0 (b); support [0, 1]
// Past ~2.5e305 lgamma(a + b) overflows and log_beta is inf - inf.
const char* check(Params p, std::size_t) {
  if (!(p[0] > 0.0 && p[1] > 0.0)) return "concentrations must be > 0";
  return std::isfinite(std::lgamma(p[0] + p[1])) ? nullptr
                                                   : "concentration1 + concentration0 is too large (its log-gamma overflows)";
}
double sample(Params p, std::size_t, Rng& rng) { return sample_beta(p[0], p[1], rng); }
double log_prob(Params p, std::size_t, double x) {
  return xlogy(p[0] - 1.0, x) + xlog1py(p[1] - 1.0, -x) - log_beta(p[0], p[1]);
}
double mean(Params p, std::size_t) { return p[0] / (p[0] + p[1]); }
double stddev(Params p, std::size_t) {
  const double s = p[0] + p[1];
  return std::sqrt(p[0] * p[1] / (s * s * (s + 1.0)));
}
}  // namespace beta

namespace exponential {  // rate; support [0, inf)
const char* check(Params p, std::size_t) { return p[0] > 0.0 ? nullptr : "rate must be > 0"; }
double sample(Params p, std::size_t, Rng& rng) { return -std::log1p(-uniform01(rng)) / p[0]; }
double log_prob(Params p, std::size_t, double x) { return std::log(p[0]) - p[0] * x; }
double mean(Params p, std::size_t) { return 1.0 / p[0]; }
double stddev(Params p, std::size_t) { return 1.0 / p[0]; }
}  // namespace exponential

namespace gamma {  // concentration (a), rate (b); support [0, inf)
const char* check(Params p, std::size_t) {
  if (!(p[0] > 0.0)) return "concentration must be > 0";
  // Past ~2.5e305 lgamma(concentration) overflows and the log density is inf - inf.
  if (!std::isfinite(std::lgamma(p[0]))) return "concentration is too large (its log-gamma overflows)";
  return p[1] > 0.0 ? nullptr : "rate must be > 0";
}
double sample(Params p, std::size_t, Rng& rng) { return standard_gamma(p[0], rng) / p[1]; }
double log_prob(Params p, std::size_t, double x) {
  return p[0] * std::log(p[1]) + xlogy(p[0] - 1.0, x) - p[1] * x - std::lgamma(p[0]);
}
double mean(Params p, std::size_t) { return p[0] / p[1]; }
double stddev(Params p, std::size_t) { return std::sqrt(p[0]) / p[1]; }
}  // namespace gamma

namespace log_normal {  // loc, scale; support (0, inf)
const char* check(Params p, std::size_t) { return p[1] > 0.0 ? nullptr : "scale must be > 0"; }
double sample(Params p, std::size_t, Rng& rng) {
  return std::exp(p[0] + p[1] * standard_normal(rng));
}
bool in_support(Params, std::size_t, double x) { return x > 0.0 && x < kInf; }
double log_prob(Params p, std::size_t, double x) {
  const double lx = std::log(x);
  const double z = (lx - p[0]) / p[1];
  return -0.5 * z * z - std::log(p[1]) - kHalfLog2Pi - lx;
}
double mean(Params p, std::size_t) { return std::exp(p[0] + 0.5 * p[1] * p[1]); }
double stddev(Params p, std::size_t) {
  return std::sqrt(std::expm1(p[1] * p[1])) * std::exp(p[0] + 0.5 * p[1] * p[1]);
}
}  // namespace log_normal

namespace binomial {  // total_count (n), probs (p); support {0, ..., n}
const char* check(Params p, std::size_t) {
  if (!(is_integer(p[0]) && p[0] >= 0.0)) return "total_count must be a non-negative integer";
  // Beyond 2^53 neighbouring counts are not representable, and lgamma(n + 1) - lgamma(n - x + 1)
  // overflows to inf - inf.
  if (p[0] > 9007199254740992.0) return "total_count must be at most 2^53";
  return p[1] >= 0.0 && p[1] <= 1.0 ? nullptr : "probs must be in [0, 1]";
}
double sample(Params p, std::size_t, Rng& rng) { return sample_binomial(p[0], p[1], rng); }
bool in_support(Params p, std::size_t, double x) { return is_integer(x) && x >= 0.0 && x <= p[0]; }
double log_prob(Params p, std::size_t, double x) {
  const double n = p[0];
  return std::lgamma(n + 1.0) - std::lgamma(x + 1.0) - std::lgamma(n - x + 1.0) + xlogy(x, p[1]) +
         xlog1py(n - x, -p[1]);
}
double mean(Params p, std::size_t) { return p[0] * p[1]; }
double stddev(Params p, std::size_t) { return std::sqrt(p[0] * p[1] * (1.0 - p[1])); }
}  // namespace binomial

namespace weibull {  // scale (lambda), concentration (k); support [0, inf)
const char* check(Params p, std::size_t) {
  if (!(p[0] > 0.0)) return "scale must be > 0";
  return p[1] > 0.0 ? nullptr : "concentration must be > 0";
}
double sample(Params p, std::size_t, Rng& rng) {
  return p[0] * std::pow(-std::log1p(-uniform01(rng)), 1.0 / p[1]);
}
double log_prob(Params p, std::size_t, double x) {
  const double y = x / p[0];
  const double power = std::pow(y, p[1]);
  // y^k past DBL_MAX outweighs every other term (each at most log of it, or ~1500): the density
  // is below the double range, and inf - inf must not make it NaN.
  if (power == kInf) return -kInf;
  return std::log(p[1]) - std::log(p[0]) + xlogy(p[1] - 1.0, y) - power;
}
double mean(Params p, std::size_t) { return p[0] * std::exp(std::lgamma(1.0 + 1.0 / p[1])); }
double stddev(Params p, std::size_t) {
  // Var = scale^2 G1^2 (G2 / G1^2 - 1), G_i = Gamma(1 + i/k): expm1 keeps large k accurate.
  const double lg1 = std::lgamma(1.0 + 1.0 / p[1]);
  const double lg2 = std::lgamma(1.0 + 2.0 / p[1]);
  return p[0] * std::exp(lg1) * std::sqrt(std::max(std::expm1(lg2 - 2.0 * lg1), 0.0));
}
}  // namespace weibull

namespace truncated_normal {  // mean, stddev, low, high (bounds may be infinite); support [low, high]
// The standardised bounds (low - mean) / stddev and (high - mean) / stddev must not overflow past
// the other side of the mean: such an interval holds no mass in double precision (nothing to draw).
const char* check(Params p, std::size_t) {
  if (!(p[1] > 0.0)) return "stddev must be > 0";
  if (!(p[2] < p[3])) return "low must be < high";
  // A quarter of the double range keeps x + edge - 2 mean (log_prob) from overflowing.
  constexpr double kLimit = std::numeric_limits<double>::max() / 4;
  if (!(std::abs(p[0]) <= kLimit)) return "|mean| must be at most DBL_MAX / 4";
  if (std::isfinite(p[2]) && !(std::abs(p[2]) <= kLimit)) return "a finite low must be within DBL_MAX / 4";
  if (std::isfinite(p[3]) && !(std::abs(p[3]) <= kLimit)) return "a finite high must be within DBL_MAX / 4";
  const double a = (p[2] - p[0]) / p[1], b = (p[3] - p[0]) / p[1];
  if (a == kInf || b == -kInf || std::isnan(a) || std::isnan(b)) {
    return "the interval is too far from the mean for its stddev (standardised bounds overflow)";
  }
  return a < b ? nullptr : "the interval is too narrow for its stddev (standardised bounds coincide)";
}
double sample(Params p, std::size_t, Rng& rng) {
  const double z = sample_truncated_standard((p[2] - p[0]) / p[1], (p[3] - p[0]) / p[1], rng);
  return std::clamp(p[0] + p[1] * z, p[2], p[3]);  // rounding must not leave [low, high]
}
bool in_support(Params p, std::size_t, double x) { return std::isfinite(x) && x >= p[2] && x <= p[3]; }
double log_prob(Params p, std::size_t, double x) {
  const double m = p[0], s = p[1], low = p[2], high = p[3];
  const double a = (low - m) / s, b = (high - m) / s;
  if (a >= 0.0 || b <= 0.0) {
    // In a tail the mass is phi(e) D, e the standardised bound nearer the mean, so the log density
    // is -(z^2 - e^2)/2 - log s - log D, with z^2 - e^2 formed from (x - edge) to avoid cancelling
    // two huge squares.
    double unused;
    const double edge = a >= 0.0 ? low : high;
    const double d = a >= 0.0 ? tail_mass_over_phi(a, b, unused) : tail_mass_over_phi(-b, -a, unused);
    // z^2 - e^2 = dz (z + e), as two products of finite factors with one sign (inf - inf can't
    // happen), and exactly 0 at the edge even when z + e overflows.
    const auto product = [](double u, double v) { return u == 0.0 || v == 0.0 ? 0.0 : u * v; };
    const double dz = (x - edge) / s;
    const double square_gap = product(dz, (x - m) / s) + product(dz, (edge - m) / s);
    return -0.5 * square_gap - std::log(s) - std::log(d);
  }
  // Straddling the mean: Phi(b) - Phi(a) is at least phi(max(|a|, |b|)) (b - a); the erf terms add.
  const double z = (x - m) / s;
  return -0.5 * z * z - kHalfLog2Pi - std::log(s) -
         std::log(0.5 * (std::erf(b / kSqrt2) - std::erf(a / kSqrt2)));
}
double mean(Params p, std::size_t) {
  double m, v;
  truncated_standard_moments((p[2] - p[0]) / p[1], (p[3] - p[0]) / p[1], m, v);
  return p[0] + p[1] * m;
}
double stddev(Params p, std::size_t) {
  double m, v;
  truncated_standard_moments((p[2] - p[0]) / p[1], (p[3] - p[0]) / p[1], m, v);
  return p[1] * std::sqrt(v);
}
}  // namespace truncated_normal

}  // namespace

// The table: one row per kind, in wire order (row i has kind i + 1).
constexpr Row kRows[] = {
    {DistributionKind::Normal, "Normal", {"mean", "stddev"}, 2, Support::Real, false, false, 0,
     normal::check, normal::sample, real_line, normal::log_prob, normal::mean, normal::stddev},
    {DistributionKind::Uniform, "Uniform", {"low", "high"}, 2, Support::Interval, false, false, 0,
     uniform::check, uniform::sample, uniform::in_support, uniform::log_prob, uniform::mean,
     uniform::stddev},
    {DistributionKind::Categorical, "Categorical", {"probs"}, 1, Support::Categories, true, true, 0,
     categorical::check, categorical::sample, categorical::in_support, categorical::log_prob,
     categorical::mean, categorical::stddev},
    {DistributionKind::Poisson, "Poisson", {"rate"}, 1, Support::NonNegInteger, true, false, 0,
     poisson::check, poisson::sample, poisson::in_support, poisson::log_prob, poisson::mean,
     poisson::stddev},
    {DistributionKind::Bernoulli, "Bernoulli", {"probs"}, 1, Support::Binary, true, false, 0,
     bernoulli::check, bernoulli::sample, bernoulli::in_support, bernoulli::log_prob,
     bernoulli::mean, bernoulli::stddev},
    {DistributionKind::Beta, "Beta", {"concentration1", "concentration0"}, 2, Support::UnitInterval,
     false, false, 0, beta::check, beta::sample, unit_interval, beta::log_prob, beta::mean,
     beta::stddev},
    {DistributionKind::Exponential, "Exponential", {"rate"}, 1, Support::Positive, false, false, 0,
     exponential::check, exponential::sample, non_negative, exponential::log_prob,
     exponential::mean, exponential::stddev},
    {DistributionKind::Gamma, "Gamma", {"concentration", "rate"}, 2, Support::Positive, false, false,
     0, gamma::check, gamma::sample, non_negative, gamma::log_prob, gamma::mean, gamma::stddev},
    {DistributionKind::LogNormal, "LogNormal", {"loc", "scale"}, 2, Support::Positive, false, false,
     0, log_normal::check, log_normal::sample, log_normal::in_support, log_normal::log_prob,
     log_normal::mean, log_normal::stddev},
    {DistributionKind::Binomial, "Binomial", {"total_count", "probs"}, 2, Support::Integer, true,
     false, 0, binomial::check, binomial::sample, binomial::in_support, binomial::log_prob,
     binomial::mean, binomial::stddev},
    {DistributionKind::Weibull, "Weibull", {"scale", "concentration"}, 2, Support::Positive, false,
     false, 0, weibull::check, weibull::sample, non_negative, weibull::log_prob, weibull::mean,
     weibull::stddev},
    {DistributionKind::TruncatedNormal, "TruncatedNormal", {"mean", "stddev", "low", "high"}, 4,
     Support::Interval, false, false, 0b1100, truncated_normal::check, truncated_normal::sample,
     truncated_normal::in_support, truncated_normal::log_prob, truncated_normal::mean,
     truncated_normal::stddev},
};

constexpr bool rows_in_wire_order() {
  for (std::size_t i = 0; i < std::size(kRows); ++i) {
    if (static_cast<std::size_t>(kRows[i].kind) != i + 1) return false;
  }
  return std::size(kRows) == static_cast<std::size_t>(DistributionKind::TruncatedNormal);
}
static_assert(rows_in_wire_order(), "kRows must list every DistributionKind in enum order");

}  // namespace detail

// ---- the generic part ----------------------------------------------------------------------------

namespace {

using detail::Row;
using Shape = std::vector<int32_t>;

const Row& row_of(DistributionKind kind) {
  const auto i = static_cast<std::size_t>(kind) - 1;
  if (i >= std::size(detail::kRows)) {
    throw std::invalid_argument("unknown distribution kind " +
                                std::to_string(static_cast<int>(kind)));
  }
  return detail::kRows[i];
}

std::string shape_string(const Shape& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string number_string(double x) {
  std::ostringstream out;
  out.precision(6);
  out << x;
  return out.str();
}

// A tensor as nested lists, numpy style ("0.5", "[1, 2]", "[[1, 2], [3, 4]]"); long ones elided.
std::string tensor_string(const Tensor& t) {
  const Shape& shape = t.shape();
  if (shape.empty()) return t.numel() == 1 ? number_string(t[0]) : "[]";
  if (t.numel() > 16 || shape_numel(shape) != t.numel()) {
    std::string s = "[";
    for (std::size_t i = 0; i < std::min<std::size_t>(t.numel(), 6); ++i) {
      s += (i ? ", " : "") + number_string(t[i]);
    }
    return s + (t.numel() > 6 ? ", ...] (shape " : "] (shape ") + shape_string(shape) + ")";
  }
  std::string s;
  std::size_t pos = 0;
  // Recursive descent over dims: open a bracket per dim, numbers at the innermost.
  auto emit = [&](auto&& self, std::size_t dim) -> void {
    s += "[";
    for (int32_t i = 0; i < shape[dim]; ++i) {
      if (i) s += ", ";
      if (dim + 1 == shape.size()) {
        s += number_string(t[pos++]);
      } else {
        self(self, dim + 1);
      }
    }
    s += "]";
  };
  emit(emit, 0);
  return s;
}

// An operand of a broadcast: a shape and its element count.
struct Operand {
  const Shape* shape;
  std::size_t numel;
};

// numpy broadcasting, with one relaxation: an operand with a single element broadcasts to any
// shape (it never adds dims). If every operand has one element the result is the first's shape.
bool broadcast(const Operand* ops, std::size_t count, Shape& out) {
  bool any = false;
  for (std::size_t k = 0; k < count; ++k) {
    if (ops[k].numel == 1) continue;
    const Shape& s = *ops[k].shape;
    if (!any) {
      out = s;
      any = true;
      continue;
    }
    if (s.size() > out.size()) out.insert(out.begin(), s.size() - out.size(), 1);
    for (std::size_t i = 0; i < s.size(); ++i) {
      int32_t& o = out[out.size() - s.size() + i];
      if (s[i] == o || s[i] == 1) continue;
      if (o != 1) return false;
      o = s[i];
    }
  }
  if (!any) out = *ops[0].shape;
  return true;
}

constexpr std::size_t kMaxOperands = 5;  // four parameters and a value

// Walks the elements of a broadcast shape in row-major order, tracking each operand's offset.
class BroadcastWalker {
 public:
  BroadcastWalker(const Shape& out, const Operand* ops, std::size_t count)
      : out_(out), count_(count), index_(out.size(), 0), strides_(out.size() * count, 0) {
    for (std::size_t k = 0; k < count; ++k) {
      if (ops[k].numel == 1) continue;  // stride 0 everywhere
      const Shape& s = *ops[k].shape;
      std::size_t stride = 1;
      for (std::size_t i = s.size(); i-- > 0;) {
        const std::size_t d = out.size() - s.size() + i;
        strides_[d * count + k] = s[i] == 1 ? 0 : stride;
        stride *= static_cast<std::size_t>(s[i]);
      }
    }
  }
  std::size_t offset(std::size_t k) const { return offsets_[k]; }
  void next() {
    for (std::size_t d = out_.size(); d-- > 0;) {
      const std::size_t* stride = &strides_[d * count_];
      for (std::size_t k = 0; k < count_; ++k) offsets_[k] += stride[k];
      if (++index_[d] < out_[d]) return;
      for (std::size_t k = 0; k < count_; ++k) offsets_[k] -= stride[k] * static_cast<std::size_t>(out_[d]);
      index_[d] = 0;
    }
  }

 private:
  const Shape& out_;
  std::size_t count_;
  std::vector<int32_t> index_;
  std::vector<std::size_t> strides_;  // [dim][operand]
  std::array<std::size_t, kMaxOperands> offsets_{};
};

// Offsets when every operand is a scalar (offset 0) or full-size (offset = element index).
class LinearOffsets {
 public:
  LinearOffsets(const Operand* ops, std::size_t count) : count_(count) {
    for (std::size_t k = 0; k < count; ++k) step_[k] = ops[k].numel == 1 ? 0 : 1;
  }
  std::size_t offset(std::size_t k) const { return offsets_[k]; }
  void next() {
    for (std::size_t k = 0; k < count_; ++k) offsets_[k] += step_[k];
  }

 private:
  std::size_t count_;
  std::array<std::size_t, kMaxOperands> step_{};
  std::array<std::size_t, kMaxOperands> offsets_{};
};

// The common layout, where every operand is a scalar or has the full broadcast shape (a
// calorimeter's 24,500 voxels; every all-scalar distribution): element i of operand k is
// data[k][i * step[k]], step 0 for a scalar, 1 for full-size. For a categories_last row operand 0
// is the probs' rows: element i's row starts at data[0] + i * step[0], step 0 or K.
// Only the operands in use are set.
struct Linear {
  std::array<const double*, kMaxOperands> data;
  std::array<std::size_t, kMaxOperands> step;
  std::size_t size;  // elements
  std::size_t n;     // the row functions' n: the parameter count, or K
};

enum class Layout { Linear, Strided, Incompatible };

// The parameters seen as a batch of elements, each handed to the row functions as (p, n).
class Batch {
 public:
  Batch(const Row& row, const std::vector<Tensor>& params) : row_(row), params_(params) {
    if (row.categories_last) {
      const Shape& s = params[0].shape();
      categories_ = s.empty() ? 1 : static_cast<std::size_t>(s.back());
      category_batch_shape_.assign(s.begin(), s.end() - (s.empty() ? 0 : 1));
    }
  }

  std::size_t operand_count() const { return row_.categories_last ? 1 : params_.size(); }
  Operand operand(std::size_t k) const {
    if (row_.categories_last) {
      return {&category_batch_shape_, categories_ ? params_[0].numel() / categories_ : 0};
    }
    return {&params_[k].shape(), params_[k].numel()};
  }
  // Every parameter holds one element (the common, hot case).
  bool single() const {
    for (std::size_t k = 0; k < operand_count(); ++k) {
      if (operand(k).numel != 1) return false;
    }
    return true;
  }
  std::size_t categories() const { return categories_; }

  // Classifies the broadcast of the parameters with `extra` (may be null; its data is
  // `extra_data`, the last operand); for Layout::Linear fills `l`. `out` is the broadcast shape.
  Layout layout(const Operand* extra, const double* extra_data, Shape& out, Linear& l) const {
    std::array<Operand, kMaxOperands> ops{};
    const std::size_t n_params = operand_count();
    for (std::size_t k = 0; k < n_params; ++k) ops[k] = operand(k);
    std::size_t count = n_params;
    if (extra) ops[count++] = *extra;
    if (!broadcast(ops.data(), count, out)) return Layout::Incompatible;
    const std::size_t total = shape_numel(out);
    for (std::size_t k = 0; k < count; ++k) {
      if (ops[k].numel != 1 && ops[k].numel != total) return Layout::Strided;
    }
    single_layout(nullptr, l);
    if (extra) l.data[n_params] = extra_data;
    for (std::size_t k = 0; k < count; ++k) {
      const std::size_t full_step = row_.categories_last && k == 0 ? categories_ : 1;
      l.step[k] = ops[k].numel == 1 ? 0 : full_step;
    }
    l.size = total;
    return Layout::Linear;
  }
  // Sets `l` to the layout when single(): the parameters' one element, for each value of `extra`
  // in order (may be null: one element).
  void single_layout(const Tensor* extra, Linear& l) const {
    const std::size_t n_params = operand_count();
    for (std::size_t k = 0; k < n_params; ++k) {
      l.data[k] = params_[k].data().data();
      l.step[k] = 0;
    }
    if (extra) {
      l.data[n_params] = extra->data().data();
      l.step[n_params] = 1;
    }
    l.size = extra ? extra->numel() : 1;
    l.n = n();
  }

  // Calls f(p, n, offsets) for every element of the broadcast of the parameters with `extra`
  // (may be null), where offsets.offset(operand_count()) is the offset into `extra`. f returns
  // false to stop. Returns false if the shapes do not broadcast; `out` is the broadcast shape.
  template <class F>
  bool for_each(const Operand* extra, Shape& out, F&& f) const {
    std::array<Operand, kMaxOperands> ops{};
    const std::size_t n_params = operand_count();
    for (std::size_t k = 0; k < n_params; ++k) ops[k] = operand(k);
    std::size_t count = n_params;
    if (extra) ops[count++] = *extra;
    if (!broadcast(ops.data(), count, out)) return false;
    const std::size_t total = shape_numel(out);
    std::array<double, 4> gathered{};
    // Common case (a calorimeter's 24,500 voxels): every operand is a scalar or has the full
    // shape, so offsets are 0 or the element index and no strided walk is needed.
    bool linear = true;
    for (std::size_t k = 0; k < count; ++k) linear = linear && (ops[k].numel == 1 || ops[k].numel == total);
    if (linear) {
      LinearOffsets offsets(ops.data(), count);
      for (std::size_t i = 0; i < total; ++i, offsets.next()) {
        if (!f(element(offsets, gathered), n(), offsets)) break;
      }
      return true;
    }
    BroadcastWalker walker(out, ops.data(), count);
    for (std::size_t i = 0; i < total; ++i, walker.next()) {
      if (!f(element(walker, gathered), n(), walker)) break;
    }
    return true;
  }

  // The single element's parameters (valid when single()).
  const double* single_element(std::array<double, 4>& gathered) const {
    if (row_.categories_last) return params_[0].data().data();
    for (std::size_t k = 0; k < params_.size(); ++k) gathered[k] = params_[k][0];
    return gathered.data();
  }
  std::size_t n() const { return row_.categories_last ? categories_ : params_.size(); }

 private:
  template <class Offsets>
  const double* element(const Offsets& w, std::array<double, 4>& gathered) const {
    if (row_.categories_last) return params_[0].data().data() + w.offset(0) * categories_;
    for (std::size_t k = 0; k < params_.size(); ++k) gathered[k] = params_[k][w.offset(k)];
    return gathered.data();
  }

  const Row& row_;
  const std::vector<Tensor>& params_;
  std::size_t categories_ = 0;
  Shape category_batch_shape_;
};

// ---- the hot loops: one definition each, compiled once per row ----------------------------------
//
// with_row calls f(std::integral_constant<std::size_t, I>{}) with I the row's index in kRows, so
// the loops below are templates over I that call kRows[I]'s functions directly (inlined) on
// the elements of a Linear layout, with no per-element indirection or gathering overhead.

template <class F>
auto with_row(const Row& row, F&& f) {
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    decltype(f(std::integral_constant<std::size_t, 0>{})) result{};
    const std::size_t index = static_cast<std::size_t>(row.kind) - 1;
    (void)((index == I && ((result = f(std::integral_constant<std::size_t, I>{})), true)) || ...);
    return result;
  }(std::make_index_sequence<std::size(detail::kRows)>{});
}

constexpr std::size_t kBlock = 256;  // elements per block of the linear loops

// Calls f(p, n, x, j) for the elements of `l` in order, with row I's view of the element's
// parameters (p, n), if WithValue the element's value x (the last operand; else 0), and the
// element's index j within its block of kBlock elements, until f returns false; returns false
// if it did. Within a block every operand is read with stride 1 (a scalar operand from a block
// of its copies), so that where f is branch-free the compiler can vectorise the loop; layouts
// shorter than a block skip that set-up. Always inlined, so that the callers' accumulators stay
// in registers.
template <std::size_t I, bool WithValue, class F>
[[gnu::always_inline]] inline bool for_each_linear(const Linear& l, F&& f) {
  constexpr const Row& row = detail::kRows[I];
  if constexpr (row.categories_last) {
    for (std::size_t i = 0; i < l.size; ++i) {
      const double x = WithValue ? l.data[1][i * l.step[1]] : 0.0;
      if (!f(l.data[0] + i * l.step[0], l.n, x, i % kBlock)) return false;
    }
    return true;
  } else {
    constexpr std::size_t n = row.parameter_count;
    constexpr std::size_t operands = n + (WithValue ? 1 : 0);
    if (l.size < kBlock) {  // short (a scalar distribution): no blocks to set up
      for (std::size_t i = 0; i < l.size; ++i) {
        std::array<double, operands> e;
#pragma GCC unroll 8
        for (std::size_t k = 0; k < operands; ++k) e[k] = l.data[k][i * l.step[k]];
        if (!f(static_cast<const double*>(e.data()), n, WithValue ? e[operands - 1] : 0.0, i)) {
          return false;
        }
      }
      return true;
    }
    std::array<std::array<double, kBlock>, operands> copies;
    for (std::size_t k = 0; k < operands; ++k) {
      if (l.step[k] == 0) copies[k].fill(l.data[k][0]);
    }
    auto block = [&](std::size_t start, auto count) {
      std::array<const double*, operands> in;  // unrolled, so that these live in registers
#pragma GCC unroll 8
      for (std::size_t k = 0; k < operands; ++k) {
        in[k] = l.step[k] == 0 ? copies[k].data() : l.data[k] + start;
      }
      for (std::size_t j = 0; j < count; ++j) {
        std::array<double, operands> e;  // the parameters, then the value
#pragma GCC unroll 8
        for (std::size_t k = 0; k < operands; ++k) e[k] = in[k][j];
        if (!f(static_cast<const double*>(e.data()), n, WithValue ? e[operands - 1] : 0.0, j)) {
          return false;
        }
      }
      return true;
    };
    std::size_t start = 0;
    for (; start + kBlock <= l.size; start += kBlock) {
      if (!block(start, std::integral_constant<std::size_t, kBlock>{})) return false;
    }
    return block(start, l.size - start);
  }
}

// Whether every element of `l` has valid parameters: no NaN, no infinity where the row allows
// none, and row.check passes. Branch-free where row.check is (then SIMD); which element fails is
// validate_each's job.
template <std::size_t I>
bool all_valid(const Linear& l) {
  constexpr const Row& row = detail::kRows[I];
  constexpr double kMaxFinite = std::numeric_limits<double>::max();
  // ok[j] is 0 once an element at index j of a block failed: a select per element, with no
  // reduction across elements, so the loop vectorises (as doubles, to go with the compares).
  std::array<double, kBlock> ok;
  const std::size_t used = std::min(l.size, kBlock);
  std::fill_n(ok.data(), used, 1.0);
  for_each_linear<I, false>(l, [&](const double* p, std::size_t n, double, std::size_t j) {
    bool good = row.check(p, n) == nullptr;
    for (std::size_t k = 0; k < n; ++k) {
      const bool infinite_ok = (row.infinite_allowed >> (row.categories_last ? 0 : k)) & 1u;
      // Quiet compares (false for NaN): they cannot trap, so they may be evaluated branch-free.
      good &= infinite_ok ? p[k] == p[k] : std::islessequal(std::fabs(p[k]), kMaxFinite);
    }
    ok[j] = good ? ok[j] : 0.0;
    return true;
  });
  return std::find(ok.begin(), ok.begin() + used, 0.0) == ok.begin() + used;
}

constexpr double kMinusInf = -std::numeric_limits<double>::infinity();

// A running sum of log densities that stops at the first -inf (so +inf + -inf never makes NaN).
struct LogDensitySum {
  double total = 0.0;
  bool add(double lp) {  // false: the sum is -inf for good, stop
    if (lp == kMinusInf) {
      total = kMinusInf;
      return false;
    }
    total += lp;
    return true;
  }
};

// The sum of the log densities at the values (the last operand of `l`), in element order; -inf
// if a value is outside the support or has density 0, even next to a +inf density.
template <std::size_t I>
double sum_log_prob(const Linear& l) {
  constexpr const Row& row = detail::kRows[I];
  // The hot pass does not test each density for -inf: one -inf density makes the running sum
  // -inf or NaN (with a +inf) for good, so a sum that ends neither is exact as it stands.
  double total = 0.0;
  auto add = [&](const double* p, std::size_t n, double x, std::size_t) {
    if (std::isnan(x) || !row.in_support(p, n, x)) return false;
    total += row.log_prob(p, n, x);
    return true;
  };
  const bool inside = for_each_linear<I, true>(l, add);
  if (!inside) return kMinusInf;
  if (total != kMinusInf && !std::isnan(total)) return total;
  // Rare: again, stopping at the first -inf density (every value is in the support).
  LogDensitySum sum;
  for_each_linear<I, true>(l, [&](const double* p, std::size_t n, double x, std::size_t) {
    return sum.add(row.log_prob(p, n, x));
  });
  return sum.total;
}

// Whether every value (the last operand of `l`) lies in the support.
template <std::size_t I>
bool all_in_support(const Linear& l) {
  constexpr const Row& row = detail::kRows[I];
  return for_each_linear<I, true>(l, [&](const double* p, std::size_t n, double x, std::size_t) {
    return !std::isnan(x) && row.in_support(p, n, x);
  });
}

Tensor make_tensor(std::vector<double> data, const Shape& shape) {
  if (shape.empty() && data.size() == 1) return Tensor(data[0]);
  return Tensor(std::move(data), shape);
}

std::string element_string(const Row& row, const double* p, std::size_t n) {
  std::string s;
  if (row.categories_last) {
    s = std::string(row.parameters[0]) + "=[";
    for (std::size_t i = 0; i < n; ++i) s += (i ? ", " : "") + number_string(p[i]);
    return s + "]";
  }
  for (std::size_t k = 0; k < n; ++k) {
    s += (k ? ", " : "") + std::string(row.parameters[k]) + "=" + number_string(p[k]);
  }
  return s;
}

// Throws std::invalid_argument with the first problem found, checking in order: the parameter
// count; per parameter emptiness, shape and NaN/inf; categories; then per element row.check (or
// the broadcast).
void validate_each(const Row& row, const std::vector<Tensor>& params) {
  const std::string name(row.name);
  if (params.size() != row.parameter_count) {
    std::string names;
    for (std::size_t k = 0; k < row.parameter_count; ++k) {
      names += (k ? ", " : "") + std::string(row.parameters[k]);
    }
    throw std::invalid_argument(name + " takes " + std::to_string(row.parameter_count) +
                                " parameters (" + names + "), got " +
                                std::to_string(params.size()));
  }
  for (std::size_t k = 0; k < params.size(); ++k) {
    const Tensor& t = params[k];
    const std::string what = name + " parameter '" + std::string(row.parameters[k]) + "'";
    if (t.numel() == 0) throw std::invalid_argument(what + " is empty");
    if (shape_numel(t.shape()) != t.numel()) {
      throw std::invalid_argument(what + " has shape " + shape_string(t.shape()) + " but " +
                                  std::to_string(t.numel()) + " elements");
    }
    const bool infinite_ok = (row.infinite_allowed >> k) & 1u;
    for (double x : t.data()) {
      if (std::isnan(x)) throw std::invalid_argument(what + " is NaN");
      if (std::isinf(x) && !infinite_ok) throw std::invalid_argument(what + " is infinite");
    }
  }
  Batch batch(row, params);
  if (row.categories_last && batch.categories() == 0) {
    throw std::invalid_argument(name + " needs at least one category");
  }
  auto check = [&](const double* p, std::size_t n) {
    if (const char* problem = row.check(p, n)) {
      throw std::invalid_argument(name + ": " + problem + " (got " + element_string(row, p, n) + ")");
    }
  };
  if (batch.single()) {
    std::array<double, 4> gathered{};
    check(batch.single_element(gathered), batch.n());
    return;
  }
  Shape out;
  const bool ok = batch.for_each(nullptr, out, [&](const double* p, std::size_t n, const auto&) {
    check(p, n);
    return true;
  });
  if (!ok) {
    std::string shapes;
    for (std::size_t k = 0; k < params.size(); ++k) {
      shapes += (k ? ", " : "") + std::string(row.parameters[k]) + shape_string(params[k].shape());
    }
    throw std::invalid_argument(name + ": parameter shapes do not broadcast (" + shapes + ")");
  }
}

// The hot case, every scalar distribution: a row without categories whose parameters hold one
// element each, gathered into `p` (at most four: the constructor has checked the count).
bool scalar_parameters(const Row& row, const std::vector<Tensor>& params, std::array<double, 4>& p) {
  if (row.categories_last) return false;
  for (std::size_t k = 0; k < params.size(); ++k) {
    if (params[k].numel() != 1) return false;
    p[k] = params[k][0];
  }
  return true;
}

// all_valid's test for one element's parameters (p, n), without its loop set-up.
bool element_valid(const Row& row, const double* p, std::size_t n) {
  if (row.check(p, n) != nullptr) return false;
  for (std::size_t k = 0; k < n; ++k) {
    const bool infinite_ok = (row.infinite_allowed >> (row.categories_last ? 0 : k)) & 1u;
    if (!(infinite_ok ? p[k] == p[k] : std::islessequal(std::fabs(p[k]), std::numeric_limits<double>::max()))) {
      return false;
    }
  }
  return true;
}

// True when the parameters are valid, found in one pass for a Linear layout; false when they are
// not, or when their layout is not Linear (validate_each then decides, and says what is wrong).
bool known_valid(const Row& row, const std::vector<Tensor>& params) {
  if (params.size() != row.parameter_count) return false;
  for (const Tensor& t : params) {
    if (t.numel() == 0 || shape_numel(t.shape()) != t.numel()) return false;
  }
  if (std::array<double, 4> p; scalar_parameters(row, params, p)) return element_valid(row, p.data(), params.size());
  Batch batch(row, params);
  if (row.categories_last && batch.categories() == 0) return false;
  if (batch.single()) {
    std::array<double, 4> gathered{};
    return element_valid(row, batch.single_element(gathered), batch.n());
  }
  Linear l;
  Shape out;
  if (batch.layout(nullptr, nullptr, out, l) != Layout::Linear) return false;
  return with_row(row, [&](auto i) { return all_valid<decltype(i)::value>(l); });
}

void validate(const Row& row, const std::vector<Tensor>& params) {
  if (!known_valid(row, params)) validate_each(row, params);
}

void check_value_tensor(const Tensor& value) {
  if (shape_numel(value.shape()) != value.numel()) {
    throw std::invalid_argument("value tensor has shape " + shape_string(value.shape()) + " but " +
                                std::to_string(value.numel()) + " elements");
  }
}

// Collects f(p, n) over the batch into a tensor of the value shape (sample, mean, stddev).
template <class F>
Tensor per_element(const Row& row, const std::vector<Tensor>& params, F&& f) {
  Batch batch(row, params);
  if (batch.single()) {
    std::array<double, 4> gathered{};
    const double x = f(batch.single_element(gathered), batch.n());
    const Shape& shape = *batch.operand(0).shape;
    if (shape.empty()) return Tensor(x);
    return Tensor(std::vector<double>{x}, shape);
  }
  Shape out;
  std::vector<double> data;
  batch.for_each(nullptr, out, [&](const double* p, std::size_t n, const auto&) {
    data.push_back(f(p, n));
    return true;
  });
  return make_tensor(std::move(data), out);
}

}  // namespace

const DistributionInfo& info(DistributionKind kind) {
  const Row& row = row_of(kind);
  return all_distributions()[static_cast<std::size_t>(row.kind) - 1];
}

std::span<const DistributionInfo> all_distributions() {
  static const std::vector<DistributionInfo> infos = [] {
    std::vector<DistributionInfo> v;
    for (const Row& row : detail::kRows) {
      v.push_back({row.kind, row.name,
                   std::vector<std::string_view>(row.parameters.begin(),
                                                 row.parameters.begin() + row.parameter_count),
                   row.support, row.discrete});
    }
    return v;
  }();
  return infos;
}

Distribution::Distribution(DistributionKind kind, std::vector<Tensor> parameters)
    : kind_(kind), parameters_(std::move(parameters)) {
  validate(row_of(kind_), parameters_);
}

std::string Distribution::address_suffix() const {
  const Row& row = row_of(kind_);
  if (!row.categories_last) return std::string(row.name);
  return std::string(row.name) + "(len_probs:" +
         std::to_string(Batch(row, parameters_).categories()) + ")";
}

std::vector<int32_t> Distribution::value_shape() const {
  const Row& row = row_of(kind_);
  Batch batch(row, parameters_);
  std::array<Operand, kMaxOperands> ops{};
  for (std::size_t k = 0; k < batch.operand_count(); ++k) ops[k] = batch.operand(k);
  Shape out;
  broadcast(ops.data(), batch.operand_count(), out);  // validated in the constructor
  return out;
}

Tensor Distribution::sample(Rng& rng) const {
  const Row& row = row_of(kind_);
  if (std::array<double, 4> p; parameters_[0].dim() == 0 && scalar_parameters(row, parameters_, p)) {  // a 0-d draw
    return Tensor(row.sample(p.data(), parameters_.size(), rng));
  }
  return per_element(row, parameters_,
                     [&](const double* p, std::size_t n) { return row.sample(p, n, rng); });
}

double Distribution::log_prob(const Tensor& value) const {
  const Row& row = row_of(kind_);
  check_value_tensor(value);
  if (std::array<double, 4> p; value.numel() == 1 && scalar_parameters(row, parameters_, p)) {
    // The hot scalar case: one element, nothing to loop over.
    const double x = value[0];
    const std::size_t n = parameters_.size();
    if (std::isnan(x) || !row.in_support(p.data(), n, x)) return kMinusInf;
    return 0.0 + row.log_prob(p.data(), n, x);  // as a sum from 0.0: never -0.0
  }
  Batch batch(row, parameters_);
  Linear l;
  if (batch.single()) {
    if (value.numel() == 1) {  // one element with categories (Categorical)
      std::array<double, 4> gathered{};
      const double* p = batch.single_element(gathered);
      const double x = value[0];
      if (std::isnan(x) || !row.in_support(p, batch.n(), x)) return kMinusInf;
      return 0.0 + row.log_prob(p, batch.n(), x);  // as a sum from 0.0: never -0.0
    }
    batch.single_layout(&value, l);
  } else {
    const Operand value_operand{&value.shape(), value.numel()};
    Shape out;
    const Layout layout = batch.layout(&value_operand, value.data().data(), out, l);
    if (layout == Layout::Incompatible) {
      throw std::invalid_argument("log_prob: a value of shape " + shape_string(value.shape()) +
                                  " does not broadcast with " + to_string());
    }
    if (layout == Layout::Strided) {
      LogDensitySum sum;
      const double* data = value.data().data();
      const std::size_t value_index = batch.operand_count();
      batch.for_each(&value_operand, out, [&](const double* p, std::size_t n, const auto& w) {
        const double x = data[w.offset(value_index)];
        return sum.add(std::isnan(x) || !row.in_support(p, n, x) ? kMinusInf : row.log_prob(p, n, x));
      });
      return sum.total;
    }
  }
  return with_row(row, [&](auto i) { return sum_log_prob<decltype(i)::value>(l); });
}

bool Distribution::in_support(const Tensor& value) const {
  const Row& row = row_of(kind_);
  if (shape_numel(value.shape()) != value.numel()) return false;
  Batch batch(row, parameters_);
  Linear l;
  if (batch.single()) {
    batch.single_layout(&value, l);
  } else {
    const Operand value_operand{&value.shape(), value.numel()};
    Shape out;
    const Layout layout = batch.layout(&value_operand, value.data().data(), out, l);
    if (layout == Layout::Incompatible) return false;
    if (layout == Layout::Strided) {
      bool inside = true;
      const std::size_t value_index = batch.operand_count();
      batch.for_each(&value_operand, out, [&](const double* p, std::size_t n, const auto& w) {
        const double x = value[w.offset(value_index)];
        inside = !std::isnan(x) && row.in_support(p, n, x);
        return inside;
      });
      return inside;
    }
  }
  return with_row(row, [&](auto i) { return all_in_support<decltype(i)::value>(l); });
}

Tensor Distribution::mean() const {
  const Row& row = row_of(kind_);
  return per_element(row, parameters_, row.mean);
}

Tensor Distribution::stddev() const {
  const Row& row = row_of(kind_);
  return per_element(row, parameters_, row.stddev);
}

std::string Distribution::to_string() const {
  const Row& row = row_of(kind_);
  std::string s = std::string(row.name) + "(";
  for (std::size_t k = 0; k < parameters_.size(); ++k) {
    s += (k ? ", " : "") + std::string(row.parameters[k]) + "=" + tensor_string(parameters_[k]);
  }
  return s + ")";
}

namespace {
// The parameters, moved into a vector: a braced list would copy them (an initializer_list's
// elements are const), which for a calorimeter's [20,35,35] tensors costs more than validating.
template <std::same_as<Tensor>... T>
Distribution make(DistributionKind kind, T&&... parameters) {
  std::vector<Tensor> v;
  v.reserve(sizeof...(parameters));
  (v.push_back(std::move(parameters)), ...);
  return {kind, std::move(v)};
}
}  // namespace

Distribution Normal(Tensor mean, Tensor stddev) {
  return make(DistributionKind::Normal, std::move(mean), std::move(stddev));
}
Distribution Uniform(Tensor low, Tensor high) {
  return make(DistributionKind::Uniform, std::move(low), std::move(high));
}
Distribution Categorical(Tensor probs) {
  return make(DistributionKind::Categorical, std::move(probs));
}
Distribution Poisson(Tensor rate) { return make(DistributionKind::Poisson, std::move(rate)); }
Distribution Bernoulli(Tensor probs) { return make(DistributionKind::Bernoulli, std::move(probs)); }
Distribution Beta(Tensor concentration1, Tensor concentration0) {
  return make(DistributionKind::Beta, std::move(concentration1), std::move(concentration0));
}
Distribution Exponential(Tensor rate) {
  return make(DistributionKind::Exponential, std::move(rate));
}
Distribution Gamma(Tensor concentration, Tensor rate) {
  return make(DistributionKind::Gamma, std::move(concentration), std::move(rate));
}
Distribution LogNormal(Tensor loc, Tensor scale) {
  return make(DistributionKind::LogNormal, std::move(loc), std::move(scale));
}
Distribution Binomial(Tensor total_count, Tensor probs) {
  return make(DistributionKind::Binomial, std::move(total_count), std::move(probs));
}
Distribution Weibull(Tensor scale, Tensor concentration) {
  return make(DistributionKind::Weibull, std::move(scale), std::move(concentration));
}
Distribution TruncatedNormal(Tensor mean, Tensor stddev, Tensor low, Tensor high) {
  return make(DistributionKind::TruncatedNormal, std::move(mean), std::move(stddev), std::move(low),
              std::move(high));
}

}  // namespace ppx
