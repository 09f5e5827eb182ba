/* Tasks and ops: creating, resuming, finishing and cancelling coroutine tasks,
 * and the op life cycle async bindings build on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "runtime/internal.h"

/* The value an async call yields with, so that a task (and the coroutine
 * library in coroutines.c) can tell it from a user's own yield. */
char cr_async_marker;
char cr_task_waiting_marker;
char cr_task_done_marker;
cr_task *cr_running_task;

static void drop_op(cr_task *t);

/* ---- ready queue and live list --------------------------------------------- */

void cr_ready_push(cr_task *t) {
  cr_runtime *rt = t->rt;
  if (t->in_ready) return;
  t->in_ready = 1;
  t->ready_next = NULL;
  t->ready_prev = rt->ready_tail;
  if (rt->ready_tail)
    rt->ready_tail->ready_next = t;
  else
    rt->ready_head = t;
  rt->ready_tail = t;
}

static void ready_remove(cr_task *t) {
  cr_runtime *rt = t->rt;
  if (!t->in_ready) return;
  if (t->ready_prev)
    t->ready_prev->ready_next = t->ready_next;
  else
    rt->ready_head = t->ready_next;
  if (t->ready_next)
    t->ready_next->ready_prev = t->ready_prev;
  else
    rt->ready_tail = t->ready_prev;
  t->in_ready = 0;
  t->ready_prev = t->ready_next = NULL;
}

cr_task *cr_ready_pop(cr_runtime *rt) {
  cr_task *t = rt->ready_head;
  if (t) ready_remove(t);
  return t;
}

static void live_add(cr_task *t) {
  cr_runtime *rt = t->rt;
  t->live_next = rt->live_head;
  if (rt->live_head) rt->live_head->live_prev = t;
  rt->live_head = t;
  rt->live_count++;
}

static void live_remove(cr_task *t) {
  cr_runtime *rt = t->rt;
  if (t->live_prev)
    t->live_prev->live_next = t->live_next;
  else
    rt->live_head = t->live_next;
  if (t->live_next) t->live_next->live_prev = t->live_prev;
  t->live_prev = t->live_next = NULL;
  rt->live_count--;
}

/* ---- parent and children ---------------------------------------------------- */

static void adopt(cr_task *parent, cr_task *child) {
  child->parent = parent;
  child->next_sibling = parent->first_child;
  if (parent->first_child) parent->first_child->prev_sibling = child;
  parent->first_child = child;
}

static void orphan(cr_task *child) {
  cr_task *p = child->parent;
  if (!p) return;
  if (child->prev_sibling)
    child->prev_sibling->next_sibling = child->next_sibling;
  else
    p->first_child = child->next_sibling;
  if (child->next_sibling) child->next_sibling->prev_sibling = child->prev_sibling;
  child->parent = child->prev_sibling = child->next_sibling = NULL;
}

/* ---- references ---------------------------------------------------------------- */

void cr_task_ref(cr_task *t) { t->refs++; }

void cr_task_unref(cr_task *t) {
  if (--t->refs > 0) return;
  lua_State *L = t->rt->L;
  luaL_unref(L, LUA_REGISTRYINDEX, t->co_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, t->err_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, t->relay_ref);
  free(t->traceback);
  free(t->message);
  free(t);
}

/* ---- watches ----------------------------------------------------------------- */

void cr_watch_add(cr_task *t, cr_watch *w) {
  w->task = t;
  w->prev = NULL;
  w->next = t->watches;
  if (t->watches) t->watches->prev = w;
  t->watches = w;
}

void cr_watch_remove(cr_watch *w) {
  cr_task *t = w->task;
  if (!t) return;
  if (w->prev)
    w->prev->next = w->next;
  else
    t->watches = w->next;
  if (w->next) w->next->prev = w->prev;
  w->task = NULL;
  w->prev = w->next = NULL;
}

static void notify_watches(cr_task *t) {
  cr_watch *w;
  while ((w = t->watches) != NULL) {
    cr_watch_remove(w);
    t->observed = 1;
    w->on_finish(w, t);
  }
}

/* ---- ops --------------------------------------------------------------------- */

void *cr_op_new(lua_State *L, const cr_op_type *type, size_t size) {
  cr_op *op = calloc(1, size);
  if (!op) luaL_error(L, "not enough memory");
  op->type = type;
  op->rt = cr_runtime_get(L);
  op->refs = 1;
  return op;
}

void cr_op_ref(cr_op *op) { op->refs++; }

void cr_op_unref(cr_op *op) {
  if (--op->refs > 0) return;
  if (op->type->destroy) op->type->destroy(op);
  free(op);
}

void cr_op_complete(cr_op *op) {
  if (op->done) return;
  op->done = 1;
  if (op->task && op->task->state == CR_TASK_WAITING) cr_ready_push(op->task);
}

/* Whether every thread from L up to the task can yield: L, each coroutine
 * resume under way inside the task, and the task's own thread. */
static int can_wait(lua_State *L, cr_task *t) {
  if (!lua_isyieldable(L) || !lua_isyieldable(t->co)) return 0;
  for (cr_resume_frame *f = cr_resume_chain; f; f = f->prev)
    if (!lua_isyieldable(f->from)) return 0;
  return 1;
}

void cr_check_async(lua_State *L, const char *fname) {
  cr_runtime *rt = cr_runtime_get(L);
  if (!rt->current && rt->closing)
    luaL_error(L,
               "%s: cannot wait here: the task was cancelled and its to-be-closed "
               "variables are being closed",
               fname);
  if (!rt->current)
    luaL_error(L, "%s: can only wait inside a task (a recipe, a -e chunk, cr.run or cr.spawn)",
               fname);
  if (!can_wait(L, rt->current))
    luaL_error(L,
               "%s: cannot wait here: the call is under a C function that cannot yield "
               "(require at module top level, a table.sort comparator, a string.gsub "
               "callback, a __gc metamethod)",
               fname);
  /* timers start from the loop's cached clock: Lua may have computed for a while */
  uv_update_time(&rt->loop);
}

int cr_op_await(lua_State *L, cr_op *op) {
  cr_task *t = cr_runtime_get(L)->current;
  drop_op(t); /* a stale op from an async call whose yield failed */
  op->task = t;
  t->op = op;
  lua_pushlightuserdata(L, &cr_async_marker);
  return lua_yield(L, 1);
}

/* ---- the task's body ------------------------------------------------------------ */

static char *error_message(lua_State *from, int idx);

/* Records the traceback where an error leaves the task's function (or one of
 * its __close handlers), as lua.c's message handler does for its main chunk;
 * the error value itself goes on unchanged. */
static int task_msgh(lua_State *L) {
  cr_task *t = cr_running_task;
  if (t && t->co == L) {
    char *msg = error_message(L, 1);
    luaL_traceback(L, L, msg, 1);
    free(msg);
    free(t->traceback);
    t->traceback = strdup(lua_tostring(L, -1));
  }
  lua_settop(L, 1);
  return 1;
}

enum { STAGE_BODY, STAGE_THEN };

static int task_main_k(lua_State *L, int status, lua_KContext stage) {
  if (status != LUA_OK && status != LUA_YIELD) return lua_error(L); /* tbc variables are closed */
  if (stage == STAGE_BODY && lua_isfunction(L, lua_upvalueindex(1))) {
    int nres = lua_gettop(L) - 1;
    lua_pushvalue(L, lua_upvalueindex(1)); /* then(results...) */
    lua_insert(L, 2);
    return task_main_k(L, lua_pcallk(L, nres, LUA_MULTRET, 1, STAGE_THEN, task_main_k), STAGE_THEN);
  }
  return lua_gettop(L) - 1; /* the results, above the message handler */
}

/* [fn, args...] -> fn's results, or then(fn's results) when the closure has a
 * `then` upvalue. A protected call with a continuation: the error unwinding
 * (and its __close handlers) happens inside the task, where they can still
 * wait. fn is called from C, so a traceback names a loaded chunk "main chunk". */
int cr_task_main(lua_State *L) {
  int nargs = lua_gettop(L) - 1;
  lua_pushcfunction(L, task_msgh);
  lua_insert(L, 1);
  return task_main_k(L, lua_pcallk(L, nargs, LUA_MULTRET, 1, STAGE_BODY, task_main_k), STAGE_BODY);
}

void cr_task_note_relay(lua_State *L, lua_State *co) {
  cr_task *t = cr_running_task;
  if (!t) return;
  if (t->relay_ref == LUA_NOREF) {
    lua_newtable(L);
    t->relay_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->relay_ref);
  lua_pushthread(co);
  lua_xmove(co, L, 1);
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  lua_pop(L, 1);
}

static void forget_relays(cr_task *t) {
  luaL_unref(t->rt->L, LUA_REGISTRYINDEX, t->relay_ref);
  t->relay_ref = LUA_NOREF;
}

/* ---- creating tasks ------------------------------------------------------------ */

/* [body, fn, args...] (nargs arguments) become the new task's coroutine. */
static cr_task *spawn_body(lua_State *L, int nargs) {
  cr_runtime *rt = cr_runtime_get(L);
  cr_task *t = calloc(1, sizeof *t);
  if (!t) luaL_error(L, "not enough memory");
  t->rt = rt;
  t->err_ref = LUA_NOREF;
  t->relay_ref = LUA_NOREF;
  t->id = ++rt->next_id;
  t->refs = 1; /* the runtime's, until the task finishes */
  lua_State *co = lua_newthread(L);
  t->co = co;
  t->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_xmove(L, co, nargs + 2); /* cr_task_main, the function and its arguments */
  t->start_nargs = nargs + 1;
  t->state = CR_TASK_READY;
  live_add(t);
  if (rt->current) adopt(rt->current, t);
  cr_ready_push(t);
  return t;
}

cr_task *cr_task_spawn(lua_State *L, int nargs) {
  lua_pushcfunction(L, cr_task_main);
  lua_insert(L, -(nargs + 2));
  return spawn_body(L, nargs);
}

cr_task *cr_task_spawn_then(lua_State *L, int nargs) {
  lua_pushvalue(L, -(nargs + 2));
  lua_pushcclosure(L, cr_task_main, 1);
  lua_replace(L, -(nargs + 3));
  return spawn_body(L, nargs);
}

cr_task_state cr_task_get_state(const cr_task *t) { return t->state; }

int cr_task_descends_from(const cr_task *t, const cr_task *ancestor) {
  for (; t; t = t->parent)
    if (t == ancestor) return 1;
  return 0;
}
int cr_task_id(const cr_task *t) { return t->id; }
const char *cr_task_traceback(const cr_task *t) { return t->traceback; }
const char *cr_task_message(const cr_task *t) {
  /* a failure whose message could not even be copied (strdup failed): memory */
  if (!t->message && t->state == CR_TASK_FAILED) return "not enough memory";
  return t->message;
}

const char *cr_task_state_name(cr_task_state s) {
  static const char *const names[] = {"ready", "running", "waiting", "done", "failed", "cancelled"};
  return names[s];
}

/* ---- finishing --------------------------------------------------------------------- */

static void unobserved_add(cr_task *t) {
  cr_task_ref(t);
  t->unobs_next = t->rt->unobserved;
  t->rt->unobserved = t;
}

static void unobserved_remove(cr_task *t) {
  for (cr_task **p = &t->rt->unobserved; *p; p = &(*p)->unobs_next) {
    if (*p == t) {
      *p = t->unobs_next;
      cr_task_unref(t);
      return;
    }
  }
}

static void cancel_tree(cr_task *t);

/* Closes a thread's pending to-be-closed variables, with no task current so
 * that an async call from a __close handler fails cleanly. Returns
 * lua_resetthread's status. */
static int close_thread(cr_task *t, lua_State *co) {
  cr_runtime *rt = t->rt;
  cr_task *saved = rt->current, *saved_closing = rt->closing, *saved_running = cr_running_task;
  rt->current = NULL;
  rt->closing = t;
  cr_running_task = t;
  cr_runtime_enter_thread(co);
  int status = lua_resetthread(co);
  cr_runtime_enter_thread(rt->from);
  cr_running_task = saved_running;
  rt->closing = saved_closing;
  rt->current = saved;
  return status;
}

/* A cancelled task: first its own coroutines that waited with it, innermost
 * first, then its thread. */
static void close_coroutine(cr_task *t) {
  if (t->relay_ref != LUA_NOREF) {
    lua_State *from = t->rt->from;
    lua_rawgeti(from, LUA_REGISTRYINDEX, t->relay_ref);
    for (lua_Integer i = 1; lua_rawgeti(from, -1, i) == LUA_TTHREAD; i++) {
      close_thread(t, lua_tothread(from, -1));
      lua_pop(from, 1);
    }
    lua_pop(from, 2);
    forget_relays(t);
  }
  close_thread(t, t->co);
}

/* A failed or cancelled task keeps no results in its coroutine: let it be
 * collected now rather than with the last task object. At a memory ceiling
 * each cancellation's lua_resetthread needs a new stack; with every coroutine
 * still anchored, each failed allocation ran an emergency GC that could free
 * nothing, and cancelling 100k tasks took hours. */
static void release_coroutine(cr_task *t) {
  luaL_unref(t->rt->L, LUA_REGISTRYINDEX, t->co_ref);
  t->co_ref = LUA_NOREF;
  t->co = NULL;
}

static void finish(cr_task *t, cr_task_state state) {
  t->state = state;
  /* a finished task's coroutine stays main-like: nobody may resume it (a
   * recipe may still hold it, from coroutine.running(), after it is released) */
  lua_pushlightuserdata(t->co, &cr_task_done_marker);
  lua_insert(t->co, 1);
  if (state != CR_TASK_DONE) release_coroutine(t);
  ready_remove(t);
  live_remove(t);
  if (state == CR_TASK_DONE) {
    while (t->first_child) orphan(t->first_child); /* children go on by themselves */
  } else {
    while (t->first_child) cancel_tree(t->first_child);
  }
  orphan(t);
  int watched = t->watches != NULL;
  notify_watches(t);
  if (state == CR_TASK_FAILED && !watched) unobserved_add(t);
  cr_task_unref(t); /* the runtime's reference */
}

static int tostring_cb(lua_State *L) {
  luaL_tolstring(L, 1, NULL);
  return 1;
}

/* The error value as a message, as lua.c's message handler words it. Works on
 * `from`, the thread running the scheduler: the failed coroutine cannot call. */
static char *error_message(lua_State *from, int idx) {
  idx = lua_absindex(from, idx);
  int t = lua_type(from, idx);
  int ok = 0;
  if (t == LUA_TSTRING || t == LUA_TNUMBER || luaL_getmetafield(from, idx, "__tostring") != LUA_TNIL) {
    if (t != LUA_TSTRING && t != LUA_TNUMBER) lua_pop(from, 1);
    /* __tostring is user code: it may raise or try to yield */
    lua_pushcfunction(from, tostring_cb);
    lua_pushvalue(from, idx);
    ok = lua_pcall(from, 1, 1, 0) == LUA_OK;
    if (!ok) lua_pop(from, 1);
  }
  if (!ok) lua_pushfstring(from, "(error object is a %s value)", luaL_typename(from, idx));
  char *s = strdup(lua_tostring(from, -1));
  lua_pop(from, 1);
  return s;
}

/* Detaches the op the task waits for (or a stale one it started but never
 * waited for), cancelling it if it is still pending. */
static void drop_op(cr_task *t) {
  cr_op *op = t->op;
  if (!op) return;
  t->op = NULL;
  op->task = NULL;
  if (!op->done && op->type->cancel) op->type->cancel(op);
  cr_op_unref(op);
}

/* The task's error is on top of its stack. cr_task_main closed its
 * to-be-closed variables already and recorded the traceback; an error that
 * bypassed it (out of memory) gets the traceback of the stack it left. A
 * __close handler's error replaces the error, as it does in Lua. */
static void finish_failed(cr_task *t) {
  lua_State *co = t->co, *from = t->rt->from;
  t->finishing = 1;
  drop_op(t);
  lua_pushvalue(co, -1);
  lua_xmove(co, from, 1);
  if (!t->traceback) {
    char *msg = error_message(from, -1);
    luaL_traceback(from, co, msg, 0);
    free(msg);
    t->traceback = strdup(lua_tostring(from, -1));
    lua_pop(from, 1);
  }
  if (close_thread(t, co) != LUA_OK) { /* the error, or the one a __close raised instead */
    lua_xmove(co, from, 1);
    if (lua_rawequal(from, -1, -2)) {
      lua_pop(from, 1);
    } else {
      lua_remove(from, -2);
      free(t->traceback); /* that of the error replaced */
      t->traceback = NULL;
    }
  }
  t->message = error_message(from, -1);
  if (!t->traceback) t->traceback = strdup(t->message);
  t->err_ref = luaL_ref(from, LUA_REGISTRYINDEX);
  t->nresults = 0;
  finish(t, CR_TASK_FAILED);
}

static void finish_cancelled(cr_task *t) {
  t->finishing = 1;
  drop_op(t);
  close_coroutine(t);
  t->nresults = 0;
  finish(t, CR_TASK_CANCELLED);
}

/* ---- resuming ------------------------------------------------------------------------ */

static int push_op_results(cr_task *t) {
  cr_op *op = t->op;
  t->op = NULL;
  op->task = NULL;
  int n = op->type->push(op, t->co);
  cr_op_unref(op);
  return n;
}

static void fail_with(cr_task *t, const char *msg) {
  lua_pushstring(t->co, msg);
  finish_failed(t);
}

void cr_task_resume(cr_task *t, lua_State *from) {
  cr_runtime *rt = t->rt;
  int nargs = t->op ? push_op_results(t) : t->start_nargs;
  t->start_nargs = 0;
  t->state = CR_TASK_RUNNING;
  forget_relays(t); /* they go on now, each resumed by its relay */
  rt->current = t;
  cr_task *saved_running = cr_running_task;
  cr_resume_frame *saved_chain = cr_resume_chain;
  cr_running_task = t;
  cr_resume_chain = NULL;
  cr_runtime_enter_thread(t->co);
  int nres = 0;
  int status = lua_resume(t->co, from, nargs, &nres);
  cr_runtime_enter_thread(from);
  cr_resume_chain = saved_chain;
  cr_running_task = saved_running;
  rt->current = NULL;
  if (status == LUA_YIELD) {
    int async = t->op && nres == 1 && lua_touserdata(t->co, -1) == &cr_async_marker;
    lua_pop(t->co, nres);
    if (async) lua_pushlightuserdata(t->co, &cr_task_waiting_marker); /* see coroutines.c */
    if (!async) {
      fail_with(t, "attempt to yield from outside a coroutine (coroutine.yield at the top level "
                   "of a task)");
    } else if (t->cancel_pending) {
      finish_cancelled(t);
    } else {
      t->state = CR_TASK_WAITING;
      if (t->op->done) cr_ready_push(t);
    }
  } else if (status == LUA_OK) {
    drop_op(t); /* started under a boundary that could not yield */
    t->nresults = nres;
    finish(t, t->cancel_pending ? CR_TASK_CANCELLED : CR_TASK_DONE);
  } else {
    finish_failed(t);
  }
}

/* ---- cancelling ------------------------------------------------------------------------ */

static void cancel_tree(cr_task *t) {
  if (t->state >= CR_TASK_DONE) return;
  if (t->finishing) { /* its __close handlers run: it finishes on return */
    orphan(t);
    return;
  }
  if (t->state == CR_TASK_RUNNING) { /* it is on the C stack: finish it at its next yield */
    t->cancel_pending = 1;
    orphan(t);
    return;
  }
  finish_cancelled(t); /* cancels the children too */
}

void cr_task_cancel(cr_task *t) { cancel_tree(t); }

void cr_tasks_cancel_all(cr_runtime *rt) {
  for (;;) {
    cr_task *t = rt->live_head;
    while (t && (t->state == CR_TASK_RUNNING || t->cancel_pending || t->finishing))
      t = t->live_next;
    if (!t) return;
    cancel_tree(t);
  }
}

/* ---- outcomes ------------------------------------------------------------------------- */

void cr_task_observe(cr_task *t) {
  t->observed = 1;
  if (t->state == CR_TASK_FAILED) unobserved_remove(t);
}

int cr_task_push_outcome(cr_task *t, lua_State *L) {
  cr_task_observe(t);
  switch (t->state) {
  case CR_TASK_DONE: {
    int n = t->nresults;
    luaL_checkstack(L, n + 1, "too many results");
    if (!lua_checkstack(t->co, n)) return luaL_error(L, "task %d: too many results", t->id);
    lua_pushboolean(L, 1);
    for (int i = n; i >= 1; i--) lua_pushvalue(t->co, -n);
    lua_xmove(t->co, L, n);
    return n + 1;
  }
  case CR_TASK_FAILED:
    lua_pushboolean(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->err_ref);
    return 2;
  case CR_TASK_CANCELLED:
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "cancelled");
    return 2;
  default:
    return luaL_error(L, "task %d has not finished", t->id);
  }
}

int cr_tasks_free_unobserved(cr_runtime *rt, int report) {
  int n = 0;
  while (rt->unobserved) {
    n++;
    cr_task *t = rt->unobserved;
    rt->unobserved = t->unobs_next;
    if (report)
      fprintf(stderr, "connrecipe: warning: task %d failed and nobody joined it: %s\n", t->id,
              t->message);
    cr_task_unref(t);
  }
  return n;
}
