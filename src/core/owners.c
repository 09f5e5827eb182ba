/* Which processes hold which sockets: the `ss -p` / `lsof -i` walk, done with
 * getdents64 on /proc and on each /proc/PID/fd (opened once), readlinkat of
 * each entry, and a hash of the wanted inodes; split across a few threads. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connrecipe/sockets.h"
#include "dirent64.h"

#define MAX_THREADS 8
/* processes a walker takes at a time (4, 32 and 64 measured no better) */
#define WALK_CHUNK 16

/* ---- the inode hash: open addressing, inode -> socket index ---------------- */

typedef struct {
  uint64_t *keys; /* 0 = empty (inode 0 is never wanted) */
  uint32_t *vals;
  size_t mask;
} inode_hash;

static size_t hash_slot(uint64_t k, size_t mask) {
  return (size_t)((k * 0x9E3779B97F4A7C15ull) >> 17) & mask;
}

static int hash_build(inode_hash *h, const cr_sock_table *t) {
  size_t cap = 64;
  while (cap < t->n * 2 + 1)
    cap <<= 1;
  h->keys = calloc(cap, sizeof *h->keys);
  h->vals = malloc(cap * sizeof *h->vals);
  h->mask = cap - 1;
  if (!h->keys || !h->vals) return -ENOMEM;
  for (size_t i = 0; i < t->n; i++) {
    uint64_t k = t->v[i].inode;
    if (!k) continue;
    size_t s = hash_slot(k, h->mask);
    while (h->keys[s] && h->keys[s] != k)
      s = (s + 1) & h->mask;
    h->keys[s] = k;
    h->vals[s] = (uint32_t)i;
  }
  return 0;
}

static int hash_find(const inode_hash *h, uint64_t k, uint32_t *idx) {
  for (size_t s = hash_slot(k, h->mask); h->keys[s]; s = (s + 1) & h->mask) {
    if (h->keys[s] == k) {
      *idx = h->vals[s];
      return 1;
    }
  }
  return 0;
}

/* ---- the walk --------------------------------------------------------------- */

typedef struct {
  uint32_t sock;
  cr_owner owner;
} match;

typedef struct walker {
  const inode_hash *hash;
  int procfd;
  const pid_t *pids;
  size_t npids;
  atomic_size_t *next;
  match *m;
  size_t n, cap;
  unsigned unreadable, vanished, walked, no_fds;
  int error;
} walker;

/* Our own limit on open files (ulimit -n) stopped a read: what it would have
 * read is unknown, not absent. */
static int out_of_fds(int err) { return err == EMFILE || err == ENFILE; }

/* 0, or -EMFILE/-ENFILE when the file could not be opened for want of fds (a
 * process that exited meanwhile leaves comm empty). */
static int read_comm(int procfd, pid_t pid, char comm[16]) {
  char path[32];
  snprintf(path, sizeof path, "%d/comm", (int)pid);
  comm[0] = '\0';
  int fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out_of_fds(errno) ? -errno : 0;
  ssize_t n = read(fd, comm, 15);
  close(fd);
  if (n <= 0) return 0;
  if (comm[n - 1] == '\n') n--;
  comm[n] = '\0';
  return 0;
}

/* The unit and container of a socket's holder, from its cgroup. Returns as
 * read_comm does. */
static int read_cgroup(int procfd, pid_t pid, cr_owner *o) {
  char name[32];
  cr_cgroup cg;
  snprintf(name, sizeof name, "%d/cgroup", (int)pid);
  int rc = cr_cgroup_read(procfd, name, &cg);
  if (rc != 0) return out_of_fds(-rc) ? rc : 0;
  memcpy(o->unit, cg.unit, sizeof o->unit);
  memcpy(o->container, cg.container, sizeof o->container);
  return 0;
}

/* Records that pid holds socket `sock`. The process's facts are read once:
 * its earlier matches (from first_of_pid on) already carry them. A socket
 * held on several fds of one process is folded when the map is merged.
 * Returns 0, -ENOMEM, or -EMFILE/-ENFILE when the facts could not be read. */
static int add_match(walker *w, size_t first_of_pid, uint32_t sock, pid_t pid) {
  if (w->n == w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 256;
    match *m = realloc(w->m, cap * sizeof *m);
    if (!m) return -ENOMEM;
    w->m = m;
    w->cap = cap;
  }
  match *m = &w->m[w->n++];
  m->sock = sock;
  if (first_of_pid < w->n - 1) {
    m->owner = w->m[first_of_pid].owner;
  } else {
    memset(&m->owner, 0, sizeof m->owner);
    m->owner.pid = pid;
    int rc = read_comm(w->procfd, pid, m->owner.comm);
    if (!rc) rc = read_cgroup(w->procfd, pid, &m->owner);
    if (rc) w->n--;
    return rc;
  }
  return 0;
}

/* "socket:[12345]" -> 12345 */
static uint64_t socket_inode(const char *link, ssize_t n) {
  if (n < 10 || memcmp(link, "socket:[", 8) != 0 || link[n - 1] != ']') return 0;
  uint64_t v = 0;
  for (ssize_t i = 8; i < n - 1; i++) {
    if (link[i] < '0' || link[i] > '9') return 0;
    v = v * 10 + (uint64_t)(link[i] - '0');
  }
  return v;
}

/* Walks one open fd directory of pid's (its own, or a thread's): records
 * its sockets. Returns 0, 1 when an entry could not be read (denied), or -1
 * when the walk must stop (out of memory or of fds: recorded in w). *entries
 * counts the fds seen. */
static int walk_fd_dir(walker *w, pid_t pid, int dfd, char *buf, size_t bufsize, long *got_out, size_t *entries) {
  size_t first = w->n;
  int denied = 0;
  long got;
  while ((got = cr_getdents64(dfd, buf, bufsize)) > 0) {
    for (long off = 0; off < got;) {
      struct cr_dirent64 *d = (struct cr_dirent64 *)(buf + off);
      off += d->d_reclen;
      if (d->d_name[0] == '.') continue;
      ++*entries;
      char link[64];
      ssize_t n = readlinkat(dfd, d->d_name, link, sizeof link);
      if (n < 0 && (errno == EACCES || errno == EPERM)) denied = 1;
      uint64_t ino = n > 0 ? socket_inode(link, n) : 0;
      uint32_t idx;
      int rc = ino && hash_find(w->hash, ino, &idx) ? add_match(w, first, idx, pid) : 0;
      if (rc == -ENOMEM) {
        w->error = rc;
        return -1;
      }
      if (rc) { /* its holder's name unread: the process's sockets have unknown owners */
        w->n = first;
        w->no_fds++;
        return -1;
      }
    }
  }
  *got_out = got;
  return denied;
}

/* A process whose fd directory is empty may be a thread-group leader that
 * exited (pthread_exit in main) while its other threads run: it has no fd
 * table of its own, its threads hold the sockets. Walks the first of them
 * with any fd (threads share one table unless one unshared it). Kernel
 * threads and fd-less processes have no other thread, and procfs counts a
 * process's threads in its task directory's link count (2 + threads): one
 * stat rules them out. */
static int walk_threads(walker *w, pid_t pid, char *buf, size_t bufsize) {
  char path[48], tbuf[2048];
  struct stat st;
  snprintf(path, sizeof path, "%d/task", (int)pid);
  if (fstatat(w->procfd, path, &st, 0) != 0 || st.st_nlink < 4) return 0;
  int tfd = openat(w->procfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (tfd < 0) return 0;
  int result = 0;
  long tgot;
  while (result == 0 && (tgot = cr_getdents64(tfd, tbuf, sizeof tbuf)) > 0) {
    for (long off = 0; off < tgot && result == 0;) {
      struct cr_dirent64 *d = (struct cr_dirent64 *)(tbuf + off);
      off += d->d_reclen;
      if (d->d_name[0] < '1' || d->d_name[0] > '9' || atoi(d->d_name) == (int)pid) continue;
      snprintf(path, sizeof path, "%s/fd", d->d_name);
      int dfd = openat(tfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd < 0) continue; /* exited too */
      size_t entries = 0;
      long got = 0;
      int rc = walk_fd_dir(w, pid, dfd, buf, bufsize, &got, &entries);
      close(dfd);
      if (rc < 0) result = -1;
      else if (entries > 0) result = rc ? 2 : 1;
    }
  }
  close(tfd);
  return result; /* 0: no thread with fds, 1: walked one, 2: denied, -1: stop */
}

static void walk_process(walker *w, pid_t pid, char *buf, size_t bufsize) {
  char path[32];
  snprintf(path, sizeof path, "%d/fd", (int)pid);
  int dfd = openat(w->procfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    if (out_of_fds(errno))
      w->no_fds++;
    else if (errno == EACCES || errno == EPERM)
      w->unreadable++;
    else
      w->vanished++;
    return;
  }
  size_t first = w->n, entries = 0;
  long got = 0;
  int denied = walk_fd_dir(w, pid, dfd, buf, bufsize, &got, &entries);
  close(dfd);
  if (denied < 0) return;
  if (!denied && got == 0 && entries == 0) {
    int t = walk_threads(w, pid, buf, bufsize);
    if (t < 0) return;
    denied = t == 2;
  }
  if (denied)
    w->unreadable++; /* a LSM or ptrace rule hides its fds even from root */
  else if (got < 0 && w->n == first)
    w->vanished++; /* exited while we read it */
  else
    w->walked++;
}

static void *walker_main(void *arg) {
  walker *w = arg;
  char *buf = malloc(32768);
  if (!buf) {
    w->error = -ENOMEM;
    return NULL;
  }
  for (;;) {
    size_t i = atomic_fetch_add(w->next, WALK_CHUNK);
    if (i >= w->npids || w->error) break;
    size_t end = i + WALK_CHUNK < w->npids ? i + WALK_CHUNK : w->npids;
    for (; i < end; i++)
      walk_process(w, w->pids[i], buf, 32768);
  }
  free(buf);
  return NULL;
}

static int default_threads(size_t npids) {
  const char *env = getenv("CONNRECIPE_OWNER_THREADS"); /* for benchmarks */
  if (env && atoi(env) > 0) return atoi(env);
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int n = cpus > 0 ? (int)cpus : 1;
  if (n > 4) n = 4;
  if (npids < 64) n = 1; /* a thread costs more than a few processes */
  return n;
}

/* Inserts o into range[0..count) kept ordered by pid; a pid already there
 * (the same socket on two fds of one process) is not added twice. */
static int insert_owner(cr_owner *range, uint32_t count, const cr_owner *o) {
  uint32_t k = count;
  while (k > 0 && range[k - 1].pid > o->pid)
    k--;
  if (k > 0 && range[k - 1].pid == o->pid) return 0;
  memmove(&range[k + 1], &range[k], (count - k) * sizeof *range);
  range[k] = *o;
  return 1;
}

/* Gathers the per-thread matches into per-socket ranges, ordered by pid. */
static int merge(const cr_sock_table *t, walker *w, int nw, cr_owner_map *m) {
  size_t total = 0;
  for (int i = 0; i < nw; i++)
    total += w[i].n;
  m->first = calloc(t->n + 1, sizeof *m->first);
  m->count = calloc(t->n + 1, sizeof *m->count);
  m->owners = malloc((total ? total : 1) * sizeof *m->owners);
  if (!m->first || !m->count || !m->owners) return -ENOMEM;
  for (int i = 0; i < nw; i++)
    for (size_t j = 0; j < w[i].n; j++)
      m->count[w[i].m[j].sock]++;
  uint32_t sum = 0;
  for (size_t s = 0; s < t->n; s++) {
    m->first[s] = sum;
    sum += m->count[s];
    m->count[s] = 0;
  }
  for (int i = 0; i < nw; i++) {
    for (size_t j = 0; j < w[i].n; j++) {
      const match *x = &w[i].m[j];
      cr_owner *range = m->owners + m->first[x->sock];
      m->count[x->sock] += (uint32_t)insert_owner(range, m->count[x->sock], &x->owner);
    }
  }
  m->n_owners = 0; /* after folding: the ranges may end before the next one starts */
  for (size_t s = 0; s < t->n; s++)
    m->n_owners += m->count[s];
  return 0;
}

/* Is /proc mounted with hidepid (other users' processes invisible) and are we
 * subject to it? Then "no owner found" may just mean "hidden". */
static int proc_hides_pids(void) {
  if (geteuid() == 0) return 0;
  FILE *f = fopen("/proc/self/mountinfo", "re");
  if (!f) return 0;
  char line[1024];
  int hidden = 0;
  while (!hidden && fgets(line, sizeof line, f)) {
    if (!strstr(line, " - proc ")) continue;
    const char *h = strstr(line, "hidepid=");
    if (h && h[8] != '0' && strncmp(h + 8, "off", 3) != 0) hidden = 1;
  }
  fclose(f);
  return hidden;
}

int cr_owners_map(const cr_sock_table *t, int threads, cr_owner_map *m) {
  memset(m, 0, sizeof *m);
  inode_hash h = {0};
  pid_t *pids = NULL;
  size_t npids = 0;
  walker w[MAX_THREADS];
  pthread_t tid[MAX_THREADS];
  int nw = 0, rc;
  memset(w, 0, sizeof w);
  int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (procfd < 0) return -errno;
  if ((rc = hash_build(&h, t)) || (rc = cr_process_pids_at(procfd, &pids, &npids))) goto out;

  atomic_size_t next = 0;
  nw = threads > 0 ? threads : default_threads(npids);
  if (nw > MAX_THREADS) nw = MAX_THREADS;
  for (int i = 0; i < nw; i++) {
    w[i] = (walker){.hash = &h, .procfd = procfd, .pids = pids, .npids = npids, .next = &next};
  }
  int started = 1;
  for (int i = 1; i < nw; i++) {
    if (pthread_create(&tid[i], NULL, walker_main, &w[i]) != 0) break;
    started++;
  }
  walker_main(&w[0]); /* the calling thread works too */
  for (int i = 1; i < started; i++)
    pthread_join(tid[i], NULL);
  for (int i = 0; i < nw; i++) {
    if (w[i].error && !rc) rc = w[i].error;
    m->unreadable += w[i].unreadable;
    m->vanished += w[i].vanished;
    m->no_fds += w[i].no_fds;
    m->processes += w[i].walked;
  }
  if (!rc) rc = merge(t, w, nw, m);
  m->hidepid = proc_hides_pids();
out:
  for (int i = 0; i < nw; i++)
    free(w[i].m);
  free(pids);
  free(h.keys);
  free(h.vals);
  close(procfd);
  if (rc) cr_owner_map_free(m);
  return rc;
}

void cr_owner_map_free(cr_owner_map *m) {
  free(m->first);
  free(m->count);
  free(m->owners);
  m->first = m->count = NULL;
  m->owners = NULL;
}
