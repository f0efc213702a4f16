// The reference models' exact posteriors, each checked by an independent method:
//   gum        conjugate formula vs numerical quadrature and the bivariate-normal evidence;
//   branching  enumeration vs rejection sampling and likelihood weighting of the real program;
//   hmm        forward-backward vs brute-force enumeration of all paths, and vs pyprob's table;
//   marsaglia  the polar method's mu has the Normal(1, sqrt 5) prior (moments and quantiles).
// Statistical checks use fixed seeds and a tolerance of 5 standard errors, each SE estimated from
// the same sample (binomial SE for frequencies, the delta-method SE for self-normalised weights).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <numbers>
#include <set>
#include <string>
#include <sys/wait.h>
#include <vector>

#include <catch2/catch.hpp>

#include "ppx/ppx.h"
#include "ppx/reference/models.h"

namespace ref = ppx::reference;

namespace {

constexpr double kSigmas = 5.0;  // statistical tolerance in standard errors

double normal_log_pdf(double x, double mean, double variance) {
  return -0.5 * std::log(2.0 * std::numbers::pi * variance) - 0.5 * (x - mean) * (x - mean) / variance;
}

// Runs `forward` n times under one recording LocalHandler.
std::vector<ppx::TraceRecord> run_records(const ppx::ModelFunction& forward, int n, std::uint64_t seed,
                                          bool sample_observations = false) {
  ppx::LocalHandler handler({.seed = seed, .record = true, .sample_observations = sample_observations});
  const ppx::Model model("under-test", forward);
  std::vector<ppx::TraceRecord> out;
  out.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    ppx::Tensor result = model.run(handler);
    ppx::TraceRecord record = handler.take_record();
    record.result = std::move(result);
    out.push_back(std::move(record));
  }
  return out;
}

const ppx::SiteRecord* find_site(const ppx::TraceRecord& record, std::string_view name) {
  for (const ppx::SiteRecord& site : record.sites) {
    if (site.name == name) return &site;
  }
  return nullptr;
}

double named_value(const ppx::TraceRecord& record, std::string_view name) {
  const ppx::SiteRecord* site = find_site(record, name);
  REQUIRE(site != nullptr);
  REQUIRE(site->value.has_value());
  return site->value->item();
}

// log p(observations | trace): every observe site scored by its recorded likelihood at the value
// the observations give its name (likelihood weighting with the prior as proposal).
double log_likelihood(const ppx::TraceRecord& record, const ref::Observations& observations) {
  double total = 0;
  for (const ppx::SiteRecord& site : record.sites) {
    if (site.kind != ppx::SiteKind::Observe) continue;
    REQUIRE(site.distribution.has_value());
    total += site.distribution->log_prob(ppx::Tensor(ref::observation_value(observations, site.name)));
  }
  return total;
}

// Self-normalised importance estimates with their delta-method standard errors.
class WeightedSample {
 public:
  explicit WeightedSample(std::vector<double> log_weights) : log_weights_(std::move(log_weights)) {
    const double top = *std::max_element(log_weights_.begin(), log_weights_.end());
    for (const double lw : log_weights_) weights_.push_back(std::exp(lw - top));
    double sum = 0;
    for (const double w : weights_) sum += w;
    for (double& w : weights_) w /= sum;
  }
  struct Estimate {
    double value;
    double se;
  };
  // E[f] under the weights; f(i) for the i-th trace (indicator functions give probabilities).
  template <class F>
  Estimate mean(F f) const {
    double m = 0;
    for (std::size_t i = 0; i < weights_.size(); ++i) m += weights_[i] * f(i);
    double var = 0;
    for (std::size_t i = 0; i < weights_.size(); ++i) var += weights_[i] * weights_[i] * (f(i) - m) * (f(i) - m);
    return {m, std::sqrt(var)};
  }
  // The evidence estimate mean(exp(log w)) relative to exp(log_reference), with its SE.
  Estimate evidence_ratio(double log_reference) const {
    const double n = static_cast<double>(log_weights_.size());
    double m = 0;
    double m2 = 0;
    for (const double lw : log_weights_) {
      const double r = std::exp(lw - log_reference);
      m += r / n;
      m2 += r * r / n;
    }
    return {m, std::sqrt((m2 - m * m) / (n - 1))};
  }
  double ess() const {
    double s = 0;
    for (const double w : weights_) s += w * w;
    return 1.0 / s;
  }

 private:
  std::vector<double> log_weights_;
  std::vector<double> weights_;
};

void check_within(double estimate, double se, double exact, const std::string& what) {
  INFO(what << ": estimate " << estimate << " +- " << se << " (SE), exact " << exact);
  CHECK(se > 0);
  CHECK(std::abs(estimate - exact) <= kSigmas * se);
}

struct Quadrature {
  double log_evidence, mean, stddev;
};

// Trapezoid rule for prior x likelihood over a wide grid of mu.
Quadrature gum_by_quadrature(const std::vector<double>& ys) {
  const double lo = -60.0;
  const double hi = 70.0;
  const int n = 260000;
  const double h = (hi - lo) / n;
  double z = 0, m1 = 0, m2 = 0;
  for (int i = 0; i <= n; ++i) {
    const double mu = lo + h * i;
    double lp = normal_log_pdf(mu, 1.0, 5.0);
    for (const double y : ys) lp += normal_log_pdf(y, mu, 2.0);
    const double w = std::exp(lp) * ((i == 0 || i == n) ? 0.5 : 1.0) * h;
    z += w;
    m1 += w * mu;
    m2 += w * mu * mu;
  }
  const double mean = m1 / z;
  return {std::log(z), mean, std::sqrt(m2 / z - mean * mean)};
}

// The HMM posterior by summing over every path of states 0..T (3^(T+1) of them).
ref::hmm::Posterior hmm_by_enumeration(const std::vector<double>& ys) {
  const std::size_t steps = ys.size();
  const std::size_t length = steps + 1;
  std::size_t paths = 1;
  for (std::size_t i = 0; i < length; ++i) paths *= ref::hmm::kStates;
  std::vector<std::array<double, 3>> marginals(length, {0, 0, 0});
  double z = 0;
  std::vector<int> states(length);
  for (std::size_t p = 0; p < paths; ++p) {
    std::size_t code = p;
    for (std::size_t t = 0; t < length; ++t) {
      states[t] = static_cast<int>(code % 3);
      code /= 3;
    }
    double joint = ref::hmm::kInitial[states[0]];
    for (std::size_t t = 1; t < length; ++t) {
      joint *= ref::hmm::kTransition[states[t - 1]][states[t]];
      joint *= std::exp(normal_log_pdf(ys[t - 1], ref::hmm::kMeans[states[t]], 1.0));
    }
    z += joint;
    for (std::size_t t = 0; t < length; ++t) marginals[t][states[t]] += joint;
  }
  for (auto& row : marginals)
    for (double& v : row) v /= z;
  return {marginals, std::log(z)};
}

}  // namespace

TEST_CASE("gum: the conjugate posterior for obs 8, 9 is N(7.25, sqrt(5/6))", "[reference][gum]") {
  const double ys[2] = {8.0, 9.0};
  const ref::gum::NormalPosterior exact = ref::gum::exact_posterior(ys);
  CHECK(exact.mean == Approx(7.25).epsilon(1e-14));
  CHECK(exact.stddev == Approx(std::sqrt(5.0 / 6.0)).epsilon(1e-14));
  // Evidence: (obs0, obs1) ~ N((1, 1), [[7, 5], [5, 7]]), written out for the 2x2 case.
  const double d0 = 7.0, d1 = 8.0, det = 7.0 * 7.0 - 5.0 * 5.0;
  const double quad = (7.0 * d0 * d0 - 2.0 * 5.0 * d0 * d1 + 7.0 * d1 * d1) / det;
  const double log_evidence = -std::log(2.0 * std::numbers::pi) - 0.5 * std::log(det) - 0.5 * quad;
  CHECK(exact.log_evidence == Approx(log_evidence).epsilon(1e-13));
  CHECK(exact.log_evidence == Approx(-8.2394042).epsilon(1e-7));
}

TEST_CASE("gum: the conjugate posterior agrees with quadrature", "[reference][gum]") {
  const std::vector<std::vector<double>> cases = {{8, 9}, {-3, 2.5}, {1, 1}, {20, -5}, {4}, {0.5, 7, -2}};
  for (const auto& ys : cases) {
    const ref::gum::NormalPosterior exact = ref::gum::exact_posterior(ys);
    const Quadrature q = gum_by_quadrature(ys);
    INFO("observations: " << ys.size() << " starting " << ys[0]);
    CHECK(exact.mean == Approx(q.mean).epsilon(1e-9).margin(1e-9));
    CHECK(exact.stddev == Approx(q.stddev).epsilon(1e-8));
    CHECK(exact.log_evidence == Approx(q.log_evidence).epsilon(1e-9));
  }
}

TEST_CASE("gum: the program's trace is the model, and likelihood weighting finds the posterior", "[reference][gum]") {
  const ref::ReferenceModel& model = ref::reference_model("gum");
  const auto records = run_records(model.forward, 100000, 11);
  const ppx::TraceRecord& first = records.front();
  REQUIRE(first.sites.size() == 3);
  CHECK(first.sites[0].kind == ppx::SiteKind::Sample);
  CHECK(first.sites[0].name == "mu");
  CHECK(first.sites[0].distribution == ppx::Normal(1.0, std::sqrt(5.0)));
  const double mu = first.sites[0].value->item();
  CHECK(first.result.item() == mu);
  for (int i = 1; i <= 2; ++i) {
    CHECK(first.sites[i].kind == ppx::SiteKind::Observe);
    CHECK(first.sites[i].name == "obs" + std::to_string(i - 1));
    CHECK(first.sites[i].distribution == ppx::Normal(mu, std::sqrt(2.0)));
    CHECK_FALSE(first.sites[i].value.has_value());
  }

  std::vector<double> log_w;
  for (const auto& r : records) log_w.push_back(log_likelihood(r, model.default_observations));
  const WeightedSample sample(log_w);
  const ref::ExactPosterior exact = model.exact_posterior(model.default_observations);
  const auto mean = sample.mean([&](std::size_t i) { return records[i].result.item(); });
  check_within(mean.value, mean.se, exact.latent("mu").mean, "gum posterior mean");
  const auto evidence = sample.evidence_ratio(exact.log_evidence);
  check_within(evidence.value, evidence.se, 1.0, "gum evidence / exact");
}

TEST_CASE("marsaglia: the polar method draws mu from Normal(1, sqrt 5) with a varying trace length", "[reference][marsaglia]") {
  const int n = 100000;
  const auto records = run_records(ref::marsaglia::forward, n, 21);
  std::vector<double> mus;
  std::set<std::size_t> sample_counts;
  double attempts = 0;
  for (const auto& r : records) {
    const double mu = named_value(r, "mu");
    CHECK(mu == r.result.item());
    REQUIRE(find_site(r, "mu")->kind == ppx::SiteKind::Tag);
    std::size_t samples = 0;
    for (const auto& site : r.sites) {
      if (site.kind != ppx::SiteKind::Sample) continue;
      ++samples;
      REQUIRE(site.distribution == ppx::Uniform(-1.0, 1.0));
    }
    REQUIRE(samples % 2 == 0);
    sample_counts.insert(samples);
    attempts += static_cast<double>(samples / 2);
    mus.push_back(mu);
  }
  CHECK(sample_counts.size() > 3);  // 2, 4, 6, ... samples: the length depends on the draws
  CHECK(*sample_counts.begin() == 2);
  // Attempts are geometric with acceptance pi/4: mean 4/pi, variance (1 - p)/p^2.
  const double p = std::numbers::pi / 4.0;
  check_within(attempts / n, std::sqrt((1 - p) / (p * p) / n), 1.0 / p, "mean attempts");

  double mean = 0;
  for (const double m : mus) mean += m / n;
  double var = 0;
  for (const double m : mus) var += (m - mean) * (m - mean) / (n - 1);
  check_within(mean, std::sqrt(5.0 / n), 1.0, "prior mean of mu");
  check_within(var, 5.0 * std::sqrt(2.0 / (n - 1)), 5.0, "prior variance of mu");  // normal: var(s^2) = 2 sigma^4/(n-1)
  // Quantiles: the fraction below 1 + sqrt(5) z is Phi(z), with binomial SE.
  for (const double z : {-2.0, -1.0, -0.3, 0.0, 0.7, 1.5}) {
    const double phi = 0.5 * std::erfc(-z / std::sqrt(2.0));
    const double below = static_cast<double>(std::count_if(mus.begin(), mus.end(),
                                                           [&](double m) { return m < 1.0 + std::sqrt(5.0) * z; })) / n;
    check_within(below, std::sqrt(phi * (1 - phi) / n), phi, "P(mu < 1 + sqrt5 z), z = " + std::to_string(z));
  }

  // Its posterior is gum's: likelihood weighting of the same traces.
  const ref::ReferenceModel& model = ref::reference_model("marsaglia");
  std::vector<double> log_w;
  for (const auto& r : records) log_w.push_back(log_likelihood(r, model.default_observations));
  const WeightedSample sample(log_w);
  const ref::ExactPosterior exact = model.exact_posterior(model.default_observations);
  CHECK(exact.latent("mu").mean == Approx(7.25));
  const auto post_mean = sample.mean([&](std::size_t i) { return mus[i]; });
  check_within(post_mean.value, post_mean.se, 7.25, "marsaglia posterior mean");
  const auto evidence = sample.evidence_ratio(exact.log_evidence);
  check_within(evidence.value, evidence.se, 1.0, "marsaglia evidence / exact");
}

TEST_CASE("branching: the enumeration is complete and matches pyprob's program", "[reference][branching]") {
  CHECK(ref::branching::fibonacci(0) == 1);
  CHECK(ref::branching::fibonacci(3) == 2);
  CHECK(ref::branching::fibonacci(6) == 8);
  CHECK(ref::branching::fibonacci(9) == 34);
  CHECK(ref::branching::fibonacci(12) == 144);

  for (const double obs : {0.0, 6.0, 30.0}) {
    const ref::branching::Posterior exact = ref::branching::exact_posterior(obs);
    INFO("obs = " << obs);
    CHECK(exact.neglected_mass_bound < 1e-12);
    double total = 0;
    for (const double pr : exact.r_probs) total += pr;
    CHECK(total == Approx(1.0).epsilon(1e-13));
    CHECK(std::isfinite(exact.log_evidence));
  }
  // A second enumeration written from the program's text, with the evidence by direct summation.
  const ref::branching::Posterior exact = ref::branching::exact_posterior(6);
  auto pois = [](double k, double rate) { return std::exp(k * std::log(rate) - rate - std::lgamma(k + 1)); };
  const long long fib3r[5] = {1, 2, 8, 34, 144};
  double z = 0;
  std::vector<double> pr(80, 0.0);
  for (int r = 0; r < 80; ++r) {
    if (r > 4) {
      pr[r] = pois(r, 4) * pois(6, 6);
    } else {
      for (int s = 0; s < 80; ++s) pr[r] += pois(r, 4) * pois(s, 4) * pois(6, 1.0 + fib3r[r] + s);
    }
    z += pr[r];
  }
  CHECK(exact.log_evidence == Approx(std::log(z)).epsilon(1e-12));
  for (int r = 0; r < 20; ++r) CHECK(exact.r_probs[r] == Approx(pr[r] / z).margin(1e-15).epsilon(1e-10));

  CHECK_THROWS_AS(ref::branching::exact_posterior(2.5), std::invalid_argument);
  CHECK_THROWS_AS(ref::branching::exact_posterior(-1), std::invalid_argument);
}

TEST_CASE("branching: rejection sampling and likelihood weighting of the program agree with the enumeration", "[reference][branching]") {
  const ref::ReferenceModel& model = ref::reference_model("branching");
  const ref::branching::Posterior exact = ref::branching::exact_posterior(ref::branching::kDefaultObs);
  const int n = 200000;
  // sample_observations: each run also draws obs from its likelihood, so keeping the runs whose
  // obs equals 6 is exact rejection sampling; the same runs weighted by p(obs = 6 | trace) are
  // likelihood weighting.
  const auto records = run_records(model.forward, n, 31, /*sample_observations=*/true);
  std::vector<const ppx::TraceRecord*> accepted;
  std::vector<double> log_w;
  for (const auto& r : records) {
    const ppx::SiteRecord* obs = find_site(r, "obs");
    REQUIRE(obs != nullptr);
    REQUIRE(obs->value.has_value());
    const double rr = named_value(r, "r");
    CHECK(rr == r.result.item());
    CHECK((find_site(r, "s") != nullptr) == (rr <= 4));
    if (obs->value->item() == ref::branching::kDefaultObs) accepted.push_back(&r);
    log_w.push_back(obs->distribution->log_prob(ppx::Tensor(ref::branching::kDefaultObs)));
  }
  const double na = static_cast<double>(accepted.size());
  const double z = std::exp(exact.log_evidence);
  check_within(na / n, std::sqrt(z * (1 - z) / n), z, "acceptance rate = evidence");

  // Rejection: frequencies of r and presence/mean of s among accepted runs.
  for (int k = 0; k <= 9; ++k) {
    const double freq = static_cast<double>(std::count_if(accepted.begin(), accepted.end(),
                                                          [&](const ppx::TraceRecord* r) { return named_value(*r, "r") == k; })) / na;
    const double p = exact.r_probs[k];
    check_within(freq, std::max(std::sqrt(p * (1 - p) / na), 1.0 / na), p, "rejection P(r = " + std::to_string(k) + ")");
  }
  double r_mean = 0;
  for (const auto* r : accepted) r_mean += named_value(*r, "r") / na;
  double r_var = 0;
  for (const auto* r : accepted) r_var += std::pow(named_value(*r, "r") - r_mean, 2) / (na - 1);
  check_within(r_mean, std::sqrt(r_var / na), exact.r_mean, "rejection E[r]");
  std::vector<double> s_values;
  for (const auto* r : accepted)
    if (const auto* s = find_site(*r, "s")) s_values.push_back(s->value->item());
  const double ns = static_cast<double>(s_values.size());
  check_within(ns / na, std::sqrt(exact.s_presence * (1 - exact.s_presence) / na), exact.s_presence, "rejection P(s present)");
  double s_mean = 0;
  for (const double s : s_values) s_mean += s / ns;
  check_within(s_mean, exact.s_stddev / std::sqrt(ns), exact.s_mean, "rejection E[s | present]");

  // Likelihood weighting over all runs.
  const WeightedSample sample(log_w);
  const auto lw_r = sample.mean([&](std::size_t i) { return named_value(records[i], "r"); });
  check_within(lw_r.value, lw_r.se, exact.r_mean, "weighted E[r]");
  const auto lw_present = sample.mean([&](std::size_t i) { return find_site(records[i], "s") ? 1.0 : 0.0; });
  check_within(lw_present.value, lw_present.se, exact.s_presence, "weighted P(s present)");
  const auto evidence = sample.evidence_ratio(exact.log_evidence);
  check_within(evidence.value, evidence.se, 1.0, "weighted evidence / exact");
}

TEST_CASE("hmm: forward-backward equals brute-force enumeration of every path", "[reference][hmm]") {
  ppx::Rng rng = ppx::make_rng(41);
  std::normal_distribution<double> noise(0.0, 2.0);
  std::vector<std::vector<double>> cases;
  cases.push_back(std::vector<double>(ref::hmm::kDefaultObservations.begin(), ref::hmm::kDefaultObservations.begin() + 10));
  for (int c = 0; c < 4; ++c) {
    std::vector<double> ys(6);
    for (double& y : ys) y = noise(rng);
    cases.push_back(ys);
  }
  cases.push_back({30.0, -25.0, 0.0});  // extreme values: emissions far in the tails
  cases.push_back({});
  for (const auto& ys : cases) {
    INFO("T = " << ys.size());
    const ref::hmm::Posterior fb = ref::hmm::exact_posterior(ys);
    const ref::hmm::Posterior brute = hmm_by_enumeration(ys);
    REQUIRE(fb.marginals.size() == ys.size() + 1);
    CHECK(fb.log_evidence == Approx(brute.log_evidence).epsilon(1e-12).margin(1e-12));
    for (std::size_t t = 0; t < fb.marginals.size(); ++t)
      for (int k = 0; k < 3; ++k) CHECK(fb.marginals[t][k] == Approx(brute.marginals[t][k]).margin(1e-12));
  }
}

TEST_CASE("hmm: the default posterior matches pyprob's published table", "[reference][hmm]") {
  // pyprob tests/test_inference.py, HiddenMarkovModelTestCase._posterior_mean_correct (4 decimals).
  const double table[17][3] = {
      {0.3775, 0.3092, 0.3133}, {0.0416, 0.4045, 0.5539}, {0.0541, 0.2552, 0.6907}, {0.0455, 0.2301, 0.7244},
      {0.1062, 0.1217, 0.7721}, {0.0714, 0.1732, 0.7554}, {0.9300, 0.0001, 0.0699}, {0.4577, 0.0452, 0.4971},
      {0.0926, 0.2169, 0.6905}, {0.1014, 0.1359, 0.7626}, {0.0985, 0.1575, 0.7440}, {0.1781, 0.2198, 0.6022},
      {0.0000, 0.9848, 0.0152}, {0.1130, 0.1674, 0.7195}, {0.0557, 0.1848, 0.7595}, {0.2017, 0.0472, 0.7511},
      {0.2545, 0.0611, 0.6844}};
  const ref::hmm::Posterior exact = ref::hmm::exact_posterior(ref::hmm::kDefaultObservations);
  REQUIRE(exact.marginals.size() == 17);
  for (int t = 0; t < 17; ++t)
    for (int k = 0; k < 3; ++k) {
      INFO("state" << t << " = " << k);
      CHECK(exact.marginals[t][k] == Approx(table[t][k]).margin(1e-4));
    }
}

TEST_CASE("hmm: the program's trace is the model, and likelihood weighting finds the marginals", "[reference][hmm]") {
  // A short chain keeps prior-proposal weights usable.
  const std::vector<double> ys = {0.9, -1.5, 0.3, 2.0};
  ref::Observations observations;
  for (std::size_t t = 0; t < ys.size(); ++t) observations.push_back({"obs" + std::to_string(t), ys[t]});
  const auto records = run_records(ref::hmm::make_forward(ys.size()), 100000, 51);

  for (std::size_t i = 0; i < 50; ++i) {  // structure and joint density of a few traces
    const ppx::TraceRecord& r = records[i];
    REQUIRE(r.sites.size() == 1 + 2 * ys.size());
    std::vector<int> states;
    double log_joint = 0;
    double expected = 0;
    for (std::size_t j = 0; j < r.sites.size(); ++j) {
      const ppx::SiteRecord& site = r.sites[j];
      // Order: state0, then (state{t+1}, obs{t}) for each t.
      if (j == 0 || j % 2 == 1) {
        REQUIRE(site.kind == ppx::SiteKind::Sample);
        REQUIRE(site.name == "state" + std::to_string((j + 1) / 2));
        const int k = static_cast<int>(site.value->item());
        expected += std::log(states.empty() ? ref::hmm::kInitial[k] : ref::hmm::kTransition[states.back()][k]);
        log_joint += site.distribution->log_prob(*site.value);
        states.push_back(k);
      } else {
        REQUIRE(site.kind == ppx::SiteKind::Observe);
        const std::size_t t = j / 2 - 1;
        REQUIRE(site.name == "obs" + std::to_string(t));
        expected += normal_log_pdf(ys[t], ref::hmm::kMeans[states.back()], 1.0);
        log_joint += site.distribution->log_prob(ppx::Tensor(ys[t]));
      }
    }
    CHECK(log_joint == Approx(expected).epsilon(1e-12));
    REQUIRE(r.result.shape() == std::vector<int32_t>{static_cast<int32_t>(ys.size() + 1), 3});
    for (std::size_t t = 0; t < states.size(); ++t) CHECK(r.result[t * 3 + states[t]] == 1.0);
  }

  std::vector<double> log_w;
  for (const auto& r : records) log_w.push_back(log_likelihood(r, observations));
  const WeightedSample sample(log_w);
  const ref::hmm::Posterior exact = ref::hmm::exact_posterior(ys);
  for (std::size_t t = 0; t <= ys.size(); ++t)
    for (int k = 0; k < 3; ++k) {
      const auto p = sample.mean([&](std::size_t i) { return records[i].result[t * 3 + k]; });
      check_within(p.value, p.se, exact.marginals[t][k], "P(state" + std::to_string(t) + " = " + std::to_string(k) + ")");
    }
  const auto evidence = sample.evidence_ratio(exact.log_evidence);
  check_within(evidence.value, evidence.se, 1.0, "hmm evidence / exact");
}

TEST_CASE("registry: every model runs in-process and its exact summary names its latents", "[reference]") {
  std::vector<std::string> names;
  for (const ref::ReferenceModel& m : ref::reference_models()) names.push_back(m.name);
  CHECK(names == std::vector<std::string>{"gum", "marsaglia", "branching", "hmm"});
  CHECK_THROWS_AS(ref::reference_model("nope"), std::out_of_range);

  for (const ref::ReferenceModel& m : ref::reference_models()) {
    INFO(m.name);
    const ref::ExactPosterior exact = m.exact_posterior(m.default_observations);
    CHECK(std::isfinite(exact.log_evidence));
    CHECK(exact.log_evidence < 0);
    const auto records = run_records(m.forward, 200, 61);
    std::map<std::string, int> seen;  // latent name -> traces containing it
    for (const auto& r : records) {
      std::multiset<std::string> observed;
      for (const auto& site : r.sites) {
        if (site.kind == ppx::SiteKind::Observe) observed.insert(site.name);
        else if (!site.name.empty()) ++seen[site.name];
      }
      std::multiset<std::string> expected;
      for (const auto& o : m.default_observations) expected.insert(o.name);
      CHECK(observed == expected);  // every default observation is observed exactly once
    }
    for (const ref::LatentMoments& latent : exact.latents) {
      INFO(latent.name);
      CHECK(seen.count(latent.name) == 1);
      CHECK(std::isfinite(latent.mean));
      CHECK(latent.stddev >= 0);
      CHECK(latent.presence > 0);
      CHECK(latent.presence <= 1);
    }
  }
  CHECK(ref::reference_model("gum").model().name() == "gum");
}

TEST_CASE("programs: each reference model runs standalone from build/bin", "[reference][programs]") {
  const char* bin = std::getenv("PPX_BIN_DIR");
  REQUIRE(bin != nullptr);
  for (const std::string name : {"gum", "branching", "marsaglia", "hmm"}) {
    INFO(name);
    auto run = [&](const std::string& args, int& status) {
      const std::string command = std::string(bin) + "/" + name + " " + args;
      FILE* pipe = popen(command.c_str(), "r");
      REQUIRE(pipe != nullptr);
      std::string out;
      char buffer[4096];
      while (const std::size_t got = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, got);
      status = pclose(pipe);
      return out;
    };
    int status = -1;
    const std::string out = run("--seed 1 --runs 2", status);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(std::count(out.begin(), out.end(), '\n') == 2);
    int again = -1;
    CHECK(run("--seed 1 --runs 2", again) == out);  // a seed makes runs reproducible
    int bad = -1;
    run("--no-such-flag 2>/dev/null", bad);
    CHECK(WEXITSTATUS(bad) == 2);
  }
}
