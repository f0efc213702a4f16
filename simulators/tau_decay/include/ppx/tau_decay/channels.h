#pragma once
// The 38 tau- decay channels of Sherpa 2.2's tau-/Decays.dat (README.md "Decay channels"): one table
// of branching ratios, final states and kinematic recipes. Immutable; safe from any thread.
#include <array>
#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "ppx/tau_decay/kinematics.h"

namespace ppx::tau_decay {

inline constexpr std::size_t kChannelCount = 38;

// How the decay kinematics are generated (README.md "Decay kinematics").
enum class Recipe : char {
  Leptonic = 'L',     // Michel spectrum, nu-nu split isotropically
  Pseudoscalar = 'P', // tau -> h nu
  Vector = 'V',       // tau -> V nu -> a b nu (rho or K*)
  AxialVector = 'A',  // tau -> a1 nu -> rho c nu -> a b c nu
  NBody = 'N',        // GENBOD phase space
};

struct Channel {
  int index;
  std::string_view name;       // ASCII final state, e.g. "pi- pi0 nu_tau"
  double br;                   // Sherpa branching ratio (the table sums to 1.00333)
  std::vector<int> final_state;  // PDG codes in table order, nu_tau last
  Recipe recipe;
  // V: resonance and its daughters a, b (indices into final_state). A: the rho's daughters a, b
  // and the bachelor c. Unused (-1) for other recipes.
  const Resonance* resonance = nullptr;
  int a = -1, b = -1, c = -1;
};

// The table, indexed by channel number.
std::span<const Channel> channels();
const Channel& channel(std::size_t index);  // throws std::out_of_range
// BRs divided by their sum (the Categorical's probabilities).
const std::array<double, kChannelCount>& normalised_brs();
double br_sum();

}  // namespace ppx::tau_decay
