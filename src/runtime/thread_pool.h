/* libuv's thread pool, started before anything needs it (see thread_pool.c). */
#ifndef CONNRECIPE_RUNTIME_THREAD_POOL_H
#define CONNRECIPE_RUNTIME_THREAD_POOL_H

#include <stddef.h>

/* The executable started the pool itself (src/cli/thread_pool.c). */
void cr_thread_pool_note_started(void);

/* Starts libuv's pool unless it runs already, after checking that its
 * threads can all be created; 0, or -1 with the reason in why. */
int cr_thread_pool_ensure(char *why, size_t len);

#endif
