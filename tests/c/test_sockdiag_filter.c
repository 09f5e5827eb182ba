/* The kernel-side port filter of the sock_diag dumps (sockdiag_filter.c), on
 * real sockets in a private network namespace (root only: unshare). A raw
 * dump with the filter attribute must return exactly the sockets an
 * unfiltered dump has on that port, no more, no fewer; and cr_sock_dump with
 * a port (netlink, and the /proc/net fallback) must agree with both. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "connrecipe/sockets.h"

#define PORT_A 47011
#define PORT_B 47012 /* the filtered port */
#define PORT_C 47013
#define MAX_INODES 64

typedef struct {
  uint64_t v[MAX_INODES];
  size_t n;
} inode_set;

static int in_private_netns = -1;

static uint64_t inode_of(int fd) {
  struct stat st;
  assert_int_equal(fstat(fd, &st), 0);
  return st.st_ino;
}

static int bound(int family, int type, uint16_t port) {
  int fd = socket(family, type | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  int one = 1;
  if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len;
  if (family == AF_INET) {
    struct sockaddr_in *sa = (struct sockaddr_in *)&ss;
    sa->sin_family = AF_INET;
    sa->sin_port = htons(port);
    len = sizeof *sa;
  } else {
    struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&ss;
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(port);
    len = sizeof *sa;
  }
  assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
  if (type == SOCK_STREAM) assert_int_equal(listen(fd, 4), 0);
  return fd;
}

/* One raw inet_diag dump of every state of (family, protocol), with or
 * without the port filter: the inodes of the sockets on `port` it returns
 * (filtered, it must return nothing else). */
static void raw_dump(int family, int protocol, int filter, uint16_t port, inode_set *out) {
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  assert_true(fd >= 0);
  struct {
    struct nlmsghdr nlh;
    struct inet_diag_req_v2 r;
    uint8_t filter[64];
  } req;
  memset(&req, 0, sizeof req);
  req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nlh.nlmsg_len = NLMSG_LENGTH(sizeof req.r);
  req.r.sdiag_family = (uint8_t)family;
  req.r.sdiag_protocol = (uint8_t)protocol;
  req.r.idiag_states = ~0u;
  if (filter) {
    size_t n = cr_sockdiag_port_filter(req.filter, sizeof req.filter, port);
    assert_true(n > 0);
    req.nlh.nlmsg_len += (uint32_t)n;
  }
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  assert_int_equal(sendto(fd, &req, req.nlh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa),
                   (ssize_t)req.nlh.nlmsg_len);
  static uint8_t buf[65536];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    assert_true(n > 0);
    size_t left = (size_t)n;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_DONE) {
        close(fd);
        return;
      }
      assert_int_not_equal(h->nlmsg_type, NLMSG_ERROR); /* the kernel accepted the bytecode */
      const struct inet_diag_msg *m = NLMSG_DATA(h);
      assert_true(out->n < MAX_INODES);
      if (filter) assert_int_equal(ntohs(m->id.idiag_sport), port); /* nothing else came */
      if (ntohs(m->id.idiag_sport) == port) out->v[out->n++] = m->idiag_inode;
    }
  }
}

static int has(const inode_set *s, uint64_t inode) {
  for (size_t i = 0; i < s->n; i++)
    if (s->v[i] == inode) return 1;
  return 0;
}

static void assert_same_set(const inode_set *a, const inode_set *b) {
  assert_int_equal(a->n, b->n);
  for (size_t i = 0; i < a->n; i++)
    assert_true(has(b, a->v[i]));
}

static int enter_private_netns(void **state) {
  (void)state;
  in_private_netns = geteuid() == 0 && unshare(CLONE_NEWNET) == 0;
  return 0;
}

typedef struct {
  int fds[16];
  int n;
  uint64_t on_b[8]; /* the sockets on PORT_B */
  int nb;
} fixture;

/* TCP and UDP, IPv4 and IPv6, on three ports; on PORT_B a listener of each
 * family, an accepted connection (local port PORT_B) and a UDP socket. The
 * connecting side's local port is ephemeral: not on PORT_B. */
static void make_sockets(fixture *f) {
  memset(f, 0, sizeof *f);
  uint16_t ports[] = {PORT_A, PORT_B, PORT_C};
  for (int i = 0; i < 3; i++) {
    int l4 = bound(AF_INET, SOCK_STREAM, ports[i]);
    int l6 = bound(AF_INET6, SOCK_STREAM, ports[i]);
    int u4 = bound(AF_INET, SOCK_DGRAM, ports[i]);
    f->fds[f->n++] = l4;
    f->fds[f->n++] = l6;
    f->fds[f->n++] = u4;
    if (ports[i] == PORT_B) {
      f->on_b[f->nb++] = inode_of(l4);
      f->on_b[f->nb++] = inode_of(l6);
      f->on_b[f->nb++] = inode_of(u4);
    }
  }
  /* lo is down in a fresh namespace: bring it up for the connection */
  assert_int_equal(system("ip link set lo up"), 0);
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(PORT_B),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(connect(c, (struct sockaddr *)&to, sizeof to), 0);
  int a = accept(f->fds[3], NULL, NULL); /* PORT_B's IPv4 listener */
  assert_true(a >= 0);
  f->fds[f->n++] = c;
  f->fds[f->n++] = a;
  f->on_b[f->nb++] = inode_of(a);
}

static void close_sockets(fixture *f) {
  for (int i = 0; i < f->n; i++)
    close(f->fds[i]);
}

static void kernel_filter_returns_exactly_the_port(void **state) {
  (void)state;
  if (!in_private_netns) skip(); /* needs root: a private network namespace */
  fixture f;
  make_sockets(&f);
  inode_set all = {0}, filtered = {0};
  int fams[] = {AF_INET, AF_INET6}, protos[] = {IPPROTO_TCP, IPPROTO_UDP};
  for (int i = 0; i < 2; i++) {
    for (int k = 0; k < 2; k++) {
      raw_dump(fams[i], protos[k], 0, PORT_B, &all); /* keeps PORT_B's only */
      raw_dump(fams[i], protos[k], 1, PORT_B, &filtered);
    }
  }
  assert_int_equal(all.n, (size_t)f.nb);
  assert_same_set(&all, &filtered);
  for (int i = 0; i < f.nb; i++)
    assert_true(has(&filtered, f.on_b[i]));
  close_sockets(&f);
}

/* cr_sock_dump with a port: the same sockets from netlink (kernel filter) and
 * from /proc/net (the table's own match), and a port with no socket gives an
 * empty table, not an error. */
static void dump_with_port_agrees_with_proc(void **state) {
  (void)state;
  if (!in_private_netns) skip(); /* needs root: a private network namespace */
  fixture f;
  make_sockets(&f);
  cr_sock_query q = {.protos = CR_PROTO_TCP | CR_PROTO_UDP, .has_port = 1, .port = PORT_B};
  cr_sock_table t = {0}, p = {0}, none = {0};
  assert_int_equal(cr_sock_dump(&t, &q, 1), 0);
  assert_true(t.netlink_kinds & (1u << CR_KIND_TCP4));
  setenv("CONNRECIPE_SOCK_DIAG", "off", 1);
  assert_int_equal(cr_sock_dump(&p, &q, 1), 0);
  unsetenv("CONNRECIPE_SOCK_DIAG");
  assert_true(p.proc_kinds & (1u << CR_KIND_TCP4));
  inode_set a = {0}, b = {0};
  for (size_t i = 0; i < t.n; i++)
    a.v[a.n++] = t.v[i].inode;
  for (size_t i = 0; i < p.n; i++)
    b.v[b.n++] = p.v[i].inode;
  assert_int_equal(a.n, (size_t)f.nb);
  assert_same_set(&a, &b);
  q.port = 9; /* nothing there */
  assert_int_equal(cr_sock_dump(&none, &q, 1), 0);
  assert_int_equal(none.n, 0);
  cr_sock_table_free(&t);
  cr_sock_table_free(&p);
  cr_sock_table_free(&none);
  close_sockets(&f);
}

static void filter_needs_room(void **state) {
  (void)state;
  uint8_t small[8], big[64];
  assert_int_equal(cr_sockdiag_port_filter(small, sizeof small, 80), 0);
  size_t n = cr_sockdiag_port_filter(big, sizeof big, 80);
  assert_int_equal(n, NLA_ALIGN(NLA_HDRLEN + 2 * sizeof(struct inet_diag_bc_op)));
  struct nlattr a;
  memcpy(&a, big, sizeof a);
  assert_int_equal(a.nla_type, INET_DIAG_REQ_BYTECODE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(filter_needs_room),
      cmocka_unit_test(kernel_filter_returns_exactly_the_port),
      cmocka_unit_test(dump_with_port_agrees_with_proc),
  };
  return cmocka_run_group_tests(tests, enter_private_netns, NULL);
}
