#pragma once
// A posterior query as clients send it (POST /v1/queries, `ppx submit`):
//   {"model": "gum", "engine": "is", "traces": 20000, "seed": 1,
//    "observations": {"obs0": 8, "obs1": [1, 2], "image": {"upload": "ID"}},
//    ...engine options: "batch", "whole_trace" (IS); "chains", "burn_in", "thin" (MCMC);
//    "network" (a folder name under data_dir/networks), "threads" (IC)}
//    An engine option the chosen engine does not take is an error, as in `ppx infer`.
// parse_query() checks every field (unknown ones are errors) and throws ServiceError(BadRequest)
// with a message that says what to fix.
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "infer.h"  // InferOptions, the engine table `ppx infer` uses
#include "ppx/server/observations.h"

namespace ppx::daemon {

struct Query {
  std::string model;
  cli::InferOptions options;  // engine, traces, seed and engine options
  engines::Observations observations;
  std::vector<server::ObservationSource> sources;
};

struct QueryRules {
  std::vector<std::string> models;
  std::uint64_t max_traces = 0;
  std::function<std::filesystem::path(const std::string& upload_id)> upload_path;
  std::function<std::filesystem::path(const std::string& network_name)> network_path;
};

Query parse_query(const nlohmann::json& query, const QueryRules& rules);
const cli::EngineEntry* find_engine(const std::string& name);

}  // namespace ppx::daemon
