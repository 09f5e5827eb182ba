/* The owner walks' common part (owners_match.h): the inode hash, a
 * process's facts read once per process, and the merge into ranges. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "owners_match.h"

/* ---- the id map ---------------------------------------------------------- */

static size_t hash_slot(uint64_t k, size_t mask) {
  return (size_t)((k * 0x9E3779B97F4A7C15ull) >> 17) & mask;
}

int cr_id_map_init(cr_id_map *h, size_t count) {
  size_t cap = 64;
  while (cap < count * 2 + 1)
    cap <<= 1;
  h->keys = calloc(cap, sizeof *h->keys);
  h->vals = malloc(cap * sizeof *h->vals);
  h->mask = cap - 1;
  return h->keys && h->vals ? 0 : -ENOMEM;
}

void cr_id_map_put(cr_id_map *h, uint64_t k, uint32_t val) {
  size_t s = hash_slot(k, h->mask);
  while (h->keys[s] && h->keys[s] != k)
    s = (s + 1) & h->mask;
  h->keys[s] = k;
  h->vals[s] = val;
}

int cr_id_map_inodes(cr_id_map *h, const cr_sock_table *t) {
  if (cr_id_map_init(h, t->n)) return -ENOMEM;
  for (size_t i = 0; i < t->n; i++)
    if (t->v[i].inode) cr_id_map_put(h, t->v[i].inode, (uint32_t)i);
  return 0;
}

int cr_id_map_find(const cr_id_map *h, uint64_t k, uint32_t *idx) {
  for (size_t s = hash_slot(k, h->mask); h->keys[s]; s = (s + 1) & h->mask) {
    if (h->keys[s] == k) {
      *idx = h->vals[s];
      return 1;
    }
  }
  return 0;
}

void cr_id_map_free(cr_id_map *h) {
  free(h->keys);
  free(h->vals);
  h->keys = NULL;
  h->vals = NULL;
}

/* ---- a holder's facts ------------------------------------------------------ */

int cr_out_of_fds(int err) { return err == EMFILE || err == ENFILE; }

/* 0, or -EMFILE/-ENFILE when the file could not be opened for want of fds (a
 * process that exited meanwhile leaves comm empty). */
static int read_comm(int procfd, pid_t pid, char comm[16]) {
  char path[32];
  snprintf(path, sizeof path, "%d/comm", (int)pid);
  comm[0] = '\0';
  int fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return cr_out_of_fds(errno) ? -errno : 0;
  ssize_t n = read(fd, comm, 15);
  close(fd);
  if (n <= 0) return 0;
  if (comm[n - 1] == '\n') n--;
  comm[n] = '\0';
  return 0;
}

/* The unit and container of a socket's holder, from its cgroup. Returns as
 * read_comm does; *shareable: whether what was read holds for every task
 * with the same cgroups: the file was read (not: it exited first), and by
 * its unified line or a path below the root (with v1 hierarchies only, the
 * kernel shows an exiting task's cgroups as "/", whatever they are). */
static int read_cgroup(int procfd, pid_t pid, cr_owner *o, int *shareable) {
  char name[32];
  cr_cgroup cg;
  snprintf(name, sizeof name, "%d/cgroup", (int)pid);
  int rc = cr_cgroup_read(procfd, name, &cg);
  *shareable = rc == 0 && (cg.unified || strcmp(cg.path, "/") != 0);
  if (rc != 0) return cr_out_of_fds(-rc) ? rc : 0;
  memcpy(o->unit, cg.unit, sizeof o->unit);
  memcpy(o->container, cg.container, sizeof o->container);
  return 0;
}

/* Grows an array of `size`-byte elements to hold one more; 0 or -ENOMEM. */
static int grow(void **v, size_t n, size_t *cap, size_t size, size_t first_cap) {
  if (n < *cap) return 0;
  size_t c = *cap ? *cap * 2 : first_cap;
  void *nv = realloc(*v, c * size);
  if (!nv) return -ENOMEM;
  *v = nv;
  *cap = c;
  return 0;
}

/* Appends pid's facts: the comm given, or read; the unit and container of
 * procs[cgroup_of] (same cgroup), or read. Its index in *proc. */
static int add_proc(cr_match_list *l, int procfd, pid_t pid, cr_known_facts *known,
                    uint32_t *proc) {
  if (grow((void **)&l->procs, l->nprocs, &l->proccap, sizeof *l->procs, 64)) return -ENOMEM;
  cr_owner *o = &l->procs[l->nprocs];
  memset(o, 0, sizeof *o);
  o->pid = pid;
  int rc = 0;
  if (known && known->comm)
    memcpy(o->comm, known->comm, strnlen(known->comm, sizeof o->comm - 1)); /* NUL: the memset's */
  else
    rc = read_comm(procfd, pid, o->comm);
  if (rc) return rc;
  int cgroup_read = 0;
  if (known && known->cgroup_of >= 0 && (size_t)known->cgroup_of < l->nprocs) {
    const cr_owner *same = &l->procs[known->cgroup_of];
    memcpy(o->unit, same->unit, sizeof o->unit);
    memcpy(o->container, same->container, sizeof o->container);
  } else if ((rc = read_cgroup(procfd, pid, o, &cgroup_read)) != 0) {
    return rc;
  }
  if (known) known->cgroup_read = cgroup_read;
  *proc = (uint32_t)l->nprocs++;
  return 0;
}

int cr_match_add_known(cr_match_list *l, int procfd, size_t first_of_pid, uint32_t sock, pid_t pid,
                       cr_known_facts *known) {
  if (grow((void **)&l->v, l->n, &l->cap, sizeof *l->v, 256)) return -ENOMEM;
  uint32_t proc;
  if (first_of_pid < l->n) {
    proc = l->v[first_of_pid].proc;
  } else {
    int rc = add_proc(l, procfd, pid, known, &proc);
    if (rc) return rc;
  }
  l->v[l->n++] = (cr_owner_match){.sock = sock, .proc = proc};
  return 0;
}

int cr_match_add(cr_match_list *l, int procfd, size_t first_of_pid, uint32_t sock, pid_t pid) {
  return cr_match_add_known(l, procfd, first_of_pid, sock, pid, NULL);
}

void cr_match_drop_from(cr_match_list *l, size_t first) {
  if (first < l->n) l->nprocs = l->v[first].proc; /* its facts were the last added */
  l->n = first;
}

void cr_match_list_free(cr_match_list *l) {
  free(l->v);
  free(l->procs);
  memset(l, 0, sizeof *l);
}

/* ---- the merge ------------------------------------------------------------- */

/* Inserts o into range[0..count) kept ordered by pid; a pid already there
 * (the same socket on two fds of one process) is not added twice. */
static int insert_owner(const cr_owner **range, uint32_t count, const cr_owner *o) {
  uint32_t k = count;
  while (k > 0 && range[k - 1]->pid > o->pid)
    k--;
  if (k > 0 && range[k - 1]->pid == o->pid) return 0;
  memmove(&range[k + 1], &range[k], (count - k) * sizeof *range);
  range[k] = o;
  return 1;
}

/* The lists' facts, one after the other, into m->procs; base[i]: where list
 * i's start. */
static int gather_procs(const cr_match_list *lists, int nlists, size_t *base, cr_owner_map *m) {
  size_t n = 0;
  for (int i = 0; i < nlists; i++) {
    base[i] = n;
    n += lists[i].nprocs;
  }
  m->procs = malloc((n ? n : 1) * sizeof *m->procs);
  if (!m->procs) return -ENOMEM;
  for (int i = 0; i < nlists; i++)
    if (lists[i].nprocs) memcpy(m->procs + base[i], lists[i].procs, lists[i].nprocs * sizeof *m->procs);
  m->n_procs = n;
  return 0;
}

int cr_match_merge(const cr_sock_table *t, const cr_match_list *lists, int nlists, cr_owner_map *m) {
  size_t total = 0, base[CR_MATCH_LISTS_MAX];
  if (nlists > CR_MATCH_LISTS_MAX) return -EINVAL;
  for (int i = 0; i < nlists; i++)
    total += lists[i].n;
  m->first = calloc(t->n + 1, sizeof *m->first);
  m->count = calloc(t->n + 1, sizeof *m->count);
  m->owners = malloc((total ? total : 1) * sizeof *m->owners);
  if (!m->first || !m->count || !m->owners) return -ENOMEM;
  if (gather_procs(lists, nlists, base, m)) return -ENOMEM;
  for (int i = 0; i < nlists; i++)
    for (size_t j = 0; j < lists[i].n; j++)
      m->count[lists[i].v[j].sock]++;
  uint32_t sum = 0;
  for (size_t s = 0; s < t->n; s++) {
    m->first[s] = sum;
    sum += m->count[s];
    m->count[s] = 0;
  }
  for (int i = 0; i < nlists; i++) {
    for (size_t j = 0; j < lists[i].n; j++) {
      const cr_owner_match *x = &lists[i].v[j];
      const cr_owner **range = m->owners + m->first[x->sock];
      m->count[x->sock] += (uint32_t)insert_owner(range, m->count[x->sock], &m->procs[base[i] + x->proc]);
    }
  }
  m->n_owners = 0; /* after folding: the ranges may end before the next one starts */
  for (size_t s = 0; s < t->n; s++)
    m->n_owners += m->count[s];
  return 0;
}
