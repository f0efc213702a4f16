// Issue 8, limits: per-trace limits on the command line, and nothing a simulator starts outlives
// ppx. Real processes; every case is bounded.
#include <catch2/catch.hpp>
#include <string>

#include "subprocess.h"
#include "scratch.h"
#include "test_paths.h"

using ppx::test::program;
using ppx::test::run_command;

namespace {

std::string faulty(const std::string& args) {
  return "'" + ppx::test::env_or("PPX_TEST_DIR", "build/tests") + "/faulty_simulator --serve {endpoint} " + args + "'";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

// A simulator that never ends its trace (a rejection loop that never accepts) ran forever. With
// --max-trace-entries the trace is cut off, the simulator restarted and the trace re-run (here
// healthy: --once), so the run completes with every trace; with --max-trace-seconds a trace that
// is endless everywhere ends the run after the retries, naming the limit.
TEST_CASE("--max-trace-entries and --max-trace-seconds cut off a trace that never ends") {
  ppx::test::Scratch scratch("limits");
  const std::string observe = " --observe obs0=1 --observe obs1=2 ";
  const auto cut = run_command(program("ppx") + " infer --simulator " +
                               faulty("--fault endless --after 3 --once " + (scratch / "once").string()) +
                               " --no-whole-trace --traces 20 --max-trace-entries 200 --json" + observe + "2>&1");
  INFO(cut.output);
  CHECK(cut.exit_code == 0);
  CHECK(contains(cut.output, "the trace exceeded the limit of 200 entries"));
  CHECK(contains(cut.output, "\"traces\": 20"));
  CHECK(contains(cut.output, "\"simulator_restarts\": 1"));

  const auto ended = run_command(program("ppx") + " infer --simulator " + faulty("--fault endless") +
                                 " --traces 4 --batch 1 --max-trace-seconds 1" + observe + "2>&1");
  INFO(ended.output);
  CHECK(ended.exit_code == 1);
  CHECK(contains(ended.output, "every simulator failed repeatedly"));
  CHECK(contains(ended.output, "exceeded the limit of 1000 ms per trace"));

  const auto bad = run_command(program("ppx") + " prior --simulator " + faulty("") + " --max-trace-seconds 1.5 2>&1");
  CHECK(bad.exit_code == 2);
  CHECK(contains(bad.output, "--max-trace-seconds"));
}

// A simulator that starts a grandchild in a new session (setsid) took it out of the process group
// ppx kills, and it outlived ppx. ppx is now the subreaper of its simulators' descendants and
// ends those reparented to it when it exits.
TEST_CASE("a simulator's setsid grandchild does not outlive ppx") {
  const std::string marker = "sleep 1000." + std::to_string(::getpid());  // unique to this test run
  const std::string simulator = "'sh -c \"setsid " + marker + " & exec " + program("gum") + " --serve {endpoint}\"'";
  const auto r = run_command(program("ppx") + " prior --simulator " + simulator + " --workers 2 --traces 10 -q 2>&1");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(ppx::test::processes_matching(marker).empty());
}
