#pragma once
// Stack addresses: the base address of a draw computed from the call stack at the draw, for
// simulators instrumented by swapping their random engine (ppx/gsl_rng.h, ppx/clhep_engine.h,
// ppx/random_bits.h) instead of editing every draw site.
//
// An address is the chain of frames above ppx's own frames, nearest the draw first, joined by ';':
//
//   walk:walk_step+0x2f;walk:walk_simulate+0x8c;walk:(anonymous namespace)::forward()+0x15
//
// Each frame is `module:symbol+offset`: the module's file name (no directory; the program's own
// name for the executable), the demangled symbol from the ELF symbol table (so no -rdynamic is
// needed, and stripped modules still work through their dynamic symbols), and the return address's
// offset within that symbol. A frame with no symbol is `module+offset` from the module's start.
// Nothing absolute enters an address, so it is identical across runs, processes, ASLR/PIE and link
// modes (static or shared ppx client) of the same build. The walk stops at the ppx frame that
// called the model (Model::run), after `depth` kept frames, or at the end of the stack.
//
// What survives a rebuild: symbols survive any rebuild that keeps function names (and, for C++,
// signatures); offsets change whenever the code of a function, the compiler or its flags change,
// and inlining decides which functions appear as frames at all. With `offsets = false` addresses
// are symbol chains only: they survive rebuilds, but two draws in one function then share a base
// address and are told apart by the engine's instance counter alone (order within the trace).
//
// Cost: the return addresses are read on every draw (libunwind, the whole stack up to max_frames)
// and looked up in a cache keyed by the return-address chain, so symbols are resolved once per
// distinct chain; the look-up stops as soon as a cached prefix decides the address. Threads: a StackAddresser is not
// thread-safe (like the generator it replaces); use one per thread. Unknown frames, unresolvable
// symbols and failures of the symbol reader never throw: they degrade to module+offset.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ppx/ppx.h"

namespace ppx {

struct StackAddressOptions {
  std::size_t depth = 10;                  // frames kept in an address, nearest the draw first
  // Frames dropped wherever they occur (the random library's own frames): by the start of the
  // demangled symbol ("gsl_", "CLHEP::") or of the module's file name ("libgsl").
  std::vector<std::string> skip_symbols;
  std::vector<std::string> skip_modules;
  bool offsets = true;                     // false: symbols only (see above)
  std::size_t max_frames = 256;            // bound on the walk, kept frames or not
  // Throws std::invalid_argument: depth or max_frames 0, depth > max_frames, max_frames > 4096,
  // an empty filter string.
  void validate() const;
};

class StackAddresser {
 public:
  explicit StackAddresser(StackAddressOptions options = {});  // validates
  ~StackAddresser();
  StackAddresser(StackAddresser&&) noexcept;
  StackAddresser& operator=(StackAddresser&&) noexcept;

  // The base address of the calling stack. The view stays valid for the addresser's lifetime.
  std::string_view address();
  const StackAddressOptions& options() const { return options_; }
  std::size_t cached_chains() const;  // distinct return-address chains resolved so far

  struct Cache;  // opaque: the return-address trie

 private:
  StackAddressOptions options_;
  std::unique_ptr<Cache> cache_;
};

// ppx::sample at the calling stack's address (or the innermost ScopedDrawAddress's) unless
// `options.address` is given.
Tensor sample_at_stack(StackAddresser& addresser, const Distribution& distribution,
                       const SampleOptions& options = {});

// For a hot draw site: within its scope, draws on this thread that would be stack-addressed use
// `address` instead, and the stack is not walked. Scopes nest; the innermost wins.
//
//   { ppx::ScopedDrawAddress site("infection"); n = gsl_ran_binomial(r, p, s); }
//
// To give a site a distribution and a name, call ppx::sample there instead of the library:
// `gsl_ran_gaussian(r, s)` becomes `ppx::sample(ppx::Normal(0, s), {.name = "kick"}).item()`;
// both kinds of draw mix freely in one trace.
class ScopedDrawAddress {
 public:
  explicit ScopedDrawAddress(std::string address);
  ~ScopedDrawAddress();
  ScopedDrawAddress(const ScopedDrawAddress&) = delete;
  ScopedDrawAddress& operator=(const ScopedDrawAddress&) = delete;

 private:
  std::string address_;
  const std::string* previous_;
};

// One draw of an engine adapter: ppx::sample(Uniform(0, 1)) at the stack address, as a double in
// [0, 1) (a value of exactly 1 from a proposal is moved just below it).
double sample_uniform01_at_stack(StackAddresser& addresser);

}  // namespace ppx
