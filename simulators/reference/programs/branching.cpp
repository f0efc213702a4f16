// The 'branching' reference model as a program: serves PPX (--serve ENDPOINT) or runs standalone.
#include "ppx/reference/models.h"
#include "ppx/simulators/cli.h"

int main(int argc, char** argv) {
  ppx::simulators::SimulatorCli cli("Branching program with a Poisson-dependent trace (reference model, posterior by enumeration)");
  if (const auto code = cli.parse(argc, argv)) return *code;
  return cli.run(ppx::reference::reference_model("branching").model());
}
