/* cr_hosts_scan over real files: names matched field by field and case
 * insensitively, comments cut, lines across read blocks and longer than a
 * block, a last line without a newline. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "connrecipe/hosts.h"

typedef struct {
  unsigned long lines[8];
  char text[8][128];
  int n;
} hits;

static int record(void *ud, unsigned long lineno, const char *text, size_t len) {
  hits *h = ud;
  if (h->n < 8) {
    h->lines[h->n] = lineno;
    snprintf(h->text[h->n], sizeof h->text[0], "%.*s", (int)(len < 127 ? len : 127), text);
  }
  h->n++;
  return 0;
}

/* A temporary file holding text; returns an fd at its start. */
static int file_with(const char *text, size_t len) {
  char path[] = "/tmp/connrecipe-test-hosts.XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  unlink(path);
  assert_int_equal(write(fd, text, len), (ssize_t)len);
  assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
  return fd;
}

static hits scan_text(const char *text, const char *name) {
  hits h = {0};
  int fd = file_with(text, strlen(text));
  assert_int_equal(cr_hosts_scan(fd, name, strlen(name), record, &h), 0);
  close(fd);
  return h;
}

static void matches_names_not_addresses_or_comments(void **state) {
  const char *text = "127.0.0.1 localhost\n"
                     "# 10.0.0.1 app\n"
                     "10.0.0.2\tdb  App.Internal # app\n"
                     "app 10.0.0.3\n"
                     "10.0.0.4 application\n"
                     "\n"
                     "10.0.0.5 x app\r\n"
                     "10.0.0.6 app";
  hits h = scan_text(text, "app.internal");
  assert_int_equal(h.n, 1);
  assert_int_equal(h.lines[0], 3);
  assert_string_equal(h.text[0], "10.0.0.2\tdb  App.Internal ");
  h = scan_text(text, "app");
  assert_int_equal(h.n, 2); /* not the comment, not the first field, not "application" */
  assert_int_equal(h.lines[0], 7);
  assert_int_equal(h.lines[1], 8); /* the last line, without a newline */
}

static void nothing_for_an_empty_name(void **state) {
  assert_int_equal(scan_text("10.0.0.1 a\n", "").n, 0);
}

/* 3 million bytes of lines and one line of 1 MiB: both cross the read blocks */
static void lines_across_blocks(void **state) {
  size_t cap = 5u << 20, n = 0;
  char *text = malloc(cap);
  assert_non_null(text);
  for (int i = 0; i < 100000; i++)
    n += (size_t)snprintf(text + n, cap - n, "10.%d.%d.1 host%d.test\n", i >> 8 & 255, i & 255, i);
  n += (size_t)snprintf(text + n, cap - n, "10.9.9.9 ");
  memset(text + n, 'x', 1u << 20);
  n += 1u << 20;
  n += (size_t)snprintf(text + n, cap - n, " long.test\n10.9.9.8 host99999.test\n");
  hits h = {0};
  int fd = file_with(text, n);
  assert_int_equal(cr_hosts_scan(fd, "HOST99999.test", 14, record, &h), 0);
  assert_int_equal(h.n, 2);
  assert_int_equal(h.lines[0], 100000);
  assert_int_equal(h.lines[1], 100002);
  assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
  h = (hits){0};
  assert_int_equal(cr_hosts_scan(fd, "long.test", 9, record, &h), 0);
  assert_int_equal(h.n, 1);
  assert_int_equal(h.lines[0], 100001);
  close(fd);
  free(text);
}

static int stop_at_first(void *ud, unsigned long lineno, const char *text, size_t len) {
  *(unsigned long *)ud = lineno;
  return 7;
}

static void the_callback_can_stop_it(void **state) {
  unsigned long first = 0;
  int fd = file_with("1.1.1.1 a\n2.2.2.2 a\n", 20);
  assert_int_equal(cr_hosts_scan(fd, "a", 1, stop_at_first, &first), 7);
  assert_int_equal(first, 1);
  close(fd);
}

static void a_read_error_is_returned(void **state) {
  hits h = {0};
  assert_int_equal(cr_hosts_scan(-1, "a", 1, record, &h), -EBADF);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(matches_names_not_addresses_or_comments),
      cmocka_unit_test(nothing_for_an_empty_name),
      cmocka_unit_test(lines_across_blocks),
      cmocka_unit_test(the_callback_can_stop_it),
      cmocka_unit_test(a_read_error_is_returned),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
