// The sampled decay recipes: the tau's primary decay in its rest frame (README.md "Decay
// kinematics") and the prompt secondary decays of pi0, K_S and eta (README.md "Secondary decays").
#include <algorithm>
#include <array>
#include <cmath>
#include <mutex>
#include <numbers>

#include "draws.h"
#include "ppx/tau_decay/channels.h"
#include "ppx/tau_decay/kinematics.h"

namespace ppx::tau_decay::detail {
namespace {

constexpr double kTwoPi = 2.0 * std::numbers::pi;
constexpr double kKShortCTau = 2.6844;     // cm
constexpr double kKShortLateFlight = 150.0;  // cm: reaches the calorimeter front face

// Tight GENBOD bounds, one slot per channel plus the two three-body eta modes; each computed once,
// on first use, from its own fixed private seed (so the value never depends on which came first).
constexpr std::size_t kEta3NeutralSlot = kChannelCount, kEta3ChargedSlot = kChannelCount + 1;
constexpr std::size_t kBoundSlots = kChannelCount + 2;

double tight_bound(std::size_t slot, std::span<const double> masses, double total) {
  static std::array<std::once_flag, kBoundSlots> once;
  static std::array<double, kBoundSlots> bound{};
  std::call_once(once[slot], [&] { bound[slot] = genbod_sampled_bound(masses, total, 0x7a0de5eedULL + slot); });
  return bound[slot];
}

double polar_ratio(double analysing_power, double polarisation, double cos_theta) {
  const double ap = analysing_power * polarisation;
  return (1.0 + ap * cos_theta) / (1.0 + std::abs(ap));
}

// Direction loop (recipes P, V, A): cos theta ~ 1 + alpha P cos theta in the helicity frame.
Vector3 sample_direction(Context& ctx, const HelicityFrame& frame, double analysing_power) {
  double c = 0.0;
  rejection_loop(ctx, LoopId::Dir, "decay/dir/accept", [&] {
    c = draw_uniform(ctx, "decay/dir/cos_theta", -1.0, 1.0);
    return polar_ratio(analysing_power, ctx.options.p_tau, c);
  });
  const double phi = draw_uniform(ctx, "decay/dir/phi", 0.0, kTwoPi);
  return direction(c, phi, frame.x, frame.y, frame.z);
}

// Isotropic direction with lab axes from a (cos_theta, phi) address pair.
Vector3 sample_isotropic(Context& ctx, const char* cos_address, const char* phi_address) {
  const double c = draw_uniform(ctx, cos_address, -1.0, 1.0);
  const double phi = draw_uniform(ctx, phi_address, 0.0, kTwoPi);
  return direction(c, phi);
}

double analysing_power(double m) {
  const double t2 = mass::tau * mass::tau, m2 = m * m;
  return (t2 - 2.0 * m2) / (t2 + 2.0 * m2);
}

struct MassLoopAddresses {
  LoopId id;
  const char* u;
  const char* accept;
};

// Resonance mass loop: Cauchy proposal g on [lo, hi], accept with h/h_max, h = f/g, where h_max is
// 1.2 x the largest h over 64 midpoints (README.md "Decay kinematics", recipe V).
template <class Shape>
double sample_resonance_mass(Context& ctx, const MassLoopAddresses& at, const Resonance& r, double lo, double hi,
                             Shape&& f) {
  const CauchyProposal g(r, lo, hi);
  double h_max = 0.0;
  for (int i = 0; i < 64; ++i) {
    const double m = lo + (i + 0.5) * (hi - lo) / 64.0;
    h_max = std::max(h_max, f(m) / g.density(m));
  }
  h_max *= 1.2;
  double m = lo;
  rejection_loop(ctx, at.id, at.accept, [&] {
    const double u = draw_uniform(ctx, at.u, 0.0, 1.0);
    m = std::clamp(g.mass(u), lo, hi);
    return h_max > 0.0 ? f(m) / g.density(m) / h_max : 1.0;
  });
  return m;
}

void leptonic(Context& ctx, const Channel& ch, const HelicityFrame& frame, Event& event) {
  const double m_l = particle_mass(ch.final_state[0]);
  const double p_tau = ctx.options.p_tau;
  double x = 1.0, c = 0.0;
  rejection_loop(ctx, LoopId::Lepton, "decay/lepton/accept", [&] {
    x = draw_uniform(ctx, "decay/lepton/x", 2.0 * m_l / mass::tau, 1.0);
    c = draw_uniform(ctx, "decay/lepton/cos_theta", -1.0, 1.0);
    return x * x * ((3.0 - 2.0 * x) + p_tau * (1.0 - 2.0 * x) * c) / (1.0 + std::abs(p_tau));
  });
  const double phi = draw_uniform(ctx, "decay/lepton/phi", 0.0, kTwoPi);
  const double e = x * mass::tau / 2.0;
  const double p = std::sqrt(std::max(0.0, e * e - m_l * m_l));
  const Vector3 u = direction(c, phi, frame.x, frame.y, frame.z);
  const FourVector lepton{e, p * u[0], p * u[1], p * u[2]};
  const FourVector nunu{mass::tau - e, -lepton.px, -lepton.py, -lepton.pz};
  const Vector3 v = sample_isotropic(ctx, "decay/nunu/cos_theta", "decay/nunu/phi");
  std::array<FourVector, 2> nu{};
  if (nunu.m() > 1e-12) {
    nu = two_body_at_rest(nunu.m(), 0.0, 0.0, v);
    nu = {boost_from_rest_frame(nu[0], nunu), boost_from_rest_frame(nu[1], nunu)};
  } else {
    nu = {nunu, FourVector{}};  // collinear limit (unreachable for x <= 1, kept for safety)
  }
  event.lepton_x = x;
  event.rest_frame_products = {{ch.final_state[0], lepton}, {ch.final_state[1], nu[0]}, {ch.final_state[2], nu[1]}};
}

void pseudoscalar(Context& ctx, const Channel& ch, const HelicityFrame& frame, Event& event) {
  const Vector3 u = sample_direction(ctx, frame, 1.0);
  const auto [h, nu] = two_body_at_rest(mass::tau, particle_mass(ch.final_state[0]), 0.0, u);
  event.rest_frame_products = {{ch.final_state[0], h}, {ch.final_state[1], nu}};
}

void vector_resonance(Context& ctx, const Channel& ch, const HelicityFrame& frame, Event& event) {
  const double ma = particle_mass(ch.final_state[ch.a]), mb = particle_mass(ch.final_state[ch.b]);
  const Resonance& r = *ch.resonance;
  const bool rho = &r == &kRho;
  const MassLoopAddresses at = rho ? MassLoopAddresses{LoopId::RhoMass, "decay/rho_mass/u", "decay/rho_mass/accept"}
                                   : MassLoopAddresses{LoopId::KstarMass, "decay/kstar_mass/u", "decay/kstar_mass/accept"};
  const double m = sample_resonance_mass(ctx, at, r, ma + mb, mass::tau, [&](double mm) {
    const double q = breakup_momentum(mm, ma, mb);
    return breit_wigner(mm, r) * breakup_momentum(mass::tau, mm, 0.0) * q * q * q / (mm * mm);
  });
  const Vector3 u = sample_direction(ctx, frame, analysing_power(m));
  const auto [v, nu] = two_body_at_rest(mass::tau, m, 0.0, u);
  const Vector3 w = sample_isotropic(ctx, "decay/res_decay/cos_theta", "decay/res_decay/phi");
  const auto [a, b] = two_body_at_rest(m, ma, mb, w);
  event.m_res = m;
  if (rho) event.m_rho = m;
  event.rest_frame_products.resize(ch.final_state.size());
  event.rest_frame_products[ch.a] = {ch.final_state[ch.a], boost_from_rest_frame(a, v)};
  event.rest_frame_products[ch.b] = {ch.final_state[ch.b], boost_from_rest_frame(b, v)};
  event.rest_frame_products.back() = {ch.final_state.back(), nu};
}

void axial_vector(Context& ctx, const Channel& ch, const HelicityFrame& frame, Event& event) {
  const double ma = particle_mass(ch.final_state[ch.a]), mb = particle_mass(ch.final_state[ch.b]),
               mc = particle_mass(ch.final_state[ch.c]);
  const double m_a1 = sample_resonance_mass(
      ctx, {LoopId::A1Mass, "decay/a1_mass/u", "decay/a1_mass/accept"}, kA1, ma + mb + mc, mass::tau, [&](double m) {
        return breit_wigner(m, kA1) * breakup_momentum(mass::tau, m, 0.0) * breakup_momentum(m, ma + mb, mc) / m;
      });
  const double m_rho = sample_resonance_mass(
      ctx, {LoopId::RhoMass, "decay/rho_mass/u", "decay/rho_mass/accept"}, kRho, ma + mb, m_a1 - mc, [&](double m) {
        const double q = breakup_momentum(m, ma, mb);
        return breit_wigner(m, kRho) * breakup_momentum(m_a1, m, mc) * q * q * q / (m * m);
      });
  const Vector3 u = sample_direction(ctx, frame, analysing_power(m_a1));
  const auto [a1, nu] = two_body_at_rest(mass::tau, m_a1, 0.0, u);
  const auto [rho, c] = two_body_at_rest(m_a1, m_rho, mc, sample_isotropic(ctx, "decay/a1_decay/cos_theta", "decay/a1_decay/phi"));
  const auto [a, b] = two_body_at_rest(m_rho, ma, mb, sample_isotropic(ctx, "decay/res_decay/cos_theta", "decay/res_decay/phi"));
  event.m_res = m_a1;
  event.m_rho = m_rho;
  event.rest_frame_products.resize(ch.final_state.size());
  event.rest_frame_products[ch.a] = {ch.final_state[ch.a], boost_from_rest_frame(boost_from_rest_frame(a, rho), a1)};
  event.rest_frame_products[ch.b] = {ch.final_state[ch.b], boost_from_rest_frame(boost_from_rest_frame(b, rho), a1)};
  event.rest_frame_products[ch.c] = {ch.final_state[ch.c], boost_from_rest_frame(c, a1)};
  event.rest_frame_products.back() = {ch.final_state.back(), nu};
}

struct GenbodAddresses {
  LoopId id;
  const char* r;
  const char* accept;
  const char* cos_theta;
  const char* phi;
};

// GENBOD (README.md "N: n-body phase space"): masses by accept/reject on the phase-space weight, then n-1 isotropic
// two-body splits, innermost first. Returns momenta in the parent's rest frame, in list order.
std::vector<FourVector> genbod(Context& ctx, const GenbodAddresses& at, std::span<const double> masses, double total,
                               double bound) {
  const std::size_t n = masses.size();
  std::array<double, kMaxBodies> r{}, big_m{};
  rejection_loop(ctx, at.id, at.accept, [&] {
    for (std::size_t i = 0; i + 2 < n; ++i) r[i] = draw_uniform(ctx, at.r, 0.0, 1.0);
    sort_small(r.data(), n - 2);
    const double w = genbod_weight(masses, total, std::span<const double>(r.data(), n - 2), big_m);
    return bound > 0.0 ? w / bound : 1.0;
  });
  std::vector<FourVector> p(n);
  for (std::size_t j = 1; j < n; ++j) {
    const auto [sub, pj] = two_body_at_rest(big_m[j], big_m[j - 1], masses[j], sample_isotropic(ctx, at.cos_theta, at.phi));
    if (j == 1) {
      p[0] = sub;  // the "subsystem" of one particle is particle 0 itself
    } else {
      for (std::size_t i = 0; i < j; ++i) p[i] = boost_from_rest_frame(p[i], sub);
    }
    p[j] = pj;
  }
  return p;
}

void n_body(Context& ctx, const Channel& ch, Event& event) {
  std::array<double, kMaxBodies> m{};
  const std::size_t n = ch.final_state.size();
  for (std::size_t i = 0; i < n; ++i) m[i] = particle_mass(ch.final_state[i]);
  const std::span<const double> masses(m.data(), n);
  const double bound = ctx.options.rs_bound == RsBound::Tight ? tight_bound(static_cast<std::size_t>(ch.index), masses, mass::tau)
                                                              : genbod_analytic_bound(masses, mass::tau);
  const auto p = genbod(ctx, {LoopId::NBody, "decay/nbody/r", "decay/nbody/accept", "decay/nbody/cos_theta", "decay/nbody/phi"},
                        masses, mass::tau, bound);
  event.rest_frame_products.clear();
  for (std::size_t i = 0; i < n; ++i) event.rest_frame_products.push_back({ch.final_state[i], p[i]});
}

// Appends `particle` to the final state, decaying it first (depth first) if it is a pi0, an early
// K_S or an eta. Daughters are made in the parent's rest frame with lab axes, then boosted.
void append_decayed(Context& ctx, const Particle& particle, Event& event) {
  const FourVector& parent = particle.p;
  auto emit = [&](int pdg_code, const FourVector& rest) {
    append_decayed(ctx, Particle{pdg_code, boost_from_rest_frame(rest, parent)}, event);
  };
  switch (particle.pdg) {
    case pdg::pi0: {
      ++event.n_pi0;
      const auto [g1, g2] = two_body_at_rest(parent.m(), 0.0, 0.0, sample_isotropic(ctx, "decay/pi0/cos_theta", "decay/pi0/phi"));
      emit(pdg::photon, g1);
      emit(pdg::photon, g2);
      return;
    }
    case pdg::k_short: {
      const double beta_gamma = std::max(parent.p() / mass::k0, 1e-9);
      const double flight = draw(ctx, ppx::Exponential(1.0 / (beta_gamma * kKShortCTau)), "decay/ks/flight");
      if (flight >= kKShortLateFlight) break;  // reaches the calorimeter: showers like a K_L
      static const Tensor kModes{0.692, 0.308};
      const int mode = draw_category(ctx, kModes, "decay/ks/mode");
      const int d1 = mode == 0 ? pdg::pi_plus : pdg::pi0, d2 = mode == 0 ? -pdg::pi_plus : pdg::pi0;
      const auto [p1, p2] = two_body_at_rest(parent.m(), particle_mass(d1), particle_mass(d2),
                                             sample_isotropic(ctx, "decay/ks/cos_theta", "decay/ks/phi"));
      emit(d1, p1);
      emit(d2, p2);
      return;
    }
    case pdg::eta: {
      static const Tensor kModes{0.3936, 0.3257, 0.2292};  // gamma gamma, 3 pi0, pi+ pi- pi0
      const int mode = draw_category(ctx, kModes, "decay/eta/mode");
      if (mode == 0) {
        const auto [g1, g2] = two_body_at_rest(parent.m(), 0.0, 0.0, sample_isotropic(ctx, "decay/eta/cos_theta", "decay/eta/phi"));
        emit(pdg::photon, g1);
        emit(pdg::photon, g2);
        return;
      }
      const std::array<int, 3> codes = mode == 1 ? std::array<int, 3>{pdg::pi0, pdg::pi0, pdg::pi0}
                                                 : std::array<int, 3>{pdg::pi_plus, -pdg::pi_plus, pdg::pi0};
      const std::array<double, 3> m{particle_mass(codes[0]), particle_mass(codes[1]), particle_mass(codes[2])};
      const double total = parent.m();
      const double bound = ctx.options.rs_bound == RsBound::Tight
                               ? tight_bound(mode == 1 ? kEta3NeutralSlot : kEta3ChargedSlot, m, mass::eta)
                               : genbod_analytic_bound(m, total);
      const auto p = genbod(ctx, {LoopId::Eta3, "decay/eta3/r", "decay/eta3/accept", "decay/eta3/cos_theta", "decay/eta3/phi"},
                            m, total, bound);
      for (std::size_t i = 0; i < 3; ++i) emit(codes[i], p[i]);
      return;
    }
    default: break;
  }
  event.final_state.push_back(particle);
}

}  // namespace

void emit_rs_tag(bool start, LoopId id, double value) {
  const std::string name = std::string(start ? "rs_start:" : "rs_end:") + std::string(loop_name(id));
  ppx::tag(Tensor(value), TagOptions{.name = name, .address = name});
}

void decay_tau(Context& ctx, Event& event) {
  const Channel& ch = channel(static_cast<std::size_t>(event.channel));
  const HelicityFrame frame = helicity_frame(event.tau);
  switch (ch.recipe) {
    case Recipe::Leptonic: leptonic(ctx, ch, frame, event); break;
    case Recipe::Pseudoscalar: pseudoscalar(ctx, ch, frame, event); break;
    case Recipe::Vector: vector_resonance(ctx, ch, frame, event); break;
    case Recipe::AxialVector: axial_vector(ctx, ch, frame, event); break;
    case Recipe::NBody: n_body(ctx, ch, event); break;
  }
  event.primary_products.clear();
  for (const Particle& p : event.rest_frame_products) {
    event.primary_products.push_back({p.pdg, boost_from_rest_frame(p.p, event.tau)});
  }
}

void decay_secondaries(Context& ctx, Event& event) {
  event.final_state.clear();
  event.n_pi0 = 0;
  for (const Particle& p : event.primary_products) append_decayed(ctx, p, event);
}

}  // namespace ppx::tau_decay::detail
