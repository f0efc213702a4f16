#!/usr/bin/env bash
# A short fixed-time fuzz run for the test suite: seeds from our own encoder, then each harness for
# its share of the time; prints the executions and time libFuzzer reports. Fails on any crash,
# hang, leak or sanitizer report.
#   run_fuzz.sh FUZZ_BUILD_DIR WORK_DIR SECONDS_PER_HARNESS
set -euo pipefail
build=$1 work=$2 seconds=${3:-25}
rm -rf "$work"
mkdir -p "$work/seeds/codec" "$work/seeds/serve" "$work/corpus/codec" "$work/corpus/serve"
"$build/fuzz_seeds" "$work/seeds/codec" "$work/seeds/serve"
status=0
for harness in codec serve; do
  log="$work/$harness.log"
  if ! "$build/fuzz_$harness" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len=4096 \
      -print_final_stats=1 "$work/corpus/$harness" "$work/seeds/$harness" >"$log" 2>&1; then
    status=1
    tail -40 "$log"
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  done_line=$(grep -E '^Done [0-9]+ runs in' "$log" || true)
  echo "fuzz_$harness: ${runs} executions in ${seconds} s (${done_line:-no summary}); corpus $(ls "$work/corpus/$harness" | wc -l) inputs"
done
exit $status
