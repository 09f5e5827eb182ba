/* /proc/net/{tcp,tcp6,udp,udp6,unix}: the fallback when NETLINK_SOCK_DIAG is
 * missing. The line parsers are pure (no I/O) and fuzzed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connrecipe/sockets.h"

/* A cursor over one line that never reads past len. */
typedef struct {
  const char *p, *end;
} cursor;

static void skip_spaces(cursor *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
    c->p++;
}

static int hexval(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* Exactly `digits` hex digits (0: one or more, up to 16). */
static int read_hex(cursor *c, int digits, uint64_t *out) {
  uint64_t v = 0;
  int n = 0;
  while (c->p < c->end && (digits == 0 || n < digits)) {
    int h = hexval(*c->p);
    if (h < 0) break;
    if (n == 16) return -1;
    v = v << 4 | (uint64_t)h;
    c->p++;
    n++;
  }
  if (n == 0 || (digits && n != digits)) return -1;
  *out = v;
  return 0;
}

static int read_dec(cursor *c, uint64_t *out) {
  uint64_t v = 0;
  int n = 0;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
    if (v > (UINT64_MAX - 9) / 10) return -1;
    v = v * 10 + (uint64_t)(*c->p++ - '0');
    n++;
  }
  if (!n) return -1;
  *out = v;
  return 0;
}

static int expect(cursor *c, char ch) {
  if (c->p >= c->end || *c->p != ch) return -1;
  c->p++;
  return 0;
}

/* Skips one whitespace-separated field. */
static int skip_field(cursor *c) {
  skip_spaces(c);
  const char *start = c->p;
  while (c->p < c->end && *c->p != ' ' && *c->p != '\t')
    c->p++;
  return c->p > start ? 0 : -1;
}

/* "0100007F:1F90": the kernel prints each 32-bit word of the address in host
 * byte order with %08X, then the port in host order. */
static int read_endpoint(cursor *c, int family, uint8_t addr[16], uint16_t *port) {
  int words = family == AF_INET6 ? 4 : 1;
  for (int i = 0; i < words; i++) {
    uint64_t w;
    if (read_hex(c, 8, &w)) return -1;
    uint32_t w32 = (uint32_t)w;
    memcpy(addr + 4 * i, &w32, 4);
  }
  uint64_t p;
  if (expect(c, ':') || read_hex(c, 4, &p)) return -1;
  *port = (uint16_t)p;
  return 0;
}

int cr_procnet_parse_inet(const char *line, size_t len, int proto, int family, cr_sock *out) {
  cursor c = {line, line + len};
  uint64_t v, tx, rx, uid, inode;
  cr_sock_init(out);
  out->proto = (uint8_t)proto;
  out->family = (uint8_t)family;
  skip_spaces(&c); /* "  12: " slot number */
  if (read_dec(&c, &v) || expect(&c, ':')) return -1;
  skip_spaces(&c);
  if (read_endpoint(&c, family, out->addr, &out->port)) return -1;
  skip_spaces(&c);
  if (read_endpoint(&c, family, out->peer, &out->peer_port)) return -1;
  skip_spaces(&c);
  if (read_hex(&c, 2, &v) || v == 0 || v >= CR_ST_MAX) return -1;
  out->state = (uint8_t)v;
  skip_spaces(&c);
  if (read_hex(&c, 8, &tx) || expect(&c, ':') || read_hex(&c, 8, &rx)) return -1;
  out->sendq = (uint32_t)tx;
  out->recvq = (uint32_t)rx;
  if (skip_field(&c) || skip_field(&c)) return -1; /* tr:tm->when, retrnsmt */
  skip_spaces(&c);
  if (read_dec(&c, &uid) || uid > UINT32_MAX) return -1;
  out->uid = (uint32_t)uid;
  out->has_uid = 1;
  if (skip_field(&c)) return -1; /* timeout */
  skip_spaces(&c);
  if (read_dec(&c, &inode)) return -1;
  out->inode = inode;
  if (proto == CR_PROTO_UDP) {
    /* ... ref pointer drops */
    cursor d = c;
    if (!skip_field(&d) && !skip_field(&d)) {
      skip_spaces(&d);
      if (!read_dec(&d, &v)) out->drops = (int64_t)v;
    }
  }
  return 0;
}

int cr_procnet_parse_unix(const char *line, size_t len, cr_sock *out, char *pathbuf,
                          size_t pathcap) {
  cursor c = {line, line + len};
  uint64_t refcnt, protocol, flags, type, st, inode;
  cr_sock_init(out);
  out->proto = CR_PROTO_UNIX;
  out->family = AF_UNIX;
  skip_spaces(&c);
  if (read_hex(&c, 0, &refcnt) || expect(&c, ':')) return -1; /* kernel address (often 0) */
  skip_spaces(&c);
  if (read_hex(&c, 0, &refcnt)) return -1;
  skip_spaces(&c);
  if (read_hex(&c, 0, &protocol)) return -1;
  skip_spaces(&c);
  if (read_hex(&c, 0, &flags)) return -1;
  skip_spaces(&c);
  if (read_hex(&c, 0, &type) || type > 255) return -1;
  skip_spaces(&c);
  if (read_hex(&c, 0, &st)) return -1;
  skip_spaces(&c);
  if (read_dec(&c, &inode)) return -1;
  out->sock_type = (uint8_t)type;
  out->inode = inode;
  /* __SO_ACCEPTCON marks a listening socket; st is the socket_state */
  if (flags & 0x10000)
    out->state = CR_ST_LISTEN;
  else if (st == 3) /* SS_CONNECTED */
    out->state = CR_ST_ESTABLISHED;
  else if (st == 2) /* SS_CONNECTING */
    out->state = CR_ST_SYN_SENT;
  else if (st == 4) /* SS_DISCONNECTING */
    out->state = CR_ST_CLOSING;
  else
    out->state = CR_ST_CLOSE;
  if (c.p < c.end && *c.p == ' ') {
    c.p++;
    size_t n = (size_t)(c.end - c.p);
    if (n > 0 && pathcap > 0) {
      if (n >= pathcap) n = pathcap - 1;
      memcpy(pathbuf, c.p, n);
      pathbuf[n] = '\0';
      out->path = pathbuf;
    }
  } else if (c.p != c.end) {
    return -1;
  }
  return 0;
}

int cr_procnet_read_kind(cr_sock_table *t, int kind, const char *dir, const cr_sock_query *q,
                         uint64_t netns) {
  static const char *const files[CR_KIND_COUNT] = {"tcp", "tcp6", "udp", "udp6", "unix"};
  if (kind < 0 || kind >= CR_KIND_COUNT) return -EINVAL;
  int proto = cr_sock_kind_proto(kind), family = cr_sock_kind_family(kind);
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, files[kind]);
  FILE *f = fopen(path, "re");
  if (!f) return -errno;
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  int rc = 0, header = 1;
  char pathbuf[256];
  while ((len = getline(&line, &cap, f)) > 0) {
    if (header) { /* the column titles */
      header = 0;
      continue;
    }
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      len--;
    cr_sock s;
    int bad = proto == CR_PROTO_UNIX
                  ? cr_procnet_parse_unix(line, (size_t)len, &s, pathbuf, sizeof pathbuf)
                  : cr_procnet_parse_inet(line, (size_t)len, proto, family, &s);
    if (bad) continue; /* a line we do not understand is skipped, not fatal */
    if ((rc = cr_sock_table_take(t, &s, q, netns))) break;
  }
  free(line);
  fclose(f);
  return rc;
}
