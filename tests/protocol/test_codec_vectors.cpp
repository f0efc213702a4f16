// Golden PPX 1.0 vectors: every .bin decodes to exactly what vectors.json describes, re-encodes to
// an equal message, and (for messages pyprob_cpp built) to the very same bytes.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <set>
#include <string>

#include "codec_test_support.h"
#include "ppx/protocol/codec.h"
#include "wire.h"  // raw field presence (absent vs "" strings, elided control)

using json = nlohmann::ordered_json;  // keeps distribution parameters in wire order
using namespace ppx;
using namespace ppx::protocol;
using ppx::protocol::test::golden_files;
using ppx::protocol::test::read_bytes;
using ppx::protocol::test::vectors_dir;
namespace fb = ppx::protocol::detail::fb;

namespace {

const json& vectors() {
  static const json j = [] {
    std::ifstream in(vectors_dir() / "vectors.json");
    REQUIRE(in.good());
    return json::parse(in);
  }();
  return j;
}

// Distribution union names in wire order (index = tag), as vectors.json spells them.

int distribution_tag(const std::string& name) {
  static const std::vector<std::string> names = {
      "NONE",  "Normal",      "Uniform", "Categorical", "Poisson",  "Bernoulli",
      "Beta",  "Exponential", "Gamma",   "LogNormal",   "Binomial", "Weibull"};
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<int>(i);
  }
  FAIL("unknown distribution name in vectors.json: " << name);
  return -1;
}

void check_tensor(const json& expected, const Tensor& actual, const std::string& what) {
  INFO(what << ": expected " << expected.dump() << ", got " << actual.to_string());
  REQUIRE(expected.is_object());
  std::vector<double> data = expected.at("data").get<std::vector<double>>();
  std::vector<int32_t> shape = expected.at("shape").get<std::vector<int32_t>>();
  CHECK(actual.data() == data);  // exact: vectors.json holds shortest round-trip reprs
  CHECK(actual.shape() == shape);
}

void check_optional_tensor(const json& expected, const std::optional<Tensor>& actual,
                           const std::string& what) {
  if (expected.is_null()) {
    CHECK_FALSE(actual.has_value());
  } else {
    REQUIRE(actual.has_value());
    check_tensor(expected, *actual, what);
  }
}

// A string field: null in vectors.json = absent on the wire; both read as "" in our structs.
void check_string(const json& expected, const std::string& actual, const flatbuffers::String* raw,
                  const std::string& what) {
  INFO(what);
  if (expected.is_null()) {
    CHECK(raw == nullptr);
    CHECK(actual.empty());
  } else {
    CHECK(raw != nullptr);
    CHECK(actual == expected.get<std::string>());
  }
}

void check_distribution(const json& body, const std::optional<Distribution>& actual) {
  const auto type = body.at("distribution_type").get<std::string>();
  const int tag = distribution_tag(type);
  if (tag == 0) {
    CHECK(body.at("distribution").is_null());
    CHECK_FALSE(actual.has_value());
    return;
  }
  REQUIRE(actual.has_value());
  CHECK(static_cast<int>(actual->kind()) == tag);
  CHECK(std::string(actual->name()) == type);
  const json& params = body.at("distribution");
  REQUIRE(params.size() == actual->parameters().size());
  std::size_t i = 0;
  for (const auto& [key, value] : params.items()) {
    CHECK(std::string(actual->info().parameters[i]) == key);
    check_tensor(value, actual->parameter(i), type + "." + key);
    ++i;
  }
}

void check_message(const json& expected, const Message& m, const fb::Message& raw) {
  const auto body_type = expected.at("body_type").get<std::string>();
  CHECK(std::string(kind_name(m)) == body_type);
  CHECK(static_cast<int>(m.index()) + 1 == expected.at("body_type_id").get<int>());
  CHECK(static_cast<int>(raw.body_type()) == expected.at("body_type_id").get<int>());
  const json& body = expected.at("body");

  if (const auto* h = std::get_if<Handshake>(&m)) {
    check_string(body.at("system_name"), h->system_name, raw.body_as_Handshake()->system_name(),
                 "system_name");
    CHECK(h->protocol_version == 0);  // a PPX 1.0 peer sends none
    CHECK(h->capabilities.empty());
  } else if (const auto* hr = std::get_if<HandshakeResult>(&m)) {
    const auto* r = raw.body_as_HandshakeResult();
    check_string(body.at("system_name"), hr->system_name, r->system_name(), "system_name");
    check_string(body.at("model_name"), hr->model_name, r->model_name(), "model_name");
    CHECK(hr->protocol_version == 0);
    CHECK(hr->capabilities.empty());
  } else if (const auto* rr = std::get_if<RunResult>(&m)) {
    check_tensor(body.at("result"), rr->result, "result");
  } else if (const auto* s = std::get_if<Sample>(&m)) {
    const auto* r = raw.body_as_Sample();
    check_string(body.at("address"), s->address, r->address(), "address");
    check_string(body.at("name"), s->name, r->name(), "name");
    check_distribution(body, s->distribution);
    CHECK(s->control == body.at("control").get<bool>());
    CHECK(reinterpret_cast<const flatbuffers::Table*>(r)->CheckField(fb::Sample::VT_CONTROL) ==
          body.at("control_field_present").get<bool>());
  } else if (const auto* sr = std::get_if<SampleResult>(&m)) {
    check_tensor(body.at("result"), sr->result, "result");
  } else if (const auto* o = std::get_if<Observe>(&m)) {
    const auto* r = raw.body_as_Observe();
    check_string(body.at("address"), o->address, r->address(), "address");
    check_string(body.at("name"), o->name, r->name(), "name");
    check_distribution(body, o->distribution);
    check_optional_tensor(body.at("value"), o->value, "value");
  } else if (const auto* t = std::get_if<Tag>(&m)) {
    const auto* r = raw.body_as_Tag();
    check_string(body.at("address"), t->address, r->address(), "address");
    check_string(body.at("name"), t->name, r->name(), "name");
    check_tensor(body.at("value"), t->value, "value");
  } else if (const auto* reset = std::get_if<Reset>(&m)) {
    CHECK(reset->reason.empty());
    CHECK(body.empty());
  } else {
    // Run, ObserveResult, TagResult: empty tables.
    CHECK(body.empty());
  }
}

}  // namespace

TEST_CASE("vectors.json describes exactly the .bin files on disk", "[protocol][vectors]") {
  PPX_NEEDS_SHARED(vectors_dir());
  const auto files = golden_files();
  std::set<std::string> described;
  for (const auto& [name, entry] : vectors().at("files").items()) described.insert(name);
  CHECK(std::set<std::string>(files.begin(), files.end()) == described);
  CHECK(files.size() >= 67);
}

TEST_CASE("every golden PPX 1.0 message decodes to the fields in vectors.json",
          "[protocol][vectors]") {
  PPX_NEEDS_SHARED(vectors_dir());
  for (const auto& file : golden_files()) {
    DYNAMIC_SECTION(file) {
      const json& entry = vectors().at("files").at(file);
      const auto bytes = read_bytes(vectors_dir() / file);
      CHECK(bytes.size() == entry.at("size_bytes").get<std::size_t>());
      const Message m = decode(bytes);
      CHECK(std::string(kind_name(m)) == entry.at("kind").get<std::string>());
      check_message(entry.at("message"), m, *flatbuffers::GetRoot<fb::Message>(bytes.data()));
    }
  }
}

TEST_CASE("golden messages re-encode to equal messages", "[protocol][vectors]") {
  PPX_NEEDS_SHARED(vectors_dir());
  Encoder encoder;  // one encoder for all: its builder is reused
  for (const auto& file : golden_files()) {
    DYNAMIC_SECTION(file) {
      const auto bytes = read_bytes(vectors_dir() / file);
      const Message m = decode(bytes);
      const auto span = encoder.encode(m);
      const std::vector<std::uint8_t> encoded(span.begin(), span.end());
      CHECK(decode(encoded) == m);
      CHECK(encode(m) == encoded);  // the one-shot encode writes the same bytes
      // We never write the file identifier: bytes 4..7 are not "PPXF".
      CHECK_FALSE(flatbuffers::BufferHasIdentifier(encoded.data(), "PPXF"));
    }
  }
}

TEST_CASE("messages pyprob_cpp built re-encode to identical bytes", "[protocol][vectors]") {
  PPX_NEEDS_SHARED(vectors_dir());
  // Our encoder follows pyprob_cpp's builder order, so a simulator linked against client-cpp
  // sends what pyprob_cpp sends, byte for byte.
  int compared = 0;
  for (const auto& [file, entry] : vectors().at("files").items()) {
    if (entry.at("built_by").get<std::string>().find("pyprob_cpp") == std::string::npos) continue;
    DYNAMIC_SECTION(file) {
      const auto bytes = read_bytes(vectors_dir() / file);
      CHECK(encode(decode(bytes)) == bytes);
    }
    ++compared;
  }
  CHECK(compared >= 30);
}
