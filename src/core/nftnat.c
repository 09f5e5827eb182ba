/* cr_nft_has_nat_chain: one NFT_MSG_GETCHAIN dump over NFNETLINK, each chain's
 * NFTA_CHAIN_TYPE compared with "nat". Cheap next to running nft (the
 * ruleset as JSON) when the answer is "none". */
#include <errno.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connrecipe/netfilter.h"
#include "connrecipe/netlink_dump.h"

#define NAT_BUF_SIZE (32 * 1024)

static int send_getchain(int fd) {
  struct {
    struct nlmsghdr nlh;
    struct nfgenmsg g;
  } req;
  memset(&req, 0, sizeof req);
  req.nlh.nlmsg_len = NLMSG_LENGTH(sizeof req.g);
  req.nlh.nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETCHAIN;
  req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nlh.nlmsg_seq = 1;
  req.g.nfgen_family = 0; /* NFPROTO_UNSPEC: every family's tables */
  req.g.version = NFNETLINK_V0;
  return cr_nl_send(fd, &req, req.nlh.nlmsg_len);
}

/* Is one chain message's type attribute "nat"? 1 stops the dump at the
 * first (one is enough); malformed: -EIO. A cr_nl_msg_fn. */
static int chain_is_nat(const struct nlmsghdr *h, const unsigned char *msg, size_t len, void *ctx) {
  (void)ctx;
  if (h->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWCHAIN)) return 0;
  size_t off = NLMSG_ALIGN(sizeof(struct nfgenmsg));
  while (off + sizeof(struct nlattr) <= len) {
    struct nlattr a;
    memcpy(&a, msg + off, sizeof a);
    if (a.nla_len < sizeof a || a.nla_len > len - off) return -EIO;
    size_t n = a.nla_len - NLA_HDRLEN;
    const char *v = (const char *)msg + off + NLA_HDRLEN;
    if ((a.nla_type & NLA_TYPE_MASK) == NFTA_CHAIN_TYPE)
      return n >= 3 && memcmp(v, "nat", 3) == 0 && (n == 3 || v[3] == '\0');
    off += NLA_ALIGN(a.nla_len);
  }
  return 0; /* a regular chain: no type */
}

/* Reads the dump: 1 at the first nat chain, 0 at NLMSG_DONE, -errno
 * (-EAGAIN: the rule set changed during the dump). */
static int read_chains(int fd, uint8_t *buf) {
  int rc = cr_nl_dump_read(fd, buf, NAT_BUF_SIZE, chain_is_nat, NULL);
  if (rc == CR_NL_STOPPED) return 1;
  if (rc == CR_NL_INTERRUPTED) return -EAGAIN;
  return rc;
}

int cr_nft_has_nat_chain(void) {
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) return -errno;
  uint8_t *buf = malloc(NAT_BUF_SIZE);
  int rc = buf ? send_getchain(fd) : -ENOMEM;
  if (rc == 0) rc = read_chains(fd, buf);
  free(buf);
  close(fd);
  return rc;
}
