#!/usr/bin/env bash
# Reproduces PERFORMANCE.md: criterion times (trace-all on, then off) and
# callgrind instruction counts per call, all threads, collection included.
# Usage: bash benches/run.sh   (from the repository root; needs valgrind)
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/bench-report
mkdir -p "$out"
crit=(--measurement-time 4 --warm-up-time 1 --noplot)

cargo bench -q -p tracekit-benches --bench trace_fn -- "${crit[@]}" 2>&1 | tee "$out/on.txt"
cargo bench -q -p tracekit-benches --no-default-features --bench trace_fn -- "${crit[@]}" tracekit-off 2>&1 | tee "$out/off.txt"

# Instructions: two runs with different root counts; the difference divided
# by the extra calls (200,000) cancels start-up and set-up. The counts still
# vary between runs (by up to about 100 per call): fastrace's start-up clock
# calibration spins a time-dependent number of instructions, and how many
# spans each background drain handles depends on timing. See PERFORMANCE.md.
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" "$2" "$3" 2>&1 \
    | grep -oE 'Collected : [0-9]+' | grep -oE '[0-9]+'
}
per_call() {
  local bin=$1 name=$2 a b
  a=$(count "$bin" "$name" 100)
  b=$(count "$bin" "$name" 2100)
  echo "$name $(( (b - a) / 200000 ))"
}
cargo build -q --profile bench -p tracekit-benches --bin count-instructions
cp target/release/count-instructions "$out/count-on"
cargo build -q --profile bench -p tracekit-benches --no-default-features --bin count-instructions
cp target/release/count-instructions "$out/count-off"
{
  for c in tracekit fastrace fastrace-properties tracing-registry tracing-opentelemetry untraced; do
    per_call "$out/count-on" "$c"
  done
  per_call "$out/count-off" tracekit-off
} | tee "$out/instructions.txt"

# Criterion reports the time per root (100 calls); print per call and ratios.
python3 - "$out" <<'PY'
import re, sys, pathlib
out = pathlib.Path(sys.argv[1])
unit = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6}
times = {}
for f in ("on.txt", "off.txt"):
    text = (out / f).read_text()
    for m in re.finditer(r"sync_fn_two_u64_args/(\S+)\s+time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", text):
        times[m.group(1)] = float(m.group(2)) * unit[m.group(3)] / 100
instr = dict(l.split() for l in (out / "instructions.txt").read_text().splitlines() if l.strip())
base = times.get("tracekit")
print(f"{'contender':<24}{'ns/call':>10}{'x tracekit':>12}{'instr/call':>12}")
for name in ["tracekit", "fastrace", "fastrace-properties", "tracing-registry",
             "tracing-opentelemetry", "tracekit-off", "untraced"]:
    t = times.get(name)
    ratio = f"{t / base:.2f}" if t and base else "-"
    print(f"{name:<24}{t if t is not None else float('nan'):>10.1f}{ratio:>12}{instr.get(name, '-'):>12}")
PY
