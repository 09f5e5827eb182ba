/* The trust walk (see connrecipe/trust.h). Two passes over a path:
 *   1. as named: lstat every prefix, so that a symbolic link on the way, and
 *      the directory holding it, belong to root or the user;
 *   2. as resolved: realpath, then open "/" and each component below it with
 *      O_NOFOLLOW, checking every directory before looking inside it. What is
 *      finally opened was reached only through checked directories, which
 *      nobody else can change: no window between check and use. */
#include "connrecipe/text.h"
#include "connrecipe/trust.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "uid 65534 (nobody)" */
static void owner_name(uid_t uid, char *out, size_t outlen) {
  struct passwd pw, *found = NULL;
  char buf[1024];
  if (getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found) {
    char name[128];
    cr_text_escape_cstr(found->pw_name, name, sizeof name);
    snprintf(out, outlen, "uid %u (%s)", (unsigned)uid, name);
  } else {
    snprintf(out, outlen, "uid %u", (unsigned)uid);
  }
}

/* Sets WHY to "SHOWN: WHAT" with SHOWN escaped, errno to ERR; returns -1. */
static int refuse(int err, const char *shown, const char *what, char *why, size_t whylen) {
  char esc[PATH_MAX * 2];
  cr_text_escape_cstr(shown, esc, sizeof esc);
  snprintf(why, whylen, "%s: %s", esc, what);
  errno = err;
  return -1;
}

/* The ownership and mode rule for one file, directory or link. */
static int judge(const struct stat *st, const char *shown, uid_t user, char *why, size_t whylen) {
  char what[320];
  if (st->st_uid != 0 && st->st_uid != user) {
    char owner[192];
    owner_name(st->st_uid, owner, sizeof owner);
    snprintf(what, sizeof what, "owned by %s, not by root%s", owner,
             user != 0 ? " or the user running connrecipe" : "");
    return refuse(EPERM, shown, what, why, whylen);
  }
  if (!S_ISLNK(st->st_mode) && (st->st_mode & (S_IWGRP | S_IWOTH))) {
    snprintf(what, sizeof what, "writable by %s (mode %04o)",
             (st->st_mode & S_IWOTH) ? "others" : "its group", (unsigned)(st->st_mode & 07777));
    return refuse(EPERM, shown, what, why, whylen);
  }
  return 0;
}

/* Pass 1: every prefix of ABS as written, symbolic links not followed. */
static int walk_named(const char *abs, uid_t user, char *why, size_t whylen) {
  char prefix[PATH_MAX];
  size_t len = strlen(abs);
  for (size_t i = 1; i <= len; i++) {
    if (i < len && abs[i] != '/') continue;
    memcpy(prefix, abs, i);
    prefix[i] = '\0';
    struct stat st;
    if (lstat(prefix, &st) != 0) return refuse(errno, prefix, strerror(errno), why, whylen);
    if (judge(&st, prefix, user, why, whylen) != 0) return -1;
  }
  return 0;
}

/* Opens the component NAME of the checked directory DIRFD without following
 * a link: a directory (O_PATH) when WANT_DIR, else a regular file to read. */
static int open_component(int dirfd, const char *name, int want_dir, const char *shown, char *why,
                          size_t whylen) {
  struct stat before;
  if (fstatat(dirfd, name, &before, AT_SYMLINK_NOFOLLOW) != 0)
    return refuse(errno, shown, strerror(errno), why, whylen);
  if (want_dir ? !S_ISDIR(before.st_mode) : !S_ISREG(before.st_mode))
    return refuse(want_dir ? ENOTDIR : EPERM, shown,
                  S_ISLNK(before.st_mode) ? "changed into a symbolic link while being checked"
                  : want_dir              ? "not a directory"
                                          : "not a regular file",
                  why, whylen);
  int flags = O_NOFOLLOW | O_CLOEXEC | (want_dir ? O_PATH | O_DIRECTORY : O_RDONLY | O_NONBLOCK);
  int fd = openat(dirfd, name, flags);
  if (fd < 0) return refuse(errno, shown, strerror(errno), why, whylen);
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_ino != before.st_ino || st.st_dev != before.st_dev) {
    close(fd);
    return refuse(EPERM, shown, "changed while being checked", why, whylen);
  }
  return fd;
}

/* Pass 2: REAL (canonical) opened from "/" down, each level checked. Returns
 * the descriptor of the last component (a directory or a file to read). */
static int walk_resolved(const char *real, int want_dir, uid_t user, char *why, size_t whylen) {
  int dirfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  struct stat st;
  if (dirfd < 0 || fstat(dirfd, &st) != 0) return refuse(errno, "/", strerror(errno), why, whylen);
  if (judge(&st, "/", user, why, whylen) != 0) goto fail;
  char shown[PATH_MAX];
  const char *p = real + 1;
  while (*p) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    char name[NAME_MAX + 1];
    if (n > NAME_MAX) {
      refuse(ENAMETOOLONG, real, "name too long", why, whylen);
      goto fail;
    }
    memcpy(name, p, n);
    name[n] = '\0';
    snprintf(shown, sizeof shown, "%.*s", (int)(p + n - real), real);
    int last = !slash || !slash[1];
    int fd = open_component(dirfd, name, last ? want_dir : 1, shown, why, whylen);
    if (fd < 0) goto fail;
    close(dirfd);
    dirfd = fd;
    if (fstat(dirfd, &st) != 0 || judge(&st, shown, user, why, whylen) != 0) goto fail;
    p += n;
    while (*p == '/') p++;
  }
  return dirfd;
fail: {
  int saved = errno;
  close(dirfd);
  errno = saved;
  return -1;
}
}

/* Both passes over PATH (made absolute first); the descriptor of pass 2. */
static int trust_walk(const char *path, int want_dir, uid_t user, char *why, size_t whylen) {
  char real[PATH_MAX], abs[PATH_MAX];
  if (!realpath(path, real)) return refuse(errno, path, strerror(errno), why, whylen);
  if (path[0] == '/') {
    snprintf(abs, sizeof abs, "%s", path);
  } else {
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return refuse(errno, path, strerror(errno), why, whylen);
    if ((size_t)snprintf(abs, sizeof abs, "%s/%s", cwd, path) >= sizeof abs)
      return refuse(ENAMETOOLONG, path, "name too long", why, whylen);
  }
  if (walk_named(abs, user, why, whylen) != 0) return -1;
  return walk_resolved(real, want_dir, user, why, whylen);
}

int cr_trust_open(const char *path, uid_t user, char *why, size_t whylen) {
  return trust_walk(path, 0, user, why, whylen);
}

int cr_trust_check_dir(const char *path, uid_t user, char *why, size_t whylen) {
  int fd = trust_walk(path, 1, user, why, whylen);
  if (fd < 0) return -1;
  close(fd);
  return 0;
}
