// Prints the base addresses a small instrumented model sends, one per line (standalone mode).
// Built twice (static and shared client library) and run as separate processes by
// test_client_addresses: the lines must be identical.
#include <iostream>

#include "ppx/ppx.h"

namespace {

double helper_draw() { return ppx::sample(ppx::Uniform(0, 1)).item(); }

ppx::Tensor forward() {
  double x = ppx::sample(ppx::Normal(0, 1)).item();
  for (int i = 0; i < 3; ++i) x += helper_draw();
  ppx::sample(ppx::Poisson(3), {.name = "named"});
  ppx::sample(ppx::Bernoulli(0.5), {.address = "explicit/address"});
  ppx::observe(ppx::Normal(x, 1), {.name = "y"});
  ppx::tag(x, {.name = "x"});
  return x;
}

}  // namespace

int main() {
  ppx::LocalHandler local({.seed = 1, .record = true});
  ppx::Model("probe", forward).run(local);
  for (const ppx::SiteRecord& site : local.take_record().sites) std::cout << site.address << '\n';
  return 0;
}
