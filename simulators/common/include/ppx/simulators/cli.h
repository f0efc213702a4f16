#pragma once
// The command line every simulator program shares:
//   <sim> --serve ENDPOINT [--timeout-ms MS]   serve PPX until SIGINT/SIGTERM
//   <sim> [--seed S] [--runs N]                 run standalone, print each result on stdout
// A simulator adds its own flags to `app` before calling parse().
#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "ppx/ppx.h"

namespace ppx::simulators {

class SimulatorCli {
 public:
  explicit SimulatorCli(const std::string& description);
  CLI::App& app() { return app_; }

  // Parses argv; returns an exit code when the program should stop now (--help, usage error:
  // one line on stderr, code 2), nullopt to go on.
  std::optional<int> parse(int argc, char** argv);

  // Serves or runs standalone as the flags say; returns the process exit code.
  int run(const Model& model) const;

  const std::string& serve_endpoint() const { return serve_endpoint_; }
  std::optional<std::uint64_t> seed() const { return seed_; }

 private:
  CLI::App app_;
  std::string serve_endpoint_;
  std::optional<std::uint64_t> seed_;
  int runs_ = 1;
  long timeout_ms_ = 0;
  bool verbose_ = false;
};

}  // namespace ppx::simulators
