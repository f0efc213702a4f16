// Fault tolerance with real processes: a simulator killed mid-trace, one that hangs, one that
// sends garbage. The run still ends with exactly N traces — the same ones a healthy run gives,
// since a lost trace is re-run with its own seed — the bad simulator is replaced, and the log
// says what happened.
#include <catch2/catch.hpp>
#include <csignal>
#include <filesystem>
#include <mutex>

#include "ppx/engines/importance_sampling.h"
#include "ppx/server/simulator_pool.h"
#include "reference_fixtures.h"
#include "test_paths.h"

using namespace ppx;

namespace {

struct FaultCase {
  std::string fault;
  bool whole_trace;
};

bool process_exists(int pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

}  // namespace

TEST_CASE("IS survives a simulator that dies, hangs or speaks garbage, with an exact trace count") {
  // multipart .. category: issue 8, items 8 and 13 (before the fix a multipart reply or an observe
  // value that does not broadcast aborted the whole run; NaN, wrongly shaped and out-of-support
  // values from a whole-trace reply were accepted).
  const FaultCase c = GENERATE(FaultCase{"kill", false}, FaultCase{"kill", true}, FaultCase{"hang", false},
                               FaultCase{"hang", true}, FaultCase{"garbage", false}, FaultCase{"multipart", false},
                               FaultCase{"badobserve", false}, FaultCase{"badobserve", true},
                               FaultCase{"nan", true}, FaultCase{"shape", true}, FaultCase{"category", true});
  INFO(c.fault << (c.whole_trace ? " (whole-trace)" : " (lock-step)"));
  const std::string once = std::filesystem::temp_directory_path() /
                           ("ppx-fault-" + std::to_string(::getpid()) + "-" + c.fault + std::to_string(c.whole_trace));
  std::filesystem::remove(once);

  server::PoolOptions options;
  const std::string simulator = ppx::test::env_or("PPX_TEST_DIR", "build/tests") + "/faulty_simulator --serve {endpoint}";
  options.command = simulator + " --fault " + c.fault + " --after 20 --once " + once;
  options.workers = 2;
  options.remote.use_whole_trace = c.whole_trace;
  options.remote.reply_timeout = std::chrono::milliseconds(1500);
  std::mutex mutex;
  std::string log;
  options.log = [&](const std::string& line) {
    std::lock_guard lock(mutex);
    log += line + "\n";
  };

  const auto& gum = reference::reference_model("gum");
  const auto observations = test::to_engine_observations(gum.default_observations);
  const engines::ImportanceSamplingOptions is{.traces = 300, .seed = 4, .batch = 16};
  std::vector<int> pids;
  engines::WeightedTraces posterior;
  std::uint64_t restarts = 0;
  {
    server::SimulatorPool pool(options);
    engines::EngineCallbacks callbacks{.log = [&](const std::string& line) {
      std::lock_guard lock(mutex);
      log += line + "\n";
    }};
    posterior = engines::importance_sampling(pool.simulators(), observations, is, callbacks);
    restarts = pool.restarts();
    pids = pool.pids();
  }
  INFO(log);
  CHECK(std::filesystem::exists(once));  // the fault did happen
  CHECK(posterior.size() == 300);
  CHECK(restarts >= 1);
  CHECK(log.find("failed") != std::string::npos);
  CHECK(log.find("restarted simulator") != std::string::npos);
  CHECK(log.find("(ipc://") != std::string::npos);  // failures name the simulator's endpoint
  for (int pid : pids) CHECK_FALSE(process_exists(pid));

  if (c.whole_trace) {
    // A re-run batch is the same batch (its own seed): identical to an undisturbed pool.
    server::PoolOptions clean = options;
    clean.command = simulator;
    clean.log = nullptr;
    server::SimulatorPool pool(clean);
    CHECK(engines::importance_sampling(pool.simulators(), observations, is).log_weights() == posterior.log_weights());
  } else {
    // Lock-step draws happen engine-side from the trace's own stream: identical to a clean run.
    engines::InProcessSimulator local("gum", gum.forward);
    engines::Simulator* in_process[] = {&local};
    CHECK(engines::importance_sampling(in_process, observations, is).log_weights() == posterior.log_weights());
  }
  std::filesystem::remove(once);
}
