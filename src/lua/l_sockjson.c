/* cr.json_sockets(socks) -> text: the JSON array of socket rows that
 * listeners.lua --json prints, encoded in C. At 10k rows the same rows
 * encoded in Lua (a string per field, gsub for the escapes, utf8.len for the
 * cleaning) cost more than the whole text table; here they cost a few ms.
 *
 * Each row is an object of these fields in this order, those that are nil
 * left out: proto, family, addr (s.addr, or s.path when addr is nil or
 * false), port, dev, dev_unknown, state, inode, uid, v6only, netns, recvq, sendq, drops,
 * owner_unknown, container, container_name; then "processes": [{"pid": N, "comm": "..."}, ...] (an empty
 * array when there are none). Strings are made valid UTF-8 first as
 * json.utf8 does it (each byte that does not start a well-formed character,
 * by utf8.len's strict rules, becomes U+FFFD), then the control bytes
 * (0x00-0x1f, 0x7f), '"' and '\\' are written as \u00XX. Numbers are written
 * as tostring writes them, booleans as true/false, any other value as null. */
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>

#include "lua/bindings.h"

/* The text grows in a userdata kept in one stack slot (so an error frees
 * it), replaced by one twice as large when full: rows are read by pushing
 * and popping values around the writes, which luaL_Buffer does not allow. */
typedef struct {
  lua_State *L;
  int slot;
  char *p;
  size_t n, cap;
} jbuf;

static void jbuf_init(lua_State *L, jbuf *b, size_t cap) {
  b->L = L;
  b->p = lua_newuserdatauv(L, cap, 0);
  b->slot = lua_gettop(L);
  b->n = 0;
  b->cap = cap;
}

static void jbuf_add(jbuf *b, const char *s, size_t len) {
  if (len > b->cap - b->n) {
    size_t cap = b->cap;
    while (len > cap - b->n) {
      if (cap > SIZE_MAX / 2) luaL_error(b->L, "cr.json_sockets: the text is too large");
      cap *= 2;
    }
    char *p = lua_newuserdatauv(b->L, cap, 0);
    memcpy(p, b->p, b->n);
    lua_replace(b->L, b->slot);
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, len);
  b->n += len;
}

static void jbuf_str(jbuf *b, const char *s) { jbuf_add(b, s, strlen(s)); }
static void jbuf_char(jbuf *b, char c) { jbuf_add(b, &c, 1); }

enum key { K_PROTO, K_FAMILY, K_ADDR, K_PORT, K_DEV, K_DEV_UNKNOWN, K_STATE, K_INODE, K_UID, K_V6ONLY, K_NETNS,
           K_RECVQ, K_SENDQ, K_DROPS, K_OWNER_UNKNOWN, K_CONTAINER, K_CONTAINER_NAME, ROW_FIELDS,
           K_PATH = ROW_FIELDS,
           K_PROCESSES, K_PID, K_COMM, KEY_COUNT };
static const char *const key_text[KEY_COUNT] = {
    "proto",  "family", "addr",  "port",  "dev",   "dev_unknown",   "state", "inode", "uid",
    "v6only", "netns",  "recvq", "sendq", "drops", "owner_unknown", "container", "container_name",
    "path",  "processes",
    "pid",    "comm"};

/* ---- strings ------------------------------------------------------------------ */

/* The length of the well-formed UTF-8 character at s (NUL-terminated, as
 * every Lua string is), or 0: Lua 5.4's utf8_decode in strict mode (no
 * overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_char_len(const unsigned char *s) {
  static const uint32_t limits[] = {~(uint32_t)0, 0x80, 0x800, 0x10000u, 0x200000u, 0x4000000u};
  unsigned int c = s[0];
  if (c < 0x80) return 1;
  uint32_t res = 0;
  size_t count = 0;
  for (; c & 0x40; c <<= 1) {
    unsigned int cc = s[++count];
    if ((cc & 0xC0) != 0x80) return 0;
    res = (res << 6) | (cc & 0x3F);
  }
  if (count > 5) return 0;
  res |= ((uint32_t)(c & 0x7F) << (count * 5));
  if (res > 0x7FFFFFFFu || res < limits[count]) return 0;
  if (res > 0x10FFFFu || (0xD800u <= res && res <= 0xDFFFu)) return 0;
  return count + 1;
}

static void add_escaped_byte(jbuf *b, unsigned char c) {
  static const char hex[] = "0123456789abcdef";
  char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
  jbuf_add(b, e, sizeof e);
}

static void add_json_string(jbuf *b, const char *str, size_t len) {
  const unsigned char *s = (const unsigned char *)str, *end = s + len;
  jbuf_char(b, '"');
  while (s < end) {
    const unsigned char *run = s; /* bytes that go out as they are */
    while (s < end && *s >= 0x20 && *s < 0x7f && *s != '"' && *s != '\\')
      s++;
    jbuf_add(b, (const char *)run, (size_t)(s - run));
    if (s == end) break;
    if (*s < 0x80) {
      add_escaped_byte(b, *s++);
      continue;
    }
    size_t n = utf8_char_len(s);
    if (n == 0) {
      jbuf_add(b, "\xEF\xBF\xBD", 3); /* U+FFFD for the one bad byte */
      s++;
    } else {
      jbuf_add(b, (const char *)s, n);
      s += n;
    }
  }
  jbuf_char(b, '"');
}

static void add_integer(jbuf *b, lua_Integer v) {
  char tmp[CR_INTEGER_CHARS];
  size_t len;
  const char *p = cr_integer_digits(v, tmp, &len);
  jbuf_add(b, p, len);
}

/* ---- values -------------------------------------------------------------------- */

/* Adds the value at the top of the stack (and pops it). A float goes through
 * tostring's own conversion: "1.0", "1e+20", as Lua writes them. */
static void add_value(lua_State *L, jbuf *b) {
  size_t len;
  const char *s;
  switch (lua_type(L, -1)) {
  case LUA_TSTRING:
    s = lua_tolstring(L, -1, &len);
    add_json_string(b, s, len);
    break;
  case LUA_TNUMBER:
    if (lua_isinteger(L, -1)) {
      add_integer(b, lua_tointeger(L, -1));
    } else {
      lua_pushvalue(L, -1);
      s = lua_tolstring(L, -1, &len); /* a copy: the original stays a number */
      jbuf_add(b, s, len);
      lua_pop(L, 1);
    }
    break;
  case LUA_TBOOLEAN:
    jbuf_str(b, lua_toboolean(L, -1) ? "true" : "false");
    break;
  default:
    jbuf_str(b, "null");
  }
  lua_pop(L, 1);
}

/* t[key] pushed (t at index t, keys pushed from base); its type */
static int get(lua_State *L, int t, int base, int key) {
  lua_pushvalue(L, base + key);
  return lua_gettable(L, t);
}

static void add_processes(lua_State *L, jbuf *b, int row, int base) {
  jbuf_str(b, "\"processes\":[");
  int type = get(L, row, base, K_PROCESSES);
  if (type != LUA_TNIL && !(type == LUA_TBOOLEAN && !lua_toboolean(L, -1))) {
    if (type != LUA_TTABLE) luaL_error(L, "cr.json_sockets: processes is a %s, not a list", lua_typename(L, type));
    int ps = lua_gettop(L);
    for (lua_Integer i = 1; lua_geti(L, ps, i) != LUA_TNIL; i++) {
      int p = lua_gettop(L);
      if (lua_type(L, p) != LUA_TTABLE)
        luaL_error(L, "cr.json_sockets: process %d is a %s, not a table", (int)i, luaL_typename(L, p));
      get(L, p, base, K_PID);
      int ok;
      lua_Integer pid = lua_tointegerx(L, -1, &ok);
      if (!ok) luaL_error(L, "cr.json_sockets: process %d has no integer pid", (int)i);
      lua_pop(L, 1);
      if (get(L, p, base, K_COMM) != LUA_TSTRING)
        luaL_error(L, "cr.json_sockets: process %d has no comm string", (int)i);
      size_t len;
      const char *comm = lua_tolstring(L, -1, &len);
      jbuf_str(b, i > 1 ? ",{\"pid\":" : "{\"pid\":");
      add_integer(b, pid);
      jbuf_str(b, ",\"comm\":");
      add_json_string(b, comm, len);
      jbuf_char(b, '}');
      lua_pop(L, 2); /* comm, the process */
    }
    lua_pop(L, 1); /* the nil that ended the list */
  }
  lua_pop(L, 1); /* processes */
  jbuf_char(b, ']');
}

static void add_row(lua_State *L, jbuf *b, int row, int base) {
  jbuf_char(b, '{');
  for (int k = 0; k < ROW_FIELDS; k++) {
    int type = get(L, row, base, k);
    if (k == K_ADDR && (type == LUA_TNIL || (type == LUA_TBOOLEAN && !lua_toboolean(L, -1)))) {
      /* s.addr or s.path; when both are missing, s.addr again */
      if (get(L, row, base, K_PATH) == LUA_TNIL) {
        lua_pop(L, 1);
      } else {
        lua_remove(L, -2);
        type = lua_type(L, -1);
      }
    }
    if (type == LUA_TNIL) {
      lua_pop(L, 1);
      continue;
    }
    jbuf_char(b, '"');
    jbuf_str(b, key_text[k]);
    jbuf_str(b, "\":");
    add_value(L, b);
    jbuf_char(b, ',');
  }
  add_processes(L, b, row, base);
  jbuf_char(b, '}');
}

/* ---- cr.json_sockets ------------------------------------------------------------ */

static int l_json_sockets(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  luaL_checkstack(L, KEY_COUNT + 8, "cr.json_sockets");
  int base = lua_gettop(L) + 1;
  for (int k = 0; k < KEY_COUNT; k++)
    lua_pushstring(L, key_text[k]);
  lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
  jbuf b;
  jbuf_init(L, &b, 4096 + (size_t)n * 160);
  jbuf_char(&b, '[');
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_geti(L, 1, i) != LUA_TTABLE)
      return luaL_error(L, "cr.json_sockets: entry %d is a %s, not a socket table", (int)i, luaL_typename(L, -1));
    if (i > 1) jbuf_char(&b, ',');
    add_row(L, &b, lua_gettop(L), base);
    lua_pop(L, 1);
  }
  jbuf_char(&b, ']');
  lua_pushlstring(L, b.p, b.n);
  return 1;
}

void cr_open_sockjson(lua_State *L) {
  lua_pushcfunction(L, l_json_sockets);
  lua_setfield(L, -2, "json_sockets");
}
