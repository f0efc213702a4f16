#pragma once
// ModelPool: one model's simulators, alive as long as the daemon, shared by the model's jobs.
//
// Dispatch: a job's engine gets `job_simulators` proxies (lease()), one engine thread each as it
// always does; every call of a proxy (one trace, or one whole-trace batch) takes whichever of the
// pool's simulators is free, the oldest waiting call first, so jobs running at once take turns
// and a simulator that registers while a job runs serves that job at its next call. A failing
// simulator is restarted by the SimulatorPool slot underneath (spawned and connected ones), and
// the engine re-runs the lost trace, so a job never loses or double-counts a trace. A registered
// simulator leaves the pool when it deregisters, or after kFailuresToLeave failures in a row (it
// died: later jobs do not wait on it).
//
// What the model is (its statements and address summary) is learned once, from kLearnTraces prior
// traces on the pool's simulators: on a background thread as soon as the pool has a simulator (at
// start, or at the first registration), and by learn() when a job starts before that finished.
// Until then knowledge() is null. Thread-safe.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config.h"
#include "ppx/engines/engine.h"
#include "ppx/engines/simulator.h"
#include "ppx/server/query_check.h"
#include "ppx/server/remote_simulator.h"
#include "ppx/server/simulator_pool.h"

namespace ppx::daemon {

// The pool's simulators, handed out one call at a time, oldest waiting call first.
class SlotDispatcher {
 public:
  struct Slot {
    engines::Simulator* simulator = nullptr;
    std::unique_ptr<engines::Simulator> owned;  // registered ones
    std::string endpoint;
    bool removable = false;  // registered: leaves on failures or deregistration
    // Guarded by the dispatcher's mutex:
    bool busy = false, leaving = false;
    std::uint32_t failures = 0;        // in a row
    std::optional<bool> whole_trace;   // offers whole-trace runs (known after its first answer)
    std::uint64_t calls = 0;
  };
  enum class Need { Any, WholeTrace };
  struct Options {
    std::string model;
    std::chrono::milliseconds empty_wait{30'000};  // a call waits this long when no simulator can serve it
    std::uint32_t failures_to_leave = 2;
    std::function<void(const std::string&)> log;
  };
  explicit SlotDispatcher(Options options) : options_(std::move(options)) {}

  std::size_t add(engines::Simulator* simulator, std::string endpoint, std::unique_ptr<engines::Simulator> owned = {});
  // A registered simulator leaves (at once when idle, else after its call); false if unknown.
  bool remove(const std::string& endpoint);
  std::size_t size() const;  // simulators not leaving
  nlohmann::json describe() const;  // [{"endpoint", "calls", "busy"}...]
  void note_whole_trace(Slot& slot, bool offers);
  bool any_whole_trace() const;
  // Ends every wait with engines::Interrupted.
  void stop();

  // Runs call(slot) on a free simulator. Throws engines::Interrupted when `interrupted` (polled
  // every 50 ms) or stop(), SimulatorFailure when no simulator could serve it for empty_wait.
  template <typename F>
  auto with(F&& call, const std::function<bool()>& interrupted, Need need = Need::Any) {
    Slot& slot = acquire(interrupted, need);
    try {
      auto result = call(slot);
      release(slot, false);
      return result;
    } catch (const engines::SimulatorFailure&) {
      release(slot, true);
      throw;
    } catch (...) {
      release(slot, false);
      throw;
    }
  }

 private:
  struct Waiter {
    Need need;
  };
  Slot& acquire(const std::function<bool()>& interrupted, Need need);
  void release(Slot& slot, bool failed);
  Slot* free_slot(Need need);
  bool can_serve(Need need) const;
  void erase_if_leaving(std::list<Slot>::iterator it);

  Options options_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::list<Slot> slots_;      // stable addresses
  std::list<Waiter> waiting_;  // oldest first
  bool stopping_ = false;
};

// What prior traces showed of a model.
struct ModelKnowledge {
  server::ModelSites sites;   // for checking queries (server::check_query)
  nlohmann::json addresses;   // server::AddressDictionary::to_json(), as `ppx addresses --json`
};

class ModelPool {
 public:
  static constexpr std::uint64_t kLearnTraces = 50;
  // Engine threads per job of a pool that may grow, unless [models.NAME] job_simulators says.
  static constexpr std::size_t kDefaultGrowableJobSimulators = 32;
  // growable: simulators may register (the daemon has a registration endpoint).
  ModelPool(const ModelConfig& config, bool growable, std::function<void(const std::string&)> log);
  ~ModelPool();

  const std::string& name() const { return name_; }
  // The proxies for one job (job_simulators of them); their waits also end on `interrupted`.
  std::vector<std::unique_ptr<engines::Simulator>> lease(std::function<bool()> interrupted = {});
  // Adds a running simulator (registration); returns the pool's new size.
  std::size_t add_endpoint(const std::string& endpoint);
  // A registered simulator leaves; returns the pool's new size. Throws std::invalid_argument if
  // no registered simulator has that endpoint.
  std::size_t remove_endpoint(const std::string& endpoint);
  std::size_t size() const { return slots_.size(); }
  std::uint64_t restarts() const;
  // The model's name from the first simulator that answers its handshake ("" if none did yet).
  std::string model_name();
  // Null until learned.
  std::shared_ptr<const ModelKnowledge> knowledge() const;
  // Learns now unless known (waits for a learner already running); throws engines::EngineError
  // naming each simulator's failure when none could run the traces.
  std::shared_ptr<const ModelKnowledge> learn();
  nlohmann::json summary() const;

 private:
  void learn_in_background();

  std::string name_;
  server::RemoteOptions remote_;
  std::size_t job_simulators_ = 1;
  std::atomic<bool> stopping_{false};
  std::function<void(const std::string&)> log_;
  std::unique_ptr<server::SimulatorPool> pool_;
  SlotDispatcher slots_;
  mutable std::mutex mutex_;  // guards what follows
  std::string model_name_;
  std::shared_ptr<const ModelKnowledge> knowledge_;
  std::thread learner_;       // the background learner (joined by the destructor)
  std::mutex learn_mutex_;    // one learner at a time
};

}  // namespace ppx::daemon
