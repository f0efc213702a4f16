// A gum simulator that misbehaves once, for fault tests: after --after N traces it dies with
// SIGKILL mid-trace, hangs mid-trace, draws forever (endless), or observes a value that does not fit its likelihood
// (badobserve); or, from the start (--after does not apply), it answers every request after the
// handshake with random bytes, multipart replies, or whole-trace replies with NaN, wrongly shaped
// or out-of-support values (see serve_raw). --once FILE
// makes only the first process to reach the fault misbehave (it creates FILE), so a restarted
// simulator is healthy.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>
#include <zmq.hpp>

#include "ppx/ppx.h"
#include "ppx/protocol/codec.h"
#include "ppx/reference/models.h"

namespace {

std::string g_fault;
int g_after = 0;
std::string g_once;
int g_traces = 0;

bool fault_now() {
  if (g_fault.empty() || g_traces++ < g_after) return false;
  if (!g_once.empty()) {
    if (std::filesystem::exists(g_once)) return false;
    std::ofstream(g_once) << "faulted\n";
  }
  return true;
}

ppx::Tensor forward() {
  const bool fault = fault_now();
  const ppx::Tensor mu = ppx::sample(ppx::Normal(1.0, std::sqrt(5.0)), {.name = "mu", .address = "mu"});
  if (fault && g_fault == "kill") ::raise(SIGKILL);
  if (fault && g_fault == "hang") std::this_thread::sleep_for(std::chrono::hours(1));
  // A rejection loop that never accepts: draws until the engine's per-trace limit cuts it off.
  while (fault && g_fault == "endless") {
    ppx::sample(ppx::Uniform(0.0, 1.0), {.name = "reject", .address = "reject"});
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // An observe whose own value ([3]) does not broadcast with its likelihood's parameters ([2]).
  if (fault && g_fault == "badobserve") ppx::observe(ppx::Normal(ppx::Tensor({0.0, 0.0}), 1.0), ppx::Tensor({1.0, 2.0, 3.0}), {.name = "extra", .address = "extra"});
  ppx::observe(ppx::Normal(mu, std::sqrt(2.0)), {.name = "obs0", .address = "obs0"});
  ppx::observe(ppx::Normal(mu, std::sqrt(2.0)), {.name = "obs1", .address = "obs1"});
  return mu;
}

// Raw peers: answer the handshake properly, then break the protocol or the model's contract.
//   garbage:  random bytes to every request
//   multipart: a valid RunResult followed by a second frame
//   nan, shape, category: whole-trace replies whose sample values are NaN, of shape [2], or a
//             Categorical value outside its support (7 of 2)
int serve_raw(const std::string& endpoint, const std::string& fault) {
  namespace proto = ppx::protocol;
  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::rep);
  socket.bind(endpoint);
  std::mt19937 rng(1);
  const bool whole_trace = fault == "nan" || fault == "shape" || fault == "category";
  while (true) {
    zmq::message_t request;
    if (!socket.recv(request)) continue;
    const auto message = proto::decode({static_cast<const std::uint8_t*>(request.data()), request.size()});
    std::vector<std::uint8_t> reply;
    if (std::holds_alternative<proto::Handshake>(message)) {
      proto::HandshakeResult result{"faulty", "gum"};
      if (whole_trace) result.capabilities = {std::string(proto::kCapabilityRunTraces)};
      reply = proto::encode(result);
    } else if (const auto* run = std::get_if<proto::RunTraces>(&message); run != nullptr && whole_trace) {
      proto::RunTracesResult result;
      for (std::uint32_t i = 0; i < run->count; ++i) {
        ppx::TraceRecord record;
        ppx::SiteRecord site{.kind = ppx::SiteKind::Sample, .address = "mu", .name = "mu"};
        site.distribution = ppx::Normal(1.0, std::sqrt(5.0));
        site.value = fault == "nan" ? ppx::Tensor(std::nan("")) : ppx::Tensor({1.0, 2.0});
        if (fault == "category") {
          site.address = site.name = "c";
          site.distribution = ppx::Categorical(ppx::Tensor({0.5, 0.5}));
          site.value = ppx::Tensor(7.0);
        }
        record.sites.push_back(site);
        record.result = ppx::Tensor(1.0);
        result.traces.push_back(std::move(record));
      }
      reply = proto::encode(result);
    } else if (fault == "multipart") {
      const auto first = proto::encode(proto::RunResult{ppx::Tensor(1.0)});
      socket.send(zmq::buffer(first), zmq::send_flags::sndmore);
      reply = {1, 2, 3};
    } else {
      reply.resize(64);
      for (auto& b : reply) b = static_cast<std::uint8_t>(rng());
    }
    socket.send(zmq::buffer(reply), zmq::send_flags::none);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("gum that misbehaves once");
  std::string endpoint;
  app.add_option("--serve", endpoint)->required();
  app.add_option("--fault", g_fault)
      ->check(CLI::IsMember({"kill", "hang", "endless", "garbage", "multipart", "badobserve", "nan", "shape", "category"}));
  app.add_option("--after", g_after);
  app.add_option("--once", g_once);
  // Chaos soak: at start, a process that takes (renames) the token file DIR/swap becomes the raw
  // peer the token names (garbage, multipart or nan) instead of a healthy gum.
  std::string swap_dir;
  app.add_option("--swap-dir", swap_dir);
  CLI11_PARSE(app, argc, argv);
  if (!swap_dir.empty()) {
    const std::string mine = swap_dir + "/taken-" + std::to_string(::getpid());
    if (std::rename((swap_dir + "/swap").c_str(), mine.c_str()) == 0) {
      std::string kind;
      std::ifstream(mine) >> kind;
      return serve_raw(endpoint, kind);
    }
  }
  if (g_fault == "garbage" || g_fault == "multipart" || g_fault == "nan" || g_fault == "shape" ||
      g_fault == "category") {
    g_after = 0;
    if (fault_now()) return serve_raw(endpoint, g_fault);
  }
  ppx::ServeOptions options;
  options.endpoint = endpoint;
  return ppx::Model("gum", forward).serve(options).ok() ? 0 : 1;
}
