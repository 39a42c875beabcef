"""What the bare OTLP/HTTP sinks (otlp_sink.py, metrics_sink.py) share: a
loopback server that hands the (gunzipped) body of every POST to its
signal's path to `receive(body, content_type)`, which returns the status to
answer; a POST to another signal's path is acknowledged and skipped (a
program exports spans and metrics to the same endpoint)."""

import gzip
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def serve(port, path, receive):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status = 200
            if self.path == path:
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                status = receive(body, self.headers.get("Content-Type", ""))
            self.send_response(status)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
