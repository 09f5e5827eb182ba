/* Unary gRPC calls over a Unix socket. libnghttp2 does HTTP/2 (framing,
 * HPACK, flow control, SETTINGS); this file only moves bytes between the
 * socket and the session, builds gRPC's request headers and its 5-byte
 * message prefix, and reads the status gRPC puts in the trailers. Blocking,
 * with poll and one deadline: it runs on the thread pool. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>


#include "connrecipe/grpc.h"
#include "nghttp2_lib.h"

typedef struct {
  int32_t stream_id;
  uint8_t *body; /* the request: prefix and message */
  size_t body_len, body_off;
  uint8_t *data; /* the response body */
  size_t len, cap;
  int http_status, grpc_status; /* -1: none seen */
  char grpc_message[160];
  int closed, too_big;
  uint32_t error_code;
} call_state;

struct cr_grpc_conn {
  int fd;
  nghttp2_session *session;
  call_state *call;
  int64_t deadline_ms;
  int broken; /* a call failed mid-stream: nghttp2 may still hold its (freed) body */
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static ssize_t on_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud) {
  cr_grpc_conn *c = ud;
  ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
  if (n >= 0) return n;
  if (errno == EAGAIN || errno == EINTR) return NGHTTP2_ERR_WOULDBLOCK;
  return NGHTTP2_ERR_CALLBACK_FAILURE;
}

static call_state *stream_call(cr_grpc_conn *c, int32_t stream_id) {
  return c->call && c->call->stream_id == stream_id ? c->call : NULL;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
                   size_t len, void *ud) {
  call_state *st = stream_call(ud, stream_id);
  if (!st || st->too_big) return 0;
  if (len > CR_GRPC_MAX_RESPONSE - st->len) {
    st->too_big = 1;
    cr_nghttp2.nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
    return 0;
  }
  if (st->len + len > st->cap) {
    size_t cap = st->cap ? st->cap : 16384;
    while (cap < st->len + len)
      cap *= 2;
    uint8_t *p = realloc(st->data, cap);
    if (!p) return NGHTTP2_ERR_CALLBACK_FAILURE;
    st->data = p;
    st->cap = cap;
  }
  memcpy(st->data + st->len, data, len);
  st->len += len;
  return 0;
}

/* A small decimal header value (":status", "grpc-status"), or -2 if not one. */
static int header_int(const uint8_t *v, size_t len) {
  if (len == 0 || len > 4) return -2;
  int n = 0;
  for (size_t i = 0; i < len; i++) {
    if (v[i] < '0' || v[i] > '9') return -2;
    n = n * 10 + (v[i] - '0');
  }
  return n;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *ud) {
  call_state *st = stream_call(ud, f->hd.stream_id);
  if (!st) return 0;
  if (namelen == 7 && !memcmp(name, ":status", 7)) {
    st->http_status = header_int(value, valuelen);
  } else if (namelen == 11 && !memcmp(name, "grpc-status", 11)) {
    st->grpc_status = header_int(value, valuelen);
  } else if (namelen == 12 && !memcmp(name, "grpc-message", 12)) {
    size_t n = valuelen < sizeof st->grpc_message - 1 ? valuelen : sizeof st->grpc_message - 1;
    /* the server's words: printable ASCII kept, anything else '?' (gRPC
     * percent-encodes the rest anyway) */
    for (size_t i = 0; i < n; i++)
      st->grpc_message[i] = value[i] >= 0x20 && value[i] < 0x7f ? (char)value[i] : '?';
    st->grpc_message[n] = '\0';
  }
  return 0;
}

static int on_close(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *ud) {
  call_state *st = stream_call(ud, stream_id);
  if (st) {
    st->closed = 1;
    st->error_code = error_code;
  }
  return 0;
}

static ssize_t read_body(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *ud) {
  call_state *st = src->ptr;
  size_t n = st->body_len - st->body_off;
  if (n > len) n = len;
  memcpy(buf, st->body + st->body_off, n);
  st->body_off += n;
  if (st->body_off == st->body_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

cr_grpc_conn *cr_grpc_connect(const char *path, int timeout_ms, int *err) {
  if (cr_grpc_lib_load(NULL) != 0) {
    *err = -ELIBACC;
    return NULL;
  }
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) {
    *err = -ENAMETOOLONG;
    return NULL;
  }
  strcpy(sa.sun_path, path);
  cr_grpc_conn *c = calloc(1, sizeof *c);
  if (!c) {
    *err = -ENOMEM;
    return NULL;
  }
  c->deadline_ms = now_ms() + timeout_ms;
  /* a Unix socket's connect does not wait for the server to accept */
  c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (c->fd < 0 ||
      (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)) {
    *err = -errno;
    cr_grpc_close(c);
    return NULL;
  }
  nghttp2_session_callbacks *cb;
  if (cr_nghttp2.nghttp2_session_callbacks_new(&cb)) {
    *err = -ENOMEM;
    cr_grpc_close(c);
    return NULL;
  }
  cr_nghttp2.nghttp2_session_callbacks_set_send_callback(cb, on_send);
  cr_nghttp2.nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
  cr_nghttp2.nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  cr_nghttp2.nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
  int rc = cr_nghttp2.nghttp2_session_client_new(&c->session, cb, c);
  cr_nghttp2.nghttp2_session_callbacks_del(cb);
  /* a 1 MiB window: a List of many containers comes in few round trips */
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                 {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
  if (rc || cr_nghttp2.nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, 2)) {
    *err = -ENOMEM;
    cr_grpc_close(c);
    return NULL;
  }
  return c;
}

void cr_grpc_close(cr_grpc_conn *c) {
  if (!c) return;
  if (c->session) cr_nghttp2.nghttp2_session_del(c->session);
  if (c->fd >= 0) close(c->fd);
  free(c);
}

/* Sends what the session wants to and reads what comes, until the call's
 * stream is closed, the deadline passes or the connection fails. */
static int pump(cr_grpc_conn *c, char *msg, size_t cap) {
  uint8_t buf[16384];
  while (!c->call->closed) {
    if (cr_nghttp2.nghttp2_session_send(c->session)) {
      snprintf(msg, cap, "cannot send");
      return -ECONNRESET;
    }
    /* neither: nghttp2 ended the session (a GOAWAY sent or received, as
     * when the peer does not speak HTTP/2) */
    if (!cr_nghttp2.nghttp2_session_want_read(c->session) && !cr_nghttp2.nghttp2_session_want_write(c->session)) {
      snprintf(msg, cap, "not HTTP/2, or the server ended the session");
      return -EPROTO;
    }
    int64_t left = c->deadline_ms - now_ms();
    if (left <= 0) {
      snprintf(msg, cap, "no answer in time");
      return -ETIMEDOUT;
    }
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    if (cr_nghttp2.nghttp2_session_want_write(c->session)) p.events |= POLLOUT;
    int n = poll(&p, 1, (int)left);
    if (n < 0 && errno != EINTR) return -errno;
    if (n <= 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
    ssize_t r = recv(c->fd, buf, sizeof buf, 0);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (r <= 0) {
      snprintf(msg, cap, "the server closed the connection");
      return r < 0 ? -errno : -ECONNRESET;
    }
    ssize_t used = cr_nghttp2.nghttp2_session_mem_recv(c->session, buf, (size_t)r);
    if (used < 0) {
      snprintf(msg, cap, "not HTTP/2: %s", cr_nghttp2.nghttp2_strerror((int)used));
      return -EPROTO;
    }
  }
  return 0;
}

int cr_grpc_unframe(const uint8_t *buf, size_t len, const uint8_t **msg, size_t *msg_len,
                    const char **why) {
  if (len < 5) {
    *why = "a response shorter than its 5-byte prefix";
    return -EPROTO;
  }
  if (buf[0] != 0) {
    *why = buf[0] == 1 ? "a compressed response (none was asked for)" : "a bad message flag";
    return -EPROTO;
  }
  uint32_t n = (uint32_t)buf[1] << 24 | (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 8 | buf[4];
  if (n != len - 5) {
    *why = n > len - 5 ? "a truncated message" : "more than one message";
    return -EPROTO;
  }
  *msg = buf + 5;
  *msg_len = n;
  return 0;
}

#define NV(n, v)                                                                                   \
  { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE }

/* What a finished call's stream said: 0 and the message, or the failure. */
static int outcome(call_state *st, uint8_t **resp, size_t *resp_len, char *msg, size_t cap) {
  if (st->too_big) {
    snprintf(msg, cap, "a response over %u bytes", CR_GRPC_MAX_RESPONSE);
    return -E2BIG;
  }
  if (st->http_status != 200) {
    snprintf(msg, cap, "HTTP status %d, not gRPC's 200", st->http_status);
    return -EPROTO;
  }
  if (st->grpc_status < 0) {
    snprintf(msg, cap,
             st->error_code ? "the stream was reset (HTTP/2 error %u)"
                            : "no grpc-status in the trailers",
             st->error_code);
    return -EPROTO;
  }
  if (st->grpc_status > 0) {
    snprintf(msg, cap, "%s", st->grpc_message[0] ? st->grpc_message : "(no message)");
    return st->grpc_status;
  }
  const uint8_t *m;
  size_t n;
  const char *why;
  if (cr_grpc_unframe(st->data, st->len, &m, &n, &why)) {
    snprintf(msg, cap, "%s", why);
    return -EPROTO;
  }
  *resp = malloc(n ? n : 1);
  if (!*resp) return -ENOMEM;
  memcpy(*resp, m, n);
  *resp_len = n;
  return 0;
}

int cr_grpc_call(cr_grpc_conn *c, const char *method, const char *const *metadata, size_t n,
                 const uint8_t *req, size_t req_len, uint8_t **resp, size_t *resp_len, char *msg,
                 size_t cap) {
  call_state st = {.http_status = -1, .grpc_status = -1};
  msg[0] = '\0';
  if (c->broken) {
    snprintf(msg, cap, "the connection failed in an earlier call");
    return -EPIPE;
  }
  if (req_len > CR_GRPC_MAX_RESPONSE || n > 8) return -E2BIG;
  st.body_len = 5 + req_len;
  st.body = malloc(st.body_len);
  if (!st.body) return -ENOMEM;
  st.body[0] = 0; /* not compressed */
  st.body[1] = (uint8_t)(req_len >> 24), st.body[2] = (uint8_t)(req_len >> 16);
  st.body[3] = (uint8_t)(req_len >> 8), st.body[4] = (uint8_t)req_len;
  if (req_len) memcpy(st.body + 5, req, req_len);
  nghttp2_nv nv[6 + 8] = {NV(":method", "POST"),
                          NV(":scheme", "http"),
                          NV(":path", method),
                          NV(":authority", "localhost"),
                          NV("content-type", "application/grpc"),
                          NV("te", "trailers")};
  size_t nnv = 6;
  for (size_t i = 0; i < n; i++, nnv++)
    nv[nnv] =
        (nghttp2_nv){(uint8_t *)metadata[2 * i], (uint8_t *)metadata[2 * i + 1],
                     strlen(metadata[2 * i]), strlen(metadata[2 * i + 1]), NGHTTP2_NV_FLAG_NONE};
  nghttp2_data_provider body = {.source.ptr = &st, .read_callback = read_body};
  int rc;
  st.stream_id = cr_nghttp2.nghttp2_submit_request(c->session, NULL, nv, nnv, &body, NULL);
  if (st.stream_id < 0) {
    snprintf(msg, cap, "cannot start the call: %s", cr_nghttp2.nghttp2_strerror(st.stream_id));
    rc = -EPROTO;
  } else {
    c->call = &st;
    rc = pump(c, msg, cap);
    c->call = NULL;
    if (rc != 0) c->broken = 1; /* the stream may be open: never send on it again */
    if (rc == 0) rc = outcome(&st, resp, resp_len, msg, cap);
  }
  free(st.body);
  free(st.data);
  return rc;
}
