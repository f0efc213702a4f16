#include "ppx/engines/executor.h"

#include <chrono>
#include <cmath>

namespace ppx::engines {

Choice PriorPolicy::choose(const SampleSite& site, const std::string&, Rng& rng) {
  return Choice{.value = site.distribution.sample(rng)};
}

TraceRecorder::TraceRecorder(SamplePolicy& policy, const Observations& observations, Rng& rng,
                             ObservePayloads payloads)
    : policy_(policy), observations_(observations), rng_(rng), payloads_(payloads) {}

std::string TraceRecorder::next_address(std::string_view base, std::string_view suffix) {
  // Instances count repeats of "<base>__<suffix>"; traces are short enough for a linear scan of
  // distinct keys to beat hashing.
  std::string key;
  key.reserve(base.size() + suffix.size() + 2);
  key.append(base).append("__").append(suffix);
  for (auto& [k, count] : instances_) {
    if (k == key) return key + "__" + std::to_string(++count);
  }
  instances_.emplace_back(key, 1);
  return key + "__1";
}

Tensor TraceRecorder::on_sample(const SampleSite& site) {
  const Distribution& prior = site.distribution;
  TraceEntry entry{.kind = SiteKind::Sample,
                   .address = next_address(site.address, prior.address_suffix()),
                   .name = std::string(site.name),
                   .distribution = prior,
                   .control = site.control};
  if (auto observed = site.name.empty() ? observations_.end() : observations_.find(site.name);
      observed != observations_.end()) {
    // A sample whose name is observed is clamped and scored as an observation (as pyprob does).
    entry.value = observed->second;
    entry.log_prob = prior.log_prob(entry.value);
    entry.observed = true;
    trace_.log_likelihood += entry.log_prob;
  } else {
    Choice choice = site.control ? policy_.choose(site, entry.address, rng_) : Choice{.value = prior.sample(rng_)};
    entry.value = std::move(choice.value);
    entry.log_prob = prior.log_prob(entry.value);
    entry.reused = choice.reused;
    trace_.log_prior += entry.log_prob;
    if (!choice.from_prior) trace_.log_weight += entry.log_prob - choice.log_proposal;
    ++trace_.samples;
  }
  Tensor value = entry.value;
  trace_.entries.push_back(std::move(entry));
  return value;
}

void TraceRecorder::on_observe(const ObserveSite& site) {
  if (site.likelihood == nullptr) throw SimulatorFailure("observe '" + std::string(site.name) + "' has no distribution");
  const Distribution& likelihood = *site.likelihood;
  const bool keep = payloads_ == ObservePayloads::Keep;
  TraceEntry entry{.kind = SiteKind::Observe,
                   .address = next_address(site.address, likelihood.address_suffix()),
                   .name = std::string(site.name),
                   .distribution = keep ? std::optional<Distribution>(likelihood) : std::nullopt,
                   .control = false};
  const Tensor* value = site.value;
  if (auto observed = site.name.empty() ? observations_.end() : observations_.find(site.name);
      observed != observations_.end()) {
    value = &observed->second;  // the query's value wins over the simulator's
  }
  if (value != nullptr) {
    if (keep) entry.value = *value;
    entry.log_prob = likelihood.log_prob(*value);
    entry.observed = true;
    trace_.log_likelihood += entry.log_prob;
  } else {
    ++trace_.unconditioned_observes;
  }
  trace_.entries.push_back(std::move(entry));
}

void TraceRecorder::on_tag(const TagSite& site) {
  trace_.entries.push_back(TraceEntry{.kind = SiteKind::Tag,
                                      .address = next_address(site.address, "None"),
                                      .name = std::string(site.name),
                                      .value = site.value,
                                      .control = false});
}

Trace TraceRecorder::finish(Tensor result) {
  trace_.result = std::move(result);
  trace_.log_weight += trace_.log_likelihood;
  Trace out = std::move(trace_);
  trace_ = {};
  instances_.clear();
  return out;
}

Trace execute(Simulator& simulator, SamplePolicy& policy, const Observations& observations, Rng& rng,
              ObservePayloads payloads) {
  const auto start = std::chrono::steady_clock::now();
  TraceRecorder recorder(policy, observations, rng, payloads);
  Tensor result = simulator.run(recorder);
  Trace trace = recorder.finish(std::move(result));
  trace.run_time = std::chrono::steady_clock::now() - start;
  return trace;
}

namespace {
// Replays recorded values: the simulator already drew them from the prior.
class ReplayPolicy final : public SamplePolicy {
 public:
  Choice choose(const SampleSite&, const std::string&, Rng&) override { return Choice{.value = *next}; }
  const Tensor* next = nullptr;
};
}  // namespace

Trace score_record(const TraceRecord& record, const Observations& observations, ObservePayloads payloads) {
  ReplayPolicy replay;
  Rng unused(0);
  TraceRecorder recorder(replay, observations, unused, payloads);
  for (const SiteRecord& site : record.sites) {
    switch (site.kind) {
      case SiteKind::Sample: {
        if (!site.distribution || !site.value) throw SimulatorFailure("recorded sample without distribution or value");
        replay.next = &*site.value;
        // Uncontrolled samples were drawn from the prior too: replay them as controlled so the
        // recorded value is used, then restore the flag.
        recorder.on_sample(SampleSite{site.address, site.name, *site.distribution, true});
        break;
      }
      case SiteKind::Observe: {
        const Distribution* likelihood = site.distribution ? &*site.distribution : nullptr;
        recorder.on_observe(ObserveSite{site.address, site.name, likelihood, site.value ? &*site.value : nullptr});
        break;
      }
      case SiteKind::Tag: {
        if (!site.value) throw SimulatorFailure("recorded tag without value");
        recorder.on_tag(TagSite{site.address, site.name, *site.value});
        break;
      }
    }
  }
  Trace trace = recorder.finish(record.result);
  // Restore the control flags the simulator reported.
  std::size_t i = 0;
  for (const SiteRecord& site : record.sites) trace.entries[i++].control = site.control;
  return trace;
}

}  // namespace ppx::engines
