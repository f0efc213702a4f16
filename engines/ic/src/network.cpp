// The only translation unit that includes LibTorch (see network.h for the layout).
#include "ppx/ic/network.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>
#include <torch/nn/modules/rnn.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/version.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace ppx::ic {

namespace nn = torch::nn;
using at::Tensor;  // inside this file "Tensor" is LibTorch's; ours is ppx::Tensor

ObservationEmbedding parse_observation_embedding(const std::string& text) {
  if (text == "ff") return ObservationEmbedding::FeedForward;
  if (text == "cnn3d") return ObservationEmbedding::Cnn3d;
  if (text == "pooled") return ObservationEmbedding::Pooled;
  throw std::invalid_argument("observation embedding must be ff, cnn3d or pooled, got '" + text + "'");
}

std::string to_string(ObservationEmbedding embedding) {
  switch (embedding) {
    case ObservationEmbedding::FeedForward: return "ff";
    case ObservationEmbedding::Cnn3d: return "cnn3d";
    case ObservationEmbedding::Pooled: return "pooled";
  }
  return "ff";
}

void NetworkConfig::validate() const {
  if (lstm_hidden == 0 || lstm_depth == 0 || observe_embedding_dim == 0 || address_embedding_dim == 0 ||
      value_embedding_dim == 0 || kind_embedding_dim == 0 || head_hidden == 0 || mixture_components == 0) {
    throw std::invalid_argument("network sizes must be at least 1");
  }
  if (!(defensive > 0.0 && defensive < 1.0)) throw std::invalid_argument("defensive weight must be in (0, 1)");
  for (const ObservationSpec& o : observations) {
    if (o.embedding != ObservationEmbedding::FeedForward && o.shape.size() != 3) {
      throw std::invalid_argument("observation '" + o.name + "': " + to_string(o.embedding) +
                                  " needs a [D,H,W] value");
    }
    if (!(o.scale > 0.0) || !std::isfinite(o.mean)) throw std::invalid_argument("observation '" + o.name + "': bad scale");
  }
}

namespace {

// ---- proposal families ---------------------------------------------------------------------

enum class Family { Normal, Truncated, Positive, Poisson, Binomial, Beta, Categorical, Bernoulli };

Family family_of(DistributionKind kind) {
  switch (kind) {
    case DistributionKind::Normal: return Family::Normal;
    case DistributionKind::Uniform: return Family::Truncated;
    case DistributionKind::TruncatedNormal: return Family::Truncated;
    case DistributionKind::Categorical: return Family::Categorical;
    case DistributionKind::Bernoulli: return Family::Bernoulli;
    case DistributionKind::Poisson: return Family::Poisson;
    case DistributionKind::Binomial: return Family::Binomial;
    case DistributionKind::Beta: return Family::Beta;
    case DistributionKind::Exponential:
    case DistributionKind::Gamma:
    case DistributionKind::LogNormal:
    case DistributionKind::Weibull: return Family::Positive;
  }
  throw std::invalid_argument("no proposal family for this distribution");
}

std::int64_t head_outputs(Family family, std::int64_t k, std::int64_t categories) {
  switch (family) {
    case Family::Normal:
    case Family::Truncated:
    case Family::Positive:
    case Family::Beta: return 3 * k;
    case Family::Poisson:
    case Family::Binomial: return 2 * k;
    case Family::Categorical: return categories;
    case Family::Bernoulli: return 1;
  }
  return 1;
}

// What a step needs from its prior, as three doubles:
//   Normal (mean, sd) | Truncated (low, high) | Positive (log-space loc, scale matching the prior's
//   mean and sd) | Poisson (rate) | Binomial (n, logit p) | Beta (a, b); plus the prior's mean and
//   sd for standardising the value.
struct PriorFeatures {
  double base[2] = {0.0, 0.0};
  double mean = 0.0, sd = 1.0;
  bool operator==(const PriorFeatures&) const = default;
};

PriorFeatures prior_features(const Distribution& prior) {
  PriorFeatures f;
  const auto p = [&](std::size_t i) { return prior.parameter(i)[0]; };
  const double m = prior.mean()[0], s = prior.stddev()[0];
  f.mean = std::isfinite(m) ? m : 0.0;
  f.sd = std::isfinite(s) && s > 0 ? s : 1.0;
  switch (family_of(prior.kind())) {
    case Family::Normal: f.base[0] = f.mean; f.base[1] = f.sd; break;
    case Family::Truncated:
      if (prior.kind() == DistributionKind::Uniform) {
        f.base[0] = p(0), f.base[1] = p(1);
      } else {
        f.base[0] = p(2), f.base[1] = p(3);
      }
      break;
    case Family::Positive: {
      const double mean = std::max(f.mean, 1e-12);
      const double s2 = std::log1p((f.sd * f.sd) / (mean * mean));
      f.base[0] = std::log(mean) - 0.5 * s2;
      f.base[1] = std::sqrt(std::max(s2, 1e-12));
      break;
    }
    case Family::Poisson: f.base[0] = std::max(p(0), 1e-6); break;
    case Family::Binomial: {
      const double q = std::clamp(p(1), 1e-6, 1 - 1e-6);
      f.base[0] = p(0), f.base[1] = std::log(q / (1 - q));
      break;
    }
    case Family::Beta: f.base[0] = p(0), f.base[1] = p(1); break;
    case Family::Categorical:
    case Family::Bernoulli: break;
  }
  return f;
}

// Mixture parameters from a head's raw output `o` [b, outputs] and the priors' base [b, 2]:
// log weights [b, K] and two parameter tensors [b, K] whose meaning depends on the family (see
// mixture_log_prob and to_proposal). One function for training and inference.
struct Mixture {
  Tensor log_w, a, b;
};

Mixture mixture(Family family, const Tensor& o, const Tensor& base, std::int64_t k) {
  const auto b0 = base.select(1, 0).unsqueeze(1), b1 = base.select(1, 1).unsqueeze(1);
  const auto sp = [](const Tensor& x) { return torch::nn::functional::softplus(x) + 1e-3; };
  switch (family) {
    case Family::Categorical: return {torch::log_softmax(o, 1), Tensor(), Tensor()};
    case Family::Bernoulli: return {torch::log_sigmoid(o), torch::log_sigmoid(-o), Tensor()};
    default: break;
  }
  const Tensor logits = o.narrow(1, 0, k), m = o.narrow(1, k, k);
  const Tensor log_w = torch::log_softmax(logits, 1);
  switch (family) {
    case Family::Normal: return {log_w, b0 + b1 * m, b1 * sp(o.narrow(1, 2 * k, k))};
    case Family::Truncated: {
      const Tensor width = b1 - b0;
      return {log_w, b0 + width * torch::sigmoid(m), width * sp(o.narrow(1, 2 * k, k))};
    }
    case Family::Positive: return {log_w, b0 + b1 * m, b1 * sp(o.narrow(1, 2 * k, k))};
    case Family::Poisson: return {log_w, b0 * torch::exp(m.clamp(-8, 8)) + 1e-6, Tensor()};
    case Family::Binomial: return {log_w, torch::sigmoid(b1 + m), Tensor()};
    case Family::Beta:
      return {log_w, b0 * torch::exp(m.clamp(-8, 8)) + 1e-4, b1 * torch::exp(o.narrow(1, 2 * k, k).clamp(-8, 8)) + 1e-4};
    default: break;
  }
  throw std::logic_error("unreachable");
}

constexpr double kHalfLog2Pi = 0.91893853320467274178;

// log q_net(x) [b] for values x [b] (as double features: x, and log x / log(1-x) where needed).
Tensor mixture_log_prob(Family family, const Mixture& mix, const Tensor& base, const Tensor& x) {
  const Tensor xs = x.unsqueeze(1);
  switch (family) {
    case Family::Categorical: return mix.log_w.gather(1, x.to(torch::kLong).unsqueeze(1)).squeeze(1);
    case Family::Bernoulli: {
      return x * mix.log_w.squeeze(1) + (1 - x) * mix.a.squeeze(1);
    }
    default: break;
  }
  Tensor lp;
  switch (family) {
    case Family::Normal: {
      const Tensor z = (xs - mix.a) / mix.b;
      lp = -0.5 * z * z - torch::log(mix.b) - kHalfLog2Pi;
      break;
    }
    case Family::Truncated: {
      const Tensor z = (xs - mix.a) / mix.b;
      const auto phi = [](const Tensor& t) { return 0.5 * torch::erfc(-t / std::sqrt(2.0)); };
      const Tensor lo = base.select(1, 0).unsqueeze(1), hi = base.select(1, 1).unsqueeze(1);
      const Tensor mass = (phi((hi - mix.a) / mix.b) - phi((lo - mix.a) / mix.b)).clamp_min(1e-30);
      lp = -0.5 * z * z - torch::log(mix.b) - kHalfLog2Pi - torch::log(mass);
      break;
    }
    case Family::Positive: {
      const Tensor logx = torch::log(xs.clamp_min(1e-30));
      const Tensor z = (logx - mix.a) / mix.b;
      lp = -0.5 * z * z - torch::log(mix.b) - kHalfLog2Pi - logx;
      break;
    }
    case Family::Poisson: lp = xs * torch::log(mix.a) - mix.a - torch::lgamma(xs + 1); break;
    case Family::Binomial: {
      const Tensor n = base.select(1, 0).unsqueeze(1);
      const Tensor p = mix.a.clamp(1e-6, 1 - 1e-6);
      lp = torch::lgamma(n + 1) - torch::lgamma(xs + 1) - torch::lgamma(n - xs + 1) + xs * torch::log(p) +
           (n - xs) * torch::log1p(-p);
      break;
    }
    case Family::Beta: {
      const Tensor v = xs.clamp(1e-12, 1 - 1e-12);
      lp = (mix.a - 1) * torch::log(v) + (mix.b - 1) * torch::log1p(-v) + torch::lgamma(mix.a + mix.b) -
           torch::lgamma(mix.a) - torch::lgamma(mix.b);
      break;
    }
    default: break;
  }
  return torch::logsumexp(mix.log_w + lp, 1);
}

// The mixture of row `i` as core distributions (inference; doubles from here on).
Proposal to_proposal(Family family, const Mixture& mix, const PriorFeatures& features, const Distribution& prior,
                     double defensive) {
  Proposal q;
  q.defensive = defensive;
  const auto row = [](const Tensor& t) {
    const Tensor c = t.select(0, 0).to(torch::kDouble).contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  };
  const std::vector<double> log_w = row(mix.log_w);
  if (family == Family::Categorical) {
    std::vector<double> probs(log_w.size());
    std::transform(log_w.begin(), log_w.end(), probs.begin(), [](double v) { return std::exp(v); });
    q.weights = {1.0};
    q.components.push_back(Categorical(ppx::Tensor(std::move(probs))));
    return q;
  }
  if (family == Family::Bernoulli) {
    q.weights = {1.0};
    q.components.push_back(Bernoulli(std::clamp(std::exp(log_w[0]), 1e-6, 1 - 1e-6)));
    return q;
  }
  const std::vector<double> a = row(mix.a);
  const std::vector<double> b = mix.b.defined() ? row(mix.b) : std::vector<double>(a.size(), 0.0);
  double total = 0.0;
  for (double v : log_w) total += std::exp(v);
  for (std::size_t k = 0; k < a.size(); ++k) {
    q.weights.push_back(std::exp(log_w[k]) / total);
    switch (family) {
      case Family::Normal: q.components.push_back(Normal(a[k], b[k])); break;
      case Family::Truncated:
        q.components.push_back(TruncatedNormal(a[k], b[k], features.base[0], features.base[1]));
        break;
      case Family::Positive: q.components.push_back(LogNormal(a[k], b[k])); break;
      case Family::Poisson: q.components.push_back(Poisson(a[k])); break;
      case Family::Binomial:
        q.components.push_back(Binomial(features.base[0], std::clamp(a[k], 1e-6, 1 - 1e-6)));
        break;
      case Family::Beta: q.components.push_back(Beta(a[k], b[k])); break;
      default: break;
    }
  }
  (void)prior;
  return q;
}

// ---- modules -------------------------------------------------------------------------------

// One address: its embedding, its value embedding and its proposal head.
struct AddressSlotImpl : nn::Module {
  AddressSlotImpl(const NetworkConfig& c, std::int64_t outputs)
      : embedding(register_parameter("embedding", torch::randn({c.address_embedding_dim}) * 0.1)),
        value(register_module("value", nn::Linear(1, c.value_embedding_dim))),
        head(register_module("head", nn::Sequential(nn::Linear(c.lstm_hidden, c.head_hidden), nn::ReLU(),
                                                     nn::Linear(c.head_hidden, outputs)))) {}
  Tensor embedding;
  nn::Linear value;
  nn::Sequential head;
};
TORCH_MODULE(AddressSlot);

struct Address {
  std::string name;
  std::size_t index = 0;  // creation order (deterministic ordering; pointers are not)
  DistributionKind kind;
  std::int64_t categories = 0;
  Family family;
  AddressSlot slot{nullptr};
};

nn::Sequential make_observation_embedding(const ObservationSpec& spec, std::int64_t dim) {
  const std::int64_t n = static_cast<std::int64_t>(shape_numel(spec.shape));
  nn::Sequential body;
  if (spec.embedding == ObservationEmbedding::FeedForward) {
    body = nn::Sequential(nn::Flatten(), nn::Linear(n, dim), nn::ReLU(), nn::Linear(dim, dim), nn::ReLU());
    return body;
  }
  const std::int64_t d = spec.shape[0], h = spec.shape[1], w = spec.shape[2];
  if (spec.embedding == ObservationEmbedding::Cnn3d) {  // the reference's 3D CNN
    body = nn::Sequential(nn::Conv3d(1, 64, 3), nn::ReLU(), nn::Conv3d(64, 64, 3), nn::ReLU(), nn::MaxPool3d(2),
                          nn::Conv3d(64, 128, 3), nn::ReLU(), nn::Conv3d(128, 128, 3), nn::ReLU(),
                          nn::Conv3d(128, 128, 3), nn::ReLU(), nn::MaxPool3d(2), nn::Flatten());
  } else {  // pooled: sum-pool to a coarse grid (mean x cells), then a small CNN
    const std::vector<std::int64_t> coarse = {std::max<std::int64_t>(1, d / 2), std::max<std::int64_t>(1, h / 5),
                                              std::max<std::int64_t>(1, w / 5)};
    body = nn::Sequential(nn::AdaptiveAvgPool3d(nn::AdaptiveAvgPool3dOptions(coarse)),
                          nn::Conv3d(nn::Conv3dOptions(1, 16, 3).padding(1)), nn::ReLU(),
                          nn::Conv3d(nn::Conv3dOptions(16, 32, 3).padding(1)), nn::ReLU(), nn::Flatten());
  }
  torch::NoGradGuard no_grad;
  const std::int64_t flat = body->forward(torch::zeros({1, 1, d, h, w})).size(1);
  body->push_back(nn::Linear(flat, dim));
  body->push_back(nn::ReLU());
  return body;
}

std::int64_t kind_index(DistributionKind kind) { return static_cast<std::int64_t>(kind); }  // 1..12; 0 = none

}  // namespace

// ---- the network ---------------------------------------------------------------------------

class TraceState {
 public:
  Tensor h, c;                  // [depth, 1, hidden]
  Address* previous = nullptr;
  bool has_previous = false;    // a previous step exists (its address may be unknown)
  std::int64_t previous_kind = 0;
  PriorFeatures previous_features;
};
void TraceStateDeleter::operator()(TraceState* state) const { delete state; }

struct ProposalNetwork::Impl {
  NetworkConfig config;
  OptimizerOptions optimizer_options;
  std::shared_ptr<nn::Module> root = std::make_shared<nn::Module>("ProposalNetwork");
  std::vector<nn::Sequential> observation_embeddings;
  nn::LSTM lstm{nullptr};
  nn::Embedding kinds{nullptr};
  std::vector<std::unique_ptr<Address>> addresses;
  std::map<std::string, Address*, std::less<>> by_name;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  Tensor query_embedding;  // [1, E]
  // The first step of every trace has the same LSTM input for a query and an address (nothing
  // precedes it), so its LSTM state and head output are computed once per query and address.
  // Cleared by set_query and train_step. Guarded by its own mutex: first_step() reads it from
  // the threads that run traces while step() runs.
  struct FirstStep {
    Tensor h, c;         // LSTM state after the step
    Tensor head_output;  // [1, outputs]; undefined for an unknown address
    Address* address = nullptr;
    PriorFeatures features;
    std::optional<Proposal> proposal;  // for `features`
  };
  std::mutex first_steps_mutex;
  bool memoise_first_step = true;
  std::map<std::string, FirstStep, std::less<>> first_steps;
  std::int64_t embedding_total = 0;

  Impl(NetworkConfig c, OptimizerOptions o) : config(std::move(c)), optimizer_options(o) {
    config.validate();
    std::sort(config.observations.begin(), config.observations.end(),
              [](const ObservationSpec& a, const ObservationSpec& b) { return a.name < b.name; });
    torch::manual_seed(config.seed);
    for (std::size_t i = 0; i < config.observations.size(); ++i) {
      observation_embeddings.push_back(root->register_module(
          "observe" + std::to_string(i), make_observation_embedding(config.observations[i], config.observe_embedding_dim)));
      embedding_total += config.observe_embedding_dim;
    }
    const std::int64_t input = embedding_total + config.value_embedding_dim + 2 * config.address_embedding_dim +
                               2 * config.kind_embedding_dim;
    lstm = root->register_module("lstm", nn::LSTM(nn::LSTMOptions(input, config.lstm_hidden).num_layers(config.lstm_depth)));
    kinds = root->register_module("kinds", nn::Embedding(kWireDistributionKinds + 2, config.kind_embedding_dim));
    std::vector<Tensor> params = root->parameters();
    if (optimizer_options.kind == OptimizerKind::Adam) {
      optimizer = std::make_unique<torch::optim::Adam>(
          params, torch::optim::AdamOptions(optimizer_options.learning_rate).weight_decay(optimizer_options.weight_decay));
    } else {
      optimizer = std::make_unique<torch::optim::SGD>(
          params, torch::optim::SGDOptions(optimizer_options.learning_rate)
                      .momentum(optimizer_options.momentum)
                      .weight_decay(optimizer_options.weight_decay));
    }
  }

  Address& add_address(const std::string& name, const Distribution& prior) {
    auto a = std::make_unique<Address>();
    a->name = name;
    a->index = addresses.size();
    a->kind = prior.kind();
    a->family = family_of(prior.kind());
    a->categories = a->family == Family::Categorical ? prior.parameter(0).shape().empty() ? 1 : prior.parameter(0).shape().back() : 0;
    if (a->family == Family::Categorical && prior.parameter(0).dim() != 1) {
      throw std::invalid_argument("address " + name + ": batched categorical priors are not supported");
    }
    // Deterministic initialisation per address, independent of what else was created before.
    torch::manual_seed(config.seed ^ (0x9e3779b97f4a7c15ull * (addresses.size() + 1)));
    a->slot = root->register_module("address" + std::to_string(addresses.size()),
                                    AddressSlot(config, head_outputs(a->family, config.mixture_components, a->categories)));
    // A new parameter group: the optimiser keeps the state of every existing parameter.
    optimizer->add_param_group(torch::optim::OptimizerParamGroup(a->slot->parameters()));
    Address& ref = *a;
    by_name.emplace(name, a.get());
    addresses.push_back(std::move(a));
    return ref;
  }

  Address* find(const std::string& name, const Distribution& prior) const {
    auto it = by_name.find(name);
    if (it == by_name.end() || it->second->kind != prior.kind()) return nullptr;
    if (it->second->family == Family::Categorical && prior.parameter(0).numel() != static_cast<std::size_t>(it->second->categories)) {
      return nullptr;
    }
    return it->second;
  }

  // The proposal of `a` from its head's output, for a prior with features `f`.
  std::optional<Proposal> propose(const Address& a, const Tensor& head_output, const PriorFeatures& f,
                                  const Distribution& prior) const;

  // Observation embeddings [B, E] for a batch of observation sets (missing names: zeros).
  Tensor embed(const std::vector<const engines::Observations*>& batch) {
    if (observation_embeddings.empty()) return torch::zeros({static_cast<std::int64_t>(batch.size()), 0});
    std::vector<Tensor> parts;
    for (std::size_t i = 0; i < config.observations.size(); ++i) {
      const ObservationSpec& spec = config.observations[i];
      const std::size_t n = shape_numel(spec.shape);
      std::vector<float> data(batch.size() * n, 0.0f);
      for (std::size_t t = 0; t < batch.size(); ++t) {
        auto it = batch[t]->find(spec.name);
        if (it == batch[t]->end()) continue;
        if (it->second.numel() != n) {
          throw std::invalid_argument("observation '" + spec.name + "' has " + std::to_string(it->second.numel()) +
                                      " values; the network was trained with " + std::to_string(n));
        }
        for (std::size_t j = 0; j < n; ++j) {
          data[t * n + j] = static_cast<float>((it->second[j] - spec.mean) / spec.scale);
        }
      }
      std::vector<std::int64_t> shape = {static_cast<std::int64_t>(batch.size())};
      if (spec.embedding == ObservationEmbedding::FeedForward) {
        shape.push_back(static_cast<std::int64_t>(n));
      } else {
        shape.push_back(1);
        for (std::int32_t s : spec.shape) shape.push_back(s);
      }
      parts.push_back(observation_embeddings[i]->forward(torch::tensor(data).reshape(shape)));
    }
    return torch::cat(parts, 1);
  }

  Tensor kind_embedding(std::int64_t kind) { return kinds->weight[kind]; }

  // Mean loss over `batch`; with `grow`, adds heads for new addresses first.
  std::pair<Tensor, LossResult> forward_loss(std::span<const TrainingTrace> batch, bool grow) {
    LossResult result;
    if (grow) {
      for (const TrainingTrace& t : batch) {
        for (const TrainingStep& s : t.steps) {
          if (by_name.find(s.address) == by_name.end()) add_address(s.address, s.prior);
        }
      }
    }
    std::vector<const engines::Observations*> observed;
    for (const TrainingTrace& t : batch) observed.push_back(&t.observations);
    const Tensor embeddings = embed(observed);
    // Sub-batches: traces with the same sequence of controlled addresses share one LSTM call.
    // Keyed by address indices (not pointers), so the order of the sums is the same in every run.
    std::map<std::vector<std::size_t>, std::pair<std::vector<Address*>, std::vector<std::int64_t>>> groups;
    std::vector<std::vector<Address*>> sequences(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
      for (const TrainingStep& s : batch[i].steps) sequences[i].push_back(find(s.address, s.prior));
      if (grow) {
        for (std::size_t t = 0; t < sequences[i].size(); ++t) {
          if (sequences[i][t] == nullptr) {
            throw std::invalid_argument("address " + batch[i].steps[t].address + " changed its distribution kind or size");
          }
        }
      }
      std::vector<std::size_t> key;
      for (Address* a : sequences[i]) key.push_back(a ? a->index : static_cast<std::size_t>(-1));
      auto& group = groups[key];
      group.first = sequences[i];
      group.second.push_back(static_cast<std::int64_t>(i));
    }
    Tensor total = torch::zeros({});
    struct HeadRows {
      std::vector<Tensor> output, base, value, log_prior;
    };
    std::map<std::size_t, std::pair<Address*, HeadRows>> per_address;  // by address index
    const Tensor zero_value = torch::zeros({config.value_embedding_dim});
    const Tensor zero_address = torch::zeros({config.address_embedding_dim});
    for (const auto& [key, group] : groups) {
      const auto& [sequence, members] = group;
      if (sequence.empty()) continue;
      ++result.sub_batches;
      const std::int64_t b = static_cast<std::int64_t>(members.size());
      const std::size_t steps = sequence.size();
      const Tensor obs = embeddings.index_select(0, torch::tensor(members));
      std::vector<Tensor> inputs;
      std::vector<Tensor> values, bases, log_priors;  // per step, [b] / [b, 2]
      Tensor previous_normalised;  // the previous step's values, standardised by their own prior
      for (std::size_t t = 0; t < steps; ++t) {
        std::vector<float> v(b), norm(b), base(2 * b), lp(b);
        for (std::int64_t j = 0; j < b; ++j) {
          const TrainingStep& s = batch[members[j]].steps[t];
          const PriorFeatures f = prior_features(s.prior);
          v[j] = static_cast<float>(s.value);
          norm[j] = static_cast<float>((s.value - f.mean) / f.sd);
          base[2 * j] = static_cast<float>(f.base[0]);
          base[2 * j + 1] = static_cast<float>(f.base[1]);
          lp[j] = static_cast<float>(s.log_prior);
        }
        values.push_back(torch::tensor(v));
        bases.push_back(torch::tensor(base).reshape({b, 2}));
        log_priors.push_back(torch::tensor(lp));
        const Tensor normalised = torch::tensor(norm).reshape({b, 1});
        std::vector<Tensor> parts = {obs};
        if (t == 0) {
          parts.push_back(zero_value.expand({b, -1}));
          parts.push_back(zero_address.expand({b, -1}));
          parts.push_back(kind_embedding(0).expand({b, -1}));
        } else {
          Address* p = sequence[t - 1];
          const std::int64_t pk = kind_index(batch[members[0]].steps[t - 1].prior.kind());
          parts.push_back(p ? p->slot->value->forward(previous_normalised) : zero_value.expand({b, -1}));
          parts.push_back(p ? p->slot->embedding.expand({b, -1}) : zero_address.expand({b, -1}));
          parts.push_back(kind_embedding(pk).expand({b, -1}));
        }
        Address* c = sequence[t];
        parts.push_back(c ? c->slot->embedding.expand({b, -1}) : zero_address.expand({b, -1}));
        parts.push_back(kind_embedding(kind_index(batch[members[0]].steps[t].prior.kind())).expand({b, -1}));
        inputs.push_back(torch::cat(parts, 1));
        previous_normalised = normalised;
      }
      const Tensor output = std::get<0>(lstm->forward(torch::stack(inputs, 0)));  // [T, b, H]
      for (std::size_t t = 0; t < steps; ++t) {
        Address* c = sequence[t];
        if (c == nullptr) {
          result.unknown_steps += static_cast<std::uint64_t>(b);
          continue;
        }
        auto& [owner, rows] = per_address[c->index];
        owner = c;
        rows.output.push_back(output[static_cast<std::int64_t>(t)]);
        rows.base.push_back(bases[t]);
        rows.value.push_back(values[t]);
        rows.log_prior.push_back(log_priors[t]);
      }
    }
    // Each head runs once on all its rows (every sub-batch and step at that address).
    for (auto& [index, entry] : per_address) {
      auto& [address, rows] = entry;
      const Tensor base = torch::cat(rows.base, 0);
      const Tensor o = address->slot->head->forward(torch::cat(rows.output, 0));
      const Mixture mix = mixture(address->family, o, base, config.mixture_components);
      const Tensor net = mixture_log_prob(address->family, mix, base, torch::cat(rows.value, 0));
      // Defensive mixture with the prior: log q = logaddexp(log(1-d) + log q_net, log d + log p).
      const Tensor log_q = torch::logaddexp(net + std::log1p(-config.defensive),
                                            torch::cat(rows.log_prior, 0) + std::log(config.defensive));
      total = total + log_q.sum();
    }
    const Tensor loss = -total / static_cast<double>(std::max<std::size_t>(1, batch.size()));
    result.loss = loss.item<double>();
    return {loss, result};
  }
};

ProposalNetwork::ProposalNetwork(NetworkConfig config, OptimizerOptions optimizer)
    : impl_(std::make_unique<Impl>(std::move(config), optimizer)) {}
ProposalNetwork::ProposalNetwork(ProposalNetwork&&) noexcept = default;
ProposalNetwork& ProposalNetwork::operator=(ProposalNetwork&&) noexcept = default;
ProposalNetwork::~ProposalNetwork() = default;

const NetworkConfig& ProposalNetwork::config() const { return impl_->config; }

std::vector<std::string> ProposalNetwork::addresses() const {
  std::vector<std::string> out;
  for (const auto& a : impl_->addresses) out.push_back(a->name);
  return out;
}

std::uint64_t ProposalNetwork::parameter_count() const {
  std::uint64_t n = 0;
  for (const Tensor& p : impl_->root->parameters()) n += static_cast<std::uint64_t>(p.numel());
  return n;
}

std::vector<std::uint64_t> ProposalNetwork::optimizer_steps() const {
  std::vector<std::uint64_t> out;
  const auto* adam = dynamic_cast<const torch::optim::Adam*>(impl_->optimizer.get());
  for (const auto& group : impl_->optimizer->param_groups()) {
    std::uint64_t steps = 0;
    if (adam != nullptr && !group.params().empty()) {
      const auto& state = adam->state();
      // LibTorch keys optimiser state by the parameter's TensorImpl address.
      const auto it = state.find(c10::guts::to_string(group.params().front().unsafeGetTensorImpl()));
      if (it != state.end()) steps = static_cast<std::uint64_t>(static_cast<const torch::optim::AdamParamState&>(*it->second).step());
    }
    out.push_back(steps);
  }
  return out;
}

LossResult ProposalNetwork::train_step(std::span<const TrainingTrace> batch, double learning_rate, double clip_norm) {
  impl_->root->train();
  auto [loss, result] = impl_->forward_loss(batch, true);
  for (auto& group : impl_->optimizer->param_groups()) group.options().set_lr(learning_rate);
  impl_->optimizer->zero_grad();
  if (loss.requires_grad()) {
    loss.backward();
    if (clip_norm > 0) nn::utils::clip_grad_norm_(impl_->root->parameters(), clip_norm);
    impl_->optimizer->step();
    std::lock_guard lock(impl_->first_steps_mutex);
    impl_->first_steps.clear();
  }
  return result;
}

LossResult ProposalNetwork::loss(std::span<const TrainingTrace> batch) {
  torch::NoGradGuard no_grad;
  return impl_->forward_loss(batch, false).second;
}

void ProposalNetwork::set_query(const engines::Observations& observations, bool memoise_first_step) {
  torch::NoGradGuard no_grad;
  for (const ObservationSpec& spec : impl_->config.observations) {
    if (observations.find(spec.name) == observations.end()) {
      throw std::invalid_argument("the network embeds observation '" + spec.name + "', which the query does not give");
    }
  }
  impl_->query_embedding = impl_->embed({&observations});
  std::lock_guard lock(impl_->first_steps_mutex);
  impl_->first_steps.clear();
  impl_->memoise_first_step = memoise_first_step;
}

TraceStateHandle ProposalNetwork::new_trace() const {
  TraceStateHandle state(new TraceState);
  state->h = torch::zeros({impl_->config.lstm_depth, 1, impl_->config.lstm_hidden});
  state->c = torch::zeros({impl_->config.lstm_depth, 1, impl_->config.lstm_hidden});
  return state;
}

namespace {

// A trace's state after the step at `address` (kind `kind`, prior features `features`).
void advance(TraceState& s, Tensor h, Tensor c, Address* address, DistributionKind kind, const PriorFeatures& features) {
  s.h = std::move(h);
  s.c = std::move(c);
  s.has_previous = true;
  s.previous = address;
  s.previous_kind = kind_index(kind);
  s.previous_features = features;
}

}  // namespace

std::optional<Proposal> ProposalNetwork::Impl::propose(const Address& a, const Tensor& head_output,
                                                       const PriorFeatures& f, const Distribution& prior) const {
  const Tensor base = torch::tensor({static_cast<float>(f.base[0]), static_cast<float>(f.base[1])}).reshape({1, 2});
  return to_proposal(a.family, mixture(a.family, head_output, base, config.mixture_components), f, prior,
                     config.defensive);
}

std::optional<StepResult> ProposalNetwork::first_step(const StepRequest& request) {
  Impl& m = *impl_;
  TraceState& s = *request.state;
  if (s.has_previous || !m.memoise_first_step) return std::nullopt;
  const PriorFeatures features = prior_features(*request.prior);
  std::unique_lock lock(m.first_steps_mutex);
  auto it = m.first_steps.find(*request.address);
  if (it == m.first_steps.end() || (it->second.address && it->second.address->kind != request.prior->kind())) {
    return std::nullopt;
  }
  const Impl::FirstStep& memo = it->second;
  advance(s, memo.h, memo.c, memo.address, request.prior->kind(), features);  // shared, never written in place
  StepResult result;
  if (memo.address == nullptr) return result;  // unknown address: the prior
  if (memo.features == features) {
    result.proposal = memo.proposal;
    return result;
  }
  const Tensor head_output = memo.head_output;
  Address* address = memo.address;
  lock.unlock();
  torch::NoGradGuard no_grad;
  result.proposal = m.propose(*address, head_output, features, *request.prior);
  return result;
}

std::vector<StepResult> ProposalNetwork::step(std::span<const StepRequest> requests) {
  torch::NoGradGuard no_grad;
  Impl& m = *impl_;
  if (!m.query_embedding.defined()) throw std::logic_error("ProposalNetwork::step before set_query");
  m.root->eval();
  std::vector<StepResult> results(requests.size());
  std::vector<std::size_t> rows;  // requests that need the LSTM
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (auto memo = first_step(requests[i])) {
      results[i] = std::move(*memo);
    } else {
      rows.push_back(i);
    }
  }
  if (rows.empty()) return results;
  const Tensor zero_value = torch::zeros({1, m.config.value_embedding_dim});
  const Tensor zero_address = torch::zeros({1, m.config.address_embedding_dim});
  std::vector<Tensor> inputs, hs, cs;
  std::vector<Address*> current;
  std::vector<PriorFeatures> features;
  for (std::size_t i : rows) {
    const StepRequest& r = requests[i];
    TraceState& s = *r.state;
    Address* a = m.find(*r.address, *r.prior);
    std::vector<Tensor> parts = {m.query_embedding};
    if (!s.has_previous) {
      parts.push_back(zero_value);
      parts.push_back(zero_address);
      parts.push_back(m.kind_embedding(0).unsqueeze(0));
    } else {
      const double z = (r.previous_value - s.previous_features.mean) / s.previous_features.sd;
      parts.push_back(s.previous ? s.previous->slot->value->forward(torch::full({1, 1}, static_cast<float>(z))) : zero_value);
      parts.push_back(s.previous ? s.previous->slot->embedding.unsqueeze(0) : zero_address);
      parts.push_back(m.kind_embedding(s.previous_kind).unsqueeze(0));
    }
    parts.push_back(a ? a->slot->embedding.unsqueeze(0) : zero_address);
    parts.push_back(m.kind_embedding(kind_index(r.prior->kind())).unsqueeze(0));
    inputs.push_back(torch::cat(parts, 1));
    hs.push_back(s.h);
    cs.push_back(s.c);
    current.push_back(a);
    features.push_back(prior_features(*r.prior));
  }
  // One LSTM call for every trace: [1, k, input], states [depth, k, hidden].
  auto [output, state] = m.lstm->forward(torch::stack(inputs, 1),
                                         std::make_tuple(torch::cat(hs, 1), torch::cat(cs, 1)));
  for (std::size_t row = 0; row < rows.size(); ++row) {
    const std::size_t i = rows[row];
    const StepRequest& r = requests[i];
    TraceState& s = *r.state;
    const bool first = !s.has_previous;
    const auto j = static_cast<std::int64_t>(row);
    Tensor h = std::get<0>(state).narrow(1, j, 1).clone();
    Tensor c = std::get<1>(state).narrow(1, j, 1).clone();
    Tensor head_output;
    if (current[row] != nullptr) {
      head_output = current[row]->slot->head->forward(output[0].narrow(0, j, 1));
      results[i].proposal = m.propose(*current[row], head_output, features[row], *r.prior);
    }
    if (first && m.memoise_first_step) {
      std::lock_guard lock(m.first_steps_mutex);
      m.first_steps.try_emplace(*r.address, Impl::FirstStep{h, c, head_output, current[row], features[row], results[i].proposal});
    }
    advance(s, std::move(h), std::move(c), current[row], r.prior->kind(), features[row]);
  }
  return results;
}

// ---- checkpoints ---------------------------------------------------------------------------

namespace {

void write_durably(const std::filesystem::path& path, const std::string& bytes) {
  const std::filesystem::path temp = path.string() + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + temp.string());
  }
  const int fd = ::open(temp.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  std::filesystem::rename(temp, path);
}

void sync_folder(const std::filesystem::path& folder) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

nlohmann::json config_json(const NetworkConfig& c) {
  nlohmann::json observations = nlohmann::json::array();
  for (const ObservationSpec& o : c.observations) {
    observations.push_back({{"name", o.name}, {"shape", o.shape}, {"embedding", to_string(o.embedding)},
                            {"mean", o.mean}, {"scale", o.scale}});
  }
  return {{"lstm_hidden", c.lstm_hidden}, {"lstm_depth", c.lstm_depth},
          {"observe_embedding_dim", c.observe_embedding_dim}, {"address_embedding_dim", c.address_embedding_dim},
          {"value_embedding_dim", c.value_embedding_dim}, {"kind_embedding_dim", c.kind_embedding_dim},
          {"head_hidden", c.head_hidden}, {"mixture_components", c.mixture_components},
          {"defensive", c.defensive}, {"seed", c.seed}, {"observations", observations}};
}

NetworkConfig config_from_json(const nlohmann::json& j) {
  NetworkConfig c;
  c.lstm_hidden = j.at("lstm_hidden");
  c.lstm_depth = j.at("lstm_depth");
  c.observe_embedding_dim = j.at("observe_embedding_dim");
  c.address_embedding_dim = j.at("address_embedding_dim");
  c.value_embedding_dim = j.at("value_embedding_dim");
  c.kind_embedding_dim = j.at("kind_embedding_dim");
  c.head_hidden = j.at("head_hidden");
  c.mixture_components = j.at("mixture_components");
  c.defensive = j.at("defensive");
  c.seed = j.at("seed");
  for (const auto& o : j.at("observations")) {
    c.observations.push_back(ObservationSpec{.name = o.at("name"),
                                             .shape = o.at("shape").get<std::vector<std::int32_t>>(),
                                             .embedding = parse_observation_embedding(o.at("embedding")),
                                             .mean = o.at("mean"),
                                             .scale = o.at("scale")});
  }
  return c;
}

// A prior of the right kind and size, to rebuild an address from the table (only the kind and the
// number of categories matter).
Distribution placeholder_prior(DistributionKind kind, std::int64_t categories) {
  switch (kind) {
    case DistributionKind::Categorical: return Categorical(ppx::Tensor(std::vector<double>(categories, 1.0)));
    case DistributionKind::Normal: return Normal(0, 1);
    case DistributionKind::Uniform: return Uniform(0, 1);
    case DistributionKind::Poisson: return Poisson(1);
    case DistributionKind::Bernoulli: return Bernoulli(0.5);
    case DistributionKind::Beta: return Beta(1, 1);
    case DistributionKind::Exponential: return Exponential(1);
    case DistributionKind::Gamma: return Gamma(1, 1);
    case DistributionKind::LogNormal: return LogNormal(0, 1);
    case DistributionKind::Binomial: return Binomial(1, 0.5);
    case DistributionKind::Weibull: return Weibull(1, 1);
    case DistributionKind::TruncatedNormal: return TruncatedNormal(0, 1, -1, 1);
  }
  throw std::invalid_argument("unknown distribution kind");
}

}  // namespace

void ProposalNetwork::save(const std::string& folder, const std::string& extra_json) const {
  namespace fs = std::filesystem;
  fs::create_directories(folder);
  const fs::path dir(folder);
  // A fresh archive name per save, so network.json always names a complete archive.
  std::string archive_name;
  for (std::uint64_t n = 0;; ++n) {
    archive_name = "network-" + std::to_string(n) + ".pt";
    if (!fs::exists(dir / archive_name)) break;
  }
  torch::serialize::OutputArchive root, model, optim;
  impl_->root->save(model);
  impl_->optimizer->save(optim);
  root.write("model", model);
  root.write("optimizer", optim);
  std::ostringstream bytes;
  root.save_to(bytes);
  write_durably(dir / archive_name, bytes.str());

  nlohmann::json addresses = nlohmann::json::array();
  for (const auto& a : impl_->addresses) {
    addresses.push_back({{"address", a->name}, {"kind", std::string(info(a->kind).name)},
                         {"kind_id", static_cast<int>(a->kind)}, {"categories", a->categories}});
  }
  const OptimizerOptions& o = impl_->optimizer_options;
  nlohmann::json manifest = {
      {"format", "ppxd-ic-1"},
      {"archive", archive_name},
      {"libtorch", TORCH_VERSION},
      {"config", config_json(impl_->config)},
      {"optimizer", {{"kind", o.kind == OptimizerKind::Adam ? "adam" : "sgd"}, {"learning_rate", o.learning_rate},
                     {"momentum", o.momentum}, {"weight_decay", o.weight_decay}}},
      {"addresses", addresses},
      {"extra", extra_json.empty() ? nlohmann::json::object() : nlohmann::json::parse(extra_json)}};
  std::string previous_archive;
  if (std::ifstream old(dir / "network.json"); old) {
    try {
      previous_archive = nlohmann::json::parse(old).value("archive", "");
    } catch (const nlohmann::json::exception&) {
    }
  }
  write_durably(dir / "network.json", manifest.dump(1));
  sync_folder(dir);
  if (!previous_archive.empty() && previous_archive != archive_name) fs::remove(dir / previous_archive);
}

ProposalNetwork ProposalNetwork::load(const std::string& folder, std::string* extra_json) {
  namespace fs = std::filesystem;
  const fs::path dir(folder);
  std::ifstream in(dir / "network.json");
  if (!in) throw std::runtime_error("no network.json in '" + folder + "'");
  nlohmann::json manifest;
  try {
    manifest = nlohmann::json::parse(in);
    if (manifest.value("format", "") != "ppxd-ic-1") throw std::runtime_error("not a ppxd network (format)");
    const nlohmann::json& o = manifest.at("optimizer");
    OptimizerOptions options{.kind = o.at("kind") == "sgd" ? OptimizerKind::Sgd : OptimizerKind::Adam,
                             .learning_rate = o.at("learning_rate"),
                             .momentum = o.at("momentum"),
                             .weight_decay = o.at("weight_decay")};
    ProposalNetwork network(config_from_json(manifest.at("config")), options);
    for (const auto& a : manifest.at("addresses")) {
      const int kind = a.at("kind_id");
      if (kind < 1 || kind > static_cast<int>(DistributionKind::TruncatedNormal)) throw std::runtime_error("bad kind");
      network.impl_->add_address(a.at("address"), placeholder_prior(static_cast<DistributionKind>(kind), a.at("categories")));
    }
    torch::serialize::InputArchive root, model, optim;
    root.load_from((dir / manifest.at("archive").get<std::string>()).string());
    root.read("model", model);
    root.read("optimizer", optim);
    network.impl_->root->load(model);
    network.impl_->optimizer->load(optim);
    if (extra_json != nullptr) *extra_json = manifest.at("extra").dump();
    return network;
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error("'" + folder + "/network.json' is malformed: " + e.what());
  } catch (const c10::Error& e) {
    throw std::runtime_error("'" + folder + "': cannot read the network archive: " + e.what_without_backtrace());
  }
}

void set_torch_threads(unsigned threads) {
  const unsigned n = threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
  at::set_num_threads(static_cast<int>(n));
}

std::string torch_backend_info() {
  std::string blas = "unknown";
  if (void* symbol = ::dlsym(RTLD_DEFAULT, "sgemm_")) {
    Dl_info where{};
    if (::dladdr(symbol, &where) != 0 && where.dli_fname != nullptr) {
      std::error_code ec;
      const auto real = std::filesystem::canonical(where.dli_fname, ec);
      blas = ec ? where.dli_fname : real.string();
    }
  }
  if (auto* config = reinterpret_cast<char* (*)()>(::dlsym(RTLD_DEFAULT, "openblas_get_config"))) {
    blas += std::string(" (") + config() + ")";
  }
  return std::string("LibTorch ") + TORCH_VERSION + ", " + std::to_string(at::get_num_threads()) +
         " threads, BLAS " + blas;
}

}  // namespace ppx::ic
