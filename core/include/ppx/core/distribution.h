#pragma once
// Distributions, defined once (see docs/ARCHITECTURE.md): one table row per kind gives its
// name, parameters, support and maths; the codec, the client's local mode and every engine use it.
//
// Parameters are tensors and broadcast elementwise against each other (a scalar parameter
// broadcasts to any shape). Categorical's probs have the categories in the last dimension; its
// value has the batch shape. log_prob returns the sum over all elements, -inf outside the support.
// Errors: invalid parameters throw std::invalid_argument (from make/validate, never later);
// log_prob throws std::invalid_argument for a value whose shape does not broadcast.
// Parameters must be finite, except TruncatedNormal's low/high, which may be -inf/+inf.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ppx/core/rng.h"
#include "ppx/core/tensor.h"

namespace ppx {

// Wire order of PPX 1.0's Distribution union (values are the union tags); kinds after Weibull
// are engine-side only (proposals) and never sent to a PPX 1.0 peer.
enum class DistributionKind : std::uint8_t {
  Normal = 1,
  Uniform,
  Categorical,
  Poisson,
  Bernoulli,
  Beta,
  Exponential,
  Gamma,
  LogNormal,
  Binomial,
  Weibull,
  TruncatedNormal,  // mean, stddev, low, high (engine-side proposals)
};
inline constexpr int kWireDistributionKinds = 11;

// Real: Normal. Interval: [low, high) for Uniform, [low, high] for TruncatedNormal.
// Positive: [0, inf) (Exponential, Gamma, Weibull; LogNormal excludes 0). UnitInterval: [0, 1].
// Integer: {0, ..., total_count} (Binomial). NonNegInteger: Poisson. Binary: {0, 1}.
// Categories: {0, ..., K-1}, K the last dim of the probs.
enum class Support : std::uint8_t { Real, Interval, Positive, UnitInterval, Integer, NonNegInteger, Binary, Categories };

// The static description of a kind: the table row.
struct DistributionInfo {
  DistributionKind kind;
  std::string_view name;                      // pyprob's class name, also the address suffix
  std::vector<std::string_view> parameters;   // names in wire field order
  Support support;
  bool discrete;
};

const DistributionInfo& info(DistributionKind kind);
// All kinds, wire kinds first.
std::span<const DistributionInfo> all_distributions();

class Distribution {
 public:
  // Validates the parameters; throws std::invalid_argument with the reason.
  Distribution(DistributionKind kind, std::vector<Tensor> parameters);

  DistributionKind kind() const { return kind_; }
  const DistributionInfo& info() const { return ppx::info(kind_); }
  std::string_view name() const { return info().name; }
  const std::vector<Tensor>& parameters() const { return parameters_; }
  const Tensor& parameter(std::size_t i) const { return parameters_[i]; }
  bool is_discrete() const { return info().discrete; }

  // pyprob's address suffix: "Normal", "Categorical(len_probs:38)", ...
  std::string address_suffix() const;
  // Shape of one draw (the broadcast batch shape; for Categorical the probs without the last dim).
  std::vector<int32_t> value_shape() const;

  Tensor sample(Rng& rng) const;
  double log_prob(const Tensor& value) const;   // sum over elements; -inf outside the support
  bool in_support(const Tensor& value) const;   // every element inside the support
  Tensor mean() const;
  Tensor stddev() const;

  bool operator==(const Distribution& other) const = default;
  std::string to_string() const;

 private:
  DistributionKind kind_;
  std::vector<Tensor> parameters_;
};

// Factories in wire order, named as in pyprob.
Distribution Normal(Tensor mean, Tensor stddev);
Distribution Uniform(Tensor low, Tensor high);
Distribution Categorical(Tensor probs);  // probs need not be normalised; they are normalised on use
Distribution Poisson(Tensor rate);
Distribution Bernoulli(Tensor probs);
Distribution Beta(Tensor concentration1, Tensor concentration0);
Distribution Exponential(Tensor rate);
Distribution Gamma(Tensor concentration, Tensor rate);
Distribution LogNormal(Tensor loc, Tensor scale);
Distribution Binomial(Tensor total_count, Tensor probs);
Distribution Weibull(Tensor scale, Tensor concentration);
Distribution TruncatedNormal(Tensor mean, Tensor stddev, Tensor low, Tensor high);

}  // namespace ppx
