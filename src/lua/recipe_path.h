/* Finding recipes: a path as given, or a name on the recipe path. */
#ifndef CONNRECIPE_LUA_RECIPE_PATH_H
#define CONNRECIPE_LUA_RECIPE_PATH_H

#include <limits.h>

#include "lua/embedded.h"

#define RECIPE_DIRS_MAX 64

typedef struct {
  char *dirs[RECIPE_DIRS_MAX]; /* searched in order, before the built-ins */
  int ndirs;
} recipe_path;

typedef struct {
  char name[256];       /* "scan.lua" */
  char path[PATH_MAX];  /* the file, or "" for a built-in */
  const cr_embedded_file *builtin;
  char origin[PATH_MAX]; /* the directory it was found in, or "built-in" */
  int fd;                /* a recipe from a directory: the file, opened when it passed the
                            trust walk (connrecipe/trust.h); -1 for a built-in or a path */
} recipe_location;

/* The directories from $CONNRECIPE_PATH, $XDG_CONFIG_HOME (or ~/.config) and /etc. */
void recipe_path_init(recipe_path *rp);
void recipe_path_free(recipe_path *rp);

/* Finds RECIPE: a path as given, else the first trusted file of that name in
 * the directories (an untrusted one is skipped with a warning on stderr),
 * else a built-in. Returns 0 (close out->fd when >= 0), or -1 with a
 * one-line reason in `why`. */
int recipe_find(const recipe_path *rp, const char *recipe, recipe_location *out, char *why,
                size_t whylen);

/* Calls fn for every recipe on the path, first trusted hit per name only, in
 * search order then by name; loc->fd is closed after fn returns. */
typedef void (*recipe_visit_fn)(const recipe_location *loc, void *data);
void recipe_list(const recipe_path *rp, recipe_visit_fn fn, void *data);

/* The recipe's one-line description: the first line of its leading comment. */
void recipe_description(const recipe_location *loc, char *out, size_t outlen);

/* ---- with Lua (l_recipes.c) ------------------------------------------------------ */

/* Loads the recipe LOC names as a function, as luaL_loadfile does (a "#"
 * first line skipped): from the descriptor the trust walk checked (closed
 * here), the path as given, or the built-in. Pushes the function or the
 * error. *declares (may be NULL) says whether its text declares a recipe. */
int cr_recipe_load(lua_State *L, const recipe_location *loc, int *declares);

/* Pushes --list's rows: { {name, description, path, origin}, ... }. */
void cr_push_recipe_list(lua_State *L);

#endif
