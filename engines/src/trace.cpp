#include "ppx/engines/trace.h"

#include "ppx/engines/simulator.h"

namespace ppx::engines {

const TraceEntry* Trace::find_named(std::string_view name) const {
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (it->name == name) return &*it;
  }
  return nullptr;
}

std::string full_address(std::string_view base, std::string_view suffix, std::uint32_t instance) {
  std::string address;
  address.reserve(base.size() + suffix.size() + 8);
  address.append(base).append("__").append(suffix).append("__").append(std::to_string(instance));
  return address;
}

std::vector<TraceRecord> Simulator::run_unsteered(const UnsteeredRequest&) {
  throw std::logic_error(model_name() + ": whole-trace runs are not supported by this simulator");
}

InProcessSimulator::InProcessSimulator(std::string name, std::function<Tensor()> forward)
    : name_(std::move(name)), forward_(std::move(forward)) {}

Tensor InProcessSimulator::run(Handler& handler) {
  ScopedHandler scope(handler);
  return forward_();
}

}  // namespace ppx::engines
