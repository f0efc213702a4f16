#pragma once
// Where tests find the shared reference material and the built programs (set by ppx_test).
#include <cstdlib>
#include <string>

namespace ppx::test {

inline std::string env_or(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}
inline std::string shared_dir() { return env_or("PPX_SHARED_DIR", "../shared"); }
inline std::string bin_dir() { return env_or("PPX_BIN_DIR", "build/bin"); }
inline std::string program(const std::string& name) { return bin_dir() + "/" + name; }

}  // namespace ppx::test
