// A Fortran simulator (tests/client-cpp/fortran_gum.F90, through ppx_c.f90 and the C API) runs
// standalone and serves PPX to `ppx infer`, which recovers gum's exact posterior.
#include <catch2/catch.hpp>
#include <cmath>
#include <nlohmann/json.hpp>

#include "subprocess.h"
#include "test_paths.h"

using ppx::test::run_command;

TEST_CASE("a Fortran simulator runs standalone, reproducibly") {
  const std::string program = ppx::test::env_or("PPX_TEST_DIR", "build/tests") + "/fortran_gum";
  const auto a = run_command(program + " --seed 3");
  const auto b = run_command(program + " --seed 3");
  const auto c = run_command(program + " --seed 4");
  REQUIRE(a.exit_code == 0);
  CHECK(std::isfinite(std::stod(a.output)));
  CHECK(a.output == b.output);
  CHECK(a.output != c.output);
}

TEST_CASE("ppx infer drives a Fortran simulator to gum's exact posterior") {
  const std::string program = ppx::test::env_or("PPX_TEST_DIR", "build/tests") + "/fortran_gum";
  const auto r = run_command(ppx::test::program("ppx") + " infer -q --json --simulator '" + program +
                             " --serve {endpoint}' --workers 2 --traces 20000 --observe obs0=8 --observe obs1=9 "
                             "--seed 5 2>/dev/null");
  REQUIRE(r.exit_code == 0);
  const auto posterior = nlohmann::json::parse(r.output);
  CHECK(posterior["query"]["model_name"] == "fortran_gum");
  // Exact: mean 7.25, sd sqrt(5/6); 5 standard errors with SE = sd / sqrt(ESS).
  const double ess = posterior["diagnostics"]["ess"];
  CHECK(std::abs(posterior["variables"]["mu"]["mean"].get<double>() - 7.25) < 5 * 0.9129 / std::sqrt(ess));
}
