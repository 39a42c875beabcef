#!/usr/bin/env bash
# CI's guard on the hot path: instructions per `#[trace_fn]` call (a sync fn
# with two u64 arguments, recorded and delivered to a discarding reporter),
# counted by callgrind over all threads. The count is exact from run to run:
# every span is delivered on the measured thread (src/bin/count_instructions.rs)
# and the binary is built without the peers, whose start-up calibration
# varies. Fails when the count exceeds LIMIT (PERFORMANCE.md says how the
# limit is set).
# Usage: bash benches/check-instructions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
LIMIT=${LIMIT:-300}
cargo build -q --profile bench -p tracekit-benches --no-default-features --features trace-all --bin count-instructions
bin=target/release/count-instructions
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" tracekit "$1" sync 2>&1 \
    | grep -oE 'Collected : [0-9]+' | grep -oE '[0-9]+'
}
a=$(count 100)
b=$(count 2100)
per_call=$(( (b - a) / 200000 ))
echo "tracekit #[trace_fn], sync fn with two u64 args: $per_call instructions per call (limit $LIMIT)"
if [ "$per_call" -gt "$LIMIT" ]; then
  echo "FAIL: the hot path regressed past $LIMIT instructions per call" >&2
  exit 1
fi
