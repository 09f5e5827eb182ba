/* cr.text.escape(v [, keep_lines]) -> string: tostring(v) with the control
 * bytes a terminal acts on shown as visible escapes (include/connrecipe/
 * text.h). keep_lines: newlines and tabs pass (a text of several lines).
 * Every text renderer goes through it; --json does not (JSON escapes). The
 * table is also require("connrecipe.text"), for the Lua modules. */
#include <lauxlib.h>

#include "connrecipe/text.h"
#include "lua/bindings.h"

static int l_escape(lua_State *L) {
  unsigned flags = lua_toboolean(L, 2) ? CR_TEXT_KEEP_LINES : 0;
  size_t len;
  const char *s = luaL_tolstring(L, 1, &len);
  size_t clean = cr_text_clean_prefix(s, len, flags);
  if (clean == len) return 1; /* the common case: the string itself */
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addlstring(&b, s, clean);
  s += clean;
  len -= clean;
  while (len > 0) {
    char *out = luaL_prepbuffsize(&b, LUAL_BUFFERSIZE);
    size_t used;
    size_t n = cr_text_escape(s, len, out, LUAL_BUFFERSIZE, flags, &used);
    luaL_addsize(&b, n);
    s += used;
    len -= used;
  }
  luaL_pushresult(&b);
  return 1;
}

void cr_open_text(lua_State *L) {
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, l_escape);
  lua_setfield(L, -2, "escape");
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, "connrecipe.text");
  lua_pop(L, 1);
  lua_setfield(L, -2, "text");
}
