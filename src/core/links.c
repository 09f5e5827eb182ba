/* The devices of this network namespace from an rtnetlink RTM_GETLINK dump
 * (kind, master, a VRF's table), and the device new sockets are bound to. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "connrecipe/links.h"
#include "connrecipe/netlink_dump.h"

/* One attribute in [at, end): its type and payload, or 0 when the rest is
 * too short to hold a well-formed one. */
typedef struct {
  unsigned type;
  const unsigned char *data;
  size_t len;
} attr;

static int next_attr(const unsigned char **at, const unsigned char *end, attr *a) {
  if ((size_t)(end - *at) < sizeof(struct rtattr)) return 0;
  struct rtattr rta;
  memcpy(&rta, *at, sizeof rta);
  if (rta.rta_len < sizeof rta || rta.rta_len > (size_t)(end - *at)) return 0;
  a->type = rta.rta_type & NLA_TYPE_MASK;
  a->data = *at + RTA_LENGTH(0);
  a->len = rta.rta_len - RTA_LENGTH(0);
  size_t step = RTA_ALIGN(rta.rta_len);
  *at = step < (size_t)(end - *at) ? *at + step : end;
  return 1;
}

static void copy_string(char *out, size_t cap, const attr *a) {
  size_t n = strnlen((const char *)a->data, a->len);
  if (n >= cap) n = cap - 1;
  memcpy(out, a->data, n);
  out[n] = '\0';
}

static uint32_t u32_of(const attr *a) {
  uint32_t v = 0;
  if (a->len >= sizeof v) memcpy(&v, a->data, sizeof v);
  return v;
}

/* IFLA_INFO_DATA of a VRF: its table. */
static void parse_vrf_data(const attr *data, cr_link *l) {
  const unsigned char *at = data->data, *end = data->data + data->len;
  attr a;
  while (next_attr(&at, end, &a))
    if (a.type == IFLA_VRF_TABLE) l->vrf_table = u32_of(&a);
}

/* IFLA_LINKINFO: the kind, then (for a VRF) its data; the kind comes first
 * in the kernel's messages, but either order is taken. */
static void parse_linkinfo(const attr *info, cr_link *l) {
  const unsigned char *at = info->data, *end = info->data + info->len;
  attr a, data = {0};
  while (next_attr(&at, end, &a)) {
    if (a.type == IFLA_INFO_KIND) copy_string(l->kind, sizeof l->kind, &a);
    if (a.type == IFLA_INFO_DATA) data = a;
  }
  if (data.data && strcmp(l->kind, "vrf") == 0) parse_vrf_data(&data, l);
}

static int append(cr_link_list *list, const cr_link *l) {
  if (list->n == list->cap) {
    size_t cap = list->cap ? list->cap * 2 : 16;
    cr_link *v = realloc(list->v, cap * sizeof *v);
    if (!v) return -ENOMEM;
    list->v = v;
    list->cap = cap;
  }
  list->v[list->n++] = *l;
  return 0;
}

static int parse_link(const unsigned char *payload, size_t len, cr_link_list *list) {
  struct ifinfomsg ifi;
  if (len < sizeof ifi) return -EBADMSG;
  memcpy(&ifi, payload, sizeof ifi);
  cr_link l = {.index = ifi.ifi_index};
  const unsigned char *at = payload + NLMSG_ALIGN(sizeof ifi), *end = payload + len;
  if (at > end) at = end;
  attr a;
  while (next_attr(&at, end, &a)) {
    if (a.type == IFLA_IFNAME) copy_string(l.name, sizeof l.name, &a);
    if (a.type == IFLA_MASTER) l.master = (int)u32_of(&a);
    if (a.type == IFLA_LINKINFO) parse_linkinfo(&a, &l);
  }
  return append(list, &l);
}

/* One dump message: a device when it is RTM_NEWLINK (a cr_nl_msg_fn). */
static int take_link(const struct nlmsghdr *h, const unsigned char *payload, size_t len,
                     void *list) {
  return h->nlmsg_type == RTM_NEWLINK ? parse_link(payload, len, list) : 0;
}

int cr_links_parse(const void *buf, size_t len, cr_link_list *list) {
  int interrupted = 0; /* a device list read mid-change is still the best there is */
  int rc = cr_nl_walk(buf, len, take_link, list, &interrupted);
  if (rc < 0) return rc;
  return rc == CR_NL_MORE ? 0 : 1;
}

int cr_links_read(cr_link_list *list) {
  list->n = 0;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -errno;
  struct {
    struct nlmsghdr h;
    struct ifinfomsg i;
  } req = {.h = {.nlmsg_len = sizeof req,
                 .nlmsg_type = RTM_GETLINK,
                 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
                 .nlmsg_seq = 1},
           .i = {.ifi_family = AF_UNSPEC}};
  int rc = cr_nl_send(fd, &req, sizeof req);
  size_t cap = 65536; /* the kernel fills a dump read up to 32 KiB */
  unsigned char *buf = rc ? NULL : malloc(cap);
  if (!rc && !buf) rc = -ENOMEM;
  if (!rc) rc = cr_nl_dump_read(fd, buf, cap, take_link, list);
  free(buf);
  close(fd);
  return rc < 0 ? rc : 0;
}

void cr_links_free(cr_link_list *list) {
  free(list->v);
  list->v = NULL;
  list->n = list->cap = 0;
}

int cr_socket_device(char *name, size_t cap) {
  if (cap == 0) return -EINVAL;
  name[0] = '\0';
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0); /* a host without IPv4 */
  if (fd < 0) return -errno;
  char dev[64] = "";
  socklen_t len = sizeof dev;
  int rc = getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, &len) == 0 ? 0 : -errno;
  close(fd);
  if (rc) return rc;
  size_t n = strnlen(dev, len < sizeof dev ? len : sizeof dev);
  if (n >= cap) return -ENAMETOOLONG;
  memcpy(name, dev, n);
  name[n] = '\0';
  return 0;
}
