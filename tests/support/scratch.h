#pragma once
// Scratch folders and whole-file reads, for tests that run programs and read what they wrote.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <unistd.h>

namespace ppx::test {

// A fresh, empty folder <temp>/ppx-<name>-<pid> (whatever was there is removed first).
inline std::filesystem::path fresh_dir(const std::string& name) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("ppx-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// A fresh_dir removed again when the test is done with it.
struct Scratch {
  std::filesystem::path dir;
  explicit Scratch(const std::string& name) : dir(fresh_dir(name)) {}
  ~Scratch() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  std::filesystem::path operator/(const std::string& name) const { return dir / name; }
};

// The whole file ("" when it cannot be read).
inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace ppx::test
