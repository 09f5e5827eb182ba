/* cr.resolve(host [, {family = "any"|"inet"|"inet6"}]) -> { {addr, family}, ... }
 * in the order getaddrinfo gives a client (SOCK_STREAM), run on libuv's thread
 * pool; nil, message, "EAI_..." on failure. Literal addresses ("::1", "[::1]",
 * "127.0.0.1") are answered at once, without the resolver. */
#include <netdb.h>
#include <string.h>

#include <lauxlib.h>

#include "connrecipe/probe.h"
#include "lua/bindings.h"
#include "runtime/runtime.h"
#include "runtime/thread_pool.h"

typedef struct {
  cr_op op;
  uv_getaddrinfo_t req;
  int status;
  struct addrinfo *res;
  char host[256];
} resolve_op;

static const char *family_name(int af) { return af == AF_INET6 ? "inet6" : "inet"; }

static void push_entry(lua_State *L, const cr_sockaddr *a, int index) {
  char buf[INET6_ADDRSTRLEN + 16];
  cr_sockaddr_format(a, buf, sizeof buf);
  lua_createtable(L, 0, 2);
  cr_set_string(L, "addr", buf);
  cr_set_string(L, "family", family_name(a->sa.sa_family));
  lua_rawseti(L, -2, index);
}

/* The list, without duplicates (one entry per address). */
static void push_addrinfo_list(lua_State *L, const struct addrinfo *res) {
  lua_newtable(L);
  int n = 0;
  for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    int dup = 0;
    for (const struct addrinfo *prev = res; prev != ai && !dup; prev = prev->ai_next)
      dup = prev->ai_addrlen == ai->ai_addrlen &&
            memcmp(prev->ai_addr, ai->ai_addr, ai->ai_addrlen) == 0;
    if (dup) continue;
    cr_sockaddr a;
    memset(&a, 0, sizeof a);
    memcpy(&a, ai->ai_addr, ai->ai_addrlen < sizeof a ? ai->ai_addrlen : sizeof a);
    push_entry(L, &a, ++n);
  }
}

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  resolve_op *r = req->data;
  r->status = status;
  r->res = res;
  cr_op_complete(&r->op);
  cr_op_unref(&r->op); /* the request's */
}

static int resolve_push(cr_op *op, lua_State *L) {
  resolve_op *r = (resolve_op *)op;
  if (r->status != 0) {
    return cr_push_uv_error(L, r->status, "cannot resolve %s", r->host);
  }
  push_addrinfo_list(L, r->res);
  if (lua_rawlen(L, -1) == 0) {
    lua_pop(L, 1);
    return cr_push_failure(L, "EAI_NODATA", "cannot resolve %s: no IPv4 or IPv6 address", r->host);
  }
  return 1;
}

/* The callback still comes (with UV_EAI_CANCELED, or with the answer when the
 * lookup was already running): it drops the request's reference. */
static void resolve_cancel(cr_op *op) { uv_cancel((uv_req_t *)&((resolve_op *)op)->req); }

static void resolve_destroy(cr_op *op) {
  resolve_op *r = (resolve_op *)op;
  if (r->res) uv_freeaddrinfo(r->res);
}

static const cr_op_type resolve_type = {"resolve", resolve_cancel, resolve_push, resolve_destroy};

static int check_family(lua_State *L, int idx) {
  if (lua_isnoneornil(L, idx)) return AF_UNSPEC;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_getfield(L, idx, "family");
  static const char *const names[] = {"any", "inet", "inet6", NULL};
  static const int values[] = {AF_UNSPEC, AF_INET, AF_INET6};
  int af = lua_isnil(L, -1) ? AF_UNSPEC : values[luaL_checkoption(L, -1, NULL, names)];
  lua_pop(L, 1);
  return af;
}

static int resolve_literal(lua_State *L, const char *host, const cr_sockaddr *a, int af) {
  if (af != AF_UNSPEC && af != a->sa.sa_family) {
    return cr_push_failure(
        L, "EAI_ADDRFAMILY", "cannot resolve %s: it is an %s address, %s was asked for", host,
        a->sa.sa_family == AF_INET ? "IPv4" : "IPv6", af == AF_INET ? "IPv4" : "IPv6");
  }
  lua_newtable(L);
  push_entry(L, a, 1);
  return 1;
}

static int l_resolve(lua_State *L) {
  size_t len;
  const char *host = luaL_checklstring(L, 1, &len);
  int af = check_family(L, 2);
  luaL_argcheck(L, len > 0 && len < 256 && strlen(host) == len, 1, "expected a host name");
  cr_sockaddr lit;
  if (cr_sockaddr_parse(host, 0, &lit) == 0) return resolve_literal(L, host, &lit, af);
  cr_check_async(L, "cr.resolve");

  resolve_op *r = cr_op_new(L, &resolve_type, sizeof *r);
  memcpy(r->host, host, len + 1);
  r->req.data = r;
  struct addrinfo hints = {.ai_family = af, .ai_socktype = SOCK_STREAM};
  cr_op_ref(&r->op); /* the request's */
  cr_pool_guard g;
  cr_thread_pool_enter(&g);
  int rc = uv_getaddrinfo(cr_runtime_loop(r->op.rt), &r->req, resolved, r->host, NULL, &hints);
  cr_thread_pool_leave(&g, rc);
  if (rc != 0) {
    cr_op_unref(&r->op);
    cr_op_unref(&r->op);
    return cr_push_uv_error(L, rc, "cannot resolve %s", host);
  }
  return cr_op_await(L, &r->op);
}

void cr_open_resolve(lua_State *L) {
  lua_pushcfunction(L, l_resolve);
  lua_setfield(L, -2, "resolve");
}
