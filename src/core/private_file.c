/* See private_file.h. */
#include "connrecipe/private_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int refuse(int fd, int err, char *why, size_t whylen, const char *reason) {
  if (fd >= 0) close(fd);
  snprintf(why, whylen, "%s", reason);
  errno = err;
  return -1;
}

/* The opened file is the one to write: ours, regular, not linked elsewhere. */
static int check_opened(int fd, char *why, size_t whylen) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    return refuse(fd, err, why, whylen, strerror(err));
  }
  if (!S_ISREG(st.st_mode)) return refuse(fd, EINVAL, why, whylen, "not a regular file");
  if (st.st_uid != geteuid()) {
    char reason[96];
    snprintf(reason, sizeof reason, "owned by another user (uid %u)", (unsigned)st.st_uid);
    return refuse(fd, EPERM, why, whylen, reason);
  }
  if (st.st_nlink > 1) return refuse(fd, EPERM, why, whylen, "has other hard links");
  return 0;
}

int cr_private_file_create(const char *path, char *why, size_t whylen) {
  /* O_NONBLOCK: a FIFO planted at PATH must not hang the open */
  int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
  if (fd < 0) {
    int err = errno;
    return refuse(-1, err, why, whylen, err == ELOOP ? "a symbolic link (not followed)" : strerror(err));
  }
  if (check_opened(fd, why, whylen) != 0) return -1;
  /* truncated only now that it is known to be ours */
  if (fchmod(fd, 0600) != 0 || ftruncate(fd, 0) != 0) {
    int err = errno;
    return refuse(fd, err, why, whylen, strerror(err));
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) (void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}
