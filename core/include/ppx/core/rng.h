#pragma once
// Random number generation: explicit generators only, never a global one.
// Streams for chains/workers come from (master seed, stream index), as Stan's create_rng does.
#include <cstdint>

namespace ppx {

// xoshiro256**: 32 bytes of state, seeded in a few instructions (an engine seeds one generator per
// trace, so std::mt19937_64's 2.5 KB state costs more than a small trace itself).
class Rng {
 public:
  using result_type = std::uint64_t;
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return ~result_type{0}; }
  explicit Rng(std::uint64_t seed = 0) {
    for (auto& word : s_) {  // splitmix64 expansion
      seed += 0x9e3779b97f4a7c15ull;
      std::uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      word = z ^ (z >> 31);
    }
  }
  result_type operator()() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  bool operator==(const Rng&) const = default;

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

// A generator for stream `stream` of master seed `seed`; distinct streams are decorrelated by
// splitmix64 mixing, so seeds 1,2,3... and streams 0,1,2... never collide.
Rng make_rng(std::uint64_t seed, std::uint64_t stream = 0);

// splitmix64 finaliser: a cheap, well-mixed 64-bit hash (used to derive seeds).
std::uint64_t mix_seed(std::uint64_t x);

}  // namespace ppx
