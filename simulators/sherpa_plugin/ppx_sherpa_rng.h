#pragma once
// PpxRng: Sherpa's external random-number generator (ATOOLS::External_RNG) over PPX. Loaded by
// Sherpa from libPpxSherpaRng.so (`SHERPA_LDADD: [PpxSherpaRng]`) and selected with
// `EXTERNAL_RNG: PpxRng` in the run card.
//
// Two modes. Outside a trace (set-up, integration, anything before begin_trace) draws come from a
// private generator with a fixed seed, so set-up is reproducible and no trace carries its
// millions of draws. Inside a trace every Random::Get() is ppx::sample(Uniform(0, 1)) at a stack
// address that skips Sherpa's random-number frames (ATOOLS::Random, ATOOLS::External_RNG).
// Sherpa does not save or restore an external generator's status; begin_trace() also drops the
// second Gaussian variate that Random::GetGaussian keeps between calls (a function-level static
// in Sherpa 3), so every trace starts from the same state.
#include <cstdint>
#include <random>

#include "ATOOLS/Math/Random.H"
#include "ppx/stack_address.h"

namespace ppx::sherpa {

class PpxRng final : public ATOOLS::External_RNG {
 public:
  PpxRng();
  ~PpxRng() override;
  double Get() override;

  // The instance Sherpa created (null before Sherpa loaded the plugin).
  static PpxRng* instance();
  // Starts a trace: drops Random::GetGaussian's spare variate, then draws through PPX.
  void begin_trace();
  // Back to the private generator (reseeded to `seed`, so each set-up phase is reproducible).
  void end_trace(std::uint64_t seed = 1);
  std::uint64_t draws() const { return draws_; }  // every Get() so far, in both modes

 private:
  bool in_trace_ = false;
  std::mt19937_64 local_{1};
  std::uint64_t draws_ = 0;
  StackAddresser addresser_;
};

}  // namespace ppx::sherpa
