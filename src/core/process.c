/* Process facts read through one open /proc/PID directory fd: every read
 * refers to the same process, so a recycled pid cannot mix two processes. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "connrecipe/sockets.h"

/* Reads a whole small file under dfd; returns bytes read (NUL-terminated) or -errno. */
static ssize_t read_at(int dfd, const char *name, char *buf, size_t cap) {
  int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  size_t n = 0;
  while (n + 1 < cap) {
    ssize_t r = read(fd, buf + n, cap - 1 - n);
    if (r < 0) {
      int e = errno;
      close(fd);
      return -e;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = '\0';
  return (ssize_t)n;
}

/* The whole of a file of unknown size (cmdline); *out malloc'd. */
static ssize_t read_all_at(int dfd, const char *name, char **out) {
  int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  size_t n = 0, cap = 512;
  char *buf = malloc(cap);
  for (;;) {
    if (!buf) break;
    if (n == cap) {
      char *nb = cap < (1u << 20) ? realloc(buf, cap *= 2) : NULL;
      if (!nb) break;
      buf = nb;
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r <= 0) break;
    n += (size_t)r;
  }
  close(fd);
  if (!buf) return -ENOMEM;
  *out = buf;
  return (ssize_t)n;
}

static double boot_time(void) {
  static double cached;
  if (cached) return cached;
  char buf[8192];
  int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  const char *p = strstr(buf, "\nbtime ");
  if (p) cached = strtod(p + 7, NULL);
  return cached;
}

/* "pid (comm) S ppid ..." — comm may hold spaces and parentheses: the last
 * ')' ends it. Field 22 is the start time in clock ticks since boot. */
static int parse_stat(const char *s, cr_process *p, unsigned long long *start_ticks) {
  const char *open = strchr(s, '('), *close = strrchr(s, ')');
  if (!open || !close || close < open) return -1;
  size_t n = (size_t)(close - open - 1);
  if (n >= sizeof p->comm) n = sizeof p->comm - 1;
  memcpy(p->comm, open + 1, n);
  p->comm[n] = '\0';
  const char *f = close + 1;
  int ppid;
  char state;
  if (sscanf(f, " %c %d", &state, &ppid) != 2) return -1;
  p->state = state;
  p->ppid = ppid;
  /* skip to field 22: after ')' come fields 3.. ; starttime is the 20th of those */
  for (int i = 0; i < 19 && f; i++) {
    f = strchr(f + 1, ' ');
  }
  if (!f || sscanf(f, " %llu", start_ticks) != 1) return -1;
  return 0;
}

static void parse_status_uid(const char *s, cr_process *p) {
  const char *u = strstr(s, "\nUid:");
  unsigned ruid, euid;
  if (u && sscanf(u + 5, " %u %u", &ruid, &euid) == 2) p->uid = euid;
}

/* The unified (v2) line "0::/path", else the first hierarchy's path
 * ("N:controllers:/path"). */
static void parse_cgroup(const char *s, char *out, size_t cap) {
  const char *chosen = NULL;
  for (const char *line = s; line && *line;) {
    const char *nl = strchr(line, '\n');
    const char *c1 = memchr(line, ':', nl ? (size_t)(nl - line) : strlen(line));
    const char *c2 =
        c1 ? memchr(c1 + 1, ':', (size_t)((nl ? nl : c1 + strlen(c1)) - c1 - 1)) : NULL;
    if (c2) {
      if (strncmp(line, "0::", 3) == 0) {
        chosen = c2 + 1;
        break;
      }
      if (!chosen) chosen = c2 + 1;
    }
    line = nl ? nl + 1 : NULL;
  }
  if (!chosen) return;
  const char *end = strchr(chosen, '\n');
  size_t n = end ? (size_t)(end - chosen) : strlen(chosen);
  if (n >= cap) n = cap - 1;
  memcpy(out, chosen, n);
  out[n] = '\0';
}

static int ends_with(const char *s, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

void cr_cgroup_unit(const char *cgroup, char *unit, size_t cap) {
  unit[0] = '\0';
  /* the innermost component that names a systemd unit */
  const char *p = cgroup;
  while (p && *p) {
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

void cr_cgroup_container(const char *cgroup, char *id, size_t cap) {
  id[0] = '\0';
  /* docker-<64hex>.scope, libpod-<64hex>.scope, cri-containerd-<64hex>.scope,
   * crio-<64hex>.scope, /docker/<64hex>, /kubepods/.../<64hex>: a run of 64
   * hex digits in a cgroup path is a container id. */
  size_t run = 0;
  for (const char *p = cgroup;; p++) {
    if (*p && isxdigit((unsigned char)*p) && !isupper((unsigned char)*p)) {
      run++;
      continue;
    }
    if (run == 64 && cap > 64) {
      memcpy(id, p - 64, 64);
      id[64] = '\0';
    }
    run = 0;
    if (!*p) break;
  }
}

int cr_process_get(pid_t pid, cr_process *p) {
  memset(p, 0, sizeof *p);
  char path[32], buf[8192];
  snprintf(path, sizeof path, "/proc/%d", (int)pid);
  int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return errno == ENOENT ? -ESRCH : -errno;
  p->pid = pid;
  unsigned long long ticks = 0;
  ssize_t n = read_at(dfd, "stat", buf, sizeof buf);
  if (n < 0 || parse_stat(buf, p, &ticks)) {
    close(dfd);
    return n < 0 && n != -ENOENT ? (int)n : -ESRCH; /* gone between open and read */
  }
  if (read_at(dfd, "status", buf, sizeof buf) > 0) parse_status_uid(buf, p);
  long hz = sysconf(_SC_CLK_TCK);
  double since_boot = (double)ticks / (double)(hz > 0 ? hz : 100);
  struct timespec bt;
  clock_gettime(CLOCK_BOOTTIME, &bt);
  p->age = (double)bt.tv_sec + bt.tv_nsec / 1e9 - since_boot;
  if (p->age < 0) p->age = 0;
  double btime = boot_time();
  p->start_time = btime ? btime + since_boot : 0;

  char *cmd = NULL;
  ssize_t cl = read_all_at(dfd, "cmdline", &cmd);
  if (cl > 0) {
    p->cmdline = cmd;
    p->cmdline_len = (size_t)cl;
  } else {
    free(cmd);
  }
  ssize_t el = readlinkat(dfd, "exe", p->exe, sizeof p->exe - 1);
  p->exe[el > 0 ? el : 0] = '\0';
  if (read_at(dfd, "cgroup", buf, sizeof buf) > 0) {
    parse_cgroup(buf, p->cgroup, sizeof p->cgroup);
    cr_cgroup_unit(p->cgroup, p->unit, sizeof p->unit);
    cr_cgroup_container(p->cgroup, p->container, sizeof p->container);
  }
  struct stat st;
  if (fstatat(dfd, "ns/net", &st, 0) == 0) p->netns = st.st_ino;
  /* still the same process? a read of stat after everything else tells */
  if (read_at(dfd, "stat", buf, sizeof buf) < 0) {
    close(dfd);
    cr_process_free(p);
    return -ESRCH;
  }
  close(dfd);
  return 0;
}

void cr_process_free(cr_process *p) {
  free(p->cmdline);
  p->cmdline = NULL;
  p->cmdline_len = 0;
}
