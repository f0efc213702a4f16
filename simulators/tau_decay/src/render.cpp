#include "ppx/tau_decay/render.h"

#include <cairo-svg.h>
#include <cairo.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "ppx/tau_decay/detector.h"

namespace ppx::tau_decay {
namespace {

constexpr double kWidth = 1200, kHeight = 600;
constexpr double kPngScale = 2.0;  // 2400 x 1200 pixels: sharp on a slide
constexpr const char* kFont = "DejaVu Sans";

struct Rgb {
  double r, g, b;
};

// Viridis, sampled at 9 points and interpolated linearly.
Rgb viridis(double t) {
  static constexpr std::array<Rgb, 9> kStops{{{0.267, 0.005, 0.329},
                                              {0.279, 0.175, 0.483},
                                              {0.230, 0.322, 0.546},
                                              {0.173, 0.449, 0.558},
                                              {0.128, 0.567, 0.551},
                                              {0.153, 0.680, 0.504},
                                              {0.361, 0.785, 0.388},
                                              {0.667, 0.862, 0.196},
                                              {0.993, 0.906, 0.144}}};
  t = std::clamp(t, 0.0, 1.0) * (kStops.size() - 1);
  const std::size_t i = std::min<std::size_t>(static_cast<std::size_t>(t), kStops.size() - 2);
  const double f = t - static_cast<double>(i);
  const Rgb& a = kStops[i];
  const Rgb& b = kStops[i + 1];
  return {a.r + f * (b.r - a.r), a.g + f * (b.g - a.g), a.b + f * (b.b - a.b)};
}

// A "nice" tick step (1, 2 or 5 x 10^k) giving about `target` ticks over `range`.
double nice_step(double range, int target) {
  const double raw = range / target;
  const double base = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * base >= raw) return m * base;
  }
  return 10.0 * base;
}

std::string format_tick(double v, double step) {
  char buf[32];
  const int decimals = step >= 1.0 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  std::snprintf(buf, sizeof buf, "%.*f", decimals, std::abs(v) < step * 1e-6 ? 0.0 : v);
  return buf;
}

class Painter {
 public:
  explicit Painter(cairo_t* cr) : cr_(cr) {}

  void font(double size, bool bold = false) {
    cairo_select_font_face(cr_, kFont, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr_, size);
  }
  void colour(double r, double g, double b) { cairo_set_source_rgb(cr_, r, g, b); }
  void colour(const Rgb& c) { cairo_set_source_rgb(cr_, c.r, c.g, c.b); }

  // Text anchored at (x, y): ha 0 left, 0.5 centre, 1 right; va 0 top, 0.5 middle, 1 baseline.
  void text(const std::string& s, double x, double y, double ha = 0.0, double va = 1.0, double angle = 0.0) {
    cairo_text_extents_t ext;
    cairo_text_extents(cr_, s.c_str(), &ext);
    cairo_font_extents_t fe;
    cairo_font_extents(cr_, &fe);
    cairo_save(cr_);
    cairo_translate(cr_, x, y);
    cairo_rotate(cr_, angle);
    const double dy = va >= 1.0 ? 0.0 : (va <= 0.0 ? fe.ascent : 0.5 * (fe.ascent - fe.descent));
    cairo_move_to(cr_, -ha * ext.x_advance, dy);
    cairo_show_text(cr_, s.c_str());
    cairo_restore(cr_);
  }
  // Text with _{subscript} and ^{superscript} markup, left-aligned on the baseline at (x, y);
  // returns the advance. With draw = false it only measures.
  double rich(const std::string& s, double x, double y, double size, bool bold = false, bool draw = true) {
    double pen = x;
    std::size_t i = 0;
    while (i < s.size()) {
      double shift = 0.0, scale = 1.0;
      std::string piece;
      if ((s[i] == '_' || s[i] == '^') && i + 1 < s.size() && s[i + 1] == '{') {
        const std::size_t close = s.find('}', i + 2);
        const std::size_t end = close == std::string::npos ? s.size() : close;
        piece = s.substr(i + 2, end - i - 2);
        scale = 0.68;
        shift = s[i] == '_' ? 0.22 * size : -0.38 * size;
        i = end == s.size() ? end : end + 1;
      } else {
        const std::size_t next = s.find_first_of("_^", i + 1);
        const std::size_t end = next == std::string::npos ? s.size() : next;
        piece = s.substr(i, end - i);
        i = end;
      }
      font(size * scale, bold);
      cairo_text_extents_t ext;
      cairo_text_extents(cr_, piece.c_str(), &ext);
      if (draw) {
        cairo_move_to(cr_, pen, y + shift);
        cairo_show_text(cr_, piece.c_str());
      }
      pen += ext.x_advance;
    }
    font(size, bold);
    return pen - x;
  }
  void line(double x0, double y0, double x1, double y1, double width = 1.0) {
    cairo_set_line_width(cr_, width);
    cairo_move_to(cr_, x0, y0);
    cairo_line_to(cr_, x1, y1);
    cairo_stroke(cr_);
  }
  void rect(double x, double y, double w, double h) {
    cairo_rectangle(cr_, x, y, w, h);
    cairo_fill(cr_);
  }
  void frame(double x, double y, double w, double h, double width = 1.2) {
    cairo_set_line_width(cr_, width);
    cairo_rectangle(cr_, x, y, w, h);
    cairo_stroke(cr_);
  }
  cairo_t* cr() { return cr_; }

 private:
  cairo_t* cr_;
};

struct Geometry {
  double lo, hi;          // transverse extent
  double depth_lo, depth_hi;
  std::string unit;       // "cm" or "a.u."
  std::string depth_label;
};

// Robust noise estimate of the towers: 1.4826 x the median absolute deviation (most towers of an
// observed image hold noise only; for a noise-free image this is 0).
double tower_noise(std::vector<double> values) {
  auto median = [](std::vector<double>& v) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  const double m = median(values);
  for (double& v : values) v = std::abs(v - m);
  return 1.4826 * median(values);
}

// Returns the text describing the display threshold.
std::string draw_map(Painter& p, const std::vector<double>& column, int n, const Geometry& g,
                     const std::vector<MapMarker>& markers, double x0, double y0, double size) {
  const double vmax = *std::max_element(column.begin(), column.end());
  // Log scale over at most three decades below the maximum; towers below 3 sigma of the noise
  // (or the scale) stay white, as in a zero-suppressed event display.
  const double top = std::max(vmax, 1e-2);
  const double noise_cut = 3.0 * tower_noise(column);
  const double bottom = std::max({top * 1e-3, 1e-3, noise_cut});
  char caption[96];
  if (noise_cut >= std::max(top * 1e-3, 1e-3)) {
    std::snprintf(caption, sizeof caption, "towers below %.2g GeV (3 sigma noise) blank", bottom);
  } else {
    std::snprintf(caption, sizeof caption, "towers below %.2g GeV blank", bottom);
  }
  const double top_log = std::log10(top);
  const double log_span = std::max(top_log - std::log10(bottom), 0.5);
  const double log_lo = top_log - log_span, log_hi = top_log;
  const double cell = size / n;
  p.colour(1, 1, 1);
  p.rect(x0, y0, size, size);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      const double v = column[static_cast<std::size_t>(i) * n + j];
      if (!(v > bottom)) continue;
      p.colour(viridis((std::log10(v) - log_lo) / (log_hi - log_lo)));
      // Slight overlap hides hairline seams between cells in anti-aliased output.
      p.rect(x0 + i * cell, y0 + (n - 1 - j) * cell, cell + 0.6, cell + 0.6);
    }
  }
  p.colour(0.15, 0.15, 0.15);
  p.frame(x0, y0, size, size);

  // Markers: a ring with a short label, clipped to the map.
  cairo_save(p.cr());
  cairo_rectangle(p.cr(), x0, y0, size, size);
  cairo_clip(p.cr());
  for (const MapMarker& m : markers) {
    const double mx = x0 + (m.x - g.lo) / (g.hi - g.lo) * size;
    const double my = y0 + size - (m.y - g.lo) / (g.hi - g.lo) * size;
    cairo_new_path(p.cr());
    cairo_set_line_width(p.cr(), 3.0);
    p.colour(1, 1, 1);
    cairo_arc(p.cr(), mx, my, 4.5, 0, 2 * M_PI);
    cairo_stroke(p.cr());
    cairo_set_line_width(p.cr(), 1.4);
    p.colour(0.85, 0.1, 0.1);
    cairo_arc(p.cr(), mx, my, 4.5, 0, 2 * M_PI);
    cairo_stroke(p.cr());
    // Label with a white halo for contrast on any colour.
    const double w = p.rich(m.label, 0, 0, 13, true, false);
    cairo_set_source_rgba(p.cr(), 1, 1, 1, 0.8);
    cairo_rectangle(p.cr(), mx + 7, my - 19, w + 4, 17);
    cairo_fill(p.cr());
    p.colour(0.75, 0.05, 0.05);
    p.rich(m.label, mx + 9, my - 6, 13, true);
  }
  cairo_restore(p.cr());

  // Axes.
  p.font(13);
  const double step = nice_step(g.hi - g.lo, 7);
  for (double t = std::ceil(g.lo / step) * step; t <= g.hi + 1e-9; t += step) {
    const double fx = x0 + (t - g.lo) / (g.hi - g.lo) * size;
    const double fy = y0 + size - (t - g.lo) / (g.hi - g.lo) * size;
    p.line(fx, y0 + size, fx, y0 + size + 6);
    p.line(x0 - 6, fy, x0, fy);
    p.text(format_tick(t, step), fx, y0 + size + 10, 0.5, 0.0);
    p.text(format_tick(t, step), x0 - 10, fy, 1.0, 0.5);
  }
  p.font(15);
  p.text("x (" + g.unit + ")", x0 + size / 2, y0 + size + 42, 0.5, 1.0);
  p.text("y (" + g.unit + ")", x0 - 48, y0 + size / 2, 0.5, 1.0, -M_PI / 2);

  // Colour bar with decade ticks.
  const double bx = x0 + size + 22, bw = 18;
  for (int k = 0; k < 256; ++k) {
    p.colour(viridis((k + 0.5) / 256.0));
    p.rect(bx, y0 + size - (k + 1) * size / 256.0, bw, size / 256.0 + 0.6);
  }
  p.colour(0.15, 0.15, 0.15);
  p.frame(bx, y0, bw, size);
  p.font(13);
  // Decade ticks, plus 2 and 5 below two decades of range, and every integer mantissa below one.
  const double span = log_hi - log_lo;
  for (int d = static_cast<int>(std::floor(log_lo)); d <= static_cast<int>(std::ceil(log_hi)); ++d) {
    for (double mantissa = 1.0; mantissa < 9.5; mantissa += 1.0) {
      const bool wanted = mantissa == 1.0 || (span < 2.0 && (mantissa == 2.0 || mantissa == 5.0)) || span < 1.0;
      if (!wanted) continue;
      const double value = mantissa * std::pow(10.0, d);
      const double t = (std::log10(value) - log_lo) / (log_hi - log_lo);
      if (t < -1e-9 || t > 1.0 + 1e-9) continue;
      const double fy = y0 + size - t * size;
      p.line(bx + bw, fy, bx + bw + 5, fy);
      char buf[16];
      std::snprintf(buf, sizeof buf, "%.*f", d < 0 ? -d : 0, value);
      p.text(buf, bx + bw + 9, fy, 0.0, 0.5);
    }
  }
  p.font(15);
  p.text("energy per tower (GeV)", bx + bw + 62, y0 + size / 2, 0.5, 1.0, -M_PI / 2);
  return caption;
}

void draw_profile(Painter& p, const std::vector<double>& layer, const std::vector<double>& mean,
                  const std::string& mean_label, const Geometry& g, double x0, double y0, double w, double h) {
  const int n = static_cast<int>(layer.size());
  double vmax = std::max(*std::max_element(layer.begin(), layer.end()), 1e-3);
  if (!mean.empty()) vmax = std::max(vmax, *std::max_element(mean.begin(), mean.end()));
  const double vmin = std::min(0.0, *std::min_element(layer.begin(), layer.end()));
  const double step = nice_step((vmax - vmin) * 1.1, 6);
  const double lo = std::floor(vmin / step) * step, hi = std::ceil(vmax * 1.1 / step) * step;
  auto fy = [&](double v) { return y0 + h - (v - lo) / (hi - lo) * h; };
  const double bar = w / n;

  // Grid lines, bars, outline.
  p.colour(0.88, 0.88, 0.88);
  for (double t = lo; t <= hi + 1e-9; t += step) p.line(x0, fy(t), x0 + w, fy(t), 0.8);
  const Rgb fill = viridis(0.35);
  for (int l = 0; l < n; ++l) {
    const double top = fy(std::max(layer[l], 0.0)), base = fy(std::min(layer[l], 0.0));
    cairo_set_source_rgba(p.cr(), fill.r, fill.g, fill.b, 0.45);
    p.rect(x0 + l * bar, top, bar, base - top);
  }
  p.colour(fill);
  cairo_set_line_width(p.cr(), 2.0);
  cairo_move_to(p.cr(), x0, fy(0.0));
  for (int l = 0; l < n; ++l) {
    cairo_line_to(p.cr(), x0 + l * bar, fy(layer[l]));
    cairo_line_to(p.cr(), x0 + (l + 1) * bar, fy(layer[l]));
  }
  cairo_line_to(p.cr(), x0 + w, fy(0.0));
  cairo_stroke(p.cr());
  const Rgb mean_colour{0.85, 0.33, 0.1};
  if (!mean.empty()) {
    // Expected energy per layer as points joined by a thin line.
    p.colour(mean_colour);
    cairo_set_line_width(p.cr(), 1.5);
    for (int l = 0; l < n; ++l) {
      const double cx = x0 + (l + 0.5) * bar;
      if (l == 0) cairo_move_to(p.cr(), cx, fy(mean[l]));
      else cairo_line_to(p.cr(), cx, fy(mean[l]));
    }
    cairo_stroke(p.cr());
    for (int l = 0; l < n; ++l) {
      cairo_new_path(p.cr());
      cairo_arc(p.cr(), x0 + (l + 0.5) * bar, fy(mean[l]), 3.2, 0, 2 * M_PI);
      cairo_fill(p.cr());
    }
  }
  // Legend (top right).
  p.font(13);
  const double lx = x0 + w - 190, ly = y0 + 22;
  cairo_set_source_rgba(p.cr(), fill.r, fill.g, fill.b, 0.45);
  p.rect(lx, ly - 10, 22, 12);
  p.colour(fill);
  p.frame(lx, ly - 10, 22, 12, 1.5);
  p.colour(0.15, 0.15, 0.15);
  p.text("observed", lx + 30, ly + 1);
  if (!mean.empty()) {
    p.colour(mean_colour);
    p.line(lx, ly + 18, lx + 22, ly + 18, 1.5);
    cairo_new_path(p.cr());
    cairo_arc(p.cr(), lx + 11, ly + 18, 3.2, 0, 2 * M_PI);
    cairo_fill(p.cr());
    p.colour(0.15, 0.15, 0.15);
    p.text(mean_label, lx + 30, ly + 23);
  }
  p.colour(0.15, 0.15, 0.15);
  if (lo < 0) p.line(x0, fy(0.0), x0 + w, fy(0.0), 0.8);
  p.frame(x0, y0, w, h);

  p.font(13);
  for (double t = lo; t <= hi + 1e-9; t += step) {
    p.line(x0 - 6, fy(t), x0, fy(t));
    p.text(format_tick(t, step), x0 - 10, fy(t), 1.0, 0.5);
  }
  const double dstep = nice_step(g.depth_hi - g.depth_lo, 6);
  for (double t = std::ceil(g.depth_lo / dstep) * dstep; t <= g.depth_hi + 1e-9; t += dstep) {
    const double fx = x0 + (t - g.depth_lo) / (g.depth_hi - g.depth_lo) * w;
    p.line(fx, y0 + h, fx, y0 + h + 6);
    p.text(format_tick(t, dstep), fx, y0 + h + 10, 0.5, 0.0);
  }
  // Layer numbers along the top edge.
  p.font(11);
  p.colour(0.45, 0.45, 0.45);
  const int every = n > 10 ? 5 : 1;
  for (int l = 0; l < n; l += every) p.text(std::to_string(l), x0 + (l + 0.5) * bar, y0 - 6, 0.5, 1.0);
  p.text("layer", x0 + w + 6, y0 - 6, 0.0, 1.0);
  p.colour(0.15, 0.15, 0.15);
  p.font(15);
  p.text(g.depth_label, x0 + w / 2, y0 + h + 42, 0.5, 1.0);
  p.text("energy per layer (GeV)", x0 - 62, y0 + h / 2, 0.5, 1.0, -M_PI / 2);
}

}  // namespace

std::string particle_label(int pdg_code) {
  switch (pdg_code) {
    case pdg::electron: return "e⁻";
    case -pdg::electron: return "e⁺";
    case pdg::muon: return "μ⁻";
    case -pdg::muon: return "μ⁺";
    case pdg::tau: return "τ⁻";
    case pdg::nu_e: return "ν_{e}";
    case -pdg::nu_e: return "ν̄_{e}";
    case pdg::nu_mu: return "ν_{μ}";
    case -pdg::nu_mu: return "ν̄_{μ}";
    case pdg::nu_tau: return "ν_{τ}";
    case -pdg::nu_tau: return "ν̄_{τ}";
    case pdg::photon: return "γ";
    case pdg::pi0: return "π⁰";
    case pdg::pi_plus: return "π⁺";
    case -pdg::pi_plus: return "π⁻";
    case pdg::k_plus: return "K⁺";
    case -pdg::k_plus: return "K⁻";
    case pdg::k_short: return "K_{S}";
    case pdg::k_long: return "K_{L}";
    case pdg::eta: return "η";
    default: return std::string(particle_name(pdg_code));
  }
}

std::string channel_label(const Channel& channel) {
  std::string s = "τ⁻ →";
  for (int code : channel.final_state) s += " " + particle_label(code);
  return s;
}

void render_calorimeter(const Tensor& image, const std::string& path, const RenderOptions& options) {
  const auto& shape = image.shape();
  if (shape.size() != 3 || shape[1] != shape[2] || shape[0] < 1 || shape[1] < 1) {
    throw std::invalid_argument("render: expected a calorimeter image of shape [layers, n, n], got " + image.to_string());
  }
  const int layers = shape[0], n = shape[1];
  const bool svg = path.ends_with(".svg");
  if (!svg && !path.ends_with(".png")) throw std::invalid_argument("render: output must end in .png or .svg: " + path);

  std::vector<double> column(static_cast<std::size_t>(n) * n, 0.0), layer(layers, 0.0), mean_layer;
  const auto& data = image.data();
  for (int l = 0; l < layers; ++l) {
    for (std::size_t c = 0; c < column.size(); ++c) {
      const double v = data[static_cast<std::size_t>(l) * column.size() + c];
      const double finite = std::isfinite(v) ? v : 0.0;
      column[c] += finite;
      layer[l] += finite;
    }
  }
  if (options.mean && options.mean->shape() == shape) {
    mean_layer.assign(layers, 0.0);
    for (std::size_t v = 0; v < options.mean->numel(); ++v) {
      const double x = (*options.mean)[v];
      if (std::isfinite(x)) mean_layer[v / column.size()] += x;
    }
  }
  const Geometry g = options.arbitrary_units
                         ? Geometry{-etalumis::kHalfWidth, etalumis::kHalfWidth, etalumis::kFrontZ, etalumis::kBackZ,
                                    "a.u.", "z (a.u.)"}
                         : Geometry{-calo::kHalfWidth, calo::kHalfWidth, 0.0, calo::kDepth, "cm",
                                    "depth behind the front face (cm)"};

  using SurfacePtr = std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)>;
  SurfacePtr surface(svg ? cairo_svg_surface_create(path.c_str(), kWidth, kHeight)
                         : cairo_image_surface_create(CAIRO_FORMAT_ARGB32, static_cast<int>(kWidth * kPngScale),
                                                      static_cast<int>(kHeight * kPngScale)),
                     cairo_surface_destroy);
  if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS) {
    throw std::runtime_error("render: cannot create " + path + ": " + cairo_status_to_string(cairo_surface_status(surface.get())));
  }
  std::unique_ptr<cairo_t, decltype(&cairo_destroy)> cr(cairo_create(surface.get()), cairo_destroy);
  if (!svg) cairo_scale(cr.get(), kPngScale, kPngScale);
  Painter p(cr.get());
  p.colour(1, 1, 1);
  p.rect(0, 0, kWidth, kHeight);

  p.colour(0.1, 0.1, 0.1);
  p.rich(options.title.empty() ? "Calorimeter" : options.title, 40, 40, 22, true);
  p.font(14);
  p.colour(0.35, 0.35, 0.35);
  const double total = std::accumulate(layer.begin(), layer.end(), 0.0);
  char totals[96];
  std::snprintf(totals, sizeof totals, "total %.2f GeV in %d x %d x %d voxels", total, layers, n, n);
  p.text(options.subtitle.empty() ? std::string(totals) : options.subtitle + "   |   " + totals, 40, 66);

  const double top = 128;
  const std::string caption = draw_map(p, column, n, g, options.markers, 110, top, 400);
  draw_profile(p, layer, mean_layer, options.mean_label, g, 730, top, 430, 400);
  p.colour(0.1, 0.1, 0.1);
  p.font(15, true);
  p.text("Layer-summed energy", 110, top - 24);
  p.text("Longitudinal profile", 730, top - 24);
  p.font(12);
  p.colour(0.4, 0.4, 0.4);
  std::string note = caption;
  if (!options.markers.empty()) note += "; rings: particles entering the front face";
  p.text(note, 110, top - 8);

  cairo_surface_flush(surface.get());
  if (svg) {
    cr.reset();
    cairo_surface_finish(surface.get());
    if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS) throw std::runtime_error("render: cannot write " + path);
  } else if (cairo_surface_write_to_png(surface.get(), path.c_str()) != CAIRO_STATUS_SUCCESS) {
    throw std::runtime_error("render: cannot write " + path);
  }
}

}  // namespace ppx::tau_decay
