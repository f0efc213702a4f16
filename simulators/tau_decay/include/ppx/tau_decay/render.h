#pragma once
// Event display of a calorimeter image: the layer-summed transverse map (log colour scale, colour
// bar, axes in cm) and the longitudinal energy profile, drawn with cairo to PNG or SVG.
#include <optional>
#include <string>
#include <vector>

#include "ppx/core/tensor.h"
#include "ppx/tau_decay/channels.h"

namespace ppx::tau_decay {

// A labelled point on the transverse map (e.g. where a particle enters the calorimeter).
struct MapMarker {
  double x = 0, y = 0;   // in the map's units (cm, or a.u. for etalumis_v1)
  std::string label;     // markup as in RenderOptions::title
};

struct RenderOptions {
  // Text lines; `title` may use the markup _{subscript} and ^{superscript}.
  std::string title;
  std::string subtitle;
  bool arbitrary_units = false;    // calo_mode etalumis_v1 grid: x, y in [-3, 3], z in [4, 15] (a.u.)
  std::optional<Tensor> mean;      // the likelihood's mean (same shape), drawn on the profile
  std::string mean_label = "expected (noise-free)";
  std::vector<MapMarker> markers;
};

// Display label of a channel with the render markup, e.g. "τ⁻ → π⁻ π⁰ ν_{τ}".
std::string channel_label(const Channel& channel);
// Display label of one particle ("π⁻", "K_{S}", "γ", "ν̄_{e}").
std::string particle_label(int pdg_code);

// Writes `image` (shape [layers, n, n], layer-major, GeV) to `path`; the format follows the
// extension (.png or .svg). Throws std::invalid_argument for a bad shape or extension and
// std::runtime_error when the file cannot be written.
void render_calorimeter(const Tensor& image, const std::string& path, const RenderOptions& options);

}  // namespace ppx::tau_decay
