/* The Lua modules, recipes and docs compiled into the binary: finding and
 * loading them, and making the modules requirable (package.preload). */
#include <string.h>

#include <lauxlib.h>

#include "lua/bindings.h"
#include "lua/embedded.h"

const cr_embedded_file *cr_embedded_find(cr_embed_kind kind, const char *name) {
  for (const cr_embedded_file *f = cr_embedded_files; f->name; f++)
    if (f->kind == kind && strcmp(f->name, name) == 0) return f;
  return NULL;
}

int cr_embedded_load(lua_State *L, const cr_embedded_file *f, const char *chunkname) {
  if (f->bytecode) {
    if (luaL_loadbufferx(L, f->bytecode, f->bytecode_len, chunkname, "b") == LUA_OK) return LUA_OK;
    lua_pop(L, 1); /* another Lua 5.4 release's bytecode format: compile the source */
  }
  return luaL_loadbufferx(L, f->source, f->len, chunkname, "t");
}

/* package.preload entry for an embedded module. */
static int load_embedded(lua_State *L) {
  const cr_embedded_file *f = lua_touserdata(L, lua_upvalueindex(1));
  const char *path = luaL_gsub(L, f->name, ".", "/");
  const char *chunkname = lua_pushfstring(L, "=builtin:lua/%s.lua", path);
  if (cr_embedded_load(L, f, chunkname) != LUA_OK) return lua_error(L);
  lua_pushvalue(L, 1); /* the module name, as require passes it */
  lua_call(L, 1, 1);
  return 1;
}

void cr_embedded_preload(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (const cr_embedded_file *f = cr_embedded_files; f->name; f++) {
    if (f->kind != CR_EMBED_MODULE) continue;
    lua_pushlightuserdata(L, (void *)f);
    lua_pushcclosure(L, load_embedded, 1);
    lua_setfield(L, -2, f->name);
  }
  lua_pop(L, 1);
}

void cr_require_embedded(lua_State *L, const char *name) {
  lua_getglobal(L, "require");
  lua_pushstring(L, name);
  lua_call(L, 1, 1);
}

/* cr._docs() -> {["api.md"] = text, ...}: the reference the REPL's help() reads */
static int l_docs(lua_State *L) {
  lua_newtable(L);
  for (const cr_embedded_file *f = cr_embedded_files; f->name; f++) {
    if (f->kind != CR_EMBED_DOC) continue;
    lua_pushlstring(L, f->source, f->len);
    lua_setfield(L, -2, f->name);
  }
  return 1;
}

void cr_open_docs(lua_State *L) {
  lua_pushcfunction(L, l_docs);
  lua_setfield(L, -2, "_docs");
}
