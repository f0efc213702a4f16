// ppx_gsl_rng: a gsl_rng_type whose draws are ppx::sample(Uniform(0, 1)) at stack addresses.
#include "ppx/gsl_rng.h"

#include <cmath>

#include "ppx/stack_address.h"

namespace ppx::detail {
namespace {

StackAddresser& gsl_addresser() {
  thread_local StackAddresser addresser({.skip_symbols = {"gsl_"}, .skip_modules = {"libgsl"}});
  return addresser;
}

// An exception from the handler (e.g. the engine abandoned the trace) unwinds through GSL's C
// frames, which carry unwind tables on x86-64 and hold no resources across a draw.
double gsl_get_double(void*) { return sample_uniform01_at_stack(gsl_addresser()); }

unsigned long gsl_get(void*) {
  return static_cast<unsigned long>(std::ldexp(sample_uniform01_at_stack(gsl_addresser()), 32));
}

void gsl_set(void*, unsigned long) {}

struct GslState {
  int unused;  // GSL allocates `size` bytes of state; the draws need none
};

const gsl_rng_type ppx_type = {
    "ppx", 0xffffffffUL, 0, sizeof(GslState), &gsl_set, &gsl_get, &gsl_get_double};

}  // namespace
}  // namespace ppx::detail

extern "C" {
const gsl_rng_type* ppx_gsl_rng = &ppx::detail::ppx_type;
}
