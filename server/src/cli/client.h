#pragma once
// `ppx submit|status|wait|results|cancel|list`: the command line of a running ppxd.
// The daemon's address and token come from --daemon/--token or PPX_DAEMON/PPX_TOKEN
// (default http://127.0.0.1:8080). Exit codes: 0 done, 1 the query failed, was cancelled or
// interrupted, or the daemon refused the request (its message on stderr), 2 usage error.
#include <CLI/CLI.hpp>
#include <functional>
#include <optional>

namespace ppx::cli {

// Adds the subcommands to `app`; the returned function runs the one that was parsed, if any.
std::function<std::optional<int>()> add_client_commands(CLI::App& app);

}  // namespace ppx::cli
