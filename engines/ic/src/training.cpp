#include "ppx/ic/training.h"

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numbers>
#include <stdexcept>
#include <thread>

#include "ppx/engines/executor.h"
#include "ppx/engines/work_pool.h"

namespace ppx::ic {

void TrainingOptions::validate() const {
  if (traces == 0) throw std::invalid_argument("traces must be at least 1");
  if (batch == 0) throw std::invalid_argument("batch must be at least 1");
  if (validate_every == 0 || checkpoint_every == 0) throw std::invalid_argument("step intervals must be at least 1");
  if (!(optimizer.learning_rate > 0)) throw std::invalid_argument("learning rate must be positive");
  if (!(final_learning_rate_ratio > 0 && final_learning_rate_ratio <= 1)) {
    throw std::invalid_argument("final learning rate ratio must be in (0, 1]");
  }
  if (clip_norm < 0) throw std::invalid_argument("clip norm must not be negative");
  if (queue_batches == 0) throw std::invalid_argument("queue must hold at least one minibatch");
  if (resume && out.empty()) throw std::invalid_argument("resume needs the checkpoint folder (out)");
  network.validate();
}

TrainingTrace to_training_trace(const engines::Trace& trace, Rng& rng) {
  TrainingTrace out;
  for (const engines::TraceEntry& e : trace.entries) {
    if (!e.distribution) continue;
    if (e.kind == SiteKind::Sample && e.control && !e.observed && e.value.numel() == 1 &&
        shape_numel(e.distribution->value_shape()) == 1) {
      out.steps.push_back(TrainingStep{e.address, *e.distribution, e.value[0], e.log_prob});
    } else if (e.kind == SiteKind::Observe && !e.name.empty()) {
      out.observations.insert_or_assign(e.name, e.distribution->sample(rng));
    }
  }
  return out;
}

namespace {

using Minibatch = std::vector<TrainingTrace>;

// Bounded queue between the producer (the work pool's delivery, in item order) and the trainer.
class MinibatchQueue {
 public:
  explicit MinibatchQueue(std::size_t capacity) : capacity_(capacity) {}
  // Blocks while full; false when the queue was closed meanwhile (the batch is dropped).
  bool push(Minibatch batch) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return closed_ || queue_.size() < capacity_; });
    if (closed_) return false;
    queue_.push_back(std::move(batch));
    changed_.notify_all();
    return true;
  }
  // Blocks while empty; nullopt when the producer finished (or the queue was closed) and it is empty.
  std::optional<Minibatch> pop() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return closed_ || finished_ || !queue_.empty(); });
    if (queue_.empty()) return std::nullopt;
    Minibatch batch = std::move(queue_.front());
    queue_.pop_front();
    changed_.notify_all();
    return batch;
  }
  void finish() {
    std::lock_guard lock(mutex_);
    finished_ = true;
    changed_.notify_all();
  }
  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    changed_.notify_all();
  }
  bool closed() {
    std::lock_guard lock(mutex_);
    return closed_;
  }

 private:
  std::size_t capacity_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Minibatch> queue_;
  bool finished_ = false, closed_ = false;
};

// Minibatch `item` of a stream: whole-trace runs when the simulator offers them, else lock-step.
Minibatch generate(engines::Simulator& simulator, std::uint64_t seed, std::uint32_t count) {
  std::vector<engines::Trace> traces;
  if (simulator.supports_unsteered()) {
    const std::vector<TraceRecord> records = simulator.run_unsteered({.count = count, .seed = seed});
    if (records.size() != count) throw engines::SimulatorFailure("whole-trace run returned a wrong number of traces");
    for (const TraceRecord& r : records) traces.push_back(engines::score_record(r, {}, engines::Recording::Full));
  } else {
    engines::PriorPolicy prior;
    for (std::uint32_t i = 0; i < count; ++i) {
      Rng rng = make_rng(seed, i);
      traces.push_back(engines::execute(simulator, prior, {}, rng, engines::Recording::Full));
    }
  }
  Minibatch batch;
  for (std::size_t i = 0; i < traces.size(); ++i) {
    Rng rng = make_rng(seed ^ 0x6f62736572766573ull, i);  // observation draws: their own stream
    batch.push_back(to_training_trace(traces[i], rng));
  }
  return batch;
}

// Observed names, shapes and a scalar standardisation from the first minibatch.
std::vector<ObservationSpec> observation_specs(const Minibatch& batch, const TrainingOptions& options) {
  std::map<std::string, ObservationSpec> specs;
  std::map<std::string, std::pair<double, double>> moments;  // sum, sum of squares
  std::map<std::string, double> counts;
  for (const TrainingTrace& t : batch) {
    for (const auto& [name, value] : t.observations) {
      auto [it, fresh] = specs.try_emplace(name, ObservationSpec{.name = name, .shape = value.shape()});
      if (fresh) {
        if (it->second.shape.empty()) it->second.shape = {1};
        auto e = options.embeddings.find(name);
        it->second.embedding = e == options.embeddings.end() ? ObservationEmbedding::FeedForward : e->second;
      }
      for (double v : value.data()) {
        moments[name].first += v;
        moments[name].second += v * v;
        counts[name] += 1;
      }
    }
  }
  for (const auto& [name, embedding] : options.embeddings) {
    if (!specs.contains(name)) throw std::invalid_argument("embedding given for '" + name + "', which the simulator does not observe");
  }
  std::vector<ObservationSpec> out;
  for (auto& [name, spec] : specs) {
    const double n = counts[name];
    const double mean = moments[name].first / n;
    const double var = std::max(0.0, moments[name].second / n - mean * mean);
    spec.mean = mean;
    spec.scale = var > 1e-24 ? std::sqrt(var) : 1.0;
    out.push_back(spec);
  }
  return out;
}

nlohmann::json history_json(const std::vector<HistoryPoint>& history) {
  nlohmann::json out = nlohmann::json::array();
  for (const HistoryPoint& h : history) {
    out.push_back({{"step", h.step}, {"traces", h.traces}, {"loss", h.loss},
                   {"validation_loss", std::isfinite(h.validation_loss) ? nlohmann::json(h.validation_loss) : nlohmann::json()},
                   {"learning_rate", h.learning_rate}, {"seconds", h.seconds}});
  }
  return out;
}

std::vector<HistoryPoint> history_from_json(const nlohmann::json& j) {
  std::vector<HistoryPoint> out;
  for (const auto& h : j) {
    out.push_back(HistoryPoint{.step = h.at("step"), .traces = h.at("traces"), .loss = h.at("loss"),
                               .validation_loss = h.at("validation_loss").is_null() ? std::numeric_limits<double>::quiet_NaN()
                                                                                    : h.at("validation_loss").get<double>(),
                               .learning_rate = h.at("learning_rate"), .seconds = h.at("seconds")});
  }
  return out;
}

}  // namespace

TrainingSummary train(engines::Simulators simulators, const TrainingOptions& options, const TrainingCallbacks& callbacks,
                      std::unique_ptr<ProposalNetwork>& network) {
  options.validate();
  set_torch_threads(options.threads);
  TrainingSummary summary;
  const auto log = [&](const std::string& line) {
    if (callbacks.log) callbacks.log(line);
  };

  std::uint64_t first_item = 0;  // training minibatches already consumed (resume)
  if (options.resume) {
    std::string extra;
    network = std::make_unique<ProposalNetwork>(ProposalNetwork::load(options.out, &extra));
    const nlohmann::json state = nlohmann::json::parse(extra);
    summary.traces = state.at("traces");
    summary.steps = state.at("steps");
    first_item = state.at("next_item");
    summary.history = history_from_json(state.at("history"));
    if (state.at("batch") != options.batch || state.at("seed") != options.seed) {
      throw std::invalid_argument("resume: use the checkpoint's --batch and --seed (" + state.at("batch").dump() + ", " +
                                  state.at("seed").dump() + ")");
    }
  }

  // The producer: validation minibatches (their own seed stream), then training minibatches.
  const std::uint64_t validation_items = (options.validation_traces + options.batch - 1) / options.batch;
  const std::uint64_t training_items = (options.traces + options.batch - 1) / options.batch;
  MinibatchQueue queue(options.queue_batches);
  std::atomic<std::uint64_t> failures{0};
  std::exception_ptr producer_error;
  const auto stopping = [&] { return queue.closed() || (callbacks.interrupted && callbacks.interrupted()); };
  std::thread producer([&] {
    try {
      engines::EngineCallbacks pool_callbacks{.interrupted = stopping, .log = callbacks.log};
      engines::WorkPoolSpec<Minibatch> validation{
          .items = validation_items,
          .run = [&](engines::Simulator& s, std::uint64_t item) {
            const std::uint64_t left = options.validation_traces - item * options.batch;
            return generate(s, mix_seed(options.seed ^ 0x76616c6964ull ^ mix_seed(item)),
                            static_cast<std::uint32_t>(std::min<std::uint64_t>(options.batch, left)));
          },
          .on_complete = [&](std::uint64_t, Minibatch&& b) { queue.push(std::move(b)); },
          .failures = &failures};
      if (validation_items > 0) engines::run_work_pool(simulators, validation, pool_callbacks);
      engines::WorkPoolSpec<Minibatch> training{
          .items = training_items,
          .run = [&](engines::Simulator& s, std::uint64_t item) {
            return generate(s, mix_seed(options.seed ^ mix_seed(first_item + item)), options.batch);
          },
          .on_complete = [&](std::uint64_t, Minibatch&& b) { queue.push(std::move(b)); },
          .failures = &failures};
      engines::run_work_pool(simulators, training, pool_callbacks);
    } catch (...) {
      producer_error = std::current_exception();
    }
    queue.finish();
  });
  struct JoinProducer {
    MinibatchQueue& queue;
    std::thread& thread;
    ~JoinProducer() {
      queue.close();
      if (thread.joinable()) thread.join();
    }
  } join{queue, producer};

  Minibatch validation_set;
  for (std::uint64_t i = 0; i < validation_items; ++i) {
    std::optional<Minibatch> b = queue.pop();
    if (!b) break;
    for (TrainingTrace& t : *b) validation_set.push_back(std::move(t));
  }

  const auto start = std::chrono::steady_clock::now();
  const auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  const double earlier_seconds = summary.history.empty() ? 0.0 : summary.history.back().seconds;
  double validation_loss = std::numeric_limits<double>::quiet_NaN();
  double running_loss = 0.0, running_weight = 0.0;
  std::uint64_t sub_batches = 0, steps_this_run = 0;
  auto last_progress = start - std::chrono::seconds(10);
  const double planned_steps = static_cast<double>(training_items);

  const auto report = [&](bool last) {
    if (!callbacks.progress) return;
    const auto now = std::chrono::steady_clock::now();
    if (!last && now - last_progress < std::chrono::seconds(1)) return;
    last_progress = now;
    const double s = seconds();
    callbacks.progress(TrainingProgress{
        .traces = summary.traces_this_run, .total = options.traces, .steps = summary.steps,
        .loss = running_weight > 0 ? running_loss / running_weight : std::numeric_limits<double>::quiet_NaN(),
        .validation_loss = validation_loss, .traces_per_second = s > 0 ? summary.traces_this_run / s : 0.0,
        .elapsed_seconds = s, .addresses = network ? network->addresses().size() : 0, .failures = failures.load()});
  };
  const auto checkpoint = [&] {
    if (options.out.empty() || !network) return;
    const nlohmann::json state = {{"traces", summary.traces}, {"steps", summary.steps},
                                  {"next_item", first_item + steps_this_run}, {"batch", options.batch},
                                  {"seed", options.seed}, {"history", history_json(summary.history)}};
    network->save(options.out, state.dump());
  };
  const auto validate_now = [&](double lr) {
    if (!validation_set.empty()) validation_loss = network->loss(validation_set).loss;
    summary.history.push_back(HistoryPoint{.step = summary.steps, .traces = summary.traces,
                                           .loss = running_weight > 0 ? running_loss / running_weight : validation_loss,
                                           .validation_loss = validation_loss, .learning_rate = lr,
                                           .seconds = earlier_seconds + seconds()});
  };

  double lr = options.optimizer.learning_rate;
  while (true) {
    if (callbacks.interrupted && callbacks.interrupted()) {
      summary.interrupted = true;
      break;
    }
    std::optional<Minibatch> batch = queue.pop();
    if (!batch) break;
    if (!network) {
      NetworkConfig config = options.network;
      config.observations = observation_specs(*batch, options);
      network = std::make_unique<ProposalNetwork>(config, options.optimizer);
      log("network: " + std::to_string(config.observations.size()) + " observed names, LSTM " +
          std::to_string(config.lstm_hidden) + "; " + torch_backend_info());
    }
    if (options.schedule == LearningRateSchedule::Cosine) {
      const double progress = std::min(1.0, static_cast<double>(steps_this_run) / std::max(1.0, planned_steps - 1));
      const double r = options.final_learning_rate_ratio;
      lr = options.optimizer.learning_rate * (r + (1 - r) * 0.5 * (1 + std::cos(std::numbers::pi * progress)));
    }
    const LossResult step = network->train_step(*batch, lr, options.clip_norm);
    ++summary.steps;
    ++steps_this_run;
    summary.traces += batch->size();
    summary.traces_this_run += batch->size();
    sub_batches += step.sub_batches;
    // Running loss: exponentially weighted over about the last 20 steps.
    running_loss = 0.95 * running_loss + step.loss;
    running_weight = 0.95 * running_weight + 1.0;
    if (summary.steps % options.validate_every == 0) validate_now(lr);
    if (summary.steps % options.checkpoint_every == 0) checkpoint();
    report(false);
  }
  if (producer.joinable() && !summary.interrupted) {
    queue.close();
    producer.join();
  }
  if (producer_error && !summary.interrupted) std::rethrow_exception(producer_error);
  if (!network) throw engines::EngineError("no training traces were generated");
  if (summary.history.empty() || summary.history.back().step != summary.steps) validate_now(lr);
  checkpoint();
  summary.seconds = seconds();
  summary.traces_per_second = summary.seconds > 0 ? summary.traces_this_run / summary.seconds : 0.0;
  summary.sub_batches_per_step = steps_this_run > 0 ? static_cast<double>(sub_batches) / steps_this_run : 0.0;
  summary.addresses = network->addresses().size();
  summary.failures = failures.load();
  report(true);
  return summary;
}

}  // namespace ppx::ic
