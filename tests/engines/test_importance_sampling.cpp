// Importance sampling in-process on the four reference models, against their exact posteriors.
// Tolerances: 5 standard errors from the exact posterior, the standard error computed from the
// exact posterior sd and the run's Kish ESS (fixed seeds: a failure is a bug, never bad luck —
// the chance of a 5-SE miss is below 1e-6 per check).
#include <catch2/catch.hpp>
#include <cmath>

#include "ppx/engines/importance_sampling.h"
#include "ppx/engines/work_pool.h"
#include "reference_fixtures.h"

using namespace ppx;

namespace {

struct Case {
  std::string model;
  std::uint64_t traces;
};

}  // namespace

TEST_CASE("importance sampling matches the exact posterior of every reference model") {
  const auto c = GENERATE(Case{"gum", 40'000}, Case{"marsaglia", 40'000}, Case{"branching", 40'000},
                          Case{"hmm", 200'000});
  const reference::ReferenceModel& model = reference::reference_model(c.model);
  engines::InProcessSimulator simulator(model.name, model.forward);
  engines::Simulator* simulators[] = {&simulator};
  const auto observations = test::to_engine_observations(model.default_observations);
  const engines::WeightedTraces posterior =
      engines::importance_sampling(simulators, observations, {.traces = c.traces, .seed = 11});
  INFO(c.model);
  REQUIRE(posterior.size() == c.traces);
  const double ess = posterior.ess();
  CHECK(ess > 50);
  const reference::ExactPosterior exact = model.exact_posterior(model.default_observations);
  test::check_against_exact(posterior, exact, 5.0, ess);
  // log evidence: the estimator's own standard error (delta method), 5 of them.
  CHECK(std::abs(posterior.log_evidence() - exact.log_evidence) <= 5 * posterior.log_evidence_stderr());
}

TEST_CASE("the result does not depend on how many simulators ran it") {
  const reference::ReferenceModel& model = reference::reference_model("branching");
  const auto observations = test::to_engine_observations(model.default_observations);
  engines::InProcessSimulator a(model.name, model.forward), b(model.name, model.forward), c(model.name, model.forward);
  engines::Simulator* one[] = {&a};
  engines::Simulator* three[] = {&a, &b, &c};
  const auto p1 = engines::importance_sampling(one, observations, {.traces = 3000, .seed = 5});
  const auto p3 = engines::importance_sampling(three, observations, {.traces = 3000, .seed = 5});
  CHECK(p1.log_weights() == p3.log_weights());
  CHECK(*p1.column("r") == *p3.column("r"));
}

TEST_CASE("keeping whole traces changes nothing else in the result") {
  const auto name = GENERATE(as<std::string>{}, "gum", "marsaglia", "branching", "hmm");
  const reference::ReferenceModel& model = reference::reference_model(name);
  engines::InProcessSimulator simulator(model.name, model.forward);
  engines::Simulator* simulators[] = {&simulator};
  const auto observations = test::to_engine_observations(model.default_observations);
  const auto lean = engines::importance_sampling(simulators, observations, {.traces = 2000, .seed = 8});
  const auto kept = engines::importance_sampling(simulators, observations, {.traces = 2000, .seed = 8, .keep_traces = true});
  INFO(name);
  CHECK(lean.traces().empty());
  CHECK(kept.traces().size() == 2000);
  CHECK(lean.log_weights() == kept.log_weights());
  REQUIRE(lean.names() == kept.names());
  for (const std::string& column : lean.names()) {
    INFO(column);
    const std::vector<double>& a = *lean.column(column);
    const std::vector<double>& b = *kept.column(column);
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) CHECK((a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i]))));
    CHECK(lean.is_discrete(column) == kept.is_discrete(column));
  }
  CHECK(lean.trace_lengths().mean == kept.trace_lengths().mean);
}

namespace {
// Fails every third run before its first draw, like a simulator process dying mid-trace.
class FlakySimulator final : public engines::Simulator {
 public:
  explicit FlakySimulator(engines::Simulator& inner) : inner_(inner) {}
  std::string model_name() override { return inner_.model_name(); }
  Tensor run(Handler& handler) override {
    if (++calls_ % 3 == 0) throw engines::SimulatorFailure("simulated crash");
    return inner_.run(handler);
  }
  int calls_ = 0;

 private:
  engines::Simulator& inner_;
};
}  // namespace

TEST_CASE("traces lost to simulator failures are re-run: the count is exact and the result unchanged") {
  const reference::ReferenceModel& model = reference::reference_model("gum");
  const auto observations = test::to_engine_observations(model.default_observations);
  engines::InProcessSimulator a(model.name, model.forward), b(model.name, model.forward);
  FlakySimulator flaky(b);
  engines::Simulator* healthy[] = {&a};
  // One flaky simulator only: whether a second, healthy one would get work depends on scheduling.
  // It never fails twice in a row, so it is never retired and every third run is re-run.
  engines::Simulator* mixed[] = {&flaky};
  std::vector<std::string> log;
  engines::EngineCallbacks callbacks{.log = [&](const std::string& line) { log.push_back(line); }};
  const auto clean = engines::importance_sampling(healthy, observations, {.traces = 900, .seed = 3});
  const auto with_faults = engines::importance_sampling(mixed, observations, {.traces = 900, .seed = 3}, callbacks);
  CHECK(with_faults.size() == 900);
  CHECK(with_faults.log_weights() == clean.log_weights());
  CHECK(flaky.calls_ - flaky.calls_ / 3 == 900);  // every third call failed; exactly 900 succeeded
  CHECK_FALSE(log.empty());
}

TEST_CASE("a simulator that always fails is retired; when all are, the engine stops with an error") {
  struct AlwaysFails final : engines::Simulator {
    std::string model_name() override { return "dead"; }
    Tensor run(Handler&) override { throw engines::SimulatorFailure("dead"); }
  } dead;
  engines::Simulator* pool[] = {&dead, &dead};
  CHECK_THROWS_AS(engines::importance_sampling(pool, {}, {.traces = 10}), engines::EngineError);
}

TEST_CASE("importance sampling options are validated") {
  engines::InProcessSimulator s("gum", reference::gum::forward);
  engines::Simulator* pool[] = {&s};
  CHECK_THROWS_AS(engines::importance_sampling(pool, {}, {.traces = 0}), std::invalid_argument);
  CHECK_THROWS_AS(engines::importance_sampling({}, {}, {.traces = 1}), engines::EngineError);
}
