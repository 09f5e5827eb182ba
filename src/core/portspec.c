/* Port specs as nmap takes them: "22", "1-1024", "22,80,8000-8100". A pure
 * parser into a 65536-bit set; every error names the part that is wrong. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "connrecipe/probe.h"

void cr_portset_add(cr_portset *set, int port) {
  uint64_t bit = (uint64_t)1 << (port & 63);
  if (!(set->bits[port >> 6] & bit)) {
    set->bits[port >> 6] |= bit;
    set->count++;
  }
}

int cr_portset_has(const cr_portset *set, int port) {
  return port > 0 && port < 65536 && (set->bits[port >> 6] >> (port & 63)) & 1;
}

int cr_portset_next(const cr_portset *set, int after) {
  for (int p = after + 1; p < 65536;) {
    uint64_t word = set->bits[p >> 6] >> (p & 63);
    if (word) return p + __builtin_ctzll(word);
    p = (p | 63) + 1;
  }
  return 0;
}

/* Reads a port number at *s (digits only), advancing *s. Returns the number,
 * -1 when there are no digits, -2 when it is out of 1-65535. */
static long read_port(const char **s) {
  const char *p = *s;
  if (!isdigit((unsigned char)*p)) return -1;
  long v = 0;
  while (isdigit((unsigned char)*p)) {
    if (v < 100000) v = v * 10 + (*p - '0');
    p++;
  }
  *s = p;
  return (v < 1 || v > 65535) ? -2 : v;
}

static int fail(char *err, size_t errlen, const char *part, size_t partlen, const char *spec,
                const char *why) {
  snprintf(err, errlen, "bad port spec \"%.*s\" in \"%s\": %s", (int)partlen, part, spec, why);
  return -1;
}

/* One comma-separated element: "N" or "N-M". */
static int parse_part(const char *part, size_t len, const char *spec, cr_portset *set, char *err,
                      size_t errlen) {
  const char *p = part, *end = part + len;
  if (len == 0) return fail(err, errlen, part, len, spec, "empty element (stray comma?)");
  long lo = read_port(&p);
  if (lo == -1) return fail(err, errlen, part, len, spec, "expected a port number or a range N-M");
  if (lo == -2) return fail(err, errlen, part, len, spec, "ports are 1-65535");
  long hi = lo;
  if (p < end && *p == '-') {
    p++;
    hi = read_port(&p);
    if (hi == -1) return fail(err, errlen, part, len, spec, "range needs an end (N-M)");
    if (hi == -2) return fail(err, errlen, part, len, spec, "ports are 1-65535");
    if (hi < lo) return fail(err, errlen, part, len, spec, "range start is after its end");
  }
  if (p != end) return fail(err, errlen, part, len, spec, "expected a port number or a range N-M");
  for (long port = lo; port <= hi; port++)
    cr_portset_add(set, (int)port);
  return 0;
}

int cr_portspec_parse(const char *spec, cr_portset *set, char *err, size_t errlen) {
  memset(set, 0, sizeof *set);
  const char *s = spec;
  if (*s == '\0') {
    snprintf(err, errlen, "empty port spec (expected e.g. \"1-1024,8080\")");
    return -1;
  }
  for (;;) {
    const char *comma = strchr(s, ',');
    size_t len = comma ? (size_t)(comma - s) : strlen(s);
    /* tolerate spaces around elements: "22, 80" */
    while (len && isspace((unsigned char)*s))
      s++, len--;
    while (len && isspace((unsigned char)s[len - 1]))
      len--;
    if (parse_part(s, len, spec, set, err, errlen) != 0) return -1;
    if (!comma) break;
    s = comma + 1;
  }
  return 0;
}
