#pragma once
// SimulatorPool: N simulators for the engines, either started by ppxd from a command template
// (each on its own ipc:// endpoint, restarted when it fails, all killed when the pool goes) or
// connected to endpoints that are already running (tcp://host:port, a batch job's simulators).
//
// Slot lifecycle (spawned): starting -> ready -> running trace -> ready ...; on any failure the
// process is killed and the slot restarts it before its next trace. Connected slots rebuild their
// socket instead. Engines see each slot as an engines::Simulator; one thread per slot.
// The pool owns its processes: its destructor terminates every one (no orphans).
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ppx/engines/simulator.h"
#include "ppx/server/remote_simulator.h"

namespace ppx::server {

struct PoolOptions {
  std::string command;                // "build/bin/gum --serve {endpoint}"; empty when connecting
  std::size_t workers = 1;            // processes to start (with command)
  std::vector<std::string> connect;   // existing endpoints (without command)
  RemoteOptions remote;
  std::function<void(const std::string&)> log;  // one line per event (start, failure, restart)
  void validate() const;              // throws std::invalid_argument (endpoints checked too)
};

// Throws std::invalid_argument naming `endpoint` unless it is tcp://HOST:PORT (port 1..65535) or
// ipc://PATH with PATH within the system's socket path limit (107 bytes on Linux).
void check_endpoint(const std::string& endpoint);

class SimulatorPool {
 public:
  explicit SimulatorPool(PoolOptions options);
  ~SimulatorPool();
  SimulatorPool(const SimulatorPool&) = delete;
  SimulatorPool& operator=(const SimulatorPool&) = delete;

  // Starts every spawned process not yet running (without waiting for handshakes), so that they
  // start up side by side; stops early when `interrupted` returns true. Optional: slots also start
  // their process on first use.
  void start(const std::function<bool()>& interrupted = {});

  std::size_t size() const;
  std::vector<engines::Simulator*> simulators();
  std::uint64_t restarts() const;
  // pids of the processes currently running (for tests and status).
  std::vector<int> pids() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ppx::server
