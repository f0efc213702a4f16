#pragma once
// `ppx infer`: options, and the table of engines it can run.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ppx/engines/engine.h"
#include "ppx/server/report.h"
#include "ppx/server/simulator_pool.h"

namespace ppx::cli {

struct InferOptions {
  std::string engine = "is";
  std::uint64_t traces = 1000;       // IS: traces; MCMC: draws kept per chain
  std::uint64_t seed = 0;
  std::vector<std::string> observe;  // NAME=VALUE specs
  std::string out;                   // result folder ("" = none)
  bool json = false;                 // print posterior.json instead of the table
  bool quiet = false;                // no progress line
  // IS
  std::uint32_t batch = 64;
  bool whole_trace = true;
  // MCMC
  std::uint32_t chains = 0;          // 0 = one per simulator
  std::uint64_t burn_in = 0;
  std::uint64_t thin = 1;
  std::string init = "prior";
  // IC (inference compilation; built with LibTorch)
  std::string network;               // folder written by `ppx train`
  unsigned threads = 0;              // LibTorch threads (0 = all cores)
  // Pool
  server::PoolOptions pool;
};

// Everything an engine needs for one run.
struct InferContext {
  const InferOptions& options;
  engines::Simulators simulators;
  const engines::Observations& observations;
  const engines::EngineCallbacks& callbacks;
};

// An engine's result: the posterior plus what goes into the report.
struct EngineOutcome {
  engines::WeightedTraces posterior;
  nlohmann::json options = nlohmann::json::object();
  nlohmann::json diagnostics = nlohmann::json::object();
  std::map<std::string, std::map<std::string, double>> variable_diagnostics;
  std::vector<std::string> warnings;
  bool chains = false;
};

struct EngineEntry {
  std::string name;
  std::string description;
  std::function<EngineOutcome(const InferContext&)> run;
};

// The engines `--engine` accepts (one entry per engine; see engines_table.cpp).
const std::vector<EngineEntry>& engine_table();

int run_infer(const InferOptions& options, const std::vector<std::string>& command_line);

}  // namespace ppx::cli
