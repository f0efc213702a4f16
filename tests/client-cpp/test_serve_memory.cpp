// Issue 8: the shim's memory stays bounded under hostile traffic: 20,000 handshakes on one
// connection, connect/handshake/close storms, and runs abandoned mid-trace by engines that vanish.
// A real `gum --serve` process; its resident set (VmRSS) after the storms may exceed the one after
// a warm-up by at most 16 MB (ZeroMQ's per-peer buffers come and go; a leak of even 1 KB per
// handshake would add 20 MB).
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <zmq.hpp>

#include "child_process.h"
#include "ppx/protocol/codec.h"
#include "test_paths.h"

namespace proto = ppx::protocol;

namespace {

long rss_kb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

proto::Message request(zmq::socket_t& socket, const proto::Message& message) {
  const auto bytes = proto::encode(message);
  socket.send(zmq::buffer(bytes), zmq::send_flags::none);
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, std::chrono::seconds(20)) == 0) throw std::runtime_error("no reply");
  zmq::message_t reply;
  if (!socket.recv(reply)) throw std::runtime_error("receive failed");
  return proto::decode({static_cast<const std::uint8_t*>(reply.data()), reply.size()});
}

zmq::socket_t connect(zmq::context_t& context, const std::string& endpoint) {
  zmq::socket_t socket(context, zmq::socket_type::req);
  socket.set(zmq::sockopt::linger, 0);
  socket.connect(endpoint);
  return socket;
}

}  // namespace

TEST_CASE("the shim's RSS stays bounded under handshakes, connection storms and abandoned runs") {
  const std::string dir = std::filesystem::temp_directory_path() / ("ppx-rss-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string endpoint = "ipc://" + dir + "/gum";
  ppx::test::ChildProcess gum(ppx::test::program("gum") + " --serve " + endpoint, dir + "/log");
  zmq::context_t context(1);
  zmq::socket_t steady = connect(context, endpoint);
  const proto::Handshake handshake{"rss-test"};
  for (int i = 0; i < 1000; ++i) request(steady, handshake);  // warm-up: allocator pools, buffers
  const long before = rss_kb(gum.pid());
  REQUIRE(before > 0);

  for (int i = 0; i < 20000; ++i) REQUIRE(std::holds_alternative<proto::HandshakeResult>(request(steady, handshake)));
  for (int i = 0; i < 1000; ++i) {  // connect, handshake, close
    zmq::socket_t s = connect(context, endpoint);
    REQUIRE(std::holds_alternative<proto::HandshakeResult>(request(s, handshake)));
  }
  for (int i = 0; i < 1000; ++i) {  // an engine that starts a trace and vanishes
    zmq::socket_t s = connect(context, endpoint);
    REQUIRE(std::holds_alternative<proto::Sample>(request(s, proto::Run{})));
  }
  // Still serving, and a whole trace still works.
  REQUIRE(std::holds_alternative<proto::Sample>(request(steady, proto::Run{})));
  const long after = rss_kb(gum.pid());
  INFO("VmRSS before " << before << " kB, after " << after << " kB");
  CHECK(after - before < 16 * 1024);
  gum.signal(SIGTERM);
  CHECK(gum.wait(std::chrono::seconds(20)) == 0);
  std::filesystem::remove_all(dir);
}
