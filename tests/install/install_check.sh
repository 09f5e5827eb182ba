#!/bin/sh
# `cmake --install` into a temporary DESTDIR with a prefix of our own: every
# expected file is there, and the installed executable runs from another
# directory with the source and build trees out of sight (hidden under empty
# mounts in a private mount namespace when we are root).
# Usage: install_check.sh BUILD_DIR SOURCE_DIR LUA_CMOD_DIR
set -eu
build=$1 source=$2 cmod=$3
prefix=/opt/connrecipe-install-test
tmp=$(mktemp -d /tmp/connrecipe-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
root=$tmp/root
fail() {
  echo "install_check: $*" >&2
  exit 1
}

DESTDIR=$root cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" ||
  fail "cmake --install failed: $(cat "$tmp/install.log")"

case $cmod in /*) moddir=$root$cmod ;; *) moddir=$root$prefix/$cmod ;; esac
bin=$root$prefix/bin/connrecipe
for f in "$bin" "$moddir/connrecipe.so" \
  "$root$prefix/share/connrecipe/recipes/scan.lua" \
  "$root$prefix/share/connrecipe/recipes/waitfor.lua" \
  "$root$prefix/share/man/man1/connrecipe.1.gz" \
  "$root$prefix/share/doc/connrecipe/copyright" \
  "$root$prefix/share/doc/connrecipe/changelog.Debian.gz" \
  "$root$prefix/share/bash-completion/completions/connrecipe" \
  "$root$prefix/share/doc/connrecipe/api.md" \
  "$root$prefix/share/doc/connrecipe/README.md" \
  "$root$prefix/share/ansible/plugins/modules/connrecipe.lua" \
  "$root$prefix/share/connrecipe/ansible/library/connrecipe.lua" \
  "$root$prefix/share/connrecipe/ansible/fleet-diagnose.yml" \
  "$root$prefix/share/connrecipe/ansible/filter_plugins/connrecipe_fleet.py"; do
  [ -f "$f" ] || fail "not installed: ${f#"$root"}"
done
[ -x "$bin" ] || fail "not executable: $prefix/bin/connrecipe"
# The man page is installed compressed only, without a timestamp, and is the source's.
man=$root$prefix/share/man/man1/connrecipe.1.gz
[ ! -e "${man%.gz}" ] || fail "the man page is installed uncompressed too"
gzip -t "$man" || fail "not a valid gzip file: ${man#"$root"}"
gzip -dc "$man" | cmp -s - "$source/docs/connrecipe.1" || fail "${man#"$root"} is not docs/connrecipe.1"
[ "$(od -An -tu4 -j4 -N4 "$man" | tr -d ' ')" = 0 ] || fail "${man#"$root"} has a timestamp (gzip -n)"
# The copyright file is machine-readable (DEP-5) and carries LICENSE's text.
copyright=$root$prefix/share/doc/connrecipe/copyright
head -n 1 "$copyright" | grep -q '^Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/$' ||
  fail "copyright does not start with the DEP-5 Format line"
sed -n '5,$p' "$source/LICENSE" >"$tmp/license" # after "MIT License", the copyright line and blank lines
awk 'p { sub(/^ \.?/, ""); print } /^License: / && prev == "" { p = 1 } { prev = $0 }' "$copyright" |
  cmp -s - "$tmp/license" || fail "the license text in copyright differs from LICENSE"
# No licence file besides copyright (lintian: extra-license-file).
for f in "$root$prefix"/share/doc/connrecipe/*; do
  case ${f##*/} in
    LICENSE* | LICENCE* | COPYING*) fail "a licence file besides copyright is installed: ${f#"$root"}" ;;
  esac
done
# The Debian changelog: compressed, no timestamp, the source's.
changelog=$root$prefix/share/doc/connrecipe/changelog.Debian.gz
gzip -t "$changelog" || fail "not a valid gzip file: ${changelog#"$root"}"
gzip -dc "$changelog" | cmp -s - "$source/packaging/debian/changelog" ||
  fail "${changelog#"$root"} is not packaging/debian/changelog"
[ "$(od -An -tu4 -j4 -N4 "$changelog" | tr -d ' ')" = 0 ] || fail "${changelog#"$root"} has a timestamp (gzip -n)"
# Installed binaries carry no path back into the build tree.
if readelf -d "$bin" "$moddir/connrecipe.so" | grep -E 'R(UN)?PATH'; then
  fail "installed files keep an RPATH"
fi

# What the installed executable must do with nothing but itself. HOME and the
# XDG directories point at an empty directory, so no user recipe interferes.
cat >"$tmp/run.sh" <<'EOF'
set -eu
bin=$1
cd /
export HOME="$2" XDG_CONFIG_HOME="$2/config" XDG_STATE_HOME="$2/state"
unset CONNRECIPE_PATH
"$bin" --version | grep -q '^connrecipe [0-9]'
[ "$("$bin" -e 'print(require "connrecipe.json".encode {ok = true})')" = '{"ok":true}' ]
[ "$("$bin" -e 'print(require "cjson".encode {1})')" = '[1]' ]
"$bin" --list | grep -q '^scan '
"$bin" scan.lua --help | grep -q -- '--ports'
status=0
"$bin" waitfor.lua 127.0.0.1:1 --timeout 0.2 >/dev/null 2>&1 || status=$?
[ "$status" -eq 1 ] || { echo "waitfor.lua on a closed port exited $status, expected 1" >&2; exit 1; }
EOF
mkdir -p "$tmp/home"
if [ "$(id -u)" -eq 0 ] && unshare -m true 2>/dev/null; then
  # shellcheck disable=SC2016 # expanded by the inner shell
  unshare -m sh -c 'mount -t tmpfs none "$1" && case $2 in "$1"/*) ;; *) mount -t tmpfs none "$2" ;; esac &&
    [ ! -e "$1/CMakeLists.txt" ] && sh "$3" "$4" "$5"' \
    sh "$source" "$build" "$tmp/run.sh" "$bin" "$tmp/home" || fail "installed binary failed with the source tree hidden"
else
  echo "install_check: not root: running without hiding the source tree" >&2
  sh "$tmp/run.sh" "$bin" "$tmp/home" || fail "installed binary failed"
fi

# The stock lua5.4 loads the installed module (an ASan-instrumented one needs
# the ASan runtime preloaded into the uninstrumented interpreter).
asan=$(ldd "$moddir/connrecipe.so" | awk '/libasan/ { print $3 }')
out=$(cd / && LD_PRELOAD=$asan ASAN_OPTIONS=detect_leaks=0 LUA_CPATH="$moddir/?.so" \
  lua5.4 -e 'local cr = require "connrecipe"; print(cr.version)') ||
  fail "lua5.4 cannot require the installed connrecipe.so"
[ -n "$out" ] || fail "connrecipe.version is empty"
echo "install_check: ok ($prefix, module in $cmod)"
