// The 'hmm' reference model as a program: serves PPX (--serve ENDPOINT) or runs standalone.
#include "ppx/reference/models.h"
#include "ppx/simulators/cli.h"

int main(int argc, char** argv) {
  ppx::simulators::SimulatorCli cli("Hidden Markov model, 3 states, 16 observations (reference model, posterior by forward-backward)");
  if (const auto code = cli.parse(argc, argv)) return *code;
  return cli.run(ppx::reference::reference_model("hmm").model());
}
