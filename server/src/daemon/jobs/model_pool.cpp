#include "model_pool.h"

#include <algorithm>

#include "ppx/server/address_summary.h"

namespace ppx::daemon {

using Slot = SlotDispatcher::Slot;
using Need = SlotDispatcher::Need;

std::size_t SlotDispatcher::add(engines::Simulator* simulator, std::string endpoint,
                                std::unique_ptr<engines::Simulator> owned) {
  std::size_t size = 0;
  {
    std::lock_guard lock(mutex_);
    Slot& slot = slots_.emplace_back();
    slot.simulator = simulator;
    slot.owned = std::move(owned);
    slot.removable = slot.owned != nullptr;
    slot.endpoint = std::move(endpoint);
    size = std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.leaving; });
  }
  changed_.notify_all();  // a waiting call may take it at once
  return size;
}

void SlotDispatcher::erase_if_leaving(std::list<Slot>::iterator it) {
  if (!it->leaving || it->busy) return;
  if (options_.log) options_.log("model " + options_.model + ": simulator at " + it->endpoint + " left the pool");
  slots_.erase(it);
}

bool SlotDispatcher::remove(const std::string& endpoint) {
  std::lock_guard lock(mutex_);
  const auto it = std::find_if(slots_.begin(), slots_.end(),
                               [&](const Slot& s) { return s.removable && !s.leaving && s.endpoint == endpoint; });
  if (it == slots_.end()) return false;
  it->leaving = true;
  erase_if_leaving(it);
  return true;
}

std::size_t SlotDispatcher::size() const {
  std::lock_guard lock(mutex_);
  return std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.leaving; });
}

nlohmann::json SlotDispatcher::describe() const {
  std::lock_guard lock(mutex_);
  nlohmann::json out = nlohmann::json::array();
  for (const Slot& s : slots_) {
    if (!s.leaving) out.push_back({{"endpoint", s.endpoint}, {"calls", s.calls}, {"busy", s.busy}});
  }
  return out;
}

void SlotDispatcher::note_whole_trace(Slot& slot, bool offers) {
  std::lock_guard lock(mutex_);
  slot.whole_trace = offers;
}

bool SlotDispatcher::any_whole_trace() const {
  std::lock_guard lock(mutex_);
  return std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.leaving && s.whole_trace == true; });
}

void SlotDispatcher::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
}

// Whether a slot suits the call: whole-trace batches go only to simulators that offer them (or
// have not said yet: the caller asks and notes the answer).
static bool suits(const Slot& s, Need need) {
  return !s.leaving && (need == Need::Any || s.whole_trace != false);
}

Slot* SlotDispatcher::free_slot(Need need) {
  for (Slot& s : slots_) {
    if (!s.busy && suits(s, need)) return &s;
  }
  return nullptr;
}

bool SlotDispatcher::can_serve(Need need) const {
  return std::any_of(slots_.begin(), slots_.end(), [&](const Slot& s) { return suits(s, need); });
}

Slot& SlotDispatcher::acquire(const std::function<bool()>& interrupted, Need need) {
  std::unique_lock lock(mutex_);
  const auto me = waiting_.insert(waiting_.end(), Waiter{need});
  const auto leave_queue = [&] {
    waiting_.erase(me);
    lock.unlock();
    changed_.notify_all();  // the next in line may be able to go now
  };
  auto empty_since = std::chrono::steady_clock::now();
  for (;;) {
    bool stop = stopping_;
    if (!stop && interrupted) {  // called unlocked: it takes the service's lock
      lock.unlock();
      stop = interrupted();
      lock.lock();
    }
    if (stop) {
      leave_queue();
      throw engines::Interrupted("interrupted while waiting for a simulator");
    }
    // The oldest waiter that a free slot suits goes first.
    for (auto w = waiting_.begin(); w != waiting_.end(); ++w) {
      Slot* slot = free_slot(w->need);
      if (slot == nullptr) continue;
      if (w != me) break;
      slot->busy = true;
      ++slot->calls;
      leave_queue();
      return *slot;
    }
    const auto now = std::chrono::steady_clock::now();
    if (can_serve(need)) {
      empty_since = now;
    } else if (now - empty_since >= options_.empty_wait) {
      leave_queue();
      throw engines::SimulatorFailure("model " + options_.model + " has no simulator that can serve this call " +
                                      (need == Need::WholeTrace ? "(a whole-trace batch) " : "") + "after waiting " +
                                      std::to_string(options_.empty_wait.count()) + " ms");
    }
    changed_.wait_for(lock, std::chrono::milliseconds(50));
  }
}

void SlotDispatcher::release(Slot& slot, bool failed) {
  {
    std::lock_guard lock(mutex_);
    slot.busy = false;
    slot.failures = failed ? slot.failures + 1 : 0;
    if (slot.removable && !slot.leaving && slot.failures >= options_.failures_to_leave) {
      slot.leaving = true;
      if (options_.log) {
        options_.log("model " + options_.model + ": simulator at " + slot.endpoint + " failed " +
                     std::to_string(slot.failures) + " times in a row");
      }
    }
    const auto it = std::find_if(slots_.begin(), slots_.end(), [&](const Slot& s) { return &s == &slot; });
    if (it != slots_.end()) erase_if_leaving(it);
  }
  changed_.notify_all();
}

namespace {

// What a job's engine sees: any free simulator of the pool, one call at a time.
class JobSimulator final : public engines::Simulator {
 public:
  JobSimulator(SlotDispatcher& slots, std::function<bool()> interrupted)
      : slots_(slots), interrupted_(std::move(interrupted)) {}
  std::string model_name() override {
    return slots_.with([](Slot& s) { return s.simulator->model_name(); }, interrupted_);
  }
  Tensor run(Handler& handler) override {
    return slots_.with([&](Slot& s) { return s.simulator->run(handler); }, interrupted_);
  }
  bool supports_unsteered() override {
    if (slots_.any_whole_trace()) return true;
    return slots_.with([&](Slot& s) { return offers(s); }, interrupted_);
  }
  // Only on simulators that offer it; one that turns out not to is noted and another taken (bounded:
  // each turn notes one more, and with none left the dispatcher throws).
  std::vector<TraceRecord> run_unsteered(const engines::UnsteeredRequest& request) override {
    for (;;) {
      auto records = slots_.with(
          [&](Slot& s) -> std::optional<std::vector<TraceRecord>> {
            if (!offers(s)) return std::nullopt;
            return s.simulator->run_unsteered(request);
          },
          interrupted_, Need::WholeTrace);
      if (records) return std::move(*records);
    }
  }

 private:
  bool offers(Slot& s) {
    const bool answer = s.simulator->supports_unsteered();
    slots_.note_whole_trace(s, answer);
    return answer;
  }
  SlotDispatcher& slots_;
  std::function<bool()> interrupted_;
};

}  // namespace

ModelPool::ModelPool(const ModelConfig& config, bool growable, std::function<void(const std::string&)> log)
    : name_(config.name),
      remote_(config.pool.remote),
      log_(std::move(log)),
      slots_(SlotDispatcher::Options{.model = config.name, .empty_wait = config.pool.remote.handshake_timeout, .log = log_}) {
  // Stopping the daemon ends every wait on a simulator (a learner's included).
  remote_.interrupted = [this, job = remote_.interrupted] { return stopping_.load() || (job && job()); };
  server::PoolOptions options = config.pool;
  options.remote = remote_;
  options.log = [this](const std::string& line) {
    if (log_) log_("model " + name_ + ": " + line);
  };
  std::size_t configured = 0;
  if (!options.command.empty() || !options.connect.empty()) {
    pool_ = std::make_unique<server::SimulatorPool>(options);
    const std::vector<engines::Simulator*> simulators = pool_->simulators();
    for (std::size_t i = 0; i < simulators.size(); ++i) {
      slots_.add(simulators[i], options.command.empty() ? options.connect[i] : "spawned " + std::to_string(i));
    }
    configured = simulators.size();
  }
  // Engine threads per job: enough for the simulators that may join, when they may.
  job_simulators_ = config.job_simulators > 0 ? config.job_simulators
                    : growable                 ? std::max<std::size_t>(configured, kDefaultGrowableJobSimulators)
                                               : std::max<std::size_t>(configured, 1);
  learn_in_background();
}

ModelPool::~ModelPool() {
  stopping_ = true;
  slots_.stop();
  std::thread learner;
  {
    std::lock_guard lock(mutex_);
    learner = std::move(learner_);
  }
  if (learner.joinable()) learner.join();
}

std::vector<std::unique_ptr<engines::Simulator>> ModelPool::lease(std::function<bool()> interrupted) {
  std::vector<std::unique_ptr<engines::Simulator>> out;
  for (std::size_t i = 0; i < job_simulators_; ++i) out.push_back(std::make_unique<JobSimulator>(slots_, interrupted));
  return out;
}

std::size_t ModelPool::add_endpoint(const std::string& endpoint) {
  auto remote = std::make_unique<server::RemoteSimulator>(endpoint, remote_);
  engines::Simulator* simulator = remote.get();
  const std::size_t size = slots_.add(simulator, endpoint, std::move(remote));
  if (log_) log_("model " + name_ + ": simulator registered at " + endpoint);
  learn_in_background();
  return size;
}

std::size_t ModelPool::remove_endpoint(const std::string& endpoint) {
  if (!slots_.remove(endpoint)) throw std::invalid_argument("no registered simulator at " + endpoint);
  if (log_) log_("model " + name_ + ": simulator at " + endpoint + " deregistered");
  return slots_.size();
}

std::uint64_t ModelPool::restarts() const { return pool_ ? pool_->restarts() : 0; }

std::string ModelPool::model_name() {
  {
    std::lock_guard lock(mutex_);
    if (!model_name_.empty()) return model_name_;
  }
  try {
    std::string name = JobSimulator(slots_, {}).model_name();
    std::lock_guard lock(mutex_);
    model_name_ = name;
    return name;
  } catch (const engines::SimulatorFailure& e) {
    if (log_) log_("model " + name_ + ": simulator did not answer its handshake: " + e.what());
  }
  return "";
}

void ModelPool::learn_in_background() {
  std::lock_guard lock(mutex_);
  if (knowledge_ || slots_.size() == 0 || learner_.joinable()) return;
  learner_ = std::thread([this] {
    try {
      (void)learn();
    } catch (const std::exception& e) {
      if (log_ && !stopping_) log_("model " + name_ + ": " + e.what());
    }
  });
}

std::shared_ptr<const ModelKnowledge> ModelPool::knowledge() const {
  std::lock_guard lock(mutex_);
  return knowledge_;
}

std::shared_ptr<const ModelKnowledge> ModelPool::learn() {
  std::lock_guard learning(learn_mutex_);
  if (auto known = knowledge()) return known;
  std::string failures;
  // A few attempts: each failure is one simulator's (the dispatcher hands out another next).
  const std::size_t attempts = std::max<std::size_t>(slots_.size(), 1);
  for (std::size_t attempt = 0; attempt < attempts; ++attempt) {
    try {
      JobSimulator simulator(slots_, {});
      server::AddressDictionary dictionary;
      auto known = std::make_shared<ModelKnowledge>();
      known->sites = server::learn_sites(simulator, {}, kLearnTraces, 1, [&](const engines::Trace& t) { dictionary.add(t); });
      known->addresses = dictionary.to_json();
      std::lock_guard lock(mutex_);
      knowledge_ = std::move(known);
      if (log_) log_("model " + name_ + ": learned its statements from " + std::to_string(kLearnTraces) + " prior traces");
      return knowledge_;
    } catch (const engines::SimulatorFailure& e) {
      failures += std::string(failures.empty() ? "" : "; ") + e.what();
    }
  }
  throw engines::EngineError("cannot learn model " + name_ + "'s statements from prior traces: " + failures);
}

nlohmann::json ModelPool::summary() const {
  const nlohmann::json simulators = slots_.describe();
  std::vector<std::string> endpoints;
  for (const auto& s : simulators) endpoints.push_back(s["endpoint"]);
  std::lock_guard lock(mutex_);
  return {{"name", name_},
          {"simulators", simulators.size()},
          {"endpoints", endpoints},
          {"simulator_calls", simulators},
          {"job_simulators", job_simulators_},
          {"model_name", model_name_},
          {"simulator_restarts", pool_ ? pool_->restarts() : 0},
          // Once learned: the address summary of `ppx addresses --json` (null before).
          {"addresses", knowledge_ ? knowledge_->addresses : nlohmann::json(nullptr)}};
}

}  // namespace ppx::daemon
