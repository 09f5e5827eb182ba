/* Connect probes: what happens when a client connects here, told apart by every
 * way it can fail. Plain C over libuv and raw non-blocking sockets; the Lua
 * bindings (cr.probe.*) sit on top. A refusal is a result, not an error. */
#ifndef CONNRECIPE_PROBE_H
#define CONNRECIPE_PROBE_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

/* ---- outcomes --------------------------------------------------------------- */

typedef enum {
  CR_PROBE_OPEN = 0,
  CR_PROBE_REFUSED,
  CR_PROBE_TIMEOUT,
  CR_PROBE_UNREACHABLE,
  CR_PROBE_RESET,
  CR_PROBE_DENIED,
  CR_PROBE_ADDR_UNAVAILABLE,
  CR_PROBE_ERROR,
  CR_PROBE_OPEN_FILTERED, /* UDP: no answer */
  CR_PROBE_MISSING,       /* Unix: no such file */
  CR_PROBE_NOT_A_SOCKET,  /* Unix: the path is not a socket */
  CR_PROBE_BUSY,          /* Unix: backlog full */
  CR_PROBE_STATUS_COUNT
} cr_probe_status;

/* "open", "refused", "timeout", "unreachable", "reset", "denied",
 * "addr-unavailable", "error", "open|filtered", "missing", "not-a-socket", "busy" */
const char *cr_probe_status_name(cr_probe_status s);

/* The one errno -> status mapping shared by every probe (errno 0: open). */
cr_probe_status cr_probe_classify(int err);

/* "ECONNREFUSED" for ECONNREFUSED, ...; NULL for 0. */
const char *cr_errno_name(int err);

/* Any socket address a probe may target. */
typedef union {
  struct sockaddr sa;
  struct sockaddr_in in;
  struct sockaddr_in6 in6;
  struct sockaddr_storage ss;
} cr_sockaddr;

/* Parses a numeric address ("127.0.0.1", "::1", "[::1]", "fe80::1%lo") with
 * port into out; returns 0, or -1 when text is not a numeric address. */
int cr_sockaddr_parse(const char *text, int port, cr_sockaddr *out);
/* Formats the address (without port) into buf; returns the port. */
int cr_sockaddr_format(const cr_sockaddr *a, char *buf, size_t len);
socklen_t cr_sockaddr_len(const cr_sockaddr *a);

/* ---- port specs: "1-1024,8080,9000-9100" ------------------------------------ */

typedef struct {
  uint64_t bits[65536 / 64]; /* bit p set: port p selected */
  int count;                 /* number of distinct ports */
} cr_portset;

/* Parses spec into set (cleared first). Returns 0, or -1 with a message naming
 * the bad part in err (e.g. `bad port "70000" in "1-80,70000": ports are 1-65535`). */
int cr_portspec_parse(const char *spec, cr_portset *set, char *err, size_t errlen);
void cr_portset_add(cr_portset *set, int port);
int cr_portset_has(const cr_portset *set, int port);
/* Next selected port after `after` (0 to start); 0 when none is left. */
int cr_portset_next(const cr_portset *set, int after);

/* A non-blocking TCP socket made inside the network namespace file `netns`
 * (/proc/PID/ns/net, /run/netns/NAME; NULL: this thread's): the calling
 * thread enters it for the socket() call only. -1 and errno on failure. */
int cr_socket_in(const char *netns, int family);

/* ---- one TCP connect (optionally reading a banner) ------------------------- */

typedef struct {
  double timeout;   /* seconds for the connect, and again for the read; <= 0: 2 s */
  int read_banner;  /* read after connecting */
  const char *send; /* bytes to send after connecting (implies read_banner) */
  size_t send_len;
  size_t read_bytes;         /* banner limit; 0: 256 */
  const cr_sockaddr *source; /* bind here first (address and/or port); NULL: kernel's choice */
  const char *netns;         /* a network namespace file (/proc/PID/ns/net, /run/netns/NAME):
                                the socket is made there; NULL: this thread's namespace */
  /* > 0: after connecting, first read for this many seconds to see what the
   * server does on its own (speaks, closes, resets, or stays silent); `send`
   * then goes only to a silent server, and its answer is the reply */
  double settle;
} cr_tcp_probe_options;

/* What the server did in the settle window, before the client said anything. */
typedef enum {
  CR_AFTER_NONE = 0, /* no settle window (not asked for, or the connect failed) */
  CR_AFTER_SPOKE,    /* sent bytes first: the banner */
  CR_AFTER_CLOSED,   /* closed at once (EOF) */
  CR_AFTER_RESET,    /* reset at once (ECONNRESET) */
  CR_AFTER_SILENT,   /* waited for the client: a client-speaks-first protocol */
  CR_AFTER_ERROR,    /* another read error (read_err) */
} cr_after_connect;

/* How a read (the banner, the reply) ended. */
typedef enum {
  CR_READ_NONE = 0,
  CR_READ_CLOSED,  /* the peer closed (EOF) */
  CR_READ_RESET,   /* ECONNRESET */
  CR_READ_QUIET,   /* the peer paused after sending */
  CR_READ_TIMEOUT, /* the deadline came */
  CR_READ_FULL,    /* read_bytes reached */
  CR_READ_ERROR,   /* another errno (read_err) */
} cr_read_end;

/* "spoke", "closed", ...; NULL for CR_AFTER_NONE / CR_READ_NONE. */
const char *cr_after_connect_name(cr_after_connect a);
const char *cr_read_end_name(cr_read_end e);

typedef struct {
  cr_probe_status status;
  int err;          /* errno behind the status (0 when open) */
  double ms;        /* time to the connect outcome */
  int self_connect; /* connected to itself: reported as refused */
  cr_sockaddr local;
  int have_local;
  char *banner; /* malloc'd, NUL-terminated; NULL when not asked for */
  size_t banner_len;
  int read_err; /* errno while reading the banner or the reply (e.g. ECONNRESET), or 0 */
  cr_read_end banner_end;
  cr_after_connect after; /* with a settle window */
  char *reply; /* malloc'd, NUL-terminated: the answer to `send` after a silent settle */
  size_t reply_len;
  cr_read_end reply_end;
} cr_tcp_probe_result;

typedef struct cr_tcp_probe cr_tcp_probe;
/* Called once with the outcome (the result's banner now belongs to the callee);
 * the probe frees itself after the callback returns and its handles close. */
typedef void (*cr_tcp_probe_cb)(cr_tcp_probe *p, cr_tcp_probe_result *r, void *data);

/* Starts the probe; returns 0 (the callback will come, possibly with an error
 * status) or a negative libuv error for a local failure (nothing started). */
int cr_tcp_probe_start(uv_loop_t *loop, const cr_sockaddr *to, const cr_tcp_probe_options *o,
                       cr_tcp_probe_cb cb, void *data, cr_tcp_probe **out);
/* Abandons the probe: the socket is closed, the callback does not come. */
void cr_tcp_probe_cancel(cr_tcp_probe *p);

/* ---- one TLS handshake (OpenSSL's libssl over memory BIOs on the loop) ------- */

typedef struct {
  double timeout;   /* seconds for the connect, and again for the handshake; <= 0: 2 s */
  const char *name; /* the name the client asked for: SNI (unless an address) and the
                     * certificate name checked; NULL: neither */
  const char *ca_file; /* trust anchors; NULL: the system's default paths */
  size_t read_bytes;   /* how much of what the peer sent is kept (received); 0: 512 */
  const char *netns;   /* as for the TCP probe: the socket is made in that namespace */
} cr_tls_probe_options;

typedef struct {
  cr_probe_status status; /* the TCP connect */
  int err;
  double ms;
  int handshake;      /* 1: the TLS handshake completed */
  double handshake_ms;
  const char *version, *cipher; /* static strings from libssl, after a handshake */
  char *error;        /* malloc'd: why the handshake failed (libssl's reason, or the peer's end) */
  int peer_end;       /* the peer ended the handshake: CR_READ_CLOSED / CR_READ_RESET / CR_READ_TIMEOUT */
  char *subject, *issuer; /* malloc'd, RFC 2253 */
  char **san;         /* malloc'd "DNS:name" / "IP:addr" entries */
  int nsan;
  int64_t not_before, not_after; /* seconds since the epoch */
  int have_cert;
  long verify_code;   /* X509_V_OK (0) or the chain's first error */
  const char *verify_error; /* static: X509_verify_cert_error_string */
  int self_signed;
  int name_match;     /* 1 matches, 0 does not, -1 no name given */
  char *received;     /* malloc'd: the first bytes the peer sent (bounded), raw */
  size_t received_len;
} cr_tls_probe_result;

typedef struct cr_tls_probe cr_tls_probe;
typedef void (*cr_tls_probe_cb)(cr_tls_probe *p, cr_tls_probe_result *r, void *data);
/* Same contract as the TCP probe: the callback comes once (the result's
 * malloc'd fields then belong to the callee: cr_tls_probe_result_free). */
int cr_tls_probe_start(uv_loop_t *loop, const cr_sockaddr *to, const cr_tls_probe_options *o,
                       cr_tls_probe_cb cb, void *data, cr_tls_probe **out);
void cr_tls_probe_cancel(cr_tls_probe *p);
void cr_tls_probe_result_free(cr_tls_probe_result *r);

/* ---- one UDP probe ------------------------------------------------------------ */

typedef struct {
  double timeout; /* <= 0: 2 s */
  const char *send;
  size_t send_len; /* 0: an empty datagram */
  size_t read_bytes;
} cr_udp_probe_options;

typedef struct {
  cr_probe_status status; /* open, refused, open|filtered, or an error status */
  int err;
  double ms;
  char *reply; /* malloc'd when a reply came */
  size_t reply_len;
} cr_udp_probe_result;

typedef struct cr_udp_probe cr_udp_probe;
typedef void (*cr_udp_probe_cb)(cr_udp_probe *p, cr_udp_probe_result *r, void *data);
int cr_udp_probe_start(uv_loop_t *loop, const cr_sockaddr *to, const cr_udp_probe_options *o,
                       cr_udp_probe_cb cb, void *data, cr_udp_probe **out);
void cr_udp_probe_cancel(cr_udp_probe *p);

/* ---- Unix socket connect (never blocks: answered at once) ---------------------- */

typedef struct {
  cr_probe_status status; /* open, refused, missing, denied, not-a-socket, busy, error */
  int err;
  double ms;
  int socket_type; /* SOCK_STREAM, SOCK_SEQPACKET or SOCK_DGRAM when open */
} cr_unix_probe_result;

/* path "@name" is the abstract name "name". Returns 0, or -1 for a path too
 * long for sockaddr_un (err = ENAMETOOLONG). */
int cr_unix_probe(const char *path, cr_unix_probe_result *r);

/* ---- the scan engine: many connects, a bounded window ------------------------ */

typedef struct {
  cr_sockaddr target; /* port ignored */
  const cr_portset *ports;
  double timeout;  /* per port, seconds; <= 0: 2 s */
  int concurrency; /* connects in flight at most; <= 0: 1000 */
} cr_scan_options;

typedef struct {
  int done, total;
  int counts[CR_PROBE_STATUS_COUNT];
  int concurrency;        /* current window (lowered on EMFILE/ENFILE, raised again) */
  int concurrency_min;    /* the lowest window so far */
  int concurrency_raises; /* times the window grew back after a lowering */
  int fd_limit_hits;
  int self_connects; /* counted as refused */
  int finished;
  int fatal_err; /* errno when the scan could not go on; 0 otherwise */
} cr_scan_progress;

typedef struct cr_scan cr_scan;
/* Called once when every port has an outcome (or the scan failed, fatal_err). */
typedef void (*cr_scan_cb)(cr_scan *s, void *data);

/* Starts a scan; the ports set is copied. Returns 0 or a negative libuv error. */
int cr_scan_start(uv_loop_t *loop, const cr_scan_options *o, cr_scan_cb cb, void *data,
                  cr_scan **out);
const cr_scan_progress *cr_scan_get_progress(const cr_scan *s);
/* Open ports in ascending order; valid until cr_scan_free. */
const uint16_t *cr_scan_open_ports(const cr_scan *s, int *n);
/* Stops a running scan (sockets closed, callback not called) or releases a
 * finished one; memory goes once libuv has closed the handles. */
void cr_scan_free(cr_scan *s);

#endif
