// Untrusted input: every bad buffer throws DecodeError with the right code, never crashes.
// (Run this binary under -fsanitize=address,undefined to make "never crashes" mean something.)
#include <catch2/catch.hpp>

#include <optional>
#include <random>

#include "codec_test_support.h"
#include "ppx/protocol/codec.h"
#include "wire.h"

using namespace ppx;
using namespace ppx::protocol;
using ppx::protocol::test::read_bytes;
using ppx::protocol::test::vectors_dir;
namespace fb = ppx::protocol::detail::fb;

namespace {

const char* code_name(DecodeErrorCode code) {
  switch (code) {
    case DecodeErrorCode::TooLarge: return "TooLarge";
    case DecodeErrorCode::Malformed: return "Malformed";
    case DecodeErrorCode::UnknownKind: return "UnknownKind";
    case DecodeErrorCode::MissingField: return "MissingField";
    case DecodeErrorCode::InvalidTensor: return "InvalidTensor";
    case DecodeErrorCode::InvalidDistribution: return "InvalidDistribution";
  }
  return "?";
}

void expect_error(std::span<const std::uint8_t> bytes, DecodeErrorCode expected,
                  const DecodeLimits& limits = {}) {
  try {
    const Message m = decode(bytes, limits);
    FAIL("decoded a " << kind_name(m) << " instead of failing with " << code_name(expected));
  } catch (const DecodeError& e) {
    INFO(e.what());
    CHECK(std::string(code_name(e.code())) == code_name(expected));
  }
}

// Decoding may succeed or throw DecodeError; anything else (or a crash) fails the test.
bool decodes(std::span<const std::uint8_t> bytes) {
  try {
    (void)decode(bytes);
    return true;
  } catch (const DecodeError&) {
    return false;
  }
}

std::vector<std::uint8_t> finish(flatbuffers::FlatBufferBuilder& fbb, fb::MessageBody type,
                                 flatbuffers::Offset<void> body) {
  fbb.Finish(fb::CreateMessage(fbb, type, body));
  return {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()};
}

flatbuffers::Offset<fb::Tensor> tensor(flatbuffers::FlatBufferBuilder& fbb,
                                       const std::vector<double>& data,
                                       const std::vector<int32_t>& shape) {
  return fb::CreateTensorDirect(fbb, &data, &shape);
}

std::vector<std::uint8_t> sample_normal(double mean, double stddev) {
  flatbuffers::FlatBufferBuilder fbb;
  const auto m = tensor(fbb, {mean}, {});
  const auto s = tensor(fbb, {stddev}, {});
  const auto normal = fb::CreateNormal(fbb, m, s);
  return finish(fbb, fb::MessageBody::Sample,
                fb::CreateSampleDirect(fbb, "a", "x", fb::Distribution::Normal, normal.Union())
                    .Union());
}

std::vector<std::uint8_t> sample_result(const std::vector<double>& data,
                                        const std::vector<int32_t>& shape) {
  flatbuffers::FlatBufferBuilder fbb;
  const auto t = tensor(fbb, data, shape);
  return finish(fbb, fb::MessageBody::SampleResult, fb::CreateSampleResult(fbb, t).Union());
}

}  // namespace

TEST_CASE("a well-formed hand-built Sample decodes (control for the cases below)",
          "[protocol][hostile]") {
  const auto m = decode(sample_normal(1.0, 2.0));
  CHECK(std::get<Sample>(m) == Sample{"a", "x", Normal(1.0, 2.0), true});
}

TEST_CASE("empty, garbage and truncated buffers are Malformed", "[protocol][hostile]") {
  SECTION("empty") {
    expect_error({}, DecodeErrorCode::Malformed);
    const std::uint8_t one = 0;
    expect_error({&one, 0}, DecodeErrorCode::Malformed);
  }
  SECTION("random garbage, many sizes") {
    std::mt19937_64 rng(20240611);
    int decoded = 0;
    int total = 0;
    for (std::size_t size = 1; size <= 512; ++size) {
      for (int rep = 0; rep < 20; ++rep) {
        std::vector<std::uint8_t> bytes(size);
        for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
        decoded += decodes(bytes) ? 1 : 0;
        ++total;
      }
    }
    CHECK(decoded * 1000 < total);  // random bytes essentially never form a valid message
  }
  SECTION("every truncation of golden files") {
    PPX_NEEDS_SHARED(vectors_dir());
    for (const char* file : {"sample_normal.bin", "observe_normal.bin", "handshake_result.bin",
                             "sample_exponential.bin", "run.bin",
                             "captured/allkinds/025_simulator_to_ppl_Observe.bin",
                             "captured/gum/004_ppl_to_simulator_SampleResult.bin"}) {
      const auto bytes = read_bytes(vectors_dir() / file);
      const Message full = decode(bytes);
      for (std::size_t n = 0; n < bytes.size(); ++n) {
        INFO(file << " truncated to " << n << " bytes");
        // Cutting only trailing alignment padding leaves a valid buffer: it must read the same.
        std::optional<Message> got;
        try {
          got = decode(std::span(bytes.data(), n));
        } catch (const DecodeError& e) {
          CHECK(std::string(code_name(e.code())) == "Malformed");
        }
        if (got) {
          CHECK(*got == full);
          CHECK(bytes.size() - n < 8);
        }
      }
    }
  }
  SECTION("random byte flips in golden files never crash") {
    PPX_NEEDS_SHARED(vectors_dir());
    std::mt19937_64 rng(7);
    for (const char* file : {"sample_normal.bin", "observe_normal.bin", "tag.bin", "reset.bin",
                             "sample_categorical.bin"}) {
      const auto original = read_bytes(vectors_dir() / file);
      for (int rep = 0; rep < 2000; ++rep) {
        auto bytes = original;
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int f = 0; f < flips; ++f) {
          bytes[rng() % bytes.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
        }
        (void)decodes(bytes);
      }
    }
  }
  SECTION("random byte flips in extension messages never crash") {
    TraceRecord trace;
    trace.sites.push_back({SiteKind::Sample, "a", "mu", Normal(0.0, 1.0), Tensor(0.5), true});
    trace.sites.push_back({SiteKind::Observe, "b", "obs", Normal(0.5, 1.0), std::nullopt, true});
    trace.sites.push_back({SiteKind::Tag, "c", "t", std::nullopt, Tensor({1.0, 2.0}), true});
    trace.result = Tensor(0.5);
    const std::vector<Message> messages = {
        RunTracesResult{{trace, trace}},
        RunTraces{5, 9, {{"obs", Tensor(1.0)}}},
        Handshake{"ppxd", kProtocolVersion, {std::string(kCapabilityRunTraces)}}};
    std::mt19937_64 rng(11);
    for (const auto& m : messages) {
      const auto original = encode(m);
      for (int rep = 0; rep < 2000; ++rep) {
        auto bytes = original;
        bytes[rng() % bytes.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
        (void)decodes(bytes);
      }
    }
  }
}

TEST_CASE("limits: size, depth, tables", "[protocol][hostile]") {
  PPX_NEEDS_SHARED(vectors_dir());
  const auto bytes = read_bytes(vectors_dir() / "sample_normal.bin");
  DecodeLimits limits;
  limits.max_bytes = bytes.size() - 1;
  expect_error(bytes, DecodeErrorCode::TooLarge, limits);
  limits.max_bytes = bytes.size();
  CHECK_NOTHROW(decode(bytes, limits));

  DecodeLimits shallow;
  shallow.max_depth = 2;  // Message -> Sample -> Normal -> Tensor needs more
  expect_error(bytes, DecodeErrorCode::Malformed, shallow);
  DecodeLimits few;
  few.max_tables = 3;  // Message, Sample, Normal, 2 Tensors
  expect_error(bytes, DecodeErrorCode::Malformed, few);
}

TEST_CASE("unknown or absent message bodies", "[protocol][hostile]") {
  flatbuffers::FlatBufferBuilder fbb;
  SECTION("NONE body is UnknownKind") {
    fbb.Finish(fb::CreateMessage(fbb));
    expect_error({fbb.GetBufferPointer(), fbb.GetSize()}, DecodeErrorCode::UnknownKind);
  }
  SECTION("unknown body tag 200 is UnknownKind") {
    const auto bytes = finish(fbb, static_cast<fb::MessageBody>(200), fb::CreateRun(fbb).Union());
    expect_error(bytes, DecodeErrorCode::UnknownKind);
  }
  SECTION("the first tag after ours is UnknownKind") {
    const auto next = static_cast<fb::MessageBody>(static_cast<int>(fb::MessageBody::MAX) + 1);
    expect_error(finish(fbb, next, fb::CreateRun(fbb).Union()), DecodeErrorCode::UnknownKind);
  }
  SECTION("a known tag without its table is MissingField") {
    expect_error(finish(fbb, fb::MessageBody::Sample, 0), DecodeErrorCode::MissingField);
    fbb.Clear();
    expect_error(finish(fbb, fb::MessageBody::Run, 0), DecodeErrorCode::MissingField);
  }
}

TEST_CASE("bad distributions", "[protocol][hostile]") {
  flatbuffers::FlatBufferBuilder fbb;
  SECTION("Sample with NONE distribution is MissingField") {
    const auto s = fb::CreateSampleDirect(fbb, "a", "x");
    expect_error(finish(fbb, fb::MessageBody::Sample, s.Union()), DecodeErrorCode::MissingField);
  }
  SECTION("Sample with a distribution tag but no table is MissingField") {
    const auto s = fb::CreateSampleDirect(fbb, "a", "x", fb::Distribution::Normal, 0);
    expect_error(finish(fbb, fb::MessageBody::Sample, s.Union()), DecodeErrorCode::MissingField);
  }
  SECTION("Observe without a distribution decodes; with an unknown tag it is UnknownKind") {
    const auto o = fb::CreateObserveDirect(fbb, "a", "x");
    CHECK_FALSE(std::get<Observe>(decode(finish(fbb, fb::MessageBody::Observe, o.Union())))
                    .distribution.has_value());
    fbb.Clear();
    const auto rate = tensor(fbb, {1.0}, {});
    const auto p = fb::CreatePoisson(fbb, rate);
    const auto o2 =
        fb::CreateObserveDirect(fbb, "a", "x", static_cast<fb::Distribution>(99), p.Union());
    expect_error(finish(fbb, fb::MessageBody::Observe, o2.Union()), DecodeErrorCode::UnknownKind);
  }
  SECTION("unknown distribution tag 200 is UnknownKind") {
    const auto rate = tensor(fbb, {1.0}, {});
    const auto p = fb::CreatePoisson(fbb, rate);
    const auto s =
        fb::CreateSampleDirect(fbb, "a", "x", static_cast<fb::Distribution>(200), p.Union());
    expect_error(finish(fbb, fb::MessageBody::Sample, s.Union()), DecodeErrorCode::UnknownKind);
  }
  SECTION("a missing parameter is MissingField") {
    const auto mean = tensor(fbb, {0.0}, {});
    const auto normal = fb::CreateNormal(fbb, mean, 0);
    const auto s = fb::CreateSampleDirect(fbb, "a", "x", fb::Distribution::Normal, normal.Union());
    expect_error(finish(fbb, fb::MessageBody::Sample, s.Union()), DecodeErrorCode::MissingField);
  }
  SECTION("invalid parameters are InvalidDistribution") {
    expect_error(sample_normal(0.0, 0.0), DecodeErrorCode::InvalidDistribution);
    expect_error(sample_normal(0.0, -1.0), DecodeErrorCode::InvalidDistribution);
    const auto rate = tensor(fbb, {-2.0}, {});
    const auto p = fb::CreatePoisson(fbb, rate);
    const auto s = fb::CreateSampleDirect(fbb, "a", "x", fb::Distribution::Poisson, p.Union());
    expect_error(finish(fbb, fb::MessageBody::Sample, s.Union()),
                 DecodeErrorCode::InvalidDistribution);
  }
  SECTION("a parameter tensor whose shape disagrees with its data is InvalidTensor") {
    const auto mean = tensor(fbb, {0.0, 1.0, 2.0}, {2, 2});
    const auto sd = tensor(fbb, {1.0}, {});
    const auto normal = fb::CreateNormal(fbb, mean, sd);
    const auto s = fb::CreateSampleDirect(fbb, "a", "x", fb::Distribution::Normal, normal.Union());
    expect_error(finish(fbb, fb::MessageBody::Sample, s.Union()), DecodeErrorCode::InvalidTensor);
  }
}

TEST_CASE("bad tensors are InvalidTensor", "[protocol][hostile]") {
  expect_error(sample_result({1.0, 2.0, 3.0}, {2, 2}), DecodeErrorCode::InvalidTensor);
  expect_error(sample_result({1.0, 2.0, 3.0}, {-1, -3}), DecodeErrorCode::InvalidTensor);
  expect_error(sample_result({}, {2}), DecodeErrorCode::InvalidTensor);
  expect_error(sample_result({1.0, 2.0}, {}), DecodeErrorCode::InvalidTensor);  // 0-d holds one
  // 65536^4 wraps to 0 in 64 bits: must not pass for an empty tensor.
  expect_error(sample_result({}, {65536, 65536, 65536, 65536}), DecodeErrorCode::InvalidTensor);
  expect_error(sample_result({1.0}, {65536, 65536, 65536, 65536, 0}),
               DecodeErrorCode::InvalidTensor);
  CHECK(decodes(sample_result({}, {65536, 65536, 0})));  // a valid empty tensor

  flatbuffers::FlatBufferBuilder fbb;
  const auto value = tensor(fbb, {1.0, 2.0}, {3});
  const auto o = fb::CreateObserveDirect(fbb, "a", "x", fb::Distribution::NONE, 0, value);
  expect_error(finish(fbb, fb::MessageBody::Observe, o.Union()), DecodeErrorCode::InvalidTensor);
}

TEST_CASE("bad extension messages", "[protocol][hostile][extension]") {
  flatbuffers::FlatBufferBuilder fbb;
  SECTION("unknown site kind is UnknownKind") {
    const auto v = tensor(fbb, {1.0}, {});
    const auto site = fb::CreateSiteRecordDirect(fbb, 7, "a", "x", fb::Distribution::NONE, 0, v);
    const std::vector<flatbuffers::Offset<fb::SiteRecord>> sites{site};
    const auto trace = fb::CreateTraceRecordDirect(fbb, &sites);
    const std::vector<flatbuffers::Offset<fb::TraceRecord>> traces{trace};
    const auto r = fb::CreateRunTracesResultDirect(fbb, &traces);
    expect_error(finish(fbb, fb::MessageBody::RunTracesResult, r.Union()),
                 DecodeErrorCode::UnknownKind);
  }
  SECTION("invalid distribution inside a trace is InvalidDistribution") {
    const auto m = tensor(fbb, {0.0}, {});
    const auto s = tensor(fbb, {-1.0}, {});
    const auto normal = fb::CreateNormal(fbb, m, s);
    const auto site =
        fb::CreateSiteRecordDirect(fbb, 0, "a", "x", fb::Distribution::Normal, normal.Union());
    const std::vector<flatbuffers::Offset<fb::SiteRecord>> sites{site};
    const auto trace = fb::CreateTraceRecordDirect(fbb, &sites);
    const std::vector<flatbuffers::Offset<fb::TraceRecord>> traces{trace};
    const auto r = fb::CreateRunTracesResultDirect(fbb, &traces);
    expect_error(finish(fbb, fb::MessageBody::RunTracesResult, r.Union()),
                 DecodeErrorCode::InvalidDistribution);
  }
  SECTION("bad tensor in RunTraces.fixed is InvalidTensor") {
    const auto v = tensor(fbb, {1.0, 2.0}, {5});
    const std::vector<flatbuffers::Offset<fb::NamedTensor>> fixed{
        fb::CreateNamedTensorDirect(fbb, "obs", v)};
    const auto r = fb::CreateRunTracesDirect(fbb, 3, 4, &fixed);
    expect_error(finish(fbb, fb::MessageBody::RunTraces, r.Union()),
                 DecodeErrorCode::InvalidTensor);
  }
}
