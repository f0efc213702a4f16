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
  const auto a = run_command(dir + "/static/address_probe");
  const auto b = run_command(dir + "/static/address_probe");
  const auto c = run_command(dir + "/shared/address_probe");
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

#ifdef PPX_PROBE_STACK
namespace {
// Every "+0x..." offset in an address: offsets within a symbol or module, never absolute.
std::vector<unsigned long long> offsets_in(const std::string& address) {
  std::vector<unsigned long long> out;
  for (std::size_t at = address.find("+0x"); at != std::string::npos; at = address.find("+0x", at + 3)) {
    out.push_back(std::stoull(address.substr(at + 3), nullptr, 16));
  }
  return out;
}
}  // namespace

TEST_CASE("stack addresses are identical across processes and a static and a shared client") {
  const std::string dir = ppx::test::env_or("PPX_TEST_DIR", "build/tests");
  const auto a = run_command(dir + "/static/address_probe --stack 2>/dev/null");
  const auto b = run_command(dir + "/static/address_probe --stack 2>/dev/null");
  const auto c = run_command(dir + "/shared/address_probe --stack 2>/dev/null");
  REQUIRE(a.exit_code == 0);
  REQUIRE(c.exit_code == 0);
  CHECK(a.output == b.output);
  CHECK(a.output == c.output);
  const auto addresses = lines(a.output);
  REQUIRE(addresses.size() == 12);  // two runs of: draw, 3 x nested draw, draw, scoped draw
  for (std::size_t i = 0; i < 6; ++i) CHECK(addresses[i] == addresses[i + 6]);  // cached = resolved
  const std::string draw = "address_probe:(anonymous namespace)::draw()+0x";
  const std::string forward = "address_probe:(anonymous namespace)::stack_forward()+0x";
  // Frames nearest the draw first, from the executable's own symbol table, cut at the model's entry.
  CHECK(addresses[0].rfind(draw, 0) == 0);
  CHECK(addresses[0].find(";" + forward) != std::string::npos);
  CHECK(addresses[1].find(";address_probe:(anonymous namespace)::nested_draw()+0x") != std::string::npos);
  CHECK(addresses[1] == addresses[2]);  // a loop: one address, told apart by the instance counter
  CHECK(addresses[2] == addresses[3]);
  CHECK(addresses[4] != addresses[0]);  // two call sites in one function: different offsets
  CHECK(addresses[4].rfind(draw, 0) == 0);
  CHECK(addresses[5] == "hot/site");
  for (std::size_t i = 0; i < 5; ++i) {
    CHECK(addresses[i].find("main") == std::string::npos);
    CHECK(addresses[i].find(":ppx::") == std::string::npos);  // no frame of ppx itself
    CHECK(addresses[i].find('/') == std::string::npos);
    const auto offsets = offsets_in(addresses[i]);
    CHECK(offsets.size() >= 2);
    for (unsigned long long offset : offsets) CHECK(offset < 0x10000);  // small: never a pointer
  }
}

TEST_CASE("stack addresses without offsets are chains of symbols") {
  const std::string dir = ppx::test::env_or("PPX_TEST_DIR", "build/tests");
  const auto a = run_command(dir + "/static/address_probe --stack --no-offsets 2>/dev/null");
  const auto c = run_command(dir + "/shared/address_probe --stack --no-offsets 2>/dev/null");
  REQUIRE(a.exit_code == 0);
  CHECK(a.output == c.output);
  const auto addresses = lines(a.output);
  REQUIRE(addresses.size() == 12);
  CHECK(addresses[0].rfind("address_probe:(anonymous namespace)::draw();address_probe:(anonymous namespace)::stack_forward()", 0) == 0);
  CHECK(addresses[0] == addresses[4]);  // one function, one address: only instances tell them apart
  CHECK(addresses[0].find("+0x") == std::string::npos);
}
#endif
