/* The one reader of /proc/PID/cgroup: the path, the systemd unit and the
 * container id it names. The parser is pure and fuzzed. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "connrecipe/process.h"

/* The path of one "hierarchy-ID:controllers:path" line, or NULL. */
static const char *line_path(const char *line, const char *end, int *unified) {
  const char *c1 = memchr(line, ':', (size_t)(end - line));
  const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
  if (!c2) return NULL;
  *unified = c2 == line + 2 && line[0] == '0' && line[1] == ':';
  return c2 + 1;
}

/* The unified (v2) line "0::/path" wins; else the first hierarchy's path. */
int cr_cgroup_parse(const char *text, size_t len, cr_cgroup *out) {
  memset(out, 0, sizeof *out);
  const char *chosen = NULL, *chosen_end = NULL, *end = text + len;
  int chosen_unified = 0;
  for (const char *line = text; line < end;) {
    const char *nl = memchr(line, '\n', (size_t)(end - line));
    const char *line_end = nl ? nl : end;
    int unified = 0;
    const char *path = line_path(line, line_end, &unified);
    if (path && (unified || !chosen)) {
      chosen = path;
      chosen_end = line_end;
      chosen_unified = unified;
      if (unified) break;
    }
    line = nl ? nl + 1 : end;
  }
  if (!chosen) return -1;
  size_t n = (size_t)(chosen_end - chosen);
  if (n >= sizeof out->path) n = sizeof out->path - 1;
  memcpy(out->path, chosen, n);
  out->path[n] = '\0';
  out->unified = chosen_unified;
  cr_cgroup_unit(out->path, out->unit, sizeof out->unit);
  cr_cgroup_container(out->path, out->container, sizeof out->container);
  return 0;
}

int cr_cgroup_read(int dirfd, const char *name, cr_cgroup *out) {
  memset(out, 0, sizeof *out);
  int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  char buf[8192];
  size_t n = 0;
  for (;;) { /* a cgroup v1 file may come in more than one read */
    ssize_t r = read(fd, buf + n, sizeof buf - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      close(fd);
      return -e;
    }
    if (r == 0 || (n += (size_t)r) == sizeof buf) break;
  }
  close(fd);
  cr_cgroup_parse(buf, n, out);
  return 0;
}

static int ends_with(const char *s, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

void cr_cgroup_unit(const char *path, char *unit, size_t cap) {
  unit[0] = '\0';
  for (const char *p = path; p && *p;) {
    const char *start = *p == '/' ? p + 1 : p;
    const char *end = strchr(start, '/');
    size_t n = end ? (size_t)(end - start) : strlen(start);
    if (ends_with(start, n, ".service") || ends_with(start, n, ".scope") ||
        ends_with(start, n, ".socket") || ends_with(start, n, ".mount")) {
      if (n >= cap) n = cap - 1;
      memcpy(unit, start, n);
      unit[n] = '\0';
    }
    p = end;
  }
}

static int is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

void cr_cgroup_container(const char *path, char *id, size_t cap) {
  id[0] = '\0';
  size_t run = 0;
  for (const char *p = path;; p++) {
    if (*p && is_lower_hex(*p)) {
      run++;
      continue;
    }
    if (run == CR_CONTAINER_ID_LEN && cap > CR_CONTAINER_ID_LEN) {
      memcpy(id, p - CR_CONTAINER_ID_LEN, CR_CONTAINER_ID_LEN);
      id[CR_CONTAINER_ID_LEN] = '\0';
    }
    run = 0;
    if (!*p) break;
  }
}
