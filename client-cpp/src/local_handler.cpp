#include "ppx/ppx.h"

namespace ppx {

LocalHandler::LocalHandler(Options options) : options_(options), rng_(make_rng(options.seed, options.stream)) {}

void LocalHandler::set_fixed_values(std::vector<std::pair<std::string, Tensor>> fixed) { fixed_ = std::move(fixed); }

void LocalHandler::reseed(std::uint64_t seed, std::uint64_t stream) { rng_ = make_rng(seed, stream); }

TraceRecord LocalHandler::take_record() {
  TraceRecord out = std::move(record_);
  record_ = {};
  return out;
}

Tensor LocalHandler::on_sample(const SampleSite& site) {
  const Tensor* fixed = nullptr;
  if (!site.name.empty()) {
    for (const auto& [name, value] : fixed_) {
      if (name == site.name) fixed = &value;
    }
  }
  Tensor value = fixed != nullptr ? *fixed : site.distribution.sample(rng_);
  if (options_.record) {
    record_.sites.push_back(SiteRecord{.kind = SiteKind::Sample,
                                       .address = std::string(site.address),
                                       .name = std::string(site.name),
                                       .distribution = site.distribution,
                                       .value = value,
                                       .control = site.control});
  }
  return value;
}

void LocalHandler::on_observe(const ObserveSite& site) {
  if (!options_.record) return;
  std::optional<Tensor> value;
  if (site.value != nullptr) {
    value = *site.value;
  } else if (options_.sample_observations && site.likelihood != nullptr) {
    value = site.likelihood->sample(rng_);
  }
  std::optional<Distribution> likelihood;
  if (site.likelihood != nullptr) likelihood = *site.likelihood;
  record_.sites.push_back(SiteRecord{.kind = SiteKind::Observe,
                                     .address = std::string(site.address),
                                     .name = std::string(site.name),
                                     .distribution = std::move(likelihood),
                                     .value = std::move(value),
                                     .control = false});
}

void LocalHandler::on_tag(const TagSite& site) {
  if (!options_.record) return;
  record_.sites.push_back(SiteRecord{.kind = SiteKind::Tag,
                                     .address = std::string(site.address),
                                     .name = std::string(site.name),
                                     .distribution = std::nullopt,
                                     .value = site.value,
                                     .control = false});
}

}  // namespace ppx
