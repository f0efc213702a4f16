#pragma once
// A C++ uniform random bit generator whose every call is a PPX sample, for code that draws through
// <random> distributions:
//
//   ppx::RandomBits bits;                       // instead of std::mt19937_64 bits(seed)
//   std::normal_distribution<double> kick(0.0, 0.5);
//   double x = kick(bits);
//
// Each call is ppx::sample(Uniform(0, 1)) = u at a stack address (ppx/stack_address.h) and
// returns floor(u * 2^64). With 64 bits per call, std::generate_canonical<double> uses exactly one
// call and returns u itself, so the latent variables are the uniforms behind each canonical draw
// (one for uniform_real_distribution and exponential_distribution, two per pair for libstdc++'s
// polar normal_distribution, a variable number for rejection samplers such as gamma_distribution).
// Integer distributions use the bits directly. libstdc++'s normal_distribution keeps the second
// variate of each pair between calls: call reset() on it at the start of each trace. Not
// thread-safe; one per thread.
#include <cmath>
#include <cstdint>
#include <limits>

#include "ppx/stack_address.h"

namespace ppx {

class RandomBits {
 public:
  using result_type = std::uint64_t;
  explicit RandomBits(StackAddressOptions options = {}) : addresser_(std::move(options)) {}
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }
  result_type operator()() {
    // u < 1 has at most 53 significant bits, so u * 2^64 is exact and below 2^64.
    return static_cast<result_type>(std::ldexp(sample_uniform01_at_stack(addresser_), 64));
  }

 private:
  StackAddresser addresser_;
};

}  // namespace ppx
