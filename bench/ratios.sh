#!/bin/sh
# The performance goals of docs/performance.md, each as a ratio against its
# anchor measured in the same run (bench/ratio.py: interleaved rounds, medians
# of wall and of CPU time).
#
# Usage: bench/ratios.sh [RUNS] [SIZES]   (defaults: 9 runs, "1000 10000 50000")
# Env:   CONNRECIPE_BIN  executable to measure (default: a Release build made
#                        in ./build-bench)
# Needs root (unshare -n, ip netns), python3, ss, socat.
#
# Per size, bench/fixture.py in a private network namespace: 500 processes
# holding SIZE TCP listeners and 100 other files each. Inside it:
#   ss -tlnp (anchor), listeners.lua text and --json, --no-processes;
#   ss -tulnp (anchor) and diagnose.lua on a refused port (127.0.0.1:47:
#   no listener on or near it in any namespace, not a well-known port).
# Then, with no fixture, diagnose.lua vs ss -tulnp in a namespace holding one
# listener ("quiet").
set -eu
cd "$(dirname "$0")/.."
runs="${1:-9}"
sizes="${2:-1000 10000 50000}"
procs=500
files=100
target=47

if [ -z "${CONNRECIPE_BIN:-}" ]; then
  cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCONNRECIPE_TESTS=OFF >/dev/null
  cmake --build build-bench -j1 --target connrecipe >/dev/null
  CONNRECIPE_BIN=$PWD/build-bench/connrecipe
fi
bin=$CONNRECIPE_BIN
out="$(mktemp -d /tmp/connrecipe-bench.XXXXXX)"
fixture_pid=""
NS=""
cleanup() {
  [ -n "$fixture_pid" ] && kill "$fixture_pid" 2>/dev/null && wait "$fixture_pid" 2>/dev/null
  if [ -n "$NS" ]; then
    ip netns pids "$NS" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
  fi
  rm -rf "$out"
}
trap cleanup EXIT INT TERM

echo "== $(nproc) CPUs, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), $(ls /proc | grep -c '^[0-9]') processes before the fixture"
for n in $sizes; do
  per=$(( (n + procs - 1) / procs ))
  unshare -n python3 bench/fixture.py "$procs" "$per" "$files" 1800 >"$out/ready" &
  fixture_pid=$!
  for _ in $(seq 1 600); do grep -q ready "$out/ready" 2>/dev/null && break; sleep 0.1; done
  ns_pid=$(awk '{print $2}' "$out/ready")
  [ -n "$ns_pid" ] || { echo "bench: the fixture did not start" >&2; exit 1; }
  in_ns="nsenter -t $ns_pid -n"
  echo
  # the owner walk reads every process of the machine: what else runs counts
  echo "== $($in_ns ss -tlnH | wc -l) TCP listeners, $(ls /proc | grep -c '^[0-9]') processes, $(cut -f1 /proc/sys/fs/file-nr) open files, load $(cut -d' ' -f1-3 /proc/loadavg)"
  python3 bench/ratio.py "$runs" "ss -tlnp=$in_ns ss -tlnp" \
    "listeners text=$in_ns $bin listeners.lua --proto tcp" \
    "listeners --json=$in_ns $bin listeners.lua --proto tcp --json" \
    "text --no-processes=$in_ns $bin listeners.lua --proto tcp --no-processes" \
    "json --no-processes=$in_ns $bin listeners.lua --proto tcp --no-processes --json"
  python3 bench/ratio.py "$runs" "ss -tulnp=$in_ns ss -tulnp" \
    "diagnose refused=$in_ns $bin diagnose.lua 127.0.0.1:$target"
  kill "$fixture_pid"
  wait "$fixture_pid" 2>/dev/null || true
  fixture_pid=""
done

NS=crbench-ratios-$$
ip netns add "$NS"
ip -n "$NS" link set lo up
ip netns exec "$NS" timeout 600 socat TCP4-LISTEN:8081,bind=127.0.0.1,reuseaddr,fork SYSTEM:true >/dev/null 2>&1 &
for _ in $(seq 1 50); do ip netns exec "$NS" ss -tlnH | grep -q 8081 && break; sleep 0.1; done
echo
echo "== quiet namespace (one listener), $(ls /proc | grep -c '^[0-9]') processes"
python3 bench/ratio.py "$runs" "ss -tulnp=ip netns exec $NS ss -tulnp" \
  "diagnose refused=ip netns exec $NS $bin diagnose.lua 127.0.0.1:$target" \
  "start-up alone=ip netns exec $NS $bin -e return"
