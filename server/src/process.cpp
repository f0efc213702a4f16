#include "ppx/server/process.h"

#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <functional>
#include <future>
#include <mutex>
#include <queue>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

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

pid_t fork_shell(const std::string& command) {
  const std::string script = "exec " + command;
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

}  // namespace

ProcessLauncher::ProcessLauncher() : impl_(std::make_unique<Impl>()) {
  impl_->thread = std::thread([this] { impl_->loop(); });
}

ProcessLauncher::~ProcessLauncher() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  impl_->thread.join();
}

std::unique_ptr<Process> ProcessLauncher::spawn(const std::string& command) {
  std::packaged_task<pid_t()> task([command] { return fork_shell(command); });
  std::future<pid_t> pid = task.get_future();
  {
    std::lock_guard lock(impl_->mutex);
    impl_->tasks.push(std::move(task));
  }
  impl_->wake.notify_all();
  return std::make_unique<Process>(pid.get());
}

}  // namespace ppx::server
