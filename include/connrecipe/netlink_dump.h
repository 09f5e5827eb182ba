/* Reading a netlink dump (NLM_F_DUMP): the loop sock_diag, nf_tables and
 * rtnetlink readers share. recv with EINTR retry, a walk over each read's
 * messages, NLM_F_DUMP_INTR noted, NLMSG_DONE ends it, NLMSG_ERROR decoded;
 * each other message goes to a callback.
 *
 * Plain blocking C on a caller-made socket. */
#ifndef CONNRECIPE_NETLINK_DUMP_H
#define CONNRECIPE_NETLINK_DUMP_H

#include <linux/netlink.h>
#include <stddef.h>

enum {
  CR_NL_DONE = 0,        /* NLMSG_DONE: the dump is whole */
  CR_NL_INTERRUPTED = 1, /* NLMSG_DONE, but NLM_F_DUMP_INTR was set: the
                          * table changed during the dump; redo it */
  CR_NL_STOPPED = 2,     /* the callback asked to stop */
  CR_NL_MORE = 3,        /* cr_nl_walk only: no NLMSG_DONE in this read yet */
};

/* Called for each message other than NLMSG_DONE / NLMSG_ERROR (any type:
 * the callback filters). h is an aligned copy of the header; payload and len
 * are what follows it. Returns 0 to go on, > 0 to stop (CR_NL_STOPPED), or
 * -errno to end the read with that error. */
typedef int (*cr_nl_msg_fn)(const struct nlmsghdr *h, const unsigned char *payload, size_t len,
                            void *ctx);

/* Walks the messages of one read (buf, len bytes). Sets *interrupted when a
 * message carries NLM_F_DUMP_INTR. Returns CR_NL_DONE / CR_NL_INTERRUPTED at
 * NLMSG_DONE, CR_NL_MORE when more reads follow, CR_NL_STOPPED, the kernel's
 * -errno for an NLMSG_ERROR (-EPROTO when it carries none), -EBADMSG for a
 * message cut short or trailing bytes, or the callback's -errno. Pure. */
int cr_nl_walk(const void *buf, size_t len, cr_nl_msg_fn fn, void *ctx, int *interrupted);

/* Reads fd's dump replies into buf (cap bytes) until it ends. Returns
 * CR_NL_DONE, CR_NL_INTERRUPTED, CR_NL_STOPPED, or -errno (-EIO when the
 * socket reads 0 bytes before NLMSG_DONE). */
int cr_nl_dump_read(int fd, void *buf, size_t cap, cr_nl_msg_fn fn, void *ctx);

/* Sends a request (a whole netlink message, len bytes) to the kernel.
 * 0 or -errno. */
int cr_nl_send(int fd, const void *req, size_t len);

#endif
