#pragma once
// Child processes for simulators ppxd starts itself.
// Each child runs `/bin/sh -c "exec COMMAND"` in its own process group and is killed (SIGKILL) if
// ppxd dies (PR_SET_PDEATHSIG). Because that signal is tied to the thread that forked, all forks
// happen on one launcher thread that lives as long as the ProcessLauncher.
// Nothing outlives the launcher: the process becomes a child subreaper (PR_SET_CHILD_SUBREAPER),
// so descendants orphaned by a simulator (a `setsid` daemon) are reparented to it; every child gets
// PPX_LAUNCHER_ID=<pid>.<n> in its environment, and the destructor ends (SIGTERM, then SIGKILL
// after a grace period) and reaps the reparented processes that carry this launcher's id. A
// descendant that clears its environment, or one still under a live parent, is not found.
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
  // Ends and reaps this launcher's orphaned descendants (see above); the destructor calls it.
  void end_orphans(std::chrono::milliseconds grace = std::chrono::milliseconds(500));

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ppx::server
