#!/bin/sh
# containerd's containers with their state: cr.containerd (connrecipe's own
# gRPC client: one HTTP/2 connection, containers List and tasks List)
# against ctr (the CLI a user would pick; `ctr containers ls` alone, which
# shows no state, and `ctr tasks ls`). A private containerd (its own socket,
# state and root in a temporary directory, no CRI) holds COUNT containers
# made with `ctr containers create` and TASKS of them running a sleep.
# Usage: sudo bench/containerd.sh [RUNS] [COUNT] [TASKS]   (default 15 200 10)
# Needs containerd, runc, busybox-static, python3, lua5.4.
set -eu
cd "$(dirname "$0")/.."
runs="${1:-15}" count="${2:-200}" tasks="${3:-10}"
bin="${CONNRECIPE_BIN:-}"
if [ -z "$bin" ]; then
  cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCONNRECIPE_TESTS=OFF >/dev/null
  cmake --build build-bench -j1 >/dev/null
  bin="$PWD/build-bench/connrecipe"
fi
dir="$(mktemp -d /tmp/crbench-ctrd.XXXXXX)"
sock="$dir/c.sock"
export CONTAINERD_SNAPSHOTTER=native
ctr="ctr --address $sock -n default"
# the cgroup parents and runc/fifo directories containerd makes outside its
# own, removed at the end when this run made them (and they are empty)
made_dirs() {
  ls -d /sys/fs/cgroup/*/default /sys/fs/cgroup/default /run/containerd/runc/default /run/containerd/runc \
    /run/containerd/fifo /run/containerd/s 2>/dev/null || true
}
before="$(made_dirs)"
cleanup() {
  for i in $(seq 1 "$tasks"); do $ctr task kill -s KILL "b$i" >/dev/null 2>&1 || true; done
  sleep 1
  for i in $(seq 1 "$tasks"); do $ctr task rm "b$i" >/dev/null 2>&1 || true; done
  for i in $(seq 1 "$count"); do echo "b$i"; done | xargs -r $ctr containers rm >/dev/null 2>&1 || true
  [ -f "$dir/pid" ] && kill "$(cat "$dir/pid")" 2>/dev/null && sleep 1
  rm -rf "$dir"
  for d in $(made_dirs | sort -r); do
    echo "$before" | grep -qx "$d" || rmdir "$d" 2>/dev/null || true
  done
}
trap cleanup EXIT
printf 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt"]\n' \
  >"$dir/config.toml"
containerd --config "$dir/config.toml" --address "$sock" --state "$dir/state" --root "$dir/root" \
  >"$dir/log" 2>&1 &
echo $! >"$dir/pid"
for _ in $(seq 1 50); do $ctr version >/dev/null 2>&1 && break; sleep 0.2; done
archive="$(lua5.4 -e 'package.path = "tests/lib/?.lua;" .. package.path
  local images = require "images"; print(images.oci_archive(images.rootfs(), "docker.io/library/crbench:1"))' | tail -n 1)"
$ctr images import "$archive" >/dev/null
rm -rf "$(dirname "$archive")"
for i in $(seq 1 "$count"); do
  if [ "$i" -le "$tasks" ]; then
    $ctr run -d docker.io/library/crbench:1 "b$i" sleep 600 >/dev/null
  else
    $ctr containers create docker.io/library/crbench:1 "b$i" true >/dev/null
  fi
done
echo "containers: $count, running tasks: $tasks"
python3 bench/ratio.py "$runs" \
  "ctr-containers=$ctr containers ls" \
  "ctr-tasks=$ctr tasks ls" \
  "cr.containerd=$bin -e cr.containerd{socket='$sock',namespace='default'}" \
  "cr.containerd-all-ns=$bin -e cr.containerd{socket='$sock'}" \
  "empty=$bin -e return"
