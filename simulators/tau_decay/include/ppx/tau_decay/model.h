#pragma once
// The tau-decay toy simulator (README.md): a tau- with uniform momentum decays through
// one of 38 channels; its products shower in a toy iron calorimeter; the model observes the
// 35x35x20 calorimeter image ("calorimeter") and the missing transverse momentum ("met").
//
//   ppx::tau_decay::Options options;          // the documented defaults
//   ppx::Model model = ppx::tau_decay::make_model(options);
//   model.serve(...) or model.run(handler)
//
// Every random draw goes through ppx::sample with a fixed base address (see manifest.h), so the
// model is a fixed probabilistic program: the same seed under a LocalHandler gives the same trace.
// simulate() runs under the calling thread's current ppx handler; it may be called concurrently
// from several threads (each with its own handler). Its only shared state is the lazily computed,
// read-only table of GENBOD bounds. Errors: invalid options throw std::invalid_argument; whatever
// the handler throws propagates.
#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "ppx/ppx.h"
#include "ppx/tau_decay/detector.h"
#include "ppx/tau_decay/kinematics.h"
#include "ppx/tau_decay/options.h"

namespace ppx::tau_decay {

// The accept/reject loops (README.md "Rejection loops"), by loop id as in the address manifest.
enum class LoopId : std::uint8_t { Lepton, Dir, RhoMass, KstarMass, A1Mass, NBody, Eta3 };
inline constexpr std::size_t kLoopCount = 7;
std::string_view loop_name(LoopId id);  // "lepton", "dir", "rho_mass", ...

inline constexpr int kMaxLoopTries = 10000;  // as Sherpa's Decay_Channel::GenerateKinematics

struct LoopStats {
  std::uint64_t entries = 0;           // times the loop ran
  std::uint64_t tries = 0;             // proposals drawn (each ends with an `accept` draw)
  std::uint64_t bound_violations = 0;  // accepted with acceptance ratio > 1 (bound not updated)
  std::uint64_t cap_hits = 0;          // gave up after kMaxLoopTries and kept the last proposal
};

// Diagnostics of one or more runs; merge() adds another run's counts.
struct RunStats {
  std::array<LoopStats, kLoopCount> loops{};
  std::uint64_t samples = 0;  // ppx::sample calls
  const LoopStats& loop(LoopId id) const { return loops[static_cast<std::size_t>(id)]; }
  LoopStats& loop(LoopId id) { return loops[static_cast<std::size_t>(id)]; }
  void merge(const RunStats& other);
};

struct Particle {
  int pdg = 0;
  FourVector p;  // lab frame unless stated otherwise
};

// Everything the model knows about one run: the physics truth behind the truth/* tags, exposed
// so tests and the generator can check and record it.
struct Event {
  int channel = -1;
  FourVector tau;                           // lab
  std::vector<Particle> rest_frame_products;  // primary products in the tau rest frame (lab axes)
  std::vector<Particle> primary_products;     // the same boosted to the lab
  std::vector<Particle> final_state;          // lab, after secondary decays (depth-first order)
  double m_res = 0;        // accepted resonance mass: rho/K* (V), a1 (A); 0 otherwise
  double m_rho = 0;        // the rho mass inside an a1 decay (A); rho mass for channel 4
  double lepton_x = 0;     // Michel x = 2E/m_tau (L)
  int n_pi0 = 0;           // pi0s produced, secondary ones included
  std::array<double, 2> met{};              // true sum of neutrino (px, py), GeV
  std::vector<DetectorHit> hits;            // one per visible final-state particle (mean mode)
};

// One forward run under the current handler: samples, truth tags, then the two observes.
// Returns the channel as a 0-d tensor. `event` and `stats` are filled when given.
Tensor simulate(const Options& options, Event* event = nullptr, RunStats* stats = nullptr);

// A ppx::Model named "tau_decay" that runs simulate(options). Validates the options (throws).
Model make_model(const Options& options);

// The mean calorimeter image (README.md "Mean deposits") of an event's hits, [20,35,35] layer-major, at full
// resolution. Used by simulate() in calo_mode mean; exposed for tests and benchmarks.
std::vector<double> mean_deposits(const Event& event);

}  // namespace ppx::tau_decay
