/* getdents64(2), which glibc wraps only since 2.30 and not for every libc:
 * the /proc walks read directories with it, without readdir's allocation. */
#ifndef CONNRECIPE_CORE_DIRENT64_H
#define CONNRECIPE_CORE_DIRENT64_H

#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

struct cr_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

static inline long cr_getdents64(int fd, void *buf, size_t n) {
  return syscall(SYS_getdents64, fd, buf, n);
}

#endif
