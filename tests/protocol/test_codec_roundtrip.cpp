// Encode -> decode round trips: every PPX 1.0 kind, our extensions, the tensor conventions.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>
#include <iostream>

#include "ppx/protocol/codec.h"
#include "wire.h"

using namespace ppx;
using namespace ppx::protocol;
namespace fb = ppx::protocol::detail::fb;

namespace {

Message round_trip(const Message& m) {
  Encoder encoder;
  const auto bytes = encoder.encode(m);
  return decode(bytes);
}

Tensor matrix() { return Tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3}); }

}  // namespace

TEST_CASE("every message kind round-trips", "[protocol][roundtrip]") {
  const std::vector<Message> messages = {
      Handshake{"ppxd 0.1", 0, {}},
      HandshakeResult{"client-cpp", "tau decay", 0, {}},
      Run{},
      RunResult{matrix()},
      RunResult{Tensor()},
      Sample{"forward+0x10", "mu", Normal(0.0, 1.0), true},
      Sample{"a", "", Uniform(Tensor({0.0, -1.0}), Tensor({1.0, 2.0})), false},
      Sample{"c", "c", Categorical(Tensor({0.2, 0.5, 0.3})), true},
      Sample{"p", "p", Poisson(Tensor({1.5, 4.0, 10.0, 0.5, 2.0, 7.0}, {2, 3})), true},
      Sample{"b", "b", Bernoulli(0.25), true},
      Sample{"beta", "beta", Beta(2.0, 3.0), true},
      Sample{"e", "e", Exponential(2.2), true},
      Sample{"g", "g", Gamma(2.0, 1.0), true},
      Sample{"ln", "ln", LogNormal(0.0, 0.5), true},
      Sample{"bin", "bin", Binomial(10.0, 0.25), true},
      Sample{"w", "w", Weibull(1.0, 1.5), true},
      Sample{"tn", "tn", TruncatedNormal(0.0, 1.0, -1.0, 2.0), true},  // engine-side kind
      SampleResult{Tensor(2.5)},
      SampleResult{matrix()},
      Observe{"obs", "obs0", Normal(matrix(), 1.0), matrix()},
      Observe{"obs", "obs1", Normal(1.0, 2.0), std::nullopt},
      Observe{"obs", "nodist", std::nullopt, Tensor(3.0)},
      Observe{"obs", "empty value", Normal(0.0, 1.0), Tensor()},
      ObserveResult{},
      Tag{"t", "tag1", matrix()},
      TagResult{},
      Reset{},
  };
  Encoder encoder;
  for (const auto& m : messages) {
    INFO(kind_name(m));
    const auto bytes = encoder.encode(m);
    const Message back = decode(bytes);
    CHECK(back == m);
  }
}

TEST_CASE("extension messages round-trip", "[protocol][roundtrip][extension]") {
  SECTION("Handshake and HandshakeResult carry version and capabilities") {
    const Message h = Handshake{"ppxd", kProtocolVersion, {std::string(kCapabilityRunTraces), "x"}};
    CHECK(round_trip(h) == h);
    const Message hr = HandshakeResult{"client-cpp", "gum", kProtocolVersion,
                                       {std::string(kCapabilityRunTraces)}};
    CHECK(round_trip(hr) == hr);
  }
  SECTION("Reset carries its reason") {
    const Message r = Reset{"unexpected ObserveResult while idle"};
    CHECK(round_trip(r) == r);
  }
  SECTION("RunTraces") {
    const Message rt = RunTraces{1000, 0xdeadbeefcafef00dULL,
                                 {{"obs0", Tensor(8.0)}, {"obs1", matrix()}, {"", Tensor()}}};
    CHECK(round_trip(rt) == rt);
    const Message zero = RunTraces{0, 0, {}};
    CHECK(round_trip(zero) == zero);
    const Message part = RunTraces{7, 3, {}, 0xffffffff00000001ULL, std::uint64_t{1} << 30};
    CHECK(round_trip(part) == part);
  }
  SECTION("RunTracesResult with every site kind") {
    TraceRecord t1;
    t1.sites.push_back({SiteKind::Sample, "mu_addr", "mu", Normal(0.0, 5.0), Tensor(1.25), true});
    t1.sites.push_back({SiteKind::Sample, "u_addr", "", Uniform(0.0, 1.0), Tensor(0.5), false});
    t1.sites.push_back(
        {SiteKind::Observe, "obs_addr", "obs0", Normal(1.25, 2.0), std::nullopt, true});
    t1.sites.push_back(
        {SiteKind::Observe, "obs_addr", "obs1", Normal(1.25, 2.0), Tensor(9.0), true});
    t1.sites.push_back({SiteKind::Tag, "tag_addr", "t", std::nullopt, matrix(), true});
    t1.sites.push_back(
        {SiteKind::Sample, "tn", "tn", TruncatedNormal(0.0, 1.0, -1.0, 1.0), Tensor(0.1), true});
    t1.result = Tensor(1.25);
    TraceRecord t2;  // an empty trace with no result
    const Message r = RunTracesResult{{t1, t2, t1}};
    CHECK(round_trip(r) == r);
    const Message none = RunTracesResult{};
    CHECK(round_trip(none) == none);
  }
  SECTION("RunTracesResult stores each distinct address and name once") {
    // 1,000 draws at one long (stack-style) address: the message is far smaller than its
    // addresses laid end to end, and decodes to the same traces, the shared strings included.
    const std::string address(1500, 'a');
    TraceRecord t;
    for (int i = 0; i < 1000; ++i) t.sites.push_back({SiteKind::Sample, address, "u", Uniform(0.0, 1.0), Tensor(0.5), true});
    const Message r = RunTracesResult{{t, t}};
    Encoder encoder;
    const auto bytes = encoder.encode(r);
    CHECK(bytes.size() < 3'000'000 / 5);  // its addresses alone would be 3 MB
    CHECK(decode(bytes) == r);
  }
}

TEST_CASE("tensor conventions on the wire", "[protocol][tensor]") {
  SECTION("0-d, 1-d of one element and empty stay distinct") {
    for (const Tensor& t : {Tensor(2.5), Tensor(std::vector<double>{2.5}), Tensor(),
                            Tensor(std::vector<double>{}, {0}), Tensor({}, {2, 0})}) {
      const Message m = SampleResult{t};
      const auto back = std::get<SampleResult>(round_trip(m)).result;
      CHECK(back == t);
      CHECK(back.shape() == t.shape());
    }
  }
  flatbuffers::FlatBufferBuilder fbb;
  auto decode_result = [&](flatbuffers::Offset<fb::Tensor> t) {
    fbb.Finish(fb::CreateMessage(fbb, fb::MessageBody::SampleResult,
                                 fb::CreateSampleResult(fbb, t).Union()));
    const std::vector<std::uint8_t> bytes(fbb.GetBufferPointer(),
                                          fbb.GetBufferPointer() + fbb.GetSize());
    return std::get<SampleResult>(decode(bytes)).result;
  };
  SECTION("data without a shape is 1-d") {
    const std::vector<double> data{1.0, 2.0, 3.0};
    const auto t = decode_result(fb::CreateTensor(fbb, fbb.CreateVector(data), 0));
    CHECK(t == Tensor(data));
    CHECK(t.shape() == std::vector<int32_t>{3});
  }
  SECTION("neither data nor shape is the empty tensor") {
    CHECK(decode_result(fb::CreateTensor(fbb)) == Tensor());
  }
  SECTION("an absent result is the empty tensor") {
    CHECK(decode_result(0) == Tensor());
  }
  SECTION("an empty shape with one value is 0-d") {
    const std::vector<double> data{7.0};
    const std::vector<int32_t> shape{};
    const auto t =
        decode_result(fb::CreateTensor(fbb, fbb.CreateVector(data), fbb.CreateVector(shape)));
    CHECK(t == Tensor(7.0));
    CHECK(t.dim() == 0);
  }
}

TEST_CASE("buffers with the PPXF identifier or at odd addresses decode too", "[protocol]") {
  const Message m = Sample{"addr", "x", Normal(1.0, 2.0), false};
  SECTION("with identifier") {
    flatbuffers::FlatBufferBuilder fbb;
    // The same message built through the generated API, finished with the identifier.
    const std::vector<double> one{1.0}, two{2.0};
    const std::vector<int32_t> scalar{};
    const auto t1 = fb::CreateTensorDirect(fbb, &one, &scalar);
    const auto t2 = fb::CreateTensorDirect(fbb, &two, &scalar);
    const auto normal = fb::CreateNormal(fbb, t1, t2);
    const auto sample = fb::CreateSampleDirect(fbb, "addr", "x", fb::Distribution::Normal,
                                               normal.Union(), false);
    fbb.Finish(fb::CreateMessage(fbb, fb::MessageBody::Sample, sample.Union()), "PPXF");
    const std::vector<std::uint8_t> bytes(fbb.GetBufferPointer(),
                                          fbb.GetBufferPointer() + fbb.GetSize());
    REQUIRE(flatbuffers::BufferHasIdentifier(bytes.data(), "PPXF"));
    CHECK(decode(bytes) == m);
  }
  SECTION("misaligned copy") {
    const auto plain = encode(m);
    std::vector<std::uint8_t> storage(plain.size() + 8);
    for (std::size_t shift = 1; shift < 8; ++shift) {
      std::memcpy(storage.data() + shift, plain.data(), plain.size());
      CHECK(decode(std::span<const std::uint8_t>(storage.data() + shift, plain.size())) == m);
    }
  }
}

TEST_CASE("control is elided when true, like PPX 1.0 peers", "[protocol]") {
  auto has_control = [](const Message& m) {
    const auto bytes = encode(m);
    const auto* sample = flatbuffers::GetRoot<fb::Message>(bytes.data())->body_as_Sample();
    return reinterpret_cast<const flatbuffers::Table*>(sample)->CheckField(fb::Sample::VT_CONTROL);
  };
  CHECK_FALSE(has_control(Sample{"a", "b", Normal(0.0, 1.0), true}));
  CHECK(has_control(Sample{"a", "b", Normal(0.0, 1.0), false}));
}

TEST_CASE("kind_name names every kind", "[protocol]") {
  CHECK(kind_name(Handshake{}) == "Handshake");
  CHECK(kind_name(Sample{"a", "b", Normal(0.0, 1.0), true}) == "Sample");
  CHECK(kind_name(Reset{}) == "Reset");
  CHECK(kind_name(RunTraces{}) == "RunTraces");
  CHECK(kind_name(RunTracesResult{}) == "RunTracesResult");
}

// Not a test: a timing probe, run by hand with `test_protocol_codec "[.perf]"`.
TEST_CASE("encode + decode of a scalar Sample (timing)", "[.perf]") {
  const Message m = Sample{"[forward()+0x96]", "mu", Normal(1.0, 2.23606797749979), true};
  const Message r = SampleResult{Tensor(2.5)};
  Encoder encoder;
  constexpr int kIterations = 200000;
  std::size_t sink = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kIterations; ++i) {
    const auto bytes = encoder.encode(m);
    sink += decode(bytes).index();
  }
  const auto t1 = std::chrono::steady_clock::now();
  for (int i = 0; i < kIterations; ++i) {
    const auto bytes = encoder.encode(r);
    sink += decode(bytes).index();
  }
  const auto t2 = std::chrono::steady_clock::now();
  const auto per = [](auto d) {
    return std::chrono::duration<double, std::nano>(d).count() / kIterations;
  };
  std::cout << "Sample(Normal, scalars) encode+decode: " << per(t1 - t0) << " ns\n"
            << "SampleResult(scalar)    encode+decode: " << per(t2 - t1) << " ns\n";
  CHECK(sink == static_cast<std::size_t>(kIterations) * (4 + 5));
}
