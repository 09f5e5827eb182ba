/* luaopen_connrecipe: the `connrecipe` module, the same for the executable and
 * for connrecipe.so loaded by the stock lua5.4 interpreter. Its C parts and
 * its Lua parts are each opened from one list, in order, as linit.c opens the
 * standard libraries. */
#include <unistd.h>

#include <lauxlib.h>

#include "lua/bindings.h"
#include "lua/embedded.h"
#include "runtime/runtime.h"
#include "runtime/thread_pool.h"
#include "version.h"

/* Each adds its functions to the module table at the top of the stack. */
static void (*const c_parts[])(lua_State *L) = {
    cr_open_tasks,   cr_open_exec,    cr_open_resolve, cr_open_probe,  cr_open_sys, cr_open_sockets,
    cr_open_process, cr_open_sockfmt, cr_open_sockjson, cr_open_docs,  cr_open_errors, cr_open_file,
    cr_open_text,    cr_open_recipes, cr_open_unixreq, cr_open_containerd, NULL,
};

/* Each is an embedded module returning a function that, called once with no
 * arguments, adds to the module; it reaches the module as every Lua module
 * does, with require "connrecipe". Later parts build on earlier ones. */
static const char *const lua_parts[] = {
    "connrecipe.tasks",      /* task:join, cr.all, cr.timeout over cr._wait */
    "connrecipe.probe",      /* cr.probe.tcp, udp, scan over the C halves */
    "connrecipe.recipes",    /* cr.recipe{...}, cr.recipes.NAME(...): loaded on first use */
    "connrecipe.facts",      /* cr.sys, cr.firewall, cr.service: loaded on first use */
    NULL,
};

/* cr.cli: the shared options; the executable replaces it with the command line's. */
static void set_default_cli(lua_State *L) {
  lua_createtable(L, 0, 4);
  cr_set_boolean(L, "json", 0);
  cr_set_boolean(L, "verbose", 0);
  cr_set_boolean(L, "quiet", 0);
  cr_set_boolean(L, "color", 0);
  lua_setfield(L, -2, "cli");
}

int luaopen_connrecipe(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, "connrecipe.module");
  if (!lua_isnil(L, -1)) return 1; /* one runtime per Lua state */
  lua_pop(L, 1);

  char why[256];
  if (cr_thread_pool_ensure(why, sizeof why) != 0) /* never libuv's abort() in a host's Lua */
    return luaL_error(L, "connrecipe: %s", why);
  cr_runtime_open(L);
  cr_embedded_preload(L);
  cr_register_sysrequire(L);
  lua_newtable(L);
  /* the Lua parts' require "connrecipe" finds the module being built */
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, "connrecipe");
  lua_pop(L, 1);

  cr_set_string(L, "version", CONNRECIPE_VERSION);
  cr_set_integer(L, "pid", (lua_Integer)getpid());
  set_default_cli(L);
  for (int i = 0; c_parts[i]; i++)
    c_parts[i](L);
  for (int i = 0; lua_parts[i]; i++) {
    cr_require_embedded(L, lua_parts[i]);
    lua_call(L, 0, 0);
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, "connrecipe.module");
  return 1;
}
