#!/usr/bin/env python3
"""Runs a command and appends "<wall s> <peak RSS KiB> <CPU s>" to a file.

Wall time to the microsecond, CPU (user + system) and peak RSS of the
command and its children from getrusage, so that a baseline of a few
milliseconds still has digits to divide by.  The command's output goes
to OUT.out; a failure is said on stderr with its last lines.

usage: measure.py OUT CMD [ARG...]
"""
import resource
import subprocess
import sys
import time


def main():
    out, cmd = sys.argv[1], sys.argv[2:]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(out + ".out", "wb") as log:
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with open(out, "a") as f:
        f.write(f"{wall:.6f} {after.ru_maxrss} {cpu:.6f}\n")
    if rc != 0:
        with open(out + ".out", "rb") as log:
            tail = log.read().decode(errors="replace").splitlines()[-5:]
        sys.stderr.write(f"bench: failed ({rc}): {' '.join(cmd)}\n")
        sys.stderr.write("\n".join(tail) + "\n")


main()
