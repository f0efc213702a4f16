// gsl_walk: the GSL random walk (walk.c) under PPX. The positions are observed with noise
// WALK_OBS_SD as y0..y3; the result is the drift.
//   gsl_walk --serve ENDPOINT                   the unmodified GSL code, drawing through ppx_gsl_rng
//   gsl_walk --by-hand --serve ENDPOINT         the same model written with ppx::sample, to compare
//   gsl_walk --exact --y Y0 Y1 Y2 Y3            the exact posterior of the drift (linear Gaussian)
#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include <gsl/gsl_blas.h>
#include <gsl/gsl_linalg.h>

#include "ppx/gsl_rng.h"
#include "ppx/simulator_cli.h"
#include "walk.h"

namespace gsl_walk {

constexpr double kObservationSd = 1.0;

void observe_positions(const double* positions) {
  for (int t = 0; t < WALK_STEPS; ++t) {
    ppx::observe(ppx::Normal(positions[t], kObservationSd), {.name = "y" + std::to_string(t)});
  }
}

ppx::Tensor forward_gsl() {
  static gsl_rng* const r = gsl_rng_alloc(ppx_gsl_rng);  // the one changed line
  double positions[WALK_STEPS];
  const double drift = walk_simulate(r, WALK_STEPS, positions);
  observe_positions(positions);
  return drift;
}

ppx::Tensor forward_by_hand() {
  const double drift = ppx::sample(ppx::Normal(0.0, WALK_DRIFT_SD), {.name = "drift"}).item();
  double positions[WALK_STEPS];
  double x = 0.0;
  for (int t = 0; t < WALK_STEPS; ++t) {
    x += drift + ppx::sample(ppx::Normal(0.0, WALK_STEP_SD)).item();
    positions[t] = x;
  }
  observe_positions(positions);
  return drift;
}

// y ~ Normal(drift * t, S) with t = (1..T) and S = step^2 min(i, j) + obs^2 I, drift ~ N(0, d^2):
// posterior precision 1/d^2 + t'S^-1 t, mean (t'S^-1 y) / precision.
int print_exact(const std::vector<double>& y) {
  gsl_matrix* s = gsl_matrix_alloc(WALK_STEPS, WALK_STEPS);
  gsl_vector* t = gsl_vector_alloc(WALK_STEPS);
  gsl_vector* s_inv_t = gsl_vector_alloc(WALK_STEPS);
  for (int i = 0; i < WALK_STEPS; ++i) {
    gsl_vector_set(t, i, i + 1);
    for (int j = 0; j < WALK_STEPS; ++j) {
      gsl_matrix_set(s, i, j, WALK_STEP_SD * WALK_STEP_SD * (std::min(i, j) + 1) + (i == j ? kObservationSd * kObservationSd : 0.0));
    }
  }
  gsl_linalg_cholesky_decomp1(s);
  gsl_linalg_cholesky_solve(s, t, s_inv_t);
  double t_s_t = 0.0, y_s_t = 0.0;
  for (int i = 0; i < WALK_STEPS; ++i) {
    t_s_t += gsl_vector_get(t, i) * gsl_vector_get(s_inv_t, i);
    y_s_t += y[i] * gsl_vector_get(s_inv_t, i);
  }
  const double precision = 1.0 / (WALK_DRIFT_SD * WALK_DRIFT_SD) + t_s_t;
  std::cout << "drift mean " << y_s_t / precision << " sd " << 1.0 / std::sqrt(precision) << "\n";
  gsl_vector_free(s_inv_t);
  gsl_vector_free(t);
  gsl_matrix_free(s);
  return 0;
}

}  // namespace gsl_walk

int main(int argc, char** argv) {
  ppx::SimulatorCli cli("A GSL random walk with unknown drift, instrumented through ppx_gsl_rng");
  bool by_hand = false;
  bool exact = false;
  std::vector<double> y;
  cli.app().add_flag("--by-hand", by_hand, "Run the same model written with ppx::sample");
  cli.app().add_flag("--exact", exact, "Print the exact posterior of the drift given --y and exit");
  cli.app().add_option("--y", y, "With --exact: the observed positions y0..y3")->expected(WALK_STEPS);
  if (const auto code = cli.parse(argc, argv)) return *code;
  if (exact) {
    if (y.size() != WALK_STEPS) {
      std::cerr << "gsl_walk: --exact needs --y with " << WALK_STEPS << " values\n";
      return 2;
    }
    return gsl_walk::print_exact(y);
  }
  return cli.run(ppx::Model(by_hand ? "gsl_walk_by_hand" : "gsl_walk",
                            by_hand ? gsl_walk::forward_by_hand : gsl_walk::forward_gsl));
}
