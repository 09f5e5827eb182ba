/* Closed standard fds at start, write errors on stdout at exit. */
#include "cli/std_streams.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A closed 0, 1 or 2 would be handed out by the next open(): libuv asserts
 * that its own fds are above 2, and a child given "our stdout" would write
 * into a pipe or file we opened for something else. */
int std_streams_reopen_closed(void) {
  for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    int got = open("/dev/null", fd == STDIN_FILENO ? O_RDONLY : O_WRONLY);
    if (got == fd) continue;
    if (got >= 0) close(got);
    return -1; /* open() returns the lowest free fd: it can only be fd */
  }
  return 0;
}

static int failure_status;
static int first_flush_errno; /* of the first flush of ours that failed */
static int saw_failure;       /* a flush of ours, or a write before it, failed */

/* Remembered here as well as in the stream: main may swap stdout back to
 * glibc's after this (the counted stdout of a recipe run). */
void std_streams_flush_stdout(void) {
  if (ferror(stdout)) saw_failure = 1;
  errno = 0;
  if (fflush(stdout) != 0) {
    saw_failure = 1;
    if (!first_flush_errno) first_flush_errno = errno;
  }
}

/* The reader of a pipe or socket on fd went away: poll says so, even after
 * stdio has thrown away the errno of the write that failed. */
static int reader_gone(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLOUT};
  return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP));
}

static void check_stdout(void) {
  int failed_before = ferror(stdout) || saw_failure;
  errno = 0;
  int flush_failed = fflush(stdout) != 0;
  int err = flush_failed ? errno : first_flush_errno;
  if (!failed_before && !flush_failed) return;
  if (err == EPIPE || (err == 0 && reader_gone(STDOUT_FILENO))) return;
  /* stdio keeps no errno for an earlier failed write, only the error flag */
  fprintf(stderr, "connrecipe: cannot write to standard output%s%s; the output is incomplete\n",
          err ? ": " : "", err ? strerror(err) : "");
  _exit(failure_status); /* allowed in an exit handler; exit() again is not */
}

int std_streams_check_at_exit(int status) {
  failure_status = status;
  return atexit(check_stdout) == 0 ? 0 : -1;
}
