#!/usr/bin/env python3
"""A read-only container registry for tests, on 127.0.0.1 only.

Serves the images of OCI layouts (`podman save --format oci-dir`) over
the registry API v2 (GET and HEAD of /v2/, manifests and blobs), so a
test can pull without the internet.  With USER:PASSWORD it wants HTTP
Basic auth, as a private registry does, and logs every Authorization it
sees to LOG (one line each) so a test can check what the puller sent.

Usage: registry.py PORT REPO:TAG=OCI_DIR... [--auth USER:PASSWORD] [--log LOG]
Unknown repositories or tags answer 404 MANIFEST_UNKNOWN.
"""
import base64
import http.server
import json
import os
import sys


def parse_args(argv):
    port, images, auth, log = int(argv[0]), {}, None, None
    rest = argv[1:]
    while rest:
        arg = rest.pop(0)
        if arg == "--auth":
            auth = rest.pop(0)
        elif arg == "--log":
            log = rest.pop(0)
        else:
            ref, path = arg.split("=", 1)
            images[ref] = path
    return port, images, auth, log


PORT, IMAGES, AUTH, LOG = parse_args(sys.argv[1:])


def manifest_of(layout):
    with open(os.path.join(layout, "index.json")) as f:
        entry = json.load(f)["manifests"][0]
    return entry["digest"], entry["mediaType"]


def blob_path(layout, digest):
    algo, hexpart = digest.split(":", 1)
    return os.path.join(layout, "blobs", algo, hexpart)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body=b"", ctype="application/json", extra=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, code, what):
        body = json.dumps({"errors": [{"code": what, "message": what}]})
        extra = {}
        if code == 401:
            extra["WWW-Authenticate"] = 'Basic realm="test"'
        self.reply(code, body.encode(), extra=extra)

    def allowed(self):
        got = self.headers.get("Authorization")
        if LOG and got:
            with open(LOG, "a") as f:
                f.write(got + "\n")
        if not AUTH:
            return True
        want = "Basic " + base64.b64encode(AUTH.encode()).decode()
        return got == want

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        if not self.allowed():
            return self.error(401, "UNAUTHORIZED")
        parts = self.path.split("?")[0].split("/")
        if self.path.rstrip("/") == "/v2":
            return self.reply(200, b"{}")
        if len(parts) < 5 or parts[1] != "v2":
            return self.error(404, "NAME_UNKNOWN")
        name, kind, ref = "/".join(parts[2:-2]), parts[-2], parts[-1]
        layouts = {r.rsplit(":", 1)[1]: p for r, p in IMAGES.items()
                   if r.rsplit(":", 1)[0] == name}
        if not layouts:
            return self.error(404, "NAME_UNKNOWN")
        if kind == "manifests":
            layout = layouts.get(ref)
            if layout is None:
                for p in layouts.values():
                    if manifest_of(p)[0] == ref:
                        layout = p
            if layout is None:
                return self.error(404, "MANIFEST_UNKNOWN")
            digest, mtype = manifest_of(layout)
            with open(blob_path(layout, digest), "rb") as f:
                body = f.read()
            return self.reply(200, body, mtype,
                              {"Docker-Content-Digest": digest})
        if kind == "blobs":
            for layout in layouts.values():
                path = blob_path(layout, ref)
                if os.path.exists(path):
                    with open(path, "rb") as f:
                        body = f.read()
                    return self.reply(200, body, "application/octet-stream",
                                      {"Docker-Content-Digest": ref})
            return self.error(404, "BLOB_UNKNOWN")
        return self.error(404, "UNSUPPORTED")


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
