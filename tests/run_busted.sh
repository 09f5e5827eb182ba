#!/bin/sh
# Runs busted under lua5.4. In a sanitizer build the module needs the ASan
# runtime preloaded into the uninstrumented interpreter; the interpreter's own
# allocations are not ours to check for leaks, the executable's are.
if [ -n "${CONNRECIPE_ASAN_PRELOAD:-}" ]; then
  export LD_PRELOAD="$CONNRECIPE_ASAN_PRELOAD"
  export ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}"
  export CONNRECIPE_CHILD_ASAN_OPTIONS="detect_leaks=1"
fi
exec "$@"
