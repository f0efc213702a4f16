// The engines `ppx infer --engine` can run: one entry each.
#include <cmath>

#include "infer.h"
#include "ppx/engines/importance_sampling.h"

namespace ppx::cli {
namespace {

EngineOutcome run_importance_sampling(const InferContext& context) {
  const InferOptions& o = context.options;
  engines::ImportanceSamplingOptions options{
      .traces = o.traces, .seed = o.seed, .whole_trace = o.whole_trace, .batch = o.batch};
  EngineOutcome outcome{engines::importance_sampling(context.simulators, context.observations, options, context.callbacks)};
  const engines::WeightedTraces& post = outcome.posterior;
  outcome.options = {{"traces", options.traces}, {"seed", options.seed}, {"whole_trace", options.whole_trace},
                     {"batch", options.batch}};
  outcome.diagnostics = {{"ess", post.ess()},
                         {"log_evidence", post.log_evidence()},
                         {"log_evidence_stderr", post.log_evidence_stderr()}};
  if (post.size() > 0 && post.ess() < 100) {
    outcome.warnings.push_back("effective sample size " + std::to_string(post.ess()) +
                               " is below 100: the posterior estimate is unreliable; run more traces or use MCMC");
  }
  return outcome;
}

}  // namespace

const std::vector<EngineEntry>& engine_table() {
  static const std::vector<EngineEntry> table = {
      {"is", "importance sampling with the prior as proposal", run_importance_sampling},
  };
  return table;
}

}  // namespace ppx::cli
