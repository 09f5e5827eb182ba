#!/bin/sh
# Installs the Debian packages connrecipe needs (only those missing), then
# configures and builds into ./build. Usage: ./scripts/setup.sh [extra cmake args]
set -eu
cd "$(dirname "$0")/.."

# build: compiler, cmake, pkg-config, libraries (libnghttp2, protobuf-c and
# protoc-c for containerd's gRPC API); run: lua-dkjson, iproute2;
# tests: busted, luacheck, cmocka, the real servers and tools the tests drive,
# clang's libFuzzer runtime for the fuzz targets; the readers of --format's
# output: xmllint (libxml2-utils), prove (perl), promtool (prometheus); dockerd,
# containerd (ctr) and podman with busybox-static for the container tests (an
# image imported from busybox, never pulled);
# the Ansible tests: ansible-core, and openssh-server for the managed hosts' sshd;
# the owner walk's BPF iterator: clang (above), bpftool, libbpf-dev.
PACKAGES="build-essential cmake pkg-config liblua5.4-dev libuv1-dev libedit-dev libssl-dev libcmocka-dev
libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler
lua5.4 lua-dkjson lua-cjson lua-busted lua-check iproute2 iptables nftables socat nmap
python3 procps util-linux nginx-light redis-server postgresql mariadb-server hyperfine valgrind
man-db groff-base clang libclang-rt-14-dev tmux lsof libxml2-utils perl prometheus docker.io busybox-static
containerd podman
ansible-core openssh-server openssh-client bpftool libbpf-dev"

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing:$missing" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages and not root; run: sudo apt-get install$missing" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONNRECIPE_BPF=ON "$@" >/dev/null
cmake --build build -j "$(nproc)"
