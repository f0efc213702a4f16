#pragma once
// Child processes for simulators ppxd starts itself.
// Each child runs `/bin/sh -c "exec COMMAND"` in its own process group and is killed (SIGKILL) if
// ppxd dies (PR_SET_PDEATHSIG). Because that signal is tied to the thread that forked, all forks
// happen on one launcher thread that lives as long as the ProcessLauncher.
// Thread-safe: spawn() and the Process methods may be called from any thread.
#include <chrono>
#include <memory>
#include <string>
#include <sys/types.h>

namespace ppx::server {

class Process {
 public:
  explicit Process(pid_t pid) : pid_(pid) {}
  ~Process();  // terminate()
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool alive();  // reaps the child if it exited
  // SIGTERM to the group, then SIGKILL after `grace`; reaps. Idempotent.
  void terminate(std::chrono::milliseconds grace = std::chrono::milliseconds(500));
  void kill();  // SIGKILL to the group now; reaps
  void request_termination();  // SIGTERM to the group; returns at once

 private:
  bool wait_for_exit(std::chrono::milliseconds timeout);
  pid_t pid_;
  bool reaped_ = false;
};

class ProcessLauncher {
 public:
  ProcessLauncher();
  ~ProcessLauncher();
  ProcessLauncher(const ProcessLauncher&) = delete;
  ProcessLauncher& operator=(const ProcessLauncher&) = delete;

  // Starts `command` under /bin/sh; stdout goes to stderr so a simulator's chatter never mixes
  // with ppx's results. Throws std::runtime_error if the fork fails.
  std::unique_ptr<Process> spawn(const std::string& command);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ppx::server
