/* The socket table as a container: entries (one initialiser), growth, the
 * names of states and kinds, and the query match. Both table readers
 * (sockdiag.c, procnet.c) fill it through these; which reader runs is
 * sockdump.c's choice. */
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

int cr_sock_kind_proto(int kind) {
  return kind == CR_KIND_UNIX ? CR_PROTO_UNIX : kind <= CR_KIND_TCP6 ? CR_PROTO_TCP : CR_PROTO_UDP;
}

int cr_sock_kind_family(int kind) {
  return kind == CR_KIND_UNIX                             ? AF_UNIX
         : (kind == CR_KIND_TCP4 || kind == CR_KIND_UDP4) ? AF_INET
                                                          : AF_INET6;
}

void cr_sock_init(cr_sock *s) {
  memset(s, 0, sizeof *s);
  s->v6only = -1;
  s->drops = -1;
}

void cr_sock_table_free(cr_sock_table *t) {
  cr_sock_table_truncate(t, 0);
  free(t->v);
  memset(t, 0, sizeof *t);
}

void cr_sock_table_truncate(cr_sock_table *t, size_t n) {
  for (size_t i = n; i < t->n; i++)
    free(t->v[i].path);
  if (n < t->n) t->n = n;
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
  cr_sock_init(s);
  return s;
}

int cr_sock_table_take(cr_sock_table *t, const cr_sock *s, const cr_sock_query *q, uint64_t netns) {
  if (!cr_sock_matches(s, q)) return 0;
  cr_sock *d = cr_sock_table_add(t);
  if (!d) return -ENOMEM;
  *d = *s;
  d->netns = netns;
  d->path = NULL;
  if (s->path && !(d->path = strdup(s->path))) return -ENOMEM;
  return 0;
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
  if (q->has_port && (s->family == AF_UNIX || s->port != q->port)) return 0;
  return 1;
}
