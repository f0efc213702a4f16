// Prints the base addresses a small instrumented model sends, one per line (standalone mode).
// Built twice (static and shared client library, same program name in two folders) and run as
// separate processes by test_client_addresses: the lines must be identical.
// `--stack`: the same through stack addresses (ppx/stack_address.h); the model's functions are in
// an anonymous namespace, so their symbols are in no dynamic symbol table (no -rdynamic needed).
#include <cstring>
#include <iostream>

#include "ppx/ppx.h"
#ifdef PPX_PROBE_STACK
#include "ppx/stack_address.h"
#endif

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

#ifdef PPX_PROBE_STACK
// A simulator that draws through one generator function, as engine-swapped simulators do.
ppx::StackAddresser* addresser = nullptr;
// Arithmetic after each call keeps the compiler from turning them into tail calls (no frame).
[[gnu::noinline]] double draw() { return 2.0 * ppx::sample_uniform01_at_stack(*addresser); }
[[gnu::noinline]] double nested_draw() { return draw() + 1.0; }

volatile int repeats = 3;  // read at run time: the loop is not unrolled into three call sites

ppx::Tensor stack_forward() {
  double x = draw();
  for (int i = 0; i < repeats; ++i) x += nested_draw();  // one chain, three instances
  x += draw();                                      // another site in the same function
  {
    ppx::ScopedDrawAddress site("hot/site");
    x += draw();
  }
  return x;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  ppx::LocalHandler local({.seed = 1, .record = true});
  if (argc > 1 && std::strcmp(argv[1], "--stack") == 0) {
#ifdef PPX_PROBE_STACK
    ppx::StackAddresser stack({.offsets = !(argc > 2 && std::strcmp(argv[2], "--no-offsets") == 0)});
    addresser = &stack;
    ppx::Model("probe", stack_forward).run(local);
    ppx::Model("probe", stack_forward).run(local);  // the second run hits the cache only
    std::cerr << stack.cached_chains() << " chains\n";
#else
    return 2;
#endif
  } else {
    ppx::Model("probe", forward).run(local);
  }
  for (const ppx::SiteRecord& site : local.take_record().sites) std::cout << site.address << '\n';
  return 0;
}
