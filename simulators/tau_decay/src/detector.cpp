#include "ppx/tau_decay/detector.h"

#include <algorithm>
#include <boost/math/special_functions/gamma.hpp>
#include <cmath>
#include <numbers>

namespace ppx::tau_decay {
namespace {

// Errors become NaN (then handled below) instead of exceptions: the model never throws on maths.
// Double precision throughout (the default promotes to long double, ~3x slower, for no benefit).
using NoThrowPolicy = boost::math::policies::policy<
    boost::math::policies::promote_double<false>,
    boost::math::policies::domain_error<boost::math::policies::ignore_error>,
    boost::math::policies::overflow_error<boost::math::policies::ignore_error>,
    boost::math::policies::underflow_error<boost::math::policies::ignore_error>,
    boost::math::policies::evaluation_error<boost::math::policies::ignore_error>>;

double regularised_gamma_p(double a, double x) {
  if (!(x > 0.0)) return 0.0;
  const double p = boost::math::gamma_p(a, x, NoThrowPolicy());
  return std::isfinite(p) ? std::clamp(p, 0.0, 1.0) : (x > a ? 1.0 : 0.0);
}

// Standard normal CDF.
double phi_cdf(double z) { return 0.5 * std::erfc(-z * (1.0 / std::numbers::sqrt2)); }

// Fractions of a Gaussian of width sigma centred at `centre` in each cell of [-35, 35]; writes
// cells first..last (inclusive) into `out` and returns false when the window misses the grid.
bool transverse_window(double centre, double sigma, int& first, int& last, std::array<double, calo::kCells>& out) {
  const double lo = centre - 5.0 * sigma, hi = centre + 5.0 * sigma;
  if (!(hi > -calo::kHalfWidth && lo < calo::kHalfWidth)) return false;  // also rejects NaN
  first = std::max(0, static_cast<int>(std::floor((lo + calo::kHalfWidth) / calo::kCellSize)));
  last = std::min(calo::kCells - 1, static_cast<int>(std::floor((hi + calo::kHalfWidth) / calo::kCellSize)));
  if (first > last) return false;
  double below = phi_cdf((-calo::kHalfWidth + first * calo::kCellSize - centre) / sigma);
  for (int i = first; i <= last; ++i) {
    const double above = phi_cdf((-calo::kHalfWidth + (i + 1) * calo::kCellSize - centre) / sigma);
    out[i] = above - below;
    below = above;
  }
  return true;
}

// Adds per-layer energies `layer_energy` (GeV) spread with a Gaussian of width sigma around the
// particle's straight line (x, y) = (tx, ty) (D + s) evaluated at mid-depth.
void add_transverse(std::span<double> grid, double tx, double ty, const std::array<double, calo::kLayers>& layer_energy,
                    double sigma) {
  std::array<double, calo::kCells> fx{}, fy{};
  for (int l = 0; l < calo::kLayers; ++l) {
    const double amount = layer_energy[l];
    if (!(amount > 1e-9)) continue;  // below 1 eV: nothing visible against the 20 MeV noise floor
    const double z = calo::kFrontZ + (l + 0.5) * calo::kLayerDepth;
    int i0, i1, j0, j1;
    if (!transverse_window(tx * z, sigma, i0, i1, fx) || !transverse_window(ty * z, sigma, j0, j1, fy)) continue;
    double* layer = grid.data() + std::size_t(l) * calo::kCells * calo::kCells;
    for (int i = i0; i <= i1; ++i) {
      const double ax = amount * fx[i];
      double* row = layer + std::size_t(i) * calo::kCells;
      for (int j = j0; j <= j1; ++j) row[j] += ax * fy[j];
    }
  }
}

}  // namespace

ShowerKind shower_kind(int pdg_code) {
  switch (std::abs(pdg_code)) {
    case pdg::electron:
    case pdg::photon: return ShowerKind::Em;
    case pdg::muon: return ShowerKind::Mip;
    case pdg::pi_plus:
    case pdg::k_plus:
    case pdg::k_long:
    case pdg::k_short: return ShowerKind::Hadronic;
    default: return ShowerKind::Invisible;
  }
}

bool is_charged(int pdg_code) {
  const int a = std::abs(pdg_code);
  return a == pdg::electron || a == pdg::muon || a == pdg::tau || a == pdg::pi_plus || a == pdg::k_plus;
}

std::array<double, calo::kLayers> shower_profile(double start_cm, double unit_cm, double a, double b) {
  std::array<double, calo::kLayers> f{};
  double previous = 0.0;  // P at the front face
  for (int l = 0; l < calo::kLayers; ++l) {
    if (previous >= 1.0) break;  // fully contained: the deeper layers get nothing
    const double t = std::max(0.0, ((l + 1) * calo::kLayerDepth - start_cm) / unit_cm);
    const double p = regularised_gamma_p(a, b * t);
    f[l] = std::max(0.0, p - previous);
    previous = std::max(previous, p);
  }
  return f;
}

std::array<double, calo::kLayers> em_profile(double energy, double start_cm, bool photon) {
  const double e = std::max(energy, 1e-9);
  const double t_max = std::max(0.5, std::log(e / calo::kCriticalEnergy) + (photon ? 0.5 : -0.5));
  constexpr double b = 0.5;
  return shower_profile(start_cm, calo::kX0, 1.0 + b * t_max, b);
}

std::array<double, calo::kLayers> hadronic_profile(double energy, double first_interaction_cm) {
  const double e = std::max(energy, 1e-9);
  const double t_max = std::max(0.1, 0.2 * std::log(e) + 0.1);
  constexpr double b = 1.5;
  return shower_profile(first_interaction_cm, calo::kLambdaI, 1.0 + b * t_max, b);
}

void add_mean_deposit(std::span<double> grid, const FourVector& momentum, const DetectorHit& hit) {
  if (hit.kind == ShowerKind::Invisible || !(hit.e_vis > 0.0)) return;
  // Only particles heading into the calorimeter (a p_z floor keeps tx, ty finite).
  if (!(momentum.pz > 1e-6 * momentum.p())) return;
  const double tx = momentum.px / momentum.pz, ty = momentum.py / momentum.pz;
  const double energy = momentum.e;
  std::array<double, calo::kLayers> layers{};
  switch (hit.kind) {
    case ShowerKind::Em: {
      const auto f = em_profile(energy, hit.shower_start, std::abs(hit.pdg) == pdg::photon);
      for (int l = 0; l < calo::kLayers; ++l) layers[l] = hit.e_vis * f[l];
      add_transverse(grid, tx, ty, layers, calo::kSigmaEm);
      break;
    }
    case ShowerKind::Hadronic: {
      const double s_int = std::max(0.0, hit.shower_start);
      double e_mip = 0.0;
      if (is_charged(hit.pdg)) {
        // MIP track from the front face to the first interaction, capped at the visible energy.
        for (int l = 0; l < calo::kLayers; ++l) {
          const double length = std::clamp(s_int - l * calo::kLayerDepth, 0.0, calo::kLayerDepth);
          layers[l] = calo::kMipDeDx * length;
          e_mip += layers[l];
        }
        if (e_mip > hit.e_vis) {
          for (double& x : layers) x *= hit.e_vis / e_mip;
          e_mip = hit.e_vis;
        }
        add_transverse(grid, tx, ty, layers, calo::kSigmaMip);
      }
      const double e_shower = std::max(0.0, hit.e_vis - e_mip);
      const auto f = hadronic_profile(energy, s_int);
      for (int l = 0; l < calo::kLayers; ++l) layers[l] = e_shower * f[l];
      add_transverse(grid, tx, ty, layers, calo::kSigmaHad);
      break;
    }
    case ShowerKind::Mip: {
      layers.fill(hit.e_vis / calo::kLayers);
      add_transverse(grid, tx, ty, layers, calo::kSigmaMip);
      break;
    }
    case ShowerKind::Invisible: break;
  }
}

std::vector<double> sum_pool(std::span<const double> fine) {
  std::vector<double> coarse(calo::kCoarseVoxels, 0.0);
  constexpr int fl = calo::kLayers / calo::kCoarseLayers, fc = calo::kCells / calo::kCoarseCells;
  for (int l = 0; l < calo::kLayers; ++l) {
    for (int i = 0; i < calo::kCells; ++i) {
      const double* row = fine.data() + (std::size_t(l) * calo::kCells + i) * calo::kCells;
      double* out = coarse.data() + (std::size_t(l / fl) * calo::kCoarseCells + i / fc) * calo::kCoarseCells;
      for (int j = 0; j < calo::kCells; ++j) out[j / fc] += row[j];
    }
  }
  return coarse;
}

std::vector<double> likelihood_stddev(std::span<const double> mean, double k, double pooled_voxels, double c2) {
  std::vector<double> out(mean.size());
  const double floor2 = pooled_voxels * calo::kNoiseFloor * calo::kNoiseFloor;
  const double empty = k * std::sqrt(floor2);  // most voxels: skip the square root
  for (std::size_t v = 0; v < mean.size(); ++v) {
    out[v] = mean[v] > 0.0 ? k * std::sqrt(floor2 + c2 * mean[v]) : empty;
  }
  return out;
}

namespace etalumis {

long voxel_of(double x, double y, double z) {
  constexpr double cell = 2.0 * kHalfWidth / calo::kCells, layer = (kBackZ - kFrontZ) / calo::kLayers;
  if (!(x >= -kHalfWidth && x < kHalfWidth && y >= -kHalfWidth && y < kHalfWidth && z >= kFrontZ && z < kBackZ))
    return -1;
  const int i = std::min(calo::kCells - 1, static_cast<int>((x + kHalfWidth) / cell));
  const int j = std::min(calo::kCells - 1, static_cast<int>((y + kHalfWidth) / cell));
  const int l = std::min(calo::kLayers - 1, static_cast<int>((z - kFrontZ) / layer));
  return (static_cast<long>(l) * calo::kCells + i) * calo::kCells + j;
}

}  // namespace etalumis
}  // namespace ppx::tau_decay
