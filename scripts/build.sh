#!/usr/bin/env bash
# Installs missing Debian packages, then configures and builds ppxd into build/ (programs in build/bin).
# Extra arguments go to the build step (e.g. a target name).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# ccache: paths relative to the checkout, so clones and worktrees share hits.
export CCACHE_BASEDIR="$PWD"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B build -DCMAKE_BUILD_TYPE="${PPX_BUILD_TYPE:-RelWithDebInfo}" "${launcher[@]}" >/dev/null
cmake --build build -j "$(nproc)" "$@"
