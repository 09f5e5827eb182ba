#!/bin/sh
# CPU-bound Lua (bench/lua_cpu.lua) under connrecipe against the stock lua5.4,
# in one run: the executable running it as a recipe, the stock lua5.4 running
# it inside cr.run with connrecipe.so, and the stock lua5.4 alone. The runs are
# interleaved (drift on a shared machine hits every command alike); the
# figures are medians of CPU time (user + system: what the interpreter costs,
# whatever else the machine does) and of wall time.
# Usage: bench/lua-cpu.sh [RUNS] [SCALE]   (defaults: 11 runs, scale 3)
# Needs lua5.4, cmake, cc and python3 (for the timing: CPU time from getrusage).
set -eu
cd "$(dirname "$0")/.."
runs="${1:-11}"
scale="${2:-3}"

if [ -z "${CONNRECIPE_BIN:-}" ]; then
  cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCONNRECIPE_TESTS=OFF >/dev/null
  cmake --build build-bench -j2 >/dev/null
  bin="$PWD/build-bench/connrecipe"
else
  bin="$CONNRECIPE_BIN"
fi
module_dir="$(dirname "$bin")"
work="$(pwd)/bench/lua_cpu.lua"
out="$(mktemp -d /tmp/connrecipe-bench.XXXXXX)"
trap 'rm -rf "$out"' EXIT INT TERM

expected=$(lua5.4 "$work" "$scale")
run() { # name command... : appends "wall cpu" to $out/name, checks the output
  name=$1
  shift
  python3 -c 'import resource, subprocess, sys, time
start = time.monotonic()
subprocess.run(sys.argv[2:], stdout=open(sys.argv[1], "w"), check=True)
wall = time.monotonic() - start
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.4f %.4f" % (wall, ru.ru_utime + ru.ru_stime))' "$out/stdout" "$@" >>"$out/$name"
  [ "$(cat "$out/stdout")" = "$expected" ] || { echo "bench: $name printed something else" >&2; exit 1; }
}

for _ in $(seq 1 "$runs"); do
  run stock lua5.4 "$work" "$scale"
  run connrecipe "$bin" "$work" "$scale"
  run cr.run lua5.4 -e "package.cpath = '$module_dir/?.so;' .. package.cpath
    arg = {[0] = '$work', '$scale'}
    require('connrecipe').run(dofile, '$work')"
done

median() { # column file
  cut -d' ' -f"$1" "$2" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
stock_cpu=$(median 2 "$out/stock")
printf '%-12s %10s %10s %10s\n' "" "cpu s" "wall s" "cpu ratio"
for name in stock connrecipe cr.run; do
  cpu=$(median 2 "$out/$name")
  printf '%-12s %10s %10s %9.3fx\n' "$name" "$cpu" "$(median 1 "$out/$name")" \
    "$(echo "$cpu $stock_cpu" | awk '{ print $1 / $2 }')"
done
echo "(medians of $runs runs, scale $scale; goal: connrecipe / stock <= 1.05x)"
