#pragma once
// Simulator: something that runs one trace against a Handler. Engines see only this interface;
// RemoteSimulator (server/, PPX over ZeroMQ) and InProcessSimulator (a linked C++ model) implement it.
//
// Threading: one Simulator runs one trace at a time; engines run different Simulators on different
// threads concurrently.
// Errors: a simulator that died, hung or broke the protocol throws SimulatorFailure; the trace in
// flight is lost and the engine re-runs it (on any simulator). A simulator that sends what breaks
// the model's contract (a value of the wrong shape or outside its distribution's support, an
// observe value that does not broadcast) fails the same way: the recording handler throws
// SimulatorFailure for it. Other exceptions thrown by the handler propagate unchanged.
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "ppx/core/handler.h"
#include "ppx/core/trace_record.h"

namespace ppx::engines {

class SimulatorFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown by a simulator whose wait was cut short because the run is being interrupted (SIGINT):
// the trace in flight is dropped, not counted as the simulator's failure, and the engine stops.
class Interrupted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Whole-trace request: `count` traces drawn from the prior without steering; trace i uses
// generator stream i of `seed`; samples whose name is in `fixed` take that value.
struct UnsteeredRequest {
  std::uint32_t count = 1;
  std::uint64_t seed = 0;
  std::vector<std::pair<std::string, Tensor>> fixed;
};

class Simulator {
 public:
  virtual ~Simulator() = default;
  virtual std::string model_name() = 0;
  // Names this simulator in log lines and errors ("simulator 3 (ipc://...)"); empty if unnamed.
  virtual std::string description() const { return {}; }
  // Called by the work pool after an item failed with SimulatorFailure on this simulator, also
  // when the engine found the fault in what a call returned (a whole trace breaking the model's
  // contract): a pooled simulator restarts its process or rebuilds its connection. Never throws.
  virtual void reset_after_failure() noexcept {}
  // Runs one trace; every random choice goes through `handler`.
  virtual Tensor run(Handler& handler) = 0;
  // Whole-trace runs, when the simulator offers them (PPX extension).
  virtual bool supports_unsteered() { return false; }
  virtual std::vector<TraceRecord> run_unsteered(const UnsteeredRequest& request);
};

// A C++ model function linked into this process; the model calls ppx::sample etc., which reach
// `handler` through the thread's current handler.
class InProcessSimulator final : public Simulator {
 public:
  InProcessSimulator(std::string name, std::function<Tensor()> forward);
  std::string model_name() override { return name_; }
  Tensor run(Handler& handler) override;

 private:
  std::string name_;
  std::function<Tensor()> forward_;
};

}  // namespace ppx::engines
