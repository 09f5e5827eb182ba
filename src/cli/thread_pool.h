/* libuv's thread pool (the /proc walks, name resolution), started by the
 * first piece of work queued on it. */
#ifndef CONNRECIPE_CLI_THREAD_POOL_H
#define CONNRECIPE_CLI_THREAD_POOL_H

/* Makes the first submission to libuv's pool (which creates its threads)
 * safe: a process or thread limit that is reached (ulimit -u, a pids
 * cgroup's pids.max) or a memory limit too low for the threads' stacks
 * (ulimit -v) is one line on stderr and exit status 3, after what was
 * printed so far, instead of libuv's abort(). */
void thread_pool_on_demand(void);

#endif
