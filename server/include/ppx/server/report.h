#pragma once
// What an inference run produces for people and tools: the printed summary, posterior.json
// (summaries, diagnostics, provenance) and samples.csv (one row per trace), written durably
// (temp file, fsync, rename) so a crash never leaves a half-written result.
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ppx/engines/weighted_traces.h"
#include "ppx/server/observations.h"

namespace ppx::server {

// Where a result came from (Stan's CSV header habit: everything needed to reproduce it).
struct Provenance {
  std::vector<std::string> command_line;
  std::string engine;
  nlohmann::json options;                       // every engine and pool option, defaults included
  std::string model_name;                       // from the simulator's handshake
  std::vector<ObservationSource> observations;  // as given
  const engines::Observations* observed = nullptr;  // the values (small ones are recorded)
};

struct InferenceReport {
  const engines::WeightedTraces* posterior = nullptr;
  Provenance provenance;
  nlohmann::json diagnostics = nlohmann::json::object();  // engine-wide numbers
  // Per-variable diagnostics (e.g. "r_hat", "ess_bulk"), shown as extra summary columns.
  std::map<std::string, std::map<std::string, double>> variable_diagnostics;
  std::vector<std::string> warnings;
  bool interrupted = false;
  bool chains = false;  // MCMC: samples.csv gets chain and draw columns
};

// The variables to summarise: named scalars in first-seen order, "result" last.
std::vector<std::string> summary_variables(const engines::WeightedTraces& posterior);

nlohmann::json posterior_json(const InferenceReport& report);
std::string summary_text(const InferenceReport& report);
// Writes DIR/posterior.json and DIR/samples.csv (creating DIR). Throws std::runtime_error.
void write_report(const std::string& directory, const InferenceReport& report);

// Writes `content` to `path` atomically: temp file in the same folder, fsync, rename.
void write_file_atomically(const std::string& path, const std::string& content);

// Version and git revision of this build.
std::string ppxd_version();
std::string ppxd_git_revision();

}  // namespace ppx::server
