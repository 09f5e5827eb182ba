/* The owner walks' common part (src/core/owners_match.h): a holder's facts
 * kept once per process, taken from what a walk already knows or read from
 * /proc, the rollback of a process whose facts could not be read, and the
 * merge into per-socket ranges ordered by pid. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "connrecipe/process.h"
#include "owners_match.h"

static int procfd = -1; /* /proc, for the whole group */

static int open_proc(void **state) {
  procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  return procfd >= 0 ? 0 : -1;
}

static int close_proc(void **state) {
  close(procfd);
  return 0;
}

/* A pid no process has now: a child's, once reaped. */
static pid_t gone_pid(void) {
  pid_t child = fork();
  if (child == 0) _exit(0);
  assert_true(child > 0);
  assert_int_equal(waitpid(child, NULL, 0), child);
  return child;
}

/* Our own cgroup's unit and container, as /proc says. */
static void own_cgroup(cr_cgroup *cg) {
  char name[32];
  snprintf(name, sizeof name, "%d/cgroup", (int)getpid());
  assert_int_equal(cr_cgroup_read(procfd, name, cg), 0);
}

static void known_comm_and_cgroup_read(void **state) {
  cr_match_list l = {0};
  cr_known_facts known = {.comm = "from-kernel", .cgroup_of = -1};
  assert_int_equal(cr_match_add_known(&l, procfd, 0, 7, getpid(), &known), 0);
  assert_int_equal(known.cgroup_read, 1);
  assert_int_equal(l.nprocs, 1);
  assert_string_equal(l.procs[0].comm, "from-kernel");
  cr_cgroup cg;
  own_cgroup(&cg);
  assert_string_equal(l.procs[0].unit, cg.unit);
  assert_string_equal(l.procs[0].container, cg.container);
  /* its next socket names the same facts: no second entry */
  assert_int_equal(cr_match_add_known(&l, procfd, 0, 8, getpid(), &known), 0);
  assert_int_equal(l.nprocs, 1);
  assert_int_equal(l.n, 2);
  assert_int_equal(l.v[1].proc, 0);
  cr_match_list_free(&l);
}

/* A holder that exited before its cgroup was read has none: that must not
 * stand for others (cgroup_read 0), and its comm is still the walk's. */
static void exited_holder_reads_nothing(void **state) {
  cr_match_list l = {0};
  cr_known_facts known = {.comm = "gone", .cgroup_of = -1};
  assert_int_equal(cr_match_add_known(&l, procfd, 0, 1, gone_pid(), &known), 0);
  assert_int_equal(known.cgroup_read, 0);
  assert_string_equal(l.procs[0].comm, "gone");
  assert_string_equal(l.procs[0].unit, "");
  assert_string_equal(l.procs[0].container, "");
  cr_match_list_free(&l);
}

/* Same cgroups: the unit and container are copied, nothing read. */
static void same_cgroups_copied(void **state) {
  cr_match_list l = {0};
  cr_known_facts first = {.comm = "a", .cgroup_of = -1};
  assert_int_equal(cr_match_add_known(&l, procfd, 0, 0, getpid(), &first), 0);
  strcpy(l.procs[0].unit, "web.service"); /* what a read would have found */
  cr_known_facts second = {.comm = "b", .cgroup_of = 0};
  pid_t other = gone_pid(); /* a read of its file would find nothing */
  assert_int_equal(cr_match_add_known(&l, procfd, l.n, 1, other, &second), 0);
  assert_int_equal(second.cgroup_read, 0);
  assert_int_equal(l.nprocs, 2);
  assert_int_equal(l.procs[1].pid, other);
  assert_string_equal(l.procs[1].comm, "b");
  assert_string_equal(l.procs[1].unit, "web.service");
  cr_match_list_free(&l);
}

/* Without a known comm, it is read from /proc. */
static void comm_read_when_unknown(void **state) {
  cr_match_list l = {0};
  assert_int_equal(cr_match_add(&l, procfd, 0, 3, getpid()), 0);
  char comm[32] = "";
  FILE *f = fopen("/proc/self/comm", "re");
  assert_non_null(f);
  assert_non_null(fgets(comm, sizeof comm, f));
  fclose(f);
  comm[strcspn(comm, "\n")] = '\0';
  assert_string_equal(l.procs[0].comm, comm);
  cr_match_list_free(&l);
}

static void drop_forgets_the_process(void **state) {
  cr_match_list l = {0};
  cr_known_facts known = {.comm = "x", .cgroup_of = -1};
  assert_int_equal(cr_match_add_known(&l, procfd, 0, 0, getpid(), &known), 0);
  size_t first = l.n;
  pid_t other = gone_pid();
  assert_int_equal(cr_match_add_known(&l, procfd, first, 1, other, &known), 0);
  assert_int_equal(cr_match_add_known(&l, procfd, first, 2, other, &known), 0);
  assert_int_equal(l.nprocs, 2);
  cr_match_drop_from(&l, first);
  assert_int_equal(l.n, 1);
  assert_int_equal(l.nprocs, 1);
  assert_int_equal(l.procs[0].pid, getpid());
  cr_match_list_free(&l);
}

/* Two lists (two walker threads): each socket's holders in pid order, a
 * process on two fds of one socket once, each pointing at its facts. */
static void merge_orders_and_folds(void **state) {
  cr_sock_table t = {0};
  for (int i = 0; i < 2; i++)
    assert_non_null(cr_sock_table_add(&t));
  cr_match_list lists[2] = {{0}, {0}};
  cr_known_facts high = {.comm = "high", .cgroup_of = -1}, low = {.comm = "low", .cgroup_of = -1};
  pid_t a = gone_pid(), b = gone_pid();
  pid_t lo = a < b ? a : b, hi = a < b ? b : a;
  assert_int_equal(cr_match_add_known(&lists[0], procfd, 0, 0, hi, &high), 0);
  assert_int_equal(cr_match_add_known(&lists[0], procfd, 0, 0, hi, &high), 0); /* a second fd */
  assert_int_equal(cr_match_add_known(&lists[1], procfd, 0, 0, lo, &low), 0);
  assert_int_equal(cr_match_add_known(&lists[1], procfd, 0, 1, lo, &low), 0);
  cr_owner_map m = {0};
  assert_int_equal(cr_match_merge(&t, lists, 2, &m), 0);
  assert_int_equal(m.count[0], 2);
  assert_int_equal(m.owners[m.first[0]]->pid, lo);
  assert_string_equal(m.owners[m.first[0]]->comm, "low");
  assert_int_equal(m.owners[m.first[0] + 1]->pid, hi);
  assert_string_equal(m.owners[m.first[0] + 1]->comm, "high");
  assert_int_equal(m.count[1], 1);
  assert_ptr_equal(m.owners[m.first[1]], m.owners[m.first[0]]); /* one entry per process */
  assert_int_equal(m.n_owners, 3);
  assert_int_equal(m.n_procs, 2);
  cr_owner_map_free(&m);
  cr_match_list_free(&lists[0]);
  cr_match_list_free(&lists[1]);
  cr_sock_table_free(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(known_comm_and_cgroup_read),
      cmocka_unit_test(exited_holder_reads_nothing),
      cmocka_unit_test(same_cgroups_copied),
      cmocka_unit_test(comm_read_when_unknown),
      cmocka_unit_test(drop_forgets_the_process),
      cmocka_unit_test(merge_orders_and_folds),
  };
  return cmocka_run_group_tests(tests, open_proc, close_proc);
}
