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
  std::uint64_t seed = 0;
  // One op = one trace; each measurement is one importance_sampling call of n traces.
  auto is_series = [&](std::string label, std::span<Simulator* const> sims, bool whole_trace) {
    Series x;
    x.label = std::move(label);
    x.min_ops = 128;
    x.run = [sims, whole_trace, &seed](std::uint64_t n) { return run_is(sims, whole_trace, n, ++seed); };
    return x;
  };
  Series raw;  // one op = one round trip
  raw.label = "raw ZeroMQ ipc echo (per round trip)";
  raw.run = loop([&] { echo.round_trip(); });
  Series lock_1 = is_series("remote lock-step, 1 simulator", lock_all.first(1), false);
  Series lock_2 = is_series("remote lock-step, 2 simulators", lock_all, false);
  Series whole_1 = is_series("remote whole-trace K=64, 1 simulator", whole_all.first(1), true);
  Series whole_2 = is_series("remote whole-trace K=64, 2 simulators", whole_all, true);
  Series local = is_series("in-process, 1 thread", in_process_sims, false);
  run_rounds({&raw, &lock_1, &lock_2, &whole_1, &whole_2, &local}, options);
  echo.quit();

  // Ratios are of rates (traces/s), paired by round: rate(a)/rate(b) = time(b)/time(a).
  auto speedup = [](const Series& a, const Series& b) { return 1.0 / paired_ratio(a, b); };
  const double raw_rate = raw.per_second();
  Table table({"IS on gum (obs0=8, obs1=9)", "traces/s", "us/trace", "ratio", "of", "target"});
  auto add = [&](const Series& x, double value, const std::string& of, const std::string& target) {
    table.add({x.label, fmt("%.0f", x.per_second()), fmt("%.2f", x.seconds_per_op() * 1e6), ratio(value), of, target});
  };
  auto verdict = [](bool met, const std::string& what) { return what + (met ? " met" : " MISSED"); };
  table.add({"raw ZeroMQ ipc round trip, " + std::to_string(payload) + " B (baseline)",
             fmt("%.0f", raw_rate) + " rt/s", fmt("%.2f", 1e6 / raw_rate) + "/rt", "", "", ""});
  table.add({"raw rate / 4 (lock-step gum bound)", fmt("%.0f", raw_rate / 4), fmt("%.2f", 4e6 / raw_rate),
             ratio(1.0), "raw/4", ""});
  // lock-step vs raw/4: rate(lock)/(rate(raw)/4) = 4 time(raw)/time(lock).
  const double lock_1_vs_raw = 4.0 * speedup(lock_1, raw);
  add(lock_1, lock_1_vs_raw, "raw/4", verdict(lock_1_vs_raw >= 1 / 1.5, ">= 0.67x"));
  add(lock_2, 4.0 * speedup(lock_2, raw), "raw/4", "");
  const double whole_1_vs_lock = speedup(whole_1, lock_1);
  const double whole_2_vs_lock = speedup(whole_2, lock_2);
  const double local_vs_whole = speedup(local, whole_1);
  add(whole_1, whole_1_vs_lock, "lock-step 1", verdict(whole_1_vs_lock >= 20, ">= 20x"));
  add(whole_2, whole_2_vs_lock, "lock-step 2", verdict(whole_2_vs_lock >= 20, ">= 20x"));
  add(local, local_vs_whole, "whole-trace 1", verdict(local_vs_whole >= 10, ">= 10x"));
  table.print();
  std::cout << "2-simulator scaling: lock-step " << ratio(speedup(lock_2, lock_1)) << ", whole-trace "
            << ratio(speedup(whole_2, whole_1)) << " (" << std::thread::hardware_concurrency()
            << " cores shared by the engine, the simulators and ZeroMQ's I/O threads)\n";
  std::cout << "\nload at the end: " << load_average() << '\n';
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return bench_main(argc, argv, "bench_is",
                    "bench_is: importance-sampling traces/s on gum, remote (lock-step, whole-trace) and in-process,\n"
                    "against the raw ZeroMQ round-trip rate measured in the same run",
                    bench);
}
