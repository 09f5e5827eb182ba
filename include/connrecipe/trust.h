/* Whether a file another user could have written may be trusted: the rule
 * ssh's StrictModes applies to authorized_keys. A path is trusted when the
 * file and every directory above it (as named, and again after resolving
 * symbolic links) is owned by root or by USER, and none is writable by group
 * or others; symbolic links on the way must be owned by root or USER too.
 * Plain C, no Lua. */
#ifndef CONNRECIPE_TRUST_H
#define CONNRECIPE_TRUST_H

#include <stddef.h>
#include <sys/types.h>

/* Opens the regular file PATH read-only when it is trusted for USER and
 * returns its descriptor (O_CLOEXEC). The descriptor is the file that was
 * checked: the walk opens each directory without following links and checks
 * it before opening what is inside. Returns -1 otherwise, with errno set and a
 * one-line reason in WHY naming the offending path (control bytes escaped);
 * errno ENOENT or ENOTDIR means there is no such file, EPERM an untrusted one. */
int cr_trust_open(const char *path, uid_t user, char *why, size_t whylen);

/* 0 when the directory PATH is trusted for USER, else -1 as cr_trust_open. */
int cr_trust_check_dir(const char *path, uid_t user, char *why, size_t whylen);

#endif
