/* Process facts read through one open /proc/PID directory fd: every read
 * refers to the same process, so a recycled pid cannot mix two processes.
 * And the list of process ids. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "connrecipe/process.h"
#include "dirent64.h"

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

/* Its age and start (epoch seconds), from its start in seconds since boot:
 * the time since boot and the wall clock read together. (/proc/stat's btime
 * says when the system booted in whole seconds, but the kernel builds that
 * file's every line, all CPUs and every interrupt's count, for one number.) */
static void set_start(cr_process *p, double since_boot) {
  struct timespec up, now;
  if (clock_gettime(CLOCK_BOOTTIME, &up) != 0 || clock_gettime(CLOCK_REALTIME, &now) != 0) return;
  double age = (double)up.tv_sec + up.tv_nsec / 1e9 - since_boot;
  p->age = age > 0 ? age : 0;
  p->start_time = (double)now.tv_sec + now.tv_nsec / 1e9 - p->age;
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

/* How lively a task state is: a process whose leader exited is as alive as
 * its liveliest thread (running, in a wait, ... stopped). */
static int liveliness(char state) {
  static const char order[] = "tTIPWKSDR"; /* increasing; anything else ranks as sleeping */
  const char *at = strchr(order, state);
  return at && state ? (int)(at - order) : (int)(strchr(order, 'S') - order);
}

/* A zombie (or dead) leader: counts its threads that still run (not Z/X) into
 * p->live_threads and their liveliest state into p->threads_state; returns
 * an fd of the first live one's /proc/PID/task/TID directory, or -1. */
static int live_thread_dir(int dfd, cr_process *p) {
  int tfd = openat(dfd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (tfd < 0) return -1;
  char buf[4096], stat[1024], name[48];
  int first = -1;
  long got;
  while ((got = cr_getdents64(tfd, buf, sizeof buf)) > 0) {
    for (long off = 0; off < got;) {
      struct cr_dirent64 *d = (struct cr_dirent64 *)(buf + off);
      off += d->d_reclen;
      if (d->d_name[0] < '1' || d->d_name[0] > '9' || atoi(d->d_name) == (int)p->pid) continue;
      snprintf(name, sizeof name, "%s/stat", d->d_name);
      const char *close_paren = read_at(tfd, name, stat, sizeof stat) > 0 ? strrchr(stat, ')') : NULL;
      char state = close_paren && close_paren[1] == ' ' ? close_paren[2] : 0;
      if (!state || state == 'Z' || state == 'X') continue; /* exited too, or gone meanwhile */
      p->live_threads++;
      if (!p->threads_state || liveliness(state) > liveliness(p->threads_state)) p->threads_state = state;
      if (first < 0) first = openat(tfd, d->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
  }
  close(tfd);
  return first;
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
  /* the rest from a live thread when the leader is a zombie with some */
  int thread_dfd = p->state == 'Z' || p->state == 'X' ? live_thread_dir(dfd, p) : -1;
  int from = thread_dfd >= 0 ? thread_dfd : dfd;
  long hz = sysconf(_SC_CLK_TCK);
  double since_boot = (double)ticks / (double)(hz > 0 ? hz : 100);
  set_start(p, since_boot);

  char *cmd = NULL;
  ssize_t cl = read_all_at(from, "cmdline", &cmd);
  if (cl > 0) {
    p->cmdline = cmd;
    p->cmdline_len = (size_t)cl;
  } else {
    free(cmd);
  }
  ssize_t el = readlinkat(from, "exe", p->exe, sizeof p->exe - 1);
  p->exe[el > 0 ? el : 0] = '\0';
  cr_cgroup_read(from, "cgroup", &p->cgroup);
  struct stat st;
  if (fstatat(from, "ns/net", &st, 0) == 0) p->netns = st.st_ino;
  if (thread_dfd >= 0) close(thread_dfd);
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

static int parse_pid(const char *name, pid_t *pid) {
  long v = 0;
  if (!*name) return 0;
  for (const char *p = name; *p; p++) {
    if (*p < '0' || *p > '9') return 0;
    v = v * 10 + (*p - '0');
    if (v > 0x7fffffff) return 0;
  }
  *pid = (pid_t)v;
  return 1;
}

/* The numeric entries of /proc are thread-group leaders only (threads live
 * under /proc/PID/task). */
int cr_process_pids_at(int procfd, pid_t **out, size_t *count) {
  size_t n = 0, cap = 1024;
  pid_t *v = malloc(cap * sizeof *v);
  char buf[32768];
  if (!v) return -ENOMEM;
  if (lseek(procfd, 0, SEEK_SET) < 0) {
    free(v);
    return -errno;
  }
  long got;
  while ((got = cr_getdents64(procfd, buf, sizeof buf)) > 0) {
    for (long off = 0; off < got;) {
      struct cr_dirent64 *d = (struct cr_dirent64 *)(buf + off);
      off += d->d_reclen;
      pid_t pid;
      if (!parse_pid(d->d_name, &pid)) continue;
      if (n == cap) {
        pid_t *nv = realloc(v, (cap *= 2) * sizeof *v);
        if (!nv) {
          free(v);
          return -ENOMEM;
        }
        v = nv;
      }
      v[n++] = pid;
    }
  }
  if (got < 0) {
    int e = errno;
    free(v);
    return -e;
  }
  *out = v;
  *count = n;
  return 0;
}

int cr_process_pids(pid_t **out) {
  int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (procfd < 0) return -errno;
  size_t n = 0;
  int rc = cr_process_pids_at(procfd, out, &n);
  close(procfd);
  return rc ? rc : (int)n;
}
