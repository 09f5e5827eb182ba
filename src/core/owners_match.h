/* What both owner walks share (the /proc walk in owners.c, the BPF iterator
 * in owners_bpf.c): the hash of wanted socket inodes, the list of
 * (socket, holder) matches each walker builds, and their merge into a
 * cr_owner_map. Internal to the core. */
#ifndef CONNRECIPE_OWNERS_MATCH_H
#define CONNRECIPE_OWNERS_MATCH_H

#include <stddef.h>
#include <stdint.h>

#include "connrecipe/sockets.h"

/* open addressing, a 64-bit id (never 0) -> an index: a socket inode -> its
 * row in the socket table; a set of cgroups -> a holder in a match list */
typedef struct {
  uint64_t *keys; /* 0 = empty */
  uint32_t *vals;
  size_t mask;
} cr_id_map;

/* Room for `count` ids; 0 or -ENOMEM. */
int cr_id_map_init(cr_id_map *h, size_t count);
/* id -> val, replacing what id had; at most `count` ids in all. */
void cr_id_map_put(cr_id_map *h, uint64_t id, uint32_t val);
/* The socket table's inodes -> their rows. */
int cr_id_map_inodes(cr_id_map *h, const cr_sock_table *t);
int cr_id_map_find(const cr_id_map *h, uint64_t id, uint32_t *val);
void cr_id_map_free(cr_id_map *h);

/* A match is 8 bytes: a holder's facts (~220 bytes) are kept once per
 * process in the list's procs, not once per socket (at 10k listeners the
 * copies were megabytes of page faults and realloc moves). */
typedef struct {
  uint32_t sock; /* index in the socket table */
  uint32_t proc; /* index in the list's procs */
} cr_owner_match;

typedef struct {
  cr_owner_match *v;
  size_t n, cap;
  cr_owner *procs;
  size_t nprocs, proccap;
} cr_match_list;

/* Records that pid holds socket `sock`. The process's facts (comm, cgroup)
 * are read from /proc (procfd) once: its earlier matches, from first_of_pid
 * on, already name them. Returns 0, -ENOMEM, or -EMFILE/-ENFILE when the
 * facts could not be read for want of fds (nothing is added then). */
int cr_match_add(cr_match_list *l, int procfd, size_t first_of_pid, uint32_t sock, pid_t pid);
/* What a walk may know of a holder without /proc: its comm (NULL: read
 * /proc/PID/comm), and the index in the list's procs of a process in the
 * same cgroups, whose unit and container are then copied (-1: read
 * /proc/PID/cgroup). cgroup_read is set by the add: 1 when the holder's
 * own /proc/PID/cgroup was read and holds for its whole set of cgroups
 * (only then may its facts stand for others: a process that exited first
 * reads as no unit, no container; see read_cgroup). */
typedef struct {
  const char *comm;
  long cgroup_of;
  int cgroup_read;
} cr_known_facts;
/* cr_match_add with what the walk knows (NULL: nothing). */
int cr_match_add_known(cr_match_list *l, int procfd, size_t first_of_pid, uint32_t sock, pid_t pid,
                       cr_known_facts *known);
/* Forgets the matches from index `first` on (one process's, whose facts
 * could not be read) and the facts they named: those must be the last
 * added, as they are when `first` is where the process's matches start
 * (an index kept elsewhere into procs stays valid below them). */
void cr_match_drop_from(cr_match_list *l, size_t first);
void cr_match_list_free(cr_match_list *l);

#define CR_MATCH_LISTS_MAX 8 /* the /proc walk's threads at most */

/* Gathers the lists' matches into per-socket ranges of m, ordered by pid; a
 * socket on several fds of one process is listed once. */
int cr_match_merge(const cr_sock_table *t, const cr_match_list *lists, int nlists, cr_owner_map *m);

/* Is the errno one of our own limit on open files (ulimit -n)? What it
 * stopped is unknown, not absent. */
int cr_out_of_fds(int err);

/* The BPF task-file iterator's walk (owners_bpf.c): appends to l a match
 * per wanted socket fd of every process, and sets m->processes. 0, or
 * -errno when it cannot run here (not built in: -ENOSYS; no privilege:
 * -EPERM; /proc of another pid namespace: -EXDEV; a load, attach or read
 * failure) — the caller walks /proc then. */
int cr_owners_bpf_walk(int procfd, const cr_id_map *h, cr_match_list *l, cr_owner_map *m);
/* cr_owners_bpf_walk's failure in words: strerror, or why libbpf did not load. */
const char *cr_owners_bpf_why(int rc);

#endif
