/* Creating a file that only its owner may read, safely in any directory
 * (including /tmp, where another user may have planted a link or a file):
 * for what connrecipe writes on request, such as diagnose --save-facts,
 * whose content (command lines, environment-set ports) is not for others.
 * Plain C, no Lua. */
#ifndef CONNRECIPE_PRIVATE_FILE_H
#define CONNRECIPE_PRIVATE_FILE_H

#include <stddef.h>

/* Opens PATH for writing, truncated, mode 0600, and returns its descriptor
 * (O_CLOEXEC). Never follows a symbolic link at PATH; an existing file is
 * used only when it is a regular file of the effective user with a single
 * link (a hard link someone made to another file is refused), and its mode is
 * then set to 0600. Returns -1 otherwise, with errno set (ELOOP: a link,
 * EPERM: another user's file or a hard link, EINVAL: not a regular file) and
 * a one-line reason in WHY. */
int cr_private_file_create(const char *path, char *why, size_t whylen);

#endif
