#include "ppx/engines/importance_sampling.h"

#include <chrono>
#include <exception>
#include <mutex>
#include <thread>
#include <stdexcept>

#include "ppx/engines/executor.h"
#include "ppx/engines/work_pool.h"

namespace ppx::engines {

void ImportanceSamplingOptions::validate() const {
  if (traces == 0) throw std::invalid_argument("traces must be at least 1");
  if (batch == 0) throw std::invalid_argument("batch must be at least 1");
}

namespace {

// Reports progress at most every 100 ms (and always for the last trace).
class ProgressThrottle {
 public:
  explicit ProgressThrottle(const EngineCallbacks& callbacks) : callbacks_(callbacks) {}
  void report(const WeightedTraces& posterior, std::uint64_t done, std::uint64_t total,
              const std::atomic<std::uint64_t>& failures) {
    if (!callbacks_.progress) return;
    const auto now = std::chrono::steady_clock::now();
    if (done != total && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    callbacks_.progress(Progress{done, total, posterior.ess(),
                                 std::chrono::duration<double>(now - start_).count(), failures.load()});
  }

 private:
  const EngineCallbacks& callbacks_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace

WeightedTraces importance_sampling(Simulators simulators, const Observations& observations,
                                   const ImportanceSamplingOptions& options, const EngineCallbacks& callbacks) {
  options.validate();
  WeightedTraces posterior(options.keep_traces, options.tabulation);
  ProgressThrottle progress(callbacks);
  std::atomic<std::uint64_t> failures{0};

  // Whole-trace runs when every simulator that answers offers them; one that cannot answer now
  // is left to the work pool's failure handling (and falls back to lock-step if it lacks them).
  // The probes run concurrently (each may start a process and wait for its handshake), so a pool
  // of 1,000 simulators starts in about the time of one.
  bool whole_trace = options.whole_trace;
  if (whole_trace) {
    std::mutex mutex;
    std::exception_ptr error;
    std::vector<std::thread> probes;
    probes.reserve(simulators.size());
    for (Simulator* s : simulators) {
      probes.emplace_back([&, s] {
        try {
          const bool offers = s->supports_unsteered();
          std::lock_guard lock(mutex);
          whole_trace = whole_trace && offers;
        } catch (const SimulatorFailure& e) {
          std::lock_guard lock(mutex);
          if (callbacks.log) callbacks.log(std::string("capability probe failed: ") + e.what());
        } catch (const Interrupted&) {  // the work pool sees the interrupt and stops at once
        } catch (...) {
          std::lock_guard lock(mutex);
          if (!error) error = std::current_exception();
        }
      });
    }
    for (std::thread& t : probes) t.join();
    if (error) std::rethrow_exception(error);
  }
  PriorPolicy prior;
  // Without whole traces the result keeps only named scalars and weights: record only those
  // (unnamed samples are tabulated by address, which Summary does not build).
  const Recording recording = options.keep_traces || options.trace_sink ? Recording::Full
                              : options.tabulation.all_samples     ? Recording::NoObservePayloads
                                                                   : Recording::Summary;
  const auto add = [&](Trace&& trace) {
    if (options.prior) trace.log_weight = 0.0;
    if (options.trace_sink) options.trace_sink(trace);
    posterior.add(std::move(trace));
  };

  if (whole_trace) {
    std::vector<std::pair<std::string, Tensor>> fixed(observations.begin(), observations.end());
    const std::uint64_t batches = (options.traces + options.batch - 1) / options.batch;
    WorkPoolSpec<std::vector<Trace>> spec{
        .items = batches,
        .run = [&](Simulator& simulator, std::uint64_t batch) {
          const std::uint64_t first = batch * options.batch;
          const auto count = static_cast<std::uint32_t>(std::min<std::uint64_t>(options.batch, options.traces - first));
          const std::uint64_t batch_seed = mix_seed(options.seed ^ mix_seed(batch));
          if (!simulator.supports_unsteered()) {  // a PPX 1.0 simulator in a mixed pool
            std::vector<Trace> traces;
            for (std::uint32_t i = 0; i < count; ++i) {
              Rng rng = make_rng(batch_seed, i);
              traces.push_back(execute(simulator, prior, observations, rng, recording));
            }
            return traces;
          }
          const auto start = std::chrono::steady_clock::now();
          const std::vector<TraceRecord> records =
              simulator.run_unsteered({.count = count, .seed = batch_seed, .fixed = fixed});
          if (records.size() != count) throw SimulatorFailure("whole-trace run returned a wrong number of traces");
          const auto per_trace = (std::chrono::steady_clock::now() - start) / count;
          std::vector<Trace> traces;
          traces.reserve(count);
          for (const TraceRecord& record : records) {
            traces.push_back(score_record(record, observations, recording));
            traces.back().run_time = per_trace;
          }
          return traces;
        },
        .on_complete = [&](std::uint64_t, std::vector<Trace>&& traces) {
          for (Trace& t : traces) add(std::move(t));
          progress.report(posterior, posterior.size() + posterior.dropped(), options.traces, failures);
        },
        .failures = &failures};
    run_work_pool(simulators, spec, callbacks);
  } else {
    WorkPoolSpec<Trace> spec{
        .items = options.traces,
        .run = [&](Simulator& simulator, std::uint64_t index) {
          Rng rng = make_rng(options.seed, index);
          return execute(simulator, prior, observations, rng, recording);
        },
        .on_complete = [&](std::uint64_t, Trace&& trace) {
          add(std::move(trace));
          progress.report(posterior, posterior.size() + posterior.dropped(), options.traces, failures);
        },
        .failures = &failures};
    run_work_pool(simulators, spec, callbacks);
  }
  return posterior;
}

}  // namespace ppx::engines
