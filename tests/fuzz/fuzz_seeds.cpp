// Writes the fuzzers' seed corpora: every message kind (every distribution kind included) as this
// repository's encoder writes it, and for the serve loop request sequences in its chunk format.
//   fuzz_seeds CODEC_DIR SERVE_DIR
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "ppx/protocol/codec.h"

namespace proto = ppx::protocol;
using ppx::Tensor;

namespace {

void write(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(bytes.size()));
}

void append_chunk(std::vector<std::uint8_t>& out, const proto::Message& m) {
  const auto bytes = proto::encode(m);
  out.push_back(static_cast<std::uint8_t>(bytes.size() & 0xff));
  out.push_back(static_cast<std::uint8_t>((bytes.size() >> 8) & 0x7f));
  out.insert(out.end(), bytes.begin(), bytes.end());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const std::string codec = argv[1], serve = argv[2];
  const std::vector<ppx::Distribution> distributions = {
      ppx::Normal(0.0, 1.0), ppx::Uniform(-1.0, 2.0), ppx::Categorical(Tensor({0.2, 0.3, 0.5})),
      ppx::Poisson(3.0), ppx::Bernoulli(0.3), ppx::Beta(2.0, 3.0), ppx::Exponential(1.5), ppx::Gamma(2.0, 1.0),
      ppx::LogNormal(0.0, 1.0), ppx::Binomial(10.0, 0.4), ppx::Weibull(1.0, 2.0),
      ppx::TruncatedNormal(0.0, 1.0, 1.0, 2.0), ppx::Normal(Tensor({0.0, 1.0}), Tensor({1.0, 2.0}))};
  std::vector<proto::Message> messages = {
      proto::Handshake{"ppxd", proto::kProtocolVersion, {std::string(proto::kCapabilityRunTraces)}},
      proto::HandshakeResult{"sim", "gum", proto::kProtocolVersion, {std::string(proto::kCapabilityRunTraces)}},
      proto::Run{}, proto::RunResult{Tensor({1.0, 2.0})}, proto::SampleResult{Tensor(0.5)},
      proto::Observe{"obs", "obs0", ppx::Normal(0.0, 1.0), Tensor(1.0)}, proto::ObserveResult{},
      proto::Tag{"t", "mu_tag", Tensor(1.0)}, proto::TagResult{}, proto::Reset{"why"},
      proto::RunTraces{16, 7, {{"obs0", Tensor(8.0)}}}};
  for (const ppx::Distribution& d : distributions) messages.push_back(proto::Sample{"a", "x", d, true});
  proto::RunTracesResult whole;
  ppx::TraceRecord record;
  record.sites.push_back({ppx::SiteKind::Sample, "mu", "mu", ppx::Normal(1.0, 2.0), Tensor(0.3), true});
  record.sites.push_back({ppx::SiteKind::Sample, "c", "c", ppx::Categorical(Tensor({0.5, 0.5})), Tensor(1.0), true});
  record.sites.push_back({ppx::SiteKind::Observe, "obs0", "obs0", ppx::Normal(0.3, 1.0), Tensor(8.0), false});
  record.sites.push_back({ppx::SiteKind::Tag, "t", "t", std::nullopt, Tensor(1.0), false});
  record.result = Tensor(0.3);
  whole.traces = {record, record};
  messages.push_back(whole);
  for (std::size_t i = 0; i < messages.size(); ++i) write(codec + "/message-" + std::to_string(i), proto::encode(messages[i]));

  // Serve-loop sessions: a lock-step trace, a whole-trace batch, a handshake.
  std::vector<std::uint8_t> trace, batch, handshake;
  append_chunk(trace, proto::Run{});
  append_chunk(trace, proto::SampleResult{Tensor(1.0)});
  append_chunk(trace, proto::ObserveResult{});
  append_chunk(trace, proto::ObserveResult{});
  append_chunk(trace, proto::TagResult{});
  append_chunk(batch, proto::RunTraces{4, 3, {{"obs0", Tensor(8.0)}}});
  append_chunk(handshake, messages[0]);
  write(serve + "/trace", trace);
  write(serve + "/batch", batch);
  write(serve + "/handshake", handshake);
  return 0;
}
