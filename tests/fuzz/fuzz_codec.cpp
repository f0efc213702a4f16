// libFuzzer: decode -> encode -> decode, then what the engine does with a decoded message.
// Invariants (a violation aborts, so libFuzzer keeps the input):
//   - decode either throws DecodeError or returns a message that re-encodes, and the re-encoded
//     bytes decode to a message that encodes to the same bytes (a fixed point after one round);
//   - every decoded distribution answers address_suffix, value_shape, sample (terminating: issue 8
//     item 1; never NaN; in the support unless rounded onto its edge), log_prob of its own sample,
//     in_support, mean and stddev;
//   - a decoded whole-trace reply is scored by score_record, which accepts it or throws
//     SimulatorFailure (the simulator's fault), never anything else.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <vector>

#include "ppx/engines/executor.h"
#include "ppx/protocol/codec.h"

namespace proto = ppx::protocol;

namespace {

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

void exercise(const ppx::Distribution& d, ppx::Rng& rng) {
  (void)d.address_suffix();
  (void)d.value_shape();
  for (const ppx::Tensor& p : d.parameters()) {
    if (p.numel() > 4096) return;  // keep each input cheap
  }
  const ppx::Tensor x = d.sample(rng);
  for (double v : x.data()) {
    if (std::isnan(v)) violated(("a NaN sample from " + d.to_string()).c_str());
  }
  // At the ends of the double range a draw may round onto the support's edge (see the extreme
  // values test in tests/core): only draws strictly inside the double range are held to it.
  bool representable = true;
  for (double v : x.data()) representable = representable && std::isfinite(v) && v != 0.0;
  if (representable && !d.in_support(x)) {
    violated(("a sample outside the support of " + d.to_string() + ": " + std::to_string(x.data()[0])).c_str());
  }
  (void)d.log_prob(x);  // may be NaN at extreme parameters (see the note in tests/core); must not crash
  (void)d.mean();
  (void)d.stddev();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  proto::Message message;
  try {
    message = proto::decode({data, size}, {.max_bytes = 1 << 20});
  } catch (const proto::DecodeError&) {
    return 0;
  }
  const std::vector<std::uint8_t> once = proto::encode(message);
  proto::Message again;
  try {
    again = proto::decode(once);
  } catch (const proto::DecodeError&) {
    violated("our own encoding of a decoded message does not decode");
  }
  if (proto::encode(again) != once) violated("decode(encode(m)) encodes differently from m");

  ppx::Rng rng = ppx::make_rng(size);
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, proto::Sample>) {
          exercise(m.distribution, rng);
        } else if constexpr (std::is_same_v<T, proto::Observe>) {
          if (m.distribution) exercise(*m.distribution, rng);
        } else if constexpr (std::is_same_v<T, proto::RunTracesResult>) {
          for (const ppx::TraceRecord& record : m.traces) {
            for (const ppx::SiteRecord& site : record.sites) {
              if (site.distribution) exercise(*site.distribution, rng);
            }
            try {
              (void)ppx::engines::score_record(record, {}, ppx::engines::Recording::Full);
            } catch (const ppx::engines::SimulatorFailure&) {
            }
          }
        }
      },
      message);
  return 0;
}
