/* libuv's thread pool, started before anything needs it (see thread_pool.c). */
#ifndef CONNRECIPE_RUNTIME_THREAD_POOL_H
#define CONNRECIPE_RUNTIME_THREAD_POOL_H

#include <signal.h>
#include <stddef.h>

/* The executable started the pool itself (src/cli/thread_pool.c). */
void cr_thread_pool_note_started(void);

/* Starts libuv's pool unless it runs already, after checking that its
 * threads can all be created; 0, or -1 with the reason in why. */
int cr_thread_pool_ensure(char *why, size_t len);

/* Around the creation of the pool: blocks in the calling thread the signals
 * the workers must never take (they inherit its mask), saving its mask in
 * before; cr_thread_pool_unmask restores it. A termination signal sent while
 * the thread running Lua holds it back (cr.exec, between the fork and the
 * child's registration for forwarding) would otherwise be taken by a worker
 * at once, whose default action ends the process under the child. */
void cr_thread_pool_mask(sigset_t *before);
void cr_thread_pool_unmask(const sigset_t *before);

#endif
