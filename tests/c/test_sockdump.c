/* The dumps and the owner walk against real sockets of this process. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <cmocka.h>

#include "connrecipe/sockets.h"

static int tcp_listener(uint16_t *port, uint64_t *inode) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(listen(fd, 7), 0);
  socklen_t len = sizeof sa;
  getsockname(fd, (struct sockaddr *)&sa, &len);
  *port = ntohs(sa.sin_port);
  struct stat st;
  fstat(fd, &st);
  *inode = st.st_ino;
  return fd;
}

static const cr_sock *find(const cr_sock_table *t, uint64_t inode) {
  for (size_t i = 0; i < t->n; i++)
    if (t->v[i].inode == inode) return &t->v[i];
  return NULL;
}

static void check_listener(const cr_sock *s, uint16_t port) {
  assert_non_null(s);
  assert_int_equal(s->proto, CR_PROTO_TCP);
  assert_int_equal(s->state, CR_ST_LISTEN);
  assert_int_equal(s->port, port);
  assert_int_equal(s->addr[0], 127);
}

static void netlink_and_proc_agree(void **state) {
  uint16_t port;
  uint64_t inode;
  int fd = tcp_listener(&port, &inode);
  cr_sock_query q = {.protos = CR_PROTO_TCP, .listeners = 1};
  cr_sock_table t = {0};
  assert_int_equal(cr_sock_dump(&t, &q, 1), 0);
  assert_true(t.netlink_kinds & (1u << CR_KIND_TCP4));
  const cr_sock *s = find(&t, inode);
  check_listener(s, port);
  assert_int_equal(s->sendq, 7); /* the backlog limit */
  assert_true(s->drops >= 0);
  cr_sock_table_free(&t);

  assert_int_equal(cr_sock_dump_procfs(&t, &q, 1, "/proc/self/net"), 0);
  assert_true(t.proc_kinds & (1u << CR_KIND_TCP4));
  check_listener(find(&t, inode), port);
  cr_sock_table_free(&t);
  close(fd);
}

static void owners_found(void **state) {
  uint16_t port;
  uint64_t inode;
  int fd = tcp_listener(&port, &inode);
  int dup_fd = dup(fd); /* the same socket twice: one owner entry */
  cr_sock_query q = {.protos = CR_PROTO_TCP, .listeners = 1};
  cr_sock_table t = {0};
  assert_int_equal(cr_sock_dump(&t, &q, 1), 0);
  size_t idx = (size_t)(find(&t, inode) - t.v);
  for (int threads = 1; threads <= 3; threads++) {
    cr_owner_map m;
    assert_int_equal(cr_owners_map(&t, threads, &m), 0);
    assert_int_equal(m.count[idx], 1);
    assert_int_equal(m.owners[m.first[idx]]->pid, getpid());
    assert_true(m.processes > 0);
    cr_owner_map_free(&m);
  }
  cr_sock_table_free(&t);
  close(dup_fd);
  close(fd);
}

/* A socket shared with a forked child: both holders, ordered by pid, each
 * named, and the duplicated fd of the parent folded into one entry. */
static void owners_of_a_forked_socket(void **state) {
  uint16_t port;
  uint64_t inode;
  int fd = tcp_listener(&port, &inode);
  int dup_fd = dup(fd);
  int ready[2];
  assert_int_equal(pipe(ready), 0);
  pid_t child = fork();
  if (child == 0) { /* a second holder of the same socket; gone in 20 s whatever happens */
    alarm(20);
    close(ready[0]);
    assert_int_equal(write(ready[1], "x", 1), 1);
    pause();
    _exit(0);
  }
  char c;
  assert_int_equal(read(ready[0], &c, 1), 1);
  cr_sock_query q = {.protos = CR_PROTO_TCP, .listeners = 1};
  cr_sock_table t = {0};
  assert_int_equal(cr_sock_dump(&t, &q, 1), 0);
  size_t idx = (size_t)(find(&t, inode) - t.v);
  pid_t lo = getpid() < child ? getpid() : child, hi = getpid() < child ? child : getpid();
  for (int threads = 1; threads <= 3; threads++) {
    cr_owner_map m;
    assert_int_equal(cr_owners_map(&t, threads, &m), 0);
    assert_int_equal(m.count[idx], 2);
    const cr_owner *const *o = &m.owners[m.first[idx]];
    assert_int_equal(o[0]->pid, lo);
    assert_int_equal(o[1]->pid, hi);
    assert_string_equal(o[0]->comm, o[1]->comm); /* a fork keeps the name */
    assert_true(o[0]->comm[0] != '\0');
    cr_owner_map_free(&m);
  }
  cr_sock_table_free(&t);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  close(ready[0]);
  close(ready[1]);
  close(dup_fd);
  close(fd);
}

static void unix_listener(void **state) {
  char dir[] = "/tmp/crtest-XXXXXX";
  assert_non_null(mkdtemp(dir));
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s/s.sock", dir);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(listen(fd, 4), 0);
  struct stat st;
  fstat(fd, &st);
  cr_sock_query q = {.protos = CR_PROTO_UNIX, .listeners = 1};
  for (int proc = 0; proc < 2; proc++) {
    cr_sock_table t = {0};
    if (proc)
      assert_int_equal(cr_sock_dump_procfs(&t, &q, 1, "/proc/self/net"), 0);
    else
      assert_int_equal(cr_sock_dump(&t, &q, 1), 0);
    const cr_sock *s = find(&t, st.st_ino);
    assert_non_null(s);
    assert_string_equal(s->path, sa.sun_path);
    if (!proc) { /* the bound file's inode, as stat(2) sees it */
      struct stat fst;
      assert_int_equal(stat(sa.sun_path, &fst), 0);
      assert_int_equal(s->vfs_inode, fst.st_ino);
    }
    assert_int_equal(s->state, CR_ST_LISTEN);
    cr_sock_table_free(&t);
  }
  close(fd);
  unlink(sa.sun_path);
  rmdir(dir);
}

static void process_self(void **state) {
  cr_process p;
  assert_int_equal(cr_process_get(getpid(), &p), 0);
  assert_int_equal(p.pid, getpid());
  assert_int_equal(p.ppid, getppid());
  assert_true(p.cmdline_len > 0);
  assert_true(p.age >= 0 && p.age < 3600);
  assert_true(p.netns == cr_netns_self());
  cr_process_free(&p);
  assert_int_equal(cr_process_get(0x3ffffff0, &p), -ESRCH);
}

static void namespaces_listed(void **state) {
  cr_netns *v = NULL;
  int hidden = -1;
  int n = cr_netns_list(&v, &hidden);
  assert_true(n >= 1);
  assert_true(hidden >= 0);
  assert_true(v[0].inode == cr_netns_self());
  free(v);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(netlink_and_proc_agree), cmocka_unit_test(owners_found),
      cmocka_unit_test(owners_of_a_forked_socket),
      cmocka_unit_test(unix_listener),          cmocka_unit_test(process_self),
      cmocka_unit_test(namespaces_listed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
