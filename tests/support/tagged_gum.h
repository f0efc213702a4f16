#pragma once
// The Gaussian with unknown mean (prior N(1, sqrt 5), two observes N(mu, sqrt 2)) plus a tag: the
// model the serve-loop tests and the serve fuzzer drive, one of each kind of statement.
#include "ppx/ppx.h"

namespace ppx::test {

inline Tensor tagged_gum() {
  const Tensor mu = sample(Normal(1.0, 2.2360679774997898), {.name = "mu"});
  observe(Normal(mu, 1.4142135623730951), {.name = "obs0"});
  observe(Normal(mu, 1.4142135623730951), {.name = "obs1"});
  tag(mu, {.name = "mu_tag"});
  return mu;
}

}  // namespace ppx::test
