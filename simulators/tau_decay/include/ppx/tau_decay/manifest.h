#pragma once
// The static address manifest (README.md "Addresses"): for every base address the model can
// sample, its distribution (pyprob address suffix), the rejection loop it belongs to (if any) and
// its meaning. PPX 1.0 has no `replace` flag, so engines that collapse loops read the loop ids
// here (or the optional rs_start/rs_end tags).
#include <span>
#include <string>
#include <string_view>

#include "ppx/tau_decay/options.h"

namespace ppx::tau_decay {

struct AddressInfo {
  std::string_view address;       // base address, as passed to ppx::sample
  std::string_view distribution;  // pyprob suffix: "Uniform", "Categorical(len_probs:38)", ...
  std::string_view loop;          // loop id ("lepton", "nbody", ...) or "" when not in a loop
  std::string_view name;          // the sample's name ("px", "channel") or ""
  std::string_view meaning;
};

// The 45 base addresses of calo_mode = mean, in first-use order.
std::span<const AddressInfo> address_manifest();
// The extra (uncontrolled) addresses of calo_mode = etalumis_v1, which replaces the calo/* latents.
std::span<const AddressInfo> etalumis_addresses();

// The manifest as a pretty-printed JSON document: addresses, loops, observes (shapes for
// `options`), tags.
std::string manifest_json(const Options& options);

}  // namespace ppx::tau_decay
