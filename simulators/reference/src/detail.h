#pragma once
// Closed-form log densities for the exact posteriors, written from the textbook formulas on purpose:
// the truth must not depend on ppx::Distribution, which is what the reference models test.
#include <cmath>
#include <numbers>
#include <span>
#include <stdexcept>
#include <string>

namespace ppx::reference::detail {

inline double normal_log_pdf(double x, double mean, double variance) {
  const double d = x - mean;
  return -0.5 * std::log(2.0 * std::numbers::pi * variance) - 0.5 * d * d / variance;
}

inline double poisson_log_pmf(double k, double rate) {
  return k * std::log(rate) - rate - std::lgamma(k + 1.0);
}

// log(sum(exp(v))) without overflow; -inf for an empty or all -inf input.
inline double log_sum_exp(std::span<const double> values) {
  double top = -INFINITY;
  for (const double v : values) top = std::fmax(top, v);
  if (!std::isfinite(top)) return top;
  double sum = 0;
  for (const double v : values) sum += std::exp(v - top);
  return top + std::log(sum);
}

inline void require_finite(double value, const std::string& what) {
  if (!std::isfinite(value)) throw std::invalid_argument(what + " must be finite");
}

}  // namespace ppx::reference::detail
