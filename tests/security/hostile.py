#!/usr/bin/env python3
"""Hostile Git servers for tests/security/run.sh, on loopback only.

hostile.py MODE ADDR PORTFILE [ARG...]: listens on ADDR (127.0.0.x) on a
free port, writes the port to PORTFILE once it listens, and serves until
killed:

  record LOG            HTTP: every request's first line and any
                        Authorization header appended to LOG; answers 401
                        with a Basic challenge (inviting credentials).
  redirect BASE         HTTP: 302 to BASE + the request's path.
  auth-redirect BASE LOG
                        HTTP: 401 with a Basic challenge until a request
                        carries credentials, then 302 to BASE + path
                        (credentials first, then elsewhere); requests
                        logged to LOG as in `record`.
  silent                accepts and never answers.
  trickle-http          an HTTP answer one byte a second, never ending.
  trickle-ssh           an SSH banner one byte a second, never ending.
  proxy PORT STALLFILE  forwards to 127.0.0.1:PORT; while STALLFILE
                        exists, accepts and never answers instead.
"""
import os
import socket
import sys
import threading
import time

MAX_HEAD = 64 * 1024


def read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data and len(data) < MAX_HEAD:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")


def log_request(path, lines):
    with open(path, "a") as f:
        f.write("REQUEST " + lines[0] + "\n")
        for line in lines[1:]:
            if line.lower().startswith("authorization:"):
                f.write(line + "\n")


def answer(conn, status, headers):
    head = "HTTP/1.1 %s\r\n" % status
    for k, v in headers:
        head += "%s: %s\r\n" % (k, v)
    head += "Content-Length: 0\r\nConnection: close\r\n\r\n"
    conn.sendall(head.encode())


CHALLENGE = [("WWW-Authenticate", 'Basic realm="git"')]


def path_of(lines):
    parts = lines[0].split(" ")
    return parts[1] if len(parts) > 1 else "/"


def hold(conn):
    while conn.recv(4096):
        pass


def trickle(conn, text):
    i = 0
    while True:
        conn.sendall(text[i % len(text)].encode())
        i += 1
        time.sleep(1)


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(conn, mode, args):
    if mode == "record":
        lines = read_head(conn)
        log_request(args[0], lines)
        answer(conn, "401 Unauthorized", CHALLENGE)
    elif mode == "redirect":
        lines = read_head(conn)
        answer(conn, "302 Found", [("Location", args[0] + path_of(lines))])
    elif mode == "auth-redirect":
        lines = read_head(conn)
        log_request(args[1], lines)
        if any(x.lower().startswith("authorization:") for x in lines):
            answer(conn, "302 Found",
                   [("Location", args[0] + path_of(lines))])
        else:
            answer(conn, "401 Unauthorized", CHALLENGE)
    elif mode == "silent":
        hold(conn)
    elif mode == "trickle-http":
        trickle(conn, "HTTP/1.1 200 OK\r\nX-Slow: " + "a" * 1000)
    elif mode == "trickle-ssh":
        trickle(conn, "SSH-2.0-" + "x" * 200)
    elif mode == "proxy":
        if os.path.exists(args[1]):
            hold(conn)
            return
        up = socket.create_connection(("127.0.0.1", int(args[0])))
        threading.Thread(target=pipe, args=(up, conn), daemon=True).start()
        pipe(conn, up)
        return
    conn.close()


def handle(conn, mode, args):
    try:
        serve(conn, mode, args)
    except OSError:
        pass


def main():
    mode, addr, portfile, args = sys.argv[1], sys.argv[2], sys.argv[3], \
        sys.argv[4:]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, 0))
    srv.listen(64)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=handle, args=(conn, mode, args),
                         daemon=True).start()


if __name__ == "__main__":
    main()
