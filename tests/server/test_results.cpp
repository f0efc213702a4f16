// What a run reports (report.h) and the query check (query_check.h), in-process: the tabulation
// options (--variables all, --repeated instances|last) in every output, accept_stat__ as a
// sampler column, CSV quoting of names, and the query check on a model that branches.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ppx/engines/importance_sampling.h"
#include "ppx/engines/mcmc.h"
#include "ppx/ppx.h"
#include "ppx/server/query_check.h"
#include "ppx/server/report.h"
#include "scratch.h"

using namespace ppx;
using nlohmann::json;

namespace {

// eps is sampled three times by name; x is unnamed; y is observed.
Tensor loop_model() {
  double total = 0;
  for (int i = 0; i < 3; ++i) total += sample(Normal(0.0, 1.0), {.name = "eps", .address = "eps"}).item();
  sample(Uniform(0.0, 1.0), {.address = "x"});
  observe(Normal(total, 1.0), {.name = "y", .address = "y"});
  return Tensor(total);
}

engines::WeightedTraces run_is(engines::Tabulation tabulation, std::uint64_t traces = 200) {
  engines::InProcessSimulator simulator("loop", loop_model);
  const std::vector<engines::Simulator*> simulators{&simulator};
  return engines::importance_sampling(simulators, {{"y", Tensor(1.0)}},
                                      {.traces = traces, .seed = 1, .tabulation = tabulation});
}

std::string csv_header_of(const std::filesystem::path& csv) {
  std::istringstream in(test::slurp(csv));
  std::string line;
  while (std::getline(in, line) && line.starts_with("#")) {
  }
  return line;
}

}  // namespace

TEST_CASE("--repeated instances and last: the columns, and every output says which") {
  const bool last = GENERATE(false, true);
  const engines::WeightedTraces post =
      run_is({.repeated = last ? engines::RepeatedNames::Last : engines::RepeatedNames::Instances});
  server::InferenceReport report{.posterior = &post};
  const std::string text = server::summary_text(report);
  const json j = server::posterior_json(report);
  CHECK(j["repeated_names"] == json::array({"eps"}));
  CHECK(j["tabulation"]["repeated"] == (last ? "last" : "instances"));
  if (last) {
    CHECK(j["variables"].contains("eps"));
    CHECK_FALSE(j["variables"].contains("eps.1"));
    CHECK(text.find("eps repeats within traces: its last value in each trace (--repeated last)") != std::string::npos);
  } else {
    CHECK(j["variables"].contains("eps.3"));
    CHECK_FALSE(j["variables"].contains("eps"));
    CHECK(text.find("one column per instance, eps.1, eps.2, ... in trace order (--repeated instances)") !=
          std::string::npos);
  }
  // Last is the third instance: its column equals eps.3 under the other policy (same seed).
  const engines::WeightedTraces other = run_is({.repeated = last ? engines::RepeatedNames::Instances
                                                                 : engines::RepeatedNames::Last});
  const std::vector<double>& last_values = last ? *post.column("eps") : *other.column("eps");
  const std::vector<double>& third = last ? *other.column("eps.3") : *post.column("eps.3");
  CHECK(last_values == third);
}

TEST_CASE("--variables all: unnamed samples by address in the files, by a stable short label in the table") {
  const engines::WeightedTraces post = run_is({.all_samples = true});
  const std::string address = "x__Uniform__1";
  REQUIRE(post.is_addressed(address));
  server::InferenceReport report{.posterior = &post};
  const std::string label = server::address_label(address);
  // KIND@HASH.INSTANCE, HASH = low 24 bits of FNV-1a("x__Uniform"), written out here so that a
  // change of the scheme (which would relabel every saved table) fails this test.
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : std::string("x__Uniform")) h = (h ^ c) * 1099511628211ull;
  char expected[32];
  std::snprintf(expected, sizeof expected, "Uniform@%06llx.1", static_cast<unsigned long long>(h & 0xffffff));
  CHECK(label == expected);
  CHECK(server::address_label("a__Categorical(len_probs:3)__12.2") ==
        server::address_label("a__Categorical(len_probs:3)__1").substr(0, 19) + "12.2");
  CHECK(server::address_label("plain") == "plain");
  const json j = server::posterior_json(report);
  REQUIRE(j["variables"].contains(address));
  CHECK(j["variables"][address]["address"] == address);
  CHECK(j["variables"][address]["label"] == label);
  CHECK(j["tabulation"]["variables"] == "all");
  const std::string text = server::summary_text(report);
  CHECK(text.find(label) != std::string::npos);
  CHECK(text.find("unnamed samples (--variables all)") != std::string::npos);
  test::Scratch s("results-all");
  server::write_report(s.dir.string(), report);
  CHECK(csv_header_of(s.dir / "samples.csv") == "log_weight,eps.1,eps.2,eps.3,x__Uniform__1,result");
  // Without --variables all there is no such column.
  const engines::WeightedTraces named = run_is({});
  CHECK(named.column(address) == nullptr);
}

TEST_CASE("samples.csv quotes names holding commas or quotes (RFC 4180)") {
  engines::WeightedTraces post;
  engines::Trace t;
  t.entries.push_back(engines::TraceEntry{.kind = SiteKind::Tag, .name = "a,b", .value = Tensor(1.0)});
  t.entries.push_back(engines::TraceEntry{.kind = SiteKind::Tag, .name = "say \"hi\"", .value = Tensor(2.0)});
  post.add(t);
  test::Scratch s("results-quoting");
  server::write_report(s.dir.string(), server::InferenceReport{.posterior = &post});
  CHECK(csv_header_of(s.dir / "samples.csv") == "log_weight,\"a,b\",\"say \"\"hi\"\"\"");
}

TEST_CASE("accept_stat__ is a sampler column: in samples.csv after lp__, not a variable, averaged per chain") {
  const auto model = [] {
    const double mu = sample(Normal(0.0, 1.0), {.name = "mu", .address = "mu"}).item();
    observe(Normal(mu, 1.0), {.name = "y", .address = "y"});
    return Tensor(mu);
  };
  engines::InProcessSimulator simulator("gauss", model);
  engines::McmcStats stats;
  const std::vector<engines::Simulator*> simulators{&simulator};
  const engines::WeightedTraces post = engines::metropolis_hastings(
      simulators, {{"y", Tensor(1.0)}}, {.kernel = engines::MhKernel::RandomWalk, .chains = 2, .draws = 300, .seed = 4},
      {}, &stats);
  server::InferenceReport report{.posterior = &post, .chains = true};
  const server::ChainDiagnostics d = server::diagnose_chains(post, 2);
  CHECK_FALSE(d.variable_diagnostics.contains("accept_stat__"));
  const json j = server::posterior_json(report);
  CHECK_FALSE(j["variables"].contains("accept_stat__"));
  REQUIRE(j["diagnostics"]["accept_stat_mean_by_chain"].size() == 2);
  const double m0 = j["diagnostics"]["accept_stat_mean_by_chain"][0];
  CHECK((m0 > 0.0 && m0 < 1.0));
  CHECK(server::summary_text(report).find("accept_stat__") != std::string::npos);
  test::Scratch s("results-accept");
  server::write_report(s.dir.string(), report);
  CHECK(csv_header_of(s.dir / "samples.csv") == "log_weight,chain,draw,lp__,accept_stat__,mu,result");
}

TEST_CASE("query check: an observe reached in few traces is not rejected; a misspelling still is") {
  // "rare" is observed only when u < 0.1: five traces miss it with probability 0.9^5 = 0.59.
  const auto branching = [] {
    const double u = sample(Uniform(0.0, 1.0), {.name = "u", .address = "u"}).item();
    if (u < 0.1) observe(Normal(u, 1.0), {.name = "rare", .address = "rare"});
    observe(Normal(u, 1.0), {.name = "always", .address = "always"});
    return Tensor(u);
  };
  engines::InProcessSimulator simulator("branching", branching);
  std::uint64_t extended = 0;
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    const server::QueryCheck check = server::check_query(simulator, {{"rare", Tensor(0.5)}}, 5, seed);
    INFO("seed " << seed);
    CHECK(check.error().empty());
    CHECK(check.unseen.empty());  // 0.9^100 < 3e-5: found within 100 traces
    extended += check.traces > 5 ? 1 : 0;
  }
  CHECK(extended > 0);  // some seeds needed more than five traces (the old check rejected those)
  // A name no trace has: in a model that branches, a warning after 100 traces ...
  const server::QueryCheck typo = server::check_query(simulator, {{"rrae", Tensor(0.5)}}, 5, 0);
  CHECK(typo.traces == 100);
  CHECK(typo.branching);
  CHECK(typo.unseen == std::vector<std::string>{"rrae"});
  CHECK(typo.error().empty());
  // ... and in a model whose traces all reach the same names, an error.
  engines::InProcessSimulator fixed("fixed", loop_model);
  const server::QueryCheck error = server::check_query(fixed, {{"z", Tensor(0.5)}}, 5, 0);
  CHECK_FALSE(error.branching);
  CHECK(error.unknown == std::vector<std::string>{"z"});
  CHECK(error.error().find("--observe z: the model has no observe or sample statement") != std::string::npos);
}
