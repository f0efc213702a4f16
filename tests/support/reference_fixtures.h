#pragma once
// Glue between the reference models' exact posteriors and the engines' results.
#include <catch2/catch.hpp>
#include <cmath>
#include <string>

#include "ppx/engines/weighted_traces.h"
#include "ppx/reference/models.h"

namespace ppx::test {

inline engines::Observations to_engine_observations(const reference::Observations& observations) {
  engines::Observations out;
  for (const auto& o : observations) out.emplace(o.name, o.value);
  return out;
}

// Checks every named latent of the exact posterior against the weighted estimate.
// Tolerance: `z` standard errors of a weighted mean, SE = sd_exact / sqrt(ESS) with the Kish ESS
// of the rows that contain the latent; plus a small absolute floor for discrete latents whose
// exact sd can be ~0.
inline void check_against_exact(const engines::WeightedTraces& posterior, const reference::ExactPosterior& exact,
                                double z, double ess) {
  for (const auto& latent : exact.latents) {
    INFO("latent " << latent.name << ": exact mean " << latent.mean << " sd " << latent.stddev << ", ESS " << ess);
    const engines::VariableSummary s = posterior.summarize(latent.name);
    const double se = latent.stddev / std::sqrt(std::max(1.0, ess * latent.presence));
    CHECK(std::abs(s.present - latent.presence) <= z * std::sqrt(latent.presence * (1 - latent.presence) / ess) + 1e-9);
    if (latent.presence < 1e-3) continue;
    CHECK(std::abs(s.mean - latent.mean) <= z * se + 1e-9);
    // sd: relative SE of a sample sd is about 1/sqrt(2 ESS) for near-normal variables; doubled
    // for the heavy tails of discrete posteriors.
    CHECK(std::abs(s.sd - latent.stddev) <= z * latent.stddev * 2.0 / std::sqrt(2.0 * ess) + 1e-9);
  }
}

}  // namespace ppx::test
