#ifndef PPX_GSL_RNG_H
#define PPX_GSL_RNG_H
/* A GSL generator whose every draw is a PPX sample: instrument a GSL-based simulator (C or C++) by
 * changing the line that allocates its generator, and nothing else:
 *
 *   gsl_rng* r = gsl_rng_alloc(ppx_gsl_rng);   // was gsl_rng_alloc(gsl_rng_mt19937)
 *
 * Each draw the simulator makes through `r` (gsl_rng_uniform, gsl_ran_gaussian, gsl_ran_poisson,
 * ...) becomes ppx::sample(Uniform(0, 1)) at a stack address (ppx/stack_address.h) whose frames
 * skip GSL's own (symbols starting "gsl_", modules starting "libgsl"): the latent variables are
 * those uniforms, one per call of the generator, addressed by where the simulator called GSL.
 * Integer draws (gsl_rng_get, gsl_rng_uniform_int) are floor(u * 2^32) of one such uniform.
 * gsl_rng_set is ignored: the seed is the engine's (or PPX_SEED's when run standalone).
 *
 * Threads: each thread has its own address cache; a gsl_rng is used by one thread at a time, as
 * in GSL. Link ppx::gsl_rng (built when CMake finds GSL). */
#include <gsl/gsl_rng.h>

#ifdef __cplusplus
extern "C" {
#endif

extern const gsl_rng_type* ppx_gsl_rng;

#ifdef __cplusplus
}
#endif

#endif
