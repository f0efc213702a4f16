#pragma once
// Runs numbered work items on a set of simulators concurrently (one thread per simulator).
// An item whose simulator throws SimulatorFailure is put back and re-run (on any simulator);
// a simulator that fails `max_consecutive_failures` times in a row is retired. When every
// simulator is retired, or any other exception escapes an item, run() throws EngineError /
// rethrows after all threads stopped.
// Completed items are delivered to `on_complete` in item order (0, 1, 2, ...), from whichever
// thread completes the gap, under a lock, so consumers see a deterministic sequence.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include "ppx/engines/engine.h"

namespace ppx::engines {

template <typename Result>
struct WorkPoolSpec {
  std::uint64_t items = 0;
  std::function<Result(Simulator&, std::uint64_t item)> run;          // may throw SimulatorFailure
  std::function<void(std::uint64_t item, Result&& result)> on_complete;  // in item order
  std::uint32_t max_consecutive_failures = 3;
  std::atomic<std::uint64_t>* failures = nullptr;  // if set, counts failures as they happen
};

struct WorkPoolStats {
  std::uint64_t completed = 0;
  std::uint64_t failures = 0;
  std::uint32_t retired = 0;
  bool interrupted = false;
};

template <typename Result>
WorkPoolStats run_work_pool(Simulators simulators, const WorkPoolSpec<Result>& spec,
                            const EngineCallbacks& callbacks);

}  // namespace ppx::engines

#include "ppx/engines/detail/work_pool_impl.h"
