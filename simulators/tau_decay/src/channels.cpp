#include "ppx/tau_decay/channels.h"

#include <stdexcept>

namespace ppx::tau_decay {
namespace {

using namespace pdg;
constexpr int e = electron, mu = muon, nut = nu_tau, pim = -pi_plus, pip = pi_plus, km = -k_plus, kp = k_plus,
              ks = k_short, kl = k_long;

// Sherpa 2.2 tau-/Decays.dat, in its order (README.md "Decay channels"). Every final state ends with nu_tau.
const std::array<Channel, kChannelCount> kTable{{
    {0, "e- anti-nu_e nu_tau", 0.1785, {e, -nu_e, nut}, Recipe::Leptonic},
    {1, "mu- anti-nu_mu nu_tau", 0.1736, {mu, -nu_mu, nut}, Recipe::Leptonic},
    {2, "pi- nu_tau", 0.109, {pim, nut}, Recipe::Pseudoscalar},
    {3, "K- nu_tau", 0.00696, {km, nut}, Recipe::Pseudoscalar},
    {4, "pi- pi0 nu_tau", 0.255, {pim, pi0, nut}, Recipe::Vector, &kRho, 0, 1},
    {5, "K- K_S nu_tau", 0.0007, {km, ks, nut}, Recipe::NBody},
    {6, "K- K_L nu_tau", 0.0007, {km, kl, nut}, Recipe::NBody},
    {7, "pi- K_S nu_tau", 0.0042, {pim, ks, nut}, Recipe::Vector, &kKstar, 0, 1},
    {8, "pi- K_L nu_tau", 0.0042, {pim, kl, nut}, Recipe::Vector, &kKstar, 0, 1},
    {9, "K- pi0 nu_tau", 0.0045, {km, pi0, nut}, Recipe::Vector, &kKstar, 0, 1},
    {10, "pi- pi0 pi0 nu_tau", 0.0917, {pim, pi0, pi0, nut}, Recipe::AxialVector, &kA1, 0, 1, 2},
    {11, "pi+ pi- pi- nu_tau", 0.0932, {pip, pim, pim, nut}, Recipe::AxialVector, &kA1, 0, 1, 2},
    {12, "K_S pi- pi0 nu_tau", 0.00185, {ks, pim, pi0, nut}, Recipe::NBody},
    {13, "pi- K_L pi0 nu_tau", 0.00185, {pim, kl, pi0, nut}, Recipe::NBody},
    {14, "K- pi+ pi- nu_tau", 0.00342, {km, pip, pim, nut}, Recipe::NBody},
    {15, "K- pi0 pi0 nu_tau", 0.00058, {km, pi0, pi0, nut}, Recipe::NBody},
    {16, "K+ K- pi- nu_tau", 0.00146, {kp, km, pim, nut}, Recipe::NBody},
    {17, "K- K_S pi0 nu_tau", 0.000755, {km, ks, pi0, nut}, Recipe::NBody},
    {18, "K- K_L pi0 nu_tau", 0.000755, {km, kl, pi0, nut}, Recipe::NBody},
    {19, "K_S pi- K_L nu_tau", 0.00055, {ks, pim, kl, nut}, Recipe::NBody},
    {20, "K_S K_S pi- nu_tau", 0.00024, {ks, ks, pim, nut}, Recipe::NBody},
    {21, "pi- K_L K_L nu_tau", 0.00024, {pim, kl, kl, nut}, Recipe::NBody},
    {22, "K+ K- K- nu_tau", 3.7e-5, {kp, km, km, nut}, Recipe::NBody},
    {23, "pi+ pi- pi- pi0 nu_tau", 0.045, {pip, pim, pim, pi0, nut}, Recipe::NBody},
    {24, "pi- pi0 pi0 pi0 nu_tau", 0.0104, {pim, pi0, pi0, pi0, nut}, Recipe::NBody},
    {25, "K- pi0 pi0 pi0 nu_tau", 0.00038, {km, pi0, pi0, pi0, nut}, Recipe::NBody},
    {26, "K_S pi- pi0 pi0 nu_tau", 0.000312, {ks, pim, pi0, pi0, nut}, Recipe::NBody},
    {27, "pi- K_L pi0 pi0 nu_tau", 0.000312, {pim, kl, pi0, pi0, nut}, Recipe::NBody},
    {28, "K+ K- pi- pi0 nu_tau", 0.00042, {kp, km, pim, pi0, nut}, Recipe::NBody},
    {29, "eta pi- nu_tau", 0.00013, {eta, pim, nut}, Recipe::NBody},
    {30, "K- eta nu_tau", 0.00027, {km, eta, nut}, Recipe::NBody},
    {31, "eta eta pi- nu_tau", 0.0001, {eta, eta, pim, nut}, Recipe::NBody},
    {32, "eta pi- pi0 nu_tau", 0.00174, {eta, pim, pi0, nut}, Recipe::NBody},
    {33, "pi+ pi- pi- pi0 pi0 nu_tau", 0.0055, {pip, pim, pim, pi0, pi0, nut}, Recipe::NBody},
    {34, "pi- pi0 pi0 pi0 pi0 nu_tau", 0.00095, {pim, pi0, pi0, pi0, pi0, nut}, Recipe::NBody},
    {35, "K- pi0 pi0 pi0 pi0 nu_tau", 5e-5, {km, pi0, pi0, pi0, pi0, nut}, Recipe::NBody},
    {36, "pi+ pi- pi- pi0 pi0 pi0 nu_tau", 0.002748, {pip, pim, pim, pi0, pi0, pi0, nut}, Recipe::NBody},
    {37, "pi+ pi+ pi- pi- pi- pi0 nu_tau", 0.00102, {pip, pip, pim, pim, pim, pi0, nut}, Recipe::NBody},
}};

}  // namespace

std::span<const Channel> channels() { return kTable; }

const Channel& channel(std::size_t index) {
  if (index >= kChannelCount) throw std::out_of_range("tau_decay: channel index out of range");
  return kTable[index];
}

double br_sum() {
  static const double sum = [] {
    double s = 0;
    for (const Channel& c : kTable) s += c.br;
    return s;
  }();
  return sum;
}

const std::array<double, kChannelCount>& normalised_brs() {
  static const std::array<double, kChannelCount> probs = [] {
    std::array<double, kChannelCount> p{};
    for (std::size_t k = 0; k < kChannelCount; ++k) p[k] = kTable[k].br / br_sum();
    return p;
  }();
  return probs;
}

}  // namespace ppx::tau_decay
