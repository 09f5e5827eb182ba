/* The trust walk on real files: modes, owners (as root: chown to nobody),
 * symbolic links, FIFOs, and the escaping of the paths it names. The files
 * live in a directory made under the working directory (the build tree),
 * whose own chain must be trusted: under /tmp (world-writable) nothing is. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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

#include "connrecipe/trust.h"

#define NOBODY 65534

static char base[PATH_MAX - 64];
static char why[1024];
static uid_t me;

static const char *at(const char *rel) {
  static char buf[4][PATH_MAX + 64];
  static int next;
  char *p = buf[next++ % 4];
  snprintf(p, sizeof buf[0], "%s/%s", base, rel);
  return p;
}

static void make_file(const char *rel, const char *text, mode_t mode) {
  FILE *f = fopen(at(rel), "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  assert_int_equal(chmod(at(rel), mode), 0);
}

static void make_dir(const char *rel, mode_t mode) {
  assert_int_equal(mkdir(at(rel), 0700), 0);
  assert_int_equal(chmod(at(rel), mode), 0); /* past the umask */
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

static int setup(void **state) {
  (void)state;
  me = geteuid();
  char cwd[PATH_MAX - 128];
  assert_non_null(getcwd(cwd, sizeof cwd));
  snprintf(base, sizeof base, "%s/trust-test.XXXXXX", cwd);
  assert_non_null(mkdtemp(base));
  assert_int_equal(chmod(base, 0755), 0);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  nftw(base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}

/* The tests need a trusted place to start from. */
static void need_trusted_base(void) {
  if (cr_trust_check_dir(base, me, why, sizeof why) != 0) {
    fprintf(stderr, "# skipped: the build directory is not trusted (%s)\n", why);
    skip();
  }
}

static void need_root(void) {
  if (me != 0) {
    fprintf(stderr, "# skipped: needs root (chown to another user)\n");
    skip();
  }
}

static void opens_a_trusted_file_and_reads_it(void **state) {
  (void)state;
  need_trusted_base();
  make_dir("ok", 0755);
  make_file("ok/r.lua", "return 42\n", 0644);
  int fd = cr_trust_open(at("ok/r.lua"), me, why, sizeof why);
  assert_true(fd >= 0);
  char text[32] = {0};
  assert_int_equal(read(fd, text, sizeof text - 1), 10);
  assert_string_equal(text, "return 42\n");
  assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  close(fd);
  assert_int_equal(cr_trust_check_dir(at("ok"), me, why, sizeof why), 0);
}

static void a_missing_file_is_enoent(void **state) {
  (void)state;
  assert_int_equal(cr_trust_open(at("nothing.lua"), me, why, sizeof why), -1);
  assert_int_equal(errno, ENOENT);
  assert_int_equal(cr_trust_open(at("nodir/x.lua"), me, why, sizeof why), -1);
  assert_int_equal(errno, ENOENT);
}

static void refuses_a_world_writable_directory(void **state) {
  (void)state;
  need_trusted_base();
  make_dir("open", 0777);
  make_file("open/r.lua", "x", 0644);
  assert_int_equal(cr_trust_open(at("open/r.lua"), me, why, sizeof why), -1);
  assert_int_equal(errno, EPERM);
  char expect[PATH_MAX + 64];
  snprintf(expect, sizeof expect, "%s: writable by others (mode 0777)", at("open"));
  assert_string_equal(why, expect);
  assert_int_equal(cr_trust_check_dir(at("open"), me, why, sizeof why), -1);
  /* sticky, like /tmp: still refused, as ssh does */
  make_dir("sticky", 01777);
  make_file("sticky/r.lua", "x", 0644);
  assert_int_equal(cr_trust_open(at("sticky/r.lua"), me, why, sizeof why), -1);
  assert_non_null(strstr(why, "writable by others (mode 1777)"));
}

static void refuses_a_group_writable_file(void **state) {
  (void)state;
  need_trusted_base();
  make_dir("g", 0755);
  make_file("g/r.lua", "x", 0664);
  assert_int_equal(cr_trust_open(at("g/r.lua"), me, why, sizeof why), -1);
  assert_non_null(strstr(why, "/g/r.lua: writable by its group (mode 0664)"));
}

static void refuses_a_file_or_directory_owned_by_another_user(void **state) {
  (void)state;
  need_trusted_base();
  need_root();
  make_dir("theirs", 0755);
  make_file("theirs/r.lua", "x", 0644);
  assert_int_equal(chown(at("theirs/r.lua"), NOBODY, NOBODY), 0);
  assert_int_equal(cr_trust_open(at("theirs/r.lua"), 0, why, sizeof why), -1);
  assert_int_equal(errno, EPERM);
  assert_non_null(strstr(why, "/theirs/r.lua: owned by uid 65534"));
  assert_non_null(strstr(why, "not by root"));
  /* the same file is that user's own when they run it (root owns the directories) */
  int fd = cr_trust_open(at("theirs/r.lua"), NOBODY, why, sizeof why);
  assert_true(fd >= 0);
  close(fd);
  /* a directory of theirs above a root-owned file */
  make_dir("theirdir", 0755);
  make_file("theirdir/r.lua", "x", 0644);
  assert_int_equal(chown(at("theirdir"), NOBODY, NOBODY), 0);
  assert_int_equal(cr_trust_open(at("theirdir/r.lua"), 0, why, sizeof why), -1);
  assert_non_null(strstr(why, "/theirdir: owned by uid 65534"));
}

static void follows_links_only_into_trusted_places(void **state) {
  (void)state;
  need_trusted_base();
  make_dir("ok", 0755);
  make_file("ok/r.lua", "x", 0644);
  make_dir("open", 0777);
  make_file("open/evil.lua", "x", 0644);
  /* a trusted link to a trusted file */
  assert_int_equal(symlink(at("ok/r.lua"), at("ok/link.lua")), 0);
  int fd = cr_trust_open(at("ok/link.lua"), me, why, sizeof why);
  assert_true(fd >= 0);
  close(fd);
  /* a trusted link into a world-writable directory */
  assert_int_equal(symlink(at("open/evil.lua"), at("ok/evil.lua")), 0);
  assert_int_equal(cr_trust_open(at("ok/evil.lua"), me, why, sizeof why), -1);
  assert_non_null(strstr(why, "/open: writable by others"));
  /* a link of another user's to a trusted file */
  if (me == 0) {
    assert_int_equal(symlink(at("ok/r.lua"), at("ok/theirs.lua")), 0);
    assert_int_equal(lchown(at("ok/theirs.lua"), NOBODY, NOBODY), 0);
    assert_int_equal(cr_trust_open(at("ok/theirs.lua"), 0, why, sizeof why), -1);
    assert_non_null(strstr(why, "/ok/theirs.lua: owned by uid 65534"));
  }
}

static void refuses_what_is_not_a_regular_file(void **state) {
  (void)state;
  need_trusted_base();
  make_dir("odd", 0755);
  assert_int_equal(mkfifo(at("odd/fifo.lua"), 0644), 0);
  assert_int_equal(cr_trust_open(at("odd/fifo.lua"), me, why, sizeof why), -1); /* no hang */
  assert_non_null(strstr(why, "/odd/fifo.lua: not a regular file"));
  make_dir("odd/dir.lua", 0755);
  assert_int_equal(cr_trust_open(at("odd/dir.lua"), me, why, sizeof why), -1);
}

static void a_relative_path_is_walked_from_the_working_directory(void **state) {
  (void)state;
  need_trusted_base();
  make_dir("rel", 0755);
  make_file("rel/r.lua", "x", 0644);
  make_dir("rel/open", 0777);
  make_file("rel/open/r.lua", "x", 0644);
  char cwd[PATH_MAX];
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir(at("rel")), 0);
  int fd = cr_trust_open("r.lua", me, why, sizeof why);
  int refused = cr_trust_open("open/r.lua", me, why, sizeof why);
  assert_int_equal(chdir(cwd), 0);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(refused, -1);
  assert_non_null(strstr(why, "/rel/open: writable by others"));
}

static void names_an_odd_path_with_its_control_bytes_escaped(void **state) {
  (void)state;
  need_trusted_base();
  make_dir("open", 0777);
  make_file("open/\033]0;owned\007\n.lua", "x", 0644);
  assert_int_equal(cr_trust_open(at("open/\033]0;owned\007\n.lua"), me, why, sizeof why), -1);
  assert_null(strchr(why, '\033'));
  assert_null(strchr(why, '\n'));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(opens_a_trusted_file_and_reads_it, setup, teardown),
      cmocka_unit_test_setup_teardown(a_missing_file_is_enoent, setup, teardown),
      cmocka_unit_test_setup_teardown(refuses_a_world_writable_directory, setup, teardown),
      cmocka_unit_test_setup_teardown(refuses_a_group_writable_file, setup, teardown),
      cmocka_unit_test_setup_teardown(refuses_a_file_or_directory_owned_by_another_user, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(follows_links_only_into_trusted_places, setup, teardown),
      cmocka_unit_test_setup_teardown(refuses_what_is_not_a_regular_file, setup, teardown),
      cmocka_unit_test_setup_teardown(a_relative_path_is_walked_from_the_working_directory, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(names_an_odd_path_with_its_control_bytes_escaped, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
