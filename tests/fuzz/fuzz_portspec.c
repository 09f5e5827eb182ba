/* libFuzzer target for the port spec parser; scripts/fuzz.sh builds and runs it
 * (CI runs it for a bounded time).
 * Checks: no crash, and a spec that parses selects exactly `count` ports. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "connrecipe/probe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *spec = malloc(size + 1);
  if (!spec) return 0;
  memcpy(spec, data, size);
  spec[size] = '\0';
  static cr_portset set;
  char err[128];
  if (cr_portspec_parse(spec, &set, err, sizeof err) == 0) {
    int n = 0;
    for (int p = cr_portset_next(&set, 0); p; p = cr_portset_next(&set, p))
      n++;
    if (n != set.count || n == 0) abort();
  } else if (err[0] == '\0') {
    abort(); /* every failure explains itself */
  }
  free(spec);
  return 0;
}
