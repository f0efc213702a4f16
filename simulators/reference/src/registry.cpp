// The table of reference models and the observation helpers.
#include <stdexcept>
#include <string>

#include "ppx/reference/models.h"

namespace ppx::reference {

double observation_value(const Observations& observations, std::string_view name) {
  for (const Observation& o : observations) {
    if (o.name != name) continue;
    if (o.value.numel() != 1) {
      throw std::invalid_argument("observation '" + std::string(name) + "' must be a single value, got " + o.value.to_string());
    }
    return o.value[0];
  }
  throw std::invalid_argument("missing observation '" + std::string(name) + "'");
}

const LatentMoments& ExactPosterior::latent(std::string_view name) const {
  for (const LatentMoments& l : latents) {
    if (l.name == name) return l;
  }
  throw std::out_of_range("exact posterior has no latent '" + std::string(name) + "'");
}

namespace {

Observations gum_observations() { return {{"obs0", gum::kDefaultObs0}, {"obs1", gum::kDefaultObs1}}; }

Observations hmm_observations() {
  Observations out;
  for (std::size_t t = 0; t < hmm::kDefaultObservations.size(); ++t) {
    out.push_back({"obs" + std::to_string(t), hmm::kDefaultObservations[t]});
  }
  return out;
}

}  // namespace

std::span<const ReferenceModel> reference_models() {
  static const std::vector<ReferenceModel> models = {
      {.name = "gum",
       .description = "Gaussian with unknown mean: mu ~ N(1, sqrt 5), obs0, obs1 ~ N(mu, sqrt 2); conjugate posterior",
       .forward = gum::forward,
       .default_observations = gum_observations(),
       .exact_posterior = gum::exact_summary},
      {.name = "marsaglia",
       .description = "gum with mu drawn by Marsaglia's polar method (rejection loop, variable trace length)",
       .forward = marsaglia::forward,
       .default_observations = gum_observations(),
       .exact_posterior = marsaglia::exact_summary},
      {.name = "branching",
       .description = "r ~ Poisson(4); a second Poisson draw s only when r <= 4; obs ~ Poisson(l(r, s)); enumeration",
       .forward = branching::forward,
       .default_observations = {{"obs", branching::kDefaultObs}},
       .exact_posterior = branching::exact_summary},
      {.name = "hmm",
       .description = "3-state hidden Markov model, 16 Normal emissions; forward-backward",
       .forward = hmm::forward,
       .default_observations = hmm_observations(),
       .exact_posterior = hmm::exact_summary},
  };
  return models;
}

const ReferenceModel& reference_model(std::string_view name) {
  std::string known;
  for (const ReferenceModel& m : reference_models()) {
    if (m.name == name) return m;
    known += (known.empty() ? "" : ", ") + m.name;
  }
  throw std::out_of_range("no reference model '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace ppx::reference
