/* cr.unix_request(path, request [, {timeout = 2, max_bytes = 4 MiB}]) -> reply
 * Connects to a Unix stream socket, sends request, and reads until the peer
 * closes: one request-reply exchange (an HTTP/1.1 request with
 * "Connection: close" to a container engine's API socket). nil, message,
 * code on failure: ENOENT, ECONNREFUSED, EACCES, ETIMEDOUT, EMSGSIZE (the
 * reply outgrew max_bytes). Everything runs on the loop: the task waits,
 * nothing blocks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <lauxlib.h>

#include "lua/bindings.h"
#include "runtime/runtime.h"

#define DEFAULT_MAX_BYTES (4u << 20)
#define HARD_MAX_BYTES (64u << 20)

typedef struct {
  cr_op op;
  uv_pipe_t pipe;
  uv_timer_t timer;
  uv_connect_t connect_req;
  uv_write_t write_req;
  char *request;
  size_t request_len;
  char *reply;
  size_t reply_len, reply_cap, max_bytes;
  int err; /* a libuv error, 0 when the peer closed after its reply */
  int closing;
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
} unixreq_op;

static void handle_closed(uv_handle_t *h) { cr_op_unref(h->data); }

static void close_handles(unixreq_op *r) {
  if (r->closing) return;
  r->closing = 1;
  uv_close((uv_handle_t *)&r->pipe, handle_closed);
  uv_close((uv_handle_t *)&r->timer, handle_closed);
}

static void finish(unixreq_op *r, int err) {
  if (r->op.done) return;
  r->err = err;
  close_handles(r);
  cr_op_complete(&r->op);
}

static void alloc_reply(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  unixreq_op *r = h->data;
  (void)suggested;
  if (r->reply_cap - r->reply_len < 16384 && r->reply_cap < r->max_bytes + 1) {
    size_t cap = r->reply_cap ? r->reply_cap * 2 : 65536;
    if (cap > r->max_bytes + 1) cap = r->max_bytes + 1;
    char *p = realloc(r->reply, cap);
    if (p) {
      r->reply = p;
      r->reply_cap = cap;
    }
  }
  buf->base = r->reply ? r->reply + r->reply_len : NULL;
  buf->len = r->reply ? r->reply_cap - r->reply_len : 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  unixreq_op *r = s->data;
  (void)buf;
  if (n == UV_EOF) {
    finish(r, 0);
  } else if (n < 0) {
    finish(r, (int)n);
  } else if (n == 0 && !r->reply) {
    finish(r, UV_ENOMEM);
  } else {
    r->reply_len += (size_t)n;
    if (r->reply_len > r->max_bytes) finish(r, UV_EMSGSIZE);
  }
}

static void on_written(uv_write_t *req, int status) {
  unixreq_op *r = req->data;
  if (status < 0) finish(r, status);
}

static void on_connect(uv_connect_t *req, int status) {
  unixreq_op *r = req->data;
  if (r->op.done) return;
  if (status < 0) {
    finish(r, status);
    return;
  }
  uv_buf_t b = uv_buf_init(r->request, (unsigned)r->request_len);
  r->write_req.data = r;
  int rc = uv_write(&r->write_req, (uv_stream_t *)&r->pipe, &b, 1, on_written);
  if (rc == 0) rc = uv_read_start((uv_stream_t *)&r->pipe, alloc_reply, on_read);
  if (rc < 0) finish(r, rc);
}

static void on_timeout(uv_timer_t *t) { finish(t->data, UV_ETIMEDOUT); }

static int unixreq_push(cr_op *op, lua_State *L) {
  unixreq_op *r = (unixreq_op *)op;
  if (r->err == UV_EMSGSIZE)
    return cr_push_failure(L, "EMSGSIZE", "cr.unix_request: the reply from %s exceeds %d bytes",
                           r->path, (int)r->max_bytes);
  if (r->err) return cr_push_uv_error(L, r->err, "cannot talk to %s", r->path);
  lua_pushlstring(L, r->reply ? r->reply : "", r->reply_len);
  return 1;
}

static void unixreq_cancel(cr_op *op) { close_handles((unixreq_op *)op); }

static void unixreq_destroy(cr_op *op) {
  unixreq_op *r = (unixreq_op *)op;
  free(r->request);
  free(r->reply);
}

static const cr_op_type unixreq_type = {"unix_request", unixreq_cancel, unixreq_push,
                                        unixreq_destroy};

static double opt_number(lua_State *L, const char *k, double dflt) {
  if (lua_isnoneornil(L, 3)) return dflt;
  luaL_checktype(L, 3, LUA_TTABLE);
  lua_getfield(L, 3, k);
  double v = lua_isnil(L, -1) ? dflt : luaL_checknumber(L, -1);
  lua_pop(L, 1);
  return v;
}

static int l_unix_request(lua_State *L) {
  size_t path_len, req_len;
  const char *path = luaL_checklstring(L, 1, &path_len);
  const char *request = luaL_checklstring(L, 2, &req_len);
  double timeout = opt_number(L, "timeout", 2.0);
  double max_bytes = opt_number(L, "max_bytes", DEFAULT_MAX_BYTES);
  if (!(timeout > 0 && timeout <= 3600)) luaL_error(L, "cr.unix_request: timeout must be in (0, 3600]");
  if (!(max_bytes >= 1 && max_bytes <= HARD_MAX_BYTES))
    luaL_error(L, "cr.unix_request: max_bytes must be in [1, %d]", (int)HARD_MAX_BYTES);
  if (path_len == 0 || path_len >= sizeof(((unixreq_op *)0)->path) || strlen(path) != path_len)
    return cr_push_failure(L, "ENAMETOOLONG", "cr.unix_request: not a usable Unix socket path: %s",
                           path);
  cr_check_async(L, "cr.unix_request");

  unixreq_op *r = cr_op_new(L, &unixreq_type, sizeof *r);
  memcpy(r->path, path, path_len + 1);
  r->max_bytes = (size_t)max_bytes;
  r->request = malloc(req_len ? req_len : 1);
  if (!r->request) {
    cr_op_unref(&r->op);
    return luaL_error(L, "cr.unix_request: out of memory");
  }
  memcpy(r->request, request, req_len);
  r->request_len = req_len;

  uv_loop_t *loop = cr_runtime_loop(r->op.rt);
  uv_pipe_init(loop, &r->pipe, 0);
  uv_timer_init(loop, &r->timer);
  r->pipe.data = r->timer.data = r->connect_req.data = r;
  cr_op_ref(&r->op); /* the pipe's */
  cr_op_ref(&r->op); /* the timer's */
  uv_timer_start(&r->timer, on_timeout, (uint64_t)(timeout * 1000), 0);
  uv_pipe_connect(&r->connect_req, &r->pipe, r->path, on_connect);
  return cr_op_await(L, &r->op);
}

void cr_open_unixreq(lua_State *L) {
  lua_pushcfunction(L, l_unix_request);
  lua_setfield(L, -2, "unix_request");
}
