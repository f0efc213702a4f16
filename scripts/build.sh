#!/usr/bin/env bash
# Installs missing Debian packages, then configures and builds ppxd into build/ (programs in build/bin).
# Extra arguments go to the build step (e.g. a target name).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE="${PPX_BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build build -j "$(nproc)" "$@"
