#pragma once
// RemoteSimulator: the engine side of PPX for one simulator endpoint (a REQ socket).
// Lock-step runs (PPX 1.0) and whole-trace runs (extension, when the simulator advertises it).
//
// Every receive has a deadline. A simulator that misses one, answers Reset, sends garbage or
// breaks the protocol (multipart or oversized messages included) makes run() throw
// engines::SimulatorFailure naming the endpoint, as does a message the handler finds breaking the
// model's contract; the socket is then closed and rebuilt on the next call (the ZeroMQ guide's
// Lazy Pirate), with a fresh handshake. Every wait also ends on options.interrupted.
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
  // Whole-trace batches wait one reply_timeout per 8 traces, but never longer than this (nor less
  // than reply_timeout).
  std::chrono::milliseconds max_batch_timeout{600'000};
  // Optional per-trace limits (0 = none): a trace that runs longer, or sends more entries
  // (samples + observes + tags), is the simulator's failure. A real rejection loop can make 10^5
  // draws; a trace that exceeds the limit with its own seed exceeds it everywhere, so the run
  // then ends with that reason once every simulator has failed on it.
  std::chrono::milliseconds max_trace_time{0};
  std::uint64_t max_trace_entries = 0;
  std::uint64_t max_message_bytes = std::uint64_t{1} << 30;
  bool use_whole_trace = true;  // use RunTraces when the simulator offers it
  // Polled while waiting (every 50 ms): false means the peer is gone and waiting is pointless.
  std::function<bool()> peer_alive;
  // Polled while waiting (every 50 ms): true ends the wait with engines::Interrupted (SIGINT).
  std::function<bool()> interrupted;
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
