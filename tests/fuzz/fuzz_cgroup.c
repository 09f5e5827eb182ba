/* libFuzzer target: the /proc/PID/cgroup parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "connrecipe/process.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* a private copy of exactly `size` bytes (no NUL), so ASan sees any over-read */
  char *buf = malloc(size ? size : 1);
  if (!buf) return 0;
  memcpy(buf, data, size);
  cr_cgroup cg;
  if (cr_cgroup_parse(buf, size, &cg) == 0) {
    if (strlen(cg.path) >= sizeof cg.path) abort();
    size_t id = strlen(cg.container);
    if (id != 0 && id != CR_CONTAINER_ID_LEN) abort();
  }
  free(buf);
  return 0;
}
