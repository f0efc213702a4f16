#pragma once
// HttpServer: Boost.Beast over Asio coroutines, `threads` threads. Carries bytes to and from
// Routes; every read and write has a deadline; bodies beyond limits.body_bytes get 413 and
// connections beyond limits.connections are closed at once. Server-Sent Events are served here:
// a progress event whenever the job changes (checked every 100 ms), a comment every 15 s to keep
// proxies from closing the stream, then a final "end" event when the job reaches a final state.
#include <cstdint>
#include <memory>

#include "config.h"
#include "service.h"

namespace ppx::daemon {

class HttpServer {
 public:
  HttpServer(InferenceService& service, const DaemonConfig& config);
  ~HttpServer();  // stop()
  // Binds and starts serving; returns the port (useful with port 0). Throws std::runtime_error.
  std::uint16_t start();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ppx::daemon
