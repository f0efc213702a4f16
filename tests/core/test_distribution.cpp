// The distribution table: reference log densities, invalid parameters, sampling moments,
// shapes and broadcasting, address suffixes.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "ppx/core/distribution.h"
#include "ppx/core/rng.h"

using namespace ppx;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct LogProbCase {
  DistributionKind kind;
  std::vector<Tensor> parameters;
  Tensor value;
  double expected;  // -kInf: outside the support
};

// Expected values: printed by tests/core/make_log_prob_table.py (python3's math module, no scipy),
// from these closed forms (0 log 0 = 0 throughout):
//   Normal(m, s)            -((x-m)/s)^2/2 - log s - log(2 pi)/2
//   Uniform(l, h)           -log(h - l) on [l, h)
//   Categorical(p)          log(p_x / sum p)
//   Poisson(r)              x log r - r - lgamma(x+1)
//   Bernoulli(p)            x log p + (1-x) log(1-p)
//   Beta(a, b)              (a-1) log x + (b-1) log(1-x) - lgamma a - lgamma b + lgamma(a+b)
//   Exponential(r)          log r - r x
//   Gamma(a, r)             a log r + (a-1) log x - r x - lgamma a
//   LogNormal(m, s)         -((log x - m)/s)^2/2 - log s - log(2 pi)/2 - log x
//   Binomial(n, p)          lgamma(n+1) - lgamma(x+1) - lgamma(n-x+1) + x log p + (n-x) log(1-p)
//   Weibull(l, k)           log(k/l) + (k-1) log(x/l) - (x/l)^k
//   TruncatedNormal(m,s,a,b) -((x-m)/s)^2/2 - log(2 pi)/2 - log s - log(Phi(B) - Phi(A)),
//                           A = (a-m)/s, B = (b-m)/s, all in 60-digit decimal arithmetic
//                           (erfc by Taylor series / continued fraction; see the script).
// Tensor-valued rows sum the elementwise densities.
const std::vector<LogProbCase> kLogProbCases = {
    {DistributionKind::Normal, {Tensor(0.0), Tensor(1.0)}, Tensor(0.0), -0.9189385332046727},
    {DistributionKind::Normal, {Tensor(1.5), Tensor(2.0)}, Tensor(-0.7), -2.217085713764618},
    {DistributionKind::Normal, {Tensor(0.0), Tensor(1.0)}, Tensor(30.0), -450.91893853320465},
    {DistributionKind::Normal, {Tensor{0.0, 1.0}, Tensor(2.0)}, Tensor{0.5, 3.0}, -3.755421427529236},
    {DistributionKind::Normal, {Tensor(0.0), Tensor(1.0)}, Tensor{-1.0, 0.0, 2.5}, -6.381815599614018},
    {DistributionKind::Uniform, {Tensor(-1.0), Tensor(3.0)}, Tensor(0.5), -1.3862943611198906},
    {DistributionKind::Uniform, {Tensor(-1.0), Tensor(3.0)}, Tensor(-1.0), -1.3862943611198906},
    {DistributionKind::Uniform, {Tensor{0.0, 10.0}, Tensor{1.0, 20.0}}, Tensor{0.25, 15.0}, -2.302585092994046},
    {DistributionKind::Categorical, {Tensor{0.2, 0.3, 0.5}}, Tensor(2.0), -0.6931471805599453},
    {DistributionKind::Categorical, {Tensor{1.0, 2.0, 7.0}}, Tensor(0.0), -2.3025850929940455},
    {DistributionKind::Categorical, {Tensor({0.1, 0.9, 0.5, 0.5}, {2, 2})}, Tensor{1.0, 0.0}, -0.7985076962177715},
    {DistributionKind::Poisson, {Tensor(3.5)}, Tensor(2.0), -1.6876212435692088},
    {DistributionKind::Poisson, {Tensor(3.5)}, Tensor(0.0), -3.5},
    {DistributionKind::Poisson, {Tensor(1000.0)}, Tensor(1000.0), -4.372899506026442},
    {DistributionKind::Bernoulli, {Tensor(0.3)}, Tensor(1.0), -1.2039728043259361},
    {DistributionKind::Bernoulli, {Tensor(0.3)}, Tensor(0.0), -0.35667494393873245},
    {DistributionKind::Bernoulli, {Tensor(0.0)}, Tensor(0.0), 0.0},
    {DistributionKind::Bernoulli, {Tensor{0.2, 0.9}}, Tensor{1.0, 1.0}, -1.7147984280919266},
    {DistributionKind::Beta, {Tensor(2.0), Tensor(3.0)}, Tensor(0.4), 0.5469646703818634},
    {DistributionKind::Beta, {Tensor(0.5), Tensor(0.5)}, Tensor(0.01), 1.1628803750713952},
    {DistributionKind::Beta, {Tensor(1.0), Tensor(1.0)}, Tensor(0.0), 0.0},
    {DistributionKind::Beta, {Tensor(2.0), Tensor(3.0)}, Tensor(1.0), -kInf},
    {DistributionKind::Exponential, {Tensor(2.0)}, Tensor(0.5), -0.3068528194400547},
    {DistributionKind::Exponential, {Tensor(2.0)}, Tensor(0.0), 0.6931471805599453},
    {DistributionKind::Gamma, {Tensor(3.0), Tensor(2.0)}, Tensor(1.5), -0.8027754226637804},
    {DistributionKind::Gamma, {Tensor(0.5), Tensor(1.0)}, Tensor(2.0), -2.918938533204673},
    {DistributionKind::Gamma, {Tensor(1.0), Tensor(1.0)}, Tensor(0.0), 0.0},
    {DistributionKind::Gamma, {Tensor({1.0, 2.0}, {2, 1}), Tensor{1.0, 2.0, 3.0}}, Tensor(0.5), -2.704163133995671},
    {DistributionKind::LogNormal, {Tensor(0.5), Tensor(0.8)}, Tensor(2.0), -1.4180873447615459},
    {DistributionKind::LogNormal, {Tensor(0.0), Tensor(1.0)}, Tensor(1e-10), -242.98799312718413},
    {DistributionKind::Binomial, {Tensor(10.0), Tensor(0.3)}, Tensor(3.0), -1.3211512777668908},
    {DistributionKind::Binomial, {Tensor(10.0), Tensor(0.0)}, Tensor(0.0), 0.0},
    {DistributionKind::Binomial, {Tensor(10.0), Tensor(1.0)}, Tensor(10.0), 0.0},
    {DistributionKind::Binomial, {Tensor(1000.0), Tensor(0.5)}, Tensor(480.0), -4.479332355582244},
    {DistributionKind::Binomial, {Tensor(0.0), Tensor(0.4)}, Tensor(0.0), 0.0},
    {DistributionKind::Weibull, {Tensor(2.0), Tensor(1.5)}, Tensor(1.3), -1.0271202841374139},
    {DistributionKind::Weibull, {Tensor(1.0), Tensor(1.0)}, Tensor(0.0), 0.0},
    {DistributionKind::Weibull, {Tensor(0.5), Tensor(0.7)}, Tensor(3.0), -3.706199690554396},
    {DistributionKind::TruncatedNormal, {Tensor(0.0), Tensor(1.0), Tensor(-1.0), Tensor(2.0)}, Tensor(0.5), -0.8437722388802101},
    {DistributionKind::TruncatedNormal, {Tensor(1.0), Tensor(2.0), Tensor(0.0), Tensor(10.0)}, Tensor(3.0), -1.7431343847146763},
    // Far tails: the normaliser is ~1e-23, ~1e-350 (below double range) and ~1e-89.
    {DistributionKind::TruncatedNormal, {Tensor(0.0), Tensor(1.0), Tensor(10.0), Tensor(kInf)}, Tensor(10.5), -2.812653382692202},
    {DistributionKind::TruncatedNormal, {Tensor(0.0), Tensor(1.0), Tensor(40.0), Tensor(45.0)}, Tensor(40.2), -4.330496519450999},
    {DistributionKind::TruncatedNormal, {Tensor(2.0), Tensor(0.5), Tensor(-kInf), Tensor(-8.0)}, Tensor(-8.1), -0.32863598154744916},
    // Narrow intervals, in the tail and around the mean.
    {DistributionKind::TruncatedNormal, {Tensor(0.0), Tensor(1.0), Tensor(5.0), Tensor(5.001)}, Tensor(5.0005), 6.907754278773712},
    {DistributionKind::TruncatedNormal, {Tensor(0.0), Tensor(1.0), Tensor(-0.001), Tensor(0.002)}, Tensor(0.0), 5.809143490313877},
    {DistributionKind::TruncatedNormal, {Tensor{0.0, 1.0}, Tensor(1.0), Tensor(-1.0), Tensor{1.0, 3.0}}, Tensor{0.0, 2.0}, -1.9095940078148292},
};

// Values outside the support of a valid distribution: log_prob is -inf, in_support false.
struct OutsideCase {
  Distribution distribution;
  Tensor value;
};
const std::vector<OutsideCase> kOutsideCases = {
    {Normal(0.0, 1.0), Tensor(kNaN)},
    {Normal(0.0, 1.0), Tensor(kInf)},
    {Uniform(-1.0, 3.0), Tensor(3.0)},  // [low, high): high is outside, as in PyTorch
    {Uniform(-1.0, 3.0), Tensor(-1.5)},
    {Categorical(Tensor{0.2, 0.8}), Tensor(2.0)},
    {Categorical(Tensor{0.2, 0.8}), Tensor(-1.0)},
    {Categorical(Tensor{0.2, 0.8}), Tensor(0.5)},
    {Poisson(2.0), Tensor(2.5)},
    {Poisson(2.0), Tensor(-1.0)},
    {Bernoulli(0.3), Tensor(0.5)},
    {Bernoulli(0.3), Tensor(2.0)},
    {Beta(2.0, 3.0), Tensor(1.5)},
    {Beta(2.0, 3.0), Tensor(-0.1)},
    {Exponential(1.0), Tensor(-0.1)},
    {Gamma(2.0, 1.0), Tensor(-1.0)},
    {Gamma(2.0, 1.0), Tensor(kInf)},
    {LogNormal(0.0, 1.0), Tensor(0.0)},
    {LogNormal(0.0, 1.0), Tensor(-1.0)},
    {Binomial(10.0, 0.3), Tensor(11.0)},
    {Binomial(10.0, 0.3), Tensor(2.5)},
    {Binomial(10.0, 0.3), Tensor(-1.0)},
    {Weibull(1.0, 2.0), Tensor(-0.5)},
    {TruncatedNormal(0.0, 1.0, -1.0, 2.0), Tensor(2.5)},
    {TruncatedNormal(0.0, 1.0, -1.0, 2.0), Tensor(-1.0 - 1e-12)},
    // One element outside makes the whole tensor outside.
    {Normal(0.0, 1.0), Tensor{0.0, kNaN, 1.0}},
    {Poisson(Tensor{1.0, 2.0}), Tensor{1.0, 0.5}},
};

// Valid distributions whose support contains the value even though the density is 0 there.
struct ZeroDensityCase {
  Distribution distribution;
  Tensor value;
};
const std::vector<ZeroDensityCase> kZeroDensityCases = {
    {Bernoulli(0.0), Tensor(1.0)},
    {Bernoulli(1.0), Tensor(0.0)},
    {Categorical(Tensor{0.0, 1.0}), Tensor(0.0)},
    {Binomial(10.0, 1.0), Tensor(9.0)},
    {Beta(2.0, 3.0), Tensor(0.0)},
};

struct InvalidCase {
  std::string what;
  std::function<Distribution()> make;
};
const std::vector<InvalidCase> kInvalidCases = {
    {"Normal stddev 0", [] { return Normal(0.0, 0.0); }},
    {"Normal stddev < 0", [] { return Normal(0.0, -1.0); }},
    {"Normal mean NaN", [] { return Normal(kNaN, 1.0); }},
    {"Normal mean inf", [] { return Normal(kInf, 1.0); }},
    {"Normal stddev inf", [] { return Normal(0.0, kInf); }},
    {"Normal one bad element", [] { return Normal(0.0, Tensor{1.0, 2.0, -1.0}); }},
    {"Normal too few parameters", [] { return Distribution(DistributionKind::Normal, {Tensor(0.0)}); }},
    {"Normal too many parameters",
     [] { return Distribution(DistributionKind::Normal, {Tensor(0.0), Tensor(1.0), Tensor(2.0)}); }},
    {"Normal shapes [2] vs [3]", [] { return Normal(Tensor{0.0, 1.0}, Tensor{1.0, 1.0, 1.0}); }},
    {"Normal shapes [2,3] vs [2]",
     [] { return Normal(Tensor(std::vector<double>(6, 0.0), {2, 3}), Tensor{1.0, 1.0}); }},
    {"Normal empty parameter", [] { return Normal(Tensor(), 1.0); }},
    {"Uniform low == high", [] { return Uniform(1.0, 1.0); }},
    {"Uniform low > high", [] { return Uniform(2.0, 1.0); }},
    {"Uniform infinite low", [] { return Uniform(-kInf, 0.0); }},
    {"Uniform width overflows", [] { return Uniform(-1e308, 1e308); }},
    {"Categorical all zero", [] { return Categorical(Tensor{0.0, 0.0, 0.0}); }},
    {"Categorical negative", [] { return Categorical(Tensor{0.5, -0.1, 0.6}); }},
    {"Categorical NaN", [] { return Categorical(Tensor{0.5, kNaN}); }},
    {"Categorical one zero row", [] { return Categorical(Tensor({0.5, 0.5, 0.0, 0.0}, {2, 2})); }},
    {"Poisson rate 0", [] { return Poisson(0.0); }},
    {"Poisson rate < 0", [] { return Poisson(-1.0); }},
    {"Bernoulli probs < 0", [] { return Bernoulli(-0.1); }},
    {"Bernoulli probs > 1", [] { return Bernoulli(1.1); }},
    {"Beta concentration1 0", [] { return Beta(0.0, 1.0); }},
    {"Beta concentration0 < 0", [] { return Beta(1.0, -1.0); }},
    {"Exponential rate 0", [] { return Exponential(0.0); }},
    {"Gamma concentration 0", [] { return Gamma(0.0, 1.0); }},
    {"Gamma rate 0", [] { return Gamma(1.0, 0.0); }},
    {"LogNormal scale 0", [] { return LogNormal(0.0, 0.0); }},
    {"Binomial total_count < 0", [] { return Binomial(-1.0, 0.5); }},
    {"Binomial total_count not integer", [] { return Binomial(2.5, 0.5); }},
    {"Binomial total_count inf", [] { return Binomial(kInf, 0.5); }},
    {"Binomial probs > 1", [] { return Binomial(10.0, 1.5); }},
    {"Weibull scale 0", [] { return Weibull(0.0, 1.0); }},
    {"Weibull concentration < 0", [] { return Weibull(1.0, -2.0); }},
    {"TruncatedNormal stddev 0", [] { return TruncatedNormal(0.0, 0.0, -1.0, 1.0); }},
    {"TruncatedNormal low == high", [] { return TruncatedNormal(0.0, 1.0, 1.0, 1.0); }},
    {"TruncatedNormal low > high", [] { return TruncatedNormal(0.0, 1.0, 2.0, 1.0); }},
    {"TruncatedNormal low NaN", [] { return TruncatedNormal(0.0, 1.0, kNaN, 1.0); }},
    {"TruncatedNormal both bounds +inf", [] { return TruncatedNormal(0.0, 1.0, kInf, kInf); }},
    {"TruncatedNormal mean inf", [] { return TruncatedNormal(kInf, 1.0, -1.0, 1.0); }},
    {"unknown kind 0", [] { return Distribution(static_cast<DistributionKind>(0), {}); }},
    {"unknown kind 99", [] { return Distribution(static_cast<DistributionKind>(99), {Tensor(1.0)}); }},
};

struct SampleMoments {
  double mean = 0, variance = 0, m4 = 0;  // sample mean, variance, fourth central moment
};

SampleMoments moments(const std::vector<double>& xs) {
  SampleMoments m;
  for (double x : xs) m.mean += x;
  m.mean /= static_cast<double>(xs.size());
  for (double x : xs) {
    const double d2 = (x - m.mean) * (x - m.mean);
    m.variance += d2;
    m.m4 += d2 * d2;
  }
  m.variance /= static_cast<double>(xs.size() - 1);
  m.m4 /= static_cast<double>(xs.size());
  return m;
}

}  // namespace

TEST_CASE("the table lists every kind in wire order with pyprob's names", "[distribution]") {
  const auto all = all_distributions();
  REQUIRE(all.size() == 12);
  const std::vector<std::string> names = {"Normal",      "Uniform", "Categorical", "Poisson",
                                          "Bernoulli",   "Beta",    "Exponential", "Gamma",
                                          "LogNormal",   "Binomial", "Weibull",    "TruncatedNormal"};
  for (std::size_t i = 0; i < all.size(); ++i) {
    CHECK(static_cast<std::size_t>(all[i].kind) == i + 1);
    CHECK(all[i].name == names[i]);
    CHECK(&info(all[i].kind) == &all[i]);
  }
  CHECK(info(DistributionKind::Normal).parameters == std::vector<std::string_view>{"mean", "stddev"});
  CHECK(info(DistributionKind::TruncatedNormal).parameters.size() == 4);
  CHECK(info(DistributionKind::Binomial).parameters ==
        std::vector<std::string_view>{"total_count", "probs"});
  CHECK(info(DistributionKind::Poisson).discrete);
  CHECK_FALSE(info(DistributionKind::Gamma).discrete);
  CHECK(info(DistributionKind::Categorical).support == Support::Categories);
  CHECK(static_cast<int>(DistributionKind::Weibull) == kWireDistributionKinds);
  CHECK_THROWS_AS(info(static_cast<DistributionKind>(0)), std::invalid_argument);
}

TEST_CASE("log_prob matches the reference table", "[distribution]") {
  for (const LogProbCase& c : kLogProbCases) {
    const Distribution d(c.kind, c.parameters);
    const double lp = d.log_prob(c.value);
    INFO(d.to_string() << " at " << c.value.to_string());
    if (c.expected == -kInf) {
      CHECK(lp == -kInf);
      continue;
    }
    // 1e-11 relative: the references are correctly rounded; the C++ side loses a few ulps where
    // terms of ~1e4 cancel to ~1 (Poisson(1000), Binomial(1000)), nowhere near 1e-11.
    CHECK(lp == Approx(c.expected).epsilon(1e-11).margin(1e-12));
    CHECK(d.in_support(c.value));
  }
}

TEST_CASE("values outside the support have log_prob -inf", "[distribution]") {
  for (const OutsideCase& c : kOutsideCases) {
    INFO(c.distribution.to_string() << " at " << c.value.to_string());
    CHECK(c.distribution.log_prob(c.value) == -kInf);
    CHECK_FALSE(c.distribution.in_support(c.value));
  }
  for (const ZeroDensityCase& c : kZeroDensityCases) {
    INFO(c.distribution.to_string() << " at " << c.value.to_string());
    CHECK(c.distribution.log_prob(c.value) == -kInf);
    CHECK(c.distribution.in_support(c.value));
  }
}

TEST_CASE("log_prob is never NaN", "[distribution]") {
  const std::vector<Distribution> ds = {
      Normal(0.0, 1.0),        Uniform(0.0, 1.0),   Categorical(Tensor{0.0, 1.0}),
      Poisson(0.5),            Bernoulli(1.0),      Beta(0.5, 2.0),
      Beta(2.0, 0.5),          Exponential(3.0),    Gamma(0.5, 2.0),
      Gamma(3.0, 2.0),         LogNormal(0.0, 2.0), Binomial(5.0, 0.0),
      Binomial(5.0, 1.0),      Weibull(1.0, 0.5),   Weibull(1.0, 3.0),
      TruncatedNormal(0.0, 1.0, 30.0, kInf), TruncatedNormal(0.0, 1.0, -kInf, kInf)};
  const std::vector<double> values = {-kInf, -1e300, -1.0, -0.0, 0.0,    1e-300, 0.5,
                                      1.0,   2.0,    5.0,  30.0, 1e300, kInf,   kNaN};
  for (const Distribution& d : ds) {
    for (double x : values) {
      INFO(d.to_string() << " at " << x);
      CHECK_FALSE(std::isnan(d.log_prob(Tensor(x))));
    }
    // A +inf density (Beta(0.5, 2) at 0) next to a -inf one must not sum to NaN.
    CHECK_FALSE(std::isnan(d.log_prob(Tensor{0.0, -1.0})));
  }
}

TEST_CASE("truncated normal density integrates to one far in the tail", "[distribution]") {
  // Independent of the reference table: trapezoid rule over the support, 20000 intervals.
  for (const auto& [low, high] : std::vector<std::pair<double, double>>{{40.0, 41.0}, {-3.0, -2.0}, {5.0, 5.01}}) {
    const Distribution d = TruncatedNormal(0.0, 1.0, low, high);
    const int n = 20000;
    double integral = 0.0;
    for (int i = 0; i <= n; ++i) {
      const double x = low + (high - low) * i / n;
      const double w = (i == 0 || i == n) ? 0.5 : 1.0;
      integral += w * std::exp(d.log_prob(Tensor(x)));
    }
    integral *= (high - low) / n;
    INFO(d.to_string());
    CHECK(integral == Approx(1.0).epsilon(1e-6));  // trapezoid error ~ (h^2/12) f'' ~ 1e-7 here
  }
}

TEST_CASE("invalid parameters throw std::invalid_argument", "[distribution]") {
  for (const InvalidCase& c : kInvalidCases) {
    INFO(c.what);
    CHECK_THROWS_AS(c.make(), std::invalid_argument);
  }
  CHECK_THROWS_WITH(Normal(0.0, -1.0), Catch::Contains("stddev") && Catch::Contains("Normal"));
  CHECK_THROWS_WITH(Normal(Tensor{0.0, 1.0}, Tensor{1.0, 1.0, 1.0}), Catch::Contains("broadcast"));
  CHECK_THROWS_WITH(Distribution(DistributionKind::Gamma, {Tensor(1.0)}),
                    Catch::Contains("2 parameters"));
  // Infinite bounds are fine for TruncatedNormal (half-normal proposals).
  CHECK_NOTHROW(TruncatedNormal(0.0, 1.0, -kInf, kInf));
  CHECK_NOTHROW(TruncatedNormal(0.0, 1.0, 0.0, kInf));
  CHECK_NOTHROW(Categorical(Tensor{0.0, 3.0}));
  CHECK_NOTHROW(Bernoulli(0.0));
  CHECK_NOTHROW(Binomial(0.0, 1.0));
}

TEST_CASE("samples have the stated mean and variance and lie in the support", "[distribution]") {
  // N draws per case with a fixed seed per case. The sample mean must lie within 5 standard
  // errors of mean() (SE = stddev / sqrt(N)). The sample variance must lie within 5 of its own
  // standard errors of stddev()^2, SE = sqrt((m4 - s^4) / N) with m4 the sample's fourth central
  // moment (the large-N variance of the sample variance; estimated from the sample because the
  // kurtosis differs per kind). 5 SE: a correct sampler fails with probability ~1e-6 per check,
  // while a wrong mean, scale or parameter order is off by many SE at this N.
  const std::vector<Distribution> cases = {
      Normal(1.5, 2.0),
      Uniform(-1.0, 3.0),
      Categorical(Tensor{0.1, 0.0, 0.6, 0.3}),
      Poisson(3.5),    // multiplication method
      Poisson(250.0),  // PTRS
      Bernoulli(0.3),
      Beta(2.0, 5.0),  // gamma ratio
      Beta(0.3, 0.7),  // Johnk
      Exponential(2.0),
      Gamma(3.0, 2.0),
      Gamma(0.4, 1.5),  // boosted shape < 1
      LogNormal(0.5, 0.4),
      Binomial(20.0, 0.2),    // inversion
      Binomial(1000.0, 0.3),  // BTRS
      Binomial(60.0, 0.85),   // BTRS through the p > 1/2 symmetry
      Weibull(2.0, 1.5),
      TruncatedNormal(0.0, 1.0, -1.0, 2.0),     // straddles the mean, wide: normal rejection
      TruncatedNormal(1.0, 2.0, 0.5, 1.5),      // straddles the mean, short: uniform proposal
      TruncatedNormal(0.0, 1.0, 3.0, kInf),     // tail: exponential proposal
      TruncatedNormal(0.0, 1.0, 10.0, kInf),    // far tail
      TruncatedNormal(0.0, 1.0, 5.0, 5.2),      // short tail interval: uniform proposal
      TruncatedNormal(2.0, 0.5, -kInf, -1.0),   // left tail, mirrored
  };
  const std::size_t n = 20000;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Distribution& d = cases[i];
    Rng rng = make_rng(20240611, i);
    std::vector<double> xs(n);
    bool all_in_support = true;
    for (double& x : xs) {
      const Tensor t = d.sample(rng);
      x = t.item();
      all_in_support = all_in_support && d.in_support(t) && std::isfinite(d.log_prob(t));
    }
    const SampleMoments m = moments(xs);
    const double mean = d.mean().item(), sd = d.stddev().item();
    INFO(d.to_string() << ": sample mean " << m.mean << " variance " << m.variance
                       << "; expected " << mean << ", " << sd * sd);
    CHECK(all_in_support);
    CHECK(std::abs(m.mean - mean) <= 5.0 * sd / std::sqrt(static_cast<double>(n)));
    const double variance_se = std::sqrt((m.m4 - m.variance * m.variance) / static_cast<double>(n));
    CHECK(std::abs(m.variance - sd * sd) <= 5.0 * variance_se);
  }
}

TEST_CASE("Categorical never draws a zero-probability category", "[distribution]") {
  const Distribution d = Categorical(Tensor{0.0, 0.5, 0.0, 0.5, 0.0});
  Rng rng = make_rng(7);
  for (int i = 0; i < 5000; ++i) {
    const double x = d.sample(rng).item();
    REQUIRE((x == 1.0 || x == 3.0));
  }
}

TEST_CASE("closed-form means and standard deviations", "[distribution]") {
  // python3: 2*math.gamma(1+1/1.5), 2*math.sqrt(math.gamma(1+2/1.5)-math.gamma(1+1/1.5)**2);
  // half-normal: sqrt(2/pi), sqrt(1-2/pi); LogNormal: exp(m+s^2/2), sqrt(expm1(s^2)) exp(m+s^2/2).
  CHECK(Weibull(2.0, 1.5).mean().item() == Approx(1.8054905859018673).epsilon(1e-13));
  CHECK(Weibull(2.0, 1.5).stddev().item() == Approx(1.2258715835093523).epsilon(1e-13));
  CHECK(TruncatedNormal(0.0, 1.0, 0.0, kInf).mean().item() == Approx(0.7978845608028654).epsilon(1e-13));
  CHECK(TruncatedNormal(0.0, 1.0, 0.0, kInf).stddev().item() == Approx(0.6028102749890869).epsilon(1e-13));
  CHECK(TruncatedNormal(0.0, 1.0, -kInf, 0.0).mean().item() == Approx(-0.7978845608028654).epsilon(1e-13));
  CHECK(LogNormal(0.5, 0.8).mean().item() == Approx(2.270499837532406).epsilon(1e-13));
  CHECK(LogNormal(0.5, 0.8).stddev().item() == Approx(2.1497699638087386).epsilon(1e-13));
  CHECK(Categorical(Tensor{1.0, 1.0, 2.0}).mean().item() == Approx(1.25));
  CHECK(Binomial(10.0, 0.3).stddev().item() == Approx(std::sqrt(2.1)));
  // Far tail: mean -> a + 1/a, variance -> 1/a^2 (first order); both finite and sensible.
  const Distribution far = TruncatedNormal(0.0, 1.0, 1000.0, kInf);
  CHECK(far.mean().item() == Approx(1000.0 + 1.0 / 1000.0).epsilon(1e-9));
  CHECK(far.stddev().item() == Approx(1e-3).epsilon(1e-3));
}

TEST_CASE("value shapes follow the parameters' broadcast shape", "[distribution]") {
  CHECK(Normal(0.0, 1.0).value_shape().empty());
  CHECK(Normal(Tensor{0.0}, 1.0).value_shape() == std::vector<int32_t>{1});
  CHECK(Normal(1.0, Tensor{1.0}).value_shape().empty());  // all single-element: the first's shape
  CHECK(Normal(Tensor{0.0, 1.0, 2.0}, 1.0).value_shape() == std::vector<int32_t>{3});
  CHECK(Normal(Tensor({0.0, 1.0}, {2, 1}), Tensor{1.0, 2.0, 3.0}).value_shape() ==
        std::vector<int32_t>{2, 3});
  CHECK(Normal(0.0, Tensor({1.0, 1.0, 1.0, 1.0}, {2, 2})).value_shape() == std::vector<int32_t>{2, 2});
  // A single-element tensor of any rank broadcasts without adding dims.
  CHECK(Normal(Tensor({0.0}, {1, 1}), Tensor{1.0, 2.0}).value_shape() == std::vector<int32_t>{2});

  Rng rng = make_rng(3);
  CHECK(Normal(0.0, 1.0).sample(rng).shape().empty());
  CHECK(Normal(Tensor{0.0}, 1.0).sample(rng).shape() == std::vector<int32_t>{1});
  const Tensor s = Normal(Tensor({0.0, 100.0}, {2, 1}), Tensor{1.0, 2.0, 3.0}).sample(rng);
  REQUIRE(s.shape() == std::vector<int32_t>{2, 3});
  for (int i = 0; i < 3; ++i) {
    CHECK(std::abs(s[i]) < 20.0);          // row 0: mean 0
    CHECK(std::abs(s[3 + i] - 100) < 20.0);  // row 1: mean 100
  }
  const Tensor mean = Normal(Tensor({0.0, 100.0}, {2, 1}), Tensor{1.0, 2.0, 3.0}).mean();
  CHECK(mean == Tensor({0.0, 0.0, 0.0, 100.0, 100.0, 100.0}, {2, 3}));
  const Tensor sd = Normal(Tensor({0.0, 100.0}, {2, 1}), Tensor{1.0, 2.0, 3.0}).stddev();
  CHECK(sd == Tensor({1.0, 2.0, 3.0, 1.0, 2.0, 3.0}, {2, 3}));
}

TEST_CASE("log_prob broadcasts the value and sums", "[distribution]") {
  const Distribution scalar = Normal(0.0, 1.0);
  const double at0 = scalar.log_prob(Tensor(0.0)), at1 = scalar.log_prob(Tensor(1.0));
  CHECK(scalar.log_prob(Tensor{0.0, 1.0, 1.0}) == Approx(at0 + 2 * at1));
  CHECK(scalar.log_prob(Tensor({0.0, 1.0}, {2, 1})) == Approx(at0 + at1));

  const Distribution batch = Normal(Tensor{0.0, 1.0, 2.0}, 1.0);
  CHECK(batch.log_prob(Tensor(1.0)) ==
        Approx(scalar.log_prob(Tensor(1.0)) + scalar.log_prob(Tensor(0.0)) + scalar.log_prob(Tensor(-1.0))));
  CHECK(batch.log_prob(Tensor{0.0, 1.0, 2.0}) == Approx(3 * at0));
  // [2,1] value against a [3] batch: a [2,3] grid.
  CHECK(batch.log_prob(Tensor({0.0, 1.0}, {2, 1})) ==
        Approx(batch.log_prob(Tensor(0.0)) + batch.log_prob(Tensor(1.0))));
  CHECK_THROWS_AS(batch.log_prob(Tensor{0.0, 1.0}), std::invalid_argument);
  CHECK_FALSE(batch.in_support(Tensor{0.0, 1.0}));
  CHECK(scalar.log_prob(Tensor(std::vector<double>{}, {0})) == 0.0);  // empty sum
}

TEST_CASE("Categorical with probs of shape [2,3]", "[distribution]") {
  const Distribution d = Categorical(Tensor({1.0, 1.0, 2.0, 0.0, 3.0, 1.0}, {2, 3}));
  CHECK(d.address_suffix() == "Categorical(len_probs:3)");
  CHECK(d.value_shape() == std::vector<int32_t>{2});
  CHECK(d.is_discrete());
  CHECK(d.log_prob(Tensor{2.0, 1.0}) == Approx(std::log(0.5) + std::log(0.75)));
  CHECK(d.log_prob(Tensor{1.0, 0.0}) == -kInf);  // row 1 gives category 0 no mass
  CHECK(d.log_prob(Tensor{3.0, 1.0}) == -kInf);  // index out of range
  CHECK(d.log_prob(Tensor(1.0)) == Approx(std::log(0.25) + std::log(0.75)));  // value broadcasts
  CHECK(d.mean() == Tensor({1.25, 1.25}, {2}));
  CHECK(d.stddev()[1] == Approx(std::sqrt(0.1875)));

  Rng rng = make_rng(11);
  std::set<double> seen0, seen1;
  for (int i = 0; i < 2000; ++i) {
    const Tensor s = d.sample(rng);
    REQUIRE(s.shape() == std::vector<int32_t>{2});
    REQUIRE(d.in_support(s));
    seen0.insert(s[0]);
    seen1.insert(s[1]);
  }
  CHECK(seen0 == std::set<double>{0.0, 1.0, 2.0});
  CHECK(seen1 == std::set<double>{1.0, 2.0});

  // 1-d probs: a 0-d value, as pyprob.
  CHECK(Categorical(Tensor{0.5, 0.5}).value_shape().empty());
  CHECK(Categorical(Tensor{0.5, 0.5}).sample(rng).shape().empty());
  CHECK(Categorical(Tensor({0.5, 0.5}, {1, 2})).value_shape() == std::vector<int32_t>{1});
}

TEST_CASE("address suffixes are pyprob's", "[distribution]") {
  CHECK(Normal(0.0, 1.0).address_suffix() == "Normal");
  CHECK(Uniform(0.0, 1.0).address_suffix() == "Uniform");
  CHECK(Categorical(Tensor(std::vector<double>(38, 1.0))).address_suffix() == "Categorical(len_probs:38)");
  CHECK(Poisson(1.0).address_suffix() == "Poisson");
  CHECK(Bernoulli(0.5).address_suffix() == "Bernoulli");
  CHECK(Beta(1.0, 1.0).address_suffix() == "Beta");
  CHECK(Exponential(1.0).address_suffix() == "Exponential");
  CHECK(Gamma(1.0, 1.0).address_suffix() == "Gamma");
  CHECK(LogNormal(0.0, 1.0).address_suffix() == "LogNormal");
  CHECK(Binomial(3.0, 0.5).address_suffix() == "Binomial");
  CHECK(Weibull(1.0, 1.0).address_suffix() == "Weibull");
  CHECK(TruncatedNormal(0.0, 1.0, -1.0, 1.0).address_suffix() == "TruncatedNormal");
}

TEST_CASE("to_string names the parameters", "[distribution]") {
  CHECK(Normal(0.0, 1.0).to_string() == "Normal(mean=0, stddev=1)");
  CHECK(Normal(Tensor{0.0, 1.5}, 2.0).to_string() == "Normal(mean=[0, 1.5], stddev=2)");
  CHECK(Categorical(Tensor({0.5, 0.5, 1.0, 0.0}, {2, 2})).to_string() ==
        "Categorical(probs=[[0.5, 0.5], [1, 0]])");
}

TEST_CASE("sampling is deterministic for a seed and equality compares parameters", "[distribution]") {
  const Distribution d = Gamma(Tensor{0.5, 2.0}, 1.0);
  Rng a = make_rng(42), b = make_rng(42), c = make_rng(43);
  const Tensor sa = d.sample(a), sb = d.sample(b), sc = d.sample(c);
  CHECK(sa == sb);
  CHECK_FALSE(sa == sc);
  CHECK(Normal(0.0, 1.0) == Normal(0.0, 1.0));
  CHECK_FALSE(Normal(0.0, 1.0) == Normal(0.0, 2.0));
  CHECK_FALSE(Normal(0.0, 1.0) == Normal(Tensor{0.0}, 1.0));
  CHECK(Normal(0.0, 1.0).parameter(1).item() == 1.0);
  CHECK(Normal(0.0, 1.0).name() == "Normal");
}

namespace {

// The message of the std::invalid_argument that make() throws ("" if none).
std::string error_of(const std::function<Distribution()>& make) {
  try {
    make();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

// Element i of each parameter (scalars broadcast; Categorical: row i of the probs), as its own
// distribution.
Distribution element(DistributionKind kind, const std::vector<Tensor>& parameters, std::size_t i) {
  if (kind == DistributionKind::Categorical) {
    const std::size_t k = static_cast<std::size_t>(parameters[0].shape().back());
    const auto row = parameters[0].data().begin() + static_cast<std::ptrdiff_t>(i * k);
    return Categorical(Tensor(std::vector<double>(row, row + static_cast<std::ptrdiff_t>(k))));
  }
  std::vector<Tensor> p;
  for (const Tensor& t : parameters) p.emplace_back(t.numel() == 1 ? t[0] : t[i]);
  return Distribution(kind, p);
}

// log_prob as the sum, in element order, of the elementwise log densities; -inf once one is.
double elementwise_log_prob(DistributionKind kind, const std::vector<Tensor>& parameters,
                            const Tensor& value, std::size_t n) {
  double total = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double lp = element(kind, parameters, i).log_prob(Tensor(value.numel() == 1 ? value[0] : value[i]));
    if (lp == -kInf) return -kInf;
    total += lp;
  }
  return total;
}

Tensor filled(std::size_t n, const std::function<double(std::size_t)>& f) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = f(i);
  return Tensor(v);
}

}  // namespace

// Tensors longer than the linear loops' blocks (256 elements; 600 leaves a partial block):
// validation, log_prob and in_support must agree exactly with the elementwise definitions.
TEST_CASE("large batches agree exactly with their elements", "[distribution]") {
  const std::size_t n = 600;
  auto u = [](std::size_t i) { return static_cast<double>((i * 37) % 101) / 101.0; };  // in [0, 1)
  struct Case {
    DistributionKind kind;
    std::vector<Tensor> parameters;
    Tensor value;
  };
  const std::vector<Case> cases = {
      {DistributionKind::Normal, {filled(n, u), filled(n, [&](std::size_t i) { return 0.2 + u(i); })},
       filled(n, [&](std::size_t i) { return 3.0 * u(i + 5) - 1.0; })},
      {DistributionKind::Normal, {Tensor(0.5), filled(n, [&](std::size_t i) { return 0.1 + u(i); })},
       Tensor(0.25)},
      {DistributionKind::Uniform, {filled(n, u), Tensor(2.0)},
       filled(n, [&](std::size_t i) { return u(i) + (2.0 - u(i)) * u(i + 1); })},
      {DistributionKind::Poisson, {filled(n, [&](std::size_t i) { return 0.5 + 20.0 * u(i); })},
       filled(n, [](std::size_t i) { return static_cast<double>(i % 13); })},
      {DistributionKind::Beta, {filled(n, [&](std::size_t i) { return 0.3 + 3.0 * u(i); }), Tensor(2.5)},
       filled(n, [&](std::size_t i) { return 0.05 + 0.9 * u(i + 2); })},
      {DistributionKind::Gamma, {Tensor(2.0), filled(n, [&](std::size_t i) { return 0.5 + u(i); })},
       filled(n, [&](std::size_t i) { return 0.1 + 4.0 * u(i + 3); })},
      {DistributionKind::Binomial, {filled(n, [](std::size_t i) { return static_cast<double>(10 + i % 7); }), Tensor(0.3)},
       filled(n, [](std::size_t i) { return static_cast<double>(i % 11); })},
      {DistributionKind::TruncatedNormal,
       {filled(n, u), Tensor(1.0), Tensor(-kInf), filled(n, [&](std::size_t i) { return 1.0 + u(i); })},
       filled(n, [&](std::size_t i) { return u(i + 7) - 0.5; })},
      {DistributionKind::Categorical,
       {Tensor(filled(3 * n, [&](std::size_t i) { return 0.1 + u(i); }).data(), {static_cast<int32_t>(n), 3})},
       filled(n, [](std::size_t i) { return static_cast<double>(i % 3); })},
  };
  for (const Case& c : cases) {
    const Distribution d(c.kind, c.parameters);
    INFO(d.to_string());
    // Exactly: the same densities summed in the same order.
    CHECK(d.log_prob(c.value) == elementwise_log_prob(c.kind, c.parameters, c.value, n));
    CHECK(std::isfinite(d.log_prob(c.value)));
    CHECK(d.in_support(c.value));
  }
  // One value outside the support, in the last partial block.
  const Distribution normal(cases[0].kind, cases[0].parameters);
  std::vector<double> y = cases[0].value.data();
  y[590] = kNaN;
  CHECK(normal.log_prob(Tensor(y)) == -kInf);
  CHECK_FALSE(normal.in_support(Tensor(y)));
}

TEST_CASE("large batches: a zero density wins over an infinite one", "[distribution]") {
  const std::size_t n = 600;
  // Beta(0.5, 0.5) has density +inf at 0; Beta(2, 3) has density 0 at 1 (in the support).
  std::vector<double> a(n, 2.0), b(n, 3.0), x(n, 0.5);
  a[3] = b[3] = 0.5;
  x[3] = 0.0;
  const Distribution d = Beta(Tensor(a), Tensor(b));
  CHECK(d.log_prob(Tensor(x)) == kInf);
  for (std::size_t zero : {std::size_t{1}, std::size_t{300}, std::size_t{599}}) {
    std::vector<double> xz = x;
    xz[zero] = 1.0;
    INFO("zero density at " << zero);
    CHECK(d.log_prob(Tensor(xz)) == -kInf);
    CHECK(d.in_support(Tensor(xz)));
  }
  std::vector<double> p(n, 0.5), ones(n, 1.0);
  p[450] = 0.0;
  CHECK(Bernoulli(Tensor(p)).log_prob(Tensor(ones)) == -kInf);
}

TEST_CASE("large batches: invalid parameters give the first problem, as for small ones", "[distribution]") {
  const std::size_t n = 600;
  const Tensor zeros = filled(n, [](std::size_t) { return 0.0; });
  auto with = [&](std::vector<std::pair<std::size_t, double>> changes, double fill) {
    std::vector<double> v(n, fill);
    for (const auto& [i, x] : changes) v[i] = x;
    return Tensor(v);
  };
  CHECK(error_of([&] { return Normal(zeros, with({{450, -1.0}, {500, -2.0}}, 1.0)); }) ==
        "Normal: stddev must be > 0 (got mean=0, stddev=-1)");
  CHECK(error_of([&] { return Normal(zeros, with({{450, -1.0}}, 1.0)); }) == error_of([] { return Normal(0.0, -1.0); }));
  // The NaN/inf scan of each parameter, in order, comes before the elementwise checks.
  CHECK(error_of([&] { return Normal(with({{520, kNaN}}, 0.0), with({{10, -1.0}}, 1.0)); }) ==
        "Normal parameter 'mean' is NaN");
  CHECK(error_of([&] { return Normal(zeros, with({{599, kInf}}, 1.0)); }) == "Normal parameter 'stddev' is infinite");
  CHECK(error_of([&] { return Normal(0.0, with({{599, -kInf}}, 1.0)); }) == "Normal parameter 'stddev' is infinite");
  CHECK(error_of([&] { return Uniform(zeros, with({{255, 0.0}}, 1.0)); }) ==
        "Uniform: low must be < high (got low=0, high=0)");
  CHECK(error_of([&] { return Poisson(with({{256, 0.0}}, 1.0)); }) == "Poisson: rate must be > 0 (got rate=0)");
  CHECK(error_of([&] { return Gamma(with({{100, 0.0}}, 1.0), with({{5, 0.0}}, 1.0)); }) ==
        "Gamma: rate must be > 0 (got concentration=1, rate=0)");
  CHECK(error_of([&] { return Binomial(with({{599, 2.5}}, 3.0), Tensor(0.5)); }) ==
        "Binomial: total_count must be a non-negative integer (got total_count=2.5, probs=0.5)");
  std::vector<double> probs(3 * n, 1.0);
  probs[900] = probs[901] = probs[902] = 0.0;
  CHECK(error_of([&] { return Categorical(Tensor(probs, {static_cast<int32_t>(n), 3})); }) ==
        "Categorical: probs must not be all zero (got probs=[0, 0, 0])");
  // Infinite bounds are allowed for TruncatedNormal, NaN ones are not.
  CHECK(error_of([&] { return TruncatedNormal(zeros, 1.0, with({}, -kInf), with({}, kInf)); }).empty());
  CHECK(error_of([&] { return TruncatedNormal(zeros, 1.0, with({{300, kNaN}}, -kInf), kInf); }) ==
        "TruncatedNormal parameter 'low' is NaN");
  CHECK(error_of([&] { return TruncatedNormal(zeros, 1.0, with({{300, 2.0}}, -kInf), 1.0); }) ==
        "TruncatedNormal: low must be < high (got mean=0, stddev=1, low=2, high=1)");
}

// Issue 8, item 1: every sampler terminates for every parameter set the table accepts (a peer
// chooses the parameters). Before the fix TruncatedNormal(0, 1e-200, 1, 2) looped forever; the
// test's TIMEOUT turns such a hang into a failure. Every combination of the extreme values below
// is tried for every kind (a seventh of them for TruncatedNormal's four parameters); accepted ones
// are sampled, and each draw must be a number, and in the support unless rounded onto its edge.
TEST_CASE("every sampler terminates for extreme valid parameters", "[distribution][hostile]") {
  constexpr double kMax = std::numeric_limits<double>::max();
  constexpr double kDenorm = std::numeric_limits<double>::denorm_min();
  const std::vector<double> extremes = {0.0,    kDenorm, 4.94e-310, 1e-300, 1e-200, 1e-16, 0.3, 1.0,
                                        2.0,   37.0,    1e8,       1e16,   1e154,  1e200, 1e300, kMax,
                                        -kDenorm, -1e-200, -1.0,   -1e16,  -1e200, -kMax, -kInf, kInf};
  Rng rng = make_rng(8);
  std::size_t accepted = 0;
  for (const DistributionInfo& row : all_distributions()) {
    const std::size_t n = row.kind == DistributionKind::Categorical ? 3 : row.parameters.size();
    std::vector<std::size_t> at(n, 0);
    // TruncatedNormal has 4 parameters: 24^4 = 331,776 sets; a subsample keeps the test short.
    const std::size_t step = n >= 4 ? 7 : 1;
    for (std::size_t combo = 0;; combo += step) {
      std::size_t rest = combo;
      for (std::size_t k = 0; k < n; ++k) {
        at[k] = rest % extremes.size();
        rest /= extremes.size();
      }
      if (rest != 0) break;
      std::vector<Tensor> parameters;
      if (row.kind == DistributionKind::Categorical) {
        parameters.push_back(Tensor({extremes[at[0]], extremes[at[1]], extremes[at[2]]}));
      } else {
        for (std::size_t k = 0; k < n; ++k) parameters.push_back(Tensor(extremes[at[k]]));
      }
      std::optional<Distribution> d;
      try {
        d.emplace(row.kind, parameters);
      } catch (const std::invalid_argument&) {
        continue;
      }
      ++accepted;
      for (int draw = 0; draw < 3; ++draw) {
        const Tensor x = d->sample(rng);
        INFO(d->to_string() << " drew " << x.item());
        // At the ends of the double range a draw may round onto the support's edge: overflow to
        // +-inf (Normal(1e308, 1e300)), underflow to 0 (LogNormal(-1e16, denorm_min)). It is never
        // NaN, and otherwise lies in the support.
        REQUIRE_FALSE(std::isnan(x.item()));
        if (std::isfinite(x.item()) && x.item() != 0.0) REQUIRE(d->in_support(x));
        // log_prob is a number or +-inf, never NaN (it was for e.g. Beta(DBL_MAX, denorm_min) at 1,
        // Gamma(DBL_MAX, 1), Weibull(denorm_min, 2) at 0.3, TruncatedNormal(-DBL_MAX, 2, -denorm_min, 0)).
        REQUIRE_FALSE(std::isnan(d->log_prob(x)));
      }
      // Likewise at every extreme value in the support.
      for (const double v : extremes) {
        if (!d->in_support(Tensor(v))) continue;
        INFO(d->to_string() << " at " << v);
        REQUIRE_FALSE(std::isnan(d->log_prob(Tensor(v))));
      }
    }
  }
  CHECK(accepted > 1000);
  // The probe's cases: the a*a overflow (a = 1e200) and the fuzzer's smallest case.
  for (const auto& p : std::vector<std::array<double, 4>>{
           {0.0, 1e-200, 1.0, 2.0}, {3.46e-323, 4.94e-310, 4.68e-97, 1.53e-4}, {0.0, 1e-300, -2.0, -1.0},
           {0.0, 1e-300, 1e7, 1e8}, {0.0, 1.0, 1e300, kInf}}) {
    const Distribution d = TruncatedNormal(p[0], p[1], p[2], p[3]);
    for (int draw = 0; draw < 100; ++draw) {
      const Tensor x = d.sample(rng);
      INFO(d.to_string() << " drew " << x.item());
      REQUIRE(d.in_support(x));
    }
  }
  // Parameters whose log density is inf - inf in double precision are rejected, with a reason.
  CHECK_THROWS_WITH(Beta(kMax, kDenorm), Catch::Contains("log-gamma overflows"));
  CHECK_THROWS_WITH(Gamma(kMax, 1.0), Catch::Contains("log-gamma overflows"));
  CHECK_THROWS_WITH(Binomial(std::ldexp(1.0, 60), 0.5), Catch::Contains("at most 2^53"));
  CHECK_THROWS_WITH(TruncatedNormal(-kMax, 2.0, -kDenorm, 0.0), Catch::Contains("DBL_MAX / 4"));
  CHECK_THROWS_WITH(TruncatedNormal(0.0, kMax, 1.0, 1.0 + 2.220446049250313e-16), Catch::Contains("too narrow"));
  CHECK_NOTHROW(Beta(1e300, 1e300));
  CHECK_NOTHROW(Gamma(1e300, 1.0));
  // Intervals beyond the double range of the standardised bounds are rejected, not looped on.
  CHECK_THROWS_AS(TruncatedNormal(0.0, kDenorm, 1.0, 2.0), std::invalid_argument);
  CHECK_THROWS_AS(TruncatedNormal(-kMax, 1e-10, kMax / 2, kMax), std::invalid_argument);
}
