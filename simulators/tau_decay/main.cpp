// tau_decay: the tau-decay toy simulator (README.md) as a program.
//   tau_decay --serve tcp://*:5555            serve PPX
//   tau_decay --seed 7 --runs 3               standalone runs, prints each channel
//   tau_decay --generate DIR --seed 7         writes calorimeter.npy, met.npy, truth.json
//   tau_decay --manifest                      prints the address manifest (JSON)
//   tau_decay --render event.png --seed 7     event display (or --from DIR for a generated event)
// Exit codes: 0 ok, 1 runtime failure (I/O), 2 usage error.
#include <filesystem>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "ppx/core/npy.h"
#include "ppx/simulator_cli.h"
#include "ppx/tau_decay/channels.h"
#include "ppx/tau_decay/manifest.h"
#include "ppx/tau_decay/model.h"
#include "ppx/tau_decay/render.h"

namespace {

using namespace ppx::tau_decay;
using json = nlohmann::ordered_json;

// One event forward-simulated with observation values drawn from the likelihoods.
struct GeneratedEvent {
  Event event;
  RunStats stats;
  ppx::Tensor calorimeter;
  ppx::Tensor calorimeter_mean;  // the likelihood's mean (noise-free expectation)
  ppx::Tensor met;
};

GeneratedEvent generate_event(const Options& options, std::uint64_t seed) {
  GeneratedEvent out;
  ppx::LocalHandler handler({.seed = seed, .record = true, .sample_observations = true});
  {
    ppx::ScopedHandler scope(handler);
    simulate(options, &out.event, &out.stats);
  }
  for (ppx::SiteRecord& site : handler.take_record().sites) {
    if (site.kind != ppx::SiteKind::Observe || !site.value) continue;
    if (site.name == "calorimeter") {
      out.calorimeter = std::move(*site.value);
      if (site.distribution) out.calorimeter_mean = site.distribution->parameter(0);
    }
    if (site.name == "met") out.met = std::move(*site.value);
  }
  if (out.calorimeter.empty() || out.met.empty()) throw std::runtime_error("the local sampler recorded no observation values");
  return out;
}

json four_vector(const FourVector& p) { return {{"E", p.e}, {"px", p.px}, {"py", p.py}, {"pz", p.pz}}; }

json options_json(const Options& o) {
  return {{"p_tau", o.p_tau},
          {"rs_bound", to_string(o.rs_bound)},
          {"detector_latents", to_string(o.detector_latents)},
          {"noise_scale", o.noise_scale},
          {"sigma_met", o.sigma_met},
          {"obs_mode", to_string(o.obs_mode)},
          {"calo_mode", to_string(o.calo_mode)},
          {"emit_tags", o.emit_tags},
          {"emit_rs_tags", o.emit_rs_tags},
          {"px_range", o.px_range}};
}

json truth_json(const GeneratedEvent& g, const Options& options, std::uint64_t seed) {
  const Event& e = g.event;
  json particles = json::array();
  for (std::size_t i = 0; i < e.final_state.size(); ++i) {
    const Particle& p = e.final_state[i];
    json j{{"pdg", p.pdg}, {"name", particle_name(p.pdg)}, {"E", p.p.e}, {"px", p.p.px}, {"py", p.p.py}, {"pz", p.p.pz}};
    for (const DetectorHit& hit : e.hits) {
      if (hit.particle == i) j["E_vis"] = hit.e_vis;
    }
    particles.push_back(std::move(j));
  }
  json loops = json::object();
  for (std::size_t i = 0; i < kLoopCount; ++i) {
    const LoopStats& s = g.stats.loops[i];
    if (s.entries == 0) continue;
    loops[std::string(loop_name(static_cast<LoopId>(i)))] = {
        {"entries", s.entries}, {"tries", s.tries}, {"bound_violations", s.bound_violations}, {"cap_hits", s.cap_hits}};
  }
  return {{"model", "tau_decay"},
          {"seed", seed},
          {"options", options_json(options)},
          {"channel", e.channel},
          {"channel_name", channel(static_cast<std::size_t>(e.channel)).name},
          {"px", e.tau.px},
          {"py", e.tau.py},
          {"pz", e.tau.pz},
          {"tau", four_vector(e.tau)},
          {"final_state", std::move(particles)},
          {"m_res", e.m_res},
          {"m_rho", e.m_rho},
          {"lepton_x", e.lepton_x},
          {"n_pi0", e.n_pi0},
          {"met", {e.met[0], e.met[1]}},
          {"met_observed", {g.met[0], g.met[1]}},
          {"samples", g.stats.samples},
          {"loops", std::move(loops)},
          {"files", {{"calorimeter.npy", g.calorimeter.shape()}, {"met.npy", g.met.shape()}}}};
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string event_title(int channel_index) {
  const Channel& c = channel(static_cast<std::size_t>(channel_index));
  std::ostringstream s;
  s.precision(3);
  s << channel_label(c) << "     channel " << channel_index << ", BR " << 100.0 * normalised_brs()[c.index] << "%";
  return s.str();
}

// Rings where the visible particles above 1 GeV cross the front face.
std::vector<MapMarker> impact_markers(const std::vector<Particle>& particles, bool arbitrary_units) {
  std::vector<MapMarker> markers;
  const double z = arbitrary_units ? 4.0 : 150.0;
  for (const Particle& p : particles) {
    if (is_neutrino(p.pdg) || p.p.e < 1.0 || !(p.p.pz > 0.0)) continue;
    markers.push_back({p.p.px / p.p.pz * z, p.p.py / p.p.pz * z, particle_label(p.pdg)});
  }
  return markers;
}

}  // namespace

int main(int argc, char** argv) {
#if defined(__GLIBC__)
  // Every trace builds and drops ~1 MB of likelihood tensors (mean and stddev of 24,500 voxels,
  // and their copies). glibc would hand that memory back to the kernel after each trace and fault
  // it in again on the next (~60% of a forward run); keep it instead. A program's choice, so it
  // lives here and not in the library.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
  ppx::SimulatorCli cli(
      "tau_decay: a toy tau-lepton decay simulator (38 decay channels, a 35x35x20 calorimeter).\n"
      "Observes 'calorimeter' [20,35,35] (or [4,7,7] with --obs-mode coarse) and 'met' [2];\n"
      "--manifest lists every address. The model is described in simulators/tau_decay/README.md.\n");
  CLI::App& app = cli.app();
  Options options;
  std::string rs_bound = "tight", detector = "controlled", obs_mode = "full", calo_mode = "mean";
  std::string generate_dir, render_path, from_dir;
  bool manifest = false;
  app.add_option("--p-tau", options.p_tau, "Tau polarisation P in [-1, 1]")->capture_default_str();
  app.add_option("--rs-bound", rs_bound, "n-body rejection bound: tight (1.2 x sampled maximum) | loose (GENBOD analytic)")
      ->check(CLI::IsMember({"tight", "loose"}))
      ->capture_default_str();
  app.add_option("--detector-latents", detector, "Detector latents: controlled | uncontrolled (control=false) | off (fixed at their means)")
      ->check(CLI::IsMember({"controlled", "uncontrolled", "off"}))
      ->capture_default_str();
  app.add_option("--noise-scale", options.noise_scale, "k: scales the calorimeter likelihood's stddev (> 0)")
      ->capture_default_str();
  app.add_option("--sigma-met", options.sigma_met, "Stddev of each MET component in GeV (> 0)")->capture_default_str();
  app.add_option("--obs-mode", obs_mode, "Calorimeter observation: full [20,35,35] | coarse [4,7,7]")
      ->check(CLI::IsMember({"full", "coarse"}))
      ->capture_default_str();
  app.add_option("--calo-mode", calo_mode, "Calorimeter model: mean (smooth deposits) | etalumis_v1 (Poisson 5 MeV deposits)")
      ->check(CLI::IsMember({"mean", "etalumis_v1"}))
      ->capture_default_str();
  app.add_flag("--emit-tags,!--no-emit-tags", options.emit_tags, "Emit truth/* tags (default on)");
  app.add_flag("--emit-rs-tags", options.emit_rs_tags, "Emit rs_start/rs_end tags around rejection loops");
  app.add_option("--px-range", options.px_range, "tau px, py ~ Uniform(-R, R) in GeV")->capture_default_str();
  auto* generate = app.add_option("--generate", generate_dir,
                                  "Write one forward-simulated event (calorimeter.npy, met.npy, truth.json) to DIR");
  auto* manifest_flag = app.add_flag("--manifest", manifest, "Print the address manifest (JSON) and exit");
  auto* render = app.add_option("--render", render_path, "Draw the event's calorimeter to FILE.png or FILE.svg");
  app.add_option("--from", from_dir, "With --render: draw DIR/calorimeter.npy of a generated event")->needs(render);
  for (auto* mode : {generate, manifest_flag, render}) mode->excludes("--serve");
  manifest_flag->excludes(generate)->excludes(render);
  if (auto code = cli.parse(argc, argv)) return *code;

  options.rs_bound = *parse_rs_bound(rs_bound);
  options.detector_latents = *parse_detector_latents(detector);
  options.obs_mode = *parse_obs_mode(obs_mode);
  options.calo_mode = *parse_calo_mode(calo_mode);
  try {
    options.validate();
  } catch (const std::invalid_argument& e) {
    std::cerr << "tau_decay: invalid option " << e.what() << '\n';
    return 2;
  }

  if (manifest) {
    std::cout << manifest_json(options);
    return 0;
  }
  if (generate_dir.empty() && render_path.empty()) return cli.run(make_model(options));

  try {
    const std::uint64_t seed = cli.seed().value_or(ppx::seed_from_environment());
    if (!from_dir.empty()) {
      if (!generate_dir.empty()) {
        std::cerr << "tau_decay: --from cannot be combined with --generate\n";
        return 2;
      }
      const std::filesystem::path dir(from_dir);
      const ppx::Tensor image = ppx::read_npy((dir / "calorimeter.npy").string());
      RenderOptions render_options;
      render_options.subtitle = "observed calorimeter from " + from_dir;
      if (std::ifstream in(dir / "truth.json"); in) {
        const json truth = json::parse(in, nullptr, /*allow_exceptions=*/false);
        if (truth.is_object() && truth.contains("channel")) {
          render_options.title = event_title(truth["channel"].get<int>());
          render_options.subtitle = "seed " + truth.value("seed", json(0)).dump() + ", observed calorimeter from " + from_dir;
          render_options.arbitrary_units = truth.contains("options") &&
                                           truth["options"].value("calo_mode", std::string("mean")) == "etalumis_v1";
          std::vector<Particle> particles;
          for (const json& p : truth.value("final_state", json::array())) {
            particles.push_back({p.value("pdg", 0), {p.value("E", 0.0), p.value("px", 0.0), p.value("py", 0.0), p.value("pz", 0.0)}});
          }
          render_options.markers = impact_markers(particles, render_options.arbitrary_units);
        }
      }
      render_calorimeter(image, render_path, render_options);
      std::cout << "wrote " << render_path << '\n';
      return 0;
    }
    const GeneratedEvent g = generate_event(options, seed);
    if (!generate_dir.empty()) {
      const std::filesystem::path dir(generate_dir);
      std::filesystem::create_directories(dir);
      ppx::write_npy((dir / "calorimeter.npy").string(), g.calorimeter);
      ppx::write_npy((dir / "met.npy").string(), g.met);
      write_text(dir / "truth.json", truth_json(g, options, seed).dump(2) + "\n");
      std::cout << "wrote " << (dir / "calorimeter.npy").string() << ", met.npy, truth.json: channel " << g.event.channel
                << " (" << channel(static_cast<std::size_t>(g.event.channel)).name << ")\n";
    }
    if (!render_path.empty()) {
      RenderOptions render_options;
      render_options.title = event_title(g.event.channel);
      std::ostringstream sub;
      sub.precision(3);
      sub << "seed " << seed << ", sampled observation;  p(tau) = (" << g.event.tau.px << ", " << g.event.tau.py
          << ", " << g.event.tau.pz << ") GeV";
      render_options.subtitle = sub.str();
      render_options.arbitrary_units = options.calo_mode == CaloMode::EtalumisV1;
      render_options.mean = g.calorimeter_mean;
      if (render_options.arbitrary_units) render_options.mean_label = "deposit histogram";
      render_options.markers = impact_markers(g.event.final_state, render_options.arbitrary_units);
      render_calorimeter(g.calorimeter, render_path, render_options);
      std::cout << "wrote " << render_path << '\n';
    }
  } catch (const std::invalid_argument& e) {
    std::cerr << "tau_decay: " << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "tau_decay: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
