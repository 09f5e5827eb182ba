/* The /proc owner walk alone, as src/core/owners.c does it on one thread:
 * getdents64 of /proc, then of each /proc/PID/fd, and a readlinkat per fd.
 * Prints how many fds are sockets. The baseline for bpfwalk.c. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct dirent64 {
  unsigned long long ino;
  long long off;
  unsigned short reclen;
  unsigned char type;
  char name[];
};

static long socket_fds(int dfd) {
  char buf[32768], link[64];
  long got, n = 0;
  while ((got = syscall(SYS_getdents64, dfd, buf, sizeof buf)) > 0)
    for (long off = 0; off < got;) {
      struct dirent64 *d = (struct dirent64 *)(buf + off);
      off += d->reclen;
      if (d->name[0] == '.') continue;
      ssize_t len = readlinkat(dfd, d->name, link, sizeof link);
      if (len > 8 && memcmp(link, "socket:[", 8) == 0) n++;
    }
  return n;
}

int main(void) {
  int proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  char buf[32768], path[32];
  long got, sockets = 0;
  if (proc < 0) return perror("/proc"), 1;
  while ((got = syscall(SYS_getdents64, proc, buf, sizeof buf)) > 0)
    for (long off = 0; off < got;) {
      struct dirent64 *d = (struct dirent64 *)(buf + off);
      off += d->reclen;
      if (d->name[0] < '1' || d->name[0] > '9') continue;
      snprintf(path, sizeof path, "%s/fd", d->name);
      int dfd = openat(proc, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd < 0) continue;
      sockets += socket_fds(dfd);
      close(dfd);
    }
  printf("procwalk: %ld socket fds\n", sockets);
  return 0;
}
