/* Which reader fills the table, per kind: netlink sock_diag first, the
 * /proc/net file when the netlink family or protocol is missing (as ss's
 * tcp_show decides). The readers themselves are sockdiag.c and procnet.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "connrecipe/sockets.h"

/* Errors after which the /proc/net file is worth reading: the kernel lacks
 * the netlink family or protocol, or it is not ours to use. */
static int netlink_unavailable(int rc) {
  return rc == -ENOENT || rc == -EPROTONOSUPPORT || rc == -EACCES || rc == -EPERM;
}

/* A missing /proc file (tcp6 without IPv6) is recorded, not an error. */
static int dump_in(cr_sock_table *t, const cr_sock_query *q, uint64_t netns, const char *procdir,
                   int use_netlink) {
  int first_error = 0;
  for (int kind = 0; kind < CR_KIND_COUNT; kind++) {
    if (q->protos && !(q->protos & cr_sock_kind_proto(kind))) continue;
    if (q->family && q->family != cr_sock_kind_family(kind)) continue;
    int rc = use_netlink ? cr_sockdiag_dump_kind(t, kind, q, netns) : -ENOENT;
    if (rc == 0) {
      t->netlink_kinds |= 1u << kind;
      continue;
    }
    if (!netlink_unavailable(rc)) {
      if (!first_error) first_error = rc;
      continue;
    }
    rc = cr_procnet_read_kind(t, kind, procdir, q, netns);
    if (rc == 0)
      t->proc_kinds |= 1u << kind;
    else if (rc == -ENOENT)
      t->missing_kinds |= 1u << kind;
    else if (!first_error)
      first_error = rc;
  }
  return first_error;
}

int cr_sock_dump(cr_sock_table *t, const cr_sock_query *q, uint64_t netns_inode) {
  /* /proc/thread-self: after setns() on this thread, /proc/self/net would
   * still show the main thread's namespace. */
  const char *env = getenv("CONNRECIPE_SOCK_DIAG"); /* "off": test the fallback */
  int use_netlink = !(env && strcmp(env, "off") == 0);
  return dump_in(t, q, netns_inode, "/proc/thread-self/net", use_netlink);
}

/* Only /proc/<pid>/net: the way into a namespace without privilege. */
int cr_sock_dump_procfs(cr_sock_table *t, const cr_sock_query *q, uint64_t netns_inode,
                        const char *procdir) {
  return dump_in(t, q, netns_inode, procdir, 0);
}
