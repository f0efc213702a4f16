#pragma once
// ppxd's configuration file (TOML). A minimal file:
//
//   [server]
//   listen = "127.0.0.1:8080"
//   data_dir = "/var/lib/ppxd"
//   [models.gum]
//   simulator = "build/bin/gum --serve {endpoint}"
//
// Every error is a ConfigError whose message names the file, line and key ("ppxd.toml:4: server.listen: ...").
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "ppx/server/simulator_pool.h"

namespace ppx::daemon {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ModelConfig {
  std::string name;
  server::PoolOptions pool;  // command + workers, or connect
  // Engine threads per query (each call takes any free simulator); 0: the pool's size, or at
  // least ModelPool::kDefaultGrowableJobSimulators when simulators may register.
  std::size_t job_simulators = 0;
};

struct Limits {
  std::size_t running_jobs = 2;                 // jobs that run at once (they share each model's pool)
  std::size_t queued_jobs = 1000;               // submissions beyond this get 429
  std::size_t body_bytes = 64u << 20;           // largest request body (an uploaded .npy included)
  std::uint64_t traces = 100'000'000;           // largest trace count one query may ask for
  std::size_t connections = 512;                // open HTTP connections
};

struct DaemonConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;                    // 0: an ephemeral port (printed on start-up)
  std::string data_dir;
  std::string token;                            // required when host is not loopback
  std::string registration;                     // ZeroMQ endpoint simulators register on ("" = off)
  std::size_t http_threads = 2;
  Limits limits;
  std::vector<ModelConfig> models;
  void validate() const;                        // throws ConfigError
};

bool is_loopback(const std::string& host);

// Reads and validates a config file; throws ConfigError.
DaemonConfig load_config(const std::string& path);
DaemonConfig parse_config(const std::string& text, const std::string& source_name);

}  // namespace ppx::daemon
