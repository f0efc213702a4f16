// WeightedTraces: ESS, evidence, summaries and resampling against hand-computed values.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "ppx/engines/weighted_traces.h"

using namespace ppx;
using engines::Trace;
using engines::TraceEntry;

namespace {

Trace row(double log_weight, std::vector<std::pair<std::string, double>> named, bool discrete = false) {
  Trace t;
  t.log_weight = log_weight;
  for (auto& [name, value] : named) {
    TraceEntry e{.kind = SiteKind::Sample, .address = name, .name = name,
                 .distribution = discrete ? Poisson(1.0) : Normal(0.0, 1.0), .value = Tensor(value)};
    t.entries.push_back(std::move(e));
    ++t.samples;
  }
  return t;
}

}  // namespace

TEST_CASE("equal weights: ESS is the count, the evidence is the common weight") {
  engines::WeightedTraces w;
  for (int i = 0; i < 100; ++i) w.add(row(-2.0, {{"x", i}}));
  CHECK(w.ess() == Approx(100));
  CHECK(w.log_evidence() == Approx(-2.0));
  CHECK(w.log_evidence_stderr() == Approx(0.0).margin(1e-12));
  const auto s = w.summarize("x");
  CHECK(s.mean == Approx(49.5));
  CHECK(s.sd == Approx(std::sqrt((100.0 * 100.0 - 1) / 12.0)));  // population sd of 0..99
  CHECK(s.q50 == 49);
}

TEST_CASE("ESS and evidence stay finite with huge or tiny log weights") {
  engines::WeightedTraces w;
  w.add(row(-1e6, {{"x", 1}}));
  w.add(row(-1e6 + std::log(3.0), {{"x", 2}}));
  // Kish ESS with weights proportional to 1 and 3: 16 / 10.
  CHECK(w.ess() == Approx(1.6));
  CHECK(w.log_evidence() == Approx(-1e6 + std::log(2.0)));
  CHECK(w.summarize("x").mean == Approx(1.75));
}

TEST_CASE("non-finite weights are dropped and counted; -inf is a zero weight") {
  engines::WeightedTraces w;
  w.add(row(std::numeric_limits<double>::quiet_NaN(), {{"x", 1}}));
  w.add(row(std::numeric_limits<double>::infinity(), {{"x", 1}}));
  w.add(row(-std::numeric_limits<double>::infinity(), {{"x", 5}}));
  w.add(row(0.0, {{"x", 2}}));
  CHECK(w.dropped() == 2);
  CHECK(w.size() == 2);
  CHECK(w.summarize("x").mean == 2.0);
  CHECK(w.log_evidence() == Approx(std::log(1.0 / 4.0)));  // dropped traces count in n
}

TEST_CASE("names absent from a trace are NaN in that row; presence is the weight of rows with them") {
  engines::WeightedTraces w;
  w.add(row(0.0, {{"a", 1}}));
  w.add(row(0.0, {{"a", 3}, {"b", 7}}));
  REQUIRE(w.names() == std::vector<std::string>{"a", "b"});
  CHECK(std::isnan((*w.column("b"))[0]));
  const auto b = w.summarize("b");
  CHECK(b.present == Approx(0.5));
  CHECK(b.mean == 7);
}

TEST_CASE("discrete variables get a frequency table") {
  engines::WeightedTraces w;
  w.add(row(std::log(1.0), {{"k", 0}}, true));
  w.add(row(std::log(2.0), {{"k", 1}}, true));
  w.add(row(std::log(1.0), {{"k", 1}}, true));
  const auto s = w.summarize("k");
  REQUIRE(s.discrete);
  REQUIRE(s.categories.size() == 2);
  CHECK(s.categories[0].value == 1);
  CHECK(s.categories[0].probability == Approx(0.75));
}

TEST_CASE("weighted quantiles invert the weighted CDF") {
  const std::vector<double> values{3, 1, 2, std::nan("")};
  const std::vector<double> weights{0.5, 0.25, 0.25, 1.0};
  CHECK(engines::weighted_quantile(values, weights, 0.2) == 1);
  CHECK(engines::weighted_quantile(values, weights, 0.5) == 2);
  CHECK(engines::weighted_quantile(values, weights, 0.51) == 3);
}

TEST_CASE("systematic resampling reproduces the weights within one count per row") {
  engines::WeightedTraces w;
  w.add(row(std::log(0.1), {{"x", 0}}));
  w.add(row(std::log(0.6), {{"x", 1}}));
  w.add(row(std::log(0.3), {{"x", 2}}));
  Rng rng = make_rng(4);
  const auto idx = w.resample(1000, rng);
  std::array<int, 3> counts{};
  for (auto i : idx) ++counts[i];
  // Systematic resampling is exact to within one copy per row.
  CHECK(std::abs(counts[0] - 100) <= 1);
  CHECK(std::abs(counts[1] - 600) <= 1);
  CHECK(std::abs(counts[2] - 300) <= 1);
}

TEST_CASE("full traces are kept only on request") {
  engines::WeightedTraces summaries_only, full(true);
  summaries_only.add(row(0.0, {{"x", 1}}));
  full.add(row(0.0, {{"x", 1}}));
  CHECK(summaries_only.traces().empty());
  CHECK(full.traces().size() == 1);
}

TEST_CASE("resampling never picks a zero-weight row, and returns nothing when there is no mass") {
  const double zero = -std::numeric_limits<double>::infinity();
  engines::WeightedTraces w;
  w.add(row(zero, {{"x", 0}}));
  w.add(row(0.0, {{"x", 1}}));
  w.add(row(zero, {{"x", 2}}));
  Rng rng = make_rng(8);
  for (std::size_t i : w.resample(50, rng)) CHECK(i == 1);
  engines::WeightedTraces none;
  none.add(row(zero, {{"x", 0}}));
  CHECK(none.resample(10, rng).empty());
}

namespace {

Trace with_result(Tensor result, std::vector<std::pair<std::string, Tensor>> named = {}) {
  Trace t;
  for (auto& [name, value] : named) {
    t.entries.push_back(TraceEntry{.kind = SiteKind::Sample, .address = name, .name = name,
                                   .distribution = Normal(0.0, 1.0), .value = value});
  }
  t.result = std::move(result);
  return t;
}

}  // namespace

TEST_CASE("tensor values get one column per element, named CmdStan-style (1-based, row-major)") {
  CHECK(engines::element_column_name("result", {17, 3}, 0) == "result.1.1");
  CHECK(engines::element_column_name("result", {17, 3}, 5) == "result.2.3");
  CHECK(engines::element_column_name("v", {4}, 3) == "v.4");
  engines::WeightedTraces w;
  w.add(with_result(Tensor({1, 2, 3, 4, 5, 6}, {2, 3}), {{"v", Tensor({7, 8}, {2})}}));
  const std::vector<std::string> expected{"v.1", "v.2", "result.1.1", "result.1.2", "result.1.3",
                                          "result.2.1", "result.2.2", "result.2.3"};
  CHECK(w.names() == expected);
  CHECK((*w.column("result.2.1"))[0] == 4.0);
  CHECK(w.bases()[2] == "result");
}

TEST_CASE("a name repeated within a trace gets a column per instance, also for earlier rows") {
  engines::WeightedTraces w;
  w.add(with_result(Tensor(0.0), {{"eps", Tensor(1.0)}}));  // one instance: column "eps" for now
  w.add(with_result(Tensor(0.0), {{"eps", Tensor(2.0)}, {"eps", Tensor(3.0)}, {"eps", Tensor(4.0)}}));
  REQUIRE(w.column("eps") == nullptr);
  CHECK((*w.column("eps.1"))[0] == 1.0);
  CHECK((*w.column("eps.1"))[1] == 2.0);
  CHECK((*w.column("eps.3"))[1] == 4.0);
  CHECK(std::isnan((*w.column("eps.3"))[0]));
  CHECK(w.repeated() == std::vector<std::string>{"eps"});
}

TEST_CASE("RepeatedNames::Last keeps a repeated name's last value under its plain name, and lists the name") {
  engines::WeightedTraces w(false, {.repeated = engines::RepeatedNames::Last});
  w.add(with_result(Tensor(0.0), {{"eps", Tensor(1.0)}}));
  w.add(with_result(Tensor(0.0), {{"eps", Tensor(2.0)}, {"eps", Tensor(3.0)}, {"eps", Tensor(4.0)}}));
  CHECK(w.names() == std::vector<std::string>{"eps", "result"});
  CHECK((*w.column("eps"))[0] == 1.0);
  CHECK((*w.column("eps"))[1] == 4.0);
  CHECK(w.column("eps.1") == nullptr);
  CHECK(w.repeated() == std::vector<std::string>{"eps"});
}

TEST_CASE("all_samples tabulates unnamed samples by full address; never observes or unnamed tags") {
  Trace t = with_result(Tensor(0.0), {{"mu", Tensor(1.5)}});
  t.entries.push_back(TraceEntry{.kind = SiteKind::Sample, .address = "x__Uniform__1", .distribution = Uniform(0, 1),
                                 .value = Tensor(0.25)});
  t.entries.push_back(TraceEntry{.kind = SiteKind::Sample, .address = "x__Uniform__2", .distribution = Uniform(0, 1),
                                 .value = Tensor(0.75)});
  t.entries.push_back(TraceEntry{.kind = SiteKind::Sample, .address = "v__Normal__1", .distribution = Normal(0, 1),
                                 .value = Tensor({1, 2}, {2})});
  t.entries.push_back(TraceEntry{.kind = SiteKind::Observe, .address = "y__Normal__1", .name = "y",
                                 .distribution = Normal(0, 1), .value = Tensor(9.0)});
  t.entries.push_back(TraceEntry{.kind = SiteKind::Tag, .address = "t__None__1", .value = Tensor(7.0)});
  engines::WeightedTraces named;
  named.add(t);
  CHECK(named.names() == std::vector<std::string>{"mu", "result"});
  engines::WeightedTraces all(false, {.all_samples = true});
  all.add(t);
  const std::vector<std::string> expected{"mu", "x__Uniform__1", "x__Uniform__2", "v__Normal__1.1", "v__Normal__1.2",
                                          "result"};
  CHECK(all.names() == expected);
  CHECK((*all.column("x__Uniform__2"))[0] == 0.75);
  CHECK((*all.column("v__Normal__1.2"))[0] == 2.0);
  CHECK(all.is_addressed("x__Uniform__1"));
  CHECK(all.bases()[3] == "v__Normal__1");
  CHECK_FALSE(all.is_addressed("mu"));
}

TEST_CASE("values larger than kMaxElementColumns are listed, not tabulated; present never exceeds 1") {
  engines::WeightedTraces w;
  w.add(with_result(Tensor(std::vector<double>(engines::kMaxElementColumns + 1, 0.0),
                           {static_cast<int32_t>(engines::kMaxElementColumns + 1)})));
  CHECK(w.names().empty());
  CHECK(w.too_large().contains("result"));
  engines::WeightedTraces v;
  for (int i = 0; i < 10; ++i) v.add(row(std::log(0.1 + 1e-3 * i), {{"x", i}}));
  const auto s = v.summarize("x");
  CHECK(s.present <= 1.0);
  // Kish ESS over the rows where x is present, and MCSE = sd / sqrt(ESS).
  CHECK(s.ess == Approx(v.ess()));
  CHECK(s.mcse_mean == Approx(s.sd / std::sqrt(s.ess)));
}

TEST_CASE("rows read back from a table summarise like the traces they came from") {
  engines::WeightedTraces traces, table;
  for (int i = 0; i < 20; ++i) {
    traces.add(with_result(Tensor({1.0 * i, 2.0 * i}, {2})), 0, static_cast<std::uint64_t>(i));
    table.add_row(0.0, 0, static_cast<std::uint64_t>(i),
                  {{"result.1", "result", 1.0 * i}, {"result.2", "result", 2.0 * i}});
  }
  CHECK(table.names() == traces.names());
  CHECK(table.bases() == traces.bases());
  CHECK(table.summarize("result.2").mean == Approx(traces.summarize("result.2").mean));
  CHECK(table.summarize("result.2").q95 == traces.summarize("result.2").q95);
}
