#pragma once
// The standard command line of a simulator program, for simulators that add flags of their own
// (simulators that need none call ppx::simulator_main from ppx/ppx.h instead):
//   <sim> --serve ENDPOINT [--timeout-ms MS] [-v]   serve PPX until SIGINT/SIGTERM (or the timeout)
//   <sim> [--seed S] [--runs N]                      run standalone, print each result on stdout
//
//   ppx::SimulatorCli cli("mysim: what it simulates");
//   cli.app().add_option("--energy", energy, "Beam energy in GeV");   // CLI11
//   if (auto code = cli.parse(argc, argv)) return *code;               // --help, usage error
//   return cli.run(make_model(energy));
//
// This header uses CLI11 (Debian: libcli11-dev, header-only); a downstream project that includes
// it adds find_package(CLI11) and links CLI11::CLI11. Nothing here exits or aborts: every
// outcome is an exit code for main to return. It writes to stdout only what the program is asked
// for (--help, standalone results) and errors to stderr, as a program's main does.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "ppx/ppx.h"

namespace ppx {

class SimulatorCli {
 public:
  explicit SimulatorCli(const std::string& description);
  CLI::App& app() { return app_; }

  // Parses argv; returns an exit code when the program should stop now (--help: 0; usage error:
  // one line on stderr, 2), nullopt to go on.
  std::optional<int> parse(int argc, char** argv);

  // Serves or runs standalone as the flags say; returns the exit code (0 done, 1 failure: the
  // reason on stderr). Exceptions from the model are caught and reported.
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

}  // namespace ppx
