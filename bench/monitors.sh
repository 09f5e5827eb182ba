#!/bin/sh
# Finding the container runtimes' monitors (containerd-shim, conmon), which
# containers.read does on every listeners/whoowns/diagnose run that names a
# container: connrecipe.monitors (comm only, then the few hits read whole)
# against pgrep (the tool a user would pick: it reads every process's stat)
# and against reading every process whole (cr.process.list, the first
# version). Run on the machine as it is: the process count is printed.
# Usage: bench/monitors.sh [RUNS]   (default 15). Needs python3.
set -eu
cd "$(dirname "$0")/.."
runs="${1:-15}"
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCONNRECIPE_TESTS=OFF >/dev/null
cmake --build build-bench -j1 >/dev/null
bin="${CONNRECIPE_BIN:-$PWD/build-bench/connrecipe}"
echo "processes: $(ls /proc | grep -c '^[0-9]')"
python3 bench/ratio.py "$runs" \
  "pgrep=pgrep -x conmon" \
  "monitors=$bin -e require('connrecipe.monitors').find()" \
  "process.list=$bin -e cr.process.list()" \
  "empty=$bin -e return"
