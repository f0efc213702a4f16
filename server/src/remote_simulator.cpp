#include "ppx/server/remote_simulator.h"

#include <algorithm>
#include <optional>
#include <stdexcept>

#include "ppx/protocol/codec.h"
#include "zmq_context.h"

namespace ppx::server {

namespace proto = ppx::protocol;
using engines::SimulatorFailure;
using Clock = std::chrono::steady_clock;

void RemoteOptions::validate() const {
  if (handshake_timeout.count() <= 0 || reply_timeout.count() <= 0) {
    throw std::invalid_argument("simulator timeouts must be positive");
  }
}

struct RemoteSimulator::Impl {
  std::string endpoint;
  RemoteOptions options;
  std::optional<zmq::socket_t> socket;
  proto::Encoder encoder;
  proto::HandshakeResult handshake;
  bool whole_trace = false;

  // Connects and handshakes if not connected.
  void ensure_connected() {
    if (socket) return;
    socket.emplace(detail::zmq_context(), zmq::socket_type::req);
    socket->set(zmq::sockopt::linger, 0);
    socket->set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(options.max_message_bytes));
    socket->connect(endpoint);
    send(proto::Handshake{"ppxd " + std::string(PPX_VERSION), proto::kProtocolVersion,
                          {std::string(proto::kCapabilityRunTraces)}});
    proto::Message reply = receive(options.handshake_timeout, "HandshakeResult");
    auto* result = std::get_if<proto::HandshakeResult>(&reply);
    if (result == nullptr) fail("expected HandshakeResult, got " + std::string(proto::kind_name(reply)));
    handshake = std::move(*result);
    whole_trace = options.use_whole_trace &&
                  std::find(handshake.capabilities.begin(), handshake.capabilities.end(),
                            proto::kCapabilityRunTraces) != handshake.capabilities.end();
  }

  void send(const proto::Message& message) {
    const auto bytes = encoder.encode(message);
    if (!socket->send(zmq::buffer(bytes.data(), bytes.size()), zmq::send_flags::dontwait)) {
      fail("could not send " + std::string(proto::kind_name(message)));
    }
  }

  // Waits up to `timeout` for one reply; anything but a decodable message is a failure.
  proto::Message receive(std::chrono::milliseconds timeout, std::string_view expecting) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        fail("no " + std::string(expecting) + " within " + std::to_string(timeout.count()) + " ms");
      }
      zmq::pollitem_t item{socket->handle(), 0, ZMQ_POLLIN, 0};
      int ready = 0;
      try {
        ready = zmq::poll(&item, 1, std::min(left, std::chrono::milliseconds(50)));
      } catch (const zmq::error_t& e) {
        if (e.num() == EINTR) continue;
        fail(std::string("poll failed: ") + e.what());
      }
      if (ready == 0) {
        if (options.peer_alive && !options.peer_alive()) fail("the simulator process died");
        continue;
      }
      zmq::message_t raw;
      if (!socket->recv(raw, zmq::recv_flags::dontwait)) continue;
      try {
        proto::Message message = proto::decode({static_cast<const std::uint8_t*>(raw.data()), raw.size()},
                                               {.max_bytes = options.max_message_bytes});
        if (auto* reset = std::get_if<proto::Reset>(&message)) {
          fail("the simulator answered Reset" + (reset->reason.empty() ? "" : ": " + reset->reason));
        }
        return message;
      } catch (const proto::DecodeError& e) {
        fail(std::string("undecodable message from the simulator: ") + e.what());
      }
    }
  }

  // Drops the socket (Lazy Pirate: a REQ socket waiting on a dead peer is unusable) and throws.
  [[noreturn]] void fail(const std::string& why) {
    socket.reset();
    throw SimulatorFailure(endpoint + ": " + why);
  }

  Tensor run(Handler& handler) {
    ensure_connected();
    send(proto::Run{});
    try {
      while (true) {
        proto::Message message = receive(options.reply_timeout, "request");
        if (auto* sample = std::get_if<proto::Sample>(&message)) {
          Tensor value = handler.on_sample(
              SampleSite{sample->address, sample->name, sample->distribution, sample->control});
          send(proto::SampleResult{std::move(value)});
        } else if (auto* observe = std::get_if<proto::Observe>(&message)) {
          handler.on_observe(ObserveSite{observe->address, observe->name,
                                         observe->distribution ? &*observe->distribution : nullptr,
                                         observe->value ? &*observe->value : nullptr});
          send(proto::ObserveResult{});
        } else if (auto* tag = std::get_if<proto::Tag>(&message)) {
          handler.on_tag(TagSite{tag->address, tag->name, tag->value});
          send(proto::TagResult{});
        } else if (auto* result = std::get_if<proto::RunResult>(&message)) {
          return std::move(result->result);
        } else {
          fail("unexpected " + std::string(proto::kind_name(message)) + " during a trace");
        }
      }
    } catch (...) {
      socket.reset();  // failed mid-trace (here or in the handler): the REQ/REP lock-step is out of step
      throw;
    }
  }
};

RemoteSimulator::RemoteSimulator(std::string endpoint, RemoteOptions options)
    : impl_(std::make_unique<Impl>()) {
  options.validate();
  impl_->endpoint = std::move(endpoint);
  impl_->options = std::move(options);
}

RemoteSimulator::~RemoteSimulator() = default;

const std::string& RemoteSimulator::endpoint() const { return impl_->endpoint; }

std::string RemoteSimulator::model_name() {
  impl_->ensure_connected();
  return impl_->handshake.model_name;
}

Tensor RemoteSimulator::run(Handler& handler) { return impl_->run(handler); }

bool RemoteSimulator::supports_unsteered() {
  impl_->ensure_connected();
  return impl_->whole_trace;
}

std::vector<TraceRecord> RemoteSimulator::run_unsteered(const engines::UnsteeredRequest& request) {
  impl_->ensure_connected();
  if (!impl_->whole_trace) throw std::logic_error(impl_->endpoint + " does not offer whole-trace runs");
  impl_->send(proto::RunTraces{request.count, request.seed, request.fixed});
  // A batch of K traces legitimately takes longer than one reply: allow one reply timeout per 8.
  const auto timeout = impl_->options.reply_timeout * std::max<std::uint32_t>(1, (request.count + 7) / 8);
  proto::Message reply = impl_->receive(timeout, "RunTracesResult");
  auto* result = std::get_if<proto::RunTracesResult>(&reply);
  if (result == nullptr) impl_->fail("expected RunTracesResult, got " + std::string(proto::kind_name(reply)));
  return std::move(result->traces);
}

void RemoteSimulator::disconnect() { impl_->socket.reset(); }

}  // namespace ppx::server
