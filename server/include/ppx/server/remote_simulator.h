#pragma once
// RemoteSimulator: the engine side of PPX for one simulator endpoint (a REQ socket).
// Lock-step runs (PPX 1.0) and whole-trace runs (extension, when the simulator advertises it).
//
// Every receive has a deadline. A simulator that misses one, answers Reset, sends garbage or
// breaks the protocol makes run() throw engines::SimulatorFailure; the socket is then closed and
// rebuilt on the next call (the ZeroMQ guide's Lazy Pirate), with a fresh handshake.
// Not thread-safe: one trace at a time (the engine gives each simulator its own thread).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "ppx/engines/simulator.h"

namespace ppx::server {

struct RemoteOptions {
  std::chrono::milliseconds handshake_timeout{30'000};  // simulator start-up included
  std::chrono::milliseconds reply_timeout{60'000};      // longest wait for any one reply
  std::uint64_t max_message_bytes = std::uint64_t{1} << 30;
  bool use_whole_trace = true;  // use RunTraces when the simulator offers it
  // Polled while waiting (every 50 ms): false means the peer is gone and waiting is pointless.
  std::function<bool()> peer_alive;
  void validate() const;
};

class RemoteSimulator final : public engines::Simulator {
 public:
  RemoteSimulator(std::string endpoint, RemoteOptions options);
  ~RemoteSimulator() override;
  RemoteSimulator(const RemoteSimulator&) = delete;
  RemoteSimulator& operator=(const RemoteSimulator&) = delete;

  const std::string& endpoint() const;
  std::string model_name() override;  // handshakes if needed
  Tensor run(Handler& handler) override;
  bool supports_unsteered() override;
  std::vector<TraceRecord> run_unsteered(const engines::UnsteeredRequest& request) override;

  // Drops the connection; the next call reconnects and handshakes.
  void disconnect();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ppx::server
