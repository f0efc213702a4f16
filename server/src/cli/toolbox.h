#pragma once
// The posterior toolbox: `ppx prior`, `ppx addresses`, `ppx summary`, `ppx generate`.
// Each subcommand is a run_* function over an options struct (one file each); register_toolbox
// adds them to the command line and run_toolbox runs whichever was parsed.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "infer.h"
#include "ppx/server/simulator_pool.h"
#include "ppx/server/trace_file.h"

namespace ppx::cli {

// --variables named|all and --repeated instances|last (`ppx infer`, `ppx prior`).
void add_variable_options(CLI::App* command, InferOptions& options);

// `ppx addresses`: the address dictionary of a simulator from N prior traces.
struct AddressesOptions {
  server::PoolOptions pool;
  std::uint64_t traces = 100;
  std::uint64_t seed = 0;
  bool json = false;      // print JSON instead of the table
  std::string out;        // also write the JSON here ("" = no file)
  std::size_t top_trace_types = 10;  // trace types shown in the table (JSON has all)
};
int run_addresses(const AddressesOptions& options, const std::vector<std::string>& command_line);

// `ppx summary PATH...`: summary and diagnostics recomputed from saved outputs, runs merged.
struct SummaryOptions {
  std::vector<std::string> inputs;  // result folders (samples.csv [+ posterior.json]), samples CSVs, trace files
  std::uint64_t resample = 0;       // IS: systematic resampling to this many equally weighted draws
  std::uint64_t seed = 0;           // for resampling
  bool json = false;
  std::string out;                  // write posterior.json and samples.csv here
};
int run_summary(const SummaryOptions& options, const std::vector<std::string>& command_line);

// `ppx generate`: one forward run with observations drawn from their likelihoods: synthetic data.
struct GenerateOptions {
  server::PoolOptions pool;  // one simulator is used
  std::uint64_t seed = 0;
  std::string out;           // folder for <name>.npy, observations.json, truth.json
};
int run_generate(const GenerateOptions& options, const std::vector<std::string>& command_line);

// --save-traces for `ppx infer` / `ppx prior`: a trace file with the run's provenance in its
// header. The sink is handed to the engine (trace i is draw i); finish() closes the file, so an
// interrupted run keeps what it wrote; a run that fails removes it.
class TraceSaver {
 public:
  TraceSaver(const std::string& path, nlohmann::json header) : writer_(path, std::move(header)) {}
  std::function<void(const engines::Trace&)> sink() {
    return [this](const engines::Trace& trace) { writer_.write(trace, 0, next_draw_++); };
  }
  void finish() { writer_.close(); }

 private:
  server::TraceFileWriter writer_;
  std::uint64_t next_draw_ = 0;
};

// Adds the toolbox subcommands to `app` (`prior` fills `prior_options`, run by run_infer).
class Toolbox {
 public:
  explicit Toolbox(CLI::App& app);
  // The exit code of the toolbox subcommand that was parsed, or nullopt if none was.
  std::optional<int> run_parsed(const std::vector<std::string>& command_line);

 private:
  struct Timeouts {
    long handshake_ms = 0;
    long reply_ms = 0;
  };
  static void add_simulator_options(CLI::App* command, server::PoolOptions& pool, Timeouts& timeouts);
  static std::optional<int> check_simulator_options(const std::string& command, server::PoolOptions& pool,
                                                    const Timeouts& timeouts);
  InferOptions prior_;
  AddressesOptions addresses_;
  SummaryOptions summary_;
  GenerateOptions generate_;
  Timeouts prior_timeouts_, addresses_timeouts_, generate_timeouts_;
  CLI::App* prior_command_ = nullptr;
  CLI::App* addresses_command_ = nullptr;
  CLI::App* summary_command_ = nullptr;
  CLI::App* generate_command_ = nullptr;
};

}  // namespace ppx::cli
