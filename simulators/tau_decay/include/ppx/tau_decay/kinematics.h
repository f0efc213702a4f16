#pragma once
// Relativistic kinematics of the tau-decay toy (README.md "Decay kinematics"): four-vectors, boosts,
// two-body momenta, Breit-Wigner shapes and GENBOD phase-space weights. Pure functions, no
// random draws; the sampled decay recipes live in decays.cpp and use these.
// Units: GeV for energies, momenta and masses.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace ppx::tau_decay {

// PDG Monte Carlo particle codes used by the toy.
namespace pdg {
inline constexpr int electron = 11, nu_e = 12, muon = 13, nu_mu = 14, nu_tau = 16, tau = 15;
inline constexpr int photon = 22, pi0 = 111, pi_plus = 211, k_long = 130, k_short = 310, k_plus = 321, eta = 221;
}  // namespace pdg

// Masses (GeV), as listed in README.md "Decay kinematics".
namespace mass {
inline constexpr double tau = 1.77686, pi_charged = 0.13957, pi0 = 0.13498, k_charged = 0.49368, k0 = 0.49761,
                        eta = 0.54786, electron = 0.000511, muon = 0.10566;
}  // namespace mass

// Pole mass and width (GeV) of the resonances.
struct Resonance {
  double mass;
  double width;
};
inline constexpr Resonance kRho{0.7753, 0.1491};
inline constexpr Resonance kKstar{0.8917, 0.0514};
inline constexpr Resonance kA1{1.230, 0.420};

// Mass of a particle by PDG code (sign ignored); throws std::invalid_argument for unknown codes.
double particle_mass(int pdg_code);
// Short ASCII name ("pi-", "K_S", "gamma", "anti-nu_e"); "?" for unknown codes.
std::string_view particle_name(int pdg_code);
bool is_neutrino(int pdg_code);

struct FourVector {
  double e = 0, px = 0, py = 0, pz = 0;

  FourVector& operator+=(const FourVector& o) {
    e += o.e, px += o.px, py += o.py, pz += o.pz;
    return *this;
  }
  friend FourVector operator+(FourVector a, const FourVector& b) { return a += b; }
  friend FourVector operator-(const FourVector& a, const FourVector& b) {
    return {a.e - b.e, a.px - b.px, a.py - b.py, a.pz - b.pz};
  }
  double p2() const { return px * px + py * py + pz * pz; }
  double p() const;
  double m2() const { return e * e - p2(); }
  double m() const;  // sqrt(max(m2, 0))
};

using Vector3 = std::array<double, 3>;

// A unit vector from polar cosine and azimuth in the frame with axes (x_axis, y_axis, z_axis).
Vector3 direction(double cos_theta, double phi, const Vector3& x_axis = {1, 0, 0}, const Vector3& y_axis = {0, 1, 0},
                  const Vector3& z_axis = {0, 0, 1});

// The tau's helicity frame (README.md "Decay kinematics", Frames): z' along `tau_momentum`, x' perpendicular to z' in
// the plane of z' and lab x, y' = z' x x'. Falls back to lab y when the tau is along lab x.
struct HelicityFrame {
  Vector3 x, y, z;
};
HelicityFrame helicity_frame(const FourVector& tau);

// Boosts `p` from the rest frame of `parent` into the frame where `parent` has its given momentum.
// `parent` must be time-like (m > 0).
FourVector boost_from_rest_frame(const FourVector& p, const FourVector& parent);

// Two-body breakup momentum p*(M; m1, m2) (0 below threshold, never NaN).
double breakup_momentum(double big_m, double m1, double m2);

// Two daughters of a parent of mass M at rest, daughter 1 along `unit`. Energies are fixed by
// E1 = (M^2 + m1^2 - m2^2)/(2M), E2 = M - E1 so that energy is conserved to rounding.
std::array<FourVector, 2> two_body_at_rest(double big_m, double m1, double m2, const Vector3& unit);

// BW(m; M, Gamma) = m M Gamma / ((m^2 - M^2)^2 + M^2 Gamma^2).
double breit_wigner(double m, const Resonance& r);

// Mass proposal of the resonance loops: the non-relativistic Breit-Wigner (Cauchy) density on
// [lo, hi], mapped from u in [0, 1]; g(m) is its unnormalised density.
struct CauchyProposal {
  Resonance r;
  double theta_lo, theta_hi;
  CauchyProposal(const Resonance& resonance, double lo, double hi);
  double mass(double u) const;
  double density(double m) const;  // g(m) = 1 / ((m - M)^2 + Gamma^2/4)
};

// GENBOD weight w = prod_j p*(M_{j+1}; M_j, m_{j+1}) for sorted r in [0,1]^(n-2) (README.md "N: n-body").
// `masses` are the n daughter masses in list order, `total` the parent mass. Writes the
// intermediate masses M_1..M_n (M_1 = m_1, M_n = total) to `intermediate` when given.
double genbod_weight(std::span<const double> masses, double total, std::span<const double> sorted_r,
                     std::span<double> intermediate = {});
// GENBOD's analytic bound on w (as in CERNLIB GENBOD / ROOT TGenPhaseSpace).
double genbod_analytic_bound(std::span<const double> masses, double total);
// The tight bound: 1.2 x the largest w over `draws` points drawn with a private
// std::mt19937_64(seed) that never goes through ppx (deterministic; costs ~draws x 50 ns).
double genbod_sampled_bound(std::span<const double> masses, double total, std::uint64_t seed, int draws = 100000);

// Insertion sort of a handful of values (the GENBOD uniforms).
void sort_small(double* values, std::size_t n);

inline constexpr std::size_t kMaxBodies = 7;  // largest n of any channel (ntau included)

}  // namespace ppx::tau_decay
