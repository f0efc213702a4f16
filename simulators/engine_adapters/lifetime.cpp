// clhep_lifetime: a particle lifetime measurement written against CLHEP (as Geant4-style code
// is), instrumented by installing ppx::ClhepEngine with HepRandom::setTheEngine.
//   tau ~ Uniform(0.5, 3)                     (RandFlat)
//   offset ~ Normal(0, 0.2)                   (RandGauss: a common clock offset)
//   t_i ~ Exponential(mean tau), i = 0..2     (RandExponential)
//   observe m_i ~ Normal(t_i + offset, 1)     named m0..m2; the result is tau
//   clhep_lifetime --serve ENDPOINT            the CLHEP code, drawing through ppx::ClhepEngine
//   clhep_lifetime --by-hand --serve ENDPOINT  the same model written with ppx::sample
#include <string>

#include <CLHEP/Random/RandExponential.h>
#include <CLHEP/Random/RandFlat.h>
#include <CLHEP/Random/RandGauss.h>
#include <CLHEP/Random/Random.h>

#include "ppx/clhep_engine.h"
#include "ppx/simulator_cli.h"

namespace clhep_lifetime {

constexpr int kDecays = 3;
constexpr double kResolution = 1.0;

// The simulator as written for CLHEP: it knows nothing of ppx.
double simulate(double* times) {
  const double tau = CLHEP::RandFlat::shoot(0.5, 3.0);
  const double offset = CLHEP::RandGauss::shoot(0.0, 0.2);
  for (int i = 0; i < kDecays; ++i) times[i] = CLHEP::RandExponential::shoot(tau) + offset;
  return tau;
}

void observe_times(const double* times) {
  for (int i = 0; i < kDecays; ++i) {
    ppx::observe(ppx::Normal(times[i], kResolution), {.name = "m" + std::to_string(i)});
  }
}

ppx::Tensor forward_clhep() {
  CLHEP::RandGauss::setFlag(false);  // RandGauss caches a second variate across calls: not across traces
  double times[kDecays];
  const double tau = simulate(times);
  observe_times(times);
  return tau;
}

ppx::Tensor forward_by_hand() {
  const double tau = ppx::sample(ppx::Uniform(0.5, 3.0), {.name = "tau"}).item();
  const double offset = ppx::sample(ppx::Normal(0.0, 0.2)).item();
  double times[kDecays];
  for (int i = 0; i < kDecays; ++i) times[i] = ppx::sample(ppx::Exponential(1.0 / tau)).item() + offset;
  observe_times(times);
  return tau;
}

}  // namespace clhep_lifetime

int main(int argc, char** argv) {
  ppx::SimulatorCli cli("A CLHEP lifetime measurement, instrumented through ppx::ClhepEngine");
  bool by_hand = false;
  cli.app().add_flag("--by-hand", by_hand, "Run the same model written with ppx::sample");
  if (const auto code = cli.parse(argc, argv)) return *code;
  ppx::ClhepEngine engine;
  CLHEP::HepRandom::setTheEngine(&engine);
  return cli.run(ppx::Model(by_hand ? "clhep_lifetime_by_hand" : "clhep_lifetime",
                            by_hand ? clhep_lifetime::forward_by_hand : clhep_lifetime::forward_clhep));
}
