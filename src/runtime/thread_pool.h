/* libuv's thread pool, started when first needed, before anything is queued
 * on it (see thread_pool.c). */
#ifndef CONNRECIPE_RUNTIME_THREAD_POOL_H
#define CONNRECIPE_RUNTIME_THREAD_POOL_H

#include <signal.h>
#include <stddef.h>
#include <uv.h>

/* Starts libuv's pool unless it runs already (or the executable starts it
 * on demand: cr_thread_pool_set_hooks), after checking that its threads
 * can all be created; 0, or -1 with the reason in why. For the Lua module,
 * at require: it must never let libuv abort() its host. */
int cr_thread_pool_ensure(char *why, size_t len);

/* The executable's hooks around the submission that creates the pool
 * (src/cli/thread_pool.c: libuv's abort() caught, one line, exit 3). Without
 * them (the Lua module) the pool was started at require. */
void cr_thread_pool_set_hooks(void (*before)(void), void (*after)(void));

/* Every uv_queue_work and uv_getaddrinfo goes between these two: the first
 * one starts libuv's pool, which creates its four threads then (~0.4 ms of
 * CPU each on a VM: a run that never needs them, a probe, a scan, `-e`, does
 * not pay for them), with the signals below blocked and the executable's
 * hooks around it. cr_thread_pool_leave gets the submission's result. */
typedef struct {
  int starting;
  sigset_t mask;
} cr_pool_guard;
void cr_thread_pool_enter(cr_pool_guard *g);
void cr_thread_pool_leave(cr_pool_guard *g, int rc);

/* uv_queue_work between the two. */
int cr_queue_work(uv_loop_t *loop, uv_work_t *req, uv_work_cb work, uv_after_work_cb after);

/* Around the creation of the pool: blocks in the calling thread the signals
 * the workers must never take (they inherit its mask), saving its mask in
 * before; cr_thread_pool_unmask restores it. A termination signal sent while
 * the thread running Lua holds it back (cr.exec, between the fork and the
 * child's registration for forwarding) would otherwise be taken by a worker
 * at once, whose default action ends the process under the child. */
void cr_thread_pool_mask(sigset_t *before);
void cr_thread_pool_unmask(const sigset_t *before);

#endif
