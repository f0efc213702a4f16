#include "ppx/simulator_cli.h"

#include <exception>
#include <iostream>

namespace ppx {

SimulatorCli::SimulatorCli(const std::string& description) : app_(description) {
  app_.add_option("--serve", serve_endpoint_, "Serve PPX on this ZeroMQ endpoint (tcp://*:5555, ipc:///tmp/sim)");
  app_.add_option("--seed", seed_, "Seed for standalone runs (default: PPX_SEED or 0)");
  app_.add_option("--runs", runs_, "Standalone runs to print")->check(CLI::PositiveNumber);
  app_.add_option("--timeout-ms", timeout_ms_, "Serving: stop after this long without a request (0 = never)")
      ->check(CLI::NonNegativeNumber);
  app_.add_flag("-v,--verbose", verbose_, "Serving: log protocol events on stderr");
}

std::optional<int> SimulatorCli::parse(int argc, char** argv) {
  try {
    app_.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app_.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << app_.get_name() << ": " << e.what() << " (see --help)\n";
    return 2;
  }
  return std::nullopt;
}

int SimulatorCli::run(const Model& model) const {
  if (!serve_endpoint_.empty()) {
    ServeOptions options;
    options.endpoint = serve_endpoint_;
    options.receive_timeout = std::chrono::milliseconds(timeout_ms_);
    options.log = [this](LogLevel level, std::string_view line) {
      if (verbose_ || level >= LogLevel::Warning) std::cerr << line << '\n';
    };
    const ServeResult result = model.serve(options);  // never throws
    if (!result.ok()) {
      std::cerr << model.name() << ": " << result.message << '\n';
      return 1;
    }
    return 0;
  }
  try {
    const std::uint64_t first = seed_.value_or(seed_from_environment());
    for (int i = 0; i < runs_; ++i) {
      const Tensor result = model.run_local(first + static_cast<std::uint64_t>(i));
      std::cout << result.to_string() << '\n';
    }
    std::cout.flush();
  } catch (const std::exception& e) {
    std::cerr << model.name() << ": " << e.what() << '\n';
    return 1;
  }
  return 0;
}

int simulator_main(const Model& model, int argc, char** argv) {
  try {
    SimulatorCli cli(model.name() + ": a PPX simulator (serve with --serve ENDPOINT, or run standalone)");
    if (const auto code = cli.parse(argc, argv)) return *code;
    return cli.run(model);
  } catch (const std::exception& e) {  // e.g. out of memory while parsing: still no abort
    std::cerr << model.name() << ": " << e.what() << '\n';
    return 1;
  }
}

}  // namespace ppx
