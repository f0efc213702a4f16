/* ppx C API: instrument C (and, through ISO_C_BINDING, Fortran) simulators.
 *
 *   static double forward(void* user) {
 *     double mu;
 *     double prior[2] = {1.0, 2.236};
 *     ppx_sample_scalar(PPX_NORMAL, prior, 2, "mu", &mu);
 *     ...
 *     return mu;
 *   }
 *   ppx_model* m = ppx_model_new("gum", forward, NULL);
 *   ppx_model_serve(m, "ipc:///tmp/gum");   // or ppx_model_run_local(m, seed, &result)
 *   ppx_model_free(m);
 *
 * Every call returns PPX_OK or an error code; ppx_last_error() describes the last error of the
 * calling thread. When a call returns PPX_ERR_ABORTED the engine abandoned the trace: the forward
 * function should return as soon as it can (its result is ignored).
 * Addresses: the macros pass __FILE__/__LINE__ as the call site; Fortran callers pass their own
 * file name and line to the *_at functions (see ppx_c.f90, the ISO_C_BINDING interface module). Parameters are flat arrays, one per distribution parameter, each
 * broadcast from a scalar when its length is 1. */
#ifndef PPX_PPX_C_H
#define PPX_PPX_C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum ppx_distribution_kind {
  PPX_NORMAL = 1, PPX_UNIFORM, PPX_CATEGORICAL, PPX_POISSON, PPX_BERNOULLI, PPX_BETA,
  PPX_EXPONENTIAL, PPX_GAMMA, PPX_LOGNORMAL, PPX_BINOMIAL, PPX_WEIBULL
};

enum ppx_status { PPX_OK = 0, PPX_ERR_INVALID = 1, PPX_ERR_ABORTED = 2, PPX_ERR_INTERNAL = 3 };

/* A distribution: `kind` and its parameters in wire order, each an array of `lengths[i]` values.
 * Values (draws, observations) have the shape of the longest parameter; Categorical takes one
 * probability vector and yields one index. */
typedef struct ppx_distribution {
  int kind;
  const double* const* parameters;
  const size_t* lengths;
  size_t n_parameters;
} ppx_distribution;

int ppx_sample_at(const ppx_distribution* d, const char* name, const char* address, int control,
                  double* out, size_t out_len, const char* file, int line);
int ppx_observe_at(const ppx_distribution* d, const char* name, const char* address,
                   const double* value /* NULL: engine supplies */, size_t value_len,
                   const char* file, int line);
int ppx_tag_at(const double* value, size_t value_len, const char* name, const char* address,
               const char* file, int line);

/* One scalar draw from a distribution whose parameters are the `n` scalars in `params`. */
int ppx_sample_scalar_at(int kind, const double* params, size_t n, const char* name, double* out,
                         const char* file, int line);
/* Observe a scalar under such a distribution; `value` NULL: the engine supplies it by name. */
int ppx_observe_scalar_at(int kind, const double* params, size_t n, const char* name,
                          const double* value, const char* file, int line);

#define ppx_sample(d, name, out, out_len) ppx_sample_at((d), (name), NULL, 1, (out), (out_len), __FILE__, __LINE__)
#define ppx_observe(d, name, value, value_len) ppx_observe_at((d), (name), NULL, (value), (value_len), __FILE__, __LINE__)
#define ppx_tag(value, value_len, name) ppx_tag_at((value), (value_len), (name), NULL, __FILE__, __LINE__)
#define ppx_sample_scalar(kind, params, n, name, out) ppx_sample_scalar_at((kind), (params), (n), (name), (out), __FILE__, __LINE__)
#define ppx_observe_scalar(kind, params, n, name, value) ppx_observe_scalar_at((kind), (params), (n), (name), (value), __FILE__, __LINE__)

typedef struct ppx_model ppx_model;
typedef double (*ppx_forward_fn)(void* user_data);

ppx_model* ppx_model_new(const char* name, ppx_forward_fn forward, void* user_data);
void ppx_model_free(ppx_model* model);
/* Serves until SIGINT/SIGTERM; timeout_ms 0 = wait forever for requests. */
int ppx_model_serve(ppx_model* model, const char* endpoint, long timeout_ms);
int ppx_model_run_local(ppx_model* model, uint64_t seed, double* result);

const char* ppx_last_error(void);

#ifdef __cplusplus
}
#endif
#endif
