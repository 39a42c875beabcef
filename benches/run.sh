#!/usr/bin/env bash
# Reproduces PERFORMANCE.md: criterion times (trace-all on, then off) and
# callgrind instruction counts per call, all threads, collection included,
# for each workload: a sync fn, an async fn, a method.
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
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" "$2" "$3" "$4" 2>&1 \
    | grep -oE 'Collected : [0-9]+' | grep -oE '[0-9]+'
}
per_call() {
  local bin=$1 name=$2 workload=$3 a b
  a=$(count "$bin" "$name" 100 "$workload")
  b=$(count "$bin" "$name" 2100 "$workload")
  echo "$workload $name $(( (b - a) / 200000 ))"
}
cargo build -q --profile bench -p tracekit-benches --bin count-instructions
cp target/release/count-instructions "$out/count-on"
cargo build -q --profile bench -p tracekit-benches --no-default-features --bin count-instructions
cp target/release/count-instructions "$out/count-off"
{
  for w in sync async method; do
    for c in tracekit fastrace fastrace-properties tracing-registry tracing-opentelemetry untraced; do
      per_call "$out/count-on" "$c" "$w"
    done
    per_call "$out/count-off" tracekit-off "$w"
  done
} | tee "$out/instructions.txt"

# Criterion reports the time per root (100 calls); print per call and ratios.
python3 - "$out" <<'PY'
import re, sys, pathlib
out = pathlib.Path(sys.argv[1])
unit = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6}
groups = {"sync": "sync_fn_two_u64_args", "async": "async_fn_two_u64_args",
          "method": "method_two_u64_args"}
times = {}
for f in ("on.txt", "off.txt"):
    text = (out / f).read_text()
    for m in re.finditer(r"(\w+)/(\S+)\s+time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", text):
        times[(m.group(1), m.group(2))] = float(m.group(3)) * unit[m.group(4)] / 100
instr = {}
for line in (out / "instructions.txt").read_text().splitlines():
    if line.strip():
        w, name, n = line.split()
        instr[(w, name)] = n
for w, group in groups.items():
    base = times.get((group, "tracekit"))
    print(f"\n{group}")
    print(f"{'contender':<24}{'ns/call':>10}{'x tracekit':>12}{'instr/call':>12}")
    for name in ["tracekit", "fastrace", "fastrace-properties", "tracing-registry",
                 "tracing-opentelemetry", "tracekit-off", "untraced"]:
        t = times.get((group, name))
        ratio = f"{t / base:.2f}" if t and base else "-"
        shown = f"{t:.1f}" if t is not None else "-"
        print(f"{name:<24}{shown:>10}{ratio:>12}{instr.get((w, name), '-'):>12}")
PY
