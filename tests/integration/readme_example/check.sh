#!/usr/bin/env bash
# The README's instrumenting example, as a user meets it: the C++ block under "Instrumenting a
# simulator" is cut out of README.md, built against an installed ppx with pkg-config and
# -Wall -Wextra -Werror, run standalone, and driven by `ppx infer --workers 4`; the posterior mean
# of mu must match the exact 7.25 within 5 standard errors (SE = sd / sqrt(ESS), sd = 0.9129).
set -euo pipefail
build=$1
work=$2
readme=$3
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 - "$readme" "$work/mysim.cpp" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
section = text[text.index("## Instrumenting a simulator"):]
block = re.search(r"```cpp\n(.*?)```", section, re.S)
if not block or "simulator_main" not in block.group(1):
    sys.exit("README: no C++ example using ppx::simulator_main under 'Instrumenting a simulator'")
open(sys.argv[2], "w").write(block.group(1))
PY
cmake --install "$build" --prefix "$work/prefix" >/dev/null
flags=$(PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --cflags --libs ppx)
g++ -Wall -Wextra -Werror -O1 "$work/mysim.cpp" -o "$work/mysim" $flags
# Standalone runs print one result per line; --help exits 0; a bad flag is a usage error (2).
[ "$("$work/mysim" --seed 3 --runs 2 | wc -l)" = 2 ]
"$work/mysim" --help >/dev/null
set +e
"$work/mysim" --no-such-flag 2>/dev/null
code=$?
set -e
[ "$code" = 2 ] || { echo "usage error exited $code, expected 2"; exit 1; }
"$build/bin/ppx" infer -q --simulator "$work/mysim --serve {endpoint}" --workers 4 --traces 4000 \
    --observe obs0=8 --observe obs1=9 --seed 1 --json > "$work/posterior.json"
/usr/bin/python3 - "$work/posterior.json" <<'PY'
import json, math, sys
p = json.load(open(sys.argv[1]))
mean, ess = p["variables"]["mu"]["mean"], p["diagnostics"]["ess"]
assert p["query"]["model_name"] == "mysim", p["query"]["model_name"]
assert abs(mean - 7.25) < 5 * 0.9129 / math.sqrt(ess), (mean, ess)
print(f"README example: mu mean {mean:.4f} (exact 7.25), ESS {ess:.0f}: OK")
PY
