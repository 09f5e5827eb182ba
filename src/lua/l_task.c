/* cr.sleep, cr.now, cr.spawn, cr.run, cr._wait and the task object. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "lua/bindings.h"
#include "runtime/runtime.h"
#include "connrecipe/duration.h"

#define TASK_MT "connrecipe.task"

extern char cr_async_marker; /* runtime/task.c */

/* ---- the task object (a box holding a reference) ----------------------------------- */

typedef struct {
  cr_task *task;
} task_box;

static void push_task(lua_State *L, cr_task *t) {
  task_box *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->task = t;
  cr_task_ref(t);
  luaL_setmetatable(L, TASK_MT);
}

static cr_task *check_task(lua_State *L, int idx) {
  return ((task_box *)luaL_checkudata(L, idx, TASK_MT))->task;
}

static int task_gc(lua_State *L) {
  task_box *b = luaL_checkudata(L, 1, TASK_MT);
  if (b->task) cr_task_unref(b->task);
  b->task = NULL;
  return 0;
}

static int task_tostring(lua_State *L) {
  cr_task *t = check_task(L, 1);
  lua_pushfstring(L, "task %d (%s)", cr_task_id(t), cr_task_state_name(cr_task_get_state(t)));
  return 1;
}

/* task:status() -> "ready" | "running" | "waiting" | "done" | "failed" | "cancelled" */
static int task_status(lua_State *L) {
  lua_pushstring(L, cr_task_state_name(cr_task_get_state(check_task(L, 1))));
  return 1;
}

static int task_cancel(lua_State *L) {
  cr_task *t = check_task(L, 1);
  if (t == cr_runtime_current(cr_runtime_get(L)))
    return luaL_error(L, "task:cancel: a task cannot cancel itself (return from it instead)");
  cr_task_cancel(t);
  return 0;
}

/* task:_outcome() -> true, results... | false, error ("cancelled") */
static int task_outcome(lua_State *L) {
  cr_task *t = check_task(L, 1);
  if (cr_task_get_state(t) < CR_TASK_DONE)
    return luaL_error(L, "task %d has not finished (join it first)", cr_task_id(t));
  return cr_task_push_outcome(t, L);
}

static const luaL_Reg task_methods[] = {
    {"status", task_status}, {"cancel", task_cancel}, {"_outcome", task_outcome}, {NULL, NULL}};

/* ---- cr.spawn, cr.run ------------------------------------------------------------------ */

/* cr.spawn(fn, ...) -> task */
static int l_spawn(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  cr_task *t = cr_task_spawn(L, lua_gettop(L) - 1);
  push_task(L, t);
  return 1;
}

/* Whether a Lua pcall or xpcall on L's stack will catch an error raised here. */
static int under_pcall(lua_State *L) {
  lua_Debug ar;
  lua_getglobal(L, "pcall");
  lua_CFunction pcall = lua_tocfunction(L, -1);
  lua_getglobal(L, "xpcall");
  lua_CFunction xpcall = lua_tocfunction(L, -1);
  lua_pop(L, 2);
  for (int level = 1; lua_getstack(L, level, &ar); level++) {
    lua_getinfo(L, "f", &ar);
    lua_CFunction f = lua_tocfunction(L, -1);
    lua_pop(L, 1);
    if (f && (f == pcall || f == xpcall)) return 1;
  }
  return 0;
}

/* cr.run(fn, ...) -> fn's results: drives the loop until fn and every task it
 * started have finished; raises fn's error (a string that no pcall catches
 * with the task's traceback appended). Ctrl-C meanwhile cancels every task
 * and raises "interrupted" (as lua.c turns SIGINT into an error); the host's
 * SIGINT disposition is restored first. */
static int l_run(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  cr_runtime *rt = cr_runtime_get(L);
  if (cr_runtime_is_running(rt))
    return luaL_error(L, "cr.run: the loop is already running (inside a task, call the "
                         "function directly or use cr.spawn)");
  cr_task *t = cr_task_spawn(L, lua_gettop(L) - 1);
  cr_task_ref(t);
  cr_sigint_scope sigint;
  cr_runtime_sigint_enter(rt, &sigint);
  cr_runtime_run(rt, L);
  if (cr_runtime_sigint_leave(rt, &sigint)) {
    cr_task_observe(t);
    cr_task_unref(t);
    lua_pushliteral(L, "interrupted");
    return lua_error(L);
  }
  int base = lua_gettop(L);
  int n = cr_task_push_outcome(t, L);
  int failed = !lua_toboolean(L, base + 1);
  /* An error that ends the program (no pcall will look at it) keeps the
   * traceback of where it was raised inside the task: lua.c's would show only
   * cr.run's frame. One a pcall catches stays the function's own value. */
  if (failed && lua_type(L, -1) == LUA_TSTRING && cr_task_traceback(t) && !under_pcall(L))
    lua_pushstring(L, cr_task_traceback(t));
  cr_task_unref(t);
  cr_runtime_report_unobserved(rt);
  if (failed) return lua_error(L);
  return n - 1;
}

/* ---- cr.sleep -------------------------------------------------------------------------- */

typedef struct {
  cr_op op;
  uv_timer_t timer;
} sleep_op;

static void sleep_closed(uv_handle_t *h) { cr_op_unref(h->data); }

static void sleep_fired(uv_timer_t *t) {
  sleep_op *s = t->data;
  cr_op_complete(&s->op);
  uv_close((uv_handle_t *)t, sleep_closed);
}

static void sleep_cancel(cr_op *op) { uv_close((uv_handle_t *)&((sleep_op *)op)->timer, sleep_closed); }
static int sleep_push(cr_op *op, lua_State *L) { return 0; }
static const cr_op_type sleep_type = {"sleep", sleep_cancel, sleep_push, NULL};

static uint64_t check_seconds_ms(lua_State *L, int idx, const char *what) {
  lua_Number s = luaL_checknumber(L, idx);
  luaL_argcheck(L, s >= 0, idx, what); /* NaN too; huge values are clamped */
  return cr_seconds_to_ms(s);
}

/* cr.sleep(seconds): yields the task; other tasks run meanwhile. */
static int l_sleep(lua_State *L) {
  uint64_t ms = check_seconds_ms(L, 1, "seconds must be a number >= 0");
  cr_check_async(L, "cr.sleep");
  sleep_op *s = cr_op_new(L, &sleep_type, sizeof *s);
  uv_timer_init(cr_runtime_loop(s->op.rt), &s->timer);
  s->timer.data = s;
  cr_op_ref(&s->op); /* the timer handle's */
  uv_timer_start(&s->timer, sleep_fired, ms, 0);
  return cr_op_await(L, &s->op);
}

/* cr.now() -> monotonic seconds */
static int l_now(lua_State *L) {
  lua_pushnumber(L, (lua_Number)uv_hrtime() / 1e9);
  return 1;
}

/* cr._stopping() -> "deadline" or "sigint" once the run is being stopped, else nil.
 * The recipe framework uses it to let a stop through the pcall of ctx:check. */
static int l_stopping(lua_State *L) {
  const char *why = cr_stop_reason_name(cr_runtime_stop_pending(cr_runtime_get(L)));
  if (why) lua_pushstring(L, why);
  else lua_pushnil(L);
  return 1;
}

/* ---- cr._wait(tasks, mode, timeout) ------------------------------------------------------
 * mode "any": -> "finished", i  as soon as tasks[i] finishes
 * mode "all": -> "all" when every task is done, or "failed", i for the first
 *             that failed or was cancelled (the others keep running)
 * either:     -> "timeout" when timeout (seconds, optional) expires first */

typedef struct {
  cr_op op;
  int all, remaining, has_timer;
  const char *why;
  int index;
  uv_timer_t timer;
  int nwatch;
  cr_watch watches[];
} wait_op;

static void wait_timer_closed(uv_handle_t *h) { cr_op_unref(h->data); }

static void wait_stop(wait_op *w) {
  for (int i = 0; i < w->nwatch; i++) cr_watch_remove(&w->watches[i]);
  if (w->has_timer && !uv_is_closing((uv_handle_t *)&w->timer))
    uv_close((uv_handle_t *)&w->timer, wait_timer_closed);
}

static void wait_done(wait_op *w, const char *why, int index) {
  w->why = why;
  w->index = index;
  wait_stop(w);
  cr_op_complete(&w->op);
}

static void wait_task_finished(cr_watch *watch, cr_task *finished) {
  wait_op *w = (wait_op *)watch->op;
  if (w->op.done) return;
  if (!w->all) {
    wait_done(w, "finished", watch->index);
  } else if (cr_task_get_state(finished) != CR_TASK_DONE) {
    wait_done(w, "failed", watch->index);
  } else if (--w->remaining == 0) {
    wait_done(w, "all", 0);
  }
}

static void wait_timer_fired(uv_timer_t *t) {
  wait_op *w = t->data;
  if (!w->op.done) wait_done(w, "timeout", 0);
}

static int wait_push(cr_op *op, lua_State *L) {
  wait_op *w = (wait_op *)op;
  lua_pushstring(L, w->why);
  if (w->index) {
    lua_pushinteger(L, w->index);
    return 2;
  }
  return 1;
}

static void wait_cancel(cr_op *op) { wait_stop((wait_op *)op); }
static const cr_op_type wait_type = {"wait", wait_cancel, wait_push, NULL};

/* Answers at once when the tasks' states already decide it; returns the number
 * of values pushed, or 0 when the caller must wait. */
static int wait_decided(lua_State *L, int n, int all) {
  int unfinished = 0;
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, i);
    cr_task_state st = cr_task_get_state(check_task(L, -1));
    lua_pop(L, 1);
    if (st < CR_TASK_DONE) {
      unfinished++;
    } else if (!all || st != CR_TASK_DONE) {
      lua_pushstring(L, all ? "failed" : "finished");
      lua_pushinteger(L, i);
      return 2;
    }
  }
  if (unfinished == 0) {
    lua_pushstring(L, "all");
    return 1;
  }
  return 0;
}

static int l_wait(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  const char *mode = luaL_checkstring(L, 2);
  int all = strcmp(mode, "all") == 0;
  luaL_argcheck(L, all || strcmp(mode, "any") == 0, 2, "expected \"any\" or \"all\"");
  int has_timer = !lua_isnoneornil(L, 3);
  uint64_t ms = has_timer ? check_seconds_ms(L, 3, "timeout must be a number >= 0") : 0;
  int n = (int)luaL_len(L, 1);
  luaL_argcheck(L, n > 0, 1, "no tasks to wait for");
  int decided = wait_decided(L, n, all);
  if (decided) return decided;
  cr_check_async(L, "cr._wait");

  wait_op *w = cr_op_new(L, &wait_type, sizeof *w + (size_t)n * sizeof(cr_watch));
  w->all = all;
  w->nwatch = n;
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, i);
    cr_task *t = check_task(L, -1);
    lua_pop(L, 1);
    w->watches[i - 1] = (cr_watch){.op = &w->op, .index = i, .on_finish = wait_task_finished};
    if (cr_task_get_state(t) < CR_TASK_DONE) {
      cr_watch_add(t, &w->watches[i - 1]);
      w->remaining++;
    }
  }
  if (has_timer) {
    w->has_timer = 1;
    uv_timer_init(cr_runtime_loop(w->op.rt), &w->timer);
    w->timer.data = w;
    cr_op_ref(&w->op);
    uv_timer_start(&w->timer, wait_timer_fired, ms, 0);
  }
  return cr_op_await(L, &w->op);
}

/* ---- registration -------------------------------------------------------------------------- */

void cr_open_tasks(lua_State *L) {
  if (luaL_newmetatable(L, TASK_MT)) {
    lua_pushcfunction(L, task_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, task_tostring);
    lua_setfield(L, -2, "__tostring");
    luaL_newlib(L, task_methods);
    lua_setfield(L, -2, "__index");
  }
  /* cr._task_methods: the methods table, which connrecipe.tasks extends */
  lua_getfield(L, -1, "__index");
  lua_setfield(L, -3, "_task_methods");
  lua_pop(L, 1);
  /* cr._async_marker: what an async call yields (connrecipe.coroutines relays it) */
  lua_pushlightuserdata(L, &cr_async_marker);
  lua_setfield(L, -2, "_async_marker");
  static const luaL_Reg fns[] = {{"sleep", l_sleep}, {"now", l_now},   {"spawn", l_spawn},
                                 {"run", l_run},     {"_wait", l_wait}, {"_stopping", l_stopping},
                                 {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
