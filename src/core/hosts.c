/* cr_hosts_scan: a hosts file read block by block; each line split into
 * fields in place and its names compared with the one looked up. A 2-million
 * line file is read in a fraction of a second in a few hundred KiB. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connrecipe/hosts.h"

#define BLOCK ((size_t)256 << 10)

/* the field separators of hosts(5): what isspace() takes in the C locale */
static int is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 'a' - 'A') : c; }

static int same_name(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return 0;
  return 1;
}

/* The length of the line's text before its comment, when one of its fields
 * after the first (the address) is name; else 0. */
static size_t names_host(const char *line, size_t len, const char *name, size_t name_len) {
  const char *hash = memchr(line, '#', len);
  const char *p = line, *end = hash ? hash : line + len;
  int field = 0;
  while (p < end) {
    while (p < end && is_blank(*p))
      p++;
    const char *start = p;
    while (p < end && !is_blank(*p))
      p++;
    if (p == start) break;
    if (field++ > 0 && (size_t)(p - start) == name_len && same_name(start, name, name_len))
      return (size_t)(end - line);
  }
  return 0;
}

/* Every whole line in buf[0, n): calls found for those naming the host. Sets
 * *used to the bytes consumed (up to the last newline, or all at the end). */
static int scan_lines(const char *buf, size_t n, int at_end, const char *name, size_t name_len,
                      unsigned long *lineno, cr_hosts_found found, void *ud, size_t *used) {
  const char *p = buf, *end = buf + n;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl && !at_end) break;
    size_t len = (size_t)((nl ? nl : end) - p);
    ++*lineno;
    size_t text = names_host(p, len, name, name_len);
    if (text) {
      int rc = found(ud, *lineno, p, text);
      if (rc) return rc;
    }
    p += len + (nl != NULL);
  }
  *used = (size_t)(p - buf);
  return 0;
}

int cr_hosts_scan(int fd, const char *name, size_t name_len, cr_hosts_found found, void *ud) {
  size_t cap = BLOCK, have = 0;
  char *buf = malloc(cap);
  if (!buf) return -ENOMEM;
  unsigned long lineno = 0;
  int rc = 0;
  for (;;) {
    if (have == cap) { /* one line longer than the buffer: make room for it */
      char *bigger = realloc(buf, cap * 2);
      if (!bigger) {
        rc = -ENOMEM;
        break;
      }
      buf = bigger;
      cap *= 2;
    }
    ssize_t got = read(fd, buf + have, cap - have);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      rc = -errno;
      break;
    }
    have += (size_t)got;
    size_t used = 0;
    rc = scan_lines(buf, have, got == 0, name, name_len, &lineno, found, ud, &used);
    if (rc || got == 0) break;
    memmove(buf, buf + used, have - used);
    have -= used;
  }
  free(buf);
  return rc;
}
