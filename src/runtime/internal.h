/* Structures shared by runtime.c (loop, scheduler, stop) and task.c (tasks, ops). */
#ifndef CONNRECIPE_RUNTIME_INTERNAL_H
#define CONNRECIPE_RUNTIME_INTERNAL_H

#include <signal.h>

#include "runtime/runtime.h"

struct cr_task {
  cr_runtime *rt;
  lua_State *co; /* the coroutine; kept (co_ref) until the task is freed */
  int co_ref;
  int err_ref;    /* the error value of a failed task */
  char *message, *traceback; /* of a failed task */
  cr_task_state state;
  int id;
  int refs;       /* the runtime's while unfinished or unobserved, the Lua userdata's */
  int start_nargs;   /* arguments waiting on the stack for the first resume */
  int nresults;      /* values left on co's stack by a finished task */
  int cancel_pending; /* cancelled while running: finish as cancelled at the next yield */
  int observed;       /* somebody looked at the outcome */
  int finishing;      /* in finish_failed/finish_cancelled: __close handlers may run */
  int relay_ref;      /* the task's own coroutines waiting with it, innermost first */
  cr_op *op;          /* the op the task waits for */
  cr_task *parent, *first_child, *next_sibling, *prev_sibling;
  cr_task *ready_prev, *ready_next;
  int in_ready;
  cr_task *live_prev, *live_next;       /* unfinished tasks */
  cr_task *unobs_next;                  /* failed tasks nobody looked at */
  cr_watch *watches;
};

struct cr_runtime {
  lua_State *L; /* the main thread */
  uv_loop_t loop;
  uv_async_t wakeup;      /* a signal handler's way into the loop */
  cr_task *current;       /* the task being resumed */
  lua_State *from;        /* the thread running the scheduler */
  cr_task *ready_head, *ready_tail;
  cr_task *live_head;
  int live_count;
  cr_task *unobserved;
  int next_id;
  int running;
  int interactive;          /* the REPL handles Ctrl-C itself */
  cr_task *interrupt_target; /* interactive: the task Ctrl-C interrupts */
  cr_task *closing;          /* a cancelled task whose __close handlers run */
  cr_stop_reason stop;
};

/* Set from signal handlers; read by the scheduler and the stop hook. */
extern volatile sig_atomic_t cr_stop_request;

/* runtime.c: the Lua thread running now, for the signal handlers. No hook is
 * installed until a stop is due (as lua.c's laction does): the handlers hook
 * the running thread, and every switch to another thread (a resume, a return
 * from one) hooks that thread while a stop is pending. */
void cr_runtime_enter_thread(lua_State *co);
extern lua_State *volatile cr_running_thread;
void cr_runtime_hook_for_stop(lua_State *co);
/* cr_runtime_enter_thread, inlined for the coroutine library's hot path */
static inline void cr_enter_thread(lua_State *co) {
  cr_running_thread = co;
  if (cr_stop_request) cr_runtime_hook_for_stop(co);
}

/* Values left on a coroutine's stack, so the coroutine library can tell who
 * may resume it (coroutines.c). */
extern char cr_async_marker;        /* yielded by an async call; stays on the stack of the
                                       task's own coroutines that wait with it */
extern char cr_task_waiting_marker; /* on top of a task's stack while it waits */
extern char cr_task_done_marker;    /* at the bottom of a finished task's stack */
/* The C function every task's coroutine starts with: calls the task's function
 * under a message handler (as lua.c runs its main chunk). */
int cr_task_main(lua_State *L);
/* The task being resumed by the scheduler (NULL between resumes). */
extern cr_task *cr_running_task;

/* coroutines.c: the resumes under way inside the running task, innermost first;
 * an async call needs every resuming thread to be able to yield. */
typedef struct cr_resume_frame {
  lua_State *from;
  struct cr_resume_frame *prev;
} cr_resume_frame;
extern cr_resume_frame *cr_resume_chain;
void cr_open_coroutines(lua_State *L);

/* task.c, for the coroutine library: co (one of the running task's own
 * coroutines) waits with the task; it is closed if the task is cancelled. */
void cr_task_note_relay(lua_State *L, lua_State *co);

/* task.c, for the scheduler */
void cr_task_resume(cr_task *t, lua_State *from);
void cr_ready_push(cr_task *t);
cr_task *cr_ready_pop(cr_runtime *rt);
void cr_tasks_cancel_all(cr_runtime *rt);
int cr_tasks_free_unobserved(cr_runtime *rt, int report);
int cr_task_descends_from(const cr_task *t, const cr_task *ancestor);

#endif
