#!/usr/bin/env bash
# Installs the build into a scratch prefix, then configures, builds and runs a downstream
# simulator that uses find_package(ppx) (without setting the C++ standard itself), a program
# running in-process IS with the installed engine headers, a GSL simulator instrumented through the
# installed ppx::gsl_rng adapter (when built), and a simulator built with pkg-config.
set -euo pipefail
build=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$here" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
out=$("$work/build/downstream_simulator")
echo "find_package: $out"
[[ "$out" =~ ^-?[0-9.e+-]+$ ]]
# 20,000 prior-IS traces on gum give ESS of several thousand and a standard error of the mean
# near 0.015: 0.1 is more than 5 standard errors from the exact 7.25.
mean=$("$work/build/downstream_in_process")
echo "in-process IS: mean mu = $mean (exact 7.25)"
awk -v m="$mean" 'BEGIN { d = m - 7.25; exit !(d < 0.1 && d > -0.1) }'
# The GSL adapter, exported with the library: a GSL simulator links ppx::gsl_rng alone.
if [ -x "$work/build/downstream_gsl_walk" ]; then
  walk=$("$work/build/downstream_gsl_walk")
  echo "find_package ppx::gsl_rng: $walk"
  [[ "$walk" =~ ^-?[0-9.e+-]+$ ]]
elif [ "${PPX_EXPECT_GSL:-}" = 1 ]; then
  echo "ppx::gsl_rng was not exported although this build has GSL" >&2
  exit 1
fi
flags=$(PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --cflags --libs ppx)
g++ "$here/main.cpp" -o "$work/pkgconfig_simulator" $flags
out2=$("$work/pkgconfig_simulator")
echo "pkg-config: $out2"
[ "$out" = "$out2" ]
echo "downstream builds: OK"
