#pragma once
// Importance sampling with a trained ProposalNetwork as proposal (inference compilation).
// Every trace runs lock-step on one simulator of the pool; at each controlled scalar sample the
// network proposes a value (weight term log p - log q); addresses the network has never seen are
// drawn from the prior (weight term 0) while the LSTM is still stepped. Network steps of traces in
// flight on different simulators are batched into one LSTM call when they are ready together
// (waiting at most `batch_wait_us` for the others). Trace i uses generator stream i of the seed;
// a trace lost to a simulator failure is re-run with the same stream.
// Weight of a trace:  log w = log p(y | x) + sum over steered samples t of (log p(x_t) - log q(x_t)).
#include <cstdint>
#include <functional>

#include "ppx/engines/engine.h"
#include "ppx/engines/weighted_traces.h"
#include "ppx/ic/network.h"

namespace ppx::ic {

struct IcOptions {
  std::uint64_t traces = 1000;
  std::uint64_t seed = 0;
  unsigned threads = 0;             // LibTorch threads; 0 = all cores
  std::uint32_t batch_wait_us = 300;  // longest wait for other traces' steps (0 = no batching)
  bool keep_traces = false;
  std::function<void(const engines::Trace&)> trace_sink;  // every trace whole, in trace order (--save-traces)
  bool memoise_first_step = true;   // see ProposalNetwork::set_query (off only to measure it)
  engines::Tabulation tabulation;   // which entries become columns (weighted_traces.h)
  void validate() const;            // throws std::invalid_argument
};

struct IcStats {
  std::uint64_t steered = 0;            // samples proposed by the network
  std::uint64_t prior_fallbacks = 0;    // controlled samples drawn from the prior
  std::uint64_t non_scalar = 0;         // of which: non-scalar samples (never steered)
  std::vector<std::string> unknown_addresses;  // addresses without a head, distinct, sorted
  std::uint64_t network_calls = 0;
  std::uint64_t memoised_steps = 0;     // first steps answered from the per-query memo (no call)
  double mean_batch = 0.0;              // steps per network call
  std::uint64_t failures = 0;
};

engines::WeightedTraces ic_importance_sampling(engines::Simulators simulators, ProposalNetwork& network,
                                               const engines::Observations& observations, const IcOptions& options,
                                               const engines::EngineCallbacks& callbacks = {}, IcStats* stats = nullptr);

}  // namespace ppx::ic
