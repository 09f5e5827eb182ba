/* cr.sockets{...} and cr.listeners{...}: socket tables (sock_diag, /proc/net
 * fallback), in one or every network namespace, with their owning processes.
 * The dump and the /proc walk run on libuv's thread pool. */
#include <arpa/inet.h>
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <lauxlib.h>

#include "connrecipe/sockets.h"
#include "lua/bindings.h"
#include "runtime/runtime.h"
#include "runtime/thread_pool.h"

typedef struct {
  uint32_t uid;
  char name[64];
} user_name;

typedef struct {
  cr_netns ns;
  const char *via; /* how it was read: self, setns, procfs, none */
  int rc;
} ns_result;

typedef struct {
  cr_sock_query q;
  int all_netns, processes, port;
  int addr_family; /* AF_INET, AF_INET6, AF_UNIX (path), 0: any */
  uint8_t addr[16];
  const char *path; /* owned by the op once started */
} sock_args;

typedef struct {
  cr_op op;
  uv_work_t req;
  sock_args a;
  /* results */
  int rc;
  cr_sock_table t;
  size_t dumped; /* rows before the port/addr filters */
  cr_owner_map m;
  int have_map;
  ns_result *ns;
  int nns;
  int ns_unreadable; /* processes whose namespace could not be read */
  user_name *users;
  size_t nusers;
} sockets_op;

/* ---- work (pool thread: no Lua) -------------------------------------------- */

static int keep(const sock_args *o, const cr_sock *s) {
  /* a port is an inet thing: port = 0 must not match every Unix socket */
  if (o->port >= 0 && (s->family == AF_UNIX || s->port != o->port)) return 0;
  if (o->addr_family == AF_UNIX) return s->path && strcmp(s->path, o->path) == 0;
  if (o->addr_family) {
    size_t n = o->addr_family == AF_INET ? 4 : 16;
    return s->family == o->addr_family && memcmp(s->addr, o->addr, n) == 0;
  }
  return 1;
}

/* Drops the entries the port/addr filters reject (before the owner walk). */
static void filter_table(sockets_op *o) {
  size_t w = 0;
  for (size_t i = 0; i < o->t.n; i++) {
    if (keep(&o->a, &o->t.v[i]))
      o->t.v[w++] = o->t.v[i];
    else
      free(o->t.v[i].path);
  }
  o->t.n = w;
}

static void resolve_users(sockets_op *o) {
  o->users = calloc(16, sizeof *o->users);
  size_t cap = o->users ? 16 : 0;
  for (size_t i = 0; i < o->t.n; i++) {
    if (!o->t.v[i].has_uid) continue;
    uint32_t uid = o->t.v[i].uid;
    size_t k = 0;
    while (k < o->nusers && o->users[k].uid != uid)
      k++;
    if (k < o->nusers) continue;
    if (o->nusers == cap) {
      user_name *u = realloc(o->users, (cap * 2) * sizeof *u);
      if (!u) return;
      o->users = u;
      cap *= 2;
    }
    user_name *u = &o->users[o->nusers++];
    u->uid = uid;
    u->name[0] = '\0';
    struct passwd pw, *res = NULL;
    char buf[1024];
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res)
      snprintf(u->name, sizeof u->name, "%s", pw.pw_name);
  }
}

static void dump_all_netns(sockets_op *o) {
  cr_netns *list = NULL;
  int n = cr_netns_list(&list, &o->ns_unreadable);
  if (n < 0) {
    o->rc = n;
    return;
  }
  o->ns = calloc((size_t)n ? (size_t)n : 1, sizeof *o->ns);
  if (!o->ns) {
    free(list);
    o->rc = -ENOMEM;
    return;
  }
  int *rcs = calloc((size_t)n ? (size_t)n : 1, sizeof *rcs);
  const char **vias = calloc((size_t)n ? (size_t)n : 1, sizeof *vias);
  if (!rcs || !vias) {
    free(rcs);
    free(vias);
    free(list);
    o->rc = -ENOMEM;
    return;
  }
  cr_netns_dump_each(list, n, &o->a.q, &o->t, rcs, vias);
  for (int i = 0; i < n; i++) {
    ns_result *r = &o->ns[o->nns++];
    r->ns = list[i];
    r->rc = rcs[i];
    r->via = vias[i];
    if (r->rc == -ENOMEM) o->rc = -ENOMEM;
  }
  free(rcs);
  free(vias);
  free(list);
}

static void sockets_work(uv_work_t *req) {
  sockets_op *o = req->data;
  if (o->a.all_netns) {
    dump_all_netns(o);
  } else {
    /* pool threads never leave the process's own namespace */
    o->rc = cr_sock_dump(&o->t, &o->a.q, cr_netns_self());
  }
  o->dumped = o->t.n;
  if (o->rc != -ENOMEM) filter_table(o);
  /* dump first, then walk: a socket made during the dump is still found */
  if (o->a.processes && o->rc != -ENOMEM) o->have_map = cr_owners_map(&o->t, 0, &o->m) == 0;
  if (o->rc != -ENOMEM) resolve_users(o);
}

static void sockets_after(uv_work_t *req, int status) {
  sockets_op *o = req->data;
  if (status == UV_ECANCELED) o->rc = -ECANCELED;
  cr_op_complete(&o->op);
  cr_op_unref(&o->op); /* the work request's reference */
}

static void sockets_cancel(cr_op *op) {
  uv_cancel((uv_req_t *)&((sockets_op *)op)->req); /* the after-work callback still comes */
}

static void sockets_destroy(cr_op *op) {
  sockets_op *o = (sockets_op *)op;
  cr_sock_table_free(&o->t);
  cr_owner_map_free(&o->m);
  free(o->ns);
  free(o->users);
  free((char *)o->a.path);
}

/* ---- push (scheduler: builds the tables) ----------------------------------- */

/* Every key and constant value of a row is pushed once per result and reused
 * from the stack: 10k rows x 15 fields through lua_setfield would hash (and
 * strcmp against Lua's string cache) each key every time. */
enum row_string {
  K_PROTO, K_FAMILY, K_STATE, K_PATH, K_TYPE, K_PEER_INODE, K_VFS_INODE, K_ADDR, K_PORT,
  K_PEER_ADDR, K_PEER_PORT, K_RECVQ, K_SENDQ, K_INODE, K_UID, K_USER, K_V6ONLY, K_DROPS,
  K_NETNS, K_NETNS_NAME, K_CONTAINER, K_PROCESSES, K_OWNER_UNKNOWN, K_OWNER_UNKNOWN_REASON,
  K_PID, K_COMM, K_UNIT, K_DEV, K_DEV_UNKNOWN,
  V_TCP, V_UDP, V_UNIX, V_INET, V_INET6, V_STREAM, V_DGRAM, V_SEQPACKET, V_OTHER,
  V_STATE0, /* + CR_ST_* */
  ROW_STRINGS = V_STATE0 + CR_ST_MAX
};

static const char *const row_string_text[V_STATE0] = {
    "proto", "family", "state", "path", "type", "peer_inode", "vfs_inode", "addr", "port",
    "peer_addr", "peer_port", "recvq", "sendq", "inode", "uid", "user", "v6only", "drops",
    "netns", "netns_name", "container", "processes", "owner_unknown", "owner_unknown_reason",
    "pid", "comm", "unit", "dev", "dev_unknown",
    "tcp", "udp", "unix", "inet", "inet6", "stream", "dgram", "seqpacket", "other"};

typedef struct {
  const sockets_op *o;
  int base;  /* stack index of the first row string */
  int users; /* stack index of the first user name (o->users order) */
  int owner_cache; /* stack index of {pid = holder table} */
} row_ctx;

static void push_row_strings(lua_State *L, row_ctx *c) {
  luaL_checkstack(L, ROW_STRINGS + (int)c->o->nusers + 8, "socket table");
  c->base = lua_gettop(L) + 1;
  for (int i = 0; i < V_STATE0; i++)
    lua_pushstring(L, row_string_text[i]);
  for (int st = 0; st < CR_ST_MAX; st++)
    lua_pushstring(L, cr_sock_state_name(st));
  c->users = lua_gettop(L) + 1;
  for (size_t i = 0; i < c->o->nusers; i++)
    lua_pushstring(L, c->o->users[i].name);
  lua_newtable(L);
  c->owner_cache = lua_gettop(L);
}

/* t[key] = v for the table at the top; the key is pushed first, so no rotate */
static void set_int(lua_State *L, const row_ctx *c, int key, lua_Integer v) {
  lua_pushvalue(L, c->base + key);
  lua_pushinteger(L, v);
  lua_rawset(L, -3);
}
static void set_bool(lua_State *L, const row_ctx *c, int key, int v) {
  lua_pushvalue(L, c->base + key);
  lua_pushboolean(L, v);
  lua_rawset(L, -3);
}
static void set_str(lua_State *L, const row_ctx *c, int key, const char *s, size_t len) {
  lua_pushvalue(L, c->base + key);
  lua_pushlstring(L, s, len);
  lua_rawset(L, -3);
}
/* t[key] = the value at stack index `value` */
static void set_slot(lua_State *L, const row_ctx *c, int key, int value) {
  lua_pushvalue(L, c->base + key);
  lua_pushvalue(L, value);
  lua_rawset(L, -3);
}
static void set_const(lua_State *L, const row_ctx *c, int key, int value) {
  set_slot(L, c, key, c->base + value);
}

/* inet_ntop for IPv4 without printf: it is called for every row */
static size_t ipv4_text(const uint8_t *a, char *out) {
  char *p = out;
  for (int i = 0; i < 4; i++) {
    unsigned v = a[i];
    if (v >= 100) *p++ = (char)('0' + v / 100);
    if (v >= 10) *p++ = (char)('0' + v / 10 % 10);
    *p++ = (char)('0' + v % 10);
    if (i < 3) *p++ = '.';
  }
  *p = '\0';
  return (size_t)(p - out);
}

static void set_addr(lua_State *L, const row_ctx *c, int key, int family, const uint8_t *a) {
  char buf[INET6_ADDRSTRLEN];
  if (family == AF_INET)
    set_str(L, c, key, buf, ipv4_text(a, buf));
  else if (inet_ntop(family, a, buf, sizeof buf))
    set_str(L, c, key, buf, strlen(buf));
}

static const ns_result *find_ns(const sockets_op *o, uint64_t inode) {
  for (int i = 0; i < o->nns; i++)
    if (o->ns[i].ns.inode == inode) return &o->ns[i];
  return NULL;
}

/* The stack index of uid's name, 0 when it has none. */
static int user_slot(const row_ctx *c, uint32_t uid) {
  for (size_t i = 0; i < c->o->nusers; i++)
    if (c->o->users[i].uid == uid) return c->o->users[i].name[0] ? c->users + (int)i : 0;
  return 0;
}

static const char *owner_unknown_reason(const cr_owner_map *m) {
  return m->no_fds       ? "connrecipe reached its limit on open files while reading /proc "
                           "(raise ulimit -n)"
         : m->hidepid    ? "/proc is mounted with hidepid: other users' processes are invisible "
                           "(run as root)"
         : m->unreadable ? "some processes' fds cannot be read (not root, /proc mounted with "
                           "hidepid, or a security module)"
                         : "no visible process holds it (a process in another pid namespace, "
                           "or the kernel)";
}

/* The table of one holder process: made once per pid and shared by the rows
 * of all its sockets (a server holding 100 listeners is one table). */
static void push_owner(lua_State *L, const row_ctx *c, const cr_owner *w) {
  if (lua_rawgeti(L, c->owner_cache, w->pid) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_createtable(L, 0, 4);
  set_int(L, c, K_PID, w->pid);
  set_str(L, c, K_COMM, w->comm, strlen(w->comm));
  if (w->unit[0]) set_str(L, c, K_UNIT, w->unit, strlen(w->unit));
  if (w->container[0]) set_str(L, c, K_CONTAINER, w->container, strlen(w->container));
  lua_pushvalue(L, -1);
  lua_rawseti(L, c->owner_cache, w->pid);
}

static int push_owners(lua_State *L, const row_ctx *c, size_t i) {
  const cr_owner_map *m = &c->o->m;
  uint32_t first = m->first[i], count = m->count[i];
  lua_pushvalue(L, c->base + K_PROCESSES);
  lua_createtable(L, (int)count, 0);
  for (uint32_t k = 0; k < count; k++) {
    push_owner(L, c, m->owners[first + k]);
    lua_rawseti(L, -2, (lua_Integer)k + 1);
  }
  lua_rawset(L, -3);
  if (count) return 0;
  /* nobody found: say why rather than pretend */
  set_bool(L, c, K_OWNER_UNKNOWN, 1);
  const char *why = owner_unknown_reason(m);
  set_str(L, c, K_OWNER_UNKNOWN_REASON, why, strlen(why));
  return 1;
}

static void push_unix_fields(lua_State *L, const row_ctx *c, const cr_sock *s) {
  if (s->path) set_str(L, c, K_PATH, s->path, strlen(s->path));
  int type = s->sock_type == SOCK_STREAM      ? V_STREAM
             : s->sock_type == SOCK_DGRAM     ? V_DGRAM
             : s->sock_type == SOCK_SEQPACKET ? V_SEQPACKET
                                              : V_OTHER;
  set_const(L, c, K_TYPE, type);
  if (s->peer_inode) set_int(L, c, K_PEER_INODE, (lua_Integer)s->peer_inode);
  if (s->vfs_inode) set_int(L, c, K_VFS_INODE, (lua_Integer)s->vfs_inode);
}

static void push_inet_fields(lua_State *L, const row_ctx *c, const cr_sock *s) {
  set_addr(L, c, K_ADDR, s->family, s->addr);
  set_int(L, c, K_PORT, s->port);
  if (s->state != CR_ST_LISTEN && (s->peer_port || s->state != CR_ST_CLOSE)) {
    /* a listening or unconnected socket has no peer */
    set_addr(L, c, K_PEER_ADDR, s->family, s->peer);
    set_int(L, c, K_PEER_PORT, s->peer_port);
  }
  /* SO_BINDTODEVICE: it takes only what arrives on that device */
  if (s->bound_dev[0]) set_str(L, c, K_DEV, s->bound_dev, strlen(s->bound_dev));
  if (!s->bound_dev_known) set_bool(L, c, K_DEV_UNKNOWN, 1); /* /proc/net does not show it */
}

static void push_sock(lua_State *L, const row_ctx *c, size_t i, int *unknown) {
  const sockets_op *o = c->o;
  const cr_sock *s = &o->t.v[i];
  lua_createtable(L, 0, 16);
  set_const(L, c, K_PROTO, s->proto == CR_PROTO_TCP ? V_TCP : s->proto == CR_PROTO_UDP ? V_UDP : V_UNIX);
  set_const(L, c, K_FAMILY, s->family == AF_INET ? V_INET : s->family == AF_INET6 ? V_INET6 : V_UNIX);
  set_const(L, c, K_STATE, s->state < CR_ST_MAX ? V_STATE0 + s->state : V_STATE0);
  if (s->family == AF_UNIX)
    push_unix_fields(L, c, s);
  else
    push_inet_fields(L, c, s);
  set_int(L, c, K_RECVQ, s->recvq);
  set_int(L, c, K_SENDQ, s->sendq);
  set_int(L, c, K_INODE, (lua_Integer)s->inode);
  if (s->has_uid) {
    set_int(L, c, K_UID, s->uid);
    int u = user_slot(c, s->uid);
    if (u) set_slot(L, c, K_USER, u);
  }
  if (s->v6only >= 0) set_bool(L, c, K_V6ONLY, s->v6only);
  if (s->drops >= 0) set_int(L, c, K_DROPS, s->drops);
  set_int(L, c, K_NETNS, (lua_Integer)s->netns);
  const ns_result *ns = o->nns ? find_ns(o, s->netns) : NULL;
  if (ns && ns->ns.name[0]) set_str(L, c, K_NETNS_NAME, ns->ns.name, strlen(ns->ns.name));
  if (ns && ns->ns.container[0])
    set_str(L, c, K_CONTAINER, ns->ns.container, strlen(ns->ns.container));
  if (o->have_map) *unknown += push_owners(L, c, i);
}

static void push_info(lua_State *L, const sockets_op *o, int unknown) {
  lua_createtable(L, 0, 8);
  lua_createtable(L, 0, CR_KIND_COUNT);
  for (int k = 0; k < CR_KIND_COUNT; k++) {
    unsigned bit = 1u << k;
    const char *src = (o->t.netlink_kinds & bit)   ? "netlink"
                      : (o->t.proc_kinds & bit)    ? "proc"
                      : (o->t.missing_kinds & bit) ? "missing"
                                                   : NULL;
    if (src) cr_set_string(L, cr_sock_kind_name(k), src);
  }
  lua_setfield(L, -2, "sources");
  cr_set_integer(L, "count", (lua_Integer)o->t.n);
  if (o->rc) { /* some kind or namespace failed; the rest is here */
    cr_set_string(L, "error", strerror(-o->rc));
    cr_set_errno(L, "errno", o->rc);
  }
  if (o->a.processes) {
    cr_set_boolean(L, "processes_mapped", o->have_map);
    cr_set_integer(L, "owners_unknown", unknown);
    cr_set_integer(L, "processes_unreadable", o->m.unreadable);
    cr_set_integer(L, "processes_vanished", o->m.vanished);
    cr_set_integer(L, "processes_no_fds", o->m.no_fds);
    cr_set_integer(L, "processes_walked", o->m.processes);
    if (o->m.hidepid) cr_set_boolean(L, "hidepid", 1);
    if (o->have_map) cr_set_string(L, "owners_via", o->m.via);
    if (o->m.bpf_error)
      cr_set_string(L, "owners_bpf_error", o->m.bpf_why ? o->m.bpf_why : strerror(-o->m.bpf_error));
  }
  if (o->a.all_netns) {
    lua_createtable(L, o->nns, 0);
    for (int i = 0; i < o->nns; i++) {
      const ns_result *r = &o->ns[i];
      lua_createtable(L, 0, 6);
      cr_set_integer(L, "inode", (lua_Integer)r->ns.inode);
      if (r->ns.pid) cr_set_integer(L, "pid", r->ns.pid);
      if (r->ns.name[0]) cr_set_string(L, "name", r->ns.name);
      if (r->ns.container[0]) cr_set_string(L, "container", r->ns.container);
      cr_set_string(L, "via", r->via);
      if (r->rc) {
        cr_set_string(L, "error", strerror(-r->rc));
        cr_set_errno(L, "errno", r->rc);
      }
      lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "namespaces");
    cr_set_integer(L, "namespaces_unreadable", o->ns_unreadable);
  }
}

static int sockets_push(cr_op *op, lua_State *L) {
  sockets_op *o = (sockets_op *)op;
  if (o->rc == -ECANCELED) return cr_push_failure(L, "ECANCELED", "socket dump cancelled");
  /* nothing could be read at all (a filter that leaves no row is no failure;
   * the port filter is the kernel's: a kind read is something read) */
  int read_some = o->dumped > 0 || (o->a.q.has_port && (o->t.netlink_kinds | o->t.proc_kinds));
  if (o->rc && (o->rc == -ENOMEM || !read_some))
    return cr_push_errno(L, o->rc, "cannot read the socket tables");
  int unknown = 0;
  row_ctx c = {.o = o};
  push_row_strings(L, &c);
  /* everything built here stays alive: collecting while building it is wasted
   * work. Only a memory error can raise in between; it unwinds past the
   * scheduler and ends the run (cr.run raises it), so the GC left paused does
   * not outlive what the error already ends. */
  int gc_was_running = lua_gc(L, LUA_GCISRUNNING);
  lua_gc(L, LUA_GCSTOP);
  lua_createtable(L, (int)o->t.n, 0);
  for (size_t i = 0; i < o->t.n; i++) {
    push_sock(L, &c, i, &unknown);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  if (gc_was_running) lua_gc(L, LUA_GCRESTART);
  lua_replace(L, c.base); /* the rows over the first row string; drop the rest */
  lua_settop(L, c.base);
  push_info(L, o, unknown);
  return 2;
}

static const cr_op_type sockets_type = {"sockets", sockets_cancel, sockets_push, sockets_destroy};

/* ---- arguments --------------------------------------------------------------- */

static void check_known(lua_State *L, const char *fname) {
  static const char *const known[] = {"proto",  "state", "port",      "addr",
                                      "family", "netns", "processes", NULL};
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pop(L, 1);
    const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    int ok = 0;
    for (int i = 0; k && known[i]; i++)
      ok |= strcmp(k, known[i]) == 0;
    if (!ok)
      luaL_error(L,
                 "%s: unknown option '%s' (expected proto, state, port, addr, family, netns, "
                 "processes)",
                 fname, k ? k : luaL_typename(L, -1));
  }
}

static const char *opt_string(lua_State *L, const char *field, const char *fname) {
  int t = lua_getfield(L, 1, field);
  lua_pop(L, 1); /* the string stays alive in the options table */
  if (t == LUA_TNIL) return NULL;
  if (t != LUA_TSTRING) luaL_error(L, "%s: %s must be a string", fname, field);
  lua_getfield(L, 1, field);
  const char *s = lua_tostring(L, -1);
  lua_pop(L, 1);
  return s;
}

static void check_query(lua_State *L, sock_args *o, const char *fname) {
  const char *proto = opt_string(L, "proto", fname);
  if (proto) {
    if (strcmp(proto, "tcp") == 0)
      o->q.protos = CR_PROTO_TCP;
    else if (strcmp(proto, "udp") == 0)
      o->q.protos = CR_PROTO_UDP;
    else if (strcmp(proto, "unix") == 0)
      o->q.protos = CR_PROTO_UNIX;
    else
      luaL_error(L, "%s: proto must be \"tcp\", \"udp\" or \"unix\", not \"%s\"", fname, proto);
  }
  const char *state = opt_string(L, "state", fname);
  if (state) {
    int st = cr_sock_state_from_name(state);
    if (st < 0)
      luaL_error(L, "%s: unknown state \"%s\" (listen, established, unconn, time-wait, ...)", fname,
                 state);
    o->q.states = 1u << st;
  }
  const char *family = opt_string(L, "family", fname);
  if (family) {
    if (strcmp(family, "inet") == 0)
      o->q.family = AF_INET;
    else if (strcmp(family, "inet6") == 0)
      o->q.family = AF_INET6;
    else if (strcmp(family, "unix") == 0)
      o->q.family = AF_UNIX;
    else
      luaL_error(L, "%s: family must be \"inet\", \"inet6\" or \"unix\"", fname);
  }
  o->port = -1;
  if (lua_getfield(L, 1, "port") != LUA_TNIL) {
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 || lua_tointeger(L, -1) > 65535)
      luaL_error(L, "%s: port must be an integer 0-65535", fname);
    o->port = (int)lua_tointeger(L, -1);
    o->q.has_port = 1; /* the kernel filters too (keep() still decides) */
    o->q.port = (uint16_t)o->port;
  }
  lua_pop(L, 1);
  const char *addr = opt_string(L, "addr", fname);
  if (addr) {
    if (inet_pton(AF_INET, addr, o->addr) == 1)
      o->addr_family = AF_INET;
    else if (inet_pton(AF_INET6, addr, o->addr) == 1)
      o->addr_family = AF_INET6;
    else if (addr[0] == '/' || addr[0] == '@') {
      o->addr_family = AF_UNIX;
      o->path = addr;
    } else
      luaL_error(L, "%s: addr \"%s\" is not an IP address or a socket path", fname, addr);
  }
  const char *netns = opt_string(L, "netns", fname);
  if (netns) {
    if (strcmp(netns, "all") == 0)
      o->all_netns = 1;
    else if (strcmp(netns, "self") != 0)
      luaL_error(L, "%s: netns must be \"self\" or \"all\"", fname);
  }
  if (lua_getfield(L, 1, "processes") != LUA_TNIL) {
    if (!lua_isboolean(L, -1)) luaL_error(L, "%s: processes must be a boolean", fname);
    o->processes = lua_toboolean(L, -1);
  }
  lua_pop(L, 1);
}

static int start(lua_State *L, int listeners, const char *fname) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  check_known(L, fname);
  sock_args a;
  memset(&a, 0, sizeof a);
  check_query(L, &a, fname); /* raises on bad options, before anything is allocated */
  a.q.listeners = listeners;
  cr_check_async(L, fname);
  char *path = a.path ? strdup(a.path) : NULL;
  if (a.path && !path) return cr_push_failure(L, "ENOMEM", "out of memory");
  sockets_op *o = cr_op_new(L, &sockets_type, sizeof *o);
  o->a = a;
  o->a.path = path;
  o->req.data = o;
  cr_op_ref(&o->op);
  int rc = cr_queue_work(cr_runtime_loop(o->op.rt), &o->req, sockets_work, sockets_after);
  if (rc) {
    cr_op_unref(&o->op);
    cr_op_unref(&o->op);
    return cr_push_uv_error(L, rc, "%s: cannot start", fname);
  }
  return cr_op_await(L, &o->op);
}

static int l_sockets(lua_State *L) { return start(L, 0, "cr.sockets"); }
static int l_listeners(lua_State *L) { return start(L, 1, "cr.listeners"); }

void cr_open_sockets(lua_State *L) {
  lua_pushcfunction(L, l_sockets);
  lua_setfield(L, -2, "sockets");
  lua_pushcfunction(L, l_listeners);
  lua_setfield(L, -2, "listeners");
}
