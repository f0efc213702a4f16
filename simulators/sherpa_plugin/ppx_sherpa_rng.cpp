// The Sherpa plugin: PpxRng registered with Sherpa's getter (the manual's "External RNG" form).
#include "ppx_sherpa_rng.h"

#include "ATOOLS/Org/Getter_Function.H"

namespace ppx::sherpa {
namespace {
PpxRng* current = nullptr;
}

PpxRng::PpxRng()
    : addresser_(StackAddressOptions{.skip_symbols = {"ATOOLS::Random::", "ATOOLS::External_RNG", "ATOOLS::ran"}}) {
  current = this;
}

PpxRng::~PpxRng() {
  if (current == this) current = nullptr;
}

PpxRng* PpxRng::instance() { return current; }

double PpxRng::Get() {
  ++draws_;
  if (!in_trace_) return std::generate_canonical<double, 53>(local_);
  return sample_uniform01_at_stack(addresser_);
}

void PpxRng::begin_trace() {
  end_trace();
  // GetGaussian returns its spare without drawing; a call that draws leaves a new spare. So calls
  // until one draws nothing leave no spare (at most two calls).
  for (int i = 0; i < 3; ++i) {
    const std::uint64_t before = draws_;
    (void)ATOOLS::ran->GetGaussian();
    if (draws_ == before) break;
  }
  in_trace_ = true;
}

void PpxRng::end_trace(std::uint64_t seed) {
  in_trace_ = false;
  local_.seed(seed);
}

}  // namespace ppx::sherpa

using ppx::sherpa::PpxRng;
DECLARE_GETTER(PpxRng, "PpxRng", ATOOLS::External_RNG, ATOOLS::RNG_Key);
ATOOLS::External_RNG* ATOOLS::Getter<ATOOLS::External_RNG, ATOOLS::RNG_Key, PpxRng>::operator()(
    const ATOOLS::RNG_Key&) const {
  return new PpxRng();
}
void ATOOLS::Getter<ATOOLS::External_RNG, ATOOLS::RNG_Key, PpxRng>::PrintInfo(std::ostream& str, const size_t) const {
  str << "ppxd: every draw is a PPX sample with a stack address";
}
