/* The socket table: growth, names of states and kinds, query matching, and the
 * per-kind choice between netlink and /proc/net. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "connrecipe/sockets.h"

static const char *const state_names[CR_ST_MAX] = {
    [0] = "unknown",
    [CR_ST_ESTABLISHED] = "established",
    [CR_ST_SYN_SENT] = "syn-sent",
    [CR_ST_SYN_RECV] = "syn-recv",
    [CR_ST_FIN_WAIT1] = "fin-wait-1",
    [CR_ST_FIN_WAIT2] = "fin-wait-2",
    [CR_ST_TIME_WAIT] = "time-wait",
    [CR_ST_CLOSE] = "unconn",
    [CR_ST_CLOSE_WAIT] = "close-wait",
    [CR_ST_LAST_ACK] = "last-ack",
    [CR_ST_LISTEN] = "listen",
    [CR_ST_CLOSING] = "closing",
};

const char *cr_sock_state_name(int state) {
  return state > 0 && state < CR_ST_MAX ? state_names[state] : "unknown";
}

int cr_sock_state_from_name(const char *name) {
  for (int i = 1; i < CR_ST_MAX; i++)
    if (strcmp(state_names[i], name) == 0) return i;
  if (strcmp(name, "close") == 0) return CR_ST_CLOSE;
  return -1;
}

const char *cr_sock_kind_name(int kind) {
  static const char *const names[CR_KIND_COUNT] = {"tcp4", "tcp6", "udp4", "udp6", "unix"};
  return kind >= 0 && kind < CR_KIND_COUNT ? names[kind] : "?";
}

void cr_sock_table_free(cr_sock_table *t) {
  for (size_t i = 0; i < t->n; i++)
    free(t->v[i].path);
  free(t->v);
  memset(t, 0, sizeof *t);
}

cr_sock *cr_sock_table_add(cr_sock_table *t) {
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 256;
    cr_sock *v = realloc(t->v, cap * sizeof *v);
    if (!v) return NULL;
    t->v = v;
    t->cap = cap;
  }
  cr_sock *s = &t->v[t->n++];
  memset(s, 0, sizeof *s);
  s->v6only = -1;
  s->drops = -1;
  return s;
}

/* A listener: TCP LISTEN, UDP not connected, Unix stream/seqpacket LISTEN. */
static int is_listener(const cr_sock *s) {
  if (s->proto == CR_PROTO_UDP) return s->state == CR_ST_CLOSE;
  return s->state == CR_ST_LISTEN;
}

int cr_sock_matches(const cr_sock *s, const cr_sock_query *q) {
  if (q->protos && !(q->protos & s->proto)) return 0;
  if (q->family && q->family != s->family) return 0;
  if (q->states && !(q->states & (1u << s->state))) return 0;
  if (q->listeners && !is_listener(s)) return 0;
  return 1;
}

static int kind_proto(int kind) {
  return kind == CR_KIND_UNIX ? CR_PROTO_UNIX : kind <= CR_KIND_TCP6 ? CR_PROTO_TCP : CR_PROTO_UDP;
}

static int kind_family(int kind) {
  return kind == CR_KIND_UNIX                             ? AF_UNIX
         : (kind == CR_KIND_TCP4 || kind == CR_KIND_UDP4) ? AF_INET
                                                          : AF_INET6;
}

/* Per kind: netlink first; /proc/<dir> when the netlink family or protocol is
 * missing; a missing /proc file (tcp6 without IPv6) is recorded, not an error. */
static int dump_in(cr_sock_table *t, const cr_sock_query *q, uint64_t netns, const char *procdir,
                   int use_netlink) {
  int first_error = 0;
  for (int kind = 0; kind < CR_KIND_COUNT; kind++) {
    if (q->protos && !(q->protos & kind_proto(kind))) continue;
    if (q->family && q->family != kind_family(kind)) continue;
    int rc = use_netlink ? cr_sockdiag_dump_kind(t, kind, q, netns) : -ENOENT;
    if (rc == 0) {
      t->netlink_kinds |= 1u << kind;
      continue;
    }
    if (rc != -ENOENT && rc != -EPROTONOSUPPORT && rc != -EACCES && rc != -EPERM) {
      if (!first_error) first_error = rc;
      continue;
    }
    rc = cr_procnet_read_kind(t, kind, procdir, q, netns);
    if (rc == 0)
      t->proc_kinds |= 1u << kind;
    else if (rc == -ENOENT)
      t->missing_kinds |= 1u << kind;
    else if (!first_error)
      first_error = rc;
  }
  return first_error;
}

int cr_sock_dump(cr_sock_table *t, const cr_sock_query *q, uint64_t netns_inode) {
  /* /proc/thread-self: after setns() on this thread, /proc/self/net would
   * still show the main thread's namespace. */
  const char *env = getenv("CONNRECIPE_SOCK_DIAG"); /* "off": test the fallback */
  int use_netlink = !(env && strcmp(env, "off") == 0);
  return dump_in(t, q, netns_inode, "/proc/thread-self/net", use_netlink);
}

/* Only /proc/<pid>/net: the way into a namespace without privilege. */
int cr_sock_dump_procfs(cr_sock_table *t, const cr_sock_query *q, uint64_t netns_inode,
                        const char *procdir) {
  return dump_in(t, q, netns_inode, procdir, 0);
}
