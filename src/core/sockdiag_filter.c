/* The kernel-side port filter of an inet_diag dump: a two-word bytecode
 * program (INET_DIAG_REQ_BYTECODE) run on every socket before it is copied
 * out, so a dump for one port costs the walk of the hash tables and not the
 * netlink messages and parsing of every other socket.
 *
 * The kernel runs the program from its first op: a condition that holds goes
 * on by op.yes bytes, one that fails by op.no; a socket is kept when the walk
 * ends exactly at the program's end. One condition, "local port == P":
 *   op {INET_DIAG_BC_S_EQ, yes = 8 (the end), no = 12 (past it)}, {no = P} */
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <string.h>

#include "connrecipe/sockets.h"

size_t cr_sockdiag_port_filter(void *buf, size_t cap, uint16_t port) {
  struct inet_diag_bc_op prog[2] = {
      {.code = INET_DIAG_BC_S_EQ, .yes = sizeof prog, .no = sizeof prog + 4},
      {.code = INET_DIAG_BC_NOP, .yes = 0, .no = port}, /* the operand: host order */
  };
  struct nlattr a = {.nla_len = (uint16_t)NLA_HDRLEN + sizeof prog, .nla_type = INET_DIAG_REQ_BYTECODE};
  size_t len = NLA_ALIGN(a.nla_len);
  if (cap < len) return 0;
  memset(buf, 0, len);
  memcpy(buf, &a, sizeof a);
  memcpy((char *)buf + NLA_HDRLEN, prog, sizeof prog);
  return len;
}
