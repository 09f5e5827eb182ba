/* One UDP probe: a connected datagram socket sends one datagram and waits. A
 * reply means open; the ICMP port-unreachable that comes back shows up as
 * ECONNREFUSED on a connected socket (refused); silence is "open|filtered",
 * as nmap says, since a UDP service need not answer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connrecipe/probe.h"
#include "connrecipe/duration.h"

struct cr_udp_probe {
  uv_loop_t *loop;
  uv_poll_t poll;
  uv_timer_t timer;
  int fd, have_poll, handles, cancelled, finished;
  uint64_t t0;
  size_t read_bytes;
  cr_udp_probe_result r;
  cr_udp_probe_cb cb;
  void *data;
};

static void handle_closed(uv_handle_t *h) {
  cr_udp_probe *p = h->data;
  if (--p->handles == 0) {
    free(p->r.reply);
    free(p);
  }
}

static void finish(cr_udp_probe *p, cr_probe_status st, int err) {
  if (p->finished) return;
  p->finished = 1;
  p->r.status = st;
  p->r.err = err;
  p->r.ms = (double)(uv_hrtime() - p->t0) / 1e6;
  if (p->have_poll) uv_close((uv_handle_t *)&p->poll, handle_closed);
  uv_close((uv_handle_t *)&p->timer, handle_closed);
  if (p->fd >= 0) close(p->fd);
  p->fd = -1;
  if (!p->cancelled && p->cb) {
    p->cb(p, &p->r, p->data);
    p->r.reply = NULL;
  }
}

static void finish_errno(cr_udp_probe *p, int err) {
  cr_probe_status st = cr_probe_classify(err);
  if (st == CR_PROBE_OPEN || st == CR_PROBE_MISSING || st == CR_PROBE_NOT_A_SOCKET ||
      st == CR_PROBE_BUSY)
    st = CR_PROBE_ERROR;
  finish(p, st, err);
}

/* Tries to read the answer; returns 1 when the probe has an outcome. */
static int try_receive(cr_udp_probe *p) {
  char *buf = malloc(p->read_bytes + 1);
  if (!buf) {
    finish(p, CR_PROBE_ERROR, ENOMEM);
    return 1;
  }
  ssize_t n = recv(p->fd, buf, p->read_bytes, 0);
  if (n >= 0) {
    buf[n] = '\0';
    p->r.reply = buf;
    p->r.reply_len = (size_t)n;
    finish(p, CR_PROBE_OPEN, 0);
    return 1;
  }
  int err = errno;
  free(buf);
  if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) return 0;
  finish_errno(p, err);
  return 1;
}

static void readable(uv_poll_t *h, int status, int events) {
  cr_udp_probe *p = h->data;
  /* libuv reports POLLERR as UV_EBADF: recv() tells the real error */
  if (!try_receive(p) && status < 0) finish_errno(p, -status);
}

static void timer_fired(uv_timer_t *t) {
  cr_udp_probe *p = t->data;
  if (p->r.err) /* an outcome decided at start */
    finish_errno(p, p->r.err);
  else
    finish(p, CR_PROBE_OPEN_FILTERED, 0);
}

/* Socket, connect, send: returns 0 or the errno that is the outcome. */
static int send_probe(cr_udp_probe *p, const cr_sockaddr *to, const cr_udp_probe_options *o) {
  p->fd = socket(to->sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (p->fd < 0) return errno;
  if (connect(p->fd, &to->sa, cr_sockaddr_len(to)) != 0) return errno;
  if (send(p->fd, o->send ? o->send : "", o->send ? o->send_len : 0, 0) < 0) return errno;
  return 0;
}

int cr_udp_probe_start(uv_loop_t *loop, const cr_sockaddr *to, const cr_udp_probe_options *o,
                       cr_udp_probe_cb cb, void *data, cr_udp_probe **out) {
  cr_udp_probe *p = calloc(1, sizeof *p);
  if (!p) return UV_ENOMEM;
  p->loop = loop;
  p->cb = cb;
  p->data = data;
  p->fd = -1;
  p->t0 = uv_hrtime();
  p->read_bytes = o->read_bytes ? o->read_bytes : 256;
  uint64_t timeout_ms = cr_seconds_to_ms(o->timeout > 0 ? o->timeout : 2.0);
  uv_timer_init(loop, &p->timer);
  p->timer.data = p;
  p->handles = 1;
  *out = p;

  int err = send_probe(p, to, o);
  if (err == 0 && uv_poll_init_socket(loop, &p->poll, p->fd) != 0) err = EIO;
  if (err != 0) {
    p->r.err = err;
    uv_timer_start(&p->timer, timer_fired, 0, 0); /* deliver from the loop */
    return 0;
  }
  p->have_poll = 1;
  p->handles++;
  p->poll.data = p;
  uv_poll_start(&p->poll, UV_READABLE, readable);
  uv_timer_start(&p->timer, timer_fired, timeout_ms, 0);
  return 0;
}

void cr_udp_probe_cancel(cr_udp_probe *p) {
  p->cancelled = 1;
  finish(p, CR_PROBE_ERROR, ECANCELED);
}
