// A simulator outside this repository, built against an installed ppx.
#include <ppx/ppx.h>

#include <iostream>

int main() {
  const ppx::Model model{"downstream", [] { return ppx::sample(ppx::Normal(0, 1), {.name = "x"}); }};
  std::cout << model.run_local(1).item() << "\n";
  return 0;
}
