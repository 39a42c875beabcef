#!/usr/bin/env bash
# The service benchmark of issue 28: what tracing adds to a real service's
# request (see src/main.rs for the service, the client and the modes).
#
# Usage, from anywhere (about 2 minutes a round on 2 cores with the
# defaults; take the figures on a quiet machine):
#   bash benches/service/run.sh
#   ROUNDS=1 REQUESTS=20000 WARMUP=2000 bash benches/service/run.sh   # a smoke run
#   MODES="untraced tracekit fastrace" bash benches/service/run.sh
# Settings (environment): ROUNDS (5), REQUESTS (200000 measured per run),
# WARMUP (20000 before them), CONNECTIONS (16), MODES (all six), SPIN (the
# busy-loop iterations that make 1 µs of work; calibrated once here when
# unset, then the same for every run).
#
# It builds the release binaries, starts otlp-sink (the loopback OTLP/HTTP
# receiver, its own process, so its CPU is not the service's), and runs
# every mode in a process of its own, ROUNDS times, in rotated order (round
# r starts at mode r mod the number of modes). An OTLP mode resets the
# sink's count before it starts and reads it after its exporter has shut
# down. Each run prints one RESULT line, kept in
# $CARGO_TARGET_DIR/service-bench/results.txt; the table is made from them
# (stdout, and table.md beside them, ready for PERFORMANCE.md).
#
# The table (medians over the rounds):
#   req/s       requests per second over the measured requests (wall time)
#   p50, p99    each request's latency at the client, in µs (16 in flight)
#   CPU/req     user + system CPU time of the service's process (server,
#               client and the tracer's threads), µs per request
#   added       CPU/req minus the untraced service's
#   x fastrace  added, as a multiple of fastrace's added
#   peak RSS    the process's VmHWM, MiB
#   spans lost  spans the requests made (4 a request, warm-up included)
#               minus spans delivered to the reporter, exporter or OTLP
#               receiver after the shutdown: min-max over the rounds
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

rounds="${ROUNDS:-5}"
requests="${REQUESTS:-200000}"
warmup="${WARMUP:-20000}"
connections="${CONNECTIONS:-16}"
read -r -a modes <<< "${MODES:-untraced tracekit tracekit-otlp tracing-otel tracing-otel-otlp fastrace}"

cargo build --release -q -p tracekit-bench-service
target="${CARGO_TARGET_DIR:-$root/target}"
bin="$target/release"
out="$target/service-bench"
mkdir -p "$out"
results="$out/results.txt"
: > "$results"

spin="${SPIN:-$("$bin/service" calibrate)}"

rm -f "$out/sink.addr"
"$bin/otlp-sink" --addr-file "$out/sink.addr" > "$out/sink.log" 2>&1 &
sink_pid=$!
trap 'kill "$sink_pid" 2> /dev/null || true' EXIT
for _ in $(seq 100); do
  [[ -s "$out/sink.addr" ]] && break
  sleep 0.05
done
sink="$(cat "$out/sink.addr")"

echo "service benchmark: $rounds round(s), ${#modes[@]} modes, $requests requests after $warmup," \
     "$connections connections, spin $spin, $(nproc) cores; sink $sink" >&2
n=${#modes[@]}
for ((r = 0; r < rounds; r++)); do
  for ((i = 0; i < n; i++)); do
    mode="${modes[$(((r + i) % n))]}"
    line="$("$bin/service" "$mode" --requests "$requests" --warmup "$warmup" \
              --connections "$connections" --spin "$spin" --otlp "$sink" | grep '^RESULT ')"
    echo "$line round=$r" | tee -a "$results" >&2
  done
done

python3 - "$results" <<'EOF' | tee "$out/table.md"
import statistics, sys

runs = {}
for line in open(sys.argv[1]):
    fields = dict(kv.split("=", 1) for kv in line.split()[1:])
    runs.setdefault(fields["mode"], []).append(fields)

def median(mode, key):
    return statistics.median(float(r[key]) for r in runs[mode])

base = median("untraced", "cpu_us_per_req") if "untraced" in runs else None
added = {m: median(m, "cpu_us_per_req") - base for m in runs} if base is not None else {}
fastrace = added.get("fastrace")

order = ["untraced", "tracekit", "tracekit-otlp", "tracing-otel", "tracing-otel-otlp", "fastrace"]
rows = [m for m in order if m in runs] + sorted(m for m in runs if m not in order)
print("| mode | req/s | p50 µs | p99 µs | CPU µs/request | added µs | × fastrace | peak RSS MiB | spans lost |")
print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
for m in rows:
    lost = [int(r["spans_lost"]) for r in runs[m]]
    expected = max(int(r["spans_expected"]) for r in runs[m])
    lost_text = f"{min(lost)}" if min(lost) == max(lost) else f"{min(lost)}–{max(lost)}"
    if max(lost) > 0 and expected:
        lost_text += f" ({100 * max(lost) / expected:.2g}% at most)"
    a = added.get(m)
    added_text = "—" if a is None or m == "untraced" else f"{a:.2f}"
    times_text = "—" if a is None or not fastrace or m in ("untraced", "fastrace") else f"{a / fastrace:.1f}×"
    print(f"| {m} | {median(m, 'rps'):,.0f} | {median(m, 'p50_us'):.0f} | {median(m, 'p99_us'):.0f} "
          f"| {median(m, 'cpu_us_per_req'):.2f} | {added_text} | {times_text} "
          f"| {median(m, 'rss_kib') / 1024:.1f} | {lost_text} |")
rounds = {len(v) for v in runs.values()}
print(f"\n{'/'.join(map(str, sorted(rounds)))} round(s) a mode; medians. "
      f"{runs[rows[0]][0]['requests']} requests after {runs[rows[0]][0]['warmup']}, "
      f"{runs[rows[0]][0]['connections']} connections.")
EOF
