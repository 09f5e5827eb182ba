/* Network namespaces: finding every one on the host (/proc/ * /ns/net and
 * /run/netns/ *) and dumping the sockets of each, by entering it with setns()
 * on a short-lived thread of our own (so no pool thread is ever left in a
 * foreign namespace; one thread enters them all in turn), or without
 * privilege through /proc/PID/net. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connrecipe/sockets.h"

uint64_t cr_netns_self(void) {
  struct stat st;
  if (stat("/proc/thread-self/ns/net", &st) == 0) return st.st_ino;
  if (stat("/proc/self/ns/net", &st) == 0) return st.st_ino;
  return 0;
}

typedef struct {
  cr_netns *v;
  size_t n, cap;
} ns_list;

static cr_netns *ns_find_or_add(ns_list *l, uint64_t inode, int *added) {
  *added = 0;
  for (size_t i = 0; i < l->n; i++)
    if (l->v[i].inode == inode) return &l->v[i];
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    cr_netns *v = realloc(l->v, cap * sizeof *v);
    if (!v) return NULL;
    l->v = v;
    l->cap = cap;
  }
  cr_netns *ns = &l->v[l->n++];
  memset(ns, 0, sizeof *ns);
  ns->inode = inode;
  *added = 1;
  return ns;
}

/* The container a namespace belongs to: its member's, from the cgroup. */
static void container_of_pid(pid_t pid, char *out, size_t cap) {
  char path[64];
  cr_cgroup cg;
  snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
  if (cr_cgroup_read(AT_FDCWD, path, &cg) == 0) snprintf(out, cap, "%s", cg.container);
}

/* The inode of the namespace a /proc/PID/ns/net link names. readlink reads
 * it from the link's text ("net:[4026531840]") without making the nsfs
 * dentry that stat() would follow the link to: about half the cost, paid
 * for every process on the host. Both refuse (EACCES/EPERM) the same
 * processes. stat() when the text is not what the kernel writes. */
static int ns_link_inode(const char *path, uint64_t *inode) {
  char text[64];
  ssize_t n = readlink(path, text, sizeof text - 1);
  if (n < 0) return -1;
  text[n] = '\0';
  unsigned long long v;
  char end;
  if (sscanf(text, "net:[%llu%c", &v, &end) == 2 && end == ']') {
    *inode = v;
    return 0;
  }
  struct stat st;
  if (stat(path, &st) != 0) return -1;
  *inode = st.st_ino;
  return 0;
}

/* A process listed in /proc whose ns/net is gone: a thread-group leader that
 * exited (pthread_exit in main) while its other threads run keeps no
 * namespaces of its own. Its first live thread's namespace is the process's:
 * *member is that thread's id (/proc/TID/... reaches it like a pid). 0, or -1. */
static int live_thread_netns(pid_t pid, struct stat *st, pid_t *member) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  DIR *d = opendir(path);
  struct dirent *e;
  int rc = -1;
  while (d && rc != 0 && (e = readdir(d))) {
    long tid = strtol(e->d_name, NULL, 10);
    if (tid <= 0 || tid == pid) continue;
    snprintf(path, sizeof path, "/proc/%d/task/%ld/ns/net", (int)pid, tid);
    if (stat(path, st) == 0) {
      *member = (pid_t)tid;
      rc = 0;
    }
  }
  if (d) closedir(d);
  return rc;
}

int cr_netns_list(cr_netns **out, int *unreadable) {
  ns_list l = {0};
  int added, hidden = 0;
  cr_netns *self = ns_find_or_add(&l, cr_netns_self(), &added);
  if (!self) return -ENOMEM;
  self->pid = getpid();

  pid_t *pids = NULL;
  int np = cr_process_pids(&pids);
  for (int i = 0; i < np; i++) {
    char path[64];
    uint64_t inode;
    pid_t member = pids[i];
    snprintf(path, sizeof path, "/proc/%d/ns/net", (int)pids[i]);
    if (ns_link_inode(path, &inode) != 0) { /* gone, not ours to see, or a zombie leader */
      int err = errno;
      if (err == EACCES || err == EPERM) hidden++;
      struct stat st;
      if (err != ENOENT || live_thread_netns(pids[i], &st, &member) != 0) continue;
      inode = st.st_ino;
    }
    cr_netns *ns = ns_find_or_add(&l, inode, &added);
    if (!ns) break;
    if (added) {
      ns->pid = member;
      container_of_pid(member, ns->container, sizeof ns->container);
    }
  }
  free(pids);

  DIR *d = opendir("/run/netns");
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "/run/netns/%s", e->d_name);
    if (stat(path, &st) != 0) continue;
    cr_netns *ns = ns_find_or_add(&l, st.st_ino, &added);
    if (!ns) break;
    snprintf(ns->name, sizeof ns->name, "%.63s", e->d_name);
  }
  if (d) closedir(d);
  if (unreadable) *unreadable = hidden;
  *out = l.v;
  return (int)l.n;
}

/* ---- entering one ---------------------------------------------------------- */

typedef struct {
  int nsfd;
  const cr_sock_query *q;
  cr_sock_table *t;
  uint64_t inode;
  int rc;
} enter_job;

static void *enter_and_dump(void *arg) {
  enter_job *j = arg;
  if (setns(j->nsfd, CLONE_NEWNET) != 0) {
    j->rc = -errno;
    return NULL;
  }
  /* the thread ends here, so its namespace dies with it */
  j->rc = cr_sock_dump(j->t, j->q, j->inode);
  return NULL;
}

static int open_ns(const cr_netns *ns) {
  char path[128];
  if (ns->name[0]) {
    snprintf(path, sizeof path, "/run/netns/%s", ns->name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) return fd;
  }
  if (!ns->pid) return -ENOENT;
  snprintf(path, sizeof path, "/proc/%d/ns/net", (int)ns->pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct stat st; /* the pid may have been reused by a process elsewhere */
  if (fstat(fd, &st) != 0 || st.st_ino != ns->inode) {
    close(fd);
    return -ESRCH;
  }
  return fd;
}

int cr_netns_dump(const cr_netns *ns, const cr_sock_query *q, cr_sock_table *t, const char **via) {
  *via = "none";
  if (ns->inode == cr_netns_self()) {
    *via = "self";
    return cr_sock_dump(t, q, ns->inode);
  }
  int fd = open_ns(ns);
  if (fd >= 0) {
    enter_job j = {.nsfd = fd, .q = q, .t = t, .inode = ns->inode};
    pthread_t tid;
    int rc = pthread_create(&tid, NULL, enter_and_dump, &j);
    if (rc == 0) {
      pthread_join(tid, NULL);
      close(fd);
      if (j.rc != -EPERM) {
        *via = "setns";
        return j.rc;
      }
    } else {
      close(fd);
    }
  }
  /* no privilege to enter: read the tables of a member process */
  if (!ns->pid) return fd < 0 ? fd : -EPERM;
  char dir[64];
  snprintf(dir, sizeof dir, "/proc/%d/net", (int)ns->pid);
  *via = "procfs";
  return cr_sock_dump_procfs(t, q, ns->inode, dir);
}

/* ---- entering them all, one thread ------------------------------------------- */

typedef struct {
  const cr_netns *list;
  int n;
  const cr_sock_query *q;
  cr_sock_table *t;
  int *rcs;
  const char **vias;
  uint64_t self;
  int selffd; /* the caller's namespace, to come back to it (-1: not opened) */
  int moved;  /* this thread has left the caller's namespace */
} each_job;

/* One namespace, from the thread that enters them all: what cr_netns_dump
 * does, with setns() in this thread instead of a new one per namespace. */
static int dump_one(each_job *j, const cr_netns *ns, const char **via) {
  *via = "none";
  if (ns->inode == j->self) {
    if (j->moved) {
      if (j->selffd < 0 || setns(j->selffd, CLONE_NEWNET) != 0) return -EPERM;
      j->moved = 0;
    }
    *via = "self";
    return cr_sock_dump(j->t, j->q, ns->inode);
  }
  int fd = open_ns(ns);
  if (fd >= 0) {
    int rc = setns(fd, CLONE_NEWNET) == 0 ? 0 : -errno;
    close(fd);
    if (rc == 0) {
      j->moved = 1;
      rc = cr_sock_dump(j->t, j->q, ns->inode);
    }
    if (rc != -EPERM) {
      *via = "setns";
      return rc;
    }
  }
  /* no privilege to enter: read the tables of a member process */
  if (!ns->pid) return fd < 0 ? fd : -EPERM;
  char dir[64];
  snprintf(dir, sizeof dir, "/proc/%d/net", (int)ns->pid);
  *via = "procfs";
  return cr_sock_dump_procfs(j->t, j->q, ns->inode, dir);
}

static void dump_all(each_job *j) {
  for (int i = 0; i < j->n; i++)
    j->rcs[i] = dump_one(j, &j->list[i], &j->vias[i]);
}

static void *enter_each(void *arg) {
  dump_all(arg);
  /* the thread ends here, so whichever namespace it is in dies with it */
  return NULL;
}

/* The namespaces from the calling thread itself, which comes back to its own
 * after the last: a thread costs ~0.4 ms of CPU on a VM. Only when it may
 * come back: setns() into its own namespace needs the same right as the way
 * back (CAP_SYS_ADMIN over the namespace's user namespace). */
static int in_place_allowed;

void cr_netns_enter_in_place(void) { in_place_allowed = 1; }

static int dump_each_here(each_job *j) {
  if (!in_place_allowed || j->selffd < 0 || setns(j->selffd, CLONE_NEWNET) != 0) return -1;
  dump_all(j);
  /* it could leave, so it can come back; never go on from a foreign namespace */
  if (j->moved && setns(j->selffd, CLONE_NEWNET) != 0) abort();
  return 0;
}

void cr_netns_dump_each(const cr_netns *list, int n, const cr_sock_query *q, cr_sock_table *t,
                        int *rcs, const char **vias) {
  each_job j = {.list = list, .n = n, .q = q, .t = t, .rcs = rcs, .vias = vias,
                .self = cr_netns_self(), .selffd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)};
  pthread_t tid;
  if (dump_each_here(&j) == 0) {
    /* done */
  } else if (pthread_create(&tid, NULL, enter_each, &j) == 0) {
    pthread_join(tid, NULL);
  } else { /* no thread to spare: one namespace at a time, each its own way */
    for (int i = 0; i < n; i++)
      rcs[i] = cr_netns_dump(&list[i], q, t, &vias[i]);
  }
  if (j.selffd >= 0) close(j.selffd);
}
