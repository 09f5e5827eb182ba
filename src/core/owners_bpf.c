/* The owner walk's fast path: the BPF task-file iterator of
 * bpf/owners_iter.bpf.c lists every fd table's sockets as (pid, table,
 * inode) records in a few read()s of one fd, instead of a getdents64 per
 * process and a readlinkat per fd under /proc. Of them it takes the tables
 * the /proc walk reads: a process's leader's, or a thread's when the leader
 * left none; pids in the reader's pid namespace. Anything
 * that stops it (not built in, no privilege, a kernel without BTF or the
 * iterator, lockdown) is returned for the caller to walk /proc instead. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "owners_match.h"

#ifndef CONNRECIPE_HAVE_BPF

int cr_owners_bpf_walk(int procfd, const cr_id_map *h, cr_match_list *l, cr_owner_map *m) {
  return -ENOSYS;
}

const char *cr_owners_bpf_why(int rc) { return rc == -ENOSYS ? "not built in" : strerror(-rc); }

#else

#include <linux/capability.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/syscall.h>

#include "bpf_lib.h"
#include "owners_iter.skel.h"
#include "thp_heap.h"

/* The records owners_iter.bpf.c writes: per fd table, a marker (inode 0,
 * then the process's comm and set of cgroups) at its first file, then one record
 * per socket in it. */
struct owner_rec {
  uint32_t pid;   /* the thread group, in our pid namespace */
  uint32_t tid;   /* 0: the leader's table; else the thread whose own table it is */
  uint64_t inode; /* 0: the marker */
};
struct owner_mark {
  struct owner_rec rec;
  char comm[16];   /* the leader's, NUL-terminated */
  uint64_t css_set; /* the leader's set of cgroups (compared only, keyed), 0 unknown */
};

/* The record at *off of buf[0..len) (and its marker's facts, when it is
 * one): advances *off past it. 0 at the end (a partial record ends it too). */
static int next_record(const unsigned char *buf, size_t len, size_t *off, struct owner_rec *r,
                       struct owner_mark *mark) {
  if (len - *off < sizeof *r) return 0;
  memcpy(r, buf + *off, sizeof *r);
  if (r->inode != 0) {
    *off += sizeof *r;
    return 1;
  }
  if (len - *off < sizeof *mark) return 0;
  memcpy(mark, buf + *off, sizeof *mark);
  mark->comm[sizeof mark->comm - 1] = '\0';
  *off += sizeof *mark;
  return 1;
}

#define NO_TABLE UINT32_MAX

/* Loading and attaching a tracing program needs CAP_BPF with CAP_PERFMON, or
 * CAP_SYS_ADMIN. Checked first: without them libbpf would still parse the
 * kernel's BTF (~10 ms) before the kernel says no. */
static int may_load_bpf(void) {
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capget, &hdr, data) != 0) return 0;
  uint64_t eff = (uint64_t)data[1].effective << 32 | data[0].effective;
  const uint64_t sys_admin = 1ull << 21, perfmon = 1ull << 38, bpf = 1ull << 39;
  return (eff & sys_admin) || ((eff & bpf) && (eff & perfmon));
}

/* The iterator numbers processes in our pid namespace; /proc (where
 * cgroups are read, and what the /proc walk would list) must be of the
 * same one: then our NSpid line has one number. */
static int proc_is_our_pidns(int procfd) {
  char buf[4096];
  int fd = openat(procfd, "self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  const char *line = strstr(buf, "\nNSpid:");
  if (!line) return 1; /* a kernel before pid namespaces were shown: one namespace */
  const char *end = strchr(line + 1, '\n');
  int fields = 0, in_field = 0;
  for (const char *c = line + 7; c < (end ? end : buf + n); c++) {
    int digit = *c >= '0' && *c <= '9';
    if (digit && !in_field) fields++;
    in_field = digit;
  }
  return fields == 1;
}

/* libbpf writes its warnings to stderr; a failure here only means /proc. */
static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap) { return 0; }
static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;
static void silence_libbpf(void) { cr_bpf.libbpf_set_print(quiet); }

/* ---- which table stands for a process ---------------------------------------- */

/* pid -> the table the /proc walk would read for it (owners.c): the
 * leader's (tid 0) when it has any file; else, a leader that left none (it
 * exited, its threads run), the table of its first thread with any file,
 * as /proc/PID/task lists them (by tid). */
typedef struct {
  cr_id_map tids; /* pid -> tid */
  size_t n;       /* processes */
} table_choice;

static int choose_tables(table_choice *c, const unsigned char *buf, size_t len) {
  size_t marks = 0, off = 0;
  struct owner_rec r;
  struct owner_mark mark;
  while (next_record(buf, len, &off, &r, &mark))
    marks += r.inode == 0;
  c->n = 0;
  if (cr_id_map_init(&c->tids, marks)) return -ENOMEM;
  for (off = 0; next_record(buf, len, &off, &r, &mark);) {
    if (r.inode != 0) continue;
    uint32_t tid;
    if (!cr_id_map_find(&c->tids, r.pid, &tid)) {
      cr_id_map_put(&c->tids, r.pid, r.tid);
      c->n++;
    } else if (tid != 0 && (r.tid == 0 || r.tid < tid)) {
      cr_id_map_put(&c->tids, r.pid, r.tid);
    }
  }
  return 0;
}

static uint32_t chosen_table(const table_choice *c, uint32_t pid) {
  uint32_t tid;
  return cr_id_map_find(&c->tids, pid, &tid) ? tid : NO_TABLE;
}

/* ---- matching ------------------------------------------------------------------ */

/* The wanted sockets of the chosen tables into l. A table's records come in a
 * row: its process's facts are taken once (cr_match_add_known), its comm
 * from the marker (from /proc when the iterator could not read it), its
 * unit and container from an earlier process with the same cgroups, whose
 * own /proc/PID/cgroup was read. Not for a table a thread holds because the
 * leader left none: the leader is exiting, and /proc shows an exiting
 * task's cgroup v1 lines as "/"; its file is read for it alone. */
static int match_records(const unsigned char *buf, size_t len, const table_choice *c, int procfd,
                         const cr_id_map *h, cr_id_map *sets, cr_match_list *l, cr_owner_map *m) {
  uint32_t pid = 0, tid = 0;
  size_t first = 0, off = 0;
  int skip = 1, by_set = 0;
  struct owner_rec r;
  struct owner_mark mark = {0};
  cr_known_facts known = {.cgroup_of = -1};
  while (next_record(buf, len, &off, &r, &mark)) {
    if (r.inode == 0) { /* a table starts */
      pid = r.pid;
      tid = r.tid;
      first = l->n;
      skip = chosen_table(c, pid) != tid;
      known.comm = mark.comm[0] ? mark.comm : NULL;
      known.cgroup_of = -1;
      by_set = mark.css_set != 0 && tid == 0;
      uint32_t same;
      if (by_set && cr_id_map_find(sets, mark.css_set, &same)) known.cgroup_of = same;
      continue;
    }
    uint32_t idx;
    if (skip || r.pid != pid || r.tid != tid || !cr_id_map_find(h, r.inode, &idx)) continue;
    size_t procs_before = l->nprocs;
    known.cgroup_read = 0;
    int rc = cr_match_add_known(l, procfd, first, idx, (pid_t)pid, &known);
    if (rc == -ENOMEM) return rc;
    if (rc) { /* its facts unread (our ulimit -n), as the /proc walk: its sockets stay unknown */
      cr_match_drop_from(l, first);
      m->no_fds++;
      skip = 1;
    } else if (by_set && known.cgroup_read && known.cgroup_of < 0) {
      /* the first with these cgroups, read: it stands for the rest */
      cr_id_map_put(sets, mark.css_set, (uint32_t)procs_before);
    }
  }
  return 0;
}

/* Reads the iterator to its end into *out (*len bytes). */
static int read_records(int fd, unsigned char **out, size_t *len) {
  size_t cap = 1 << 16, have = 0; /* bytes */
  unsigned char *buf = malloc(cap);
  if (!buf) return -ENOMEM;
  for (;;) {
    if (cap - have < 4096) {
      unsigned char *nb = realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        return -ENOMEM;
      }
      buf = nb;
      cap *= 2;
    }
    ssize_t got = read(fd, buf + have, cap - have);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int rc = -errno;
      free(buf);
      return rc;
    }
    if (got == 0) break;
    have += (size_t)got;
  }
  *out = buf;
  *len = have;
  return 0;
}

const char *cr_owners_bpf_why(int rc) {
  const char *why = NULL;
  if (rc == -ELIBACC && cr_bpf_lib_load(&why) != 0 && why) return why;
  return strerror(-rc);
}

int cr_owners_bpf_walk(int procfd, const cr_id_map *h, cr_match_list *l, cr_owner_map *m) {
  if (!may_load_bpf()) return -EPERM;
  if (!proc_is_our_pidns(procfd)) return -EXDEV;
  if (cr_bpf_lib_load(NULL) != 0) return -ELIBACC; /* libbpf is not installed (or not whole) */
  pthread_once(&quiet_once, silence_libbpf);
  cr_thp_heap_begin(24 << 20); /* libbpf's copies of the kernel's BTF: ~12 MB */
  struct owners_iter *skel = owners_iter__open_and_load();
  int load_errno = errno;
  cr_thp_heap_end();
  if (!skel) return load_errno ? -load_errno : -EINVAL;
  int rc = 0, fd = -1;
  /* kernel addresses reach our memory mixed with a random key (the iterator
   * only compares them); without one (no entropy yet) they are still only
   * compared, never shown */
  uint64_t key = 0;
  if (getrandom(&key, sizeof key, GRND_NONBLOCK) == sizeof key) skel->bss->css_set_key = key;
  struct bpf_link *link = cr_bpf.bpf_program__attach_iter(skel->progs.owners_iter, NULL);
  if (!link) {
    rc = errno ? -errno : -EINVAL;
    goto out;
  }
  fd = cr_bpf.bpf_iter_create(cr_bpf.bpf_link__fd(link));
  if (fd < 0) {
    rc = fd;
    goto out;
  }
  unsigned char *recs = NULL;
  size_t len = 0;
  table_choice c = {0};
  cr_id_map sets = {0}; /* css_set -> the holder whose cgroup file stands for it */
  rc = read_records(fd, &recs, &len);
  if (!rc) rc = choose_tables(&c, recs, len);
  if (!rc) rc = cr_id_map_init(&sets, c.n);
  if (!rc) rc = match_records(recs, len, &c, procfd, h, &sets, l, m);
  if (!rc) m->processes = (unsigned)c.n;
  cr_id_map_free(&c.tids);
  cr_id_map_free(&sets);
  free(recs);
out:
  if (fd >= 0) close(fd);
  cr_bpf.bpf_link__destroy(link);
  owners_iter__destroy(skel);
  return rc;
}

#endif
