// bench_stack_address (issue 12): what a stack-addressed draw costs against a plain ppx::sample
// with an explicit address, in-process under a LocalHandler (no protocol), so the ratio is the
// addressing alone: (a) cached chains at several stack depths, through the plain API and through
// the GSL and C++ adapters; (b) a chain's first resolution (symbols read, demangled, cached).
#include <gsl/gsl_rng.h>

#include <random>

#include "bench_common.h"
#include "ppx/gsl_rng.h"
#include "ppx/random_bits.h"
#include "ppx/stack_address.h"

namespace {

using namespace ppx::bench;

// `Depth` frames of "simulator" between the measuring loop and the draw (noinline, and arithmetic
// after each call so none is a tail call).
template <int Depth, typename Draw>
[[gnu::noinline]] double nest(Draw& draw) {
  if constexpr (Depth == 0) {
    return 1.0 + draw();
  } else {
    return 1.0 + nest<Depth - 1>(draw);
  }
}

int bench(const BenchOptions& options) {
  ppx::LocalHandler local({.seed = 1});
  ppx::ScopedHandler scope(local);
  const ppx::Distribution uniform = ppx::Uniform(0.0, 1.0);
  const ppx::SampleOptions explicit_address{.address = "simulator/draw"};

  auto plain = [&] { return ppx::sample(uniform, explicit_address).item(); };
  ppx::StackAddresser addresser;
  auto stacked = [&] { return ppx::sample_uniform01_at_stack(addresser); };
  auto address_only = [&] { return static_cast<double>(addresser.address().size()); };
  gsl_rng* r = gsl_rng_alloc(ppx_gsl_rng);
  auto gsl = [&] { return gsl_rng_uniform(r); };
  ppx::RandomBits bits;
  std::uniform_real_distribution<double> canonical(0.0, 1.0);
  auto urbg = [&] { return canonical(bits); };

  Series base{"ppx::sample, explicit address, depth 4 (baseline)", loop([&] { do_not_optimize(nest<4>(plain)); })};
  Series s4{"stack address, depth 4", loop([&] { do_not_optimize(nest<4>(stacked)); })};
  Series s16{"stack address, depth 16 (10 kept)", loop([&] { do_not_optimize(nest<16>(stacked)); })};
  Series s48{"stack address, depth 48 (10 kept)", loop([&] { do_not_optimize(nest<48>(stacked)); })};
  Series walk4{"  of which the walk and cache look-up, depth 4", loop([&] { do_not_optimize(nest<4>(address_only)); })};
  Series g4{"gsl_rng_uniform on ppx_gsl_rng, depth 4", loop([&] { do_not_optimize(nest<4>(gsl)); })};
  Series u4{"uniform_real_distribution on ppx::RandomBits, depth 4", loop([&] { do_not_optimize(nest<4>(urbg)); })};
  // A fresh addresser per operation: every draw resolves its chain (symbols read and demangled).
  Series cold{"first resolution of a chain, depth 4", loop([&] {
                ppx::StackAddresser fresh;
                auto draw = [&] { return ppx::sample_uniform01_at_stack(fresh); };
                do_not_optimize(nest<4>(draw));
              })};
  const std::vector<Series*> rows{&base, &s4, &s16, &s48, &walk4, &g4, &u4, &cold};
  run_rounds(rows, options);

  Table table({"(a, b) one draw, in-process", "ns/draw", "vs baseline"});
  for (Series* s : rows) {
    table.add({s->label, fmt("%.0f", s->seconds_per_op() * 1e9), s == &base ? "1" : ratio(paired_ratio(*s, base))});
  }
  table.print();
  std::cout << "\ncached chains: " << addresser.cached_chains() << "; one address at depth 4: " << addresser.address() << "\n";
  gsl_rng_free(r);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return bench_main(argc, argv, "bench_stack_address",
                    "bench_stack_address: the cost of a stack-addressed draw against ppx::sample with an explicit\n"
                    "address, in-process, at several stack depths and through the GSL and C++ adapters",
                    bench);
}
