// Automatic addresses are identical across runs, processes (ASLR/PIE) and link modes, and never
// contain a pointer or a directory.
#include <catch2/catch.hpp>
#include <sstream>

#include "ppx/ppx.h"
#include "subprocess.h"
#include "test_paths.h"

using ppx::test::run_command;

namespace {
std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}
}  // namespace

TEST_CASE("the same simulator sends the same addresses in two processes and two link modes") {
  const std::string dir = ppx::test::env_or("PPX_TEST_DIR", "build/tests");
  const auto a = run_command(dir + "/address_probe_static");
  const auto b = run_command(dir + "/address_probe_static");
  const auto c = run_command(dir + "/address_probe_shared");
  REQUIRE(a.exit_code == 0);
  REQUIRE(c.exit_code == 0);
  const auto addresses = lines(a.output);
  REQUIRE(addresses.size() == 8);  // normal, 3 x uniform, poisson, bernoulli, observe, tag
  CHECK(a.output == b.output);
  CHECK(a.output == c.output);
  for (const std::string& address : addresses) {
    CHECK_FALSE(address.empty());
    CHECK((address.find('/') == std::string::npos || address == "explicit/address"));
    CHECK(address.find("0x") == std::string::npos);
  }
  CHECK(addresses[0].rfind("address_probe.cpp:", 0) == 0);
  // A helper called from a loop has one call site: the engine's instance counter tells repeats apart.
  CHECK(addresses[1] == addresses[2]);
  CHECK(addresses[2] == addresses[3]);
  CHECK(addresses[5] == "explicit/address");
}

TEST_CASE("call_site_address keeps the file name, line and function only") {
  const auto here = std::source_location::current();
  const std::string address = ppx::call_site_address(here);
  const std::string prefix = "test_addresses.cpp:" + std::to_string(here.line()) + ":";
  CHECK(address.rfind(prefix, 0) == 0);
  const std::string function = address.substr(prefix.size());
  CHECK_FALSE(function.empty());  // Catch2's generated test function name
  CHECK(function.find_first_of(" ()") == std::string::npos);
}
