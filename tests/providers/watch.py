#!/usr/bin/env python3
"""Watches a service's availability while a test changes it.

Every 0.1 s: lists the running containers carrying label LABEL through
the Engine API on SOCKET, asks each published port for "/", and prints
one line: "up N" (N answered 200) or "down" (none did), until killed.

Usage: watch.py SOCKET LABEL
"""
import http.client
import json
import socket
import sys
import time
import urllib.parse


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=5)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(self.unix_path)


def ports(sock, label):
    query = urllib.parse.quote(json.dumps({"label": [label]}))
    conn = UnixConnection(sock)
    conn.request("GET", "/v1.41/containers/json?filters=" + query)
    found = [p["PublicPort"] for c in json.loads(conn.getresponse().read())
             for p in c.get("Ports") or [] if p.get("PublicPort")]
    conn.close()
    return found


def answers(port):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        conn.request("GET", "/")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


sock, label = sys.argv[1], sys.argv[2]
while True:
    try:
        up = sum(answers(p) for p in ports(sock, label))
    except OSError:
        up = -1  # the API itself did not answer: no verdict
    if up >= 0:
        print("up %d" % up if up else "down", flush=True)
    time.sleep(0.1)
