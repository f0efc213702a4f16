#pragma once
// ResultStore: the daemon's durable memory under data_dir.
//
//   data_dir/index.sqlite        one row per job: id, seq, state, model, the job's JSON
//   data_dir/jobs/ID/job.json    the same JSON (query, state, progress), rewritten as the job runs
//   data_dir/jobs/ID/posterior.json, samples.csv, posterior.nc   once the job has a result
//   data_dir/uploads/ID.npy      uploaded observations
//   data_dir/networks/NAME/      IC networks (`ppx train --out`), named by queries with engine ic
//
// Every file is written temp + fsync + rename, so a daemon killed at any moment leaves either
// the old or the new version. The index is SQLite in WAL mode with synchronous=NORMAL: it survives
// the process being killed at any moment (a power cut may lose the last commits, not the index).
// Thread-safe.
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ppx::daemon {

class ResultStore {
 public:
  explicit ResultStore(const std::filesystem::path& data_dir);  // creates folders and the index
  ~ResultStore();
  ResultStore(const ResultStore&) = delete;
  ResultStore& operator=(const ResultStore&) = delete;

  std::filesystem::path job_dir(const std::string& id) const;
  std::filesystem::path upload_path(const std::string& id) const;
  std::filesystem::path network_path(const std::string& name) const;
  // Saves a job's JSON (needs "id", "seq", "state", "model") to its folder and the index.
  void save(const nlohmann::json& job);
  // Every job in the index, by seq.
  std::vector<nlohmann::json> load() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ppx::daemon
