// Replays the PPX 1.0 sessions captured between pyprob and pyprob_cpp (shared/ppx-vectors/captured):
// our shim serves the same models, the test sends pyprob's recorded requests, and every reply must
// decode to the same fields as pyprob_cpp's recorded reply — automatic addresses and the system
// name aside (they name the implementation).
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "ppl_peer.h"
#include "ppx/ppx.h"
#include "shared_data.h"

namespace proto = ppx::protocol;
namespace fs = std::filesystem;

namespace {

// pyprob_cpp's test_gum, as captured: an unnamed Normal(1, sqrt 5) prior, two observes left to
// the engine; returns mu (the engine's tensor, kept as-is so shapes match the capture).
ppx::Tensor captured_gum() {
  const ppx::Tensor mu = ppx::sample(ppx::Normal(1.0, 2.23606797749979));
  ppx::observe(ppx::Normal(mu, 1.4142135623730951), {.name = "obs0"});
  ppx::observe(ppx::Normal(mu, 1.4142135623730951), {.name = "obs1"});
  return mu;
}

ppx::Tensor t(std::vector<double> data, std::vector<int32_t> shape) { return {std::move(data), std::move(shape)}; }

// The capture's all-kinds model: every distribution, [2,3] tensors, control=false, an observe with
// and one without value, a tag, and a constant result.
ppx::Tensor captured_allkinds() {
  const ppx::Tensor sd = t({0.5, 1.0, 1.5, 2.0, 2.5, 3.0}, {2, 3});
  const ppx::Tensor mu = ppx::sample(ppx::Normal(t({1.0, 2.5, -3.0, 0.5, 0.0, 4.25}, {2, 3}), sd), {.name = "mu"});
  ppx::sample(ppx::Uniform(t({0.0, -1.0}, {2}), t({1.0, 2.0}, {2})), {.name = "u", .control = false});
  ppx::sample(ppx::Categorical(t({0.2, 0.5, 0.3}, {3})), {.name = "c"});
  ppx::sample(ppx::Poisson(t({1.5, 4.0, 10.0, 0.5, 2.0, 7.0}, {2, 3})), {.name = "p"});
  ppx::sample(ppx::Bernoulli(t({0.1, 0.9}, {2})), {.name = "b"});
  ppx::sample(ppx::Beta(t({2.0, 0.5}, {2}), t({3.0, 1.5}, {2})), {.name = "beta"});
  ppx::sample(ppx::Exponential(t({1.5, 0.25}, {2})), {.name = "e"});
  ppx::sample(ppx::Gamma(t({2.0, 9.0}, {2}), t({1.0, 0.5}, {2})), {.name = "g"});
  ppx::sample(ppx::LogNormal(t({0.0, 1.0}, {2}), t({0.25, 0.5}, {2})), {.name = "ln"});
  ppx::sample(ppx::Binomial(t({10.0, 20.0}, {2}), t({0.25, 0.75}, {2})), {.name = "bin"});
  ppx::sample(ppx::Weibull(t({1.0, 2.0}, {2}), t({1.5, 5.0}, {2})), {.name = "w"});
  const ppx::Tensor mu_sd = ppx::Tensor(std::vector<double>(sd.data()), {2, 3});
  ppx::observe(ppx::Normal(mu, mu_sd), t({1.25, 2.0, -2.5, 0.75, 0.5, 4.0}, {2, 3}), {.name = "obs_value"});
  ppx::observe(ppx::Normal(mu, mu_sd), {.name = "obs0"});
  ppx::tag(t({3.5, -1.0, 0.25, 8.0, 16.0, -32.0}, {2, 3}), {.name = "tag1"});
  return t({0.5, 1.5, 2.5, -0.5, -1.5, -2.5}, {2, 3});
}

proto::Message read_message(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return proto::decode(bytes);
}

// Clears what legitimately differs between implementations.
proto::Message normalised(proto::Message m) {
  std::visit(
      [](auto& body) {
        using T = std::decay_t<decltype(body)>;
        if constexpr (requires { body.address; }) body.address.clear();
        if constexpr (std::is_same_v<T, proto::HandshakeResult>) {
          body.system_name.clear();
          body.protocol_version = 0;
          body.capabilities.clear();
        }
        if constexpr (std::is_same_v<T, proto::Reset>) body.reason.clear();
      },
      m);
  return m;
}

void replay(const std::string& session, const ppx::Model& model) {
  const fs::path dir = fs::path(ppx::test::shared_dir()) / "ppx-vectors" / "captured" / session;
  PPX_NEEDS_SHARED(dir);
  REQUIRE(fs::is_directory(dir));
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) files.push_back(entry.path());
  std::sort(files.begin(), files.end());

  ppx::test::BackgroundServer server(model, ppx::test::unique_ipc_endpoint("captured"));
  ppx::test::PplPeer peer(server.endpoint());
  std::size_t compared = 0;
  for (std::size_t i = 0; i + 1 < files.size(); i += 2) {
    const std::string request_name = files[i].filename().string();
    const std::string reply_name = files[i + 1].filename().string();
    REQUIRE(request_name.find("ppl_to_simulator") != std::string::npos);
    REQUIRE(reply_name.find("simulator_to_ppl") != std::string::npos);
    INFO(session << ": " << request_name << " -> " << reply_name);
    const proto::Message ours = peer.request(read_message(files[i]));
    const proto::Message theirs = read_message(files[i + 1]);
    CHECK(proto::kind_name(ours) == proto::kind_name(theirs));
    CHECK(normalised(ours) == normalised(theirs));
    ++compared;
  }
  CHECK(compared == files.size() / 2);
}

}  // namespace

TEST_CASE("captured gum session: our shim answers pyprob exactly as pyprob_cpp did") {
  replay("gum", ppx::Model("Gaussian with unknown mean C++", captured_gum));
}

TEST_CASE("captured all-kinds session, including the Reset for an out-of-protocol request") {
  replay("allkinds", ppx::Model("PPX all message kinds C++", captured_allkinds));
}
