/* Unit tests for the core's cr_exec (no Lua): a real loop, real children. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connrecipe/exec.h"

typedef struct {
  int calls;
  cr_exec_result r;
} outcome;

static void on_done(cr_exec *ex, cr_exec_result *r, void *data) {
  (void)ex;
  outcome *o = data;
  o->calls++;
  o->r = *r;
}

static void free_outcome(outcome *o) {
  free(o->r.out);
  free(o->r.err);
}

/* Runs argv to completion on a fresh loop; the loop must close cleanly after. */
static int run(const char *const *argv, const char *input, double timeout, outcome *o) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  cr_exec_options opts = {.argv = argv, .timeout = timeout, .kill_grace = 0.2};
  if (input) {
    opts.stdin_data = input;
    opts.stdin_len = strlen(input);
  }
  memset(o, 0, sizeof *o);
  int rc = cr_exec_start(&loop, &opts, on_done, o, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
  return rc;
}

static void captures_output_and_status(void **state) {
  (void)state;
  const char *argv[] = {"sh", "-c", "printf out; printf err >&2; exit 7", NULL};
  outcome o;
  assert_int_equal(run(argv, NULL, 0, &o), 0);
  assert_int_equal(o.calls, 1);
  assert_int_equal(o.r.exit_status, 7);
  assert_int_equal(o.r.term_signal, 0);
  assert_string_equal(o.r.out, "out");
  assert_string_equal(o.r.err, "err");
  assert_false(o.r.timed_out);
  free_outcome(&o);
}

static void feeds_stdin(void **state) {
  (void)state;
  const char *argv[] = {"cat", NULL};
  outcome o;
  assert_int_equal(run(argv, "through the pipe", 0, &o), 0);
  assert_string_equal(o.r.out, "through the pipe");
  free_outcome(&o);
}

static void missing_program_is_enoent(void **state) {
  (void)state;
  const char *argv[] = {"connrecipe-no-such-program", NULL};
  outcome o;
  assert_int_equal(run(argv, NULL, 0, &o), UV_ENOENT);
  assert_int_equal(o.calls, 0);
}

static void timeout_kills_with_term_then_kill(void **state) {
  (void)state;
  const char *argv[] = {"sh", "-c", "trap '' TERM; echo ready; sleep 30", NULL};
  outcome o;
  assert_int_equal(run(argv, NULL, 0.2, &o), 0);
  assert_int_equal(o.calls, 1);
  assert_true(o.r.timed_out);
  assert_int_equal(o.r.term_signal, SIGKILL);
  assert_string_equal(o.r.out, "ready\n");
  free_outcome(&o);
}

static void output_is_capped(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  const char *argv[] = {"head", "-c", "100000", "/dev/zero", NULL};
  cr_exec_options opts = {.argv = argv, .max_output = 1000};
  outcome o = {0};
  assert_int_equal(cr_exec_start(&loop, &opts, on_done, &o, NULL), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
  assert_int_equal(o.r.out_len, 1000);
  assert_true(o.r.out_truncated);
  assert_int_equal(o.r.exit_status, 0);
  free_outcome(&o);
}

static void cancel_tears_down(uv_timer_t *t) {
  cr_exec_cancel(t->data);
  uv_close((uv_handle_t *)t, NULL);
}

static void cancel_closes_every_handle(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  const char *argv[] = {"sleep", "30", NULL};
  cr_exec_options opts = {.argv = argv};
  outcome o = {0};
  cr_exec *ex;
  assert_int_equal(cr_exec_start(&loop, &opts, on_done, &o, &ex), 0);
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  t.data = ex;
  uv_timer_start(&t, cancel_tears_down, 50, 0);
  uint64_t start = uv_hrtime();
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_true(uv_hrtime() - start < 10ull * 1000 * 1000 * 1000); /* not the 30 s sleep */
  assert_int_equal(o.calls, 0);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(captures_output_and_status),
      cmocka_unit_test(feeds_stdin),
      cmocka_unit_test(missing_program_is_enoent),
      cmocka_unit_test(timeout_kills_with_term_then_kill),
      cmocka_unit_test(output_is_capped),
      cmocka_unit_test(cancel_closes_every_handle),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
