/* cr_exec: spawn a program with uv_spawn (no shell), feed stdin, collect stdout
 * and stderr, enforce a timeout with SIGTERM then SIGKILL.
 *
 * The child runs in its own process group (UV_PROCESS_DETACHED) so that a
 * timeout or cancellation kills everything it started, not just the first
 * process. Completion needs both the exit and EOF on both output pipes. */
#include "connrecipe/exec.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include "connrecipe/duration.h"

typedef struct {
  char *data;
  size_t len, cap, limit;
  int truncated;
  int eof;
} output_buffer;

struct cr_exec {
  uv_loop_t *loop;
  uv_process_t process;
  uv_pipe_t in, out, err;
  uv_timer_t timeout_timer, kill_timer;
  uv_write_t write_req;
  uv_buf_t stdin_buf;
  char *stdin_copy;
  output_buffer outbuf, errbuf;
  cr_exec_cb cb;
  void *data;
  double kill_grace;
  int open_handles; /* handles not yet closed; the struct is freed at zero */
  int exited, cancelled, finished, timed_out;
  int detached; /* the child leads its own process group */
  int64_t exit_status;
  int term_signal;
};

static void on_handle_closed(uv_handle_t *h) {
  cr_exec *ex = h->data;
  if (--ex->open_handles == 0) {
    free(ex->outbuf.data);
    free(ex->errbuf.data);
    free(ex->stdin_copy);
    free(ex);
  }
}

static void close_handle(cr_exec *ex, uv_handle_t *h) {
  if (h->data == ex && !uv_is_closing(h)) uv_close(h, on_handle_closed);
}

/* Closes pipes and timers; the process handle too once the child is reaped
 * (closing it earlier would leave a zombie). */
static void close_all(cr_exec *ex) {
  if (ex->exited || ex->process.pid == 0) close_handle(ex, (uv_handle_t *)&ex->process);
  close_handle(ex, (uv_handle_t *)&ex->in);
  close_handle(ex, (uv_handle_t *)&ex->out);
  close_handle(ex, (uv_handle_t *)&ex->err);
  close_handle(ex, (uv_handle_t *)&ex->timeout_timer);
  close_handle(ex, (uv_handle_t *)&ex->kill_timer);
}

/* Sends sig to the child's whole process group (it leads its own group). */
static void kill_group(cr_exec *ex, int sig) {
  if (ex->process.pid <= 0) return;
  /* after the leader exited, its group lives on while a grandchild holds it (a
   * group id is not reused while the group exists) */
  if (ex->detached && kill(-ex->process.pid, sig) == 0) return;
  if (!ex->exited) uv_process_kill(&ex->process, sig);
}

static char *take_output(output_buffer *b, size_t *len) {
  char *s = b->data ? b->data : malloc(1);
  if (s) s[b->len] = '\0';
  *len = s ? b->len : 0;
  b->data = NULL;
  return s;
}

/* Hands the result over once the child exited and both pipes reached EOF. */
static void maybe_finish(cr_exec *ex) {
  if (ex->finished || ex->cancelled || !ex->exited || !ex->outbuf.eof || !ex->errbuf.eof) return;
  ex->finished = 1;
  cr_exec_result r = {0};
  r.exit_status = ex->exit_status;
  r.term_signal = ex->term_signal;
  r.timed_out = ex->timed_out;
  r.out_truncated = ex->outbuf.truncated;
  r.err_truncated = ex->errbuf.truncated;
  r.out = take_output(&ex->outbuf, &r.out_len);
  r.err = take_output(&ex->errbuf, &r.err_len);
  close_all(ex);
  ex->cb(ex, &r, ex->data);
}

static void on_child_exit(uv_process_t *p, int64_t status, int term_signal) {
  cr_exec *ex = p->data;
  ex->exited = 1;
  ex->exit_status = status;
  ex->term_signal = term_signal;
  if (ex->cancelled || ex->finished)
    close_handle(ex, (uv_handle_t *)p);
  else
    maybe_finish(ex); /* the timeout stays armed: a grandchild may hold the pipes open */
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  static char scratch[65536]; /* single-threaded loop: output is copied at once */
  (void)h;
  (void)suggested;
  *buf = uv_buf_init(scratch, sizeof scratch);
}

static void append_output(output_buffer *b, const char *p, size_t n) {
  if (b->len + n > b->limit) {
    b->truncated = 1;
    n = b->limit - b->len; /* keep draining the pipe, drop the excess */
  }
  if (n == 0) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
      b->truncated = 1;
      return;
    }
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  cr_exec *ex = s->data;
  output_buffer *b = (s == (uv_stream_t *)&ex->out) ? &ex->outbuf : &ex->errbuf;
  if (n > 0) {
    append_output(b, buf->base, (size_t)n);
    return;
  }
  if (n < 0) { /* UV_EOF or a read error: either way this stream is done */
    b->eof = 1;
    uv_read_stop(s);
    maybe_finish(ex);
  }
}

static void on_kill_timer(uv_timer_t *t) { kill_group(t->data, SIGKILL); }

static void on_timeout(uv_timer_t *t) {
  cr_exec *ex = t->data;
  if (!ex->exited) {
    ex->timed_out = 1;
    kill_group(ex, SIGTERM);
    uv_timer_start(&ex->kill_timer, on_kill_timer, cr_seconds_to_ms(ex->kill_grace), 0);
  } else {
    kill_group(ex, SIGKILL); /* what is left of the group holds the pipes */
  }
  /* A grandchild may hold the pipes open after the child is gone: stop waiting for EOF. */
  ex->outbuf.eof = ex->errbuf.eof = 1;
  maybe_finish(ex);
}

static void on_stdin_written(uv_write_t *req, int status) {
  cr_exec *ex = req->data;
  (void)status; /* EPIPE: the child did not read its input; its exit tells the rest */
  close_handle(ex, (uv_handle_t *)&ex->in);
}

static int init_handle(cr_exec *ex, uv_handle_t *h, int rc) {
  if (rc == 0) {
    h->data = ex;
    ex->open_handles++;
  }
  return rc;
}

static int init_handles(cr_exec *ex) {
  int rc;
  if ((rc = init_handle(ex, (uv_handle_t *)&ex->in, uv_pipe_init(ex->loop, &ex->in, 0)))) return rc;
  if ((rc = init_handle(ex, (uv_handle_t *)&ex->out, uv_pipe_init(ex->loop, &ex->out, 0))))
    return rc;
  if ((rc = init_handle(ex, (uv_handle_t *)&ex->err, uv_pipe_init(ex->loop, &ex->err, 0))))
    return rc;
  if ((rc = init_handle(ex, (uv_handle_t *)&ex->timeout_timer,
                        uv_timer_init(ex->loop, &ex->timeout_timer))))
    return rc;
  return init_handle(ex, (uv_handle_t *)&ex->kill_timer, uv_timer_init(ex->loop, &ex->kill_timer));
}

static int spawn_child(cr_exec *ex, const cr_exec_options *opts, int with_stdin) {
  uv_stdio_container_t stdio[3];
  stdio[0].flags = with_stdin ? (UV_CREATE_PIPE | UV_READABLE_PIPE) : UV_IGNORE;
  stdio[0].data.stream = (uv_stream_t *)&ex->in;
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t *)&ex->out;
  stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[2].data.stream = (uv_stream_t *)&ex->err;
  if (opts->inherit_stdio) {
    for (int i = 0; i < 3; i++) {
      stdio[i].flags = UV_INHERIT_FD;
      stdio[i].data.fd = i;
    }
  }

  uv_process_options_t po = {0};
  po.file = opts->argv[0];
  po.args = (char **)opts->argv;
  po.exit_cb = on_child_exit;
  po.stdio_count = 3;
  po.stdio = stdio;
  /* own process group, so that kill(-pid) reaches its children too; an
   * interactive child stays in ours, where the terminal's Ctrl-C reaches it */
  po.flags = opts->inherit_stdio ? 0 : UV_PROCESS_DETACHED;
  int rc = uv_spawn(ex->loop, &ex->process, &po);
  ex->detached = rc == 0 && !opts->inherit_stdio;
  /* libuv initialises the handle even when the spawn fails: it must be closed */
  ex->process.data = ex;
  ex->open_handles++;
  return rc;
}

static void start_io(cr_exec *ex, const cr_exec_options *opts, int with_stdin) {
  if (opts->inherit_stdio) {
    ex->outbuf.eof = ex->errbuf.eof = 1; /* nothing to read: the exit is the end */
    close_handle(ex, (uv_handle_t *)&ex->out);
    close_handle(ex, (uv_handle_t *)&ex->err);
  } else {
    uv_read_start((uv_stream_t *)&ex->out, on_alloc, on_read);
    uv_read_start((uv_stream_t *)&ex->err, on_alloc, on_read);
  }
  if (with_stdin) {
    ex->write_req.data = ex;
    if (uv_write(&ex->write_req, (uv_stream_t *)&ex->in, &ex->stdin_buf, 1, on_stdin_written) != 0)
      close_handle(ex, (uv_handle_t *)&ex->in);
  } else {
    close_handle(ex, (uv_handle_t *)&ex->in);
  }
  if (opts->timeout > 0)
    uv_timer_start(&ex->timeout_timer, on_timeout, cr_seconds_to_ms(opts->timeout), 0);
}

int cr_exec_start(uv_loop_t *loop, const cr_exec_options *opts, cr_exec_cb cb, void *data,
                  cr_exec **out) {
  if (!opts->argv || !opts->argv[0]) return UV_EINVAL;
  cr_exec *ex = calloc(1, sizeof *ex);
  if (!ex) return UV_ENOMEM;
  ex->loop = loop;
  ex->cb = cb;
  ex->data = data;
  ex->kill_grace = opts->kill_grace > 0 ? opts->kill_grace : 1.0;
  size_t limit = opts->max_output ? opts->max_output : CR_EXEC_DEFAULT_MAX_OUTPUT;
  ex->outbuf.limit = ex->errbuf.limit = limit;
  int with_stdin = opts->stdin_data != NULL && !opts->inherit_stdio;
  if (with_stdin && opts->stdin_len > 0) {
    ex->stdin_copy = malloc(opts->stdin_len);
    if (!ex->stdin_copy) {
      free(ex);
      return UV_ENOMEM;
    }
    memcpy(ex->stdin_copy, opts->stdin_data, opts->stdin_len);
  }
  ex->stdin_buf = uv_buf_init(ex->stdin_copy, (unsigned)opts->stdin_len);

  int rc = init_handles(ex);
  if (rc == 0) rc = spawn_child(ex, opts, with_stdin);
  if (rc != 0) {
    ex->cancelled = 1;
    if (ex->open_handles == 0) {
      free(ex->stdin_copy);
      free(ex);
    } else {
      close_all(ex);
    }
    return rc;
  }
  start_io(ex, opts, with_stdin);
  if (out) *out = ex;
  return 0;
}

int cr_exec_pid(const cr_exec *ex) { return ex->process.pid; }

void cr_exec_cancel(cr_exec *ex) {
  if (ex->finished || ex->cancelled) return;
  ex->cancelled = 1;
  kill_group(ex, SIGKILL);
  close_all(ex); /* the process handle follows in on_child_exit, once reaped */
}
