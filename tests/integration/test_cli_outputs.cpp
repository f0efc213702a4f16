// What `ppx infer` reports (issue 9 sections 1 and 3, samples.csv's header): every mean with its
// MCSE, every element of tensor results, MCMC's lp__ and per-chain acceptance, natural order.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unistd.h>

#include "subprocess.h"
#include "scratch.h"
#include "test_paths.h"

using ppx::test::program;
using ppx::test::run_command;
namespace fs = std::filesystem;

namespace {

using ppx::test::Scratch;

using ppx::test::slurp;

// The first line of samples.csv that is not a '#' comment.
std::string csv_header(const fs::path& path) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("#")) return line;
  }
  return {};
}

}  // namespace

TEST_CASE("IS: every mean has its MCSE; samples.csv describes itself and pandas reads it") {
  Scratch s("is");
  const auto r = run_command(program("ppx") + " infer -q --simulator '" + program("gum") +
                             " --serve {endpoint}' --traces 4000 --seed 3 --observe obs0=8 --observe obs1=9 --out " +
                             s.dir.string() + " 2>/dev/null");
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("mcse_mean") != std::string::npos);
  const auto posterior = nlohmann::json::parse(slurp(s.dir / "posterior.json"));
  const auto& mu = posterior["variables"]["mu"];
  // Here every row has mu, so its ESS is the run's Kish ESS: MCSE = sd / sqrt(ESS).
  const double ess = posterior["diagnostics"]["ess"];
  CHECK(mu["mcse_mean"].get<double>() == Approx(mu["sd"].get<double>() / std::sqrt(ess)).epsilon(1e-9));

  const std::string csv = slurp(s.dir / "samples.csv");
  CHECK(csv.starts_with("# ppxd "));
  CHECK(csv.find("# command: ") != std::string::npos);
  CHECK(csv.find("# model: gum\n") != std::string::npos);
  CHECK(csv.find("# seed: 3\n") != std::string::npos);
  CHECK(csv_header(s.dir / "samples.csv") == "log_weight,mu,result");
  const auto pandas = run_command("/usr/bin/python3 -c \"import pandas; d = pandas.read_csv('" +
                                  (s.dir / "samples.csv").string() +
                                  "', comment='#'); print(len(d), ','.join(d.columns))\" 2>&1");
  CHECK(pandas.exit_code == 0);
  CHECK(pandas.output == "4000 log_weight,mu,result\n");
}

TEST_CASE("a tensor result gets CmdStan columns result.1.1 ... in every output; variables sort naturally") {
  Scratch s("hmm");
  const auto r = run_command(program("ppx") + " infer -q --simulator '" + program("hmm") +
                             " --serve {endpoint}' --traces 300 --seed 1 --observe obs0=1 --out " + s.dir.string() +
                             " 2>/dev/null");
  REQUIRE(r.exit_code == 0);
  const std::string header = csv_header(s.dir / "samples.csv");
  CHECK(header.find(",state1,state2,state3,") != std::string::npos);  // natural: state2 before state10
  CHECK(header.find("state9,state10") != std::string::npos);
  CHECK(header.find("result.1.1,result.1.2,result.1.3,result.2.1") != std::string::npos);
  CHECK(header.ends_with("result.17.3"));
  const auto posterior = nlohmann::json::parse(slurp(s.dir / "posterior.json"));
  CHECK(posterior["variables"].contains("result.17.3"));
  // Row t of the one-hot result is state t: their means agree (one is the indicator of the other).
  CHECK(posterior["variables"]["state0"]["categories"].is_array());
  // The printed table collapses the 51 result columns into one line saying where they are.
  CHECK(r.output.find("51 columns of result in all (result.1.1 to result.17.3)") != std::string::npos);
  CHECK(r.output.find("P(value):") != std::string::npos);
}

TEST_CASE("MCMC: lp__ column and row, per-chain acceptance (burn-in included) and a live acceptance") {
  Scratch s("mcmc");
  const auto r = run_command(program("ppx") + " infer --simulator '" + program("gum") +
                             " --serve {endpoint}' --workers 2 --engine rmh --traces 400 --burn-in 100 --seed 2 "
                             "--observe obs0=8 --observe obs1=9 --out " + s.dir.string() + " 2>&1");
  REQUIRE(r.exit_code == 0);
  CHECK(csv_header(s.dir / "samples.csv") == "log_weight,chain,draw,lp__,accept_stat__,mu,result");
  CHECK(r.output.find("acceptance (incl. burn-in)") != std::string::npos);
  CHECK(r.output.find("iterations") != std::string::npos);
  CHECK(r.output.find("acceptance 0.") != std::string::npos);  // the progress line
  const auto posterior = nlohmann::json::parse(slurp(s.dir / "posterior.json"));
  CHECK(posterior["variables"]["lp__"]["r_hat"].is_number());
  // accept_stat__ (per-draw acceptance probability) is read back by ppx summary: the same means.
  CHECK(r.output.find("accept_stat__") != std::string::npos);
  const auto means = posterior["diagnostics"]["accept_stat_mean_by_chain"];
  REQUIRE(means.size() == 2);
  const auto back = run_command(program("ppx") + " summary --json " + s.dir.string() + " 2>/dev/null");
  REQUIRE(back.exit_code == 0);
  const auto summary = nlohmann::json::parse(back.output);
  CHECK(summary["diagnostics"]["accept_stat_mean_by_chain"] == means);
  CHECK(summary["variables"].contains("lp__"));
}

namespace {

// Splits a header or row of samples.csv (no quoted fields in these tests).
std::vector<std::string> fields(const std::string& line) {
  std::vector<std::string> out(1);
  for (char c : line) {
    if (c == ',') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("--variables all over PPX: unnamed samples by address, lock-step and whole-trace, with exact values") {
  // marsaglia draws unnamed (x, y) pairs at addresses x and y until one falls inside the unit
  // circle, then mu = 1 + sqrt(5) x sqrt(-2 ln s / s) from the last pair (s = x^2 + y^2). So in
  // every row mu is a function of the last x__Uniform__K, y__Uniform__K; and a second pair exists
  // with probability 1 - pi/4 (tolerance: 5 binomial standard errors).
  const std::string mode = GENERATE(as<std::string>{}, "", " --no-whole-trace");
  INFO("mode" << mode);
  Scratch s("variables-all");
  const auto r = run_command(program("ppx") + " prior -q --simulator '" + program("marsaglia") +
                             " --serve {endpoint}' --traces 2000 --seed 3 --variables all" + mode + " --out " +
                             s.dir.string() + " 2>/dev/null");
  REQUIRE(r.exit_code == 0);
  std::ifstream in(s.dir / "samples.csv");
  std::string line;
  while (std::getline(in, line) && line.starts_with("#")) {
  }
  const std::vector<std::string> header = fields(line);
  const auto column = [&](const std::string& name) {
    return static_cast<std::size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  REQUIRE(column("x__Uniform__1") < header.size());
  REQUIRE(column("y__Uniform__2") < header.size());
  std::size_t rows = 0, second_pair = 0, exact = 0;
  while (std::getline(in, line)) {
    const std::vector<std::string> row = fields(line);
    if (row.size() != header.size()) FAIL("row of " << row.size() << " fields: " << line);
    ++rows;
    if (!row[column("x__Uniform__2")].empty()) ++second_pair;
    std::size_t k = 1;
    while (column("x__Uniform__" + std::to_string(k + 1)) < header.size() &&
           !row[column("x__Uniform__" + std::to_string(k + 1))].empty()) {
      ++k;
    }
    const double x = std::stod(row[column("x__Uniform__" + std::to_string(k))]);
    const double y = std::stod(row[column("y__Uniform__" + std::to_string(k))]);
    const double sq = x * x + y * y;
    const double mu = 1.0 + std::sqrt(5.0) * x * std::sqrt(-2.0 * std::log(sq) / sq);
    if (std::abs(mu - std::stod(row[column("mu")])) <= 1e-12 * (1.0 + std::abs(mu))) ++exact;
  }
  REQUIRE(rows == 2000);
  CHECK(exact == rows);
  const double p = 1.0 - M_PI / 4.0;
  CHECK(std::abs(static_cast<double>(second_pair) / rows - p) <= 5.0 * std::sqrt(p * (1 - p) / rows));
  // posterior.json keys by address and carries the label the table prints; ppx summary keeps both.
  const auto posterior = nlohmann::json::parse(slurp(s.dir / "posterior.json"));
  const auto& x1 = posterior["variables"]["x__Uniform__1"];
  CHECK(x1["address"] == "x__Uniform__1");
  const std::string label = x1["label"];
  CHECK(label.starts_with("Uniform@"));
  CHECK(label.ends_with(".1"));
  const auto back = run_command(program("ppx") + " summary " + s.dir.string() + " 2>/dev/null");
  REQUIRE(back.exit_code == 0);
  CHECK(back.output.find(label) != std::string::npos);
  CHECK(back.output.find("x__Uniform__1") == std::string::npos);  // the table shows labels only
}
