#pragma once
// Checks a query against the model before inference. A few prior traces (learn_sites) show the
// model's statements; check_query compares the observations given with what they showed:
//   - an observed name that matched no observe or sample statement (a misspelling conditions on
//     nothing);
//   - an observe statement that got no value, from the query or the simulator;
//   - a value whose shape differs from the shape of the distribution's draws (a scalar likelihood
//     given [1,2] would silently score two observations as one).
// `ppx infer` learns with the query's observations (they clamp named samples, as the engine will)
// and checks at once; ppxd learns once per model with none and checks every query it is sent.
// A name that occurs only in some traces may be missed by a few traces. So while an observed name
// is missing, learning runs more traces, up to `max_traces` in all; a name still missing then is
// `unknown` (an error) when every trace reached the same names (no branch seen that could hide
// it), and `unseen` (a warning: perhaps a branch seldom taken) when the traces differed. Learning
// throws SimulatorFailure as the simulator does.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ppx/engines/simulator.h"
#include "ppx/engines/trace.h"

namespace ppx::server {

// The statements prior traces showed: one per name (named statements) or per address key
// (unnamed observes, for the unconditioned warning), first seen first.
struct ModelSites {
  struct Site {
    std::string name;     // "" when unnamed
    std::string address;  // address key "<base>__<suffix>"
    SiteKind kind = SiteKind::Sample;
    std::string distribution;     // its name ("Normal"); "" when absent
    std::vector<int32_t> shape;   // shape of the distribution's draws
    bool has_distribution = false;
    bool had_value = false;       // an observe that got a value while learning (from the simulator,
                                  // or from the observations learned with)
  };
  std::uint64_t traces = 0;
  std::vector<Site> sites;
  bool branching = false;  // traces reached different sets of names
  void add(const engines::Trace& trace);
  bool has_name(std::string_view name) const;

 private:
  std::vector<std::string> first_names_;  // the first trace's names, sorted

};

struct QueryCheck {
  std::uint64_t traces = 0;
  std::uint64_t conditioned = 0;           // statements that got a value (0: this is the prior)
  std::vector<std::string> model_names;    // named observe and sample statements seen, sorted
  std::vector<std::string> unknown;        // observed names matching none of them (the model does not branch)
  std::vector<std::string> unseen;         // observed names not seen in a model whose traces differ
  bool branching = false;                  // traces reached different sets of names
  std::vector<std::string> unconditioned;  // observes with no value (by name, or address when unnamed)
  std::vector<std::string> shape_errors;   // one sentence each
  // The usage error to report (empty when there is none): unknown names, then shapes. `given`
  // names where the observations came from ("--observe", "observations").
  std::string error(std::string_view given = "--observe") const;
  // Sentences for what is allowed but likely a mistake: observes left without a value (`how` says
  // how to give one), no value at all (the prior, not a posterior).
  std::vector<std::string> warnings(std::string_view how = "--observe NAME=VALUE") const;
};

// Runs `traces` prior traces on `simulator` (the observations clamp named samples and fill
// observes, as the engine does) on their own generator stream, each handed to `sink` if given;
// more, up to `max_traces`, while a name in `observations` has not been seen.
ModelSites learn_sites(engines::Simulator& simulator, const engines::Observations& observations, std::uint64_t traces,
                       std::uint64_t seed, const std::function<void(const engines::Trace&)>& sink = {},
                       std::uint64_t max_traces = 100);

QueryCheck check_query(const ModelSites& sites, const engines::Observations& observations);

// learn_sites with the observations, then check_query.
QueryCheck check_query(engines::Simulator& simulator, const engines::Observations& observations,
                       std::uint64_t traces, std::uint64_t seed, std::uint64_t max_traces = 100);

// "[17, 3]"; "[] (a scalar)" for a scalar.
std::string shape_text(const std::vector<int32_t>& shape);

}  // namespace ppx::server
