#pragma once
// Reference models with known posteriors: the fixtures that check every inference engine.
//
// Each model is an instrumented program (a `Tensor forward()` that calls ppx::sample/observe/tag,
// run in-process or served over PPX by the programs in build/bin) plus its EXACT posterior for any
// observations, computed in closed form or by exhaustive enumeration from the model's parameters,
// never with the library's own distribution code (so the truth does not share bugs with the code
// under test). The models follow pyprob's test suite (Wood et al., AISTATS 2014), so results are
// comparable with pyprob and Anglican:
//
//   gum        mu ~ Normal(1, sqrt 5); obs0, obs1 ~ Normal(mu, sqrt 2)           conjugate
//   marsaglia  the same, with mu drawn by Marsaglia's polar method (rejection loop)  conjugate
//   branching  r ~ Poisson(4); a second Poisson draw only when r <= 4; obs ~ Poisson(l)  enumeration
//   hmm        3-state HMM, 16 Normal emissions                             forward-backward
//
// `reference_models()` lists them with their default observations and a uniform summary of the
// exact posterior (mean and stddev of every named latent, log evidence), so tests, benchmarks and
// the CLI iterate over models without repeating them. See simulators/reference/README.md.
//
// Threads: everything here is reentrant; model functions use the calling thread's ppx handler.
// Errors: exact-posterior functions throw std::invalid_argument for observations outside the
// likelihood's support or missing names.
#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ppx/ppx.h"

namespace ppx::reference {

// An observation as an engine receives it: the observe site's name and its value.
struct Observation {
  std::string name;
  Tensor value;
};
using Observations = std::vector<Observation>;

// The value named `name` in `observations` as a double; throws std::invalid_argument if absent or
// not a single value.
double observation_value(const Observations& observations, std::string_view name);

// Exact posterior mean and standard deviation of one named latent. `presence` is the posterior
// probability that the trace contains it at all (below 1 for latents on one branch only); mean and
// stddev are then conditional on its presence.
struct LatentMoments {
  std::string name;
  double mean = 0;
  double stddev = 0;
  double presence = 1;
};

// The model-independent summary of an exact posterior.
struct ExactPosterior {
  double log_evidence = 0;             // log p(observations), the marginal likelihood
  std::vector<LatentMoments> latents;  // one per named latent (samples or tags), in trace order
  const LatentMoments& latent(std::string_view name) const;  // throws std::out_of_range
};

struct ReferenceModel {
  std::string name;          // also the program's name in build/bin
  std::string description;   // one line
  ModelFunction forward;     // the instrumented program
  Observations default_observations;
  ExactPosterior (*exact_posterior)(const Observations&);

  Model model() const { return Model(name, forward); }
};

// The table of every reference model, in a fixed order (gum, marsaglia, branching, hmm).
std::span<const ReferenceModel> reference_models();
// The model called `name`; throws std::out_of_range listing the known names.
const ReferenceModel& reference_model(std::string_view name);

// Gaussian with unknown mean (pyprob's GUM). Latent "mu" (address "mu"); observes "obs0", "obs1"
// without a value. Returns mu.
namespace gum {
inline constexpr double kPriorMean = 1.0;
inline constexpr double kPriorVariance = 5.0;       // prior stddev sqrt(5)
inline constexpr double kLikelihoodVariance = 2.0;  // likelihood stddev sqrt(2)
inline constexpr double kDefaultObs0 = 8.0;
inline constexpr double kDefaultObs1 = 9.0;

Tensor forward();

// The exact posterior of mu given observations y (any number; the program makes two): Normal by
// conjugacy, precision 1/5 + n/2. The evidence is the n-variate normal N(1, 2 I + 5 11^T).
struct NormalPosterior {
  double mean = 0;
  double stddev = 0;
  double log_evidence = 0;
};
NormalPosterior exact_posterior(std::span<const double> observations);
ExactPosterior exact_summary(const Observations& observations);  // uses obs0, obs1
}  // namespace gum

// GUM with the prior draw of mu made by Marsaglia's polar method: pairs x, y ~ Uniform(-1, 1)
// (addresses "x", "y", unnamed) until 0 < s = x^2 + y^2 < 1, then mu = 1 + sqrt(5) x sqrt(-2 ln s / s).
// The number of samples per trace is 2 * attempts (geometric, acceptance pi/4). mu is made visible
// with ppx::tag(mu, {.name = "mu"}); observes "obs0", "obs1". Returns mu. The marginal prior of mu
// is exactly Normal(1, sqrt 5), so the posterior and evidence are gum's.
namespace marsaglia {
Tensor forward();
ExactPosterior exact_summary(const Observations& observations);
}  // namespace marsaglia

// pyprob's / Anglican's branching program:
//   r ~ Poisson(4)                       name "r", address "r"
//   if r > 4: l = 6
//   else:     s ~ Poisson(4)             name "s", address "s" (only on this branch)
//             l = 1 + fibonacci(3 r) + s
//   observe Poisson(l)                   name "obs" (default value 6)
// Returns r. fibonacci is pyprob's: fib(0..6) = 1, 1, 1, 2, 3, 5, 8, ...; fib(3 r) = 1, 2, 8, 34, 144.
namespace branching {
inline constexpr double kRate = 4.0;
inline constexpr int kThreshold = 4;
inline constexpr double kBranchRate = 6.0;  // l when r > 4
inline constexpr double kDefaultObs = 6.0;
// Enumeration covers r, s in [0, kSupport); the neglected prior mass is below 1e-52 and the
// neglected posterior mass is bounded in `Posterior::neglected_mass_bound`.
inline constexpr int kSupport = 64;

long long fibonacci(int n);
Tensor forward();

struct Posterior {
  std::vector<double> r_probs;   // P(r = k | obs), k < kSupport
  double r_mean = 0, r_stddev = 0;
  double s_presence = 0;         // P(r <= 4 | obs): the trace contains s
  std::vector<double> s_probs;   // P(s = k | obs, r <= 4)
  double s_mean = 0, s_stddev = 0;  // conditional on presence
  double log_evidence = 0;
  double neglected_mass_bound = 0;  // upper bound of the posterior mass outside the enumeration
};
// Throws std::invalid_argument unless obs is a non-negative integer (Poisson's support).
Posterior exact_posterior(double obs);
// Uses "obs"; throws std::invalid_argument if the neglected mass bound is not below 1e-12.
ExactPosterior exact_summary(const Observations& observations);
}  // namespace branching

// pyprob's / Anglican's hidden Markov model (Wood et al. 2014):
//   state0 ~ Categorical(initial)                                name/address "state0"
//   for t in 0..T-1: state{t+1} ~ Categorical(transition[state{t}])   name/address "state{t+1}"
//                    observe Normal(means[state{t+1}], 1)              name "obs{t}"
// so state0 has no emission and obs{t} is emitted by state{t+1}. Returns the one-hot states,
// shape [T+1, 3], whose posterior mean is the table of marginals. T = 16 for the program.
namespace hmm {
inline constexpr int kStates = 3;
inline constexpr std::array<double, kStates> kInitial{1.0 / 3, 1.0 / 3, 1.0 / 3};
inline constexpr std::array<std::array<double, kStates>, kStates> kTransition{{
    {0.1, 0.5, 0.4},
    {0.2, 0.2, 0.6},
    {0.15, 0.15, 0.7},
}};
inline constexpr std::array<double, kStates> kMeans{-1.0, 1.0, 0.0};
inline constexpr double kEmissionStddev = 1.0;
inline constexpr std::array<double, 16> kDefaultObservations{
    0.9, 0.8, 0.7, 0.0, -0.025, -5.0, -2.0, -0.1, 0.0, 0.13, 0.45, 6.0, 0.2, 0.3, -1.0, -1.0};

Tensor forward();                               // T = 16
ModelFunction make_forward(std::size_t length);  // any T (tests use short chains)

struct Posterior {
  std::vector<std::array<double, kStates>> marginals;  // row t: P(state_t = k | obs), T+1 rows
  double log_evidence = 0;
};
// Forward-backward (scaled) over the T given observations.
Posterior exact_posterior(std::span<const double> observations);
ExactPosterior exact_summary(const Observations& observations);  // uses obs0..obs{T-1}, T found by name
}  // namespace hmm

}  // namespace ppx::reference
