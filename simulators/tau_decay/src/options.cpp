#include "ppx/tau_decay/options.h"

#include <cmath>
#include <stdexcept>

namespace ppx::tau_decay {
namespace {

void require(bool condition, const char* what) {
  if (!condition) throw std::invalid_argument(what);
}

}  // namespace

void Options::validate() const {
  require(std::isfinite(p_tau) && std::abs(p_tau) <= 1.0, "p_tau: must be a number in [-1, 1]");
  require(std::isfinite(noise_scale) && noise_scale > 0.0, "noise_scale: must be a finite number > 0");
  require(std::isfinite(sigma_met) && sigma_met > 0.0, "sigma_met: must be a finite number > 0 (GeV)");
  // Beyond ~100 GeV of transverse momentum the tau would no longer point at the calorimeter.
  require(std::isfinite(px_range) && px_range > 0.0 && px_range <= 100.0,
          "px_range: must be a number in (0, 100] (GeV)");
}

std::string_view to_string(RsBound value) { return value == RsBound::Tight ? "tight" : "loose"; }

std::string_view to_string(DetectorLatents value) {
  switch (value) {
    case DetectorLatents::Controlled: return "controlled";
    case DetectorLatents::Uncontrolled: return "uncontrolled";
    case DetectorLatents::Off: return "off";
  }
  return "controlled";
}

std::string_view to_string(ObsMode value) { return value == ObsMode::Full ? "full" : "coarse"; }

std::string_view to_string(CaloMode value) { return value == CaloMode::Mean ? "mean" : "etalumis_v1"; }

std::optional<RsBound> parse_rs_bound(std::string_view text) {
  if (text == "tight") return RsBound::Tight;
  if (text == "loose") return RsBound::Loose;
  return std::nullopt;
}

std::optional<DetectorLatents> parse_detector_latents(std::string_view text) {
  if (text == "controlled") return DetectorLatents::Controlled;
  if (text == "uncontrolled") return DetectorLatents::Uncontrolled;
  if (text == "off") return DetectorLatents::Off;
  return std::nullopt;
}

std::optional<ObsMode> parse_obs_mode(std::string_view text) {
  if (text == "full") return ObsMode::Full;
  if (text == "coarse") return ObsMode::Coarse;
  return std::nullopt;
}

std::optional<CaloMode> parse_calo_mode(std::string_view text) {
  if (text == "mean") return CaloMode::Mean;
  if (text == "etalumis_v1") return CaloMode::EtalumisV1;
  return std::nullopt;
}

}  // namespace ppx::tau_decay
