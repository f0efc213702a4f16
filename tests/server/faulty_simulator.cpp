// A gum simulator that misbehaves once, for fault tests: after --after N traces it dies with
// SIGKILL mid-trace, hangs mid-trace, or (garbage, from the start: --after does not apply) answers
// every request after the handshake with random bytes. --once FILE
// makes only the first process to reach the fault misbehave (it creates FILE), so a restarted
// simulator is healthy.
#include <CLI/CLI.hpp>
#include <csignal>
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
  ppx::observe(ppx::Normal(mu, std::sqrt(2.0)), {.name = "obs0", .address = "obs0"});
  ppx::observe(ppx::Normal(mu, std::sqrt(2.0)), {.name = "obs1", .address = "obs1"});
  return mu;
}

// Answers the handshake properly, then garbage to everything.
int serve_garbage(const std::string& endpoint) {
  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::rep);
  socket.bind(endpoint);
  std::mt19937 rng(1);
  while (true) {
    zmq::message_t request;
    if (!socket.recv(request)) continue;
    const auto message = ppx::protocol::decode({static_cast<const std::uint8_t*>(request.data()), request.size()});
    if (std::holds_alternative<ppx::protocol::Handshake>(message)) {
      const auto bytes = ppx::protocol::encode(ppx::protocol::HandshakeResult{"faulty", "gum"});
      socket.send(zmq::buffer(bytes), zmq::send_flags::none);
    } else {
      std::vector<std::uint8_t> garbage(64);
      for (auto& b : garbage) b = static_cast<std::uint8_t>(rng());
      socket.send(zmq::buffer(garbage), zmq::send_flags::none);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("gum that misbehaves once");
  std::string endpoint;
  app.add_option("--serve", endpoint)->required();
  app.add_option("--fault", g_fault)->check(CLI::IsMember({"kill", "hang", "garbage"}));
  app.add_option("--after", g_after);
  app.add_option("--once", g_once);
  CLI11_PARSE(app, argc, argv);
  if (g_fault == "garbage") {
    g_after = 0;
    if (fault_now()) return serve_garbage(endpoint);
  }
  ppx::ServeOptions options;
  options.endpoint = endpoint;
  return ppx::Model("gum", forward).serve(options).ok() ? 0 : 1;
}
