/* Network devices as rtnetlink describes them (an RTM_GETLINK dump): what
 * getifaddrs(3) does not say — a device's kind (IFLA_INFO_KIND: "vrf",
 * "veth", "bridge", ...), the device it is enslaved to (IFLA_MASTER: its VRF
 * or bridge) and a VRF's routing table (IFLA_VRF_TABLE). And the device this
 * process's new sockets are bound to: `ip vrf exec VRF CMD` binds every
 * socket CMD makes to the VRF (a cgroup eBPF program), which decides which
 * listeners take its connections.
 *
 * Plain blocking C: one dump of this network namespace's devices. */
#ifndef CONNRECIPE_LINKS_H
#define CONNRECIPE_LINKS_H

#include <stddef.h>
#include <stdint.h>

typedef struct cr_link {
  int index;
  int master;         /* its master's ifindex (a VRF, a bridge, a bond); 0: none */
  char name[16];      /* IFNAMSIZ */
  char kind[32];      /* IFLA_INFO_KIND; "" for devices without one (lo, a NIC) */
  uint32_t vrf_table; /* kind "vrf": its routing table; 0 otherwise */
} cr_link;

typedef struct cr_link_list {
  cr_link *v;
  size_t n, cap;
} cr_link_list;

/* Parses the messages of one read of an RTM_GETLINK dump (buf, len bytes)
 * and appends the devices to list. Pure, and fuzzed. Returns 1 when the
 * dump's end (NLMSG_DONE) is in it, 0 when more messages follow, the
 * kernel's -errno for an NLMSG_ERROR, -EBADMSG for a malformed message, or
 * -ENOMEM. Unknown attributes and message types are skipped. */
int cr_links_parse(const void *buf, size_t len, cr_link_list *list);

/* Dumps this network namespace's devices into list (emptied first; free it
 * with cr_links_free). 0 or -errno. */
int cr_links_read(cr_link_list *list);
void cr_links_free(cr_link_list *list);

/* The device a new TCP socket of this process is bound to (SO_BINDTODEVICE
 * as it comes out of socket(2): a VRF under `ip vrf exec`) into name (cap
 * bytes); "" when none. 0 or -errno. */
int cr_socket_device(char *name, size_t cap);

#endif
