/* cr_private_file_create on real files in a fresh directory: what it makes,
 * and what it refuses (a link, another user's file, a hard link, a FIFO). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "connrecipe/private_file.h"

static char dir[64];
static char why[256];

static const char *at(const char *name) {
  static char buf[4][PATH_MAX];
  static int next;
  char *p = buf[next++ % 4];
  snprintf(p, sizeof buf[0], "%s/%s", dir, name);
  return p;
}

static void write_text(const char *path, const char *text, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  assert_true(fd >= 0);
  assert_int_equal((ssize_t)strlen(text), write(fd, text, strlen(text)));
  close(fd);
  assert_int_equal(0, chmod(path, mode));
}

static off_t size_of(const char *path) {
  struct stat st;
  assert_int_equal(0, lstat(path, &st));
  return st.st_size;
}

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/crtest-private-XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void creates_a_new_file_0600(void **state) {
  (void)state;
  umask(022);
  int fd = cr_private_file_create(at("new"), why, sizeof why);
  assert_true(fd >= 0);
  assert_int_equal(2, write(fd, "{}", 2));
  close(fd);
  struct stat st;
  assert_int_equal(0, stat(at("new"), &st));
  assert_int_equal(0600, st.st_mode & 07777);
  assert_int_equal(2, st.st_size);
}

static void truncates_its_own_file_and_makes_it_0600(void **state) {
  (void)state;
  write_text(at("mine"), "old content", 0644);
  int fd = cr_private_file_create(at("mine"), why, sizeof why);
  assert_true(fd >= 0);
  close(fd);
  struct stat st;
  assert_int_equal(0, stat(at("mine"), &st));
  assert_int_equal(0600, st.st_mode & 07777);
  assert_int_equal(0, st.st_size);
}

static void never_follows_a_link(void **state) {
  (void)state;
  write_text(at("victim"), "precious", 0644);
  assert_int_equal(0, symlink(at("victim"), at("link")));
  errno = 0;
  assert_int_equal(-1, cr_private_file_create(at("link"), why, sizeof why));
  assert_int_equal(ELOOP, errno);
  assert_non_null(strstr(why, "symbolic link"));
  assert_int_equal(8, size_of(at("victim")));
}

static void refuses_a_hard_link(void **state) {
  (void)state;
  write_text(at("target"), "precious", 0644);
  assert_int_equal(0, link(at("target"), at("hard")));
  assert_int_equal(-1, cr_private_file_create(at("hard"), why, sizeof why));
  assert_int_equal(EPERM, errno);
  assert_int_equal(8, size_of(at("target")));
}

static void refuses_another_users_file(void **state) {
  (void)state;
  if (geteuid() != 0) skip(); /* only root can give a file away */
  write_text(at("theirs"), "their data", 0644);
  assert_int_equal(0, chown(at("theirs"), 65534, 65534));
  assert_int_equal(-1, cr_private_file_create(at("theirs"), why, sizeof why));
  assert_int_equal(EPERM, errno);
  assert_non_null(strstr(why, "another user"));
  assert_int_equal(10, size_of(at("theirs")));
}

static void refuses_a_fifo_without_hanging(void **state) {
  (void)state;
  assert_int_equal(0, mkfifo(at("fifo"), 0600));
  assert_int_equal(-1, cr_private_file_create(at("fifo"), why, sizeof why));
  assert_true(errno == EINVAL || errno == ENXIO);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(creates_a_new_file_0600),
      cmocka_unit_test(truncates_its_own_file_and_makes_it_0600),
      cmocka_unit_test(never_follows_a_link),
      cmocka_unit_test(refuses_a_hard_link),
      cmocka_unit_test(refuses_another_users_file),
      cmocka_unit_test(refuses_a_fifo_without_hanging),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
