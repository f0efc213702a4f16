// Inference compilation over PPX with real simulator processes, one of which is killed mid-trace
// (SIGKILL) during training and during inference: the trace counts stay exact and, in lock-step
// (engine-side draws from each trace's own stream), the results equal an in-process run.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <unistd.h>

#include "ppx/ic/inference.h"
#include "ppx/ic/training.h"
#include "ppx/ppx.h"
#include "ppx/server/simulator_pool.h"
#include "test_paths.h"

using namespace ppx;

namespace {

// The faulty simulator's model, in-process (same addresses and distributions).
Tensor gum_forward() {
  const Tensor mu = sample(Normal(1.0, std::sqrt(5.0)), {.name = "mu", .address = "mu"});
  observe(Normal(mu, std::sqrt(2.0)), {.name = "obs0", .address = "obs0"});
  observe(Normal(mu, std::sqrt(2.0)), {.name = "obs1", .address = "obs1"});
  return mu;
}

ic::TrainingOptions options() {
  ic::TrainingOptions o;
  o.traces = 640;
  o.batch = 32;
  o.seed = 5;
  o.validation_traces = 64;
  o.validate_every = 5;
  o.threads = 1;
  o.network.lstm_hidden = 64;
  o.network.observe_embedding_dim = 16;
  o.network.address_embedding_dim = 16;
  o.network.mixture_components = 3;
  o.network.seed = 5;
  return o;
}

struct FaultyPool {
  std::string once;
  server::PoolOptions pool;
  std::mutex mutex;
  std::string log;
  explicit FaultyPool(const std::string& tag, bool whole_trace) {
    once = std::filesystem::temp_directory_path() / ("ppx-ic-fault-" + std::to_string(::getpid()) + "-" + tag);
    std::filesystem::remove(once);
    pool.command = test::env_or("PPX_TEST_DIR", "build/tests") + "/faulty_simulator --serve {endpoint} --fault kill --after 30 --once " + once;
    pool.workers = 2;
    pool.remote.use_whole_trace = whole_trace;
    pool.log = [this](const std::string& line) {
      std::lock_guard lock(mutex);
      log += line + "\n";
    };
  }
  ~FaultyPool() { std::filesystem::remove(once); }
};

}  // namespace

TEST_CASE("training over PPX survives a killed simulator with an exact trace count") {
  const bool whole_trace = GENERATE(false, true);
  INFO((whole_trace ? "whole-trace" : "lock-step"));
  FaultyPool faulty(whole_trace ? "train-whole" : "train-lock", whole_trace);
  std::unique_ptr<ic::ProposalNetwork> remote;
  ic::TrainingSummary summary;
  std::uint64_t restarts = 0;
  {
    server::SimulatorPool pool(faulty.pool);
    summary = ic::train(pool.simulators(), options(), {}, remote);
    restarts = pool.restarts();
  }
  INFO(faulty.log);
  CHECK(std::filesystem::exists(faulty.once));  // the fault happened
  CHECK(restarts >= 1);
  CHECK(summary.failures >= 1);
  CHECK(summary.traces == 640);  // nothing lost, nothing counted twice
  if (!whole_trace) {
    // Lock-step draws are the engine's: the same network as training in-process.
    engines::InProcessSimulator a("gum", gum_forward), b("gum", gum_forward);
    engines::Simulator* local[] = {&a, &b};
    std::unique_ptr<ic::ProposalNetwork> reference;
    ic::train(local, options(), {}, reference);
    reference->set_query({{"obs0", 8.0}, {"obs1", 9.0}});
    remote->set_query({{"obs0", 8.0}, {"obs1", 9.0}});
    const std::string address = remote->addresses().at(0);
    const Distribution prior = Normal(1.0, std::sqrt(5.0));
    auto s1 = reference->new_trace(), s2 = remote->new_trace();
    const auto q1 = reference->step(std::vector<ic::StepRequest>{{s1.get(), &address, &prior, 0.0}});
    const auto q2 = remote->step(std::vector<ic::StepRequest>{{s2.get(), &address, &prior, 0.0}});
    CHECK(q1[0].proposal->components == q2[0].proposal->components);
    CHECK(q1[0].proposal->weights == q2[0].proposal->weights);
  }
}

TEST_CASE("IC inference over PPX survives a killed simulator, and equals the in-process run") {
  engines::InProcessSimulator a("gum", gum_forward), b("gum", gum_forward);
  engines::Simulator* local[] = {&a, &b};
  std::unique_ptr<ic::ProposalNetwork> network;
  ic::train(local, options(), {}, network);
  const engines::Observations y{{"obs0", 8.0}, {"obs1", 9.0}};
  const ic::IcOptions ic_options{.traces = 300, .seed = 8, .threads = 1};

  FaultyPool faulty("infer", false);
  engines::WeightedTraces remote;
  ic::IcStats stats;
  {
    server::SimulatorPool pool(faulty.pool);
    remote = ic::ic_importance_sampling(pool.simulators(), *network, y, ic_options, {}, &stats);
  }
  INFO(faulty.log);
  CHECK(std::filesystem::exists(faulty.once));
  CHECK(stats.failures >= 1);
  REQUIRE(remote.size() == 300);
  CHECK(stats.steered == 300);  // the lost trace's steps are not counted
  const engines::WeightedTraces in_process = ic::ic_importance_sampling(local, *network, y, ic_options);
  REQUIRE(in_process.size() == 300);
  // Same generator streams; network steps batched differently may differ in the last float bits.
  for (std::size_t i = 0; i < 300; ++i) {
    CHECK(remote.log_weights()[i] == Approx(in_process.log_weights()[i]).margin(1e-4));
  }
}
