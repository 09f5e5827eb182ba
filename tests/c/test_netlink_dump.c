/* cr_nl_dump_read over a SOCK_SEQPACKET socketpair standing in for the
 * kernel: hand-built datagrams of nlmsghdr messages (a dump over two reads,
 * NLMSG_ERROR, NLM_F_DUMP_INTR, messages cut short, a callback stopping
 * early, the peer closing before NLMSG_DONE). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "connrecipe/netlink_dump.h"

#define MSG_ITEM 0x20 /* any type above NLMSG_MIN_TYPE */

/* One datagram under construction. */
typedef struct {
  unsigned char buf[1024];
  size_t len;
} dgram;

/* Appends a message carrying a 4-byte value (or an nlmsgerr for NLMSG_ERROR). */
static void add(dgram *d, uint16_t type, uint16_t flags, const void *body, size_t n) {
  struct nlmsghdr h = {
      .nlmsg_len = (uint32_t)NLMSG_LENGTH(n), .nlmsg_type = type, .nlmsg_flags = flags};
  d->len = NLMSG_ALIGN(d->len);
  memcpy(d->buf + d->len, &h, sizeof h);
  memcpy(d->buf + d->len + NLMSG_HDRLEN, body, n);
  d->len += NLMSG_LENGTH(n);
}

static void item(dgram *d, uint32_t v, uint16_t flags) { add(d, MSG_ITEM, flags, &v, sizeof v); }
static void done(dgram *d) {
  int err = 0; /* NLMSG_DONE's payload: the dump's error, 0 */
  add(d, NLMSG_DONE, NLM_F_MULTI, &err, sizeof err);
}

static void error(dgram *d, int err) {
  struct nlmsgerr e = {.error = err};
  add(d, NLMSG_ERROR, 0, &e, sizeof e);
}

/* What the callback saw; it stops (1) or fails at value stop_at. */
typedef struct {
  uint32_t seen[16];
  size_t n;
  uint32_t stop_at;
  int stop_rc;
} record;

static int take(const struct nlmsghdr *h, const unsigned char *payload, size_t len, void *ctx) {
  record *r = ctx;
  assert_int_equal(h->nlmsg_type, MSG_ITEM);
  assert_int_equal(len, 4);
  uint32_t v;
  memcpy(&v, payload, sizeof v);
  r->seen[r->n++] = v;
  return r->stop_at && v == r->stop_at ? r->stop_rc : 0;
}

/* A socketpair: sv[0] reads as the dump's socket, sv[1] sends the datagrams. */
static void pair(int sv[2]) {
  assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

static void send_dgram(int fd, const dgram *d) {
  assert_int_equal(send(fd, d->buf, d->len, 0), (ssize_t)d->len);
}

/* Feeds the datagrams, reads the dump with r as context, returns its result. */
static int run(const dgram *ds, size_t n, record *r, int close_after) {
  int sv[2];
  pair(sv);
  for (size_t i = 0; i < n; i++)
    send_dgram(sv[1], &ds[i]);
  if (close_after) close(sv[1]);
  unsigned char buf[4096];
  int rc = cr_nl_dump_read(sv[0], buf, sizeof buf, take, r);
  close(sv[0]);
  if (!close_after) close(sv[1]);
  return rc;
}

static void done_after_two_reads(void **state) {
  (void)state;
  dgram ds[2] = {0};
  item(&ds[0], 1, NLM_F_MULTI);
  item(&ds[0], 2, NLM_F_MULTI);
  item(&ds[1], 3, NLM_F_MULTI);
  done(&ds[1]);
  item(&ds[1], 99, 0); /* after NLMSG_DONE: not read */
  record r = {0};
  assert_int_equal(run(ds, 2, &r, 0), CR_NL_DONE);
  assert_int_equal(r.n, 3);
  assert_int_equal(r.seen[0], 1);
  assert_int_equal(r.seen[2], 3);
}

static void error_message(void **state) {
  (void)state;
  dgram d = {0};
  item(&d, 1, 0);
  error(&d, -EPERM);
  record r = {0};
  assert_int_equal(run(&d, 1, &r, 0), -EPERM);
  assert_int_equal(r.n, 1);
  dgram ack = {0};
  error(&ack, 0); /* an ACK where a dump was asked for */
  assert_int_equal(run(&ack, 1, &r, 0), -EPROTO);
  dgram shorterr = {0};
  int half = -EPERM;
  add(&shorterr, NLMSG_ERROR, 0, &half, sizeof half); /* too short for an nlmsgerr */
  assert_int_equal(run(&shorterr, 1, &r, 0), -EBADMSG);
}

/* NLM_F_DUMP_INTR on a message of the first read, NLMSG_DONE in the second:
 * the whole dump is marked interrupted. */
static void dump_interrupted(void **state) {
  (void)state;
  dgram ds[2] = {0};
  item(&ds[0], 1, NLM_F_MULTI | NLM_F_DUMP_INTR);
  item(&ds[1], 2, NLM_F_MULTI);
  done(&ds[1]);
  record r = {0};
  assert_int_equal(run(ds, 2, &r, 0), CR_NL_INTERRUPTED);
  assert_int_equal(r.n, 2);
}

static void truncated(void **state) {
  (void)state;
  dgram d = {0};
  item(&d, 1, 0);
  item(&d, 2, 0);
  d.len -= 2; /* the second message claims more than the datagram holds */
  record r = {0};
  assert_int_equal(run(&d, 1, &r, 0), -EBADMSG);
  assert_int_equal(r.n, 1);
  dgram tail = {0};
  item(&tail, 1, 0);
  tail.len += 3; /* bytes too few for a header after a whole message */
  r.n = 0;
  assert_int_equal(run(&tail, 1, &r, 0), -EBADMSG);
  assert_int_equal(r.n, 1);
  /* a header whose nlmsg_len is below its own size */
  dgram tiny = {0};
  item(&tiny, 1, 0);
  ((struct nlmsghdr *)tiny.buf)->nlmsg_len = 8;
  r.n = 0;
  assert_int_equal(run(&tiny, 1, &r, 0), -EBADMSG);
  assert_int_equal(r.n, 0);
}

static void callback_stops_or_fails(void **state) {
  (void)state;
  dgram ds[2] = {0};
  item(&ds[0], 1, 0);
  item(&ds[0], 2, 0);
  item(&ds[0], 3, 0);
  done(&ds[1]);
  record r = {.stop_at = 2, .stop_rc = 1};
  assert_int_equal(run(ds, 2, &r, 0), CR_NL_STOPPED);
  assert_int_equal(r.n, 2); /* message 3 never reached the callback */
  record f = {.stop_at = 1, .stop_rc = -ENOMEM};
  assert_int_equal(run(ds, 2, &f, 0), -ENOMEM);
  assert_int_equal(f.n, 1);
}

/* The peer goes away before NLMSG_DONE: a read of 0 bytes. */
static void ends_without_done(void **state) {
  (void)state;
  dgram d = {0};
  item(&d, 1, NLM_F_MULTI);
  record r = {0};
  assert_int_equal(run(&d, 1, &r, 1), -EIO);
  assert_int_equal(r.n, 1);
}

/* The pure walk, as cr_links_parse uses it: no NLMSG_DONE yet is CR_NL_MORE,
 * an empty read too. */
static void walk_alone(void **state) {
  (void)state;
  dgram d = {0};
  item(&d, 7, NLM_F_DUMP_INTR);
  record r = {0};
  int intr = 0;
  assert_int_equal(cr_nl_walk(d.buf, d.len, take, &r, &intr), CR_NL_MORE);
  assert_int_equal(intr, 1);
  assert_int_equal(cr_nl_walk(d.buf, 0, take, &r, &intr), CR_NL_MORE);
  assert_int_equal(r.n, 1);
}

static void send_errors(void **state) {
  (void)state;
  int sv[2];
  pair(sv);
  close(sv[0]);
  close(sv[1]);
  dgram d = {0};
  done(&d);
  assert_int_equal(cr_nl_send(sv[0], d.buf, d.len), -EBADF);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(done_after_two_reads),
      cmocka_unit_test(error_message),
      cmocka_unit_test(dump_interrupted),
      cmocka_unit_test(truncated),
      cmocka_unit_test(callback_stops_or_fails),
      cmocka_unit_test(ends_without_done),
      cmocka_unit_test(walk_alone),
      cmocka_unit_test(send_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
