/* cr.exec{"prog", "arg", ..., timeout = s, stdin = "..."}: run a program, no shell.
 * -> {status, signal, stdout, stderr, timed_out}, or nil, "prog: not found", "ENOENT" */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "connrecipe/exec.h"
#include "lua/bindings.h"
#include "runtime/foreground.h"
#include "runtime/helpers.h"
#include "runtime/runtime.h"
#include "connrecipe/duration.h"

typedef struct {
  cr_op op;
  cr_exec *ex;
  int foreground_pid; /* an inherit child's, while it may be running: signals go on to it */
  int helper_pid;     /* any other child's, while it may be running: ended with us */
  int have_result;
  cr_exec_result result;
} exec_op;

static void leave_foreground(exec_op *e) {
  if (e->foreground_pid) cr_foreground_remove(e->foreground_pid);
  e->foreground_pid = 0;
  if (e->helper_pid) cr_helpers_remove(e->helper_pid);
  e->helper_pid = 0;
}

static void exec_finished(cr_exec *ex, cr_exec_result *result, void *data) {
  exec_op *e = data;
  leave_foreground(e);
  e->result = *result;
  e->have_result = 1;
  e->ex = NULL;
  cr_op_complete(&e->op);
  cr_op_unref(&e->op); /* the child's reference */
}

static void exec_cancel(cr_op *op) {
  exec_op *e = (exec_op *)op;
  if (!e->ex) return;
  leave_foreground(e); /* killed with SIGKILL below: nothing more to forward */
  cr_exec_cancel(e->ex); /* the callback will not come: drop its reference */
  e->ex = NULL;
  cr_op_unref(op);
}

static int exec_push(cr_op *op, lua_State *L) {
  cr_exec_result *r = &((exec_op *)op)->result;
  lua_createtable(L, 0, 6);
  if (r->term_signal) {
    cr_set_integer(L, "status", 128 + r->term_signal); /* as a shell reports it */
    cr_set_integer(L, "signal", r->term_signal);
  } else {
    cr_set_integer(L, "status", r->exit_status);
  }
  lua_pushlstring(L, r->out, r->out_len);
  lua_setfield(L, -2, "stdout");
  lua_pushlstring(L, r->err, r->err_len);
  lua_setfield(L, -2, "stderr");
  cr_set_boolean(L, "timed_out", r->timed_out);
  if (r->out_truncated || r->err_truncated) cr_set_boolean(L, "truncated", 1);
  return 1;
}

static void exec_destroy(cr_op *op) {
  exec_op *e = (exec_op *)op;
  if (e->have_result) {
    free(e->result.out);
    free(e->result.err);
  }
}

static const cr_op_type exec_type = {"exec", exec_cancel, exec_push, exec_destroy};

/* Builds the NULL-terminated argv from the array part of the table at 1. The
 * strings are anchored in a table left at index 3 (numbers are converted
 * there, the caller's table is not touched). */
static const char **check_argv(lua_State *L) {
  int n = (int)luaL_len(L, 1);
  if (n < 1) luaL_argerror(L, 1, "expected {\"program\", \"arg\", ...}");
  const char **argv = lua_newuserdatauv(L, sizeof(char *) * ((size_t)n + 1), 0);
  lua_createtable(L, n, 0);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, i);
    if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
      luaL_error(L, "cr.exec: argument %d is a %s, expected a string", i, luaL_typename(L, -1));
    argv[i - 1] = lua_tostring(L, -1);
    lua_rawseti(L, 3, i);
  }
  argv[n] = NULL;
  return argv;
}

static void check_options(lua_State *L, cr_exec_options *o) {
  static const char *const known[] = {"timeout", "stdin", "max_output", "inherit", NULL};
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING) continue; /* array part */
    const char *k = lua_tostring(L, -1);
    int ok = 0;
    for (int i = 0; known[i]; i++) ok |= strcmp(k, known[i]) == 0;
    if (!ok)
      luaL_error(L, "cr.exec: unknown option '%s' (expected timeout, stdin, max_output, inherit)", k);
  }
  if (lua_getfield(L, 1, "timeout") != LUA_TNIL) {
    if (!lua_isnumber(L, -1) || !(lua_tonumber(L, -1) > 0)) /* NaN too */
      luaL_error(L, "cr.exec: timeout must be a number of seconds > 0");
    o->timeout = cr_seconds_clamp(lua_tonumber(L, -1));
  }
  if (lua_getfield(L, 1, "stdin") != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "cr.exec: stdin must be a string");
    o->stdin_data = lua_tolstring(L, -1, &o->stdin_len);
  }
  if (lua_getfield(L, 1, "max_output") != LUA_TNIL) {
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) <= 0)
      luaL_error(L, "cr.exec: max_output must be a positive integer (bytes)");
    o->max_output = (size_t)lua_tointeger(L, -1);
  }
  lua_getfield(L, 1, "inherit");
  o->inherit_stdio = lua_toboolean(L, -1);
  if (o->inherit_stdio && o->stdin_data) luaL_error(L, "cr.exec: stdin and inherit exclude each other");
  lua_pop(L, 4); /* the four fields; stdin stays anchored in the table */
}

static int push_spawn_failure(lua_State *L, const char *prog, int rc) {
  const char *why = rc == UV_ENOENT ? "not found" : rc == UV_EACCES ? "permission denied" : uv_strerror(rc);
  return cr_push_failure(L, uv_err_name(rc), "%s: %s", prog, why);
}

/* Children started with inherit = true: they may have written to our stdout,
 * so the recipe framework adds no report of its own after them. */
static lua_Integer inherited_children;

/* cr._inherited() -> how many children were started with inherit = true */
static int l_inherited(lua_State *L) {
  lua_pushinteger(L, inherited_children);
  return 1;
}

/* The signals a child on our terminal is given rather than us. */
static void foreground_signals(sigset_t *set) {
  sigemptyset(set);
  sigaddset(set, SIGINT);
  sigaddset(set, SIGTERM);
  sigaddset(set, SIGHUP);
  sigaddset(set, SIGQUIT);
}

static int l_exec(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  const char **argv = check_argv(L);
  cr_exec_options o = {0};
  o.argv = argv;
  check_options(L, &o);
  cr_check_async(L, "cr.exec");

  exec_op *e = cr_op_new(L, &exec_type, sizeof *e);
  cr_op_ref(&e->op); /* the child's, dropped by exec_finished or exec_cancel */
  /* A Ctrl-C or SIGTERM between the fork and the child's registration would
   * stop us instead of going to the child: held back until it is registered
   * (the child starts with an empty mask: libuv resets it before exec). */
  /* Likewise a SIGTERM before any other child is registered would leave it
   * running after us. */
  sigset_t held, before;
  foreground_signals(&held);
  pthread_sigmask(SIG_BLOCK, &held, &before);
  int rc = cr_exec_start(cr_runtime_loop(e->op.rt), &o, exec_finished, e, &e->ex);
  if (rc == 0 && o.inherit_stdio) {
    inherited_children++;
    e->foreground_pid = cr_exec_pid(e->ex);
    cr_foreground_add(e->foreground_pid);
  } else if (rc == 0) {
    e->helper_pid = cr_exec_pid(e->ex);
    cr_helpers_add(e->helper_pid);
  }
  pthread_sigmask(SIG_SETMASK, &before, NULL);
  if (rc != 0) {
    cr_op_unref(&e->op);
    cr_op_unref(&e->op);
    return push_spawn_failure(L, argv[0], rc);
  }
  return cr_op_await(L, &e->op);
}

/* cr.exec_replace{"prog", "arg", ...}: replaces connrecipe with the program
 * (execvp, no shell), which keeps the process id, the terminal and the
 * standard streams, so that signals sent to us reach it. Returns only on
 * failure: nil, "prog: not found", "ENOENT" (or EACCES, ...). */
static int l_exec_replace(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  const char **argv = check_argv(L);
  lua_pushnil(L);
  if (lua_next(L, 1)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING)
      luaL_error(L, "cr.exec_replace: unknown option '%s' (it takes none)", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  fflush(NULL); /* what we wrote comes before what it writes */
  cr_runtime_prepare_exec();
  execvp(argv[0], (char *const *)argv);
  int err = errno;
  cr_runtime_exec_failed(cr_runtime_get(L)); /* the run goes on */
  return push_spawn_failure(L, argv[0], uv_translate_sys_error(err));
}

void cr_open_exec(lua_State *L) {
  lua_pushcfunction(L, l_exec_replace);
  lua_setfield(L, -2, "exec_replace");
  lua_pushcfunction(L, l_exec);
  lua_setfield(L, -2, "exec");
  lua_pushcfunction(L, l_inherited);
  lua_setfield(L, -2, "_inherited");
}
