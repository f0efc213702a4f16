// `ppx infer` refuses what it cannot do well, before anything starts, and says so plainly
// (issue 8 items 2, 9-12, 14; issue 9 sections 1-3). Real processes; every case is bounded.
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unistd.h>

#include "subprocess.h"
#include "scratch.h"
#include "test_paths.h"

using ppx::test::program;
using ppx::test::run_command;
namespace fs = std::filesystem;

namespace {

std::string gum() { return "'" + program("gum") + " --serve {endpoint}'"; }

// A private folder (also the TMPDIR of the runs that need one), removed at the end.
using ppx::test::Scratch;

using ppx::test::slurp;

void write(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

// A simulator command that leaves `marker` behind when it is started: proves nothing started.
std::string marked_gum(const fs::path& marker) {
  return "'sh -c \"touch " + marker.string() + "; exec " + program("gum") + " --serve {endpoint}\"'";
}

struct Case {
  std::string args;
  int code;
  std::string message;
};

void check_cases(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    INFO(c.args);
    const auto r = run_command(program("ppx") + " infer " + c.args + " 2>&1 >/dev/null");
    INFO(r.output);
    CHECK(r.exit_code == c.code);
    CHECK(r.output.find(c.message) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("count options are parsed strictly and bounded (issue 8 items 2 and 11)") {
  const std::string sim = "--simulator " + gum() + " ";
  check_cases({
      {sim + "--workers 4294967297", 2, "must be at most 1024"},
      {sim + "--engine rmh --chains 100000", 2, "must be at most 4096"},
      {sim + "--batch 0", 2, "must be at least 1"},
      {sim + "--traces 0", 2, "must be at least 1"},
      {sim + "--traces 18446744073709551615", 2, "must be at most 1000000000000"},
      {sim + "--traces 18446744073709551616", 2, "too large"},
      {sim + "--traces 1e23", 2, "is not a whole number"},
      {sim + "--traces +5", 2, "is not a whole number"},
      {sim + "--traces 0x10", 2, "is not a whole number"},
      {sim + "--traces ' 5'", 2, "is not a whole number"},
      {sim + "--seed -1", 2, "is not a whole number"},
      {sim + "--reply-timeout-ms 99999999999", 2, "must be at most"},
  });
}

TEST_CASE("JSON booleans and deep nesting in observations are clear usage errors (issue 8 items 9, 10)") {
  Scratch s("json");
  write(s / "true.json", "true");
  write(s / "deep.json", std::string(100000, '[') + "1" + std::string(100000, ']'));
  const std::string sim = "--simulator " + gum() + " --traces 5 ";
  check_cases({
      {sim + "--observe obs0=true", 2, "not a number"},
      {sim + "--observe 'obs0=[1,true]'", 2, "not a number"},
      {sim + "--observe obs0=@" + (s / "true.json").string(), 2, "not a number"},
      {sim + "--observe obs0=@" + (s / "deep.json").string(), 2, "nested deeper than"},
      {sim + "--observe 'obs0=" + std::string(5000, '[') + "1" + std::string(5000, ']') + "'", 2, "nested deeper than"},
  });
  // --init: the same bound, found before the pool makes its socket folder (none is left behind).
  write(s / "deep-init.json", "{\"mu__Normal__1\": " + std::string(100000, '[') + "1" + std::string(100000, ']') + "}");
  fs::create_directories(s / "tmp");
  const auto r = run_command("TMPDIR=" + (s / "tmp").string() + " " + program("ppx") + " infer --simulator " + gum() +
                             " --engine rmh --traces 5 --observe obs0=8 --init @" + (s / "deep-init.json").string() +
                             " 2>&1 >/dev/null");
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("nested deeper than") != std::string::npos);
  CHECK(fs::is_empty(s / "tmp"));
}

TEST_CASE("bad --out, --init @missing and a bad --burn-in exit 2 before any simulator starts (issue 8 item 12)") {
  Scratch s("early");
  const fs::path marker = s / "started";
  write(s / "a-file", "x");
  fs::create_directories(s / "read-only");
  fs::permissions(s / "read-only", fs::perms::owner_read | fs::perms::owner_exec);
  const std::string sim = "--simulator " + marked_gum(marker) + " --traces 5 --observe obs0=8 --observe obs1=9 ";
  std::vector<Case> cases{
      {sim + "--out " + (s / "a-file").string(), 2, "a-file"},
      {sim + "--out " + (s / "a-file" / "sub").string(), 2, "cannot create"},
      {sim + "--engine rmh --init @" + (s / "missing.json").string(), 2, "cannot read"},
      {sim + "--engine rmh --burn-in -5", 2, "--burn-in"},
      {sim + "--engine rmh --burn-in 1e3", 2, "--burn-in"},
  };
  if (::geteuid() != 0) cases.push_back({sim + "--out " + (s / "read-only").string(), 2, "cannot write in it"});
  check_cases(cases);
  CHECK_FALSE(fs::exists(marker));
  fs::permissions(s / "read-only", fs::perms::owner_all);
}

TEST_CASE("all weights zero: the run says no trace had non-zero likelihood and exits 1 (issue 8 item 14)") {
  Scratch s("zero");
  const auto r = run_command(program("ppx") + " infer -q --simulator " + gum() +
                             " --traces 200 --observe obs0=1e308 --observe obs1=1e308 --out " + (s / "out").string() +
                             " 2>&1");
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("no trace had non-zero likelihood") != std::string::npos);
  const auto posterior = nlohmann::json::parse(slurp(s / "out" / "posterior.json"));
  CHECK(posterior["failure"].get<std::string>().find("no trace had non-zero likelihood") != std::string::npos);
}

TEST_CASE("the query is checked against the model (issue 9 section 2)") {
  const std::string sim = "--simulator " + gum() + " --traces 20 ";
  check_cases({
      {sim + "--observe ob0=8", 2, "--observe ob0: the model has no observe or sample statement of that name"},
      {sim + "--observe ob0=8", 2, "mu, obs0, obs1"},
      {sim + "--observe 'obs0=[1,2]'", 2, "observation 'obs0' has shape [2]"},
      {sim + "--observe 'obs0=[1,2]'", 2, "shape [] (a scalar)"},
      {sim + "--chains 2", 2, "--chains does not apply to --engine is"},
      {sim + "--engine rmh --batch 8", 2, "--batch does not apply to --engine rmh"},
  });
  // An observe without a value is named; with none at all the run says it samples the prior.
  const auto one = run_command(program("ppx") + " infer " + sim + "--observe obs0=8 2>&1");
  CHECK(one.exit_code == 0);
  CHECK(one.output.find("observe statement obs1 got no value") != std::string::npos);
  const auto none = run_command(program("ppx") + " infer " + sim + "2>&1");
  CHECK(none.exit_code == 0);
  CHECK(none.output.find("this samples the prior, not a posterior") != std::string::npos);
}

TEST_CASE("--connect to nothing fails at once, naming the endpoint (issue 9 section 2)") {
  Scratch s("connect");
  const auto start = std::chrono::steady_clock::now();
  check_cases({
      {"--connect ipc://" + (s / "nothing").string(), 1, "no socket at"},
      {"--connect tcp://127.0.0.1:1", 1, "connection refused"},
      {"--connect foo", 2, "bad endpoint 'foo': expected tcp://HOST:PORT or ipc://PATH"},
  });
  // Far below one handshake deadline (30 s): nothing waited for an answer.
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
}

TEST_CASE("-q prints nothing on stderr; --help lists one engine per line without artefacts") {
  const auto quiet = run_command(program("ppx") + " infer -q --simulator " + gum() +
                                 " --traces 50 --observe obs0=8 2>&1 >/dev/null");
  CHECK(quiet.exit_code == 0);
  CHECK(quiet.output.empty());
  const auto help = run_command(program("ppx") + " infer --help");
  CHECK(help.output.find("\n") != std::string::npos);
  CHECK(help.output.find("{false}") == std::string::npos);
  for (const std::string engine : {"is", "lmh", "rmh"}) CHECK(help.output.find("  " + engine + ": ") != std::string::npos);
}
