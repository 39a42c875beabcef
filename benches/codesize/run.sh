#!/usr/bin/env bash
# What instrumenting costs at build time and in the binary: a crate of 400
# traced functions and 400 traced methods (benches/codesize/generate.py), in
# four variants (untraced, tracekit, tracing, fastrace). For each, the time of
# an incremental rebuild after touching the file (median of 3, debug and
# release) and the stripped release binary's size, growth per instrumented
# function against the untraced build, and the ratios to fastrace.
# Usage: bash benches/codesize/run.sh   (from anywhere; about 10 minutes)
# CODESIZE_VARIANTS="untraced tracekit fastrace" CODESIZE_REPS=1 for a quicker
# look (untraced and fastrace are needed for the ratios).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=target/codesize
python3 benches/codesize/generate.py "$out" runtime
export CARGO_TARGET_DIR="$PWD/$out/target"
read -r -a variants <<< "${CODESIZE_VARIANTS:-untraced tracekit tracing fastrace}"
reps=${CODESIZE_REPS:-3}
cd "$out"
# Dependencies once, so the timings below are the crate alone.
for v in "${variants[@]}"; do
  cargo build -q -p "codesize-$v"
  cargo build -q -p "codesize-$v" --release
done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
rebuild() { # variant, cargo profile flag
  for _ in $(seq "$reps"); do
    touch "$1/src/main.rs"
    local t0 t1
    t0=$(date +%s.%N)
    cargo build -q -p "codesize-$1" $2
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc
  done | median
}

: > results.txt
for v in "${variants[@]}"; do
  debug=$(rebuild "$v" "")
  release=$(rebuild "$v" "--release")
  # Each program runs once: the tracekit one asserts that all 800 trace
  # points are listed in its optimised build.
  "target/release/codesize-$v" > /dev/null
  cp "target/release/codesize-$v" "size-$v"
  strip "size-$v"
  size=$(stat -c %s "size-$v")
  echo "$v $debug $release $size" | tee -a results.txt
done

python3 - <<'PY'
rows = {}
for line in open("results.txt"):
    v, debug, release, size = line.split()
    rows[v] = (float(debug), float(release), int(size))
base = rows["untraced"][2]
fns = 800
print()
print(f"{'variant':<10}{'debug s':>9}{'release s':>11}{'binary':>10}{'bytes/fn':>10}"
      f"{'debug/fr':>10}{'release/fr':>12}{'size/fr':>9}")
fr = rows["fastrace"]
fr_growth = (fr[2] - base) / fns
for v, (d, r, s) in rows.items():
    growth = (s - base) / fns
    ratio = lambda a, b: f"{a / b:.2f}" if b else "-"
    print(f"{v:<10}{d:>9.2f}{r:>11.2f}{s:>10}{growth:>10.0f}"
          f"{ratio(d, fr[0]):>10}{ratio(r, fr[1]):>12}"
          f"{(ratio(growth, fr_growth) if v not in ('untraced',) else '-'):>9}")
PY
