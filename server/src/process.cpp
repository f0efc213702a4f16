#include "ppx/server/process.h"

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <mutex>
#include <queue>
#include <set>
#include <stdexcept>
#include <thread>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>

namespace ppx::server {

Process::~Process() { terminate(); }

bool Process::alive() {
  if (reaped_) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_ || (r < 0 && errno == ECHILD)) {
    reaped_ = true;
    return false;
  }
  return true;
}

bool Process::wait_for_exit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (alive()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

void Process::terminate(std::chrono::milliseconds grace) {
  if (!alive()) {
    ::kill(-pid_, SIGKILL);  // the leader is gone; whatever else ran in its group goes too
    return;
  }
  ::kill(-pid_, SIGTERM);
  if (!wait_for_exit(grace)) kill();
}

void Process::request_termination() {
  if (!reaped_) ::kill(-pid_, SIGTERM);
}

void Process::kill() {
  ::kill(-pid_, SIGKILL);  // the whole group, even if the leader was already reaped
  if (!alive()) return;
  wait_for_exit(std::chrono::seconds(5));
}

struct ProcessLauncher::Impl {
  std::string tag;  // "PPX_LAUNCHER_ID=<pid>.<n>", in the environment of everything we start
  std::mutex mutex;
  std::condition_variable wake;
  std::queue<std::packaged_task<pid_t()>> tasks;
  bool stopping = false;
  std::thread thread;

  void loop() {
    std::unique_lock lock(mutex);
    while (true) {
      wake.wait(lock, [&] { return stopping || !tasks.empty(); });
      if (tasks.empty()) return;
      auto task = std::move(tasks.front());
      tasks.pop();
      lock.unlock();
      task();
      lock.lock();
    }
  }
};

namespace {

constexpr std::string_view kTagVariable = "PPX_LAUNCHER_ID";

pid_t fork_shell(const std::string& command, const std::string& tag) {
  const std::string script = "export " + tag + "; exec " + command;
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
    ::dup2(STDERR_FILENO, STDOUT_FILENO);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent, so kill(-pid) works even before the child runs
  return pid;
}

// Live processes whose parent is this process and whose environment holds `tag`: descendants of
// our simulators that were orphaned (their parent exited) and reparented to us as subreaper.
std::vector<pid_t> tagged_orphans(const std::string& tag) {
  namespace fs = std::filesystem;
  const std::string ppid_line = "PPid:\t" + std::to_string(::getpid());
  std::vector<pid_t> found;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream status(entry.path() / "status");
    bool ours = false;
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("PPid:", 0) == 0) {
        ours = line == ppid_line;
        break;
      }
    }
    if (!ours) continue;
    std::ifstream environ(entry.path() / "environ", std::ios::binary);
    const std::string variables((std::istreambuf_iterator<char>(environ)), std::istreambuf_iterator<char>());
    if (variables.find(std::string(1, '\0') + tag + '\0') != std::string::npos || variables.rfind(tag + '\0', 0) == 0) {
      found.push_back(static_cast<pid_t>(std::stol(name)));
    }
  }
  return found;
}

// SIGTERM to each, SIGKILL to those alive after `grace`; reaps them all.
void end_and_reap(const std::vector<pid_t>& pids, std::chrono::milliseconds grace) {
  for (pid_t pid : pids) ::kill(pid, SIGTERM);
  std::set<pid_t> left(pids.begin(), pids.end());
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (!left.empty() && std::chrono::steady_clock::now() < deadline) {
    std::erase_if(left, [](pid_t pid) { return ::waitpid(pid, nullptr, WNOHANG) != 0; });
    if (!left.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (pid_t pid : left) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);  // SIGKILL cannot be ignored: this returns
  }
}

}  // namespace

ProcessLauncher::ProcessLauncher() : impl_(std::make_unique<Impl>()) {
  static std::atomic<unsigned> launchers{0};
  impl_->tag = std::string(kTagVariable) + "=" + std::to_string(::getpid()) + "." + std::to_string(launchers++);
  // A simulator's descendants that outlive their parent (a setsid daemon) become our children, not
  // init's, so the destructor can find and end them. A process-wide setting; harmless to repeat.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  impl_->thread = std::thread([this] { impl_->loop(); });
}

void ProcessLauncher::end_orphans(std::chrono::milliseconds grace) {
  // Ending an orphan may orphan its own children in turn: a few rounds, each bounded.
  for (int round = 0; round < 8; ++round) {
    const std::vector<pid_t> orphans = tagged_orphans(impl_->tag);
    if (orphans.empty()) return;
    end_and_reap(orphans, grace);
  }
}

ProcessLauncher::~ProcessLauncher() {
  end_orphans();
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  impl_->thread.join();
}

std::unique_ptr<Process> ProcessLauncher::spawn(const std::string& command) {
  std::packaged_task<pid_t()> task([this, command] { return fork_shell(command, impl_->tag); });
  std::future<pid_t> pid = task.get_future();
  {
    std::lock_guard lock(impl_->mutex);
    impl_->tasks.push(std::move(task));
  }
  impl_->wake.notify_all();
  return std::make_unique<Process>(pid.get());
}

}  // namespace ppx::server
