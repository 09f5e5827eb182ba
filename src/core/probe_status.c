/* The shared vocabulary of probes: outcome names, errno -> outcome, and the
 * numeric socket-address helpers every probe uses. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "connrecipe/probe.h"

static const char *const status_names[CR_PROBE_STATUS_COUNT] = {
    [CR_PROBE_OPEN] = "open",
    [CR_PROBE_REFUSED] = "refused",
    [CR_PROBE_TIMEOUT] = "timeout",
    [CR_PROBE_UNREACHABLE] = "unreachable",
    [CR_PROBE_RESET] = "reset",
    [CR_PROBE_DENIED] = "denied",
    [CR_PROBE_ADDR_UNAVAILABLE] = "addr-unavailable",
    [CR_PROBE_ERROR] = "error",
    [CR_PROBE_OPEN_FILTERED] = "open|filtered",
    [CR_PROBE_MISSING] = "missing",
    [CR_PROBE_NOT_A_SOCKET] = "not-a-socket",
    [CR_PROBE_BUSY] = "busy",
};

const char *cr_probe_status_name(cr_probe_status s) {
  return (s >= 0 && s < CR_PROBE_STATUS_COUNT) ? status_names[s] : "error";
}

cr_probe_status cr_probe_classify(int err) {
  switch (err) {
  case 0:
    return CR_PROBE_OPEN;
  case ECONNREFUSED:
    return CR_PROBE_REFUSED;
  case ETIMEDOUT:
    return CR_PROBE_TIMEOUT;
  /* ICMP host/net unreachable and admin-prohibited all arrive as these */
  case EHOSTUNREACH:
  case ENETUNREACH:
  case EHOSTDOWN:
  case ENETDOWN:
  case ENONET:
    return CR_PROBE_UNREACHABLE;
  case ECONNRESET:
  case ECONNABORTED:
  case EPIPE:
    return CR_PROBE_RESET;
  case EACCES:
  case EPERM: /* e.g. a local firewall dropping our own SYN on output */
    return CR_PROBE_DENIED;
  case EADDRNOTAVAIL:
  case EAFNOSUPPORT: /* IPv6 disabled */
    return CR_PROBE_ADDR_UNAVAILABLE;
  case ENOENT:
    return CR_PROBE_MISSING;
  case ENOTSOCK:
    return CR_PROBE_NOT_A_SOCKET;
  case EAGAIN:
    return CR_PROBE_BUSY;
  default:
    return CR_PROBE_ERROR;
  }
}

const char *cr_errno_name(int err) {
  if (err == 0) return NULL;
  const char *name = strerrorname_np(err);
  return name ? name : "EUNKNOWN";
}

int cr_sockaddr_parse(const char *text, int port, cr_sockaddr *out) {
  char buf[INET6_ADDRSTRLEN + 64];
  size_t n = strlen(text);
  if (n >= sizeof buf) return -1;
  if (n >= 2 && text[0] == '[' && text[n - 1] == ']') { /* "[::1]" */
    memcpy(buf, text + 1, n - 2);
    buf[n - 2] = '\0';
  } else {
    memcpy(buf, text, n + 1);
  }
  memset(out, 0, sizeof *out);
  if (inet_pton(AF_INET, buf, &out->in.sin_addr) == 1) {
    out->in.sin_family = AF_INET;
    out->in.sin_port = htons((uint16_t)port);
    return 0;
  }
  /* numeric only: AI_NUMERICHOST never consults the resolver (handles %scope) */
  struct addrinfo hints = {.ai_family = AF_INET6, .ai_flags = AI_NUMERICHOST};
  struct addrinfo *res = NULL;
  if (getaddrinfo(buf, NULL, &hints, &res) != 0 || !res) return -1;
  memcpy(&out->in6, res->ai_addr, sizeof out->in6);
  out->in6.sin6_port = htons((uint16_t)port);
  freeaddrinfo(res);
  return 0;
}

int cr_sockaddr_format(const cr_sockaddr *a, char *buf, size_t len) {
  if (a->sa.sa_family == AF_INET) {
    inet_ntop(AF_INET, &a->in.sin_addr, buf, (socklen_t)len);
    return ntohs(a->in.sin_port);
  }
  if (a->sa.sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &a->in6.sin6_addr, buf, (socklen_t)len);
    if (a->in6.sin6_scope_id) {
      size_t used = strlen(buf);
      snprintf(buf + used, len - used, "%%%u", a->in6.sin6_scope_id);
    }
    return ntohs(a->in6.sin6_port);
  }
  snprintf(buf, len, "?");
  return 0;
}

socklen_t cr_sockaddr_len(const cr_sockaddr *a) {
  return a->sa.sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

const char *cr_after_connect_name(cr_after_connect a) {
  static const char *const names[] = {NULL, "spoke", "closed", "reset", "silent", "error"};
  return a > CR_AFTER_NONE && a <= CR_AFTER_ERROR ? names[a] : NULL;
}

const char *cr_read_end_name(cr_read_end e) {
  static const char *const names[] = {NULL, "closed", "reset", "quiet", "timeout", "full", "error"};
  return e > CR_READ_NONE && e <= CR_READ_ERROR ? names[e] : NULL;
}
