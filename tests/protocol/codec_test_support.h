#pragma once
// Shared helpers for the protocol codec tests: where the golden vectors live, reading files.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "shared_data.h"

namespace ppx::protocol::test {

// shared/ppx-vectors: $PPX_SHARED_DIR (set by CTest), else the configure-time default.
inline std::filesystem::path vectors_dir() {
  const char* env = std::getenv("PPX_SHARED_DIR");
  std::filesystem::path shared = (env && *env) ? env : PPX_SHARED_DIR_DEFAULT;
  return shared / "ppx-vectors";
}

inline std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Every .bin under ppx-vectors (top level and captured/<session>/), relative paths, sorted.
inline std::vector<std::string> golden_files() {
  const auto root = vectors_dir();
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (entry.is_regular_file() && entry.path().extension() == ".bin") {
      files.push_back(std::filesystem::relative(entry.path(), root).generic_string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace ppx::protocol::test
