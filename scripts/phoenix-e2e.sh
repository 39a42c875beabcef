#!/usr/bin/env bash
# End to end against a real OTLP/HTTP receiver: installs Arize Phoenix into
# .phoenix/ (PyPI), starts it on loopback, runs the two_services example
# exporting to it, then reads the spans back through Phoenix's API and checks
# names, parent links across the two processes, attributes and errors
# (tests/e2e/check_phoenix.py). Used by .ci/run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

python=$(bash scripts/venv.sh "$root/.phoenix" "$root/tests/e2e/requirements.txt")
free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
work=$(mktemp -d)
log="$work/phoenix.log"
export PHOENIX_WORKING_DIR="$work" PHOENIX_TELEMETRY_ENABLED=false PHOENIX_GRPC_PORT=$(free_port)
"$root/.phoenix/bin/phoenix" serve --host 127.0.0.1 --port "$port" >"$log" 2>&1 &
phoenix=$!
cleanup() { kill "$phoenix" 2>/dev/null || true; wait "$phoenix" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# Build first, so that the example's run is quick while Phoenix starts.
cargo build -q --example two_services

base="http://127.0.0.1:$port"
for _ in $(seq 1 180); do
    if "$python" -c "import urllib.request,sys; urllib.request.urlopen('$base/v1/projects', timeout=2)" 2>/dev/null; then
        break
    fi
    kill -0 "$phoenix" 2>/dev/null || { echo "phoenix exited:"; cat "$log"; exit 1; }
    sleep 1
done

# Runs two_services exporting to $1 and sets trace_id to the trace it made.
run_two_services() {
    local out
    # Phoenix takes spans only: its metrics go nowhere (scripts/metrics-e2e.sh
    # checks them).
    out=$(OTEL_EXPORTER_OTLP_ENDPOINT="$1" OTEL_METRICS_EXPORTER=none \
        timeout 120 cargo run -q --example two_services 2>&1) || {
        echo "$out"
        exit 1
    }
    echo "$out"
    # The frontend names the trace in its W3C traceresponse header.
    trace_id=$(grep -o '^client <- 200 .*(trace [0-9a-f]*)' <<<"$out" | grep -o '[0-9a-f]\{32\}') || {
        echo "the example printed no trace id"
        exit 1
    }
}

run_two_services "$base"
"$python" tests/e2e/check_phoenix.py "$base" "$trace_id" || { echo "--- phoenix log"; tail -50 "$log"; exit 1; }

# What Phoenix's API does not show (the resource, OTLP span kinds): the same
# run against a bare receiver on the official protobuf definitions.
sink_port=$(free_port)
"$python" tests/e2e/otlp_sink.py serve "$sink_port" "$work/spans.jsonl" &
sink=$!
trap 'kill $sink 2>/dev/null || true; cleanup' EXIT
sleep 1
run_two_services "http://127.0.0.1:$sink_port"
"$python" tests/e2e/otlp_sink.py check "$work/spans.jsonl" "$trace_id"
