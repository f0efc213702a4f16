#pragma once
// Implementation of run_work_pool (see work_pool.h). Header-only because it is a template.
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace ppx::engines {

template <typename Result>
WorkPoolStats run_work_pool(Simulators simulators, const WorkPoolSpec<Result>& spec,
                            const EngineCallbacks& callbacks) {
  if (simulators.empty()) throw EngineError("no simulators to run on");
  std::mutex mutex;
  std::condition_variable retry_available;
  std::deque<std::uint64_t> retries;        // failed items waiting for another try
  std::uint64_t next_item = 0;               // next never-started item
  std::uint64_t in_flight = 0;
  std::uint64_t next_to_deliver = 0;
  std::map<std::uint64_t, Result> finished;  // completed, waiting for earlier items
  std::exception_ptr error;
  WorkPoolStats stats;
  std::uint32_t active = static_cast<std::uint32_t>(simulators.size());

  auto log = [&](const std::string& line) {
    if (callbacks.log) callbacks.log(line);
  };

  // Takes the next item for a worker; nullopt when there is nothing left for it to do.
  auto take = [&](std::unique_lock<std::mutex>& lock) -> std::optional<std::uint64_t> {
    while (true) {
      if (error || stats.interrupted) return std::nullopt;
      if (!retries.empty()) {
        const std::uint64_t item = retries.front();
        retries.pop_front();
        ++in_flight;
        return item;
      }
      if (next_item < spec.items) {
        ++in_flight;
        return next_item++;
      }
      if (in_flight == 0) return std::nullopt;
      retry_available.wait(lock);  // an in-flight item may fail and come back
    }
  };

  auto worker = [&](std::size_t slot) {
    Simulator& simulator = *simulators[slot];
    const std::string description = simulator.description();
    const std::string name = description.empty() ? "simulator " + std::to_string(slot) : description;
    std::uint32_t consecutive_failures = 0;
    std::unique_lock<std::mutex> lock(mutex);
    while (auto item = take(lock)) {
      lock.unlock();
      std::optional<Result> result;
      bool failed = false;
      bool interrupted = false;
      std::string failure;
      std::exception_ptr fatal;
      try {
        if (callbacks.interrupted && callbacks.interrupted()) {
          lock.lock();
          stats.interrupted = true;
          retries.push_back(*item);
          --in_flight;
          retry_available.notify_all();
          break;
        }
        result.emplace(spec.run(simulator, *item));
      } catch (const Interrupted&) {
        interrupted = true;
      } catch (const SimulatorFailure& e) {
        failed = true;
        failure = e.what();
        simulator.reset_after_failure();
      } catch (...) {
        fatal = std::current_exception();
      }
      lock.lock();
      --in_flight;
      if (interrupted) {  // a wait cut short by the interrupt: the item goes back, nobody failed
        stats.interrupted = true;
        retries.push_back(*item);
        retry_available.notify_all();
        break;
      }
      if (fatal) {
        if (!error) error = fatal;
      } else if (failed) {
        ++stats.failures;
        if (spec.failures != nullptr) ++*spec.failures;
        retries.push_back(*item);
        log(name + " failed on item " + std::to_string(*item) + " (re-queued): " +
            failure);
        if (++consecutive_failures >= spec.max_consecutive_failures) {
          log(name + " retired after " + std::to_string(consecutive_failures) +
              " consecutive failures");
          ++stats.retired;
          if (--active == 0 && !error) {
            error = std::make_exception_ptr(EngineError("every simulator failed repeatedly; last failure, " + name + ": " + failure));
          }
          retry_available.notify_all();
          break;
        }
      } else {
        consecutive_failures = 0;
        try {
          if (*item == next_to_deliver) {  // the common case: in order, no need to park it
            spec.on_complete(next_to_deliver, std::move(*result));
            ++next_to_deliver;
            ++stats.completed;
          } else {
            finished.emplace(*item, std::move(*result));
          }
          for (auto it = finished.find(next_to_deliver); it != finished.end(); it = finished.find(next_to_deliver)) {
            spec.on_complete(next_to_deliver, std::move(it->second));
            finished.erase(it);
            ++next_to_deliver;
            ++stats.completed;
          }
        } catch (...) {
          if (!error) error = std::current_exception();
        }
      }
      retry_available.notify_all();
    }
  };

  std::vector<std::thread> threads;
  threads.reserve(simulators.size());
  for (std::size_t slot = 1; slot < simulators.size(); ++slot) threads.emplace_back(worker, slot);
  worker(0);  // the calling thread is worker 0
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
  return stats;
}

}  // namespace ppx::engines
