// sherpa_tau: Sherpa generates e+ e- -> tau+ tau- (its own tau decays), and the visible final
// state of the tau- hemisphere is observed through the tau-decay toy's calorimeter model
// (ppx::tau_decay's detector code). Every random number Sherpa draws in an event is a PPX sample,
// through the PpxRng plugin (ppx_sherpa_rng.h); set-up and integration draw from its private
// generator outside any trace.
//   sherpa_tau [--serve ENDPOINT | --seed S --runs N | --stats N] [--coarse] -- SHERPA-ARGUMENTS
// Sherpa's arguments (run card, settings) follow "--"; the run card must load and select the
// plugin (SHERPA_LDADD: [PpxSherpaRng], EXTERNAL_RNG: PpxRng), as simulators/sherpa_plugin/Sherpa.yaml
// does. --stats N runs N events standalone and prints draws per trace, distinct addresses per
// trace and events/s. The result of a trace is the number of charged visible particles.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "ATOOLS/Phys/Blob_List.H"
#include "ATOOLS/Phys/Particle.H"
#include "SHERPA/Main/Sherpa.H"
#include "SHERPA/Single_Events/Event_Handler.H"
#include "ppx/simulator_cli.h"
#include "ppx/tau_decay/detector.h"
#include "ppx/tau_decay/model.h"
#include "ppx_sherpa_rng.h"

namespace sherpa_tau {

namespace td = ppx::tau_decay;

struct Vec3 {
  double x, y, z;
};

// Rotates v by the rotation that takes unit vector `from` to +z (Rodrigues' formula).
Vec3 rotate_to_z(const Vec3& v, const Vec3& from) {
  const double c = from.z;                   // cos of the angle
  const Vec3 k{from.y, -from.x, 0.0};        // from x z (unnormalised axis), |k| = sin
  const double s = std::hypot(k.x, k.y);
  if (s < 1e-12) return c > 0 ? v : Vec3{v.x, -v.y, -v.z};
  const Vec3 u{k.x / s, k.y / s, 0.0};
  const double dot = u.x * v.x + u.y * v.y;
  const Vec3 cross{u.y * v.z, -u.x * v.z, u.x * v.y - u.y * v.x};
  return {v.x * c + cross.x * s + u.x * dot * (1 - c), v.y * c + cross.y * s + u.y * dot * (1 - c),
          v.z * c + cross.z * s};
}

struct Driver {
  SHERPA::Sherpa* generator = nullptr;
  ppx::sherpa::PpxRng* rng = nullptr;
  bool coarse = false;
  double noise_scale = 1.0;
  double sigma_met = 0.5;

  // The visible final state in the frame where the tau- flies along +z.
  td::Event visible_event() const {
    const ATOOLS::Blob_List& blobs = *generator->GetEventHandler()->GetBlobs();
    Vec3 axis{0, 0, 1};
    for (const ATOOLS::Blob* blob : blobs) {
      for (int i = 0; i < blob->NOutP(); ++i) {
        const ATOOLS::Particle* p = blob->ConstOutParticle(i);
        if (static_cast<long>(p->Flav()) == td::pdg::tau) {
          const ATOOLS::Vec4D& m = p->Momentum();
          const double norm = std::sqrt(m[1] * m[1] + m[2] * m[2] + m[3] * m[3]);
          if (norm > 0) axis = {m[1] / norm, m[2] / norm, m[3] / norm};
        }
      }
    }
    td::Event event;
    for (const ATOOLS::Particle* p : blobs.ExtractParticles(1)) {
      const ATOOLS::Vec4D& m = p->Momentum();
      const Vec3 q = rotate_to_z({m[1], m[2], m[3]}, axis);
      const int pdg = static_cast<int>(static_cast<long>(p->Flav()));
      event.final_state.push_back({pdg, td::FourVector{m[0], q.x, q.y, q.z}});
      if (q.z <= 0) continue;  // the tau+ hemisphere: behind the calorimeter
      if (td::is_neutrino(pdg)) {
        event.met[0] += q.x, event.met[1] += q.y;
      } else if (td::shower_kind(pdg) != td::ShowerKind::Invisible) {
        event.hits.push_back({.particle = event.final_state.size() - 1, .pdg = pdg, .kind = td::shower_kind(pdg),
                              .e_vis = m[0]});
      }
    }
    return event;
  }

  ppx::Tensor forward() const {
    rng->begin_trace();
    struct EndTrace {
      ppx::sherpa::PpxRng* rng;
      ~EndTrace() { rng->end_trace(); }
    } end_trace{rng};
    generator->GenerateOneEvent();
    const td::Event event = visible_event();
    std::vector<double> image = td::mean_deposits(event);
    std::vector<std::int32_t> shape{td::calo::kLayers, td::calo::kCells, td::calo::kCells};
    double pooled = 1.0;
    if (coarse) {
      image = td::sum_pool(image);
      shape = {td::calo::kCoarseLayers, td::calo::kCoarseCells, td::calo::kCoarseCells};
      pooled = double(td::calo::kVoxels) / double(td::calo::kCoarseVoxels);
    }
    std::vector<double> stddev =
        td::likelihood_stddev(image, noise_scale, pooled, td::calo::kStochastic * td::calo::kStochastic);
    ppx::observe(ppx::Normal(ppx::Tensor(std::move(image), shape), ppx::Tensor(std::move(stddev), shape)),
                 {.name = "calorimeter", .address = "calorimeter"});
    ppx::observe(ppx::Normal(ppx::Tensor{event.met[0], event.met[1]}, ppx::Tensor{sigma_met, sigma_met}),
                 {.name = "met", .address = "met"});
    double charged = 0;
    for (const td::DetectorHit& hit : event.hits) charged += td::is_charged(hit.pdg) ? 1 : 0;
    return charged;
  }
};

// Draws per trace, distinct base addresses per trace, events/s over `events` standalone events.
int print_stats(const ppx::Model& model, int events) {
  std::vector<double> lengths, addresses;
  ppx::LocalHandler local({.seed = 1, .record = true});
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < events; ++i) {
    local.reseed(1, static_cast<std::uint64_t>(i));
    model.run(local);
    const ppx::TraceRecord record = local.take_record();
    std::set<std::string> distinct;
    std::size_t samples = 0;
    for (const ppx::SiteRecord& site : record.sites) {
      if (site.kind != ppx::SiteKind::Sample) continue;
      ++samples;
      distinct.insert(site.address);
    }
    lengths.push_back(double(samples));
    addresses.push_back(double(distinct.size()));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto summary = [](const char* what, std::vector<double> v) {
    std::sort(v.begin(), v.end());
    double mean = 0;
    for (double x : v) mean += x / double(v.size());
    std::cerr << what << ": min " << v.front() << " median " << v[v.size() / 2] << " mean " << mean << " max "
              << v.back() << "\n";
  };
  summary("draws per trace", lengths);
  summary("distinct addresses per trace", addresses);
  std::cerr << "events/s (standalone, recording) " << double(events) / seconds << "\n";
  return 0;
}

}  // namespace sherpa_tau

int main(int argc, char** argv) {
  int ours = argc;  // our arguments end at "--"
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--") ours = i;
  }
  ppx::SimulatorCli cli("Sherpa e+e- -> tau+tau-, observed through the tau-decay calorimeter");
  sherpa_tau::Driver driver;
  int stats_events = 0;
  cli.app().add_flag("--coarse", driver.coarse, "Observe the [4,7,7] pooled calorimeter");
  cli.app().add_option("--noise-scale", driver.noise_scale, "Multiplies the calorimeter likelihood's stddev");
  cli.app().add_option("--stats", stats_events, "Run N events standalone and print trace statistics");
  if (const auto code = cli.parse(ours, argv)) return *code;

  std::vector<char*> sherpa_args{argv[0]};
  for (int i = ours + 1; i < argc; ++i) sherpa_args.push_back(argv[i]);
  try {
    driver.generator = new SHERPA::Sherpa(static_cast<int>(sherpa_args.size()), sherpa_args.data());
    driver.generator->InitializeTheRun();  // set-up and integration: PpxRng's private generator
    driver.generator->InitializeTheEventHandler();
  } catch (const std::exception& e) {
    std::cerr << "sherpa_tau: Sherpa failed to initialise: " << e.what() << "\n";
    return 1;
  }
  driver.rng = ppx::sherpa::PpxRng::instance();
  if (driver.rng == nullptr) {
    std::cerr << "sherpa_tau: the run card does not select the plugin (SHERPA_LDADD: [PpxSherpaRng], "
                 "EXTERNAL_RNG: PpxRng)\n";
    return 2;
  }
  const ppx::Model model("sherpa_tau", [&driver] { return driver.forward(); });
  if (stats_events > 0) return sherpa_tau::print_stats(model, stats_events);
  return cli.run(model);
}
