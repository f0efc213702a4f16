// The executor: pyprob addresses, clamping, observation scoring, replay of recorded traces,
// and what each recording keeps.
#include <catch2/catch.hpp>
#include <cmath>

#include "ppx/engines/executor.h"
#include "ppx/engines/weighted_traces.h"
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

namespace {

// Everything WeightedTraces sees: named scalars that come and go, a discrete one, an uncontrolled
// one, a clamped one, non-scalar and unnamed samples, scalar and vector tags, observes.
Tensor varied_model() {
  const double k = sample(Categorical(Tensor({0.3, 0.7})), {.name = "k", .address = "k"}).item();
  double x = sample(Normal(0, 1), {.name = "x", .address = "x"}).item();
  x += sample(Normal(0, 1)).item();                                                 // unnamed
  sample(Normal(Tensor({0.0, 1.0}), Tensor({1.0, 1.0})), {.name = "pair", .address = "pair"});  // not a scalar
  if (k == 1) tag(x * 2, {.name = "doubled", .address = "doubled"});
  tag(Tensor({x, k}), {.name = "both", .address = "both"});                          // not a scalar
  const double u = sample(Uniform(0, 1), {.name = "u", .address = "u", .control = false}).item();
  sample(Poisson(3), {.name = "clamped", .address = "clamped"});
  observe(Normal(x + u, 1), {.name = "y", .address = "y"});
  observe(Normal(x, 2), 0.5, {.name = "z", .address = "z"});
  return k == 1 ? Tensor(x) : Tensor({x, u});  // the result is a scalar in some traces only
}

bool same_column(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
  }
  return true;
}

void check_same_posterior(const engines::WeightedTraces& full, const engines::WeightedTraces& summary) {
  REQUIRE(full.size() == summary.size());
  CHECK(full.dropped() == summary.dropped());
  CHECK(full.log_weights() == summary.log_weights());
  REQUIRE(full.names() == summary.names());
  for (const std::string& name : full.names()) {
    INFO(name);
    CHECK(same_column(*full.column(name), *summary.column(name)));
    CHECK(full.is_discrete(name) == summary.is_discrete(name));
  }
  CHECK(full.trace_lengths().min == summary.trace_lengths().min);
  CHECK(full.trace_lengths().max == summary.trace_lengths().max);
  CHECK(full.trace_lengths().mean == summary.trace_lengths().mean);
}

}  // namespace

TEST_CASE("a summary recording keeps exactly what WeightedTraces reads of a full one") {
  engines::InProcessSimulator sim("varied", varied_model);
  engines::PriorPolicy prior;
  const Observations observations{{"y", Tensor(0.3)}, {"clamped", Tensor(2.0)}};
  engines::WeightedTraces full, summary;
  for (std::uint64_t i = 0; i < 200; ++i) {
    Rng a = make_rng(4, i), b = make_rng(4, i);
    const engines::Trace f = engines::execute(sim, prior, observations, a, engines::Recording::Full);
    const engines::Trace s = engines::execute(sim, prior, observations, b, engines::Recording::Summary);
    CHECK(s.log_weight == f.log_weight);
    CHECK(s.log_likelihood == f.log_likelihood);
    CHECK(s.log_prior == f.log_prior);
    CHECK(s.samples == f.samples);
    CHECK(s.unconditioned_observes == f.unconditioned_observes);
    CHECK(s.result == f.result);
    // The summary's entries are the full trace's named samples and tags (tensors up to
    // kMaxElementColumns elements), in order.
    std::vector<const engines::TraceEntry*> kept;
    for (const engines::TraceEntry& e : f.entries) {
      if (!e.name.empty() && e.value.numel() >= 1 && e.kind != SiteKind::Observe) kept.push_back(&e);
    }
    REQUIRE(s.entries.size() == kept.size());
    for (std::size_t j = 0; j < kept.size(); ++j) {
      const engines::TraceEntry& e = s.entries[j];
      CHECK(e.kind == kept[j]->kind);
      CHECK(e.name == kept[j]->name);
      CHECK(e.value == kept[j]->value);
      CHECK(e.log_prob == kept[j]->log_prob);
      CHECK(e.control == kept[j]->control);
      CHECK(e.observed == kept[j]->observed);
      CHECK(e.discrete == kept[j]->discrete);
      CHECK(e.address.empty());
      CHECK_FALSE(e.distribution);
    }
    full.add(f);
    summary.add(s);
  }
  check_same_posterior(full, summary);
  CHECK(full.is_discrete("k"));
  CHECK(full.is_discrete("clamped"));
  CHECK_FALSE(full.is_discrete("x"));
  CHECK(full.column("pair") == nullptr);  // tensors: a column per element
  CHECK(full.column("pair.2") != nullptr);
  CHECK(full.column("both.1") != nullptr);
  CHECK(full.column("doubled") != nullptr);
  CHECK(full.column("result") != nullptr);  // a scalar in some traces, [2] in others
  CHECK(full.column("result.2") != nullptr);
}

TEST_CASE("a recorded trace scores to the same posterior row whatever the recording") {
  engines::WeightedTraces full, no_payloads, summary;
  const Observations observations{{"y", Tensor(0.3)}, {"clamped", Tensor(2.0)}};
  for (std::uint64_t i = 0; i < 100; ++i) {
    LocalHandler local({.seed = 12, .stream = i, .record = true});
    const Tensor result = Model("varied", varied_model).run(local);
    TraceRecord record = local.take_record();
    record.result = result;
    const engines::Trace f = engines::score_record(record, observations, engines::Recording::Full);
    const engines::Trace n = engines::score_record(record, observations, engines::Recording::NoObservePayloads);
    const engines::Trace s = engines::score_record(record, observations, engines::Recording::Summary);
    REQUIRE(n.entries.size() == f.entries.size());
    for (std::size_t j = 0; j < f.entries.size(); ++j) {
      CHECK(n.entries[j].address == f.entries[j].address);
      CHECK(n.entries[j].control == f.entries[j].control);
      CHECK(n.entries[j].kind == f.entries[j].kind);
      CHECK((n.entries[j].distribution.has_value() == (f.entries[j].kind == SiteKind::Sample)));
    }
    // Control flags come from the record, in every recording.
    for (const engines::TraceEntry& e : s.entries) {
      const engines::TraceEntry* in_full = f.find_named(e.name);
      REQUIRE(in_full != nullptr);
      CHECK(e.control == in_full->control);
    }
    CHECK(s.log_weight == f.log_weight);
    full.add(f);
    no_payloads.add(n);
    summary.add(s);
  }
  check_same_posterior(full, no_payloads);
  check_same_posterior(full, summary);
  CHECK_FALSE(full.column("u")->empty());
}
