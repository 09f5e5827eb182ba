"""Processes holding listening sockets in the shapes the two owner walks
(/proc and the BPF task-file iterator) must agree on: one socket shared by a
parent and its forked children, one on two fds of a process, a Unix
listener, a thread with an fd table of its own (unshare(CLONE_FILES)) holding
a listener no /proc/PID/fd shows, and many children with a socket each.

Usage: owner_fixture.py CHILDREN PORT READYFILE   (ports PORT.. PORT+CHILDREN+3)
Writes READYFILE when everything is open, then sleeps until killed."""
import ctypes
import os
import signal
import socket
import sys
import threading
import time

CLONE_FILES = 0x400
PR_SET_PDEATHSIG = 1


def listener(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(4)
    return s


def own_table_thread(port, done):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_FILES) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_FILES)")
    s = listener(port)  # only in this thread's table
    done.set()
    while True:
        time.sleep(3600)
    s.close()


def main():
    children, port, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    shared = listener(port)
    twice = listener(port + 1)
    dup_fd = os.dup(twice.fileno())  # the same socket on a second fd
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(ready + ".sock")
    unix.listen(4)
    done = threading.Event()
    threading.Thread(target=own_table_thread, args=(port + 2, done), daemon=True).start()
    done.wait()
    pids = []
    for i in range(children):
        own = listener(port + 3 + i)
        pid = os.fork()
        if pid == 0:
            libc = ctypes.CDLL(None)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # leave with the parent
            signal.pause()
            os._exit(0)
        own.close()  # the child's own listener: only the child holds it
        pids.append(pid)
    with open(ready + ".tmp", "w") as f:
        f.write("%d %s\n" % (os.getpid(), " ".join(map(str, pids))))
    os.rename(ready + ".tmp", ready)
    signal.pause()  # holding shared, twice, dup_fd and unix open
    return shared, twice, dup_fd, unix


main()
