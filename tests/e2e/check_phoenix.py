"""Reads back from Arize Phoenix what the two_services example exported over
OTLP/HTTP and checks it span by span: names, parent links across the two
processes, attributes, error statuses and events.

Usage: check_phoenix.py BASE_URL TRACE_ID
"""

import json
import sys
import time
import urllib.request

EXPECTED_SPANS = 10  # frontend: server, checkout, 2 clients; backend: 2 x (server, reserve_stock, query_stock)


def fetch(base, trace_id):
    url = f"{base}/v1/projects/default/spans?trace_id={trace_id}&limit=1000"
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)["data"]


def wait_for_spans(base, trace_id):
    """Phoenix stores asynchronously: poll until every span is there."""
    deadline = time.time() + 90
    spans = []
    while time.time() < deadline:
        try:
            spans = [s for s in fetch(base, trace_id) if s["context"]["trace_id"] == trace_id]
        except Exception as e:  # not ready yet
            print(f"phoenix not answering yet: {e}", file=sys.stderr)
        if len(spans) >= EXPECTED_SPANS:
            return spans
        time.sleep(1)
    sys.exit(f"FAIL: {len(spans)} of {EXPECTED_SPANS} spans of trace {trace_id} arrived: "
             f"{sorted(s['name'] for s in spans)}")


failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def main():
    base, trace_id = sys.argv[1], sys.argv[2]
    spans = wait_for_spans(base, trace_id)
    check(len(spans) == EXPECTED_SPANS, f"expected {EXPECTED_SPANS} spans, got {len(spans)}")
    by_id = {s["context"]["span_id"]: s for s in spans}

    def named(name):
        return [s for s in spans if s["name"] == name]

    def parent(s):
        return by_id.get(s.get("parent_id"))

    [root] = named("GET /checkout/{cart}") or [None]
    check(root is not None and not root.get("parent_id"), "the frontend server span is the root")
    check(root and root["attributes"].get("http.request.method") == "GET", "http.request.method on the root")
    check(root and root["attributes"].get("http.response.status_code") == 200,
          "http.response.status_code 200 on the root")
    [checkout] = named("checkout") or [None]
    check(checkout and parent(checkout) is root, "checkout is a child of the server span")
    check(checkout and checkout["attributes"].get("cart") == 42, "the cart argument is an attribute")

    # Phoenix shows its own span kinds, not OTLP's (the loopback stub tests
    # check those); the client spans are named by their method alone (the
    # stable HTTP conventions) and carry the URL.
    clients = [s for s in spans if s["name"] == "GET" and "/inventory/" in s["attributes"].get("url.full", "")]
    servers = named("GET /inventory/{item}/reserve")
    check(len(clients) == 2 and len(servers) == 2, f"two client and two server spans: {len(clients)}, {len(servers)}")
    for c in clients:
        check(parent(c) is checkout, f"{c['name']} is a child of checkout")
    for srv in servers:
        p = parent(srv)
        check(p in clients, "each backend server span is a child of a frontend client span")
        path = srv["attributes"].get("url.path", "")
        item = path.split("/")[2] if path.count("/") >= 3 else "?"
        check(p is not None and p["attributes"].get("url.full", "").endswith(f"/inventory/{item}/reserve"),
              f"backend request for {item} under the matching client call")
        failed = item == "gizmo"
        check((srv["status_code"] == "ERROR") == failed, f"backend {item}: status {srv['status_code']}")
        check(srv["attributes"].get("http.response.status_code") == (500 if failed else 200),
              f"backend {item}: status code")
        [reserve] = [s for s in spans if s["name"] == "reserve_stock" and parent(s) is srv] or [None]
        check(reserve is not None, f"reserve_stock under the {item} request")
        if reserve:
            check(reserve["attributes"].get("item") == item, "the item argument is an attribute")
            check((reserve["status_code"] == "ERROR") == failed, f"reserve_stock {item}: error status")
            if failed:
                check(reserve["status_message"] == "gizmo is out of stock", f"message: {reserve['status_message']}")
                events = [e["name"] for e in reserve.get("events", [])]
                check("exception" in events, f"an exception event on the failure: {events}")
            [query] = [s for s in spans if s["name"] == "query_stock" and parent(s) is reserve] or [None]
            check(query is not None and query["attributes"].get("db.system") == "postgres",
                  f"query_stock with db.system under reserve_stock {item}")
    bad = [c for c in clients if c["status_code"] == "ERROR"]
    check(len(bad) == 1 and bad[0]["status_message"] == "HTTP 500",
          "exactly the failing call is an error on the frontend, with HTTP 500")

    if failures:
        print(json.dumps(spans, indent=1, default=str), file=sys.stderr)
        for f in failures:
            print(f"FAIL: {f}", file=sys.stderr)
        sys.exit(1)
    print(f"phoenix: trace {trace_id}: all {len(spans)} spans arrived with the right names, parents, "
          "attributes and errors")


if __name__ == "__main__":
    main()
