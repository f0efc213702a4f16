#include "ppx/tau_decay/manifest.h"

#include <array>
#include <nlohmann/json.hpp>

#include "ppx/tau_decay/detector.h"
#include "ppx/tau_decay/model.h"

namespace ppx::tau_decay {
namespace {

const std::array<AddressInfo, 45> kAddresses{{
    // Production and channel.
    {"tau/px", "Uniform", "", "px", "tau momentum x component (GeV), Uniform(-px_range, px_range)"},
    {"tau/py", "Uniform", "", "py", "tau momentum y component (GeV), Uniform(-px_range, px_range)"},
    {"tau/pz", "Uniform", "", "pz", "tau momentum z component (GeV), Uniform(40, 50)"},
    {"tau/decay_channel", "Categorical(len_probs:38)", "", "channel", "decay channel, Sherpa tau-/Decays.dat order"},
    // Leptonic (L).
    {"decay/lepton/x", "Uniform", "lepton", "", "Michel x = 2E/m_tau of the charged lepton (proposal)"},
    {"decay/lepton/cos_theta", "Uniform", "lepton", "", "lepton cos(theta) in the helicity frame (proposal)"},
    {"decay/lepton/accept", "Uniform", "lepton", "", "accept/reject uniform of the Michel loop"},
    {"decay/lepton/phi", "Uniform", "", "", "lepton azimuth in the helicity frame"},
    {"decay/nunu/cos_theta", "Uniform", "", "", "nu-nu split cos(theta) in the nu-nu rest frame (nuisance)"},
    {"decay/nunu/phi", "Uniform", "", "", "nu-nu split azimuth (nuisance)"},
    // Direction loop (P, V, A).
    {"decay/dir/cos_theta", "Uniform", "dir", "", "hadronic system cos(theta) in the helicity frame (proposal)"},
    {"decay/dir/accept", "Uniform", "dir", "", "accept/reject uniform of the 1 + alpha P cos(theta) loop"},
    {"decay/dir/phi", "Uniform", "", "", "hadronic system azimuth in the helicity frame"},
    // Resonance masses (V, A).
    {"decay/rho_mass/u", "Uniform", "rho_mass", "", "rho mass proposal, mapped through a Breit-Wigner"},
    {"decay/rho_mass/accept", "Uniform", "rho_mass", "", "accept/reject uniform of the rho mass loop"},
    {"decay/kstar_mass/u", "Uniform", "kstar_mass", "", "K* mass proposal, mapped through a Breit-Wigner"},
    {"decay/kstar_mass/accept", "Uniform", "kstar_mass", "", "accept/reject uniform of the K* mass loop"},
    {"decay/res_decay/cos_theta", "Uniform", "", "", "rho/K* decay cos(theta) in its rest frame (lab axes)"},
    {"decay/res_decay/phi", "Uniform", "", "", "rho/K* decay azimuth"},
    {"decay/a1_mass/u", "Uniform", "a1_mass", "", "a1 mass proposal, mapped through a Breit-Wigner"},
    {"decay/a1_mass/accept", "Uniform", "a1_mass", "", "accept/reject uniform of the a1 mass loop"},
    {"decay/a1_decay/cos_theta", "Uniform", "", "", "a1 -> rho pi cos(theta) in the a1 rest frame (lab axes)"},
    {"decay/a1_decay/phi", "Uniform", "", "", "a1 -> rho pi azimuth"},
    // GENBOD (N).
    {"decay/nbody/r", "Uniform", "nbody", "", "GENBOD intermediate-mass uniform (n-2 per try, sorted)"},
    {"decay/nbody/accept", "Uniform", "nbody", "", "accept/reject uniform of the GENBOD loop"},
    {"decay/nbody/cos_theta", "Uniform", "", "", "GENBOD two-body split cos(theta) (n-1 per decay)"},
    {"decay/nbody/phi", "Uniform", "", "", "GENBOD two-body split azimuth (n-1 per decay)"},
    // Secondary decays.
    {"decay/pi0/cos_theta", "Uniform", "", "", "pi0 -> gamma gamma cos(theta) in the pi0 rest frame"},
    {"decay/pi0/phi", "Uniform", "", "", "pi0 -> gamma gamma azimuth"},
    {"decay/ks/flight", "Exponential", "", "", "K_S flight length (cm); >= 150 cm reaches the calorimeter"},
    {"decay/ks/mode", "Categorical(len_probs:2)", "", "", "K_S decay mode: pi+ pi-, pi0 pi0"},
    {"decay/ks/cos_theta", "Uniform", "", "", "K_S decay cos(theta) in its rest frame"},
    {"decay/ks/phi", "Uniform", "", "", "K_S decay azimuth"},
    {"decay/eta/mode", "Categorical(len_probs:3)", "", "", "eta decay mode: gamma gamma, 3 pi0, pi+ pi- pi0"},
    {"decay/eta/cos_theta", "Uniform", "", "", "eta -> gamma gamma cos(theta) in the eta rest frame"},
    {"decay/eta/phi", "Uniform", "", "", "eta -> gamma gamma azimuth"},
    {"decay/eta3/r", "Uniform", "eta3", "", "eta three-body GENBOD intermediate-mass uniform"},
    {"decay/eta3/accept", "Uniform", "eta3", "", "accept/reject uniform of the eta three-body loop"},
    {"decay/eta3/cos_theta", "Uniform", "", "", "eta three-body split cos(theta) (2 per decay)"},
    {"decay/eta3/phi", "Uniform", "", "", "eta three-body split azimuth (2 per decay)"},
    // Detector latents; control follows --detector-latents.
    {"calo/gamma/conv_depth", "Exponential", "", "", "photon conversion depth behind the front face (cm)"},
    {"calo/em/response", "LogNormal", "", "", "visible/true energy of an e or gamma shower"},
    {"calo/had/first_interaction", "Exponential", "", "", "hadron first-interaction depth behind the front face (cm)"},
    {"calo/had/response", "LogNormal", "", "", "visible/true energy of a hadronic shower"},
    {"calo/mip/response", "LogNormal", "", "", "muon MIP deposit scale (x 0.057 GeV per layer)"},
}};

const std::array<AddressInfo, 2> kEtalumis{{
    {"calo/etalumis/n_deposits", "Poisson", "", "", "number of 5 MeV deposits of one e/gamma/hadron (uncontrolled)"},
    {"calo/etalumis/offset", "Normal", "", "",
     "3-vector offset of one deposit from the shower centre, particle frame (uncontrolled)"},
}};

nlohmann::ordered_json to_json(const AddressInfo& a, bool control) {
  nlohmann::ordered_json j;
  j["address"] = a.address;
  j["distribution"] = a.distribution;
  j["loop"] = a.loop.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(a.loop);
  j["name"] = a.name.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(a.name);
  j["control"] = control;
  j["meaning"] = a.meaning;
  return j;
}

}  // namespace

std::span<const AddressInfo> address_manifest() { return kAddresses; }
std::span<const AddressInfo> etalumis_addresses() { return kEtalumis; }

std::string manifest_json(const Options& options) {
  using json = nlohmann::ordered_json;
  json doc;
  doc["model"] = "tau_decay";
  doc["documentation"] = "simulators/tau_decay/README.md";
  doc["address_format"] = "<base>__<DistributionSuffix>__<instance>";
  doc["options"] = {{"p_tau", options.p_tau},
                    {"rs_bound", to_string(options.rs_bound)},
                    {"detector_latents", to_string(options.detector_latents)},
                    {"noise_scale", options.noise_scale},
                    {"sigma_met", options.sigma_met},
                    {"obs_mode", to_string(options.obs_mode)},
                    {"calo_mode", to_string(options.calo_mode)},
                    {"emit_tags", options.emit_tags},
                    {"emit_rs_tags", options.emit_rs_tags},
                    {"px_range", options.px_range}};
  const bool detector_control = options.detector_latents == DetectorLatents::Controlled;
  json addresses = json::array();
  for (const AddressInfo& a : kAddresses) {
    addresses.push_back(to_json(a, !a.address.starts_with("calo/") || detector_control));
  }
  doc["addresses"] = std::move(addresses);
  json etalumis = json::array();
  for (const AddressInfo& a : kEtalumis) etalumis.push_back(to_json(a, false));
  doc["calo_mode_etalumis_v1"] = {
      {"note", "with calo_mode etalumis_v1 these replace the calo/* detector latents"},
      {"addresses", std::move(etalumis)}};

  // Loops: the draws of one try end with the accept draw; the loop repeats until acceptance.
  json loops = json::array();
  for (std::size_t i = 0; i < kLoopCount; ++i) {
    const std::string id(loop_name(static_cast<LoopId>(i)));
    json draws = json::array();
    for (const AddressInfo& a : kAddresses) {
      if (a.loop == id) draws.push_back(a.address);
    }
    loops.push_back({{"id", id},
                     {"draws", std::move(draws)},
                     {"max_tries", kMaxLoopTries},
                     {"tags", {"rs_start:" + id, "rs_end:" + id}}});
  }
  doc["loops"] = std::move(loops);

  const bool coarse = options.obs_mode == ObsMode::Coarse;
  const json calo_shape = coarse ? json::array({calo::kCoarseLayers, calo::kCoarseCells, calo::kCoarseCells})
                                 : json::array({calo::kLayers, calo::kCells, calo::kCells});
  doc["observes"] = json::array(
      {{{"name", "calorimeter"},
        {"address", "calorimeter"},
        {"distribution", "Normal"},
        {"shape", calo_shape},
        {"meaning", "energy per voxel (GeV), layer-major (layer, x, y); stddev k sqrt(sigma_n^2 + c^2 mu)"}},
       {{"name", "met"},
        {"address", "met"},
        {"distribution", "Normal"},
        {"shape", {2}},
        {"meaning", "missing transverse momentum (px, py) in GeV, stddev sigma_met"}}});
  doc["tags"] = json::array(
      {{{"name", "truth/fsp"}, {"shape", {12, 5}},
        {"meaning", "visible final-state particles by decreasing energy: pdg, E, px, py, pz (zero-padded)"}},
       {{"name", "truth/m_res"}, {"shape", json::array()},
        {"meaning", "accepted resonance mass: rho/K* (V channels), a1 (A channels), 0 otherwise"}},
       {{"name", "truth/n_pi0"}, {"shape", json::array()}, {"meaning", "number of pi0, secondary ones included"}},
       {{"name", "truth/channel"}, {"shape", json::array()}, {"meaning", "decay channel index"}},
       {{"name", "truth/met"}, {"shape", {2}}, {"meaning", "true missing transverse momentum (sum of neutrinos)"}}});
  return doc.dump(2) + "\n";
}

}  // namespace ppx::tau_decay
