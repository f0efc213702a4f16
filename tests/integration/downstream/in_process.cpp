// In-process importance sampling on a model linked into the program, against an installed ppx.
// Prints the posterior mean of mu for the gum model observed at (8, 9) (exact: 7.25).
#include <ppx/engines/importance_sampling.h>
#include <ppx/ppx.h>

#include <cmath>
#include <iostream>

int main() {
  ppx::engines::InProcessSimulator gum("gum", [] {
    const ppx::Tensor mu = ppx::sample(ppx::Normal(1, std::sqrt(5.0)), {.name = "mu"});
    for (const char* name : {"obs0", "obs1"}) ppx::observe(ppx::Normal(mu.item(), std::sqrt(2.0)), {.name = name});
    return mu;
  });
  ppx::engines::Simulator* simulators[] = {&gum};
  const ppx::engines::Observations observations{{"obs0", ppx::Tensor(8.0)}, {"obs1", ppx::Tensor(9.0)}};
  const auto posterior = ppx::engines::importance_sampling(simulators, observations, {.traces = 20000, .seed = 1});
  std::cout << posterior.summarize("mu").mean << "\n";
  return 0;
}
