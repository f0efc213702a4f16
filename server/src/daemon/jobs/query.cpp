#include "query.h"

#include <algorithm>

#include "ppx/core/npy.h"
#include "service_error.h"

namespace ppx::daemon {

using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& message) { throw ServiceError(ErrorCode::BadRequest, message); }

std::uint64_t unsigned_field(const json& query, const char* key, std::uint64_t fallback, std::uint64_t min,
                             std::uint64_t max) {
  if (!query.contains(key)) return fallback;
  const json& v = query[key];
  if (!v.is_number_integer() || (v.is_number_integer() && !v.is_number_unsigned() && v.get<std::int64_t>() < 0)) {
    bad(std::string("'") + key + "' must be a non-negative integer");
  }
  const std::uint64_t x = v.get<std::uint64_t>();
  if (x < min || x > max) bad(std::string("'") + key + "' must be between " + std::to_string(min) + " and " + std::to_string(max));
  return x;
}

}  // namespace

const cli::EngineEntry* find_engine(const std::string& name) {
  for (const cli::EngineEntry& e : cli::engine_table()) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

Query parse_query(const json& query, const QueryRules& rules) {
  if (!query.is_object()) bad("the query must be a JSON object");
  static const std::vector<std::string> known = {"model", "engine", "traces", "seed", "observations", "batch",
                                                 "whole_trace", "chains", "burn_in", "thin", "network", "threads"};
  // Engine options: the query field and the `ppx infer` option the engine table lists.
  static const std::vector<std::pair<std::string, std::string>> engine_fields = {
      {"batch", "--batch"}, {"whole_trace", "--no-whole-trace"}, {"chains", "--chains"}, {"burn_in", "--burn-in"},
      {"thin", "--thin"},   {"network", "--network"},            {"threads", "--threads"}};
  for (const auto& [key, value] : query.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::string list;
      for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
      bad("unknown field '" + key + "' (known: " + list + ")");
    }
  }
  Query q;
  if (!query.contains("model") || !query["model"].is_string()) bad("'model' (a string) is required");
  q.model = query["model"];
  if (std::find(rules.models.begin(), rules.models.end(), q.model) == rules.models.end()) {
    std::string list;
    for (const std::string& m : rules.models) list += (list.empty() ? "" : ", ") + m;
    throw ServiceError(ErrorCode::NotFound, "unknown model '" + q.model + "' (served: " + list + ")");
  }
  cli::InferOptions& o = q.options;
  if (query.contains("engine")) {
    if (!query["engine"].is_string()) bad("'engine' must be a string");
    o.engine = query["engine"];
  }
  const cli::EngineEntry* engine = find_engine(o.engine);
  if (engine == nullptr) {
    std::string list;
    for (const auto& e : cli::engine_table()) list += (list.empty() ? "" : ", ") + e.name;
    bad("unknown engine '" + o.engine + "' (known: " + list + ")");
  }
  for (const auto& [field, option] : engine_fields) {
    if (query.contains(field) && std::find(engine->options.begin(), engine->options.end(), option) == engine->options.end()) {
      bad("'" + field + "' does not apply to engine '" + engine->name + "'");
    }
  }
  o.traces = unsigned_field(query, "traces", o.traces, 1, rules.max_traces);
  o.seed = unsigned_field(query, "seed", o.seed, 0, UINT64_MAX);
  o.batch = static_cast<std::uint32_t>(unsigned_field(query, "batch", o.batch, 1, 1u << 20));
  o.chains = static_cast<std::uint32_t>(unsigned_field(query, "chains", o.chains, 0, 4096));
  o.burn_in = unsigned_field(query, "burn_in", o.burn_in, 0, rules.max_traces);
  o.thin = unsigned_field(query, "thin", o.thin, 1, 1u << 20);
  if (query.contains("whole_trace")) {
    if (!query["whole_trace"].is_boolean()) bad("'whole_trace' must be true or false");
    o.whole_trace = query["whole_trace"];
  }
  o.threads = static_cast<unsigned>(unsigned_field(query, "threads", o.threads, 0, 4096));
  if (query.contains("network")) {
    const json& n = query["network"];
    // A name, never a path: the daemon reads only networks put under its own data folder.
    if (!n.is_string() || n.get<std::string>().empty() || n.get<std::string>().front() == '.' ||
        n.get<std::string>().find_first_not_of(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != std::string::npos) {
      bad("'network' must be the name of a folder under the daemon's data_dir/networks (letters, digits, . _ -)");
    }
    const std::filesystem::path path = rules.network_path(n.get<std::string>());
    if (!std::filesystem::is_directory(path)) bad("no network '" + n.get<std::string>() + "' in data_dir/networks");
    o.network = path.string();
  }
  try {
    engine->validate(o, 1);  // the same checks as `ppx infer` (the pool's size is not needed for them)
  } catch (const std::invalid_argument& e) {
    bad(e.what());
  }
  o.quiet = true;

  if (query.contains("observations")) {
    const json& obs = query["observations"];
    if (!obs.is_object()) bad("'observations' must be an object {\"name\": value, ...}");
    for (const auto& [name, value] : obs.items()) {
      try {
        if (value.is_object()) {
          if (value.size() != 1 || !value.contains("upload") || !value["upload"].is_string()) {
            bad("observation '" + name + "': an object must be {\"upload\": \"ID\"} (from POST /v1/observations)");
          }
          const std::string id = value["upload"];
          if (id.empty() || id.find_first_not_of("0123456789abcdef") != std::string::npos) {
            bad("observation '" + name + "': no upload '" + id + "'");
          }
          const std::filesystem::path path = rules.upload_path(id);
          if (!std::filesystem::exists(path)) bad("observation '" + name + "': no upload '" + id + "'");
          q.observations[name] = read_npy(path.string());
          q.sources.push_back({name, "upload:" + id});
        } else if (value.is_number() || value.is_array()) {
          q.observations[name] = server::tensor_from_json_text(value.dump());
          q.sources.push_back({name, value.dump()});
        } else {
          bad("observation '" + name + "' must be a number, a nested array of numbers or {\"upload\": \"ID\"}");
        }
      } catch (const std::invalid_argument& e) {
        bad("observation '" + name + "': " + e.what());
      }
    }
  }
  return q;
}

}  // namespace ppx::daemon
