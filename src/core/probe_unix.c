/* A Unix-domain socket connect. It never blocks on Linux (a full backlog is
 * EAGAIN on a non-blocking socket), so the answer is immediate. A path that is
 * not a socket also answers ECONNREFUSED, so refusals are checked with stat()
 * to tell a stale socket file from a regular file. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "connrecipe/probe.h"

static int connect_as(const struct sockaddr_un *a, socklen_t len, int type) {
  int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int err = connect(fd, (const struct sockaddr *)a, len) == 0 ? 0 : errno;
  close(fd);
  return err;
}

int cr_unix_probe(const char *path, cr_unix_probe_result *r) {
  memset(r, 0, sizeof *r);
  uint64_t t0 = uv_hrtime();
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  size_t n = strlen(path);
  int abstract = path[0] == '@';
  if (n >= sizeof a.sun_path || n == 0) {
    r->err = n ? ENAMETOOLONG : ENOENT;
    r->status = CR_PROBE_ERROR;
    return n ? -1 : 0;
  }
  memcpy(a.sun_path, path, n);
  if (abstract) a.sun_path[0] = '\0'; /* "@name": the abstract name "name" */
  socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (abstract ? 0 : 1));

  /* a client of the wrong socket type gets EPROTOTYPE: try the other types */
  static const int types[] = {SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM};
  int err = EPROTOTYPE;
  for (size_t i = 0; i < 3 && err == EPROTOTYPE; i++) {
    err = connect_as(&a, len, types[i]);
    r->socket_type = types[i];
  }
  r->ms = (double)(uv_hrtime() - t0) / 1e6;
  r->err = err;
  struct stat st;
  if (err == ECONNREFUSED && !abstract && stat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
    r->status = CR_PROBE_NOT_A_SOCKET;
  } else if (err == ENOTDIR) {
    r->status = CR_PROBE_MISSING; /* a path component is a file */
  } else {
    r->status = cr_probe_classify(err);
    if (r->status == CR_PROBE_TIMEOUT) r->status = CR_PROBE_BUSY;
  }
  if (err) r->socket_type = 0;
  return 0;
}
