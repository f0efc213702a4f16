// ppxd's parts without sockets: the job state machine, the config file, the service API and the
// HTTP routes over it (one error map), and fair sharing of a pool slot.
#include <catch2/catch.hpp>
#include <algorithm>
#include <filesystem>
#include <set>
#include <nlohmann/json.hpp>
#include <thread>

#include "config.h"
#include "http/routes.h"
#include "jobs/job_state.h"
#include "jobs/model_pool.h"
#include "jobs/query.h"
#include "service.h"

using namespace ppx::daemon;
using nlohmann::json;
namespace fs = std::filesystem;

TEST_CASE("job transitions: exactly the ones in the table") {
  using S = JobState;
  const std::set<std::pair<S, S>> allowed = {
      {S::Queued, S::Running},     {S::Queued, S::Cancelled},  {S::Queued, S::Interrupted},
      {S::Running, S::Finished},   {S::Running, S::Failed},    {S::Running, S::Cancelled},
      {S::Running, S::Interrupted}, {S::Interrupted, S::Queued}};
  for (S from : kAllJobStates) {
    for (S to : kAllJobStates) {
      INFO(state_name(from) << " -> " << state_name(to));
      CHECK(transition_allowed(from, to) == (allowed.count({from, to}) == 1));
    }
    CHECK(parse_job_state(state_name(from)) == from);
  }
  CHECK(!parse_job_state("sleeping"));
  CHECK(!is_final(S::Queued));
  CHECK(!is_final(S::Running));
  CHECK(is_final(S::Finished));
  CHECK(is_final(S::Interrupted));
}

TEST_CASE("config: a five-line file works; every error names the key and the line") {
  const DaemonConfig c = parse_config(
      "[server]\nlisten = \"127.0.0.1:9090\"\ndata_dir = \"/tmp/x\"\n[models.gum]\nsimulator = \"gum --serve {endpoint}\"\n",
      "ppxd.toml");
  CHECK(c.host == "127.0.0.1");
  CHECK(c.port == 9090);
  REQUIRE(c.models.size() == 1);
  CHECK(c.models[0].name == "gum");
  CHECK(c.models[0].pool.workers == 1);

  struct Case {
    std::string text, message;
  };
  const std::vector<Case> cases = {
      {"[server]\ndata_dir = \"/d\"\nlisten = 8080\n[models.m]\nsimulator = \"s {endpoint}\"\n",
       "ppxd.toml:3: server.listen: must be a string"},
      {"[server]\ndata_dir = \"/d\"\nlisten = \"127.0.0.1:99999\"\n[models.m]\nsimulator = \"s {endpoint}\"\n",
       "ppxd.toml:3: server.listen: port must be"},
      {"[server]\ndata_dir = \"/d\"\ncolour = \"red\"\n[models.m]\nsimulator = \"s {endpoint}\"\n",
       "ppxd.toml:3: server.colour: unknown key"},
      {"[server]\ndata_dir = \"/d\"\n[models.m]\nsimulator = \"s\"\n", "ppxd.toml:3: models.m: the simulator command must contain {endpoint}"},
      {"[server]\ndata_dir = \"/d\"\n[models.m]\nsimulator = \"s {endpoint}\"\nworkers = -1\n",
       "ppxd.toml:5: models.m.workers: must not be negative"},
      {"[server]\ndata_dir = \"/d\"\n[limits]\nrunning_jobs = \"two\"\n[models.m]\nsimulator = \"s {endpoint}\"\n",
       "ppxd.toml:4: limits.running_jobs: must be an integer"},
      {"[server]\ndata_dir = \"/d\"\nlisten = \"0.0.0.0:80\"\n[models.m]\nsimulator = \"s {endpoint}\"\n", "server.token: required"},
      {"[server]\nlisten = \"127.0.0.1:80\"\n[models.m]\nsimulator = \"s {endpoint}\"\n", "server.data_dir: required"},
      {"[server]\ndata_dir = \"/d\"\n", "models: at least one"},
      {"[server\n", "ppxd.toml:1: "},
  };
  for (const Case& k : cases) {
    INFO(k.text);
    try {
      parse_config(k.text, "ppxd.toml");
      FAIL("no error");
    } catch (const ConfigError& e) {
      CHECK_THAT(e.what(), Catch::Contains(k.message));
    }
  }
}

namespace {

// A service whose model connects to a port nobody listens on: nothing runs, the API answers.
struct ServiceFixture {
  fs::path dir = fs::temp_directory_path() / ("ppxd-units-" + std::to_string(::getpid()));
  DaemonConfig config;
  std::unique_ptr<InferenceService> service;
  ServiceFixture() {
    fs::remove_all(dir);
    config.data_dir = dir.string();
    config.limits.queued_jobs = 2;
    config.limits.running_jobs = 1;
    ModelConfig m{.name = "gum"};
    m.pool.connect = {"tcp://127.0.0.1:9"};
    m.pool.remote.handshake_timeout = std::chrono::milliseconds(200);
    config.models.push_back(m);
    service = std::make_unique<InferenceService>(config);
  }
  ~ServiceFixture() {
    service.reset();
    fs::remove_all(dir);
  }
};

ApiRequest request(const std::string& method, const std::string& target, const std::string& body = "") {
  ApiRequest r;
  r.method = method;
  split_target(target, r);
  r.body = body;
  return r;
}

}  // namespace

TEST_CASE("one error map: every code has its HTTP status and the same body shape") {
  const std::vector<std::pair<ErrorCode, int>> map = {
      {ErrorCode::BadRequest, 400}, {ErrorCode::Unauthorized, 401},   {ErrorCode::NotFound, 404},
      {ErrorCode::Conflict, 409},   {ErrorCode::PayloadTooLarge, 413}, {ErrorCode::TooManyRequests, 429},
      {ErrorCode::Unavailable, 503}, {ErrorCode::Internal, 500}};
  for (const auto& [code, status] : map) {
    const ApiResponse r = error_response(code, "what to fix");
    CHECK(r.status == status);
    const json body = json::parse(r.body);
    CHECK(body["error"]["code"] == std::string(error_code_name(code)));
    CHECK(body["error"]["message"] == "what to fix");
  }
}

TEST_CASE("service API: submit, status, list, cancel; a failed query says why") {
  ServiceFixture f;
  InferenceService& s = *f.service;
  const json job = s.submit({{"model", "gum"}, {"traces", 10}, {"observations", {{"obs0", 8}}}});
  const std::string id = job["id"];
  CHECK(s.status(id)["query"]["traces"] == 10);
  CHECK(s.list().size() == 1);
  // Nobody listens on the model's endpoint: the query fails with the engine's message.
  json last;
  for (int i = 0; i < 600; ++i) {
    last = s.status(id);
    if (last["state"] != "queued" && last["state"] != "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(last["state"] == "failed");
  CHECK(!last.value("error", "").empty());
  CHECK_THROWS_AS(s.cancel(id), ServiceError);
  CHECK_THROWS_AS(s.results(id, "json"), ServiceError);
  CHECK_THROWS_AS(s.status("nosuch"), ServiceError);
  CHECK(s.list(JobState::Failed).size() == 1);
  CHECK(s.list(JobState::Finished).empty());
  CHECK(s.metrics().find("ppxd_jobs{state=\"failed\"} 1") != std::string::npos);
}

TEST_CASE("queries: engine options are checked against the engine, as by ppx infer; networks are names") {
  const fs::path root = fs::temp_directory_path() / ("ppxd-query-" + std::to_string(::getpid()));
  fs::create_directories(root / "networks" / "gum-net");
  QueryRules rules{.models = {"gum"},
                   .max_traces = 1000000,
                   .upload_path = [&](const std::string& id) { return root / "uploads" / id; },
                   .network_path = [&](const std::string& name) { return root / "networks" / name; }};
  const auto error_of = [&](const json& query) {
    try {
      parse_query(query, rules);
    } catch (const ServiceError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(error_of({{"model", "gum"}, {"engine", "is"}, {"chains", 2}}).find("'chains' does not apply to engine 'is'") !=
        std::string::npos);
  CHECK(error_of({{"model", "gum"}, {"engine", "rmh"}, {"batch", 8}}).find("'batch' does not apply") != std::string::npos);
  CHECK(error_of({{"model", "gum"}, {"engine", "is"}, {"network", "gum-net"}}).find("does not apply") != std::string::npos);
  CHECK(error_of({{"model", "gum"}, {"engine", "rmh"}, {"chains", 2}, {"burn_in", 10}}).empty());
  if (find_engine("ic") != nullptr) {  // built with LibTorch
    CHECK(error_of({{"model", "gum"}, {"engine", "ic"}}).find("needs --network") != std::string::npos);
    CHECK(error_of({{"model", "gum"}, {"engine", "ic"}, {"network", "../etc"}}).find("must be the name") !=
          std::string::npos);
    CHECK(error_of({{"model", "gum"}, {"engine", "ic"}, {"network", "absent"}}).find("no network 'absent'") !=
          std::string::npos);
    const Query q = parse_query({{"model", "gum"}, {"engine", "ic"}, {"network", "gum-net"}, {"threads", 1}}, rules);
    CHECK(q.options.network == (root / "networks" / "gum-net").string());
    CHECK(q.options.threads == 1);
  }
  fs::remove_all(root);
}

TEST_CASE("the job index survives the service: a new one reads what the old one wrote") {
  ServiceFixture f;
  const std::string id = f.service->submit({{"model", "gum"}, {"traces", 10}})["id"];
  for (int i = 0; i < 600 && f.service->status(id)["state"] != "failed"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  f.service.reset();
  f.service = std::make_unique<InferenceService>(f.config);
  CHECK(f.service->status(id)["state"] == "failed");
  CHECK(fs::exists(f.dir / "jobs" / id / "job.json"));
  CHECK(fs::exists(f.dir / "index.sqlite"));
}

TEST_CASE("routes: the HTTP layer maps requests onto the service and errors onto statuses") {
  ServiceFixture f;
  Routes routes(*f.service, f.config);
  CHECK(routes.handle(request("GET", "/livez")).status == 200);
  CHECK(routes.handle(request("GET", "/v1/models")).status == 200);
  const ApiResponse created = routes.handle(request("POST", "/v1/queries", R"({"model":"gum","traces":5})"));
  REQUIRE(created.status == 201);
  const std::string id = json::parse(created.body)["id"];
  CHECK(created.headers.at(0) == std::pair<std::string, std::string>{"Location", "/v1/queries/" + id});
  CHECK(routes.handle(request("GET", "/v1/queries/" + id)).status == 200);
  CHECK(routes.handle(request("GET", "/v1/queries?state=queued%20")).status == 400);  // percent-decoded: "queued "
  CHECK(routes.handle(request("GET", "/v1/queries/" + id + "/results?format=xml")).status == 409);  // no result yet
  CHECK(routes.handle(request("POST", "/v1/queries", R"({"model":"gum","seed":1.5})")).status == 400);
  CHECK(routes.handle(request("GET", "/nope")).status == 404);
  CHECK(routes.handle(request("GET", "/")).content_type.rfind("text/html", 0) == 0);
  CHECK(json::parse(routes.handle(request("GET", "/openapi.json")).body)["openapi"] == "3.0.3");

  DaemonConfig with_token = f.config;
  with_token.token = "t";
  Routes guarded(*f.service, with_token);
  CHECK(guarded.handle(request("GET", "/v1/queries")).status == 401);
  ApiRequest ok = request("GET", "/v1/queries");
  ok.authorization = "Bearer t";
  CHECK(guarded.handle(ok).status == 200);
}

namespace {

// Records which job each call came from; each call takes a little while.
class RecordingSimulator final : public ppx::engines::Simulator {
 public:
  std::string model_name() override { return "recording"; }
  ppx::Tensor run(ppx::Handler&) override { return ppx::Tensor(0.0); }
  std::vector<int> calls;
};

}  // namespace

TEST_CASE("the slot dispatcher serves two jobs in turn, not one after the other") {
  RecordingSimulator sim;
  SlotDispatcher slots({.model = "m"});
  slots.add(&sim, "spawned 0");
  constexpr int kCalls = 100;
  auto job = [&](int who) {
    for (int i = 0; i < kCalls; ++i) {
      slots.with(
          [&](SlotDispatcher::Slot&) {
            sim.calls.push_back(who);  // under the slot: one caller at a time
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
            return 0;
          },
          {});
    }
  };
  std::thread a(job, 0), b(job, 1);
  a.join();
  b.join();
  REQUIRE(sim.calls.size() == 2 * kCalls);
  // First come, first served: while both jobs have calls left they alternate, so job 1's calls
  // are spread through job 0's rather than queued behind all of them.
  const auto last_of_0 = std::find(sim.calls.rbegin(), sim.calls.rend(), 0).base() - sim.calls.begin();
  const auto ones_before = std::count(sim.calls.begin(), sim.calls.begin() + last_of_0, 1);
  CHECK(ones_before >= kCalls / 2);
}

TEST_CASE("the slot dispatcher: a simulator that joins serves a waiting call; a failing registered one leaves") {
  SlotDispatcher slots({.model = "m", .empty_wait = std::chrono::milliseconds(200), .failures_to_leave = 2});
  // No simulator: a call waits empty_wait, then fails saying so.
  CHECK_THROWS_WITH(slots.with([](SlotDispatcher::Slot&) { return 0; }, {}),
                    Catch::Contains("model m has no simulator that can serve this call"));
  // A call waiting on an empty pool is served by the simulator that is added meanwhile.
  RecordingSimulator spawned;
  std::thread adder([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    slots.add(&spawned, "spawned 0");
  });
  CHECK(slots.with([](SlotDispatcher::Slot& s) { return s.endpoint; }, {}) == "spawned 0");
  adder.join();
  auto owned = std::make_unique<RecordingSimulator>();
  ppx::engines::Simulator* registered = owned.get();
  CHECK(slots.add(registered, "tcp://node:1", std::move(owned)) == 2);
  // The registered one fails twice in a row (the spawned one is held meanwhile): it leaves.
  std::mutex hold;
  std::unique_lock held(hold);
  std::thread holder([&] {
    slots.with([&](SlotDispatcher::Slot&) { std::lock_guard wait(hold); return 0; }, {});
  });
  for (int i = 0; i < 5000 && !slots.describe()[0]["busy"].get<bool>(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  REQUIRE(slots.describe()[0]["busy"] == true);  // the holder has the spawned one
  for (int i = 0; i < 2; ++i) {
    CHECK_THROWS_AS(slots.with(
                        [&](SlotDispatcher::Slot& s) -> int {
                          if (s.endpoint == "tcp://node:1") throw ppx::engines::SimulatorFailure("gone");
                          return 0;
                        },
                        {}),
                    ppx::engines::SimulatorFailure);
  }
  held.unlock();
  holder.join();
  CHECK(slots.size() == 1);
  CHECK(slots.describe()[0]["endpoint"] == "spawned 0");
  CHECK_FALSE(slots.remove("spawned 0"));  // spawned simulators do not deregister
  // An interrupted wait ends with Interrupted.
  slots.stop();
  CHECK_THROWS_AS(slots.with([](SlotDispatcher::Slot&) { return 0; }, {}), ppx::engines::Interrupted);
}
