#include "ppx/tau_decay/kinematics.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>
#include <stdexcept>
#include <string>

namespace ppx::tau_decay {

double particle_mass(int pdg_code) {
  switch (std::abs(pdg_code)) {
    case pdg::electron: return mass::electron;
    case pdg::muon: return mass::muon;
    case pdg::tau: return mass::tau;
    case pdg::nu_e:
    case pdg::nu_mu:
    case pdg::nu_tau:
    case pdg::photon: return 0.0;
    case pdg::pi0: return mass::pi0;
    case pdg::pi_plus: return mass::pi_charged;
    case pdg::k_plus: return mass::k_charged;
    case pdg::k_short:
    case pdg::k_long: return mass::k0;
    case pdg::eta: return mass::eta;
    default: throw std::invalid_argument("particle_mass: unknown PDG code " + std::to_string(pdg_code));
  }
}

std::string_view particle_name(int pdg_code) {
  switch (pdg_code) {
    case pdg::electron: return "e-";
    case -pdg::electron: return "e+";
    case pdg::muon: return "mu-";
    case -pdg::muon: return "mu+";
    case pdg::tau: return "tau-";
    case pdg::nu_e: return "nu_e";
    case -pdg::nu_e: return "anti-nu_e";
    case pdg::nu_mu: return "nu_mu";
    case -pdg::nu_mu: return "anti-nu_mu";
    case pdg::nu_tau: return "nu_tau";
    case -pdg::nu_tau: return "anti-nu_tau";
    case pdg::photon: return "gamma";
    case pdg::pi0: return "pi0";
    case pdg::pi_plus: return "pi+";
    case -pdg::pi_plus: return "pi-";
    case pdg::k_plus: return "K+";
    case -pdg::k_plus: return "K-";
    case pdg::k_short: return "K_S";
    case pdg::k_long: return "K_L";
    case pdg::eta: return "eta";
    default: return "?";
  }
}

bool is_neutrino(int pdg_code) {
  const int a = std::abs(pdg_code);
  return a == pdg::nu_e || a == pdg::nu_mu || a == pdg::nu_tau;
}

void sort_small(double* values, std::size_t n) {
  for (std::size_t i = 1; i < n; ++i) {
    const double v = values[i];
    std::size_t j = i;
    for (; j > 0 && values[j - 1] > v; --j) values[j] = values[j - 1];
    values[j] = v;
  }
}

double FourVector::p() const { return std::sqrt(p2()); }
double FourVector::m() const { return std::sqrt(std::max(m2(), 0.0)); }

Vector3 direction(double cos_theta, double phi, const Vector3& x_axis, const Vector3& y_axis, const Vector3& z_axis) {
  const double c = std::clamp(cos_theta, -1.0, 1.0);
  const double s = std::sqrt(std::max(0.0, 1.0 - c * c));
  const double a = s * std::cos(phi), b = s * std::sin(phi);
  return {a * x_axis[0] + b * y_axis[0] + c * z_axis[0], a * x_axis[1] + b * y_axis[1] + c * z_axis[1],
          a * x_axis[2] + b * y_axis[2] + c * z_axis[2]};
}

HelicityFrame helicity_frame(const FourVector& tau) {
  const double p = tau.p();
  if (!(p > 0.0)) return {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
  const Vector3 z{tau.px / p, tau.py / p, tau.pz / p};
  // x' = lab x minus its z' component; lab y if the tau runs along lab x.
  Vector3 ref{1, 0, 0};
  if (std::abs(z[0]) > 1.0 - 1e-12) ref = {0, 1, 0};
  const double dot = ref[0] * z[0] + ref[1] * z[1] + ref[2] * z[2];
  Vector3 x{ref[0] - dot * z[0], ref[1] - dot * z[1], ref[2] - dot * z[2]};
  const double n = std::sqrt(x[0] * x[0] + x[1] * x[1] + x[2] * x[2]);
  x = {x[0] / n, x[1] / n, x[2] / n};
  const Vector3 y{z[1] * x[2] - z[2] * x[1], z[2] * x[0] - z[0] * x[2], z[0] * x[1] - z[1] * x[0]};
  return {x, y, z};
}

FourVector boost_from_rest_frame(const FourVector& p, const FourVector& parent) {
  const double m = parent.m();
  const double gamma = parent.e / m;
  const double bx = parent.px / parent.e, by = parent.py / parent.e, bz = parent.pz / parent.e;
  const double bp = bx * p.px + by * p.py + bz * p.pz;
  const double k = gamma * gamma / (gamma + 1.0) * bp + gamma * p.e;
  return {gamma * (p.e + bp), p.px + k * bx, p.py + k * by, p.pz + k * bz};
}

double breakup_momentum(double big_m, double m1, double m2) {
  if (!(big_m > 0.0)) return 0.0;
  const double s = big_m * big_m;
  const double a = s - (m1 + m2) * (m1 + m2);
  const double b = s - (m1 - m2) * (m1 - m2);
  if (a <= 0.0 || b <= 0.0) return 0.0;
  return std::sqrt(a * b) / (2.0 * big_m);
}

std::array<FourVector, 2> two_body_at_rest(double big_m, double m1, double m2, const Vector3& unit) {
  const double q = breakup_momentum(big_m, m1, m2);
  const double e1 = (big_m * big_m + m1 * m1 - m2 * m2) / (2.0 * big_m);
  const double e2 = big_m - e1;
  return {FourVector{e1, q * unit[0], q * unit[1], q * unit[2]},
          FourVector{e2, -q * unit[0], -q * unit[1], -q * unit[2]}};
}

double breit_wigner(double m, const Resonance& r) {
  const double d = m * m - r.mass * r.mass;
  return m * r.mass * r.width / (d * d + r.mass * r.mass * r.width * r.width);
}

CauchyProposal::CauchyProposal(const Resonance& resonance, double lo, double hi)
    : r(resonance),
      theta_lo(std::atan(2.0 * (lo - resonance.mass) / resonance.width)),
      theta_hi(std::atan(2.0 * (hi - resonance.mass) / resonance.width)) {}

double CauchyProposal::mass(double u) const {
  return r.mass + 0.5 * r.width * std::tan(theta_lo + u * (theta_hi - theta_lo));
}

double CauchyProposal::density(double m) const {
  const double d = m - r.mass;
  return 1.0 / (d * d + 0.25 * r.width * r.width);
}

double genbod_weight(std::span<const double> masses, double total, std::span<const double> sorted_r,
                     std::span<double> intermediate) {
  const std::size_t n = masses.size();
  double sum = 0;
  for (double m : masses) sum += m;
  const double kinetic = total - sum;
  std::array<double, kMaxBodies> big_m{};
  double partial = 0;
  for (std::size_t j = 0; j < n; ++j) {
    partial += masses[j];
    if (j == 0) big_m[j] = masses[0];
    else if (j == n - 1) big_m[j] = total;
    else big_m[j] = partial + sorted_r[j - 1] * kinetic;
  }
  double w = 1.0;
  for (std::size_t j = 0; j + 1 < n; ++j) w *= breakup_momentum(big_m[j + 1], big_m[j], masses[j + 1]);
  for (std::size_t j = 0; j < intermediate.size() && j < n; ++j) intermediate[j] = big_m[j];
  return w;
}

double genbod_analytic_bound(std::span<const double> masses, double total) {
  double sum = 0;
  for (double m : masses) sum += m;
  const double kinetic = total - sum;
  double em_min = 0, em_max = kinetic + masses[0], w = 1.0;
  for (std::size_t j = 1; j < masses.size(); ++j) {
    em_min += masses[j - 1];
    em_max += masses[j];
    w *= breakup_momentum(em_max, em_min, masses[j]);
  }
  return w;
}

double genbod_sampled_bound(std::span<const double> masses, double total, std::uint64_t seed, int draws) {
  std::mt19937_64 rng(seed);
  const std::size_t free = masses.size() >= 2 ? masses.size() - 2 : 0;
  std::array<double, kMaxBodies> r{};
  double best = 0.0;
  for (int k = 0; k < draws; ++k) {
    // 53-bit uniforms from the raw generator: identical on every standard library.
    for (std::size_t i = 0; i < free; ++i) r[i] = static_cast<double>(rng() >> 11) * 0x1.0p-53;
    sort_small(r.data(), free);
    best = std::max(best, genbod_weight(masses, total, std::span<const double>(r.data(), free)));
  }
  return 1.2 * best;
}

}  // namespace ppx::tau_decay
