/* cr.open_private(path) -> file, or nil, message, code: PATH opened for
 * writing as a file only its owner may read (0600), never through a
 * symbolic link and never another user's file (see
 * connrecipe/private_file.h). The file is a standard Lua file handle (the
 * io library's methods, closed by file:close() or the collector), so a
 * recipe writes to it as to one io.open returned. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "connrecipe/private_file.h"
#include "connrecipe/probe.h" /* cr_errno_name */
#include "connrecipe/trust.h"
#include "lua/bindings.h"

#define PATH_MAX_WHY 4200

static int close_stream(lua_State *L) {
  luaL_Stream *s = luaL_checkudata(L, 1, LUA_FILEHANDLE);
  errno = 0;
  int ok = fclose(s->f) == 0;
  return luaL_fileresult(L, ok, NULL);
}

static int l_open_private(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  luaL_Stream *s = lua_newuserdatauv(L, sizeof *s, 0);
  s->closef = NULL; /* a closed handle until the file is open */
  luaL_setmetatable(L, LUA_FILEHANDLE);
  char why[160];
  int fd = cr_private_file_create(path, why, sizeof why);
  if (fd < 0) {
    int err = errno;
    return cr_push_failure(L, cr_errno_name(err), "%s: %s", path, why);
  }
  s->f = fdopen(fd, "w");
  if (!s->f) {
    int err = errno;
    close(fd);
    return cr_push_errno(L, err, "%s", path);
  }
  s->closef = close_stream;
  return 1;
}

/* cr.read_trusted(path [, max_bytes = 1 MiB]) -> contents, or nil, message,
 * code: a file only root could have written (it and every directory above
 * it owned by root and writable by nobody else, see connrecipe/trust.h),
 * such as a container engine's state. EFBIG when it is larger. */
static int l_read_trusted(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_Integer max = luaL_optinteger(L, 2, 1 << 20);
  luaL_argcheck(L, max >= 1 && max <= (64 << 20), 2, "max_bytes must be in [1, 64 MiB]");
  char why[PATH_MAX_WHY];
  int fd = cr_trust_open(path, 0, why, sizeof why);
  if (fd < 0) {
    int err = errno;
    return cr_push_failure(L, cr_errno_name(err), "%s", why);
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  size_t total = 0;
  for (;;) {
    char *p = luaL_prepbuffer(&b);
    ssize_t n = read(fd, p, LUAL_BUFFERSIZE);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return cr_push_errno(L, err, "%s", path);
    }
    if (n == 0) break;
    total += (size_t)n;
    if (total > (size_t)max) {
      close(fd);
      return cr_push_failure(L, "EFBIG", "%s: larger than %d bytes", path, (int)max);
    }
    luaL_addsize(&b, (size_t)n);
  }
  close(fd);
  luaL_pushresult(&b);
  return 1;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* cr.list_trusted_dir(path) -> {names, sorted}, or nil, message, code: the
 * entries of a directory only root could have changed (as cr.read_trusted). */
static int l_list_trusted_dir(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  char why[PATH_MAX_WHY];
  if (cr_trust_check_dir(path, 0, why, sizeof why) != 0) {
    int err = errno;
    return cr_push_failure(L, cr_errno_name(err), "%s", why);
  }
  DIR *d = opendir(path);
  if (!d) return cr_push_errno(L, errno, "%s", path);
  char **names = NULL;
  size_t n = 0, cap = 0;
  int failed = 0;
  for (struct dirent *e; !failed && (e = readdir(d)) != NULL;) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      char **grown = realloc(names, cap * sizeof *names);
      if (!grown) {
        failed = 1;
        break;
      }
      names = grown;
    }
    if (!(names[n] = strdup(e->d_name))) failed = 1;
    else n++;
  }
  closedir(d);
  if (!failed) {
    if (n > 0) qsort(names, n, sizeof *names, by_name); /* an empty directory: names is NULL */
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
      lua_pushstring(L, names[i]);
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  if (failed) return luaL_error(L, "cr.list_trusted_dir: out of memory");
  return 1;
}

void cr_open_file(lua_State *L) {
  lua_pushcfunction(L, l_open_private);
  lua_setfield(L, -2, "open_private");
  lua_pushcfunction(L, l_read_trusted);
  lua_setfield(L, -2, "read_trusted");
  lua_pushcfunction(L, l_list_trusted_dir);
  lua_setfield(L, -2, "list_trusted_dir");
}
