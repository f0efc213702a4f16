#pragma once
// ModelPool: one model's simulators, alive as long as the daemon, shared by the model's jobs.
//
// Fair sharing: each slot serves calls (one trace, or one whole-trace batch) in ticket order, so
// jobs running at once on the same slots take turns instead of one starving the other. Each job
// gets its own Simulator proxies (lease()), one per slot; the engine runs one thread per proxy as
// it always does. A failing simulator is restarted by the SimulatorPool slot underneath, and the
// engine re-runs the lost trace, so a job never loses or double-counts a trace.
//
// The pool grows when a simulator registers (add_endpoint); a job sees the slots present when it
// starts. Thread-safe.
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config.h"
#include "ppx/engines/simulator.h"
#include "ppx/server/remote_simulator.h"
#include "ppx/server/simulator_pool.h"

namespace ppx::daemon {

// First come, first served access to one simulator.
class SharedSlot {
 public:
  explicit SharedSlot(engines::Simulator& simulator) : simulator_(simulator) {}
  template <typename F>
  auto with(F&& call) {
    std::unique_lock lock(mutex_);
    const std::uint64_t ticket = next_ticket_++;
    turn_.wait(lock, [&] { return serving_ == ticket; });
    lock.unlock();
    struct Next {
      SharedSlot& slot;
      ~Next() {
        { std::lock_guard l(slot.mutex_); ++slot.serving_; }
        slot.turn_.notify_all();
      }
    } next{*this};
    return call(simulator_);
  }

 private:
  engines::Simulator& simulator_;
  std::mutex mutex_;
  std::condition_variable turn_;
  std::uint64_t next_ticket_ = 0;
  std::uint64_t serving_ = 0;
};

class ModelPool {
 public:
  explicit ModelPool(const ModelConfig& config, std::function<void(const std::string&)> log);
  ~ModelPool();

  const std::string& name() const { return name_; }
  // One proxy per slot, for one job.
  std::vector<std::unique_ptr<engines::Simulator>> lease();
  // Adds a running simulator (registration); returns the pool's new size.
  std::size_t add_endpoint(const std::string& endpoint);
  std::size_t size() const;
  std::uint64_t restarts() const;
  // The model's name from the first simulator that answers its handshake ("" if none did yet).
  std::string model_name();
  nlohmann::json summary() const;

 private:
  std::string name_;
  server::RemoteOptions remote_;
  std::unique_ptr<server::SimulatorPool> pool_;
  mutable std::mutex mutex_;
  std::deque<std::unique_ptr<server::RemoteSimulator>> registered_;  // stable addresses
  std::deque<SharedSlot> slots_;
  std::vector<std::string> endpoints_;
  std::string model_name_;
  std::function<void(const std::string&)> log_;
};

}  // namespace ppx::daemon
