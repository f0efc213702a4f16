#pragma once
// Reference material kept outside the repository: golden PPX 1.0 messages and sessions captured
// from the reference implementation (see test_paths.h for where it is looked for).
// A test that needs it starts with PPX_NEEDS_SHARED(path): when the path is absent the test is
// skipped with a warning that names it; under CI=true (where the material is always present) its
// absence fails the test instead, so a broken CI set-up cannot pass silently.
#include <catch2/catch.hpp>
#include <filesystem>

#include "test_paths.h"

namespace ppx::test {

inline bool shared_material_present(const std::filesystem::path& path) {
  if (std::filesystem::exists(path)) return true;
  const std::string what = "reference material " + path.string() +
                           " is absent (set PPX_SHARED_DIR to the folder holding ppx-vectors/)";
  if (env_or("CI", "") == "true") FAIL(what << ": required when CI=true");
  WARN("SKIPPED: " << what);
  return false;
}

}  // namespace ppx::test

#define PPX_NEEDS_SHARED(path) \
  if (!::ppx::test::shared_material_present(path)) return
