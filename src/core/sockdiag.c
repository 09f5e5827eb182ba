/* NETLINK_SOCK_DIAG dumps (the way `ss` reads socket tables): inet_diag for
 * TCP and UDP over IPv4 and IPv6, unix_diag for Unix sockets. */
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <net/if.h>
#include <stdio.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connrecipe/netlink_dump.h"
#include "connrecipe/sockets.h"

#define DUMP_BUF_SIZE (64 * 1024)
#define DUMP_RETRIES 5

/* Walks the attributes after a fixed header of hdrlen bytes; calls fn for
 * each. Malformed lengths end the walk with -1. */
typedef int (*attr_fn)(unsigned type, const uint8_t *data, size_t len, cr_sock *out, void *ctx);

static int walk_attrs(const uint8_t *msg, size_t len, size_t hdrlen, attr_fn fn, cr_sock *out,
                      void *ctx) {
  size_t off = NLMSG_ALIGN(hdrlen);
  while (off + sizeof(struct nlattr) <= len) {
    struct nlattr a;
    memcpy(&a, msg + off, sizeof a);
    if (a.nla_len < sizeof a || a.nla_len > len - off) return -1;
    if (fn(a.nla_type & NLA_TYPE_MASK, msg + off + NLA_HDRLEN, a.nla_len - NLA_HDRLEN, out, ctx))
      return -1;
    off += NLA_ALIGN(a.nla_len);
  }
  return 0;
}

static int inet_attr(unsigned type, const uint8_t *data, size_t len, cr_sock *out, void *ctx) {
  if (type == INET_DIAG_SKV6ONLY && len >= 1) {
    out->v6only = data[0] ? 1 : 0;
  } else if (type == INET_DIAG_SKMEMINFO && len >= sizeof(uint32_t) * (SK_MEMINFO_DROPS + 1)) {
    uint32_t drops;
    memcpy(&drops, data + sizeof(uint32_t) * SK_MEMINFO_DROPS, sizeof drops);
    out->drops = drops;
  }
  return 0;
}

int cr_sockdiag_parse_inet(const void *msg, size_t len, int proto, cr_sock *out) {
  struct inet_diag_msg m;
  if (len < sizeof m) return -1;
  memcpy(&m, msg, sizeof m);
  cr_sock_init(out);
  if (m.idiag_family != AF_INET && m.idiag_family != AF_INET6) return -1;
  if (m.idiag_state == 0 || m.idiag_state >= CR_ST_MAX) return -1;
  out->proto = (uint8_t)proto;
  out->family = m.idiag_family;
  out->state = m.idiag_state;
  size_t alen = m.idiag_family == AF_INET ? 4 : 16;
  memcpy(out->addr, m.id.idiag_src, alen);
  memcpy(out->peer, m.id.idiag_dst, alen);
  out->port = ntohs(m.id.idiag_sport);
  out->peer_port = ntohs(m.id.idiag_dport);
  out->recvq = m.idiag_rqueue;
  out->sendq = m.idiag_wqueue;
  out->uid = m.idiag_uid;
  out->has_uid = 1;
  out->inode = m.idiag_inode;
  out->bound_ifindex = m.id.idiag_if;
  out->bound_dev_known = 1;
  return walk_attrs(msg, len, sizeof m, inet_attr, out, NULL);
}

typedef struct {
  char *buf;
  size_t cap;
} path_ctx;

static int unix_attr(unsigned type, const uint8_t *data, size_t len, cr_sock *out, void *ctx) {
  path_ctx *pc = ctx;
  if (type == UNIX_DIAG_NAME && len > 0 && pc->cap > 1) {
    /* abstract names start with NUL; shown "@name" as ss does */
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < pc->cap; i++) {
      char ch = (char)data[i];
      if (ch == '\0') {
        if (i != 0 && i == len - 1) break; /* a trailing NUL on a path name */
        ch = '@';
      }
      pc->buf[n++] = ch;
    }
    pc->buf[n] = '\0';
    out->path = pc->buf;
  } else if (type == UNIX_DIAG_PEER && len >= 4) {
    uint32_t peer;
    memcpy(&peer, data, 4);
    out->peer_inode = peer;
  } else if (type == UNIX_DIAG_VFS && len >= sizeof(struct unix_diag_vfs)) {
    struct unix_diag_vfs v;
    memcpy(&v, data, sizeof v);
    out->vfs_inode = v.udiag_vfs_ino;
  } else if (type == UNIX_DIAG_RQLEN && len >= sizeof(struct unix_diag_rqlen)) {
    struct unix_diag_rqlen q;
    memcpy(&q, data, sizeof q);
    out->recvq = q.udiag_rqueue;
    out->sendq = q.udiag_wqueue;
  } else if (type == UNIX_DIAG_UID && len >= 4) {
    uint32_t uid;
    memcpy(&uid, data, 4);
    out->uid = uid;
    out->has_uid = 1;
  }
  return 0;
}

int cr_sockdiag_parse_unix(const void *msg, size_t len, cr_sock *out, char *pathbuf,
                           size_t pathcap) {
  struct unix_diag_msg m;
  if (len < sizeof m) return -1;
  memcpy(&m, msg, sizeof m);
  cr_sock_init(out);
  if (m.udiag_family != AF_UNIX || m.udiag_state >= CR_ST_MAX) return -1;
  out->proto = CR_PROTO_UNIX;
  out->family = AF_UNIX;
  out->state = m.udiag_state ? m.udiag_state : CR_ST_CLOSE;
  out->sock_type = m.udiag_type;
  out->inode = m.udiag_ino;
  path_ctx pc = {pathbuf, pathcap};
  return walk_attrs(msg, len, sizeof m, unix_attr, out, &pc);
}

/* ---- the dump loop -------------------------------------------------------- */

static unsigned wanted_states(const cr_sock_query *q, int proto) {
  if (q->listeners) return proto == CR_PROTO_UDP ? 1u << CR_ST_CLOSE : 1u << CR_ST_LISTEN;
  return q->states ? q->states : CR_ST_ALL;
}

static int send_request(int fd, int kind, const cr_sock_query *q) {
  struct {
    struct nlmsghdr nlh;
    union {
      struct inet_diag_req_v2 inet;
      struct unix_diag_req ux;
    } r;
    uint8_t filter[64]; /* an INET_DIAG_REQ_BYTECODE attribute */
  } req;
  memset(&req, 0, sizeof req);
  req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nlh.nlmsg_seq = 1;
  if (kind == CR_KIND_UNIX) {
    req.nlh.nlmsg_len = NLMSG_LENGTH(sizeof req.r.ux);
    req.r.ux.sdiag_family = AF_UNIX;
    req.r.ux.udiag_states = wanted_states(q, CR_PROTO_UNIX);
    req.r.ux.udiag_show =
        UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN | UDIAG_SHOW_UID;
  } else {
    int proto = cr_sock_kind_proto(kind);
    req.nlh.nlmsg_len = NLMSG_LENGTH(sizeof req.r.inet);
    req.r.inet.sdiag_family = (uint8_t)cr_sock_kind_family(kind);
    req.r.inet.sdiag_protocol = proto == CR_PROTO_UDP ? IPPROTO_UDP : IPPROTO_TCP;
    req.r.inet.idiag_states = wanted_states(q, proto);
    req.r.inet.idiag_ext = 1 << (INET_DIAG_SKMEMINFO - 1);
    if (q->has_port)
      req.nlh.nlmsg_len += (uint32_t)cr_sockdiag_port_filter((uint8_t *)&req + req.nlh.nlmsg_len,
                                                             sizeof req - req.nlh.nlmsg_len, q->port);
  }
  return cr_nl_send(fd, &req, req.nlh.nlmsg_len);
}

/* Where a dump's sockets go: the callback's context. */
typedef struct {
  cr_sock_table *t;
  int kind;
  const cr_sock_query *q;
  uint64_t netns;
} dump_ctx;

/* Adds one message's socket to the table (a cr_nl_msg_fn). */
static int take_message(const struct nlmsghdr *h, const unsigned char *body, size_t len,
                        void *ctx) {
  const dump_ctx *d = ctx;
  if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) return 0;
  cr_sock s;
  char pathbuf[256];
  int bad = d->kind == CR_KIND_UNIX
                ? cr_sockdiag_parse_unix(body, len, &s, pathbuf, sizeof pathbuf)
                : cr_sockdiag_parse_inet(body, len, cr_sock_kind_proto(d->kind), &s);
  return bad ? 0 : cr_sock_table_take(d->t, &s, d->q, d->netns);
}

/* Names the devices the entries from `start` on are bound to. Runs in the
 * dumping thread, so in the namespace the interface indexes belong to. */
static void name_bound_devices(cr_sock_table *t, size_t start) {
  uint32_t last = 0;
  char name[IF_NAMESIZE] = "";
  for (size_t i = start; i < t->n; i++) {
    cr_sock *s = &t->v[i];
    if (!s->bound_ifindex) continue;
    if (s->bound_ifindex != last) {
      last = s->bound_ifindex;
      if (!if_indextoname(last, name)) snprintf(name, sizeof name, "if%u", last); /* as ss shows it */
    }
    snprintf(s->bound_dev, sizeof s->bound_dev, "%s", name);
  }
}

int cr_sockdiag_dump_kind(cr_sock_table *t, int kind, const cr_sock_query *q, uint64_t netns) {
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return errno == EPROTONOSUPPORT || errno == EAFNOSUPPORT ? -ENOENT : -errno;
  uint8_t *buf = malloc(DUMP_BUF_SIZE);
  if (!buf) {
    close(fd);
    return -ENOMEM;
  }
  size_t start = t->n;
  dump_ctx ctx = {t, kind, q, netns};
  int rc = 0;
  for (int attempt = 0; attempt < DUMP_RETRIES; attempt++) {
    cr_sock_table_truncate(t, start);
    if ((rc = send_request(fd, kind, q)) != 0) break;
    rc = cr_nl_dump_read(fd, buf, DUMP_BUF_SIZE, take_message, &ctx);
    if (rc != CR_NL_INTERRUPTED) break;
  }
  /* still changing after the retries: keep the last, best-effort dump */
  if (rc == CR_NL_INTERRUPTED) rc = 0;
  if (rc < 0) cr_sock_table_truncate(t, start);
  if (rc == 0 && kind != CR_KIND_UNIX) name_bound_devices(t, start);
  /* a family the kernel lacks (no IPv6, no udp_diag module) answers ENOENT */
  if (rc == -EINVAL || rc == -EOPNOTSUPP || rc == -EAFNOSUPPORT) rc = -ENOENT;
  free(buf);
  close(fd);
  return rc;
}
