#include "ppx/protocol/messages.h"

#include <array>

namespace ppx::protocol {

std::string_view kind_name(const Message& message) {
  // Variant order is wire order (MessageBody tag - 1).
  static constexpr std::array<std::string_view, std::variant_size_v<Message>> kNames = {
      "Handshake", "HandshakeResult", "Run",      "RunResult", "Sample",
      "SampleResult", "Observe",      "ObserveResult", "Tag", "TagResult",
      "Reset",     "RunTraces",       "RunTracesResult"};
  return kNames[message.index()];
}

}  // namespace ppx::protocol
