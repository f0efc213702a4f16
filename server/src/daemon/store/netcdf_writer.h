#pragma once
// posterior.nc: a result as ArviZ's InferenceData NetCDF layout (what arviz.from_netcdf reads):
//   group posterior      one variable per named scalar, dims (chain, draw); IS is one chain
//   group sample_stats   log_weight (chain, draw); MCMC also lp (from lp__) and acceptance
//                        (from accept_stat__, when the engine's results carry that column)
//   group observed_data  each observation, dims NAME_dim_0, NAME_dim_1, ...
//   attributes           provenance as in posterior.json (created_at, inference_library, engine,
//                        model_name, options and query as JSON text, ppxd version and git revision)
// Written to a temp file, fsynced and renamed. Thread-safe (serialised: libnetcdf is not). Throws
// std::runtime_error.
#include <string>

#include "ppx/server/report.h"

namespace ppx::daemon {

void write_netcdf(const std::string& path, const server::InferenceReport& report);

}  // namespace ppx::daemon
