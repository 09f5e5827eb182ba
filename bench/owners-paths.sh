#!/bin/sh
# The owner walk's two paths end to end: listeners.lua with its owners from
# the /proc walk (CONNRECIPE_OWNERS=proc) and from the BPF task-file iterator
# (=bpf), against ss -tlnp and against no owner walk at all (--no-processes),
# on fixtures of growing numbers of open files: where the iterator's fixed
# cost (loading it: ~12-15 ms of CPU) is repaid, i.e. the threshold of
# src/core/owners.c (BPF_MIN_FILES, on fs.file-nr).
#
# Usage: bench/owners-paths.sh [RUNS] [PROCS]   (defaults: 9 runs, "0 20 50 100 500")
# Env:   CONNRECIPE_BIN  executable to measure (default: a Release build made
#                        in ./build-bench, with the BPF iterator)
# Needs root (unshare -n, nsenter), python3, ss; a build with CONNRECIPE_BPF.
#
# Per entry of PROCS, bench/fixture.py in a private network namespace: that
# many processes, each holding one TCP listener and 100 other open files (0:
# no fixture, the machine as it is, in a namespace with no listener).
set -eu
cd "$(dirname "$0")/.."
runs="${1:-9}"
sizes="${2:-0 20 50 100 500}"

if [ -z "${CONNRECIPE_BIN:-}" ]; then
  cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCONNRECIPE_TESTS=OFF -DCONNRECIPE_BPF=ON >/dev/null
  cmake --build build-bench -j1 --target connrecipe >/dev/null
  CONNRECIPE_BIN=$PWD/build-bench/connrecipe
fi
bin=$CONNRECIPE_BIN
via=$(CONNRECIPE_OWNERS=bpf "$bin" -e 'local _, i = cr.listeners{processes = true}; print(i.owners_via, i.owners_bpf_error)')
case "$via" in
  bpf*) ;;
  *) echo "bench/owners-paths.sh: the BPF iterator cannot run here: $via" >&2; exit 1 ;;
esac
out="$(mktemp -d /tmp/connrecipe-bench.XXXXXX)"
fixture_pid=""
cleanup() {
  [ -n "$fixture_pid" ] && kill "$fixture_pid" 2>/dev/null && wait "$fixture_pid" 2>/dev/null
  rm -rf "$out"
}
trap cleanup EXIT INT TERM

echo "== $(nproc) CPUs, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $sizes; do
  if [ "$n" -gt 0 ]; then
    unshare -n python3 bench/fixture.py "$n" 1 100 1800 >"$out/ready" &
    fixture_pid=$!
    for _ in $(seq 1 600); do grep -q ready "$out/ready" 2>/dev/null && break; sleep 0.1; done
    ns_pid=$(awk '{print $2}' "$out/ready")
    [ -n "$ns_pid" ] || { echo "bench: the fixture did not start" >&2; exit 1; }
  else
    unshare -n sleep 1800 &
    fixture_pid=$!
    sleep 0.2
    ns_pid=$fixture_pid
  fi
  in_ns="nsenter -t $ns_pid -n"
  echo
  echo "== fixture of $n processes: $(ls /proc | grep -c '^[0-9]') processes, $(cut -f1 /proc/sys/fs/file-nr) open files (fs.file-nr), load $(cut -d' ' -f1-3 /proc/loadavg)"
  python3 bench/ratio.py "$runs" "ss -tlnp=$in_ns ss -tlnp" \
    "owners from /proc=env CONNRECIPE_OWNERS=proc $in_ns $bin listeners.lua --proto tcp" \
    "owners from BPF=env CONNRECIPE_OWNERS=bpf $in_ns $bin listeners.lua --proto tcp" \
    "no owners=$in_ns $bin listeners.lua --proto tcp --no-processes"
  kill "$fixture_pid"
  wait "$fixture_pid" 2>/dev/null || true
  fixture_pid=""
done
