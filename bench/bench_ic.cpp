// bench_ic (issue 10): inference compilation on this machine.
//   (a) training traces/s, in-process gum and hmm, the reference's layout (LSTM 512, mixtures of
//       10, batch 64), LibTorch on 1 and on all threads;
//   (b) training traces/s on tau-decay events (in-process simulator) with the full 3D CNN and with
//       the pooled embedding (LSTM 256);
//   (a') training on gum over PPX (one simulator process), as the reference measures it;
//   (c) IC inference traces/s on gum (1 and 2 simulator processes) and tau (2) over PPX: one network
//       call per step (batch wait 0, no memo: what the reference does, the in-run baseline), steps
//       batched across simulators, and batched with the first-step memo (ProposalNetwork::set_query);
//       lock-step prior IS on the same simulators shows the protocol's floor.
// The first line names the BLAS library that LibTorch's sgemm_ resolves to; run it again with
// LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blas to measure the reference BLAS in the same way.
// External reference numbers (the reference Python PPL, from issue 10; it is not installed here):
// training 360 traces/s on remote gum with OpenBLAS (140 with the reference BLAS), inference about
// 200 traces/s on remote gum at batch 1.
#include <chrono>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "ppx/engines/importance_sampling.h"
#include "ppx/ic/inference.h"
#include "ppx/ic/training.h"
#include "ppx/reference/models.h"
#include "ppx/server/simulator_pool.h"
#include "ppx/tau_decay/model.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

fs::path program_dir() { return fs::read_symlink("/proc/self/exe").parent_path(); }

ppx::ic::TrainingOptions reference_layout(std::uint64_t traces, unsigned threads) {
  ppx::ic::TrainingOptions o;
  o.traces = traces;
  o.batch = 64;
  o.validation_traces = 0;
  o.validate_every = 1'000'000;
  o.threads = threads;
  o.seed = 1;
  o.network.seed = 1;
  return o;  // NetworkConfig defaults: LSTM 512 x 1, mixtures of 10
}

double cpu_seconds() {
  timespec t{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// Training rates: traces per wall-clock second (the trainer's own figure) and per CPU second of
// the whole process (every thread: generation, training, LibTorch's pool), which is what "per
// core" means and is not inflated by idle cores nor depressed by other processes' load.
struct TrainRate {
  double per_second = 0, per_cpu_second = 0;
};

TrainRate train_rate(ppx::engines::Simulators simulators, ppx::ic::TrainingOptions options) {
  std::unique_ptr<ppx::ic::ProposalNetwork> network;
  const double cpu = cpu_seconds();
  const ppx::ic::TrainingSummary s = ppx::ic::train(simulators, options, {}, network);
  return {s.traces_per_second, static_cast<double>(s.traces_this_run) / (cpu_seconds() - cpu)};
}

struct InferRate {
  double traces_per_second = 0, steps_per_call = 0;
};

InferRate infer_rate(ppx::engines::Simulators simulators, ppx::ic::ProposalNetwork& network,
                     const ppx::engines::Observations& y, std::uint64_t traces, std::uint32_t wait_us, bool memo) {
  ppx::ic::IcStats stats;
  const auto start = Clock::now();
  const ppx::ic::IcOptions options{
      .traces = traces, .seed = 3, .threads = 1, .batch_wait_us = wait_us, .memoise_first_step = memo};
  const auto post = ppx::ic::ic_importance_sampling(simulators, network, y, options, {}, &stats);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return {static_cast<double>(post.size()) / seconds, stats.mean_batch};
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  if (argc > 1 && !quick) {
    std::cout << "bench_ic [--quick]: training and inference rates of inference compilation (see the header)\n";
    return std::string(argv[1]) == "--help" ? 0 : 2;
  }
  try {
    ppx::ic::set_torch_threads(1);
    std::cout << ppx::ic::torch_backend_info() << "\n";
    const std::uint64_t n = quick ? 128 : 1280;

    std::printf("\n(a) training, reference layout (LSTM 512, K=10, batch 64), in-process\n");
    std::printf("%-10s %10s %14s %14s %14s\n", "model", "threads", "traces/s", "vs 1 thread", "per CPU s");
    for (const char* name : {"gum", "hmm"}) {
      const auto& model = ppx::reference::reference_model(name);
      ppx::engines::InProcessSimulator simulator(model.name, model.forward);
      ppx::engines::Simulator* simulators[] = {&simulator};
      const TrainRate one = train_rate(simulators, reference_layout(n, 1));
      const TrainRate all = train_rate(simulators, reference_layout(n, 0));
      std::printf("%-10s %10s %14.1f %14s %14.1f\n", name, "1", one.per_second, "1.00", one.per_cpu_second);
      std::printf("%-10s %10s %14.1f %14.2f %14.1f\n", name, "all", all.per_second, all.per_second / one.per_second,
                  all.per_cpu_second);
    }
    {  // as the reference measures it: gum in a simulator process over PPX (per CPU s: ours only)
      ppx::server::PoolOptions pool_options;
      pool_options.command = (program_dir() / "gum").string() + " --serve {endpoint}";
      ppx::server::SimulatorPool pool(pool_options);
      const TrainRate remote = train_rate(pool.simulators(), reference_layout(n, 1));
      std::printf("%-10s %10s %14.1f %14s %14.1f\n", "gum (PPX)", "1", remote.per_second, "", remote.per_cpu_second);
    }

    if (!quick) {  // --quick (CI) skips the tau rows: a 3D-CNN step alone takes seconds here
    std::printf("\n(b) training on tau-decay (full [20,35,35] calorimeter, LSTM 256, batch 16), in-process\n");
    std::printf("%-26s %14s %14s\n", "calorimeter embedding", "traces/s", "vs cnn3d");
    {
      ppx::tau_decay::Options model_options;
      ppx::engines::InProcessSimulator simulator("tau_decay", [model_options] { return ppx::tau_decay::simulate(model_options); });
      ppx::engines::Simulator* simulators[] = {&simulator};
      double rates[2];
      int i = 0;
      for (auto embedding : {ppx::ic::ObservationEmbedding::Cnn3d, ppx::ic::ObservationEmbedding::Pooled}) {
        ppx::ic::TrainingOptions o = reference_layout(quick ? 16 : 64, 0);
        o.batch = 16;
        o.network.lstm_hidden = 256;
        o.embeddings["calorimeter"] = embedding;
        rates[i++] = train_rate(simulators, o).per_second;
      }
      std::printf("%-26s %14.2f %14s\n", "cnn3d (reference CNN)", rates[0], "1.00");
      std::printf("%-26s %14.2f %14.2f\n", "pooled", rates[1], rates[1] / rates[0]);
    }
    }

    std::printf("\n(c) IC inference over PPX, LSTM 512 (gum) / 256 (tau); \"lock-step prior IS\" is the protocol's floor\n");
    std::printf("%-10s %5s %-28s %12s %12s %12s\n", "model", "sims", "network steps", "traces/s", "steps/call", "vs batch 1");
    const struct {
      const char* name;
      unsigned workers;
    } configs[] = {{"gum", 1}, {"gum", 2}, {"tau_decay", 2}};
    for (const auto& config : configs) {
      const bool tau = std::string(config.name) == "tau_decay";
      if (tau && quick) continue;
      ppx::server::PoolOptions pool_options;
      pool_options.command = (program_dir() / config.name).string() + " --serve {endpoint}";
      pool_options.workers = config.workers;
      ppx::server::SimulatorPool pool(pool_options);
      const auto simulators = pool.simulators();
      ppx::ic::TrainingOptions o = reference_layout(tau ? 32 : 256, 1);
      if (tau) {
        o.batch = 16;
        o.network.lstm_hidden = 256;
        o.embeddings["calorimeter"] = ppx::ic::ObservationEmbedding::Pooled;
      }
      std::unique_ptr<ppx::ic::ProposalNetwork> network;
      ppx::ic::train(simulators, o, {}, network);
      ppx::engines::Observations y;
      if (tau) {
        // Any observation will do for timing: the mean image of a prior trace is not needed.
        for (const auto& spec : network->config().observations) {
          y[spec.name] = ppx::Tensor(std::vector<double>(ppx::shape_numel(spec.shape), spec.mean), spec.shape);
        }
      } else {
        y = {{"obs0", 8.0}, {"obs1", 9.0}};
      }
      const std::uint64_t traces = quick ? 64 : (tau ? 200 : 4000);
      const InferRate baseline = infer_rate(simulators, *network, y, traces, 0, false);
      const auto start = Clock::now();
      const auto prior = ppx::engines::importance_sampling(simulators, y, {.traces = traces, .seed = 3, .whole_trace = false});
      const InferRate lock_step{static_cast<double>(prior.size()) / std::chrono::duration<double>(Clock::now() - start).count(), 0};
      const struct {
        const char* label;
        InferRate rate;
      } rows[] = {{"one call per step", baseline},
                  {"batched across simulators", infer_rate(simulators, *network, y, traces, 300, false)},
                  {"batched + first-step memo", infer_rate(simulators, *network, y, traces, 300, true)},
                  {"(lock-step prior IS)", lock_step}};
      for (const auto& row : rows) {
        std::printf("%-10s %5u %-28s %12.1f %12.2f %12.2f\n", config.name, config.workers, row.label,
                    row.rate.traces_per_second, row.rate.steps_per_call, row.rate.traces_per_second / baseline.traces_per_second);
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "bench_ic: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
