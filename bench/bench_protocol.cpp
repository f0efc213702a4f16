// bench_protocol (issue 2): what the PPX protocol layer costs, against baselines measured in the
// same run.
//   (a) codec: encode/decode of a scalar Sample and of a Sample carrying 20x35x35 tensors,
//       against copying the same bytes into a fresh buffer and out again;
//   (b) one round trip through the shim (ppx::Model::serve + an engine) against a raw ZeroMQ
//       REQ/REP echo of a payload the size of a scalar Sample, on ipc:// and tcp://127.0.0.1;
//   (c) random choices per second for a 100-choice trace: lock-step against whole-trace runs.
// Simulator and echo server run on threads of this process, each with its own ZeroMQ context.
#include <memory>

#include "bench_common.h"
#include "ppx/ppx.h"
#include "ppx/protocol/codec.h"
#include "ppx/server/remote_simulator.h"

namespace {

namespace proto = ppx::protocol;
using namespace ppx::bench;
using ppx::Tensor;

constexpr int kChoices = 100;  // random choices per trace in (b) and (c)

// The simulator for (b) and (c): kChoices scalar Normal draws at one call site.
Tensor hundred_choices() {
  double sum = 0.0;
  for (int i = 0; i < kChoices; ++i) sum += ppx::sample(ppx::Normal(0.0, 1.0), {.address = "x"}).item();
  return sum;
}

// A model served on a thread until destroyed.
class ServedModel {
 public:
  ServedModel(const ppx::Model& model, const std::string& endpoint)
      : model_(model), endpoint_(endpoint), thread_([this] { run(); }) {}
  ~ServedModel() {
    stop_.store(true);
    thread_.join();
  }
  ServedModel(const ServedModel&) = delete;
  ServedModel& operator=(const ServedModel&) = delete;

 private:
  void run() {
    const ppx::ServeResult result =
        model_.serve({.endpoint = endpoint_, .handle_signals = false, .stop = &stop_});
    if (!result.ok()) std::cerr << "serve " << endpoint_ << ": " << result.message << '\n';
  }
  const ppx::Model& model_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The engine's answer to every sample: a fixed value.
class FixedHandler final : public ppx::Handler {
 public:
  Tensor on_sample(const ppx::SampleSite&) override { return 0.5; }
  void on_observe(const ppx::ObserveSite&) override {}
  void on_tag(const ppx::TagSite&) override {}
};

// The thinnest possible engine: a REQ socket, the codec and blocking receives (no deadlines, no
// handler, no trace bookkeeping). Separates the shim's cost from RemoteSimulator's.
class HandDrivenEngine {
 public:
  explicit HandDrivenEngine(const std::string& endpoint) : socket_(context_, zmq::socket_type::req) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::rcvtimeo, 10'000);
    socket_.connect(endpoint);
  }
  // One lock-step trace; returns the round trips it took.
  int trace() {
    send(proto::Run{});
    for (int round_trips = 1;; ++round_trips) {
      zmq::message_t raw;
      if (!socket_.recv(raw, zmq::recv_flags::none)) throw std::runtime_error("simulator did not answer");
      const proto::Message message = proto::decode({static_cast<const std::uint8_t*>(raw.data()), raw.size()});
      if (std::holds_alternative<proto::Sample>(message)) {
        send(proto::SampleResult{0.5});
      } else if (std::holds_alternative<proto::RunResult>(message)) {
        return round_trips;
      } else {
        throw std::runtime_error("unexpected " + std::string(proto::kind_name(message)));
      }
    }
  }

 private:
  void send(const proto::Message& message) {
    const auto bytes = encoder_.encode(message);
    socket_.send(zmq::buffer(bytes.data(), bytes.size()), zmq::send_flags::none);
  }
  zmq::context_t context_{1};
  zmq::socket_t socket_;
  proto::Encoder encoder_;
};

proto::Sample scalar_sample() { return {"forward.cpp:12:forward", "mu", ppx::Normal(1.0, 2.236), true}; }

proto::Sample tensor_sample() {
  const std::vector<std::int32_t> shape{20, 35, 35};
  const std::size_t n = ppx::shape_numel(shape);
  std::vector<double> mean(n), stddev(n);
  for (std::size_t i = 0; i < n; ++i) {
    mean[i] = 0.001 * static_cast<double>(i);
    stddev[i] = 1.0 + 0.0001 * static_cast<double>(i);
  }
  return {"detector.cpp:88:calorimeter", "image", ppx::Normal(Tensor(mean, shape), Tensor(stddev, shape)), true};
}

// ----- (a) codec -----

struct CodecCase {
  std::string label;
  proto::Message message;
  std::vector<std::uint8_t> wire;
  Series copy, encode, decode, both;
};

// Returns the codec work of one lock-step round trip (Sample + SampleResult, encode+decode).
double bench_codec(const BenchOptions& options) {
  std::vector<std::unique_ptr<CodecCase>> cases;
  auto add_case = [&](std::string label, proto::Message message) {
    auto c = std::make_unique<CodecCase>();
    c->label = std::move(label);
    c->message = std::move(message);
    c->wire = proto::encode(c->message);
    cases.push_back(std::move(c));
  };
  add_case("Sample(Normal), scalar", scalar_sample());
  add_case("SampleResult, scalar", proto::SampleResult{0.5});
  add_case("Sample(Normal), 20x35x35", tensor_sample());

  proto::Encoder encoder;
  std::vector<Series*> series;
  for (auto& owned : cases) {
    CodecCase& c = *owned;
    const std::span<const std::uint8_t> bytes(c.wire);
    // Baseline: the bytes into a fresh buffer and out into another (what any owning codec must do).
    c.copy.run = loop([bytes] {
      std::vector<std::uint8_t> in(bytes.begin(), bytes.end());
      do_not_optimize(in.data());
      std::vector<std::uint8_t> out(in.begin(), in.end());
      do_not_optimize(out.data());
    });
    c.encode.run = loop([&encoder, &c] {
      const auto out = encoder.encode(c.message);
      do_not_optimize(out.data());
    });
    c.decode.run = loop([bytes] {
      const proto::Message m = proto::decode(bytes);
      do_not_optimize(m);
    });
    c.both.run = loop([&encoder, &c] {
      const proto::Message m = proto::decode(encoder.encode(c.message));
      do_not_optimize(m);
    });
    c.copy.label = c.label + ": copy";
    c.encode.label = c.label + ": encode";
    c.decode.label = c.label + ": decode";
    c.both.label = c.label + ": encode+decode";
    for (Series* x : {&c.copy, &c.encode, &c.decode, &c.both}) series.push_back(x);
  }
  run_rounds(series, options);

  Table table({"(a) codec", "bytes", "ns/op", "MB/s", "vs copy"});
  for (const auto& owned : cases) {
    const CodecCase& c = *owned;
    auto row = [&](const std::string& what, const Series& x, bool with_ratio) {
      const double t = x.seconds_per_op();
      table.add({c.label + ": " + what, std::to_string(c.wire.size()), fmt("%.0f", t * 1e9),
                 fmt("%.0f", static_cast<double>(c.wire.size()) / t / 1e6),
                 with_ratio ? ratio(paired_ratio(x, c.copy)) : ""});
    };
    row("copy in+out (baseline)", c.copy, true);
    row("encode", c.encode, false);
    row("decode", c.decode, false);
    row("encode+decode", c.both, true);
  }
  table.print();
  const double per_round_trip = cases[0]->both.seconds_per_op() + cases[1]->both.seconds_per_op();
  std::cout << "codec work per lock-step round trip (Sample + SampleResult, encode+decode): "
            << fmt("%.2f", per_round_trip * 1e6) << " us\n\n";
  return per_round_trip;
}

// ----- (b) round trips, (c) choices per second -----

constexpr double kRoundTripsPerTrace = kChoices + 1;  // Run->Sample, ..., SampleResult->RunResult

struct Transport {
  std::string name;
  std::string echo_endpoint, poll_echo_endpoint, shim_endpoint;
  std::unique_ptr<std::thread> echo_thread, poll_echo_thread;
  std::unique_ptr<EchoClient> echo, poll_echo;
  std::unique_ptr<ServedModel> served;
  std::unique_ptr<HandDrivenEngine> hand;
  std::unique_ptr<ppx::server::RemoteSimulator> remote;
  FixedHandler handler;
  Series raw, raw_poll, shim_hand, shim_remote;  // one op = one round trip (raw) or one trace (shim)
};

void bench_round_trips(const BenchOptions& options, double codec_per_round_trip) {
  const ppx::Model model("hundred_choices", hundred_choices);
  const std::size_t payload = proto::encode(scalar_sample()).size();

  const SocketDir sockets;
  std::vector<std::unique_ptr<Transport>> transports;
  transports.push_back(std::make_unique<Transport>());
  transports.push_back(std::make_unique<Transport>());
  Transport& ipc_transport = *transports[0];
  ipc_transport.name = "ipc";
  ipc_transport.echo_endpoint = sockets.endpoint("echo");
  ipc_transport.poll_echo_endpoint = sockets.endpoint("poll-echo");
  ipc_transport.shim_endpoint = sockets.endpoint("shim");
  Transport& tcp_transport = *transports[1];
  tcp_transport.name = "tcp";
  tcp_transport.echo_endpoint = free_tcp_endpoint();
  tcp_transport.poll_echo_endpoint = free_tcp_endpoint();
  tcp_transport.shim_endpoint = free_tcp_endpoint();
  if (tcp_transport.shim_endpoint == tcp_transport.echo_endpoint ||
      tcp_transport.shim_endpoint == tcp_transport.poll_echo_endpoint ||
      tcp_transport.echo_endpoint == tcp_transport.poll_echo_endpoint) {
    throw std::runtime_error("could not find three free tcp ports");
  }

  std::vector<Series*> series;
  for (auto& owned : transports) {
    Transport& t = *owned;
    t.echo_thread = std::make_unique<std::thread>(
        [endpoint = t.echo_endpoint] { serve_echo(endpoint, std::chrono::seconds(60), Wait::Blocking); });
    t.poll_echo_thread = std::make_unique<std::thread>(
        [endpoint = t.poll_echo_endpoint] { serve_echo(endpoint, std::chrono::seconds(60), Wait::Poll); });
    t.echo = std::make_unique<EchoClient>(t.echo_endpoint, payload, Wait::Blocking);
    t.poll_echo = std::make_unique<EchoClient>(t.poll_echo_endpoint, payload, Wait::Poll);
    t.served = std::make_unique<ServedModel>(model, t.shim_endpoint);
    t.hand = std::make_unique<HandDrivenEngine>(t.shim_endpoint);
    t.remote = std::make_unique<ppx::server::RemoteSimulator>(t.shim_endpoint, ppx::server::RemoteOptions{});
    t.raw.run = loop([&t] { t.echo->round_trip(); });
    t.raw_poll.run = loop([&t] { t.poll_echo->round_trip(); });
    t.shim_hand.run = loop([&t] { (void)t.hand->trace(); });
    t.shim_remote.run = loop([&t] { (void)t.remote->run(t.handler); });
    t.raw.label = t.name + ": raw echo (per round trip)";
    t.raw_poll.label = t.name + ": raw echo, poll (per round trip)";
    t.shim_hand.label = t.name + ": shim, hand-driven (per trace)";
    t.shim_remote.label = t.name + ": shim, RemoteSimulator (per trace)";
    for (Series* x : {&t.raw, &t.raw_poll, &t.shim_hand, &t.shim_remote}) series.push_back(x);
  }

  // (c) runs on ipc, the transport ppxd uses for the simulators it starts.
  ppx::server::RemoteSimulator& ipc = *ipc_transport.remote;
  if (!ipc.supports_unsteered()) throw std::runtime_error("the shim does not offer whole-trace runs");
  std::uint64_t seed = 0;
  Series lock_step, whole_1, whole_64;  // one op = one trace, or one request of K traces
  lock_step.run = loop([&] { (void)ipc.run(ipc_transport.handler); });
  whole_1.run = loop([&] { do_not_optimize(ipc.run_unsteered({.count = 1, .seed = ++seed}).size()); });
  whole_64.run = loop([&] { do_not_optimize(ipc.run_unsteered({.count = 64, .seed = ++seed}).size()); });
  lock_step.label = "lock-step (per trace)";
  whole_1.label = "whole-trace K=1 (per request)";
  whole_64.label = "whole-trace K=64 (per request)";
  for (Series* x : {&lock_step, &whole_1, &whole_64}) series.push_back(x);

  run_rounds(series, options);

  Table table({"(b) one round trip", "us/round trip", "vs raw", "target"});
  for (const auto& owned : transports) {
    const Transport& t = *owned;
    const double raw = t.raw.seconds_per_op();
    const double remote_ratio = paired_ratio(t.shim_remote, t.raw) / kRoundTripsPerTrace;
    table.add({t.name + ": raw ZeroMQ REQ/REP echo, " + std::to_string(payload) + " B (baseline)",
               fmt("%.2f", raw * 1e6), ratio(1.0), ""});
    table.add({t.name + ": raw echo, poll then recv on both sides (as the shim)",
               fmt("%.2f", t.raw_poll.seconds_per_op() * 1e6), ratio(paired_ratio(t.raw_poll, t.raw)), ""});
    table.add({t.name + ": shim, hand-driven REQ + codec engine",
               fmt("%.2f", t.shim_hand.seconds_per_op() / kRoundTripsPerTrace * 1e6),
               ratio(paired_ratio(t.shim_hand, t.raw) / kRoundTripsPerTrace), ""});
    table.add({t.name + ": shim, RemoteSimulator engine",
               fmt("%.2f", t.shim_remote.seconds_per_op() / kRoundTripsPerTrace * 1e6), ratio(remote_ratio),
               remote_ratio < 1.25 ? "< 1.25x met" : "< 1.25x MISSED"});
  }
  table.print();
  std::cout << "shim rows: a " << kChoices << "-choice lock-step trace divided by its " << kChoices + 1
            << " round trips; the codec's share of each is " << fmt("%.2f", codec_per_round_trip * 1e6)
            << " us (from (a))\n\n";

  Table choices({"(c) 100-choice trace over ipc", "choices/s", "us/trace", "vs lock-step"});
  auto row = [&](const std::string& what, const Series& x, double traces_per_op) {
    const double per_trace = x.seconds_per_op() / traces_per_op;
    choices.add({what, fmt("%.0f", kChoices / per_trace), fmt("%.1f", per_trace * 1e6),
                 ratio(traces_per_op / paired_ratio(x, lock_step))});
  };
  row("lock-step, RemoteSimulator::run (baseline)", lock_step, 1);
  row("whole-trace, run_unsteered K=1", whole_1, 1);
  row("whole-trace, run_unsteered K=64", whole_64, 64);
  choices.print();

  for (auto& owned : transports) {
    Transport& t = *owned;
    t.echo->quit();
    t.echo_thread->join();
    t.poll_echo->quit();
    t.poll_echo_thread->join();
    t.remote.reset();
    t.hand.reset();
    t.served.reset();
  }
}

}  // namespace

int main(int argc, char** argv) {
  return bench_main(argc, argv, "bench_protocol",
                    "bench_protocol: PPX codec cost, shim round trip vs raw ZeroMQ, lock-step vs whole-trace",
                    [](const BenchOptions& options) {
                      print_machine(options);
                      const double codec_per_round_trip = bench_codec(options);
                      bench_round_trips(options, codec_per_round_trip);
                      std::cout << "\nload at the end: " << load_average() << '\n';
                      return 0;
                    });
}
