// A reference model as a program (built once per model, PPX_REFERENCE_MODEL names it):
//   <model> --serve ENDPOINT          serve PPX
//   <model> [--seed S] [--runs N]     run standalone
//   <model> --exact [--observe NAME=VALUE ...]
//                                     print the exact posterior (default observations unless given)
#include <iostream>

#include <fmt/format.h>

#include "ppx/reference/models.h"
#include "ppx/simulator_cli.h"

int main(int argc, char** argv) {
  const ppx::reference::ReferenceModel& model = ppx::reference::reference_model(PPX_REFERENCE_MODEL);
  ppx::SimulatorCli cli(model.description);
  bool exact = false;
  std::vector<std::string> observe;
  cli.app().add_flag("--exact", exact, "Print the exact posterior and exit");
  cli.app().add_option("--observe", observe, "With --exact: an observation NAME=NUMBER (repeatable)");
  if (const auto code = cli.parse(argc, argv)) return *code;
  if (!exact) return cli.run(model.model());

  ppx::reference::Observations observations = model.default_observations;
  try {
    for (const std::string& spec : observe) {
      const auto eq = spec.find('=');
      if (eq == std::string::npos) throw std::invalid_argument("expected NAME=NUMBER, got '" + spec + "'");
      const std::string name = spec.substr(0, eq);
      const double value = std::stod(spec.substr(eq + 1));
      bool replaced = false;
      for (auto& o : observations) {
        if (o.name == name) o.value = value, replaced = true;
      }
      if (!replaced) throw std::invalid_argument("the model has no observation named '" + name + "'");
    }
    const ppx::reference::ExactPosterior posterior = model.exact_posterior(observations);
    std::cout << fmt::format("exact posterior of {} ({})\n", model.name, model.description);
    std::cout << fmt::format("{:<20} {:>11} {:>11} {:>9}\n", "variable", "mean", "sd", "present");
    for (const auto& latent : posterior.latents) {
      std::cout << fmt::format("{:<20} {:>11.5g} {:>11.5g} {:>9.4g}\n", latent.name, latent.mean, latent.stddev,
                               latent.presence);
    }
    std::cout << fmt::format("\nlog_evidence                 {:.6g}\n", posterior.log_evidence);
  } catch (const std::exception& e) {
    std::cerr << model.name << ": " << e.what() << "\n";
    return 2;
  }
  return 0;
}
