#pragma once
// The toy iron calorimeter (README.md "Calorimeter"): geometry, mean deposits of one particle,
// the observation's noise model and pooling. Pure functions; the detector latents are drawn in
// model.cpp. Grids are flat, layer-major: index (l * 35 + i) * 35 + j with i along x, j along y.
#include <array>
#include <cstddef>
#include <span>
#include <vector>

#include "ppx/tau_decay/kinematics.h"

namespace ppx::tau_decay {

namespace calo {
inline constexpr int kLayers = 20;
inline constexpr int kCells = 35;
inline constexpr std::size_t kVoxels = std::size_t(kLayers) * kCells * kCells;  // 24,500
inline constexpr int kCoarseLayers = 4, kCoarseCells = 7;
inline constexpr std::size_t kCoarseVoxels = std::size_t(kCoarseLayers) * kCoarseCells * kCoarseCells;
inline constexpr double kFrontZ = 150.0;      // cm
inline constexpr double kLayerDepth = 5.0;    // cm
inline constexpr double kCellSize = 2.0;      // cm
inline constexpr double kHalfWidth = 35.0;    // cm: x, y in [-35, 35]
inline constexpr double kDepth = kLayers * kLayerDepth;
// Iron (PDG).
inline constexpr double kX0 = 1.757;          // cm
inline constexpr double kLambdaI = 16.77;     // cm
inline constexpr double kMoliere = 1.72;      // cm
inline constexpr double kCriticalEnergy = 0.0217;  // GeV
inline constexpr double kMipDeDx = 0.0114;    // GeV/cm
// Transverse shower widths (cm).
inline constexpr double kSigmaEm = 0.8, kSigmaHad = 4.0, kSigmaMip = 0.3;
// Observation noise: sigma_v = k sqrt(sigma_n^2 + c^2 mu_v).
inline constexpr double kNoiseFloor = 0.02;   // GeV
inline constexpr double kStochastic = 0.05;   // GeV^(1/2)
}  // namespace calo

enum class ShowerKind { Em, Hadronic, Mip, Invisible };
// e, gamma: Em; pi+-, K+-, K_L, K_S (only late K_S reach the final state): Hadronic; mu: Mip.
ShowerKind shower_kind(int pdg_code);
bool is_charged(int pdg_code);

// The detector's view of one visible final-state particle.
struct DetectorHit {
  std::size_t particle = 0;   // index into Event::final_state
  int pdg = 0;
  ShowerKind kind = ShowerKind::Invisible;
  double response = 1.0;      // E_vis / E
  double e_vis = 0.0;         // GeV
  double shower_start = 0.0;  // cm behind the front face: gamma conversion depth or hadronic
                              // first interaction; 0 for e and mu
};

// Fraction of a gamma-profile shower in each layer (README.md "Mean deposits"): F_l = P(a, b t_hi) - P(a, b t_lo)
// with t = (s - start) / unit clipped at 0.
std::array<double, calo::kLayers> shower_profile(double start_cm, double unit_cm, double a, double b);
// EM and hadronic profiles of a particle of true energy `energy` (GeV).
std::array<double, calo::kLayers> em_profile(double energy, double start_cm, bool photon);
std::array<double, calo::kLayers> hadronic_profile(double energy, double first_interaction_cm);

// Adds the mean deposit of one particle (README.md "Mean deposits") to a full-resolution grid; `momentum` is the
// lab momentum and `energy` its true energy. Particles that do not reach the front face
// (p_z <= 0) or miss the grid deposit nothing. Visits only cells within 5 sigma.
void add_mean_deposit(std::span<double> grid, const FourVector& momentum, const DetectorHit& hit);

// Sum-pools [20,35,35] into [4,7,7] (5 layers x 5 x 5 cells per coarse voxel).
std::vector<double> sum_pool(std::span<const double> fine);

// The calorimeter likelihood's stddev for a mean image: k sqrt(n sigma_n^2 + c2 mu) where n is
// the number of fine voxels pooled into each voxel (1 or 125) and c2 the variance per GeV
// (c^2 = 0.0025 for calo_mode mean, 1 for etalumis_v1).
std::vector<double> likelihood_stddev(std::span<const double> mean, double k, double pooled_voxels, double c2);

// calo_mode = etalumis_v1 (README.md "The etalumis_v1 calorimeter"): grid over x, y in [-3, 3],
// z in [4, 15] (arbitrary units).
namespace etalumis {
inline constexpr double kHalfWidth = 3.0, kFrontZ = 4.0, kBackZ = 15.0;
inline constexpr double kDepositEnergy = 0.005;  // GeV per deposit
inline constexpr double kSamplingEm = 0.5, kSamplingHad = 0.25;
inline constexpr std::array<double, 3> kSigmaEm{0.2, 0.2, 0.5}, kSigmaHad{0.2, 0.2, 1.0};
// The voxel of a point, or -1 outside the grid.
long voxel_of(double x, double y, double z);
}  // namespace etalumis

}  // namespace ppx::tau_decay
