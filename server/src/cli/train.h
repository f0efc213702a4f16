#pragma once
// `ppx train` (inference compilation) and the `ic` engine of `ppx infer`; built only with LibTorch.
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "infer.h"

namespace ppx::cli {

// Adds the `train` subcommand; returns a function that runs it once parsed (exit code).
std::function<int(const std::vector<std::string>&)> add_train_command(CLI::App& app, CLI::App*& subcommand);

// `ppx infer --engine ic --network DIR`.
EngineOutcome run_inference_compilation(const InferContext& context);

}  // namespace ppx::cli
