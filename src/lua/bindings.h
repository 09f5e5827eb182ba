/* The Lua bindings: each l_*.c adds its functions to the module table on top of
 * the stack. They check arguments, call the core or runtime, build tables. */
#ifndef CONNRECIPE_LUA_BINDINGS_H
#define CONNRECIPE_LUA_BINDINGS_H

#include <lua.h>

int luaopen_connrecipe(lua_State *L);

void cr_open_tasks(lua_State *L); /* sleep, now, spawn, run, _wait, task methods */
void cr_open_exec(lua_State *L);  /* exec */
void cr_open_probe(lua_State *L); /* resolve, probe.* (calls cr_open_resolve) */
void cr_open_resolve(lua_State *L);
void cr_open_sys(lua_State *L);   /* sys.interfaces (the rest of cr.sys is Lua) */
void cr_open_sockets(lua_State *L); /* sockets, listeners, process.{get,list,find} */
void cr_open_sockfmt(lua_State *L); /* format_sockets */

/* Pushes the task methods table (for connrecipe.tasks to extend). */
void cr_push_task_methods(lua_State *L);

/* package.path and package.cpath: the system's trusted Lua directories only
 * (searchpath.c). The executable calls this before anything is required. */
void cr_use_system_search_paths(lua_State *L);
/* package.preload["connrecipe.sysrequire"]: require over those directories,
 * for the optional modules connrecipe loads itself (cjson.safe, dkjson). */
void cr_register_sysrequire(lua_State *L);

/* Runs the embedded Lua module `name` (require semantics) and returns its value. */
void cr_require_embedded(lua_State *L, const char *name);

/* Sets t[field] = value-at-top for common result shapes (pops the value). */
void cr_set_string(lua_State *L, const char *field, const char *s);
void cr_set_integer(lua_State *L, const char *field, lua_Integer v);
void cr_set_number(lua_State *L, const char *field, lua_Number v);
void cr_set_boolean(lua_State *L, const char *field, int v);

/* Pushes the nil, message, code triple of a system failure; returns 3. */
int cr_push_failure(lua_State *L, const char *message, const char *code);

#endif
