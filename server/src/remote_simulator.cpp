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
  if (handshake_timeout.count() <= 0 || reply_timeout.count() <= 0 || max_batch_timeout.count() <= 0) {
    throw std::invalid_argument("simulator timeouts must be positive");
  }
  if (max_trace_time.count() < 0) throw std::invalid_argument("the per-trace time limit must not be negative");
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

  // A batch of K traces legitimately takes longer than one reply: allow one reply timeout per 8,
  // up to max_batch_timeout (a huge K must not mean waiting forever on a lost reply), and no more
  // than the per-trace time limit allows.
  std::chrono::milliseconds batch_timeout(std::uint32_t count) const {
    using Rep = std::chrono::milliseconds::rep;
    const auto per_eight = static_cast<Rep>((std::uint64_t{count} + 7) / 8);
    auto timeout = std::max(options.reply_timeout, std::min(options.reply_timeout * per_eight, options.max_batch_timeout));
    if (options.max_trace_time.count() > 0) timeout = std::min(timeout, options.max_trace_time * static_cast<Rep>(count));
    return timeout;
  }

  void send(const proto::Message& message) {
    const auto bytes = encoder.encode(message);
    try {
      if (!socket->send(zmq::buffer(bytes.data(), bytes.size()), zmq::send_flags::dontwait)) {
        fail("could not send " + std::string(proto::kind_name(message)));
      }
    } catch (const zmq::error_t& e) {
      fail("could not send " + std::string(proto::kind_name(message)) + ": " + e.what());
    }
  }

  // Waits up to `timeout` for one reply; anything but a decodable message is a failure.
  // `on_timeout`, if given, is the failure reported when the deadline passes.
  proto::Message receive(std::chrono::milliseconds timeout, std::string_view expecting,
                         std::string_view on_timeout = {}) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        if (!on_timeout.empty()) fail(std::string(on_timeout));
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
      if (options.interrupted && options.interrupted()) {
        socket.reset();  // the reply may still come: this REQ socket is out of step
        throw engines::Interrupted(endpoint + ": interrupted while waiting for " + std::string(expecting));
      }
      if (ready == 0) {
        if (options.peer_alive && !options.peer_alive()) fail("the simulator process died");
        continue;
      }
      zmq::message_t raw;
      try {
        if (!socket->recv(raw, zmq::recv_flags::dontwait)) continue;
        if (raw.more()) fail("sent a multipart message; PPX messages are single-part");
      } catch (const zmq::error_t& e) {
        fail(std::string("receive failed: ") + e.what());
      }
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
      return run_requests(handler);
    } catch (const SimulatorFailure& e) {
      socket.reset();  // failed mid-trace (here or in the handler): the REQ/REP lock-step is out of step
      const std::string what = e.what();
      if (what.rfind(endpoint + ": ", 0) == 0) throw;
      throw SimulatorFailure(endpoint + ": " + what);  // the handler found the simulator's message at fault
    } catch (...) {
      socket.reset();
      throw;
    }
  }

  // Answers the simulator's requests of one lock-step trace until its RunResult.
  Tensor run_requests(Handler& handler) {
    const auto trace_deadline = Clock::now() + options.max_trace_time;
    for (std::uint64_t entries = 0;; ++entries) {
      if (options.max_trace_entries > 0 && entries > options.max_trace_entries) {
        fail("the trace exceeded the limit of " + std::to_string(options.max_trace_entries) + " entries");
      }
      auto wait = options.reply_timeout;
      std::string over_time;
      if (options.max_trace_time.count() > 0) {
        over_time = "the trace exceeded the limit of " + std::to_string(options.max_trace_time.count()) + " ms";
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(trace_deadline - Clock::now());
        if (left.count() <= 0) fail(over_time);
        if (left >= wait) over_time.clear();  // the reply deadline comes first
        wait = std::min(wait, left);
      }
      proto::Message message = receive(wait, "request", over_time);
      if (auto* sample = std::get_if<proto::Sample>(&message)) {
        Tensor value = handler.on_sample(
            SampleSite{sample->address, sample->name, sample->distribution, sample->control});
        message = proto::Run{};  // frees the request's tensors before the reply is encoded
        send(proto::SampleResult{std::move(value)});
      } else if (auto* observe = std::get_if<proto::Observe>(&message)) {
        handler.on_observe(ObserveSite{observe->address, observe->name,
                                       observe->distribution ? &*observe->distribution : nullptr,
                                       observe->value ? &*observe->value : nullptr});
        message = proto::Run{};
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
  // The simulator sends the leading traces that fit our message limit; ask again for the rest from
  // where it stopped (stream `first`), so the traces are those of one unsplit reply. Every reply
  // brings at least one trace, so this loop ends.
  std::vector<TraceRecord> traces;
  while (traces.size() < request.count) {
    const auto count = static_cast<std::uint32_t>(request.count - traces.size());
    impl_->send(proto::RunTraces{count, request.seed, request.fixed, traces.size(), impl_->options.max_message_bytes});
    const auto timeout = impl_->batch_timeout(count);
    const auto trace_limit = impl_->options.max_trace_time;
    const std::string over_time =
        trace_limit.count() > 0 && timeout == trace_limit * static_cast<std::chrono::milliseconds::rep>(count)
            ? "the batch of " + std::to_string(count) + " traces exceeded the limit of " +
                  std::to_string(trace_limit.count()) + " ms per trace"
            : std::string();
    proto::Message reply = impl_->receive(timeout, "RunTracesResult", over_time);
    auto* result = std::get_if<proto::RunTracesResult>(&reply);
    if (result == nullptr) impl_->fail("expected RunTracesResult, got " + std::string(proto::kind_name(reply)));
    if (result->traces.empty() || result->traces.size() > count) {
      impl_->fail("RunTracesResult holds " + std::to_string(result->traces.size()) + " traces, asked for " +
                  std::to_string(count));
    }
    if (impl_->options.max_trace_entries > 0) {
      for (const TraceRecord& record : result->traces) {
        if (record.sites.size() > impl_->options.max_trace_entries) {
          impl_->fail("a trace exceeded the limit of " + std::to_string(impl_->options.max_trace_entries) + " entries");
        }
      }
    }
    if (traces.empty()) {
      traces = std::move(result->traces);
    } else {
      traces.insert(traces.end(), std::make_move_iterator(result->traces.begin()),
                    std::make_move_iterator(result->traces.end()));
    }
  }
  return traces;
}

void RemoteSimulator::disconnect() { impl_->socket.reset(); }

}  // namespace ppx::server
