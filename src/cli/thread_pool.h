/* libuv's thread pool (the /proc walks, name resolution), started up front. */
#ifndef CONNRECIPE_CLI_THREAD_POOL_H
#define CONNRECIPE_CLI_THREAD_POOL_H

/* Starts libuv's thread pool now, so that a process or thread limit that is
 * reached (ulimit -u, a pids cgroup's pids.max) or a memory limit too low for
 * the threads' stacks (ulimit -v) is one line on stderr and -1, instead of
 * libuv's abort() at the first lookup. Returns 0 when the pool runs. */
int thread_pool_start(void);

#endif
