#include "model_pool.h"

namespace ppx::daemon {
namespace {

// What a job's engine sees: a slot, taken in turn with the other jobs.
class JobSimulator final : public engines::Simulator {
 public:
  explicit JobSimulator(SharedSlot& slot) : slot_(slot) {}
  std::string model_name() override { return slot_.with([](engines::Simulator& s) { return s.model_name(); }); }
  Tensor run(Handler& handler) override { return slot_.with([&](engines::Simulator& s) { return s.run(handler); }); }
  bool supports_unsteered() override {
    return slot_.with([](engines::Simulator& s) { return s.supports_unsteered(); });
  }
  std::vector<TraceRecord> run_unsteered(const engines::UnsteeredRequest& request) override {
    return slot_.with([&](engines::Simulator& s) { return s.run_unsteered(request); });
  }

 private:
  SharedSlot& slot_;
};

}  // namespace

ModelPool::ModelPool(const ModelConfig& config, std::function<void(const std::string&)> log)
    : name_(config.name), remote_(config.pool.remote), log_(std::move(log)) {
  server::PoolOptions options = config.pool;
  options.log = [this](const std::string& line) {
    if (log_) log_("model " + name_ + ": " + line);
  };
  if (!options.command.empty() || !options.connect.empty()) {
    pool_ = std::make_unique<server::SimulatorPool>(options);
    for (engines::Simulator* s : pool_->simulators()) slots_.emplace_back(*s);
    if (options.command.empty()) {
      endpoints_ = options.connect;
    } else {
      for (std::size_t i = 0; i < options.workers; ++i) endpoints_.push_back("spawned " + std::to_string(i));
    }
  }
}

ModelPool::~ModelPool() = default;

std::vector<std::unique_ptr<engines::Simulator>> ModelPool::lease() {
  std::lock_guard lock(mutex_);
  std::vector<std::unique_ptr<engines::Simulator>> out;
  for (SharedSlot& slot : slots_) out.push_back(std::make_unique<JobSimulator>(slot));
  return out;
}

std::size_t ModelPool::add_endpoint(const std::string& endpoint) {
  auto remote = std::make_unique<server::RemoteSimulator>(endpoint, remote_);
  std::lock_guard lock(mutex_);
  slots_.emplace_back(*remote);
  registered_.push_back(std::move(remote));
  endpoints_.push_back(endpoint);
  if (log_) log_("model " + name_ + ": simulator registered at " + endpoint);
  return slots_.size();
}

std::size_t ModelPool::size() const {
  std::lock_guard lock(mutex_);
  return slots_.size();
}

std::uint64_t ModelPool::restarts() const { return pool_ ? pool_->restarts() : 0; }

std::string ModelPool::model_name() {
  {
    std::lock_guard lock(mutex_);
    if (!model_name_.empty()) return model_name_;
  }
  for (auto& simulator : lease()) {
    try {
      std::string name = simulator->model_name();
      std::lock_guard lock(mutex_);
      model_name_ = name;
      return name;
    } catch (const engines::SimulatorFailure& e) {
      if (log_) log_("model " + name_ + ": simulator did not answer its handshake: " + e.what());
    }
  }
  return "";
}

nlohmann::json ModelPool::summary() const {
  std::lock_guard lock(mutex_);
  return {{"name", name_},
          {"simulators", slots_.size()},
          {"endpoints", endpoints_},
          {"model_name", model_name_},
          {"simulator_restarts", pool_ ? pool_->restarts() : 0}};
}

}  // namespace ppx::daemon
