/* The cgroup reader: /proc/PID/cgroup texts as cgroup v1, v2 and hybrid
 * hosts and container runtimes write them, and this process's own file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>

#include "connrecipe/process.h"

#define HEX "4f0cbd1bb6e54d2a8e3a3c1c5b0a2b9d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b"

static int parse(const char *text, cr_cgroup *cg) {
  return cr_cgroup_parse(text, strlen(text), cg);
}

static void unified_path_and_unit(void **state) {
  cr_cgroup cg;
  assert_int_equal(parse("0::/system.slice/nginx.service\n", &cg), 0);
  assert_string_equal(cg.path, "/system.slice/nginx.service");
  assert_string_equal(cg.unit, "nginx.service");
  assert_string_equal(cg.container, "");
  assert_int_equal(parse("0::/user.slice/user-1000.slice/session-2.scope", &cg), 0);
  assert_string_equal(cg.unit, "session-2.scope"); /* the innermost unit, no newline needed */
  assert_int_equal(parse("0::/\n", &cg), 0);
  assert_string_equal(cg.unit, "");
}

/* A hybrid host lists v1 hierarchies first; the unified line still wins. */
static void unified_wins_over_v1(void **state) {
  cr_cgroup cg;
  const char *text = "12:pids:/system.slice/other.service\n"
                     "1:name=systemd:/system.slice/other.service\n"
                     "0::/system.slice/redis-server.service\n";
  assert_int_equal(parse(text, &cg), 0);
  assert_string_equal(cg.unit, "redis-server.service");
  assert_int_equal(cg.unified, 1);
}

/* cgroup v1 alone: the first hierarchy's path. */
static void first_v1_hierarchy(void **state) {
  cr_cgroup cg;
  assert_int_equal(parse("11:memory:/docker/" HEX "\n10:cpu:/\n", &cg), 0);
  assert_string_equal(cg.path, "/docker/" HEX);
  assert_string_equal(cg.container, HEX);
  assert_int_equal(cg.unified, 0); /* an exiting task shows "/" here: not its cgroups */
}

/* Every runtime's spelling gives the full 64-hex id. */
static void container_ids(void **state) {
  static const char *const forms[] = {
      "0::/system.slice/docker-" HEX ".scope",
      "0::/machine.slice/libpod-" HEX ".scope/container",
      "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/"
      "cri-containerd-" HEX ".scope",
      "0::/kubepods/besteffort/pod1234/" HEX,
  };
  for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
    cr_cgroup cg;
    assert_int_equal(parse(forms[i], &cg), 0);
    assert_string_equal(cg.container, HEX);
    assert_int_equal(strlen(cg.container), CR_CONTAINER_ID_LEN);
  }
}

/* 63 or 65 hex digits, or upper case, are not a container id. */
static void near_misses(void **state) {
  cr_cgroup cg;
  assert_int_equal(parse("0::/docker/" HEX "0\n", &cg), 0);
  assert_string_equal(cg.container, "");
  char text[128];
  snprintf(text, sizeof text, "0::/docker/%.63s\n", HEX);
  assert_int_equal(parse(text, &cg), 0);
  assert_string_equal(cg.container, "");
  snprintf(text, sizeof text, "0::/docker/4F0C%.60s\n", HEX + 4);
  assert_int_equal(parse(text, &cg), 0);
  assert_string_equal(cg.container, "");
  char id[CR_CONTAINER_ID_LEN]; /* one short of room for the id and its NUL */
  cr_cgroup_container("/docker/" HEX, id, sizeof id);
  assert_string_equal(id, "");
}

static void no_cgroup_line(void **state) {
  cr_cgroup cg;
  assert_int_equal(parse("", &cg), -1);
  assert_int_equal(parse("garbage without colons\n", &cg), -1);
  assert_int_equal(parse("0:only-one-colon\n", &cg), -1);
  assert_string_equal(cg.path, "");
  /* a path longer than the buffer is cut, not overrun */
  char text[2048];
  memset(text, 'a', sizeof text);
  memcpy(text, "0::/", 4);
  assert_int_equal(cr_cgroup_parse(text, sizeof text, &cg), 0);
  assert_int_equal(strlen(cg.path), sizeof cg.path - 1);
}

/* This process's own file, read the way the process and owner walks read it. */
static void reads_own_cgroup(void **state) {
  cr_cgroup cg;
  assert_int_equal(cr_cgroup_read(AT_FDCWD, "/proc/self/cgroup", &cg), 0);
  assert_int_equal(cg.path[0], '/');
  int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  char name[32];
  snprintf(name, sizeof name, "%d/cgroup", (int)getpid());
  cr_cgroup again;
  assert_int_equal(cr_cgroup_read(procfd, name, &again), 0);
  assert_string_equal(again.path, cg.path);
  assert_int_equal(cr_cgroup_read(procfd, "0/cgroup", &again), -ENOENT);
  close(procfd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(unified_path_and_unit), cmocka_unit_test(unified_wins_over_v1),
      cmocka_unit_test(first_v1_hierarchy),    cmocka_unit_test(container_ids),
      cmocka_unit_test(near_misses),           cmocka_unit_test(no_cgroup_line),
      cmocka_unit_test(reads_own_cgroup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
