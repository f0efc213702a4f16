#pragma once
// Configuration of the tau-decay toy (README.md "Program" lists the flags and defaults).
// Plain value type; validate() throws std::invalid_argument naming the bad field.
#include <optional>
#include <string>
#include <string_view>

namespace ppx::tau_decay {

// Bound used by the GENBOD (n-body) rejection loops (README.md "N: n-body phase space").
enum class RsBound { Tight, Loose };
// How the detector latents (README.md "Detector latents") are drawn.
enum class DetectorLatents { Controlled, Uncontrolled, Off };
// Shape of the calorimeter observation (README.md "Observations"): [20,35,35] or sum-pooled [4,7,7].
enum class ObsMode { Full, Coarse };
// Calorimeter model: smooth mean deposits or CPProb's stochastic histogram (README.md "Calorimeter").
enum class CaloMode { Mean, EtalumisV1 };

struct Options {
  double p_tau = -0.15;                 // tau polarisation P, |P| <= 1
  RsBound rs_bound = RsBound::Tight;
  DetectorLatents detector_latents = DetectorLatents::Controlled;
  double noise_scale = 1.0;             // k: multiplies the calorimeter likelihood's stddev, > 0
  double sigma_met = 0.5;               // GeV, stddev of each MET component, > 0
  ObsMode obs_mode = ObsMode::Full;
  CaloMode calo_mode = CaloMode::Mean;
  bool emit_tags = true;                // truth/* tags
  bool emit_rs_tags = false;            // rs_start:<loop> / rs_end:<loop> tags around rejection loops
  double px_range = 2.0;                // tau/px and tau/py ~ Uniform(-px_range, px_range), > 0

  // Throws std::invalid_argument("<field>: <reason>") for the first bad field.
  void validate() const;
};

std::string_view to_string(RsBound value);
std::string_view to_string(DetectorLatents value);
std::string_view to_string(ObsMode value);
std::string_view to_string(CaloMode value);
// The CLI spellings ("tight", "etalumis_v1", ...); nullopt for anything else.
std::optional<RsBound> parse_rs_bound(std::string_view text);
std::optional<DetectorLatents> parse_detector_latents(std::string_view text);
std::optional<ObsMode> parse_obs_mode(std::string_view text);
std::optional<CaloMode> parse_calo_mode(std::string_view text);

}  // namespace ppx::tau_decay
