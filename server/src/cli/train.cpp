#include "train.h"

#include <atomic>
#include <csignal>
#include <fmt/format.h>
#include <iostream>
#include <memory>

#include "arguments.h"
#include "ppx/ic/inference.h"
#include "ppx/ic/training.h"

namespace ppx::cli {
namespace {

std::atomic<bool> g_train_interrupted{false};
extern "C" void on_train_interrupt(int) { g_train_interrupted.store(true); }

struct TrainCliOptions {
  ic::TrainingOptions training;
  std::vector<std::string> embeddings;  // NAME=ff|cnn3d|pooled
  std::string optimizer = "adam";
  std::string schedule = "constant";
  std::string out;
  server::PoolOptions pool;
  long handshake_ms = 30'000, reply_ms = 60'000;
  bool quiet = false;
};

int run_train(TrainCliOptions& o) {
  try {
    ic::TrainingOptions& t = o.training;
    t.out = o.out;
    for (const std::string& spec : o.embeddings) {
      const auto eq = spec.find('=');
      if (eq == std::string::npos) throw std::invalid_argument("--observe-embedding wants NAME=ff|cnn3d|pooled");
      t.embeddings[spec.substr(0, eq)] = ic::parse_observation_embedding(spec.substr(eq + 1));
    }
    if (o.optimizer != "adam" && o.optimizer != "sgd") throw std::invalid_argument("--optimizer must be adam or sgd");
    t.optimizer.kind = o.optimizer == "sgd" ? ic::OptimizerKind::Sgd : ic::OptimizerKind::Adam;
    if (o.schedule != "constant" && o.schedule != "cosine") throw std::invalid_argument("--lr-schedule must be constant or cosine");
    t.schedule = o.schedule == "cosine" ? ic::LearningRateSchedule::Cosine : ic::LearningRateSchedule::Constant;
    o.pool.remote.handshake_timeout = std::chrono::milliseconds(o.handshake_ms);
    o.pool.remote.reply_timeout = std::chrono::milliseconds(o.reply_ms);
    o.pool.validate();
    t.validate();
  } catch (const std::invalid_argument& e) {
    std::cerr << "ppx train: " << e.what() << "\n";
    return 2;
  }
  struct sigaction action {};
  action.sa_handler = on_train_interrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  try {
    server::PoolOptions pool_options = o.pool;
    pool_options.log = [](const std::string& line) { std::cerr << "ppx: " << line << "\n"; };
    server::SimulatorPool pool(pool_options);
    const std::vector<engines::Simulator*> simulators = pool.simulators();
    ic::TrainingCallbacks callbacks{
        .progress =
            [&](const ic::TrainingProgress& p) {
              if (o.quiet) return;
              const double eta = p.traces_per_second > 0 ? (p.total - std::min(p.total, p.traces)) / p.traces_per_second : 0;
              std::cerr << fmt::format("{}/{} traces  loss {:.3f}  validation {:.3f}  {:.0f} traces/s  {} addresses  ETA {:.0f}s{}\n",
                                       p.traces, p.total, p.loss, p.validation_loss, p.traces_per_second, p.addresses, eta,
                                       p.failures > 0 ? fmt::format("  ({} simulator failures)", p.failures) : "");
            },
        .interrupted = [] { return g_train_interrupted.load(); },
        .log = [](const std::string& line) { std::cerr << "ppx: " << line << "\n"; }};
    std::unique_ptr<ic::ProposalNetwork> network;
    const ic::TrainingSummary s = ic::train(simulators, o.training, callbacks, network);
    const double last_validation = s.history.empty() ? 0.0 : s.history.back().validation_loss;
    std::cout << fmt::format(
        "trained on {} traces ({} this run) in {} steps, {:.1f} s, {:.1f} traces/s\n"
        "validation loss {:.4f}, {} addresses, {:.1f} LSTM sub-batches per step, {} parameters, {} simulator failures\n"
        "{}\n",
        s.traces, s.traces_this_run, s.steps, s.seconds, s.traces_per_second, last_validation, s.addresses,
        s.sub_batches_per_step, network->parameter_count(), s.failures, ic::torch_backend_info());
    if (!o.out.empty()) std::cout << "network written to " << o.out << "\n";
    return s.interrupted ? 130 : 0;
  } catch (const std::exception& e) {
    std::cerr << "ppx: error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace

std::function<int(const std::vector<std::string>&)> add_train_command(CLI::App& app, CLI::App*& sub) {
  auto o = std::make_shared<TrainCliOptions>();
  ic::TrainingOptions& t = o->training;
  ic::NetworkConfig& n = t.network;
  sub = app.add_subcommand("train", "Train an inference-compilation network on simulator traces");
  auto* simulator = sub->add_option("--simulator", o->pool.command,
                                    "Command that starts one simulator; {endpoint} is replaced by its endpoint");
  sub->add_option("--workers", o->pool.workers, "Simulator processes to start")->check(CLI::PositiveNumber)->capture_default_str();
  auto* connect = sub->add_option("--connect", o->pool.connect, "Endpoint of a running simulator (repeatable)");
  simulator->excludes(connect);
  sub->add_option("--traces", t.traces, "Training traces")->check(CLI::PositiveNumber)->capture_default_str();
  sub->add_option("--seed", t.seed, "Seed (network initialisation and trace generation)")->capture_default_str();
  sub->add_option("--out", o->out, "Checkpoint folder (network.json and the LibTorch archive)")->required();
  sub->add_flag("--resume", t.resume, "Continue training the network in --out (optimiser state included)");
  sub->add_option("--batch", t.batch, "Traces per minibatch")->check(CLI::PositiveNumber)->capture_default_str();
  sub->add_option("--validation-traces", t.validation_traces, "Held-out traces")->capture_default_str();
  sub->add_option("--validate-every", t.validate_every, "Optimiser steps between validations")->check(CLI::PositiveNumber)->capture_default_str();
  sub->add_option("--checkpoint-every", t.checkpoint_every, "Optimiser steps between checkpoints")->check(CLI::PositiveNumber)->capture_default_str();
  sub->add_option("--optimizer", o->optimizer, "adam or sgd")->capture_default_str();
  sub->add_option("--lr", t.optimizer.learning_rate, "Learning rate")->capture_default_str();
  sub->add_option("--lr-schedule", o->schedule, "constant or cosine (to --lr-final-ratio x lr)")->capture_default_str();
  sub->add_option("--lr-final-ratio", t.final_learning_rate_ratio, "Cosine schedule: final / initial learning rate")->capture_default_str();
  sub->add_option("--clip", t.clip_norm, "Gradient norm clipping (0: none)")->capture_default_str();
  sub->add_option("--threads", t.threads, "LibTorch threads (0: all cores)")->capture_default_str();
  sub->add_option("--observe-embedding", o->embeddings, "Embedding of an observed name, NAME=ff|cnn3d|pooled (default ff)");
  sub->add_option("--lstm-hidden", n.lstm_hidden, "LSTM hidden size")->check(CLI::PositiveNumber)->capture_default_str();
  sub->add_option("--lstm-depth", n.lstm_depth, "LSTM layers")->check(CLI::PositiveNumber)->capture_default_str();
  sub->add_option("--observe-embedding-dim", n.observe_embedding_dim, "Embedding size per observed name")->capture_default_str();
  sub->add_option("--mixture-components", n.mixture_components, "Components of mixture proposals")->check(CLI::PositiveNumber)->capture_default_str();
  sub->add_option("--defensive", n.defensive, "Weight of the prior in every proposal")->capture_default_str();
  sub->add_option("--handshake-timeout-ms", o->handshake_ms, "Longest wait for a simulator's handshake")->capture_default_str();
  sub->add_option("--reply-timeout-ms", o->reply_ms, "Longest wait for any one simulator reply")->capture_default_str();
  add_trace_limits(sub, o->pool.remote);
  sub->add_flag("-q,--quiet", o->quiet, "No progress lines");
  return [o](const std::vector<std::string>&) {
    if (o->pool.command.empty() && o->pool.connect.empty()) {
      std::cerr << "ppx train: give --simulator 'COMMAND {endpoint}' or --connect ENDPOINT\n";
      return 2;
    }
    o->training.network.seed = o->training.seed;
    return run_train(*o);
  };
}

EngineOutcome run_inference_compilation(const InferContext& context) {
  const InferOptions& o = context.options;
  if (o.network.empty()) throw std::invalid_argument("--engine ic needs --network DIR (from ppx train)");
  ic::ProposalNetwork network = ic::ProposalNetwork::load(o.network);
  ic::IcOptions options{.traces = o.traces, .seed = o.seed, .threads = o.threads, .tabulation = o.tabulation()};
  options.trace_sink = context.trace_sink;
  ic::IcStats stats;
  EngineOutcome outcome{
      ic::ic_importance_sampling(context.simulators, network, context.observations, options, context.callbacks, &stats)};
  const engines::WeightedTraces& post = outcome.posterior;
  outcome.options = {{"traces", options.traces}, {"seed", options.seed}, {"network", o.network},
                     {"threads", options.threads}, {"batch_wait_us", options.batch_wait_us}};
  outcome.diagnostics = {{"ess", post.ess()},
                         {"log_evidence", post.log_evidence()},
                         {"log_evidence_stderr", post.log_evidence_stderr()},
                         {"ic_steered_samples", stats.steered},
                         {"ic_prior_fallbacks", stats.prior_fallbacks},
                         {"ic_unknown_addresses", stats.unknown_addresses},
                         {"ic_network_calls", stats.network_calls},
                         {"ic_memoised_first_steps", stats.memoised_steps},
                         {"ic_mean_batch", stats.mean_batch},
                         {"torch", ic::torch_backend_info()}};
  if (!stats.unknown_addresses.empty()) {
    outcome.warnings.push_back(fmt::format("{} addresses the network has not seen were proposed from the prior",
                                           stats.unknown_addresses.size()));
  }
  if (post.size() > 0 && post.ess() < 100) {
    outcome.warnings.push_back(fmt::format("effective sample size {:.1f} is below 100: train longer or run more traces", post.ess()));
  }
  return outcome;
}

}  // namespace ppx::cli
