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
  std::map<std::string, std::string> variable_notes;  // why a variable's diagnostics are missing or suspect
  std::vector<std::string> warnings;
  std::string failure;  // non-empty: no usable posterior (said plainly in every output)
  bool interrupted = false;
  bool chains = false;  // MCMC: samples.csv gets chain and draw columns
  // Summaries of the posterior's columns, computed on first use (summary_of).
  mutable std::map<std::string, engines::VariableSummary, std::less<>> summary_cache;
};

// The summary of one column of the report's posterior (top 10 categories), cached.
const engines::VariableSummary& summary_of(const InferenceReport& report, const std::string& name);

// The columns to summarise, one per scalar element (CmdStan's names, engines::element_column_name:
// "result.2.1", "eps.3"): "lp__" first, then in natural order ("state2" before "state10"), then
// unnamed samples' address columns, the result's columns last. The sampler statistic
// accept_stat__ is not a variable: it is only in samples.csv (next to lp__) and the diagnostics. `ppx infer` and `ppx summary` share this, variable_json and summary_text.
std::vector<std::string> summary_variables(const engines::WeightedTraces& posterior);
// The short label of a column named by an unnamed sample's full address ("<base>__<suffix>__<i>",
// maybe with element indices after it), for printed tables: KIND@HASH.I[.ELEMENT...], KIND the
// distribution ("Categorical"), HASH six hex digits of the FNV-1a hash of "<base>__<suffix>", I
// the instance. The same address gets the same label in every run. A column not shaped like an
// address is its own label.
std::string address_label(std::string_view column);
// Labels of the posterior's address columns (is_addressed), by column; where two addresses of one
// run share a label, both are shown by their address.
std::map<std::string, std::string> display_names(const engines::WeightedTraces& posterior);
// MCMC: the mean of accept_stat__ over each chain's kept draws (empty without that column).
std::vector<double> accept_stat_by_chain(const engines::WeightedTraces& posterior);
// a < b in natural order: digit runs compare as numbers.
bool natural_less(std::string_view a, std::string_view b);

// posterior.json's entry for one column: present, mean, sd, quantiles, categories for discrete
// ones; for importance-weighted rows (not MCMC draws) also ess and mcse_mean of the weights;
// then `diagnostics` (overriding) and `note` when given.
nlohmann::json variable_json(const engines::VariableSummary& summary, bool importance_weighted,
                             const std::map<std::string, double>* diagnostics, const std::string* note);

// MCMC diagnostics of every column of `posterior` (rows labelled with chain and draw), with the
// warnings `ppx infer` and `ppx summary` print: per column rank-normalised split R-hat, bulk and
// tail ESS, MCSE of the mean, a note when they cannot be trusted (engines/diagnostics.h lists the
// rules), and warnings for R-hat > 1.01 and bulk ESS below 100 per chain. A column identical to an
// earlier one (truth/channel next to channel) shares its warnings instead of repeating them.
struct ChainDiagnostics {
  std::map<std::string, std::map<std::string, double>> variable_diagnostics;
  std::map<std::string, std::string> variable_notes;
  std::vector<std::string> warnings;
};
ChainDiagnostics diagnose_chains(const engines::WeightedTraces& posterior, std::size_t chains);

nlohmann::json posterior_json(const InferenceReport& report);
std::string summary_text(const InferenceReport& report);
// Writes DIR/posterior.json and DIR/samples.csv (creating DIR). Throws std::runtime_error.
// samples.csv starts with '#' lines describing the run (ppxd version, command, engine, options,
// seed, model name), which pandas (comment='#') and R (comment.char='#') skip.
void write_report(const std::string& directory, const InferenceReport& report);
// Creates DIR if needed and checks that result files can be written in it, before a run starts.
// Throws std::invalid_argument naming the folder and the reason.
void check_output_folder(const std::string& directory);

// Writes `content` to `path` atomically: temp file in the same folder, fsync, rename.
void write_file_atomically(const std::string& path, const std::string& content);

// Version and git revision of this build.
std::string ppxd_version();
std::string ppxd_git_revision();

}  // namespace ppx::server
