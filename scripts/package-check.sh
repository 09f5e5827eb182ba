#!/usr/bin/env bash
# Builds the Debian package (cpack -G DEB), installs it with apt-get, runs the
# installed connrecipe from /, then removes the package and checks that none
# of its files is left. Changes the machine: run as root on a machine where
# that is fine (CI). If no connrecipe package was installed before, none is
# after, whatever happens; one that was installed before is replaced by this
# build and left installed (the removal check is then skipped).
# Usage: scripts/package-check.sh [BUILD_DIR]   (default: build, configured)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -qq --no-install-recommends -o DPkg::Lock::Timeout=120)

say() { printf 'package-check: %s\n' "$*"; }
fail() {
  say "FAILED: $*" >&2
  exit 1
}
installed() { dpkg-query -W -f='${Status}' connrecipe 2>/dev/null | grep -q 'ok installed'; }
# Runs a command with a bound on its time; no stdin.
bounded() { timeout 120 "$@" </dev/null; }

[ "$(id -u)" -eq 0 ] || fail "needs root (it installs and removes a package)"
[ -f "$build/CMakeCache.txt" ] || fail "$build is not a configured build directory"

was_installed=""
if installed; then
  was_installed=$(dpkg-query -W -f='${Version}' connrecipe)
  say "connrecipe $was_installed is installed already: it will be replaced and left installed"
fi
cleanup() {
  if [ -z "$was_installed" ] && installed; then
    say "removing the package installed by this check"
    timeout 300 apt-get remove "${apt_opts[@]}" connrecipe >/dev/null || dpkg -r connrecipe >/dev/null
  fi
}
trap cleanup EXIT
trap "exit 130" INT
trap "exit 143" TERM

# --- build the package ---------------------------------------------------------
bounded cmake --build "$build" -j "$(nproc)" >/dev/null
rm -f "$build"/connrecipe_*.deb
(cd "$build" && bounded cpack -G DEB >/dev/null)
debs=("$build"/connrecipe_*.deb)
if [ "${#debs[@]}" -ne 1 ] || [ ! -f "${debs[0]}" ]; then
  fail "cpack made no single connrecipe_*.deb in $build"
fi
deb=$(realpath "${debs[0]}")
say "built $(basename "$deb"): $(dpkg-deb -f "$deb" Package Version Depends | tr '\n' ' ')"

# --- install and run from the installed location ---------------------------------
timeout 300 apt-get install --reinstall "${apt_opts[@]}" "$deb" >/dev/null || fail "apt-get install $deb"
installed || fail "dpkg does not list connrecipe as installed"
mapfile -t files < <(dpkg -L connrecipe)

bin=$(command -v connrecipe) || fail "connrecipe is not on PATH after install"
[ "$bin" = /usr/bin/connrecipe ] || fail "connrecipe on PATH is $bin, not /usr/bin/connrecipe"
cd /
home=$(mktemp -d /tmp/connrecipe-package-check.XXXXXX)
run() { HOME=$home XDG_CONFIG_HOME=$home/config XDG_STATE_HOME=$home/state CONNRECIPE_PATH='' bounded "$@"; }
expect_status() { # expect_status CODE command...
  local want=$1 got=0
  shift
  run "$@" >"$home/out" 2>&1 || got=$?
  [ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want: $(head -c 2000 "$home/out")"
}
run connrecipe --version
run connrecipe --list | grep -q '^waitfor ' || fail "--list does not show waitfor"
expect_status 1 connrecipe waitfor.lua 127.0.0.1:1 --timeout 0.2
# the wait-for-it mode, and through a link: the package makes none (Debian's
# wait-for-it package owns /usr/bin/wait-for-it)
expect_status 124 connrecipe wait-for-it 127.0.0.1:1 -t 1
ln -s /usr/bin/connrecipe "$home/wait-for-it"
expect_status 124 "$home/wait-for-it" -q -h 127.0.0.1 -p 1 -t 1
expect_status 0 connrecipe scan.lua 127.0.0.1 --ports 1-100
[ "$(run connrecipe -e 'print(require "cjson".encode {1})')" = "[1]" ] || fail "cjson from the installed binary"
# libssl is loaded by the TLS probe on first use (dlopen): dpkg-shlibdeps cannot
# see it, so the package names it, and the installed binary must find it
dpkg-deb -f "$deb" Depends | grep -q 'libssl3' || fail "the package does not depend on libssl3"
tls=$(run connrecipe -e 'local r = cr.probe.tls("127.0.0.1", 1) print(r.status, r.errno)')
[ "${tls%%$'\t'*}" != error ] || fail "the installed binary's TLS probe: $tls"
run lua5.4 -e 'assert(require "connrecipe".version)' || fail "stock lua5.4 cannot require the installed module"
# lintian-style hygiene: the man page compressed, the license as copyright
# (and no other licence file), a Debian changelog for the package's version
ships() {
  local f
  for f in "${files[@]}"; do [ "$f" = "$1" ] && return 0; done
  return 1
}
! ships /usr/bin/wait-for-it || fail "the package ships /usr/bin/wait-for-it (Debian's wait-for-it package owns it)"
man_page=/usr/share/man/man1/connrecipe.1.gz
ships "$man_page" || fail "the package does not ship $man_page"
! ships /usr/share/man/man1/connrecipe.1 || fail "the package ships an uncompressed man page"
ships /usr/share/doc/connrecipe/copyright || fail "the package ships no /usr/share/doc/connrecipe/copyright"
head -n 1 /usr/share/doc/connrecipe/copyright | grep -q '^Format: ' || fail "copyright is not machine-readable (DEP-5)"
for f in "${files[@]}"; do
  case $f in
    /usr/share/doc/connrecipe/LICENSE* | /usr/share/doc/connrecipe/LICENCE* | /usr/share/doc/connrecipe/COPYING*)
      fail "the package ships a licence file besides copyright: $f" ;;
  esac
done
changelog=/usr/share/doc/connrecipe/changelog.Debian.gz
ships "$changelog" || fail "the package ships no $changelog"
got=$(gzip -dc "$changelog" | dpkg-parsechangelog -l - -S Version) || fail "$changelog does not parse"
want=$(dpkg-query -W -f='${Version}' connrecipe)
[ "$got" = "$want" ] || fail "$changelog is for version $got, the package is $want"
case $want in *-*) ;; *) fail "version $want has no Debian revision: a native package wants changelog.gz" ;; esac
if command -v lintian >/dev/null; then
  tags=extra-license-file,no-changelog,wrong-name-for-changelog-of-native-package
  tags+=,debian-changelog-file-missing-or-wrong-name,no-copyright-file
  status=0
  # its stderr only says that running as root is not recommended
  got=$(bounded lintian --tags "$tags" "$deb" 2>/dev/null) || status=$?
  [ -z "$got" ] || fail "lintian: $got"
  [ "$status" -le 1 ] || fail "lintian exited $status on $deb"
  say "lintian: no licence or changelog tags"
fi
got=$(man -w connrecipe) || fail "man -w connrecipe finds no man page"
[ "$got" = "$man_page" ] || fail "man -w connrecipe finds $got, not $man_page"
got=$(run env MANWIDTH=100 man -P cat connrecipe 2>&1) || fail "man connrecipe failed: $(head -c 2000 <<<"$got")"
grep -q 'find out why a connection is refused' <<<"$got" ||
  fail "man connrecipe does not show the page: $(head -c 2000 <<<"$got")"
completion=/usr/share/bash-completion/completions/connrecipe
# shellcheck disable=SC2016 # expanded by the inner bash
got=$(run bash -c 'source "$1"; COMP_WORDS=(connrecipe waitf); COMP_CWORD=1; _connrecipe; echo "${COMPREPLY[*]}"' \
  bash "$completion") || fail "bash completion script"
[ "$got" = waitfor.lua ] || fail "bash completion of 'connrecipe waitf' gave '$got'"
# the Ansible module: where Ansible looks by default, run by its shebang
# (#!/usr/bin/connrecipe) with an arguments file as Ansible runs it
module=/usr/share/ansible/plugins/modules/connrecipe.lua
ships "$module" || fail "the package does not ship the Ansible module $module"
ships /usr/share/connrecipe/ansible/fleet-diagnose.yml || fail "the package does not ship fleet-diagnose.yml"
printf '{"target": "127.0.0.1:1", "timeout": 0.2, "_ansible_check_mode": false}\n' >"$home/args"
got=$(run "$module" "$home/args") || fail "the Ansible module failed: $got"
grep -q '"verdict":"no-listener"' <<<"$got" || fail "the Ansible module gave: $(head -c 2000 <<<"$got")"
if command -v ansible >/dev/null; then
  got=$(run env ANSIBLE_LOCAL_TEMP="$home/local" ANSIBLE_REMOTE_TEMP="$home/remote" ANSIBLE_NOCOLOR=1 \
    ansible localhost -c local -m connrecipe -a 'target=127.0.0.1:1 timeout=0.2 fail_on=never' 2>&1) ||
    fail "ansible -m connrecipe with the installed module: $(head -c 2000 <<<"$got")"
  grep -q '"verdict": "no-listener"' <<<"$got" || fail "ansible -m connrecipe gave: $(head -c 2000 <<<"$got")"
  say "ansible -m connrecipe runs the installed module"
fi
rm -rf "$home"
say "installed package works: $(connrecipe --version)"

# --- remove: nothing of ours stays ------------------------------------------------
if [ -n "$was_installed" ]; then
  say "connrecipe was installed before this check: left installed, removal not checked"
  exit 0
fi
timeout 300 apt-get remove "${apt_opts[@]}" connrecipe >/dev/null || fail "apt-get remove connrecipe"
! installed || fail "connrecipe still installed after apt-get remove"
dpkg -L connrecipe >/dev/null 2>&1 && fail "dpkg still lists files of connrecipe"
left=()
for f in "${files[@]}"; do
  # shared directories (/usr/bin, /usr/share/man/man1, ...) stay; ours must go
  if [ -d "$f" ] && [ ! -L "$f" ]; then
    case $f in */connrecipe | */connrecipe/*) [ -e "$f" ] && left+=("$f") ;; esac
  elif [ -e "$f" ] || [ -L "$f" ]; then
    left+=("$f")
  fi
done
[ "${#left[@]}" -eq 0 ] || fail "left after removal: ${left[*]}"
say "ok: installed, ran and removed cleanly (${#files[@]} paths)"
