// ppx: the command line of ppxd.
//   ppx infer --simulator 'build/bin/gum --serve {endpoint}' --workers 2 --engine is
//             --traces 20000 --observe obs0=8 --observe obs1=9 --seed 1 --out DIR
// Exit codes: 0 done, 1 runtime failure, 2 usage error, 130 interrupted (partial result written).
//
// Each subcommand registers itself (one add_<name>_subcommand function) and returns the action
// main runs when it was chosen.
#include <CLI/CLI.hpp>
#include <functional>
#include <iostream>
#include <malloc.h>
#include <optional>

#include "arguments.h"
#include "client.h"
#include "infer.h"
#include "toolbox.h"
#ifdef PPX_HAVE_IC
#include "train.h"
#endif

namespace {

// A subcommand's action: its exit code when it was the one chosen, nothing otherwise.
using Action = std::function<std::optional<int>()>;

Action add_infer_subcommand(CLI::App& app, std::vector<std::string> command_line) {
  auto o = std::make_shared<ppx::cli::InferOptions>();
  auto handshake_ms = std::make_shared<std::uint64_t>(o->pool.remote.handshake_timeout.count());
  auto reply_ms = std::make_shared<std::uint64_t>(o->pool.remote.reply_timeout.count());
  auto lock_step = std::make_shared<bool>(false);
  std::string engines_help = "Inference engine, one of:";
  for (const auto& e : ppx::cli::engine_table()) engines_help += "\n  " + e.name + ": " + e.description;

  using ppx::cli::add_count;
  CLI::App* infer = app.add_subcommand("infer", "Run inference and print/write the posterior");
  auto* simulator = infer->add_option("--simulator", o->pool.command,
                                      "Command that starts one simulator; {endpoint} is replaced by its endpoint");
  add_count(infer, "--workers", o->pool.workers, 1, ppx::cli::kMaxWorkers, "Simulator processes to start");
  auto* connect = infer->add_option("--connect", o->pool.connect, "Endpoint of a running simulator (repeatable)");
  simulator->excludes(connect);
  infer->add_option("--engine", o->engine, engines_help)->capture_default_str();
  add_count(infer, "--traces", o->traces, 1, ppx::cli::kMaxTraces,
            "Traces (IS) or draws per chain after burn-in and thinning (MCMC)");
  infer->add_option("--observe", o->observe, "Observation NAME=VALUE, NAME=@FILE.json or NAME=@FILE.npy (repeatable)");
  add_count(infer, "--seed", o->seed, 0, UINT64_MAX, "Master seed");
  infer->add_option("--out", o->out, "Folder for posterior.json and samples.csv");
  ppx::cli::add_variable_options(infer, *o);
  infer->add_flag("--json", o->json, "Print posterior.json to stdout instead of the summary table");
  infer->add_flag("-q,--quiet", o->quiet, "Nothing on stderr but errors (no progress, log lines or warnings)");
  add_count(infer, "--batch", o->batch, 1, ppx::cli::kMaxBatch, "IS: traces per whole-trace request");
  infer->add_flag("--no-whole-trace", *lock_step, "IS: always run lock-step (one round trip per choice)");
  add_count(infer, "--chains", o->chains, 1, ppx::cli::kMaxChains, "MCMC: chains (default: one per simulator)")
      ->default_str("");
  add_count(infer, "--burn-in", o->burn_in, 0, ppx::cli::kMaxTraces, "MCMC: iterations discarded per chain");
  add_count(infer, "--thin", o->thin, 1, ppx::cli::kMaxThin, "MCMC: keep every THIN-th iteration");
  infer->add_option("--init", o->init, "MCMC: initial state, 'prior' or @trace.json")->capture_default_str();
  infer->add_option("--save-traces", o->save_traces, "IS, IC: write every whole trace to FILE (docs/trace-files.md)");
  infer->add_option("--network", o->network, "IC: network folder written by ppx train");
  add_count(infer, "--threads", o->threads, 0, 4096, "IC: LibTorch threads (0: all cores)");
  add_count(infer, "--handshake-timeout-ms", *handshake_ms, 1, ppx::cli::kMaxTimeoutMs,
            "Longest wait for a simulator to answer its handshake");
  add_count(infer, "--reply-timeout-ms", *reply_ms, 1, ppx::cli::kMaxTimeoutMs,
            "Longest wait for any one simulator reply");
  ppx::cli::add_trace_limits(infer, o->pool.remote);

  return [=]() -> std::optional<int> {
    if (!infer->parsed()) return std::nullopt;
    if (o->pool.command.empty() && o->pool.connect.empty()) {
      std::cerr << "ppx infer: give --simulator 'COMMAND {endpoint}' or --connect ENDPOINT\n";
      return 2;
    }
    // Engine-specific options the user gave: the engine must accept each of them.
    for (const CLI::Option* option : infer->get_options()) {
      const std::string name = option->get_name();
      if (option->count() > 0 && ppx::cli::is_engine_option(name)) o->given.push_back(name);
    }
    o->whole_trace = !*lock_step;
    o->pool.remote.handshake_timeout = std::chrono::milliseconds(*handshake_ms);
    o->pool.remote.reply_timeout = std::chrono::milliseconds(*reply_ms);
    return ppx::cli::run_infer(*o, command_line);
  };
}

}  // namespace

int main(int argc, char** argv) {
  // Traces carry tensors of hundreds of KB (a calorimeter); glibc's defaults would return them to
  // the kernel after every trace and page-fault them back in for the next one.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  CLI::App app("ppx: Bayesian inference over instrumented simulators (PPX protocol)");
  app.require_subcommand(1);
  app.set_version_flag("--version", ppx::server::ppxd_version() + " (" + ppx::server::ppxd_git_revision() + ")");
  const std::vector<std::string> command_line(argv, argv + argc);

  std::vector<Action> actions;
  actions.push_back(add_infer_subcommand(app, command_line));
  ppx::cli::Toolbox toolbox(app);  // prior, addresses, summary, generate
  actions.push_back([&] { return toolbox.run_parsed(command_line); });
  actions.push_back(ppx::cli::add_client_commands(app));  // submit|status|wait|results|cancel|list
#ifdef PPX_HAVE_IC
  CLI::App* train = nullptr;
  const auto run_train = ppx::cli::add_train_command(app, train);
  actions.push_back([&]() -> std::optional<int> {
    if (!train->parsed()) return std::nullopt;
    return run_train(command_line);
  });
#endif

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "ppx: " << e.what() << " (see ppx --help)\n";
    return 2;
  }
  for (const Action& action : actions) {
    if (const std::optional<int> code = action()) return *code;
  }
  return 2;
}
