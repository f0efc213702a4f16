// ppxd: the inference daemon. `ppxd --config ppxd.toml`; see README.md ("The daemon").
// Prints "ppxd: listening on http://HOST:PORT" once it serves (PORT is the bound one, also with
// listen = "127.0.0.1:0"); SIGINT/SIGTERM stop it cleanly: running queries are interrupted and
// keep what they had. Exit codes: 0 stopped, 1 runtime failure, 2 configuration error.
#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>
#include <malloc.h>
#include <mutex>
#include <pthread.h>

#include "config.h"
#include "http/http_server.h"
#include "ppx/server/report.h"
#include "registration.h"
#include "service.h"

int main(int argc, char** argv) {
  mallopt(M_MMAP_THRESHOLD, 64 << 20);  // as in ppx: traces carry large tensors
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  CLI::App app("ppxd: the inference daemon (posterior queries over HTTP/JSON)");
  std::string config_path, port_file;
  app.add_option("--config", config_path, "TOML configuration file")->required();
  app.add_option("--port-file", port_file, "Write the bound HTTP port to this file once serving");
  app.set_version_flag("--version", ppx::server::ppxd_version() + " (" + ppx::server::ppxd_git_revision() + ")");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "ppxd: " << e.what() << " (see ppxd --help)\n";
    return 2;
  }

  ppx::daemon::DaemonConfig config;
  try {
    config = ppx::daemon::load_config(config_path);
  } catch (const ppx::daemon::ConfigError& e) {
    std::cerr << "ppxd: " << e.what() << "\n";
    return 2;
  }

  // Signals are taken by sigwait on this thread; every other thread inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  std::mutex log_mutex;
  auto log = [&](const std::string& line) {
    std::lock_guard lock(log_mutex);
    std::cerr << "ppxd: " << line << "\n";
  };
  try {
    ppx::daemon::InferenceService service(config, log);
    ppx::daemon::HttpServer http(service, config);
    const std::uint16_t port = http.start();
    std::unique_ptr<ppx::daemon::RegistrationEndpoint> registration;
    if (!config.registration.empty()) {
      registration = std::make_unique<ppx::daemon::RegistrationEndpoint>(service, config.registration, log);
      log("simulators register on " + registration->endpoint());
    }
    if (!port_file.empty()) ppx::server::write_file_atomically(port_file, std::to_string(port) + "\n");
    std::cout << "ppxd: listening on http://" << config.host << ":" << port << std::endl;
    int signal = 0;
    sigwait(&signals, &signal);
    log(std::string("stopping (") + (signal == SIGINT ? "SIGINT" : "SIGTERM") + ")");
    if (registration) registration->stop();
    service.stop();  // running queries end as interrupted, with their partial results
    http.stop();
    return 0;
  } catch (const std::exception& e) {
    log(std::string("error: ") + e.what());
    return 1;
  }
}
