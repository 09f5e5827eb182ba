/* The async runtime: one lua_State, one uv_loop_t, coroutine tasks.
 *
 * Every recipe, -e chunk and REPL line runs as a task (a coroutine anchored in
 * the registry). An async binding starts libuv work, wraps it in an op and
 * returns cr_op_await(): the task yields. libuv callbacks never touch Lua: they
 * store results in the op and call cr_op_complete(), which queues the task.
 * Only the scheduler (cr_runtime_run) resumes tasks, pushing the op's results
 * as the values the yield returns. See docs/architecture.md. */
#ifndef CONNRECIPE_RUNTIME_H
#define CONNRECIPE_RUNTIME_H

#include <lua.h>
#include <signal.h>
#include <uv.h>

typedef struct cr_runtime cr_runtime;
typedef struct cr_task cr_task;
typedef struct cr_op cr_op;

/* ---- ops: one pending asynchronous operation of one task ------------------ */

typedef struct cr_op_type {
  const char *name;
  /* Stops the work (closes handles, cancels requests). Called at most once,
   * only before completion, when the waiting task is cancelled. Each handle's
   * close callback drops the reference it holds (cr_op_unref). */
  void (*cancel)(cr_op *op);
  /* Pushes the values the task's yield returns; returns how many. Called once,
   * by the scheduler, after completion. May push nil, message, code. */
  int (*push)(cr_op *op, lua_State *L);
  /* Frees memory the op owns besides itself; optional. Runs when the last
   * reference is dropped. */
  void (*destroy)(cr_op *op);
} cr_op_type;

struct cr_op {
  const cr_op_type *type;
  cr_runtime *rt;
  cr_task *task; /* the task waiting for it; NULL once it no longer waits */
  int refs;      /* one for the waiting task, one per open handle or request */
  int done;
};

/* Allocates a zeroed op of `size` bytes (a struct starting with cr_op) holding
 * one reference, the waiting task's. Raises a Lua memory error on failure. */
void *cr_op_new(lua_State *L, const cr_op_type *type, size_t size);
void cr_op_ref(cr_op *op);
void cr_op_unref(cr_op *op);
/* From a libuv callback: the results are stored, wake the waiting task. */
void cr_op_complete(cr_op *op);
/* Yields the current task until op completes: `return cr_op_await(L, op);`.
 * Call cr_check_async() before starting the work. */
int cr_op_await(lua_State *L, cr_op *op);

/* Raises a clear error unless an async call can wait here: inside a task and
 * not under a C boundary that cannot yield. fname names the caller. */
void cr_check_async(lua_State *L, const char *fname);

/* ---- tasks ---------------------------------------------------------------- */

typedef enum {
  CR_TASK_READY,
  CR_TASK_RUNNING,
  CR_TASK_WAITING,
  CR_TASK_DONE,
  CR_TASK_FAILED,
  CR_TASK_CANCELLED
} cr_task_state;

/* Creates a task that will call the function at stack index `fn_index` with the
 * nargs values above it (both popped) as a child of the current task, if any.
 * The task is queued to start at the next scheduler turn. The returned task
 * holds one reference for the runtime; the caller takes one more with
 * cr_task_ref() if it keeps the pointer. */
cr_task *cr_task_spawn(lua_State *L, int nargs);
/* The same for [then, fn, args...]: the task returns then(fn(args...)), called
 * in the same task once fn has returned (the recipe runner: the chunk stays
 * the bottom frame of its traceback, as lua.c's main chunk is). */
cr_task *cr_task_spawn_then(lua_State *L, int nargs);
void cr_task_ref(cr_task *t);
void cr_task_unref(cr_task *t);
cr_task_state cr_task_get_state(const cr_task *t);
const char *cr_task_state_name(cr_task_state s);
int cr_task_id(const cr_task *t);
/* Cancels the task and its live descendants: pending ops cancelled, handles
 * closed, to-be-closed variables closed. No effect on a finished task. */
void cr_task_cancel(cr_task *t);
/* For finished tasks: pushes true, results... (done) or false, error
 * (failed; "cancelled" when cancelled); returns the count. Marks the outcome as
 * seen, so a failure is not reported as unobserved. */
int cr_task_push_outcome(cr_task *t, lua_State *L);
/* Marks the outcome as seen without pushing it. */
void cr_task_observe(cr_task *t);
/* Message and traceback of a failed task (NULL otherwise). */
const char *cr_task_message(const cr_task *t);
const char *cr_task_traceback(const cr_task *t);

/* A "watch" lets an op wait for a task to finish (used by cr._wait). */
typedef struct cr_watch {
  cr_op *op;
  cr_task *task;
  int index;
  void (*on_finish)(struct cr_watch *w, cr_task *finished);
  struct cr_watch *prev, *next;
} cr_watch;
void cr_watch_add(cr_task *t, cr_watch *w);
void cr_watch_remove(cr_watch *w);

/* ---- the runtime ---------------------------------------------------------- */

typedef enum { CR_STOP_NONE = 0, CR_STOP_INTERRUPT, CR_STOP_DEADLINE } cr_stop_reason;

/* Creates the runtime for L and anchors it in L's registry; it is freed when
 * the state closes. Replaces the coroutine library's functions (but create)
 * with its own, which relay async calls made inside the recipe's coroutines.
 * No hook is installed: CPU-bound Lua is interrupted by a hook the signal
 * handlers set when a stop is due. */
cr_runtime *cr_runtime_open(lua_State *L);
cr_runtime *cr_runtime_get(lua_State *L);
uv_loop_t *cr_runtime_loop(cr_runtime *rt);
cr_task *cr_runtime_current(cr_runtime *rt);

/* Runs the loop and resumes ready tasks until no task is left (or a stop
 * request has cancelled them all). `from` is the thread calling it. Returns 0,
 * or -1 when tasks wait on each other with nothing pending (a deadlock; they
 * are cancelled). Not re-entrant. */
int cr_runtime_run(cr_runtime *rt, lua_State *from);
int cr_runtime_is_running(cr_runtime *rt);

/* For the REPL, which drives the loop itself: runs every ready task once
 * (no waiting); returns whether any ran. */
int cr_runtime_run_ready(cr_runtime *rt, lua_State *from);
/* Whether a task is ready to run (cr_runtime_run_ready would resume it). */
int cr_runtime_has_ready(cr_runtime *rt);
/* Waits once for I/O (uv_run UV_RUN_ONCE); returns 0 when nothing is left to
 * wait on and no task is ready. */
int cr_runtime_wait(cr_runtime *rt);

/* Interactive mode (the REPL): Ctrl-C neither cancels every task nor kills the
 * process; the caller takes it with cr_runtime_take_interrupt() and decides.
 * CPU-bound Lua is interrupted only in `target` and its descendants. */
void cr_runtime_set_interactive(cr_runtime *rt, int on);
void cr_runtime_set_interrupt_target(cr_runtime *rt, cr_task *target);
/* Whether Ctrl-C was pressed since the last call; clears it. */
int cr_runtime_take_interrupt(cr_runtime *rt);

/* Ctrl-C handling for the executable: the first SIGINT cancels every task (and
 * interrupts CPU-bound Lua), a second one kills the process. */
int cr_runtime_catch_sigint(cr_runtime *rt);
/* Ctrl-C around cr.run, for the Lua module in a host program (the stock lua5.4):
 * while the loop runs, SIGINT is caught as in the executable (the first one
 * cancels every task and interrupts CPU-bound Lua, a second one kills the
 * process); leaving restores the host's disposition. Nothing is installed
 * when the executable's handler is in place or the host ignores SIGINT. */
typedef struct {
  struct sigaction old;
  cr_runtime *old_runtime;
  int installed;
} cr_sigint_scope;
void cr_runtime_sigint_enter(cr_runtime *rt, cr_sigint_scope *scope);
/* Restores the disposition. Returns 1 when a Ctrl-C arrived in the scope: the
 * stop is then cleared (and the failures it caused discarded), so the runtime
 * can run again. */
int cr_runtime_sigint_leave(cr_runtime *rt, cr_sigint_scope *scope);
/* Before the process is replaced (execvp): the signal dispositions connrecipe
 * found at its start (SIGINT, SIGPIPE, SIGALRM, and those forwarded to
 * children), and no --deadline timer (it would survive the exec), so that the
 * new program starts as if run directly. */
void cr_runtime_prepare_exec(void);
/* The exec failed: the dispositions of the run again. */
void cr_runtime_exec_failed(cr_runtime *rt);
/* Whole-run limit: at expiry every task is cancelled. seconds <= 0: none. */
void cr_runtime_set_deadline(cr_runtime *rt, double seconds);
/* Cancels every task, as Ctrl-C does, recording why. */
void cr_runtime_stop(cr_runtime *rt, cr_stop_reason why);
cr_stop_reason cr_runtime_stop_reason(cr_runtime *rt);
/* A stop under way or only requested (the count hook raised, the scheduler has
 * not cancelled yet): a pcall that caught the hook's error must not swallow it. */
cr_stop_reason cr_runtime_stop_pending(cr_runtime *rt);
/* "deadline", "sigint", or NULL for CR_STOP_NONE. */
const char *cr_stop_reason_name(cr_stop_reason why);

/* Reports (to stderr) failed tasks whose error nobody looked at; returns how many. */
int cr_runtime_report_unobserved(cr_runtime *rt);
int cr_runtime_has_unobserved(cr_runtime *rt);

#endif
