/* The shapes every binding returns: fields of a result table, and the
 * `nil, message, code` of a system failure (luv's convention), whose code is
 * the errno's name ("EACCES", "ESRCH") so that Lua decides on it, never on
 * the message. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <uv.h>

#include "connrecipe/probe.h"
#include "lua/bindings.h"

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
void cr_set_errno(lua_State *L, const char *field, int err) {
  if (err) cr_set_string(L, field, cr_errno_name(abs(err)));
}

/* The one shape of a failure: nil, the formatted message (": " and `reason`
 * appended when there is one), code. */
static int push_failurev(lua_State *L, const char *code, const char *reason, const char *fmt,
                         va_list ap) {
  lua_pushnil(L);
  lua_pushvfstring(L, fmt, ap);
  if (reason) {
    lua_pushfstring(L, "%s: %s", lua_tostring(L, -1), reason);
    lua_remove(L, -2);
  }
  lua_pushstring(L, code);
  return 3;
}

int cr_push_failure(lua_State *L, const char *code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  push_failurev(L, code, NULL, fmt, ap);
  va_end(ap);
  return 3;
}

int cr_push_errno(lua_State *L, int err, const char *fmt, ...) {
  err = abs(err);
  va_list ap;
  va_start(ap, fmt);
  push_failurev(L, cr_errno_name(err), strerror(err), fmt, ap);
  va_end(ap);
  return 3;
}

int cr_push_uv_error(lua_State *L, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  push_failurev(L, uv_err_name(rc), uv_strerror(rc), fmt, ap);
  va_end(ap);
  return 3;
}

/* cr._errno_name(n) -> "ENOENT": the name of an errno number (what io.open
 * returns third), so Lua modules decide on names, not on strerror text. */
static int l_errno_name(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_argcheck(L, n > 0 && n < 4096, 1, "an errno number > 0");
  lua_pushstring(L, cr_errno_name((int)n));
  return 1;
}

void cr_open_errors(lua_State *L) {
  lua_pushcfunction(L, l_errno_name);
  lua_setfield(L, -2, "_errno_name");
}
