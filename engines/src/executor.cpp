#include "ppx/engines/executor.h"

#include <chrono>
#include <cmath>
#include <stdexcept>
#include <string>

#include "ppx/engines/weighted_traces.h"

namespace ppx::engines {

namespace {

// log_prob of a value that came with a simulator's message: one that does not fit (its shape does
// not broadcast) breaks the model's contract, the simulator's failure rather than the run's.
double contract_log_prob(const Distribution& d, const Tensor& value, std::string_view kind, std::string_view name) {
  try {
    return d.log_prob(value);
  } catch (const std::invalid_argument& e) {
    throw SimulatorFailure(std::string(kind) + " '" + std::string(name) + "': " + e.what());
  }
}

std::string shape_string(const std::vector<int32_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? "," : "") + std::to_string(shape[i]);
  return out + "]";
}

// A sample value the simulator drew itself (whole-trace runs) must be a value of its distribution:
// its shape, no NaN, inside the support.
void check_drawn_value(const Distribution& d, const Tensor& value, std::string_view name) {
  const std::vector<int32_t> expected = d.value_shape();
  if (value.shape() != expected) {
    throw SimulatorFailure("sample '" + std::string(name) + "': value of shape " + shape_string(value.shape()) + " for " +
                           std::string(d.name()) + " (expected " + shape_string(expected) + ")");
  }
  if (!d.in_support(value)) {
    throw SimulatorFailure("sample '" + std::string(name) + "': value outside the support of its " + std::string(d.name()));
  }
}

}  // namespace

Choice PriorPolicy::choose(const SampleSite& site, const std::string&, Rng& rng) {
  return Choice{.value = site.distribution.sample(rng)};
}

TraceRecorder::TraceRecorder(SamplePolicy& policy, const Observations& observations, Rng& rng,
                             Recording recording)
    : policy_(policy), observations_(observations), rng_(rng), recording_(recording) {}

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
  const bool summary = recording_ == Recording::Summary;
  // Summary: no address (the policy gets an empty one) and no copy of the distribution.
  std::string address = summary ? std::string() : next_address(site.address, prior.address_suffix());
  Tensor value;
  double log_prob;
  bool observed = false;
  bool reused = false;
  std::optional<double> log_proposal;
  if (auto clamped = site.name.empty() ? observations_.end() : observations_.find(site.name);
      clamped != observations_.end()) {
    // A sample whose name is observed is clamped and scored as an observation (as pyprob does).
    value = clamped->second;
    log_prob = contract_log_prob(prior, value, "sample", site.name);
    observed = true;
    trace_.log_likelihood += log_prob;
  } else {
    Choice choice = site.control ? policy_.choose(site, address, rng_) : Choice{.value = prior.sample(rng_)};
    value = std::move(choice.value);
    log_prob = prior.log_prob(value);
    reused = choice.reused;
    trace_.log_prior += log_prob;
    if (!choice.from_prior) {
      trace_.log_weight += log_prob - choice.log_proposal;
      log_proposal = choice.log_proposal;
    }
    ++trace_.samples;
  }
  if (summary && (site.name.empty() || value.numel() == 0 || value.numel() > kMaxElementColumns)) return value;
  trace_.entries.push_back(TraceEntry{.kind = SiteKind::Sample,
                                      .address = std::move(address),
                                      .name = std::string(site.name),
                                      .distribution = summary ? std::nullopt : std::optional<Distribution>(prior),
                                      .value = value,
                                      .log_prob = log_prob,
                                      .log_proposal = log_proposal,
                                      .control = site.control,
                                      .observed = observed,
                                      .reused = reused,
                                      .discrete = prior.is_discrete()});
  return value;
}

void TraceRecorder::on_observe(const ObserveSite& site) {
  if (site.likelihood == nullptr) throw SimulatorFailure("observe '" + std::string(site.name) + "' has no distribution");
  const Distribution& likelihood = *site.likelihood;
  const Tensor* value = site.value;
  if (auto observed = site.name.empty() ? observations_.end() : observations_.find(site.name);
      observed != observations_.end()) {
    value = &observed->second;  // the query's value wins over the simulator's
  }
  double log_prob = 0.0;
  if (value != nullptr) {
    log_prob = contract_log_prob(likelihood, *value, "observe", site.name);
    trace_.log_likelihood += log_prob;
  } else {
    ++trace_.unconditioned_observes;
  }
  if (recording_ == Recording::Summary) return;  // WeightedTraces keeps nothing of observes
  const bool keep = recording_ == Recording::Full;
  trace_.entries.push_back(TraceEntry{.kind = SiteKind::Observe,
                                      .address = next_address(site.address, likelihood.address_suffix()),
                                      .name = std::string(site.name),
                                      .distribution = keep ? std::optional<Distribution>(likelihood) : std::nullopt,
                                      .value = keep && value != nullptr ? *value : Tensor(),
                                      .log_prob = log_prob,
                                      .control = false,
                                      .observed = value != nullptr,
                                      .discrete = likelihood.is_discrete()});
}

void TraceRecorder::on_tag(const TagSite& site) {
  if (recording_ == Recording::Summary) {
    if (site.name.empty() || site.value.numel() == 0 || site.value.numel() > kMaxElementColumns) return;
    trace_.entries.push_back(
        TraceEntry{.kind = SiteKind::Tag, .name = std::string(site.name), .value = site.value, .control = false});
    return;
  }
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
              Recording recording) {
  if (recording == Recording::Summary) {  // no run_time: its two clock reads cost a third of a gum trace
    TraceRecorder recorder(policy, observations, rng, recording);
    return recorder.finish(simulator.run(recorder));
  }
  const auto start = std::chrono::steady_clock::now();
  TraceRecorder recorder(policy, observations, rng, recording);
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

Trace score_record(const TraceRecord& record, const Observations& observations, Recording recording) {
  ReplayPolicy replay;
  Rng unused(0);
  TraceRecorder recorder(replay, observations, unused, recording);
  std::vector<TraceEntry>& entries = recorder.trace_.entries;
  for (const SiteRecord& site : record.sites) {
    const std::size_t recorded = entries.size();
    switch (site.kind) {
      case SiteKind::Sample: {
        if (!site.distribution || !site.value) throw SimulatorFailure("recorded sample without distribution or value");
        check_drawn_value(*site.distribution, *site.value, site.name);
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
    // The entry of this site, if one was recorded, gets the control flag the simulator reported.
    if (entries.size() > recorded) entries.back().control = site.control;
  }
  return recorder.finish(record.result);
}

}  // namespace ppx::engines
