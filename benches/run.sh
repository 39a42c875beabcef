#!/usr/bin/env bash
# Reproduces the tables of PERFORMANCE.md, for each workload (sync fn, async
# fn, method) and contender:
#  1. criterion, each contender in its own process (nothing else installed);
#  2. a plain loop (src/bin/plain_loop.rs), each contender in its own
#     process, 3 s in steady state, with its peak memory;
#  3. instructions per call under valgrind --tool=callgrind, all threads,
#     every span delivered (see src/bin/count_instructions.rs).
# Usage: bash benches/run.sh   (from anywhere; about 30 minutes; needs valgrind)
# BENCH_WORKLOADS="sync" BENCH_CONTENDERS="tracekit fastrace" for less.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/bench-report
mkdir -p "$out"
read -r -a workloads <<< "${BENCH_WORKLOADS:-sync async method}"
read -r -a contenders <<< "${BENCH_CONTENDERS:-tracekit tracekit-unsampled tracekit-disabled fastrace fastrace-noop fastrace-properties tracing-registry tracing-opentelemetry tracing-tracekit untraced}"
group() { case $1 in sync) echo sync_fn_two_u64_args;; async) echo async_fn_two_u64_args;; method) echo method_two_u64_args;; esac; }

# Binaries: with the peers; tracekit alone (for its instruction count: no
# fastrace start-up calibration linked in); tracing compiled out.
cargo build -q --profile bench -p tracekit-benches --bins --benches
cp target/release/count-instructions "$out/count-peers"
cp target/release/plain-loop "$out/plain-loop"
cargo build -q --profile bench -p tracekit-benches --no-default-features --features trace-all --bin count-instructions
cp target/release/count-instructions "$out/count-tracekit"
cargo build -q --profile bench -p tracekit-benches --no-default-features --bins
cp target/release/count-instructions "$out/count-off"
cp target/release/plain-loop "$out/plain-loop-off"

: > "$out/criterion.txt"; : > "$out/plain.txt"; : > "$out/instructions.txt"
for w in "${workloads[@]}"; do
  g=$(group "$w")
  for c in "${contenders[@]}"; do
    t=$(cargo bench -q -p tracekit-benches --bench trace_fn -- --exact "$g/$c" \
          --measurement-time 4 --warm-up-time 1 --noplot 2>&1 | grep -E "^ +time:" | head -1 || true)
    echo "$w $c $t" | tee -a "$out/criterion.txt"
    /usr/bin/time -f "rss_kb %M" "$out/plain-loop" "$c" "$w" 3 2> "$out/rss.tmp" | tee -a "$out/plain.txt"
    tee -a "$out/plain.txt" < "$out/rss.tmp"
  done
  t=$(cargo bench -q -p tracekit-benches --no-default-features --bench trace_fn -- --exact "$g/tracekit-off" \
        --measurement-time 4 --warm-up-time 1 --noplot 2>&1 | grep -E "^ +time:" | head -1 || true)
  echo "$w tracekit-off $t" | tee -a "$out/criterion.txt"
  "$out/plain-loop-off" tracekit "$w" 3 | sed 's/^tracekit /tracekit-off /' | tee -a "$out/plain.txt"
done

# Instructions: two runs with different root counts, the difference divided
# by the extra calls. tracekit's count is exact from run to run; a binary
# with fastrace linked in varies by its start-up calibration (10 ms of
# spinning), so the peers get more extra calls to dilute it.
count() { # binary contender roots workload
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 \
    | grep -oE 'Collected : [0-9]+' | grep -oE '[0-9]+'
}
per_call() { # binary name roots workload
  local a b
  a=$(count "$1" "$2" 100 "$4")
  b=$(count "$1" "$2" $((100 + $3)) "$4")
  echo "$4 $2 $(( (b - a) / ($3 * 100) ))"
}
for w in "${workloads[@]}"; do
  for c in "${contenders[@]}"; do
    case $c in
      tracekit|tracekit-unsampled|tracekit-disabled) per_call "$out/count-tracekit" "$c" 2000 "$w" ;;
      untraced) per_call "$out/count-tracekit" untraced 2000 "$w" ;;
      tracing-opentelemetry) per_call "$out/count-peers" "$c" 500 "$w" ;;
      *) per_call "$out/count-peers" "$c" 10000 "$w" ;;
    esac
  done
  per_call "$out/count-off" tracekit 2000 "$w" | sed 's/ tracekit / tracekit-off /'
done | tee -a "$out/instructions.txt"

python3 - "$out" <<'PY'
import re, sys, pathlib
out = pathlib.Path(sys.argv[1])
unit = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6}
crit, plain, rss, instr = {}, {}, {}, {}
for line in (out / "criterion.txt").read_text().splitlines():
    m = re.match(r"(\w+) (\S+)\s+time:\s+\[\S+ \S+ (\S+) (\S+)", line)
    if m:
        crit[(m[1], m[2])] = float(m[3]) * unit[m[4]] / 100
last = None
for line in (out / "plain.txt").read_text().splitlines():
    m = re.match(r"(\S+) (\w+) median (\S+) ns/call", line)
    if m:
        last = (m[2], m[1]); plain[last] = float(m[3])
    m = re.match(r"rss_kb (\d+)", line)
    if m and last:
        rss[last] = int(m[1]) / 1024
for line in (out / "instructions.txt").read_text().splitlines():
    w, name, n = line.split()
    instr[(w, name)] = int(n)
names = ["tracekit", "tracekit-unsampled", "tracekit-disabled", "fastrace",
         "fastrace-noop", "fastrace-properties", "tracing-registry",
         "tracing-opentelemetry", "tracekit-off", "untraced"]
for w in ["sync", "async", "method"]:
    if not any(k[0] == w for k in list(crit) + list(plain) + list(instr)):
        continue
    base_c, base_p = crit.get((w, "fastrace")), plain.get((w, "fastrace"))
    print(f"\n{w}: ns/call (criterion, plain loop), x fastrace bare, peak RSS, instructions/call")
    print(f"{'contender':<24}{'criterion':>10}{'x fr':>7}{'plain':>9}{'x fr':>7}{'RSS MB':>9}{'instr':>8}")
    for n in names:
        c, p = crit.get((w, n)), plain.get((w, n))
        f = lambda v, b: f"{v / b:.2f}" if v is not None and b else "-"
        s = lambda v: f"{v:.1f}" if v is not None else "-"
        r = rss.get((w, n))
        print(f"{n:<24}{s(c):>10}{f(c, base_c):>7}{s(p):>9}{f(p, base_p):>7}"
              f"{(f'{r:.0f}' if r else '-'):>9}{instr.get((w, n), '-'):>8}")
PY
