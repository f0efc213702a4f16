#pragma once
// A minimal PPL-side protocol peer for tests: a REQ socket that sends one message and waits (with
// a deadline) for the reply. Deliberately independent of server/ so client tests stand alone.
#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include <unistd.h>
#include <zmq.hpp>

#include "ppx/ppx.h"
#include "ppx/protocol/codec.h"
#include <mutex>

namespace ppx::test {

inline std::string unique_ipc_endpoint(const std::string& tag) {
  static std::atomic<int> counter{0};
  return "ipc:///tmp/ppx-test-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

class PplPeer {
 public:
  explicit PplPeer(const std::string& endpoint) : socket_(context_, zmq::socket_type::req) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect(endpoint);
  }
  void send_bytes(const void* data, std::size_t size) { socket_.send(zmq::buffer(data, size), zmq::send_flags::none); }
  // Several frames as one ZeroMQ message (PPX messages are single-part: hostile input).
  void send_parts(const std::vector<std::vector<std::uint8_t>>& parts) {
    for (std::size_t i = 0; i < parts.size(); ++i) {
      socket_.send(zmq::buffer(parts[i]), i + 1 < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }
  void send(const protocol::Message& message) {
    const auto bytes = protocol::encode(message);
    send_bytes(bytes.data(), bytes.size());
  }
  // The reply, or nullopt after `timeout`.
  std::optional<protocol::Message> receive(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) == 0) return std::nullopt;
    zmq::message_t raw;
    if (!socket_.recv(raw)) return std::nullopt;
    return protocol::decode({static_cast<const std::uint8_t*>(raw.data()), raw.size()});
  }
  protocol::Message request(const protocol::Message& message) {
    send(message);
    auto reply = receive();
    if (!reply) throw std::runtime_error("no reply within the deadline");
    return *reply;
  }

 private:
  zmq::context_t context_{1};
  zmq::socket_t socket_;
};

// Serves `model` on a background thread for the lifetime of this object.
class BackgroundServer {
 public:
  BackgroundServer(const Model& model, std::string endpoint, std::chrono::milliseconds timeout = {},
                   std::uint64_t max_message_bytes = std::uint64_t{1} << 30)
      : endpoint_(std::move(endpoint)) {
    ServeOptions options;
    options.max_message_bytes = max_message_bytes;
    options.endpoint = endpoint_;
    options.handle_signals = false;
    options.stop = &stop_;
    options.receive_timeout = timeout;
    options.log = [this](LogLevel, std::string_view line) {
      std::lock_guard lock(mutex_);
      log_ += std::string(line) + "\n";
    };
    thread_ = std::thread([this, &model, options] { result_ = model.serve(options); });
  }
  ~BackgroundServer() { stop(); }
  const ServeResult& stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return result_;
  }
  std::string log() {
    std::lock_guard lock(mutex_);
    return log_;
  }
  const std::string& endpoint() const { return endpoint_; }

 private:
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::string log_;
  ServeResult result_;
  std::thread thread_;
};

}  // namespace ppx::test
