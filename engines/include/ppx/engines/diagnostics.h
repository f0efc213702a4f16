#pragma once
// MCMC convergence diagnostics, computed as ArviZ computes them (arviz/stats/diagnostics.py,
// after Vehtari, Gelman, Simpson, Carpenter & Buerkner 2021, "Rank-normalization, folding, and
// localization: an improved R-hat"):
//
//   r_hat      rank-normalised split R-hat: max of the bulk R-hat (split chains, ranks pooled over
//              all draws, z = Phi^-1((r - 3/8) / (S + 1/4))) and the tail R-hat (the same on
//              |x - median|); ArviZ's rhat(method="rank").
//   ess_bulk   ESS of the rank-normalised split chains.
//   ess_tail   min of the ESS of the split indicators I(x <= q05) and I(x <= q95) (numpy's linear
//              quantiles over all draws).
//   mcse_mean  sd(x) / sqrt(ESS of the split chains of x) (ArviZ's mcse(method="mean")).
//
// ESS follows ArviZ's _ess: FFT autocovariances, the multi-chain combination of Stan, Geyer's
// initial positive then initial monotone sequence, and tau >= 1 / log10(total draws).
// Splitting drops the middle draw of an odd-length chain, as ArviZ does.
//
// Where we differ from ArviZ: ArviZ returns NaN for R-hat of a single chain; we compute it from
// the chain's two halves (as Stan's stansummary does). Every function returns NaN when a draw is
// not finite or chains have fewer than 4 draws, and R-hat is NaN when every draw is equal.
//
// Failed runs are never reported as good ones: diagnose() sets `problem` (a sentence) when
//   - a chain has fewer than 4 draws, or a draw is not finite: every number is NaN;
//   - every draw of every chain is equal (no chain ever moved it, or it is constant in the model):
//     R-hat, ESS and MCSE are NaN (ArviZ would report ESS = the number of draws);
//   - every chain is constant but the chains differ (stuck where they started): R-hat is +inf,
//     ESS and MCSE are NaN;
//   - some chains are constant and others move: the numbers are computed, the problem names the
//     stuck chains;
//   - R-hat is NaN for any other reason.
//
// Input: draws[chain][draw], every chain the same length (throws std::invalid_argument otherwise).
// Everything here is a pure function: reentrant, no state.
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "ppx/engines/weighted_traces.h"

namespace ppx::engines {

using ChainDraws = std::vector<std::vector<double>>;

struct VariableDiagnostics {
  double r_hat = 0.0;
  double ess_bulk = 0.0;
  double ess_tail = 0.0;
  double mcse_mean = 0.0;
  std::string problem;  // empty when the numbers can be trusted as diagnostics
};

double rank_normalized_split_rhat(const ChainDraws& draws);
double ess_bulk(const ChainDraws& draws);
double ess_tail(const ChainDraws& draws);
double ess_mean(const ChainDraws& draws);  // split chains, no rank normalisation
double mcse_mean(const ChainDraws& draws);
VariableDiagnostics diagnose(const ChainDraws& draws);

// Building blocks, exposed for tests.
namespace detail {
// ArviZ's _ess on chains used as given (no splitting, no normalisation).
double ess_raw(const ChainDraws& chains);
// Plain (not rank-normalised) R-hat of chains used as given (ArviZ's _rhat).
double rhat_raw(const ChainDraws& chains);
// Biased autocovariance: acov[t] = (1/n) sum_{i < n - t} (x_i - mean)(x_{i+t} - mean), by FFT.
std::vector<double> autocovariance(std::span<const double> x);
// Every chain cut into its first and last floor(n/2) draws: 2 * chains sequences.
ChainDraws split_chains(const ChainDraws& draws);
// Phi^-1((rank - 3/8) / (S + 1/4)) with average ranks for ties, pooled over every draw.
ChainDraws z_scale(const ChainDraws& draws);
double normal_quantile(double p);  // Phi^-1, |error| < 1e-15 (Wichura's AS 241)
}  // namespace detail

// The draws of every named scalar of an MCMC posterior (rows labelled with chain and draw),
// grouped per chain in draw order and cut to the shortest chain (an interrupted run's chains may
// differ in length); chains with no rows are left out.
ChainDraws chain_draws(const WeightedTraces& posterior, std::string_view name);
// diagnose() of every column of `posterior` (summary_variables order is up to the caller).
std::map<std::string, VariableDiagnostics> diagnose_columns(const WeightedTraces& posterior);

}  // namespace ppx::engines
