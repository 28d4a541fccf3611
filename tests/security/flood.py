#!/usr/bin/env python3
"""Hostile HTTP clients for tests/security/run.sh.

flood.py HOST PORT READY-FILE [IDLE PIPELINED DRIP]

Opens IDLE connections that send nothing, PIPELINED connections that each
send 64 KiB of pipelined "GET /metrics" and never read the answers, and
DRIP connections that send a request one byte every half second, from
a hundred loopback addresses (127.0.0.10 to .109, as many attacking
pods: more than the reserved slots, so those fill and are fought over);
touches READY-FILE once all are open and keeps them until it is killed,
reopening any the server closes (as a real attacker would).
"""
import resource
import socket
import sys
import time

host, port, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3]
idle, piped, drip = (int(x) for x in (sys.argv[4:7] or ("400", "300", "300")))
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

PIPE = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * (65536 // 34)
DRIP = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4000


dials = 0


def dial(kind):
    global dials
    dials += 1
    source = ("127.0.0.%d" % (10 + dials % 100), 0)
    try:
        s = socket.create_connection((host, port), timeout=2,
                                     source_address=source)
    except OSError:
        return None
    s.setblocking(False)
    if kind == "piped":
        try:
            s.send(PIPE)
        except OSError:
            pass
    return [kind, s, 0]


conns = [dial("idle") for _ in range(idle)]
conns += [dial("piped") for _ in range(piped)]
conns += [dial("drip") for _ in range(drip)]
conns = [c for c in conns if c]
open(ready, "w").write(str(len(conns)))
while True:
    time.sleep(0.5)
    for i, c in enumerate(conns):
        kind, s, n = c
        try:
            if kind == "drip":
                s.send(DRIP[n % len(DRIP):n % len(DRIP) + 1])
                c[2] += 1
            elif kind == "idle":
                if s.recv(1, socket.MSG_PEEK) == b"":
                    raise OSError("closed")
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            new = dial(kind)
            if new:
                conns[i] = new
