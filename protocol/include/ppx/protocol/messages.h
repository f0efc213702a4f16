#pragma once
// PPX messages as plain C++ values (no FlatBuffers types leak out of the codec).
// PPX 1.0 kinds first, in wire order; the whole-trace extension after them (see protocol/README.md).
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "ppx/core/distribution.h"
#include "ppx/core/tensor.h"
#include "ppx/core/trace_record.h"

namespace ppx::protocol {

// Our protocol version; a PPX 1.0 peer sends none (0).
inline constexpr std::uint32_t kProtocolVersion = 2;
// Capability strings exchanged in Handshake/HandshakeResult.
inline constexpr std::string_view kCapabilityRunTraces = "run_traces";

struct Handshake {
  std::string system_name;
  std::uint32_t protocol_version = 0;          // extension; 0 from a PPX 1.0 peer
  std::vector<std::string> capabilities;       // extension
  bool operator==(const Handshake&) const = default;
};
struct HandshakeResult {
  std::string system_name;
  std::string model_name;
  std::uint32_t protocol_version = 0;
  std::vector<std::string> capabilities;
  bool operator==(const HandshakeResult&) const = default;
};
struct Run {
  bool operator==(const Run&) const = default;
};
struct RunResult {
  Tensor result;  // empty when the simulator returned nothing
  bool operator==(const RunResult&) const = default;
};
struct Sample {
  std::string address;
  std::string name;
  Distribution distribution;  // required: a Sample without one does not decode
  bool control = true;
  bool operator==(const Sample&) const = default;
};
struct SampleResult {
  Tensor result;
  bool operator==(const SampleResult&) const = default;
};
struct Observe {
  std::string address;
  std::string name;
  std::optional<Distribution> distribution;  // PPX 1.0 allows none; engines reject it
  std::optional<Tensor> value;               // absent: the engine supplies it by name
  bool operator==(const Observe&) const = default;
};
struct ObserveResult {
  bool operator==(const ObserveResult&) const = default;
};
struct Tag {
  std::string address;
  std::string name;
  Tensor value;
  bool operator==(const Tag&) const = default;
};
struct TagResult {
  bool operator==(const TagResult&) const = default;
};
struct Reset {
  std::string reason;  // extension: why (empty from a PPX 1.0 peer)
  bool operator==(const Reset&) const = default;
};

// Extension: run `count` traces unsteered (samples from the prior); trace i uses stream first + i
// of `seed`; samples whose name is in `fixed` take that value (the engine's clamped observations).
// The reply may stop early (a leading part, at least one trace) where the rest would pass
// max_reply_bytes (0: the simulator's own limit), so a batch never needs an oversized message.
struct RunTraces {
  std::uint32_t count = 1;
  std::uint64_t seed = 0;
  std::vector<std::pair<std::string, Tensor>> fixed;
  std::uint64_t first = 0;
  std::uint64_t max_reply_bytes = 0;
  bool operator==(const RunTraces&) const = default;
};
// Extension: the traces of a RunTraces, whole, in order (all of them or a leading part).
struct RunTracesResult {
  std::vector<TraceRecord> traces;
  bool operator==(const RunTracesResult&) const = default;
};

using Message = std::variant<Handshake, HandshakeResult, Run, RunResult, Sample, SampleResult,
                             Observe, ObserveResult, Tag, TagResult, Reset, RunTraces,
                             RunTracesResult>;

// The PPX name of a message kind ("Sample", ...), for logs and errors.
std::string_view kind_name(const Message& message);

}  // namespace ppx::protocol
