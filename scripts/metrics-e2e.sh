#!/usr/bin/env bash
# End to end for span-derived metrics, against real parts:
# - Prometheus (Debian's package, installed when missing) scrapes the
#   metrics_service example's /metrics while it serves REQUESTS requests at
#   a 1% trace sampling ratio; its HTTP API must count every request and
#   every call exactly, and answer rate() and histogram_quantile(0.99);
# - the same service exports OTLP metrics, protobuf then JSON, to a bare
#   receiver on the official protobuf definitions (tests/e2e/metrics_sink.py,
#   opentelemetry-proto from PyPI); the last export, sent at shutdown, must
#   hold the same exact counts; a third run, delta temporality and explicit
#   buckets over JSON, must add up to them across its intervals;
# - the two_services example, with OTEL_EXPORTER_OTLP_ENDPOINT set, sends
#   each process's http.server.request.duration (and the rest) there too.
# Used by .ci/run. Usage: bash scripts/metrics-e2e.sh [REQUESTS]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
requests=${1:-3000}

if ! command -v prometheus >/dev/null; then
    sudo_=""
    [[ $(id -u) -eq 0 ]] || sudo_="sudo"
    $sudo_ apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends prometheus >&2
fi
python=$(bash scripts/venv.sh "$root/.metrics-e2e" "$root/tests/e2e/proto-requirements.txt")
free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cargo build -q --example metrics_service
service="$root/target/debug/examples/metrics_service"
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

sink_port=$(free_port)
"$python" tests/e2e/metrics_sink.py serve "$sink_port" "$work/points.jsonl" &
pids+=($!)

app_port=$(free_port)
prom_port=$(free_port)
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: orders
    static_configs:
      - targets: ["127.0.0.1:$app_port"]
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
pids+=($!)
prom="http://127.0.0.1:$prom_port"

# The service, exporting OTLP metrics every second (protobuf).
OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="http://127.0.0.1:$sink_port/v1/metrics" \
OTEL_METRIC_EXPORT_INTERVAL=1000 OTEL_SERVICE_NAME=orders \
OTEL_RESOURCE_ATTRIBUTES=deployment.environment=e2e \
OTEL_TRACES_SAMPLER=traceidratio OTEL_TRACES_SAMPLER_ARG=0.01 \
    "$service" --port "$app_port" --requests "$requests" --start-after 2 --spread 4 \
    >"$work/service.out" 2>"$work/service.err" &
service_pid=$!
pids+=($service_pid)
for _ in $(seq 1 300); do
    grep -q '^ready' "$work/service.out" 2>/dev/null && break
    kill -0 "$service_pid" 2>/dev/null || { cat "$work/service.out" "$work/service.err"; exit 1; }
    sleep 0.2
done
grep -q '^ready' "$work/service.out" || { echo "the service never finished its requests"; cat "$work/service.err"; exit 1; }
cat "$work/service.out"

query() {
    "$python" - "$prom" "$1" <<'PY'
import json, sys, urllib.parse, urllib.request
base, q = sys.argv[1], sys.argv[2]
r = json.load(urllib.request.urlopen(base + "/api/v1/query?" + urllib.parse.urlencode({"query": q}), timeout=5))
res = r["data"]["result"]
print(res[0]["value"][1] if res else "none")
PY
}
cycles=$((requests / 50))
want_find=$((requests - cycles))
want_served=$requests
# Prometheus must see the totals once a scrape after the load lands.
got=none
for _ in $(seq 1 120); do
    got=$(query 'sum(http_server_request_duration_seconds_count{http_route="/orders/{id}"})' 2>/dev/null || echo none)
    [[ "$got" == "$want_served" ]] && break
    sleep 0.5
done
[[ "$got" == "$want_served" ]] || { echo "prometheus: $got requests served, want $want_served"; tail -20 "$work/prometheus.log"; exit 1; }
find_calls=$(query 'sum(tracekit_function_duration_seconds_count{code_function_name="metrics_service::OrderRepository::find"})')
find_errors=$(query 'sum(tracekit_function_errors_total{code_function_name="metrics_service::OrderRepository::find"})')
find_missing=$(query 'sum(tracekit_function_duration_seconds_count{code_function_name="metrics_service::OrderRepository::find",error_type="metrics_service::NotFound"})')
failed=$(query 'sum(http_server_request_duration_seconds_count{http_response_status_code="500",error_type="500"})')
[[ "$find_calls" == "$want_find" ]] || { echo "prometheus: find counted $find_calls, want $want_find"; exit 1; }
[[ "$find_errors" == "$((cycles * 5))" ]] || { echo "prometheus: find errors $find_errors, want $((cycles * 5))"; exit 1; }
[[ "$find_missing" == "$((cycles * 5))" ]] || { echo "prometheus: find's NotFound series $find_missing, want $((cycles * 5))"; exit 1; }
[[ "$failed" == "$cycles" ]] || { echo "prometheus: 500s $failed, want $cycles"; exit 1; }
# The resource is one target_info series, joined the way dashboards do it.
info=$(query 'count(target_info{service_name="orders",deployment_environment="e2e",telemetry_sdk_name="tracekit"})')
[[ "$info" == 1 ]] || { echo "prometheus: target_info series $info, want 1"; exit 1; }
joined=$(query 'sum(http_server_request_duration_seconds_count{http_route="/orders/{id}"} * on (job, instance) group_left (service_name) target_info)')
[[ "$joined" == "$want_served" ]] || { echo "prometheus: $joined requests joined to target_info, want $want_served"; exit 1; }
# Every series but target_info names the scope it came from, as OTLP's do.
unscoped=$(query 'count({__name__=~"tracekit_.+|http_.+|rpc_.+",otel_scope_name=""})')
scoped=$(query 'count({__name__=~"tracekit_.+|http_.+",otel_scope_name="tracekit",otel_scope_version!=""})')
[[ "$unscoped" == none && "$scoped" != none && "$scoped" -ge 1 ]] || { echo "prometheus: series without the scope's labels ($unscoped), with them ($scoped)"; exit 1; }
# rate() needs two scrapes of the series; the load spans several.
for _ in $(seq 1 40); do
    rate=$(query 'sum(rate(http_server_request_duration_seconds_count[1m]))')
    p99=$(query 'histogram_quantile(0.99, sum by (le) (rate(tracekit_function_duration_seconds_bucket{code_function_name="metrics_service::OrderRepository::find"}[1m])))')
    [[ "$rate" != none && "$p99" != none && "$p99" != NaN ]] && break
    sleep 0.5
done
"$python" - "$rate" "$p99" <<'PY'
import sys
rate, p99 = float(sys.argv[1]), float(sys.argv[2])
assert rate > 0, f"rate {rate}"
# find spins 100 µs: its p99 lies in a bucket above that (the defaults go
# 100 µs, 500 µs, 1 ms, 5 ms, ...), and well below 50 ms, which allows a
# loaded machine to hold up 1% of the spins for a few scheduler slices
# (a unit wrong by 1,000 would still fail).
assert 0.0001 <= p99 <= 0.05, f"p99 {p99}"
print(f"prometheus: every request and call counted; rate {rate:.1f}/s, find p99 {p99 * 1e6:.0f} µs")
PY

# Shutdown sends the last interval: its counts are exact too.
kill -INT "$service_pid"
wait "$service_pid" || true
"$python" tests/e2e/metrics_sink.py check "$work/points.jsonl" protobuf "$requests"

# OTLP/JSON, parsed with protobuf's JSON mapping into the same schema.
json_requests=500
OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="http://127.0.0.1:$sink_port/v1/metrics" \
OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=http/json OTEL_SERVICE_NAME=orders \
OTEL_TRACES_SAMPLER=traceidratio OTEL_TRACES_SAMPLER_ARG=0.01 \
    timeout 120 "$service" --requests "$json_requests" --exit >"$work/json.out" 2>"$work/json.err" \
    || { cat "$work/json.out" "$work/json.err"; exit 1; }
"$python" tests/e2e/metrics_sink.py check "$work/points.jsonl" json "$json_requests"

# Delta temporality and explicit buckets (each instrument's advised
# bounds), OTLP/JSON, over several intervals: they follow one another and
# add up to every call. Into a file of its own, so that only this run's
# exports are summed.
delta_port=$(free_port)
"$python" tests/e2e/metrics_sink.py serve "$delta_port" "$work/delta.jsonl" &
pids+=($!)
OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="http://127.0.0.1:$delta_port/v1/metrics" \
OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=http/json OTEL_SERVICE_NAME=orders \
OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta \
OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION=explicit_bucket_histogram \
OTEL_METRIC_EXPORT_INTERVAL=200 \
OTEL_TRACES_SAMPLER=traceidratio OTEL_TRACES_SAMPLER_ARG=0.01 \
    timeout 120 "$service" --requests "$json_requests" --spread 2 --exit >"$work/delta.out" 2>"$work/delta.err" \
    || { cat "$work/delta.out" "$work/delta.err"; exit 1; }
"$python" tests/e2e/metrics_sink.py check-delta "$work/delta.jsonl" "$json_requests"

# two_services with OTEL_EXPORTER_OTLP_ENDPOINT set: both processes export
# their metrics (and spans, which this sink acknowledges and skips).
cargo build -q --example two_services
OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$sink_port"     timeout 120 "$root/target/debug/examples/two_services" >"$work/two.out" 2>"$work/two.err"     || { cat "$work/two.out" "$work/two.err"; exit 1; }
if grep -q "export failed" "$work/two.err"; then cat "$work/two.err"; exit 1; fi
"$python" tests/e2e/metrics_sink.py check-two-services "$work/points.jsonl"
echo "metrics e2e passed"
