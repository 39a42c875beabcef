#!/usr/bin/env bash
# Runs the examples and checks what they print: the traces a newcomer sees
# must be the ones the README promises. Used by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { printf 'check-examples: %s\n--- output ---\n%s\n' "$1" "$out" >&2; exit 1; }
count() { grep -c -- "$1" <<<"$out" || true; }
# The ids after `key=` on the lines matching a pattern, one per line, sorted.
ids() { grep -- "$1" <<<"$out" | grep -o "$2=[0-9a-f]*" | cut -d= -f2 | sort || true; }
traces() { grep -o '^trace [0-9a-f]*' <<<"$out" | sort -u | wc -l; }

echo "quickstart"
out=$(cargo run -q --example quickstart)
grep -q "Cache::get" <<<"$out" || fail "quickstart printed no trace"
echo "quickstart with TRACEKIT_HTML"
page="$(mktemp --suffix .html)"
TRACEKIT_HTML="$page" cargo run -q --example quickstart >/dev/null
# The page's data island holds the three requests' root spans.
[[ $(grep -o '"GET /users/:id/bill"' "$page" | wc -l) == 3 ]] || fail "the HTML page lacks the three requests"
rm -f "$page"

echo "task_queue"
# Log lines (stderr) and the trace (stdout) together.
out=$(cargo run -q --example task_queue 2>&1)
[[ $(count 'emails process') == 3 ]] || fail "expected three consumed jobs"
[[ $(traces) == 1 ]] || fail "the jobs did not join the producer's trace"
p=$(ids '\[producer\]' span_id)
[[ $(wc -l <<<"$p") == 3 && "$p" == "$(ids '\[consumer\]' remote_parent)" ]] ||
    fail "consumer spans are not children of the producer spans"
[[ $(count 'emails process.*baggage.request.id="req-7f3a"') == 3 ]] || fail "baggage did not reach the jobs"
[[ $(count 'emails process.*ERROR: cannot send') == 1 ]] || fail "the failing job is not an error"
t=$(grep -o '^trace [0-9a-f]*' <<<"$out" | head -1 | cut -d' ' -f2)
[[ $(count "INFO  task_queue: sending the welcome email .* trace_id=$t span_id=[0-9a-f]\{16\} request.id=req-7f3a$") == 3 ]] ||
    fail "each job's log line does not carry the trace id and the request id"
[[ $(count 'job failed') == 1 && $(count 'job failed.*\(trace_id\|request.id\)') == 0 ]] ||
    fail "a line logged after the job still carries its ids"
[[ $(count '· the address has no @, giving up level=WARN') == 1 ]] || fail "the warning is not an event of its span"

echo "two_services"
out=$(timeout 120 cargo run -q --example two_services 2>&1)
grep -q '^client <- 200 OK cart 42: reserved 1 of 2 items' <<<"$out" || fail "the client got no answer"
grep -q '^client <- x-request-id: r-1001$' <<<"$out" || fail "the request id was not echoed"
# The frontend serves /metrics: the request it just served is counted there.
grep -q '^client <- /metrics: http_server_request_duration_seconds_count{http_request_method="GET",url_scheme="http",http_route="/checkout/{cart}",http_response_status_code="200",network_protocol_version="1.1",otel_scope_name="tracekit",otel_scope_version="[0-9.]*"} 1$' <<<"$out" ||
    fail "the frontend's /metrics does not count its request"
grep -q '^client <- /metrics: target_info{.*service_name="frontend".*} 1$' <<<"$out" ||
    fail "the frontend's /metrics does not name its service in target_info"
# The frontend stops the backend with SIGTERM: it shuts down gracefully and
# delivers its part of the trace (checked below) before it exits.
grep -q '^backend: SIGTERM, shutting down$' <<<"$out" || fail "the backend was not stopped by SIGTERM"
# The backend's two requests arrive in one batch or two, depending on when
# its collector wakes: its server spans are counted below, not its parts.
b=$(count '\[backend\]$')
[[ $(count '\[frontend\]$') == 1 && ($b == 1 || $b == 2) ]] || fail "expected one frontend part and one or two backend parts"
[[ $(traces) == 1 ]] || fail "the two services are not in one trace"
c=$(ids 'GET [^ ]* \[client\].*url.full="http://[0-9.:]*/inventory/' span_id)
[[ $(wc -l <<<"$c") == 2 && "$c" == "$(ids '\[server\].*remote_parent' remote_parent)" ]] ||
    fail "the backend's server spans are not children of the frontend's client spans"
[[ $(count 'baggage.request.id="r-1001"') == 2 ]] || fail "request.id did not reach the backend"
[[ $(count '\[server\].*http.response.status_code=500 error.type="500".* ERROR') == 1 ]] || fail "the failing call is not an error on the backend"
[[ $(count '\[client\].*http.response.status_code=500 error.type="500".* ERROR') == 1 ]] || fail "the failing call is not an error on the frontend"
t=$(grep -o '^trace [0-9a-f]*' <<<"$out" | head -1 | cut -d' ' -f2)
# Both processes log: the frontend's request, the backend's two requests and
# what they did; every line carries the one trace id and the request id.
[[ $(count "Z \(INFO \|WARN \) two_services: .* trace_id=$t span_id=[0-9a-f]\{16\} request.id=r-1001$") == 5 ]] ||
    fail "the services' log lines do not carry the trace id and the request id"
[[ $(count '· out of stock level=WARN') == 1 ]] || fail "the backend's warning is not an event of its span"
echo "two_services, not sampled"
# The frontend's sampler drops the trace; the backend, parent-based, follows
# the sampled=0 flag of the request: neither records anything, and the call
# works as before.
out=$(OTEL_TRACES_SAMPLER=always_off timeout 120 cargo run -q --example two_services 2>&1)
grep -q '^client <- 200 OK cart 42: reserved 1 of 2 items (trace [0-9a-f]\{32\}, not sampled)' <<<"$out" ||
    fail "the unsampled trace did not reach the client"
grep -q '^client <- /metrics: http_server_request_duration_seconds_count{.*http_route="/checkout/{cart}".*} 1$' <<<"$out" ||
    fail "the unsampled request is not counted in /metrics"
[[ $(count '\[frontend\]$') == 0 && $(count '\[backend\]$') == 0 ]] ||
    fail "an unsampled trace was recorded"
# Nothing recorded, but the log lines still carry the (propagated) trace id.
t=$(grep -o '(trace [0-9a-f]*' <<<"$out" | cut -d' ' -f2)
[[ $(count "two_services: .* trace_id=$t span_id=[0-9a-f]\{16\} request.id=r-1001$") == 5 ]] ||
    fail "the unsampled trace's log lines do not carry its ids"
echo "grpc"
out=$(timeout 120 cargo run -q --example grpc 2>&1)
grep -q '^client <- reserved 1 of 2 items' <<<"$out" || fail "the gRPC client got no answer"
[[ $(traces) == 1 ]] || fail "the gRPC calls are not in the client's trace"
c=$(ids 'shop.Inventory/Reserve .*\[client\]' span_id)
[[ $(wc -l <<<"$c") == 2 && "$c" == "$(ids 'shop.Inventory/Reserve .*\[server\]' remote_parent)" ]] ||
    fail "the gRPC server spans are not children of the client spans"
[[ $(count 'rpc.grpc.status_code=14 error=true') == 2 ]] || fail "UNAVAILABLE is not an error on both sides"
[[ $(count 'rpc.grpc.status_code=0$') == 2 ]] || fail "the OK call's status is not recorded on both sides"
echo "w3c_service"
# The W3C Trace Context suite's service under test, driven by a loopback
# stand-in for the suite's harness (Python's standard library only) that
# sends it valid, random-flagged and malformed traceparents and tracestates
# and checks the headers of the calls it makes.
cargo build -q --example w3c_service
out=$(timeout 120 python3 scripts/w3c-peer.py -- cargo run -q --example w3c_service -- 127.0.0.1:0 2>&1) ||
    fail "w3c_service does not behave as the W3C suite expects of its service under test"
grep -q '^w3c peer: [0-9]* cases ok$' <<<"$out" || fail "the W3C peer did not finish its cases"
echo "metrics_service"
# Metrics exact at a 1% sampling ratio: 500 requests, orders 0..49 ten times;
# order 13 fails before the repository, every tenth order is missing.
out=$(OTEL_TRACES_SAMPLER=traceidratio OTEL_TRACES_SAMPLER_ARG=0.01 timeout 120 \
    cargo run -q --example metrics_service -- --requests 500 --exit 2>&1) || fail "metrics_service failed"
grep -q '^made 500 requests: 440 × 200, 50 × 404, 10 × 500$' <<<"$out" || fail "the service did not answer as expected"
grep -Eq '^OrderRepository::find +490 +50 ' <<<"$out" || fail "find's calls and errors are not counted exactly"
grep -Eq '^served GET /orders/\{id\} 500 +10 +10 ' <<<"$out" || fail "the 500s are not counted as errors"
echo "examples: ok"
