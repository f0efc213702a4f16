// A bounded load test: 50 clients each submit 20 small queries and poll them to the end, at once,
// against one ppxd. Asserts no failed request, no lost job, bounded memory; prints requests/s and
// the p99 latency of the status endpoint (reported, never asserted: the machine is shared).
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "http_client.h"
#include "test_paths.h"

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

}  // namespace

TEST_CASE("50 clients x 20 queries: every request answered, every job finished, memory bounded") {
  const fs::path dir = fs::temp_directory_path() / ("ppxd-load-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "ppxd.toml") << "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"" << (dir / "data").string()
                                   << "\"\nhttp_threads = 2\n[limits]\nrunning_jobs = 2\n[models.gum]\nsimulator = \""
                                   << ppx::test::program("gum") << " --serve {endpoint}\"\nworkers = 2\n";
  ppx::test::Daemon d(ppx::test::program("ppxd"), dir / "ppxd.toml", dir);
  constexpr int kClients = 50, kQueries = 20, kTraces = 20;
  std::atomic<long> requests{0}, failed{0};
  std::mutex mutex;
  std::vector<double> status_ms;
  std::vector<std::string> ids;
  std::string first_error;
  long peak_rss = 0;
  std::atomic<bool> done{false};
  std::thread sampler([&] {
    while (!done) {
      peak_rss = std::max(peak_rss, rss_kib(d.pid()));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      try {
      for (int q = 0; q < kQueries; ++q) {
        const json query = {{"model", "gum"}, {"traces", kTraces}, {"seed", c * kQueries + q},
                            {"observations", {{"obs0", 8}, {"obs1", 9}}}};
        const auto created = ppx::test::http(d.port(), "POST", "/v1/queries", query.dump());
        ++requests;
        if (created.status != 201) {
          ++failed;
          continue;
        }
        const std::string id = json::parse(created.body)["id"];
        {
          std::lock_guard lock(mutex);
          ids.push_back(id);
        }
        // Poll (bounded: 10 minutes) until the query ends.
        for (int i = 0; i < 6000; ++i) {
          const auto t0 = std::chrono::steady_clock::now();
          const auto s = ppx::test::http(d.port(), "GET", "/v1/queries/" + id);
          const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
          ++requests;
          {
            std::lock_guard lock(mutex);
            status_ms.push_back(ms);
          }
          if (s.status != 200) {
            ++failed;
            break;
          }
          const std::string state = json::parse(s.body)["state"];
          if (state != "queued" && state != "running") break;
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      }
      } catch (const std::exception& e) {  // a refused connection or an unreadable answer
        ++failed;
        std::lock_guard lock(mutex);
        if (first_error.empty()) first_error = e.what();
      }
    });
  }
  for (std::thread& t : clients) t.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  done = true;
  sampler.join();

  INFO("first error: " << first_error);
  CHECK(failed == 0);
  REQUIRE(ids.size() == static_cast<std::size_t>(kClients * kQueries));
  const json finished = json::parse(ppx::test::http(d.port(), "GET", "/v1/queries?state=finished").body);
  CHECK(finished.size() == ids.size());  // no job lost
  for (const json& j : finished) CHECK(j["progress"]["done"] == kTraces);
  // Memory bounded: 1000 small jobs' records are a few MB; 256 MiB would mean a leak per request.
  CHECK(peak_rss > 0);
  CHECK(peak_rss < 256 * 1024);
  std::sort(status_ms.begin(), status_ms.end());
  const double p99 = status_ms[static_cast<std::size_t>(0.99 * (status_ms.size() - 1))];
  std::cout << "load: " << requests << " requests in " << seconds << " s = " << requests / seconds
            << " requests/s; status p50 " << status_ms[status_ms.size() / 2] << " ms, p99 " << p99
            << " ms; ppxd peak RSS " << peak_rss / 1024 << " MiB; " << ids.size() << " queries\n";
  d.stop(SIGTERM);
  fs::remove_all(dir);
}
