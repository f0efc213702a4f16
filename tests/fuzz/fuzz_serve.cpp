// libFuzzer: the serve loop (client-cpp) handling whatever an engine sends. A model with a sample,
// two observes and a tag serves on an ipc socket in this process; each input is a sequence of
// requests (chunks: 2-byte little-endian length, then the bytes; a length with the top bit set
// sends that chunk and the next as one multipart message). Invariants: every request gets a reply
// within 10 s (else abort: a hang), and the loop never ends on its own (else abort: a crash of
// the loop, as a multipart request once caused).
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>
#include <thread>
#include <unistd.h>
#include <zmq.hpp>

#include "ppx/ppx.h"
#include "ppx/protocol/codec.h"

namespace {

ppx::Tensor gum() {
  const ppx::Tensor mu = ppx::sample(ppx::Normal(1.0, 2.2360679774997898), {.name = "mu"});
  ppx::observe(ppx::Normal(mu, 1.4142135623730951), {.name = "obs0"});
  ppx::observe(ppx::Normal(mu, 1.4142135623730951), {.name = "obs1"});
  ppx::tag(mu, {.name = "mu_tag"});
  return mu;
}

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

// Waits for the reply; libFuzzer's timers (SIGALRM) interrupt the poll now and then.
bool await_reply(zmq::socket_t& socket, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    try {
      if (zmq::poll(&item, 1, std::chrono::milliseconds(100)) > 0) return true;
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
    }
  }
  return false;
}

struct Harness {
  std::string endpoint = "ipc:///tmp/ppx-fuzz-serve-" + std::to_string(::getpid());
  ppx::Model model{"gum", gum};
  std::atomic<bool> stop{false};
  std::atomic<bool> ended{false};
  std::thread server;
  zmq::context_t context{1};
  std::optional<zmq::socket_t> peer;

  Harness() {
    server = std::thread([this] {
      ppx::ServeOptions options;
      options.endpoint = endpoint;
      options.handle_signals = false;
      options.stop = &stop;
      options.max_message_bytes = 1 << 20;  // bounds RunTraces batches (and their time)
      model.serve(options);
      ended = true;
    });
    connect();
  }
  void connect() {
    peer.emplace(context, zmq::socket_type::req);
    peer->set(zmq::sockopt::linger, 0);
    peer->connect(endpoint);
  }
};

Harness& harness() {
  static Harness* h = new Harness();  // never destroyed: the loop runs for the whole fuzz session
  return *h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Harness& h = harness();
  std::size_t at = 0;
  for (int requests = 0; at + 2 <= size && requests < 16; ++requests) {
    const std::size_t header = data[at] | (std::size_t{data[at + 1]} << 8);
    at += 2;
    const bool more = (header & 0x8000) != 0;
    const std::size_t length = std::min(header & 0x7fff, size - at);
    h.peer->send(zmq::buffer(data + at, length), more ? zmq::send_flags::sndmore : zmq::send_flags::none);
    at += length;
    if (more) {
      // The next chunk (possibly empty) ends the multipart message.
      std::size_t next = 0;
      if (at + 2 <= size) {
        next = std::min<std::size_t>((data[at] | (std::size_t{data[at + 1]} << 8)) & 0x7fff, size - at - 2);
        at += 2;
      }
      h.peer->send(zmq::buffer(data + at, next), zmq::send_flags::none);
      at += next;
    }
    if (!await_reply(*h.peer, std::chrono::seconds(10))) violated("no reply within 10 s");
    zmq::message_t reply;
    if (!h.peer->recv(reply)) violated("receive failed");
    if (h.ended) violated("the serve loop ended");
  }
  // End any trace the input left open, so inputs do not depend on each other: a Handshake
  // mid-trace abandons the trace and is answered normally.
  static const std::vector<std::uint8_t> handshake = ppx::protocol::encode(ppx::protocol::Handshake{"fuzz"});
  h.peer->send(zmq::buffer(handshake), zmq::send_flags::none);
  if (!await_reply(*h.peer, std::chrono::seconds(10))) violated("no reply to the closing Handshake");
  zmq::message_t reply;
  if (!h.peer->recv(reply)) violated("receive failed");
  if (!std::holds_alternative<ppx::protocol::HandshakeResult>(
          ppx::protocol::decode({static_cast<const std::uint8_t*>(reply.data()), reply.size()}))) {
    violated("a Handshake was not answered with HandshakeResult");
  }
  return 0;
}
