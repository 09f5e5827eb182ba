/* cr.probe: the C halves of the probes. Name resolution, argument defaults and
 * the overall verdicts are in lua/connrecipe/probe.lua; here:
 *   cr.probe._tcp(addrs, port, opts)  -> { per address result }   (async)
 *   cr.probe._udp(addrs, port, opts)  -> { per address result }   (async)
 *   cr.probe._tls(addrs, port, opts)  -> { per address result }   (async)
 *   cr.probe.unix(path)               -> {path, status, errno, ms, socket_type}
 *   cr.probe._scan(addr, ports, timeout, concurrency) -> scan object
 *     scan:step([seconds]) -> progress (async; at most `seconds` later)
 *     scan:open_ports()    -> {22, 8080, ...}
 *     scan:close()                                                            */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <openssl/x509_vfy.h>

#include "connrecipe/probe.h"
#include "lua/bindings.h"
#include "runtime/runtime.h"
#include "connrecipe/duration.h"

#define SCAN_MT "connrecipe.scan"

static int check_port(lua_State *L, int idx) {
  lua_Integer port = luaL_checkinteger(L, idx);
  luaL_argcheck(L, port >= 1 && port <= 65535, idx, "port must be 1-65535");
  return (int)port;
}

/* The addresses (list of strings or of {addr = ...}) at idx, parsed with port. */
static int check_addrs(lua_State *L, int idx, int port, cr_sockaddr *out, int max) {
  luaL_checktype(L, idx, LUA_TTABLE);
  int n = (int)luaL_len(L, idx);
  luaL_argcheck(L, n >= 1 && n <= max, idx, "expected 1 to 64 addresses");
  int top = lua_gettop(L);
  for (int i = 1; i <= n; i++) {
    if (lua_rawgeti(L, idx, i) == LUA_TTABLE) lua_getfield(L, -1, "addr");
    const char *s = lua_tostring(L, -1);
    if (!s || cr_sockaddr_parse(s, port, &out[i - 1]) != 0)
      luaL_error(L, "cr.probe: %s is not a numeric IPv4 or IPv6 address", s ? s : "(nil)");
    lua_settop(L, top);
  }
  return n;
}

static double opt_number(lua_State *L, int idx, const char *k, double dflt) {
  double v = dflt;
  if (lua_getfield(L, idx, k) != LUA_TNIL) {
    if (!lua_isnumber(L, -1) || !(lua_tonumber(L, -1) > 0)) /* NaN too */
      luaL_error(L, "cr.probe: %s must be a number > 0", k);
    v = lua_tonumber(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

#define MAX_READ_BYTES (16 * 1024 * 1024)

/* opts.read_bytes: an integer, 1 to 16 MiB (the banner buffer is allocated at once). */
static size_t opt_read_bytes(lua_State *L, int idx) {
  lua_Integer v = 256;
  if (lua_getfield(L, idx, "read_bytes") != LUA_TNIL) {
    int isint = 0;
    v = lua_tointegerx(L, -1, &isint);
    if (!isint || v < 1 || v > MAX_READ_BYTES)
      luaL_error(L, "cr.probe: read_bytes must be an integer from 1 to %d", MAX_READ_BYTES);
  }
  lua_pop(L, 1);
  return (size_t)v;
}

/* opts.send: a string kept alive in the opts table for the call's duration. */
static const char *opt_string(lua_State *L, int idx, const char *k, size_t *len) {
  const char *s = NULL;
  if (lua_getfield(L, idx, k) != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "cr.probe: %s must be a string", k);
    s = lua_tolstring(L, -1, len);
  }
  lua_pop(L, 1);
  return s;
}

static void push_addr(lua_State *L, const cr_sockaddr *a, const char *addr_key,
                      const char *port_key) {
  char buf[INET6_ADDRSTRLEN + 16];
  int port = cr_sockaddr_format(a, buf, sizeof buf);
  cr_set_string(L, addr_key, buf);
  if (port_key) cr_set_integer(L, port_key, port);
}

static void push_status(lua_State *L, cr_probe_status st, int err, double ms) {
  cr_set_string(L, "status", cr_probe_status_name(st));
  cr_set_errno(L, "errno", err);
  cr_set_number(L, "ms", ms);
}

/* A per-address result table with what TCP and UDP share: addr, family,
 * status, errno, ms. Left on the stack for the kind's own fields. */
static void push_address_result(lua_State *L, const cr_sockaddr *to, cr_probe_status st, int err,
                                double ms, int nfields) {
  lua_createtable(L, 0, nfields);
  push_addr(L, to, "addr", NULL);
  cr_set_string(L, "family", to->sa.sa_family == AF_INET6 ? "inet6" : "inet");
  push_status(L, st, err, ms);
}

/* ---- TCP and UDP: one probe per address, all at once ------------------------- */

/* What the TCP and UDP ops share: a slot per address, the op done when the
 * last slot's callback came; a cancel abandons the slots still running. The
 * kind supplies how to start and cancel one probe and its own result fields. */

#define MAX_ADDRS 64

typedef struct probe_op probe_op;

typedef struct {
  probe_op *op;
  void *probe; /* the core's probe; NULL once its callback came */
  cr_sockaddr to;
  cr_probe_status status;
  int err;
  double ms;
  union {
    cr_tcp_probe_result tcp;
    cr_udp_probe_result udp;
    cr_tls_probe_result tls;
  } r;
} probe_slot;

typedef struct {
  cr_op_type type;
  /* 0, or a negative libuv error: nothing started, no callback */
  int (*start)(uv_loop_t *loop, probe_slot *slot, const void *opts);
  void (*cancel)(void *probe);
  void (*push_fields)(lua_State *L, const probe_slot *slot); /* onto the address's table */
  void (*free_result)(probe_slot *slot);
  int nfields;
} probe_kind;

struct probe_op {
  cr_op op;
  const probe_kind *kind;
  int n, pending;
  probe_slot slot[];
};

/* A probe's callback came: the slot has its result. */
static void slot_done(probe_slot *s, cr_probe_status status, int err, double ms) {
  s->probe = NULL;
  s->status = status;
  s->err = err;
  s->ms = ms;
  if (--s->op->pending == 0) cr_op_complete(&s->op->op);
  cr_op_unref(&s->op->op);
}

static void probes_cancel(cr_op *op) {
  probe_op *p = (probe_op *)op;
  for (int i = 0; i < p->n; i++) {
    if (!p->slot[i].probe) continue;
    p->kind->cancel(p->slot[i].probe); /* closes the socket; no callback */
    p->slot[i].probe = NULL;
    cr_op_unref(op);
  }
}

static int probes_push(cr_op *op, lua_State *L) {
  probe_op *p = (probe_op *)op;
  lua_createtable(L, p->n, 0);
  for (int i = 0; i < p->n; i++) {
    const probe_slot *s = &p->slot[i];
    push_address_result(L, &s->to, s->status, s->err, s->ms, p->kind->nfields);
    p->kind->push_fields(L, s);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static void probes_destroy(cr_op *op) {
  probe_op *p = (probe_op *)op;
  for (int i = 0; i < p->n; i++)
    p->kind->free_result(&p->slot[i]);
}

/* Starts one probe per address and waits for them all. */
static int probes_run(lua_State *L, const probe_kind *kind, const cr_sockaddr *addrs, int n,
                      const void *opts) {
  probe_op *p = cr_op_new(L, &kind->type, sizeof *p + (size_t)n * sizeof(probe_slot));
  p->kind = kind;
  p->n = n;
  uv_loop_t *loop = cr_runtime_loop(p->op.rt);
  for (int i = 0; i < n; i++) {
    probe_slot *s = &p->slot[i];
    s->op = p;
    s->to = addrs[i];
    cr_op_ref(&p->op);
    p->pending++;
    int rc = kind->start(loop, s, opts);
    if (rc != 0) { /* out of memory: an error outcome for this address */
      s->probe = NULL;
      s->status = CR_PROBE_ERROR;
      s->err = -rc;
      p->pending--;
      cr_op_unref(&p->op);
    }
  }
  if (p->pending == 0) cr_op_complete(&p->op);
  return cr_op_await(L, &p->op);
}

/* The options table at 3 (an empty one when absent). */
static void check_options_table(lua_State *L) {
  if (lua_isnoneornil(L, 3)) {
    lua_settop(L, 2);
    lua_newtable(L);
  }
  luaL_checktype(L, 3, LUA_TTABLE);
}

/* ---- TCP ------------------------------------------------------------------------- */

typedef struct {
  cr_tcp_probe_options o;
  cr_sockaddr source;
  int have_source;
} tcp_args;

static void tcp_done(cr_tcp_probe *probe, cr_tcp_probe_result *r, void *data) {
  probe_slot *s = data;
  s->r.tcp = *r;
  slot_done(s, r->status, r->err, r->ms);
}

static int tcp_start(uv_loop_t *loop, probe_slot *s, const void *opts) {
  const tcp_args *a = opts;
  cr_tcp_probe_options o = a->o;
  /* the source address applies to the addresses of its family */
  o.source = a->have_source && a->source.sa.sa_family == s->to.sa.sa_family ? &a->source : NULL;
  cr_tcp_probe *probe;
  int rc = cr_tcp_probe_start(loop, &s->to, &o, tcp_done, s, &probe);
  if (rc == 0) s->probe = probe;
  return rc;
}

static void tcp_cancel(void *probe) { cr_tcp_probe_cancel(probe); }

static void tcp_push_fields(lua_State *L, const probe_slot *s) {
  const cr_tcp_probe_result *r = &s->r.tcp;
  if (r->have_local) push_addr(L, &r->local, "local_addr", "local_port");
  if (r->self_connect) cr_set_boolean(L, "self_connect", 1);
  if (r->banner) {
    lua_pushlstring(L, r->banner, r->banner_len);
    lua_setfield(L, -2, "banner");
  }
  if (r->after) cr_set_string(L, "after_connect", cr_after_connect_name(r->after));
  if (r->banner_end) cr_set_string(L, "banner_end", cr_read_end_name(r->banner_end));
  if (r->reply) {
    lua_pushlstring(L, r->reply, r->reply_len);
    lua_setfield(L, -2, "reply");
  }
  if (r->reply_end) cr_set_string(L, "reply_end", cr_read_end_name(r->reply_end));
  cr_set_errno(L, "read_errno", r->read_err);
}

static void tcp_free_result(probe_slot *s) {
  free(s->r.tcp.banner);
  free(s->r.tcp.reply);
}

static const probe_kind tcp_kind = {
    {"probe.tcp", probes_cancel, probes_push, probes_destroy},
    tcp_start,
    tcp_cancel,
    tcp_push_fields,
    tcp_free_result,
    12,
};

/* opts.source_addr / opts.source_port: where to bind before connecting. */
static int check_source(lua_State *L, int idx, int family, cr_sockaddr *src) {
  lua_getfield(L, idx, "source_addr");
  lua_getfield(L, idx, "source_port");
  int have = !lua_isnil(L, -1) || !lua_isnil(L, -2);
  if (have) {
    lua_Integer port = lua_isnil(L, -1) ? 0 : luaL_checkinteger(L, -1);
    if (port < 0 || port > 65535) luaL_error(L, "cr.probe: source_port must be 0-65535");
    const char *addr =
        lua_isnil(L, -2) ? (family == AF_INET6 ? "::" : "0.0.0.0") : luaL_checkstring(L, -2);
    if (cr_sockaddr_parse(addr, (int)port, src) != 0)
      luaL_error(L, "cr.probe: source_addr %s is not a numeric address", addr);
  }
  lua_pop(L, 2);
  return have;
}

static int l_tcp(lua_State *L) {
  int port = check_port(L, 2);
  cr_sockaddr addrs[MAX_ADDRS];
  int n = check_addrs(L, 1, port, addrs, MAX_ADDRS);
  check_options_table(L);
  tcp_args a = {0};
  a.o.timeout = opt_number(L, 3, "timeout", 2.0);
  a.o.read_bytes = opt_read_bytes(L, 3);
  a.o.send = opt_string(L, 3, "send", &a.o.send_len);
  a.o.netns = opt_string(L, 3, "netns", NULL);
  if (lua_getfield(L, 3, "settle") != LUA_TNIL) a.o.settle = opt_number(L, 3, "settle", 0);
  lua_pop(L, 1);
  lua_getfield(L, 3, "banner");
  a.o.read_banner = lua_toboolean(L, -1) || a.o.send;
  lua_pop(L, 1);
  a.have_source = check_source(L, 3, addrs[0].sa.sa_family, &a.source);
  cr_check_async(L, "cr.probe.tcp");
  return probes_run(L, &tcp_kind, addrs, n, &a);
}

/* ---- UDP ------------------------------------------------------------------------- */

static void udp_done(cr_udp_probe *probe, cr_udp_probe_result *r, void *data) {
  probe_slot *s = data;
  s->r.udp = *r;
  slot_done(s, r->status, r->err, r->ms);
}

static int udp_start(uv_loop_t *loop, probe_slot *s, const void *opts) {
  cr_udp_probe *probe;
  int rc = cr_udp_probe_start(loop, &s->to, opts, udp_done, s, &probe);
  if (rc == 0) s->probe = probe;
  return rc;
}

static void udp_cancel(void *probe) { cr_udp_probe_cancel(probe); }

static void udp_push_fields(lua_State *L, const probe_slot *s) {
  if (!s->r.udp.reply) return;
  lua_pushlstring(L, s->r.udp.reply, s->r.udp.reply_len);
  lua_setfield(L, -2, "reply");
}

static void udp_free_result(probe_slot *s) { free(s->r.udp.reply); }

static const probe_kind udp_kind = {
    {"probe.udp", probes_cancel, probes_push, probes_destroy},
    udp_start,
    udp_cancel,
    udp_push_fields,
    udp_free_result,
    6,
};

static int l_udp(lua_State *L) {
  int port = check_port(L, 2);
  cr_sockaddr addrs[MAX_ADDRS];
  int n = check_addrs(L, 1, port, addrs, MAX_ADDRS);
  check_options_table(L);
  cr_udp_probe_options o = {0};
  o.timeout = opt_number(L, 3, "timeout", 2.0);
  o.read_bytes = opt_read_bytes(L, 3);
  o.send = opt_string(L, 3, "send", &o.send_len);
  cr_check_async(L, "cr.probe.udp");
  return probes_run(L, &udp_kind, addrs, n, &o);
}

/* ---- TLS ------------------------------------------------------------------------- */

static void tls_done(cr_tls_probe *probe, cr_tls_probe_result *r, void *data) {
  probe_slot *s = data;
  s->r.tls = *r;
  slot_done(s, r->status, r->err, r->ms);
}

static int tls_start(uv_loop_t *loop, probe_slot *s, const void *opts) {
  cr_tls_probe *probe;
  int rc = cr_tls_probe_start(loop, &s->to, opts, tls_done, s, &probe);
  if (rc == 0) s->probe = probe;
  return rc;
}

static void tls_cancel(void *probe) { cr_tls_probe_cancel(probe); }

static void push_certificate(lua_State *L, const cr_tls_probe_result *r) {
  if (r->subject) cr_set_string(L, "subject", r->subject);
  if (r->issuer) cr_set_string(L, "issuer", r->issuer);
  lua_createtable(L, r->nsan, 0);
  for (int i = 0; i < r->nsan; i++) {
    lua_pushstring(L, r->san[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setfield(L, -2, "san");
  cr_set_integer(L, "not_before", r->not_before);
  cr_set_integer(L, "not_after", r->not_after);
  cr_set_boolean(L, "self_signed", r->self_signed);
}

static void tls_push_fields(lua_State *L, const probe_slot *s) {
  const cr_tls_probe_result *r = &s->r.tls;
  if (s->status != CR_PROBE_OPEN) return;
  cr_set_boolean(L, "handshake", r->handshake);
  if (r->handshake) {
    cr_set_number(L, "handshake_ms", r->handshake_ms);
    cr_set_string(L, "version", r->version);
    cr_set_string(L, "cipher", r->cipher);
    cr_set_string(L, "verify", r->verify_code == X509_V_OK ? "ok" : r->verify_error);
    cr_set_integer(L, "verify_code", r->verify_code);
    if (r->name_match >= 0) cr_set_boolean(L, "name_match", r->name_match);
  }
  if (r->have_cert) push_certificate(L, r);
  if (r->error) cr_set_string(L, "error", r->error);
  if (r->peer_end) cr_set_string(L, "peer_end", cr_read_end_name(r->peer_end));
  if (r->received && !r->handshake) {
    lua_pushlstring(L, r->received, r->received_len);
    lua_setfield(L, -2, "received");
  }
}

static void tls_free_result(probe_slot *s) { cr_tls_probe_result_free(&s->r.tls); }

static const probe_kind tls_kind = {
    {"probe.tls", probes_cancel, probes_push, probes_destroy},
    tls_start,
    tls_cancel,
    tls_push_fields,
    tls_free_result,
    20,
};

static int l_tls(lua_State *L) {
  int port = check_port(L, 2);
  cr_sockaddr addrs[MAX_ADDRS];
  int n = check_addrs(L, 1, port, addrs, MAX_ADDRS);
  check_options_table(L);
  cr_tls_probe_options o = {0};
  o.timeout = opt_number(L, 3, "timeout", 2.0);
  o.read_bytes = lua_getfield(L, 3, "read_bytes") == LUA_TNIL ? 512 : opt_read_bytes(L, 3);
  lua_pop(L, 1);
  size_t len;
  o.name = opt_string(L, 3, "name", &len);
  if (o.name && (len == 0 || strlen(o.name) != len))
    luaL_error(L, "cr.probe.tls: name must be a non-empty text without NUL bytes");
  o.ca_file = opt_string(L, 3, "ca_file", &len);
  o.netns = opt_string(L, 3, "netns", NULL);
  cr_check_async(L, "cr.probe.tls");
  return probes_run(L, &tls_kind, addrs, n, &o);
}

/* ---- Unix ---------------------------------------------------------------------- */

static const char *socket_type_name(int type) {
  return type == SOCK_STREAM ? "stream" : type == SOCK_SEQPACKET ? "seqpacket" : "dgram";
}

/* A Unix connect has nothing to tune (Linux answers it at once): an option
 * is a mistake, said so rather than ignored. An empty table passes. */
static void check_no_options(lua_State *L) {
  if (lua_isnoneornil(L, 2)) return;
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  lua_pushnil(L);
  if (lua_next(L, 2))
    luaL_error(L,
               "cr.probe.unix: unknown option '%s' (it takes none: Linux answers a Unix "
               "connect at once, there is nothing to wait for)",
               luaL_tolstring(L, -2, NULL));
}

/* cr.probe.unix(path) -> {path, status, errno, ms [, socket_type]} */
static int l_unix(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  check_no_options(L);
  cr_unix_probe_result r;
  if (cr_unix_probe(path, &r) != 0) {
    return cr_push_failure(
        L, "ENAMETOOLONG",
        "cr.probe.unix: path too long for a Unix socket (%d bytes, at most 107): %s",
        (int)strlen(path), path);
  }
  lua_createtable(L, 0, 5);
  cr_set_string(L, "path", path);
  cr_set_string(L, "family", "unix");
  push_status(L, r.status, r.err, r.ms);
  if (r.status == CR_PROBE_OPEN) cr_set_string(L, "socket_type", socket_type_name(r.socket_type));
  return 1;
}

/* ---- scan ------------------------------------------------------------------------- */

typedef struct step_op step_op;
typedef struct {
  cr_scan *scan; /* NULL once closed */
  step_op *waiting;
  uint64_t t0;
} scan_box;

struct step_op {
  cr_op op;
  scan_box *box;   /* while waiting */
  scan_box *owner; /* for push: on the waiting task's stack, so still alive */
  uv_timer_t timer;
  int has_timer;
};

static void step_timer_closed(uv_handle_t *h) { cr_op_unref(h->data); }

static void step_wake(step_op *s) {
  if (s->op.done) return;
  if (s->box) s->box->waiting = NULL;
  s->box = NULL;
  if (s->has_timer) uv_close((uv_handle_t *)&s->timer, step_timer_closed);
  cr_op_complete(&s->op);
}

static void step_timer_fired(uv_timer_t *t) { step_wake(t->data); }

static void scan_finished(cr_scan *scan, void *data) {
  scan_box *b = data;
  if (b->waiting) step_wake(b->waiting);
}

static void push_progress(lua_State *L, scan_box *b, const cr_scan_progress *p) {
  lua_createtable(L, 0, 10);
  cr_set_integer(L, "done", p->done);
  cr_set_integer(L, "total", p->total);
  cr_set_boolean(L, "finished", p->finished);
  cr_set_integer(L, "concurrency", p->concurrency);
  cr_set_integer(L, "concurrency_min", p->concurrency_min);
  cr_set_integer(L, "concurrency_raises", p->concurrency_raises);
  cr_set_integer(L, "fd_limit_hits", p->fd_limit_hits);
  cr_set_integer(L, "self_connects", p->self_connects);
  cr_set_number(L, "elapsed", (double)(uv_hrtime() - b->t0) / 1e9);
  lua_createtable(L, 0, 4);
  for (int i = 0; i < CR_PROBE_STATUS_COUNT; i++)
    if (p->counts[i]) cr_set_integer(L, cr_probe_status_name(i), p->counts[i]);
  lua_setfield(L, -2, "counts");
  cr_set_errno(L, "errno", p->fatal_err);
}

/* Progress is read from the scan when the task resumes. */
static int step_push(cr_op *op, lua_State *L) {
  scan_box *b = ((step_op *)op)->owner;
  if (!b->scan) return cr_push_failure(L, "ECANCELED", "cr.probe.scan: the scan was closed");
  push_progress(L, b, cr_scan_get_progress(b->scan));
  return 1;
}

/* A task cancelled mid-scan stops the scan: every socket closes. */
static void step_cancel(cr_op *op) {
  step_op *s = (step_op *)op;
  scan_box *b = s->box;
  if (b && b->scan) {
    cr_scan_free(b->scan);
    b->scan = NULL;
  }
  if (b) b->waiting = NULL;
  s->box = NULL;
  if (s->has_timer) uv_close((uv_handle_t *)&s->timer, step_timer_closed);
}

static const cr_op_type step_type = {"probe.scan", step_cancel, step_push, NULL};

static scan_box *check_scan(lua_State *L) {
  scan_box *b = luaL_checkudata(L, 1, SCAN_MT);
  if (!b->scan) luaL_error(L, "cr.probe.scan: the scan is closed");
  return b;
}

/* scan:step([seconds]) -> progress: waits until the scan finishes, or at most
 * `seconds`; then returns the progress (call again while not finished). */
static int scan_step(lua_State *L) {
  scan_box *b = check_scan(L);
  double secs = luaL_optnumber(L, 2, -1);
  if (cr_scan_get_progress(b->scan)->finished) {
    push_progress(L, b, cr_scan_get_progress(b->scan));
    return 1;
  }
  luaL_argcheck(L, !b->waiting, 1, "another task is already waiting on this scan");
  cr_check_async(L, "cr.probe.scan");
  step_op *s = cr_op_new(L, &step_type, sizeof *s);
  s->box = s->owner = b;
  b->waiting = s;
  if (secs >= 0) {
    s->has_timer = 1;
    uv_timer_init(cr_runtime_loop(s->op.rt), &s->timer);
    s->timer.data = s;
    cr_op_ref(&s->op);
    uv_timer_start(&s->timer, step_timer_fired, cr_seconds_to_ms(secs), 0);
  }
  return cr_op_await(L, &s->op);
}

/* scan:progress() -> progress, without waiting */
static int scan_progress(lua_State *L) {
  scan_box *b = check_scan(L);
  push_progress(L, b, cr_scan_get_progress(b->scan));
  return 1;
}

static int scan_open_ports(lua_State *L) {
  scan_box *b = check_scan(L);
  int n;
  const uint16_t *ports = cr_scan_open_ports(b->scan, &n);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushinteger(L, ports[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int scan_close(lua_State *L) {
  scan_box *b = luaL_checkudata(L, 1, SCAN_MT);
  if (b->waiting) step_wake(b->waiting); /* closed from another task */
  if (b->scan) {
    cr_scan_free(b->scan);
    b->scan = NULL;
  }
  return 0;
}

/* cr.probe._scan(addr, ports, timeout, concurrency) -> scan object.
 * ports: a spec string ("1-1024,8080") or a list of integers. Bad specs raise. */
static int l_scan(lua_State *L) {
  const char *addr = luaL_checkstring(L, 1);
  double timeout = luaL_optnumber(L, 3, 2.0);
  lua_Integer conc = luaL_optinteger(L, 4, 1000);
  luaL_argcheck(L, timeout > 0, 3, "timeout must be > 0 seconds");
  luaL_argcheck(L, conc >= 1 && conc <= 65535, 4, "concurrency must be 1-65535");
  cr_scan_options o = {.timeout = timeout, .concurrency = (int)conc};
  if (cr_sockaddr_parse(addr, 0, &o.target) != 0)
    return luaL_error(L, "cr.probe.scan: %s is not a numeric address", addr);

  cr_portset *ports = lua_newuserdatauv(L, sizeof *ports, 0); /* collected with the call */
  if (lua_type(L, 2) == LUA_TSTRING) {
    char err[512];
    if (cr_portspec_parse(lua_tostring(L, 2), ports, err, sizeof err) != 0)
      return luaL_error(L, "cr.probe.scan: %s", err);
  } else {
    luaL_checktype(L, 2, LUA_TTABLE);
    memset(ports, 0, sizeof *ports);
    int n = (int)luaL_len(L, 2);
    for (int i = 1; i <= n; i++) {
      lua_rawgeti(L, 2, i);
      lua_Integer p = lua_tointeger(L, -1);
      if (!lua_isinteger(L, -1) || p < 1 || p > 65535)
        return luaL_error(L, "cr.probe.scan: bad port %s at ports[%d]: ports are 1-65535",
                          luaL_tolstring(L, -1, NULL), i);
      cr_portset_add(ports, (int)p);
      lua_pop(L, 1);
    }
    if (n == 0) return luaL_error(L, "cr.probe.scan: no ports to scan");
  }
  o.ports = ports;

  scan_box *b = lua_newuserdatauv(L, sizeof *b, 0);
  memset(b, 0, sizeof *b);
  luaL_setmetatable(L, SCAN_MT);
  b->t0 = uv_hrtime();
  int rc = cr_scan_start(cr_runtime_loop(cr_runtime_get(L)), &o, scan_finished, b, &b->scan);
  if (rc != 0) {
    b->scan = NULL;
    return cr_push_uv_error(L, rc, "cr.probe.scan: cannot start");
  }
  return 1;
}

/* ---- registration --------------------------------------------------------------- */

void cr_open_probe(lua_State *L) {
  if (luaL_newmetatable(L, SCAN_MT)) {
    static const luaL_Reg methods[] = {{"step", scan_step},
                                       {"progress", scan_progress},
                                       {"open_ports", scan_open_ports},
                                       {"close", scan_close},
                                       {NULL, NULL}};
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, scan_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, scan_close);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
  static const luaL_Reg fns[] = {
      {"_tcp", l_tcp},   {"_udp", l_udp}, {"_tls", l_tls},
      {"unix", l_unix}, {"_scan", l_scan}, {NULL, NULL}};
  luaL_newlib(L, fns); /* tcp, udp, tls, scan: connrecipe.probe adds them, in Lua */
  lua_setfield(L, -2, "probe");
}
