// The forward model (README.md): production, decay, detector latents, truth tags, observes.
#include "ppx/tau_decay/model.h"

#include <algorithm>
#include <cmath>

#include "draws.h"
#include "ppx/tau_decay/channels.h"

namespace ppx::tau_decay {
namespace {

using detail::Context;
using detail::draw;

constexpr std::size_t kFspRows = 12, kFspColumns = 5;

// Detector latents (README.md "Detector latents"): one set per visible final-state particle, in list order.
void draw_detector_latents(Context& ctx, Event& event) {
  const DetectorLatents mode = ctx.options.detector_latents;
  const bool off = mode == DetectorLatents::Off;
  const bool control = mode == DetectorLatents::Controlled;
  event.hits.clear();
  for (std::size_t idx = 0; idx < event.final_state.size(); ++idx) {
    const Particle& particle = event.final_state[idx];
    DetectorHit hit{.particle = idx, .pdg = particle.pdg, .kind = shower_kind(particle.pdg)};
    const double energy = std::max(particle.p.e, 1e-6);  // keeps the resolution terms finite
    switch (hit.kind) {
      case ShowerKind::Em: {
        if (particle.pdg == pdg::photon) {
          constexpr double rate = 7.0 / (9.0 * calo::kX0);
          hit.shower_start = off ? 1.0 / rate : draw(ctx, ppx::Exponential(rate), "calo/gamma/conv_depth", control);
        }
        const double s = std::sqrt(0.10 * 0.10 / energy + 0.01 * 0.01);
        hit.response = off ? 1.0 : draw(ctx, ppx::LogNormal(-0.5 * s * s, s), "calo/em/response", control);
        hit.e_vis = particle.p.e * hit.response;
        break;
      }
      case ShowerKind::Hadronic: {
        hit.shower_start = off ? calo::kLambdaI
                               : draw(ctx, ppx::Exponential(1.0 / calo::kLambdaI), "calo/had/first_interaction", control);
        const double s = std::sqrt(0.5 * 0.5 / energy + 0.05 * 0.05);
        hit.response = off ? 0.85 : draw(ctx, ppx::LogNormal(std::log(0.85) - 0.5 * s * s, s), "calo/had/response", control);
        hit.e_vis = particle.p.e * hit.response;
        break;
      }
      case ShowerKind::Mip: {
        hit.response = off ? 1.0 : draw(ctx, ppx::LogNormal(-0.02, 0.2), "calo/mip/response", control);
        hit.e_vis = calo::kMipDeDx * calo::kDepth * hit.response;  // 0.057 GeV x response per layer
        break;
      }
      case ShowerKind::Invisible: continue;
    }
    event.hits.push_back(hit);
  }
}

// calo_mode = etalumis_v1 (README.md "The etalumis_v1 calorimeter"): Poisson numbers of 5 MeV
// deposits with Gaussian offsets in each particle's frame, all uncontrolled. Mu and nu deposit nothing.
std::vector<double> etalumis_histogram(Context& ctx, const Event& event) {
  std::vector<double> grid(calo::kVoxels, 0.0);
  for (const Particle& particle : event.final_state) {
    const ShowerKind kind = shower_kind(particle.pdg);
    if (kind != ShowerKind::Em && kind != ShowerKind::Hadronic) continue;
    const double p = particle.p.p();
    if (!(p > 0.0) || !(particle.p.pz > 1e-6 * p)) continue;  // never reaches the front plane
    const bool em = kind == ShowerKind::Em;
    const double fraction = em ? etalumis::kSamplingEm : etalumis::kSamplingHad;
    const auto& sigma = em ? etalumis::kSigmaEm : etalumis::kSigmaHad;
    const double rate = std::max(particle.p.e * fraction / etalumis::kDepositEnergy, 1e-12);
    const double n = draw(ctx, ppx::Poisson(rate), "calo/etalumis/n_deposits", false);
    const HelicityFrame axes = helicity_frame(particle.p);  // z along the particle
    const double reach = etalumis::kFrontZ / axes.z[2] + 5.0 * sigma[2];
    const Vector3 centre{axes.z[0] * reach, axes.z[1] * reach, axes.z[2] * reach};
    const Distribution offset = ppx::Normal(Tensor{0.0, 0.0, 0.0}, Tensor{sigma[0], sigma[1], sigma[2]});
    const long count = std::isfinite(n) ? static_cast<long>(std::clamp(n, 0.0, 1e7)) : 0;
    for (long k = 0; k < count; ++k) {
      ++ctx.stats.samples;
      const Tensor d = ppx::sample(offset, SampleOptions{.address = "calo/etalumis/offset", .control = false});
      if (d.numel() != 3) continue;
      double pos[3];
      for (int c = 0; c < 3; ++c) pos[c] = centre[c] + d[0] * axes.x[c] + d[1] * axes.y[c] + d[2] * axes.z[c];
      const long v = etalumis::voxel_of(pos[0], pos[1], pos[2]);
      if (v >= 0) grid[static_cast<std::size_t>(v)] += etalumis::kDepositEnergy;
    }
  }
  return grid;
}

void emit_truth_tags(const Event& event) {
  // Visible final-state particles by decreasing energy (neutrinos are summarised by truth/met).
  std::vector<const Particle*> visible;
  for (const Particle& p : event.final_state) {
    if (!is_neutrino(p.pdg)) visible.push_back(&p);
  }
  std::stable_sort(visible.begin(), visible.end(), [](const Particle* a, const Particle* b) { return a->p.e > b->p.e; });
  std::vector<double> fsp(kFspRows * kFspColumns, 0.0);
  for (std::size_t r = 0; r < std::min(kFspRows, visible.size()); ++r) {
    const Particle& p = *visible[r];
    const double row[kFspColumns] = {static_cast<double>(p.pdg), p.p.e, p.p.px, p.p.py, p.p.pz};
    std::copy(row, row + kFspColumns, fsp.begin() + static_cast<std::ptrdiff_t>(r * kFspColumns));
  }
  ppx::tag(Tensor(std::move(fsp), {static_cast<int32_t>(kFspRows), static_cast<int32_t>(kFspColumns)}),
           {.name = "truth/fsp", .address = "truth/fsp"});
  ppx::tag(Tensor(event.m_res), {.name = "truth/m_res", .address = "truth/m_res"});
  ppx::tag(Tensor(static_cast<double>(event.n_pi0)), {.name = "truth/n_pi0", .address = "truth/n_pi0"});
  ppx::tag(Tensor(static_cast<double>(event.channel)), {.name = "truth/channel", .address = "truth/channel"});
  ppx::tag(Tensor{event.met[0], event.met[1]}, {.name = "truth/met", .address = "truth/met"});
}

}  // namespace

std::string_view loop_name(LoopId id) {
  switch (id) {
    case LoopId::Lepton: return "lepton";
    case LoopId::Dir: return "dir";
    case LoopId::RhoMass: return "rho_mass";
    case LoopId::KstarMass: return "kstar_mass";
    case LoopId::A1Mass: return "a1_mass";
    case LoopId::NBody: return "nbody";
    case LoopId::Eta3: return "eta3";
  }
  return "?";
}

void RunStats::merge(const RunStats& other) {
  for (std::size_t i = 0; i < kLoopCount; ++i) {
    loops[i].entries += other.loops[i].entries;
    loops[i].tries += other.loops[i].tries;
    loops[i].bound_violations += other.loops[i].bound_violations;
    loops[i].cap_hits += other.loops[i].cap_hits;
  }
  samples += other.samples;
}

std::vector<double> mean_deposits(const Event& event) {
  std::vector<double> grid(calo::kVoxels, 0.0);
  for (const DetectorHit& hit : event.hits) add_mean_deposit(grid, event.final_state[hit.particle].p, hit);
  return grid;
}

Tensor simulate(const Options& options, Event* event_out, RunStats* stats_out) {
  Event local_event;
  RunStats local_stats;
  Event& event = event_out != nullptr ? *event_out : local_event;
  RunStats& stats = stats_out != nullptr ? *stats_out : local_stats;
  event = Event{};
  stats = RunStats{};
  Context ctx{options, stats};

  // Production and channel (README.md "Production").
  const double px = draw_uniform(ctx, "tau/px", -options.px_range, options.px_range, "px");
  const double py = draw_uniform(ctx, "tau/py", -options.px_range, options.px_range, "py");
  const double pz = draw_uniform(ctx, "tau/pz", 40.0, 50.0, "pz");
  event.tau = {std::sqrt(px * px + py * py + pz * pz + mass::tau * mass::tau), px, py, pz};
  static const Tensor kChannelProbs = [] {
    const auto& p = normalised_brs();
    return Tensor(std::vector<double>(p.begin(), p.end()));
  }();
  event.channel = detail::draw_category(ctx, kChannelProbs, "tau/decay_channel", "channel");

  detail::decay_tau(ctx, event);
  detail::decay_secondaries(ctx, event);
  for (const Particle& p : event.final_state) {
    if (is_neutrino(p.pdg)) {
      event.met[0] += p.p.px;
      event.met[1] += p.p.py;
    }
  }

  // Detector (README.md "Detector latents", "Calorimeter").
  std::vector<double> image;
  double c2 = calo::kStochastic * calo::kStochastic;
  if (options.calo_mode == CaloMode::Mean) {
    draw_detector_latents(ctx, event);
    image = mean_deposits(event);
  } else {
    image = etalumis_histogram(ctx, event);
    c2 = 1.0;  // variance = histogram
  }

  if (options.emit_tags) emit_truth_tags(event);

  // Observations (README.md "Observations"), after all samples; values come from the engine.
  std::vector<int32_t> shape{calo::kLayers, calo::kCells, calo::kCells};
  double pooled = 1.0;
  if (options.obs_mode == ObsMode::Coarse) {
    image = sum_pool(image);
    shape = {calo::kCoarseLayers, calo::kCoarseCells, calo::kCoarseCells};
    pooled = double(calo::kVoxels) / double(calo::kCoarseVoxels);  // variances of 125 voxels add
  }
  std::vector<double> stddev = likelihood_stddev(image, options.noise_scale, pooled, c2);
  ppx::observe(ppx::Normal(Tensor(std::move(image), shape), Tensor(std::move(stddev), shape)),
               ObserveOptions{.name = "calorimeter", .address = "calorimeter"});
  ppx::observe(ppx::Normal(Tensor{event.met[0], event.met[1]}, Tensor{options.sigma_met, options.sigma_met}),
               ObserveOptions{.name = "met", .address = "met"});
  return Tensor(static_cast<double>(event.channel));
}

Model make_model(const Options& options) {
  options.validate();
  return Model("tau_decay", [options] { return simulate(options); });
}

}  // namespace ppx::tau_decay
