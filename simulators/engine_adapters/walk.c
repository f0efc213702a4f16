/* A random walk with an unknown drift, written against GSL as any GSL simulator is: it knows
 * nothing of ppx. gsl_walk (walk_main.cpp) instruments it by allocating its generator as
 * gsl_rng_alloc(ppx_gsl_rng) instead of gsl_rng_alloc(gsl_rng_mt19937). */
#include "walk.h"

#include <gsl/gsl_randist.h>

double walk_simulate(const gsl_rng* r, int steps, double* positions) {
  const double drift = gsl_ran_gaussian(r, WALK_DRIFT_SD);
  double x = 0.0;
  for (int t = 0; t < steps; ++t) {
    x += drift + gsl_ran_gaussian(r, WALK_STEP_SD);
    positions[t] = x;
  }
  return drift;
}
