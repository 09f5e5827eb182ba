/* The owner walk as a BPF task-file iterator (task_file.bpf.c, CO-RE,
 * loaded with libbpf): one read() of the iterator's fd gets a (tgid, fd,
 * inode) record per socket fd of every process. Prints their count and where
 * the time went: loading (BTF, verifier) and iterating. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "task_file.skel.h"

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(void) {
  double t0 = now_ms();
  struct task_file_bpf *skel = task_file_bpf__open_and_load();
  if (!skel) return perror("bpfwalk: load"), 1;
  double t1 = now_ms();
  struct bpf_link *link = bpf_program__attach_iter(skel->progs.dump_task_file, NULL);
  if (!link) return perror("bpfwalk: attach"), 1;
  int fd = bpf_iter_create(bpf_link__fd(link));
  if (fd < 0) return perror("bpfwalk: iter_create"), 1;
  static uint64_t buf[1 << 16];
  long records = 0;
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0)
    records += n / 16;
  if (n < 0) return perror("bpfwalk: read"), 1;
  double t2 = now_ms();
  close(fd);
  bpf_link__destroy(link);
  task_file_bpf__destroy(skel);
  printf("bpfwalk: %ld socket fds; load %.1f ms, attach and iterate %.1f ms\n", records, t1 - t0, t2 - t1);
  return 0;
}
