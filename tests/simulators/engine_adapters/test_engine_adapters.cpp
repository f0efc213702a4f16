// The GSL and CLHEP example simulators, drawing only through ppx_gsl_rng / ppx::ClhepEngine (every
// latent is a stack-addressed Uniform(0, 1)), reach the same posterior under `ppx infer` (IS and
// RMH) as the same models written with ppx::sample; the GSL walk also matches its exact posterior.
#include <catch2/catch.hpp>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

#include "subprocess.h"
#include "test_paths.h"

using ppx::test::run_command;

namespace {

struct Run {
  double mean = 0, sd = 0, standard_error = 0, mean_trace_length = 0;
};

// IS: standard error sd / sqrt(ESS); RMH: the engine's MCSE of the mean (from the bulk ESS).
Run infer(const std::string& simulator, const std::string& engine_flags, const std::string& observations) {
  const auto r = run_command(ppx::test::program("ppx") + " infer -q --json --simulator '" + ppx::test::program(simulator) +
                             " --serve {endpoint}' --workers 2 " + engine_flags + " " + observations + " 2>/dev/null");
  INFO(simulator << " " << engine_flags << "\n" << r.output);
  REQUIRE(r.exit_code == 0);
  const auto posterior = nlohmann::json::parse(r.output);
  const auto& result = posterior["variables"]["result"];
  Run run{.mean = result["mean"], .sd = result["sd"],
          .mean_trace_length = posterior["diagnostics"]["trace_length"]["mean"]};
  run.standard_error = result.contains("mcse_mean")
                           ? result["mcse_mean"].get<double>()
                           : run.sd / std::sqrt(posterior["diagnostics"]["ess"].get<double>());
  return run;
}

// Five combined standard errors: a correct adapter fails this with probability < 1e-6 (and the
// seeds are fixed, so the outcome is reproducible).
void check_agree(const Run& adapter, const Run& by_hand) {
  INFO("adapter " << adapter.mean << " +- " << adapter.standard_error << ", by hand " << by_hand.mean << " +- "
                  << by_hand.standard_error);
  CHECK(std::abs(adapter.mean - by_hand.mean) <
        5 * std::hypot(adapter.standard_error, by_hand.standard_error));
}

const std::string walk_observations = "--observe y0=1 --observe y1=2 --observe y2=3 --observe y3=4";
// gsl_walk --exact --y 1 2 3 4
constexpr double walk_exact_mean = 0.90862;
constexpr double walk_exact_sd = 0.302291;

const std::string lifetime_observations = "--observe m0=1.5 --observe m1=0.7 --observe m2=2.4";

}  // namespace

TEST_CASE("the exact posterior of the GSL walk is what the test compares with") {
  const auto r = run_command(ppx::test::program("gsl_walk") + " --exact --y 1 2 3 4");
  REQUIRE(r.exit_code == 0);
  CHECK(r.output == "drift mean 0.90862 sd 0.302291\n");
}

TEST_CASE("an unmodified GSL simulator on ppx_gsl_rng: importance sampling") {
  const std::string is = "--engine is --traces 10000 --seed 3";
  const Run gsl = infer("gsl_walk", is, walk_observations);
  const Run hand = infer("gsl_walk --by-hand", is, walk_observations);
  CHECK(gsl.mean_trace_length > hand.mean_trace_length);  // uniforms: two or more per Gaussian
  check_agree(gsl, hand);
  CHECK(std::abs(gsl.mean - walk_exact_mean) < 5 * gsl.standard_error);
  // sd: the relative standard error of a sample sd is about 1 / sqrt(2 ESS), ESS > 1000 here.
  CHECK(std::abs(gsl.sd - walk_exact_sd) < 5 * walk_exact_sd / std::sqrt(2.0 * 1000));
}

TEST_CASE("an unmodified GSL simulator on ppx_gsl_rng: random-walk Metropolis-Hastings") {
  const std::string rmh = "--engine rmh --chains 2 --traces 3000 --burn-in 500 --seed 3";
  const Run gsl = infer("gsl_walk", rmh, walk_observations);
  const Run hand = infer("gsl_walk --by-hand", rmh, walk_observations);
  check_agree(gsl, hand);
  CHECK(std::abs(gsl.mean - walk_exact_mean) < 5 * gsl.standard_error);
}

TEST_CASE("a CLHEP simulator on ppx::ClhepEngine: importance sampling and Metropolis-Hastings") {
  const std::string is = "--engine is --traces 10000 --seed 4";
  const Run clhep_is = infer("clhep_lifetime", is, lifetime_observations);
  const Run hand_is = infer("clhep_lifetime --by-hand", is, lifetime_observations);
  CHECK(clhep_is.mean_trace_length > hand_is.mean_trace_length);  // RandGauss draws two or more uniforms
  check_agree(clhep_is, hand_is);
  const std::string rmh = "--engine rmh --chains 2 --traces 3000 --burn-in 500 --seed 4";
  const Run clhep_rmh = infer("clhep_lifetime", rmh, lifetime_observations);
  const Run hand_rmh = infer("clhep_lifetime --by-hand", rmh, lifetime_observations);
  check_agree(clhep_rmh, hand_rmh);
  check_agree(clhep_rmh, hand_is);
}
