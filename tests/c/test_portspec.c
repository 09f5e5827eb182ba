/* Port spec parser and errno classification: pure functions, no sockets. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "connrecipe/probe.h"

static cr_portset set;
static char err[256];

static void parses_lists_and_ranges(void **state) {
  assert_int_equal(cr_portspec_parse("1-1024,8080,9000-9100", &set, err, sizeof err), 0);
  assert_int_equal(set.count, 1024 + 1 + 101);
  assert_true(cr_portset_has(&set, 1));
  assert_true(cr_portset_has(&set, 1024));
  assert_false(cr_portset_has(&set, 1025));
  assert_true(cr_portset_has(&set, 8080));
  assert_true(cr_portset_has(&set, 9100));
  assert_false(cr_portset_has(&set, 9101));
}

static void full_range_and_duplicates(void **state) {
  assert_int_equal(cr_portspec_parse("1-65535,80,80-81", &set, err, sizeof err), 0);
  assert_int_equal(set.count, 65535);
  assert_true(cr_portset_has(&set, 65535));
  assert_false(cr_portset_has(&set, 0));
}

static void spaces_are_tolerated(void **state) {
  assert_int_equal(cr_portspec_parse(" 22 , 80", &set, err, sizeof err), 0);
  assert_int_equal(set.count, 2);
}

static void iterates_in_order(void **state) {
  assert_int_equal(cr_portspec_parse("65535,3,64,63,1000-1001", &set, err, sizeof err), 0);
  int expect[] = {3, 63, 64, 1000, 1001, 65535};
  int p = 0;
  for (size_t i = 0; i < sizeof expect / sizeof *expect; i++) {
    p = cr_portset_next(&set, p);
    assert_int_equal(p, expect[i]);
  }
  assert_int_equal(cr_portset_next(&set, p), 0);
}

static void expect_error(const char *spec, const char *part, const char *why) {
  assert_int_equal(cr_portspec_parse(spec, &set, err, sizeof err), -1);
  char quoted[64];
  snprintf(quoted, sizeof quoted, "\"%s\"", part);
  if (!strstr(err, quoted) || !strstr(err, why)) fail_msg("spec %s: got \"%s\"", spec, err);
}

static void errors_name_the_bad_part(void **state) {
  expect_error("1-80,70000", "70000", "1-65535");
  expect_error("0", "0", "1-65535");
  expect_error("100-10", "100-10", "start is after its end");
  expect_error("22,,80", "", "empty element");
  expect_error("http", "http", "expected a port number");
  expect_error("80-", "80-", "needs an end");
  expect_error("22,8o", "8o", "expected a port number");
  expect_error("1-99999999999999999999", "1-99999999999999999999", "1-65535");
  assert_int_equal(cr_portspec_parse("", &set, err, sizeof err), -1);
  assert_non_null(strstr(err, "empty port spec"));
}

static void classifies_errnos(void **state) {
  assert_int_equal(cr_probe_classify(0), CR_PROBE_OPEN);
  assert_int_equal(cr_probe_classify(ECONNREFUSED), CR_PROBE_REFUSED);
  assert_int_equal(cr_probe_classify(EHOSTUNREACH), CR_PROBE_UNREACHABLE);
  assert_int_equal(cr_probe_classify(ENETUNREACH), CR_PROBE_UNREACHABLE);
  assert_int_equal(cr_probe_classify(ECONNRESET), CR_PROBE_RESET);
  assert_int_equal(cr_probe_classify(EACCES), CR_PROBE_DENIED);
  assert_int_equal(cr_probe_classify(EPERM), CR_PROBE_DENIED);
  assert_int_equal(cr_probe_classify(EADDRNOTAVAIL), CR_PROBE_ADDR_UNAVAILABLE);
  assert_int_equal(cr_probe_classify(ETIMEDOUT), CR_PROBE_TIMEOUT);
  assert_int_equal(cr_probe_classify(EIO), CR_PROBE_ERROR);
  assert_string_equal(cr_probe_status_name(CR_PROBE_ADDR_UNAVAILABLE), "addr-unavailable");
  assert_string_equal(cr_probe_status_name(CR_PROBE_OPEN_FILTERED), "open|filtered");
  assert_string_equal(cr_errno_name(ECONNREFUSED), "ECONNREFUSED");
}

static void parses_numeric_addresses(void **state) {
  cr_sockaddr a;
  char buf[64];
  assert_int_equal(cr_sockaddr_parse("127.0.0.1", 80, &a), 0);
  assert_int_equal(a.sa.sa_family, AF_INET);
  assert_int_equal(cr_sockaddr_format(&a, buf, sizeof buf), 80);
  assert_string_equal(buf, "127.0.0.1");
  assert_int_equal(cr_sockaddr_parse("[::1]", 443, &a), 0);
  assert_int_equal(a.sa.sa_family, AF_INET6);
  assert_int_equal(cr_sockaddr_format(&a, buf, sizeof buf), 443);
  assert_string_equal(buf, "::1");
  assert_int_equal(cr_sockaddr_parse("localhost", 80, &a), -1);
  assert_int_equal(cr_sockaddr_parse("1.2.3", 80, &a), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(parses_lists_and_ranges),  cmocka_unit_test(full_range_and_duplicates),
      cmocka_unit_test(spaces_are_tolerated),     cmocka_unit_test(iterates_in_order),
      cmocka_unit_test(errors_name_the_bad_part), cmocka_unit_test(classifies_errnos),
      cmocka_unit_test(parses_numeric_addresses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
