#pragma once
// Random number generation: explicit generators only, never a global one.
// Streams for chains/workers come from (master seed, stream index), as Stan's create_rng does.
#include <cstdint>
#include <random>

namespace ppx {

using Rng = std::mt19937_64;

// A generator for stream `stream` of master seed `seed`; distinct streams are decorrelated by
// splitmix64 mixing, so seeds 1,2,3... and streams 0,1,2... never collide.
Rng make_rng(std::uint64_t seed, std::uint64_t stream = 0);

// splitmix64 finaliser: a cheap, well-mixed 64-bit hash (used to derive seeds).
std::uint64_t mix_seed(std::uint64_t x);

}  // namespace ppx
