#pragma once
// A proposal for one controlled sample: what the network outputs, as plain distributions.
//
//   q(x) = (1 - d) * sum_k w_k q_k(x) + d * p(x)
//
// q_k are core distributions with the prior's support (see network.h for the family per prior
// kind) and p is the prior itself, mixed in with a small weight d ("defensive" importance
// sampling, Hesterberg 1995): q covers the prior's support whatever the network says, and every
// per-sample weight p/q is bounded by 1/d.
#include <vector>

#include "ppx/core/distribution.h"
#include "ppx/core/rng.h"

namespace ppx::ic {

struct Proposal {
  std::vector<double> weights;            // w_k, sum to 1
  std::vector<Distribution> components;   // q_k
  double defensive = 1e-3;                // d

  // log q(x) given the prior p (log-sum-exp over components; -inf outside the support).
  double log_density(const Tensor& x, const Distribution& prior) const;
  // A draw from q.
  Tensor sample(const Distribution& prior, Rng& rng) const;
};

}  // namespace ppx::ic
