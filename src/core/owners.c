/* Which processes hold which sockets: the `ss -p` / `lsof -i` walk, done with
 * getdents64 on /proc and on each /proc/PID/fd (opened once), readlinkat of
 * each entry, and a hash of the wanted inodes; split across a few threads.
 * On a host with many open files, a BPF task-file iterator (owners_bpf.c)
 * does the same walk in the kernel when it can; this walk is its fallback. */
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
#include "owners_match.h"
#include "thp_heap.h"

#define MAX_THREADS CR_MATCH_LISTS_MAX
/* processes a walker takes at a time (4, 32 and 64 measured no better) */
#define WALK_CHUNK 16

/* ---- the walk --------------------------------------------------------------- */

typedef struct walker {
  const cr_id_map *hash;
  int procfd;
  const pid_t *pids;
  size_t npids;
  atomic_size_t *next;
  cr_match_list found;
  unsigned unreadable, vanished, walked, no_fds;
  int error;
} walker;

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
  size_t first = w->found.n;
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
      int rc = ino && cr_id_map_find(w->hash, ino, &idx)
                   ? cr_match_add(&w->found, w->procfd, first, idx, pid)
                   : 0;
      if (rc == -ENOMEM) {
        w->error = rc;
        return -1;
      }
      if (rc) { /* its holder's name unread: the process's sockets have unknown owners */
        cr_match_drop_from(&w->found, first);
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
    if (cr_out_of_fds(errno))
      w->no_fds++;
    else if (errno == EACCES || errno == EPERM)
      w->unreadable++;
    else
      w->vanished++;
    return;
  }
  size_t first = w->found.n, entries = 0;
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
  else if (got < 0 && w->found.n == first)
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
  /* below a few hundred processes the walk takes a few ms: a thread's
   * creation, exit and stack (~0.1-0.2 ms of CPU each on a VM) costs more
   * than the wall time it saves */
  if (npids < 256) n = 1;
  return n;
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

/* The /proc walk, split across `threads` walkers (0: a default), into m. */
static int proc_walk(const cr_sock_table *t, int procfd, const cr_id_map *h, int threads,
                     cr_owner_map *m) {
  pid_t *pids = NULL;
  size_t npids = 0;
  walker w[MAX_THREADS];
  cr_match_list found[MAX_THREADS];
  pthread_t tid[MAX_THREADS];
  memset(w, 0, sizeof w);
  int rc = cr_process_pids_at(procfd, &pids, &npids);
  if (rc) return rc;

  atomic_size_t next = 0;
  int nw = threads > 0 ? threads : default_threads(npids);
  if (nw > MAX_THREADS) nw = MAX_THREADS;
  for (int i = 0; i < nw; i++) {
    w[i] = (walker){.hash = h, .procfd = procfd, .pids = pids, .npids = npids, .next = &next};
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
    found[i] = w[i].found;
  }
  if (!rc) rc = cr_match_merge(t, found, nw, m);
  for (int i = 0; i < nw; i++)
    cr_match_list_free(&w[i].found);
  free(pids);
  return rc;
}

/* The BPF iterator's walk into m; on failure m is left empty. */
static int bpf_walk(const cr_sock_table *t, int procfd, const cr_id_map *h, cr_owner_map *m) {
  cr_match_list found = {0};
  int rc = cr_owners_bpf_walk(procfd, h, &found, m);
  if (!rc) rc = cr_match_merge(t, &found, 1, m);
  cr_match_list_free(&found);
  if (rc) {
    cr_owner_map_free(m);
    memset(m, 0, sizeof *m);
  }
  return rc;
}

/* Loading the BPF program costs ~12-15 ms of CPU (libbpf reading and
 * parsing the kernel's BTF, the verifier) whatever the machine holds, when
 * libbpf's copies of the BTF land on huge pages (thp_heap.c); ~80 ms on a VM
 * when they do not (a Lua module, THP "never"). The /proc walk costs ~1.5-3
 * us per open fd. Past this many open files (fs.file-nr: every open file of
 * the host, a cheap bound on what the walk would read) the iterator is
 * cheaper (docs/performance.md, bench/owners-paths.sh: they cross between
 * 2,500 and 4,500, and between ~5,000 and ~9,500 without huge pages). */
#define BPF_MIN_FILES 4000
#define BPF_MIN_FILES_NO_THP 8000

static int many_open_files(void) {
  char buf[64];
  int fd = open("/proc/sys/fs/file-nr", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  return strtoul(buf, NULL, 10) >= (cr_thp_in_use() ? BPF_MIN_FILES : BPF_MIN_FILES_NO_THP);
}

/* CONNRECIPE_OWNERS=proc|bpf forces a walk (tests, benchmarks; bpf still
 * falls back to /proc when it cannot run); unset or auto: by the host's
 * open files. */
static int bpf_wanted(void) {
  const char *env = getenv("CONNRECIPE_OWNERS");
  if (env && !strcmp(env, "proc")) return 0;
  if (env && !strcmp(env, "bpf")) return 1;
  return many_open_files();
}

int cr_owners_map(const cr_sock_table *t, int threads, cr_owner_map *m) {
  memset(m, 0, sizeof *m);
  cr_id_map h = {0};
  int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (procfd < 0) return -errno;
  int rc = cr_id_map_inodes(&h, t);
  if (rc) goto out;
  if (bpf_wanted()) {
    rc = bpf_walk(t, procfd, &h, m);
    if (rc == -ENOMEM) goto out;
    if (rc) { /* what stopped it, for -v; /proc answers instead */
      m->bpf_error = rc;
      m->bpf_why = cr_owners_bpf_why(rc);
    }
    else m->via = "bpf";
  }
  if (!m->via) {
    m->via = "proc";
    rc = proc_walk(t, procfd, &h, threads, m);
  }
  if (!rc) m->hidepid = proc_hides_pids();
out:
  cr_id_map_free(&h);
  close(procfd);
  if (rc) cr_owner_map_free(m);
  return rc;
}

void cr_owner_map_free(cr_owner_map *m) {
  free(m->first);
  free(m->count);
  free(m->owners);
  free(m->procs);
  m->first = m->count = NULL;
  m->owners = NULL;
  m->procs = NULL;
}
