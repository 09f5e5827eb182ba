/* containerd's API client without containerd: the decoders on responses
 * packed here (and on broken ones), gRPC's frame, and the transport against
 * Unix-socket servers that are not gRPC (one answers HTTP/1.1, one closes at
 * once, one never answers). The real containerd is in tests/cli/cri_spec.lua. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "connrecipe/containerd.h"
#include "connrecipe/grpc.h"
#include "ctrd.pb-c.h"

static uint8_t *pack_containers(size_t *len) {
  Crctrd__StringEntry l1 = CRCTRD__STRING_ENTRY__INIT, l2 = CRCTRD__STRING_ENTRY__INIT;
  l1.key = "nerdctl/name", l1.value = "web";
  l2.key = "", l2.value = "nameless"; /* left out */
  Crctrd__StringEntry *labels[] = {&l1, &l2};
  Crctrd__Any spec = CRCTRD__ANY__INIT;
  spec.type_url = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
  spec.value.data = (uint8_t *)"{\"annotations\":{}}", spec.value.len = 18;
  Crctrd__Container a = CRCTRD__CONTAINER__INIT, b = CRCTRD__CONTAINER__INIT,
                    bad = CRCTRD__CONTAINER__INIT;
  a.id = "aaa", a.image = "busybox:1", a.n_labels = 2, a.labels = labels, a.spec = &spec;
  b.id = "bbb";
  bad.id = ""; /* no id: left out */
  Crctrd__Container *v[] = {&a, &bad, &b};
  Crctrd__ListContainersResponse r = CRCTRD__LIST_CONTAINERS_RESPONSE__INIT;
  r.n_containers = 3, r.containers = v;
  *len = crctrd__list_containers_response__get_packed_size(&r);
  uint8_t *buf = malloc(*len);
  crctrd__list_containers_response__pack(&r, buf);
  return buf;
}

static uint8_t *pack_tasks(size_t *len) {
  Crctrd__Process t1 = CRCTRD__PROCESS__INIT, t2 = CRCTRD__PROCESS__INIT,
                  t3 = CRCTRD__PROCESS__INIT;
  t1.id = "aaa", t1.pid = 42, t1.status = CR_CTRD_STOPPED, t1.exit_status = 7, t1.exit_reason = 1;
  t2.container_id = "bbb", t2.id = "", t2.pid = 43, t2.status = CR_CTRD_RUNNING;
  t3.id = "zzz", t3.status = CR_CTRD_RUNNING; /* no such container */
  Crctrd__Process *v[] = {&t1, &t2, &t3};
  Crctrd__ListTasksResponse r = CRCTRD__LIST_TASKS_RESPONSE__INIT;
  r.n_tasks = 3, r.tasks = v;
  *len = crctrd__list_tasks_response__get_packed_size(&r);
  uint8_t *buf = malloc(*len);
  crctrd__list_tasks_response__pack(&r, buf);
  return buf;
}

static void decodes_and_joins(void **state) {
  cr_ctrd_list l = {0};
  size_t n;
  uint8_t *c = pack_containers(&n);
  assert_int_equal(0, cr_ctrd_decode_containers(c, n, "default", 100, &l));
  free(c);
  assert_int_equal(2, l.n);
  assert_string_equal("aaa", l.v[0].id);
  assert_string_equal("default", l.v[0].ns);
  assert_string_equal("busybox:1", l.v[0].image);
  assert_int_equal(1, l.v[0].nlabels);
  assert_string_equal("nerdctl/name", l.v[0].labels[0].key);
  assert_int_equal(18, l.v[0].spec_len);
  assert_string_equal("", l.v[1].image);
  assert_null(l.v[1].spec);
  uint8_t *t = pack_tasks(&n);
  assert_int_equal(0, cr_ctrd_decode_tasks(t, n, "default", &l));
  free(t);
  assert_true(l.v[0].has_task); /* joined by id: containerd 1.6 leaves container_id empty */
  assert_int_equal(CR_CTRD_STOPPED, l.v[0].status);
  assert_int_equal(7, l.v[0].exit_status);
  assert_int_equal(1, l.v[0].exit_reason);
  assert_true(l.v[1].has_task); /* joined by container_id */
  assert_int_equal(43, l.v[1].pid);
  cr_containerd_free(&l);
}

static void bounds_the_count(void **state) {
  cr_ctrd_list l = {0};
  size_t n;
  uint8_t *c = pack_containers(&n);
  assert_int_equal(0, cr_ctrd_decode_containers(c, n, "default", 1, &l));
  assert_int_equal(1, l.n);
  cr_containerd_free(&l);
  free(c);
}

static void rejects_broken_messages(void **state) {
  cr_ctrd_list l = {0};
  size_t n;
  uint8_t *c = pack_containers(&n);
  for (size_t cut = 1; cut < n;
       cut++) /* every truncation: rejected or a shorter list, never a crash */
    if (cr_ctrd_decode_containers(c, cut, "default", 100, &l) != 0)
      assert_int_equal(0, l.n);
    else
      cr_containerd_free(&l);
  cr_containerd_free(&l);
  free(c);
  static const uint8_t wrong_type[] = {0x0a, 0x02, 0x08,
                                       0x01}; /* field 1 holds a message whose id is a varint */
  assert_int_equal(-EPROTO, cr_ctrd_decode_containers(wrong_type, sizeof wrong_type, "x", 10, &l));
  static const uint8_t huge_len[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f};
  assert_int_equal(-EPROTO, cr_ctrd_decode_tasks(huge_len, sizeof huge_len, "x", &l));
  assert_int_equal(-EPROTO, cr_ctrd_decode_namespaces(huge_len, sizeof huge_len, &l));
  assert_int_equal(0, cr_ctrd_decode_namespaces(NULL, 0, &l)); /* empty: no namespaces */
  assert_int_equal(0, l.nns);
  cr_containerd_free(&l);
}

static void unframes(void **state) {
  const uint8_t *m;
  size_t n;
  const char *why = NULL;
  static const uint8_t ok[] = {0, 0, 0, 0, 2, 0x0a, 0x00};
  assert_int_equal(0, cr_grpc_unframe(ok, sizeof ok, &m, &n, &why));
  assert_int_equal(2, n);
  assert_ptr_equal(ok + 5, m);
  assert_int_equal(-EPROTO, cr_grpc_unframe(ok, 4, &m, &n, &why));
  assert_string_equal("a response shorter than its 5-byte prefix", why);
  assert_int_equal(-EPROTO, cr_grpc_unframe(ok, 6, &m, &n, &why));
  assert_string_equal("a truncated message", why);
  static const uint8_t two[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  assert_int_equal(-EPROTO, cr_grpc_unframe(two, sizeof two, &m, &n, &why));
  assert_string_equal("more than one message", why);
  static const uint8_t gz[] = {1, 0, 0, 0, 0};
  assert_int_equal(-EPROTO, cr_grpc_unframe(gz, sizeof gz, &m, &n, &why));
  assert_string_equal("a compressed response (none was asked for)", why);
  static const uint8_t big[] = {0, 0xff, 0xff, 0xff, 0xff};
  assert_int_equal(-EPROTO, cr_grpc_unframe(big, sizeof big, &m, &n, &why));
}

/* A server on a Unix socket that does what mode says to one client, in a
 * child process: 'h' answers HTTP/1.1, 'c' closes at once, 's' is silent. */
static pid_t serve(const char *path, char mode) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  unlink(path);
  assert_int_equal(0, bind(fd, (struct sockaddr *)&sa, sizeof sa));
  assert_int_equal(0, listen(fd, 1));
  pid_t pid = fork();
  if (pid == 0) {
    int c = accept(fd, NULL, NULL);
    if (mode == 'h') {
      static const char reply[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
      if (write(c, reply, sizeof reply - 1) < 0) _exit(1);
      sleep(2);
    } else if (mode == 's') {
      sleep(3);
    }
    _exit(0);
  }
  close(fd);
  return pid;
}

static int call_server(char mode, char *msg, size_t cap) {
  char path[108];
  snprintf(path, sizeof path, "/tmp/crtest-grpc-%d.sock", (int)getpid());
  pid_t pid = serve(path, mode);
  cr_ctrd_list l;
  int rc = cr_containerd_read(path, NULL, 500, 10, &l, msg, cap);
  cr_containerd_free(&l);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  unlink(path);
  return rc;
}

static void transport_failures(void **state) {
  char msg[256];
  assert_int_equal(-EPROTO, call_server('h', msg, sizeof msg));
  assert_non_null(strstr(msg, "Namespaces/List: not HTTP/2, or the server ended the session"));
  int rc = call_server('c', msg, sizeof msg);
  assert_true(rc == -ECONNRESET || rc == -EPIPE);
  assert_int_equal(-ETIMEDOUT, call_server('s', msg, sizeof msg));
  assert_non_null(strstr(msg, "no answer in time"));
  cr_ctrd_list l;
  assert_int_equal(-ENOENT,
                   cr_containerd_read("/nonexistent/c.sock", NULL, 100, 10, &l, msg, sizeof msg));
  cr_containerd_free(&l);
}

/* After a call that failed mid-stream the connection refuses further calls
 * (nghttp2 still holds the failed stream, whose body is gone). */
static void a_failed_connection_stays_failed(void **state) {
  (void)state;
  char path[108], msg[256];
  snprintf(path, sizeof path, "/tmp/crtest-grpc2-%d.sock", (int)getpid());
  pid_t pid = serve(path, 's');
  int err = 0;
  cr_grpc_conn *c = cr_grpc_connect(path, 300, &err);
  assert_non_null(c);
  uint8_t *resp = NULL;
  size_t len = 0;
  assert_int_equal(-ETIMEDOUT, cr_grpc_call(c, "/x.Y/Z", NULL, 0, NULL, 0, &resp, &len, msg, sizeof msg));
  assert_int_equal(-EPIPE, cr_grpc_call(c, "/x.Y/Z", NULL, 0, NULL, 0, &resp, &len, msg, sizeof msg));
  assert_string_equal("the connection failed in an earlier call", msg);
  cr_grpc_close(c);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(decodes_and_joins),       cmocka_unit_test(bounds_the_count),
      cmocka_unit_test(rejects_broken_messages), cmocka_unit_test(unframes),
      cmocka_unit_test(transport_failures),      cmocka_unit_test(a_failed_connection_stays_failed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
