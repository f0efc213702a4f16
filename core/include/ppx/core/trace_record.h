#pragma once
// A trace as the simulator saw it: every sample/observe/tag in execution order, with the values
// drawn. This is what a simulator returns for a whole-trace run (protocol extension) and what the
// client's local mode records; the engines turn it into a scored Trace.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ppx/core/distribution.h"
#include "ppx/core/tensor.h"

namespace ppx {

enum class SiteKind : std::uint8_t { Sample = 0, Observe = 1, Tag = 2 };

// "sample", "observe", "tag": how trace files and tables name a kind.
constexpr const char* site_kind_name(SiteKind kind) {
  switch (kind) {
    case SiteKind::Sample: return "sample";
    case SiteKind::Observe: return "observe";
    case SiteKind::Tag: return "tag";
  }
  return "?";
}

struct SiteRecord {
  SiteKind kind = SiteKind::Sample;
  std::string address;                       // base address as sent by the simulator
  std::string name;
  std::optional<Distribution> distribution;  // absent for tags
  std::optional<Tensor> value;               // sample: the draw; observe: the simulator's own value
                                             // if it gave one; tag: the tagged value
  bool control = true;

  bool operator==(const SiteRecord&) const = default;
};

struct TraceRecord {
  std::vector<SiteRecord> sites;
  Tensor result;  // the simulator's return value (empty if none)

  bool operator==(const TraceRecord&) const = default;
};

}  // namespace ppx
