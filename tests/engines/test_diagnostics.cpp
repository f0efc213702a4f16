// MCMC diagnostics against known answers:
//   - values from a line-by-line pure-Python port of ArviZ's diagnostics.py (printed to 15
//     digits; the port uses direct autocovariances and statistics.NormalDist, so it shares no code
//     with ours): tolerance 1e-9 relative;
//   - synthetic chains with closed-form answers: iid normal chains (R-hat ~ 1, ESS ~ N), AR(1)
//     chains (ESS of the mean = N (1 - phi) / (1 + phi)), chains with shifted means or scales
//     (R-hat >> 1.01). Fixed seeds; the statistical tolerances are about 4 standard deviations of
//     the estimator, measured over 50 seeds when this test was written: ESS / expected had mean
//     0.99-1.00 and sd 2.6% (iid, 4 x 2000), 4.4% (phi 0.9), 2.0% (phi 0.5), 2.4% (phi -0.5)
//     (4 x 20000); MCSE x sqrt(expected ESS) had sd 1.5-2.6%; the largest R-hat was 1.0027.
#include <catch2/catch.hpp>
#include <cmath>
#include <random>

#include "ppx/core/rng.h"
#include "ppx/engines/diagnostics.h"

using namespace ppx;
using namespace ppx::engines;

namespace {

ChainDraws ar1_chains(std::size_t chains, std::size_t draws, double phi, std::uint64_t seed,
                      std::vector<double> shifts = {}, std::vector<double> scales = {}) {
  ChainDraws out(chains);
  for (std::size_t c = 0; c < chains; ++c) {
    Rng rng = make_rng(seed, c);
    std::normal_distribution<double> normal;
    // Stationary start: x_0 ~ N(0, 1); innovations scaled so that Var(x_t) = 1.
    double x = normal(rng);
    const double innovation = std::sqrt(1.0 - phi * phi);
    for (std::size_t i = 0; i < draws; ++i) {
      if (i > 0) x = phi * x + innovation * normal(rng);
      const double shift = c < shifts.size() ? shifts[c] : 0.0;
      const double scale = c < scales.size() ? scales[c] : 1.0;
      out[c].push_back(shift + scale * x);
    }
  }
  return out;
}

ChainDraws lcg_chains(std::size_t chains, std::size_t draws, double phi) {
  ChainDraws out;
  std::uint64_t state = 12345;
  for (std::size_t c = 0; c < chains; ++c) {
    double x = 0.0;
    std::vector<double> row;
    for (std::size_t i = 0; i < draws; ++i) {
      state = (1664525 * state + 1013904223) % (1ull << 32);
      const double u = static_cast<double>(state) / 4294967296.0;
      x = phi * x + (u - 0.5) + 0.05 * static_cast<double>(c);
      row.push_back(x);
    }
    out.push_back(row);
  }
  return out;
}

}  // namespace

TEST_CASE("normal quantile inverts the normal CDF") {
  // Relative error of p = Phi(x) is about |x| times the relative error of x: 1e-13 in p at
  // |x| <= 37 means x is good to about 1e-15.
  for (double p : {1e-300, 1e-20, 1e-10, 1e-5, 0.001, 0.02425, 0.1, 0.3, 0.5, 0.7, 0.9, 0.975, 0.999, 1 - 1e-10}) {
    const double x = detail::normal_quantile(p);
    const double back = 0.5 * std::erfc(-x / std::sqrt(2.0));
    INFO("p = " << p << ", x = " << x);
    CHECK(std::abs(back - p) <= 1e-13 * p);
  }
  CHECK(detail::normal_quantile(0.975) == Approx(1.959963984540054).epsilon(1e-15));
  CHECK(detail::normal_quantile(0.5) == 0.0);
  CHECK(std::isinf(detail::normal_quantile(0.0)));
  CHECK(std::isnan(detail::normal_quantile(1.5)));
}

TEST_CASE("FFT autocovariance equals the direct sum") {
  const ChainDraws x = ar1_chains(1, 257, 0.7, 3);
  const std::vector<double> acov = detail::autocovariance(x[0]);
  const std::size_t n = x[0].size();
  double mean = 0.0;
  for (double v : x[0]) mean += v / static_cast<double>(n);
  for (std::size_t t : {0u, 1u, 2u, 17u, 100u, 256u}) {
    double direct = 0.0;
    for (std::size_t i = 0; i + t < n; ++i) direct += (x[0][i] - mean) * (x[0][i + t] - mean);
    direct /= static_cast<double>(n);
    CHECK(acov[t] == Approx(direct).margin(1e-12));
  }
}

TEST_CASE("diagnostics equal ArviZ's on fixed data (pure-Python port of diagnostics.py)") {
  // 3 chains x 11 draws with ties (average ranks) and an odd length (the middle draw dropped).
  const ChainDraws a = {{0.0, 1.0, 0.75, -0.5, -0.5, 0.75, 1.5, 1.0, 0.0, 0.25, 1.5},
                        {0.75, 1.0, 0.25, -0.5, 0.5, 1.75, 2.0, 1.0, 0.5, 1.75, 3.0},
                        {1.0, 0.75, -0.25, 0.0, 1.5, 2.5, 2.0, 1.25, 1.75, 3.25, 4.0}};
  CHECK(rank_normalized_split_rhat(a) == Approx(1.39920060165646).epsilon(1e-9));
  CHECK(ess_bulk(a) == Approx(12.7218934706569).epsilon(1e-9));
  CHECK(ess_tail(a) == Approx(14.7783251231527).epsilon(1e-9));
  CHECK(mcse_mean(a) == Approx(0.307709608747478).epsilon(1e-9));
  CHECK(detail::ess_raw(a) == Approx(13.4043625600549).epsilon(1e-9));
  // 4 chains x 301 draws of an autocorrelated LCG-driven process (long Geyer sequences).
  const ChainDraws b = lcg_chains(4, 301, 0.8);
  CHECK(rank_normalized_split_rhat(b) == Approx(1.16190835846401).epsilon(1e-9));
  CHECK(ess_bulk(b) == Approx(21.5721355528567).epsilon(1e-9));
  CHECK(ess_tail(b) == Approx(31.1983069457971).epsilon(1e-9));
  CHECK(mcse_mean(b) == Approx(0.108040080390002).epsilon(1e-9));
}

TEST_CASE("iid normal chains: R-hat about 1, ESS about N, MCSE about sd / sqrt(N)") {
  const ChainDraws x = ar1_chains(4, 2000, 0.0, 7);
  const double n = 8000;
  const VariableDiagnostics d = diagnose(x);
  INFO("r_hat " << d.r_hat << " ess_bulk " << d.ess_bulk << " ess_tail " << d.ess_tail << " mcse " << d.mcse_mean);
  CHECK(d.r_hat < 1.01);
  CHECK(d.r_hat > 0.99);
  // ESS of iid draws: N within 10% (estimator sd 2.6% at this N).
  CHECK(d.ess_bulk == Approx(n).epsilon(0.10));
  CHECK(d.ess_tail == Approx(n).epsilon(0.15));  // indicators of 5% tails: noisier
  CHECK(d.mcse_mean == Approx(1.0 / std::sqrt(n)).epsilon(0.10));
}

TEST_CASE("AR(1) chains: ESS of the mean is N (1 - phi) / (1 + phi)") {
  const auto [phi, tolerance] = GENERATE(std::pair{0.9, 0.18}, std::pair{0.5, 0.10}, std::pair{-0.5, 0.10});
  const ChainDraws x = ar1_chains(4, 20'000, phi, 21);
  const double n = 80'000;
  const double expected = n * (1 - phi) / (1 + phi);
  INFO("phi " << phi << ": expected ESS " << expected << ", mean " << ess_mean(x) << ", bulk " << ess_bulk(x));
  CHECK(ess_mean(x) == Approx(expected).epsilon(tolerance));
  // Rank normalisation is a monotone transform of Gaussian draws: nearly the same autocorrelation.
  CHECK(ess_bulk(x) == Approx(expected).epsilon(tolerance));
  CHECK(rank_normalized_split_rhat(x) < 1.01);
  // MCSE of the mean = sd / sqrt(ESS), sd = 1.
  CHECK(mcse_mean(x) == Approx(1.0 / std::sqrt(expected)).epsilon(tolerance));
}

TEST_CASE("chains that disagree have R-hat far above 1.01") {
  SECTION("a shifted mean (bulk R-hat)") {
    const ChainDraws x = ar1_chains(4, 1000, 0.0, 5, {0.0, 0.0, 0.0, 1.0});
    CHECK(rank_normalized_split_rhat(x) > 1.05);
  }
  SECTION("a wider chain with the same mean (only the folded, tail R-hat sees it)") {
    const ChainDraws x = ar1_chains(4, 1000, 0.0, 5, {}, {1.0, 1.0, 1.0, 3.0});
    const ChainDraws split = detail::split_chains(x);
    CHECK(detail::rhat_raw(detail::z_scale(split)) < 1.01);  // bulk alone misses it
    CHECK(rank_normalized_split_rhat(x) > 1.05);
  }
  SECTION("a chain that drifts within itself (split R-hat), even with one chain") {
    ChainDraws x = ar1_chains(1, 2000, 0.0, 9);
    for (std::size_t i = 0; i < 2000; ++i) x[0][i] += static_cast<double>(i) / 1000.0;
    CHECK(rank_normalized_split_rhat(x) > 1.05);
  }
}

TEST_CASE("degenerate input gives NaN or the draw count, as ArviZ does") {
  CHECK(std::isnan(rank_normalized_split_rhat({{1, 2, 3}, {1, 2, 3}})));  // fewer than 4 draws
  CHECK(std::isnan(ess_bulk({{1, 2, NAN, 4, 5}})));
  CHECK(std::isnan(rank_normalized_split_rhat({{2, 2, 2, 2}, {2, 2, 2, 2}})));  // every draw equal
  CHECK(ess_mean({{2, 2, 2, 2}, {2, 2, 2, 2}}) == 8.0);
  CHECK_THROWS_AS(diagnose({{1, 2, 3, 4}, {1, 2, 3}}), std::invalid_argument);
}

// The rules of diagnostics.h for failed runs, each on a crafted chain.
TEST_CASE("diagnose() says in words when a chain does not move, chains are stuck apart, or R-hat is undefined") {
  SECTION("every draw of every chain equal: no ESS reported as the draw count, no R-hat") {
    const VariableDiagnostics d = diagnose({{4, 4, 4, 4, 4, 4}, {4, 4, 4, 4, 4, 4}});
    CHECK(std::isnan(d.ess_bulk));
    CHECK(std::isnan(d.ess_tail));
    CHECK(std::isnan(d.mcse_mean));
    CHECK(std::isnan(d.r_hat));
    CHECK(d.problem.find("no chain ever changed it") != std::string::npos);
  }
  SECTION("constant within each chain, different between chains (both stuck on their own channel)") {
    const VariableDiagnostics d = diagnose({{4, 4, 4, 4, 4, 4}, {0, 0, 0, 0, 0, 0}});
    CHECK(d.r_hat == std::numeric_limits<double>::infinity());
    CHECK(std::isnan(d.ess_bulk));
    CHECK(d.problem.find("stuck") != std::string::npos);
  }
  SECTION("one chain stuck, the other moving: numbers computed, the stuck chain named") {
    const VariableDiagnostics d = diagnose({{1, 2, 3, 4, 5, 6}, {3, 3, 3, 3, 3, 3}});
    CHECK(std::isfinite(d.ess_bulk));
    CHECK(d.problem == "chain 1 never changed it: stuck");
  }
  SECTION("too few draws or non-finite draws") {
    CHECK(diagnose({{1, 2, 3}, {1, 2, 3}}).problem.find("fewer than 4 draws") != std::string::npos);
    CHECK(diagnose({{1, 2, NAN, 4, 5}}).problem.find("not finite") != std::string::npos);
  }
  SECTION("healthy chains have no problem") {
    CHECK(diagnose({{1, 3, 2, 5, 4, 6}, {2, 1, 4, 3, 6, 5}}).problem.empty());
  }
}

TEST_CASE("chain_draws groups an MCMC posterior's rows by chain, in draw order, cut to the shortest") {
  WeightedTraces posterior;
  auto row = [](double v) {
    Trace t;
    t.entries.push_back(TraceEntry{.kind = SiteKind::Sample, .address = "a__Normal__1", .name = "a", .value = v});
    return t;
  };
  posterior.add(row(1), 0, 0);
  posterior.add(row(2), 0, 1);
  posterior.add(row(3), 0, 2);
  posterior.add(row(11), 2, 1);
  posterior.add(row(10), 2, 0);
  const ChainDraws draws = chain_draws(posterior, "a");
  REQUIRE(draws.size() == 2);
  CHECK(draws[0] == std::vector<double>{1, 2});
  CHECK(draws[1] == std::vector<double>{10, 11});
  CHECK(chain_draws(posterior, "missing").empty());
}
