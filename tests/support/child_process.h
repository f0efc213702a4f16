#pragma once
// A program started in the background for tests that signal it (SIGINT, SIGSTOP) while it runs:
// its pid, its children, a bounded wait for its exit. The destructor kills whatever is left.
#include <chrono>
#include <csignal>
#include <optional>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "subprocess.h"

namespace ppx::test {

// The pids pgrep prints for `args` (e.g. "-P 1234"); none when nothing matches.
inline std::vector<pid_t> pgrep(const std::string& args) {
  std::vector<pid_t> out;
  const std::string list = run_command("pgrep " + args + " || true").output;
  for (std::size_t at = 0; at < list.size();) {
    const std::size_t end = list.find('\n', at);
    const std::string line = list.substr(at, end - at);
    if (!line.empty()) out.push_back(static_cast<pid_t>(std::stol(line)));
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return out;
}

class ChildProcess {
 public:
  // Runs `command` under /bin/sh (exec'd, so pid() is the program itself); output to `log`.
  ChildProcess(const std::string& command, const std::string& log) {
    const std::string script = "exec " + command + " >'" + log + "' 2>&1";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~ChildProcess() {
    if (!exit_code_ && pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int number) const { ::kill(pid_, number); }
  // The exit code (128 + signal if killed), or nullopt if it is still running after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!exit_code_) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      } else if (std::chrono::steady_clock::now() >= deadline) {
        return std::nullopt;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    return exit_code_;
  }
  // pids of its direct children (the simulators ppx started).
  std::vector<pid_t> children() const { return pgrep("-P " + std::to_string(pid_)); }

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

}  // namespace ppx::test
