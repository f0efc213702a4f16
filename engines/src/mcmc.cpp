// Metropolis-Hastings over traces (see mcmc.h).
//
// ---- The acceptance ratio -----------------------------------------------------------------------
//
// State: a complete trace x, i.e. the values x_i of its n = |x| unobserved sample entries (full
// per-instance addresses i), each drawn under the distribution p_i(. | x_<i) that the execution
// gave it. Target: pi(x) ∝ p(x) L(x) with p(x) = prod_i p_i(x_i) and L(x) the product of the
// observed densities (observes with a value, and samples whose name is observed).
//
// Proposal x -> x': pick a site a uniformly among the n entries (prob 1/n); re-execute. Every
// entry before a has the same address, distribution and reused value as in x (the simulator is
// deterministic given its samples), so a is reached with the same distribution p_a; x'_a is drawn
// from q_a(. | x_a). After a, an address r in x' is
//   R  "reused"  if r is in x and x_r is in the support of p'_r (the new distribution): x'_r = x_r;
//   F  "fresh"   otherwise (r not in x, or x_r outside the new support): x'_r ~ p'_r.
// Addresses of x not in x' are "stale" (S). So
//   q(x' | x) = 1/n  q_a(x'_a | x_a)  prod_{f in F} p'_f(x'_f).
// The reverse move x' -> x picks a in x' (prob 1/n'), proposes x_a from q_a(. | x'_a), reuses the
// R values (x_r is in the support of p_r: it was drawn from it), and must draw every S value
// fresh from its prior p_s:
//   q(x | x') = 1/n'  q_a(x_a | x'_a)  prod_{s in S} p_s(x_s).
// A support redraw (r in x and x', x_r outside supp p'_r) is in F forwards; backwards the reverse
// execution would REUSE x'_r if x'_r is in supp p_r, and then it can never produce x_r != x'_r:
// q(x | x') = 0 and the move must be rejected ("irreversible"). Only when x'_r is outside
// supp p_r too does the reverse redraw x_r fresh from p_r (a stale-like term). Target ratio:
//   p(x')/p(x) = prod_R p'_r(x_r)/p_r(x_r) * p_a(x'_a)/p_a(x_a) * prod_F p'_f(x'_f) / prod_S p_s(x_s).
// In alpha = pi(x') q(x | x') / (pi(x) q(x' | x)) the fresh terms p'_f and the stale terms p_s
// cancel between target and proposal, leaving
//   log alpha = log n - log n'                          (traces of different lengths)
//             + log L(x') - log L(x)                    (observed log-likelihood difference)
//             + sum_{r in R} [log p'_r(x_r) - log p_r(x_r)]   (rescored reused values)
//             + log p_a(x'_a) - log p_a(x_a) + log q_a(x_a | x'_a) - log q_a(x'_a | x_a)
//                                                       (the site's transition term)
// and alpha = 0 for an irreversible support redraw.
// Site terms:
//   (1) prior redraw (LMH, and RMH for kinds without a local kernel): q_a(y | x) = p_a(y), so
//       the four site terms cancel exactly; we use 0 (no -inf - -inf).
//   (2) RMH mixture: q_a(y | x) = 1/2 p_a(y) + 1/2 k(y | x), so
//       log q_a(x'|x) = logaddexp(log p_a(x'), log k(x'|x)) - log 2, and the reverse with x, x'
//       swapped. For the Normal kernel k(y|x) = N(y; x, sigma) is symmetric but the mixture is
//       not (p_a(x) != p_a(x')), so nothing cancels. For the truncated-normal kernel
//       k(y|x) = N(y; x, s) / [Phi((h - x)/s) - Phi((l - x)/s)] on [l, h] the normaliser depends on
//       the centre, so k(x|x') != k(x'|x): both are evaluated with their own normalisers
//       (TruncatedNormal's log_prob includes them).
//   The coin is one per site (for a tensor-valued site, one coin for the whole tensor, as pyprob).
// The site's distribution is the one at re-execution; it equals x's by determinism (we check).
//
// Site not reached (or reached with another distribution): impossible for a deterministic
// simulator, so it means the simulator draws randomness outside ppx::sample or depends on outside
// state. The candidate then belongs to no move of the kernel above, and no reverse probability can
// be computed for it; we reject it (a self-transition keeps pi invariant) and count it, so a
// non-deterministic simulator shows up in the statistics instead of silently biasing the chain.
//
// Versus pyprob: the same ratio and kernels (pyprob's _metropolis_hastings_site_transition_log_prob
// is our site term), plus the support check with its reversibility condition, the rejection of
// unreached sites (pyprob only warns and accepts by the remaining terms), and uncontrolled
// samples treated as controlled.
#include "ppx/engines/mcmc.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <mutex>
#include <numbers>
#include <random>
#include <stdexcept>

#include "ppx/engines/work_pool.h"

namespace ppx::engines {

void MetropolisHastingsOptions::validate() const {
  if (chains == 0) throw std::invalid_argument("chains must be at least 1");
  if (draws == 0) throw std::invalid_argument("draws must be at least 1");
  if (thin == 0) throw std::invalid_argument("thin must be at least 1");
  if (initial_attempts == 0) throw std::invalid_argument("initial_attempts must be at least 1");
  if (max_consecutive_failures == 0) throw std::invalid_argument("max_consecutive_failures must be at least 1");
  if (draws > std::numeric_limits<std::uint64_t>::max() / thin - burn_in) {
    throw std::invalid_argument("burn_in + draws * thin overflows");
  }
}

double ChainStats::acceptance_rate() const {
  return iterations > 0 ? static_cast<double>(accepted) / static_cast<double>(iterations) : 0.0;
}

double ChainStats::reuse_fraction() const {
  return proposed_values > 0 ? static_cast<double>(reused_values) / static_cast<double>(proposed_values) : 0.0;
}

bool fits_support(const Distribution& distribution, const Tensor& value) {
  if (value.numel() != shape_numel(distribution.value_shape())) return false;
  try {
    return distribution.log_prob(value) > -std::numeric_limits<double>::infinity();
  } catch (const std::invalid_argument&) {
    return false;  // a shape that does not broadcast
  }
}

namespace {

constexpr double kMinusInf = -std::numeric_limits<double>::infinity();

double uniform01(Rng& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

double log_add_exp(double a, double b) {
  if (a == kMinusInf) return b;
  if (b == kMinusInf) return a;
  const double m = std::max(a, b);
  return m + std::log1p(std::exp(-std::fabs(a - b)));
}

// 0.1 (high - low), elementwise with scalar broadcasting; nullopt for other shapes.
std::optional<Tensor> tenth_of_width(const Tensor& low, const Tensor& high) {
  if (low.numel() == 1 && high.numel() == 1) return Tensor(0.1 * (high[0] - low[0]));
  std::vector<double> out;
  if (low.numel() == high.numel()) {
    for (std::size_t i = 0; i < low.numel(); ++i) out.push_back(0.1 * (high[i] - low[i]));
    return Tensor(std::move(out), high.shape());
  }
  const Tensor& wide = low.numel() == 1 ? high : low;
  if (low.numel() != 1 && high.numel() != 1) return std::nullopt;
  for (std::size_t i = 0; i < wide.numel(); ++i) {
    out.push_back(0.1 * (high[high.numel() == 1 ? 0 : i] - low[low.numel() == 1 ? 0 : i]));
  }
  return Tensor(std::move(out), wide.shape());
}

// RMH's local kernel centred at `x` for `prior`, or nullopt where the prior itself is used.
std::optional<Distribution> local_kernel(const Distribution& prior, const Tensor& x) {
  try {
    switch (prior.kind()) {
      case DistributionKind::Normal:
        return Normal(x, prior.parameter(1));
      case DistributionKind::Uniform: {
        const std::optional<Tensor> scale = tenth_of_width(prior.parameter(0), prior.parameter(1));
        if (!scale) return std::nullopt;
        return TruncatedNormal(x, *scale, prior.parameter(0), prior.parameter(1));
      }
      default:
        return std::nullopt;
    }
  } catch (const std::invalid_argument&) {
    return std::nullopt;  // shapes that do not broadcast: fall back to the prior
  }
}

}  // namespace

// ---- the policy ---------------------------------------------------------------------------------

void MetropolisHastings::set_current(const Trace* current) {
  previous_.clear();
  if (current == nullptr) return;
  previous_.reserve(current->entries.size());
  for (const TraceEntry& e : current->entries) {
    if (e.kind == SiteKind::Sample && !e.observed) previous_.emplace(e.address, &e);
  }
}

void MetropolisHastings::set_site(std::optional<std::string> site) {
  site_ = std::move(site);
  site_reached_ = false;
  site_log_ratio_ = 0.0;
}

const TraceEntry* MetropolisHastings::previous(const std::string& address) const {
  const auto it = previous_.find(address);
  return it == previous_.end() ? nullptr : it->second;
}

Choice MetropolisHastings::choose(const SampleSite& site, const std::string& address, Rng& rng) {
  const Distribution& prior = site.distribution;
  const TraceEntry* old = previous(address);
  if (site_ && address == *site_) {
    if (old == nullptr || !old->distribution || !(*old->distribution == prior)) {
      return Choice{.value = prior.sample(rng)};  // not the site of the kernel: the move is rejected
    }
    site_reached_ = true;
    const std::optional<Distribution> forward =
        kernel_ == MhKernel::RandomWalk ? local_kernel(prior, old->value) : std::nullopt;
    if (!forward) {
      site_log_ratio_ = 0.0;  // prior redraw: the site terms cancel exactly
      return Choice{.value = prior.sample(rng)};
    }
    const bool local = uniform01(rng) < 0.5;
    Tensor value = local ? forward->sample(rng) : prior.sample(rng);
    const double log_p_new = prior.log_prob(value);
    const double log_p_old = old->log_prob;
    const std::optional<Distribution> reverse = local_kernel(prior, value);
    if (log_p_new == kMinusInf || !reverse) {
      site_log_ratio_ = kMinusInf;  // e.g. the truncated kernel hit the open end of a Uniform
    } else {
      const double log_q_forward = log_add_exp(log_p_new, forward->log_prob(value)) - std::numbers::ln2;
      const double log_q_reverse = log_add_exp(log_p_old, reverse->log_prob(old->value)) - std::numbers::ln2;
      site_log_ratio_ = log_p_new - log_p_old + log_q_reverse - log_q_forward;
    }
    return Choice{.value = std::move(value)};
  }
  if (old != nullptr && fits_support(prior, old->value)) return Choice{.value = old->value, .reused = true};
  return Choice{.value = prior.sample(rng)};
}

// ---- the engine ---------------------------------------------------------------------------------

namespace {

// Forwards to the recorder with every sample marked controlled, so the policy decides every
// sample (MH must reuse uncontrolled values too); the flags are restored in the finished trace.
class ControlEverySample final : public Handler {
 public:
  explicit ControlEverySample(TraceRecorder& recorder) : recorder_(recorder) {}
  Tensor on_sample(const SampleSite& site) override {
    if (!site.control) uncontrolled_.push_back(entries_);
    Tensor value = recorder_.on_sample(SampleSite{site.address, site.name, site.distribution, true});
    ++entries_;
    return value;
  }
  void on_observe(const ObserveSite& site) override {
    recorder_.on_observe(site);
    ++entries_;
  }
  void on_tag(const TagSite& site) override {
    recorder_.on_tag(site);
    ++entries_;
  }
  void restore(Trace& trace) const {
    for (std::size_t i : uncontrolled_) trace.entries[i].control = false;
  }

 private:
  TraceRecorder& recorder_;
  std::size_t entries_ = 0;
  std::vector<std::size_t> uncontrolled_;
};

Trace run_candidate(Simulator& simulator, MetropolisHastings& policy, const Observations& observations, Rng& rng,
                    Recording recording) {
  const auto start = std::chrono::steady_clock::now();
  TraceRecorder recorder(policy, observations, rng, recording);
  ControlEverySample handler(recorder);
  Tensor result = simulator.run(handler);
  Trace trace = recorder.finish(std::move(result));
  handler.restore(trace);
  trace.run_time = std::chrono::steady_clock::now() - start;
  return trace;
}

// The acceptance decision for `candidate` proposed from `current` (see the derivation above).
struct Verdict {
  double log_alpha = 0.0;
  bool possible = true;       // false: reject whatever the ratio
  bool site_reached = true;
  bool irreversible = false;
  std::uint64_t proposed = 0;
  std::uint64_t reused = 0;
  std::uint64_t support_redraws = 0;
};

Verdict judge(const Trace& current, const Trace& candidate, const MetropolisHastings& policy,
              const std::optional<std::string>& site) {
  Verdict v;
  if (site && !policy.site_reached()) {
    v.site_reached = false;
    v.possible = false;
    return v;
  }
  double log_alpha = candidate.log_likelihood - current.log_likelihood;
  if (current.samples > 0 && candidate.samples > 0) {
    log_alpha += std::log(static_cast<double>(current.samples)) - std::log(static_cast<double>(candidate.samples));
  }
  log_alpha += policy.site_log_ratio();
  for (const TraceEntry& e : candidate.entries) {
    if (e.kind != SiteKind::Sample || e.observed || (site && e.address == *site)) continue;
    ++v.proposed;
    const TraceEntry* old = policy.previous(e.address);
    if (e.reused) {
      ++v.reused;
      log_alpha += e.log_prob - old->log_prob;  // p'_r(x_r) / p_r(x_r)
    } else if (old != nullptr) {
      ++v.support_redraws;
      // The reverse execution would reuse x'_r under p_r if it fits: then it cannot produce x_r.
      if (old->distribution && fits_support(*old->distribution, e.value)) v.irreversible = true;
    }
    // Fresh values: their prior terms cancel.
  }
  if (v.irreversible) v.possible = false;
  v.log_alpha = log_alpha;
  return v;
}

// What a kept draw stores: what WeightedTraces tabulates (values up to kMaxElementColumns
// elements of the entries `tabulation` reports, the result), or the whole trace.
Trace row_of(const Trace& trace, bool keep_trace, const Tabulation& tabulation) {
  Trace row;
  if (keep_trace) {
    row = trace;
  } else {
    for (const TraceEntry& e : trace.entries) {
      if (is_tabulated(e, tabulation) && e.value.numel() >= 1 && e.value.numel() <= kMaxElementColumns) {
        row.entries.push_back(e);
      }
    }
    if (trace.result.numel() <= kMaxElementColumns) row.result = trace.result;
    row.log_likelihood = trace.log_likelihood;
    row.log_prior = trace.log_prior;
    row.samples = trace.samples;
    row.unconditioned_observes = trace.unconditioned_observes;
  }
  row.log_weight = 0.0;  // MCMC draws are equally weighted
  return row;
}

struct ChainState {
  ChainState(std::uint32_t index, MhKernel kernel, Rng generator)
      : rng(std::move(generator)), policy(kernel) { stats.chain = index; }
  Rng rng;                        // the state before the next iteration
  MetropolisHastings policy;
  bool initialised = false;
  std::uint64_t iteration = 0;    // MH iterations done
  Trace current;
  Trace current_row;
  std::vector<std::size_t> sites;  // entries of `current` that can be the proposal site
  std::vector<Trace> kept;
  std::vector<double> kept_accept_stats;  // per kept draw: its iteration's acceptance probability
  ChainStats stats;
  std::uint64_t length_sum = 0;

  void adopt(Trace trace, bool keep_traces, const Tabulation& tabulation) {
    current = std::move(trace);
    current_row = row_of(current, keep_traces, tabulation);
    sites.clear();
    for (std::size_t i = 0; i < current.entries.size(); ++i) {
      const TraceEntry& e = current.entries[i];
      if (e.kind == SiteKind::Sample && !e.observed) sites.push_back(i);
    }
    policy.set_current(&current);
  }
};

// Progress from any chain's thread, at most every 100 ms and at the end; the clock is checked
// without the lock so that chains do not serialise on it.
class SharedProgress {
 public:
  SharedProgress(const EngineCallbacks& callbacks, std::uint64_t total) : callbacks_(callbacks), total_(total) {}
  void step(std::uint64_t failures, bool accepted) {
    const std::uint64_t done = ++done_;
    const std::uint64_t accepted_so_far = accepted ? ++accepted_ : accepted_.load();
    if (!callbacks_.progress) return;
    const auto now = std::chrono::steady_clock::now();
    const std::int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - start_).count();
    if (done != total_ && now_ns - last_ns_.load(std::memory_order_relaxed) < 100'000'000) return;
    std::lock_guard lock(mutex_);
    if (done != total_ && now_ns - last_ns_.load(std::memory_order_relaxed) < 100'000'000) return;
    last_ns_.store(now_ns, std::memory_order_relaxed);
    callbacks_.progress(Progress{.done = done,
                                 .total = total_,
                                 .ess = 0.0,  // computed at the end (diagnostics.h), not while running
                                 .elapsed_seconds = static_cast<double>(now_ns) * 1e-9,
                                 .failures = failures,
                                 .acceptance = static_cast<double>(accepted_so_far) / static_cast<double>(done)});
  }

 private:
  const EngineCallbacks& callbacks_;
  std::uint64_t total_;
  std::atomic<std::uint64_t> done_{0};
  std::atomic<std::uint64_t> accepted_{0};
  std::mutex mutex_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::atomic<std::int64_t> last_ns_{-1'000'000'000};
};

}  // namespace

WeightedTraces metropolis_hastings(Simulators simulators, const Observations& observations,
                                   const MetropolisHastingsOptions& options, const EngineCallbacks& callbacks,
                                   McmcStats* stats) {
  options.validate();
  const std::uint64_t per_chain = options.burn_in + options.draws * options.thin;
  std::vector<ChainState> chains;
  chains.reserve(options.chains);  // never reallocated: policies point into `current`
  for (std::uint32_t c = 0; c < options.chains; ++c) chains.emplace_back(c, options.kernel, make_rng(options.seed, c));
  SharedProgress progress(callbacks, per_chain * options.chains);
  std::atomic<std::uint64_t> failures{0};
  const auto log = [&](const std::string& line) {
    if (callbacks.log) callbacks.log(line);
  };

  // MH proposes and judges samples by address, so samples are recorded in full.
  const Recording recording = options.keep_traces ? Recording::Full : Recording::NoObservePayloads;

  // One chain to its end (or interruption). State is committed only after a whole iteration
  // succeeded, so a SimulatorFailure anywhere leaves the chain as it was before the iteration.
  const auto run_chain = [&](Simulator& simulator, std::uint64_t index) -> bool {
    ChainState& s = chains[index];
    std::uint32_t consecutive = 0;
    while (s.iteration < per_chain || !s.initialised) {
      if (callbacks.interrupted && callbacks.interrupted()) return false;
      try {
        Rng rng = s.rng;
        if (!s.initialised) {
          Trace start;
          if (options.initial) {
            s.policy.set_current(&*options.initial);
            s.policy.set_site(std::nullopt);
            start = run_candidate(simulator, s.policy, observations, rng, recording);
          } else {
            s.policy.set_current(nullptr);
            s.policy.set_site(std::nullopt);
            for (std::uint32_t attempt = 0; attempt < options.initial_attempts; ++attempt) {
              start = run_candidate(simulator, s.policy, observations, rng, recording);
              if (start.log_likelihood > kMinusInf) break;
            }
          }
          if (!(start.log_likelihood > kMinusInf)) {
            log("chain " + std::to_string(index) + ": initial state has zero likelihood; the chain starts there");
          }
          s.rng = rng;
          s.adopt(std::move(start), options.keep_traces, options.tabulation);
          s.initialised = true;
          consecutive = 0;
          continue;
        }
        std::optional<std::string> site;
        if (!s.sites.empty()) {
          std::uniform_int_distribution<std::size_t> pick(0, s.sites.size() - 1);
          site = s.current.entries[s.sites[pick(rng)]].address;
        }
        s.policy.set_site(site);
        Trace candidate = run_candidate(simulator, s.policy, observations, rng, recording);
        const Verdict v = judge(s.current, candidate, s.policy, site);
        const double u = uniform01(rng);
        const bool accept = v.possible && !std::isnan(v.log_alpha) && (v.log_alpha >= 0.0 || u < std::exp(v.log_alpha));
        // min(1, alpha): the probability that this proposal is accepted (0 for impossible moves).
        const double accept_stat =
            v.possible && !std::isnan(v.log_alpha) ? std::min(1.0, std::exp(std::min(v.log_alpha, 0.0))) : 0.0;

        // Commit.
        s.rng = rng;
        consecutive = 0;
        ++s.iteration;
        ChainStats& st = s.stats;
        ++st.iterations;
        st.proposed_values += v.proposed;
        st.reused_values += v.reused;
        st.support_redraws += v.support_redraws;
        if (!v.site_reached) ++st.site_not_reached;
        if (v.irreversible) ++st.irreversible;
        if (accept) {
          ++st.accepted;
          s.adopt(std::move(candidate), options.keep_traces, options.tabulation);
        }
        if (s.iteration > options.burn_in && (s.iteration - options.burn_in) % options.thin == 0) {
          s.kept.push_back(s.current_row);
          s.kept_accept_stats.push_back(accept_stat);
          const std::uint32_t length = s.current.samples;
          st.trace_lengths.min = st.kept == 0 ? length : std::min(st.trace_lengths.min, length);
          st.trace_lengths.max = std::max(st.trace_lengths.max, length);
          s.length_sum += length;
          ++st.kept;
          st.trace_lengths.mean = static_cast<double>(s.length_sum) / static_cast<double>(st.kept);
        }
        progress.step(failures.load(), accept);
      } catch (const SimulatorFailure& e) {
        ++s.stats.simulator_failures;
        ++failures;
        if (++consecutive >= options.max_consecutive_failures) throw;  // the pool moves the chain on
        log("chain " + std::to_string(index) + ": simulator failed at iteration " + std::to_string(s.iteration) +
            ", re-running it: " + e.what());
      }
    }
    return true;
  };

  WorkPoolSpec<bool> spec{.items = options.chains,
                          .run = run_chain,
                          .on_complete = [](std::uint64_t, bool&&) {},
                          .max_consecutive_failures = options.max_consecutive_failures};
  run_work_pool(simulators, spec, callbacks);

  WeightedTraces posterior(options.keep_traces, options.tabulation);
  posterior.record_log_joint();    // lp__, as CmdStan reports it
  posterior.record_accept_stat();  // accept_stat__
  for (ChainState& s : chains) {
    for (std::uint64_t d = 0; d < s.kept.size(); ++d) {
      posterior.add(std::move(s.kept[d]), s.stats.chain, d, s.kept_accept_stats[d]);
    }
  }
  if (stats != nullptr) {
    stats->chains.clear();
    for (const ChainState& s : chains) stats->chains.push_back(s.stats);
  }
  return posterior;
}

}  // namespace ppx::engines
