#pragma once
// Checks a query against the model before inference: a few prior traces are run with a handler
// that only looks (samples drawn from the prior, nothing scored), and what they show is compared
// with the observations given:
//   - an observed name that matched no observe or sample statement (a misspelling conditions on
//     nothing);
//   - an observe statement that got no value, from the query or the simulator;
//   - a value whose shape differs from the shape of the distribution's draws (a scalar likelihood
//     given [1,2] would silently score two observations as one).
// Names that occur only in some traces may be missed by a few traces: the check is a guard
// against typos, not a proof. Throws SimulatorFailure as the simulator does.
#include <cstdint>
#include <string>
#include <vector>

#include "ppx/engines/simulator.h"
#include "ppx/engines/trace.h"

namespace ppx::server {

struct QueryCheck {
  std::uint64_t traces = 0;
  std::uint64_t conditioned = 0;           // statements that got a value (0: this is the prior)
  std::vector<std::string> model_names;    // named observe and sample statements seen, sorted
  std::vector<std::string> unknown;        // observed names matching none of them
  std::vector<std::string> unconditioned;  // observes with no value (by name, or address when unnamed)
  std::vector<std::string> shape_errors;   // one sentence each
  // The usage error to report (empty when there is none): unknown names, then shapes.
  std::string error() const;
};

QueryCheck check_query(engines::Simulator& simulator, const engines::Observations& observations,
                       std::uint64_t traces, std::uint64_t seed);

// "[17, 3]"; "[] (a scalar)" for a scalar.
std::string shape_text(const std::vector<int32_t>& shape);

}  // namespace ppx::server
