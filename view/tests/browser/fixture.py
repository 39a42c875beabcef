"""A deterministic two-service trace (and a second trace) as OTLP JSON
lines, one file per service, with every feature the page must show:
nesting across services, errors, events, a link, a span whose parent is not
in the files, and hostile text in a name and a tag value.

`python3 fixture.py DIR` writes DIR/frontend.jsonl and DIR/backend.jsonl and
prints the expected facts as JSON. `python3 fixture.py DIR --spans N` writes
DIR/big.jsonl with N spans in trees of 1,000 (or `--per-trace M`) instead
(the benchmark).
"""
import json
import sys

BASE = 1_700_000_000_000_000_000
MS = 1_000_000
A = "0af7651916cd43dd8448eb211c80319c"
B = "4bf92f3577b34da6a3ce929d0e0e4736"
C = "5bf92f3577b34da6a3ce929d0e0e4736"
HOSTILE_NAME = "<script>window.__pwned=1</script>"
HOSTILE_TAG = "<img src=x onerror=window.__pwned=2>"
HOSTILE_EVENT = "<svg onload=window.__pwned=3>"

# (trace, id, parent, name, service, kind, start ms, end ms, error message, attrs, events, links)
SPANS = [
    (A, "f000000000000001", "", "GET /checkout/{cart}", "frontend", 2, 0, 100, None,
     {"http.route": "/checkout/{cart}", "url.path": "/checkout/42"}, [], []),
    (A, "f000000000000002", "f000000000000001", "load_cart", "frontend", 1, 2, 20, None, {"cart.id": 42}, [], []),
    (A, "f000000000000003", "f000000000000002", "redis GET", "frontend", 3, 3, 8, None, {"db.system": "redis"}, [], []),
    (A, "f00000000000003b", "f000000000000002", "cache prefetch", "frontend", 1, 4, 6, None, {}, [], []),
    (A, "f000000000000004", "f000000000000001", "GET", "frontend", 3, 22, 90, None, {"url.full": "http://backend/inventory/7/reserve"}, [], []),
    (A, "f00000000000000a", "f000000000000001", "audit log", "frontend", 1, 23, 40, None, {},
     [(30, HOSTILE_EVENT, {"note": HOSTILE_TAG})], []),
    (A, "b000000000000001", "f000000000000004", "GET /inventory/{item}/reserve", "backend", 2, 25, 88, None, {"http.route": "/inventory/{item}/reserve"}, [], []),
    (A, "b000000000000002", "b000000000000001", "reserve_stock", "backend", 1, 27, 85, "item 7 is out of stock", {"item": "7"},
     [(80, "exception", {"exception.message": "item 7 is out of stock"})], []),
    (A, "b000000000000003", "b000000000000002", "db.query", "backend", 3, 30, 60, None, {"db.statement": HOSTILE_TAG}, [], []),
    (A, "b000000000000004", "b000000000000002", "db.query", "backend", 3, 61, 84, None, {"db.statement": "update stock"}, [], []),
    (A, "f000000000000005", "f000000000000001", HOSTILE_NAME, "frontend", 1, 91, 95, None, {}, [], []),
    (A, "f000000000000006", "f000000000000001", "render", "frontend", 1, 95, 99, None, {"template": "cart.html"},
     [(96, "cache-miss", {"key": "tpl:cart"})], [(B, "c000000000000001")]),
    (A, "0000000000000b0b", "1111111111111111", "late callback", "backend", 1, 40, 50, None, {}, [], []),
    (B, "c000000000000001", "", "cron tick", "frontend", 1, 200, 260, None, {}, [], []),
    (B, "c000000000000002", "c000000000000001", "cleanup", "frontend", 1, 205, 230, None, {}, [], []),
    (B, "c000000000000003", "c000000000000001", "vacuum", "frontend", 1, 231, 258, "disk full", {}, [], []),
    # A recursive call: its total time counts the outermost call once.
    (B, "c000000000000004", "c000000000000002", "walk", "frontend", 1, 206, 216, None, {}, [], []),
    (B, "c000000000000005", "c000000000000004", "walk", "frontend", 1, 207, 215, None, {}, [], []),
    (B, "c000000000000006", "c000000000000005", "walk", "frontend", 1, 208, 212, None, {}, [], []),
    # An async recursive call that outlives its caller, twice over: the
    # operation's total is the 23 ms the three cover together.
    (B, "c000000000000007", "c000000000000003", "drain", "frontend", 1, 232, 236, None, {}, [], []),
    (B, "c000000000000008", "c000000000000007", "drain", "frontend", 1, 234, 250, None, {}, [], []),
    (B, "c000000000000009", "c000000000000008", "drain", "frontend", 1, 245, 255, None, {}, [], []),
    # A recursive call that starts before its caller (another host's clock
    # runs behind): the total is the 15 ms the two cover together.
    (B, "c00000000000000a", "c000000000000003", "probe", "frontend", 1, 240, 250, None, {}, [], []),
    (B, "c00000000000000b", "c00000000000000a", "probe", "frontend", 1, 235, 249, None, {}, [], []),
    # A call that had not finished when the file was written (no end): no
    # call of `walk` for the functions view.
    (B, "c00000000000000c", "c000000000000001", "walk", "frontend", 1, 259, None, None, {}, [], []),
    # One tracekit marked unfinished (its thread ended inside it, so it has
    # an end), around a finished call of the same function: that call is
    # the function's only one, and all its time counts.
    (B, "c00000000000000d", "c000000000000001", "sweep", "frontend", 1, 200, 210, None, {"unfinished": True}, [], []),
    (B, "c00000000000000e", "c00000000000000d", "sweep", "frontend", 1, 201, 204, None, {}, [], []),
    # The same route again, slower and without an error; a second service
    # in the same process (one resource), named by its server span.
    (C, "d000000000000001", "", "GET /checkout/{cart}", "frontend", 2, 400, 700, None,
     {"http.route": "/checkout/{cart}", "url.path": "/checkout/43"}, [], []),
    (C, "d000000000000002", "d000000000000001", "GET /stock/{item}", "frontend", 2, 410, 690, None,
     {"service.name": "inventory"}, [], []),
    (C, "d000000000000003", "d000000000000002", "count_stock", "frontend", 1, 420, 680, None, {}, [], []),
    # Two functions of one name in different modules: two rows, by path.
    (C, "d000000000000004", "d000000000000003", "handle", "frontend", 1, 425, 430, None,
     {"code.function.name": "app::a::handle"}, [], []),
    (C, "d000000000000005", "d000000000000003", "handle", "frontend", 1, 431, 436, None,
     {"code.function.name": "app::b::handle"}, [], []),
    # An HTTP client span, named by its method alone: a row of its own,
    # with its host, apart from the frontend's other `GET`.
    (C, "d000000000000006", "d000000000000003", "GET", "frontend", 3, 440, 450, None,
     {"server.address": "payments", "server.port": 443}, [], []),
]

# The spans whose service is `inventory` (trace C's server span names it).
INVENTORY = {"d000000000000002", "d000000000000003", "d000000000000004", "d000000000000005",
             "d000000000000006"}


def fn_label(name, kind, tags):
    """A row of the functions view: the function's path, else the span's
    name, with a client's host."""
    label = tags.get("code.function.name", name)
    if kind == 3 and "server.address" in tags:
        label += " " + tags["server.address"]
        if "server.port" in tags:
            label += f":{tags['server.port']}"
    return label


def any_value(v):
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    return {"stringValue": str(v)}


def attrs(d):
    return [{"key": k, "value": any_value(v)} for k, v in d.items()]


def otlp_span(trace, sid, parent, name, kind, start, end, error, tags, events, links, unit=MS):
    s = {
        "traceId": trace, "spanId": sid, "name": name, "kind": kind,
        "startTimeUnixNano": str(BASE + start * unit),
        "attributes": attrs(tags),
        "events": [{"timeUnixNano": str(BASE + t * unit), "name": n, "attributes": attrs(a)} for t, n, a in events],
        "links": [{"traceId": t, "spanId": i} for t, i in links],
        "status": {"code": 2, "message": error} if error else {},
    }
    if end is not None:
        s["endTimeUnixNano"] = str(BASE + end * unit)
    if parent:
        s["parentSpanId"] = parent
    return s


def request(service, spans):
    return {"resourceSpans": [{
        "resource": {"attributes": attrs({"service.name": service})},
        "scopeSpans": [{"scope": {"name": "fixture", "version": "1"}, "spans": spans}],
    }]}


def write_fixture(out):
    for service in ("frontend", "backend"):
        mine = [otlp_span(t, i, p, n, k, s, e, err, a, ev, ln)
                for (t, i, p, n, svc, k, s, e, err, a, ev, ln) in SPANS if svc == service]
        with open(f"{out}/{service}.jsonl", "w") as f:
            # Two requests (lines) per service, as a batching exporter writes.
            half = len(mine) // 2
            f.write(json.dumps(request(service, mine[:half])) + "\n")
            f.write(json.dumps(request(service, mine[half:])) + "\n")
    expected = {
        "hostile_name": HOSTILE_NAME,
        "hostile_tag": HOSTILE_TAG,
        "hostile_event": HOSTILE_EVENT,
        # Distinct (function or name, kind, service) of the finished
        # spans; trace C's server span names its own service, which its
        # children inherit.
        "operations": len({(fn_label(n, k, a), k, "inventory" if i in INVENTORY else svc)
                           for (t, i, p, n, svc, k, s, e, err, a, *_rest) in SPANS
                           if e is not None and not a.get("unfinished")}),
        "traces": {
            A: {
                "parents": {i: p for (t, i, p, *_rest) in SPANS if t == A},
                "names": {i: n for (t, i, p, n, *_rest) in SPANS if t == A},
                "errors": sorted(i for (t, i, p, n, svc, k, s, e, err, *_r) in SPANS if t == A and err),
                "orphans": ["0000000000000b0b"],
                "roots": ["f000000000000001", "0000000000000b0b"],
                "services": {i: svc for (t, i, p, n, svc, *_rest) in SPANS if t == A},
                "critical": sorted(["f000000000000001", "f000000000000002", "f000000000000003",
                                    "f000000000000004", "b000000000000001", "b000000000000002",
                                    "b000000000000003", "b000000000000004", "f000000000000005",
                                    "f000000000000006"]),
            },
            B: {
                "parents": {i: p for (t, i, p, *_rest) in SPANS if t == B},
                "errors": ["c000000000000003"],
            },
            C: {
                "parents": {i: p for (t, i, p, *_rest) in SPANS if t == C},
                "errors": [],
            },
        },
    }
    print(json.dumps(expected))


def write_big(out, n, per_trace=1000):
    """n spans: traces of per_trace spans, each a tree four wide."""
    with open(f"{out}/big.jsonl", "w") as f:
        batch = []
        for i in range(n):
            trace = "%032x" % (1 + i // per_trace)
            k = i % per_trace
            parent = "" if k == 0 else "%016x" % (1 + (i - k) + (k - 1) // 4)
            start, end = k * 10, k * 10 + 5000 - (k % 50) * 10
            batch.append(otlp_span(trace, "%016x" % (1 + i), parent, f"op-{k % 37}", 1, start, end,
                                   "failed" if k % 97 == 0 else None, {"i": i, "user": f"u{i % 500}"},
                                   [], [], unit=1000))
            if len(batch) == 512:
                f.write(json.dumps(request("bench", batch)) + "\n")
                batch = []
        if batch:
            f.write(json.dumps(request("bench", batch)) + "\n")


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[2] == "--spans":
        write_big(sys.argv[1], int(sys.argv[3]), int(sys.argv[5]) if len(sys.argv) > 5 else 1000)
    else:
        write_fixture(sys.argv[1])
