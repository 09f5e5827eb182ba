#!/bin/sh
# Builds the libFuzzer targets with clang in build-fuzz and runs each for
# SECONDS (default 60). Usage: scripts/fuzz.sh [SECONDS]
set -eu
cd "$(dirname "$0")/.."
seconds="${1:-60}"
case "$seconds" in *[!0-9]* | "") echo "fuzz.sh: SECONDS must be a number" >&2; exit 2 ;; esac
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCONNRECIPE_FUZZ=ON >/dev/null
cmake --build build-fuzz -j1 --target fuzz_procnet fuzz_portspec fuzz_cgroup fuzz_text fuzz_hosts fuzz_links fuzz_containerd
work="$(mktemp -d /tmp/connrecipe-fuzz.XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/procnet" "$work/portspec" "$work/cgroup" "$work/text" "$work/hosts" "$work/links" "$work/containerd"
cp tests/fuzz/corpus/procnet/* "$work/procnet/"
cp tests/fuzz/corpus/cgroup/* "$work/cgroup/"
cp tests/fuzz/corpus/links/* "$work/links/" # a real RTM_GETLINK read; a VRF and its member
cp tests/fuzz/corpus/containerd/* "$work/containerd/" # framed List responses, a bare one
printf '1-1024,8080' >"$work/portspec/seed"
printf 'nginx: worker\033]0;t\007\n caf\303\251 \302\233 \342\200\256 \377' >"$work/text/seed"
printf 'app.test\n127.0.0.1 localhost\n10.0.0.2\tdb App.Test # c\r\n# x app.test\n10.0.0.3 app.test' >"$work/hosts/seed"
# crash artifacts land in build-fuzz/ so CI can keep them
./build-fuzz/tests/fuzz/fuzz_procnet -max_total_time="$seconds" -max_len=4096 \
  -artifact_prefix=build-fuzz/ "$work/procnet"
./build-fuzz/tests/fuzz/fuzz_portspec -max_total_time="$seconds" -max_len=256 \
  -artifact_prefix=build-fuzz/ "$work/portspec"
./build-fuzz/tests/fuzz/fuzz_cgroup -max_total_time="$seconds" -max_len=4096 \
  -artifact_prefix=build-fuzz/ "$work/cgroup"
./build-fuzz/tests/fuzz/fuzz_text -max_total_time="$seconds" -max_len=1024 \
  -artifact_prefix=build-fuzz/ "$work/text"
./build-fuzz/tests/fuzz/fuzz_hosts -max_total_time="$seconds" -max_len=4096 \
  -artifact_prefix=build-fuzz/ "$work/hosts"
./build-fuzz/tests/fuzz/fuzz_links -max_total_time="$seconds" -max_len=8192 \
  -artifact_prefix=build-fuzz/ "$work/links"
./build-fuzz/tests/fuzz/fuzz_containerd -max_total_time="$seconds" -max_len=4096 \
  -artifact_prefix=build-fuzz/ "$work/containerd"
