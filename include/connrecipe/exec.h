/* Running a program without a shell: argv in, exit status and captured output out.
 * Plain C on libuv; the Lua binding (cr.exec) sits on top. */
#ifndef CONNRECIPE_EXEC_H
#define CONNRECIPE_EXEC_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct cr_exec cr_exec;

typedef struct {
  const char *const *argv; /* NULL-terminated; argv[0] is looked up on PATH */
  const char *stdin_data;  /* written to the child's stdin, then closed; NULL: /dev/null */
  size_t stdin_len;
  double timeout;          /* seconds; <= 0: none. On expiry: SIGTERM, then SIGKILL */
  double kill_grace;       /* seconds between SIGTERM and SIGKILL; <= 0: 1 s */
  size_t max_output;       /* bytes kept per stream; 0: CR_EXEC_DEFAULT_MAX_OUTPUT */
  int inherit_stdio;       /* the child uses our stdin/stdout/stderr (nothing captured) and
                              stays in our process group, so Ctrl-C reaches it */
} cr_exec_options;

#define CR_EXEC_DEFAULT_MAX_OUTPUT ((size_t)16 << 20)

typedef struct {
  int64_t exit_status; /* meaningful when term_signal == 0 */
  int term_signal;     /* signal that ended the child, or 0 */
  int timed_out;       /* the timeout expired and the child was killed */
  char *out, *err;     /* NUL-terminated; owned by the receiver (free()) */
  size_t out_len, err_len;
  int out_truncated, err_truncated;
} cr_exec_result;

/* Called once when the child has exited and its output is drained. The result's
 * buffers now belong to the callee. The cr_exec frees itself afterwards. */
typedef void (*cr_exec_cb)(cr_exec *ex, cr_exec_result *result, void *data);

/* Starts the child. Returns 0, or a negative libuv error (UV_ENOENT when the
 * program is not found, UV_EACCES when it cannot be executed); on error the
 * callback is never called and nothing is left behind. */
int cr_exec_start(uv_loop_t *loop, const cr_exec_options *opts, cr_exec_cb cb, void *data,
                  cr_exec **out);

/* The child's process id (0 before it started). */
int cr_exec_pid(const cr_exec *ex);

/* Abandons a running child: kills its process group with SIGKILL and closes its
 * pipes. The callback is not called; memory is freed once libuv has closed
 * every handle (the loop must keep running until then). */
void cr_exec_cancel(cr_exec *ex);

#endif
