// The C API: same calls with plain arrays, status codes instead of exceptions.
#include <catch2/catch.hpp>
#include <cmath>

#include "ppx/ppx.h"
#include "ppx/ppx_c.h"

namespace {

double c_forward(void* user) {
  auto* calls = static_cast<int*>(user);
  ++*calls;
  double mu = 0;
  const double prior[2] = {1.0, 2.0};
  if (ppx_sample_scalar(PPX_NORMAL, prior, 2, "mu", &mu) != PPX_OK) return 0;
  const double mean[2] = {mu, mu};
  const double sd = 1.0;
  const double* params[2] = {mean, &sd};
  const size_t lengths[2] = {2, 1};
  const ppx_distribution likelihood{PPX_NORMAL, params, lengths, 2};
  double pair[2];
  if (ppx_sample(&likelihood, "pair", pair, 2) != PPX_OK) return 0;
  const double y[2] = {0.5, 1.5};
  if (ppx_observe(&likelihood, "y", y, 2) != PPX_OK) return 0;
  if (ppx_tag(pair, 2, "pair_tag") != PPX_OK) return 0;
  return mu;
}

}  // namespace

TEST_CASE("a C model runs locally and records the same sites as a C++ model would") {
  int calls = 0;
  ppx_model* model = ppx_model_new("c-model", c_forward, &calls);
  REQUIRE(model != nullptr);
  double result = NAN;
  REQUIRE(ppx_model_run_local(model, 5, &result) == PPX_OK);
  CHECK(calls == 1);
  CHECK(std::isfinite(result));
  double again = NAN;
  REQUIRE(ppx_model_run_local(model, 5, &again) == PPX_OK);
  CHECK(again == result);
  ppx_model_free(model);
}

TEST_CASE("C API errors are status codes with a message, never exceptions") {
  double out = 0;
  const double bad[2] = {0.0, -1.0};  // negative stddev
  CHECK(ppx_sample_scalar(PPX_NORMAL, bad, 2, "x", &out) == PPX_ERR_INVALID);
  CHECK(std::string(ppx_last_error()).find("stddev") != std::string::npos);
  const double ok[2] = {0.0, 1.0};
  CHECK(ppx_sample_scalar(99, ok, 2, "x", &out) == PPX_ERR_INVALID);
  double too_small[1];
  const double mean[3] = {0, 1, 2};
  const double sd = 1;
  const double* params[2] = {mean, &sd};
  const size_t lengths[2] = {3, 1};
  const ppx_distribution d{PPX_NORMAL, params, lengths, 2};
  CHECK(ppx_sample(&d, "v", too_small, 1) == PPX_ERR_INVALID);
  CHECK(ppx_model_new("x", nullptr, nullptr) == nullptr);
  CHECK(ppx_model_serve(nullptr, "ipc:///tmp/x", 0) == PPX_ERR_INVALID);
}
