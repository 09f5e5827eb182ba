/* The scan engine against real listeners on 127.0.0.1. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "connrecipe/probe.h"

static int listen_any(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(fd, 64), 0);
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  *port = ntohs(a.sin_port);
  return fd;
}

static int finished;
static void on_done(cr_scan *s, void *data) { finished = 1; }

static void finds_listeners_among_closed_ports(void **state) {
  int p1, p2;
  int l1 = listen_any(&p1), l2 = listen_any(&p2);
  cr_portset ports;
  char err[200];
  char spec[100];
  snprintf(spec, sizeof spec, "%d,%d,1-200", p1, p2);
  assert_int_equal(cr_portspec_parse(spec, &ports, err, sizeof err), 0);

  uv_loop_t loop;
  uv_loop_init(&loop);
  cr_scan_options o = {.ports = &ports, .timeout = 1, .concurrency = 50};
  cr_sockaddr_parse("127.0.0.1", 0, &o.target);
  cr_scan *s;
  finished = 0;
  assert_int_equal(cr_scan_start(&loop, &o, on_done, NULL, &s), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_true(finished);
  const cr_scan_progress *p = cr_scan_get_progress(s);
  assert_int_equal(p->done, ports.count);
  int n;
  const uint16_t *open = cr_scan_open_ports(s, &n);
  int seen1 = 0, seen2 = 0;
  for (int i = 0; i < n; i++) {
    seen1 |= open[i] == p1;
    seen2 |= open[i] == p2;
  }
  assert_true(seen1 && seen2);
  assert_int_equal(p->counts[CR_PROBE_OPEN], n);
  assert_int_equal(p->counts[CR_PROBE_OPEN] + p->counts[CR_PROBE_REFUSED], ports.count);
  cr_scan_free(s);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
  close(l1);
  close(l2);
}

static void stopping_midway_closes_everything(void **state) {
  cr_portset ports;
  char err[200];
  assert_int_equal(cr_portspec_parse("1-65535", &ports, err, sizeof err), 0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  cr_scan_options o = {.ports = &ports, .timeout = 1, .concurrency = 100};
  cr_sockaddr_parse("127.0.0.1", 0, &o.target);
  cr_scan *s;
  assert_int_equal(cr_scan_start(&loop, &o, on_done, NULL, &s), 0);
  uv_run(&loop, UV_RUN_NOWAIT);
  cr_scan_free(s);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(finds_listeners_among_closed_ports),
      cmocka_unit_test(stopping_midway_closes_everything),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
