"""The OpenTelemetry Python propagators as a peer for tracekit's tests.

Reads one JSON request per line on stdin and answers one JSON line on stdout:

  {"op": "inject", "format": F, "trace_id": hex, "span_id": hex,
   "sampled": bool, "trace_flags": int (optional, instead of sampled),
   "trace_state": str|null, "baggage": {k: v}}
      -> {"headers": {name: value}}
  {"op": "extract", "format": F, "headers": {name: value}}
      -> {"trace_id": hex|null, "span_id": hex|null, "sampled": bool,
          "trace_flags": int, "trace_state": str|null, "baggage": {k: v}}

  {"op": "sample", "ratio": float, "trace_ids": [hex]}
      -> {"sampled": [bool]}   (the SDK's TraceIdRatioBased, no parent)

F is an OTEL_PROPAGATORS value: tracecontext, baggage, b3, b3multi, jaeger,
or several of them separated by commas.
"""

import json
import sys

from opentelemetry import baggage, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.b3 import B3MultiFormat, B3SingleFormat
from opentelemetry.propagators.jaeger import JaegerPropagator
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

PROPAGATORS = {
    "tracecontext": TraceContextTextMapPropagator(),
    "baggage": W3CBaggagePropagator(),
    "b3": B3SingleFormat(),
    "b3multi": B3MultiFormat(),
    "jaeger": JaegerPropagator(),
}


def propagator(names):
    return CompositePropagator([PROPAGATORS[n.strip()] for n in names.split(",")])


def inject(req):
    if req.get("trace_flags") is not None:
        flags = trace.TraceFlags(req["trace_flags"])
    else:
        flags = trace.TraceFlags(trace.TraceFlags.SAMPLED if req["sampled"] else 0)
    state = trace.TraceState.from_header([req["trace_state"]]) if req.get("trace_state") else None
    span_context = trace.SpanContext(
        trace_id=int(req["trace_id"], 16),
        span_id=int(req["span_id"], 16),
        is_remote=False,
        trace_flags=flags,
        trace_state=state,
    )
    context = trace.set_span_in_context(trace.NonRecordingSpan(span_context), Context())
    for key, value in req.get("baggage", {}).items():
        context = baggage.set_baggage(key, value, context)
    headers = {}
    propagator(req["format"]).inject(headers, context=context)
    return {"headers": headers}


def extract(req):
    context = propagator(req["format"]).extract(req["headers"], context=Context())
    span_context = trace.get_current_span(context).get_span_context()
    valid = span_context.is_valid
    state = span_context.trace_state.to_header() if valid else ""
    return {
        "trace_id": format(span_context.trace_id, "032x") if valid else None,
        "span_id": format(span_context.span_id, "016x") if valid else None,
        "sampled": bool(span_context.trace_flags.sampled) if valid else False,
        "trace_flags": int(span_context.trace_flags) if valid else 0,
        "trace_state": state or None,
        "baggage": {k: str(v) for k, v in baggage.get_all(context).items()},
    }


def sample(req):
    sampler = TraceIdRatioBased(req["ratio"])
    return {
        "sampled": [
            sampler.should_sample(None, int(t, 16), "root").decision.is_sampled()
            for t in req["trace_ids"]
        ]
    }


OPS = {"inject": inject, "extract": extract, "sample": sample}


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            answer = OPS[req["op"]](req)
        except Exception as e:  # the test shows the request that broke the peer
            answer = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
