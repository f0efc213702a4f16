// Bytes <-> Message. The only translation unit that sees the generated FlatBuffers types.
#include "ppx/protocol/codec.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <type_traits>

#include "wire.h"

namespace ppx::protocol {
namespace detail {
namespace {

static_assert(FLATBUFFERS_LITTLEENDIAN, "tensor data is copied as raw little-endian doubles");

// The message variant and MessageBody share one order: variant index + 1 == union tag.
static_assert(static_cast<int>(fb::MessageBody::Reset) == 11);
static_assert(static_cast<int>(fb::MessageBody::MAX) == std::variant_size_v<Message>);
static_assert(std::is_same_v<std::variant_alternative_t<4, Message>, Sample>);
static_assert(std::is_same_v<std::variant_alternative_t<12, Message>, RunTracesResult>);
// The Distribution union tag is the DistributionKind value.
static_assert(static_cast<int>(fb::Distribution::Weibull) ==
              static_cast<int>(DistributionKind::Weibull));
static_assert(static_cast<int>(fb::Distribution::MAX) ==
              static_cast<int>(DistributionKind::TruncatedNormal));
static_assert(static_cast<int>(SiteKind::Tag) == 2);

// Every distribution table is its parameter tensors, in DistributionInfo::parameters order, at
// vtable slots 0..n-1; the codec reads and writes them generically through these offsets.
constexpr flatbuffers::voffset_t param_voffset(std::size_t i) {
  return static_cast<flatbuffers::voffset_t>(4 + 2 * i);
}
constexpr std::size_t kMaxParameters = 4;
static_assert(fb::Normal::VT_MEAN == param_voffset(0) && fb::Normal::VT_STDDEV == param_voffset(1));
static_assert(fb::Uniform::VT_LOW == param_voffset(0) && fb::Uniform::VT_HIGH == param_voffset(1));
static_assert(fb::Categorical::VT_PROBS == param_voffset(0));
static_assert(fb::Poisson::VT_RATE == param_voffset(0));
static_assert(fb::Bernoulli::VT_PROBS == param_voffset(0));
static_assert(fb::Beta::VT_CONCENTRATION1 == param_voffset(0) &&
              fb::Beta::VT_CONCENTRATION0 == param_voffset(1));
static_assert(fb::Exponential::VT_RATE == param_voffset(0));
static_assert(fb::Gamma::VT_CONCENTRATION == param_voffset(0) &&
              fb::Gamma::VT_RATE == param_voffset(1));
static_assert(fb::LogNormal::VT_LOC == param_voffset(0) &&
              fb::LogNormal::VT_SCALE == param_voffset(1));
static_assert(fb::Binomial::VT_TOTAL_COUNT == param_voffset(0) &&
              fb::Binomial::VT_PROBS == param_voffset(1));
static_assert(fb::Weibull::VT_SCALE == param_voffset(0) &&
              fb::Weibull::VT_CONCENTRATION == param_voffset(1));
static_assert(fb::TruncatedNormal::VT_MEAN == param_voffset(0) &&
              fb::TruncatedNormal::VT_STDDEV == param_voffset(1) &&
              fb::TruncatedNormal::VT_LOW == param_voffset(2) &&
              fb::TruncatedNormal::VT_HIGH == param_voffset(3));

// ---- decode ------------------------------------------------------------------------------------

[[noreturn]] void fail(DecodeErrorCode code, const std::string& message) {
  throw DecodeError(code, "PPX decode: " + message);
}

std::string read_string(const flatbuffers::String* s) {
  return s ? std::string(s->c_str(), s->size()) : std::string();
}

// Product of a shape's dimensions compared with the element count, without overflow.
bool shape_matches(const flatbuffers::Vector<int32_t>& shape, std::size_t numel) {
  bool zero = false;
  for (int32_t d : shape) {
    if (d < 0) return false;
    if (d == 0) zero = true;
  }
  if (zero) return numel == 0;
  std::size_t n = 1;
  for (int32_t d : shape) {
    const auto ud = static_cast<std::size_t>(d);
    if (n > numel / ud) return false;  // would exceed numel (or overflow)
    n *= ud;
  }
  return n == numel;
}

// A wire tensor. Absent data with absent (or empty) shape is the empty tensor; data without a
// shape is 1-d; otherwise the shape must describe exactly the data (shape [] + 1 value = 0-d).
Tensor read_tensor(const fb::Tensor* t, const char* what) {
  if (t == nullptr) return Tensor();
  const auto* data = t->data();
  const auto* shape = t->shape();
  const std::size_t n = data ? data->size() : 0;
  if (shape == nullptr || (shape->size() == 0 && n == 0)) {
    if (n == 0) return Tensor();
    std::vector<double> values(n);
    std::memcpy(values.data(), data->Data(), n * sizeof(double));  // data may be 4-byte aligned
    return Tensor(std::move(values));
  }
  if (!shape_matches(*shape, n)) {
    fail(DecodeErrorCode::InvalidTensor,
         std::string(what) + ": tensor shape does not match its " + std::to_string(n) +
             " elements");
  }
  std::vector<double> values(n);
  if (n) std::memcpy(values.data(), data->Data(), n * sizeof(double));
  std::vector<int32_t> dims(shape->size());
  if (!dims.empty()) std::memcpy(dims.data(), shape->Data(), dims.size() * sizeof(int32_t));
  try {
    return Tensor(std::move(values), std::move(dims));
  } catch (const std::invalid_argument& e) {
    fail(DecodeErrorCode::InvalidTensor, std::string(what) + ": " + e.what());
  }
}

// A Distribution union member, already checked by the Verifier for its declared tag.
// Returns nullopt for NONE; throws for an unknown tag, a missing table or invalid parameters.
std::optional<Distribution> read_distribution(fb::Distribution type, const void* table,
                                              const char* what) {
  if (type == fb::Distribution::NONE) return std::nullopt;
  const auto tag = static_cast<int>(type);
  if (tag < 1 || tag > static_cast<int>(fb::Distribution::MAX)) {
    fail(DecodeErrorCode::UnknownKind,
         std::string(what) + ": unknown distribution type " + std::to_string(tag));
  }
  const auto kind = static_cast<DistributionKind>(tag);
  const DistributionInfo& row = info(kind);
  if (table == nullptr) {
    fail(DecodeErrorCode::MissingField,
         std::string(what) + ": distribution " + std::string(row.name) + " has no table");
  }
  const auto* t = static_cast<const flatbuffers::Table*>(table);
  std::vector<Tensor> parameters;
  parameters.reserve(row.parameters.size());
  for (std::size_t i = 0; i < row.parameters.size(); ++i) {
    const auto* p = t->GetPointer<const fb::Tensor*>(param_voffset(i));
    if (p == nullptr) {
      fail(DecodeErrorCode::MissingField, std::string(what) + ": " + std::string(row.name) +
                                              "." + std::string(row.parameters[i]) + " absent");
    }
    parameters.push_back(read_tensor(p, what));
  }
  try {
    return Distribution(kind, std::move(parameters));
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    fail(DecodeErrorCode::InvalidDistribution,
         std::string(what) + ": invalid " + std::string(row.name) + ": " + e.what());
  }
}

Message read_body(const fb::Message& message) {
  const fb::MessageBody type = message.body_type();
  const auto tag = static_cast<int>(type);
  if (type == fb::MessageBody::NONE) {
    fail(DecodeErrorCode::UnknownKind, "message has no body (NONE)");
  }
  if (tag > static_cast<int>(fb::MessageBody::MAX)) {
    fail(DecodeErrorCode::UnknownKind, "unknown message body type " + std::to_string(tag));
  }
  if (message.body() == nullptr) {
    fail(DecodeErrorCode::MissingField,
         "message body type " + std::to_string(tag) + " without a body");
  }
  switch (type) {
    case fb::MessageBody::Handshake: {
      const auto* b = message.body_as_Handshake();
      Handshake m;
      m.system_name = read_string(b->system_name());
      m.protocol_version = b->protocol_version();
      if (const auto* caps = b->capabilities()) {
        m.capabilities.reserve(caps->size());
        for (const auto* s : *caps) m.capabilities.push_back(read_string(s));
      }
      return m;
    }
    case fb::MessageBody::HandshakeResult: {
      const auto* b = message.body_as_HandshakeResult();
      HandshakeResult m;
      m.system_name = read_string(b->system_name());
      m.model_name = read_string(b->model_name());
      m.protocol_version = b->protocol_version();
      if (const auto* caps = b->capabilities()) {
        m.capabilities.reserve(caps->size());
        for (const auto* s : *caps) m.capabilities.push_back(read_string(s));
      }
      return m;
    }
    case fb::MessageBody::Run:
      return Run{};
    case fb::MessageBody::RunResult:
      return RunResult{read_tensor(message.body_as_RunResult()->result(), "RunResult.result")};
    case fb::MessageBody::Sample: {
      const auto* b = message.body_as_Sample();
      auto distribution = read_distribution(b->distribution_type(), b->distribution(), "Sample");
      if (!distribution) fail(DecodeErrorCode::MissingField, "Sample: distribution absent");
      return Sample{read_string(b->address()), read_string(b->name()), std::move(*distribution),
                    b->control()};
    }
    case fb::MessageBody::SampleResult:
      return SampleResult{
          read_tensor(message.body_as_SampleResult()->result(), "SampleResult.result")};
    case fb::MessageBody::Observe: {
      const auto* b = message.body_as_Observe();
      Observe m;
      m.address = read_string(b->address());
      m.name = read_string(b->name());
      m.distribution = read_distribution(b->distribution_type(), b->distribution(), "Observe");
      if (const auto* v = b->value()) m.value = read_tensor(v, "Observe.value");
      return m;
    }
    case fb::MessageBody::ObserveResult:
      return ObserveResult{};
    case fb::MessageBody::Tag: {
      const auto* b = message.body_as_Tag();
      return Tag{read_string(b->address()), read_string(b->name()),
                 read_tensor(b->value(), "Tag.value")};
    }
    case fb::MessageBody::TagResult:
      return TagResult{};
    case fb::MessageBody::Reset:
      return Reset{read_string(message.body_as_Reset()->reason())};
    case fb::MessageBody::RunTraces: {
      const auto* b = message.body_as_RunTraces();
      RunTraces m;
      m.count = b->count();
      m.seed = b->seed();
      m.first = b->first();
      m.max_reply_bytes = b->max_reply_bytes();
      if (const auto* fixed = b->fixed()) {
        m.fixed.reserve(fixed->size());
        for (const auto* nt : *fixed) {
          m.fixed.emplace_back(read_string(nt->name()),
                               read_tensor(nt->value(), "RunTraces.fixed"));
        }
      }
      return m;
    }
    case fb::MessageBody::RunTracesResult: {
      const auto* b = message.body_as_RunTracesResult();
      RunTracesResult m;
      if (const auto* traces = b->traces()) {
        m.traces.reserve(traces->size());
        for (const auto* tr : *traces) {
          TraceRecord trace;
          if (const auto* sites = tr->sites()) {
            trace.sites.reserve(sites->size());
            for (const auto* s : *sites) {
              SiteRecord site;
              if (s->kind() > static_cast<std::uint8_t>(SiteKind::Tag)) {
                fail(DecodeErrorCode::UnknownKind,
                     "SiteRecord: unknown site kind " + std::to_string(s->kind()));
              }
              site.kind = static_cast<SiteKind>(s->kind());
              site.address = read_string(s->address());
              site.name = read_string(s->name());
              site.distribution =
                  read_distribution(s->distribution_type(), s->distribution(), "SiteRecord");
              if (const auto* v = s->value()) site.value = read_tensor(v, "SiteRecord.value");
              site.control = s->control();
              trace.sites.push_back(std::move(site));
            }
          }
          trace.result = read_tensor(tr->result(), "TraceRecord.result");
          m.traces.push_back(std::move(trace));
        }
      }
      return m;
    }
    case fb::MessageBody::NONE:
      break;
  }
  fail(DecodeErrorCode::UnknownKind, "unknown message body type " + std::to_string(tag));
}

// ---- encode ------------------------------------------------------------------------------------
// Children are written before their table, in field order, and tables through the generated
// Create* functions: this is pyprob_cpp's builder order, so our simulator-side messages are
// byte-identical to pyprob_cpp's. Default-valued scalars (control = true, the extension fields of
// Handshake/HandshakeResult when unset) are elided, so a PPX 1.0 peer sees PPX 1.0 bytes.

using Builder = flatbuffers::FlatBufferBuilder;

flatbuffers::Offset<fb::Tensor> write_tensor(Builder& fbb, const Tensor& t) {
  // Both vectors always, even when empty: pyprob_cpp dereferences them unconditionally, and an
  // empty shape with one value is how a 0-d tensor is told apart from a 1-d one.
  const auto data = fbb.CreateVector(t.data().data(), t.data().size());
  const auto shape = fbb.CreateVector(t.shape().data(), t.shape().size());
  return fb::CreateTensor(fbb, data, shape);
}

flatbuffers::Offset<void> write_distribution(Builder& fbb, const Distribution& d) {
  const auto& params = d.parameters();
  if (static_cast<int>(d.kind()) > static_cast<int>(fb::Distribution::MAX) ||
      params.size() > kMaxParameters) {
    throw std::invalid_argument("PPX encode: distribution " + std::string(d.name()) +
                                " has no wire form");
  }
  std::array<flatbuffers::Offset<fb::Tensor>, kMaxParameters> offsets{};
  const std::size_t n = params.size();
  for (std::size_t i = 0; i < n; ++i) offsets[i] = write_tensor(fbb, params[i]);
  // Same field order as the generated Create<Distribution>(): last field first.
  const auto start = fbb.StartTable();
  for (std::size_t i = n; i-- > 0;) fbb.AddOffset(param_voffset(i), offsets[i]);
  return flatbuffers::Offset<void>(fbb.EndTable(start));
}

fb::Distribution wire_type(const Distribution& d) {
  return static_cast<fb::Distribution>(d.kind());
}

flatbuffers::Offset<flatbuffers::String> write_string(Builder& fbb, const std::string& s) {
  return fbb.CreateString(s.data(), s.size());
}

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>> write_strings(
    Builder& fbb, const std::vector<std::string>& strings) {
  if (strings.empty()) return 0;  // an unset extension field stays off the wire
  std::vector<flatbuffers::Offset<flatbuffers::String>> offsets;
  offsets.reserve(strings.size());
  for (const auto& s : strings) offsets.push_back(write_string(fbb, s));
  return fbb.CreateVector(offsets);
}

flatbuffers::Offset<void> write_body(Builder& fbb, const Handshake& m) {
  const auto system_name = write_string(fbb, m.system_name);
  const auto caps = write_strings(fbb, m.capabilities);
  return fb::CreateHandshake(fbb, system_name, m.protocol_version, caps).Union();
}
flatbuffers::Offset<void> write_body(Builder& fbb, const HandshakeResult& m) {
  const auto system_name = write_string(fbb, m.system_name);
  const auto model_name = write_string(fbb, m.model_name);
  const auto caps = write_strings(fbb, m.capabilities);
  return fb::CreateHandshakeResult(fbb, system_name, model_name, m.protocol_version, caps).Union();
}
flatbuffers::Offset<void> write_body(Builder& fbb, const Run&) {
  return fb::CreateRun(fbb).Union();
}
flatbuffers::Offset<void> write_body(Builder& fbb, const RunResult& m) {
  return fb::CreateRunResult(fbb, write_tensor(fbb, m.result)).Union();
}
flatbuffers::Offset<void> write_body(Builder& fbb, const Sample& m) {
  const auto distribution = write_distribution(fbb, m.distribution);
  const auto address = write_string(fbb, m.address);
  const auto name = write_string(fbb, m.name);
  return fb::CreateSample(fbb, address, name, wire_type(m.distribution), distribution, m.control)
      .Union();
}
flatbuffers::Offset<void> write_body(Builder& fbb, const SampleResult& m) {
  return fb::CreateSampleResult(fbb, write_tensor(fbb, m.result)).Union();
}
flatbuffers::Offset<void> write_body(Builder& fbb, const Observe& m) {
  flatbuffers::Offset<fb::Tensor> value = 0;
  if (m.value) value = write_tensor(fbb, *m.value);
  flatbuffers::Offset<void> distribution = 0;
  auto type = fb::Distribution::NONE;
  if (m.distribution) {
    distribution = write_distribution(fbb, *m.distribution);
    type = wire_type(*m.distribution);
  }
  const auto address = write_string(fbb, m.address);
  const auto name = write_string(fbb, m.name);
  return fb::CreateObserve(fbb, address, name, type, distribution, value).Union();
}
flatbuffers::Offset<void> write_body(Builder& fbb, const ObserveResult&) {
  return fb::CreateObserveResult(fbb).Union();
}
flatbuffers::Offset<void> write_body(Builder& fbb, const Tag& m) {
  const auto value = write_tensor(fbb, m.value);
  const auto address = write_string(fbb, m.address);
  const auto name = write_string(fbb, m.name);
  return fb::CreateTag(fbb, address, name, value).Union();
}
flatbuffers::Offset<void> write_body(Builder& fbb, const TagResult&) {
  return fb::CreateTagResult(fbb).Union();
}
flatbuffers::Offset<void> write_body(Builder& fbb, const Reset& m) {
  flatbuffers::Offset<flatbuffers::String> reason = 0;
  if (!m.reason.empty()) reason = write_string(fbb, m.reason);  // PPX 1.0 bytes when unset
  return fb::CreateReset(fbb, reason).Union();
}
flatbuffers::Offset<void> write_body(Builder& fbb, const RunTraces& m) {
  std::vector<flatbuffers::Offset<fb::NamedTensor>> fixed;
  fixed.reserve(m.fixed.size());
  for (const auto& [name, value] : m.fixed) {
    const auto n = write_string(fbb, name);
    const auto v = write_tensor(fbb, value);
    fixed.push_back(fb::CreateNamedTensor(fbb, n, v));
  }
  return fb::CreateRunTraces(fbb, m.count, m.seed, fbb.CreateVector(fixed), m.first, m.max_reply_bytes).Union();
}
flatbuffers::Offset<void> write_body(Builder& fbb, const RunTracesResult& m) {
  std::vector<flatbuffers::Offset<fb::TraceRecord>> traces;
  std::vector<flatbuffers::Offset<fb::SiteRecord>> sites;
  traces.reserve(m.traces.size());
  for (const auto& trace : m.traces) {
    sites.clear();
    sites.reserve(trace.sites.size());
    for (const auto& s : trace.sites) {
      flatbuffers::Offset<void> distribution = 0;
      auto type = fb::Distribution::NONE;
      if (s.distribution) {
        distribution = write_distribution(fbb, *s.distribution);
        type = wire_type(*s.distribution);
      }
      flatbuffers::Offset<fb::Tensor> value = 0;
      if (s.value) value = write_tensor(fbb, *s.value);
      // Each distinct address and name is stored once per message (FlatBuffers' string pool):
      // a loop repeats its addresses, and a stack address (ppx/stack_address.h) is ~1 KB.
      const auto address = fbb.CreateSharedString(s.address.data(), s.address.size());
      const auto name = fbb.CreateSharedString(s.name.data(), s.name.size());
      sites.push_back(fb::CreateSiteRecord(fbb, static_cast<std::uint8_t>(s.kind), address, name,
                                           type, distribution, value, s.control));
    }
    const auto site_vector = fbb.CreateVector(sites);
    const auto result = write_tensor(fbb, trace.result);
    traces.push_back(fb::CreateTraceRecord(fbb, site_vector, result));
  }
  return fb::CreateRunTracesResult(fbb, fbb.CreateVector(traces)).Union();
}

void build(Builder& fbb, const Message& message) {
  const auto body = std::visit([&](const auto& m) { return write_body(fbb, m); }, message);
  const auto type = static_cast<fb::MessageBody>(message.index() + 1);
  fbb.Finish(fb::CreateMessage(fbb, type, body));  // no file identifier, as PPX 1.0 peers
}

}  // namespace
}  // namespace detail

Message decode(std::span<const std::uint8_t> bytes, const DecodeLimits& limits) {
  using detail::fail;
  namespace fb = detail::fb;
  if (bytes.size() > limits.max_bytes || bytes.size() >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    fail(DecodeErrorCode::TooLarge, "message of " + std::to_string(bytes.size()) +
                                        " bytes exceeds the limit of " +
                                        std::to_string(limits.max_bytes));
  }
  // FlatBuffers reads scalars in place and the Verifier checks alignment relative to the buffer
  // start, so the buffer itself must be 8-byte aligned; copy the rare one that is not.
  std::vector<std::uint64_t> aligned;
  const std::uint8_t* data = bytes.data();
  if (reinterpret_cast<std::uintptr_t>(data) % alignof(std::uint64_t) != 0) {
    aligned.resize((bytes.size() + 7) / 8);
    std::memcpy(aligned.data(), bytes.data(), bytes.size());
    data = reinterpret_cast<const std::uint8_t*>(aligned.data());
  }
  constexpr std::size_t kMaxU32 = std::numeric_limits<flatbuffers::uoffset_t>::max();
  flatbuffers::Verifier::Options options;
  options.max_depth = static_cast<flatbuffers::uoffset_t>(std::min(limits.max_depth, kMaxU32));
  options.max_tables = static_cast<flatbuffers::uoffset_t>(std::min(limits.max_tables, kMaxU32));
  options.check_alignment = true;
  flatbuffers::Verifier verifier(data, bytes.size(), options);
  // VerifyBuffer(nullptr), not VerifyMessageBuffer(): PPX 1.0 peers write no file identifier.
  if (data == nullptr || !verifier.VerifyBuffer<fb::Message>(nullptr)) {
    fail(DecodeErrorCode::Malformed, "buffer of " + std::to_string(bytes.size()) +
                                         " bytes is not a valid ppx.Message");
  }
  return detail::read_body(*flatbuffers::GetRoot<fb::Message>(data));
}

struct Encoder::Impl {
  flatbuffers::FlatBufferBuilder builder{1024};
  std::size_t last_size = 0;
};

// A builder keeps its largest buffer: after one message of a 400 MB tensor it would hold 400 MB
// for the rest of the connection. Past this size it is replaced at the next encode.
constexpr std::size_t kKeepBuilderBytes = std::size_t{64} << 20;

Encoder::Encoder() : impl_(std::make_unique<Impl>()) {}
Encoder::~Encoder() = default;
Encoder::Encoder(Encoder&&) noexcept = default;
Encoder& Encoder::operator=(Encoder&&) noexcept = default;

std::span<const std::uint8_t> Encoder::encode(const Message& message) {
  if (impl_->last_size > kKeepBuilderBytes) impl_->builder = flatbuffers::FlatBufferBuilder(1024);
  auto& fbb = impl_->builder;
  fbb.Clear();  // keeps the allocation
  detail::build(fbb, message);
  impl_->last_size = fbb.GetSize();
  return {fbb.GetBufferPointer(), fbb.GetSize()};
}

std::vector<std::uint8_t> encode(const Message& message) {
  flatbuffers::FlatBufferBuilder fbb(256);
  detail::build(fbb, message);
  return {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()};
}

}  // namespace ppx::protocol
