/* A TCP socket made inside another network namespace: a socket stays in the
 * namespace it was made in, so a probe connects from there while the rest of
 * the program stays here. Shared by the TCP and TLS probes. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connrecipe/probe.h"

/* The calling thread enters `netns` for the socket() call only and goes back
 * at once. -1 and errno on failure (the namespace file unreadable, no right
 * to enter it). */
int cr_socket_in(const char *netns, int family) {
  if (!netns) return socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int target = open(netns, O_RDONLY | O_CLOEXEC);
  if (target < 0) return -1;
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  int fd = -1, err = errno;
  if (self >= 0 && setns(target, CLONE_NEWNET) == 0) {
    fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    err = errno;
    if (setns(self, CLONE_NEWNET) != 0) abort(); /* we came from there: cannot fail */
  } else {
    err = errno;
  }
  close(target);
  if (self >= 0) close(self);
  errno = err;
  return fd;
}
