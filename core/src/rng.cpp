#include "ppx/core/rng.h"

namespace ppx {

std::uint64_t mix_seed(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

Rng make_rng(std::uint64_t seed, std::uint64_t stream) {
  // One well-mixed 64-bit seed per (seed, stream); paid once per trace, so it must be cheap.
  return Rng(mix_seed(mix_seed(seed) ^ mix_seed(stream + 0x632be59bd9b4e019ull)));
}

}  // namespace ppx
