#pragma once
// Strict command-line numbers: a count option takes decimal digits only ("5"; never "+5", " 5",
// "0x10", "1e3" or "-1") within stated bounds, so a typo is a usage error and never a silent
// 2^64-1 or an allocation the machine cannot hold.
#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdint>
#include <fmt/format.h>
#include <string>

#include "ppx/server/remote_simulator.h"

namespace ppx::cli {

// Bounds of the count options (generous for real runs, small enough that sums and products of
// them cannot overflow 64 bits: burn-in + traces * thin < 2^63).
inline constexpr std::uint64_t kMaxWorkers = 1024;
inline constexpr std::uint64_t kMaxChains = 4096;
inline constexpr std::uint64_t kMaxTraces = 1'000'000'000'000;  // 1e12
inline constexpr std::uint64_t kMaxBatch = 1'000'000;
inline constexpr std::uint64_t kMaxThin = 1'000'000;
inline constexpr std::uint64_t kMaxTimeoutMs = 86'400'000;  // one day
inline constexpr std::uint64_t kMaxTraceEntries = 1'000'000'000'000;

// "5" -> 5; throws CLI::ValidationError naming the option and the accepted range otherwise.
inline std::uint64_t parse_count(const std::string& option, const std::string& text, std::uint64_t min,
                                 std::uint64_t max) {
  const auto range = [&] { return fmt::format("a whole number from {} to {}", min, max); };
  std::uint64_t value = 0;
  const char* begin = text.data();
  const char* end = begin + text.size();
  const bool digits_only = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  const auto [ptr, ec] =
      digits_only ? std::from_chars(begin, end, value) : std::from_chars_result{begin, std::errc::invalid_argument};
  if (ec == std::errc::result_out_of_range) {
    throw CLI::ValidationError(option, fmt::format("'{}' is too large: must be {}", text, range()));
  }
  if (ec != std::errc() || ptr != end) {
    throw CLI::ValidationError(option, fmt::format("'{}' is not {}", text, range()));
  }
  if (value < min) throw CLI::ValidationError(option, fmt::format("must be at least {}, got {}", min, value));
  if (value > max) throw CLI::ValidationError(option, fmt::format("must be at most {}, got {}", max, value));
  return value;
}

// Adds a count option that parses strictly into `target` (its current value is the default).
template <typename T>
CLI::Option* add_count(CLI::App* app, const std::string& flag, T& target, std::uint64_t min, std::uint64_t max,
                       const std::string& help) {
  return app
      ->add_option_function<std::string>(
          flag,
          [&target, flag, min, max](const std::string& text) {
            target = static_cast<T>(parse_count(flag, text, min, max));
          },
          help)
      ->type_name("UINT")
      ->default_str(std::to_string(target));
}

// --max-trace-seconds and --max-trace-entries (0: no limit), for every command that runs
// simulators: a trace that runs longer or makes more entries is its simulator's failure.
inline void add_trace_limits(CLI::App* app, server::RemoteOptions& remote) {
  app->add_option_function<std::string>(
         "--max-trace-seconds",
         [&remote](const std::string& text) {
           remote.max_trace_time = std::chrono::seconds(parse_count("--max-trace-seconds", text, 0, kMaxTimeoutMs / 1000));
         },
         "Wall-clock limit of one trace, in seconds (0: none)")
      ->type_name("UINT")
      ->default_str(std::to_string(std::chrono::duration_cast<std::chrono::seconds>(remote.max_trace_time).count()));
  add_count(app, "--max-trace-entries", remote.max_trace_entries, 0, kMaxTraceEntries,
            "Limit of one trace's samples + observes + tags (0: none)");
}

}  // namespace ppx::cli
