#include "ppx/server/simulator_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <type_traits>
#include <sys/un.h>
#include <unistd.h>

#include "ppx/server/process.h"

namespace ppx::server {

namespace fs = std::filesystem;
using engines::SimulatorFailure;

namespace {
fs::path socket_folder_pattern();
}  // namespace

void check_endpoint(const std::string& endpoint) {
  const auto bad = [&](const std::string& why) {
    throw std::invalid_argument("bad endpoint '" + endpoint + "': " + why);
  };
  if (endpoint.rfind("ipc://", 0) == 0) {
    const std::string path = endpoint.substr(6);
    if (path.empty()) bad("no path after ipc://");
    constexpr std::size_t kMaxPath = sizeof(sockaddr_un::sun_path) - 1;  // 107 on Linux
    if (path.size() > kMaxPath) {
      bad("the socket path is " + std::to_string(path.size()) + " bytes, over the system's limit of " +
          std::to_string(kMaxPath));
    }
    return;
  }
  if (endpoint.rfind("tcp://", 0) == 0) {
    const std::string address = endpoint.substr(6);
    const std::size_t colon = address.rfind(':');
    if (colon == std::string::npos || colon == 0) bad("expected tcp://HOST:PORT");
    const std::string port = address.substr(colon + 1);
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(port) == 0 || std::stoul(port) > 65535) {
      bad("the port must be a number from 1 to 65535");
    }
    if (address.size() > 1024) bad("the address is too long");
    return;
  }
  bad("expected tcp://HOST:PORT or ipc://PATH");
}

void PoolOptions::validate() const {
  remote.validate();
  for (const std::string& endpoint : connect) check_endpoint(endpoint);
  if (command.empty() == connect.empty()) {
    throw std::invalid_argument("give either a simulator command or endpoints to connect to");
  }
  if (!command.empty()) {
    if (command.find("{endpoint}") == std::string::npos) {
      throw std::invalid_argument("the simulator command must contain {endpoint}: '" + command + "'");
    }
    if (workers == 0) throw std::invalid_argument("workers must be at least 1");
    // The socket paths the pool will make (see socket_folder_pattern) must fit the system's limit.
    fs::path folder;
    try {
      folder = socket_folder_pattern();
    } catch (const fs::filesystem_error& e) {
      throw std::invalid_argument(std::string("no usable temp folder for the simulators' sockets: ") + e.what());
    }
    check_endpoint("ipc://" + (folder / ("sim-" + std::to_string(workers - 1))).string());
  }
}

namespace {

// Where spawned simulators' sockets go: a fresh private folder in the temp directory.
fs::path socket_folder_pattern() {
  return fs::temp_directory_path() / ("ppxd-" + std::to_string(::getpid()) + "-XXXXXX");
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// One pool slot: a remote simulator plus, when spawned, the process behind it.
class Slot final : public engines::Simulator {
 public:
  Slot(std::size_t index, std::string endpoint, const PoolOptions& options, ProcessLauncher* launcher,
       std::atomic<std::uint64_t>& restarts)
      : index_(index), endpoint_(std::move(endpoint)), options_(options), launcher_(launcher), restarts_(restarts) {}

  std::string model_name() override { return guarded([&](RemoteSimulator& r) { return r.model_name(); }); }
  Tensor run(Handler& handler) override { return guarded([&](RemoteSimulator& r) { return r.run(handler); }); }
  bool supports_unsteered() override {
    return guarded([&](RemoteSimulator& r) { return r.supports_unsteered(); });
  }
  std::vector<TraceRecord> run_unsteered(const engines::UnsteeredRequest& request) override {
    return guarded([&](RemoteSimulator& r) { return r.run_unsteered(request); });
  }

  int pid() {
    std::lock_guard lock(mutex_);
    return process_ && process_->alive() ? process_->pid() : 0;
  }
  std::string description() const override {
    return "simulator " + std::to_string(index_) + " (" + endpoint_ + ")";
  }
  void reset_after_failure() noexcept override {
    std::lock_guard lock(mutex_);
    discard("failed");
  }
  // SIGTERM now, so that stop() of many slots waits for all of them at once.
  void request_stop() {
    std::lock_guard lock(mutex_);
    if (process_) process_->request_termination();
  }
  void stop(std::chrono::milliseconds grace) {
    std::lock_guard lock(mutex_);
    remote_.reset();
    if (process_) process_->terminate(grace);
    process_.reset();
    remove_socket_file();
  }

  // Starts the process if this slot spawns one and it is not running; no handshake.
  void start() {
    std::lock_guard lock(mutex_);
    start_process();
  }

 private:
  // Runs `call` on a ready simulator; on failure the process is killed so the next call restarts it.
  template <typename F>
  auto guarded(F&& call) -> std::invoke_result_t<F&, RemoteSimulator&> {
    std::lock_guard lock(mutex_);
    try {
      return call(ensure_ready());
    } catch (const SimulatorFailure& e) {
      discard(std::string("failed, killing it: ") + e.what());
      throw;
    }
  }

  // After a failure: the process is killed (restarted before the next call), a connected
  // simulator's socket is dropped (rebuilt, with a fresh handshake).
  void discard(const std::string& why) noexcept {
    try {
      if (process_) {
        log("simulator " + std::to_string(index_) + " (pid " + std::to_string(process_->pid()) + ") " + why);
        process_->kill();
        process_.reset();
      }
      remote_.reset();
    } catch (...) {  // logging failed: the slot is reset all the same
      process_.reset();
      remote_.reset();
    }
  }

  void start_process() {
    if (launcher_ != nullptr && (!process_ || !process_->alive())) {
      if (process_) log("simulator " + std::to_string(index_) + " (pid " + std::to_string(process_->pid()) + ") exited");
      remote_.reset();
      remove_socket_file();
      if (options_.remote.interrupted && options_.remote.interrupted()) {
        throw engines::Interrupted("interrupted before starting simulator " + std::to_string(index_));
      }
      const bool restart = generation_++ > 0;
      process_ = launcher_->spawn(replace_all(options_.command, "{endpoint}", endpoint_));
      if (restart) ++restarts_;
      log(std::string(restart ? "restarted" : "started") + " simulator " + std::to_string(index_) + " (pid " +
          std::to_string(process_->pid()) + ") on " + endpoint_);
    }
  }

  RemoteSimulator& ensure_ready() {
    start_process();
    if (!remote_) {
      RemoteOptions remote = options_.remote;
      if (process_) remote.peer_alive = [p = process_.get()] { return p->alive(); };
      remote_ = std::make_unique<RemoteSimulator>(endpoint_, remote);
    }
    return *remote_;
  }

  // Only for endpoints we created: a connected simulator's socket file is not ours.
  void remove_socket_file() {
    if (launcher_ != nullptr && endpoint_.rfind("ipc://", 0) == 0) {
      std::error_code ignored;
      fs::remove(endpoint_.substr(6), ignored);
    }
  }

  void log(const std::string& line) {
    if (options_.log) options_.log(line);
  }

  std::size_t index_;
  std::string endpoint_;
  const PoolOptions& options_;
  ProcessLauncher* launcher_;
  std::atomic<std::uint64_t>& restarts_;
  std::mutex mutex_;
  std::unique_ptr<Process> process_;
  std::unique_ptr<RemoteSimulator> remote_;
  std::uint64_t generation_ = 0;
};

}  // namespace

struct SimulatorPool::Impl {
  PoolOptions options;
  std::unique_ptr<ProcessLauncher> launcher;
  fs::path socket_dir;
  std::atomic<std::uint64_t> restarts{0};
  std::vector<std::unique_ptr<Slot>> slots;
};

SimulatorPool::SimulatorPool(PoolOptions options) : impl_(std::make_unique<Impl>()) {
  options.validate();
  impl_->options = std::move(options);
  const PoolOptions& o = impl_->options;
  if (!o.command.empty()) {
    impl_->launcher = std::make_unique<ProcessLauncher>();
    // A fresh private folder (mode 0700, fails rather than reuse an existing path) for the sockets.
    std::string pattern = socket_folder_pattern().string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("cannot create a socket folder in " + fs::temp_directory_path().string() + ": " +
                               std::strerror(errno));
    }
    impl_->socket_dir = pattern;
    for (std::size_t i = 0; i < o.workers; ++i) {
      const std::string endpoint = "ipc://" + (impl_->socket_dir / ("sim-" + std::to_string(i))).string();
      impl_->slots.push_back(std::make_unique<Slot>(i, endpoint, impl_->options, impl_->launcher.get(), impl_->restarts));
    }
  } else {
    for (std::size_t i = 0; i < o.connect.size(); ++i) {
      impl_->slots.push_back(std::make_unique<Slot>(i, o.connect[i], impl_->options, nullptr, impl_->restarts));
    }
  }
}

SimulatorPool::~SimulatorPool() {
  // Every process gets SIGTERM at once and one shared grace period, then SIGKILL: a pool of
  // stopped (SIGSTOP) or stubborn simulators ends in about half a second, not half a second each.
  for (auto& slot : impl_->slots) slot->request_stop();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  for (auto& slot : impl_->slots) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    slot->stop(std::max(left, std::chrono::milliseconds(0)));
  }
  if (!impl_->socket_dir.empty()) {
    std::error_code ignored;
    fs::remove_all(impl_->socket_dir, ignored);
  }
}

void SimulatorPool::start(const std::function<bool()>& interrupted) {
  for (auto& slot : impl_->slots) {
    if (interrupted && interrupted()) return;
    try {
      slot->start();
    } catch (const engines::Interrupted&) {
      return;
    }
  }
}

std::size_t SimulatorPool::size() const { return impl_->slots.size(); }

std::vector<engines::Simulator*> SimulatorPool::simulators() {
  std::vector<engines::Simulator*> out;
  for (auto& slot : impl_->slots) out.push_back(slot.get());
  return out;
}

std::uint64_t SimulatorPool::restarts() const { return impl_->restarts.load(); }

std::vector<int> SimulatorPool::pids() const {
  std::vector<int> out;
  for (auto& slot : impl_->slots) {
    if (int pid = slot->pid(); pid != 0) out.push_back(pid);
  }
  return out;
}

}  // namespace ppx::server
