#!/usr/bin/env python3
"""Interleaved timing of commands against an anchor, for a shared, noisy machine.

usage: ratio.py RUNS NAME=COMMAND [NAME=COMMAND ...]   (the first is the anchor)

Each round runs every command once, in a fresh random order (so a burst of load
from other work hits all of them alike), output to /dev/null, after one
warm-up round. Prints, per command, the median wall time and the median CPU
time (user + system of the child, from wait4's rusage: robust against waiting
for a CPU), and both ratios against the anchor. Commands are split on spaces
(no shell). A command whose exit status changes between runs stops the run
(diagnose exits 1 on a refused port: a status is fine, a changing one is not).
With --json PATH the medians are also written there."""
import json
import os
import random
import statistics
import subprocess
import sys
import time


def run_once(argv):
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status)


def main(args):
    out_json = None
    if len(args) >= 2 and args[0] == "--json":
        out_json, args = args[1], args[2:]
    if len(args) < 2:
        sys.exit(__doc__)
    runs = int(args[0])
    cmds = []
    for spec in args[1:]:
        name, _, cmd = spec.partition("=")
        cmds.append((name, cmd.split()))
    times = {name: ([], []) for name, _ in cmds}
    codes = {}
    for rnd in range(runs + 1):
        order = cmds[:]
        random.shuffle(order)
        for name, argv in order:
            wall, cpu, code = run_once(argv)
            if codes.setdefault(name, code) != code:
                sys.exit("ratio.py: %s exited with %d, then %d" % (" ".join(argv), codes[name], code))
            if rnd > 0:  # round 0 warms the caches
                times[name][0].append(wall)
                times[name][1].append(cpu)
    anchor = cmds[0][0]
    aw = statistics.median(times[anchor][0])
    ac = statistics.median(times[anchor][1])
    result = {}
    print("%-28s %10s %10s %8s %8s" % ("command (median of %d)" % runs, "wall ms", "CPU ms", "wall/a", "CPU/a"))
    for name, _ in cmds:
        w = statistics.median(times[name][0])
        c = statistics.median(times[name][1])
        result[name] = {"wall_ms": w * 1e3, "cpu_ms": c * 1e3, "wall_ratio": w / aw, "cpu_ratio": c / ac}
        print("%-28s %10.1f %10.1f %8.3f %8.3f" % (name, w * 1e3, c * 1e3, w / aw, c / ac))
    if out_json:
        with open(out_json, "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1:])
