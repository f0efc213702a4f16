#include "infer.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <fmt/format.h>
#include <iostream>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/ranges.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ppx/server/observations.h"
#include "ppx/server/query_check.h"
#include "toolbox.h"

namespace ppx::cli {
namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_interrupt(int) { g_interrupted.store(true); }

// The progress line on stderr: redrawn in place on a terminal, an occasional line otherwise.
// Quiet: nothing but errors.
class ProgressLine {
 public:
  explicit ProgressLine(bool quiet) : quiet_(quiet), terminal_(::isatty(STDERR_FILENO) != 0) {}
  void update(const engines::Progress& p) {
    if (quiet_) return;
    const auto now = std::chrono::steady_clock::now();
    const bool last = p.done >= p.total;
    if (!terminal_ && !last && now - last_line_ < std::chrono::seconds(5)) return;
    last_line_ = now;
    // Rate and ETA from the first report on, so that start-up (handshakes) does not inflate the
    // ETA; no ETA in the first second.
    if (first_seconds_ < 0) {
      first_seconds_ = p.elapsed_seconds;
      first_done_ = p.done;
    }
    const double span = p.elapsed_seconds - first_seconds_;
    const double rate = span > 0 ? static_cast<double>(p.done - first_done_) / span : 0.0;
    const bool mcmc = p.acceptance >= 0.0;
    std::string line = fmt::format("{}/{} {}  {:.0f}/s", p.done, p.total, mcmc ? "iterations" : "traces", rate);
    line += mcmc ? fmt::format("  acceptance {:.3f}", p.acceptance) : fmt::format("  ESS {:.1f}", p.ess);
    if (last) {
      line += fmt::format("  {:.1f}s", p.elapsed_seconds);
    } else if (span >= 1.0 && rate > 0) {
      line += fmt::format("  ETA {:.0f}s", static_cast<double>(p.total - p.done) / rate);
    }
    if (p.failures > 0) line += fmt::format("  ({} re-run after simulator failures)", p.failures);
    if (terminal_) {
      std::cerr << "\r\033[K" << line << (last ? "\n" : "") << std::flush;
    } else {
      std::cerr << line << "\n";
    }
  }
  // A log line must not be glued to a half-drawn progress line.
  void log(const std::string& line) {
    if (quiet_) return;
    error(line);
  }
  void error(const std::string& line) {
    if (terminal_ && !quiet_) std::cerr << "\r\033[K";
    std::cerr << "ppx: " << line << "\n";
  }

 private:
  bool quiet_;
  bool terminal_;
  std::chrono::steady_clock::time_point last_line_{};
  double first_seconds_ = -1.0;
  std::uint64_t first_done_ = 0;
};

// Prior traces run to check the query against the model (query_check.h): 5, and up to 100 when
// an observed name is missing from a model that branches.
constexpr std::uint64_t kQueryCheckTraces = 5;

// Why nothing can answer at `endpoint` right now (empty when something may): an ipc:// path that
// is not a socket, a host that does not resolve, a refused tcp connection (within 2 s).
std::string endpoint_unreachable(const std::string& endpoint) {
  if (endpoint.starts_with("ipc://")) {
    const std::string path = endpoint.substr(6);
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) {
      return "--connect " + endpoint + ": no socket at '" + path + "' (" + std::strerror(errno) + ")";
    }
    if (!S_ISSOCK(info.st_mode)) return "--connect " + endpoint + ": '" + path + "' is not a socket";
    return {};
  }
  const std::string rest = endpoint.substr(6);
  const auto colon = rest.rfind(':');
  std::string host = rest.substr(0, colon);
  const std::string port = rest.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return "--connect " + endpoint + ": cannot resolve '" + host + "': " + ::gai_strerror(rc);
  }
  std::string why = "--connect " + endpoint + ": connection refused (no simulator listens there)";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{.fd = fd, .events = POLLOUT, .revents = 0};
      if (::poll(&p, 1, 2000) == 1) {
        int error = 0;
        socklen_t length = sizeof error;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
        rc = error == 0 ? 0 : -1;
        errno = error;
      } else {
        rc = 0;  // no answer yet: maybe slow; the handshake deadline decides
      }
    }
    const int saved = errno;
    ::close(fd);
    if (rc == 0 || saved != ECONNREFUSED) {
      why.clear();
      break;
    }
  }
  ::freeaddrinfo(found);
  return why;
}

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
  // Usage errors (exit 2) are all found before any simulator starts.
  const auto usage_error = [](const std::string& what) {
    std::cerr << "ppx infer: " << what << "\n";
    return 2;
  };
  const EngineEntry* engine = find_engine(options.engine);
  if (engine == nullptr) {
    std::string known;
    for (const EngineEntry& e : engine_table()) known += (known.empty() ? "" : ", ") + e.name;
    return usage_error("unknown engine '" + options.engine + "' (known: " + known + ")");
  }
  for (const std::string& given : options.given) {
    if (std::find(engine->options.begin(), engine->options.end(), given) == engine->options.end()) {
      return usage_error(fmt::format("{} does not apply to --engine {} (its options: {})", given, engine->name,
                                     engine->options.empty() ? "none" : fmt::format("{}", fmt::join(engine->options, ", "))));
    }
  }
  engines::Observations observations;
  std::vector<server::ObservationSource> sources;
  try {
    for (const std::string& spec : options.observe) sources.push_back(server::parse_observation(spec, observations));
    options.pool.validate();
    const std::size_t simulators = options.pool.command.empty() ? options.pool.connect.size() : options.pool.workers;
    options.tabulation();
    engine->validate(options, simulators);
    if (!options.out.empty()) server::check_output_folder(options.out);
  } catch (const std::invalid_argument& e) {
    return usage_error(e.what());
  }

  ProgressLine progress(options.quiet);
  // Endpoints that cannot answer are known at once: no handshake deadline to wait out.
  for (const std::string& endpoint : options.pool.connect) {
    if (const std::string why = endpoint_unreachable(endpoint); !why.empty()) {
      progress.error("error: " + why);
      return 1;
    }
  }
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
    // needs anyway), and the query checked against a few of its traces; done before the run so a
    // simulator that failed is not restarted for it.
    std::string model_name;
    std::vector<std::string> query_warnings;
    for (engines::Simulator* s : simulators) {
      try {
        model_name = s->model_name();
        const server::QueryCheck check = server::check_query(*s, observations, kQueryCheckTraces, options.seed);
        if (const std::string error = check.error(); !error.empty()) return usage_error(error);
        query_warnings = check.warnings();
        break;
      } catch (const engines::SimulatorFailure& e) {
        progress.log(std::string("simulator failed before the run: ") + e.what());
      } catch (const engines::Interrupted&) {
        break;  // the engine sees the interrupt too and returns an empty, interrupted result
      }
    }
    for (const std::string& w : query_warnings) progress.log("warning: " + w);
    std::optional<TraceSaver> saver;
    if (!options.save_traces.empty()) {
      saver.emplace(options.save_traces,
                    nlohmann::json{{"ppxd", {{"version", server::ppxd_version()}, {"git_revision", server::ppxd_git_revision()}}},
                                   {"command_line", command_line},
                                   {"engine", engine->name},
                                   {"model_name", model_name},
                                   {"seed", options.seed},
                                   {"observe", options.observe}});
    }
    const auto start = std::chrono::steady_clock::now();
    EngineOutcome outcome = engine->run(
        InferContext{options, simulators, observations, callbacks, saver ? saver->sink() : nullptr});
    if (saver) saver->finish();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    outcome.warnings.insert(outcome.warnings.begin(), query_warnings.begin(), query_warnings.end());

    server::InferenceReport report;
    report.posterior = &outcome.posterior;
    report.provenance.command_line = command_line;
    report.provenance.engine = engine->name;
    report.provenance.options = outcome.options;
    report.provenance.options["pool"] = pool_json(options.pool);
    report.provenance.options["variables"] = options.variables;
    report.provenance.options["repeated"] = options.repeated;
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
    report.variable_notes = outcome.variable_notes;
    report.warnings = outcome.warnings;
    report.failure = outcome.failure;
    report.interrupted = g_interrupted.load();
    report.chains = outcome.chains;

    if (!options.out.empty()) server::write_report(options.out, report);
    std::cout << (options.json ? server::posterior_json(report).dump(2) + "\n" : server::summary_text(report));
    std::cout.flush();
    if (!report.failure.empty()) {
      progress.error("error: " + report.failure);
      return 1;
    }
    return report.interrupted ? 130 : 0;
  } catch (const std::exception& e) {
    progress.error(std::string("error: ") + e.what());
    return 1;
  }
}

}  // namespace ppx::cli
