// bench_tau (issue 4): what one tau-decay forward run costs, and what PPX adds to it.
// For each observation mode (full [20,35,35], coarse [4,7,7]):
//  (a) per forward run, in-process: the run split into kinematics + detector latents, the
//      detector mean, the observe distributions; the full run under a LocalHandler (the
//      simulator's own cost, the baseline, next to the 2 ms design target) and the program itself
//      (`tau_decay --runs`); the run as a whole-trace simulator does it (recording); importance
//      sampling in-process (TraceRecorder + scoring of a generated event); and the other pieces
//      of a remote trace (scoring, codec);
//  (b) importance-sampling traces/s through PPX with 1 and 2 tau_decay processes, lock-step and
//      whole-trace (K=64, and K=4), next to in-process IS and the raw ZeroMQ rates, all measured
//      in the same run, and the PPX overhead per trace = 1/remote rate - the simulator's own cost.
// The simulators are build/bin/tau_decay, found next to this program.
#include <memory>
#include <span>

#include "bench_common.h"
#include "bench_models.h"
#include "ppx/engines/importance_sampling.h"
#include "ppx/ppx.h"
#include "ppx/protocol/codec.h"
#include "ppx/server/process.h"
#include "ppx/tau_decay/detector.h"
#include "ppx/tau_decay/model.h"

namespace {

namespace fs = std::filesystem;
namespace td = ppx::tau_decay;
using namespace ppx::bench;
using ppx::Tensor;
using ppx::engines::Simulator;

constexpr std::uint64_t kEventSeed = 23;            // the README's example event (tau -> e nu nu)
const std::string kModelFlags = " --noise-scale 8";  // as the README's example; costs do not depend on it
constexpr std::uint64_t kPoolSeed = 1'000'000;      // their seeds: kPoolSeed + i
constexpr std::uint32_t kBatch = 64;                // whole-trace batch (the engine's default)

// Thrown by StopHandler to end a run early.
struct StopRun {};

// Draws every sample from its prior exactly as LocalHandler does (same generator stream, so the
// same seed gives the same event) and stops the run by throwing at its first sample or first tag.
class StopHandler final : public ppx::Handler {
 public:
  enum class At { FirstSample, FirstTag };
  StopHandler(At at, std::uint64_t seed) : at_(at), rng_(ppx::make_rng(seed, 0)) {}
  Tensor on_sample(const ppx::SampleSite& site) override {
    if (at_ == At::FirstSample) throw StopRun{};
    return site.distribution.sample(rng_);
  }
  void on_observe(const ppx::ObserveSite&) override {}
  void on_tag(const ppx::TagSite&) override { throw StopRun{}; }

 private:
  At at_;
  ppx::Rng rng_;
};

// What simulate() does after the detector mean and the tags: pool (coarse), stddev, and the
// calorimeter's Normal (checked against the model's own observe at start-up).
ppx::Distribution calorimeter_likelihood(const td::Options& options, std::vector<double> image) {
  std::vector<std::int32_t> shape{td::calo::kLayers, td::calo::kCells, td::calo::kCells};
  double pooled = 1.0;
  if (options.obs_mode == td::ObsMode::Coarse) {
    image = td::sum_pool(image);
    shape = {td::calo::kCoarseLayers, td::calo::kCoarseCells, td::calo::kCoarseCells};
    pooled = double(td::calo::kVoxels) / double(td::calo::kCoarseVoxels);
  }
  std::vector<double> stddev =
      td::likelihood_stddev(image, options.noise_scale, pooled, td::calo::kStochastic * td::calo::kStochastic);
  return ppx::Normal(Tensor(std::move(image), shape), Tensor(std::move(stddev), shape));
}

// A Series::run whose ops each have an untimed preparation: only `timed(prepared)` is measured.
template <typename Prepare, typename Timed>
std::function<double(std::uint64_t)> loop_timed_part(Prepare prepare, Timed timed) {
  return [prepare, timed](std::uint64_t n) mutable {
    double seconds = 0.0;
    for (std::uint64_t i = 0; i < n; ++i) {
      auto prepared = prepare();
      const auto start = Clock::now();
      timed(prepared);
      seconds += seconds_since(start);
    }
    return seconds;
  };
}

// Median over rounds of sum_i sign_i * per_op_i (a paired difference of times, seconds).
double paired_sum(const std::vector<std::pair<double, const Series*>>& terms) {
  std::vector<double> values;
  const std::size_t rounds = terms.front().second->per_op.size();
  for (std::size_t r = 0; r < rounds; ++r) {
    double v = 0.0;
    for (const auto& [sign, s] : terms) v += sign * s->per_op.at(r);
    values.push_back(v);
  }
  return median(values);
}

// Rate ratio rate(a)/rate(b), paired by round.
double speedup(const Series& a, const Series& b) { return 1.0 / paired_ratio(a, b); }

std::string us(double seconds) { return fmt(seconds * 1e6 >= 100 ? "%.0f" : "%.1f", seconds * 1e6); }

struct Mode {
  std::string name;                  // full, coarse
  std::string shape;                 // "[20,35,35]"
  td::Options options;
  std::string flags;                 // the same options as program flags
  ppx::engines::Observations observations;
  std::vector<td::Event> events;     // prior events (seeds kPoolSeed + i) the split rows cycle through
  double calls_per_trace = 0.0;      // handler calls per prior trace (samples, tags, observes)
  std::size_t observe_bytes = 0;     // the calorimeter's Observe message
};

Mode make_mode(const std::string& name, td::ObsMode obs_mode, const std::string& tau_decay, const SocketDir& dir,
               std::size_t pool_events) {
  Mode m;
  m.name = name;
  m.options.obs_mode = obs_mode;
  m.options.noise_scale = 8.0;
  m.shape = obs_mode == td::ObsMode::Full ? "[20,35,35]" : "[4,7,7]";
  m.flags = " --obs-mode " + name + kModelFlags;
  m.observations = generate_tau_event(tau_decay, dir.path() / ("event-" + name), kEventSeed, m.flags);

  // The pool of prior events, and a check that calorimeter_likelihood() is what the model observes.
  std::size_t calls = 0;
  for (std::size_t i = 0; i < pool_events; ++i) {
    ppx::LocalHandler handler({.seed = kPoolSeed + i, .record = true});
    td::Event event;
    {
      ppx::ScopedHandler scope(handler);
      td::simulate(m.options, &event);
    }
    const ppx::TraceRecord record = handler.take_record();
    calls += record.sites.size();
    if (i == 0) {
      const ppx::Distribution mine = calorimeter_likelihood(m.options, td::mean_deposits(event));
      bool same = false;
      for (const ppx::SiteRecord& site : record.sites) {
        if (site.name == "calorimeter" && site.distribution) same = *site.distribution == mine;
      }
      if (!same) throw std::runtime_error("calorimeter_likelihood() differs from the model's observe");
      m.observe_bytes = ppx::protocol::encode(ppx::protocol::Observe{"calorimeter", "calorimeter", mine, std::nullopt}).size();
    }
    m.events.push_back(std::move(event));
  }
  m.calls_per_trace = static_cast<double>(calls) / static_cast<double>(pool_events);
  return m;
}

int bench(const BenchOptions& options) {
  use_program_allocator_settings();
  const std::string tau_decay = simulator_program("tau_decay", "bench_tau");
  print_machine(options);
  const SocketDir dir;
  std::vector<Mode> modes;
  const std::size_t pool_events = options.quick ? 64 : 1024;
  modes.push_back(make_mode("full", td::ObsMode::Full, tau_decay, dir, pool_events));
  modes.push_back(make_mode("coarse", td::ObsMode::Coarse, tau_decay, dir, pool_events));
  warm_up_tau_in_process(modes.back().options, options.quick ? 0 : 16384);

  // Raw ZeroMQ baselines in a separate process each (this program with --echo-server): a small
  // round trip (gum's Sample message size), and each mode's Observe message with an 8-byte reply.
  ppx::server::ProcessLauncher launcher;
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  std::vector<std::unique_ptr<ppx::server::Process>> echo_processes;
  auto echo_client = [&](const std::string& name, std::size_t request, std::size_t reply) {
    const std::string endpoint = dir.endpoint(name);
    echo_processes.push_back(launcher.spawn(self + " --echo-server " + endpoint + " --echo-reply-bytes " +
                                            std::to_string(reply)));
    auto client = std::make_unique<EchoClient>(endpoint, request, Wait::Blocking, reply == 0 ? request : reply);
    client->round_trip();  // waits for the child to bind
    return client;
  };
  constexpr std::size_t kSmall = 152;
  auto echo_small = echo_client("echo-small", kSmall, 0);

  std::uint64_t seed = 0;
  for (Mode& m : modes) {
    auto echo_big = echo_client("echo-" + m.name, m.observe_bytes, 8);
    const std::string command = tau_decay + m.flags + " --serve {endpoint}";
    // One pool serves both ways: importance_sampling runs lock-step when told not to use
    // whole-trace runs, whatever the simulators offer.
    ppx::server::SimulatorPool pool(pool_options(command, 2, /*use_whole_trace=*/true));
    const std::vector<Simulator*> sims = pool.simulators();
    warm_up_simulators(sims, m.observations, options.quick ? 256 : 8192);
    const td::Options model_options = m.options;
    ppx::engines::InProcessSimulator in_process("tau_decay", [model_options] { return td::simulate(model_options); });
    Simulator* const in_process_sims[] = {&in_process};
    const Tensor& observed = m.observations.at("calorimeter");
    const std::vector<std::pair<std::string, Tensor>> fixed(m.observations.begin(), m.observations.end());

    std::size_t next_event = 0;  // the split rows cycle through the pool
    auto pool_index = [&next_event, &m] { return next_event++ % m.events.size(); };
    std::uint64_t run_seed = 1;  // the whole-run rows draw fresh prior events
    td::Event scratch;

    // (a) per forward run
    // A forward run cut short by a handler that throws at the given point.
    auto run_until = [&](StopHandler::At at, auto stop_seed) {
      return loop([&, at, stop_seed] {
        StopHandler handler(at, stop_seed());
        ppx::ScopedHandler scope(handler);
        try {
          td::simulate(m.options, &scratch);
        } catch (const StopRun&) {
        }
      });
    };
    Series stop_first;
    stop_first.label = "(1) run stopped by a throw at its first sample (stop cost)";
    stop_first.run = run_until(StopHandler::At::FirstSample, [] { return std::uint64_t{0}; });
    Series stop_tag;
    stop_tag.label = "(2) kinematics + latents + detector mean (stopped at the first tag)";
    stop_tag.run = run_until(StopHandler::At::FirstTag, [&] { return kPoolSeed + pool_index(); });
    Series mean;
    mean.label = "(3) detector mean alone (mean_deposits)";
    mean.run = loop([&] {
      const std::vector<double> grid = td::mean_deposits(m.events[pool_index()]);
      do_not_optimize(grid.data());
    });
    Series construct;
    construct.label = std::string("(4) ") + (m.options.obs_mode == td::ObsMode::Coarse ? "sum_pool + " : "") +
                      "stddev + Normal(mean, stddev) alone";
    construct.run = loop_timed_part([&] { return td::mean_deposits(m.events[pool_index()]); },
                                    [&](std::vector<double>& image) {
                                      const ppx::Distribution d = calorimeter_likelihood(m.options, std::move(image));
                                      do_not_optimize(d);
                                    });
    Series own;
    own.label = "(5) full run, LocalHandler (no record): the simulator's own cost";
    own.run = loop([&] {
      ppx::LocalHandler handler({.seed = run_seed++});
      ppx::ScopedHandler scope(handler);
      do_not_optimize(td::simulate(m.options));
    });
    // The program itself, as `tau_decay --runs N` runs it standalone (a LocalHandler per run): the
    // time of 2n runs minus that of n runs (same first seed), so process start-up and most of the
    // channels' one-off bound computations cancel (a channel first met among the last n runs still
    // pays its bound, 3-12 ms, in this row: it reads high when n is small).
    Series program;
    program.label = "standalone program: tau_decay --runs, per run (2n runs - n runs)";
    program.min_ops = 256;
    std::uint64_t program_call = 0;
    program.run = [&](std::uint64_t n) {
      const std::string base = tau_decay + m.flags + " --seed " + std::to_string(5'000'000 * ++program_call) + " --runs ";
      auto timed = [](const std::string& line) {
        const auto start = Clock::now();
        if (std::system(line.c_str()) != 0) throw std::runtime_error("failed: " + line);
        return seconds_since(start);
      };
      const double once = timed(base + std::to_string(n) + " > /dev/null");
      const double twice = timed(base + std::to_string(2 * n) + " > /dev/null");
      return std::max(twice - once, 1e-9);
    };
    Series recorded;
    recorded.label = "full run as a whole-trace simulator does it (record, fixed values)";
    ppx::LocalHandler batch_handler({.seed = run_seed, .record = true});
    batch_handler.set_fixed_values(fixed);  // once per batch, as serve.cpp does
    recorded.run = loop([&] {
      ppx::LocalHandler& handler = batch_handler;
      handler.reseed(run_seed, run_seed);
      ++run_seed;
      ppx::TraceRecord record;
      {
        ppx::ScopedHandler scope(handler);
        record.result = td::simulate(m.options);
      }
      record.sites = handler.take_record().sites;
      do_not_optimize(record);
    });
    Series is_local;
    is_local.label = "IS in-process: run + TraceRecorder + scoring (importance_sampling)";
    is_local.min_ops = 64;
    is_local.run = [&](std::uint64_t n) {
      const auto start = Clock::now();
      check_count(ppx::engines::importance_sampling(in_process_sims, m.observations,
                                                    {.traces = n, .seed = ++seed, .whole_trace = false}),
                  n, "in-process IS");
      return seconds_since(start);
    };
    // Rows whose input is expensive to make and not consumed cycle through a few inputs made
    // beforehand (each a different prior event).
    constexpr std::size_t kPrepared = 16;
    std::vector<ppx::Distribution> likelihoods;
    std::vector<ppx::protocol::Message> replies;
    for (std::size_t i = 0; i < kPrepared; ++i) {
      likelihoods.push_back(calorimeter_likelihood(m.options, td::mean_deposits(m.events[i % m.events.size()])));
      ppx::LocalHandler handler({.seed = kPoolSeed + i, .record = true});
      handler.set_fixed_values(fixed);
      ppx::TraceRecord record;
      {
        ppx::ScopedHandler scope(handler);
        record.result = td::simulate(m.options);
      }
      record.sites = handler.take_record().sites;
      ppx::protocol::RunTracesResult reply;
      reply.traces.push_back(std::move(record));
      replies.emplace_back(std::move(reply));
    }
    std::size_t next_prepared = 0;
    Series score;
    score.label = "scoring alone: calorimeter log_prob of the observed event";
    score.run = loop([&] { do_not_optimize(likelihoods[next_prepared++ % kPrepared].log_prob(observed)); });
    ppx::protocol::Encoder encoder;
    const ppx::protocol::Message observe_message =
        ppx::protocol::Observe{"calorimeter", "calorimeter", likelihoods.front(), std::nullopt};
    Series codec;
    codec.label = "calorimeter Observe message (" + std::to_string(m.observe_bytes / 1000) + " KB): encode + decode";
    codec.run = loop([&] {
      const auto bytes = encoder.encode(observe_message);
      const ppx::protocol::Message decoded = ppx::protocol::decode(bytes);
      do_not_optimize(decoded);
    });
    // One recorded trace as a whole-trace reply: the codec work per trace of a whole-trace run
    // (encode in the simulator, decode in the engine; the engine then scores it as in-process IS
    // scores a trace).
    Series whole_codec;
    whole_codec.label = "whole-trace reply, per trace: encode + decode";
    whole_codec.run = loop([&] {
      const auto bytes = encoder.encode(replies[next_prepared++ % kPrepared]);
      const ppx::protocol::Message decoded = ppx::protocol::decode(bytes);
      do_not_optimize(decoded);
    });

    // (b) through PPX
    const std::span<Simulator* const> all(sims);
    auto remote = [&](std::string label, std::span<Simulator* const> use, bool whole_trace,
                      std::uint32_t batch = kBatch) {
      Series x;
      x.label = std::move(label);
      x.min_ops = whole_trace ? 2 * batch * use.size() : 32;
      const ppx::engines::Observations* observations = &m.observations;
      x.run = [use, whole_trace, batch, observations, &seed](std::uint64_t n) {
        const auto start = Clock::now();
        check_count(ppx::engines::importance_sampling(
                        use, *observations, {.traces = n, .seed = ++seed, .whole_trace = whole_trace, .batch = batch}),
                    n, "remote IS");
        return seconds_since(start);
      };
      return x;
    };
    Series lock_1 = remote("remote lock-step, 1 simulator", all.first(1), false);
    Series lock_2 = remote("remote lock-step, 2 simulators", all, false);
    Series whole_1 = remote("remote whole-trace K=64, 1 simulator", all.first(1), true);
    Series whole_2 = remote("remote whole-trace K=64, 2 simulators", all, true);
    Series whole_small = remote("remote whole-trace K=4, 1 simulator", all.first(1), true, 4);
    Series raw_small;
    raw_small.label = "raw ZeroMQ ipc round trip, 152 B";
    raw_small.run = loop([&] { echo_small->round_trip(); });
    Series raw_big;
    raw_big.label = "raw ZeroMQ ipc, Observe-sized request + 8 B reply";
    raw_big.run = loop([&] { echo_big->round_trip(); });

    run_rounds({&stop_first, &stop_tag, &mean, &construct, &own, &program, &recorded, &is_local, &score, &codec,
                &whole_codec, &lock_1, &lock_2, &whole_1, &whole_2, &whole_small, &raw_small, &raw_big},
               options);
    echo_big->quit();

    // ---- (a) ----
    const double own_s = own.seconds_per_op();
    const double target_s = 2e-3;
    auto verdict = [](bool met, const std::string& what) { return what + (met ? " met" : " MISSED"); };
    Table a({"(a) tau_decay " + m.name + " " + m.shape + ", per forward run, in-process", "us/run", "vs own run",
             "target"});
    auto add_a = [&](const Series& x, const std::string& target = "") {
      a.add({x.label, us(x.seconds_per_op()), ratio(paired_ratio(x, own)), target});
    };
    add_a(stop_first);
    add_a(stop_tag);
    add_a(mean);
    const double kinematics = paired_sum({{1, &stop_tag}, {-1, &mean}, {-1, &stop_first}});
    a.add({"kinematics + latents = (2) - (3) - (1)", us(kinematics), ratio(kinematics / own_s), ""});
    add_a(construct);
    const double rest = paired_sum({{1, &own}, {-1, &stop_tag}, {1, &stop_first}, {-1, &construct}});
    a.add({"rest of the run: tags, observe calls, frees = (5) - (2) + (1) - (4)", us(rest), ratio(rest / own_s), ""});
    add_a(own, verdict(own_s <= target_s, "<= 2 ms"));
    add_a(program, verdict(program.seconds_per_op() <= target_s, "<= 2 ms"));
    add_a(recorded);
    add_a(is_local, verdict(is_local.seconds_per_op() <= target_s, "<= 2 ms"));
    add_a(score);
    add_a(codec);
    add_a(whole_codec);
    a.print();
    std::cout << "handler calls per prior trace (samples, tags, observes): " << fmt("%.1f", m.calls_per_trace)
              << "; a lock-step trace is that many round trips + 1\n\n";

    // ---- (b) ----
    Table b({"(b) IS on tau_decay " + m.name + " " + m.shape + ", event seed " + std::to_string(kEventSeed),
             "traces/s", "us/trace", "vs in-process", "PPX overhead", "overhead/own", "target"});
    auto add_b = [&](const Series& x, bool overhead) {
      std::vector<std::string> row{x.label, fmt("%.0f", x.per_second()), us(x.seconds_per_op()),
                                   ratio(speedup(x, is_local))};
      if (overhead) {
        const double extra = paired_sum({{1, &x}, {-1, &own}});
        const double relative = paired_ratio(x, own) - 1.0;
        row.push_back(us(extra) + " us");
        row.push_back(ratio(relative));
        row.push_back(verdict(relative < 1.0, "< 1x"));
      }
      b.add(row);
    };
    b.add({"simulator's own run (LocalHandler, no record)", fmt("%.0f", own.per_second()), us(own_s),
           ratio(speedup(own, is_local)), "", "", ""});
    b.add({"IS in-process, 1 thread (baseline)", fmt("%.0f", is_local.per_second()), us(is_local.seconds_per_op()),
           ratio(1.0), us(paired_sum({{1, &is_local}, {-1, &own}})) + " us",
           ratio(paired_ratio(is_local, own) - 1.0), ""});
    add_b(lock_1, true);
    add_b(lock_2, false);
    add_b(whole_1, true);
    add_b(whole_2, false);
    add_b(whole_small, true);
    b.add({raw_small.label, fmt("%.0f", raw_small.per_second()) + " rt/s", us(raw_small.seconds_per_op()) + "/rt", "",
           "", "", ""});
    b.add({raw_big.label + " (" + std::to_string(m.observe_bytes / 1000) + " KB)",
           fmt("%.0f", raw_big.per_second()) + " rt/s", us(raw_big.seconds_per_op()) + "/rt", "", "", "", ""});
    b.print();
    std::cout << "PPX overhead = us/trace - the simulator's own run (paired by round); for in-process IS it is the\n"
                 "engine's recording and scoring. 2-simulator scaling: lock-step "
              << ratio(speedup(lock_2, lock_1)) << ", whole-trace " << ratio(speedup(whole_2, whole_1)) << "\n";

    // Where a remote trace's time goes, from the rows above (paired differences where two rows
    // are involved, medians otherwise).
    const double recording_scoring = paired_sum({{1, &is_local}, {-1, &own}});
    const double trips = m.calls_per_trace + 1.0;
    const double small_rt = raw_small.seconds_per_op();
    const double big_extra = paired_sum({{1, &raw_big}, {-1, &raw_small}});
    const double lock_model = own_s + recording_scoring + trips * small_rt + big_extra + codec.seconds_per_op();
    std::cout << "lock-step, 1 simulator: measured " << us(lock_1.seconds_per_op()) << " us/trace; sum of parts "
              << us(lock_model) << " = own run " << us(own_s) << " + engine recording/scoring "
              << us(recording_scoring) << " + " << fmt("%.1f", trips) << " raw round trips " << us(trips * small_rt)
              << " + large-message extra " << us(big_extra) << " + Observe codec " << us(codec.seconds_per_op())
              << "\n";
    const double record_extra = paired_sum({{1, &recorded}, {-1, &own}});
    const double whole_model = own_s + record_extra + whole_codec.seconds_per_op() + big_extra + recording_scoring;
    std::cout << "whole-trace, 1 simulator: measured " << us(whole_1.seconds_per_op()) << " us/trace (K=64), "
              << us(whole_small.seconds_per_op()) << " (K=4); sum of parts " << us(whole_model) << " = own run "
              << us(own_s) << " + simulator-side recording " << us(record_extra) << " + reply encode/decode "
              << us(whole_codec.seconds_per_op()) << " + large-message extra " << us(big_extra)
              << " + engine recording/scoring " << us(recording_scoring) << "\n\n";
  }
  echo_small->quit();
  std::cout << "load at the end: " << load_average() << '\n';
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return bench_main(argc, argv, "bench_tau",
                    "bench_tau: the tau-decay simulator's cost per forward run (split), and importance-sampling\n"
                    "traces/s through PPX vs in-process, with the PPX overhead per trace",
                    bench);
}
