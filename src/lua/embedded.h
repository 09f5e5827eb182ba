/* Lua modules and recipes compiled into the binary (see cmake/embed_lua.cmake). */
#ifndef CONNRECIPE_LUA_EMBEDDED_H
#define CONNRECIPE_LUA_EMBEDDED_H

#include <stddef.h>

#include <lua.h>

typedef enum { CR_EMBED_END = 0, CR_EMBED_MODULE, CR_EMBED_RECIPE, CR_EMBED_DOC } cr_embed_kind;

typedef struct {
  cr_embed_kind kind;
  const char *name; /* "connrecipe.tasks" for modules, "scan.lua" for recipes */
  const char *source;
  size_t len;
  const char *bytecode; /* precompiled by luac5.4 at build time, or NULL */
  size_t bytecode_len;
} cr_embedded_file;

extern const cr_embedded_file cr_embedded_files[];

/* The embedded file of that kind and name, or NULL. */
const cr_embedded_file *cr_embedded_find(cr_embed_kind kind, const char *name);

/* Loads an embedded module or recipe as a function (like luaL_loadbuffer),
 * from its bytecode when that loads, else from source under `chunkname`. */
int cr_embedded_load(lua_State *L, const cr_embedded_file *f, const char *chunkname);

/* Makes every embedded module requirable (package.preload). */
void cr_embedded_preload(lua_State *L);

/* require(name): runs an embedded Lua module (once) and pushes its value. */
void cr_require_embedded(lua_State *L, const char *name);

#endif
