#pragma once
// InferenceService: the daemon's in-process API. The HTTP front end, the tests and (through HTTP)
// the `ppx` client use only this. It owns the model pools (alive as long as the service), the job
// table, the runners (limits.running_jobs threads) and the result store.
//
// Every method is thread-safe and quick (none waits for a job); errors are ServiceError.
// Jobs' JSON: {"id", "seq", "model", "engine", "state", "query", "progress": {...}, "error",
// "warnings", "summary" (variables and diagnostics once there is a result), "created", "started",
// "ended", "has_result"}.
// On construction, jobs the store knows are loaded: running ones become interrupted (the daemon
// died under them), queued ones are queued again.
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "config.h"
#include "jobs/job_state.h"
#include "service_error.h"

namespace ppx::daemon {

struct ResultFile {
  std::string content_type;
  std::string body;
  std::string filename;
};

class InferenceService {
 public:
  explicit InferenceService(const DaemonConfig& config, std::function<void(const std::string&)> log = {});
  ~InferenceService();  // stop()
  InferenceService(const InferenceService&) = delete;
  InferenceService& operator=(const InferenceService&) = delete;

  nlohmann::json submit(const nlohmann::json& query);
  nlohmann::json status(const std::string& id) const;
  // Bumped on every change of the job (for event streams); throws NotFound.
  std::uint64_t version(const std::string& id) const;
  nlohmann::json list(std::optional<JobState> state = std::nullopt) const;
  nlohmann::json cancel(const std::string& id);
  nlohmann::json requeue(const std::string& id);
  // format: json (posterior.json), csv (samples.csv), netcdf (posterior.nc).
  ResultFile results(const std::string& id, const std::string& format) const;
  nlohmann::json models() const;
  std::string upload_observation(const std::string& npy_bytes);
  // Adds a running simulator to a model's pool (the registration endpoint calls this).
  nlohmann::json register_simulator(const std::string& model, const std::string& endpoint);
  // A registered simulator leaves its model's pool (at once when idle, else after its call).
  nlohmann::json deregister_simulator(const std::string& model, const std::string& endpoint);
  std::string metrics() const;  // Prometheus text
  // Interrupts running jobs (they keep what they had, state interrupted) and stops the runners.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ppx::daemon
