#include "service.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <unistd.h>

#include "jobs/model_pool.h"
#include "jobs/query.h"
#include "ppx/core/npy.h"
#include "ppx/server/query_check.h"
#include "ppx/server/report.h"
#include "store/netcdf_writer.h"
#include "store/result_store.h"

namespace ppx::daemon {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string random_id() {
  static std::mutex mutex;
  static std::mt19937_64 generator{std::random_device{}()};
  std::lock_guard lock(mutex);
  return fmt::format("{:016x}", generator());
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ServiceError(ErrorCode::NotFound, "result file " + path.filename().string() + " is missing");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// One job: its record (what the store and the API show) and the runner's cancel flag.
struct Job {
  json record;  // id, seq, model, engine, state, query, progress, ...
  JobState state = JobState::Queued;
  bool cancel = false;
  std::uint64_t version = 0;
  std::chrono::steady_clock::time_point last_saved{};

  // The one place a job changes state: checks the table in job_state.cpp.
  void become(JobState to) {
    if (!transition_allowed(state, to)) throw InvalidTransition(state, to);
    state = to;
    record["state"] = std::string(state_name(to));
    if (to == JobState::Running) record["started"] = unix_now();
    if (is_final(to)) record["ended"] = unix_now();
    ++version;
  }
};

}  // namespace

struct InferenceService::Impl {
  DaemonConfig config;
  std::function<void(const std::string&)> log;
  ResultStore store;
  std::map<std::string, std::unique_ptr<ModelPool>> pools;
  QueryRules rules;

  mutable std::mutex mutex;  // guards everything below
  std::condition_variable work;
  std::map<std::string, Job> jobs;
  std::vector<std::string> order;  // ids by seq
  std::deque<std::string> queue;
  std::int64_t next_seq = 1;
  bool stopping = false;
  std::size_t running = 0;
  std::vector<std::thread> runners;
  std::mutex save_mutex;  // guards saved_versions and orders the store's writes
  std::map<std::string, std::uint64_t> saved_versions;

  Impl(const DaemonConfig& c, std::function<void(const std::string&)> l)
      : config(c), log(std::move(l)), store(c.data_dir) {}

  void say(const std::string& line) const {
    if (log) log(line);
  }

  Job& find(const std::string& id) {
    auto it = jobs.find(id);
    if (it == jobs.end()) throw ServiceError(ErrorCode::NotFound, "no query '" + id + "'");
    return it->second;
  }

  // Writes the job's current record to the store; the caller must NOT hold `mutex`, so readers
  // (status, list, events) never wait for an fsync. Saves are serialised by `save_mutex`, and a
  // record older than the one already written is skipped, so the store never goes backwards.
  void persist(const std::string& id) {
    json record;
    std::uint64_t version = 0;
    {
      std::lock_guard lock(mutex);
      Job& job = jobs.at(id);
      job.last_saved = std::chrono::steady_clock::now();
      record = job.record;
      version = job.version;
    }
    std::lock_guard lock(save_mutex);
    std::uint64_t& written = saved_versions[id];
    if (written != 0 && written >= version) return;
    store.save(record);
    written = version;
  }

  void runner_loop() {
    std::unique_lock lock(mutex);
    for (;;) {
      work.wait(lock, [&] { return stopping || !queue.empty(); });
      if (stopping) return;
      const std::string id = queue.front();
      queue.pop_front();
      Job& job = jobs.at(id);
      if (job.state != JobState::Queued) continue;  // cancelled while queued
      job.become(JobState::Running);
      ++running;
      lock.unlock();
      try {
        persist(id);
        run(id);
      } catch (const std::exception& e) {  // the store failed: say so, keep serving
        say("query " + id + ": cannot record its end: " + e.what());
      }
      lock.lock();
      --running;
    }
  }

  void finish(const std::string& id, JobState to, const std::string& error, const json& summary) {
    {
      std::lock_guard lock(mutex);
      Job& job = jobs.at(id);
    if (!error.empty()) job.record["error"] = error;
    if (!summary.is_null()) {
      job.record["summary"] = summary;
      job.record["warnings"] = summary.value("warnings", json::array());
      job.record["has_result"] = true;
    }
      job.become(to);
    }
    persist(id);
    say("query " + id + " " + std::string(state_name(to)) + (error.empty() ? "" : ": " + error));
  }

  // The query against the model's statements, learned now if not yet known (a job that started
  // before the background learner finished): throws the same usage error submit() gives, returns
  // the warnings. A model no simulator can run is left to the engine to report.
  std::vector<std::string> check_against_model(ModelPool& pool, const Query& q) {
    std::shared_ptr<const ModelKnowledge> known;
    try {
      known = pool.learn();
    } catch (const engines::EngineError& e) {
      return {std::string("the query was not checked against the model: ") + e.what()};
    }
    const server::QueryCheck check = server::check_query(known->sites, q.observations);
    if (const std::string error = check.error("observations"); !error.empty()) throw engines::EngineError(error);
    return check.warnings("\"observations\": {NAME: VALUE}");
  }

  void run(const std::string& id) {
    json query;
    {
      std::lock_guard lock(mutex);
      query = jobs.at(id).record["query"];
    }
    try {
      Query q = parse_query(query, rules);
      ModelPool& pool = *pools.at(q.model);
      const std::size_t present = pool.size();
      if (present == 0) throw engines::EngineError("model " + q.model + " has no simulators (none registered yet)");
      const auto interrupted = [&] {
        std::lock_guard lock(mutex);
        return stopping || jobs.at(id).cancel;
      };
      // Proxies, not simulators: each call takes any free simulator of the pool, one that joins
      // later included. MCMC's default (a chain per simulator) counts the simulators present now.
      auto leased = pool.lease(interrupted);
      std::vector<engines::Simulator*> simulators;
      for (auto& s : leased) simulators.push_back(s.get());
      if (q.options.chains == 0) q.options.chains = static_cast<std::uint32_t>(present);
      const std::vector<std::string> query_warnings = check_against_model(pool, q);
      const std::string model_name = pool.model_name();

      const auto start = std::chrono::steady_clock::now();
      engines::EngineCallbacks callbacks{
          .progress =
              [&](const engines::Progress& p) {
                std::unique_lock lock(mutex);
                Job& job = jobs.at(id);
                job.record["progress"] = {{"done", p.done},
                                          {"total", p.total},
                                          {"ess", p.ess},
                                          {"elapsed_seconds", p.elapsed_seconds},
                                          {"failures", p.failures},
                                          {"traces_per_second", p.elapsed_seconds > 0 ? p.done / p.elapsed_seconds : 0.0}};
                ++job.version;
                // The folder follows the job as it runs, at most once a second.
                if (std::chrono::steady_clock::now() - job.last_saved > std::chrono::seconds(1)) {
                  lock.unlock();
                  persist(id);
                }
              },
          .interrupted = interrupted,
          .log = [&](const std::string& line) { say("query " + id + ": " + line); }};
      const cli::EngineEntry* engine = find_engine(q.options.engine);
      cli::EngineOutcome outcome = engine->run(cli::InferContext{q.options, simulators, q.observations, callbacks});
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

      server::InferenceReport report;
      report.posterior = &outcome.posterior;
      report.provenance.command_line = {"ppxd", "POST /v1/queries", query.dump()};
      report.provenance.engine = engine->name;
      report.provenance.options = outcome.options;
      report.provenance.options["pool"] = {{"model", q.model}, {"simulators", present}, {"simulators_at_end", pool.size()}};
      report.provenance.observations = q.sources;
      report.provenance.observed = &q.observations;
      report.provenance.model_name = model_name;
      report.diagnostics = outcome.diagnostics;
      report.diagnostics["elapsed_seconds"] = elapsed;
      if (!outcome.chains) {
        report.diagnostics["traces_per_second"] = elapsed > 0 ? outcome.posterior.size() / elapsed : 0.0;
      }
      report.diagnostics["simulator_restarts"] = pool.restarts();
      report.variable_diagnostics = outcome.variable_diagnostics;
      report.warnings = query_warnings;
      report.warnings.insert(report.warnings.end(), outcome.warnings.begin(), outcome.warnings.end());
      report.chains = outcome.chains;
      JobState to = JobState::Finished;
      {
        std::lock_guard lock(mutex);
        if (jobs.at(id).cancel) {
          to = JobState::Cancelled;
        } else if (stopping) {
          to = JobState::Interrupted;
        }
      }
      report.interrupted = to != JobState::Finished;
      const fs::path dir = store.job_dir(id);
      server::write_report(dir.string(), report);
      write_netcdf((dir / "posterior.nc").string(), report);
      const json posterior = server::posterior_json(report);
      json summary = {{"variables", posterior.value("variables", json::object())},
                      {"diagnostics", posterior.value("diagnostics", json::object())},
                      {"warnings", report.warnings},
                      {"chains", report.chains}};
      finish(id, to, "", summary);
    } catch (const std::exception& e) {
      bool cancelled = false;
      {
        std::lock_guard lock(mutex);
        cancelled = jobs.at(id).cancel;
      }
      finish(id, cancelled ? JobState::Cancelled : JobState::Failed, e.what(), json());
    }
  }
};

InferenceService::InferenceService(const DaemonConfig& config, std::function<void(const std::string&)> log)
    : impl_(std::make_unique<Impl>(config, std::move(log))) {
  Impl& d = *impl_;
  for (const ModelConfig& m : config.models) {
    d.pools.emplace(m.name, std::make_unique<ModelPool>(m, !config.registration.empty(), d.log));
    d.rules.models.push_back(m.name);
  }
  d.rules.max_traces = config.limits.traces;
  d.rules.upload_path = [&d](const std::string& id) { return d.store.upload_path(id); };
  d.rules.network_path = [&d](const std::string& name) { return d.store.network_path(name); };

  // What the store remembers: running jobs were cut short by a crash.
  for (json record : d.store.load()) {
    Job job;
    const auto state = parse_job_state(record.value("state", ""));
    if (!state) continue;
    job.state = *state;
    job.record = std::move(record);
    const std::string id = job.record["id"];
    d.next_seq = std::max<std::int64_t>(d.next_seq, job.record.value("seq", std::int64_t{0}) + 1);
    if (job.state == JobState::Running) {
      job.become(JobState::Interrupted);
      job.record["error"] = "the daemon stopped while the query ran";
      d.store.save(job.record);
    }
    if (job.state == JobState::Queued) d.queue.push_back(id);
    d.order.push_back(id);
    d.jobs.emplace(id, std::move(job));
  }
  for (std::size_t i = 0; i < config.limits.running_jobs; ++i) d.runners.emplace_back([&d] { d.runner_loop(); });
}

InferenceService::~InferenceService() { stop(); }

void InferenceService::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->work.notify_all();
  for (std::thread& t : impl_->runners) {
    if (t.joinable()) t.join();
  }
}

json InferenceService::submit(const json& query) {
  Impl& d = *impl_;
  const Query parsed = parse_query(query, d.rules);  // throws BadRequest / NotFound
  // Checked against the model's statements when they are known; otherwise when the job starts
  // (it then fails with the same message).
  if (auto known = d.pools.at(parsed.model)->knowledge()) {
    const std::string error = server::check_query(known->sites, parsed.observations).error("observations");
    if (!error.empty()) throw ServiceError(ErrorCode::BadRequest, error);
  }
  std::lock_guard lock(d.mutex);
  if (d.stopping) throw ServiceError(ErrorCode::Unavailable, "the daemon is stopping");
  if (d.queue.size() >= d.config.limits.queued_jobs) {
    throw ServiceError(ErrorCode::TooManyRequests,
                       fmt::format("{} queries are already queued (limits.queued_jobs); retry later", d.queue.size()));
  }
  Job job;
  const std::string id = random_id();
  job.record = {{"id", id},
                {"seq", d.next_seq++},
                {"model", parsed.model},
                {"engine", parsed.options.engine},
                {"state", "queued"},
                {"query", query},
                {"progress", {{"done", 0}, {"total", 0}}},
                {"warnings", json::array()},
                {"has_result", false},
                {"created", unix_now()}};
  job.version = 1;
  json out = job.record;
  {
    // Saved before anyone can see it (a runner, a reader): durable before the API answers.
    std::lock_guard save(d.save_mutex);
    d.store.save(out);
    d.saved_versions[id] = job.version;
  }
  d.order.push_back(id);
  d.queue.push_back(id);
  d.jobs.emplace(id, std::move(job));
  d.work.notify_one();
  return out;
}

json InferenceService::status(const std::string& id) const {
  std::lock_guard lock(impl_->mutex);
  return impl_->find(id).record;
}

std::uint64_t InferenceService::version(const std::string& id) const {
  std::lock_guard lock(impl_->mutex);
  return impl_->find(id).version;
}

json InferenceService::list(std::optional<JobState> state) const {
  std::lock_guard lock(impl_->mutex);
  json out = json::array();
  for (const std::string& id : impl_->order) {
    const Job& job = impl_->jobs.at(id);
    if (state && job.state != *state) continue;
    json row = job.record;
    row.erase("summary");  // the list stays small; status() has it
    out.push_back(std::move(row));
  }
  return out;
}

json InferenceService::cancel(const std::string& id) {
  json out;
  bool changed = false;
  {
    std::lock_guard lock(impl_->mutex);
    Job& job = impl_->find(id);
    if (job.state == JobState::Queued) {
      job.become(JobState::Cancelled);
      changed = true;
    } else if (job.state == JobState::Running) {
      job.cancel = true;  // the engine's interrupt callback sees it between traces
      ++job.version;
    } else {
      throw ServiceError(ErrorCode::Conflict, "query " + id + " is already " + std::string(state_name(job.state)));
    }
    out = job.record;
  }
  if (changed) impl_->persist(id);
  return out;
}

json InferenceService::requeue(const std::string& id) {
  json out;
  {
    std::lock_guard lock(impl_->mutex);
    Job& job = impl_->find(id);
    if (job.state != JobState::Interrupted) {
      throw ServiceError(ErrorCode::Conflict, "only interrupted queries can be re-queued; " + id + " is " +
                                                  std::string(state_name(job.state)));
    }
    if (impl_->queue.size() >= impl_->config.limits.queued_jobs) {
      throw ServiceError(ErrorCode::TooManyRequests, "the queue is full (limits.queued_jobs); retry later");
    }
    job.become(JobState::Queued);
    job.cancel = false;
    job.record.erase("error");
    job.record.erase("ended");
    out = job.record;
  }
  impl_->persist(id);  // before a runner may take it: the queue is filled afterwards
  {
    std::lock_guard lock(impl_->mutex);
    impl_->queue.push_back(id);
  }
  impl_->work.notify_one();
  return out;
}

ResultFile InferenceService::results(const std::string& id, const std::string& format) const {
  fs::path dir;
  {
    std::lock_guard lock(impl_->mutex);
    const Job& job = impl_->find(id);
    if (!job.record.value("has_result", false)) {
      throw ServiceError(ErrorCode::Conflict, "query " + id + " has no result yet (state " +
                                                  std::string(state_name(job.state)) + ")");
    }
    dir = impl_->store.job_dir(id);
  }
  if (format == "json") return {"application/json", read_file(dir / "posterior.json"), "posterior.json"};
  if (format == "csv") return {"text/csv", read_file(dir / "samples.csv"), "samples.csv"};
  if (format == "netcdf") return {"application/x-netcdf", read_file(dir / "posterior.nc"), "posterior.nc"};
  throw ServiceError(ErrorCode::BadRequest, "format must be json, csv or netcdf, not '" + format + "'");
}

json InferenceService::models() const {
  json out = json::array();
  for (const auto& [name, pool] : impl_->pools) out.push_back(pool->summary());
  return out;
}

std::string InferenceService::upload_observation(const std::string& npy_bytes) {
  const std::string id = random_id();
  const fs::path path = impl_->store.upload_path(id);
  const fs::path temp = path.string() + ".checking";
  server::write_file_atomically(temp.string(), npy_bytes);
  try {
    (void)read_npy(temp.string());  // a bad file is refused now, not when a job runs
  } catch (const std::exception& e) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw ServiceError(ErrorCode::BadRequest, std::string("not a readable .npy file: ") + e.what());
  }
  fs::rename(temp, path);
  return id;
}

json InferenceService::register_simulator(const std::string& model, const std::string& endpoint) {
  auto it = impl_->pools.find(model);
  if (it == impl_->pools.end()) throw ServiceError(ErrorCode::NotFound, "unknown model '" + model + "'");
  if (endpoint.rfind("tcp://", 0) != 0 && endpoint.rfind("ipc://", 0) != 0) {
    throw ServiceError(ErrorCode::BadRequest, "endpoint must be tcp://HOST:PORT or ipc://PATH, not '" + endpoint + "'");
  }
  const std::size_t size = it->second->add_endpoint(endpoint);
  return {{"model", model}, {"endpoint", endpoint}, {"simulators", size}};
}

json InferenceService::deregister_simulator(const std::string& model, const std::string& endpoint) {
  auto it = impl_->pools.find(model);
  if (it == impl_->pools.end()) throw ServiceError(ErrorCode::NotFound, "unknown model '" + model + "'");
  try {
    const std::size_t size = it->second->remove_endpoint(endpoint);
    return {{"model", model}, {"endpoint", endpoint}, {"simulators", size}, {"left", true}};
  } catch (const std::invalid_argument& e) {
    throw ServiceError(ErrorCode::NotFound, std::string(e.what()) + " for model '" + model + "'");
  }
}

std::string InferenceService::metrics() const {
  std::string out;
  std::lock_guard lock(impl_->mutex);
  std::map<JobState, std::size_t> by_state;
  double rate = 0.0;
  for (const auto& [id, job] : impl_->jobs) {
    ++by_state[job.state];
    if (job.state == JobState::Running) rate += job.record["progress"].value("traces_per_second", 0.0);
  }
  out += "# HELP ppxd_jobs Queries by state.\n# TYPE ppxd_jobs gauge\n";
  for (JobState s : kAllJobStates) out += fmt::format("ppxd_jobs{{state=\"{}\"}} {}\n", state_name(s), by_state[s]);
  out += "# HELP ppxd_queue_length Queries waiting to run.\n# TYPE ppxd_queue_length gauge\n";
  out += fmt::format("ppxd_queue_length {}\n", by_state[JobState::Queued]);
  out += "# HELP ppxd_traces_per_second Traces per second over the running queries.\n# TYPE ppxd_traces_per_second gauge\n";
  out += fmt::format("ppxd_traces_per_second {}\n", rate);
  out += "# HELP ppxd_simulator_restarts_total Simulators restarted after a failure.\n";
  out += "# TYPE ppxd_simulator_restarts_total counter\n";
  for (const auto& [name, pool] : impl_->pools) {
    out += fmt::format("ppxd_simulator_restarts_total{{model=\"{}\"}} {}\n", name, pool->restarts());
  }
  out += "# HELP ppxd_simulators Simulators in each model's pool.\n# TYPE ppxd_simulators gauge\n";
  for (const auto& [name, pool] : impl_->pools) out += fmt::format("ppxd_simulators{{model=\"{}\"}} {}\n", name, pool->size());
  return out;
}

}  // namespace ppx::daemon
