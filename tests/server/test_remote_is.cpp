// Importance sampling over PPX with real simulator processes on ipc:// and tcp:// sockets.
#include <catch2/catch.hpp>
#include <csignal>

#include "ppx/engines/importance_sampling.h"
#include "ppx/server/process.h"
#include "ppx/server/simulator_pool.h"
#include "reference_fixtures.h"
#include "test_paths.h"

using namespace ppx;

namespace {

server::PoolOptions spawn(const std::string& program, std::size_t workers, bool whole_trace) {
  server::PoolOptions options;
  options.command = test::program(program) + " --serve {endpoint}";
  options.workers = workers;
  options.remote.use_whole_trace = whole_trace;
  return options;
}

bool process_exists(int pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

}  // namespace

TEST_CASE("lock-step IS over PPX gives exactly the in-process result (same model source, same seeds)") {
  const auto& [name, traces] = GENERATE(std::pair<std::string, std::uint64_t>{"gum", 400},
                                        std::pair<std::string, std::uint64_t>{"marsaglia", 400},
                                        std::pair<std::string, std::uint64_t>{"branching", 400},
                                        std::pair<std::string, std::uint64_t>{"hmm", 100});
  INFO(name);
  const reference::ReferenceModel& model = reference::reference_model(name);
  const auto observations = test::to_engine_observations(model.default_observations);
  const engines::ImportanceSamplingOptions options{.traces = traces, .seed = 21};

  engines::InProcessSimulator local(model.name, model.forward);
  engines::Simulator* in_process[] = {&local};
  const auto expected = engines::importance_sampling(in_process, observations, options);

  server::SimulatorPool pool(spawn(name, 2, /*whole_trace=*/false));
  const auto remote = engines::importance_sampling(pool.simulators(), observations, options);
  CHECK(remote.log_weights() == expected.log_weights());
  CHECK(remote.names() == expected.names());
  for (const std::string& n : expected.names()) {
    const auto& a = *remote.column(n);
    const auto& b = *expected.column(n);
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(((std::isnan(a[i]) && std::isnan(b[i])) || a[i] == b[i]));
  }
  CHECK(pool.simulators().front()->model_name() == name);
}

TEST_CASE("whole-trace IS over PPX matches the exact posteriors") {
  // Tolerance as in the in-process test: 5 standard errors from the exact posterior, SE from ESS.
  const auto& [name, traces] = GENERATE(std::pair<std::string, std::uint64_t>{"gum", 40'000},
                                        std::pair<std::string, std::uint64_t>{"marsaglia", 40'000},
                                        std::pair<std::string, std::uint64_t>{"branching", 40'000},
                                        std::pair<std::string, std::uint64_t>{"hmm", 200'000});
  INFO(name);
  const reference::ReferenceModel& model = reference::reference_model(name);
  const auto observations = test::to_engine_observations(model.default_observations);
  server::SimulatorPool pool(spawn(name, 2, /*whole_trace=*/true));
  REQUIRE(pool.simulators().front()->supports_unsteered());
  const auto posterior =
      engines::importance_sampling(pool.simulators(), observations, {.traces = traces, .seed = 8, .batch = 256});
  REQUIRE(posterior.size() == traces);
  const auto exact = model.exact_posterior(model.default_observations);
  test::check_against_exact(posterior, exact, 5.0, posterior.ess());
  CHECK(std::abs(posterior.log_evidence() - exact.log_evidence) <= 5 * posterior.log_evidence_stderr());
}

TEST_CASE("simulators already running elsewhere are used over tcp:// (connect mode)") {
  server::ProcessLauncher launcher;
  const int port = 23000 + ::getpid() % 20000;
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(port);
  auto process = launcher.spawn(test::program("gum") + " --serve tcp://127.0.0.1:" + std::to_string(port));
  server::PoolOptions options;
  options.connect = {endpoint};
  server::SimulatorPool pool(options);
  const auto& model = reference::reference_model("gum");
  const auto posterior = engines::importance_sampling(
      pool.simulators(), test::to_engine_observations(model.default_observations), {.traces = 2000, .seed = 1});
  CHECK(posterior.size() == 2000);
  CHECK(pool.pids().empty());  // the pool started nothing
  CHECK(process->alive());     // and does not own what it connected to
}

TEST_CASE("the pool kills every process it started when it goes away") {
  std::vector<int> pids;
  {
    server::SimulatorPool pool(spawn("gum", 3, true));
    for (auto* s : pool.simulators()) s->model_name();  // start them all
    pids = pool.pids();
    REQUIRE(pids.size() == 3);
    for (int pid : pids) CHECK(process_exists(pid));
  }
  for (int pid : pids) CHECK_FALSE(process_exists(pid));
}

TEST_CASE("pool options are validated") {
  server::PoolOptions none;
  CHECK_THROWS_AS(server::SimulatorPool(none), std::invalid_argument);
  server::PoolOptions no_placeholder;
  no_placeholder.command = "gum --serve ipc:///tmp/x";
  CHECK_THROWS_AS(server::SimulatorPool(no_placeholder), std::invalid_argument);
  server::PoolOptions both = spawn("gum", 1, true);
  both.connect = {"tcp://127.0.0.1:1"};
  CHECK_THROWS_AS(server::SimulatorPool(both), std::invalid_argument);
}
