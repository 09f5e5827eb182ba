#!/bin/sh
# A huge /etc/hosts: connrecipe's lookup (cr.sys.hosts_lookup, and diagnose
# on a name that is not in it) against glibc's own scan (getent hosts), in a
# private network namespace with its own /etc/netns/NAME/hosts and an
# nsswitch.conf of "hosts: files" (no DNS: nothing leaves the machine).
# Usage: bench/hosts.sh [RUNS] [LINES]   (defaults: 7 runs, 2000000 lines)
# Needs root (ip netns), hyperfine, python3, bc.
set -eu
cd "$(dirname "$0")/.."
runs="${1:-7}"
lines="${2:-2000000}"
ns="crbench-hosts-$$"

cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCONNRECIPE_TESTS=OFF >/dev/null
cmake --build build-bench -j1 >/dev/null
bin="${CONNRECIPE_BIN:-$PWD/build-bench/connrecipe}"
out="$(mktemp -d /tmp/connrecipe-bench.XXXXXX)"
cleanup() {
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "/etc/netns/$ns" "$out"
}
trap cleanup EXIT INT TERM

ip netns add "$ns"
ip -n "$ns" link set lo up
mkdir -p "/etc/netns/$ns"
python3 - "$lines" "/etc/netns/$ns/hosts" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    f.write("127.0.0.1 localhost\n::1 localhost ip6-localhost\n")
    for i in range(n):
        f.write("10.%d.%d.%d host%d.example.test h%d\n" % (i >> 16 & 255, i >> 8 & 255, i & 255, i, i))
    f.write("127.0.0.9 the-last.test\n")
PY
printf 'hosts: files\n' >"/etc/netns/$ns/nsswitch.conf"
in_ns="ip netns exec $ns"

median() { # hyperfine JSON -> "median_ms cpu_ms" per command, in order (cpu: mean user + system)
  python3 -c 'import json,sys
for r in json.load(open(sys.argv[1]))["results"]:
    print("%.1f %.1f" % (r["median"] * 1000, (r["user"] + r["system"]) * 1000))' "$1"
}
peak_kb() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

# the last entry (found at the end) and a name the file does not hold (the
# whole file, twice for diagnose: the resolver's scan, then the lookup)
absent="print(#cr.sys.hosts_lookup('absent.test'))"
last="print(cr.sys.hosts_lookup('the-last.test')[1].line)"
# each must give its answer (hyperfine -i below keeps going on exit 1)
[ "$($in_ns "$bin" -e "$absent")" = 0 ] || { echo "bench: the lookup failed" >&2; exit 1; }
[ "$($in_ns "$bin" -e "$last")" = $((lines + 3)) ] || { echo "bench: the last entry was not found" >&2; exit 1; }
hyperfine -N -w 1 -r "$runs" -i --export-json "$out/h.json" \
  "$in_ns getent hosts absent.test" "$in_ns $bin -e \"$absent\"" "$in_ns $bin -e \"$last\"" \
  "$in_ns $bin diagnose.lua absent.test:80" >/dev/null 2>&1
set -- $(median "$out/h.json")
getent=$1 getent_cpu=$2 lookup=$3 lookup_cpu=$4 found=$5 found_cpu=$6 diagnose=$7 diagnose_cpu=$8

printf '%s lines, %s MB; median of %s runs, peak RSS of one\n' "$lines" \
  "$(( $(stat -c %s "/etc/netns/$ns/hosts") / 1000000 ))" "$runs"
printf '%-40s %9s %9s %9s %7s\n' command ms cpu-ms peak-KB ratio
row() {
  printf '%-40s %9s %9s %9s %7s\n' "$1" "$2" "$3" "$4" "$(echo "$2 / $getent" | bc -l | cut -c1-5)"
}
row "getent hosts absent.test" "$getent" "$getent_cpu" "$(peak_kb $in_ns getent hosts absent.test)"
row "cr.sys.hosts_lookup('absent.test')" "$lookup" "$lookup_cpu" "$(peak_kb $in_ns "$bin" -e "$absent")"
row "cr.sys.hosts_lookup('the-last.test')" "$found" "$found_cpu" "$(peak_kb $in_ns "$bin" -e "$last")"
row "diagnose.lua absent.test:80" "$diagnose" "$diagnose_cpu" \
  "$(peak_kb $in_ns "$bin" diagnose.lua absent.test:80)"
echo "(ms: median wall time; cpu-ms: mean user + system time; ratio: wall time against getent hosts, glibc's own scan of the same file; diagnose resolves"
echo " the name through glibc first, then looks it up in the file)"
