/* The owner walk's fast path: the BPF task-file iterator of
 * bpf/owners_iter.bpf.c lists every process's socket fds as (pid, fd, inode)
 * records in a few read()s of one fd, instead of a getdents64 per process
 * and a readlinkat per fd under /proc. It sees the fds /proc/PID/fd shows:
 * the thread-group leaders' tables, in the reader's pid namespace. Anything
 * that stops it (not built in, no privilege, a kernel without BTF or the
 * iterator, lockdown) is returned for the caller to walk /proc instead. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "owners_match.h"

#ifndef CONNRECIPE_HAVE_BPF

int cr_owners_bpf_walk(int procfd, const cr_inode_hash *h, cr_match_list *l, cr_owner_map *m) {
  return -ENOSYS;
}

#else

#include <linux/capability.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/syscall.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "owners_iter.skel.h"

/* The record owners_iter.bpf.c writes. */
struct owner_rec {
  uint32_t pid;
  uint32_t fd;
  uint64_t inode;
};

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

/* The iterator numbers processes in our pid namespace; /proc (where comm
 * and cgroup are read, and what the /proc walk would list) must be of the
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
static void silence_libbpf(void) { libbpf_set_print(quiet); }

typedef struct {
  int procfd;
  const cr_inode_hash *hash;
  cr_match_list *found;
  cr_owner_map *m;
  uint32_t pid;      /* the process of the records being read */
  size_t first;      /* its first match in found */
  int skip;          /* its facts could not be read (our ulimit -n): its sockets stay unknown */
} reader;

static int take_record(reader *r, const struct owner_rec *rec) {
  if (rec->pid != r->pid) {
    r->pid = rec->pid;
    r->first = r->found->n;
    r->skip = 0;
  }
  uint32_t idx;
  if (r->skip || !cr_inode_hash_find(r->hash, rec->inode, &idx)) return 0;
  int rc = cr_match_add(r->found, r->procfd, r->first, idx, (pid_t)rec->pid);
  if (rc && rc != -ENOMEM) { /* as the /proc walk: drop what we have of it */
    r->found->n = r->first;
    r->m->no_fds++;
    r->skip = 1;
    rc = 0;
  }
  return rc;
}

/* Reads the iterator to its end. A record may straddle two reads. */
static int read_records(int fd, reader *r) {
  enum { BUF = 1 << 16 };
  unsigned char *buf = malloc(BUF);
  if (!buf) return -ENOMEM;
  size_t have = 0;
  int rc = 0;
  for (;;) {
    ssize_t got = read(fd, buf + have, BUF - have);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      rc = -errno;
      break;
    }
    if (got == 0) break;
    have += (size_t)got;
    size_t off = 0;
    for (; off + sizeof(struct owner_rec) <= have && !rc; off += sizeof(struct owner_rec)) {
      struct owner_rec rec;
      memcpy(&rec, buf + off, sizeof rec);
      rc = take_record(r, &rec);
    }
    if (rc) break;
    memmove(buf, buf + off, have - off);
    have -= off;
  }
  free(buf);
  return rc;
}

int cr_owners_bpf_walk(int procfd, const cr_inode_hash *h, cr_match_list *l, cr_owner_map *m) {
  if (!may_load_bpf()) return -EPERM;
  if (!proc_is_our_pidns(procfd)) return -EXDEV;
  pthread_once(&quiet_once, silence_libbpf);
  struct owners_iter *skel = owners_iter__open_and_load();
  if (!skel) return errno ? -errno : -EINVAL;
  int rc = 0, fd = -1;
  struct bpf_link *link = bpf_program__attach_iter(skel->progs.owners_iter, NULL);
  if (!link) {
    rc = errno ? -errno : -EINVAL;
    goto out;
  }
  fd = bpf_iter_create(bpf_link__fd(link));
  if (fd < 0) {
    rc = fd;
    goto out;
  }
  reader r = {.procfd = procfd, .hash = h, .found = l, .m = m};
  rc = read_records(fd, &r);
  if (!rc) m->processes = (unsigned)skel->bss->processes;
out:
  if (fd >= 0) close(fd);
  bpf_link__destroy(link);
  owners_iter__destroy(skel);
  return rc;
}

#endif
