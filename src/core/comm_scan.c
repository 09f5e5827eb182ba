/* cr_process_pids_by_comm: which processes run a given program, told by the
 * comm alone (no status, no cmdline), for a scan of every process on the
 * host that must stay cheap: ~2 us per process here. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connrecipe/process.h"

/* Which of the names is the comm of /proc/PID (read relative to procfd)? -1: none. */
static int comm_is(int procfd, pid_t pid, const char *const *names, size_t n) {
  char path[32], comm[64];
  snprintf(path, sizeof path, "%d/comm", (int)pid);
  int fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1; /* gone, or not ours to read */
  ssize_t len = read(fd, comm, sizeof comm - 1);
  close(fd);
  if (len <= 0) return -1;
  if (comm[len - 1] == '\n') len--;
  comm[len] = '\0';
  for (size_t i = 0; i < n; i++)
    if (strcmp(comm, names[i]) == 0) return (int)i;
  return -1;
}

int cr_process_pids_by_comm(const char *const *names, size_t n, pid_t **out, int **which) {
  *out = NULL;
  *which = NULL;
  int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (procfd < 0) return -errno;
  pid_t *pids = NULL;
  size_t count = 0;
  int rc = cr_process_pids_at(procfd, &pids, &count);
  int *idx = rc < 0 ? NULL : malloc((count ? count : 1) * sizeof *idx);
  if (rc < 0 || !idx) {
    free(pids);
    close(procfd);
    return rc < 0 ? rc : -ENOMEM;
  }
  size_t kept = 0;
  for (size_t i = 0; i < count; i++) {
    int k = comm_is(procfd, pids[i], names, n);
    if (k < 0) continue;
    idx[kept] = k;
    pids[kept++] = pids[i];
  }
  close(procfd);
  *out = pids;
  *which = idx;
  return (int)kept;
}
