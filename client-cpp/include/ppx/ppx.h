#pragma once
// ppx: instrument a simulator for probabilistic inference.
//
//   #include <ppx/ppx.h>
//   ppx::Tensor forward() {
//     double mu = ppx::sample(ppx::Normal(1.0, 2.236), "mu").item();   // or {.name = "mu", ...}
//     ppx::observe(ppx::Normal(mu, 1.414), "obs0");
//     return mu;
//   }
//   int main(int argc, char** argv) {
//     const ppx::Model model{"gum", forward};
//     return ppx::simulator_main(model, argc, argv);  // gum --serve ENDPOINT | gum --seed 3 --runs 5
//   }
//
// Every call goes to the calling thread's current handler (ppx/core/handler.h): the PPX transport
// while serving, a local sampler otherwise. With no handler installed, a thread-local sampler seeded
// from PPX_SEED (or 0) is used, so instrumented code runs standalone exactly as before.
//
// Addresses: an explicit `address` wins; otherwise the call site (file name without directories,
// line, function) is used, which is identical across runs, processes, ASLR and link modes. The
// engine appends `__<Distribution>__<instance>` as pyprob does.
//
// The library never exits, aborts or writes to stdout (simulator_main, a program's main, prints
// what the program is asked for). Diagnostics go to an optional LogCallback.
// Threads: each thread has its own handler; several models may serve on different threads.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <source_location>
#include <string>
#include <string_view>

#include "ppx/core/distribution.h"
#include "ppx/core/handler.h"
#include "ppx/core/tensor.h"
#include "ppx/core/trace_record.h"

namespace ppx {

struct SampleOptions {
  std::string name;      // shown in posterior summaries; "" = unnamed
  std::string address;   // explicit base address; "" = call site
  bool control = true;   // false: always drawn from the prior, never proposed by an engine
};

struct ObserveOptions {
  std::string name;      // the engine conditions observations by name
  std::string address;
};

struct TagOptions {
  std::string name;
  std::string address;
};

Tensor sample(const Distribution& distribution, const SampleOptions& options = {},
              std::source_location where = std::source_location::current());
// Observe with the value supplied by the engine (by name).
void observe(const Distribution& likelihood, const ObserveOptions& options = {},
             std::source_location where = std::source_location::current());
// Observe with a value the simulator supplies.
void observe(const Distribution& likelihood, const Tensor& value, const ObserveOptions& options = {},
             std::source_location where = std::source_location::current());
void tag(const Tensor& value, const TagOptions& options = {},
         std::source_location where = std::source_location::current());

// Shorthands for a site with a name only: ppx::sample(ppx::Normal(0, 1), "mu"). They keep a
// first program free of GCC 12's -Wextra warning on designated initializers that leave members
// out ({.name = "mu"}: "missing initializer for member"). String literals only, so that
// sample(d, {}) stays unambiguous; other names use the options structs.
template <std::size_t N>
Tensor sample(const Distribution& distribution, const char (&name)[N],
              std::source_location where = std::source_location::current()) {
  return sample(distribution, SampleOptions{name, {}, true}, where);
}
template <std::size_t N>
void observe(const Distribution& likelihood, const char (&name)[N],
             std::source_location where = std::source_location::current()) {
  observe(likelihood, ObserveOptions{name, {}}, where);
}
template <std::size_t N>
void observe(const Distribution& likelihood, const Tensor& value, const char (&name)[N],
             std::source_location where = std::source_location::current()) {
  observe(likelihood, value, ObserveOptions{name, {}}, where);
}
template <std::size_t N>
void tag(const Tensor& value, const char (&name)[N], std::source_location where = std::source_location::current()) {
  tag(value, TagOptions{name, {}}, where);
}

// The automatic base address of a call site: "<file>:<line>:<function>" (file without directories).
std::string call_site_address(const std::source_location& where);

enum class LogLevel { Debug, Info, Warning, Error };
using LogCallback = std::function<void(LogLevel, std::string_view)>;

// Standalone sampler: draws samples from the prior with its own generator; observes are no-ops
// unless `sample_observations` (then a value is drawn from the likelihood and recorded), which is
// how forward-simulated test data is generated. Optionally records the whole trace.
class LocalHandler final : public Handler {
 public:
  struct Options {
    std::uint64_t seed = 0;
    std::uint64_t stream = 0;          // generator stream: make_rng(seed, stream)
    bool record = false;               // keep a TraceRecord of every site
    bool sample_observations = false;  // draw observe values from their likelihood
  };
  explicit LocalHandler(Options options);
  Tensor on_sample(const SampleSite& site) override;
  void on_observe(const ObserveSite& site) override;
  void on_tag(const TagSite& site) override;

  // Samples whose name is in `fixed` return that value instead of a draw (engine clamping).
  void set_fixed_values(std::vector<std::pair<std::string, Tensor>> fixed);
  // Restarts the generator at stream `stream` of `seed` (one handler serves many seeded traces).
  void reseed(std::uint64_t seed, std::uint64_t stream);
  // The record of everything since the last take_record(), and clears it.
  TraceRecord take_record();
  Rng& rng() { return rng_; }

 private:
  Options options_;
  Rng rng_;
  TraceRecord record_;
  std::vector<std::pair<std::string, Tensor>> fixed_;
};

struct ServeOptions {
  std::string endpoint = "tcp://*:5555";      // tcp://*:PORT or ipc:///path
  // Longest wait for the next request; 0 = wait forever (PPX 1.0 engines may pause at will).
  // When it expires the loop returns with Status::Timeout.
  std::chrono::milliseconds receive_timeout{0};
  bool handle_signals = true;                 // SIGINT/SIGTERM stop the loop gracefully
  const std::atomic<bool>* stop = nullptr;    // set to true to stop the loop (checked every 100 ms)
  LogCallback log;                            // silent when empty
  std::uint64_t max_message_bytes = 1ull << 30;
};

struct ServeResult {
  enum class Status { Stopped, Timeout, Error } status = Status::Stopped;
  std::string message;        // for Error: what failed (bind, socket)
  std::uint64_t traces = 0;   // traces run (lock-step and whole-trace)
  std::uint64_t protocol_errors = 0;  // requests answered with Reset
  bool ok() const { return status != Status::Error; }
};

using ModelFunction = std::function<Tensor()>;

class Model {
 public:
  Model(std::string name, ModelFunction forward);
  const std::string& name() const { return name_; }

  // Serves PPX on `options.endpoint` until stopped. Never throws; errors are in the result.
  ServeResult serve(const ServeOptions& options) const;
  // One standalone run with a local sampler seeded by `seed` (or PPX_SEED when not given).
  Tensor run_local(std::optional<std::uint64_t> seed = std::nullopt) const;
  // Runs the model once under `handler` (installed for this thread).
  Tensor run(Handler& handler) const;

 private:
  std::string name_;
  ModelFunction forward_;
};

// A simulator program's whole main: the standard command line (ppx/simulator_cli.h),
//   <sim> --serve ENDPOINT [--timeout-ms MS] [-v]   serve PPX until SIGINT/SIGTERM (or the timeout)
//   <sim> [--seed S] [--runs N]                      run standalone, print each result on stdout
//   int main(int argc, char** argv) { return ppx::simulator_main(model, argc, argv); }
// Returns the exit code (0 done, 1 failure, 2 usage error); never exits or aborts. As the
// program's main by design it prints --help and standalone results to stdout, errors to stderr.
int simulator_main(const Model& model, int argc, char** argv);

// PPX_SEED from the environment, or 0 when unset or not a number.
std::uint64_t seed_from_environment();

// The library's version string, sent in HandshakeResult.system_name.
std::string_view version_string();

}  // namespace ppx
