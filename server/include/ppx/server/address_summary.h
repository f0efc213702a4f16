#pragma once
// The address dictionary of a model, gathered from prior traces: for each address key
// "<base>__<distribution suffix>" (what `--init` files and IC embeddings are keyed on, without the
// instance number) its kind, distribution, names, the fraction of traces that reach it, instances
// per trace, controlled or not; and the trace types (the sequence of sample addresses of a trace)
// with their frequencies. `ppx addresses` prints it; ppxd's GET /v1/models serves it.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ppx/engines/trace.h"

namespace ppx::server {

// "<base>__<suffix>__<instance>" without "__<instance>".
std::string address_key(const std::string& address);

class AddressDictionary {
 public:
  void add(const engines::Trace& trace);
  std::uint64_t traces() const { return traces_; }
  // {"traces", "addresses": [{"address", "kind", "distribution", "names", "controlled", "observed",
  //  "traces", "frequency", "instances_per_trace": {"min", "mean", "max"}}...] (first seen first),
  //  "trace_types": [{"count", "frequency", "samples", "addresses"}...] (most frequent first)}.
  nlohmann::json to_json() const;

 private:
  struct Stats {
    std::string key;
    SiteKind kind = SiteKind::Sample;
    std::string distribution;  // pyprob's suffix ("Normal", "Categorical(len_probs:3)"), "None" for tags
    std::vector<std::string> names;  // every name seen at this address (normally one)
    bool controlled = false, uncontrolled = false, observed = false;
    std::uint64_t traces = 0;     // traces that reach it
    std::uint64_t instances = 0;  // total occurrences
    std::uint32_t min_per_trace = 0, max_per_trace = 0;
    std::size_t first_seen = 0;  // order of first appearance
  };
  std::uint64_t traces_ = 0;
  std::map<std::string, Stats> stats_;
  std::map<std::vector<std::string>, std::uint64_t> trace_types_;
};

}  // namespace ppx::server
