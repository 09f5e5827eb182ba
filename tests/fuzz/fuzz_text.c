/* libFuzzer target for cr_text_escape (scripts/fuzz.sh). Checks: the whole
 * input is taken; the output holds no control byte a terminal acts on (C0,
 * DEL, C1 as UTF-8, a byte that is not UTF-8); it is within the growth bound;
 * a short buffer is filled with whole escapes only, never overrun. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "connrecipe/text.h"

/* Every byte printable ASCII, or part of a well-formed UTF-8 character that
 * is not a C1 control. */
static int safe(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    if (c >= 0x20 && c < 0x7f) {
      i++;
      continue;
    }
    if (c < 0xc2 || c > 0xf4) return 0;
    size_t len = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    if (i + len > n) return 0;
    for (size_t k = 1; k < len; k++)
      if ((s[i + k] & 0xc0) != 0x80) return 0;
    if (c == 0xc2 && s[i + 1] <= 0x9f) return 0; /* C1 */
    i += len;
  }
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t cap = size * CR_TEXT_MAX_GROWTH;
  char *out = malloc(cap + 1);
  if (!out) return 0;
  size_t used;
  size_t n = cr_text_escape((const char *)data, size, out, cap, 0, &used);
  if (used != size || n > cap || !safe((const unsigned char *)out, n)) abort();
  if (cr_text_clean_prefix((const char *)data, size, 0) == size &&
      (n != size || memcmp(out, data, size) != 0))
    abort(); /* clean text passes unchanged */
  /* a buffer too small: whole units only, within it */
  size_t small = size / 2;
  n = cr_text_escape((const char *)data, size, out, small, 0, &used);
  if (n > small || used > size || !safe((const unsigned char *)out, n)) abort();
  free(out);
  return 0;
}
