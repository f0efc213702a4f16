#pragma once
// A CLHEP random engine whose every flat() is a PPX sample: instrument code that draws through
// CLHEP (CLHEP::RandFlat, RandGauss, RandPoisson, ...; Geant4's path) without editing it:
//
//   ppx::ClhepEngine engine;
//   CLHEP::HepRandom::setTheEngine(&engine);
//   ...
//   ppx::Tensor forward() {
//     CLHEP::RandGauss::setFlag(false);   // RandGauss caches the second variate of each pair
//     ...                                 // between calls: drop it so every trace starts afresh
//   }
//
// Each flat() becomes ppx::sample(Uniform(0, 1)) at a stack address (ppx/stack_address.h) whose
// frames skip CLHEP's own (symbols starting "CLHEP::"): the latent variables are those uniforms,
// addressed by where the simulator called CLHEP. Seeds and status files are the engine's business:
// setSeed/setSeeds/restoreStatus do nothing, saveStatus writes nothing, showStatus writes one line
// to stderr. Not thread-safe, like every CLHEP engine. Link ppx::clhep_engine (built when CMake
// finds CLHEP).
#include <CLHEP/Random/RandomEngine.h>

#include "ppx/stack_address.h"

namespace ppx {

class ClhepEngine final : public CLHEP::HepRandomEngine {
 public:
  explicit ClhepEngine(StackAddressOptions options = default_options());
  // Stack addresses that skip CLHEP's frames.
  static StackAddressOptions default_options();

  double flat() override;
  void flatArray(const int size, double* vect) override;
  void setSeed(long seed, int) override;
  void setSeeds(const long* seeds, int) override;
  void saveStatus(const char filename[] = "Config.conf") const override;
  void restoreStatus(const char filename[] = "Config.conf") override;
  void showStatus() const override;
  std::string name() const override;

 private:
  StackAddresser addresser_;
};

}  // namespace ppx
