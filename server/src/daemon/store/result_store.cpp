#include "result_store.h"

#include <mutex>
#include <sqlite3.h>
#include <stdexcept>

#include "ppx/server/report.h"

namespace ppx::daemon {

namespace fs = std::filesystem;

struct ResultStore::Impl {
  fs::path root;
  sqlite3* db = nullptr;
  mutable std::mutex mutex;

  void check(int rc, const char* what) const {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
      throw std::runtime_error(std::string("job index: ") + what + ": " + sqlite3_errmsg(db));
    }
  }
  void exec(const char* sql) const {
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
      const std::string text = message != nullptr ? message : "unknown error";
      sqlite3_free(message);
      throw std::runtime_error("job index: " + text);
    }
  }
};

namespace {

// A prepared statement that finalizes itself.
struct Statement {
  Statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string("job index: ") + sqlite3_errmsg(db));
    }
  }
  ~Statement() { sqlite3_finalize(stmt); }
  void text(int i, const std::string& s) { sqlite3_bind_text(stmt, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT); }
  sqlite3_stmt* stmt = nullptr;
};

}  // namespace

ResultStore::ResultStore(const fs::path& data_dir) : impl_(std::make_unique<Impl>()) {
  impl_->root = data_dir;
  fs::create_directories(data_dir / "jobs");
  fs::create_directories(data_dir / "uploads");
  fs::create_directories(data_dir / "networks");
  const std::string index = (data_dir / "index.sqlite").string();
  if (sqlite3_open(index.c_str(), &impl_->db) != SQLITE_OK) {
    const std::string message = impl_->db != nullptr ? sqlite3_errmsg(impl_->db) : "out of memory";
    sqlite3_close(impl_->db);
    throw std::runtime_error("cannot open the job index " + index + ": " + message);
  }
  sqlite3_busy_timeout(impl_->db, 5000);
  impl_->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
  impl_->exec(
      "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, state TEXT NOT NULL, "
      "model TEXT NOT NULL, result_dir TEXT NOT NULL, job TEXT NOT NULL);"
      "CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state);");
}

ResultStore::~ResultStore() { sqlite3_close(impl_->db); }

fs::path ResultStore::job_dir(const std::string& id) const { return impl_->root / "jobs" / id; }
fs::path ResultStore::upload_path(const std::string& id) const { return impl_->root / "uploads" / (id + ".npy"); }
fs::path ResultStore::network_path(const std::string& name) const { return impl_->root / "networks" / name; }

void ResultStore::save(const nlohmann::json& job) {
  const std::string id = job.at("id");
  const fs::path dir = job_dir(id);
  const std::string text = job.dump();
  fs::create_directories(dir);
  server::write_file_atomically((dir / "job.json").string(), text + "\n");
  std::lock_guard lock(impl_->mutex);
  Statement s(impl_->db,
              "INSERT INTO jobs (id, seq, state, model, result_dir, job) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
              "ON CONFLICT(id) DO UPDATE SET state = ?3, job = ?6");
  s.text(1, id);
  sqlite3_bind_int64(s.stmt, 2, job.at("seq").get<std::int64_t>());
  s.text(3, job.at("state").get<std::string>());
  s.text(4, job.at("model").get<std::string>());
  s.text(5, dir.string());
  s.text(6, text);
  impl_->check(sqlite3_step(s.stmt), "saving a job");
}

std::vector<nlohmann::json> ResultStore::load() const {
  std::lock_guard lock(impl_->mutex);
  Statement s(impl_->db, "SELECT job FROM jobs ORDER BY seq");
  std::vector<nlohmann::json> jobs;
  int rc = 0;
  while ((rc = sqlite3_step(s.stmt)) == SQLITE_ROW) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s.stmt, 0));
    jobs.push_back(nlohmann::json::parse(text != nullptr ? text : "{}"));
  }
  impl_->check(rc, "reading the jobs");
  return jobs;
}

}  // namespace ppx::daemon
