#include "infer.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <fmt/format.h>
#include <iostream>
#include <unistd.h>

#include "ppx/server/observations.h"

namespace ppx::cli {
namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_interrupt(int) { g_interrupted.store(true); }

// The progress line on stderr: redrawn in place on a terminal, an occasional line otherwise.
class ProgressLine {
 public:
  explicit ProgressLine(bool quiet) : quiet_(quiet), terminal_(::isatty(STDERR_FILENO) != 0) {}
  void update(const engines::Progress& p) {
    if (quiet_) return;
    const auto now = std::chrono::steady_clock::now();
    const bool last = p.done >= p.total;
    if (!terminal_ && !last && now - last_line_ < std::chrono::seconds(5)) return;
    last_line_ = now;
    const double rate = p.elapsed_seconds > 0 ? static_cast<double>(p.done) / p.elapsed_seconds : 0.0;
    const double eta = rate > 0 ? static_cast<double>(p.total - p.done) / rate : 0.0;
    std::string line = fmt::format("{}/{} traces  {:.0f} traces/s  ESS {:.1f}  ETA {:.0f}s", p.done, p.total, rate,
                                   p.ess, eta);
    if (p.failures > 0) line += fmt::format("  ({} re-run after simulator failures)", p.failures);
    if (terminal_) {
      std::cerr << "\r\033[K" << line << (last ? "\n" : "") << std::flush;
    } else {
      std::cerr << line << "\n";
    }
  }
  // A log line must not be glued to a half-drawn progress line.
  void log(const std::string& line) {
    if (terminal_ && !quiet_) std::cerr << "\r\033[K";
    std::cerr << "ppx: " << line << "\n";
  }

 private:
  bool quiet_;
  bool terminal_;
  std::chrono::steady_clock::time_point last_line_{};
};

const EngineEntry* find_engine(const std::string& name) {
  for (const EngineEntry& e : engine_table()) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

nlohmann::json pool_json(const server::PoolOptions& pool) {
  nlohmann::json j = {{"handshake_timeout_ms", pool.remote.handshake_timeout.count()},
                      {"reply_timeout_ms", pool.remote.reply_timeout.count()}};
  if (!pool.command.empty()) {
    j["command"] = pool.command;
    j["workers"] = pool.workers;
  } else {
    j["connect"] = pool.connect;
  }
  return j;
}

}  // namespace

int run_infer(const InferOptions& options, const std::vector<std::string>& command_line) {
  // Usage errors (exit 2) are found before anything starts.
  const EngineEntry* engine = find_engine(options.engine);
  if (engine == nullptr) {
    std::string known;
    for (const EngineEntry& e : engine_table()) known += (known.empty() ? "" : ", ") + e.name;
    std::cerr << "ppx infer: unknown engine '" << options.engine << "' (known: " << known << ")\n";
    return 2;
  }
  engines::Observations observations;
  std::vector<server::ObservationSource> sources;
  try {
    for (const std::string& spec : options.observe) sources.push_back(server::parse_observation(spec, observations));
    options.pool.validate();
  } catch (const std::invalid_argument& e) {
    std::cerr << "ppx infer: " << e.what() << "\n";
    return 2;
  }

  ProgressLine progress(options.quiet);
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  try {
    server::PoolOptions pool_options = options.pool;
    pool_options.log = [&](const std::string& line) { progress.log(line); };
    // SIGINT/SIGTERM cut every wait on a simulator short (start-up, handshake, any reply).
    pool_options.remote.interrupted = [] { return g_interrupted.load(); };
    server::SimulatorPool pool(pool_options);
    pool.start(pool_options.remote.interrupted);  // all at once: start-up takes as long as the slowest
    const std::vector<engines::Simulator*> simulators = pool.simulators();
    engines::EngineCallbacks callbacks{
        .progress = [&](const engines::Progress& p) { progress.update(p); },
        .interrupted = [] { return g_interrupted.load(); },
        .log = [&](const std::string& line) { progress.log(line); }};

    // The model's own name from the first simulator that answers its handshake (which the engine
    // needs anyway); asked before the run so a simulator that failed is not restarted for it.
    std::string model_name;
    for (engines::Simulator* s : simulators) {
      try {
        model_name = s->model_name();
        break;
      } catch (const engines::SimulatorFailure& e) {
        progress.log(std::string("simulator did not answer its handshake: ") + e.what());
      } catch (const engines::Interrupted&) {
        break;  // the engine sees the interrupt too and returns an empty, interrupted result
      }
    }
    const auto start = std::chrono::steady_clock::now();
    EngineOutcome outcome = engine->run(InferContext{options, simulators, observations, callbacks});
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    server::InferenceReport report;
    report.posterior = &outcome.posterior;
    report.provenance.command_line = command_line;
    report.provenance.engine = engine->name;
    report.provenance.options = outcome.options;
    report.provenance.options["pool"] = pool_json(options.pool);
    report.provenance.observations = sources;
    report.provenance.observed = &observations;
    report.provenance.model_name = model_name;
    report.diagnostics = outcome.diagnostics;
    report.diagnostics["elapsed_seconds"] = elapsed;
    if (!outcome.chains) {  // MCMC reports its own rate (iterations, burn-in included)
      report.diagnostics["traces_per_second"] = elapsed > 0 ? static_cast<double>(outcome.posterior.size()) / elapsed : 0.0;
    }
    report.diagnostics["simulator_restarts"] = pool.restarts();
    report.variable_diagnostics = outcome.variable_diagnostics;
    report.warnings = outcome.warnings;
    report.interrupted = g_interrupted.load();
    report.chains = outcome.chains;

    if (!options.out.empty()) server::write_report(options.out, report);
    std::cout << (options.json ? server::posterior_json(report).dump(2) + "\n" : server::summary_text(report));
    std::cout.flush();
    return report.interrupted ? 130 : 0;
  } catch (const std::exception& e) {
    progress.log(std::string("error: ") + e.what());
    return 1;
  }
}

}  // namespace ppx::cli
