// bench_is (issue 3): importance-sampling traces per second on the gum reference model
//   remote lock-step (PPX 1.0)      with 1 and 2 simulator processes,
//   remote whole-trace runs (K=64)  with 1 and 2 simulator processes,
//   in-process (the gum forward linked into this program),
// next to the raw ZeroMQ round-trip rate to an echo process, measured in the same run. A lock-step
// gum trace is 4 round trips (Run->Sample, SampleResult->Observe, ObserveResult->Observe,
// ObserveResult->RunResult), so lock-step is compared with raw rate / 4.
// The simulators are build/bin/gum, found next to this program.
#include <filesystem>
#include <functional>
#include <memory>
#include <span>

#include "bench_common.h"
#include "ppx/engines/importance_sampling.h"
#include "ppx/protocol/codec.h"
#include "ppx/reference/models.h"
#include "ppx/server/process.h"
#include "ppx/server/simulator_pool.h"

namespace {

namespace fs = std::filesystem;
using namespace ppx::bench;
using ppx::engines::Simulator;

fs::path program_dir() { return fs::read_symlink("/proc/self/exe").parent_path(); }

// One row: an IS configuration, timed by running enough traces for the measurement time.
struct Row {
  std::string label;
  std::function<double(std::uint64_t traces, std::uint64_t seed)> run;  // returns seconds
  double rate_estimate = 0.0;  // traces/s, refined by each measurement
  std::vector<double> rates;   // traces/s, one per repeat
};

// Runs `row` with a trace count sized for `seconds`; the first call warms up (process start,
// handshake) and calibrates.
double measure(Row& row, double seconds, std::uint64_t seed) {
  if (row.rate_estimate == 0.0) {
    (void)row.run(64, seed + 1000);  // warm-up, untimed
    std::uint64_t n = 256;
    while (true) {
      const double t = row.run(n, seed + 2000 + n);
      row.rate_estimate = static_cast<double>(n) / t;
      if (t >= std::min(0.05, seconds / 2) || n >= (std::uint64_t{1} << 30)) break;
      n *= 4;
    }
  }
  const auto traces = std::max<std::uint64_t>(64, static_cast<std::uint64_t>(row.rate_estimate * seconds));
  const double rate = static_cast<double>(traces) / row.run(traces, seed);
  row.rate_estimate = rate;
  return rate;
}

// Importance sampling over `simulators`, timed.
double run_is(std::span<Simulator* const> simulators, bool whole_trace, std::uint64_t traces, std::uint64_t seed) {
  static const ppx::engines::Observations observations{{"obs0", ppx::reference::gum::kDefaultObs0},
                                                        {"obs1", ppx::reference::gum::kDefaultObs1}};
  const auto start = Clock::now();
  const auto posterior = ppx::engines::importance_sampling(
      simulators, observations, {.traces = traces, .seed = seed, .whole_trace = whole_trace, .batch = 64});
  const double elapsed = seconds_since(start);
  if (posterior.size() + posterior.dropped() != traces) throw std::runtime_error("importance sampling lost traces");
  return elapsed;
}

ppx::server::PoolOptions pool_options(const fs::path& gum, bool use_whole_trace) {
  ppx::server::PoolOptions options;
  options.command = gum.string() + " --serve {endpoint}";
  options.workers = 2;
  options.remote.use_whole_trace = use_whole_trace;
  options.log = [](const std::string& line) {
    if (line.find("fail") != std::string::npos || line.find("exited") != std::string::npos) {
      std::cerr << "pool: " << line << '\n';
    }
  };
  return options;
}

int bench(const BenchOptions& options) {
  const fs::path dir = program_dir();
  const fs::path gum = dir / "gum";
  if (!fs::exists(gum)) {
    std::cerr << "bench_is: " << gum.string() << " not found (build the 'gum' target)\n";
    return 1;
  }
  print_machine(options);

  // The raw baseline: an echo in a separate process (this program with --echo-server), like the
  // simulators, and a payload the size of gum's Sample message.
  const std::size_t payload =
      ppx::protocol::encode(ppx::protocol::Sample{"mu", "mu", ppx::Normal(1.0, 2.2360679775), true}).size();
  const SocketDir sockets;
  ppx::server::ProcessLauncher launcher;
  const std::string echo_endpoint = sockets.endpoint("echo");
  auto echo_process = launcher.spawn(fs::read_symlink("/proc/self/exe").string() + " --echo-server " + echo_endpoint);
  EchoClient echo(echo_endpoint, payload);
  echo.round_trip();  // waits for the child to bind

  ppx::server::SimulatorPool lock_pool(pool_options(gum, /*use_whole_trace=*/false));
  ppx::server::SimulatorPool whole_pool(pool_options(gum, /*use_whole_trace=*/true));
  const std::vector<Simulator*> lock_sims = lock_pool.simulators();
  const std::vector<Simulator*> whole_sims = whole_pool.simulators();
  const ppx::reference::ReferenceModel& gum_model = ppx::reference::reference_model("gum");
  ppx::engines::InProcessSimulator in_process("gum", gum_model.forward);
  Simulator* const in_process_sims[] = {&in_process};

  const std::span<Simulator* const> lock_all(lock_sims), whole_all(whole_sims);
  std::vector<Row> rows;
  rows.push_back({"remote lock-step, 1 simulator",
                  [&](std::uint64_t n, std::uint64_t s) { return run_is(lock_all.first(1), false, n, s); }});
  rows.push_back({"remote lock-step, 2 simulators",
                  [&](std::uint64_t n, std::uint64_t s) { return run_is(lock_all, false, n, s); }});
  rows.push_back({"remote whole-trace K=64, 1 simulator",
                  [&](std::uint64_t n, std::uint64_t s) { return run_is(whole_all.first(1), true, n, s); }});
  rows.push_back({"remote whole-trace K=64, 2 simulators",
                  [&](std::uint64_t n, std::uint64_t s) { return run_is(whole_all, true, n, s); }});
  rows.push_back({"in-process, 1 thread",
                  [&](std::uint64_t n, std::uint64_t s) { return run_is(in_process_sims, false, n, s); }});

  std::vector<double> raw;  // round trips per second
  for (int rep = 0; rep < options.repeat; ++rep) {
    raw.push_back(1.0 / seconds_per_op(options.seconds, [&] { echo.round_trip(); }));
    for (auto& row : rows) row.rates.push_back(measure(row, options.seconds, static_cast<std::uint64_t>(rep)));
  }
  echo.quit();

  const double raw_rate = median(raw);
  const double bound = raw_rate / 4.0;
  std::vector<double> rate;
  for (const auto& row : rows) rate.push_back(median(row.rates));

  Table table({"IS on gum (obs0=8, obs1=9)", "traces/s", "us/trace", "ratio", "of", "target"});
  auto add = [&](const std::string& label, double r, double value, const std::string& of, const std::string& target) {
    table.add({label, fmt("%.0f", r), fmt("%.2f", 1e6 / r), ratio(value), of, target});
  };
  auto verdict = [](bool met, const std::string& what) { return what + (met ? " met" : " MISSED"); };
  table.add({"raw ZeroMQ ipc round trip, " + std::to_string(payload) + " B (baseline)", fmt("%.0f", raw_rate) + " rt/s",
             fmt("%.2f", 1e6 / raw_rate) + "/rt", "", "", ""});
  add("raw rate / 4 (lock-step gum bound)", bound, 1.0, "raw/4", "");
  add(rows[0].label, rate[0], rate[0] / bound, "raw/4", verdict(rate[0] / bound >= 1 / 1.5, ">= 0.67x"));
  add(rows[1].label, rate[1], rate[1] / bound, "raw/4", "");
  add(rows[2].label, rate[2], rate[2] / rate[0], "lock-step 1", verdict(rate[2] / rate[0] >= 20, ">= 20x"));
  add(rows[3].label, rate[3], rate[3] / rate[1], "lock-step 2", verdict(rate[3] / rate[1] >= 20, ">= 20x"));
  add(rows[4].label, rate[4], rate[4] / rate[2], "whole-trace 1", verdict(rate[4] / rate[2] >= 10, ">= 10x"));
  table.print();
  std::cout << "2-simulator scaling: lock-step " << ratio(rate[1] / rate[0]) << ", whole-trace "
            << ratio(rate[3] / rate[2]) << " (this machine has " << std::thread::hardware_concurrency()
            << " cores; the engine and ZeroMQ threads share them)\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  BenchOptions options;
  int exit_code = 0;
  if (!options.parse(argc, argv,
                     "bench_is: importance-sampling traces/s on gum, remote (lock-step, whole-trace) and in-process,\n"
                     "against the raw ZeroMQ round-trip rate measured in the same run",
                     exit_code)) {
    return exit_code;
  }
  try {
    if (!options.echo_server.empty()) {
      serve_echo(options.echo_server, std::chrono::seconds(120));
      return 0;
    }
    return bench(options);
  } catch (const std::exception& e) {
    std::cerr << "bench_is: " << e.what() << '\n';
    return 1;
  }
}
