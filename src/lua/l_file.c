/* cr.open_private(path) -> file, or nil, message, code: PATH opened for
 * writing as a file only its owner may read (0600), never through a
 * symbolic link and never another user's file (see
 * connrecipe/private_file.h). The file is a standard Lua file handle (the
 * io library's methods, closed by file:close() or the collector), so a
 * recipe writes to it as to one io.open returned. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "connrecipe/private_file.h"
#include "connrecipe/probe.h" /* cr_errno_name */
#include "lua/bindings.h"

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

void cr_open_file(lua_State *L) {
  lua_pushcfunction(L, l_open_private);
  lua_setfield(L, -2, "open_private");
}
