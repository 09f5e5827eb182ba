/* libuv starts its thread pool at the first uv_queue_work or uv_getaddrinfo
 * and calls abort() when one of its threads cannot be created. The executable
 * starts the pool itself when it is first needed (src/cli/thread_pool.c,
 * where an abort can be caught and turned into a message); connrecipe.so, loaded by
 * another program's Lua, must not kill its host: it checks that as many
 * threads as the pool will have can run at once, raises a Lua error from
 * require when they cannot, and only then lets libuv start its pool. */
#include "runtime/thread_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* libuv's pool size: UV_THREADPOOL_SIZE, 4 when unset, clamped as libuv does */
#define POOL_DEFAULT 4
#define POOL_MAX 1024

static int pool_started;
static void (*hook_before)(void), (*hook_after)(void);

void cr_thread_pool_set_hooks(void (*before)(void), void (*after)(void)) {
  hook_before = before;
  hook_after = after;
}

/* As libuv reads it: atoi into an unsigned (so "-1" is huge), 0 -> 1. */
static int pool_size(void) {
  const char *v = getenv("UV_THREADPOOL_SIZE");
  unsigned n = v ? (unsigned)atoi(v) : POOL_DEFAULT;
  if (n == 0) n = 1;
  if (n > POOL_MAX) n = POOL_MAX;
  return (int)n;
}

/* Each test thread waits until released, so that all of them exist at once. */
typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t released_cond;
  int released;
} hold;

static void *held_thread(void *arg) {
  hold *h = arg;
  pthread_mutex_lock(&h->lock);
  while (!h->released) pthread_cond_wait(&h->released_cond, &h->lock);
  pthread_mutex_unlock(&h->lock);
  return NULL;
}

/* 0 when `count` threads could be created together, else the error number. */
static int threads_fit(int count) {
  hold h = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
  pthread_t *threads = calloc((size_t)count, sizeof *threads);
  if (!threads) return ENOMEM;
  int made = 0, rc = 0;
  while (made < count && (rc = pthread_create(&threads[made], NULL, held_thread, &h)) == 0) made++;
  pthread_mutex_lock(&h.lock);
  h.released = 1;
  pthread_cond_broadcast(&h.released_cond);
  pthread_mutex_unlock(&h.lock);
  for (int i = 0; i < made; i++) pthread_join(threads[i], NULL);
  free(threads);
  return rc;
}

static void no_work(uv_work_t *req) { (void)req; }
static void after_no_work(uv_work_t *req, int status) {
  (void)req;
  (void)status;
}

void cr_thread_pool_mask(sigset_t *before) {
  sigset_t async;
  sigemptyset(&async);
  sigaddset(&async, SIGINT);
  sigaddset(&async, SIGTERM);
  sigaddset(&async, SIGHUP);
  sigaddset(&async, SIGQUIT);
  sigaddset(&async, SIGALRM);
  pthread_sigmask(SIG_BLOCK, &async, before);
}

void cr_thread_pool_unmask(const sigset_t *before) { pthread_sigmask(SIG_SETMASK, before, NULL); }

/* Queues one empty piece of work on a loop of its own: libuv creates its pool. */
static int start_libuv_pool(void) {
  uv_loop_t loop;
  int rc = uv_loop_init(&loop);
  if (rc != 0) return rc;
  uv_work_t req;
  sigset_t before;
  cr_thread_pool_mask(&before);
  rc = uv_queue_work(&loop, &req, no_work, after_no_work); /* creates the threads, once */
  cr_thread_pool_unmask(&before);
  if (rc == 0) uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return rc;
}

int cr_thread_pool_ensure(char *why, size_t len) {
  if (pool_started || hook_before) return 0; /* running, or the executable starts it on demand */
  int rc = threads_fit(pool_size());
  if (rc != 0) {
    snprintf(why, len,
             "cannot create a thread: %s (a limit is reached: on processes and threads (ulimit -u, "
             "a cgroup's pids.max) or on memory (ulimit -v))",
             strerror(rc));
    return -1;
  }
  rc = start_libuv_pool();
  if (rc != 0) {
    snprintf(why, len, "cannot start libuv's thread pool: %s", uv_strerror(rc));
    return -1;
  }
  pool_started = 1;
  return 0;
}

void cr_thread_pool_enter(cr_pool_guard *g) {
  g->starting = !pool_started;
  if (!g->starting) return;
  if (hook_before) hook_before();
  cr_thread_pool_mask(&g->mask);
}

void cr_thread_pool_leave(cr_pool_guard *g, int rc) {
  if (!g->starting) return;
  cr_thread_pool_unmask(&g->mask);
  if (hook_after) hook_after();
  if (rc == 0) pool_started = 1;
}

int cr_queue_work(uv_loop_t *loop, uv_work_t *req, uv_work_cb work, uv_after_work_cb after) {
  cr_pool_guard g;
  cr_thread_pool_enter(&g);
  int rc = uv_queue_work(loop, req, work, after);
  cr_thread_pool_leave(&g, rc);
  return rc;
}
