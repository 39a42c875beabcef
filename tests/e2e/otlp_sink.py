"""A bare OTLP/HTTP receiver built on the official protobuf definitions
(opentelemetry-proto), for what Phoenix's read-back API does not show: the
resource (`service.name` per process) and the OTLP span kinds.

  otlp_sink.py serve PORT OUT   store every received span as a JSON line in OUT
  otlp_sink.py check OUT TRACE  check two_services' trace in OUT
"""

import json
import sys

import sink

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


def serve(port, out):
    def receive(body, _content_type):
        req = ExportTraceServiceRequest()
        req.ParseFromString(body)
        with open(out, "a") as f:
            for rs in req.resource_spans:
                attrs = {kv.key: kv.value.string_value for kv in rs.resource.attributes}
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        f.write(json.dumps({
                            "service": attrs.get("service.name"),
                            "sdk": attrs.get("telemetry.sdk.name"),
                            "scope": ss.scope.name,
                            "trace_id": s.trace_id.hex(),
                            "name": s.name,
                            "kind": s.kind,
                        }) + "\n")
        return 200

    sink.serve(port, "/v1/traces", receive)


def check(out, trace_id):
    spans = [json.loads(line) for line in open(out)]
    spans = [s for s in spans if s["trace_id"] == trace_id]
    SERVER, CLIENT, INTERNAL = 2, 3, 1
    want = {
        ("frontend", "GET /checkout/{cart}", SERVER): 1,
        ("frontend", "checkout", INTERNAL): 1,
        # Client spans are named by the method (stable HTTP conventions).
        ("frontend", "GET", CLIENT): 2,
        ("backend", "GET /inventory/{item}/reserve", SERVER): 2,
        ("backend", "reserve_stock", INTERNAL): 2,
        ("backend", "query_stock", CLIENT): 2,
    }
    got = {}
    for s in spans:
        k = (s["service"], s["name"], s["kind"])
        got[k] = got.get(k, 0) + 1
    ok = got == want and all(s["sdk"] == "tracekit" and s["scope"] == "tracekit" for s in spans)
    if not ok:
        sys.exit(f"FAIL: spans by (service.name, name, kind):\n got  {sorted(got.items())}\n want {sorted(want.items())}")
    print(f"otlp sink: trace {trace_id}: each process under its own service.name, span kinds right")


if __name__ == "__main__":
    {"serve": serve, "check": check}[sys.argv[1]](*sys.argv[2:])
