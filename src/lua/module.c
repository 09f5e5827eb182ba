/* luaopen_connrecipe: the `connrecipe` module, the same for the executable and
 * for connrecipe.so loaded by the stock lua5.4 interpreter. */
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "lua/bindings.h"
#include "lua/embedded.h"
#include "runtime/runtime.h"
#include "version.h"

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

static void register_embedded_modules(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (const cr_embedded_file *f = cr_embedded_files; f->name; f++) {
    if (f->kind != CR_EMBED_MODULE) continue;
    lua_pushlightuserdata(L, (void *)f);
    lua_pushcclosure(L, load_embedded, 1);
    lua_setfield(L, -2, f->name);
  }
  lua_pop(L, 1);
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

void cr_require_embedded(lua_State *L, const char *name) {
  lua_getglobal(L, "require");
  lua_pushstring(L, name);
  lua_call(L, 1, 1);
}

void cr_set_string(lua_State *L, const char *field, const char *s) {
  lua_pushstring(L, s);
  lua_setfield(L, -2, field);
}
void cr_set_integer(lua_State *L, const char *field, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, field);
}
void cr_set_number(lua_State *L, const char *field, lua_Number v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, field);
}
void cr_set_boolean(lua_State *L, const char *field, int v) {
  lua_pushboolean(L, v);
  lua_setfield(L, -2, field);
}

int cr_push_failure(lua_State *L, const char *message, const char *code) {
  lua_pushnil(L);
  lua_pushstring(L, message);
  lua_pushstring(L, code);
  return 3;
}

int luaopen_connrecipe(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, "connrecipe.module");
  if (!lua_isnil(L, -1)) return 1; /* one runtime per Lua state */
  lua_pop(L, 1);

  cr_runtime_open(L);
  register_embedded_modules(L);

  lua_newtable(L);
  cr_set_string(L, "version", CONNRECIPE_VERSION);
  cr_set_integer(L, "pid", (lua_Integer)getpid());
  /* cr.cli: the shared options; the executable replaces it with the command line's */
  lua_createtable(L, 0, 6);
  cr_set_boolean(L, "json", 0);
  cr_set_boolean(L, "verbose", 0);
  cr_set_boolean(L, "quiet", 0);
  cr_set_boolean(L, "color", 0);
  lua_setfield(L, -2, "cli");
  cr_open_tasks(L);
  cr_open_exec(L);
  cr_open_probe(L);
  cr_open_sys(L);
  cr_open_sockets(L);
  cr_open_sockfmt(L);

  /* join, all, timeout: written in Lua over cr._wait */
  cr_require_embedded(L, "connrecipe.tasks");
  lua_pushvalue(L, -2);
  cr_push_task_methods(L);
  lua_call(L, 2, 0);
  cr_push_task_methods(L);
  lua_setfield(L, -2, "_task_methods");
  lua_pushcfunction(L, l_docs);
  lua_setfield(L, -2, "_docs");

  /* the recipe framework: cr.recipe{...} */
  cr_require_embedded(L, "connrecipe.recipe");
  lua_pushvalue(L, -2);
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "declare");
  lua_setfield(L, -3, "recipe");
  lua_setfield(L, -2, "_recipe");
  /* cr.sys, cr.firewall, cr.service: system facts, written in Lua */
  cr_require_embedded(L, "connrecipe.facts");
  lua_pushvalue(L, -2);
  lua_call(L, 1, 0);

  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, "connrecipe.module");
  return 1;
}
