/* The recipe path from Lua: cr._recipe_list() (what --list shows) and
 * cr._recipe_load(name) (a recipe's chunk, for calling it as a function).
 * Both go through recipe_path.c, so a file on the path is loaded only when it
 * passed the trust walk, from the descriptor that was checked. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "lua/bindings.h"
#include "lua/recipe_path.h"

/* ---- loading ------------------------------------------------------------------- */

/* Whether the recipe's text declares a recipe (cr.recipe{...}): help() reads
 * its parameters only then, and never runs a plain script to learn them. */
static int text_declares(const char *text, size_t len) {
  return memmem(text, len, "cr.recipe", strlen("cr.recipe")) != NULL;
}

/* Loads the text of FD (closed here) as luaL_loadfile would load its path: a
 * "#" first line skipped, "@PATH" as the chunk name. The descriptor is the
 * file the trust walk checked; the path may since name another. */
static int load_checked_file(lua_State *L, int fd, const char *path, int *declares) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) luaL_addlstring(&b, buf, (size_t)n);
  int err = n < 0 ? errno : 0;
  close(fd);
  luaL_pushresult(&b);
  if (err) {
    lua_pop(L, 1);
    lua_pushfstring(L, "cannot read %s: %s", path, strerror(err));
    return LUA_ERRFILE;
  }
  size_t len;
  const char *text = lua_tolstring(L, -1, &len);
  if (declares) *declares = text_declares(text, len);
  if (len > 0 && text[0] == '#') { /* a shebang: skip it, keep its newline for line numbers */
    const char *nl = memchr(text, '\n', len);
    len = nl ? len - (size_t)(nl - text) : 0;
    text = nl ? nl : text + len;
  }
  lua_pushfstring(L, "@%s", path);
  int status = luaL_loadbufferx(L, text, len, lua_tostring(L, -1), NULL);
  lua_remove(L, -2); /* the chunk name */
  lua_remove(L, -2); /* the text */
  return status;
}

int cr_recipe_load(lua_State *L, const recipe_location *loc, int *declares) {
  if (loc->fd >= 0) return load_checked_file(L, loc->fd, loc->path, declares);
  if (!loc->builtin) {
    if (declares) *declares = 1; /* a path given on the command line: run as given */
    return luaL_loadfile(L, loc->path);
  }
  if (declares) *declares = text_declares(loc->builtin->source, loc->builtin->len);
  lua_pushfstring(L, "=builtin:%s", loc->name);
  int status = cr_embedded_load(L, loc->builtin, lua_tostring(L, -1));
  lua_remove(L, -2);
  return status;
}

/* A name on the path, never a path: "diagnose", "site_check". */
static int plain_name(const char *name) {
  if (!*name || strlen(name) > 200) return 0;
  for (const char *p = name; *p; p++)
    if (!(*p == '_' || *p == '-' || *p == '.' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
          (*p >= 'A' && *p <= 'Z')))
      return 0;
  return name[0] != '.';
}

/* cr._recipe_load(name) -> chunk, {name, path, origin, description, declares}
 * | nil, message: the recipe NAME would run as, found as `connrecipe NAME`
 * finds it (an untrusted file is skipped with a warning). */
static int l_recipe_load(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  if (!plain_name(name)) {
    lua_pushnil(L);
    lua_pushfstring(L, "'%s' is not a recipe name (letters, digits, '_', '-')", name);
    return 2;
  }
  recipe_path rp;
  recipe_path_init(&rp);
  recipe_location loc;
  char why[2048], desc[256];
  int found = recipe_find(&rp, name, &loc, why, sizeof why);
  recipe_path_free(&rp);
  if (found != 0) {
    lua_pushnil(L);
    lua_pushstring(L, why);
    return 2;
  }
  recipe_description(&loc, desc, sizeof desc);
  int declares = 0;
  if (cr_recipe_load(L, &loc, &declares) != LUA_OK) return lua_error(L);
  lua_createtable(L, 0, 5);
  lua_pushlstring(L, loc.name, strlen(loc.name) - 4); /* without .lua */
  lua_setfield(L, -2, "name");
  cr_set_string(L, "path", loc.builtin ? "built-in" : loc.path);
  cr_set_string(L, "origin", loc.origin);
  cr_set_string(L, "description", desc);
  cr_set_boolean(L, "declares", declares);
  return 2;
}

/* ---- listing -------------------------------------------------------------------- */

typedef struct {
  lua_State *L;
  int count;
} list_state;

/* Adds {name, description, path, origin} to the table on top of the stack. */
static void collect_recipe(const recipe_location *loc, void *data) {
  list_state *ls = data;
  lua_State *L = ls->L;
  char desc[256];
  recipe_description(loc, desc, sizeof desc);
  lua_createtable(L, 0, 4);
  lua_pushlstring(L, loc->name, strlen(loc->name) - 4); /* without .lua */
  lua_setfield(L, -2, "name");
  cr_set_string(L, "description", desc);
  cr_set_string(L, "path", loc->builtin ? "built-in" : loc->path);
  cr_set_string(L, "origin", loc->origin);
  lua_rawseti(L, -2, ++ls->count);
}

void cr_push_recipe_list(lua_State *L) {
  recipe_path rp;
  recipe_path_init(&rp);
  list_state ls = {L, 0};
  lua_newtable(L);
  recipe_list(&rp, collect_recipe, &ls);
  recipe_path_free(&rp);
}

/* cr._recipe_list() -> { {name, description, path, origin}, ... } in --list's order */
static int l_recipe_list(lua_State *L) {
  cr_push_recipe_list(L);
  return 1;
}

void cr_open_recipes(lua_State *L) {
  lua_pushcfunction(L, l_recipe_list);
  lua_setfield(L, -2, "_recipe_list");
  lua_pushcfunction(L, l_recipe_load);
  lua_setfield(L, -2, "_recipe_load");
}
