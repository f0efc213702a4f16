// The engines `ppx infer --engine` can run: one entry each.
#include <chrono>
#include <cmath>
#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "infer.h"
#include "ppx/engines/diagnostics.h"
#include "ppx/engines/importance_sampling.h"
#include "ppx/engines/mcmc.h"
#include "ppx/server/observations.h"
#ifdef PPX_HAVE_IC
#include "train.h"
#endif

namespace ppx::cli {

engines::Tabulation InferOptions::tabulation() const {
  if (variables != "named" && variables != "all") {
    throw std::invalid_argument("--variables must be 'named' or 'all', got '" + variables + "'");
  }
  if (repeated != "instances" && repeated != "last") {
    throw std::invalid_argument("--repeated must be 'instances' or 'last', got '" + repeated + "'");
  }
  return {.all_samples = variables == "all",
          .repeated = repeated == "last" ? engines::RepeatedNames::Last : engines::RepeatedNames::Instances};
}

namespace {

// IS, and the prior (`ppx prior`, --engine prior: every trace weight 1).
engines::ImportanceSamplingOptions importance_sampling_options(const InferOptions& o, bool prior) {
  engines::ImportanceSamplingOptions options{
      .traces = o.traces, .seed = o.seed, .whole_trace = o.whole_trace, .batch = o.batch,
      .tabulation = o.tabulation(), .prior = prior};
  options.validate();
  return options;
}

EngineOutcome run_importance_sampling(const InferContext& context, bool prior) {
  engines::ImportanceSamplingOptions options = importance_sampling_options(context.options, prior);
  options.trace_sink = context.trace_sink;
  EngineOutcome outcome{engines::importance_sampling(context.simulators, context.observations, options, context.callbacks)};
  const engines::WeightedTraces& post = outcome.posterior;
  outcome.options = {{"traces", options.traces}, {"seed", options.seed}, {"whole_trace", options.whole_trace},
                     {"batch", options.batch}};
  outcome.diagnostics = {{"ess", post.ess()},
                         {"log_evidence", post.log_evidence()},
                         {"log_evidence_stderr", post.log_evidence_stderr()}};
  if (post.size() > 0 && post.ess() == 0.0) {
    outcome.failure = fmt::format(
        "no trace had non-zero likelihood: all {} traces have weight zero (log weight -inf), so there is no "
        "posterior; the observations are impossible under the model as run (check their values, units and shapes)",
        post.size());
  } else if (post.size() > 0 && post.ess() < 100) {
    outcome.warnings.push_back("effective sample size " + std::to_string(post.ess()) +
                               " is below 100: the posterior estimate is unreliable; run more traces or use MCMC");
  }
  return outcome;
}

// --init: "prior", or "@FILE.json" holding a JSON object {"<full address>": value, ...} (a value
// is a number or a nested array), e.g. {"mu__Normal__1": 7.2}. The chains start from a
// re-execution that reuses these values; addresses the run does not reach are ignored, and
// samples the file lacks (or whose value is outside their support) are drawn from the prior.
std::optional<engines::Trace> initial_trace(const std::string& init) {
  if (init == "prior") return std::nullopt;
  if (init.empty() || init.front() != '@') {
    throw std::invalid_argument("--init must be 'prior' or @FILE.json, got '" + init + "'");
  }
  const std::string path = init.substr(1);
  std::ifstream file(path);
  if (!file) throw std::invalid_argument("--init: cannot read '" + path + "'");
  std::stringstream text;
  text << file.rdbuf();
  nlohmann::json object;
  try {
    object = server::parse_json_bounded(text.str());
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("--init: '" + path + "': " + e.what());
  }
  if (!object.is_object()) {
    throw std::invalid_argument("--init: '" + path + "' must hold an object {\"<full address>\": value, ...}");
  }
  engines::Trace trace;
  for (const auto& [address, value] : object.items()) {
    try {
      trace.entries.push_back(engines::TraceEntry{.kind = SiteKind::Sample,
                                                  .address = address,
                                                  .value = server::tensor_from_json(value)});
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("--init: value of '" + address + "': " + e.what());
    }
  }
  return trace;
}

// LMH and RMH: one function, parameterised by the kernel.
engines::MetropolisHastingsOptions metropolis_hastings_options(const InferOptions& o, engines::MhKernel kernel,
                                                               std::size_t simulators) {
  engines::MetropolisHastingsOptions options{
      .kernel = kernel,
      .chains = o.chains > 0 ? o.chains : static_cast<std::uint32_t>(simulators),
      .draws = o.traces,
      .burn_in = o.burn_in,
      .thin = o.thin,
      .seed = o.seed,
      .initial = initial_trace(o.init),
      .tabulation = o.tabulation()};
  options.validate();
  return options;
}

EngineOutcome run_metropolis_hastings(const InferContext& context, engines::MhKernel kernel) {
  const InferOptions& o = context.options;
  const engines::MetropolisHastingsOptions options =
      metropolis_hastings_options(o, kernel, context.simulators.size());
  engines::McmcStats stats;
  const auto start = std::chrono::steady_clock::now();
  EngineOutcome outcome{
      engines::metropolis_hastings(context.simulators, context.observations, options, context.callbacks, &stats)};
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const engines::WeightedTraces& post = outcome.posterior;
  outcome.chains = true;
  outcome.options = {{"kernel", kernel == engines::MhKernel::Lightweight ? "lightweight" : "random_walk"},
                     {"chains", options.chains},
                     {"draws_per_chain", options.draws},
                     {"burn_in", options.burn_in},
                     {"thin", options.thin},
                     {"seed", options.seed},
                     {"init", o.init}};

  // Per chain, and totals for the printed summary.
  nlohmann::json chains = nlohmann::json::array();
  std::uint64_t iterations = 0, accepted = 0, proposed = 0, reused = 0, not_reached = 0, redraws = 0,
                irreversible = 0, failures = 0;
  for (const engines::ChainStats& s : stats.chains) {
    chains.push_back({{"chain", s.chain},
                      {"iterations", s.iterations},
                      {"kept", s.kept},
                      {"acceptance_rate", s.acceptance_rate()},  // burn-in included
                      {"reuse_fraction", s.reuse_fraction()},
                      {"support_redraws", s.support_redraws},
                      {"irreversible_proposals", s.irreversible},
                      {"site_not_reached", s.site_not_reached},
                      {"simulator_failures", s.simulator_failures},
                      {"trace_length",
                       {{"min", s.trace_lengths.min}, {"mean", s.trace_lengths.mean}, {"max", s.trace_lengths.max}}}});
    iterations += s.iterations;
    accepted += s.accepted;
    proposed += s.proposed_values;
    reused += s.reused_values;
    not_reached += s.site_not_reached;
    redraws += s.support_redraws;
    irreversible += s.irreversible;
    failures += s.simulator_failures;
    if (s.iterations > 0 && s.accepted == 0) {
      outcome.warnings.push_back(fmt::format("chain {} accepted none of its {} proposals", s.chain, s.iterations));
    }
  }
  const auto ratio = [](std::uint64_t a, std::uint64_t b) { return b > 0 ? static_cast<double>(a) / b : 0.0; };
  outcome.diagnostics = {{"chains", chains},
                         {"mh_iterations", iterations},
                         {"mh_iterations_per_second", seconds > 0 ? static_cast<double>(iterations) / seconds : 0.0},
                         {"acceptance_rate", ratio(accepted, iterations)},
                         {"reuse_fraction", ratio(reused, proposed)},
                         {"support_redraws", redraws},
                         {"irreversible_proposals", irreversible},
                         {"site_not_reached", not_reached},
                         {"iterations_re_run_after_failures", failures}};

  const std::size_t chain_count = stats.chains.size();
  server::ChainDiagnostics d = server::diagnose_chains(post, chain_count);
  outcome.variable_diagnostics = std::move(d.variable_diagnostics);
  outcome.variable_notes = std::move(d.variable_notes);
  outcome.warnings.insert(outcome.warnings.end(), d.warnings.begin(), d.warnings.end());
  if (chain_count == 1) {
    outcome.warnings.push_back("one chain: R-hat only compares its two halves; run several chains (--chains K)");
  }
  if (not_reached > 0) {
    outcome.warnings.push_back(fmt::format(
        "{} proposals did not reach their site on re-execution and were rejected: the simulator is not "
        "deterministic given its samples (randomness outside ppx::sample?)",
        not_reached));
  }
  return outcome;
}

EngineEntry importance_sampling_entry(std::string name, std::string description, bool prior) {
  return {.name = std::move(name),
          .description = std::move(description),
          .options = {"--batch", "--no-whole-trace", "--save-traces"},
          .validate = [prior](const InferOptions& o, std::size_t) { importance_sampling_options(o, prior); },
          .run = [prior](const InferContext& c) { return run_importance_sampling(c, prior); }};
}

EngineEntry metropolis_hastings_entry(std::string name, std::string description, engines::MhKernel kernel) {
  return {.name = std::move(name),
          .description = std::move(description),
          .options = {"--chains", "--burn-in", "--thin", "--init"},
          .validate = [kernel](const InferOptions& o, std::size_t n) { metropolis_hastings_options(o, kernel, n); },
          .run = [kernel](const InferContext& c) { return run_metropolis_hastings(c, kernel); }};
}

}  // namespace

// One line per engine.
const std::vector<EngineEntry>& engine_table() {
  static const std::vector<EngineEntry> table = {
      importance_sampling_entry("is", "importance sampling with the prior as proposal", false),
      importance_sampling_entry("prior", "samples from the prior, every weight 1 (as `ppx prior`)", true),
      metropolis_hastings_entry("lmh", "lightweight Metropolis-Hastings (single-site prior proposals), several chains",
                                engines::MhKernel::Lightweight),
      metropolis_hastings_entry(
          "rmh", "random-walk Metropolis-Hastings (local kernels for Normal and Uniform sites), several chains",
          engines::MhKernel::RandomWalk),
#ifdef PPX_HAVE_IC
      {.name = "ic",
       .description = "inference compilation: importance sampling with a trained network (--network DIR) as proposal",
       .options = {"--network", "--threads", "--save-traces"},
       .validate =
           [](const InferOptions& o, std::size_t) {
             if (o.network.empty()) throw std::invalid_argument("--engine ic needs --network DIR (from ppx train)");
           },
       .run = run_inference_compilation},
#endif
  };
  return table;
}

bool is_engine_option(const std::string& name) {
  for (const EngineEntry& e : engine_table()) {
    if (std::find(e.options.begin(), e.options.end(), name) != e.options.end()) return true;
  }
  return false;
}

}  // namespace ppx::cli
