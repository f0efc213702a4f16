// pyprob's hidden Markov model and its posterior by forward-backward.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "detail.h"
#include "ppx/reference/models.h"

namespace ppx::reference::hmm {

namespace {

int checked_state(const Tensor& value) {
  const double v = value.item();
  if (!(v >= 0 && v < kStates) || v != std::floor(v)) {
    throw std::out_of_range("hmm: state " + value.to_string() + " outside 0.." + std::to_string(kStates - 1));
  }
  return static_cast<int>(v);
}

Tensor run(std::size_t length) {
  static const Distribution initial = Categorical(Tensor(std::vector<double>(kInitial.begin(), kInitial.end())));
  static const std::array<Distribution, kStates> transition = {
      Categorical(Tensor(std::vector<double>(kTransition[0].begin(), kTransition[0].end()))),
      Categorical(Tensor(std::vector<double>(kTransition[1].begin(), kTransition[1].end()))),
      Categorical(Tensor(std::vector<double>(kTransition[2].begin(), kTransition[2].end())))};

  std::vector<double> one_hot((length + 1) * kStates, 0.0);
  int state = checked_state(sample(initial, {.name = "state0", .address = "state0"}));
  one_hot[state] = 1.0;
  for (std::size_t t = 0; t < length; ++t) {
    const std::string state_name = "state" + std::to_string(t + 1);
    const std::string obs_name = "obs" + std::to_string(t);
    state = checked_state(sample(transition[state], {.name = state_name, .address = state_name}));
    observe(Normal(kMeans[state], kEmissionStddev), {.name = obs_name, .address = obs_name});
    one_hot[(t + 1) * kStates + state] = 1.0;
  }
  return Tensor(std::move(one_hot), {static_cast<int32_t>(length + 1), kStates});
}

}  // namespace

Tensor forward() { return run(kDefaultObservations.size()); }

ModelFunction make_forward(std::size_t length) {
  return [length] { return run(length); };
}

Posterior exact_posterior(std::span<const double> observations) {
  using Row = std::array<double, kStates>;
  const std::size_t steps = observations.size();
  // alpha[t]: P(state_t | obs before t's emission included), normalised per step; the log of each
  // step's normaliser adds up to the log evidence. Emissions are shifted by their maximum so that
  // extreme observations do not underflow.
  std::vector<Row> alpha(steps + 1);
  std::vector<Row> emission(steps + 1);  // emission[t] for t >= 1, scaled by exp(-shift)
  std::vector<double> scale(steps + 1, 1.0);
  Posterior out;
  alpha[0] = kInitial;
  for (std::size_t t = 1; t <= steps; ++t) {
    const double y = observations[t - 1];
    detail::require_finite(y, "hmm observation");
    Row log_e{};
    for (int k = 0; k < kStates; ++k) log_e[k] = detail::normal_log_pdf(y, kMeans[k], kEmissionStddev * kEmissionStddev);
    const double shift = *std::max_element(log_e.begin(), log_e.end());
    double total = 0;
    for (int k = 0; k < kStates; ++k) {
      emission[t][k] = std::exp(log_e[k] - shift);
      double predicted = 0;
      for (int j = 0; j < kStates; ++j) predicted += alpha[t - 1][j] * kTransition[j][k];
      alpha[t][k] = predicted * emission[t][k];
      total += alpha[t][k];
    }
    for (double& a : alpha[t]) a /= total;
    scale[t] = total;
    out.log_evidence += std::log(total) + shift;
  }
  // beta[t] = p(obs after t | state_t) / prod of later scales.
  std::vector<Row> beta(steps + 1);
  beta[steps].fill(1.0);
  for (std::size_t t = steps; t >= 1; --t) {
    for (int j = 0; j < kStates; ++j) {
      double sum = 0;
      for (int k = 0; k < kStates; ++k) sum += kTransition[j][k] * emission[t][k] * beta[t][k];
      beta[t - 1][j] = sum / scale[t];
    }
  }
  out.marginals.resize(steps + 1);
  for (std::size_t t = 0; t <= steps; ++t) {
    double total = 0;
    for (int k = 0; k < kStates; ++k) total += out.marginals[t][k] = alpha[t][k] * beta[t][k];
    for (double& m : out.marginals[t]) m /= total;
  }
  return out;
}

ExactPosterior exact_summary(const Observations& observations) {
  std::vector<double> values;
  for (std::size_t t = 0;; ++t) {
    const std::string name = "obs" + std::to_string(t);
    const bool present = std::any_of(observations.begin(), observations.end(),
                                     [&](const Observation& o) { return o.name == name; });
    if (!present) break;
    values.push_back(observation_value(observations, name));
  }
  const Posterior exact = exact_posterior(values);
  ExactPosterior out{.log_evidence = exact.log_evidence, .latents = {}};
  for (std::size_t t = 0; t < exact.marginals.size(); ++t) {
    double mean = 0;
    double second = 0;
    for (int k = 0; k < kStates; ++k) {
      mean += k * exact.marginals[t][k];
      second += k * k * exact.marginals[t][k];
    }
    out.latents.push_back({.name = "state" + std::to_string(t), .mean = mean, .stddev = std::sqrt(std::max(0.0, second - mean * mean))});
  }
  return out;
}

}  // namespace ppx::reference::hmm
