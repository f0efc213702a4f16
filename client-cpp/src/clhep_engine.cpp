// ppx::ClhepEngine: CLHEP's engine interface over stack-addressed ppx::sample(Uniform(0, 1)).
#include "ppx/clhep_engine.h"

#include <iostream>

namespace ppx {

ClhepEngine::ClhepEngine(StackAddressOptions options) : addresser_(std::move(options)) {}

StackAddressOptions ClhepEngine::default_options() { return {.skip_symbols = {"CLHEP::"}}; }

double ClhepEngine::flat() { return sample_uniform01_at_stack(addresser_); }

void ClhepEngine::flatArray(const int size, double* vect) {
  for (int i = 0; i < size; ++i) vect[i] = flat();
}

void ClhepEngine::setSeed(long, int) {}
void ClhepEngine::setSeeds(const long*, int) {}
void ClhepEngine::saveStatus(const char[]) const {}
void ClhepEngine::restoreStatus(const char[]) {}
void ClhepEngine::showStatus() const {
  std::cerr << "ppx::ClhepEngine: draws are PPX samples; the seed is the inference engine's\n";
}
std::string ClhepEngine::name() const { return "ppx::ClhepEngine"; }

}  // namespace ppx
