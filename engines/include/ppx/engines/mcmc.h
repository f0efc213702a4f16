#pragma once
// Metropolis-Hastings over whole simulator traces, as pyprob does it, with its gaps fixed:
//
//   Lightweight (LMH, Wingate, Stuhlmueller & Goodman 2011): each iteration picks one sample
//   entry of the current trace uniformly (its full per-instance address; every sample counts,
//   controlled or not, observed ones excepted), re-executes the simulator, redraws that site from
//   its prior, reuses every other value the current trace has at the same address (rescored under
//   its new distribution) when the value is inside the new distribution's support, and draws the
//   rest from the prior.
//   Random walk (RMH): the same, but the site is drawn, with probability 1/2 each, from its prior
//   or from a local kernel: Normal(x_old, sigma) for a Normal(mu, sigma) prior, Normal(x_old,
//   0.1 (high - low)) truncated to [low, high] for a Uniform prior, the prior for other kinds.
//
// The acceptance ratio is the exact one for this proposal, derived in mcmc.cpp (including the
// mixture kernel's transition terms, traces of different lengths, and the support check).
//
// Chains: `chains` chains run on the simulators concurrently, one per simulator at a time (more
// chains than simulators queue on the pool). Chain c uses generator stream c of `seed`; each
// iteration starts from the chain's generator state, which is saved before the iteration, so an
// iteration lost to a SimulatorFailure is re-run identically (on the same slot, which the server's
// pool restarts, or after `max_consecutive_failures` on another simulator). Results therefore
// depend on the seed only, not on which simulator ran what or on failures.
//
// Threading: metropolis_hastings() blocks; it runs one thread per simulator (run_work_pool) and
// calls `callbacks` from those threads (progress under a lock). `interrupted` is polled once per
// iteration: an interrupted run returns the draws kept so far (chains may then differ in length).
// Errors: std::invalid_argument for bad options; EngineError when every simulator failed
// repeatedly; exceptions thrown by the model or the handler propagate.
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ppx/engines/engine.h"
#include "ppx/engines/executor.h"
#include "ppx/engines/weighted_traces.h"

namespace ppx::engines {

enum class MhKernel { Lightweight, RandomWalk };

struct MetropolisHastingsOptions {
  MhKernel kernel = MhKernel::Lightweight;
  std::uint32_t chains = 1;
  std::uint64_t draws = 1000;   // kept per chain (after burn-in and thinning)
  std::uint64_t burn_in = 0;    // iterations discarded per chain before the first kept one
  std::uint64_t thin = 1;       // keep every thin-th iteration after burn-in
  std::uint64_t seed = 0;
  // Initial state: this trace, re-executed with every value that fits reused (missing or
  // out-of-support ones drawn from the prior). Default: a prior draw, retried up to
  // `initial_attempts` times until its likelihood is non-zero.
  std::optional<Trace> initial;
  std::uint32_t initial_attempts = 100;
  // Failures in a row of one iteration on one simulator before the chain goes back to the pool's
  // queue (to continue on any simulator); the pool retires a simulator after as many in a row.
  std::uint32_t max_consecutive_failures = 3;
  bool keep_traces = false;     // keep full traces of the kept draws (memory!)
  Tabulation tabulation;        // which entries become columns (weighted_traces.h)
  void validate() const;        // throws std::invalid_argument
};

// Per chain, over every MH iteration (burn-in included) unless said otherwise.
struct ChainStats {
  std::uint32_t chain = 0;
  std::uint64_t iterations = 0;        // proposals made
  std::uint64_t accepted = 0;
  std::uint64_t proposed_values = 0;   // sample entries of candidates other than the site
  std::uint64_t reused_values = 0;     // of those, values carried over from the current trace
  std::uint64_t support_redraws = 0;   // values redrawn because they left the new support
  std::uint64_t irreversible = 0;      // proposals rejected because the reverse move is impossible
  // Proposals whose site the re-execution did not reach (or reached with another distribution):
  // rejected; non-zero only for a simulator that is not deterministic given its samples.
  std::uint64_t site_not_reached = 0;
  std::uint64_t simulator_failures = 0;  // iterations lost to a SimulatorFailure and re-run
  std::uint64_t kept = 0;              // draws kept
  TraceLengthStats trace_lengths;      // samples per trace over the kept draws
  double acceptance_rate() const;      // accepted / iterations
  double reuse_fraction() const;       // reused_values / proposed_values
};

struct McmcStats {
  std::vector<ChainStats> chains;
};

// The MH proposal as a sample policy: holds the current trace's values by full address and the
// chosen site. One run = one candidate; afterwards the policy tells what happened at the site.
// Not thread-safe: one per chain.
class MetropolisHastings final : public SamplePolicy {
 public:
  explicit MetropolisHastings(MhKernel kernel) : kernel_(kernel) {}

  // The trace the next runs propose from (its values are reused by full address), or null: the
  // next run draws every value from the prior. `current` must outlive the runs; call again when
  // it changes.
  void set_current(const Trace* current);
  // The proposal site of the next run: the full address of one of the current trace's unobserved
  // samples; none: re-execute reusing every value that fits (used to start from a given trace).
  void set_site(std::optional<std::string> site);

  Choice choose(const SampleSite& site, const std::string& address, Rng& rng) override;

  // After a run:
  bool site_reached() const { return site_reached_; }
  // log p(x'_a) - log p(x_a) + log q(x_a | x'_a) - log q(x'_a | x_a) at the site a (mcmc.cpp).
  double site_log_ratio() const { return site_log_ratio_; }
  // The current trace's entry at `address`, or null.
  const TraceEntry* previous(const std::string& address) const;

 private:
  MhKernel kernel_;
  std::unordered_map<std::string, const TraceEntry*> previous_;
  std::optional<std::string> site_;
  bool site_reached_ = false;
  double site_log_ratio_ = 0.0;
};

// Runs the chains. Rows are equally weighted (log weight 0), labelled with chain and draw, added
// chain by chain in draw order, with the sampler columns lp__ (log joint) and accept_stat__: the
// Metropolis-Hastings acceptance probability min(1, alpha) of the proposal made at the draw's
// iteration (0 for a move that is rejected whatever the ratio); its mean over draws estimates
// the acceptance rate with less noise than the accepted/iterations count. `stats`, when given, receives one entry per chain.
WeightedTraces metropolis_hastings(Simulators simulators, const Observations& observations,
                                   const MetropolisHastingsOptions& options, const EngineCallbacks& callbacks = {},
                                   McmcStats* stats = nullptr);

// Whether `value` can be reused under `distribution` ("inside its support"): the same number of
// elements and a non-zero density (log_prob > -inf).
bool fits_support(const Distribution& distribution, const Tensor& value);

}  // namespace ppx::engines
