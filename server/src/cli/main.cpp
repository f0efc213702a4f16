// ppx: the command line of ppxd.
//   ppx infer --simulator 'build/bin/gum --serve {endpoint}' --workers 2 --engine is
//             --traces 20000 --observe obs0=8 --observe obs1=9 --seed 1 --out DIR
// Exit codes: 0 done, 1 runtime failure, 2 usage error, 130 interrupted (partial result written).
#include <CLI/CLI.hpp>
#include <iostream>
#include <malloc.h>

#include "client.h"
#include "infer.h"

int main(int argc, char** argv) {
  // Traces carry tensors of hundreds of KB (a calorimeter); glibc's defaults would return them to
  // the kernel after every trace and page-fault them back in for the next one.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  CLI::App app("ppx: Bayesian inference over instrumented simulators (PPX protocol)");
  app.require_subcommand(1);
  app.set_version_flag("--version", ppx::server::ppxd_version() + " (" + ppx::server::ppxd_git_revision() + ")");

  ppx::cli::InferOptions o;
  long handshake_ms = o.pool.remote.handshake_timeout.count();
  long reply_ms = o.pool.remote.reply_timeout.count();
  std::string engines_help = "Inference engine:";
  for (const auto& e : ppx::cli::engine_table()) engines_help += " " + e.name + " (" + e.description + ")";

  CLI::App* infer = app.add_subcommand("infer", "Run inference and print/write the posterior");
  auto* simulator = infer->add_option("--simulator", o.pool.command,
                                      "Command that starts one simulator; {endpoint} is replaced by its endpoint");
  infer->add_option("--workers", o.pool.workers, "Simulator processes to start")->check(CLI::PositiveNumber)
      ->capture_default_str();
  auto* connect = infer->add_option("--connect", o.pool.connect, "Endpoint of a running simulator (repeatable)");
  simulator->excludes(connect);
  infer->add_option("--engine", o.engine, engines_help)->capture_default_str();
  infer->add_option("--traces", o.traces, "Traces (IS) or draws per chain after burn-in and thinning (MCMC)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  infer->add_option("--observe", o.observe, "Observation NAME=VALUE, NAME=@FILE.json or NAME=@FILE.npy (repeatable)");
  infer->add_option("--seed", o.seed, "Master seed")->capture_default_str();
  infer->add_option("--out", o.out, "Folder for posterior.json and samples.csv");
  infer->add_flag("--json", o.json, "Print posterior.json to stdout instead of the summary table");
  infer->add_flag("-q,--quiet", o.quiet, "No progress line");
  infer->add_option("--batch", o.batch, "IS: traces per whole-trace request")->check(CLI::PositiveNumber)
      ->capture_default_str();
  infer->add_flag("!--no-whole-trace", o.whole_trace, "IS: always run lock-step (one round trip per choice)");
  infer->add_option("--chains", o.chains, "MCMC: chains (default: one per simulator)");
  infer->add_option("--burn-in", o.burn_in, "MCMC: iterations discarded per chain")->capture_default_str();
  infer->add_option("--thin", o.thin, "MCMC: keep every THIN-th iteration")->check(CLI::PositiveNumber)
      ->capture_default_str();
  infer->add_option("--init", o.init, "MCMC: initial state, 'prior' or @trace.json")->capture_default_str();
  infer->add_option("--handshake-timeout-ms", handshake_ms, "Longest wait for a simulator to answer its handshake")
      ->check(CLI::PositiveNumber)->capture_default_str();
  infer->add_option("--reply-timeout-ms", reply_ms, "Longest wait for any one simulator reply")
      ->check(CLI::PositiveNumber)->capture_default_str();

  const auto run_client = ppx::cli::add_client_commands(app);  // submit|status|wait|results|cancel|list

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "ppx: " << e.what() << " (see ppx --help)\n";
    return 2;
  }
  if (const auto code = run_client()) return *code;
  if (infer->parsed()) {
    if (o.pool.command.empty() && o.pool.connect.empty()) {
      std::cerr << "ppx infer: give --simulator 'COMMAND {endpoint}' or --connect ENDPOINT\n";
      return 2;
    }
    o.pool.remote.handshake_timeout = std::chrono::milliseconds(handshake_ms);
    o.pool.remote.reply_timeout = std::chrono::milliseconds(reply_ms);
    return ppx::cli::run_infer(o, std::vector<std::string>(argv, argv + argc));
  }
  return 2;
}
