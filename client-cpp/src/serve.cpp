// The simulator side of PPX: a REP socket answering Handshake, Run (lock-step, PPX 1.0) and
// RunTraces (whole-trace extension). Request-in-reply: the engine's Run is answered with the
// first Sample, whose SampleResult is answered with the next request, ..., until RunResult.
#include <algorithm>
#include <atomic>
#include <csignal>
#include <exception>
#include <string>
#include <zmq.hpp>

#include "ppx/ppx.h"
#include "ppx/protocol/codec.h"

namespace ppx {
namespace {

namespace proto = ppx::protocol;
using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kPollTick{100};  // how often stop flags are checked

std::atomic<bool> g_signalled{false};
extern "C" void on_stop_signal(int) { g_signalled.store(true); }

// Installs SIGINT/SIGTERM handlers for the duration of serve(), restoring the host's after.
class SignalGuard {
 public:
  explicit SignalGuard(bool enabled) : enabled_(enabled) {
    if (!enabled_) return;
    g_signalled.store(false);
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
  }
  ~SignalGuard() {
    if (!enabled_) return;
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;

 private:
  bool enabled_;
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

// Thrown through the model's forward() to abandon a trace the engine no longer drives.
struct TraceAborted {
  std::string reason;
};

enum class Wait { Message, Stopped, Timeout };

class Server {
 public:
  Server(const Model& model, const ServeOptions& options)
      : model_(model), options_(options), socket_(context_, zmq::socket_type::rep) {}

  ServeResult serve() {
    try {
      socket_.set(zmq::sockopt::linger, 0);
      socket_.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(options_.max_message_bytes));
      socket_.bind(options_.endpoint);
    } catch (const zmq::error_t& e) {
      return error("cannot serve on " + options_.endpoint + ": " + e.what());
    }
    log(LogLevel::Info, "serving model '" + model_.name() + "' on " + options_.endpoint);
    try {
      while (true) {
        const Wait wait = receive(/*in_trace=*/false);
        if (wait == Wait::Stopped) break;
        if (wait == Wait::Timeout) {
          result_.status = ServeResult::Status::Timeout;
          result_.message = "no request within the receive timeout";
          break;
        }
        do {
          redispatch_ = false;
          dispatch_top_level();
        } while (redispatch_);  // a trace was abandoned because the engine started afresh
      }
    } catch (const zmq::error_t& e) {
      return error(std::string("socket error: ") + e.what());
    }
    log(LogLevel::Info, "stopped after " + std::to_string(result_.traces) + " traces");
    return result_;
  }

 private:
  // Lock-step transport: each site is sent as the reply to the engine's last request, and the
  // next request must be its result.
  class Transport final : public Handler {
   public:
    explicit Transport(Server& server) : server_(server) {}
    Tensor on_sample(const SampleSite& site) override {
      server_.send(proto::Sample{std::string(site.address), std::string(site.name), site.distribution, site.control});
      return std::get<proto::SampleResult>(server_.await_reply<proto::SampleResult>()).result;
    }
    void on_observe(const ObserveSite& site) override {
      proto::Observe message{std::string(site.address), std::string(site.name), std::nullopt, std::nullopt};
      if (site.likelihood != nullptr) message.distribution = *site.likelihood;
      if (site.value != nullptr) message.value = *site.value;
      server_.send(message);
      server_.await_reply<proto::ObserveResult>();
    }
    void on_tag(const TagSite& site) override {
      server_.send(proto::Tag{std::string(site.address), std::string(site.name), site.value});
      server_.await_reply<proto::TagResult>();
    }

   private:
    Server& server_;
  };

  void dispatch_top_level() {
    std::visit(
        [this](auto& message) {
          using T = std::decay_t<decltype(message)>;
          if constexpr (std::is_same_v<T, proto::Handshake>) {
            log(LogLevel::Info, "handshake from '" + message.system_name + "'");
            send(proto::HandshakeResult{std::string(version_string()), model_.name(), proto::kProtocolVersion,
                                        {std::string(proto::kCapabilityRunTraces)}});
          } else if constexpr (std::is_same_v<T, proto::Run>) {
            run_lock_step();
          } else if constexpr (std::is_same_v<T, proto::RunTraces>) {
            run_whole_traces(message);
          } else {
            reset("unexpected " + std::string(proto::kind_name(request_)) + " outside a trace");
          }
        },
        request_);
  }

  void run_lock_step() {
    Transport transport(*this);
    try {
      Tensor result = model_.run(transport);
      send(proto::RunResult{std::move(result)});
      ++result_.traces;
    } catch (const TraceAborted& aborted) {
      // The offending request (if any) has been answered with Reset already.
      log(LogLevel::Warning, "trace abandoned: " + aborted.reason);
    } catch (const std::exception& e) {
      reset(std::string("the model threw: ") + e.what());
    } catch (...) {
      reset("the model threw a non-standard exception");
    }
  }

  // The reply holds only the leading traces that fit the byte limit (the engine's, if smaller than
  // ours; ZeroMQ drops an oversized message silently) and the engine asks for the rest; a single
  // trace over the limit, or a stop request, is answered with Reset. So a peer's count (up to
  // 2^32 - 1) bounds neither memory nor time.
  void run_whole_traces(const proto::RunTraces& request) {
    proto::RunTracesResult reply;
    const std::uint64_t limit = request.max_reply_bytes == 0
                                    ? options_.max_message_bytes
                                    : std::min(request.max_reply_bytes, options_.max_message_bytes);
    std::uint64_t reply_bytes = 0;
    try {
      reply.traces.reserve(std::min<std::uint32_t>(request.count, 1024));  // count comes from the peer
      // One handler for the batch: the fixed values (possibly whole observations) are copied once.
      LocalHandler local({.seed = request.seed, .record = true});
      local.set_fixed_values(request.fixed);
      for (std::uint32_t i = 0; i < request.count; ++i) {
        if (stop_requested()) {
          reset("stopping in the middle of a RunTraces batch");
          return;
        }
        local.reseed(request.seed, request.first + i);
        TraceRecord record;
        record.result = model_.run(local);
        record.sites = local.take_record().sites;
        reply_bytes += encoded_size_bound(record);
        if (reply_bytes > limit) {
          if (i > 0) break;  // the engine asks again from trace first + i
          reset("one trace of RunTraces would exceed the " + std::to_string(limit) + "-byte message limit");
          return;
        }
        reply.traces.push_back(std::move(record));
      }
    } catch (const std::exception& e) {
      reset(std::string("the model threw: ") + e.what());
      return;
    } catch (...) {
      reset("the model threw a non-standard exception");
      return;
    }
    result_.traces += reply.traces.size();
    send(proto::Message(std::move(reply)));  // a converted temporary would copy every trace
  }

  // An upper bound of a record's share of an encoded RunTracesResult: payload bytes plus a
  // generous allowance for FlatBuffers tables, vtables, offsets and alignment.
  static std::uint64_t encoded_size_bound(const TraceRecord& record) {
    constexpr std::uint64_t kTableOverhead = 128;
    auto tensor_bytes = [](const Tensor& t) { return kTableOverhead + 8 * t.numel() + 4 * t.dim(); };
    std::uint64_t bytes = kTableOverhead + tensor_bytes(record.result);
    for (const SiteRecord& site : record.sites) {
      bytes += kTableOverhead + site.address.size() + site.name.size();
      if (site.value) bytes += tensor_bytes(*site.value);
      if (site.distribution) {
        for (const Tensor& p : site.distribution->parameters()) bytes += tensor_bytes(p);
      }
    }
    return bytes;
  }

  // Waits for the next request of kind T inside a trace; anything else abandons the trace.
  template <typename T>
  proto::Message& await_reply() {
    const Wait wait = receive(/*in_trace=*/true);
    if (wait == Wait::Stopped) throw TraceAborted{"stopping"};
    if (wait == Wait::Timeout) throw TraceAborted{"no reply from the engine within the receive timeout"};
    if (!std::holds_alternative<T>(request_) &&
        (std::holds_alternative<proto::Handshake>(request_) || std::holds_alternative<proto::Run>(request_) ||
         std::holds_alternative<proto::RunTraces>(request_))) {
      // The engine gave up on this trace (timeout, restart) and starts afresh: abandon the trace
      // and answer the new request normally rather than with Reset.
      redispatch_ = true;
      throw TraceAborted{"the engine sent " + std::string(proto::kind_name(request_)) + " mid-trace"};
    }
    if (!std::holds_alternative<T>(request_)) {
      const std::string reason = "expected " + std::string(proto::kind_name(proto::Message{T{}})) + ", got " +
                                 std::string(proto::kind_name(request_));
      reset(reason);
      throw TraceAborted{reason};
    }
    return request_;
  }

  // Receives and decodes one request into request_. Undecodable requests are answered with Reset
  // here and waited past, so callers only see valid messages.
  Wait receive(bool in_trace) {
    const auto deadline = Clock::now() + options_.receive_timeout;
    while (true) {
      if (stop_requested()) return Wait::Stopped;
      if (options_.receive_timeout.count() > 0 && Clock::now() >= deadline) return Wait::Timeout;
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      int ready = 0;
      try {
        ready = zmq::poll(&item, 1, kPollTick);
      } catch (const zmq::error_t& e) {
        if (e.num() == EINTR) continue;
        throw;
      }
      if (ready == 0) continue;
      zmq::message_t raw;
      try {
        if (!socket_.recv(raw, zmq::recv_flags::dontwait)) continue;
      } catch (const zmq::error_t& e) {
        if (e.num() == EINTR) continue;
        throw;
      }
      if (raw.more()) {
        // PPX requests are single-part. A REP socket must take every part before it may answer.
        std::size_t parts = 1;
        for (zmq::message_t rest; raw.more(); ++parts) {
          if (!socket_.recv(rest, zmq::recv_flags::dontwait)) break;  // parts arrive together
          raw.swap(rest);
        }
        reset("multipart request (" + std::to_string(parts) + " parts); PPX messages are single-part");
        if (in_trace) throw TraceAborted{"multipart request"};
        continue;
      }
      try {
        request_ = proto::decode({static_cast<const std::uint8_t*>(raw.data()), raw.size()});
        return Wait::Message;
      } catch (const proto::DecodeError& e) {
        reset(std::string("undecodable request: ") + e.what());
        if (in_trace) throw TraceAborted{"undecodable request"};
      }
    }
  }

  // A signal the host uses for its own ends (SIGCHLD, SIGALRM, a profiler's) may interrupt the
  // send: nothing was queued then, so it is retried.
  void send(const proto::Message& message) {
    const auto bytes = encoder_.encode(message);
    while (true) {
      try {
        socket_.send(zmq::buffer(bytes.data(), bytes.size()), zmq::send_flags::none);
        return;
      } catch (const zmq::error_t& e) {
        if (e.num() != EINTR) throw;
      }
    }
  }

  void reset(const std::string& reason) {
    ++result_.protocol_errors;
    log(LogLevel::Warning, "answering Reset: " + reason);
    send(proto::Reset{reason});
  }

  bool stop_requested() const {
    return (options_.handle_signals && g_signalled.load()) || (options_.stop != nullptr && options_.stop->load());
  }

  void log(LogLevel level, const std::string& line) const {
    if (!options_.log) return;
    try {
      options_.log(level, line);
    } catch (...) {  // a failing log sink never hurts the host
    }
  }

  ServeResult error(std::string message) {
    result_.status = ServeResult::Status::Error;
    result_.message = std::move(message);
    log(LogLevel::Error, result_.message);
    return result_;
  }

  const Model& model_;
  const ServeOptions& options_;
  zmq::context_t context_{1};
  zmq::socket_t socket_;
  proto::Encoder encoder_;
  proto::Message request_;
  bool redispatch_ = false;  // request_ is a new session/trace request that abandoned a trace
  ServeResult result_;
};

}  // namespace

Model::Model(std::string name, ModelFunction forward) : name_(std::move(name)), forward_(std::move(forward)) {}

Tensor Model::run(Handler& handler) const {
  ScopedHandler scope(handler);
  return forward_();
}

Tensor Model::run_local(std::optional<std::uint64_t> seed) const {
  LocalHandler local({.seed = seed.value_or(seed_from_environment())});
  return run(local);
}

ServeResult Model::serve(const ServeOptions& options) const {
  SignalGuard signals(options.handle_signals);
  try {
    Server server(*this, options);
    return server.serve();
  } catch (const std::exception& e) {
    ServeResult result;
    result.status = ServeResult::Status::Error;
    result.message = e.what();
    return result;
  } catch (...) {
    ServeResult result;
    result.status = ServeResult::Status::Error;
    result.message = "unknown exception";
    return result;
  }
}

}  // namespace ppx
