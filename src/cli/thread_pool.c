/* libuv starts its thread pool at the first uv_queue_work or uv_getaddrinfo
 * and calls abort() when a thread cannot be created. Around that first
 * submission (runtime/thread_pool.c calls these hooks), the abort is caught
 * and turned into one line and exit status 3. (No thread of our own is tried
 * first for pthread_create's errno: a thread costs ~0.4 ms of CPU on a VM;
 * the errno of a limit is EAGAIN anyway.) */
#include "cli/thread_pool.h"
#include "cli/std_streams.h"
#include "runtime/thread_pool.h"

#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LIMITS_HINT                                                                                \
  "a limit is reached: on processes and threads (ulimit -u, a cgroup's pids.max) or on memory "    \
  "(ulimit -v)"

static pid_t starting_thread; /* the thread whose submission starts the pool */

/* Only while libuv creates its threads: its abort() in the thread that
 * submitted the first work means one failed. An abort elsewhere meanwhile
 * (a worker already running that work) is not this: it is let through. */
static void on_pool_abort(int sig) {
  if ((pid_t)syscall(SYS_gettid) != starting_thread) {
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  static const char msg[] = "connrecipe: cannot start libuv's thread pool: a thread cannot be "
                            "created (" LIMITS_HINT ")\n";
  ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)ignored;
  _exit(3);
}

static struct sigaction before_abort;

static void catch_abort(void) {
  std_streams_flush_stdout(); /* the handler ends the process with _exit */
  starting_thread = (pid_t)syscall(SYS_gettid);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_pool_abort;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGABRT, &sa, &before_abort);
}

static void release_abort(void) { sigaction(SIGABRT, &before_abort, NULL); }

void thread_pool_on_demand(void) { cr_thread_pool_set_hooks(catch_abort, release_abort); }
