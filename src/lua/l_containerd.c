/* cr.containerd{socket=, namespace=, timeout=, max=}: containerd's
 * containers and their tasks through its gRPC API (src/core/containerd.c),
 * read on libuv's thread pool. The client is blocking and bounded by the
 * timeout, which also bounds the op. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "connrecipe/containerd.h"
#include "lua/bindings.h"
#include "runtime/runtime.h"
#include "runtime/thread_pool.h"

typedef struct {
  cr_op op;
  uv_work_t req;
  char *socket, *ns; /* copies: the op holds no Lua reference */
  int timeout_ms;
  size_t max;
  int rc;
  char msg[256];
  cr_ctrd_list list;
} ctrd_op;

static const char *const STATUS[] = {"unknown", "created", "running",
                                     "stopped", "paused",  "pausing"};

static void ctrd_work(uv_work_t *req) {
  ctrd_op *o = req->data;
  o->rc =
      cr_containerd_read(o->socket, o->ns, o->timeout_ms, o->max, &o->list, o->msg, sizeof o->msg);
}

static void ctrd_after(uv_work_t *req, int status) {
  ctrd_op *o = req->data;
  if (status == UV_ECANCELED) o->rc = -ECANCELED;
  cr_op_complete(&o->op);
  cr_op_unref(&o->op);
}

static void ctrd_cancel(cr_op *op) { uv_cancel((uv_req_t *)&((ctrd_op *)op)->req); }

static void ctrd_destroy(cr_op *op) {
  ctrd_op *o = (ctrd_op *)op;
  cr_containerd_free(&o->list);
  free(o->socket);
  free(o->ns);
}

static void push_task(lua_State *L, const cr_ctrd_container *c) {
  lua_createtable(L, 0, 6);
  cr_set_string(L, "status",
                c->status < sizeof STATUS / sizeof *STATUS ? STATUS[c->status] : "unknown");
  if (c->pid && c->status != CR_CTRD_STOPPED)
    cr_set_integer(L, "pid", c->pid); /* a stopped one's is gone */
  if (c->status == CR_CTRD_STOPPED) {
    cr_set_integer(L, "exit_status", c->exit_status);
    if (c->exited_at > 0) cr_set_integer(L, "exited_at", c->exited_at);
    if (c->exit_reason == 1) cr_set_boolean(L, "oom_killed", 1);
  }
  lua_setfield(L, -2, "task");
}

static void push_container(lua_State *L, const cr_ctrd_container *c) {
  lua_createtable(L, 0, 7);
  cr_set_string(L, "namespace", c->ns);
  cr_set_string(L, "id", c->id);
  if (c->image[0]) cr_set_string(L, "image", c->image);
  if (c->created_at > 0) cr_set_integer(L, "created_at", c->created_at);
  lua_createtable(L, 0, (int)c->nlabels);
  for (size_t i = 0; i < c->nlabels; i++) {
    lua_pushstring(L, c->labels[i].value);
    lua_setfield(L, -2, c->labels[i].key);
  }
  lua_setfield(L, -2, "labels");
  if (c->spec) {
    lua_pushlstring(L, c->spec, c->spec_len);
    lua_setfield(L, -2, "spec");
  }
  if (c->has_task) push_task(L, c);
}

static const char *grpc_code_name(int status) {
  static const char *const names[] = {"OK",
                                      "CANCELLED",
                                      "UNKNOWN",
                                      "INVALID_ARGUMENT",
                                      "DEADLINE_EXCEEDED",
                                      "NOT_FOUND",
                                      "ALREADY_EXISTS",
                                      "PERMISSION_DENIED",
                                      "RESOURCE_EXHAUSTED",
                                      "FAILED_PRECONDITION",
                                      "ABORTED",
                                      "OUT_OF_RANGE",
                                      "UNIMPLEMENTED",
                                      "INTERNAL",
                                      "UNAVAILABLE",
                                      "DATA_LOSS",
                                      "UNAUTHENTICATED"};
  return status >= 0 && status < 17 ? names[status] : "UNKNOWN";
}

static int ctrd_push(cr_op *op, lua_State *L) {
  ctrd_op *o = (ctrd_op *)op;
  if (o->rc == -ECANCELED) return cr_push_failure(L, "ECANCELED", "cancelled");
  if (o->rc > 0)
    return cr_push_failure(L, grpc_code_name(o->rc), "containerd API %s: %s (gRPC status %d)",
                           o->socket, o->msg, o->rc);
  if (o->rc < 0) return cr_push_errno(L, o->rc, "containerd API %s: %s", o->socket, o->msg);
  lua_createtable(L, (int)o->list.n, 0);
  for (size_t i = 0; i < o->list.n; i++) {
    push_container(L, &o->list.v[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

static const cr_op_type ctrd_type = {"containerd", ctrd_cancel, ctrd_push, ctrd_destroy};

/* t[field] as a non-empty string without NUL, or NULL when nil and optional;
 * raises otherwise. Nothing is allocated: the caller copies after checking all. */
static const char *check_string(lua_State *L, const char *field, int required) {
  lua_getfield(L, 1, field);
  if (lua_isnil(L, -1) && !required) return NULL;
  size_t len = 0;
  const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
  if (!s || len == 0 || strlen(s) != len)
    luaL_error(L, "cr.containerd: %s must be a non-empty string without NUL bytes", field);
  return s; /* stays on the stack, so alive */
}

static lua_Number check_number(lua_State *L, const char *field, lua_Number dflt, lua_Number lo,
                               lua_Number hi) {
  lua_getfield(L, 1, field);
  lua_Number v = luaL_optnumber(L, -1, dflt);
  lua_pop(L, 1);
  if (!(v >= lo && v <= hi))
    luaL_error(L, "cr.containerd: %s must be from %f to %f", field, lo, hi);
  return v;
}

static int l_containerd(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  cr_check_async(L, "cr.containerd");
  lua_Number timeout = check_number(L, "timeout", 5, 0.001, 3600);
  lua_Number max = check_number(L, "max", 1000, 1, 100000);
  const char *socket = check_string(L, "socket", 1);
  const char *ns = check_string(L, "namespace", 0);
  ctrd_op *o = cr_op_new(L, &ctrd_type, sizeof *o);
  o->socket = strdup(socket);
  o->ns = ns ? strdup(ns) : NULL;
  if (!o->socket || (ns && !o->ns)) {
    cr_op_unref(&o->op);
    return luaL_error(L, "not enough memory");
  }
  o->timeout_ms = (int)(timeout * 1000);
  o->max = (size_t)max;
  o->req.data = o;
  cr_op_ref(&o->op);
  int rc = cr_queue_work(cr_runtime_loop(o->op.rt), &o->req, ctrd_work, ctrd_after);
  if (rc) {
    cr_op_unref(&o->op);
    cr_op_unref(&o->op);
    return cr_push_uv_error(L, rc, "cr.containerd: cannot start");
  }
  return cr_op_await(L, &o->op);
}

void cr_open_containerd(lua_State *L) {
  lua_pushcfunction(L, l_containerd);
  lua_setfield(L, -2, "containerd");
}
