/* cr.sys._interfaces(), behind cr.sys.interfaces(): the network interfaces of this network
 * namespace and their addresses, from getifaddrs(3). The rest of cr.sys is Lua
 * (lua/connrecipe/sys.lua); only what Lua cannot read from a file, or not
 * fast enough, is here.
 * -> { {name, index, up, running, loopback, addrs = { {addr, family, prefix} }} }
 *    or nil, message, code
 * cr.sys._links(): the devices as rtnetlink describes them, for cr.sys.interfaces
 * -> { {index, name, kind, master (an ifindex), vrf_table} } or nil, message, code
 * cr.sys._socket_device(): the device a new socket of this process is bound to
 * (a VRF under `ip vrf exec`) -> name, or false when none; or nil, message, code
 * cr.sys._hosts_scan(name, path): the lines of a hosts file naming name, for
 * cr.sys.hosts_lookup (lua/connrecipe/hosts.lua).
 * -> { {line = n, text = "..."} } or nil, message, code */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <lauxlib.h>

#include "connrecipe/hosts.h"
#include "connrecipe/links.h"
#include "connrecipe/probe.h" /* cr_errno_name */
#include "lua/bindings.h"

/* The number of leading one bits of a netmask (its prefix length). */
static int prefix_length(const struct sockaddr *mask) {
  const unsigned char *b;
  size_t n;
  if (!mask) return -1;
  if (mask->sa_family == AF_INET) {
    b = (const unsigned char *)&((const struct sockaddr_in *)mask)->sin_addr;
    n = 4;
  } else if (mask->sa_family == AF_INET6) {
    b = (const unsigned char *)&((const struct sockaddr_in6 *)mask)->sin6_addr;
    n = 16;
  } else {
    return -1;
  }
  int bits = 0;
  for (size_t i = 0; i < n; i++)
    for (int k = 7; k >= 0 && (b[i] >> k) & 1; k--)
      bits++;
  return bits;
}

/* Finds the entry for interface `name` in the result table at -1, creating it
 * from `ifa` when it is new; leaves it on the stack. */
static void push_interface(lua_State *L, const struct ifaddrs *ifa, int by_name) {
  if (lua_getfield(L, by_name, ifa->ifa_name) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_createtable(L, 0, 7);
  cr_set_string(L, "name", ifa->ifa_name);
  cr_set_integer(L, "index", (lua_Integer)if_nametoindex(ifa->ifa_name));
  cr_set_boolean(L, "up", (ifa->ifa_flags & IFF_UP) != 0);
  cr_set_boolean(L, "running", (ifa->ifa_flags & IFF_RUNNING) != 0);
  cr_set_boolean(L, "loopback", (ifa->ifa_flags & IFF_LOOPBACK) != 0);
  lua_newtable(L);
  lua_setfield(L, -2, "addrs");
  lua_pushvalue(L, -1);
  lua_setfield(L, by_name, ifa->ifa_name);
  lua_pushvalue(L, -1);
  lua_rawseti(L, by_name - 1, (lua_Integer)luaL_len(L, by_name - 1) + 1);
}

static void add_address(lua_State *L, const struct ifaddrs *ifa) {
  char text[INET6_ADDRSTRLEN];
  int family = ifa->ifa_addr->sa_family;
  const void *raw = family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)ifa->ifa_addr)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr;
  if (!inet_ntop(family, raw, text, sizeof text)) return;
  lua_getfield(L, -1, "addrs");
  lua_createtable(L, 0, 3);
  cr_set_string(L, "addr", text);
  cr_set_string(L, "family", family == AF_INET ? "inet" : "inet6");
  int prefix = prefix_length(ifa->ifa_netmask);
  if (prefix >= 0) cr_set_integer(L, "prefix", prefix);
  if (family == AF_INET6) {
    unsigned scope = ((const struct sockaddr_in6 *)ifa->ifa_addr)->sin6_scope_id;
    if (scope) cr_set_integer(L, "scope_id", scope);
  }
  lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
  lua_pop(L, 1);
}

static int l_interfaces(lua_State *L) {
  struct ifaddrs *list;
  if (getifaddrs(&list) != 0) return cr_push_errno(L, errno, "cannot list interfaces");
  lua_newtable(L); /* the result, in the order the kernel lists them */
  lua_newtable(L); /* name -> entry */
  int by_name = lua_gettop(L);
  for (const struct ifaddrs *ifa = list; ifa; ifa = ifa->ifa_next) {
    push_interface(L, ifa, by_name);
    if (ifa->ifa_addr &&
        (ifa->ifa_addr->sa_family == AF_INET || ifa->ifa_addr->sa_family == AF_INET6))
      add_address(L, ifa);
    lua_pop(L, 1);
  }
  freeifaddrs(list);
  lua_pop(L, 1);
  return 1;
}

static int l_links(lua_State *L) {
  cr_link_list list = {0};
  int rc = cr_links_read(&list);
  if (rc) {
    cr_links_free(&list);
    return cr_push_failure(L, cr_errno_name(-rc), "cannot list devices (rtnetlink): %s",
                           strerror(-rc));
  }
  lua_createtable(L, (int)list.n, 0);
  for (size_t i = 0; i < list.n; i++) {
    const cr_link *l = &list.v[i];
    lua_createtable(L, 0, 5);
    cr_set_integer(L, "index", l->index);
    cr_set_string(L, "name", l->name);
    if (l->kind[0]) cr_set_string(L, "kind", l->kind);
    if (l->master) cr_set_integer(L, "master", l->master);
    if (l->vrf_table) cr_set_integer(L, "vrf_table", (lua_Integer)l->vrf_table);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  cr_links_free(&list);
  return 1;
}

static int l_socket_device(lua_State *L) {
  char name[64];
  int rc = cr_socket_device(name, sizeof name);
  if (rc)
    return cr_push_failure(L, cr_errno_name(-rc), "cannot read a new socket's device: %s",
                           strerror(-rc));
  if (name[0])
    lua_pushstring(L, name);
  else
    lua_pushboolean(L, 0);
  return 1;
}

/* found callback of cr_hosts_scan: appends {line, text} to the table at -1 */
static int add_hosts_line(void *ud, unsigned long lineno, const char *text, size_t len) {
  lua_State *L = ud;
  lua_createtable(L, 0, 2);
  cr_set_integer(L, "line", (lua_Integer)lineno);
  lua_pushlstring(L, text, len);
  lua_setfield(L, -2, "text");
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  return 0;
}

/* "PATH: reason", and the errno's name as the code: as util.read
 * (lua/connrecipe/sysutil.lua) says it for the files it reads */
static int push_read_failure(lua_State *L, const char *path, int err) {
  const char *why = err == ENOENT                  ? "not found"
                    : err == EACCES || err == EPERM ? "permission denied"
                                                    : strerror(err);
  return cr_push_failure(L, cr_errno_name(err), "%s: %s", path, why);
}

static int l_hosts_scan(lua_State *L) {
  size_t name_len;
  const char *name = luaL_checklstring(L, 1, &name_len);
  const char *path = luaL_checkstring(L, 2);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return push_read_failure(L, path, errno);
  lua_newtable(L);
  int rc = cr_hosts_scan(fd, name, name_len, add_hosts_line, L);
  close(fd);
  if (rc) return push_read_failure(L, path, -rc);
  return 1;
}

void cr_open_sys(lua_State *L) {
  lua_createtable(L, 0, 16);
  lua_pushcfunction(L, l_interfaces);
  lua_setfield(L, -2, "_interfaces");
  lua_pushcfunction(L, l_links);
  lua_setfield(L, -2, "_links");
  lua_pushcfunction(L, l_socket_device);
  lua_setfield(L, -2, "_socket_device");
  lua_pushcfunction(L, l_hosts_scan);
  lua_setfield(L, -2, "_hosts_scan");
  lua_setfield(L, -2, "sys");
}
