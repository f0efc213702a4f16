// A GSL-based simulator outside this repository, instrumented by its generator alone
// (ppx::gsl_rng from the installed ppx): a 10-step Gaussian random walk, run once locally.
#include <gsl/gsl_randist.h>
#include <ppx/gsl_rng.h>
#include <ppx/ppx.h>

#include <iostream>

int main() {
  const ppx::Model model{"gsl_walk", [] {
    gsl_rng* r = gsl_rng_alloc(ppx_gsl_rng);
    double x = 0;
    for (int i = 0; i < 10; ++i) x += gsl_ran_gaussian(r, 1.0);
    gsl_rng_free(r);
    return ppx::Tensor(x);
  }};
  std::cout << model.run_local(1).item() << "\n";
  return 0;
}
