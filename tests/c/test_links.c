/* cr_links_parse over hand-built RTM_GETLINK dump messages (a VRF with its
 * table, a member of it, a device without a kind, the dump's end, an error,
 * malformed input), and cr_links_read / cr_socket_device on this host. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "connrecipe/links.h"

/* A message under construction in a fixed buffer. */
typedef struct {
  unsigned char buf[4096];
  size_t len;
} msgbuf;

static struct nlmsghdr *begin(msgbuf *m, uint16_t type) {
  m->len = NLMSG_ALIGN(m->len);
  struct nlmsghdr *h = (struct nlmsghdr *)(m->buf + m->len);
  memset(h, 0, NLMSG_HDRLEN);
  h->nlmsg_type = type;
  m->len += NLMSG_HDRLEN;
  return h;
}

static void end(msgbuf *m, struct nlmsghdr *h) {
  h->nlmsg_len = (uint32_t)(m->buf + m->len - (unsigned char *)h);
}

static void put(msgbuf *m, const void *data, size_t n) {
  memcpy(m->buf + m->len, data, n);
  m->len += n;
}

static struct rtattr *attr_begin(msgbuf *m, unsigned short type) {
  m->len = RTA_ALIGN(m->len);
  struct rtattr *a = (struct rtattr *)(m->buf + m->len);
  a->rta_type = type;
  m->len += RTA_LENGTH(0);
  return a;
}

static void attr_end(msgbuf *m, struct rtattr *a) {
  a->rta_len = (unsigned short)(m->buf + m->len - (unsigned char *)a);
}

static void attr(msgbuf *m, unsigned short type, const void *data, size_t n) {
  struct rtattr *a = attr_begin(m, type);
  put(m, data, n);
  attr_end(m, a);
}

/* RTM_NEWLINK for a device: index, name, master (0: none), kind ("" none), VRF table (0: none). */
static void link_msg(msgbuf *m, int index, const char *name, uint32_t master, const char *kind,
                     uint32_t table) {
  struct nlmsghdr *h = begin(m, RTM_NEWLINK);
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = index};
  put(m, &ifi, sizeof ifi);
  attr(m, IFLA_IFNAME, name, strlen(name) + 1);
  if (master) attr(m, IFLA_MASTER, &master, sizeof master);
  if (kind[0]) {
    struct rtattr *info = attr_begin(m, IFLA_LINKINFO);
    attr(m, IFLA_INFO_KIND, kind, strlen(kind) + 1);
    if (table) {
      struct rtattr *data = attr_begin(m, IFLA_INFO_DATA | NLA_F_NESTED);
      attr(m, IFLA_VRF_TABLE, &table, sizeof table);
      attr_end(m, data);
    }
    attr_end(m, info);
  }
  m->len = NLMSG_ALIGN(m->len);
  end(m, h);
}

static void done_msg(msgbuf *m) {
  struct nlmsghdr *h = begin(m, NLMSG_DONE);
  int zero = 0;
  put(m, &zero, sizeof zero);
  end(m, h);
}

static void vrf_member_and_plain_device(void **state) {
  (void)state;
  msgbuf m = {0};
  link_msg(&m, 1, "lo", 0, "", 0);
  link_msg(&m, 5, "vrf-blue", 0, "vrf", 10);
  link_msg(&m, 6, "veth0", 5, "veth", 0);
  cr_link_list list = {0};
  assert_int_equal(cr_links_parse(m.buf, m.len, &list), 0); /* no NLMSG_DONE yet */
  assert_int_equal(list.n, 3);
  assert_string_equal(list.v[0].name, "lo");
  assert_string_equal(list.v[0].kind, "");
  assert_int_equal(list.v[0].master, 0);
  assert_string_equal(list.v[1].name, "vrf-blue");
  assert_string_equal(list.v[1].kind, "vrf");
  assert_int_equal(list.v[1].vrf_table, 10);
  assert_int_equal(list.v[2].index, 6);
  assert_string_equal(list.v[2].kind, "veth");
  assert_int_equal(list.v[2].master, 5);
  assert_int_equal(list.v[2].vrf_table, 0);
  /* the next read holds the dump's end */
  msgbuf d = {0};
  done_msg(&d);
  assert_int_equal(cr_links_parse(d.buf, d.len, &list), 1);
  assert_int_equal(list.n, 3);
  cr_links_free(&list);
}

/* A table attribute on a device that is not a VRF is not a VRF table. */
static void table_only_for_vrf(void **state) {
  (void)state;
  msgbuf m = {0};
  link_msg(&m, 7, "br0", 0, "bridge", 10);
  cr_link_list list = {0};
  assert_int_equal(cr_links_parse(m.buf, m.len, &list), 0);
  assert_int_equal(list.n, 1);
  assert_int_equal(list.v[0].vrf_table, 0);
  cr_links_free(&list);
}

static void error_message(void **state) {
  (void)state;
  msgbuf m = {0};
  struct nlmsghdr *h = begin(&m, NLMSG_ERROR);
  struct nlmsgerr e = {.error = -EPERM};
  put(&m, &e, sizeof e);
  end(&m, h);
  cr_link_list list = {0};
  assert_int_equal(cr_links_parse(m.buf, m.len, &list), -EPERM);
  cr_links_free(&list);
}

static void malformed(void **state) {
  (void)state;
  msgbuf m = {0};
  link_msg(&m, 5, "vrf-blue", 0, "vrf", 10);
  cr_link_list list = {0};
  /* the message claims more than the read holds */
  assert_int_equal(cr_links_parse(m.buf, m.len - 4, &list), -EBADMSG);
  /* an attribute cut short inside a whole message: what precedes it is kept */
  struct nlmsghdr *h = (struct nlmsghdr *)m.buf;
  struct rtattr *name =
      (struct rtattr *)(m.buf + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct ifinfomsg)));
  name->rta_len = 0xfff0;
  list.n = 0;
  assert_int_equal(cr_links_parse(m.buf, h->nlmsg_len, &list), 0);
  assert_int_equal(list.n, 1);
  assert_int_equal(list.v[0].index, 5);
  assert_string_equal(list.v[0].name, "");
  /* a header alone, too short for its ifinfomsg */
  msgbuf s = {0};
  struct nlmsghdr *sh = begin(&s, RTM_NEWLINK);
  end(&s, sh);
  assert_int_equal(cr_links_parse(s.buf, s.len, &list), -EBADMSG);
  /* trailing bytes shorter than a header */
  assert_int_equal(cr_links_parse("abc", 3, &list), -EBADMSG);
  assert_int_equal(cr_links_parse("", 0, &list), 0);
  cr_links_free(&list);
}

/* This host's own devices: lo is always there, index 1 of its namespace. */
static void read_this_namespace(void **state) {
  (void)state;
  cr_link_list list = {0};
  assert_int_equal(cr_links_read(&list), 0);
  int lo = 0;
  for (size_t i = 0; i < list.n; i++)
    if (strcmp(list.v[i].name, "lo") == 0) lo = list.v[i].index;
  assert_int_equal(lo, 1);
  cr_links_free(&list);
  char dev[32];
  assert_int_equal(cr_socket_device(dev, sizeof dev), 0); /* "" unless run under ip vrf exec */
  assert_int_equal(cr_socket_device(dev, 0), -EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(vrf_member_and_plain_device),
      cmocka_unit_test(table_only_for_vrf),
      cmocka_unit_test(error_message),
      cmocka_unit_test(malformed),
      cmocka_unit_test(read_this_namespace),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
