#pragma once
// `ppx infer`: options, and the table of engines it can run.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ppx/engines/engine.h"
#include "ppx/engines/weighted_traces.h"
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
  bool quiet = false;                // nothing on stderr but errors
  std::vector<std::string> given;    // engine-specific options given on the command line
  // What gets columns: --variables named|all (all: unnamed samples too, by address) and
  // --repeated instances|last (a name repeated within a trace: NAME.1, NAME.2, ... or NAME = last).
  std::string variables = "named";
  std::string repeated = "instances";
  engines::Tabulation tabulation() const;  // throws std::invalid_argument for other values
  // IS
  std::uint32_t batch = 64;
  bool whole_trace = true;
  // MCMC
  std::uint32_t chains = 0;          // 0 = one per simulator
  std::uint64_t burn_in = 0;
  std::uint64_t thin = 1;
  std::string init = "prior";
  // --save-traces FILE: whole traces in a trace file (IS and prior)
  std::string save_traces;
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
  std::function<void(const engines::Trace&)> trace_sink;  // --save-traces (empty: none)
};

// An engine's result: the posterior plus what goes into the report.
struct EngineOutcome {
  engines::WeightedTraces posterior;
  nlohmann::json options = nlohmann::json::object();
  nlohmann::json diagnostics = nlohmann::json::object();
  std::map<std::string, std::map<std::string, double>> variable_diagnostics;
  std::map<std::string, std::string> variable_notes;  // why a diagnostic is missing or suspect
  std::vector<std::string> warnings;
  std::string failure;  // non-empty: the run produced no usable posterior (exit 1, files written)
  bool chains = false;
};

// One engine. `validate` runs before any simulator starts and throws std::invalid_argument for a
// usage error (bad option values, an unreadable --init file); `run` does the inference.
struct EngineEntry {
  std::string name;
  std::string description;
  std::vector<std::string> options;  // the engine-specific options it accepts ("--chains", ...)
  std::function<void(const InferOptions&, std::size_t simulators)> validate;
  std::function<EngineOutcome(const InferContext&)> run;
};

// The engines `--engine` accepts (one entry per engine; see engines_table.cpp).
const std::vector<EngineEntry>& engine_table();
// True for an option some engine accepts and others may not (any entry's `options`).
bool is_engine_option(const std::string& name);

int run_infer(const InferOptions& options, const std::vector<std::string>& command_line);

}  // namespace ppx::cli
