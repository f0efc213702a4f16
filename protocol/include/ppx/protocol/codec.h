#pragma once
// Bytes <-> Message. Decoding treats every buffer as untrusted: size limit, FlatBuffers Verifier
// (depth/table limits), then semantic checks (union members known, distribution present where
// required, tensor shape agrees with data, parameters valid). Buffers with or without the "PPXF"
// file identifier are accepted; we write none, as PPX 1.0 peers do.
// Thread safety: Encoder is single-threaded (one per connection); decode is reentrant.
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "ppx/protocol/messages.h"

namespace ppx::protocol {

enum class DecodeErrorCode {
  TooLarge,        // over DecodeLimits::max_bytes
  Malformed,       // Verifier failed: garbage, truncated, wrong root
  UnknownKind,     // body or distribution union tag we do not know (or NONE body)
  MissingField,    // a required field is absent (e.g. Sample without distribution)
  InvalidTensor,   // shape disagrees with data
  InvalidDistribution,  // parameters fail validation
};

class DecodeError : public std::runtime_error {
 public:
  DecodeError(DecodeErrorCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  DecodeErrorCode code() const { return code_; }

 private:
  DecodeErrorCode code_;
};

struct DecodeLimits {
  std::size_t max_bytes = std::size_t{1} << 30;
  std::size_t max_depth = 64;
  std::size_t max_tables = 10'000'000;
};

// Throws DecodeError on anything invalid.
Message decode(std::span<const std::uint8_t> bytes, const DecodeLimits& limits = {});

// Reuses its FlatBuffers builder across calls; the returned span is valid until the next encode.
// Throws std::invalid_argument for a distribution kind that has no wire form (none today).
class Encoder {
 public:
  Encoder();
  ~Encoder();
  Encoder(Encoder&&) noexcept;
  Encoder& operator=(Encoder&&) noexcept;
  std::span<const std::uint8_t> encode(const Message& message);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Convenience: a fresh buffer per call.
std::vector<std::uint8_t> encode(const Message& message);

}  // namespace ppx::protocol
