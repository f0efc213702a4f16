// Registration of the toolbox subcommands (prior, addresses, summary, generate).
#include "toolbox.h"

#include <iostream>

#include "arguments.h"

namespace ppx::cli {

void add_variable_options(CLI::App* command, InferOptions& options) {
  command->add_option("--variables", options.variables,
                      "named: named samples, tags and the result; all: unnamed samples too, by address")
      ->check(CLI::IsMember({"named", "all"}))
      ->capture_default_str();
  command->add_option("--repeated", options.repeated,
                      "A name repeated within a trace: instances (NAME.1, NAME.2, ...) or last (its last value)")
      ->check(CLI::IsMember({"instances", "last"}))
      ->capture_default_str();
}

void Toolbox::add_simulator_options(CLI::App* command, server::PoolOptions& pool, Timeouts& timeouts) {
  timeouts.handshake_ms = pool.remote.handshake_timeout.count();
  timeouts.reply_ms = pool.remote.reply_timeout.count();
  auto* simulator = command->add_option("--simulator", pool.command,
                                        "Command that starts one simulator; {endpoint} is replaced by its endpoint");
  auto* connect = command->add_option("--connect", pool.connect, "Endpoint of a running simulator (repeatable)");
  simulator->excludes(connect);
  command->add_option("--handshake-timeout-ms", timeouts.handshake_ms, "Longest wait for a simulator's handshake")
      ->check(CLI::PositiveNumber)->capture_default_str();
  command->add_option("--reply-timeout-ms", timeouts.reply_ms, "Longest wait for any one simulator reply")
      ->check(CLI::PositiveNumber)->capture_default_str();
  add_trace_limits(command, pool.remote);
}

std::optional<int> Toolbox::check_simulator_options(const std::string& command, server::PoolOptions& pool,
                                                    const Timeouts& timeouts) {
  if (pool.command.empty() && pool.connect.empty()) {
    std::cerr << "ppx " << command << ": give --simulator 'COMMAND {endpoint}' or --connect ENDPOINT\n";
    return 2;
  }
  pool.remote.handshake_timeout = std::chrono::milliseconds(timeouts.handshake_ms);
  pool.remote.reply_timeout = std::chrono::milliseconds(timeouts.reply_ms);
  try {
    pool.validate();
  } catch (const std::invalid_argument& e) {
    std::cerr << "ppx " << command << ": " << e.what() << "\n";
    return 2;
  }
  return std::nullopt;
}

Toolbox::Toolbox(CLI::App& app) {
  prior_.engine = "prior";
  prior_command_ = app.add_subcommand("prior", "Sample the prior (every trace weight 1); the same outputs as infer");
  add_simulator_options(prior_command_, prior_.pool, prior_timeouts_);
  prior_command_->add_option("--workers", prior_.pool.workers, "Simulator processes to start")
      ->check(CLI::PositiveNumber)->capture_default_str();
  prior_command_->add_option("--traces", prior_.traces, "Traces to draw")->check(CLI::PositiveNumber)
      ->capture_default_str();
  prior_command_->add_option("--seed", prior_.seed, "Master seed")->capture_default_str();
  prior_command_->add_option("--out", prior_.out, "Folder for posterior.json and samples.csv");
  add_variable_options(prior_command_, prior_);
  prior_command_->add_option("--save-traces", prior_.save_traces, "Write every whole trace to FILE (docs/trace-files.md)");
  prior_command_->add_flag("--json", prior_.json, "Print posterior.json to stdout instead of the summary table");
  prior_command_->add_flag("-q,--quiet", prior_.quiet, "No progress line");
  prior_command_->add_option("--batch", prior_.batch, "Traces per whole-trace request")->check(CLI::PositiveNumber)
      ->capture_default_str();
  prior_command_->add_flag("!--no-whole-trace", prior_.whole_trace, "Always run lock-step (one round trip per choice)");

  addresses_command_ = app.add_subcommand(
      "addresses", "The address dictionary of a simulator: every address, its distribution, name, frequency, and the trace types");
  add_simulator_options(addresses_command_, addresses_.pool, addresses_timeouts_);
  addresses_command_->add_option("--traces", addresses_.traces, "Prior traces to run")->check(CLI::PositiveNumber)
      ->capture_default_str();
  addresses_command_->add_option("--seed", addresses_.seed, "Master seed")->capture_default_str();
  addresses_command_->add_flag("--json", addresses_.json, "Print the dictionary as JSON instead of tables");
  addresses_command_->add_option("--out", addresses_.out, "Also write the JSON to FILE");
  addresses_command_->add_option("--top", addresses_.top_trace_types, "Trace types shown in the table")
      ->capture_default_str();

  summary_command_ = app.add_subcommand(
      "summary", "Summary and diagnostics from saved results (folders, samples.csv files, trace files), runs merged");
  summary_command_->add_option("inputs", summary_.inputs, "Result folders (samples.csv), CSV files or trace files")
      ->required();
  summary_command_->add_option("--resample", summary_.resample,
                               "IS: systematic resampling to N equally weighted draws (written with --out)");
  summary_command_->add_option("--seed", summary_.seed, "Seed for --resample")->capture_default_str();
  summary_command_->add_flag("--json", summary_.json, "Print posterior.json to stdout instead of the summary table");
  summary_command_->add_option("--out", summary_.out, "Folder for the merged posterior.json and samples.csv");

  generate_command_ = app.add_subcommand(
      "generate", "Synthetic data: one forward run with observations drawn from their likelihoods, written with the truth");
  add_simulator_options(generate_command_, generate_.pool, generate_timeouts_);
  generate_command_->add_option("--seed", generate_.seed, "Seed of the run")->capture_default_str();
  generate_command_->add_option("--out", generate_.out, "Folder for <observation>.npy, observations.json, truth.json")
      ->required();
}

std::optional<int> Toolbox::run_parsed(const std::vector<std::string>& command_line) {
  if (prior_command_->parsed()) {
    if (auto code = check_simulator_options("prior", prior_.pool, prior_timeouts_)) return code;
    return run_infer(prior_, command_line);
  }
  if (addresses_command_->parsed()) {
    if (auto code = check_simulator_options("addresses", addresses_.pool, addresses_timeouts_)) return code;
    return run_addresses(addresses_, command_line);
  }
  if (summary_command_->parsed()) return run_summary(summary_, command_line);
  if (generate_command_->parsed()) {
    generate_.pool.workers = 1;
    if (generate_.pool.connect.size() > 1) generate_.pool.connect.resize(1);
    if (auto code = check_simulator_options("generate", generate_.pool, generate_timeouts_)) return code;
    return run_generate(generate_, command_line);
  }
  return std::nullopt;
}

}  // namespace ppx::cli
