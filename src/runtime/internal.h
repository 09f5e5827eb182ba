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
  uv_timer_t deadline_timer;
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
  cr_stop_reason stop;
};

/* Set from signal handlers and the count hook; read by the scheduler. */
extern volatile sig_atomic_t cr_stop_request;

/* runtime.c, for new tasks: the count hook that interrupts CPU-bound Lua, unless
 * the thread already has a hook (a user's debug.sethook, inherited) */
void cr_runtime_hook_thread(lua_State *co);

/* task.c, for the scheduler */
void cr_task_resume(cr_task *t, lua_State *from);
void cr_ready_push(cr_task *t);
cr_task *cr_ready_pop(cr_runtime *rt);
void cr_tasks_cancel_all(cr_runtime *rt);
int cr_tasks_free_unobserved(cr_runtime *rt, int report);
int cr_task_descends_from(const cr_task *t, const cr_task *ancestor);

#endif
