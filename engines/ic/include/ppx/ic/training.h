#pragma once
// Online training of a ProposalNetwork on traces drawn from the prior by a pool of simulators.
//
// A producer thread runs the simulators (whole-trace runs when they offer them, lock-step
// otherwise) through the work pool and fills a bounded queue with minibatches; the calling thread
// trains on them, so generation and training overlap. Each trace's observations are drawn from
// the likelihood of its observe statements. Minibatch i is generated from seed mix(seed, i) and
// delivered in order, so a run is deterministic given the seed (and the LibTorch thread count).
// The first `validation_traces` come from a separate seed stream and are scored every
// `validate_every` steps. With `out`, a checkpoint (network, optimiser state, history) is written
// every `checkpoint_every` steps and at the end; `resume` continues from it.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ppx/engines/engine.h"
#include "ppx/ic/network.h"

namespace ppx::ic {

enum class LearningRateSchedule { Constant, Cosine };

struct TrainingOptions {
  std::uint64_t traces = 10'000;            // training traces in this run (more, when resuming)
  std::uint32_t batch = 64;                 // traces per minibatch
  std::uint64_t seed = 0;
  std::uint64_t validation_traces = 256;
  std::uint64_t validate_every = 50;        // optimiser steps
  std::uint64_t checkpoint_every = 200;     // optimiser steps (with `out`)
  OptimizerOptions optimizer;               // Adam, lr 1e-3 by default
  LearningRateSchedule schedule = LearningRateSchedule::Constant;
  double final_learning_rate_ratio = 0.1;   // cosine: the learning rate at the end / at the start
  double clip_norm = 10.0;                  // gradient norm clipping; 0 = none
  unsigned threads = 0;                     // LibTorch threads; 0 = all cores
  std::uint32_t queue_batches = 4;          // minibatches generated ahead of the trainer
  std::string out;                          // checkpoint folder ("" = none)
  bool resume = false;                      // continue the checkpoint in `out`
  NetworkConfig network;                    // layout of a new network (observations: see below)
  // Embedding per observed name (default: feed-forward); the names and shapes come from the traces.
  std::map<std::string, ObservationEmbedding> embeddings;
  void validate() const;                    // throws std::invalid_argument
};

struct TrainingProgress {
  std::uint64_t traces = 0, total = 0, steps = 0;
  double loss = 0.0;             // running mean of the last steps
  double validation_loss = 0.0;  // last validation (NaN before the first)
  double traces_per_second = 0.0;
  double elapsed_seconds = 0.0;
  std::uint64_t addresses = 0;
  std::uint64_t failures = 0;    // simulator failures (their traces re-run)
};

struct HistoryPoint {
  std::uint64_t step = 0, traces = 0;
  double loss = 0.0, validation_loss = 0.0, learning_rate = 0.0, seconds = 0.0;
};

struct TrainingSummary {
  std::uint64_t traces = 0;       // trained on in total (including earlier runs when resuming)
  std::uint64_t steps = 0;
  std::uint64_t traces_this_run = 0;
  double seconds = 0.0;
  double traces_per_second = 0.0; // this run
  double sub_batches_per_step = 0.0;
  std::uint64_t addresses = 0;
  std::uint64_t failures = 0;
  bool interrupted = false;
  std::vector<HistoryPoint> history;  // including earlier runs
};

struct TrainingCallbacks {
  std::function<void(const TrainingProgress&)> progress;  // about once a second and at the end
  std::function<bool()> interrupted;                       // polled between steps
  std::function<void(const std::string&)> log;
};

// Trains `network` (created from the first minibatch when null and not resuming). Returns the
// trained network through `network`.
TrainingSummary train(engines::Simulators simulators, const TrainingOptions& options,
                      const TrainingCallbacks& callbacks, std::unique_ptr<ProposalNetwork>& network);

// A scored prior trace as a training trace: its controlled scalar samples, and one draw from the
// likelihood of each named observe (the last one of each name).
TrainingTrace to_training_trace(const engines::Trace& trace, Rng& rng);

}  // namespace ppx::ic
