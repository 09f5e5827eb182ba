/* One TCP connect, exactly as a client makes it, with every way it can end
 * told apart; optionally a banner read (after sending some bytes) so a caller
 * can tell an HTTP server from Redis or SSH, or a settle window: what the
 * server does on its own right after accepting (speaks, closes, resets, or
 * waits), and only when it waits, the bytes sent and its reply. Raw non-blocking socket watched by
 * a uv_poll_t; one timer for the connect deadline, then the read deadline. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connrecipe/probe.h"
#include "connrecipe/duration.h"

#define BANNER_QUIET_MS 100 /* after data, stop reading once the peer pauses this long */

typedef enum { CONNECTING, SETTLING, READING, FINISHED } phase;

struct cr_tcp_probe {
  uv_loop_t *loop;
  uv_poll_t poll;
  uv_timer_t timer;
  int fd, have_poll, handles, cancelled, decided;
  phase phase;
  cr_sockaddr to;
  uint64_t t0, timeout_ms, read_deadline;
  int read_banner, into_reply;
  uint64_t settle_ms;
  char *send;
  size_t send_len, read_bytes;
  cr_tcp_probe_result r;
  cr_tcp_probe_cb cb;
  void *data;
};

static double elapsed_ms(cr_tcp_probe *p) { return (double)(uv_hrtime() - p->t0) / 1e6; }

static void probe_free(cr_tcp_probe *p) {
  free(p->r.banner);
  free(p->r.reply);
  free(p->send);
  free(p);
}

static void handle_closed(uv_handle_t *h) {
  cr_tcp_probe *p = h->data;
  if (--p->handles == 0) probe_free(p);
}

/* Delivers the result (unless cancelled) and releases everything. */
static void finish(cr_tcp_probe *p) {
  if (p->phase == FINISHED) return;
  p->phase = FINISHED;
  if (p->have_poll) uv_close((uv_handle_t *)&p->poll, handle_closed);
  uv_close((uv_handle_t *)&p->timer, handle_closed);
  if (p->fd >= 0) close(p->fd); /* the poll handle no longer watches it */
  p->fd = -1;
  if (!p->cancelled && p->cb) {
    if ((p->read_banner || p->r.after) && !p->r.banner) p->r.banner = calloc(1, 1);
    if (p->into_reply && !p->r.reply) p->r.reply = calloc(1, 1);
    p->cb(p, &p->r, p->data);
    p->r.banner = p->r.reply = NULL; /* now the callee's */
  }
}

static void set_outcome(cr_tcp_probe *p, int err) {
  p->decided = 1;
  p->r.err = err;
  p->r.status = cr_probe_classify(err);
  if (p->r.status == CR_PROBE_MISSING || p->r.status == CR_PROBE_NOT_A_SOCKET ||
      p->r.status == CR_PROBE_BUSY)
    p->r.status = CR_PROBE_ERROR; /* Unix-only meanings */
  p->r.ms = elapsed_ms(p);
}

static void remember_local(cr_tcp_probe *p) {
  socklen_t len = sizeof p->r.local;
  if (getsockname(p->fd, &p->r.local.sa, &len) == 0 && p->r.local.sa.sa_family != AF_UNSPEC)
    p->r.have_local = 1;
}

static int is_self_connect(cr_tcp_probe *p) {
  cr_sockaddr local;
  socklen_t len = sizeof local;
  if (getsockname(p->fd, &local.sa, &len) != 0) return 0;
  return len == cr_sockaddr_len(&p->to) &&
         (p->to.sa.sa_family == AF_INET
              ? local.in.sin_port == p->to.in.sin_port &&
                    local.in.sin_addr.s_addr == p->to.in.sin_addr.s_addr
              : local.in6.sin6_port == p->to.in6.sin6_port &&
                    memcmp(&local.in6.sin6_addr, &p->to.in6.sin6_addr, 16) == 0);
}

static void timer_fired(uv_timer_t *t);
static void socket_ready(uv_poll_t *h, int status, int events);

/* ---- banner, settle window and reply --------------------------------------- */

/* Where the bytes being read go: the banner (what the server said first, or
 * everything in the plain banner mode), or the reply to `send` after a
 * silent settle window. */
typedef struct {
  char **data;
  size_t *len;
  cr_read_end *end;
} read_sink;

static read_sink current_sink(cr_tcp_probe *p) {
  if (p->into_reply) return (read_sink){&p->r.reply, &p->r.reply_len, &p->r.reply_end};
  return (read_sink){&p->r.banner, &p->r.banner_len, &p->r.banner_end};
}

static void start_reply(cr_tcp_probe *p);

/* The settle window ended with what the server did on its own. */
static void settled(cr_tcp_probe *p, cr_after_connect what) {
  p->r.after = what;
  if (what == CR_AFTER_SILENT && p->send_len) {
    start_reply(p);
    return;
  }
  finish(p);
}

/* A read ended (closed, reset, full, another error): in the settle window
 * that says what the server did; otherwise the read is over. */
static void read_ended(cr_tcp_probe *p, cr_read_end end) {
  *current_sink(p).end = end;
  if (p->phase != SETTLING) {
    finish(p);
    return;
  }
  if (p->r.banner_len > 0) settled(p, CR_AFTER_SPOKE);
  else if (end == CR_READ_CLOSED) settled(p, CR_AFTER_CLOSED);
  else if (end == CR_READ_RESET) settled(p, CR_AFTER_RESET);
  else settled(p, CR_AFTER_ERROR);
}

/* Got something: wait only for a short quiet gap (or the read deadline). */
static void wait_quiet_gap(cr_tcp_probe *p) {
  uint64_t now = uv_now(p->loop), quiet = now + BANNER_QUIET_MS;
  uint64_t until = quiet < p->read_deadline ? quiet : p->read_deadline;
  uv_timer_start(&p->timer, timer_fired, until > now ? until - now : 0, 0);
}

static void read_some(cr_tcp_probe *p) {
  read_sink sink = current_sink(p);
  if (!*sink.data) *sink.data = calloc(1, p->read_bytes + 1);
  if (!*sink.data) {
    p->r.read_err = ENOMEM;
    read_ended(p, CR_READ_ERROR);
    return;
  }
  for (;;) {
    ssize_t n = recv(p->fd, *sink.data + *sink.len, p->read_bytes - *sink.len, 0);
    if (n > 0) {
      *sink.len += (size_t)n;
      if (*sink.len == p->read_bytes) break;
      continue;
    }
    if (n == 0) { /* the peer closed: that is the whole banner */
      read_ended(p, CR_READ_CLOSED);
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (*sink.len > 0) wait_quiet_gap(p);
      return;
    }
    p->r.read_err = errno;
    read_ended(p, errno == ECONNRESET ? CR_READ_RESET : CR_READ_ERROR);
    return;
  }
  read_ended(p, CR_READ_FULL);
}

static void send_request(cr_tcp_probe *p) {
  ssize_t n = send(p->fd, p->send, p->send_len, MSG_NOSIGNAL);
  if (n < 0) {
    p->r.read_err = errno;
    *current_sink(p).end = errno == ECONNRESET ? CR_READ_RESET : CR_READ_ERROR;
    finish(p);
  }
}

/* Reads until the deadline, the peer's close, a full buffer or a quiet gap. */
static void start_reading(cr_tcp_probe *p, phase ph, uint64_t timer_ms) {
  p->phase = ph;
  p->read_deadline = uv_now(p->loop) + p->timeout_ms;
  uv_timer_start(&p->timer, timer_fired, timer_ms, 0);
  read_some(p);
}

/* The plain banner mode: send at once (if asked), then read. */
static void start_banner(cr_tcp_probe *p) {
  p->phase = READING;
  if (p->send_len) send_request(p);
  if (p->phase == FINISHED) return;
  start_reading(p, READING, p->timeout_ms);
}

/* After a silent settle window: send, and read the answer. */
static void start_reply(cr_tcp_probe *p) {
  p->into_reply = 1;
  p->phase = READING;
  send_request(p);
  if (p->phase == FINISHED) return;
  start_reading(p, READING, p->timeout_ms);
}

/* ---- connect ------------------------------------------------------------------ */

static void connected_or_failed(cr_tcp_probe *p, int err) {
  if (err == 0 && is_self_connect(p)) {
    p->r.self_connect = 1;
    err = ECONNREFUSED;
  }
  set_outcome(p, err);
  if (err == 0 && (p->read_banner || p->settle_ms)) {
    uv_poll_start(&p->poll, UV_READABLE, socket_ready);
    if (p->settle_ms) start_reading(p, SETTLING, p->settle_ms);
    else start_banner(p);
    return;
  }
  finish(p);
}

static void socket_ready(uv_poll_t *h, int status, int events) {
  cr_tcp_probe *p = h->data;
  if (p->phase == FINISHED) return;
  if (p->phase == READING || p->phase == SETTLING) {
    read_some(p);
    return;
  }
  /* libuv reports POLLERR as UV_EBADF: a second connect() tells the real outcome */
  int err = connect(p->fd, &p->to.sa, cr_sockaddr_len(&p->to)) == 0 ? 0 : errno;
  if (err == EISCONN) err = 0;
  if (err == EALREADY && status < 0) {
    /* POLLERR: the kernel sets sk_err and wakes us before it moves the socket
     * to CLOSE, so connect() may still say EALREADY; SO_ERROR has the answer */
    socklen_t len = sizeof err;
    if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err == 0) err = EALREADY;
  }
  if (err == EALREADY || err == EINPROGRESS) {
    uv_poll_start(&p->poll, UV_WRITABLE, socket_ready); /* libuv stops it on POLLERR */
    return;
  }
  connected_or_failed(p, err);
}

static void timer_fired(uv_timer_t *t) {
  cr_tcp_probe *p = t->data;
  if (p->phase == CONNECTING && !p->decided) set_outcome(p, ETIMEDOUT);
  if (p->phase == SETTLING && p->r.banner_len == 0) {
    settled(p, CR_AFTER_SILENT);
    return;
  }
  if (p->phase == SETTLING || p->phase == READING) { /* the bytes so far */
    read_sink sink = current_sink(p);
    *sink.end = *sink.len > 0 && uv_now(p->loop) < p->read_deadline ? CR_READ_QUIET : CR_READ_TIMEOUT;
    if (p->phase == SETTLING) p->r.after = CR_AFTER_SPOKE;
  }
  finish(p);
}

/* Creates the socket (in `netns` when given) and starts the connect; returns
 * the errno of a failure that is the outcome itself (0 while connecting). */
static int begin_connect(cr_tcp_probe *p, const cr_sockaddr *source, const char *netns) {
  p->fd = cr_socket_in(netns, p->to.sa.sa_family);
  if (p->fd < 0) return errno;
  if (source) {
    int one = 1;
    setsockopt(p->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(p->fd, &source->sa, cr_sockaddr_len(source)) != 0) return errno;
  }
  /* connected at once (never seen for TCP): the poll reports it at once too */
  int err = connect(p->fd, &p->to.sa, cr_sockaddr_len(&p->to)) == 0 ? 0 : errno;
  remember_local(p);
  return err == EINPROGRESS ? 0 : err;
}

/* Outcomes known before any waiting (socket() or connect() failed at once, or
 * connected at once) still reach the callback from the loop, via the timer. */
static void deliver_soon(cr_tcp_probe *p, int err) {
  set_outcome(p, err);
  uv_timer_start(&p->timer, timer_fired, 0, 0);
}

int cr_tcp_probe_start(uv_loop_t *loop, const cr_sockaddr *to, const cr_tcp_probe_options *o,
                       cr_tcp_probe_cb cb, void *data, cr_tcp_probe **out) {
  cr_tcp_probe *p = calloc(1, sizeof *p);
  if (!p) return UV_ENOMEM;
  p->loop = loop;
  p->to = *to;
  p->cb = cb;
  p->data = data;
  p->fd = -1;
  p->t0 = uv_hrtime();
  p->timeout_ms = cr_seconds_to_ms(o->timeout > 0 ? o->timeout : 2.0);
  p->read_banner = o->read_banner || o->send;
  p->read_bytes = o->read_bytes ? o->read_bytes : 256;
  p->settle_ms = o->settle > 0 ? cr_seconds_to_ms(o->settle) + (cr_seconds_to_ms(o->settle) == 0) : 0;
  if (p->settle_ms) p->read_banner = 0; /* `send` waits for a silent settle window */
  if (o->send && o->send_len) {
    p->send = malloc(o->send_len);
    if (!p->send) {
      free(p);
      return UV_ENOMEM;
    }
    memcpy(p->send, o->send, o->send_len);
    p->send_len = o->send_len;
  }
  uv_timer_init(loop, &p->timer);
  p->timer.data = p;
  p->handles = 1;
  *out = p;

  int err = begin_connect(p, o->source, o->netns);
  if (err != 0) {
    deliver_soon(p, err);
    return 0;
  }
  if (uv_poll_init_socket(loop, &p->poll, p->fd) != 0) {
    deliver_soon(p, EIO);
    return 0;
  }
  p->have_poll = 1;
  p->handles++;
  p->poll.data = p;
  uv_poll_start(&p->poll, UV_WRITABLE, socket_ready);
  uv_timer_start(&p->timer, timer_fired, p->timeout_ms, 0);
  return 0;
}

void cr_tcp_probe_cancel(cr_tcp_probe *p) {
  p->cancelled = 1;
  finish(p);
}
