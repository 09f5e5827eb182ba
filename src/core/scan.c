/* The scan engine: a bounded window of non-blocking connects on one libuv loop.
 *
 * Per port the cost is what matters: a closed loopback port answers with a RST
 * that the kernel has already processed when connect() returns EINPROGRESS, so
 * a second connect() tells the outcome at once (the pending error, 0 when
 * established, EALREADY while the SYN is out). Only ports still connecting get
 * a uv_poll_t; they sit on one list in start order, which is also deadline
 * order (one timeout for all), so a single timer serves the whole window. A
 * socket whose connect was refused is disconnected by the kernel and can
 * connect again, so it is reused for the next port instead of closed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connrecipe/probe.h"
#include "connrecipe/duration.h"

#define FILL_BATCH 2048  /* connects started per loop turn, so timers still run */
#define FD_RETRY_MS 10   /* wait before retrying when no descriptor is left */
#define FD_RETRY_MAX 300 /* ... at most this many times in a row (3 s) */

typedef struct slot {
  uv_poll_t poll;
  struct cr_scan *scan;
  int fd;
  uint16_t port;
  uint64_t deadline;
  struct slot *prev, *next; /* pending list (start order) or free list (next only) */
} slot;

struct cr_scan {
  uv_loop_t *loop;
  cr_sockaddr target;
  cr_portset ports;
  uint64_t timeout_ms;
  int cursor; /* last port started */
  int window, max_window;
  int fresh_ok; /* new sockets made since the window last changed */
  int inflight; /* slots pending or closing */
  int spare_fd; /* a refused socket kept for the next connect, or -1 */
  int fd_retries;
  cr_scan_progress prog;
  uint16_t *open;
  int nopen, open_cap;
  slot *slots, *free_slots;
  slot *head, *tail; /* pending connects, oldest first */
  uv_idle_t filler;
  uv_timer_t timer;
  int handles; /* open libuv handles (filler, timer, slot polls) */
  int stopped, released;
  cr_scan_cb cb;
  void *data;
};

static void maybe_finish(cr_scan *s);
static void deadline_passed(uv_timer_t *t);
static void schedule_fill(cr_scan *s);

static void record(cr_scan *s, int port, int err) {
  cr_probe_status st = cr_probe_classify(err);
  if (st == CR_PROBE_OPEN) {
    if (s->nopen == s->open_cap) {
      int cap = s->open_cap ? s->open_cap * 2 : 64;
      uint16_t *p = realloc(s->open, (size_t)cap * sizeof *p);
      if (!p) { /* keep counting; the port list is best effort under OOM */
        s->prog.counts[CR_PROBE_ERROR]++;
        s->prog.done++;
        return;
      }
      s->open = p;
      s->open_cap = cap;
    }
    s->open[s->nopen++] = (uint16_t)port;
  }
  s->prog.counts[st]++;
  s->prog.done++;
}

/* A connected socket whose local end is the target itself (TCP simultaneous
 * open with its own source port) reached nobody. */
static int is_self_connect(cr_scan *s, int fd, int port) {
  cr_sockaddr local;
  socklen_t len = sizeof local;
  if (getsockname(fd, &local.sa, &len) != 0) return 0;
  if (local.sa.sa_family == AF_INET)
    return ntohs(local.in.sin_port) == port &&
           local.in.sin_addr.s_addr == s->target.in.sin_addr.s_addr;
  return ntohs(local.in6.sin6_port) == port &&
         memcmp(&local.in6.sin6_addr, &s->target.in6.sin6_addr, 16) == 0;
}

/* The outcome of a connect on fd: records it and disposes of the socket. */
static void settle(cr_scan *s, int fd, int port, int err) {
  int reusable = err == ECONNREFUSED;
  if (err == 0 && is_self_connect(s, fd, port)) {
    err = ECONNREFUSED; /* but the socket is connected: not reusable */
    s->prog.self_connects++;
  }
  record(s, port, err);
  if (reusable && s->spare_fd < 0) {
    s->spare_fd = fd; /* the kernel disconnected it: reusable */
  } else {
    close(fd);
  }
}

static void set_port(cr_scan *s, int port) {
  if (s->target.sa.sa_family == AF_INET)
    s->target.in.sin_port = htons((uint16_t)port);
  else
    s->target.in6.sin6_port = htons((uint16_t)port);
}

/* Second connect(): 0 established, EALREADY still connecting, or the error. */
static int connect_state(cr_scan *s, int fd) {
  if (connect(fd, &s->target.sa, cr_sockaddr_len(&s->target)) == 0) return 0;
  return errno == EISCONN ? 0 : errno;
}

/* ---- pending connects ------------------------------------------------------- */

static void unlink_pending(cr_scan *s, slot *sl) {
  if (sl->prev)
    sl->prev->next = sl->next;
  else
    s->head = sl->next;
  if (sl->next)
    sl->next->prev = sl->prev;
  else
    s->tail = sl->prev;
  sl->prev = sl->next = NULL;
}

static void release_if_done(cr_scan *s) {
  if (s->released && s->handles == 0) {
    if (s->spare_fd >= 0) close(s->spare_fd);
    free(s->open);
    free(s->slots);
    free(s);
  }
}

static void slot_closed(uv_handle_t *h) {
  slot *sl = h->data;
  cr_scan *s = sl->scan;
  sl->next = s->free_slots;
  s->free_slots = sl;
  s->inflight--;
  s->handles--;
  if (s->released) {
    release_if_done(s);
    return;
  }
  schedule_fill(s);
  maybe_finish(s);
}

/* Ends a pending connect: its poll handle closes, the slot frees on close. */
static void end_pending(cr_scan *s, slot *sl, int err) {
  unlink_pending(s, sl);
  uv_close((uv_handle_t *)&sl->poll, slot_closed);
  if (err >= 0) {
    settle(s, sl->fd, sl->port, err);
  } else {
    close(sl->fd); /* stopped: no outcome */
  }
  sl->fd = -1;
}

static void arm_timer(cr_scan *s) {
  if (!s->head) {
    uv_timer_stop(&s->timer);
    return;
  }
  uint64_t now = uv_now(s->loop);
  uint64_t wait = s->head->deadline > now ? s->head->deadline - now : 0;
  uv_timer_start(&s->timer, deadline_passed, wait, 0);
}

/* The error the kernel reported with POLLERR. It sets sk_err and wakes us up
 * before moving the socket to CLOSE, so on another CPU a second connect() may
 * still say EALREADY: SO_ERROR already holds the answer. */
static int pending_socket_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err ? err : EALREADY;
}

/* libuv reports POLLERR as UV_EBADF: the socket itself knows the real error. */
static void pending_ready(uv_poll_t *h, int status, int events) {
  slot *sl = h->data;
  cr_scan *s = sl->scan;
  int was_head = s->head == sl;
  set_port(s, sl->port);
  int err = connect_state(s, sl->fd);
  if (err == EALREADY && status < 0) err = pending_socket_error(sl->fd);
  if (err == EALREADY) {
    uv_poll_start(&sl->poll, UV_WRITABLE, pending_ready); /* libuv stopped it on POLLERR */
    return;
  }
  end_pending(s, sl, err);
  if (was_head) arm_timer(s);
}

static void deadline_passed(uv_timer_t *t) {
  cr_scan *s = t->data;
  uint64_t now = uv_now(s->loop);
  while (s->head && s->head->deadline <= now)
    end_pending(s, s->head, ETIMEDOUT);
  if (s->fd_retries) schedule_fill(s); /* a descriptor retry was waiting too */
  arm_timer(s);
}

static int start_pending(cr_scan *s, int fd, int port) {
  slot *sl = s->free_slots;
  s->free_slots = sl->next;
  sl->fd = fd;
  sl->port = (uint16_t)port;
  sl->deadline = uv_now(s->loop) + s->timeout_ms;
  sl->scan = s;
  int rc = uv_poll_init_socket(s->loop, &sl->poll, fd);
  if (rc != 0) {
    sl->next = s->free_slots;
    s->free_slots = sl;
    return rc;
  }
  sl->poll.data = sl;
  s->handles++;
  s->inflight++;
  uv_poll_start(&sl->poll, UV_WRITABLE, pending_ready);
  sl->prev = s->tail;
  sl->next = NULL;
  if (s->tail)
    s->tail->next = sl;
  else
    s->head = sl;
  s->tail = sl;
  if (!uv_is_active((uv_handle_t *)&s->timer)) arm_timer(s);
  return 0;
}

/* ---- starting connects -------------------------------------------------------- */

/* Descriptors are coming again after a lowering: one more connect in flight
 * for every window's worth of new sockets (additive increase, as TCP's
 * congestion avoidance), up to the concurrency asked for. */
static void raise_window(cr_scan *s) {
  if (s->window >= s->max_window || ++s->fresh_ok < s->window) return;
  s->fresh_ok = 0;
  s->window++;
  s->prog.concurrency = s->window;
  s->prog.concurrency_raises++;
}

static int new_socket(cr_scan *s) {
  if (s->spare_fd >= 0) {
    int fd = s->spare_fd;
    s->spare_fd = -1;
    return fd;
  }
  int fd = socket(s->target.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd >= 0) raise_window(s);
  return fd;
}

/* Out of descriptors: shrink the window to what is in flight (a little less,
 * leaving some for the rest of the program) and retry the port later
 * (multiplicative decrease; raise_window brings it back). */
static void lower_window(cr_scan *s) {
  s->prog.fd_limit_hits++;
  int w = s->inflight - s->inflight / 8;
  s->window = w < 1 ? 1 : w;
  s->fresh_ok = 0;
  s->prog.concurrency = s->window;
  if (s->window < s->prog.concurrency_min) s->prog.concurrency_min = s->window;
}

/* Starts one connect; returns 1 when started (or settled), 0 when out of
 * descriptors (the port is retried), -1 on a fatal local error (errno). */
static int launch(cr_scan *s, int port) {
  int fd = new_socket(s);
  if (fd < 0) {
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) return 0;
    return -1;
  }
  set_port(s, port);
  int err = 0;
  if (connect(fd, &s->target.sa, cr_sockaddr_len(&s->target)) != 0) {
    err = errno;
    if (err == EINPROGRESS) err = connect_state(s, fd);
  }
  if (err == EALREADY || err == EINPROGRESS) {
    int rc = start_pending(s, fd, port);
    if (rc != 0) {
      close(fd);
      errno = -rc;
      return -1;
    }
    return 1;
  }
  settle(s, fd, port, err);
  return 1;
}

static void fail_scan(cr_scan *s, int err) {
  s->prog.fatal_err = err;
  s->cursor = 65535; /* start nothing more */
  while (s->head)
    end_pending(s, s->head, -1);
}

static void fill(uv_idle_t *h) {
  cr_scan *s = h->data;
  for (int n = 0; n < FILL_BATCH && s->inflight < s->window; n++) {
    int port = cr_portset_next(&s->ports, s->cursor);
    if (!port) break;
    int rc = launch(s, port);
    if (rc < 0) {
      fail_scan(s, errno);
      break;
    }
    if (rc == 0) {
      lower_window(s);
      if (s->inflight == 0 && ++s->fd_retries > FD_RETRY_MAX) {
        fail_scan(s, EMFILE);
        break;
      }
      if (s->inflight == 0) { /* nothing will free a descriptor: wait, then retry */
        uv_idle_stop(&s->filler);
        uv_timer_start(&s->timer, deadline_passed, FD_RETRY_MS, 0);
        return;
      }
      break;
    }
    s->fd_retries = 0;
    s->cursor = port;
  }
  uv_idle_stop(&s->filler);
  schedule_fill(s);
  maybe_finish(s);
}

static void schedule_fill(cr_scan *s) {
  if (s->stopped || s->prog.finished) return;
  if (s->inflight < s->window && cr_portset_next(&s->ports, s->cursor))
    uv_idle_start(&s->filler, fill);
}

static void maybe_finish(cr_scan *s) {
  if (s->prog.finished || s->inflight > 0) return;
  if (!s->prog.fatal_err && cr_portset_next(&s->ports, s->cursor)) return;
  s->prog.finished = 1;
  uv_idle_stop(&s->filler);
  uv_timer_stop(&s->timer);
  if (s->cb) s->cb(s, s->data);
}

/* ---- public ------------------------------------------------------------------- */

int cr_scan_start(uv_loop_t *loop, const cr_scan_options *o, cr_scan_cb cb, void *data,
                  cr_scan **out) {
  cr_scan *s = calloc(1, sizeof *s);
  if (!s) return UV_ENOMEM;
  s->loop = loop;
  s->target = o->target;
  s->ports = *o->ports;
  s->timeout_ms = cr_seconds_to_ms(o->timeout > 0 ? o->timeout : 2.0);
  if (s->timeout_ms == 0) s->timeout_ms = 1;
  int want = o->concurrency > 0 ? o->concurrency : 1000;
  s->max_window = want < s->ports.count ? want : s->ports.count;
  if (s->max_window < 1) s->max_window = 1;
  s->window = s->max_window;
  s->spare_fd = -1;
  s->prog.total = s->ports.count;
  s->prog.concurrency = s->prog.concurrency_min = s->window;
  s->cb = cb;
  s->data = data;
  s->slots = calloc((size_t)s->max_window, sizeof *s->slots);
  if (!s->slots) {
    free(s);
    return UV_ENOMEM;
  }
  for (int i = s->max_window - 1; i >= 0; i--) {
    s->slots[i].next = s->free_slots;
    s->free_slots = &s->slots[i];
  }
  uv_idle_init(loop, &s->filler);
  uv_timer_init(loop, &s->timer);
  s->filler.data = s->timer.data = s;
  s->handles = 2;
  uv_idle_start(&s->filler, fill);
  *out = s;
  return 0;
}

const cr_scan_progress *cr_scan_get_progress(const cr_scan *s) { return &s->prog; }

const uint16_t *cr_scan_open_ports(const cr_scan *s, int *n) {
  *n = s->nopen;
  return s->open;
}

static void scan_handle_closed(uv_handle_t *h) {
  cr_scan *s = h->data;
  s->handles--;
  release_if_done(s);
}

void cr_scan_free(cr_scan *s) {
  s->stopped = 1;
  s->released = 1;
  s->cb = NULL;
  while (s->head)
    end_pending(s, s->head, -1);
  uv_close((uv_handle_t *)&s->filler, scan_handle_closed);
  uv_close((uv_handle_t *)&s->timer, scan_handle_closed);
}
