#include "ppx/ic/proposal.h"

#include <cmath>
#include <limits>

namespace ppx::ic {

double Proposal::log_density(const Tensor& x, const Distribution& prior) const {
  // log q = logsumexp(log(1-d) + log w_k + log q_k(x), log d + log p(x)).
  std::vector<double> terms;
  terms.reserve(components.size() + 1);
  for (std::size_t k = 0; k < components.size(); ++k) {
    terms.push_back(std::log1p(-defensive) + std::log(weights[k]) + components[k].log_prob(x));
  }
  terms.push_back(std::log(defensive) + prior.log_prob(x));
  double top = -std::numeric_limits<double>::infinity();
  for (double t : terms) top = std::max(top, t);
  if (!std::isfinite(top)) return top;
  double sum = 0.0;
  for (double t : terms) sum += std::exp(t - top);
  return top + std::log(sum);
}

Tensor Proposal::sample(const Distribution& prior, Rng& rng) const {
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  if (u < defensive || components.empty()) return prior.sample(rng);
  double v = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  for (std::size_t k = 0; k + 1 < components.size(); ++k) {
    if (v < weights[k]) return components[k].sample(rng);
    v -= weights[k];
  }
  return components.back().sample(rng);
}

}  // namespace ppx::ic
