// `ppx summary PATH...`: the summary and diagnostics recomputed from saved outputs, merging runs
// (CmdStan's stansummary). Each PATH is a result folder (samples.csv, and posterior.json when
// present, for the query and which variables are discrete), a samples CSV, or a trace file.
//
// samples.csv is read generically: lines starting with '#' are comments; columns are found by
// header name: log_weight (IS weights; absent = equal weights), chain and draw (MCMC), lp__ and
// accept_stat__ are read back as the sampler columns they are, other columns ending in "__" are
// skipped (CmdStan's other sampler columns), every other column is a variable ("result" is the
// result; posterior.json says which are unnamed samples' addresses, and the tabulation used); an
// empty cell is a variable absent from that trace.
//
// Merging: IS runs pool their weighted traces (one larger IS run of the same query: weights are
// normalised over all of them); MCMC runs contribute their chains, renumbered run after run.
// Runs must agree on model, engine and observations (from posterior.json or the trace-file
// header) where those are known; IS and MCMC runs cannot be mixed.
// --resample N (IS): systematic resampling (WeightedTraces::resample) to N equally weighted draws.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "ppx/engines/diagnostics.h"
#include "ppx/server/report.h"
#include "ppx/server/trace_file.h"
#include "toolbox.h"

namespace ppx::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One saved run: its rows as light traces (named scalars and result only) and what it answered.
struct Run {
  std::string source;
  bool chains = false;
  std::string model_name;   // "" when unknown
  std::string engine;       // "" when unknown
  std::optional<std::map<std::string, std::string>> observations;  // name -> as given; unknown: nullopt
  std::vector<server::StoredTrace> rows;
  engines::Tabulation tabulation;        // as posterior.json says (defaults when unknown)
  std::vector<std::string> repeated;     // names that repeated within the run's traces
};

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read '" + path.string() + "'");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// RFC 4180 fields of one line (quotes only where a name needs them).
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c != '\r') {
      fields.back() += c;
    }
  }
  return fields;
}

double csv_number(const std::string& text, const std::string& where) {
  if (text.empty()) return std::nan("");
  double value = 0.0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec == std::errc() && ptr == end) return value;
  if (text == "inf" || text == "+inf") return INFINITY;  // from_chars reads these, but be explicit
  if (text == "-inf") return -INFINITY;
  if (text == "nan") return std::nan("");
  throw UsageError(where + ": '" + text + "' is not a number");
}

void read_query(const json& query, Run& run) {
  run.model_name = query.value("model_name", "");
  run.engine = query.value("engine", "");
  std::map<std::string, std::string> observations;
  const json given = query.value("observations", json::object());  // items() must not outlive it
  for (const auto& [name, o] : given.items()) {
    observations[name] = o.value("given", "");
  }
  run.observations = observations;
}

Run read_samples_csv(const fs::path& csv, const fs::path& posterior_json) {
  Run run{.source = csv.string()};
  std::map<std::string, bool> discrete;
  std::map<std::string, bool> addressed;
  bool discrete_known = false;
  if (fs::exists(posterior_json)) {
    const json p = json::parse(slurp(posterior_json), nullptr, /*allow_exceptions=*/false);
    if (p.is_object()) {
      if (p.contains("query")) read_query(p["query"], run);
      const json variables = p.value("variables", json::object());
      for (const auto& [name, v] : variables.items()) {
        discrete[name] = v.value("discrete", false);
        addressed[name] = v.contains("address");
      }
      discrete_known = true;
      const json tabulation = p.value("tabulation", json::object());
      run.tabulation.all_samples = tabulation.value("variables", "named") == "all";
      if (tabulation.value("repeated", "instances") == "last") run.tabulation.repeated = engines::RepeatedNames::Last;
      for (const json& name : p.value("repeated_names", json::array())) {
        if (name.is_string()) run.repeated.push_back(name.get<std::string>());
      }
    }
  }
  std::ifstream in(csv);
  if (!in) throw UsageError("cannot read '" + csv.string() + "'");
  std::vector<std::string> header;
  int log_weight = -1, chain = -1, draw = -1;
  std::vector<int> variables;
  std::size_t line_number = 0;
  std::vector<std::vector<double>> values;  // per row, per variable column
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    if (line.empty() || line[0] == '#') continue;
    const std::vector<std::string> fields = csv_fields(line);
    if (header.empty()) {
      header = fields;
      for (std::size_t i = 0; i < header.size(); ++i) {
        const std::string& h = header[i];
        const int index = static_cast<int>(i);
        if (h == "log_weight") {
          log_weight = index;
        } else if (h == "chain") {
          chain = index;
        } else if (h == "draw") {
          draw = index;
        } else if (h == engines::kLogJointColumn || h == engines::kAcceptStatColumn ||
                   !(h.size() > 2 && h.ends_with("__"))) {
          variables.push_back(index);
        }
      }
      run.chains = chain >= 0;
      continue;
    }
    const std::string where = fmt::format("{}:{}", csv.string(), line_number);
    if (fields.size() != header.size()) {
      throw UsageError(fmt::format("{}: {} fields, the header has {}", where, fields.size(), header.size()));
    }
    server::StoredTrace row;
    row.trace.log_weight = log_weight >= 0 ? csv_number(fields[log_weight], where) : 0.0;
    if (chain >= 0) row.chain = static_cast<std::uint32_t>(csv_number(fields[chain], where));
    row.draw = draw >= 0 ? static_cast<std::uint64_t>(csv_number(fields[draw], where)) : run.rows.size();
    std::vector<double> row_values;
    for (int v : variables) row_values.push_back(csv_number(fields[v], where));
    values.push_back(std::move(row_values));
    run.rows.push_back(std::move(row));
  }
  if (header.empty()) throw UsageError("'" + csv.string() + "' has no header line");
  // Discrete: as posterior.json says; without it, a column whose every value is an integer.
  for (std::size_t k = 0; k < variables.size(); ++k) {
    const std::string& name = header[variables[k]];
    bool is_discrete = false;
    if (discrete_known) {
      is_discrete = discrete[name];
    } else {
      is_discrete = true;
      for (const auto& row : values) {
        if (!std::isnan(row[k]) && row[k] != std::floor(row[k])) is_discrete = false;
      }
    }
    for (std::size_t r = 0; r < run.rows.size(); ++r) {
      const double v = values[r][k];
      if (std::isnan(v)) continue;
      engines::Trace& t = run.rows[r].trace;
      if (name == "result") {
        t.result = Tensor(v);
      } else if (addressed[name]) {  // tabulated again under its address
        t.entries.push_back(engines::TraceEntry{.kind = SiteKind::Sample, .address = name, .value = Tensor(v),
                                                .discrete = is_discrete});
      } else {
        t.entries.push_back(engines::TraceEntry{.kind = SiteKind::Sample, .name = name, .value = Tensor(v),
                                                .discrete = is_discrete});
      }
    }
  }
  return run;
}

Run read_trace_file(const std::string& path) {
  server::TraceFileReader reader(path);
  const json& h = reader.header();
  Run run{.source = path, .model_name = h.value("model_name", ""), .engine = h.value("engine", "")};
  run.chains = run.engine == "lmh" || run.engine == "rmh";
  std::map<std::string, std::string> observations;
  for (const json& spec : h.value("observe", json::array())) {
    const std::string s = spec.get<std::string>();
    const auto eq = s.find('=');
    observations[s.substr(0, eq)] = eq == std::string::npos ? "" : s.substr(eq + 1);
  }
  run.observations = observations;
  while (auto stored = reader.next()) {
    // Keep what a summary reads: named scalar samples and tags, and the result.
    std::vector<engines::TraceEntry> kept;
    for (engines::TraceEntry& e : stored->trace.entries) {
      if (e.kind != SiteKind::Observe && !e.name.empty() && e.value.numel() == 1) {
        e.distribution.reset();
        kept.push_back(std::move(e));
      }
    }
    stored->trace.entries = std::move(kept);
    run.rows.push_back(std::move(*stored));
  }
  return run;
}

Run read_run(const std::string& input) {
  const fs::path path(input);
  if (fs::is_directory(path)) {
    if (!fs::exists(path / "samples.csv")) throw UsageError("'" + input + "' has no samples.csv");
    return read_samples_csv(path / "samples.csv", path / "posterior.json");
  }
  if (!fs::exists(path)) throw UsageError("'" + input + "' does not exist");
  if (server::is_trace_file(input)) return read_trace_file(input);
  return read_samples_csv(path, path.parent_path() / "posterior.json");
}

// Runs must answer the same question to be merged.
void check_mergeable(const std::vector<Run>& runs) {
  const Run& first = runs.front();
  for (const Run& r : runs) {
    if (r.chains != first.chains) {
      throw UsageError("cannot merge MCMC draws (" + (r.chains ? r.source : first.source) + ") with weighted IS/prior traces (" +
                       (r.chains ? first.source : r.source) + ")");
    }
    if (!r.model_name.empty() && !first.model_name.empty() && r.model_name != first.model_name) {
      throw UsageError("runs of different models: " + first.model_name + " (" + first.source + ") and " + r.model_name +
                       " (" + r.source + ")");
    }
    if (!r.engine.empty() && !first.engine.empty() && (r.engine == "prior") != (first.engine == "prior")) {
      throw UsageError("cannot merge a prior run with a posterior run (" + first.source + ", " + r.source + ")");
    }
    if (r.observations && first.observations && *r.observations != *first.observations) {
      throw UsageError("runs with different observations: " + first.source + " and " + r.source);
    }
  }
}

bool accepted_weight(double log_weight) { return !std::isnan(log_weight) && log_weight != INFINITY; }

}  // namespace

int run_summary(const SummaryOptions& options, const std::vector<std::string>& command_line) {
  std::vector<Run> runs;
  try {
    for (const std::string& input : options.inputs) runs.push_back(read_run(input));
    check_mergeable(runs);
    if (options.resample > 0 && runs.front().chains) {
      throw UsageError("--resample is for weighted (IS) results; MCMC draws are already equally weighted");
    }
  } catch (const UsageError& e) {
    std::cerr << "ppx summary: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "ppx summary: error: " << e.what() << "\n";
    return 1;
  }
  try {
    const bool chains = runs.front().chains;
    // Rows in input order; MCMC chains renumbered so that every (run, chain) is its own chain.
    std::vector<server::StoredTrace> rows;
    json sources = json::array();
    std::uint32_t next_chain = 0;
    for (Run& run : runs) {
      std::map<std::uint32_t, std::uint32_t> renumber;
      for (server::StoredTrace& row : run.rows) {
        if (chains) {
          auto [it, fresh] = renumber.try_emplace(row.chain, next_chain);
          if (fresh) ++next_chain;
          row.chain = it->second;
        }
        if (accepted_weight(row.trace.log_weight)) rows.push_back(std::move(row));
      }
      sources.push_back({{"source", run.source}, {"rows", run.rows.size()}, {"model_name", run.model_name},
                         {"engine", run.engine}});
    }
    std::uint64_t dropped = 0;
    for (const Run& run : runs) {
      for (const auto& row : run.rows) dropped += accepted_weight(row.trace.log_weight) ? 0 : 1;
    }
    // Columns as the runs made them: their address columns, and the repeated-name policy.
    engines::Tabulation tabulation = runs.front().tabulation;
    std::vector<std::string> repeated;
    for (const Run& run : runs) {
      tabulation.all_samples = tabulation.all_samples || run.tabulation.all_samples;
      for (const std::string& name : run.repeated) {
        if (std::find(repeated.begin(), repeated.end(), name) == repeated.end()) repeated.push_back(name);
      }
    }
    engines::WeightedTraces merged(false, tabulation);
    for (const server::StoredTrace& row : rows) merged.add(row.trace, row.chain, row.draw);
    merged.restore_repeated(repeated);

    server::InferenceReport report;
    report.provenance.command_line = command_line;
    report.provenance.model_name = runs.front().model_name;
    report.provenance.engine = runs.front().engine;
    if (runs.front().observations) {
      for (const auto& [name, text] : *runs.front().observations) report.provenance.observations.push_back({name, text});
    }
    report.provenance.options = {{"inputs", sources}};
    report.diagnostics["runs"] = runs.size();
    if (dropped > 0) report.diagnostics["rows_with_non_finite_weight"] = dropped;

    engines::WeightedTraces resampled(false, tabulation);
    resampled.restore_repeated(repeated);
    if (options.resample > 0) {
      Rng rng = make_rng(options.seed, 0);
      const std::vector<std::size_t> picked = merged.resample(options.resample, rng);
      if (picked.empty()) throw std::runtime_error("no trace has positive weight: nothing to resample");
      for (std::size_t k = 0; k < picked.size(); ++k) {
        engines::Trace t = rows[picked[k]].trace;
        t.log_weight = 0.0;
        resampled.add(std::move(t), 0, k);
      }
      report.provenance.options["resample"] = {{"method", "systematic"}, {"draws", options.resample}, {"seed", options.seed}};
      report.diagnostics["resampling"] = "systematic";
      report.diagnostics["resampled_draws"] = options.resample;
      report.diagnostics["ess_before_resampling"] = merged.ess();
      report.diagnostics["distinct_traces"] = [&] {
        std::vector<std::size_t> unique = picked;
        std::sort(unique.begin(), unique.end());
        return static_cast<std::uint64_t>(std::unique(unique.begin(), unique.end()) - unique.begin());
      }();
      report.posterior = &resampled;
    } else {
      report.posterior = &merged;
      if (chains) {
        report.chains = true;
        report.diagnostics["chains"] = next_chain;
        server::ChainDiagnostics d = server::diagnose_chains(merged, next_chain);
        report.variable_diagnostics = std::move(d.variable_diagnostics);
        report.variable_notes = std::move(d.variable_notes);
        report.warnings.insert(report.warnings.end(), d.warnings.begin(), d.warnings.end());
      } else {
        report.diagnostics["ess"] = merged.ess();
        report.diagnostics["log_evidence"] = merged.log_evidence();
        report.diagnostics["log_evidence_stderr"] = merged.log_evidence_stderr();
      }
    }
    if (!options.out.empty()) server::write_report(options.out, report);
    std::cout << (options.json ? server::posterior_json(report).dump(2) + "\n" : server::summary_text(report));
    std::cout.flush();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "ppx summary: error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace ppx::cli
