#pragma once
// Importance sampling with the prior as proposal, over one or more simulators concurrently.
// Trace i is drawn with generator stream i of the seed (lock-step) or as part of whole-trace
// batch i/batch (simulators that offer it), and rows are added in trace order, so the result does
// not depend on which simulator ran which trace. The trace count is exact: a trace lost to a
// simulator failure is re-run with the same seed.
#include <cstdint>
#include <functional>

#include "ppx/engines/engine.h"
#include "ppx/engines/weighted_traces.h"

namespace ppx::engines {

struct ImportanceSamplingOptions {
  std::uint64_t traces = 1000;
  std::uint64_t seed = 0;
  bool whole_trace = true;       // use whole-trace runs when a simulator offers them
  std::uint32_t batch = 64;      // traces per whole-trace request
  bool keep_traces = false;      // keep full traces in the result (memory!)
  Tabulation tabulation;         // which entries become columns (weighted_traces.h)
  // Sampling the prior: every trace gets log weight 0, whatever its observes score (pyprob's
  // prior). Observations still clamp and are recorded.
  bool prior = false;
  // Called with every trace, in trace order and one at a time (from a pool thread, under the work
  // pool's lock), before it joins the result; traces are then recorded in full (every entry with
  // its address, distribution and value). For trace files and address dictionaries. An exception
  // it throws ends the run and propagates.
  std::function<void(const Trace&)> trace_sink;
  void validate() const;         // throws std::invalid_argument
};

WeightedTraces importance_sampling(Simulators simulators, const Observations& observations,
                                   const ImportanceSamplingOptions& options,
                                   const EngineCallbacks& callbacks = {});

}  // namespace ppx::engines
