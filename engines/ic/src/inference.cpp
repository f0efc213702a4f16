#include "ppx/ic/inference.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <set>
#include <stdexcept>

#include "ppx/engines/executor.h"
#include "ppx/engines/work_pool.h"

namespace ppx::ic {

void IcOptions::validate() const {
  if (traces == 0) throw std::invalid_argument("traces must be at least 1");
  if (batch_wait_us > 1'000'000) throw std::invalid_argument("batch wait must be at most 1 s");
}

namespace {

// Gathers network steps from the threads that run traces and runs them as one call. A thread
// that submits a step leads the call when every active trace has a step pending, or when it has
// waited `wait` for the others; the rest wait for their result. One call runs at a time (the
// network is single-threaded).
class StepBatcher {
 public:
  StepBatcher(ProposalNetwork& network, std::chrono::microseconds wait) : network_(network), wait_(wait) {}

  void begin_trace() {
    std::lock_guard lock(mutex_);
    ++active_;
  }
  void end_trace() {
    std::lock_guard lock(mutex_);
    --active_;
    changed_.notify_all();  // the remaining pending steps may now be complete
  }

  StepResult step(const StepRequest& request) {
    if (auto memo = network_.first_step(request)) {  // no LSTM call, so no wait for others
      ++memoised_;
      return std::move(*memo);
    }
    Slot slot{request};
    std::unique_lock lock(mutex_);
    pending_.push_back(&slot);
    changed_.notify_all();
    const auto deadline = std::chrono::steady_clock::now() + wait_;
    while (!slot.done) {
      const bool everyone = pending_.size() >= active_;
      if (!running_ && !pending_.empty() && (everyone || std::chrono::steady_clock::now() >= deadline)) {
        run(lock);
        continue;
      }
      if (running_ || std::chrono::steady_clock::now() >= deadline) {
        changed_.wait(lock);
      } else {
        changed_.wait_until(lock, deadline);
      }
    }
    if (slot.error) std::rethrow_exception(slot.error);
    return std::move(slot.result);
  }

  std::uint64_t calls() const { return calls_; }
  std::uint64_t steps() const { return steps_; }
  std::uint64_t memoised() const { return memoised_; }

 private:
  struct Slot {
    StepRequest request;
    StepResult result;
    std::exception_ptr error;
    bool done = false;
  };

  void run(std::unique_lock<std::mutex>& lock) {
    running_ = true;
    std::vector<Slot*> batch;
    batch.swap(pending_);
    lock.unlock();
    std::vector<StepRequest> requests;
    for (Slot* s : batch) requests.push_back(s->request);
    std::vector<StepResult> results;
    std::exception_ptr error;
    try {
      results = network_.step(requests);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (error) {
        batch[i]->error = error;
      } else {
        batch[i]->result = std::move(results[i]);
      }
      batch[i]->done = true;
    }
    ++calls_;
    steps_ += batch.size();
    running_ = false;
    changed_.notify_all();
  }

  ProposalNetwork& network_;
  std::chrono::microseconds wait_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Slot*> pending_;
  std::size_t active_ = 0;
  bool running_ = false;
  std::uint64_t calls_ = 0, steps_ = 0;
  std::atomic<std::uint64_t> memoised_{0};
};

struct TraceCounts {
  std::uint64_t steered = 0, prior_fallbacks = 0, non_scalar = 0;
  std::set<std::string> unknown;
};

// The network as the SamplePolicy of one trace.
class NetworkPolicy final : public engines::SamplePolicy {
 public:
  NetworkPolicy(StepBatcher& batcher, TraceStateHandle state) : batcher_(batcher), state_(std::move(state)) {}

  engines::Choice choose(const SampleSite& site, const std::string& address, Rng& rng) override {
    const Distribution& prior = site.distribution;
    if (shape_numel(prior.value_shape()) != 1) {  // never steered (nor in training)
      ++counts.prior_fallbacks;
      ++counts.non_scalar;
      return engines::Choice{.value = prior.sample(rng)};
    }
    StepResult step = batcher_.step(StepRequest{state_.get(), &address, &prior, previous_value_});
    if (!step.proposal) {
      ++counts.prior_fallbacks;
      counts.unknown.insert(address);
      Tensor value = prior.sample(rng);
      previous_value_ = value[0];
      return engines::Choice{.value = std::move(value)};
    }
    ++counts.steered;
    Tensor value = step.proposal->sample(prior, rng);
    const double log_q = step.proposal->log_density(value, prior);
    previous_value_ = value[0];
    return engines::Choice{.value = std::move(value), .log_proposal = log_q, .from_prior = false};
  }

  TraceCounts counts;

 private:
  StepBatcher& batcher_;
  TraceStateHandle state_;
  double previous_value_ = 0.0;
};

struct TraceResult {
  engines::Trace trace;
  TraceCounts counts;
};

}  // namespace

engines::WeightedTraces ic_importance_sampling(engines::Simulators simulators, ProposalNetwork& network,
                                               const engines::Observations& observations, const IcOptions& options,
                                               const engines::EngineCallbacks& callbacks, IcStats* stats) {
  options.validate();
  set_torch_threads(options.threads);
  network.set_query(observations, options.memoise_first_step);  // the observation embedding, once per query
  StepBatcher batcher(network, std::chrono::microseconds(options.batch_wait_us));
  engines::WeightedTraces posterior(options.keep_traces, options.tabulation);
  std::atomic<std::uint64_t> failures{0};
  TraceCounts totals;
  const auto start = std::chrono::steady_clock::now();
  auto last_report = start - std::chrono::seconds(1);
  const engines::Recording recording =
      options.keep_traces || options.trace_sink ? engines::Recording::Full : engines::Recording::NoObservePayloads;

  engines::WorkPoolSpec<TraceResult> spec{
      .items = options.traces,
      .run = [&](engines::Simulator& simulator, std::uint64_t index) {
        NetworkPolicy policy(batcher, network.new_trace());
        Rng rng = make_rng(options.seed, index);
        batcher.begin_trace();
        struct End {
          StepBatcher& b;
          ~End() { b.end_trace(); }
        } end{batcher};
        engines::Trace trace = engines::execute(simulator, policy, observations, rng, recording);
        return TraceResult{std::move(trace), std::move(policy.counts)};
      },
      .on_complete = [&](std::uint64_t, TraceResult&& result) {
        totals.steered += result.counts.steered;
        totals.prior_fallbacks += result.counts.prior_fallbacks;
        totals.non_scalar += result.counts.non_scalar;
        totals.unknown.merge(result.counts.unknown);
        if (options.trace_sink) options.trace_sink(result.trace);
        posterior.add(std::move(result.trace));
        const auto now = std::chrono::steady_clock::now();
        const std::uint64_t done = posterior.size() + posterior.dropped();
        if (callbacks.progress && (done == options.traces || now - last_report >= std::chrono::milliseconds(100))) {
          last_report = now;
          callbacks.progress(engines::Progress{done, options.traces, posterior.ess(),
                                               std::chrono::duration<double>(now - start).count(), failures.load()});
        }
      },
      .failures = &failures};
  engines::run_work_pool(simulators, spec, callbacks);
  if (stats != nullptr) {
    stats->steered = totals.steered;
    stats->prior_fallbacks = totals.prior_fallbacks;
    stats->non_scalar = totals.non_scalar;
    stats->unknown_addresses.assign(totals.unknown.begin(), totals.unknown.end());
    stats->network_calls = batcher.calls();
    stats->memoised_steps = batcher.memoised();
    stats->mean_batch = batcher.calls() > 0 ? static_cast<double>(batcher.steps()) / batcher.calls() : 0.0;
    stats->failures = failures.load();
  }
  return posterior;
}

}  // namespace ppx::ic
