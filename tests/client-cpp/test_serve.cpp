// The serve loop over a real ipc:// socket, driven by a minimal protocol peer.
#include <catch2/catch.hpp>
#include <atomic>
#include <random>
#include <thread>

#include "ppl_peer.h"
#include "ppx/ppx.h"

namespace proto = ppx::protocol;
using ppx::test::BackgroundServer;
using ppx::test::PplPeer;
using ppx::test::unique_ipc_endpoint;

namespace {

ppx::Tensor gum() {
  const ppx::Tensor mu = ppx::sample(ppx::Normal(1.0, 2.2360679774997898), {.name = "mu"});
  ppx::observe(ppx::Normal(mu, 1.4142135623730951), {.name = "obs0"});
  ppx::observe(ppx::Normal(mu, 1.4142135623730951), {.name = "obs1"});
  ppx::tag(mu, {.name = "mu_tag"});
  return mu;
}

ppx::Tensor throwing_model() { throw std::runtime_error("simulated physics failure"); }

template <typename T>
T as(const proto::Message& m) {
  INFO("got " << proto::kind_name(m));
  REQUIRE(std::holds_alternative<T>(m));
  return std::get<T>(m);
}

}  // namespace

TEST_CASE("handshake answers the model name, protocol version and capabilities") {
  const ppx::Model model("gum", gum);
  BackgroundServer server(model, unique_ipc_endpoint("hs"));
  PplPeer peer(server.endpoint());
  const auto& reply = as<proto::HandshakeResult>(peer.request(proto::Handshake{"test-ppl"}));
  CHECK(reply.model_name == "gum");
  CHECK(reply.system_name.find("ppxd client-cpp") == 0);
  CHECK(reply.protocol_version == proto::kProtocolVersion);
  CHECK(reply.capabilities == std::vector<std::string>{"run_traces"});
}

TEST_CASE("a lock-step run sends each site as the reply to the previous request") {
  const ppx::Model model("gum", gum);
  BackgroundServer server(model, unique_ipc_endpoint("lock"));
  PplPeer peer(server.endpoint());
  for (int trace = 0; trace < 3; ++trace) {
    const auto& sample = as<proto::Sample>(peer.request(proto::Run{}));
    CHECK(sample.name == "mu");
    CHECK(sample.control);
    CHECK(sample.address.find("test_serve.cpp:") == 0);
    CHECK(sample.distribution == ppx::Normal(1.0, 2.2360679774997898));
    const double value = 2.5 + trace;
    const auto& obs0 = as<proto::Observe>(peer.request(proto::SampleResult{value}));
    CHECK(obs0.name == "obs0");
    CHECK_FALSE(obs0.value.has_value());
    CHECK(obs0.distribution->parameter(0).item() == value);  // the model used the engine's value
    CHECK(as<proto::Observe>(peer.request(proto::ObserveResult{})).name == "obs1");
    const auto& tag = as<proto::Tag>(peer.request(proto::ObserveResult{}));
    CHECK(tag.value.item() == value);
    CHECK(as<proto::RunResult>(peer.request(proto::TagResult{})).result.item() == value);
  }
  CHECK(server.stop().traces == 3);
}

TEST_CASE("whole-trace runs return K recorded traces, reproducible from the seed, with clamping") {
  const ppx::Model model("gum", gum);
  BackgroundServer server(model, unique_ipc_endpoint("whole"));
  PplPeer peer(server.endpoint());
  const auto first = as<proto::RunTracesResult>(peer.request(proto::RunTraces{5, 99, {}}));
  REQUIRE(first.traces.size() == 5);
  for (const ppx::TraceRecord& t : first.traces) {
    REQUIRE(t.sites.size() == 4);
    CHECK(t.sites[0].kind == ppx::SiteKind::Sample);
    CHECK(t.sites[0].value->item() == t.result.item());
    CHECK(t.sites[1].kind == ppx::SiteKind::Observe);
    CHECK(t.sites[3].kind == ppx::SiteKind::Tag);
  }
  CHECK(first.traces[0].result != first.traces[1].result);
  const auto again = as<proto::RunTracesResult>(peer.request(proto::RunTraces{5, 99, {}}));
  CHECK(again == first);
  const auto clamped = as<proto::RunTracesResult>(peer.request(proto::RunTraces{2, 1, {{"mu", ppx::Tensor(4.0)}}}));
  CHECK(clamped.traces[0].result.item() == 4.0);
  CHECK(clamped.traces[1].result.item() == 4.0);
}

TEST_CASE("bad input gets a Reset and the loop keeps serving") {
  const ppx::Model model("gum", gum);
  BackgroundServer server(model, unique_ipc_endpoint("bad"));
  PplPeer peer(server.endpoint());
  bool expect_reset = true;

  SECTION("garbage, truncated and empty buffers") {
    std::mt19937 rng(3);
    std::vector<std::uint8_t> garbage(200);
    for (auto& b : garbage) b = static_cast<std::uint8_t>(rng());
    peer.send_bytes(garbage.data(), garbage.size());
    CHECK(as<proto::Reset>(*peer.receive()).reason.find("undecodable") != std::string::npos);
    const auto handshake = proto::encode(proto::Handshake{"x"});
    peer.send_bytes(handshake.data(), handshake.size() / 2);
    as<proto::Reset>(*peer.receive());
    peer.send_bytes(handshake.data(), 0);
    as<proto::Reset>(*peer.receive());
  }
  SECTION("a multipart request (issue 8, item 7: the loop used to exit 1)") {
    const auto handshake = proto::encode(proto::Handshake{"x"});
    peer.send_parts({handshake, handshake, {1, 2, 3}});
    CHECK(as<proto::Reset>(*peer.receive()).reason.find("multipart") != std::string::npos);
    as<proto::Sample>(peer.request(proto::Run{}));
    peer.send_parts({proto::encode(proto::SampleResult{1.0}), {}});  // mid-trace: the trace is abandoned
    CHECK(as<proto::Reset>(*peer.receive()).reason.find("multipart") != std::string::npos);
  }
  SECTION("a message out of order at the top level") {
    CHECK(as<proto::Reset>(peer.request(proto::SampleResult{1.0})).reason.find("unexpected SampleResult") !=
          std::string::npos);
  }
  SECTION("a wrong message in the middle of a trace abandons the trace") {
    as<proto::Sample>(peer.request(proto::Run{}));
    CHECK(as<proto::Reset>(peer.request(proto::ObserveResult{})).reason.find("expected SampleResult") !=
          std::string::npos);
  }
  SECTION("an engine that starts afresh mid-trace (after its timeout) gets a normal answer") {
    as<proto::Sample>(peer.request(proto::Run{}));
    CHECK(as<proto::HandshakeResult>(peer.request(proto::Handshake{"again"})).model_name == "gum");
    as<proto::Sample>(peer.request(proto::Run{}));
    as<proto::Sample>(peer.request(proto::Run{}));  // Run mid-trace: a new trace
    expect_reset = false;
  }
  // Whatever happened, the next trace runs normally.
  as<proto::Sample>(peer.request(proto::Run{}));
  as<proto::Observe>(peer.request(proto::SampleResult{1.0}));
  as<proto::Observe>(peer.request(proto::ObserveResult{}));
  as<proto::Tag>(peer.request(proto::ObserveResult{}));
  as<proto::RunResult>(peer.request(proto::TagResult{}));
  CHECK((server.stop().protocol_errors >= 1) == expect_reset);
}

TEST_CASE("a model that throws answers Reset with the reason, and serving goes on") {
  const ppx::Model model("bad", throwing_model);
  BackgroundServer server(model, unique_ipc_endpoint("throw"));
  PplPeer peer(server.endpoint());
  CHECK(as<proto::Reset>(peer.request(proto::Run{})).reason.find("simulated physics failure") != std::string::npos);
  CHECK(as<proto::Reset>(peer.request(proto::RunTraces{2, 0, {}})).reason.find("simulated") != std::string::npos);
  as<proto::HandshakeResult>(peer.request(proto::Handshake{"x"}));
}

TEST_CASE("the receive deadline ends serving, and a dead engine mid-trace does not hang the simulator") {
  const ppx::Model model("gum", gum);
  SECTION("idle") {
    BackgroundServer server(model, unique_ipc_endpoint("idle"), std::chrono::milliseconds(300));
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    const auto& result = server.stop();
    CHECK(result.status == ppx::ServeResult::Status::Timeout);
  }
  SECTION("engine vanishes after the first Sample") {
    BackgroundServer server(model, unique_ipc_endpoint("vanish"), std::chrono::milliseconds(300));
    {
      PplPeer peer(server.endpoint());
      as<proto::Sample>(peer.request(proto::Run{}));
    }  // the peer is gone without answering
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    const auto& result = server.stop();
    CHECK(result.status == ppx::ServeResult::Status::Timeout);
    CHECK(server.log().find("trace abandoned") != std::string::npos);
  }
}

TEST_CASE("serving reports a bind failure instead of throwing") {
  const ppx::Model model("gum", gum);
  ppx::ServeOptions options;
  options.endpoint = "tcp://256.1.1.1:99999";
  options.handle_signals = false;
  const ppx::ServeResult result = model.serve(options);
  CHECK(result.status == ppx::ServeResult::Status::Error);
  CHECK(result.message.find("cannot serve") != std::string::npos);
}

// Issue 8, items 3 and 4: a peer's RunTraces count (up to 2^32 - 1) bounds neither the shim's
// memory nor its time. The reply stops at the leading traces that fit the message limit (the
// engine's max_reply_bytes when smaller), trace i of a request is stream first + i of its seed, so
// asking again from `first` continues the same traces; a stop request ends a batch in the middle.
// Before the fix both cases ran ~4 billion traces (the test's TIMEOUT fails them).
TEST_CASE("a huge RunTraces count stops at the byte budget, and the rest follows from first") {
  const ppx::Model model("gum", gum);
  BackgroundServer server(model, unique_ipc_endpoint("budget"), {}, std::uint64_t{1} << 20);
  PplPeer peer(server.endpoint());
  const auto part = as<proto::RunTracesResult>(peer.request(proto::RunTraces{.count = 4294967295u, .seed = 1}));
  CHECK(part.traces.size() > 100);
  CHECK(part.traces.size() < 100'000);  // bounded by 1 MiB, not by the count
  CHECK(proto::encode(part).size() <= std::uint64_t{1} << 20);
  // The engine's own, smaller limit caps the reply further.
  const auto whole = as<proto::RunTracesResult>(peer.request(proto::RunTraces{.count = 40, .seed = 1}));
  REQUIRE(whole.traces.size() == 40);
  const auto capped = as<proto::RunTracesResult>(
      peer.request(proto::RunTraces{.count = 40, .seed = 1, .max_reply_bytes = 8 * 1024}));
  REQUIRE(capped.traces.size() > 1);
  REQUIRE(capped.traces.size() < 40);
  CHECK(proto::encode(capped).size() <= 8 * 1024);
  // Asking from `first` continues with the same traces as one unsplit reply.
  std::vector<ppx::TraceRecord> joined = capped.traces;
  while (joined.size() < 40) {
    const auto rest = as<proto::RunTracesResult>(peer.request(proto::RunTraces{
        .count = static_cast<std::uint32_t>(40 - joined.size()), .seed = 1, .first = joined.size(), .max_reply_bytes = 8 * 1024}));
    REQUIRE_FALSE(rest.traces.empty());
    joined.insert(joined.end(), rest.traces.begin(), rest.traces.end());
  }
  CHECK(joined == whole.traces);
  // A single trace over the limit is refused clearly.
  const auto reset = as<proto::Reset>(peer.request(proto::RunTraces{.count = 2, .seed = 1, .max_reply_bytes = 100}));
  CHECK(reset.reason.find("one trace of RunTraces would exceed the 100-byte message limit") != std::string::npos);
}

TEST_CASE("a stop request ends serving in the middle of a RunTraces batch") {
  std::atomic<std::uint64_t> traces{0};
  const ppx::Model model("slow", [&traces] {
    ++traces;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return gum();
  });
  BackgroundServer server(model, unique_ipc_endpoint("stopbatch"));
  PplPeer peer(server.endpoint());
  peer.send(proto::RunTraces{.count = 4294967295u, .seed = 1});
  while (traces.load() < 20) std::this_thread::sleep_for(std::chrono::milliseconds(5));  // inside the batch
  server.stop();  // returns only once the loop ended
  CHECK(traces.load() < 4294967295u);
  CHECK(server.log().find("stopping in the middle of a RunTraces batch") != std::string::npos);
}
