#pragma once
// Internal: the model's random draws. Every draw is a ppx::sample with a fixed base address
// (the manifest's), counted in RunStats; rejection loops as in README.md "Rejection loops".
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "ppx/ppx.h"
#include "ppx/tau_decay/model.h"
#include "ppx/tau_decay/options.h"

namespace ppx::tau_decay::detail {

struct Context {
  const Options& options;
  RunStats& stats;
};

inline double draw(Context& ctx, const Distribution& d, const char* address, bool control = true,
                   const char* name = "") {
  ++ctx.stats.samples;
  const Tensor value = ppx::sample(d, SampleOptions{.name = name, .address = address, .control = control});
  // Values from a remote engine are taken as given, but every site is a scalar.
  if (value.numel() != 1) throw std::runtime_error(std::string("tau_decay: sample at ") + address + " is not a scalar");
  return value[0];
}

inline double draw_uniform(Context& ctx, const char* address, double low, double high, const char* name = "") {
  return draw(ctx, ppx::Uniform(low, high), address, true, name);
}

// A category index in [0, n), clamped so that an out-of-range engine value cannot index past a table.
inline int draw_category(Context& ctx, const Tensor& probs, const char* address, const char* name = "") {
  const double v = draw(ctx, ppx::Categorical(probs), address, true, name);
  const int n = static_cast<int>(probs.numel());
  if (!std::isfinite(v)) return 0;
  return std::clamp(static_cast<int>(std::lround(v)), 0, n - 1);
}

void emit_rs_tag(bool start, LoopId id, double value);

// Runs "repeat { propose(); accept ~ U(0,1) } until accept <= ratio" (README.md "Rejection loops"). `propose` makes
// the loop's draws and returns the acceptance ratio A of its proposal. A > 1 accepts (counted as
// a bound violation; the bound is not changed); after kMaxLoopTries the last proposal is kept
// (counted as a cap hit). Non-finite ratios reject.
template <class Propose>
void rejection_loop(Context& ctx, LoopId id, const char* accept_address, Propose&& propose) {
  LoopStats& stats = ctx.stats.loop(id);
  ++stats.entries;
  if (ctx.options.emit_rs_tags) emit_rs_tag(true, id, 0.0);
  int tries = 0;
  while (true) {
    ++tries;
    ++stats.tries;
    double ratio = propose();
    if (!std::isfinite(ratio)) ratio = 0.0;
    const double u = draw_uniform(ctx, accept_address, 0.0, 1.0);
    if (ratio > 1.0) {
      ++stats.bound_violations;
      break;
    }
    if (u <= ratio) break;
    if (tries >= kMaxLoopTries) {
      ++stats.cap_hits;
      break;
    }
  }
  if (ctx.options.emit_rs_tags) emit_rs_tag(false, id, static_cast<double>(tries));
}

// Primary decay of the tau and secondary decays (README.md "Decay kinematics", "Secondary decays");
// fill `event`.
void decay_tau(Context& ctx, Event& event);
void decay_secondaries(Context& ctx, Event& event);

}  // namespace ppx::tau_decay::detail
