/* Socket tables and their owners: what is listening or connected on this host,
 * in which network namespace, and which processes hold each socket.
 *
 * Plain blocking C (netlink sock_diag, /proc/net, /proc/PID/fd); the Lua
 * bindings run these functions on libuv's thread pool. */
#ifndef CONNRECIPE_SOCKETS_H
#define CONNRECIPE_SOCKETS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "connrecipe/process.h"

/* Protocol bits, also used as masks. */
enum { CR_PROTO_TCP = 1, CR_PROTO_UDP = 2, CR_PROTO_UNIX = 4 };

/* Socket states use the kernel's TCP numbering (TCP_ESTABLISHED = 1 ...
 * TCP_LISTEN = 10); unconnected UDP and Unix sockets are CR_ST_CLOSE. */
enum {
  CR_ST_ESTABLISHED = 1,
  CR_ST_SYN_SENT,
  CR_ST_SYN_RECV,
  CR_ST_FIN_WAIT1,
  CR_ST_FIN_WAIT2,
  CR_ST_TIME_WAIT,
  CR_ST_CLOSE,
  CR_ST_CLOSE_WAIT,
  CR_ST_LAST_ACK,
  CR_ST_LISTEN,
  CR_ST_CLOSING,
  CR_ST_MAX
};
#define CR_ST_ALL 0xfffu

/* Table sources, one bit per kind: which one used netlink, which /proc/net. */
enum { CR_KIND_TCP4, CR_KIND_TCP6, CR_KIND_UDP4, CR_KIND_UDP6, CR_KIND_UNIX, CR_KIND_COUNT };

typedef struct cr_sock {
  uint8_t proto;     /* CR_PROTO_* */
  uint8_t family;    /* AF_INET, AF_INET6, AF_UNIX */
  uint8_t state;     /* CR_ST_* */
  int8_t v6only;     /* 1, 0, or -1 when unknown or not inet6 */
  uint8_t sock_type; /* unix: SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET */
  uint8_t addr[16], peer[16];
  uint16_t port, peer_port;
  uint32_t recvq, sendq; /* LISTEN: accept queue now and backlog limit */
  uint32_t uid;          /* owner uid of the socket (inet only) */
  int has_uid;
  int64_t drops; /* SK_MEMINFO_DROPS, -1 unknown */
  uint64_t inode;
  uint64_t peer_inode; /* unix: the peer's inode, 0 none */
  uint64_t vfs_inode;  /* unix: inode of the bound file on disk (netlink only), 0 none */
  uint64_t netns;      /* inode of the network namespace */
  /* inet: the device it is bound to (SO_BINDTODEVICE, a link-local scope):
   * sock_diag's idiag_if and its name in the socket's namespace ("if7" when
   * the index names no device); 0 and "" when unbound. /proc/net does not
   * show it: bound_dev_known is 0 for rows read there. */
  uint32_t bound_ifindex;
  char bound_dev[16];
  uint8_t bound_dev_known;
  char *path;          /* unix: bound name ("@name" when abstract), NULL none */
} cr_sock;

typedef struct cr_sock_table {
  cr_sock *v;
  size_t n, cap;
  unsigned netlink_kinds, proc_kinds, missing_kinds; /* bit 1 << CR_KIND_* */
} cr_sock_table;

typedef struct cr_sock_query {
  unsigned protos; /* CR_PROTO_* mask; 0: all */
  int family;      /* AF_INET, AF_INET6, AF_UNIX or 0: any */
  unsigned states; /* 1 << CR_ST_* mask; 0: all */
  int listeners;   /* listeners only: TCP LISTEN, UDP CLOSE, Unix LISTEN */
  int has_port;    /* only TCP/UDP sockets on local port `port` (no Unix socket);
                      the netlink dump asks the kernel to filter (sockdiag_filter.c) */
  uint16_t port;
} cr_sock_query;

/* ---- the table as a container (socktable.c) --------------------------------- */

/* An empty entry: all zero, v6only and drops unknown (-1). */
void cr_sock_init(cr_sock *s);
void cr_sock_table_free(cr_sock_table *t);
/* Drops the entries from index n on. */
void cr_sock_table_truncate(cr_sock_table *t, size_t n);
/* Appends an empty entry (cr_sock_init); NULL when out of memory. */
cr_sock *cr_sock_table_add(cr_sock_table *t);
/* Appends a copy of s (its path duplicated) with netns set, if s matches q.
 * 0 or -ENOMEM. */
int cr_sock_table_take(cr_sock_table *t, const cr_sock *s, const cr_sock_query *q, uint64_t netns);
/* Does s match q (protocol, family, state, listeners, port)? */
int cr_sock_matches(const cr_sock *s, const cr_sock_query *q);
const char *cr_sock_state_name(int state);
int cr_sock_state_from_name(const char *name); /* -1 unknown */
const char *cr_sock_kind_name(int kind);       /* "tcp4", "tcp6", "udp4", "udp6", "unix" */
int cr_sock_kind_proto(int kind);              /* CR_PROTO_* */
int cr_sock_kind_family(int kind);             /* AF_INET, AF_INET6, AF_UNIX */

/* ---- dumps: netlink first, /proc/net when it is missing (sockdump.c) ------- */

/* Dumps the sockets matching q in the calling thread's network namespace with
 * NETLINK_SOCK_DIAG, falling back per kind to /proc/net/<file> when the
 * netlink family is missing. Entries get netns = netns_inode. Returns 0 or
 * -errno (the table keeps what was dumped). */
int cr_sock_dump(cr_sock_table *t, const cr_sock_query *q, uint64_t netns_inode);
/* The same from /proc/net files alone, read from procdir (e.g.
 * "/proc/1234/net"): the way into another namespace without privilege. */
int cr_sock_dump_procfs(cr_sock_table *t, const cr_sock_query *q, uint64_t netns_inode,
                        const char *procdir);
/* The two readers (the leaves): sockdiag.c, procnet.c.
 * The netlink part alone for one kind: 0, -ENOENT when the kernel lacks the
 * family / protocol, other -errno. */
int cr_sockdiag_dump_kind(cr_sock_table *t, int kind, const cr_sock_query *q, uint64_t netns);
/* The INET_DIAG_REQ_BYTECODE attribute that keeps only sockets on local port
 * `port`, written at buf (room for cap bytes): its aligned length, or 0 when
 * it does not fit. */
size_t cr_sockdiag_port_filter(void *buf, size_t cap, uint16_t port);
/* The /proc fallback for one kind, reading `dir` (e.g. "/proc/net" or
 * "/proc/1234/net"): 0, -ENOENT when the file is missing. */
int cr_procnet_read_kind(cr_sock_table *t, int kind, const char *dir, const cr_sock_query *q,
                         uint64_t netns);

/* ---- /proc/net line parsers (pure; fuzzed) -------------------------------- */

/* One data line of /proc/net/{tcp,tcp6,udp,udp6}; proto is CR_PROTO_TCP or
 * CR_PROTO_UDP, family AF_INET or AF_INET6. 0 ok, -1 malformed. */
int cr_procnet_parse_inet(const char *line, size_t len, int proto, int family, cr_sock *out);
/* One data line of /proc/net/unix. The path, if any, is copied into pathbuf
 * (pathcap bytes) and out->path points at it. 0 ok, -1 malformed. */
int cr_procnet_parse_unix(const char *line, size_t len, cr_sock *out, char *pathbuf,
                          size_t pathcap);

/* ---- netlink attribute parsing (pure; fuzzed) ----------------------------- */

/* Parses one inet_diag_msg netlink payload (message body after nlmsghdr) of
 * len bytes into out; proto as above. 0 ok, -1 malformed. */
int cr_sockdiag_parse_inet(const void *msg, size_t len, int proto, cr_sock *out);
/* One unix_diag_msg payload; out->path points into pathbuf. 0 ok, -1 malformed. */
int cr_sockdiag_parse_unix(const void *msg, size_t len, cr_sock *out, char *pathbuf,
                           size_t pathcap);

/* ---- owners: which processes hold which socket ---------------------------- */

typedef struct cr_owner {
  pid_t pid;
  char comm[16];
  char unit[CR_UNIT_LEN];                  /* systemd unit from its cgroup, or "" */
  char container[CR_CONTAINER_ID_LEN + 1]; /* full container id from its cgroup, or "" */
} cr_owner;

typedef struct cr_owner_map {
  /* for socket i of the table: owners[first[i] .. first[i] + count[i]),
   * each pointing into procs (a holder's facts once, however many sockets) */
  uint32_t *first, *count;
  const cr_owner **owners;
  size_t n_owners;
  cr_owner *procs;
  size_t n_procs;
  /* processes whose fds could not be read, and why */
  unsigned unreadable; /* EACCES/EPERM: not root, hidepid */
  unsigned vanished;   /* exited during the walk */
  unsigned no_fds;     /* EMFILE/ENFILE: our own limit on open files (ulimit -n) */
  unsigned processes;  /* processes walked */
  int hidepid;         /* /proc hides other users' processes from us */
  const char *via;     /* the walk that answered: "bpf" (task-file iterator) or "proc" */
  int bpf_error;       /* -errno: why the BPF iterator was tried and did not answer, or 0 */
  const char *bpf_why; /* the same in words (static; a missing libbpf's reason), or NULL */
} cr_owner_map;

/* Walks /proc (getdents64, process ids only), reads each /proc/PID/fd once
 * and maps the socket inodes of table t to their holders, split across up to
 * `threads` threads (0: a default); or, on a host with many open files, lists
 * every process's socket fds with a BPF task-file iterator, when built in and
 * allowed (CONNRECIPE_OWNERS=proc|bpf forces one; both give the same map).
 * A holder's comm and cgroup are the same as /proc's (the iterator reads
 * comm itself, /proc/PID/cgroup once per set of cgroups). Returns 0 or -errno. Entries of t whose
 * netns differs from a process's are still matched by inode (inodes are
 * unique host-wide in sockfs). */
int cr_owners_map(const cr_sock_table *t, int threads, cr_owner_map *m);
void cr_owner_map_free(cr_owner_map *m);

/* ---- network namespaces --------------------------------------------------- */

typedef struct cr_netns {
  uint64_t inode;
  pid_t pid;                               /* a member process (0 when only a /run/netns file) */
  char name[64];                           /* /run/netns name, or "" */
  char container[CR_CONTAINER_ID_LEN + 1]; /* full container id from the member's cgroup, or "" */
} cr_netns;

/* Inode of the caller's current network namespace (/proc/thread-self/ns/net). */
uint64_t cr_netns_self(void);
/* Every distinct network namespace: /proc/ * /ns/net and /run/netns/ *. The
 * caller's own comes first. *out is malloc'd. *unreadable (when not NULL) is
 * set to the number of processes whose namespace could not be read (EACCES,
 * EPERM: other users' processes, without privilege): a namespace only they
 * are in is missing from the list. Returns count or -errno. */
int cr_netns_list(cr_netns **out, int *unreadable);
/* Dumps the sockets of namespace ns: by entering it on a short-lived thread
 * (setns, needs CAP_SYS_ADMIN) or else via /proc/PID/net of a member.
 * *via is set to "self", "setns", "procfs", or "none" when no way in was
 * left to try. Returns 0 or -errno. */
int cr_netns_dump(const cr_netns *ns, const cr_sock_query *q, cr_sock_table *t, const char **via);
/* cr_netns_dump for each of the n namespaces of list, in order, by one
 * thread that enters them in turn: the calling thread itself, which comes
 * back to its own namespace after the last, when cr_netns_enter_in_place
 * allowed it and it may come back; else a short-lived thread of its own (one
 * thread creation and join in all, not one per namespace). rcs[i] and
 * vias[i] are namespace i's return value and *via. */
void cr_netns_dump_each(const cr_netns *list, int n, const cr_sock_query *q, cr_sock_table *t,
                        int *rcs, const char **vias);
/* The executable's: cr_netns_dump_each may use the calling thread, which
 * it aborts should the way back to its own namespace fail after all (a Lua
 * module never does that to its host: there a thread of its own is used). */
void cr_netns_enter_in_place(void);

#endif
