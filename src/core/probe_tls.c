/* One TLS handshake as a client makes it, to see what a TLS port says: the
 * version, cipher and certificate (subject, SAN, validity), whether the chain
 * and the name verify, or why the handshake failed (libssl's own reason, e.g.
 * "wrong version number" when the port speaks plain text, with the bytes it
 * sent). OpenSSL does the TLS over memory BIOs; the bytes move on the libuv
 * loop (uv_tcp_t), so nothing blocks. The handshake always completes when it
 * can (SSL_VERIFY_NONE): verification is reported, not enforced. The socket
 * can be made in another network namespace (netns), as the TCP probe's. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "connrecipe/duration.h"
#include "connrecipe/probe.h"
#include "tls_lib.h"

struct cr_tls_probe {
  uv_loop_t *loop;
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_connect_t connect;
  int handles, finished, cancelled, connected;
  uint64_t t0, timeout_ms;
  SSL_CTX *ctx;
  SSL *ssl;
  BIO *rbio, *wbio; /* network -> libssl, libssl -> network */
  char *name;
  size_t keep_bytes;
  cr_tls_probe_result r;
  cr_tls_probe_cb cb;
  void *data;
};

typedef struct {
  uv_write_t req;
  char bytes[];
} write_req;

static double elapsed_ms(cr_tls_probe *p) { return (double)(uv_hrtime() - p->t0) / 1e6; }

void cr_tls_probe_result_free(cr_tls_probe_result *r) {
  free(r->error);
  free(r->subject);
  free(r->issuer);
  for (int i = 0; i < r->nsan; i++)
    free(r->san[i]);
  free(r->san);
  free(r->received);
  memset(r, 0, sizeof *r);
}

static void probe_free(cr_tls_probe *p) {
  cr_tls_probe_result_free(&p->r);
  cr_tls.SSL_free(p->ssl); /* frees the BIOs too */
  cr_tls.SSL_CTX_free(p->ctx);
  free(p->name);
  free(p);
}

static void handle_closed(uv_handle_t *h) {
  cr_tls_probe *p = h->data;
  if (--p->handles == 0) probe_free(p);
}

static void finish(cr_tls_probe *p) {
  if (p->finished) return;
  p->finished = 1;
  uv_close((uv_handle_t *)&p->tcp, handle_closed);
  uv_close((uv_handle_t *)&p->timer, handle_closed);
  if (!p->cancelled && p->cb) {
    p->cb(p, &p->r, p->data);
    memset(&p->r, 0, sizeof p->r); /* now the callee's */
  }
}

static void fail(cr_tls_probe *p, const char *why) {
  if (!p->r.error) p->r.error = strdup(why);
  finish(p);
}

/* ---- the certificate ----------------------------------------------------------- */

static char *name_text(X509_NAME *n) {
  BIO *b = cr_tls.BIO_new(cr_tls.BIO_s_mem());
  if (!b) return NULL;
  cr_tls.X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char *data;
  long len = cr_tls.BIO_ctrl(b, BIO_CTRL_INFO, 0, (char *)&data);
  char *out = malloc((size_t)len + 1);
  if (out) {
    memcpy(out, data, (size_t)len);
    out[len] = 0;
  }
  cr_tls.BIO_free(b);
  return out;
}

static int64_t asn1_epoch(const ASN1_TIME *t) {
  struct tm tm;
  if (!t || cr_tls.ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return (int64_t)timegm(&tm);
}

static void add_san(cr_tls_probe_result *r, const char *kind, const char *value) {
  char **grown = realloc(r->san, (size_t)(r->nsan + 1) * sizeof *grown);
  if (!grown) return;
  r->san = grown;
  size_t len = strlen(kind) + strlen(value) + 2;
  char *entry = malloc(len);
  if (!entry) return;
  snprintf(entry, len, "%s:%s", kind, value);
  r->san[r->nsan++] = entry;
}

static void read_san(cr_tls_probe_result *r, X509 *cert) {
  GENERAL_NAMES *names = cr_tls.X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
  for (int i = 0; names && i < cr_tls.OPENSSL_sk_num((const OPENSSL_STACK *)names) && i < 64; i++) {
    const GENERAL_NAME *g = cr_tls.OPENSSL_sk_value((const OPENSSL_STACK *)names, i);
    if (g->type == GEN_DNS) {
      const unsigned char *s = cr_tls.ASN1_STRING_get0_data(g->d.dNSName);
      int len = cr_tls.ASN1_STRING_length(g->d.dNSName);
      char buf[256];
      snprintf(buf, sizeof buf, "%.*s", len < 255 ? len : 255, (const char *)s);
      add_san(r, "DNS", buf);
    } else if (g->type == GEN_IPADD) {
      int len = cr_tls.ASN1_STRING_length(g->d.iPAddress);
      cr_sockaddr a = {0};
      char buf[INET6_ADDRSTRLEN];
      if (len == 4) {
        a.in.sin_family = AF_INET;
        memcpy(&a.in.sin_addr, cr_tls.ASN1_STRING_get0_data(g->d.iPAddress), 4);
      } else if (len == 16) {
        a.in6.sin6_family = AF_INET6;
        memcpy(&a.in6.sin6_addr, cr_tls.ASN1_STRING_get0_data(g->d.iPAddress), 16);
      } else {
        continue;
      }
      cr_sockaddr_format(&a, buf, sizeof buf);
      add_san(r, "IP", buf);
    }
  }
  cr_tls.GENERAL_NAMES_free(names);
}

/* The peer's certificate, its validity, and the name and chain checks. */
static void read_certificate(cr_tls_probe *p) {
  cr_tls_probe_result *r = &p->r;
  X509 *cert = cr_tls.SSL_get1_peer_certificate(p->ssl);
  r->verify_code = cr_tls.SSL_get_verify_result(p->ssl);
  r->verify_error = cr_tls.X509_verify_cert_error_string(r->verify_code);
  r->name_match = -1;
  if (!cert) return;
  r->have_cert = 1;
  r->subject = name_text(cr_tls.X509_get_subject_name(cert));
  r->issuer = name_text(cr_tls.X509_get_issuer_name(cert));
  r->not_before = asn1_epoch(cr_tls.X509_get0_notBefore(cert));
  r->not_after = asn1_epoch(cr_tls.X509_get0_notAfter(cert));
  r->self_signed = cr_tls.X509_check_issued(cert, cert) == X509_V_OK;
  read_san(r, cert);
  if (p->name) {
    cr_sockaddr a;
    if (cr_sockaddr_parse(p->name, 0, &a) == 0) r->name_match = cr_tls.X509_check_ip_asc(cert, p->name, 0) == 1;
    else r->name_match = cr_tls.X509_check_host(cert, p->name, 0, 0, NULL) == 1;
  }
  cr_tls.X509_free(cert);
}

/* ---- moving bytes ------------------------------------------------------------------ */

static void write_done(uv_write_t *req, int status) {
  (void)status; /* a failed write shows as the peer's end or libssl's error */
  free(req);
}

/* Sends what libssl wrote into its outgoing BIO. */
static int flush_out(cr_tls_probe *p) {
  size_t pending = cr_tls.BIO_ctrl_pending(p->wbio);
  if (pending == 0) return 0;
  write_req *w = malloc(sizeof *w + pending);
  if (!w) return UV_ENOMEM;
  int n = cr_tls.BIO_read(p->wbio, w->bytes, (int)pending);
  if (n <= 0) {
    free(w);
    return 0;
  }
  uv_buf_t buf = uv_buf_init(w->bytes, (unsigned)n);
  int rc = uv_write(&w->req, (uv_stream_t *)&p->tcp, &buf, 1, write_done);
  if (rc != 0) free(w);
  return rc;
}

/* libssl's reason for a failed handshake ("wrong version number", ...). */
static void remember_ssl_error(cr_tls_probe *p) {
  unsigned long e = cr_tls.ERR_peek_last_error();
  const char *reason = e ? cr_tls.ERR_reason_error_string(e) : NULL;
  char buf[256];
  if (!reason) {
    snprintf(buf, sizeof buf, "TLS error %lu", e);
    reason = buf;
  }
  free(p->r.error);
  p->r.error = strdup(reason);
  cr_tls.ERR_clear_error();
}

static void handshake_step(cr_tls_probe *p) {
  cr_tls.ERR_clear_error();
  int rc = cr_tls.SSL_do_handshake(p->ssl);
  if (flush_out(p) != 0) {
    fail(p, "could not send");
    return;
  }
  if (rc == 1) {
    p->r.handshake = 1;
    p->r.handshake_ms = elapsed_ms(p);
    p->r.version = cr_tls.SSL_get_version(p->ssl);
    p->r.cipher = cr_tls.SSL_CIPHER_get_name(cr_tls.SSL_get_current_cipher(p->ssl));
    read_certificate(p);
    finish(p);
    return;
  }
  int err = cr_tls.SSL_get_error(p->ssl, rc);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return; /* more bytes to come */
  remember_ssl_error(p);
  finish(p);
}

/* Keeps the first bytes the peer sent: the evidence when it is not TLS. */
static void keep_received(cr_tls_probe *p, const char *bytes, size_t n) {
  size_t room = p->keep_bytes - p->r.received_len;
  if (room == 0) return;
  if (!p->r.received) p->r.received = calloc(1, p->keep_bytes + 1);
  if (!p->r.received) return;
  if (n > room) n = room;
  memcpy(p->r.received + p->r.received_len, bytes, n);
  p->r.received_len += n;
}

static void alloc_buf(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  buf->base = malloc(suggested);
  buf->len = buf->base ? suggested : 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  cr_tls_probe *p = s->data;
  if (n > 0 && !p->finished) {
    keep_received(p, buf->base, (size_t)n);
    cr_tls.BIO_write(p->rbio, buf->base, (int)n);
    handshake_step(p);
  } else if (n < 0 && !p->finished) {
    p->r.peer_end = n == UV_EOF ? CR_READ_CLOSED : n == UV_ECONNRESET ? CR_READ_RESET : CR_READ_ERROR;
    fail(p, n == UV_EOF ? "the server closed the connection during the handshake"
            : n == UV_ECONNRESET ? "the server reset the connection during the handshake"
                                 : uv_strerror((int)n));
  }
  free(buf->base);
}

/* ---- connect, timeout --------------------------------------------------------------- */

static void timer_fired(uv_timer_t *t);
static void connected(uv_connect_t *req, int status);

/* The TCP outcome, as the TCP probe names it (the Unix-only ones are errors
 * here: ENOENT is a namespace file that is missing). */
static void set_connect_outcome(cr_tls_probe *p, int err) {
  p->r.err = err;
  p->r.status = cr_probe_classify(err);
  if (p->r.status == CR_PROBE_MISSING || p->r.status == CR_PROBE_NOT_A_SOCKET ||
      p->r.status == CR_PROBE_BUSY || (err && p->r.status == CR_PROBE_OPEN))
    p->r.status = CR_PROBE_ERROR;
}

/* The socket made in o->netns (when given) for the handle, then the
 * connect; a negative libuv error when either failed at once. */
static int begin_connect(cr_tls_probe *p, const cr_sockaddr *to, const char *netns) {
  if (netns) {
    int fd = cr_socket_in(netns, to->sa.sa_family);
    if (fd < 0) return -errno;
    int rc = uv_tcp_open(&p->tcp, fd);
    if (rc != 0) {
      close(fd);
      return rc;
    }
  }
  return uv_tcp_connect(&p->connect, &p->tcp, &to->sa, connected);
}

static void connected(uv_connect_t *req, int status) {
  cr_tls_probe *p = req->data;
  if (p->finished) return;
  int err = status < 0 ? -status : 0;
  set_connect_outcome(p, err);
  p->r.ms = elapsed_ms(p);
  if (err) {
    finish(p);
    return;
  }
  p->connected = 1;
  uv_timer_start(&p->timer, timer_fired, p->timeout_ms, 0); /* the handshake's own deadline */
  uv_read_start((uv_stream_t *)&p->tcp, alloc_buf, on_read);
  handshake_step(p);
}

static void timer_fired(uv_timer_t *t) {
  cr_tls_probe *p = t->data;
  if (!p->connected) {
    if (!p->r.err) { /* else the connect failed at once: its outcome stands */
      p->r.err = ETIMEDOUT;
      p->r.status = CR_PROBE_TIMEOUT;
    }
    p->r.ms = elapsed_ms(p);
    finish(p);
    return;
  }
  p->r.peer_end = CR_READ_TIMEOUT;
  fail(p, "the server did not finish the handshake in time");
}

/* The client side of libssl: every protocol version libssl allows, no
 * verification enforced (it is read back), the system's trust anchors. */
static int setup_ssl(cr_tls_probe *p, const cr_tls_probe_options *o) {
  p->ctx = cr_tls.SSL_CTX_new(cr_tls.TLS_client_method());
  if (!p->ctx) return -1;
  cr_tls.SSL_CTX_set_verify(p->ctx, SSL_VERIFY_NONE, NULL);
  if (o->ca_file ? cr_tls.SSL_CTX_load_verify_locations(p->ctx, o->ca_file, NULL) != 1
                 : cr_tls.SSL_CTX_set_default_verify_paths(p->ctx) != 1)
    cr_tls.ERR_clear_error(); /* no anchors: the chain then does not verify, which is reported */
  p->ssl = cr_tls.SSL_new(p->ctx);
  p->rbio = cr_tls.BIO_new(cr_tls.BIO_s_mem());
  p->wbio = cr_tls.BIO_new(cr_tls.BIO_s_mem());
  if (!p->ssl || !p->rbio || !p->wbio) {
    cr_tls.BIO_free(p->rbio);
    cr_tls.BIO_free(p->wbio);
    return -1;
  }
  cr_tls.SSL_set_bio(p->ssl, p->rbio, p->wbio);
  cr_tls.SSL_set_connect_state(p->ssl);
  cr_sockaddr a;
  if (p->name && cr_sockaddr_parse(p->name, 0, &a) != 0) cr_tls.SSL_ctrl(p->ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, p->name);
  return 0;
}

int cr_tls_probe_start(uv_loop_t *loop, const cr_sockaddr *to, const cr_tls_probe_options *o,
                       cr_tls_probe_cb cb, void *data, cr_tls_probe **out) {
  if (cr_tls_lib_load(NULL) != 0) return -ELIBACC; /* libssl is not installed (or not whole) */
  cr_tls_probe *p = calloc(1, sizeof *p);
  if (!p) return UV_ENOMEM;
  p->loop = loop;
  p->cb = cb;
  p->data = data;
  p->t0 = uv_hrtime();
  p->timeout_ms = cr_seconds_to_ms(o->timeout > 0 ? o->timeout : 2.0);
  p->keep_bytes = o->read_bytes ? o->read_bytes : 512;
  p->name = o->name ? strdup(o->name) : NULL;
  if ((o->name && !p->name) || setup_ssl(p, o) != 0) {
    probe_free(p);
    return UV_ENOMEM;
  }
  uv_update_time(loop); /* loading the trust anchors takes a while: the deadline starts now */
  uv_tcp_init(loop, &p->tcp);
  uv_timer_init(loop, &p->timer);
  p->tcp.data = p->timer.data = p->connect.data = p;
  p->handles = 2;
  *out = p;
  int rc = begin_connect(p, to, o->netns);
  if (rc != 0) /* failed at once (no route, no local port, no namespace): the outcome, from the loop */
    set_connect_outcome(p, -rc);
  uv_timer_start(&p->timer, timer_fired, rc != 0 ? 0 : p->timeout_ms, 0);
  return 0;
}

void cr_tls_probe_cancel(cr_tls_probe *p) {
  p->cancelled = 1;
  finish(p);
}
