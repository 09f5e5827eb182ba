/* The netlink dump reader shared by sockdiag.c, nftnat.c and links.c. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "connrecipe/netlink_dump.h"

/* The kernel's error in an NLMSG_ERROR payload. An error of 0 is an ACK,
 * which a dump does not ask for: a protocol error here. */
static int decode_error(const unsigned char *payload, size_t len) {
  struct nlmsgerr e;
  if (len < sizeof e) return -EBADMSG;
  memcpy(&e, payload, sizeof e);
  return e.error < 0 ? e.error : -EPROTO;
}

int cr_nl_walk(const void *buf, size_t len, cr_nl_msg_fn fn, void *ctx, int *interrupted) {
  const unsigned char *at = buf, *end = at + len;
  while ((size_t)(end - at) >= sizeof(struct nlmsghdr)) {
    struct nlmsghdr h; /* copied: a test's or fuzzer's buffer may be unaligned */
    memcpy(&h, at, sizeof h);
    if (h.nlmsg_len < sizeof h || h.nlmsg_len > (size_t)(end - at)) return -EBADMSG;
    const unsigned char *payload = at + NLMSG_HDRLEN;
    size_t plen = h.nlmsg_len - NLMSG_HDRLEN;
    if (h.nlmsg_flags & NLM_F_DUMP_INTR) *interrupted = 1;
    if (h.nlmsg_type == NLMSG_DONE) return *interrupted ? CR_NL_INTERRUPTED : CR_NL_DONE;
    if (h.nlmsg_type == NLMSG_ERROR) return decode_error(payload, plen);
    int rc = fn(&h, payload, plen, ctx);
    if (rc) return rc < 0 ? rc : CR_NL_STOPPED;
    /* the last message's padding may be missing: step to the end, not past */
    size_t step = NLMSG_ALIGN(h.nlmsg_len);
    at = step < (size_t)(end - at) ? at + step : end;
  }
  return at == end ? CR_NL_MORE : -EBADMSG;
}

int cr_nl_dump_read(int fd, void *buf, size_t cap, cr_nl_msg_fn fn, void *ctx) {
  int interrupted = 0; /* across reads: the flag may be on any message */
  for (;;) {
    ssize_t n = recv(fd, buf, cap, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) return -EIO; /* the dump ended without NLMSG_DONE */
    int rc = cr_nl_walk(buf, (size_t)n, fn, ctx, &interrupted);
    if (rc != CR_NL_MORE) return rc;
  }
}

int cr_nl_send(int fd, const void *req, size_t len) {
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(fd, req, len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return -errno;
  return 0;
}
