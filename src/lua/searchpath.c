/* Where Lua modules may come from: the modules compiled into connrecipe
 * (package.preload) and the system's Lua directories, never the current
 * directory. Lua's defaults end in "./?.lua" and "./?.so", so a
 * ./cjson/safe.lua planted in /tmp would run as root when an administrator
 * runs connrecipe from there; LUA_PATH and LUA_CPATH are the environment's,
 * which sudo may keep.
 *
 * The system path is Lua's compiled-in default minus its relative entries,
 * keeping only directories that pass the trust walk (connrecipe/trust.h).
 * The executable uses it as package.path and package.cpath; the optional
 * third-party modules (lua-cjson, dkjson) are loaded through
 * connrecipe.sysrequire, which uses it for that one require, so that
 * connrecipe.so in a stock lua5.4 does not load them from "." either. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "connrecipe/trust.h"
#include "lua/bindings.h"

/* The directory part of a search template: up to the last '/' before the
 * first '?' ("/usr/share/lua/5.4/?/init.lua" -> "/usr/share/lua/5.4"). */
static int template_dir(const char *tmpl, size_t len, char *dir, size_t dirlen) {
  const char *q = memchr(tmpl, '?', len);
  size_t upto = q ? (size_t)(q - tmpl) : len;
  size_t cut = 0;
  for (size_t i = 0; i < upto; i++)
    if (tmpl[i] == '/') cut = i;
  if (cut == 0 || cut >= dirlen) return -1;
  memcpy(dir, tmpl, cut);
  dir[cut] = '\0';
  return 0;
}

/* The directories already judged while the paths are computed: Lua's
 * defaults name each twice or more (?.lua and ?/init.lua, path and cpath),
 * and each judgement is a walk of a dozen system calls. */
typedef struct {
  char dir[8][256];
  int trusted[8], n;
} dir_verdicts;

/* Whether dir passes the trust walk; an existing untrusted one is worth a
 * warning (once). */
static int dir_trusted(dir_verdicts *seen, const char *dir) {
  for (int i = 0; i < seen->n; i++)
    if (strcmp(seen->dir[i], dir) == 0) return seen->trusted[i];
  char why[1024];
  int trusted = cr_trust_check_dir(dir, geteuid(), why, sizeof why) == 0;
  if (!trusted && errno != ENOENT && errno != ENOTDIR)
    fprintf(stderr, "connrecipe: not loading Lua modules from %s\n", why);
  if (seen->n < 8 && strlen(dir) < sizeof seen->dir[0]) {
    strcpy(seen->dir[seen->n], dir);
    seen->trusted[seen->n++] = trusted;
  }
  return trusted;
}

/* Whether a template may be searched: absolute, and its directory exists
 * and is trusted. */
static int template_trusted(dir_verdicts *seen, const char *tmpl, size_t len) {
  char dir[4096];
  if (len == 0 || tmpl[0] != '/' || template_dir(tmpl, len, dir, sizeof dir) != 0) return 0;
  return dir_trusted(seen, dir);
}

/* Pushes the entries of DEFAULTS that template_trusted keeps, ';'-joined. */
static void push_system_path(lua_State *L, dir_verdicts *seen, const char *defaults) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  int first = 1;
  for (const char *p = defaults; *p;) {
    const char *semi = strchr(p, ';');
    size_t len = semi ? (size_t)(semi - p) : strlen(p);
    if (template_trusted(seen, p, len)) {
      if (!first) luaL_addchar(&b, ';');
      luaL_addlstring(&b, p, len);
      first = 0;
    }
    p += len + (semi != NULL);
  }
  luaL_pushresult(&b);
}

/* Pushes the system path and cpath, computed once per Lua state. */
static void push_system_paths(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, "connrecipe.cpath") == LUA_TSTRING) {
    lua_getfield(L, LUA_REGISTRYINDEX, "connrecipe.path");
    lua_insert(L, -2);
    return;
  }
  lua_pop(L, 1);
  dir_verdicts seen = {.n = 0};
  push_system_path(L, &seen, LUA_PATH_DEFAULT);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, "connrecipe.path");
  push_system_path(L, &seen, LUA_CPATH_DEFAULT);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, "connrecipe.cpath");
}

/* Sets package.path and package.cpath from the two values on top (popped). */
static void set_package_paths(lua_State *L) {
  lua_getglobal(L, LUA_LOADLIBNAME);
  luaL_checktype(L, -1, LUA_TTABLE);
  lua_insert(L, -3);
  lua_setfield(L, -3, "cpath");
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
}

void cr_use_system_search_paths(lua_State *L) {
  push_system_paths(L);
  set_package_paths(L);
}

/* connrecipe.sysrequire(name): require with the system path for the time of
 * the call, the caller's path restored after (also when the module raises). */
static int sysrequire(lua_State *L) {
  luaL_checkstring(L, 1);
  lua_settop(L, 1);
  lua_getglobal(L, LUA_LOADLIBNAME);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_getfield(L, 2, "path");  /* 3: the caller's */
  lua_getfield(L, 2, "cpath"); /* 4 */
  push_system_paths(L);
  set_package_paths(L);
  lua_getglobal(L, "require");
  lua_pushvalue(L, 1);
  int status = lua_pcall(L, 1, 1, 0);
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 4);
  set_package_paths(L);
  if (status != LUA_OK) return lua_error(L);
  return 1;
}

static int open_sysrequire(lua_State *L) {
  lua_pushcfunction(L, sysrequire);
  return 1;
}

void cr_register_sysrequire(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, open_sysrequire);
  lua_setfield(L, -2, "connrecipe.sysrequire");
  lua_pop(L, 1);
}
