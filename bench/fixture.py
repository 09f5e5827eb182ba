#!/usr/bin/env python3
"""A socket-table fixture: PROCS processes, each holding LISTENERS TCP listeners
on 127.0.0.x and FILES other open files. Run it inside a private network
namespace (unshare -n) so it never collides with the host's ports.

usage: fixture.py PROCS LISTENERS_PER_PROC FILES_PER_PROC [SECONDS]
Prints "ready PID" once every child is listening; everything exits after
SECONDS (default 600) or on SIGTERM/SIGINT to the parent."""
import os
import signal
import socket
import subprocess
import sys
import time


def child(index, listeners, files, deadline, ready_w):
    socks = []
    base = index * listeners
    for k in range(listeners):
        n = base + k
        # ports 50000-64999: clear of well-known ports and of the test suite's
        # (diagnose reports a listener in any namespace, this one included)
        addr = "127.0.%d.%d" % (1 + (n // 15000) // 250, 1 + (n // 15000) % 250)
        port = 50000 + n % 15000
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(16)
        socks.append(s)
    others = [os.open("/dev/null", os.O_RDONLY) for _ in range(files)]
    os.write(ready_w, b"x")
    os.close(ready_w)
    while time.time() < deadline and os.getppid() != 1:
        time.sleep(0.5)
    os._exit(0)


def main():
    procs, listeners, files = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 600.0
    if procs * listeners > 200000:
        sys.exit("fixture.py: too many sockets")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    deadline = time.time() + seconds
    r, w = os.pipe()
    pids = []
    for i in range(procs):
        pid = os.fork()
        if pid == 0:
            os.close(r)
            child(i, listeners, files, deadline, w)
        pids.append(pid)
    os.close(w)
    got = 0
    while got < procs:
        chunk = os.read(r, procs - got)
        if not chunk:
            break
        got += len(chunk)

    def stop(*_):
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for p in pids:
            try:
                os.waitpid(p, 0)
            except ChildProcessError:
                pass
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("ready %d" % os.getpid(), flush=True)
    while time.time() < deadline:
        time.sleep(0.5)
    stop()


if __name__ == "__main__":
    main()
