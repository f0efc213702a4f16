// Gaussian with unknown mean, and the same model with a Marsaglia polar-method prior draw.
#include <cmath>
#include <numbers>
#include <stdexcept>

#include "detail.h"
#include "ppx/reference/models.h"

namespace ppx::reference {

namespace {

void observe_both(double mu) {
  const Distribution likelihood = Normal(mu, std::sqrt(gum::kLikelihoodVariance));
  observe(likelihood, {.name = "obs0", .address = "obs0"});
  observe(likelihood, {.name = "obs1", .address = "obs1"});
}

ExactPosterior summary_of(const Observations& observations) {
  const double y[2] = {observation_value(observations, "obs0"), observation_value(observations, "obs1")};
  const gum::NormalPosterior exact = gum::exact_posterior(y);
  return {.log_evidence = exact.log_evidence,
          .latents = {{.name = "mu", .mean = exact.mean, .stddev = exact.stddev}}};
}

}  // namespace

namespace gum {

Tensor forward() {
  const double mu = sample(Normal(kPriorMean, std::sqrt(kPriorVariance)), {.name = "mu", .address = "mu"}).item();
  observe_both(mu);
  return mu;
}

NormalPosterior exact_posterior(std::span<const double> observations) {
  const double n = static_cast<double>(observations.size());
  double sum = 0;     // sum of (y - prior mean)
  double sum_sq = 0;  // sum of (y - prior mean)^2
  for (const double y : observations) {
    detail::require_finite(y, "gum observation");
    sum += y - kPriorMean;
    sum_sq += (y - kPriorMean) * (y - kPriorMean);
  }
  const double precision = 1.0 / kPriorVariance + n / kLikelihoodVariance;
  NormalPosterior out;
  out.stddev = std::sqrt(1.0 / precision);
  out.mean = kPriorMean + (sum / kLikelihoodVariance) / precision;
  // y ~ N(m 1, v I + v0 1 1^T): det = v^(n-1) (v + n v0); the inverse by Sherman-Morrison.
  const double v = kLikelihoodVariance;
  const double v0 = kPriorVariance;
  const double log_det = (n - 1.0) * std::log(v) + std::log(v + n * v0);
  const double quad = (sum_sq - v0 * sum * sum / (v + n * v0)) / v;
  out.log_evidence = -0.5 * n * std::log(2.0 * std::numbers::pi) - 0.5 * log_det - 0.5 * quad;
  return out;
}

ExactPosterior exact_summary(const Observations& observations) { return summary_of(observations); }

}  // namespace gum

namespace marsaglia {

Tensor forward() {
  // A handler that keeps proposing rejected pairs would loop forever; after this many attempts
  // (prior probability (1 - pi/4)^1000 < 1e-600) the run fails instead.
  constexpr int kMaxAttempts = 1000;
  const Distribution uniform = Uniform(-1.0, 1.0);
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    const double x = sample(uniform, {.address = "x"}).item();
    const double y = sample(uniform, {.address = "y"}).item();
    const double s = x * x + y * y;
    if (s >= 1.0 || s <= 0.0) continue;
    const double mu = gum::kPriorMean + std::sqrt(gum::kPriorVariance) * x * std::sqrt(-2.0 * std::log(s) / s);
    tag(mu, {.name = "mu", .address = "mu"});
    observe_both(mu);
    return mu;
  }
  throw std::runtime_error("marsaglia: no accepted (x, y) pair in 1000 attempts");
}

ExactPosterior exact_summary(const Observations& observations) { return summary_of(observations); }

}  // namespace marsaglia

}  // namespace ppx::reference
