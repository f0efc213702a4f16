#pragma once
// Checks a query against the model before inference: a few prior traces are run with a handler
// that only looks (samples drawn from the prior, nothing scored), and what they show is compared
// with the observations given:
//   - an observed name that matched no observe or sample statement (a misspelling conditions on
//     nothing);
//   - an observe statement that got no value, from the query or the simulator;
//   - a value whose shape differs from the shape of the distribution's draws (a scalar likelihood
//     given [1,2] would silently score two observations as one).
// A name that occurs only in some traces may be missed by a few traces. So while an observed name
// is missing, more traces are run, up to `max_traces` in all; a name still missing then is
// `unknown` (an error) when every trace reached the same names (no branch seen that could hide
// it), and `unseen` (a warning: perhaps a branch seldom taken) when the traces differed. Throws SimulatorFailure as the simulator does.
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
  std::vector<std::string> unknown;        // observed names matching none of them (the model does not branch)
  std::vector<std::string> unseen;         // observed names not seen in a model whose traces differ
  bool branching = false;                  // traces reached different sets of names
  std::vector<std::string> unconditioned;  // observes with no value (by name, or address when unnamed)
  std::vector<std::string> shape_errors;   // one sentence each
  // The usage error to report (empty when there is none): unknown names, then shapes.
  std::string error() const;
};

QueryCheck check_query(engines::Simulator& simulator, const engines::Observations& observations,
                       std::uint64_t traces, std::uint64_t seed, std::uint64_t max_traces = 100);

// "[17, 3]"; "[] (a scalar)" for a scalar.
std::string shape_text(const std::vector<int32_t>& shape);

}  // namespace ppx::server
