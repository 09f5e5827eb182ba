/* /proc/net line parsers and netlink attribute parsing, with fixture lines as
 * the kernel prints them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "connrecipe/sockets.h"

static int parse_inet(const char *line, int proto, int family, cr_sock *s) {
  return cr_procnet_parse_inet(line, strlen(line), proto, family, s);
}

static void tcp4_listener(void **state) {
  cr_sock s;
  const char *line = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000005 00:00000000 "
                     "00000000  1000        0 123456 1 0000000000000000 100 0 0 10 0";
  assert_int_equal(parse_inet(line, CR_PROTO_TCP, AF_INET, &s), 0);
  assert_int_equal(s.bound_dev_known, 0); /* /proc/net does not show a bound device */
  char buf[64];
  inet_ntop(AF_INET, s.addr, buf, sizeof buf);
  assert_string_equal(buf, "127.0.0.1");
  assert_int_equal(s.port, 8080);
  assert_int_equal(s.state, CR_ST_LISTEN);
  assert_int_equal(s.recvq, 5);
  assert_int_equal(s.sendq, 0);
  assert_int_equal(s.uid, 1000);
  assert_int_equal(s.inode, 123456);
}

static void tcp6_established(void **state) {
  cr_sock s;
  const char *line = "   3: 00000000000000000000000001000000:0016 "
                     "00000000000000000000000001000000:D431 01 00000010:00000000 02:000A7B2A "
                     "00000000     0        0 98765 2 0000000000000000 20 4 30 10 -1";
  assert_int_equal(parse_inet(line, CR_PROTO_TCP, AF_INET6, &s), 0);
  char buf[64];
  inet_ntop(AF_INET6, s.addr, buf, sizeof buf);
  assert_string_equal(buf, "::1");
  assert_int_equal(s.port, 22);
  assert_int_equal(s.peer_port, 0xD431);
  assert_int_equal(s.state, CR_ST_ESTABLISHED);
  assert_int_equal(s.sendq, 16);
  assert_int_equal(s.inode, 98765);
}

static void udp4_with_drops(void **state) {
  cr_sock s;
  const char *line = " 1234: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 "
                     "00000000   101        0 4242 2 0000000000000000 17";
  assert_int_equal(parse_inet(line, CR_PROTO_UDP, AF_INET, &s), 0);
  assert_int_equal(s.port, 53);
  assert_int_equal(s.state, CR_ST_CLOSE);
  assert_int_equal(s.drops, 17);
  assert_int_equal(s.uid, 101);
}

static void malformed_inet(void **state) {
  cr_sock s;
  const char *bad[] = {
      "",
      "sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid",
      "   0: 0100007F:1F90 00000000:0000 0A",
      "   0: 0100007Z:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
      "   0: 0100007F:1F90 00000000:0000 00 00000000:00000000 00:00000000 00000000 0 0 1",
      "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_equal(parse_inet(bad[i], CR_PROTO_TCP, AF_INET, &s), -1);
  /* an IPv4 line is not an IPv6 line */
  assert_int_equal(parse_inet("   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 "
                              "00000000 0 0 1",
                              CR_PROTO_TCP, AF_INET6, &s),
                   -1);
}

static void unix_lines(void **state) {
  cr_sock s;
  char path[256];
  const char *listen = "0000000000000000: 00000002 00000000 00010000 0001 01 31337 /run/app.sock";
  assert_int_equal(cr_procnet_parse_unix(listen, strlen(listen), &s, path, sizeof path), 0);
  assert_int_equal(s.state, CR_ST_LISTEN);
  assert_int_equal(s.sock_type, SOCK_STREAM);
  assert_int_equal(s.inode, 31337);
  assert_string_equal(s.path, "/run/app.sock");

  const char *conn = "ffff9a8b00000000: 00000003 00000000 00000000 0001 03 4711";
  assert_int_equal(cr_procnet_parse_unix(conn, strlen(conn), &s, path, sizeof path), 0);
  assert_int_equal(s.state, CR_ST_ESTABLISHED);
  assert_null(s.path);

  const char *abstract = "0000000000000000: 00000002 00000000 00000000 0002 01 99 @/tmp/.X11 sp";
  assert_int_equal(cr_procnet_parse_unix(abstract, strlen(abstract), &s, path, sizeof path), 0);
  assert_int_equal(s.sock_type, SOCK_DGRAM);
  assert_int_equal(s.state, CR_ST_CLOSE);
  assert_string_equal(s.path, "@/tmp/.X11 sp");

  char tiny[4];
  assert_int_equal(cr_procnet_parse_unix(listen, strlen(listen), &s, tiny, sizeof tiny), 0);
  assert_string_equal(s.path, "/ru");

  const char *bad = "Num       RefCount Protocol Flags    Type St Inode Path";
  assert_int_equal(cr_procnet_parse_unix(bad, strlen(bad), &s, path, sizeof path), -1);
}

/* A netlink message body as the kernel builds it: header, then attributes. */
static size_t put_attr(uint8_t *buf, size_t off, unsigned type, const void *data, size_t len) {
  struct nlattr a = {.nla_len = (uint16_t)(NLA_HDRLEN + len), .nla_type = (uint16_t)type};
  memcpy(buf + off, &a, sizeof a);
  memcpy(buf + off + NLA_HDRLEN, data, len);
  return off + NLA_ALIGN(a.nla_len);
}

static void netlink_inet(void **state) {
  uint8_t buf[512] = {0};
  struct inet_diag_msg m = {0};
  m.idiag_family = AF_INET6;
  m.idiag_state = CR_ST_LISTEN;
  m.id.idiag_sport = htons(443);
  m.idiag_rqueue = 3;
  m.idiag_wqueue = 511;
  m.idiag_inode = 777;
  m.idiag_uid = 33;
  m.id.idiag_if = 7; /* SO_BINDTODEVICE */
  memcpy(buf, &m, sizeof m);
  uint8_t v6only = 1;
  uint32_t mem[SK_MEMINFO_VARS] = {0};
  mem[SK_MEMINFO_DROPS] = 9;
  size_t off = put_attr(buf, NLMSG_ALIGN(sizeof m), INET_DIAG_SKV6ONLY, &v6only, 1);
  off = put_attr(buf, off, INET_DIAG_SKMEMINFO, mem, sizeof mem);
  cr_sock s;
  assert_int_equal(cr_sockdiag_parse_inet(buf, off, CR_PROTO_TCP, &s), 0);
  assert_int_equal(s.family, AF_INET6);
  assert_int_equal(s.port, 443);
  assert_int_equal(s.v6only, 1);
  assert_int_equal(s.drops, 9);
  assert_int_equal(s.sendq, 511);
  assert_int_equal(s.inode, 777);
  assert_int_equal(s.bound_ifindex, 7);
  assert_int_equal(s.bound_dev_known, 1);
  assert_string_equal(s.bound_dev, ""); /* named by the dump, in the socket's namespace */
  /* an attribute claiming more than is there */
  buf[NLMSG_ALIGN(sizeof m)] = 200;
  assert_int_equal(cr_sockdiag_parse_inet(buf, off, CR_PROTO_TCP, &s), -1);
  /* too short for the header */
  assert_int_equal(cr_sockdiag_parse_inet(buf, sizeof m - 1, CR_PROTO_TCP, &s), -1);
}

static void netlink_unix(void **state) {
  uint8_t buf[512] = {0};
  struct unix_diag_msg m = {0};
  m.udiag_family = AF_UNIX;
  m.udiag_type = SOCK_STREAM;
  m.udiag_state = CR_ST_LISTEN;
  m.udiag_ino = 4242;
  memcpy(buf, &m, sizeof m);
  const char name[] = "\0hidden";
  struct unix_diag_rqlen q = {.udiag_rqueue = 1, .udiag_wqueue = 128};
  size_t off = put_attr(buf, NLMSG_ALIGN(sizeof m), UNIX_DIAG_NAME, name, sizeof name - 1);
  off = put_attr(buf, off, UNIX_DIAG_RQLEN, &q, sizeof q);
  cr_sock s;
  char path[256];
  assert_int_equal(cr_sockdiag_parse_unix(buf, off, &s, path, sizeof path), 0);
  assert_string_equal(s.path, "@hidden");
  assert_int_equal(s.state, CR_ST_LISTEN);
  assert_int_equal(s.sendq, 128);
  assert_int_equal(s.inode, 4242);
}

static void states(void **state) {
  assert_string_equal(cr_sock_state_name(CR_ST_LISTEN), "listen");
  assert_int_equal(cr_sock_state_from_name("time-wait"), CR_ST_TIME_WAIT);
  assert_int_equal(cr_sock_state_from_name("nonsense"), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(tcp4_listener),   cmocka_unit_test(tcp6_established),
      cmocka_unit_test(udp4_with_drops), cmocka_unit_test(malformed_inet),
      cmocka_unit_test(unix_lines),      cmocka_unit_test(netlink_inet),
      cmocka_unit_test(netlink_unix),    cmocka_unit_test(states),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
