"""A bare OTLP/HTTP metrics receiver built on the official protobuf
definitions (opentelemetry-proto): protobuf bodies are parsed as
ExportMetricsServiceRequest, JSON bodies with protobuf's JSON mapping into
the same message, so both are checked against the schema.

  metrics_sink.py serve PORT OUT      append every data point as a JSON line to OUT
  metrics_sink.py check OUT PROTOCOL REQUESTS
                                      check metrics_service's last export in OUT
  metrics_sink.py check-delta OUT REQUESTS
                                      check a run exported as delta explicit-bucket
                                      histograms (JSON): every interval adds up
  metrics_sink.py check-two-services OUT
                                      check what two_services' processes sent
"""

import json
import sys

import sink

from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

# The repository's find as code.function.name names it: its full path.
FIND = "metrics_service::OrderRepository::find"


def attrs_of(kvs):
    out = {}
    for kv in kvs:
        v = kv.value
        kind = v.WhichOneof("value")
        out[kv.key] = getattr(v, kind) if kind else None
    return out


def serve(port, out):
    export = [0]

    def receive(body, content_type):
        req = ExportMetricsServiceRequest()
        try:
            if "json" in content_type:
                json_format.Parse(body.decode("utf-8"), req)
                protocol = "json"
            else:
                req.ParseFromString(body)
                protocol = "protobuf"
        except Exception as e:  # a body the schema rejects fails the check
            with open(out, "a") as f:
                f.write(json.dumps({"error": str(e)}) + "\n")
            return 400
        export[0] += 1
        with open(out, "a") as f:
            for rm in req.resource_metrics:
                service = attrs_of(rm.resource.attributes).get("service.name")
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        kind = m.WhichOneof("data")
                        data = getattr(m, kind)
                        for p in data.data_points:
                            line = {
                                "export": export[0],
                                "start": p.start_time_unix_nano,
                                "time": p.time_unix_nano,
                                "protocol": protocol,
                                "service": service,
                                "scope": sm.scope.name,
                                "metric": m.name,
                                "unit": m.unit,
                                "kind": kind,
                                "temporality": getattr(data, "aggregation_temporality", 0),
                                "attrs": attrs_of(p.attributes),
                            }
                            if kind == "sum":
                                line["value"] = p.as_int
                            elif kind == "exponential_histogram":
                                line["count"] = p.count
                                line["sum"] = p.sum
                                line["scale"] = p.scale
                                line["in_buckets"] = sum(p.positive.bucket_counts) + p.zero_count
                            else:
                                line["count"] = p.count
                                line["sum"] = p.sum
                                line["in_buckets"] = sum(p.bucket_counts)
                                line["bounds"] = list(p.explicit_bounds)
                                line["buckets"] = len(p.bucket_counts)
                            f.write(json.dumps(line) + "\n")
        return 200

    sink.serve(port, "/v1/metrics", receive)


def check(out, protocol, requests):
    requests = int(requests)
    lines = [json.loads(l) for l in open(out)]
    errors = [l for l in lines if "error" in l]
    assert not errors, f"bodies the schema rejected: {errors}"
    lines = [l for l in lines if l["protocol"] == protocol]
    assert lines, f"no {protocol} export arrived"
    last = max(l["export"] for l in lines)
    points = [l for l in lines if l["export"] == last]
    # metrics_service asks for orders 0..49 in turn: order 13 fails before
    # the repository (500), every tenth order is missing (404).
    cycles, rest = divmod(requests, 50)
    assert rest == 0, "REQUESTS must be a multiple of 50"
    want_find = requests - cycles
    want_missing = cycles * 5

    def one(metric, **attrs):
        found = [p for p in points if p["metric"] == metric and all(p["attrs"].get(k) == v for k, v in attrs.items())]
        assert len(found) == 1, f"{metric} {attrs}: {len(found)} points in export {last}"
        return found[0]

    # find's calls that succeeded, and its failed ones by error.type (the
    # missing orders: its Err type), each a series of its own.
    finds = [p for p in points
             if p["metric"] == "tracekit.function.duration" and p["attrs"].get("code.function.name") == FIND]
    ok = [p for p in finds if "error.type" not in p["attrs"]]
    failed = [p for p in finds if "error.type" in p["attrs"]]
    assert len(ok) == 1 and len(failed) == 1, finds
    find, missing = ok[0], failed[0]
    for p in finds:
        assert p["unit"] == "s" and p["kind"] == "exponential_histogram", p
        assert p["service"] == "orders" and p["scope"] == "tracekit", p
        assert p["temporality"] == 2, p
        assert p["in_buckets"] == p["count"], p
        assert p["attrs"]["code.namespace"] == "metrics_service::OrderRepository", p
    assert find["count"] == want_find - want_missing, (find, want_find)
    assert missing["count"] == want_missing, missing
    assert missing["attrs"]["error.type"] == "metrics_service::NotFound", missing
    # Each find spins about 100 µs.
    total = find["count"] + missing["count"]
    assert 0.0001 * total <= find["sum"] + missing["sum"] < 0.01 * total, finds
    errors = one("tracekit.function.errors", **{"code.function.name": FIND})
    assert errors["value"] == want_missing, errors
    served = [p for p in points if p["metric"] == "http.server.request.duration" and p["attrs"].get("http.route") == "/orders/{id}"]
    by_status = {p["attrs"]["http.response.status_code"]: p["count"] for p in served}
    assert by_status == {200: requests - want_missing - cycles, 404: want_missing, 500: cycles}, by_status
    for p in served:
        assert p["unit"] == "s" and p["attrs"]["http.request.method"] == "GET", p
        assert (p["attrs"].get("error.type") == "500") == (p["attrs"]["http.response.status_code"] == 500), p
    called = [p for p in points if p["metric"] == "http.client.request.duration"]
    assert sum(p["count"] for p in called) == requests, called
    assert all(p["attrs"]["server.address"] == "127.0.0.1" for p in called), called
    print(f"otlp {protocol}: {len(points)} points in the last of {last} exports; find {total} calls, "
          f"{errors['value']} errors; served {by_status}")


def check_delta(out, requests):
    """metrics_service exported as delta explicit-bucket histograms over
    JSON: the intervals follow one another without overlapping, and their
    counts add up to every call exactly."""
    requests = int(requests)
    lines = [json.loads(l) for l in open(out)]
    errors = [l for l in lines if "error" in l]
    assert not errors, f"bodies the schema rejected: {errors}"
    points = [l for l in lines if l["protocol"] == "json" and l["temporality"] == 1]
    assert points, "no delta export arrived"
    exports = sorted({p["export"] for p in points})
    assert len(exports) >= 2, f"{len(exports)} delta exports: the run must span intervals"
    spans = {}
    for p in points:
        assert p["temporality"] == 1, p
        assert p["start"] < p["time"], p
        spans.setdefault(p["export"], set()).add((p["start"], p["time"]))
    # One interval per export, and none overlaps the one before: each
    # starts where the last export ended, which is where the one before
    # ended unless an interval with no call sent nothing in between.
    assert all(len(v) == 1 for v in spans.values()), spans
    intervals = [next(iter(spans[e])) for e in exports]
    for (_, end), (start, _) in zip(intervals, intervals[1:]):
        assert start >= end, intervals
    cycles = requests // 50
    want_missing = cycles * 5

    def total(metric, **attrs):
        return sum(p.get("count", p.get("value", 0)) for p in points if p["metric"] == metric
                   and all(p["attrs"].get(k) == v for k, v in attrs.items()))

    histograms = [p for p in points if p["kind"] == "histogram"]
    assert histograms and all(p["kind"] in ("histogram", "sum") for p in points), points[:3]
    for p in histograms:
        assert p["in_buckets"] == p["count"] and p["buckets"] == len(p["bounds"]) + 1, p
        assert p["bounds"] == sorted(set(p["bounds"])), p
        if p["metric"].startswith("http."):
            # OpenTelemetry's advice for HTTP durations: 5 ms to 10 s.
            assert p["bounds"][0] == 0.005 and p["bounds"][-1] == 10.0, p
        elif p["metric"] == "tracekit.function.duration":
            assert p["bounds"][0] == 1e-06 and p["bounds"][-1] == 10.0, p
    find = total("tracekit.function.duration", **{"code.function.name": FIND})
    assert find == requests - cycles, (find, requests - cycles)
    errors = total("tracekit.function.errors", **{"code.function.name": FIND})
    assert errors == want_missing, errors
    served = total("http.server.request.duration", **{"http.route": "/orders/{id}"})
    assert served == requests, served
    print(f"otlp json delta explicit: {len(exports)} intervals, none overlapping; find {find} calls, "
          f"{errors} errors; served {served}")


def check_two_services(out):
    """two_services over OTLP: each process's last export counts its
    requests: the frontend served one checkout and made two calls, the
    backend served them, the second failing (500)."""
    lines = [json.loads(l) for l in open(out)]
    errors = [l for l in lines if "error" in l]
    assert not errors, f"bodies the schema rejected: {errors}"

    def last(service):
        mine = [l for l in lines if l["service"] == service]
        assert mine, f"no export from {service}"
        n = max(l["export"] for l in mine)
        return [l for l in mine if l["export"] == n]

    def served(points, route):
        return {p["attrs"]["http.response.status_code"]: p["count"] for p in points
                if p["metric"] == "http.server.request.duration" and p["attrs"].get("http.route") == route}

    front, back = last("frontend"), last("backend")
    assert served(front, "/checkout/{cart}") == {200: 1}, front
    called = {p["attrs"]["http.response.status_code"]: p["count"] for p in front
              if p["metric"] == "http.client.request.duration"}
    assert called == {200: 1, 500: 1}, called
    assert served(back, "/inventory/{item}/reserve") == {200: 1, 500: 1}, back
    for p in front + back:
        if p["metric"].startswith("http."):
            assert p["unit"] == "s" and p["kind"] == "exponential_histogram", p
    # The backend's failed reservation, by its Err type.
    stock = [p for p in back if p["metric"] == "tracekit.function.duration"
             and p["attrs"].get("code.function.name") == "two_services::reserve_stock"]
    assert {p["attrs"].get("error.type"): p["count"] for p in stock} == {
        None: 1, "two_services::OutOfStock": 1}, stock
    print(f"two_services over OTLP: frontend {len(front)} points, backend {len(back)} points")


if __name__ == "__main__":
    {"serve": serve, "check": check, "check-delta": check_delta,
     "check-two-services": check_two_services}[sys.argv[1]](*sys.argv[2:])
