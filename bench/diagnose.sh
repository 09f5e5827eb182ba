#!/bin/sh
# diagnose.lua on a refused localhost port against one `ss -tulnp` run, side by
# side in one run (hyperfine), then the breakdown of diagnose's time by check.
#
# Usage: bench/diagnose.sh [RUNS]     (default 20; medians are reported)
# Env:   CONNRECIPE_BIN  executable to measure (default: a Release build made
#                        in ./build-bench)
# As root both run in a private network namespace holding a few listeners (so
# neither tool sees the host's sockets); the process walk covers every process
# on the machine either way, as it would for a user.
set -eu
cd "$(dirname "$0")/.."
RUNS=${1:-20}
WORK=$(mktemp -d /tmp/connrecipe-bench.XXXXXX)
NS=""
cleanup() {
  if [ -n "$NS" ]; then
    ip netns pids "$NS" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

for tool in hyperfine ss lua5.4 socat; do
  command -v "$tool" >/dev/null || { echo "bench/diagnose.sh: $tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done

if [ -z "${CONNRECIPE_BIN:-}" ]; then
  cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCONNRECIPE_TESTS=OFF >/dev/null
  cmake --build build-bench -j1 --target connrecipe >/dev/null
  CONNRECIPE_BIN=$PWD/build-bench/connrecipe
fi

RUN=""
if [ "$(id -u)" = 0 ]; then
  NS=crbench-$$
  ip netns add "$NS"
  ip -n "$NS" link set lo up
  RUN="ip netns exec $NS"
  for port in 8081 8443 6380; do # a few listeners with owners, none on the target port
    $RUN timeout 300 socat TCP4-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork SYSTEM:true >/dev/null 2>&1 &
  done
  sleep 0.3
fi

DIAG="$RUN $CONNRECIPE_BIN diagnose.lua 127.0.0.1:8080"
SS="$RUN ss -tulnp"
echo "== diagnose.lua on a refused port vs ss -tulnp, $RUNS runs each (nproc=$(nproc), $(uname -r), $(ls /proc | grep -c '^[0-9]') processes)"
hyperfine -N -i --style basic --warmup 3 --runs "$RUNS" --export-json "$WORK/diag.json" \
  -n diagnose "$DIAG" -n "ss -tulnp" "$SS" >/dev/null

i=0
while [ $i -lt "$RUNS" ]; do # the breakdown by check, from --json
  $RUN "$CONNRECIPE_BIN" diagnose.lua 127.0.0.1:8080 --json >"$WORK/run-$i.json" || true
  i=$((i + 1))
done

lua5.4 - "$WORK" "$RUNS" <<'LUA'
local dkjson = require "dkjson"
local work, runs = arg[1], tonumber(arg[2])
local function read(path)
  local f = assert(io.open(path)); local s = f:read("a"); f:close(); return dkjson.decode(s)
end
local function median(t)
  table.sort(t); local n = #t
  return n % 2 == 1 and t[(n + 1) // 2] or (t[n // 2] + t[n // 2 + 1]) / 2
end
local by = {}
for _, r in ipairs(read(work .. "/diag.json").results) do by[r.command] = median(r.times) end
local d, s = by.diagnose, by["ss -tulnp"]
print(("diagnose.lua: %.1f ms   ss -tulnp: %.1f ms   ratio %.2fx (goal, issue 17: <= 1.0x with few listeners)"):format(d * 1e3, s * 1e3, d / s))
local checks, order, total = {}, {}, {}
for i = 0, runs - 1 do
  local doc = read(("%s/run-%d.json"):format(work, i))
  total[#total + 1] = doc.elapsed_ms
  for _, c in ipairs(doc.checks) do
    if not checks[c.name] then checks[c.name] = {}; order[#order + 1] = c.name end
    table.insert(checks[c.name], c.ms)
  end
end
print(("inside the recipe (median of %d): %.2f ms; checks (several run concurrently):"):format(runs, median(total)))
for _, name in ipairs(order) do print(("  %-44s %7.2f ms"):format(name, median(checks[name]))) end
LUA
