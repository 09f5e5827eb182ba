#!/bin/sh
# listeners.lua against ss and lsof on a fixture of TCP listeners held by 500
# processes that each also hold ~100 other open files, inside a private
# network namespace (unshare -n) so nothing collides with the host.
# Usage: bench/listeners.sh [RUNS] [SIZES]   (defaults: 7 runs, "1000 10000 50000")
# Needs root (unshare -n, nsenter), hyperfine, ss, lsof, python3.
set -eu
cd "$(dirname "$0")/.."
runs="${1:-7}"
sizes="${2:-1000 10000 50000}"
procs=500
files=100

cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCONNRECIPE_TESTS=OFF >/dev/null
cmake --build build-bench -j1 >/dev/null
bin="$PWD/build-bench/connrecipe"
out="$(mktemp -d /tmp/connrecipe-bench.XXXXXX)"
fixture_pid=""
cleanup() {
  [ -n "$fixture_pid" ] && kill "$fixture_pid" 2>/dev/null && wait "$fixture_pid" 2>/dev/null
  rm -rf "$out"
}
trap cleanup EXIT INT TERM

median() { # hyperfine JSON -> "median_ms" per command, in order
  python3 -c 'import json,sys
for r in json.load(open(sys.argv[1]))["results"]:
    print("%.1f" % (r["median"] * 1000))' "$1"
}

peak_kb() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

printf '%-7s %-10s %-10s %-10s %-10s %-10s %-8s %-8s %-8s %-9s %-9s\n' sockets ss-tlnp cr-p lsof ss-tln cr-nop \
  "p/ss" "p/lsof" "nop/ss" "cr-KB" "ss-KB"
for n in $sizes; do
  per=$(( (n + procs - 1) / procs ))
  unshare -n python3 bench/fixture.py "$procs" "$per" "$files" 900 >"$out/ready" &
  fixture_pid=$!
  for _ in $(seq 1 600); do grep -q ready "$out/ready" 2>/dev/null && break; sleep 0.1; done
  ns_pid=$(awk '{print $2}' "$out/ready")
  [ -n "$ns_pid" ] || { echo "bench: the fixture did not start" >&2; exit 1; }
  in_ns="nsenter -t $ns_pid -n"
  got=$($in_ns ss -tlnH | wc -l)
  lsof_cmd="$in_ns lsof -nP -iTCP -sTCP:LISTEN"
  lsof_runs=$runs
  [ "$n" -gt 10000 ] && lsof_runs=3 # lsof takes seconds there
  hyperfine -N -w 1 -r "$runs" --export-json "$out/a.json" \
    "$in_ns ss -tlnp" "$in_ns $bin listeners.lua --proto tcp" \
    "$in_ns ss -tln" "$in_ns $bin listeners.lua --proto tcp --no-processes" >/dev/null 2>&1
  hyperfine -N -w 0 -r "$lsof_runs" -i --export-json "$out/b.json" "$lsof_cmd" >/dev/null 2>&1
  set -- $(median "$out/a.json") $(median "$out/b.json")
  ss_p=$1 cr_p=$2 ss_n=$3 cr_n=$4 lsof=$5
  cr_kb=$(peak_kb $in_ns "$bin" listeners.lua --proto tcp)
  ss_kb=$(peak_kb $in_ns ss -tlnp)
  printf '%-7s %-10s %-10s %-10s %-10s %-10s %-8s %-8s %-8s %-9s %-9s\n' "$got" "$ss_p" "$cr_p" "$lsof" "$ss_n" "$cr_n" \
    "$(echo "$cr_p / $ss_p" | bc -l | cut -c1-5)" "$(echo "$cr_p / $lsof" | bc -l | cut -c1-5)" \
    "$(echo "$cr_n / $ss_n" | bc -l | cut -c1-5)" "$cr_kb" "$ss_kb"
  kill "$fixture_pid"
  wait "$fixture_pid" 2>/dev/null || true
  fixture_pid=""
done
echo "(times: median ms of $runs runs; p = with processes, nop = without; KB = peak RSS)"
