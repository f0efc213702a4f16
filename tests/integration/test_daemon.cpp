// ppxd as a user runs it: the real daemon and real gum simulators on loopback (ephemeral ports),
// driven over HTTP and through `ppx submit|status|wait|results|cancel|list`.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "http_client.h"
#include "subprocess.h"
#include "scratch.h"
#include "test_paths.h"

using nlohmann::json;
using ppx::test::Daemon;
using ppx::test::http;
using ppx::test::program;
namespace fs = std::filesystem;

namespace {

// Lines of a samples.csv that are '#' comments (its self-describing header).
long comment_lines(const std::string& csv) {
  long n = 0;
  for (std::size_t at = 0; at < csv.size() && csv[at] == '#'; ++n) {
    at = csv.find('\n', at);
    if (at == std::string::npos) return n + 1;
    ++at;
  }
  return n;
}

fs::path fresh_dir(const std::string& name) { return ppx::test::fresh_dir("ppxd-test-" + name); }

// A config for gum with `workers` simulators; `extra` goes into [server].
fs::path write_config(const fs::path& dir, int workers, const std::string& extra = "", const std::string& limits = "") {
  const fs::path path = dir / "ppxd.toml";
  std::ofstream(path) << "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"" << (dir / "data").string() << "\"\n"
                      << extra << "\n[limits]\n" << limits << "\n[models.gum]\nsimulator = \"" << program("gum")
                      << " --serve {endpoint}\"\nworkers = " << workers << "\n";
  return path;
}

json submit(int port, const json& query, const std::string& token = "") {
  const auto r = http(port, "POST", "/v1/queries", query.dump(), token);
  INFO(r.body);
  REQUIRE(r.status == 201);
  const json job = json::parse(r.body);
  CHECK(r.headers.at("location") == "/v1/queries/" + job["id"].get<std::string>());
  return job;
}

// The job's posterior.json (GET .../results, JSON by default).
json posterior_of(int port, const std::string& id) {
  return json::parse(http(port, "GET", "/v1/queries/" + id + "/results").body);
}

// Stops ppxd, then removes its folder: a running daemon may still be writing there.
void remove_after_stop(Daemon& d, const fs::path& dir) {
  d.stop(SIGTERM);
  fs::remove_all(dir);
}

json status(int port, const std::string& id) {
  const auto r = http(port, "GET", "/v1/queries/" + id);
  REQUIRE(r.status == 200);
  return json::parse(r.body);
}

// Polls (bounded: 120 s) until `done` holds for the job.
template <typename Pred>
json poll_until(int port, const std::string& id, Pred done) {
  json job;
  for (int i = 0; i < 1200; ++i) {
    job = status(port, id);
    if (done(job)) return job;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  FAIL("query " << id << " never reached the expected state; last: " << job.dump());
  return job;
}

json wait_final(int port, const std::string& id) {
  return poll_until(port, id, [](const json& j) {
    const std::string s = j["state"];
    return s != "queued" && s != "running";
  });
}

const json kGumQuery = {{"model", "gum"}, {"engine", "is"}, {"traces", 20000}, {"seed", 1},
                        {"observations", {{"obs0", 8}, {"obs1", 9}}}};

// Exact posterior of gum given obs 8, 9: mean 7.25, sd sqrt(5/6). Tolerance 5 SE, SE = sd/sqrt(ESS).
void check_gum_posterior(const json& posterior) {
  const double ess = posterior["diagnostics"]["ess"];
  const double mean = posterior["variables"]["mu"]["mean"];
  CHECK(std::abs(mean - 7.25) < 5 * 0.9129 / std::sqrt(ess));
}

const json kLongQuery = {{"model", "gum"}, {"engine", "is"}, {"traces", 50'000'000}, {"seed", 2},
                         {"observations", {{"obs0", 8}, {"obs1", 9}}}};

}  // namespace

TEST_CASE("ppxd answers a query, serves its results in three formats, and lists it") {
  const fs::path dir = fresh_dir("basic");
  Daemon d(program("ppxd"), write_config(dir, 2), dir);
  CHECK(http(d.port(), "GET", "/livez").status == 200);
  CHECK(http(d.port(), "GET", "/readyz").status == 200);
  const json models = json::parse(http(d.port(), "GET", "/v1/models").body);
  REQUIRE(models.size() == 1);
  CHECK(models[0]["name"] == "gum");
  CHECK(models[0]["simulators"] == 2);

  const json job = submit(d.port(), kGumQuery);
  CHECK((job["state"] == "queued" || job["state"] == "running"));
  const json done = wait_final(d.port(), job["id"]);
  REQUIRE(done["state"] == "finished");
  CHECK(done["progress"]["done"] == 20000);

  const auto results = http(d.port(), "GET", "/v1/queries/" + done["id"].get<std::string>() + "/results?format=json");
  REQUIRE(results.status == 200);
  const json posterior = json::parse(results.body);
  CHECK(posterior["diagnostics"]["traces"] == 20000);
  CHECK(posterior["query"]["model_name"] == "gum");
  check_gum_posterior(posterior);

  const auto csv = http(d.port(), "GET", "/v1/queries/" + done["id"].get<std::string>() + "/results?format=csv");
  REQUIRE(csv.status == 200);
  CHECK(csv.body.starts_with("# ppxd "));  // the self-describing header, as ppx infer writes it
  CHECK(std::count(csv.body.begin(), csv.body.end(), '\n') - comment_lines(csv.body) == 20001);  // columns + rows

  // Same seed, same query, same posterior (reproducible through the daemon as through ppx infer).
  const json again = wait_final(d.port(), submit(d.port(), kGumQuery)["id"]);
  const json posterior2 = posterior_of(d.port(), again["id"].get<std::string>());
  CHECK(posterior2["variables"] == posterior["variables"]);

  const json finished = json::parse(http(d.port(), "GET", "/v1/queries?state=finished").body);
  CHECK(finished.size() == 2);
  CHECK(json::parse(http(d.port(), "GET", "/v1/queries?state=running").body).empty());

  const auto metrics = http(d.port(), "GET", "/metrics");
  CHECK(metrics.body.find("ppxd_jobs{state=\"finished\"} 2") != std::string::npos);
  CHECK(metrics.body.find("ppxd_queue_length 0") != std::string::npos);
  const json openapi = json::parse(http(d.port(), "GET", "/openapi.json").body);
  CHECK(openapi["paths"].contains("/v1/queries/{id}/events"));
  remove_after_stop(d, dir);
}

TEST_CASE("ppxd's results are ArviZ-readable NetCDF (read back with xarray)") {
  const fs::path dir = fresh_dir("netcdf");
  Daemon d(program("ppxd"), write_config(dir, 2), dir);
  json q = kGumQuery;
  q["traces"] = 3000;
  const json is = wait_final(d.port(), submit(d.port(), q)["id"]);
  REQUIRE(is["state"] == "finished");
  json mcmc_query = {{"model", "gum"}, {"engine", "rmh"}, {"traces", 300}, {"chains", 2}, {"burn_in", 50}, {"seed", 3},
                     {"observations", {{"obs0", 8}, {"obs1", 9}}}};
  const json mcmc = wait_final(d.port(), submit(d.port(), mcmc_query)["id"]);
  REQUIRE(mcmc["state"] == "finished");
  for (const auto& [job, chains, draws] : {std::tuple{is, 1, 3000}, std::tuple{mcmc, 2, 300}}) {
    const auto nc = http(d.port(), "GET", "/v1/queries/" + job["id"].get<std::string>() + "/results?format=netcdf");
    REQUIRE(nc.status == 200);
    const fs::path file = dir / (job["id"].get<std::string>() + ".nc");
    std::ofstream(file, std::ios::binary) << nc.body;
    // The groups ArviZ's from_netcdf reads, with dims (chain, draw) and provenance attributes.
    const std::string script =
        "import sys, xarray as xr\n"
        "f = sys.argv[1]\n"
        "post = xr.open_dataset(f, group='posterior')\n"
        "stats = xr.open_dataset(f, group='sample_stats')\n"
        "obs = xr.open_dataset(f, group='observed_data')\n"
        "print(post['mu'].dims, post.sizes['chain'], post.sizes['draw'], float(post['mu'].mean()),\n"
        "      'log_weight' in stats, float(obs['obs0'].values.ravel()[0]), post.attrs['inference_library'],\n"
        "      post.attrs['model_name'])\n"
        // MCMC: lp is gum's log joint at each draw (up to a constant, should constants be dropped),
        // acceptance a probability per draw; acceptance is checked when the engine writes it.
        "if 'lp' in stats:\n"
        "    import numpy as np\n"
        "    mu = post['mu'].values\n"
        "    joint = -(mu - 1)**2 / (2 * 5) - ((8 - mu)**2 + (9 - mu)**2) / (2 * 2)\n"
        "    offset = stats['lp'].values - joint\n"
        "    print('lp', stats['lp'].dims, 'constant' if np.ptp(offset) < 1e-6 else 'varies %g' % np.ptp(offset))\n"
        "    if 'acceptance' in stats:\n"
        "        a = stats['acceptance'].values\n"
        "        print('acceptance', stats['acceptance'].dims, bool(((a >= 0) & (a <= 1)).all()))\n";
    std::ofstream(dir / "read.py") << script;
    const auto r = ppx::test::run_command("/usr/bin/python3 " + (dir / "read.py").string() + " " + file.string() + " 2>&1");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(r.output.find("('chain', 'draw') " + std::to_string(chains) + " " + std::to_string(draws)) != std::string::npos);
    CHECK(r.output.find("True 8.0 ppxd gum") != std::string::npos);
    if (chains == 2) {
      CHECK(r.output.find("lp ('chain', 'draw') constant") != std::string::npos);
      if (r.output.find("acceptance") != std::string::npos) {
        CHECK(r.output.find("acceptance ('chain', 'draw') True") != std::string::npos);
      }
    } else {
      CHECK(r.output.find("lp ") == std::string::npos);  // IS has no lp
    }
  }
  remove_after_stop(d, dir);
}

TEST_CASE("ppxd cancels a running query through the engine's interrupt and keeps what it had") {
  const fs::path dir = fresh_dir("cancel");
  Daemon d(program("ppxd"), write_config(dir, 2), dir);
  const json job = submit(d.port(), kLongQuery);
  const std::string id = job["id"];
  poll_until(d.port(), id, [](const json& j) { return j["state"] == "running" && j["progress"].value("done", 0) > 0; });
  const auto r = http(d.port(), "POST", "/v1/queries/" + id + "/cancel");
  REQUIRE(r.status == 200);
  const json done = wait_final(d.port(), id);
  CHECK(done["state"] == "cancelled");
  CHECK(done["has_result"] == true);
  const json posterior = posterior_of(d.port(), id);
  CHECK(posterior["interrupted"] == true);
  CHECK(posterior["diagnostics"]["traces"].get<long>() > 0);
  // A final query cannot be cancelled again: 409 with the error body.
  const auto again = http(d.port(), "POST", "/v1/queries/" + id + "/cancel");
  CHECK(again.status == 409);
  CHECK(json::parse(again.body)["error"]["code"] == "conflict");
  remove_after_stop(d, dir);
}

TEST_CASE("two concurrent queries share one pool and both get their exact trace counts") {
  const fs::path dir = fresh_dir("shared");
  Daemon d(program("ppxd"), write_config(dir, 2, "", "running_jobs = 2"), dir);
  json a = kGumQuery, b = kGumQuery;
  a["traces"] = 30000;
  b["traces"] = 20000;
  b["seed"] = 5;
  b["whole_trace"] = false;  // lock-step: many small calls interleaved with a's batches
  const std::string ia = submit(d.port(), a)["id"], ib = submit(d.port(), b)["id"];
  // Both run at once: b starts while a is still running (2 runners, one pool of 2 simulators).
  const json b_running = poll_until(d.port(), ib, [](const json& j) { return j["state"] != "queued"; });
  const json da = wait_final(d.port(), ia), db = wait_final(d.port(), ib);
  REQUIRE(da["state"] == "finished");
  REQUIRE(db["state"] == "finished");
  CHECK(da["progress"]["done"] == 30000);
  CHECK(db["progress"]["done"] == 20000);
  check_gum_posterior(posterior_of(d.port(), ia));
  check_gum_posterior(posterior_of(d.port(), ib));
  const json models = json::parse(http(d.port(), "GET", "/v1/models").body);
  CHECK(models[0]["simulator_restarts"] == 0);
  remove_after_stop(d, dir);
}

TEST_CASE("ppxd streams progress as Server-Sent Events, ending with a final event") {
  const fs::path dir = fresh_dir("sse");
  Daemon d(program("ppxd"), write_config(dir, 2), dir);
  json q = kGumQuery;
  q["traces"] = 50000;
  const std::string id = submit(d.port(), q)["id"];
  const std::string raw = ppx::test::http_raw(
      d.port(), "GET /v1/queries/" + id + "/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 120);
  CHECK(raw.find("Content-Type: text/event-stream") != std::string::npos);
  const auto end = raw.rfind("event: end\ndata: ");
  REQUIRE(end != std::string::npos);
  const json last = json::parse(raw.substr(end + 17, raw.find("\n\n", end) - end - 17));
  CHECK(last["state"] == "finished");
  CHECK(last["progress"]["done"] == 50000);
  CHECK(raw.find("event: progress") < end);
  CHECK(http(d.port(), "GET", "/v1/queries/nosuch/events").status == 404);
  remove_after_stop(d, dir);
}

TEST_CASE("after SIGKILL a restarted ppxd serves finished results and marks the running query interrupted") {
  const fs::path dir = fresh_dir("restart");
  const fs::path config = write_config(dir, 2);
  std::string finished_id, running_id;
  json finished_posterior;
  {
    Daemon d(program("ppxd"), config, dir);
    finished_id = wait_final(d.port(), submit(d.port(), kGumQuery)["id"])["id"];
    finished_posterior = posterior_of(d.port(), finished_id);
    running_id = submit(d.port(), kLongQuery)["id"];
    poll_until(d.port(), running_id, [](const json& j) { return j["progress"].value("done", 0) > 0; });
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // let the job folder record progress
    d.stop(SIGKILL);
  }
  Daemon d(program("ppxd"), config, dir);
  const json finished = status(d.port(), finished_id);
  CHECK(finished["state"] == "finished");
  CHECK(posterior_of(d.port(), finished_id) == finished_posterior);
  const json interrupted = status(d.port(), running_id);
  CHECK(interrupted["state"] == "interrupted");
  CHECK(interrupted["progress"]["done"].get<long>() > 0);  // what it had
  // Re-queue on request: it runs again; then cancel it to finish the test.
  const auto requeue = http(d.port(), "POST", "/v1/queries/" + running_id + "/requeue");
  REQUIRE(requeue.status == 200);
  poll_until(d.port(), running_id, [](const json& j) { return j["state"] == "running"; });
  CHECK(http(d.port(), "POST", "/v1/queries/" + running_id + "/cancel").status == 200);
  CHECK(wait_final(d.port(), running_id)["state"] == "cancelled");
  CHECK(http(d.port(), "POST", "/v1/queries/" + finished_id + "/requeue").status == 409);
  remove_after_stop(d, dir);
}

TEST_CASE("ppxd refuses bad requests with 4xx and an error body that says what to fix") {
  const fs::path dir = fresh_dir("bad");
  Daemon d(program("ppxd"), write_config(dir, 1, "", "body_bytes = 100000\nqueued_jobs = 3\nrunning_jobs = 1"), dir);
  struct Case {
    std::string method, target, body;
    int status;
    std::string code, message;
  };
  const std::vector<Case> cases = {
      {"POST", "/v1/queries", "{not json", 400, "bad_request", "malformed JSON"},
      {"POST", "/v1/queries", R"({"model": "nope"})", 404, "not_found", "unknown model 'nope'"},
      {"POST", "/v1/queries", R"({"model": "gum", "colour": 1})", 400, "bad_request", "unknown field 'colour'"},
      {"POST", "/v1/queries", R"({"model": "gum", "engine": "magic"})", 400, "bad_request", "unknown engine 'magic'"},
      {"POST", "/v1/queries", R"({"model": "gum", "traces": -5})", 400, "bad_request", "'traces'"},
      {"POST", "/v1/queries", R"({"model": "gum", "observations": {"obs0": [[1, 2], [3]]}})", 400, "bad_request", "obs0"},
      {"POST", "/v1/queries", R"({"model": "gum", "observations": {"obs0": "eight"}})", 400, "bad_request", "obs0"},
      {"POST", "/v1/queries", R"({"model": "gum", "observations": {"x": {"upload": "abc123"}}})", 400, "bad_request", "no upload"},
      {"POST", "/v1/queries", "[1, 2]", 400, "bad_request", "JSON object"},
      {"POST", "/v1/observations", "not an npy file", 400, "bad_request", ".npy"},
      {"GET", "/v1/queries/doesnotexist", "", 404, "not_found", "no query"},
      {"GET", "/v1/queries?state=sleeping", "", 400, "bad_request", "state must be"},
      {"GET", "/v2/everything", "", 404, "not_found", "openapi"},
      {"DELETE", "/v1/queries", "", 404, "not_found", "DELETE"},
  };
  for (const Case& c : cases) {
    const auto r = http(d.port(), c.method, c.target, c.body);
    INFO(c.method << " " << c.target << " " << c.body << " -> " << r.status << " " << r.body);
    CHECK(r.status == c.status);
    const json body = json::parse(r.body);
    CHECK(body["error"]["code"] == c.code);
    CHECK(body["error"]["message"].get<std::string>().find(c.message) != std::string::npos);
  }
  // A body over limits.body_bytes: 413, and the daemon is still there.
  const auto huge = http(d.port(), "POST", "/v1/queries", std::string(200000, ' '));
  CHECK(huge.status == 413);
  CHECK(json::parse(huge.body)["error"]["code"] == "payload_too_large");
  // Garbage on the socket: 400 and a JSON error.
  const auto garbage = ppx::test::parse_reply(ppx::test::http_raw(d.port(), "\x01\x02 nonsense\r\n\r\n"));
  CHECK(garbage.status == 400);
  // The queue has a limit: 429 beyond it (at most one running and three queued of six).
  int refused = 0;
  for (int i = 0; i < 6; ++i) refused += http(d.port(), "POST", "/v1/queries", kLongQuery.dump()).status == 429;
  CHECK(refused >= 2);
  CHECK(http(d.port(), "GET", "/livez").status == 200);
  for (const json& j : json::parse(http(d.port(), "GET", "/v1/queries").body)) {
    http(d.port(), "POST", "/v1/queries/" + j["id"].get<std::string>() + "/cancel");
  }
  remove_after_stop(d, dir);
}

TEST_CASE("a token, when set, is required; a non-loopback listen address needs one") {
  const fs::path dir = fresh_dir("token");
  Daemon d(program("ppxd"), write_config(dir, 1, "token = \"s3cret\""), dir);
  const auto no = http(d.port(), "GET", "/v1/queries");
  CHECK(no.status == 401);
  CHECK(json::parse(no.body)["error"]["code"] == "unauthorized");
  CHECK(http(d.port(), "GET", "/v1/queries", "", "wrong").status == 401);
  CHECK(http(d.port(), "GET", "/v1/queries", "", "s3cret").status == 200);
  CHECK(http(d.port(), "GET", "/?token=s3cret").status == 200);
  CHECK(http(d.port(), "GET", "/livez").status == 200);  // probes need no token

  // Listening beyond loopback without a token is a configuration error (exit 2, names the key).
  const fs::path open_config = dir / "open.toml";
  std::ofstream(open_config) << "[server]\nlisten = \"0.0.0.0:0\"\ndata_dir = \"" << (dir / "data2").string()
                             << "\"\n[models.gum]\nsimulator = \"gum --serve {endpoint}\"\n";
  const auto r = ppx::test::run_command(program("ppxd") + " --config " + open_config.string() + " 2>&1");
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("server.token") != std::string::npos);
  remove_after_stop(d, dir);
}

TEST_CASE("ppx submit|status|wait|results|cancel|list drive the daemon") {
  const fs::path dir = fresh_dir("client");
  Daemon d(program("ppxd"), write_config(dir, 2, "token = \"tok\""), dir);
  const std::string ppx = "PPX_TOKEN=tok " + program("ppx");
  const std::string daemon = " --daemon http://127.0.0.1:" + std::to_string(d.port());
  // An observation from an .npy file goes up through POST /v1/observations.
  const auto npy = ppx::test::run_command("/usr/bin/python3 -c \"import numpy; numpy.save('" + (dir / "obs1.npy").string() +
                                          "', numpy.float64(9))\"");
  REQUIRE(npy.exit_code == 0);
  const auto submitted = ppx::test::run_command(ppx + " submit" + daemon +
                                                " --model gum --traces 5000 --seed 1 --observe obs0=8 --observe obs1=@" +
                                                (dir / "obs1.npy").string() + " --wait -q");
  INFO(submitted.output << d.log());
  REQUIRE(submitted.exit_code == 0);
  const std::string id = submitted.output.substr(0, submitted.output.find('\n'));
  CHECK(id.size() == 16);
  const auto st = ppx::test::run_command(ppx + " status " + id + daemon);
  REQUIRE(st.exit_code == 0);
  CHECK(json::parse(st.output)["state"] == "finished");
  const auto csv = ppx::test::run_command(ppx + " results " + id + daemon + " --format csv");
  CHECK(csv.exit_code == 0);
  CHECK(csv.output.find("\nlog_weight,mu,result\n") != std::string::npos);  // after the '#' header
  const auto posterior = ppx::test::run_command(ppx + " results " + id + daemon);
  check_gum_posterior(json::parse(posterior.output));
  CHECK(json::parse(posterior.output)["query"]["observations"]["obs1"]["value"]["data"][0] == 9.0);
  const auto waited = ppx::test::run_command(ppx + " wait " + id + daemon + " 2>&1");
  CHECK(waited.exit_code == 0);
  CHECK(waited.output.find("finished 5000/5000") != std::string::npos);

  const auto big = ppx::test::run_command(ppx + " submit" + daemon + " --model gum --traces 50000000 --observe obs0=8");
  REQUIRE(big.exit_code == 0);
  const std::string big_id = big.output.substr(0, big.output.find('\n'));
  const auto cancelled = ppx::test::run_command(ppx + " cancel " + big_id + daemon);
  CHECK(cancelled.exit_code == 0);
  const auto wait_big = ppx::test::run_command(ppx + " wait -q " + big_id + daemon + " 2>&1");
  CHECK(wait_big.exit_code == 1);
  CHECK(wait_big.output.find("cancelled") != std::string::npos);
  const auto list = ppx::test::run_command(ppx + " list" + daemon);
  CHECK(list.output.find(id) != std::string::npos);
  CHECK(list.output.find(big_id) != std::string::npos);
  // The daemon's refusal reaches the user as one line and exit 1.
  const auto unknown = ppx::test::run_command(ppx + " status nosuch" + daemon + " 2>&1");
  CHECK(unknown.exit_code == 1);
  CHECK(unknown.output.find("404") != std::string::npos);
  const auto no_token = ppx::test::run_command(program("ppx") + " list" + daemon + " 2>&1");
  CHECK(no_token.exit_code == 1);
  CHECK(no_token.output.find("401") != std::string::npos);
  remove_after_stop(d, dir);
}

TEST_CASE("the standard-library Python example submits, follows and loads a query") {
  const fs::path dir = fresh_dir("example");
  Daemon d(program("ppxd"), write_config(dir, 2), dir);
  const auto r = ppx::test::run_command("/usr/bin/python3 " + std::string(PPX_SOURCE_DIR) +
                                        "/examples/submit_query.py --daemon http://127.0.0.1:" + std::to_string(d.port()) +
                                        " --model gum --traces 4000 --observe obs0=8 --observe obs1=9 2>&1");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("finished 4000/4000") != std::string::npos);
  CHECK(r.output.find("mu ") != std::string::npos);
  remove_after_stop(d, dir);
}

TEST_CASE("the page loads in headless chromium and shows a finished query with its plots, without console errors") {
  const std::string chromium = "/usr/bin/chromium";
  if (!fs::exists(chromium)) {
    if (std::getenv("CI") != nullptr && std::string(std::getenv("CI")) == "true") FAIL("chromium is missing");
    WARN("skipped: /usr/bin/chromium is not installed");
    return;
  }
  const fs::path dir = fresh_dir("page");
  Daemon d(program("ppxd"), write_config(dir, 2), dir);
  json mcmc = {{"model", "gum"}, {"engine", "rmh"}, {"traces", 300}, {"chains", 2}, {"seed", 3},
               {"observations", {{"obs0", 8}, {"obs1", 9}}}};
  const std::string id = wait_final(d.port(), submit(d.port(), mcmc)["id"])["id"];
  const std::string url = "http://127.0.0.1:" + std::to_string(d.port()) + "/";
  // The screenshot is a test artefact in the build tree (kept out of git).
  const std::string shot = (fs::path(ppx::test::bin_dir()) / ".." / "tests" / "ppxd-page.png").string();
  const std::string flags = " --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir=" +
                            (dir / "chromium").string() + " --enable-logging=stderr --v=0 --virtual-time-budget=3000";
  const auto dom = ppx::test::run_command(chromium + flags + " --dump-dom " + url + " 2>" + (dir / "console.log").string());
  REQUIRE(dom.exit_code == 0);
  CHECK(dom.output.find("Posterior of query <code>" + id + "</code>") != std::string::npos);
  CHECK(dom.output.find("<svg") != std::string::npos);
  CHECK(dom.output.find("mu (trace per chain)") != std::string::npos);
  CHECK(dom.output.find("mu (weighted histogram)") != std::string::npos);
  CHECK(dom.output.find("id=\"job-" + id + "\"") != std::string::npos);
  std::ifstream console(dir / "console.log");
  for (std::string line; std::getline(console, line);) {
    INFO(line);
    CHECK(line.find("CONSOLE") == std::string::npos);  // chromium logs page console messages so
    CHECK(line.find("Uncaught") == std::string::npos);
  }
  ppx::test::run_command(chromium + flags + " --window-size=1200,1400 --screenshot=" + shot + " " + url + " 2>/dev/null");
  CHECK(fs::exists(shot));
  remove_after_stop(d, dir);
}

TEST_CASE("a simulator started elsewhere registers and serves the model's queries") {
  const fs::path dir = fresh_dir("register");
  const fs::path config = dir / "ppxd.toml";
  std::ofstream(config) << "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"" << (dir / "data").string()
                        << "\"\nregistration = \"tcp://127.0.0.1:*\"\n[models.gum]\n";
  Daemon d(program("ppxd"), config, dir);
  // Before any simulator joins, a query fails with a message that says so.
  json q = kGumQuery;
  q["traces"] = 2000;
  const json lonely = wait_final(d.port(), submit(d.port(), q)["id"]);
  CHECK(lonely["state"] == "failed");
  CHECK(lonely["error"].get<std::string>().find("no simulators") != std::string::npos);

  const std::string log = d.log();
  const auto at = log.find("simulators register on ");
  REQUIRE(at != std::string::npos);
  const std::string registration = log.substr(at + 23, log.find('\n', at) - at - 23);
  // A PPX simulator on its own endpoint (as a batch job would start it), then one REQ message.
  const std::string endpoint = "ipc://" + (dir / "gum-0").string();
  const std::string serve = program("gum") + " --serve " + endpoint + " >/dev/null 2>&1 & echo $!";
  const auto started = ppx::test::run_command(serve);
  struct KillOnExit {
    std::string pid;
    ~KillOnExit() { ppx::test::run_command("kill " + pid + " 2>/dev/null"); }
  } simulator{started.output.substr(0, started.output.find('\n'))};
  const auto reg = ppx::test::run_command(
      "/usr/bin/python3 -c \"import sys, zmq; s = zmq.Context().socket(zmq.REQ); s.setsockopt(zmq.RCVTIMEO, 10000); "
      "s.connect(sys.argv[1]); s.send_json({'model': 'gum', 'endpoint': sys.argv[2]}); print(s.recv_json())\" " +
      registration + " " + endpoint);
  INFO(reg.output);
  CHECK(reg.exit_code == 0);
  CHECK(reg.output.find("'ok': True") != std::string::npos);
  const json models = json::parse(http(d.port(), "GET", "/v1/models").body);
  CHECK(models[0]["simulators"] == 1);
  const json done = wait_final(d.port(), submit(d.port(), q)["id"]);
  CHECK(done["state"] == "finished");
  CHECK(done["progress"]["done"] == 2000);
  remove_after_stop(d, dir);
}

TEST_CASE("observation names and shapes are checked against the model; GET /v1/models gives its addresses") {
  const fs::path dir = fresh_dir("check");
  // A second model whose simulator takes 2 s to start, so that a query sent at once is almost
  // surely accepted before its statements are known (and then fails at start with the same message).
  const fs::path config = write_config(dir, 1);
  std::ofstream(config, std::ios::app) << "[models.slow]\nsimulator = \"sh -c 'sleep 2; exec " << program("gum")
                                        << " --serve {endpoint}'\"\nworkers = 1\n";
  Daemon d(program("ppxd"), config, dir);
  json early = kGumQuery;
  early["model"] = "slow";
  early["observations"] = {{"obs9", 8}};
  const auto early_reply = http(d.port(), "POST", "/v1/queries", early.dump());
  std::string early_message;
  if (early_reply.status == 201) {  // accepted while the model was not known: fails when it starts
    const json failed = wait_final(d.port(), json::parse(early_reply.body)["id"]);
    CHECK(failed["state"] == "failed");
    early_message = failed.value("error", "");
  } else {  // the learner was quicker after all: refused at submit
    CHECK(early_reply.status == 400);
    early_message = json::parse(early_reply.body)["error"]["message"];
  }
  INFO(early_message);
  CHECK(early_message.find("observations obs9: the model has no observe or sample statement") != std::string::npos);
  CHECK(early_message.find("its names: mu, obs0, obs1") != std::string::npos);

  // Once learned (bounded wait: 60 s), GET /v1/models carries the address summary.
  json gum;
  for (int i = 0; i < 600; ++i) {
    gum = json::parse(http(d.port(), "GET", "/v1/models").body)[0];
    if (!gum["addresses"].is_null()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(gum["name"] == "gum");
  REQUIRE(gum["addresses"].is_object());
  CHECK(gum["addresses"]["traces"] == 50);
  std::map<std::string, json> by_name;
  for (const json& a : gum["addresses"]["addresses"]) by_name[a["names"][0].get<std::string>()] = a;
  REQUIRE(by_name.size() == 3);
  CHECK(by_name["mu"]["kind"] == "sample");
  CHECK(by_name["mu"]["distribution"] == "Normal");
  CHECK(by_name["mu"]["controlled"] == true);
  CHECK(by_name["mu"]["frequency"] == 1.0);
  CHECK(by_name["obs0"]["kind"] == "observe");
  CHECK(by_name["obs1"]["controlled"].is_null());
  CHECK(gum["addresses"]["trace_types"].size() == 1);

  // Known now: an unknown name and a wrong shape are refused at submit, saying what to fix.
  json typo = kGumQuery;
  typo["observations"] = {{"obs0", 8}, {"obsl", 9}};
  const auto refused = http(d.port(), "POST", "/v1/queries", typo.dump());
  CHECK(refused.status == 400);
  const std::string typo_message = json::parse(refused.body)["error"]["message"];
  CHECK(typo_message.find("observations obsl:") != std::string::npos);
  CHECK(typo_message.find("its names: mu, obs0, obs1") != std::string::npos);
  json shaped = kGumQuery;
  shaped["observations"] = {{"obs0", {8, 9}}, {"obs1", 9}};
  const auto wrong_shape = http(d.port(), "POST", "/v1/queries", shaped.dump());
  CHECK(wrong_shape.status == 400);
  const std::string shape_message = json::parse(wrong_shape.body)["error"]["message"];
  CHECK(shape_message.find("observation 'obs0' has shape [2]") != std::string::npos);
  CHECK(shape_message.find("draws values of shape [] (a scalar)") != std::string::npos);
  CHECK(json::parse(http(d.port(), "GET", "/v1/queries").body).size() == (early_reply.status == 201 ? 1 : 0));
  // A right query still runs, and one without observations says it samples the prior.
  json prior = kGumQuery;
  prior["traces"] = 200;
  prior.erase("observations");
  const json prior_done = wait_final(d.port(), submit(d.port(), prior)["id"]);
  CHECK(prior_done["state"] == "finished");
  CHECK(prior_done["warnings"].dump().find("this samples the prior") != std::string::npos);
  remove_after_stop(d, dir);
}

namespace {

// A free loopback TCP port (the kernel's pick, released again at once).
int free_port() {
  const auto r = ppx::test::run_command(
      "/usr/bin/python3 -c \"import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])\"");
  return std::stoi(r.output);
}

// The model's pool as GET /v1/models shows it: endpoint -> calls served.
std::map<std::string, long> pool_calls(int port) {
  std::map<std::string, long> out;
  const json models = json::parse(http(port, "GET", "/v1/models").body);  // kept: the loop reads into it
  for (const json& s : models[0]["simulator_calls"]) out[s["endpoint"]] = s["calls"];
  return out;
}

template <typename Pred>
bool eventually(Pred done) {  // bounded: 60 s
  for (int i = 0; i < 600; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace

TEST_CASE("a pool grows and shrinks while a query runs; the Slurm array script registers and leaves") {
  const fs::path dir = fresh_dir("elastic");
  // Short timeouts, so that a simulator killed mid-call is given up on quickly.
  const fs::path config = dir / "ppxd.toml";
  std::ofstream(config) << "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"" << (dir / "data").string()
                        << "\"\nregistration = \"tcp://127.0.0.1:*\"\n[models.gum]\nsimulator = \"" << program("gum")
                        << " --serve {endpoint}\"\nworkers = 1\nhandshake_timeout_ms = 3000\nreply_timeout_ms = 3000\n";
  Daemon d(program("ppxd"), config, dir);
  const std::string log = d.log();
  const auto at = log.find("simulators register on ");
  REQUIRE(at != std::string::npos);
  const std::string registration = log.substr(at + 23, log.find('\n', at) - at - 23);

  json long_query = kLongQuery;
  long_query["batch"] = 8;  // a batch's deadline is one reply_timeout per 8 traces
  const std::string id = submit(d.port(), long_query)["id"];
  poll_until(d.port(), id, [](const json& j) { return j["state"] == "running" && j["progress"]["done"] > 0; });

  // Array task 3 of examples/slurm/gum-array.sh, as Slurm would start it (no Slurm here).
  const int port = free_port();
  const std::string task_endpoint = "tcp://127.0.0.1:" + std::to_string(port);
  const auto task = ppx::test::run_command(
      "SLURM_ARRAY_TASK_ID=3 PORT_BASE=" + std::to_string(port - 3) + " PPXD_REGISTRATION=" + registration +
      " GUM=" + program("gum") + " HOST=127.0.0.1 BIND=127.0.0.1 setsid bash " + std::string(PPX_SOURCE_DIR) +
      "/examples/slurm/gum-array.sh > " + (dir / "task.log").string() + " 2>&1 & echo $!");
  struct KillOnExit {
    std::string pids;
    ~KillOnExit() { ppx::test::run_command("kill -9 -- " + pids + " 2>/dev/null"); }
  } cleanup{"-" + task.output.substr(0, task.output.find('\n'))};  // the task's process group
  // It joins the running query's pool and serves that query.
  CHECK(eventually([&] { return pool_calls(d.port())[task_endpoint] > 0; }));
  CHECK(status(d.port(), id)["state"] == "running");
  // Slurm ends the task with SIGTERM: it deregisters, and the pool shrinks back.
  ppx::test::run_command("kill -TERM " + task.output.substr(0, task.output.find('\n')));
  CHECK(eventually([&] { return !pool_calls(d.port()).contains(task_endpoint); }));
  CHECK(eventually([&] {
    std::ifstream in(dir / "task.log");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return text.find("'left': True") != std::string::npos;
  }));

  // A registered simulator that dies leaves the pool after its failures; the query goes on.
  const int dead_port = free_port();
  const std::string dead_endpoint = "tcp://127.0.0.1:" + std::to_string(dead_port);
  const auto dead = ppx::test::run_command(program("gum") + " --serve " + dead_endpoint + " >/dev/null 2>&1 & echo $!");
  const std::string dead_pid = dead.output.substr(0, dead.output.find('\n'));
  cleanup.pids += " " + dead_pid;
  const auto reg = ppx::test::run_command(
      "/usr/bin/python3 -c \"import sys, zmq; s = zmq.Context().socket(zmq.REQ); s.setsockopt(zmq.RCVTIMEO, 10000); "
      "s.connect(sys.argv[1]); s.send_json({'model': 'gum', 'endpoint': sys.argv[2]}); print(s.recv_json())\" " +
      registration + " " + dead_endpoint);
  CHECK(reg.output.find("'ok': True") != std::string::npos);
  CHECK(eventually([&] { return pool_calls(d.port())[dead_endpoint] > 0; }));
  ppx::test::run_command("kill -9 " + dead_pid);
  CHECK(eventually([&] { return !pool_calls(d.port()).contains(dead_endpoint); }));
  CHECK(d.log().find("simulator at " + dead_endpoint + " left the pool") != std::string::npos);
  const long before = status(d.port(), id)["progress"]["done"];
  CHECK(eventually([&] { return status(d.port(), id)["progress"]["done"].get<long>() > before; }));
  CHECK(status(d.port(), id)["state"] == "running");
  CHECK(http(d.port(), "POST", "/v1/queries/" + id + "/cancel").status == 200);
  CHECK(wait_final(d.port(), id)["state"] == "cancelled");

  // Later queries see only the simulator that is left, and get exact answers.
  CHECK(pool_calls(d.port()).size() == 1);
  json q = kGumQuery;
  q["traces"] = 4000;
  const json done = wait_final(d.port(), submit(d.port(), q)["id"]);
  CHECK(done["state"] == "finished");
  CHECK(done["progress"]["done"] == 4000);
  check_gum_posterior(posterior_of(d.port(), done["id"].get<std::string>()));
  remove_after_stop(d, dir);
}

TEST_CASE("an IC query runs on a network trained with ppx train and put under data_dir/networks") {
#ifndef PPX_HAVE_IC
  WARN("SKIPPED: this build has no inference compilation (LibTorch was not found)");
#else
  const fs::path dir = fresh_dir("ic");
  const fs::path network = dir / "data" / "networks" / "gum-net";
  fs::create_directories(network.parent_path());
  // A small network (LSTM 64): 6,400 traces train in seconds and give IC-IS a far higher ESS than
  // prior IS, whose ESS on this query is about 0.8% of its traces.
  const auto trained = ppx::test::run_command(
      program("ppx") + " train -q --simulator '" + program("gum") + " --serve {endpoint}' --workers 1 --traces 6400 " +
      "--seed 1 --lstm-hidden 64 --observe-embedding-dim 16 --mixture-components 3 --lr 0.003 --threads 1 " +
      "--validation-traces 64 --out " + network.string() + " 2>&1");
  INFO(trained.output);
  REQUIRE(trained.exit_code == 0);

  Daemon d(program("ppxd"), write_config(dir, 2), dir);
  json query = kGumQuery;
  query["engine"] = "ic";
  query["network"] = "gum-net";
  query["traces"] = 2000;
  const json done = wait_final(d.port(), submit(d.port(), query)["id"]);
  INFO(done.dump());
  REQUIRE(done["state"] == "finished");
  const json posterior = posterior_of(d.port(), done["id"].get<std::string>());
  CHECK(posterior["diagnostics"]["traces"] == 2000);
  CHECK(posterior["diagnostics"]["ic_steered_samples"] == 2000);  // mu, once per trace
  CHECK(posterior["diagnostics"]["ess"].get<double>() > 160);      // 10x prior IS's ~16
  check_gum_posterior(posterior);
  remove_after_stop(d, dir);
#endif
}
