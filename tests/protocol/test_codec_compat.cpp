// Schema evolution: our extensions are invisible to a PPX 1.0 reader. The 1.0 reader here is the
// code flatc generates from the upstream 1.0 schema (tests/protocol/ppx_1_0.fbs).
#include <catch2/catch.hpp>

#include "codec_test_support.h"
#include "ppx/protocol/codec.h"
#include "wire.h"

namespace ppx_v1 {
#include "ppx_1_0_generated.h"
}  // namespace ppx_v1

using namespace ppx;
using namespace ppx::protocol;
namespace fb = ppx::protocol::detail::fb;
namespace v1 = ppx_v1::ppx;

// The PPX 1.0 union tags and field slots keep their values in our schema.
#define SAME_TAG(Union, Member) \
  static_assert(static_cast<int>(fb::Union::Member) == static_cast<int>(v1::Union::Member))
SAME_TAG(MessageBody, Handshake);
SAME_TAG(MessageBody, HandshakeResult);
SAME_TAG(MessageBody, Run);
SAME_TAG(MessageBody, RunResult);
SAME_TAG(MessageBody, Sample);
SAME_TAG(MessageBody, SampleResult);
SAME_TAG(MessageBody, Observe);
SAME_TAG(MessageBody, ObserveResult);
SAME_TAG(MessageBody, Tag);
SAME_TAG(MessageBody, TagResult);
SAME_TAG(MessageBody, Reset);
SAME_TAG(Distribution, Normal);
SAME_TAG(Distribution, Uniform);
SAME_TAG(Distribution, Categorical);
SAME_TAG(Distribution, Poisson);
SAME_TAG(Distribution, Bernoulli);
SAME_TAG(Distribution, Beta);
SAME_TAG(Distribution, Exponential);
SAME_TAG(Distribution, Gamma);
SAME_TAG(Distribution, LogNormal);
SAME_TAG(Distribution, Binomial);
SAME_TAG(Distribution, Weibull);
#undef SAME_TAG
static_assert(static_cast<int>(fb::MessageBody::Reset) == 11);
static_assert(static_cast<int>(fb::Distribution::Weibull) == 11);
static_assert(static_cast<int>(v1::MessageBody::MAX) == 11);
static_assert(static_cast<int>(v1::Distribution::MAX) == 11);

#define SAME_SLOT(Table, FIELD) \
  static_assert(static_cast<int>(fb::Table::FIELD) == static_cast<int>(v1::Table::FIELD))
SAME_SLOT(Message, VT_BODY_TYPE);
SAME_SLOT(Message, VT_BODY);
SAME_SLOT(Tensor, VT_DATA);
SAME_SLOT(Tensor, VT_SHAPE);
SAME_SLOT(Handshake, VT_SYSTEM_NAME);
SAME_SLOT(HandshakeResult, VT_SYSTEM_NAME);
SAME_SLOT(HandshakeResult, VT_MODEL_NAME);
SAME_SLOT(RunResult, VT_RESULT);
SAME_SLOT(Sample, VT_ADDRESS);
SAME_SLOT(Sample, VT_NAME);
SAME_SLOT(Sample, VT_DISTRIBUTION_TYPE);
SAME_SLOT(Sample, VT_DISTRIBUTION);
SAME_SLOT(Sample, VT_CONTROL);
SAME_SLOT(SampleResult, VT_RESULT);
SAME_SLOT(Observe, VT_ADDRESS);
SAME_SLOT(Observe, VT_NAME);
SAME_SLOT(Observe, VT_DISTRIBUTION_TYPE);
SAME_SLOT(Observe, VT_DISTRIBUTION);
SAME_SLOT(Observe, VT_VALUE);
SAME_SLOT(Tag, VT_ADDRESS);
SAME_SLOT(Tag, VT_NAME);
SAME_SLOT(Tag, VT_VALUE);
SAME_SLOT(Normal, VT_STDDEV);
SAME_SLOT(Uniform, VT_HIGH);
SAME_SLOT(Categorical, VT_PROBS);
SAME_SLOT(Poisson, VT_RATE);
SAME_SLOT(Bernoulli, VT_PROBS);
SAME_SLOT(Beta, VT_CONCENTRATION0);
SAME_SLOT(Exponential, VT_RATE);
SAME_SLOT(Gamma, VT_RATE);
SAME_SLOT(LogNormal, VT_SCALE);
SAME_SLOT(Binomial, VT_PROBS);
SAME_SLOT(Weibull, VT_CONCENTRATION);
#undef SAME_SLOT
// The extension fields come after every 1.0 field.
static_assert(static_cast<int>(fb::Handshake::VT_PROTOCOL_VERSION) >
              static_cast<int>(v1::Handshake::VT_SYSTEM_NAME));
static_assert(static_cast<int>(fb::HandshakeResult::VT_PROTOCOL_VERSION) >
              static_cast<int>(v1::HandshakeResult::VT_MODEL_NAME));

namespace {

// What a PPX 1.0 peer does with our bytes: verify against its schema, then read.
const v1::Message* read_as_v1(std::span<const std::uint8_t> bytes) {
  flatbuffers::Verifier verifier(bytes.data(), bytes.size());
  REQUIRE(verifier.VerifyBuffer<v1::Message>(nullptr));
  return flatbuffers::GetRoot<v1::Message>(bytes.data());
}

}  // namespace

TEST_CASE("a PPX 1.0 reader reads our extended Handshake and HandshakeResult",
          "[protocol][compat]") {
  Encoder encoder;
  const auto h = encoder.encode(Handshake{"ppxd 0.1", kProtocolVersion,
                                          {std::string(kCapabilityRunTraces), "future"}});
  const auto* m = read_as_v1(h);
  REQUIRE(m->body_type() == v1::MessageBody::Handshake);
  CHECK(m->body_as_Handshake()->system_name()->str() == "ppxd 0.1");

  const auto hr = encoder.encode(HandshakeResult{"client-cpp", "gum", kProtocolVersion,
                                                 {std::string(kCapabilityRunTraces)}});
  const auto* r = read_as_v1(hr);
  REQUIRE(r->body_type() == v1::MessageBody::HandshakeResult);
  CHECK(r->body_as_HandshakeResult()->system_name()->str() == "client-cpp");
  CHECK(r->body_as_HandshakeResult()->model_name()->str() == "gum");

  const auto reset = encoder.encode(Reset{"protocol error: unexpected SampleResult"});
  CHECK(read_as_v1(reset)->body_type() == v1::MessageBody::Reset);
}

TEST_CASE("unset extension fields leave PPX 1.0 bytes", "[protocol][compat]") {
  // Built by the 1.0 generated code in the same order as ours.
  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(v1::CreateMessage(fbb, v1::MessageBody::HandshakeResult,
                               v1::CreateHandshakeResultDirect(fbb, "sys", "model").Union()));
  const std::vector<std::uint8_t> v1_bytes(fbb.GetBufferPointer(),
                                           fbb.GetBufferPointer() + fbb.GetSize());
  CHECK(encode(HandshakeResult{"sys", "model", 0, {}}) == v1_bytes);

  fbb.Clear();
  fbb.Finish(v1::CreateMessage(fbb, v1::MessageBody::Reset, v1::CreateReset(fbb).Union()));
  const std::vector<std::uint8_t> v1_reset(fbb.GetBufferPointer(),
                                           fbb.GetBufferPointer() + fbb.GetSize());
  CHECK(encode(Reset{}) == v1_reset);
}

TEST_CASE("every PPX 1.0 message we encode verifies under the 1.0 schema", "[protocol][compat]") {
  PPX_NEEDS_SHARED(ppx::protocol::test::vectors_dir());
  for (const auto& file : ppx::protocol::test::golden_files()) {
    INFO(file);
    const auto bytes =
        encode(decode(ppx::protocol::test::read_bytes(ppx::protocol::test::vectors_dir() / file)));
    const auto* m = read_as_v1(bytes);
    CHECK(static_cast<int>(m->body_type()) >= 1);
  }
}

TEST_CASE("a 1.0 reader sees extension kinds as unknown tags, never as 1.0 kinds",
          "[protocol][compat]") {
  const auto rt = encode(RunTraces{10, 1, {}});
  CHECK(static_cast<int>(read_as_v1(rt)->body_type()) == 12);
  const auto tn = encode(Sample{"a", "x", TruncatedNormal(0.0, 1.0, -1.0, 1.0), true});
  CHECK(static_cast<int>(read_as_v1(tn)->body_as_Sample()->distribution_type()) == 12);
}
