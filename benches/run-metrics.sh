#!/usr/bin/env bash
# Instructions per metrics record, side by side (callgrind, all threads):
# OpenTelemetry's SDK histogram (a duration at hand, and one measured around
# the call) and tracekit's unsampled #[trace_fn] call with metrics on, less
# the same call with metrics off. Each figure: two runs with different call
# counts, the difference divided by the extra calls. PERFORMANCE.md
# ("Metrics from traces") reports them.
# Usage: bash benches/run-metrics.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --profile bench -p tracekit-benches --bin count-metrics
bin=target/release/count-metrics
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 \
    | grep -oE 'Collected : [0-9]+' | grep -oE '[0-9]+'
}
per_call() {
  local a b
  a=$(count "$1" 100000)
  b=$(count "$1" 300000)
  echo $(( (b - a) / 200000 ))
}
otel=$(per_call otel)
timed=$(per_call otel-timed)
on=$(per_call tracekit)
off=$(per_call tracekit-off)
echo "opentelemetry_sdk Histogram::record, 2 attributes: $otel instructions"
echo "  with Instant::now() twice around the call: $timed instructions"
echo "tracekit, unsampled #[trace_fn] call, metrics on less off: $((on - off)) instructions ($on - $off)"
