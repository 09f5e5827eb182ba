/* cr.process.get(pid), cr.process.list(), cr.process.find(pattern): process
 * facts from /proc, read on libuv's thread pool. cr.process.cwd(pid): one
 * readlink, at once. */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "connrecipe/process.h"
#include "lua/bindings.h"
#include "runtime/runtime.h"
#include "runtime/thread_pool.h"

typedef struct {
  cr_process p;
  char user[64];
} proc_entry;

typedef struct {
  cr_op op;
  uv_work_t req;
  pid_t pid;    /* get: this one; 0: all */
  /* find: a copy of the pattern, NULL otherwise. The op holds no Lua reference:
   * it may be freed after the coroutine that started it is gone. */
  char *pattern;
  size_t pattern_len;
  int rc;
  proc_entry *v;
  size_t n;
} process_op;

static void user_name(uid_t uid, char *out, size_t cap) {
  struct passwd pw, *res = NULL;
  char buf[1024];
  out[0] = '\0';
  if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res) snprintf(out, cap, "%s", pw.pw_name);
}

static void process_work(uv_work_t *req) {
  process_op *o = req->data;
  if (o->pid) {
    o->v = calloc(1, sizeof *o->v);
    if (!o->v) {
      o->rc = -ENOMEM;
      return;
    }
    o->rc = cr_process_get(o->pid, &o->v[0].p);
    if (o->rc == 0) {
      o->n = 1;
      user_name(o->v[0].p.uid, o->v[0].user, sizeof o->v[0].user);
    }
    return;
  }
  pid_t *pids = NULL;
  int np = cr_process_pids(&pids);
  if (np < 0) {
    o->rc = np;
    return;
  }
  o->v = calloc((size_t)np + 1, sizeof *o->v);
  if (!o->v) {
    free(pids);
    o->rc = -ENOMEM;
    return;
  }
  for (int i = 0; i < np; i++) {
    proc_entry *e = &o->v[o->n];
    int rc = cr_process_get(pids[i], &e->p);
    if (rc == -EMFILE || rc == -ENFILE) { /* unread, not absent: no partial list */
      o->rc = rc;
      break;
    }
    if (rc != 0) continue; /* exited meanwhile */
    e->user[0] = '\0';
    for (size_t k = 0; k < o->n; k++) /* a small cache: few distinct users */
      if (o->v[k].p.uid == e->p.uid) {
        memcpy(e->user, o->v[k].user, sizeof e->user);
        break;
      }
    if (!e->user[0]) user_name(e->p.uid, e->user, sizeof e->user);
    o->n++;
  }
  free(pids);
}

static void process_after(uv_work_t *req, int status) {
  process_op *o = req->data;
  if (status == UV_ECANCELED) o->rc = -ECANCELED;
  cr_op_complete(&o->op);
  cr_op_unref(&o->op);
}

static void process_cancel(cr_op *op) { uv_cancel((uv_req_t *)&((process_op *)op)->req); }

static void process_destroy(cr_op *op) {
  process_op *o = (process_op *)op;
  for (size_t i = 0; i < o->n; i++)
    cr_process_free(&o->v[i].p);
  free(o->v);
  free(o->pattern);
}

/* Pushes the cmdline as an array of strings. */
static void push_cmdline(lua_State *L, const cr_process *p) {
  lua_newtable(L);
  int n = 0;
  for (size_t i = 0; i < p->cmdline_len;) {
    const char *s = p->cmdline + i;
    size_t len = strnlen(s, p->cmdline_len - i);
    lua_pushlstring(L, s, len);
    lua_rawseti(L, -2, ++n);
    i += len + 1;
  }
  lua_setfield(L, -2, "cmdline");
}

static void push_process(lua_State *L, const proc_entry *e) {
  const cr_process *p = &e->p;
  lua_createtable(L, 0, 15);
  cr_set_integer(L, "pid", p->pid);
  cr_set_integer(L, "ppid", p->ppid);
  cr_set_string(L, "comm", p->comm);
  push_cmdline(L, p);
  if (p->exe[0]) cr_set_string(L, "exe", p->exe);
  cr_set_integer(L, "uid", p->uid);
  if (e->user[0]) cr_set_string(L, "user", e->user);
  lua_pushlstring(L, &p->state, 1);
  lua_setfield(L, -2, "state");
  if (p->live_threads > 0) { /* a zombie leader whose other threads run on */
    cr_set_integer(L, "live_threads", p->live_threads);
    lua_pushlstring(L, &p->threads_state, 1);
    lua_setfield(L, -2, "threads_state");
  }
  cr_set_number(L, "start_time", p->start_time);
  cr_set_number(L, "age", p->age);
  if (p->cgroup.path[0]) cr_set_string(L, "cgroup", p->cgroup.path);
  if (p->cgroup.unit[0]) cr_set_string(L, "unit", p->cgroup.unit);
  if (p->cgroup.container[0]) cr_set_string(L, "container", p->cgroup.container);
  if (p->netns) cr_set_integer(L, "netns", (lua_Integer)p->netns);
}

/* string.find(subject, pattern) as pgrep -f does with a regex. */
static int matches(lua_State *L, const process_op *o, const char *subject, size_t len) {
  lua_getglobal(L, "string");
  lua_getfield(L, -1, "find");
  lua_pushlstring(L, subject, len);
  lua_pushlstring(L, o->pattern, o->pattern_len);
  lua_call(L, 2, 1);
  int hit = !lua_isnil(L, -1);
  lua_pop(L, 2);
  return hit;
}

static int find_hit(lua_State *L, const process_op *o, const cr_process *p) {
  if (matches(L, o, p->comm, strlen(p->comm))) return 1;
  if (!p->cmdline_len) return 0;
  /* the command line joined with spaces, as pgrep -f matches it */
  char *joined = malloc(p->cmdline_len);
  if (!joined) return 0;
  memcpy(joined, p->cmdline, p->cmdline_len);
  size_t len = p->cmdline_len;
  while (len && joined[len - 1] == '\0')
    len--;
  for (size_t i = 0; i < len; i++)
    if (joined[i] == '\0') joined[i] = ' ';
  int hit = matches(L, o, joined, len);
  free(joined);
  return hit;
}

static int process_push(cr_op *op, lua_State *L) {
  process_op *o = (process_op *)op;
  if (o->rc == -ECANCELED) return cr_push_failure(L, "ECANCELED", "cancelled");
  if (o->pid) {
    if (o->rc == -ESRCH) {
      return cr_push_failure(L, "ESRCH", "no process %d", (int)o->pid);
    }
    if (o->rc) return cr_push_errno(L, o->rc, "cannot read /proc/%d", (int)o->pid);
    push_process(L, &o->v[0]);
    return 1;
  }
  if (o->rc) return cr_push_errno(L, o->rc, "cannot list /proc");
  lua_createtable(L, (int)o->n, 0);
  int k = 0;
  for (size_t i = 0; i < o->n; i++) {
    if (o->pattern && !find_hit(L, o, &o->v[i].p)) continue;
    push_process(L, &o->v[i]);
    lua_rawseti(L, -2, ++k);
  }
  return 1;
}

static const cr_op_type process_type = {"process", process_cancel, process_push, process_destroy};

static int start(lua_State *L, pid_t pid, int pattern_index, const char *fname) {
  cr_check_async(L, fname);
  process_op *o = cr_op_new(L, &process_type, sizeof *o);
  o->pid = pid;
  if (pattern_index) {
    const char *pattern = lua_tolstring(L, pattern_index, &o->pattern_len);
    o->pattern = malloc(o->pattern_len + 1);
    if (!o->pattern) {
      cr_op_unref(&o->op);
      return luaL_error(L, "not enough memory");
    }
    memcpy(o->pattern, pattern, o->pattern_len + 1);
  }
  o->req.data = o;
  cr_op_ref(&o->op);
  int rc = cr_queue_work(cr_runtime_loop(o->op.rt), &o->req, process_work, process_after);
  if (rc) {
    cr_op_unref(&o->op);
    cr_op_unref(&o->op);
    return cr_push_uv_error(L, rc, "%s: cannot start", fname);
  }
  return cr_op_await(L, &o->op);
}

static int l_get(lua_State *L) {
  lua_Integer pid = luaL_checkinteger(L, 1);
  if (pid <= 0 || pid > 0x3fffffff) luaL_argerror(L, 1, "a process id > 0");
  return start(L, (pid_t)pid, 0, "cr.process.get");
}

static int l_list(lua_State *L) { return start(L, 0, 0, "cr.process.list"); }

static int l_find(lua_State *L) {
  luaL_checkstring(L, 1);
  lua_settop(L, 1);
  /* a bad pattern raises here, not later in the scheduler */
  lua_getglobal(L, "string");
  lua_getfield(L, -1, "find");
  lua_pushliteral(L, "");
  lua_pushvalue(L, 1);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK)
    luaL_error(L, "cr.process.find: bad pattern: %s", lua_tostring(L, -1));
  lua_settop(L, 1);
  return start(L, 0, 1, "cr.process.find");
}

/* cr.process.cwd(pid) -> path, or nil, message, code: the text of the
 * /proc/PID/cwd link (read, never followed), such as the bundle directory a
 * containerd shim runs in. " (deleted)" is kept: the caller's paths must then fail. */
static int l_cwd(lua_State *L) {
  lua_Integer pid = luaL_checkinteger(L, 1);
  if (pid <= 0 || pid > 0x3fffffff) luaL_argerror(L, 1, "a process id > 0");
  char link[64], path[4096];
  snprintf(link, sizeof link, "/proc/%d/cwd", (int)pid);
  ssize_t n = readlink(link, path, sizeof path);
  if (n < 0) return cr_push_errno(L, errno, "%s", link);
  if ((size_t)n == sizeof path) return cr_push_failure(L, "ENAMETOOLONG", "%s: too long", link);
  lua_pushlstring(L, path, (size_t)n);
  return 1;
}

/* cr.process._pids_by_comm({name, ...}) -> {[pid] = name, ...}, or nil,
 * message, code: the processes whose comm is one of the names, for a cheap
 * scan of every process (connrecipe.monitors). At most 64 names. */
static int l_pids_by_comm(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  const char *names[64];
  size_t n = 0;
  for (lua_Integer i = 1; n < 64; i++) {
    if (lua_rawgeti(L, 1, i) != LUA_TSTRING) {
      lua_pop(L, 1);
      break;
    }
    names[n++] = lua_tostring(L, -1); /* kept alive by the table */
    lua_pop(L, 1);
  }
  pid_t *pids = NULL;
  int *which = NULL;
  int k = cr_process_pids_by_comm(names, n, &pids, &which);
  if (k < 0) return cr_push_errno(L, -k, "/proc");
  lua_createtable(L, 0, k);
  for (int i = 0; i < k; i++) {
    lua_pushstring(L, names[which[i]]);
    lua_rawseti(L, -2, pids[i]);
  }
  free(pids);
  free(which);
  return 1;
}

void cr_open_process(lua_State *L) {
  static const luaL_Reg fns[] = {{"get", l_get},
                                 {"list", l_list},
                                 {"find", l_find},
                                 {"cwd", l_cwd},
                                 {"_pids_by_comm", l_pids_by_comm},
                                 {NULL, NULL}};
  luaL_newlib(L, fns);
  lua_setfield(L, -2, "process");
}
