#!/usr/bin/env python3
"""A loopback stand-in for the W3C Trace Context test harness, for
scripts/check-examples.sh: starts a service under test (the command given
after `--`, which prints `listening on http://ADDRESS/PATH` first), sends it
a few requests the way the official suite does, and checks the
`traceparent` and `tracestate` headers its calls bring back.

    python3 scripts/w3c-peer.py -- cargo run -q --example w3c_service -- 127.0.0.1:0

Standard library only. Exits 0 and prints `w3c peer: N cases ok`, or exits 1
saying which case failed, what was sent and what came back.
"""

import http.client
import json
import re
import signal
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TRACE = "12345678901234567890123456789012"
PARENT = "1234567890123456"

TRACEPARENT_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_\-*/@]{0,255}$")
VALUE_RE = re.compile(r"^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$")


class Failed(Exception):
    pass


class Callbacks:
    """What the service's calls brought: headers by callback path."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = {}

    def record(self, path, headers):
        with self.lock:
            self.seen[path] = headers

    def take(self, path):
        with self.lock:
            return self.seen.pop(path, None)


def callback_server(callbacks):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            try:
                json.loads(body)
            except ValueError:
                self.send_error(400, "the body is not JSON")
                return
            callbacks.record(self.path, list(self.headers.items()))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"null")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def values(headers, name):
    return [v for k, v in headers if k.lower() == name]


def parse_traceparent(headers):
    found = values(headers, "traceparent")
    if len(found) != 1:
        raise Failed(f"expected one traceparent, got {found!r}")
    m = TRACEPARENT_RE.match(found[0])
    if not m:
        raise Failed(f"malformed traceparent sent: {found[0]!r}")
    trace, parent, flags = m.group(1), m.group(2), int(m.group(3), 16)
    if set(trace) == {"0"} or set(parent) == {"0"}:
        raise Failed(f"all-zero id sent: {found[0]!r}")
    if flags & ~0x03:
        raise Failed(f"reserved flags sent: {found[0]!r}")
    return trace, parent, flags


def parse_tracestate(headers):
    members = []
    for value in values(headers, "tracestate"):
        for member in value.split(","):
            key, eq, val = member.partition("=")
            if not eq or not KEY_RE.match(key) or not VALUE_RE.match(val):
                raise Failed(f"invalid tracestate member sent: {member!r} in {value!r}")
            members.append((key, val))
    return members


class Peer:
    def __init__(self, endpoint, callbacks, callback_port):
        host_port, _, path = endpoint.removeprefix("http://").partition("/")
        self.host, _, port = host_port.rpartition(":")
        self.port = int(port)
        self.path = "/" + path
        self.callbacks = callbacks
        self.callback_port = callback_port

    def request(self, headers, count=1):
        """Sends the service one request asking for `count` calls; gives
        the headers of each call, in order."""
        scope = uuid.uuid4().hex
        paths = [f"/{scope}.{i}" for i in range(count)]
        body = json.dumps(
            [{"url": f"http://127.0.0.1:{self.callback_port}{p}", "arguments": []} for p in paths]
        ).encode()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.putrequest("POST", self.path)
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", str(len(body)))
            for name, value in headers:
                conn.putheader(name, value)
            conn.endheaders(body)
            response = conn.getresponse()
            answer = response.read()
        finally:
            conn.close()
        if response.status != 200:
            raise Failed(f"the service answered {response.status}: {answer!r}")
        calls = []
        for p in paths:
            got = self.callbacks.take(p)
            if got is None:
                raise Failed(f"the service did not call {p} before answering: {answer!r}")
            calls.append(got)
        return calls


def continued(calls, flags):
    """Each call continues the suite's trace with its own parent id and
    these flags; gives the tracestate members of the first."""
    parents = set()
    states = []
    for headers in calls:
        trace, parent, sent_flags = parse_traceparent(headers)
        if trace != TRACE:
            raise Failed(f"trace id {trace} is not the incoming {TRACE}")
        if parent == PARENT:
            raise Failed("the incoming parent id was sent on: the service's span is missing")
        if sent_flags != flags:
            raise Failed(f"flags {sent_flags:02x} sent for incoming {flags:02x}")
        parents.add(parent)
        states.append(parse_tracestate(headers))
    if len(parents) != len(calls):
        raise Failed(f"calls share parent ids: {sorted(parents)}")
    if any(s != states[0] for s in states):
        raise Failed(f"calls sent different tracestates: {states}")
    return states[0]


def restarted(calls, not_ids):
    """A new trace: valid, not one of `not_ids`, random, no tracestate."""
    traces = set()
    for headers in calls:
        trace, _, flags = parse_traceparent(headers)
        if trace in not_ids:
            raise Failed(f"trace id {trace} was taken from a malformed traceparent")
        if not flags & 0x02:
            raise Failed(f"a new trace without the random flag: {flags:02x}")
        if parse_tracestate(headers):
            raise Failed("a new trace carries the request's tracestate")
        traces.add(trace)
    if len(traces) != 1:
        raise Failed(f"one request, several traces: {sorted(traces)}")


def tp(flags="01", version="00"):
    return f"{version}-{TRACE}-{PARENT}-{flags}"


def states(*lines):
    return [("traceparent", tp("00"))] + [("tracestate", line) for line in lines]


def cases(peer):
    def expect_state(lines, members):
        got = continued(peer.request(states(*lines)), 0x00)
        if got != members:
            raise Failed(f"tracestate {got} for {lines}, expected {members}")

    bars = [",".join(f"bar{i:02}={i:02}" for i in range(a, a + 10)) for a in (1, 11, 21)]
    return [
        ("a sampled parent, three calls", lambda: continued(peer.request([("traceparent", tp("01"))], 3), 0x01)),
        ("the random flag is kept (02)", lambda: continued(peer.request([("traceparent", tp("02"))]), 0x02)),
        ("the random flag is kept (03)", lambda: continued(peer.request([("TraceParent", tp("03"))]), 0x03)),
        ("reserved flags are cleared", lambda: continued(peer.request([("traceparent", tp("ff"))]), 0x03)),
        ("whitespace around the value", lambda: continued(peer.request([("traceparent", f"\t {tp()} \t")]), 0x01)),
        ("a future version is sent as 00", lambda: continued(peer.request([("traceparent", tp("01", "cc") + "-more")]), 0x01)),
        ("no traceparent: a new random trace", lambda: restarted(peer.request([], 3), set())),
        ("an all-zero trace id: a new trace", lambda: restarted(peer.request([("traceparent", f"00-{'0' * 32}-{PARENT}-01"), ("tracestate", "foo=1")]), {"0" * 32})),
        ("uppercase hex: a new trace", lambda: restarted(peer.request([("traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01")]), {"4bf92f3577b34da6a3ce929d0e0e4736"})),
        ("version ff: a new trace", lambda: restarted(peer.request([("traceparent", tp("01", "ff"))]), {TRACE})),
        ("two traceparents: a new trace", lambda: restarted(peer.request([("traceparent", tp()), ("traceparent", tp())]), {TRACE})),
        ("tracestate forwarded in order", lambda: expect_state(["foo=1,bar=2", "rojo=1, congo=2"], [("foo", "1"), ("bar", "2"), ("rojo", "1"), ("congo", "2")])),
        ("repeated keys keep the first", lambda: expect_state(["foo=1,a=2,foo=2", "foo=3"], [("foo", "1"), ("a", "2")])),
        ("Level 2 keys", lambda: expect_state(["foo@=1,foo@@bar=2,t@vvvvvvvvvvvvvvv=3,1a=4"], [("foo@", "1"), ("foo@@bar", "2"), ("t@vvvvvvvvvvvvvvv", "3"), ("1a", "4")])),
        ("a bad key drops the list", lambda: expect_state(["@foo=1,bar=2"], [])),
        ("an empty value drops the list", lambda: expect_state(["foo=,bar=3"], [])),
        ("32 members kept", lambda: expect_state(bars + ["bar31=31,bar32=32"], [(f"bar{i:02}", f"{i:02}") for i in range(1, 33)])),
        ("33 members drop the list", lambda: expect_state(bars + ["bar31=31,bar32=32,bar33=33"], [])),
    ]


def main():
    if "--" not in sys.argv:
        sys.exit(__doc__)
    command = sys.argv[sys.argv.index("--") + 1 :]
    callbacks = Callbacks()
    server = callback_server(callbacks)
    service = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    output = []
    try:
        first = service.stdout.readline().strip()
        if not first.startswith("listening on "):
            raise Failed(f"the service said {first!r} instead of its address")
        # The service's spans follow on stdout: keep the pipe drained.
        threading.Thread(target=lambda: output.extend(service.stdout), daemon=True).start()
        peer = Peer(first.removeprefix("listening on "), callbacks, server.server_address[1])
        done = 0
        for name, check in cases(peer):
            try:
                check()
            except Failed as e:
                raise Failed(f"{name}: {e}") from None
            done += 1
        print(f"w3c peer: {done} cases ok")
    except Failed as e:
        print(f"w3c peer: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
    finally:
        service.send_signal(signal.SIGTERM)
        try:
            service.wait(timeout=10)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()
        server.shutdown()


if __name__ == "__main__":
    main()
