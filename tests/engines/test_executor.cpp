// The executor: pyprob addresses, clamping, observation scoring, replay of recorded traces.
#include <catch2/catch.hpp>
#include <cmath>

#include "ppx/engines/executor.h"
#include "ppx/ppx.h"

using namespace ppx;
using engines::Observations;

namespace {

Tensor looping_model() {
  double total = 0;
  for (int i = 0; i < 3; ++i) total += sample(Normal(0, 1), {.address = "step"}).item();
  sample(Categorical(Tensor({0.2, 0.3, 0.5})), {.name = "k", .address = "step"});
  sample(Uniform(0, 1), {.name = "noise", .address = "noise", .control = false});
  observe(Normal(total, 1), {.name = "y", .address = "y"});
  observe(Normal(total, 2), 0.5, {.name = "z", .address = "z"});
  observe(Normal(total, 1), {.name = "unseen", .address = "unseen"});
  tag(total, {.name = "total", .address = "total"});
  return total;
}

double normal_log_pdf(double x, double mu, double sd) {
  return -0.5 * std::pow((x - mu) / sd, 2) - std::log(sd) - 0.5 * std::log(2 * M_PI);
}

}  // namespace

TEST_CASE("addresses follow pyprob: base__suffix__instance, instances counted per base and suffix") {
  engines::InProcessSimulator sim("loop", looping_model);
  engines::PriorPolicy prior;
  Rng rng = make_rng(1);
  const engines::Trace trace = engines::execute(sim, prior, {}, rng);
  REQUIRE(trace.entries.size() == 9);
  CHECK(trace.entries[0].address == "step__Normal__1");
  CHECK(trace.entries[1].address == "step__Normal__2");
  CHECK(trace.entries[2].address == "step__Normal__3");
  CHECK(trace.entries[3].address == "step__Categorical(len_probs:3)__1");
  CHECK(trace.entries[4].address == "noise__Uniform__1");
  CHECK(trace.entries[5].address == "y__Normal__1");
  CHECK(trace.entries[8].address == "total__None__1");
  CHECK_FALSE(trace.entries[4].control);
  CHECK(trace.samples == 5);
}

TEST_CASE("observes are scored on the query's value, else the simulator's; samples named in the query are clamped") {
  engines::InProcessSimulator sim("loop", looping_model);
  engines::PriorPolicy prior;
  Rng rng = make_rng(2);
  const Observations observations{{"y", Tensor(1.5)}, {"k", Tensor(2.0)}};
  const engines::Trace trace = engines::execute(sim, prior, observations, rng);
  const double total = trace.result.item();
  const engines::TraceEntry* k = trace.find_named("k");
  REQUIRE(k != nullptr);
  CHECK(k->value.item() == 2.0);
  CHECK(k->observed);
  CHECK(k->log_prob == Approx(std::log(0.5)));
  const double expected_likelihood =
      std::log(0.5) + normal_log_pdf(1.5, total, 1) + normal_log_pdf(0.5, total, 2);
  CHECK(trace.log_likelihood == Approx(expected_likelihood));
  CHECK(trace.log_weight == Approx(expected_likelihood));  // prior proposal: weight = likelihood
  CHECK(trace.unconditioned_observes == 1);                // "unseen" had no value anywhere
  CHECK(trace.samples == 4);                               // k is an observation now
}

TEST_CASE("a recorded trace scores exactly like the same values executed lock-step") {
  LocalHandler local({.seed = 9, .record = true});
  const Tensor result = Model("loop", looping_model).run(local);
  TraceRecord record = local.take_record();
  record.result = result;
  const Observations observations{{"y", Tensor(0.25)}};
  const engines::Trace scored = engines::score_record(record, observations);

  // Replay the same values through the executor with a policy that returns them in order.
  struct Replay final : engines::SamplePolicy {
    std::vector<Tensor> values;
    std::size_t next = 0;
    engines::Choice choose(const SampleSite&, const std::string&, Rng&) override { return {.value = values[next++]}; }
  } replay;
  for (const SiteRecord& s : record.sites) {
    if (s.kind == SiteKind::Sample && s.control) replay.values.push_back(*s.value);
  }
  // The uncontrolled draw comes from the rng: force the same value by making it controlled here.
  struct AllControlled final : engines::Simulator {
    std::string model_name() override { return "x"; }
    Tensor run(Handler& h) override {
      struct Wrap final : Handler {
        Handler& inner;
        explicit Wrap(Handler& i) : inner(i) {}
        Tensor on_sample(const SampleSite& s) override {
          return inner.on_sample(SampleSite{s.address, s.name, s.distribution, true});
        }
        void on_observe(const ObserveSite& s) override { inner.on_observe(s); }
        void on_tag(const TagSite& s) override { inner.on_tag(s); }
      } wrap(h);
      ScopedHandler scope(wrap);
      return looping_model();
    }
  } sim;
  replay.values.clear();
  for (const SiteRecord& s : record.sites) {
    if (s.kind == SiteKind::Sample) replay.values.push_back(*s.value);
  }
  Rng rng = make_rng(0);
  const engines::Trace executed = engines::execute(sim, replay, observations, rng);
  REQUIRE(executed.entries.size() == scored.entries.size());
  for (std::size_t i = 0; i < scored.entries.size(); ++i) {
    CHECK(executed.entries[i].address == scored.entries[i].address);
    CHECK(executed.entries[i].value == scored.entries[i].value);
    CHECK(executed.entries[i].log_prob == scored.entries[i].log_prob);
  }
  CHECK(scored.log_weight == executed.log_weight);
  CHECK_FALSE(scored.entries[4].control);  // the record's control flags survive scoring
}

TEST_CASE("a proposal other than the prior contributes log p - log q to the weight") {
  struct Fixed final : engines::SamplePolicy {
    engines::Choice choose(const SampleSite&, const std::string&, Rng&) override {
      return {.value = Tensor(0.5), .log_proposal = -1.0, .from_prior = false};
    }
  } fixed;
  engines::InProcessSimulator sim("one", [] { return sample(Normal(0, 1)); });
  Rng rng = make_rng(0);
  const engines::Trace trace = engines::execute(sim, fixed, {}, rng);
  CHECK(trace.log_weight == Approx(normal_log_pdf(0.5, 0, 1) + 1.0));
}
