// The C API: a thin shell over the C++ API that turns exceptions into status codes.
#include "ppx/ppx_c.h"

#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "ppx/ppx.h"

namespace {

thread_local std::string t_last_error;

// Exceptions thrown by a handler to abandon a trace are re-thrown once the C forward returns.
thread_local std::exception_ptr t_pending_abort;

int fail(int status, std::string message) {
  t_last_error = std::move(message);
  return status;
}

template <typename F>
int guarded(F&& body) {
  try {
    body();
    return PPX_OK;
  } catch (const std::invalid_argument& e) {
    return fail(PPX_ERR_INVALID, e.what());
  } catch (const std::exception& e) {
    return fail(PPX_ERR_INTERNAL, e.what());
  } catch (...) {
    // Not ours to understand (the serving transport abandoning a trace): keep it for later.
    t_pending_abort = std::current_exception();
    return fail(PPX_ERR_ABORTED, "the engine abandoned this trace");
  }
}

ppx::Distribution to_distribution(const ppx_distribution* d) {
  if (d == nullptr) throw std::invalid_argument("null distribution");
  if (d->kind < PPX_NORMAL || d->kind > PPX_WEIBULL) throw std::invalid_argument("unknown distribution kind");
  std::vector<ppx::Tensor> parameters;
  for (size_t i = 0; i < d->n_parameters; ++i) {
    if (d->parameters[i] == nullptr || d->lengths[i] == 0) throw std::invalid_argument("empty parameter");
    const double* p = d->parameters[i];
    parameters.emplace_back(d->lengths[i] == 1 ? ppx::Tensor(p[0]) : ppx::Tensor(std::vector<double>(p, p + d->lengths[i])));
  }
  return ppx::Distribution(static_cast<ppx::DistributionKind>(d->kind), std::move(parameters));
}

std::string site_address(const char* address, const char* file, int line) {
  if (address != nullptr && *address != '\0') return address;
  std::string_view f = file != nullptr ? file : "unknown";
  if (auto slash = f.find_last_of("/\\"); slash != std::string_view::npos) f.remove_prefix(slash + 1);
  return std::string(f) + ":" + std::to_string(line);
}

const char* or_empty(const char* s) { return s != nullptr ? s : ""; }

// A ppx_distribution whose parameters are the n scalars of one array.
struct ScalarDistribution {
  ScalarDistribution(int kind, const double* params, size_t n) : lengths(n, 1) {
    for (size_t i = 0; i < n; ++i) pointers.push_back(params + i);
    view = {kind, pointers.data(), lengths.data(), n};
  }
  std::vector<const double*> pointers;
  std::vector<size_t> lengths;
  ppx_distribution view{};
};

}  // namespace

struct ppx_model {
  ppx::Model model;
};

extern "C" {

int ppx_sample_at(const ppx_distribution* d, const char* name, const char* address, int control, double* out,
                  size_t out_len, const char* file, int line) {
  return guarded([&] {
    const ppx::Tensor value = ppx::sample(
        to_distribution(d), {.name = or_empty(name), .address = site_address(address, file, line), .control = control != 0});
    if (value.numel() != out_len) {
      throw std::invalid_argument("draw has " + std::to_string(value.numel()) + " values, out has room for " +
                                  std::to_string(out_len));
    }
    std::copy(value.data().begin(), value.data().end(), out);
  });
}

int ppx_sample_scalar_at(int kind, const double* params, size_t n, const char* name, double* out, const char* file,
                         int line) {
  const ScalarDistribution d(kind, params, n);
  return ppx_sample_at(&d.view, name, nullptr, 1, out, 1, file, line);
}

int ppx_observe_scalar_at(int kind, const double* params, size_t n, const char* name, const double* value,
                          const char* file, int line) {
  const ScalarDistribution d(kind, params, n);
  return ppx_observe_at(&d.view, name, nullptr, value, value != nullptr ? 1 : 0, file, line);
}

int ppx_observe_at(const ppx_distribution* d, const char* name, const char* address, const double* value,
                   size_t value_len, const char* file, int line) {
  return guarded([&] {
    const ppx::ObserveOptions options{.name = or_empty(name), .address = site_address(address, file, line)};
    if (value == nullptr) {
      ppx::observe(to_distribution(d), options);
    } else {
      ppx::observe(to_distribution(d), ppx::Tensor(std::vector<double>(value, value + value_len)), options);
    }
  });
}

int ppx_tag_at(const double* value, size_t value_len, const char* name, const char* address, const char* file,
               int line) {
  return guarded([&] {
    if (value == nullptr) throw std::invalid_argument("null tag value");
    ppx::tag(ppx::Tensor(std::vector<double>(value, value + value_len)),
             {.name = or_empty(name), .address = site_address(address, file, line)});
  });
}

ppx_model* ppx_model_new(const char* name, ppx_forward_fn forward, void* user_data) {
  if (forward == nullptr) {
    fail(PPX_ERR_INVALID, "null forward function");
    return nullptr;
  }
  try {
    return new ppx_model{ppx::Model(or_empty(name), [forward, user_data]() -> ppx::Tensor {
      const double result = forward(user_data);
      if (t_pending_abort) {
        std::exception_ptr abort = std::exchange(t_pending_abort, nullptr);
        std::rethrow_exception(abort);
      }
      return result;
    })};
  } catch (const std::exception& e) {
    fail(PPX_ERR_INTERNAL, e.what());
    return nullptr;
  }
}

void ppx_model_free(ppx_model* model) { delete model; }

int ppx_model_serve(ppx_model* model, const char* endpoint, long timeout_ms) {
  if (model == nullptr || endpoint == nullptr) return fail(PPX_ERR_INVALID, "null model or endpoint");
  ppx::ServeOptions options;
  options.endpoint = endpoint;
  options.receive_timeout = std::chrono::milliseconds(timeout_ms > 0 ? timeout_ms : 0);
  const ppx::ServeResult result = model->model.serve(options);
  return result.ok() ? PPX_OK : fail(PPX_ERR_INTERNAL, result.message);
}

int ppx_model_run_local(ppx_model* model, uint64_t seed, double* result) {
  if (model == nullptr) return fail(PPX_ERR_INVALID, "null model");
  return guarded([&] {
    const ppx::Tensor value = model->model.run_local(seed);
    if (result != nullptr && !value.empty()) *result = value[0];
  });
}

const char* ppx_last_error(void) { return t_last_error.c_str(); }

}  // extern "C"
