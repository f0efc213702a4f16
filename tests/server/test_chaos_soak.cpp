// Chaos soak (issue 8): a pool of real simulator processes while a controller, at seeded random
// times, SIGKILLs one, SIGSTOPs one for a while (longer or shorter than the reply deadline) and
// SIGCONTs it, or swaps in a peer that speaks garbage, multipart messages or NaN whole traces
// (the next process to start takes the swap token). During IS (lock-step and whole-trace) and
// MCMC the trace counts must be exact and the results identical, value for value, to an
// undisturbed run with the same seed.
//   PPX_SOAK_SECONDS (default 1) scales the work per engine run; the suite's run takes about a
//   minute in all. PPX_SOAK_SEED picks the controller's schedule.
#include <catch2/catch.hpp>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sys/wait.h>
#include <thread>

#include "ppx/engines/importance_sampling.h"
#include "ppx/engines/mcmc.h"
#include "ppx/server/simulator_pool.h"
#include "reference_fixtures.h"
#include "child_process.h"
#include "subprocess.h"
#include "test_paths.h"

using namespace ppx;
namespace fs = std::filesystem;

namespace {

struct ChaosCounts {
  std::atomic<std::uint64_t> kills{0}, stops{0}, swaps{0};
  std::uint64_t total() const { return kills + stops + swaps; }
};

std::vector<pid_t> simulator_pids() { return test::pgrep("-P " + std::to_string(::getpid()) + " -f faulty_simulator"); }

// Injects faults until `done`, every 30-150 ms (seeded).
void chaos(const fs::path& swap_dir, std::uint64_t seed, const std::atomic<bool>& done, ChaosCounts& counts) {
  std::mt19937_64 rng(seed);
  const char* kinds[] = {"garbage", "multipart", "nan"};
  while (!done) {
    std::this_thread::sleep_for(std::chrono::milliseconds(30 + rng() % 120));
    const std::vector<pid_t> pids = simulator_pids();
    if (pids.empty() || done) continue;
    const pid_t victim = pids[rng() % pids.size()];
    switch (rng() % 3) {
      case 0:
        if (::kill(victim, SIGKILL) == 0) ++counts.kills;
        break;
      case 1: {
        if (::kill(victim, SIGSTOP) != 0) break;
        ++counts.stops;
        std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 600));  // around the 400 ms deadline
        ::kill(victim, SIGCONT);
        break;
      }
      default: {
        std::ofstream(swap_dir / "swap.tmp") << kinds[rng() % 3] << "\n";
        fs::rename(swap_dir / "swap.tmp", swap_dir / "swap");
        if (::kill(victim, SIGKILL) == 0) ++counts.swaps;  // its replacement takes the token
        break;
      }
    }
  }
}

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::stoull(v) : fallback;
}

}  // namespace

TEST_CASE("chaos soak: kills, stops and garbage peers change nothing in IS and MCMC results") {
  const std::string mode = GENERATE(std::string("lock-step"), std::string("whole-trace"), std::string("mcmc"));
  INFO(mode);
  const auto seconds = env_number("PPX_SOAK_SECONDS", 1);
  const fs::path swap_dir = fs::temp_directory_path() / ("ppx-soak-" + std::to_string(::getpid()) + "-" + mode);
  fs::remove_all(swap_dir);
  fs::create_directories(swap_dir);

  const auto& gum = reference::reference_model("gum");
  const auto observations = test::to_engine_observations(gum.default_observations);
  server::PoolOptions options;
  options.command = test::env_or("PPX_TEST_DIR", "build/tests") + "/faulty_simulator --serve {endpoint} --swap-dir " +
                    swap_dir.string();
  options.workers = 4;
  options.remote.use_whole_trace = mode == "whole-trace";
  options.remote.reply_timeout = std::chrono::milliseconds(400);
  std::mutex mutex;
  std::uint64_t failure_lines = 0;
  options.log = [&](const std::string& line) {
    std::lock_guard lock(mutex);
    failure_lines += line.find("failed") != std::string::npos;
  };
  engines::EngineCallbacks callbacks{.log = options.log};

  // Sized so that a disturbed run lasts about `seconds` on a loaded 2-core machine.
  const engines::ImportanceSamplingOptions is{.traces = (mode == "whole-trace" ? 40000 : 4000) * seconds, .seed = 5,
                                              .batch = 8};
  engines::MetropolisHastingsOptions mh{.kernel = engines::MhKernel::RandomWalk, .chains = 4,
                                        .draws = 600 * seconds, .burn_in = 20, .seed = 6};
  mh.max_consecutive_failures = 20;
  const auto run = [&](server::SimulatorPool& pool, const engines::EngineCallbacks& c) {
    return mode == "mcmc" ? engines::metropolis_hastings(pool.simulators(), observations, mh, c)
                          : engines::importance_sampling(pool.simulators(), observations, is, c);
  };

  engines::WeightedTraces disturbed;
  ChaosCounts counts;
  std::uint64_t restarts = 0;
  {
    server::SimulatorPool pool(options);
    pool.start();
    // One kill before the run starts: every mode then has a restart to show, however fast the
    // machine finishes the run (the seeded controller's faults land by timing).
    std::vector<pid_t> started;
    for (int i = 0; i < 500 && started.size() < options.workers; ++i) {
      started = simulator_pids();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE(!started.empty());
    REQUIRE(::kill(started.front(), SIGKILL) == 0);
    ++counts.kills;
    std::atomic<bool> done{false};
    std::thread controller(chaos, swap_dir, env_number("PPX_SOAK_SEED", 8) + mode.size(), std::cref(done),
                           std::ref(counts));
    struct Join {
      std::atomic<bool>& done;
      std::thread& thread;
      ~Join() {
        done = true;
        thread.join();
      }
    } join{done, controller};
    disturbed = run(pool, callbacks);
    restarts = pool.restarts();
  }
  options.log = nullptr;
  fs::remove_all(swap_dir);  // the undisturbed pool: nobody swaps anything
  fs::create_directories(swap_dir);
  server::SimulatorPool clean_pool(options);
  const engines::WeightedTraces clean = run(clean_pool, {});
  fs::remove_all(swap_dir);

  const std::uint64_t expected = mode == "mcmc" ? mh.chains * mh.draws : is.traces;
  INFO("faults injected: " << counts.kills << " kills, " << counts.stops << " stops, " << counts.swaps
                           << " swaps; restarts " << restarts << "; failures logged " << failure_lines);
  std::printf("chaos soak %s: %llu traces, %llu kills, %llu stops, %llu swaps, %llu restarts, %llu failures\n",
              mode.c_str(), static_cast<unsigned long long>(disturbed.size()),
              static_cast<unsigned long long>(counts.kills.load()), static_cast<unsigned long long>(counts.stops.load()),
              static_cast<unsigned long long>(counts.swaps.load()), static_cast<unsigned long long>(restarts),
              static_cast<unsigned long long>(failure_lines));
  CHECK(counts.total() >= seconds);  // the chaos did happen
  CHECK(restarts > 0);
  CHECK(disturbed.size() == expected);
  CHECK(clean.size() == expected);
  CHECK(disturbed.log_weights() == clean.log_weights());
  CHECK(disturbed.chains() == clean.chains());
  for (const std::string& name : clean.names()) {
    INFO(name);
    REQUIRE(disturbed.column(name) != nullptr);
    CHECK(*disturbed.column(name) == *clean.column(name));
  }
}
