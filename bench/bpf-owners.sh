#!/bin/sh
# Prototype: the owner walk as a BPF task-file iterator (bench/bpf_owners/)
# against the /proc walk connrecipe does, on the listeners fixture. Not part
# of connrecipe (see docs/performance.md); this measures whether it would pay.
#
# Usage: bench/bpf-owners.sh [RUNS] [SIZE]   (defaults: 9 runs, 10000 listeners)
# Needs root, clang, bpftool, libbpf-dev (Debian), /sys/kernel/btf/vmlinux.
set -eu
cd "$(dirname "$0")/.."
runs="${1:-9}"
size="${2:-10000}"
for tool in clang bpftool cc python3; do
  command -v "$tool" >/dev/null || { echo "bench/bpf-owners.sh: $tool is missing" >&2; exit 1; }
done
[ -r /sys/kernel/btf/vmlinux ] || { echo "bench/bpf-owners.sh: no /sys/kernel/btf/vmlinux (kernel BTF)" >&2; exit 1; }
out="$(mktemp -d /tmp/connrecipe-bench.XXXXXX)"
fixture_pid=""
cleanup() {
  [ -n "$fixture_pid" ] && kill "$fixture_pid" 2>/dev/null && wait "$fixture_pid" 2>/dev/null
  rm -rf "$out"
}
trap cleanup EXIT INT TERM

src=bench/bpf_owners
bpftool btf dump file /sys/kernel/btf/vmlinux format c >"$out/vmlinux.h"
clang -O2 -g -target bpf -D__TARGET_ARCH_x86 -I"$out" -c "$src/task_file.bpf.c" -o "$out/task_file.bpf.o"
bpftool gen skeleton "$out/task_file.bpf.o" >"$out/task_file.skel.h"
cc -O2 -Wall -I"$out" -o "$out/bpfwalk" "$src/bpfwalk.c" -lbpf -lelf -lz
cc -O2 -Wall -o "$out/procwalk" "$src/procwalk.c"

unshare -n python3 bench/fixture.py 500 $(( (size + 499) / 500 )) 100 900 >"$out/ready" &
fixture_pid=$!
for _ in $(seq 1 600); do grep -q ready "$out/ready" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$out/ready" || { echo "bench: the fixture did not start" >&2; exit 1; }
echo "== $size listeners, $(ls /proc | grep -c '^[0-9]') processes, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$out/procwalk"
for _ in 1 2 3; do "$out/bpfwalk"; done
python3 bench/ratio.py "$runs" "/proc walk=$out/procwalk" "bpf iterator=$out/bpfwalk"
