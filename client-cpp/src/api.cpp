// ppx::sample/observe/tag: route each call to the thread's current handler.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <unordered_map>

#include "ppx/ppx.h"

namespace ppx {
namespace {

// Standalone default: a thread-local sampler, so instrumented code runs unchanged without a server.
Handler& handler_for_this_thread() {
  if (Handler* h = current_handler()) return *h;
  thread_local LocalHandler fallback(LocalHandler::Options{.seed = seed_from_environment()});
  return fallback;
}

// The call-site address of `where`, built once per call site and thread. A source_location's
// file and function names are string literals, so their addresses and the line identify the site
// (call_site_address reads nothing else; a library unloaded with dlclose could leave stale
// entries that a library loaded in its place would hit). The map's strings never move.
std::string_view cached_call_site_address(const std::source_location& where) {
  struct Site {
    const char* file;
    const char* function;
    std::uint_least32_t line;
    bool operator==(const Site&) const = default;
  };
  struct SiteHash {
    std::size_t operator()(const Site& s) const noexcept {
      const auto mix = [](std::size_t h, std::size_t v) { return (h ^ v) * 0x9e3779b97f4a7c15ull; };
      return mix(mix(reinterpret_cast<std::uintptr_t>(s.file), reinterpret_cast<std::uintptr_t>(s.function)), s.line);
    }
  };
  thread_local std::unordered_map<Site, std::string, SiteHash> addresses;
  const Site site{where.file_name(), where.function_name(), where.line()};
  if (auto it = addresses.find(site); it != addresses.end()) return it->second;
  return addresses.emplace(site, call_site_address(where)).first->second;
}

// Explicit address wins; otherwise the call site.
std::string_view address_of(const std::string& explicit_address, const std::source_location& where) {
  if (!explicit_address.empty()) return explicit_address;
  return cached_call_site_address(where);
}

}  // namespace

std::string call_site_address(const std::source_location& where) {
  std::string_view file = where.file_name();
  if (auto slash = file.find_last_of("/\\"); slash != std::string_view::npos) file.remove_prefix(slash + 1);
  // function_name() is the pretty signature ("ppx::Tensor ns::forward(int)"): keep the
  // qualified name only, which is stable and readable.
  std::string_view function = where.function_name();
  if (auto paren = function.find('('); paren != std::string_view::npos) function = function.substr(0, paren);
  if (auto space = function.find_last_of(' '); space != std::string_view::npos) function.remove_prefix(space + 1);
  std::string address;
  address.reserve(file.size() + function.size() + 12);
  address.append(file).append(":").append(std::to_string(where.line()));
  if (!function.empty()) address.append(":").append(function);
  return address;
}

Tensor sample(const Distribution& distribution, const SampleOptions& options, std::source_location where) {
  return handler_for_this_thread().on_sample(SampleSite{
      .address = address_of(options.address, where),
      .name = options.name,
      .distribution = distribution,
      .control = options.control});
}

void observe(const Distribution& likelihood, const ObserveOptions& options, std::source_location where) {
  handler_for_this_thread().on_observe(ObserveSite{.address = address_of(options.address, where),
                                                   .name = options.name,
                                                   .likelihood = &likelihood,
                                                   .value = nullptr});
}

void observe(const Distribution& likelihood, const Tensor& value, const ObserveOptions& options,
             std::source_location where) {
  handler_for_this_thread().on_observe(ObserveSite{.address = address_of(options.address, where),
                                                   .name = options.name,
                                                   .likelihood = &likelihood,
                                                   .value = &value});
}

void tag(const Tensor& value, const TagOptions& options, std::source_location where) {
  handler_for_this_thread().on_tag(
      TagSite{.address = address_of(options.address, where), .name = options.name, .value = value});
}

std::uint64_t seed_from_environment() {
  const char* text = std::getenv("PPX_SEED");
  if (text == nullptr || *text == '\0') return 0;
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text, &end, 10);
  return (end != nullptr && *end == '\0') ? value : 0;
}

std::string_view version_string() {
  static const std::string version = std::string("ppxd client-cpp ") + PPX_VERSION + " (" + PPX_GIT_REVISION + ")";
  return version;
}

}  // namespace ppx
