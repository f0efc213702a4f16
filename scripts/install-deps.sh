#!/usr/bin/env bash
# Installs the Debian 12 packages ppxd builds against, if any are missing.
# Idempotent and non-interactive; needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config gfortran
  libzmq3-dev cppzmq-dev
  libflatbuffers-dev flatbuffers-compiler
  libspdlog-dev libfmt-dev
  catch2 libboost-dev
  libcli11-dev nlohmann-json3-dev
  libcairo2-dev
  ccache
  # inference compilation: LibTorch (CPU) on an optimised BLAS, Gloo for data-parallel training
  libtorch-dev libopenblas0-openmp libgloo-dev
  # the daemon: HTTP (Boost.Beast is in libboost-dev), config, result index, ArviZ-readable NetCDF
  libtomlplusplus-dev libsqlite3-dev libnetcdf-dev
  # random-engine adapters (stack addresses: libunwind)
  libgsl-dev libclhep-dev libunwind-dev
  # fuzzing (clang's libFuzzer)
  clang libfuzzer-14-dev
  # tests: hostile Python peers, reading results back, the web page in a real browser
  python3-zmq python3-numpy python3-pandas python3-xarray python3-netcdf4 chromium
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
