"""A local webhook receiver for the demo: appends every POST (path,
idempotency key, JSON body) as one line to a file and answers 200.
Alertmanager's demo receivers (deploy/alertmanager/alertmanager.yml) and the
alerter's --webhook-url both point here.

Usage: webhook_receiver.py OUTPUT.jsonl [PORT]   (binds 127.0.0.1, default 9095)
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OUTPUT = sys.argv[1]
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 9095
MAX_BODY = 1 << 20
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.send_response(413)
            self.end_headers()
            return
        body = self.rfile.read(length)
        try:
            payload = json.loads(body)
        except ValueError:
            payload = body.decode("utf-8", "replace")
        line = json.dumps({"path": self.path, "idempotency_key": self.headers.get("Idempotency-Key"), "body": payload})
        with LOCK, open(OUTPUT, "a", encoding="utf-8") as output:
            output.write(line + "\n")
        self.send_response(200)
        self.end_headers()

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
