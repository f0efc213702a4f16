#pragma once
// ProposalNetwork: the inference-compilation network (Le, Baydin & Wood 2017, pyprob's layout),
// behind a torch-free header. LibTorch is included only by src/network.cpp.
//
// Per controlled sample t of a trace the LSTM input is the concatenation of
//   observation embedding (one per observed name, concatenated; computed once per query)
//   previous sample's value embedding, previous address embedding, previous kind embedding,
//   current address embedding, current kind embedding
// and its output feeds the current address's proposal head, a small MLP to the parameters of
//   Normal                     -> mixture of K Normals (relative to the prior's mean and sd)
//   Uniform                    -> mixture of K truncated Normals on [low, high]
//   Categorical(C)             -> categorical over C
//   Bernoulli                  -> Bernoulli
//   Poisson                    -> mixture of K Poissons (integers)
//   Binomial(n)                -> mixture of K Binomial(n, p_k) (integers 0..n)
//   Exponential, Gamma, LogNormal, Weibull -> mixture of K LogNormals (positive reals)
//   Beta                       -> mixture of K Betas (unit interval)
// each mixed with the prior with weight `defensive` (see proposal.h). Addresses get their head
// and embeddings on first sight in training; the optimiser gets them as a new parameter group,
// so the state of existing parameters is kept. At inference an address the network has never
// seen gets a zero address/value embedding (the LSTM is still stepped) and the prior as proposal.
// Only scalar samples are steered and enter the LSTM sequence; non-scalar samples are drawn from
// the prior both in training and inference.
//
// Threading: one thread at a time (the engines serialise calls). Errors: std::invalid_argument for
// bad configurations or observations, std::runtime_error for unreadable checkpoints.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ppx/core/distribution.h"
#include "ppx/engines/trace.h"
#include "ppx/ic/proposal.h"

namespace ppx::ic {

enum class ObservationEmbedding { FeedForward, Cnn3d, Pooled };
// "ff", "cnn3d", "pooled"; throws std::invalid_argument for anything else.
ObservationEmbedding parse_observation_embedding(const std::string& text);
std::string to_string(ObservationEmbedding embedding);

struct ObservationSpec {
  std::string name;
  std::vector<std::int32_t> shape;  // of one value; cnn3d/pooled need [D,H,W]
  ObservationEmbedding embedding = ObservationEmbedding::FeedForward;
  double mean = 0.0, scale = 1.0;   // standardisation, measured on the first training batch
};

struct NetworkConfig {
  std::uint32_t lstm_hidden = 512;
  std::uint32_t lstm_depth = 1;
  std::uint32_t observe_embedding_dim = 64;  // per observed name
  std::uint32_t address_embedding_dim = 64;
  std::uint32_t value_embedding_dim = 4;
  std::uint32_t kind_embedding_dim = 8;
  std::uint32_t head_hidden = 64;
  std::uint32_t mixture_components = 10;
  double defensive = 1e-3;
  std::uint64_t seed = 0;
  std::vector<ObservationSpec> observations;  // by name
  void validate() const;                      // throws std::invalid_argument
};

enum class OptimizerKind { Adam, Sgd };
struct OptimizerOptions {
  OptimizerKind kind = OptimizerKind::Adam;
  double learning_rate = 1e-3;
  double momentum = 0.9;       // SGD
  double weight_decay = 0.0;
};

// One controlled scalar sample of a training trace.
struct TrainingStep {
  std::string address;
  Distribution prior;
  double value = 0.0;
  double log_prior = 0.0;  // log p(value | history)
};
struct TrainingTrace {
  std::vector<TrainingStep> steps;
  engines::Observations observations;  // one value per observed name, drawn from the likelihood
};

struct LossResult {
  double loss = 0.0;               // mean over traces of -sum_t log q(x_t | history, y)
  std::uint64_t sub_batches = 0;   // LSTM calls (groups of identical address sequences)
  std::uint64_t unknown_steps = 0; // steps at addresses without a head (loss(): not scored)
};

class TraceState;  // one trace's LSTM state and previous sample (defined in network.cpp)
struct TraceStateDeleter {
  void operator()(TraceState* state) const;
};
using TraceStateHandle = std::unique_ptr<TraceState, TraceStateDeleter>;

struct StepRequest {
  TraceState* state;
  const std::string* address;   // full address of the current sample
  const Distribution* prior;
  double previous_value = 0.0;  // value taken by the previous steered step of this trace
};
struct StepResult {
  std::optional<Proposal> proposal;  // empty: unknown address (propose from the prior)
};

class ProposalNetwork {
 public:
  explicit ProposalNetwork(NetworkConfig config, OptimizerOptions optimizer = {});
  ProposalNetwork(ProposalNetwork&&) noexcept;
  ProposalNetwork& operator=(ProposalNetwork&&) noexcept;
  ~ProposalNetwork();

  const NetworkConfig& config() const;
  std::vector<std::string> addresses() const;  // in creation order
  std::uint64_t parameter_count() const;
  // Adam's step count per parameter group: group 0 holds the shared layers, then one group per
  // address in creation order (a group counts the steps whose batch reached it); zeros for SGD.
  // Shows that growth keeps the optimiser's state (diagnostics and tests).
  std::vector<std::uint64_t> optimizer_steps() const;

  // One optimiser step on the mean loss of `batch`; adds heads for new addresses first.
  LossResult train_step(std::span<const TrainingTrace> batch, double learning_rate, double clip_norm);
  // The loss without gradients or growth (validation); unknown addresses are not scored.
  LossResult loss(std::span<const TrainingTrace> batch);

  // Inference: embeds the query's observations (once per query; throws std::invalid_argument if
  // a name the network embeds is missing or has the wrong size), then steps traces.
  // `memoise_first_step`: a trace's first step has the same LSTM input in every trace of a query
  // (nothing precedes it), so its LSTM state and head output are computed once per address and
  // reused (results are identical; off only to measure what it saves).
  void set_query(const engines::Observations& observations, bool memoise_first_step = true);
  TraceStateHandle new_trace() const;
  // One LSTM call for all requests (traces in flight on different simulators).
  std::vector<StepResult> step(std::span<const StepRequest> requests);
  // The result of a trace's first step if it is memoised (advancing the trace's state), without
  // an LSTM call; empty otherwise. Safe to call from any thread, also while step() runs.
  std::optional<StepResult> first_step(const StepRequest& request);

  // Checkpoint folder: network.json (configuration, addresses, optimiser options, `extra`) and
  // the LibTorch archive it names (parameters and optimiser state). Written atomically: the
  // archive under a fresh name, then network.json replaced by rename.
  void save(const std::string& folder, const std::string& extra_json) const;
  // Loads a checkpoint; `extra_json` (if not null) receives what save() was given.
  static ProposalNetwork load(const std::string& folder, std::string* extra_json = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// LibTorch's intra-op threads (at::set_num_threads); 0 = all cores.
void set_torch_threads(unsigned threads);
// What runs the maths: LibTorch version, threads, and the BLAS library sgemm_ resolves to.
std::string torch_backend_info();

}  // namespace ppx::ic
