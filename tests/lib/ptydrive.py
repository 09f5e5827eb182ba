#!/usr/bin/env python3
"""Drives a program through a pseudo-terminal, as a person at a keyboard would.

usage: ptydrive.py [--cols N] STEPS_JSON -- command args...
--cols: the terminal's width (TIOCSWINSZ), as a window of N columns would set it.
STEPS_JSON is a list of steps:
  {"send": "text"}            type text ("\\r" for Enter, "\\x03" Ctrl-C, "\\x04" Ctrl-D, "\\t" Tab)
  {"expect": "regex", "timeout": s}   wait until the screen output matches (default 5 s)
  {"sleep": s}
Prints one JSON document: {"output": everything read, "status": exit status or null,
"failed": the step that timed out or null, "elapsed": {step index: seconds}}.
Bounded: every wait has a timeout; the child is killed at the end."""
import fcntl, json, os, pty, re, select, signal, struct, sys, termios, time


def read_available(fd, out, timeout):
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return False
    try:
        data = os.read(fd, 65536)
    except OSError:
        return None
    if not data:
        return None
    out.append(data.decode("utf-8", "replace"))
    return True


def main():
    sep = sys.argv.index("--")
    opts = sys.argv[1:sep]
    cols = None
    if opts[:1] == ["--cols"]:
        cols, opts = int(opts[1]), opts[2:]
    steps = json.loads(opts[0])
    argv = sys.argv[sep + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        if cols:  # before the program starts: it reads the size once it runs
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
        os.environ.setdefault("TERM", "xterm")
        os.execvp(argv[0], argv)
    out, failed, elapsed, mark = [], None, {}, 0
    for i, step in enumerate(steps):
        start = time.monotonic()
        if "send" in step:
            os.write(fd, step["send"].encode())
        elif "sleep" in step:
            end = start + step["sleep"]
            while time.monotonic() < end:
                if read_available(fd, out, end - time.monotonic()) is None:
                    break
        elif "expect" in step:
            pattern = re.compile(step["expect"])
            deadline = start + step.get("timeout", 5)
            while not pattern.search("".join(out)[mark:]):
                left = deadline - time.monotonic()
                if left <= 0 or read_available(fd, out, left) is None:
                    failed = i
                    break
            if failed is not None:
                break
            m = pattern.search("".join(out)[mark:])
            mark += m.end()
        elapsed[i] = time.monotonic() - start
    status = None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(st)
            # what it wrote just before exiting (a warning at exit) is still in the pty
            while read_available(fd, out, 0.2):
                pass
            break
        read_available(fd, out, 0.05)
    if status is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    # what it wrote just before exiting may still wait in the pty (bounded:
    # the child is gone, so reads end at EOF or after 50 ms of silence)
    while read_available(fd, out, 0.05):
        pass
    print(json.dumps({"output": "".join(out), "status": status, "failed": failed, "elapsed": elapsed}))


main()
