#pragma once
// The executor: runs a simulator with an inference policy deciding each controlled sample, and
// records and scores the Trace. Also scores traces the simulator ran on its own (whole-trace runs).
#include <cstdint>

#include "ppx/core/handler.h"
#include "ppx/core/rng.h"
#include "ppx/core/trace_record.h"
#include "ppx/engines/simulator.h"
#include "ppx/engines/trace.h"

namespace ppx::engines {

// What the policy decided at a sample site.
struct Choice {
  Tensor value;
  double log_proposal = 0.0;  // log q(value); ignored when from_prior
  bool from_prior = true;     // drawn from the prior: weight unchanged
  bool reused = false;        // MCMC bookkeeping
};

// The engine's decision at each controlled sample site. `address` is the full address.
class SamplePolicy {
 public:
  virtual ~SamplePolicy() = default;
  virtual Choice choose(const SampleSite& site, const std::string& address, Rng& rng) = 0;
};

// Draws every sample from its prior: importance sampling's proposal.
class PriorPolicy final : public SamplePolicy {
 public:
  Choice choose(const SampleSite& site, const std::string& address, Rng& rng) override;
};

// What a TraceRecorder keeps of a trace. Observes' distributions and values can be large (a
// calorimeter: 3 x 24,500 doubles) and engines need only their log-probabilities; importance
// sampling without whole traces needs only what WeightedTraces keeps of a trace.
//   Full: every entry with its address, distribution and value (whole traces for the caller).
//   NoObservePayloads: every entry with its address; samples keep their distribution and value,
//     observes neither (what MCMC needs: it proposes and judges samples by address).
//   Summary: only what WeightedTraces::add reads: entries for named samples and tags whose value has
//     1 to kMaxElementColumns elements (kind, name, value, log_prob, flags, `discrete`; no address, no
//     distribution), the result, the log weight terms and the counts. No addresses are built, so
//     the policy is passed an empty address: for policies that ignore it (PriorPolicy, replay).
//     (Importance sampling with Tabulation::all_samples records NoObservePayloads instead: unnamed
//     samples are tabulated by address.)
enum class Recording { Full, NoObservePayloads, Summary };

// A Handler that asks `policy` at controlled samples, draws uncontrolled ones from the prior,
// clamps samples whose name is observed, scores observes, and records what `recording` asks for.
class TraceRecorder final : public Handler {
 public:
  TraceRecorder(SamplePolicy& policy, const Observations& observations, Rng& rng,
                Recording recording = Recording::Full);
  Tensor on_sample(const SampleSite& site) override;
  void on_observe(const ObserveSite& site) override;
  void on_tag(const TagSite& site) override;
  // The finished trace (log weight complete); the recorder is empty afterwards.
  Trace finish(Tensor result);

 private:
  friend Trace score_record(const TraceRecord& record, const Observations& observations, Recording recording);
  std::string next_address(std::string_view base, std::string_view suffix);
  SamplePolicy& policy_;
  const Observations& observations_;
  Rng& rng_;
  Recording recording_;
  Trace trace_;
  std::vector<std::pair<std::string, std::uint32_t>> instances_;  // "<base>__<suffix>" -> count
};

// Runs one trace of `simulator` under `policy`. Throws SimulatorFailure as the simulator does.
// Summary traces carry no run_time (the clock is not read).
Trace execute(Simulator& simulator, SamplePolicy& policy, const Observations& observations, Rng& rng,
              Recording recording = Recording::Full);

// Scores a trace the simulator ran unsteered (samples from the prior).
Trace score_record(const TraceRecord& record, const Observations& observations,
                   Recording recording = Recording::Full);

}  // namespace ppx::engines
