#ifndef WALK_H
#define WALK_H
/* The GSL random walk: drift ~ Normal(0, WALK_DRIFT_SD); x_t = x_{t-1} + drift + Normal(0, WALK_STEP_SD). */
#include <gsl/gsl_rng.h>

#define WALK_DRIFT_SD 1.0
#define WALK_STEP_SD 0.5
#define WALK_STEPS 4

#ifdef __cplusplus
extern "C" {
#endif

/* Fills positions[0..steps) and returns the drift. */
double walk_simulate(const gsl_rng* r, int steps, double* positions);

#ifdef __cplusplus
}
#endif

#endif
