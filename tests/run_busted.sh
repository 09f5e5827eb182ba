#!/bin/sh
# Runs busted under lua5.4. In a sanitizer build the module needs the ASan
# runtime preloaded into the uninstrumented interpreter; the interpreter's own
# allocations are not ours to check for leaks, the executable's are.
if [ -n "${CONNRECIPE_ASAN_PRELOAD:-}" ]; then
  export LD_PRELOAD="$CONNRECIPE_ASAN_PRELOAD"
  export ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}"
  export CONNRECIPE_CHILD_ASAN_OPTIONS="detect_leaks=1"
fi
# Everything the run starts carries its owner, this process (busted after
# the exec below: same pid, same start time), so that testenv.sweep() can
# tell a dead run's leftovers from a live one's (see tests/lib/testenv.lua).
start=$(sed 's/^.*) //' "/proc/$$/stat" | cut -d' ' -f20)
export CONNRECIPE_TEST_OWNER="$$-$start"
exec "$@"
