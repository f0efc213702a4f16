// The `ppx` command line as a script uses it: real processes, result files, exit codes.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "subprocess.h"
#include "scratch.h"
#include "test_paths.h"

using ppx::test::program;
using ppx::test::run_command;
namespace fs = std::filesystem;

namespace {

std::string gum_command() { return "'" + program("gum") + " --serve {endpoint}'"; }

fs::path fresh_dir(const std::string& name) { return ppx::test::fresh_dir("cli-" + name); }

using ppx::test::slurp;

}  // namespace

TEST_CASE("ppx infer on gum writes a correct posterior.json and samples.csv") {
  const fs::path out = fresh_dir("gum");
  const auto r = run_command(program("ppx") + " infer --simulator " + gum_command() +
                             " --workers 2 --traces 20000 --observe obs0=8 --observe obs1=9 --seed 1 --out " +
                             out.string() + " 2>/dev/null");
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("mu") != std::string::npos);
  CHECK(r.output.find("log_evidence") != std::string::npos);

  const auto posterior = nlohmann::json::parse(slurp(out / "posterior.json"));
  CHECK(posterior["query"]["model_name"] == "gum");
  CHECK(posterior["query"]["engine"] == "is");
  CHECK(posterior["query"]["options"]["seed"] == 1);
  CHECK(posterior["query"]["observations"]["obs0"]["value"]["data"][0] == 8.0);
  CHECK(posterior["ppxd"].contains("git_revision"));
  CHECK(posterior["diagnostics"]["traces"] == 20000);
  // Exact: mean 7.25, sd sqrt(5/6). Tolerance 5 SE with SE = sd / sqrt(ESS).
  const double ess = posterior["diagnostics"]["ess"];
  const double mean = posterior["variables"]["mu"]["mean"];
  CHECK(std::abs(mean - 7.25) < 5 * 0.9129 / std::sqrt(ess));

  std::ifstream csv(out / "samples.csv");
  std::string header;
  while (std::getline(csv, header) && header.starts_with("#")) {
  }
  CHECK(header == "log_weight,mu,result");
  std::size_t rows = 0;
  for (std::string line; std::getline(csv, line);) ++rows;
  CHECK(rows == 20000);
  fs::remove_all(out);
}

TEST_CASE("ppx infer is reproducible from its seed and prints JSON on request") {
  const std::string base = program("ppx") + " infer -q --simulator " + gum_command() +
                           " --traces 3000 --observe obs0=8 --observe obs1=9 --seed 7 --json";
  const auto a = run_command(base);
  const auto b = run_command(base);
  REQUIRE(a.exit_code == 0);
  const auto ja = nlohmann::json::parse(a.output);
  const auto jb = nlohmann::json::parse(b.output);
  CHECK(ja["variables"] == jb["variables"]);
  CHECK(ja["diagnostics"]["log_evidence"] == jb["diagnostics"]["log_evidence"]);
}

TEST_CASE("usage errors exit 2 with one clear line; runtime failures exit 1") {
  const std::string ppx = program("ppx");
  struct Case {
    std::string args;
    int code;
    std::string message;
  };
  const std::vector<Case> cases{
      {"infer --traces 10", 2, "--simulator"},
      {"infer --simulator " + gum_command() + " --engine nope", 2, "unknown engine 'nope'"},
      {"infer --simulator " + gum_command() + " --observe obs0", 2, "NAME=VALUE"},
      {"infer --simulator " + gum_command() + " --observe obs0=@/nonexistent.npy", 2, "obs0"},
      {"infer --simulator 'gum --serve ipc:///tmp/x'", 2, "{endpoint}"},
      {"infer --simulator " + gum_command() + " --traces 0", 2, "traces"},
      {"bogus", 2, "subcommand"},
      {"infer -q --simulator '/nonexistent/simulator {endpoint}' --traces 5 --handshake-timeout-ms 1000", 1,
       "error"},
  };
  for (const Case& c : cases) {
    INFO(c.args);
    const auto r = run_command(ppx + " " + c.args + " 2>&1 >/dev/null");
    CHECK(r.exit_code == c.code);
    CHECK(r.output.find(c.message) != std::string::npos);
  }
}

TEST_CASE("discrete latents get a frequency table in the summary") {
  const auto r = run_command(program("ppx") + " infer -q --simulator '" + program("branching") +
                             " --serve {endpoint}' --traces 5000 --observe obs=6 --seed 2 2>/dev/null");
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("P(value):") != std::string::npos);
}
