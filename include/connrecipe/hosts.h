/* Looking a name up in a hosts file (/etc/hosts) while streaming it: the
 * lines that name it, never a table of the whole file. Plain C; the Lua
 * binding (cr.sys.hosts_lookup) sits on top. */
#ifndef CONNRECIPE_HOSTS_H
#define CONNRECIPE_HOSTS_H

#include <stddef.h>

/* Called for each line naming the host: its number (from 1) and its text up
 * to a comment. A nonzero return stops the scan and is returned by it. */
typedef int (*cr_hosts_found)(void *ud, unsigned long lineno, const char *text, size_t len);

/* Reads the hosts file open at fd to its end, calling found for each line
 * whose second or later field is name (ASCII case-insensitive, as glibc
 * compares). Memory stays at one block plus the longest line. Returns 0,
 * -errno on a read or allocation failure, or what found returned. */
int cr_hosts_scan(int fd, const char *name, size_t name_len, cr_hosts_found found, void *ud);

#endif
