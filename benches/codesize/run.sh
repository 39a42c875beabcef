#!/usr/bin/env bash
# What instrumenting costs at build time and in the binary: a crate of 400
# traced functions and 400 traced methods (benches/codesize/generate.py), in
# four variants (untraced, tracekit, tracing, fastrace).
# - Build time: the incremental rebuild after touching the file (median of
#   3, debug and release, the variants taking turns), in the shape where
#   every function is inlined into `main` (the issue's measurement).
# - Size: the stripped release binary's growth per instrumented function
#   against the untraced build, in two shapes (`inlined` into main, and
#   `standalone`: each function #[inline(never)]), both as growth divided by
#   800 (runtime included) and as the marginal cost of a function (the
#   difference between the 800-function and the 400-function crates, divided
#   by 400: the runtime's fixed size cancels out). Ratios to fastrace.
# Usage: bash benches/codesize/run.sh   (from anywhere; about 15 minutes)
# CODESIZE_VARIANTS="untraced tracekit fastrace" CODESIZE_REPS=1 for a quicker
# look (untraced and fastrace are needed for the ratios).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
root=$PWD/target/codesize
runtime=$PWD/runtime
export CARGO_TARGET_DIR="$root/target"
read -r -a variants <<< "${CODESIZE_VARIANTS:-untraced tracekit tracing fastrace}"
reps=${CODESIZE_REPS:-3}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Build time, and the size of the inlined 800-function crate.
python3 benches/codesize/generate.py "$root/inlined-1" "$runtime" inlined 1
cd "$root/inlined-1"
# Dependencies once, so the timings below are the crate alone.
for v in "${variants[@]}"; do
  cargo build -q -p "codesize-$v"
  cargo build -q -p "codesize-$v" --release
done
# One rebuild after touching the file, in seconds.
rebuild_once() { # variant, cargo profile flag
  touch "$1/src/main.rs"
  local t0 t1
  t0=$(date +%s.%N)
  cargo build -q -p "codesize-$1" $2
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}
size_of() { # variant: builds, runs once (tracekit checks every point is listed), strips
  cargo build -q -p "codesize-$1" --release
  "$CARGO_TARGET_DIR/release/codesize-$1" > /dev/null
  cp "$CARGO_TARGET_DIR/release/codesize-$1" "$root/stripped"
  strip "$root/stripped"
  stat -c %s "$root/stripped"
}
: > "$root/results.txt"
# The variants take turns, one rebuild each per round, so that the load of
# this shared machine, which drifts over minutes, weighs on all of them
# alike (timing one variant's rebuilds back to back, then the next's, moved
# the ratios by 0.15 between runs).
: > "$root/samples.txt"
for _ in $(seq "$reps"); do
  for profile in debug release; do
    flag=""
    [ "$profile" = release ] && flag="--release"
    for v in "${variants[@]}"; do
      echo "$v $profile $(rebuild_once "$v" "$flag")" >> "$root/samples.txt"
    done
  done
done
for v in "${variants[@]}"; do
  debug=$(awk -v v="$v" '$1 == v && $2 == "debug" {print $3}' "$root/samples.txt" | median)
  release=$(awk -v v="$v" '$1 == v && $2 == "release" {print $3}' "$root/samples.txt" | median)
  echo "time $v $debug $release" | tee -a "$root/results.txt"
  echo "size inlined 1 $v $(size_of "$v")" | tee -a "$root/results.txt"
done
for shape_scale in "inlined 2" "standalone 1" "standalone 2"; do
  read -r shape scale <<< "$shape_scale"
  python3 "$repo/benches/codesize/generate.py" "$root/$shape-$scale" "$runtime" "$shape" "$scale"
  cd "$root/$shape-$scale"
  for v in "${variants[@]}"; do
    echo "size $shape $scale $v $(size_of "$v")" | tee -a "$root/results.txt"
  done
done

python3 - "$root/results.txt" <<'PY'
import sys
times, sizes = {}, {}
for line in open(sys.argv[1]):
    f = line.split()
    if f[0] == "time":
        times[f[1]] = (float(f[2]), float(f[3]))
    else:
        sizes[(f[1], int(f[2]), f[3])] = int(f[4])
fns = 800
def r(a, b):
    return f"{a / b:.2f}" if b else "-"
print()
print("build time, every function inlined into main (median of the rebuilds, s):")
print(f"{'variant':<10}{'debug':>8}{'release':>9}{'debug/fr':>10}{'release/fr':>12}")
fr = times.get("fastrace")
for v, (d, rel) in times.items():
    print(f"{v:<10}{d:>8.2f}{rel:>9.2f}{r(d, fr[0]) if fr else '-':>10}{r(rel, fr[1]) if fr else '-':>12}")
for shape in ("inlined", "standalone"):
    print()
    print(f"size, {shape}: stripped binary; bytes per function as growth/800 and as marginal (800 vs 400 functions)")
    print(f"{'variant':<10}{'binary':>10}{'growth/fn':>11}{'marginal/fn':>13}{'growth/fr':>11}{'marginal/fr':>13}")
    base = sizes[(shape, 1, "untraced")]
    def per(v):
        full = sizes[(shape, 1, v)]
        growth = (full - base) / fns
        marginal = ((full - sizes[(shape, 2, v)]) - (base - sizes[(shape, 2, "untraced")])) / (fns / 2)
        return full, growth, marginal
    frs = per("fastrace") if (shape, 1, "fastrace") in sizes else None
    for v in [v for (s, k, v) in sizes if s == shape and k == 1]:
        full, g, m = per(v)
        gr = r(g, frs[1]) if frs and v != "untraced" else "-"
        mr = r(m, frs[2]) if frs and v != "untraced" else "-"
        print(f"{v:<10}{full:>10}{g:>11.0f}{m:>13.0f}{gr:>11}{mr:>13}")
PY
