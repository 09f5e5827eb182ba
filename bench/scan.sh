#!/bin/sh
# Full-range TCP connect scan of 127.0.0.1 (ports 1-65535), side by side in one
# run: connrecipe's scan.lua, `nmap -sT -p- -T5 -n`, and the floor: a plain
# blocking socket()/connect()/close() loop in C (bench/connect_floor.c).
# Then the end-to-end cost of one closed-port probe (`connrecipe -e`).
#
# Usage: bench/scan.sh [RUNS]        (default 5; medians are reported)
# Env:   CONNRECIPE_BIN  executable to measure (default: a Release build made
#                        in ./build-bench)
# As root the scans run in a private network namespace (only its loopback, no
# other listeners); otherwise on the host's loopback.
set -eu
cd "$(dirname "$0")/.."
RUNS=${1:-5}
WORK=$(mktemp -d /tmp/connrecipe-bench.XXXXXX)
NS=""
cleanup() {
  [ -n "$NS" ] && ip netns del "$NS" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

for tool in hyperfine nmap cc lua5.4 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench/scan.sh: $tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done

if [ -z "${CONNRECIPE_BIN:-}" ]; then
  cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCONNRECIPE_TESTS=OFF >/dev/null
  cmake --build build-bench -j1 --target connrecipe >/dev/null
  CONNRECIPE_BIN=$PWD/build-bench/connrecipe
fi
cc -O2 -o "$WORK/connect_floor" bench/connect_floor.c

RUN=""
if [ "$(id -u)" = 0 ]; then
  NS=crbench-$$
  ip netns add "$NS"
  ip -n "$NS" link set lo up
  RUN="ip netns exec $NS"
fi

CR="$RUN $CONNRECIPE_BIN scan.lua 127.0.0.1 --ports 1-65535 --timeout 0.5"
NMAP="$RUN nmap -sT -p- -T5 -n -oN /dev/null 127.0.0.1"
FLOOR="$RUN $WORK/connect_floor 127.0.0.1 1 65535"

echo "== full-range connect scan of 127.0.0.1, $RUNS runs each (nproc=$(nproc), $(uname -r))"
hyperfine -N --style basic --warmup 1 --runs "$RUNS" --export-json "$WORK/scan.json" \
  -n connrecipe "$CR" -n nmap "$NMAP" -n connect_floor "$FLOOR" >/dev/null

echo "== one closed-port probe end to end, 20 runs"
PROBE="$RUN $CONNRECIPE_BIN -e 'cr.probe.tcp(\"127.0.0.1\", 1)'"
START="$RUN $CONNRECIPE_BIN -e 'return'"
hyperfine -N --style basic --warmup 3 --runs 20 --export-json "$WORK/probe.json" \
  -n probe "$PROBE" -n startup "$START" >/dev/null

peak_kb() { # max resident set of one run, in KiB
  /usr/bin/time -f %M sh -c "$1 >/dev/null 2>&1" 2>&1 | tail -1
}

lua5.4 - "$WORK/scan.json" "$WORK/probe.json" \
  "$(peak_kb "$CR")" "$(peak_kb "$NMAP")" "$(peak_kb "$FLOOR")" <<'LUA'
local json = require "dkjson"
local function load(path)
  local f = assert(io.open(path))
  local doc = json.decode(f:read("a"))
  f:close()
  local by = {}
  for _, r in ipairs(doc.results) do
    by[r.command] = r
  end
  return by
end
local scan, probe = load(arg[1]), load(arg[2])
local cr, nmap, floor = scan.connrecipe.median, scan.nmap.median, scan.connect_floor.median
print(("%-14s %9s %9s %9s %12s"):format("", "median s", "min s", "max s", "peak RSS KiB"))
for i, name in ipairs({ "connrecipe", "nmap", "connect_floor" }) do
  local r = scan[name]
  print(("%-14s %9.3f %9.3f %9.3f %12s"):format(name, r.median, r.min, r.max, arg[2 + i]))
end
print(("connrecipe / nmap  = %.2fx   (target <= 0.7x)"):format(cr / nmap))
print(("connrecipe / floor = %.2fx   (target <= 1.3x)"):format(cr / floor))
local p, s = probe.probe.median, probe.startup.median
print(("closed-port probe, end to end: %.1f ms median (startup alone %.1f ms, probe %.2f ms)"):format(
  p * 1000, s * 1000, (p - s) * 1000))
LUA
