// bench_mcmc (issue 5): Metropolis-Hastings iterations per second, RMH and LMH, on gum and on the
// tau-decay simulator (coarse observation, a generated event), in-process (1 chain, 1 thread)
// and over PPX (a pool of 2 simulator processes, 2 chains: MCMC always runs lock-step, one
// simulator execution per iteration), next to importance-sampling traces/s on the same model and
// simulators in the same run (in-process; over PPX lock-step and whole-trace).
// The simulators are build/bin/gum and build/bin/tau_decay, found next to this program.
#include <span>

#include "bench_common.h"
#include "bench_models.h"
#include "ppx/engines/importance_sampling.h"
#include "ppx/engines/mcmc.h"
#include "ppx/reference/models.h"
#include "ppx/tau_decay/model.h"

namespace {

namespace td = ppx::tau_decay;
using namespace ppx::bench;
using ppx::engines::Simulator;

constexpr std::uint32_t kBatch = 64;  // whole-trace batch (the engine's default)

struct ModelCase {
  std::string title;    // table heading
  std::string command;  // the simulator program with {endpoint}
  std::function<ppx::Tensor()> forward;
  ppx::engines::Observations observations;
};

// Rate ratio rate(a)/rate(b), paired by round.
double speedup(const Series& a, const Series& b) { return 1.0 / paired_ratio(a, b); }

std::string us(double seconds) { return fmt(seconds * 1e6 >= 100 ? "%.0f" : "%.2f", seconds * 1e6); }

struct Acceptance {
  std::uint64_t accepted = 0, iterations = 0;
  void add(const ppx::engines::McmcStats& stats) {
    for (const auto& c : stats.chains) {
      accepted += c.accepted;
      iterations += c.iterations;
    }
  }
  std::string text() const {
    return iterations == 0 ? "" : fmt("%.3f", static_cast<double>(accepted) / static_cast<double>(iterations));
  }
};

void bench_model(const ModelCase& model, const BenchOptions& options, std::uint64_t& seed) {
  // One pool serves IS lock-step, IS whole-trace and MCMC (which always runs lock-step).
  ppx::server::SimulatorPool pool(pool_options(model.command, 2, /*use_whole_trace=*/true));
  const std::vector<Simulator*> sims = pool.simulators();
  warm_up_simulators(sims, model.observations, options.quick ? 256 : 8192);
  ppx::engines::InProcessSimulator in_process("model", model.forward);
  Simulator* const local_sims[] = {&in_process};
  const ppx::engines::Observations& observations = model.observations;

  auto is_series = [&](std::string label, std::span<Simulator* const> use, bool whole_trace) {
    Series x;
    x.label = std::move(label);
    x.min_ops = whole_trace ? 2 * kBatch * use.size() : 64;
    x.run = [use, whole_trace, &observations, &seed](std::uint64_t n) {
      const auto start = Clock::now();
      check_count(ppx::engines::importance_sampling(
                      use, observations, {.traces = n, .seed = ++seed, .whole_trace = whole_trace, .batch = kBatch}),
                  n, "importance sampling");
      return seconds_since(start);
    };
    return x;
  };
  // One op = one MH iteration, over all chains (each chain runs ceil(n / chains) iterations; the
  // time is scaled to n). Every measurement starts its chains afresh (one initial run per chain).
  auto mh_series = [&](std::string label, std::span<Simulator* const> use, ppx::engines::MhKernel kernel,
                       std::uint32_t chains, Acceptance& acceptance) {
    Series x;
    x.label = std::move(label);
    x.min_ops = 64;
    x.run = [use, kernel, chains, &observations, &seed, &acceptance](std::uint64_t n) {
      const std::uint64_t draws = (n + chains - 1) / chains;
      ppx::engines::McmcStats stats;
      const auto start = Clock::now();
      const auto posterior = ppx::engines::metropolis_hastings(
          use, observations, {.kernel = kernel, .chains = chains, .draws = draws, .seed = ++seed}, {}, &stats);
      const double seconds = seconds_since(start);
      if (posterior.size() != draws * chains) throw std::runtime_error("MCMC lost draws");
      acceptance.add(stats);
      return seconds * static_cast<double>(n) / static_cast<double>(draws * chains);
    };
    return x;
  };

  using ppx::engines::MhKernel;
  const std::span<Simulator* const> lock_all(sims), whole_all(sims);
  Acceptance rmh_local_acc, lmh_local_acc, rmh_remote_acc, lmh_remote_acc;
  Series is_local = is_series("IS in-process, 1 thread (baseline)", local_sims, false);
  Series rmh_local = mh_series("RMH in-process, 1 chain", local_sims, MhKernel::RandomWalk, 1, rmh_local_acc);
  Series lmh_local = mh_series("LMH in-process, 1 chain", local_sims, MhKernel::Lightweight, 1, lmh_local_acc);
  Series is_lock = is_series("IS remote lock-step, 2 simulators (baseline)", lock_all, false);
  Series is_whole = is_series("IS remote whole-trace K=64, 2 simulators", whole_all, true);
  Series rmh_remote = mh_series("RMH remote, 2 chains on 2 simulators", lock_all, MhKernel::RandomWalk, 2, rmh_remote_acc);
  Series lmh_remote = mh_series("LMH remote, 2 chains on 2 simulators", lock_all, MhKernel::Lightweight, 2, lmh_remote_acc);
  run_rounds({&is_local, &rmh_local, &lmh_local, &is_lock, &is_whole, &rmh_remote, &lmh_remote}, options);

  Table table({model.title, "per s", "us/op", "vs IS", "of", "vs IS whole-trace", "acceptance"});
  auto add = [&](const Series& x, const Series* of, const std::string& of_label, bool vs_whole, const Acceptance* a) {
    table.add({x.label, fmt("%.0f", x.per_second()) + (a != nullptr ? " it" : " tr"), us(x.seconds_per_op()),
               of != nullptr ? ratio(speedup(x, *of)) : "", of_label, vs_whole ? ratio(speedup(x, is_whole)) : "",
               a != nullptr ? a->text() : ""});
  };
  add(is_local, nullptr, "", false, nullptr);
  add(rmh_local, &is_local, "IS in-process", false, &rmh_local_acc);
  add(lmh_local, &is_local, "IS in-process", false, &lmh_local_acc);
  add(is_lock, &is_local, "IS in-process", false, nullptr);
  add(is_whole, &is_local, "IS in-process", false, nullptr);
  add(rmh_remote, &is_lock, "IS lock-step 2", true, &rmh_remote_acc);
  add(lmh_remote, &is_lock, "IS lock-step 2", true, &lmh_remote_acc);
  table.print();
  std::cout << "remote vs in-process (same kernel): RMH " << ratio(speedup(rmh_remote, rmh_local)) << ", LMH "
            << ratio(speedup(lmh_remote, lmh_local)) << " (2 chains on 2 processes vs 1 chain in this process)\n\n";
}

int bench(const BenchOptions& options) {
  use_program_allocator_settings();
  const std::string gum = simulator_program("gum", "bench_mcmc");
  const std::string tau_decay = simulator_program("tau_decay", "bench_mcmc");
  print_machine(options);
  const SocketDir dir;
  std::uint64_t seed = 0;

  const ppx::reference::ReferenceModel& gum_model = ppx::reference::reference_model("gum");
  bench_model({"MCMC on gum (obs0=8, obs1=9)", gum + " --serve {endpoint}", gum_model.forward,
               {{"obs0", ppx::reference::gum::kDefaultObs0}, {"obs1", ppx::reference::gum::kDefaultObs1}}},
              options, seed);

  const std::string flags = " --obs-mode coarse --noise-scale 8";
  td::Options tau_options;
  tau_options.obs_mode = td::ObsMode::Coarse;
  tau_options.noise_scale = 8.0;
  warm_up_tau_in_process(tau_options, options.quick ? 1024 : 16384);
  bench_model({"MCMC on tau_decay coarse [4,7,7], event seed 23", tau_decay + flags + " --serve {endpoint}",
               [tau_options] { return td::simulate(tau_options); },
               generate_tau_event(tau_decay, dir.path() / "event", 23, flags)},
              options, seed);
  std::cout << "'per s': iterations (it) or traces (tr) per second. MH is one simulator execution per iteration,\n"
               "lock-step over PPX; 'vs IS' compares with IS on the same simulators (in-process or lock-step).\n"
            << "load at the end: " << load_average() << '\n';
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return bench_main(argc, argv, "bench_mcmc",
                    "bench_mcmc: Metropolis-Hastings iterations/s (RMH, LMH) on gum and tau_decay, in-process and\n"
                    "over PPX, against importance-sampling traces/s on the same model in the same run",
                    bench);
}
