// Standalone mode: the instrumented code runs without a server, seeded, per thread.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <thread>

#include "ppx/ppx.h"

namespace {

ppx::Tensor small_model() {
  const double mu = ppx::sample(ppx::Normal(1.0, 2.0), {.name = "mu"}).item();
  ppx::sample(ppx::Uniform(0, 1), {.name = "u", .control = false});
  ppx::observe(ppx::Normal(mu, 1.0), {.name = "y"});
  ppx::observe(ppx::Normal(mu, 1.0), 3.0, {.name = "z"});
  ppx::tag(mu * 2, {.name = "twice"});
  return mu;
}

}  // namespace

TEST_CASE("a local run is reproducible from its seed and differs across seeds") {
  const ppx::Model model("small", small_model);
  const double a = model.run_local(42).item();
  const double b = model.run_local(42).item();
  const double c = model.run_local(43).item();
  CHECK(a == b);
  CHECK(a != c);
}

TEST_CASE("LocalHandler records every site with its value, name, distribution and control flag") {
  ppx::LocalHandler local({.seed = 7, .record = true});
  const ppx::Tensor result = ppx::Model("small", small_model).run(local);
  const ppx::TraceRecord record = local.take_record();
  REQUIRE(record.sites.size() == 5);
  CHECK(record.sites[0].kind == ppx::SiteKind::Sample);
  CHECK(record.sites[0].name == "mu");
  CHECK(record.sites[0].value->item() == result.item());
  CHECK(record.sites[0].distribution->kind() == ppx::DistributionKind::Normal);
  CHECK(record.sites[1].control == false);
  CHECK(record.sites[2].kind == ppx::SiteKind::Observe);
  CHECK_FALSE(record.sites[2].value.has_value());  // value left to the engine
  CHECK(record.sites[3].value->item() == 3.0);
  CHECK(record.sites[4].kind == ppx::SiteKind::Tag);
  CHECK(record.sites[4].value->item() == 2 * result.item());
  CHECK(local.take_record().sites.empty());
}

TEST_CASE("sample_observations draws values for observes that have none") {
  ppx::LocalHandler local({.seed = 7, .record = true, .sample_observations = true});
  ppx::Model("small", small_model).run(local);
  const ppx::TraceRecord record = local.take_record();
  REQUIRE(record.sites[2].value.has_value());
  CHECK(std::isfinite(record.sites[2].value->item()));
  CHECK(record.sites[3].value->item() == 3.0);  // the simulator's own value is kept
}

TEST_CASE("fixed values clamp samples by name") {
  ppx::LocalHandler local({.seed = 1, .record = true});
  local.set_fixed_values({{"mu", ppx::Tensor(5.5)}});
  CHECK(ppx::Model("small", small_model).run(local).item() == 5.5);
}

TEST_CASE("without any handler, calls use a thread-local sampler and never fail") {
  const double x = ppx::sample(ppx::Normal(0, 1)).item();
  CHECK(std::isfinite(x));
  ppx::observe(ppx::Normal(0, 1), {.name = "nothing"});  // a no-op standalone
  ppx::tag(1.0);
}

TEST_CASE("each thread has its own handler, so models run concurrently on different threads") {
  const ppx::Model model("small", small_model);
  double on_thread = 0;
  std::thread t([&] {
    for (int i = 0; i < 200; ++i) on_thread += model.run_local(static_cast<std::uint64_t>(i)).item();
  });
  double here = 0;
  for (int i = 0; i < 200; ++i) here += model.run_local(static_cast<std::uint64_t>(i)).item();
  t.join();
  CHECK(here == on_thread);
}

TEST_CASE("PPX_SEED seeds standalone runs") {
  ::setenv("PPX_SEED", "1234", 1);
  CHECK(ppx::seed_from_environment() == 1234);
  const double a = ppx::Model("small", small_model).run_local().item();
  CHECK(a == ppx::Model("small", small_model).run_local(1234).item());
  ::setenv("PPX_SEED", "not-a-number", 1);
  CHECK(ppx::seed_from_environment() == 0);
  ::unsetenv("PPX_SEED");
}
