// pyprob's branching program and its posterior by exhaustive enumeration.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "detail.h"
#include "ppx/reference/models.h"

namespace ppx::reference::branching {

long long fibonacci(int n) {
  // pyprob's loop: n - 2 steps from (1, 1), so fib(2) = 1, fib(3) = 2, fib(12) = 144.
  long long previous = 1;
  long long current = 1;
  for (int i = 3; i <= n; ++i) {
    const long long next = previous + current;
    previous = current;
    current = next;
  }
  return current;
}

Tensor forward() {
  const Distribution count_prior = Poisson(kRate);
  const double r = sample(count_prior, {.name = "r", .address = "r"}).item();
  double rate = kBranchRate;
  if (r <= kThreshold) {
    const double s = sample(count_prior, {.name = "s", .address = "s"}).item();
    rate = 1.0 + static_cast<double>(fibonacci(3 * static_cast<int>(r))) + s;
  }
  observe(Poisson(rate), {.name = "obs", .address = "obs"});
  return r;
}

namespace {

struct Moments {
  double mean = 0;
  double stddev = 0;
};

Moments moments(const std::vector<double>& probs) {
  double mean = 0;
  for (std::size_t k = 0; k < probs.size(); ++k) mean += static_cast<double>(k) * probs[k];
  double var = 0;
  for (std::size_t k = 0; k < probs.size(); ++k) var += (static_cast<double>(k) - mean) * (static_cast<double>(k) - mean) * probs[k];
  return {mean, std::sqrt(var)};
}

}  // namespace

Posterior exact_posterior(double obs) {
  if (!std::isfinite(obs) || obs < 0 || obs != std::floor(obs)) {
    throw std::invalid_argument("branching: obs must be a non-negative integer (Poisson), got " + std::to_string(obs));
  }
  // Joint log densities: r > 4 has no s; r <= 4 has one entry per s.
  std::vector<double> log_joint_r(kSupport);                // log p(r, obs), s summed out
  std::vector<double> log_joint_s(kSupport, -INFINITY);     // log p(s, obs, r <= 4)
  std::vector<double> terms(kSupport);
  std::vector<std::vector<double>> per_s(kSupport, std::vector<double>());
  for (int r = 0; r < kSupport; ++r) {
    const double log_prior_r = detail::poisson_log_pmf(r, kRate);
    if (r > kThreshold) {
      log_joint_r[r] = log_prior_r + detail::poisson_log_pmf(obs, kBranchRate);
      continue;
    }
    const double base = 1.0 + static_cast<double>(fibonacci(3 * r));
    for (int s = 0; s < kSupport; ++s) {
      terms[s] = log_prior_r + detail::poisson_log_pmf(s, kRate) + detail::poisson_log_pmf(obs, base + s);
      per_s[s].push_back(terms[s]);
    }
    log_joint_r[r] = detail::log_sum_exp(terms);
  }
  for (int s = 0; s < kSupport; ++s) log_joint_s[s] = detail::log_sum_exp(per_s[s]);

  Posterior out;
  out.log_evidence = detail::log_sum_exp(log_joint_r);
  out.r_probs.resize(kSupport);
  for (int r = 0; r < kSupport; ++r) out.r_probs[r] = std::exp(log_joint_r[r] - out.log_evidence);
  const Moments r_moments = moments(out.r_probs);
  out.r_mean = r_moments.mean;
  out.r_stddev = r_moments.stddev;

  const double log_presence = detail::log_sum_exp(log_joint_s);
  out.s_presence = std::exp(log_presence - out.log_evidence);
  out.s_probs.resize(kSupport);
  for (int s = 0; s < kSupport; ++s) out.s_probs[s] = std::exp(log_joint_s[s] - log_presence);
  const Moments s_moments = moments(out.s_probs);
  out.s_mean = s_moments.mean;
  out.s_stddev = s_moments.stddev;

  // Outside the enumeration: r >= K, or s >= K with r <= 4. Each has prior mass at most the Poisson
  // tail P(X >= K) <= pmf(K) / (1 - rate / (K + 1)), and every likelihood is a pmf value <= 1.
  const double log_tail = detail::poisson_log_pmf(kSupport, kRate) - std::log(1.0 - kRate / (kSupport + 1.0));
  out.neglected_mass_bound = 2.0 * std::exp(log_tail - out.log_evidence);
  return out;
}

ExactPosterior exact_summary(const Observations& observations) {
  const Posterior exact = exact_posterior(observation_value(observations, "obs"));
  // Callers of the uniform summary do not look at the bound, so refuse rather than mislead.
  if (!(exact.neglected_mass_bound < 1e-12)) {
    throw std::invalid_argument("branching: obs outside the range the enumeration covers exactly");
  }
  return {.log_evidence = exact.log_evidence,
          .latents = {{.name = "r", .mean = exact.r_mean, .stddev = exact.r_stddev},
                      {.name = "s", .mean = exact.s_mean, .stddev = exact.s_stddev, .presence = exact.s_presence}}};
}

}  // namespace ppx::reference::branching
