"""A notification receiver for tests/fleet/run.sh, on 127.0.0.1 only.

Usage: receiver.py PORTFILE LOGFILE SECRET

Listens on a free port of 127.0.0.1 (written to PORTFILE once it
listens) and appends one JSON line per request to LOGFILE: the time, the
path, the delivery id, the body as received, and whether its
X-Tenantd-Signature is the HMAC-SHA256 of the body under SECRET ("ok",
"bad", or "none" when the request carries none), and the Authorization
header.  A path beginning with /fail is answered 500, anything else 200.
"""
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

portfile, logfile, secret = sys.argv[1], sys.argv[2], sys.argv[3].encode()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        sig = self.headers.get("X-Tenantd-Signature")
        if sig is None:
            check = "none"
        else:
            want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
            check = "ok" if hmac.compare_digest(sig, want) else "bad"
        entry = {
            "time": time.time(),
            "path": self.path,
            "delivery": self.headers.get("X-Tenantd-Delivery"),
            "signature": check,
            "authorization": self.headers.get("Authorization"),
            "body": body.decode("utf-8", "replace"),
        }
        with open(logfile, "a") as f:
            f.write(json.dumps(entry) + "\n")
        status = 500 if self.path.startswith("/fail") else 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, fmt, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(portfile + ".tmp", portfile)
server.serve_forever()
