/* The runtime object, the scheduler loop, and stopping everything (Ctrl-C,
 * --deadline, deadlock). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <lauxlib.h>

#include "runtime/foreground.h"
#include "runtime/internal.h"
#include "connrecipe/duration.h"

#define RUNTIME_KEY "connrecipe.runtime"   /* registry: the runtime's userdata */
#define RUNTIME_MT "connrecipe.runtime.mt" /* registry: its metatable */
#define HOOK_EVERY 1000 /* instructions between raises while a stop is pending */

volatile sig_atomic_t cr_stop_request;
static volatile sig_atomic_t sigint_seen;
lua_State *volatile cr_running_thread; /* the Lua thread running now */
static pthread_t lua_os_thread;        /* the OS thread that runs Lua */
static int deadline_set;               /* our SIGALRM handler and timer are in place */
static cr_runtime *sigint_runtime;
static int sigint_installed; /* our handler is in place (the executable's choice) */
static struct sigaction sigint_before; /* the disposition the executable's handler replaced */
static int sigpipe_ignored_here;       /* SIGPIPE was SIG_DFL until the runtime ignored it */

/* ---- the runtime object ------------------------------------------------------------ */

static void close_walk_cb(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

static int runtime_gc(lua_State *L) {
  cr_runtime **box = luaL_checkudata(L, 1, RUNTIME_MT);
  cr_runtime *rt = *box;
  if (!rt) return 0;
  *box = NULL;
  if (sigint_runtime == rt) { /* no signal may reach a loop that is going away */
    if (sigint_installed) signal(SIGINT, SIG_DFL);
    if (deadline_set) {
      setitimer(ITIMER_REAL, &(struct itimerval){{0, 0}, {0, 0}}, NULL);
      signal(SIGALRM, SIG_DFL);
    }
    sigint_installed = deadline_set = 0;
    sigint_runtime = NULL;
  }
  cr_running_thread = NULL;
  rt->from = L;
  cr_tasks_cancel_all(rt);
  cr_tasks_free_unobserved(rt, 0);
  uv_run(&rt->loop, UV_RUN_DEFAULT); /* let cancelled ops close their handles */
  uv_walk(&rt->loop, close_walk_cb, NULL);
  uv_run(&rt->loop, UV_RUN_DEFAULT);
  uv_loop_close(&rt->loop);
  free(rt);
  return 0;
}

/* Raises inside running Lua code once a stop was requested, so that a recipe in
 * a pure CPU loop is interrupted too. Only inside tasks. It is installed only
 * when a stop is due (by the signal handlers, or on a switch to another
 * thread), as lua.c's laction does; it replaces a user's hook then, as there.
 * It raises again every HOOK_EVERY instructions (a pcall may catch it) and
 * removes itself once no stop is pending. */
static void stop_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  if (!cr_stop_request) {
    lua_sethook(L, NULL, 0, 0);
    return;
  }
  lua_sethook(L, stop_hook, LUA_MASKCOUNT, HOOK_EVERY);
  lua_getfield(L, LUA_REGISTRYINDEX, RUNTIME_KEY);
  cr_runtime **box = lua_touserdata(L, -1);
  lua_pop(L, 1);
  cr_runtime *rt = box ? *box : NULL;
  if (!rt || !rt->current) return;
  if (rt->interactive && !cr_task_descends_from(rt->current, rt->interrupt_target)) return;
  luaL_error(L, cr_stop_request == CR_STOP_DEADLINE ? "deadline expired" : "interrupted");
}

void cr_runtime_hook_for_stop(lua_State *co) {
  lua_sethook(co, stop_hook, LUA_MASKCOUNT, HOOK_EVERY);
}

void cr_runtime_enter_thread(lua_State *co) { cr_enter_thread(co); }

/* From a signal handler: the running thread stops at its next instruction. */
static void hook_running_thread(void) {
  lua_State *L = cr_running_thread;
  if (L) lua_sethook(L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

/* A signal that reached another OS thread (a libuv worker) goes to the one
 * running Lua: lua_sethook must be called there. Returns whether it did. */
static int forwarded(int sig) {
  if (pthread_equal(pthread_self(), lua_os_thread)) return 0;
  pthread_kill(lua_os_thread, sig);
  return 1;
}

static void on_wakeup(uv_async_t *a) { (void)a; /* the scheduler reads cr_stop_request */ }

cr_runtime *cr_runtime_open(lua_State *L) {
  cr_runtime *rt = calloc(1, sizeof *rt);
  if (!rt) luaL_error(L, "not enough memory");
  int rc = uv_loop_init(&rt->loop);
  if (rc != 0) {
    free(rt);
    luaL_error(L, "cannot create the event loop: %s", uv_strerror(rc));
  }
  uv_async_init(&rt->loop, &rt->wakeup, on_wakeup);
  uv_unref((uv_handle_t *)&rt->wakeup);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  rt->L = lua_tothread(L, -1);
  lua_pop(L, 1);

  cr_runtime **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = rt;
  luaL_newmetatable(L, RUNTIME_MT);
  lua_pushcfunction(L, runtime_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, RUNTIME_KEY);

  cr_running_thread = rt->L;
  lua_os_thread = pthread_self();
  cr_open_coroutines(L); /* async calls inside the recipe's own coroutines */
  /* A child that closes its stdin early must not kill us with SIGPIPE. */
  struct sigaction old;
  if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL) {
    signal(SIGPIPE, SIG_IGN);
    sigpipe_ignored_here = 1;
  }
  return rt;
}

cr_runtime *cr_runtime_get(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, RUNTIME_KEY);
  cr_runtime **box = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (!box || !*box) luaL_error(L, "connrecipe runtime is not open");
  return *box;
}

uv_loop_t *cr_runtime_loop(cr_runtime *rt) { return &rt->loop; }
cr_task *cr_runtime_current(cr_runtime *rt) { return rt->current; }
int cr_runtime_is_running(cr_runtime *rt) { return rt->running; }
cr_stop_reason cr_runtime_stop_reason(cr_runtime *rt) { return rt->stop; }

cr_stop_reason cr_runtime_stop_pending(cr_runtime *rt) {
  return rt->stop ? rt->stop : (cr_stop_reason)cr_stop_request;
}

const char *cr_stop_reason_name(cr_stop_reason why) {
  switch (why) {
  case CR_STOP_DEADLINE:
    return "deadline";
  case CR_STOP_INTERRUPT:
    return "sigint";
  default:
    return NULL;
  }
}

/* ---- stopping ------------------------------------------------------------------------- */

static void on_sigint(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  /* a command on our terminal gets it and decides; we wait for its end (first:
   * passing it to the Lua thread would lose who sent it) */
  if (cr_foreground_forward(sig, si)) return;
  if (forwarded(sig)) return;
  /* A second Ctrl-C before the first was handled (a recipe, or a REPL line
   * that catches "interrupted" in a loop): the user means it. The REPL takes
   * each Ctrl-C at once, so pressing it at the prompt never gets here. */
  if (sigint_seen) {
    signal(SIGINT, SIG_DFL);
    raise(SIGINT);
    return;
  }
  sigint_seen = 1;
  cr_stop_request = CR_STOP_INTERRUPT;
  if (sigint_runtime) uv_async_send(&sigint_runtime->wakeup); /* async-signal-safe */
  hook_running_thread();
}

static void on_deadline(int sig) {
  if (forwarded(sig)) return;
  if (!cr_stop_request) cr_stop_request = CR_STOP_DEADLINE;
  if (sigint_runtime) uv_async_send(&sigint_runtime->wakeup);
  hook_running_thread();
}

int cr_runtime_catch_sigint(cr_runtime *rt) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigint_runtime = rt;
  sigint_installed = 1;
  return sigaction(SIGINT, &sa, &sigint_before);
}

/* What cr_runtime_prepare_exec undid, for cr_runtime_exec_failed to redo. */
static int exec_undid_sigint, exec_undid_sigpipe, exec_undid_deadline;
static struct itimerval exec_deadline_left;
static struct sigaction exec_deadline_action;

void cr_runtime_prepare_exec(void) {
  /* an interval timer survives execve: the program would get our SIGALRM */
  exec_undid_deadline = deadline_set;
  if (deadline_set) {
    setitimer(ITIMER_REAL, &(struct itimerval){{0, 0}, {0, 0}}, &exec_deadline_left);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGALRM, &dfl, &exec_deadline_action);
    deadline_set = 0;
  }
  exec_undid_sigint = sigint_installed;
  if (sigint_installed) sigaction(SIGINT, &sigint_before, NULL);
  sigint_installed = 0;
  exec_undid_sigpipe = sigpipe_ignored_here;
  if (sigpipe_ignored_here) signal(SIGPIPE, SIG_DFL);
  sigpipe_ignored_here = 0;
  cr_foreground_restore();
}

void cr_runtime_exec_failed(cr_runtime *rt) {
  if (exec_undid_deadline) {
    sigaction(SIGALRM, &exec_deadline_action, NULL);
    if (exec_deadline_left.it_value.tv_sec == 0 && exec_deadline_left.it_value.tv_usec == 0)
      exec_deadline_left.it_value.tv_usec = 1; /* it was due: let it fire */
    setitimer(ITIMER_REAL, &exec_deadline_left, NULL);
    deadline_set = 1;
  }
  if (exec_undid_sigint) cr_runtime_catch_sigint(rt);
  if (exec_undid_sigpipe) {
    signal(SIGPIPE, SIG_IGN);
    sigpipe_ignored_here = 1;
  }
  cr_foreground_resume();
}

void cr_runtime_sigint_enter(cr_runtime *rt, cr_sigint_scope *scope) {
  memset(scope, 0, sizeof *scope);
  if (sigint_installed) return; /* the executable's, for the whole run */
  if (sigaction(SIGINT, NULL, &scope->old) != 0) return;
  if (!(scope->old.sa_flags & SA_SIGINFO) && scope->old.sa_handler == SIG_IGN)
    return; /* a host that ignores Ctrl-C (or a background job) means it */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  scope->old_runtime = sigint_runtime;
  sigint_runtime = rt;
  sigint_seen = 0;
  if (sigaction(SIGINT, &sa, NULL) != 0) {
    sigint_runtime = scope->old_runtime;
    return;
  }
  scope->installed = 1;
}

int cr_runtime_sigint_leave(cr_runtime *rt, cr_sigint_scope *scope) {
  if (!scope->installed) return 0;
  sigaction(SIGINT, &scope->old, NULL);
  scope->installed = 0;
  sigint_runtime = scope->old_runtime;
  /* the handler cannot run any more: the flags are ours to read and clear */
  if (!sigint_seen && rt->stop != CR_STOP_INTERRUPT) return 0;
  sigint_seen = 0;
  if (cr_stop_request == CR_STOP_INTERRUPT) cr_stop_request = CR_STOP_NONE;
  if (rt->stop == CR_STOP_INTERRUPT) rt->stop = CR_STOP_NONE;
  cr_tasks_free_unobserved(rt, 0); /* failed by the interruption: not reported, as in the executable */
  return 1;
}

/* A timer signal, so that the deadline stops a CPU loop that never returns to
 * the event loop (no hook runs before it is due). */
void cr_runtime_set_deadline(cr_runtime *rt, double seconds) {
  if (seconds <= 0) return;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_deadline;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (!sigint_runtime) sigint_runtime = rt;
  if (sigaction(SIGALRM, &sa, NULL) != 0) return;
  long long us = (long long)(cr_seconds_clamp(seconds) * 1e6 + 0.5); /* no UB for 1e308 */
  if (us < 1) us = 1;
  struct itimerval it = {{0, 0}, {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)}};
  setitimer(ITIMER_REAL, &it, NULL);
  deadline_set = 1;
}

void cr_runtime_stop(cr_runtime *rt, cr_stop_reason why) {
  if (!rt->stop) rt->stop = why;
  if (!cr_stop_request) cr_stop_request = why;
  cr_tasks_cancel_all(rt);
}

static void take_stop_request(cr_runtime *rt) {
  if (rt->interactive && cr_stop_request == CR_STOP_INTERRUPT) return; /* the REPL's to handle */
  if (cr_stop_request && !rt->stop) cr_runtime_stop(rt, (cr_stop_reason)cr_stop_request);
}

void cr_runtime_set_interactive(cr_runtime *rt, int on) {
  rt->interactive = on;
}

void cr_runtime_set_interrupt_target(cr_runtime *rt, cr_task *target) {
  rt->interrupt_target = target;
}

int cr_runtime_take_interrupt(cr_runtime *rt) {
  (void)rt;
  if (cr_stop_request != CR_STOP_INTERRUPT) return 0;
  cr_stop_request = CR_STOP_NONE;
  sigint_seen = 0;
  return 1;
}

/* ---- the scheduler ----------------------------------------------------------------------- */

static int run_ready_tasks(cr_runtime *rt, lua_State *from) {
  cr_task *t;
  int ran = 0;
  while ((t = cr_ready_pop(rt)) != NULL) {
    if (t->state != CR_TASK_READY && t->state != CR_TASK_WAITING) continue;
    /* libuv caches the loop's clock per iteration: a timer started from Lua after
     * the loop sat idle (the REPL, between cr.run calls) would fire early. */
    uv_update_time(&rt->loop);
    cr_task_ref(t); /* it may finish, and lose its last reference, inside */
    cr_task_resume(t, from);
    cr_task_unref(t);
    take_stop_request(rt);
    ran = 1;
  }
  return ran;
}

int cr_runtime_run_ready(cr_runtime *rt, lua_State *from) {
  lua_State *saved_from = rt->from;
  rt->from = from;
  rt->running = 1;
  take_stop_request(rt);
  int ran = run_ready_tasks(rt, from);
  rt->running = 0;
  rt->from = saved_from;
  return ran;
}

int cr_runtime_has_ready(cr_runtime *rt) { return rt->ready_head != NULL; }

int cr_runtime_wait(cr_runtime *rt) {
  int active = uv_run(&rt->loop, UV_RUN_ONCE);
  return active || rt->ready_head != NULL;
}

int cr_runtime_run(cr_runtime *rt, lua_State *from) {
  int rc = 0;
  lua_State *saved_from = rt->from;
  rt->running = 1;
  rt->from = from;
  for (;;) {
    take_stop_request(rt);
    run_ready_tasks(rt, from);
    if (rt->live_count == 0) break;
    if (rt->ready_head) continue;
    int active = uv_run(&rt->loop, UV_RUN_ONCE);
    take_stop_request(rt);
    if (!active && !rt->ready_head && rt->live_count > 0) {
      fprintf(stderr, "connrecipe: %d task(s) wait for each other with nothing pending "
                      "(a join cycle?); cancelling them\n", rt->live_count);
      cr_tasks_cancel_all(rt);
      rc = -1;
    }
  }
  uv_run(&rt->loop, UV_RUN_DEFAULT); /* handles of cancelled ops finish closing */
  rt->running = 0;
  rt->from = saved_from;
  return rc;
}

int cr_runtime_report_unobserved(cr_runtime *rt) { return cr_tasks_free_unobserved(rt, 1); }
int cr_runtime_has_unobserved(cr_runtime *rt) { return rt->unobserved != NULL; }
