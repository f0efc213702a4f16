#pragma once
// What every engine takes besides the simulators and options (Stan's service layer): where
// progress goes, how to interrupt, where log lines go. Engines never print, open files or sockets.
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "ppx/engines/simulator.h"

namespace ppx::engines {

struct Progress {
  std::uint64_t done = 0;
  std::uint64_t total = 0;
  double ess = 0.0;
  double elapsed_seconds = 0.0;
  std::uint64_t failures = 0;   // traces lost to simulator failures and re-run
  double acceptance = -1.0;     // MCMC: accepted / iterations so far, burn-in included (-1: not MCMC)
};

struct EngineCallbacks {
  std::function<void(const Progress&)> progress;   // called at most every ~100 ms and at the end
  std::function<bool()> interrupted;                // polled between traces; true stops early
  std::function<void(const std::string&)> log;      // one line per event (failures, restarts)
};

// Raised when an engine cannot go on (every simulator failed repeatedly, bad query).
class EngineError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using Simulators = std::span<Simulator* const>;

}  // namespace ppx::engines
