// The posterior toolbox as a user runs it: ppx prior, addresses, summary (merging, resampling),
// generate and --save-traces, on real simulator processes.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ppx/core/npy.h"
#include "ppx/server/trace_file.h"
#include "subprocess.h"
#include "scratch.h"
#include "test_paths.h"

using nlohmann::json;
using ppx::test::program;
using ppx::test::run_command;
namespace fs = std::filesystem;

namespace {

std::string simulator(const std::string& name) { return "'" + program(name) + " --serve {endpoint}'"; }

fs::path fresh_dir(const std::string& name) { return ppx::test::fresh_dir("toolbox-" + name); }

json run_json(const std::string& args) {
  const auto r = run_command(program("ppx") + " " + args + " 2>/dev/null");
  INFO(args);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.output);
}

// (log_weight, mu) of every row of samples.csv.
std::vector<std::pair<double, double>> read_rows(const fs::path& csv) {
  std::ifstream in(csv);
  std::string line;
  while (std::getline(in, line) && line.starts_with("#")) {
  }  // the self-describing '#' header
  REQUIRE(line == "log_weight,mu,result");
  std::vector<std::pair<double, double>> rows;
  while (std::getline(in, line)) {
    const auto comma = line.find(',');
    rows.emplace_back(std::stod(line.substr(0, comma)), std::stod(line.substr(comma + 1)));
  }
  return rows;
}

double weighted_mean(const std::vector<std::pair<double, double>>& rows) {
  double max = -INFINITY;
  for (const auto& [lw, x] : rows) max = std::max(max, lw);
  double sum = 0, total = 0;
  for (const auto& [lw, x] : rows) {
    sum += std::exp(lw - max) * x;
    total += std::exp(lw - max);
  }
  return sum / total;
}

const std::string kGumQuery = " --observe obs0=8 --observe obs1=9";

}  // namespace

TEST_CASE("ppx prior samples the prior and saves whole traces that C++, Python and ppx summary read") {
  const fs::path out = fresh_dir("prior");
  const fs::path traces = out.string() + ".traces";
  const json p = run_json("prior -q --simulator " + simulator("gum") + " --workers 2 --traces 4000 --seed 3 --out " +
                          out.string() + " --save-traces " + traces.string() + " --json");
  CHECK(p["query"]["engine"] == "prior");
  CHECK(p["diagnostics"]["traces"] == 4000);
  CHECK(p["diagnostics"]["ess"].get<double>() == Approx(4000));  // equal weights
  // Prior of mu: Normal(1, 2.236); 5 standard errors of the mean of 4000 draws.
  const double mean = p["variables"]["mu"]["mean"];
  CHECK(std::abs(mean - 1.0) < 5 * 2.236 / std::sqrt(4000.0));
  CHECK(p["variables"]["mu"]["sd"].get<double>() == Approx(2.236).epsilon(0.05));  // 5 SE of sd: 2.8%
  for (const auto& [lw, mu] : read_rows(out / "samples.csv")) CHECK(lw == 0.0);

  // The trace file: every trace whole, in order, with addresses and distributions.
  ppx::server::TraceFileReader reader(traces.string());
  CHECK(reader.header()["model_name"] == "gum");
  CHECK(reader.header()["engine"] == "prior");
  std::uint64_t n = 0;
  double sum = 0;
  while (auto stored = reader.next()) {
    CHECK(stored->draw == n);
    const auto& entries = stored->trace.entries;
    REQUIRE(entries.size() == 3);
    CHECK(entries[0].name == "mu");
    CHECK(entries[0].address.ends_with("__Normal__1"));
    CHECK(entries[0].distribution == ppx::Normal(1.0, std::sqrt(5.0)));
    CHECK(entries[0].log_prob == Approx(ppx::Normal(1.0, std::sqrt(5.0)).log_prob(entries[0].value)));
    CHECK(entries[1].kind == ppx::SiteKind::Observe);
    CHECK(entries[1].name == "obs0");
    CHECK_FALSE(entries[1].observed);  // the prior conditions on nothing
    sum += entries[0].value.item();
    ++n;
  }
  CHECK(n == 4000);
  CHECK(sum / 4000 == Approx(mean).epsilon(1e-12));

  // ppx summary reads the folder and the trace file to the same numbers.
  const json from_dir = run_json("summary --json " + out.string());
  const json from_file = run_json("summary --json " + traces.string());
  CHECK(from_dir["variables"]["mu"]["mean"].get<double>() == Approx(mean).epsilon(1e-12));
  CHECK(from_file["variables"]["mu"]["mean"].get<double>() == Approx(mean).epsilon(1e-12));
  CHECK(from_file["query"]["model_name"] == "gum");

  // The Python reader (standard library + NumPy) reads the same traces.
  const auto py = run_command("/usr/bin/python3 " + std::string(PPX_SOURCE_DIR) + "/docs/read_traces.py " +
                              traces.string());
  REQUIRE(py.exit_code == 0);
  CHECK(py.output.find("traces 4000") != std::string::npos);
  const auto at = py.output.find("mu present 4000 mean ");
  REQUIRE(at != std::string::npos);
  CHECK(std::stod(py.output.substr(at + 21)) == Approx(mean).epsilon(1e-5));  // printed to 6 digits
  fs::remove_all(out);
  fs::remove(traces);
}

TEST_CASE("ppx summary merges IS runs of one query and refuses runs of another") {
  const fs::path a = fresh_dir("is-a"), b = fresh_dir("is-b"), c = fresh_dir("is-c"), merged = fresh_dir("is-merged");
  const std::string base = "infer -q --simulator " + simulator("gum") + " --traces 3000 --json";
  const fs::path a_traces = a.string() + ".traces";
  const json run_a = run_json(base + kGumQuery + " --seed 1 --out " + a.string() + " --save-traces " + a_traces.string());
  run_json(base + kGumQuery + " --seed 2 --out " + b.string());
  run_json(base + " --observe obs0=7 --observe obs1=9 --seed 3 --out " + c.string());

  // IS traces saved whole: observes carry the query's values, and the file summarises as the run.
  {
    ppx::server::TraceFileReader reader(a_traces.string());
    const auto first = reader.next();
    REQUIRE(first);
    REQUIRE(first->trace.entries.size() == 3);
    CHECK(first->trace.entries[1].observed);
    CHECK(first->trace.entries[1].value.item() == 8.0);
    CHECK(first->trace.log_weight == Approx(first->trace.log_likelihood));
  }
  const json from_file = run_json("summary --json " + a_traces.string());
  CHECK(from_file["variables"]["mu"]["mean"].get<double>() == Approx(run_a["variables"]["mu"]["mean"].get<double>()).epsilon(1e-12));
  CHECK(run_json("summary --json " + a_traces.string() + " " + b.string())["diagnostics"]["traces"] == 6000);

  const json m = run_json("summary --json " + a.string() + " " + b.string() + " --out " + merged.string());
  CHECK(m["diagnostics"]["traces"] == 6000);
  CHECK(m["diagnostics"]["runs"] == 2);
  // Pooling is one larger IS run: weights normalised over both runs' rows.
  auto rows = read_rows(a / "samples.csv");
  const auto rows_b = read_rows(b / "samples.csv");
  rows.insert(rows.end(), rows_b.begin(), rows_b.end());
  CHECK(m["variables"]["mu"]["mean"].get<double>() == Approx(weighted_mean(rows)).epsilon(1e-10));
  CHECK(read_rows(merged / "samples.csv").size() == 6000);
  // Exact posterior: mean 7.25, sd 0.9129; 5 SE with SE = sd / sqrt(ESS).
  CHECK(std::abs(m["variables"]["mu"]["mean"].get<double>() - 7.25) < 5 * 0.9129 / std::sqrt(m["diagnostics"]["ess"].get<double>()));

  const auto refused = run_command(program("ppx") + " summary " + a.string() + " " + c.string() + " 2>&1 >/dev/null");
  CHECK(refused.exit_code == 2);
  CHECK(refused.output.find("different observations") != std::string::npos);

  SECTION("--resample N gives N equally weighted draws by systematic resampling") {
    const fs::path r = fresh_dir("resampled");
    const json s = run_json("summary --json --resample 2000 --seed 4 " + a.string() + " " + b.string() + " --out " + r.string());
    CHECK(s["query"]["options"]["resample"]["method"] == "systematic");
    CHECK(s["diagnostics"]["resampling"] == "systematic");
    const auto resampled = read_rows(r / "samples.csv");
    CHECK(resampled.size() == 2000);
    for (const auto& [lw, mu] : resampled) CHECK(lw == 0.0);
    // Systematic resampling errs less than multinomial: within 5 sd / sqrt(N) of the weighted mean.
    CHECK(std::abs(s["variables"]["mu"]["mean"].get<double>() - weighted_mean(rows)) < 5 * 0.9129 / std::sqrt(2000.0));
    fs::remove_all(r);
  }
  for (const auto& d : {a, b, c, merged, a_traces}) fs::remove_all(d);
}

TEST_CASE("ppx summary merges MCMC chains from several runs") {
  const fs::path a = fresh_dir("mcmc-a"), b = fresh_dir("mcmc-b");
  const std::string base = "infer -q --simulator " + simulator("gum") + " --engine rmh --chains 2 --traces 400 --burn-in 100 --json";
  run_json(base + kGumQuery + " --seed 1 --out " + a.string());
  run_json(base + kGumQuery + " --seed 2 --out " + b.string());
  const json m = run_json("summary --json " + a.string() + " " + b.string());
  CHECK(m["diagnostics"]["chains"] == 4);
  CHECK(m["diagnostics"]["traces"] == 1600);
  CHECK(m["variables"]["mu"].contains("r_hat"));
  CHECK(m["variables"]["mu"].contains("ess_bulk"));

  const auto refused = run_command(program("ppx") + " summary --resample 10 " + a.string() + " 2>&1 >/dev/null");
  CHECK(refused.exit_code == 2);
  CHECK(refused.output.find("equally weighted") != std::string::npos);
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST_CASE("ppx addresses lists every address and the trace types of a branching model") {
  const json d = run_json("addresses --json --simulator " + simulator("branching") + " --traces 400 --seed 5");
  CHECK(d["model_name"] == "branching");
  CHECK(d["traces"] == 400);
  std::map<std::string, json> by_name;
  for (const json& a : d["addresses"]) by_name[a["names"][0].get<std::string>()] = a;
  REQUIRE(by_name.count("r"));
  REQUIRE(by_name.count("s"));
  REQUIRE(by_name.count("obs"));
  CHECK(by_name["r"]["address"] == "r__Poisson");
  CHECK(by_name["r"]["kind"] == "sample");
  CHECK(by_name["r"]["controlled"] == true);
  CHECK(by_name["r"]["frequency"] == 1.0);
  CHECK(by_name["obs"]["kind"] == "observe");
  CHECK(by_name["obs"]["controlled"].is_null());
  // s exists when r <= 4, r ~ Poisson(4): P = e^-4 (1 + 4 + 8 + 32/3 + 32/3); 5 binomial SE.
  const double p = std::exp(-4.0) * (1 + 4 + 8 + 32.0 / 3 + 32.0 / 3);
  CHECK(std::abs(by_name["s"]["frequency"].get<double>() - p) < 5 * std::sqrt(p * (1 - p) / 400));
  CHECK(by_name["s"]["instances_per_trace"]["min"] == 0);
  CHECK(by_name["s"]["instances_per_trace"]["max"] == 1);
  // Two trace types: [r] and [r, s], frequencies summing to 1.
  REQUIRE(d["trace_types"].size() == 2);
  double total = 0;
  for (const json& t : d["trace_types"]) total += t["frequency"].get<double>();
  CHECK(total == Approx(1.0));
  CHECK(d["trace_types"][0]["addresses"][0] == "r__Poisson__1");

  const auto table = run_command(program("ppx") + " addresses --simulator " + simulator("branching") + " --traces 50 2>/dev/null");
  REQUIRE(table.exit_code == 0);
  CHECK(table.output.find("r__Poisson") != std::string::npos);
  CHECK(table.output.find("trace types") != std::string::npos);
}

TEST_CASE("ppx generate writes synthetic observations and the truth, reproducibly") {
  const fs::path a = fresh_dir("gen-a"), b = fresh_dir("gen-b"), c = fresh_dir("gen-c");
  for (const auto& [dir, seed] : {std::pair{a, 11}, {b, 11}, {c, 12}}) {
    const auto r = run_command(program("ppx") + " generate --simulator " + simulator("gum") + " --seed " +
                               std::to_string(seed) + " --out " + dir.string() + " 2>&1");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
  }
  const json truth = json::parse(std::ifstream(a / "truth.json"));
  const json observations = json::parse(std::ifstream(a / "observations.json"));
  CHECK(truth["model_name"] == "gum");
  const double mu = truth["samples"]["mu"];
  // log_prior is the prior density of the drawn mu: Normal(1, 2.236).
  CHECK(truth["log_prior"].get<double>() == Approx(ppx::Normal(1.0, std::sqrt(5.0)).log_prob(mu)));
  CHECK(observations["obs0"]["file"] == "obs0.npy");
  const ppx::Tensor obs0 = ppx::read_npy((a / "obs0.npy").string());
  CHECK(obs0.item() == observations["obs0"]["value"].get<double>());
  CHECK(obs0.item() != mu);  // drawn from Normal(mu, 1.414), not copied
  CHECK(ppx::read_npy((b / "obs0.npy").string()) == obs0);   // same seed, same data
  CHECK_FALSE(ppx::read_npy((c / "obs0.npy").string()) == obs0);

  // The data feed a query as they are.
  const auto r = run_command(program("ppx") + " infer -q --simulator " + simulator("gum") + " --traces 200 --observe obs0=@" +
                             (a / "obs0.npy").string() + " --observe obs1=@" + (a / "obs1.npy").string() + " 2>&1");
  CHECK(r.exit_code == 0);
  for (const auto& d : {a, b, c}) fs::remove_all(d);
}

TEST_CASE("ppx summary reads samples.csv by column name, skipping # lines and sampler columns") {
  const fs::path dir = fresh_dir("crafted");
  fs::create_directories(dir);
  // Weights 1 and 2 (log 2); a row with no weight (NaN) is dropped; accept_stat__ is a sampler
  // column, not a variable; k (integers, no posterior.json) is discrete. Exact: mean x = 3,
  // P(k = 3) = 2/3.
  std::ofstream(dir / "samples.csv") << "# ppxd 0.1.0, command: ppx infer ...\n"
                                        "log_weight,x,accept_stat__,k\n"
                                        "0,1,0.5,2\n"
                                        "# a comment between rows\n"
                                        "0.69314718055994531,4,0.5,3\n"
                                        ",7,0.1,3\n";
  const json s = run_json("summary --json " + dir.string());
  CHECK(s["diagnostics"]["traces"] == 2);
  CHECK(s["diagnostics"]["rows_with_non_finite_weight"] == 1);
  CHECK(s["variables"]["x"]["mean"].get<double>() == Approx(3.0).epsilon(1e-12));
  CHECK_FALSE(s["variables"].contains("accept_stat__"));
  REQUIRE(s["variables"]["k"]["discrete"] == true);
  CHECK(s["variables"]["k"]["categories"][0]["value"] == 3.0);
  CHECK(s["variables"]["k"]["categories"][0]["probability"].get<double>() == Approx(2.0 / 3));
  std::ofstream(dir / "samples.csv") << "log_weight,x\n0,1,2\n";
  const auto bad = run_command(program("ppx") + " summary " + dir.string() + " 2>&1 >/dev/null");
  CHECK(bad.exit_code == 2);
  CHECK(bad.output.find("samples.csv:2: 3 fields, the header has 2") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("toolbox usage errors exit 2") {
  const std::string ppx = program("ppx");
  CHECK(run_command(ppx + " summary /nonexistent/dir 2>/dev/null").exit_code == 2);
  CHECK(run_command(ppx + " prior --traces 10 2>/dev/null").exit_code == 2);
  CHECK(run_command(ppx + " generate --simulator " + simulator("gum") + " 2>/dev/null").exit_code == 2);  // --out
  const auto r = run_command(ppx + " infer --simulator " + simulator("gum") + " --engine rmh --save-traces /tmp/x 2>&1");
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("--save-traces") != std::string::npos);
}
