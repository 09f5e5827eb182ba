/* libuv starts its thread pool at the first uv_queue_work or uv_getaddrinfo
 * and calls abort() when a thread cannot be created. Starting it here, with
 * that abort caught, turns it into one line and exit status 3. (No thread of
 * our own is tried first for pthread_create's errno: a thread costs ~0.4 ms
 * of CPU on a VM, at every start; the errno of a limit is EAGAIN anyway.) */
#include "cli/thread_pool.h"
#include "runtime/thread_pool.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define LIMITS_HINT                                                                                \
  "a limit is reached: on processes and threads (ulimit -u, a cgroup's pids.max) or on memory "    \
  "(ulimit -v)"

/* Only while libuv creates its threads: its abort() means one failed. */
static void on_pool_abort(int sig) {
  (void)sig;
  static const char msg[] = "connrecipe: cannot start libuv's thread pool: a thread cannot be "
                            "created (" LIMITS_HINT ")\n";
  ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)ignored;
  _exit(3);
}

static void no_work(uv_work_t *req) { (void)req; }
static void after_no_work(uv_work_t *req, int status) {
  (void)req;
  (void)status;
}

int thread_pool_start(void) {
  uv_loop_t loop;
  int rc = uv_loop_init(&loop);
  if (rc != 0) {
    fprintf(stderr, "connrecipe: cannot create an event loop: %s\n", uv_strerror(rc));
    return -1;
  }
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_pool_abort;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGABRT, &sa, &old);
  sigset_t before;
  /* the workers never take SIGINT, SIGTERM, ... (runtime/thread_pool.h) */
  cr_thread_pool_mask(&before);
  uv_work_t req;
  rc = uv_queue_work(&loop, &req, no_work, after_no_work); /* creates the threads, once */
  cr_thread_pool_unmask(&before);
  sigaction(SIGABRT, &old, NULL);
  if (rc == 0) uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  if (rc != 0) {
    fprintf(stderr, "connrecipe: cannot start libuv's thread pool: %s\n", uv_strerror(rc));
    return -1;
  }
  cr_thread_pool_note_started(); /* the module's own check is not needed */
  return 0;
}
