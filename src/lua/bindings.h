/* The Lua bindings. Each cr_open_* adds its functions to the module table on
 * top of the stack and opens nothing else; module.c calls them from one list.
 * A binding checks arguments, calls the core or runtime, and builds tables
 * with the helpers of result.c. */
#ifndef CONNRECIPE_LUA_BINDINGS_H
#define CONNRECIPE_LUA_BINDINGS_H

#include <lua.h>

int luaopen_connrecipe(lua_State *L);

/* ---- the C parts of the module (module.c lists them) ------------------------ */

void cr_open_tasks(lua_State *L); /* sleep, now, spawn, run, _wait, _task_methods, _async_marker */
void cr_open_exec(lua_State *L);  /* exec, _inherited */
void cr_open_resolve(lua_State *L); /* resolve */
void cr_open_probe(lua_State *L);   /* probe._tcp, probe._udp, probe.unix, probe._scan */
void cr_open_sys(lua_State *L);     /* sys._interfaces (the rest of cr.sys is Lua) */
void cr_open_sockets(lua_State *L); /* sockets, listeners */
void cr_open_process(lua_State *L); /* process.{get,list,find} */
void cr_open_sockfmt(lua_State *L); /* format_sockets */
void cr_open_sockjson(lua_State *L); /* json_sockets */
void cr_open_docs(lua_State *L);    /* _docs (embedded.c) */
void cr_open_errors(lua_State *L);  /* _errno_name (result.c) */
void cr_open_recipes(lua_State *L); /* _recipe_list, _recipe_load */
void cr_open_file(lua_State *L);    /* open_private */
void cr_open_unixreq(lua_State *L); /* unix_request */
void cr_open_containerd(lua_State *L); /* containerd */
void cr_open_text(lua_State *L);    /* text.escape, also require "connrecipe.text" */

/* ---- where require looks (searchpath.c) ------------------------------------ */

/* package.path and package.cpath: the system's trusted Lua directories only.
 * The executable calls this before anything is required. */
void cr_use_system_search_paths(lua_State *L);
/* package.preload["connrecipe.sysrequire"]: require over those directories,
 * for the optional modules connrecipe loads itself (cjson.safe, dkjson). */
void cr_register_sysrequire(lua_State *L);

/* ---- result shapes (result.c) ------------------------------------------------ */

/* t[field] = value, for the table at the top of the stack. */
void cr_set_string(lua_State *L, const char *field, const char *s);
void cr_set_integer(lua_State *L, const char *field, lua_Integer v);
void cr_set_number(lua_State *L, const char *field, lua_Number v);
void cr_set_boolean(lua_State *L, const char *field, int v);
/* t[field] = the name of errno err ("EACCES"; err or -err), unless err is 0. */
void cr_set_errno(lua_State *L, const char *field, int err);

/* The decimal digits of v, written at the end of buf (no NUL): returns where
 * they start, their length in *len. For the hot paths that write thousands of
 * numbers (cr.format_sockets, cr.json_sockets), where snprintf costs. */
#define CR_INTEGER_CHARS 24
static inline const char *cr_integer_digits(lua_Integer v, char buf[CR_INTEGER_CHARS], size_t *len) {
  char *p = buf + CR_INTEGER_CHARS;
  lua_Unsigned u = v < 0 ? 0u - (lua_Unsigned)v : (lua_Unsigned)v;
  do {
    *--p = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) *--p = '-';
  *len = (size_t)(buf + CR_INTEGER_CHARS - p);
  return p;
}

/* A system failure, luv's convention: pushes nil, message, code; returns 3.
 * The message is fmt formatted (lua_pushfstring's formats). */
int cr_push_failure(lua_State *L, const char *code, const char *fmt, ...);
/* For errno err (err or -err): the message gets ": " and strerror, the code
 * is the errno's name ("EACCES"). */
int cr_push_errno(lua_State *L, int err, const char *fmt, ...);
/* For a libuv error rc: ": " and uv_strerror, and uv_err_name ("ENOENT",
 * "EAI_NONAME"). */
int cr_push_uv_error(lua_State *L, int rc, const char *fmt, ...);

#endif
