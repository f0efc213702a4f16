#pragma once
// The registration endpoint: simulators started elsewhere (a Slurm job array, another host) join
// a model's pool. A ZeroMQ REP socket on server.registration takes one JSON request per message,
//   {"model": "gum", "endpoint": "tcp://node17:5555"}
// and answers {"ok": true, "simulators": N} or {"ok": false, "error": "..."}. The simulator then
// serves PPX (1.0 REP) on that endpoint as usual; running jobs use it from their next call.
// {"model": ..., "endpoint": ..., "leave": true} takes it out of the pool again.
// Messages over 64 KiB are refused; the loop polls every 200 ms and stops with stop().
#include <memory>
#include <string>

#include "service.h"

namespace ppx::daemon {

class RegistrationEndpoint {
 public:
  RegistrationEndpoint(InferenceService& service, const std::string& endpoint,
                       std::function<void(const std::string&)> log);  // binds; throws std::runtime_error
  ~RegistrationEndpoint();  // stop()
  void stop();
  // The bound endpoint (with the port chosen when the config said tcp://127.0.0.1:*).
  const std::string& endpoint() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ppx::daemon
