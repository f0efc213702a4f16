#!/usr/bin/env bash
# The main job on a fresh machine: build, then infer the posterior of the Gaussian-unknown-mean
# model from two simulator processes over PPX, and print it next to the exact posterior.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh --target ppx gum
echo "== ppx infer: importance sampling, 20000 traces, 2 simulator processes ==" >&2
build/bin/ppx infer --simulator 'build/bin/gum --serve {endpoint}' --workers 2 \
  --engine is --traces 20000 --observe obs0=8 --observe obs1=9 --seed 1 --out out/gum
echo
build/bin/gum --exact --observe obs0=8 --observe obs1=9
echo
echo "(posterior.json and samples.csv are in out/gum)"
