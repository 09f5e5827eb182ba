/* Processes and their cgroups: facts read from /proc/PID, and the systemd
 * unit and container id a cgroup path names.
 *
 * Plain blocking C; the Lua bindings run these on libuv's thread pool. */
#ifndef CONNRECIPE_PROCESS_H
#define CONNRECIPE_PROCESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- cgroups ---------------------------------------------------------------- */

#define CR_UNIT_LEN 128           /* a systemd unit name and its NUL */
#define CR_CONTAINER_ID_LEN 64    /* a container id: 64 lowercase hex digits */
#define CR_CONTAINER_SHORT_LEN 12 /* the prefix tables show, as `docker ps` does */

typedef struct cr_cgroup {
  char path[512];         /* the unified ("0::") path, else the first hierarchy's */
  int unified;            /* path is the unified line's */
  char unit[CR_UNIT_LEN]; /* the innermost systemd unit in it, or "" */
  char container[CR_CONTAINER_ID_LEN + 1]; /* the full container id in it, or "" */
} cr_cgroup;

/* Parses the text of a /proc/PID/cgroup file (len bytes, no NUL needed) into
 * out. Pure (no I/O) and fuzzed. 0, or -1 when no line names a cgroup (out
 * is then all empty). */
int cr_cgroup_parse(const char *text, size_t len, cr_cgroup *out);
/* Reads and parses the cgroup file `name` relative to directory fd dirfd
 * (AT_FDCWD for an absolute name): "cgroup" under an open /proc/PID, or
 * "PID/cgroup" under /proc. 0, or -errno (out is then all empty). */
int cr_cgroup_read(int dirfd, const char *name, cr_cgroup *out);
/* The innermost systemd unit (.service, .scope, .socket, .mount) of a cgroup
 * path, "" when none. */
void cr_cgroup_unit(const char *path, char *unit, size_t cap);
/* The container id in a cgroup path (docker-<id>.scope, libpod-<id>.scope,
 * cri-containerd-<id>.scope, crio-<id>.scope, /docker/<id>,
 * /kubepods/.../<id>): a run of exactly 64 lowercase hex digits; "" when none
 * or when cap cannot hold it. */
void cr_cgroup_container(const char *path, char *id, size_t cap);

/* ---- processes ------------------------------------------------------------- */

typedef struct cr_process {
  pid_t pid, ppid;
  uid_t uid;
  char state; /* the thread-group leader's, as /proc/PID/stat says it */
  /* A leader that exited (Z) while other threads run (its main thread called
   * pthread_exit): the process lives on. live_threads counts the tasks not
   * in Z/X, threads_state is the liveliest one's state (R, D, S, ... T, t);
   * 0 for any other process. */
  int live_threads;
  char threads_state;
  char comm[64];
  char *cmdline; /* NUL-separated args, cmdline_len bytes; NULL if none (kernel thread) */
  size_t cmdline_len;
  char exe[4096];
  double start_time; /* epoch seconds */
  double age;        /* seconds */
  cr_cgroup cgroup;
  uint64_t netns;
} cr_process;

/* Reads everything through one open /proc/PID directory fd, so a recycled pid
 * is never mixed with the old process. 0, -ESRCH when gone, -errno. Fields that
 * cannot be read (exe without privilege) are left empty. For a zombie leader
 * with live threads, cmdline, exe, cgroup and netns come from a live thread
 * (the leader's are gone with its memory and namespaces). */
int cr_process_get(pid_t pid, cr_process *p);
void cr_process_free(cr_process *p);
/* Process ids (not threads) from /proc via getdents64; *out malloc'd.
 * Returns the count or -errno. */
int cr_process_pids(pid_t **out);
/* The same from an open /proc directory fd; 0 or -errno. */
int cr_process_pids_at(int procfd, pid_t **out, size_t *count);
/* The processes whose comm (/proc/PID/comm, cut to 15 bytes by the kernel)
 * is one of the n names: one small read per process and nothing more
 * (comm_scan.c). *out malloc'd; (*which)[i], malloc'd too, is the index in
 * names of process i's comm. Returns the count or -errno. */
int cr_process_pids_by_comm(const char *const *names, size_t n, pid_t **out, int **which);

#endif
