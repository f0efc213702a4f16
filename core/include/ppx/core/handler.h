#pragma once
// The narrow waist: what happens at a random choice.
// A simulator calls ppx::sample/observe/tag (client-cpp), which call the calling thread's current
// Handler. In a serving simulator that handler is the PPX transport; standalone it is a local
// sampler; inside the engine it is an inference policy wrapped by a trace recorder.
//
// Sites borrow their strings and tensors from the caller for the duration of the call only.
// Handlers may throw; the exception unwinds through the model code to whoever installed them.
#include <string_view>

#include "ppx/core/distribution.h"
#include "ppx/core/tensor.h"

namespace ppx {

struct SampleSite {
  std::string_view address;  // base address (no suffix, no instance); never empty
  std::string_view name;     // "" when unnamed
  const Distribution& distribution;
  bool control = true;       // false: drawn from the prior and hidden from proposal learners
};

struct ObserveSite {
  std::string_view address;
  std::string_view name;
  const Distribution* likelihood;  // null only for malformed peers (PPX allows it on the wire)
  const Tensor* value;             // null: the engine supplies the value by name
};

struct TagSite {
  std::string_view address;
  std::string_view name;
  const Tensor& value;
};

class Handler {
 public:
  virtual ~Handler() = default;
  virtual Tensor on_sample(const SampleSite& site) = 0;
  virtual void on_observe(const ObserveSite& site) = 0;
  virtual void on_tag(const TagSite& site) = 0;
};

// The calling thread's handler, or null when none is installed.
Handler* current_handler() noexcept;

// Installs a handler for the calling thread for its lifetime, restoring the previous one after.
class ScopedHandler {
 public:
  explicit ScopedHandler(Handler& handler) noexcept;
  ~ScopedHandler();
  ScopedHandler(const ScopedHandler&) = delete;
  ScopedHandler& operator=(const ScopedHandler&) = delete;

 private:
  Handler* previous_;
};

}  // namespace ppx
