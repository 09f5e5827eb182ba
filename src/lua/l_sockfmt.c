/* cr.format_sockets(socks [, opts]) -> text: the ss-style table that
 * listeners.lua prints, rendered in C, every string escaped for a terminal. Rows are read from the Lua tables
 * cr.sockets / cr.listeners return (so a recipe may filter or edit them
 * first); at 50k rows formatting in Lua would cost more than the dump. */
#include <arpa/inet.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "connrecipe/process.h"
#include "connrecipe/text.h"
#include "lua/bindings.h"

#define MAX_SHOWN_OWNERS 3

typedef struct {
  const char *comm;
  lua_Integer pid;
} shown_owner;

/* One row as read from its Lua table; strings point into Lua strings that the
 * socks table keeps alive while we run. */
typedef struct {
  const char *proto, *family, *addr, *dev, *path, *user, *netns_name, *container, *container_name;
  const char *first_unit, *first_container, *first_container_name;
  lua_Integer port, recvq, sendq, uid, inode, netns;
  unsigned has_port : 1, has_recvq : 1, has_sendq : 1, has_uid : 1, has_inode : 1,
      has_netns : 1, dual_stack : 1, owner_unknown : 1, has_processes : 1;
  int nowners;
  shown_owner shown[MAX_SHOWN_OWNERS];
  uint16_t len[8];  /* its cells' lengths in bytes (one per column), once laid out */
  uint16_t cols[8]; /* and in columns on the screen */
  const char *text; /* its cells, one after the other, once laid out (cell_store) */
  /* sort key */
  uint8_t proto_rank, family_rank;
  uint8_t addr_bytes[16];
  uint32_t index;
} sock_row;

enum key { K_PROTO, K_FAMILY, K_ADDR, K_PORT, K_PATH, K_RECVQ, K_SENDQ, K_INODE, K_UID, K_USER,
           K_V6ONLY, K_NETNS, K_NETNS_NAME, K_CONTAINER, K_PROCESSES, K_OWNER_UNKNOWN, K_PID,
           K_COMM, K_UNIT, K_DEV, K_CONTAINER_NAME, KEY_COUNT };
static const char *const key_text[KEY_COUNT] = {
    "proto", "family", "addr",  "port",      "path",       "recvq",     "sendq",
    "inode", "uid",    "user",  "v6only",    "netns",      "netns_name", "container",
    "processes", "owner_unknown", "pid", "comm", "unit", "dev", "container_name"};

/* ---- reading rows ------------------------------------------------------------ */

/* Pushes t[key] (t at index t, keys from base); returns its type. Raw access
 * only. The strings we keep pointers to stay alive as long as the tables that
 * hold them: a Lua string is never cleared from a weak table, but a row (or a
 * holder table) that socks holds only weakly may be collected by the next
 * allocation, so such tables are anchored (see anchor()). */
static int get(lua_State *L, int t, int base, int key) {
  lua_pushvalue(L, base + key);
  return lua_rawget(L, t);
}

static const char *get_string(lua_State *L, int t, int base, int key) {
  const char *s = get(L, t, base, key) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  lua_pop(L, 1); /* the string stays alive in the row */
  return s;
}

static int get_integer(lua_State *L, int t, int base, int key, lua_Integer *v) {
  get(L, t, base, key);
  int ok;
  *v = lua_tointegerx(L, -1, &ok);
  lua_pop(L, 1);
  return ok;
}

static int get_flag(lua_State *L, int t, int base, int key, int want) {
  int type = get(L, t, base, key);
  int yes = type == LUA_TBOOLEAN && lua_toboolean(L, -1) == want;
  lua_pop(L, 1);
  return yes;
}

/* A table on the stack (at `index`) that keeps the tables we read alive until
 * the text is written. Only tables whose holder has a metatable (so perhaps
 * __mode) go into it: a plain table holds its values strongly, and the common
 * case pays nothing. */
typedef struct {
  int index;
  lua_Integer next;
  int weak_rows; /* socks has a metatable: its rows may be held weakly */
} anchors;

/* Anchors the table at the top of the stack if `maybe_weak` (its holder has
 * a metatable, so perhaps __mode). */
static void anchor(lua_State *L, anchors *a, int maybe_weak) {
  if (!maybe_weak) return;
  lua_pushvalue(L, -1);
  lua_rawseti(L, a->index, ++a->next);
}

static int has_metatable(lua_State *L, int idx) {
  if (!lua_getmetatable(L, idx)) return 0;
  lua_pop(L, 1);
  return 1;
}

static void read_owners(lua_State *L, int t, int base, sock_row *r, anchors *a) {
  if (get(L, t, base, K_PROCESSES) != LUA_TTABLE) {
    lua_pop(L, 1);
    return;
  }
  r->has_processes = 1;
  int ps = lua_gettop(L);
  /* a holder table may be collected if socks, the row or the list is weak */
  int weak = a->weak_rows || has_metatable(L, t) || has_metatable(L, ps);
  size_t len = lua_rawlen(L, ps);
  r->nowners = len > INT32_MAX ? INT32_MAX : (int)len;
  for (int i = 1; i <= r->nowners && i <= MAX_SHOWN_OWNERS; i++) {
    if (lua_rawgeti(L, ps, i) == LUA_TTABLE) {
      anchor(L, a, weak);
      int p = lua_gettop(L);
      r->shown[i - 1].comm = get_string(L, p, base, K_COMM);
      get_integer(L, p, base, K_PID, &r->shown[i - 1].pid);
      if (i == 1) {
        r->first_unit = get_string(L, p, base, K_UNIT);
        r->first_container = get_string(L, p, base, K_CONTAINER);
        r->first_container_name = get_string(L, p, base, K_CONTAINER_NAME);
      }
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* the position of name in names (NULL-terminated), or their count */
static uint8_t rank(const char *name, const char *const *names) {
  uint8_t i = 0;
  while (names[i] && (!name || strcmp(name, names[i]) != 0))
    i++;
  return i;
}
static const char *const protos[] = {"tcp", "udp", "unix", NULL};
static const char *const families[] = {"inet", "inet6", "unix", NULL};

/* Reads only what the columns need: at 50k rows every lookup counts. */
static void read_row(lua_State *L, int t, int base, sock_row *r, int netns_column, anchors *a) {
  memset(r, 0, sizeof *r);
  r->proto = get_string(L, t, base, K_PROTO);
  r->family = get_string(L, t, base, K_FAMILY);
  r->proto_rank = rank(r->proto, protos);
  r->family_rank = rank(r->family, families);
  if (r->family_rank == 2) {
    r->path = get_string(L, t, base, K_PATH);
  } else {
    r->addr = get_string(L, t, base, K_ADDR);
    r->dev = get_string(L, t, base, K_DEV);
    r->has_port = get_integer(L, t, base, K_PORT, &r->port);
    if (r->addr && r->family_rank < 2)
      inet_pton(r->family_rank == 0 ? AF_INET : AF_INET6, r->addr, r->addr_bytes);
    /* a [::] socket that is not v6only takes IPv4 too */
    r->dual_stack = r->family_rank == 1 && r->addr && strcmp(r->addr, "::") == 0 &&
                    get_flag(L, t, base, K_V6ONLY, 0);
  }
  r->has_recvq = get_integer(L, t, base, K_RECVQ, &r->recvq);
  r->has_sendq = get_integer(L, t, base, K_SENDQ, &r->sendq);
  r->has_inode = get_integer(L, t, base, K_INODE, &r->inode);
  r->user = get_string(L, t, base, K_USER);
  if (!r->user) r->has_uid = get_integer(L, t, base, K_UID, &r->uid);
  if (netns_column) {
    r->netns_name = get_string(L, t, base, K_NETNS_NAME);
    r->has_netns = get_integer(L, t, base, K_NETNS, &r->netns);
  }
  read_owners(L, t, base, r, a);
  if (!r->first_container) {
    r->container = get_string(L, t, base, K_CONTAINER);
    r->container_name = get_string(L, t, base, K_CONTAINER_NAME);
  }
  if (r->nowners == 0) r->owner_unknown = get_flag(L, t, base, K_OWNER_UNKNOWN, 1);
}

/* ---- cells ------------------------------------------------------------------- */

typedef struct {
  char text[256];
  size_t n;
} cell;

/* Every string goes in escaped (connrecipe/text.h): names and paths come
 * from other users; what does not fit is cut at a whole character. */
static void put(cell *c, const char *s, size_t len) {
  size_t used;
  c->n += cr_text_escape(s, len, c->text + c->n, sizeof c->text - c->n, 0, &used);
}
static void put_str(cell *c, const char *s) { put(c, s, strlen(s)); }
static void put_int(cell *c, lua_Integer v) {
  char tmp[CR_INTEGER_CHARS];
  size_t len;
  const char *p = cr_integer_digits(v, tmp, &len);
  put(c, p, len);
}
static void put_port(cell *c, const sock_row *r) {
  if (r->has_port)
    put_int(c, r->port);
  else
    put_str(c, "?");
}

/* "%eth0" after the address of a socket bound to a device, as ss shows it */
static void put_dev(cell *c, const sock_row *r) {
  if (!r->dev) return;
  put_str(c, "%");
  put_str(c, r->dev);
}

/* "127.0.0.1:80", "[::1]:80", "*:80 (v4+v6)", "0.0.0.0%eth0:80", a Unix path */
static void endpoint_cell(const sock_row *r, cell *c) {
  c->n = 0;
  if (r->family_rank == 2) {
    if (r->path) {
      put_str(c, r->path);
    } else {
      put_str(c, "(unnamed, inode ");
      put_int(c, r->inode);
      put_str(c, ")");
    }
    return;
  }
  if (r->dual_stack) {
    put_str(c, "*");
    put_dev(c, r);
    put_str(c, ":");
    put_port(c, r);
    put_str(c, " (v4+v6)");
    return;
  }
  int bracket = r->family_rank == 1;
  if (bracket) put_str(c, "[");
  put_str(c, r->addr ? r->addr : "?");
  if (bracket) put_str(c, "]");
  put_dev(c, r);
  put_str(c, ":");
  put_port(c, r);
}

/* "nginx/811,nginx/812,+3 more"; "?" when the owners could not be seen */
static void owners_cell(const sock_row *r, cell *c) {
  c->n = 0;
  if (r->nowners == 0) {
    put_str(c, r->owner_unknown ? "?" : "-");
    return;
  }
  for (int i = 0; i < r->nowners && i < MAX_SHOWN_OWNERS; i++) {
    if (i) put_str(c, ",");
    const char *comm = r->shown[i].comm;
    put_str(c, comm && *comm ? comm : "?"); /* "": it exited before its name was read */
    put_str(c, "/");
    put_int(c, r->shown[i].pid);
  }
  if (r->nowners > MAX_SHOWN_OWNERS) {
    put_str(c, ",+");
    put_int(c, r->nowners - MAX_SHOWN_OWNERS);
    put_str(c, " more");
  }
}

/* text if there is some, else the number if there is one, else "-" */
static void text_or_number_cell(const char *text, int has_number, lua_Integer number, cell *c) {
  c->n = 0;
  if (text)
    put_str(c, text);
  else if (has_number)
    put_int(c, number);
  else
    put_str(c, "-");
}

/* the holder's container, the namespace's container (by name when the
 * engine told it, container_name, else their ids cut to 12 characters, as
 * docker ps shows them), or the holder's unit */
static void where_cell(const sock_row *r, cell *c) {
  c->n = 0;
  const char *container = r->first_container ? r->first_container : r->container;
  const char *name = r->first_container ? r->first_container_name : r->container_name;
  if (container && name) {
    put_str(c, "container ");
    put_str(c, name);
  } else if (container) {
    put_str(c, "container ");
    put(c, container, strnlen(container, CR_CONTAINER_SHORT_LEN));
  } else {
    put_str(c, r->first_unit ? r->first_unit : "-");
  }
}

/* ---- layout -------------------------------------------------------------------- */

enum column { C_PROTO, C_ENDPOINT, C_RECVQ, C_SENDQ, C_OWNERS, C_USER, C_WHERE, C_NETNS, COLUMNS };

typedef struct {
  size_t width[COLUMNS];
  int right[COLUMNS]; /* right-aligned (numbers) */
  int netns;          /* show the NETNS column */
} layout;

static const char *const heading[COLUMNS] = {"PROTO", "LOCAL ADDRESS", "RECV-Q", "SEND-Q",
                                             "PROCESS", "USER", "UNIT/CONTAINER", "NETNS"};
/* a column grows to fit its widest cell between these */
static const size_t min_width[COLUMNS] = {5, 13, 6, 6, 7, 4, 14, 5};
static const size_t max_width[COLUMNS] = {8, 60, 12, 12, 40, 16, 40, 64};

static void row_cells(const sock_row *r, cell cells[COLUMNS], int netns) {
  cells[C_PROTO].n = 0;
  put_str(&cells[C_PROTO], r->proto ? r->proto : "?");
  endpoint_cell(r, &cells[C_ENDPOINT]);
  text_or_number_cell(NULL, r->has_recvq, r->recvq, &cells[C_RECVQ]);
  text_or_number_cell(NULL, r->has_sendq, r->sendq, &cells[C_SENDQ]);
  owners_cell(r, &cells[C_OWNERS]);
  text_or_number_cell(r->user, r->has_uid, r->uid, &cells[C_USER]);
  where_cell(r, &cells[C_WHERE]);
  if (netns)
    text_or_number_cell(r->netns_name, r->has_netns, r->netns, &cells[C_NETNS]);
  else
    cells[C_NETNS].n = 0; /* no such column: nothing to keep */
}

/* The columns a cell takes on the screen: one per character (escaped text
 * is ASCII or well-formed UTF-8; a wide character counts one, as in ss). */
static size_t columns(const cell *c) {
  size_t n = 0;
  for (size_t i = 0; i < c->n; i++)
    n += ((unsigned char)c->text[i] & 0xc0) != 0x80;
  return n;
}

static void fit(layout *lay, const cell cells[COLUMNS]) {
  for (int k = 0; k < COLUMNS; k++) {
    size_t cols = columns(&cells[k]);
    size_t w = cols < max_width[k] ? cols : max_width[k];
    if (w > lay->width[k]) lay->width[k] = w;
  }
}

static int last_column(const layout *lay) { return lay->netns ? C_NETNS : C_WHERE; }

/* The length of the line write_line makes of cells len[] bytes and cols[]
 * columns long, newline included. */
static size_t line_length(const layout *lay, const uint16_t len[COLUMNS],
                          const uint16_t cols[COLUMNS]) {
  int last = last_column(lay);
  size_t n = 1;
  for (int k = 0; k <= last; k++) {
    size_t pad = cols[k] < lay->width[k] ? lay->width[k] - cols[k] : 0;
    n += (k ? 2 : 0) + len[k] + (lay->right[k] || k < last ? pad : 0);
  }
  return n;
}

/* One line at p of the cells in text (one after the other, len[] bytes
 * and cols[] columns each): columns two spaces apart, the last unpadded. */
static char *write_line(char *p, const layout *lay, const char *text, const uint16_t len[COLUMNS],
                        const uint16_t cols[COLUMNS]) {
  int last = last_column(lay);
  for (int k = 0; k <= last; k++) {
    size_t pad = cols[k] < lay->width[k] ? lay->width[k] - cols[k] : 0;
    if (k) memcpy(p, "  ", 2), p += 2;
    if (lay->right[k]) memset(p, ' ', pad), p += pad;
    memcpy(p, text, len[k]);
    p += len[k];
    text += len[k];
    if (!lay->right[k] && k < last) memset(p, ' ', pad), p += pad;
  }
  *p++ = '\n';
  return p;
}

static void cell_lengths(const cell cells[COLUMNS], uint16_t len[COLUMNS], uint16_t cols[COLUMNS]) {
  for (int k = 0; k < COLUMNS; k++) {
    len[k] = (uint16_t)cells[k].n;
    cols[k] = (uint16_t)columns(&cells[k]);
  }
}

/* The rows' cells as the layout pass made them, kept for the writing pass
 * (made once, not twice): in chunks of userdata anchored in a table on the
 * stack, so that they are collected with the call even when it raises. */
#define CELL_CHUNK (64 * 1024)
typedef struct {
  int anchor; /* stack index of the table holding the chunks */
  lua_Integer chunks;
  char *at;
  size_t left;
} cell_store;

static const char *store_cells(lua_State *L, cell_store *st, const cell cells[COLUMNS]) {
  size_t need = 0;
  for (int k = 0; k < COLUMNS; k++)
    need += cells[k].n;
  if (need > st->left) {
    size_t size = need > CELL_CHUNK ? need : CELL_CHUNK;
    st->at = lua_newuserdatauv(L, size, 0);
    lua_rawseti(L, st->anchor, ++st->chunks);
    st->left = size;
  }
  char *start = st->at;
  for (int k = 0; k < COLUMNS; k++) {
    memcpy(st->at, cells[k].text, cells[k].n);
    st->at += cells[k].n;
  }
  st->left -= need;
  return start;
}

/* ---- order: protocol, family, address, port, path, namespace ------------------ */

static int cmp_str(const char *a, const char *b) {
  if (!a || !b) return (a != NULL) - (b != NULL);
  return strcmp(a, b);
}
#define CMP(a, b) ((a) < (b) ? -1 : (a) > (b) ? 1 : 0)

/* The order's leading fields packed into integers, next to the row pointer:
 * the sort compares contiguous keys instead of chasing rows. */
typedef struct {
  uint64_t k[3]; /* proto and family ranks, the address, the port */
  const sock_row *row;
} sort_entry;

static uint64_t be_bytes(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

static void sort_key(const sock_row *r, sort_entry *e) {
  const uint8_t *a = r->addr_bytes;
  e->k[0] = (uint64_t)r->proto_rank << 56 | (uint64_t)r->family_rank << 48 | be_bytes(a, 6);
  e->k[1] = be_bytes(a + 6, 8);
  e->k[2] = be_bytes(a + 14, 2) << 48 | (uint64_t)(r->port & 0xffff) << 32;
  e->row = r;
}

/* then, on equal keys: an unknown protocol's name, path, namespace, inode */
static int row_order(const void *pa, const void *pb) {
  const sort_entry *x = pa, *y = pb;
  for (int i = 0; i < 3; i++)
    if (x->k[i] != y->k[i]) return x->k[i] < y->k[i] ? -1 : 1;
  const sock_row *a = x->row, *b = y->row;
  int c;
  if (a->proto_rank == 3 && (c = cmp_str(a->proto, b->proto))) return c;
  if ((c = cmp_str(a->path, b->path))) return c;
  if ((c = CMP(a->netns, b->netns))) return c;
  if ((c = CMP(a->inode, b->inode))) return c;
  return CMP(a->index, b->index); /* qsort is not stable */
}

/* ---- cr.format_sockets --------------------------------------------------------- */

static void read_options(lua_State *L, int *netns, int *sort) {
  *netns = 0;
  *sort = 1;
  if (lua_isnoneornil(L, 2)) return;
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, 2)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    int is_netns = k && strcmp(k, "netns") == 0, is_sort = k && strcmp(k, "sort") == 0;
    if (!is_netns && !is_sort)
      luaL_error(L, "cr.format_sockets: unknown option '%s' (expected netns, sort)",
                 k ? k : luaL_typename(L, -2));
    if (!lua_isboolean(L, -1)) luaL_error(L, "cr.format_sockets: %s must be a boolean", k);
    *(is_netns ? netns : sort) = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
}

static int l_format_sockets(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int netns, sort;
  read_options(L, &netns, &sort);
  lua_settop(L, 1);
  lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
  if ((lua_Unsigned)n > SIZE_MAX / (sizeof(sock_row) + sizeof(sort_entry)) - 1)
    return luaL_error(L, "cr.format_sockets: too many rows");
  luaL_checkstack(L, KEY_COUNT + 8, "cr.format_sockets");
  int base = lua_gettop(L) + 1;
  for (int k = 0; k < KEY_COUNT; k++)
    lua_pushstring(L, key_text[k]);
  anchors a = {.weak_rows = has_metatable(L, 1)};
  /* sized for every row and shown holder: no allocation while rows are read */
  lua_Integer slots = n * (1 + MAX_SHOWN_OWNERS);
  lua_createtable(L, a.weak_rows && slots < INT_MAX ? (int)slots : 0, 0);
  a.index = lua_gettop(L);
  /* rows live in a userdata: collected even when a row raises below */
  sock_row *rows = lua_newuserdatauv(L, (size_t)n * (sizeof *rows + sizeof(sort_entry)) + 1, 0);
  sort_entry *order = (sort_entry *)(rows + n);
  for (lua_Integer i = 0; i < n; i++) {
    if (lua_rawgeti(L, 1, i + 1) != LUA_TTABLE)
      return luaL_error(L, "cr.format_sockets: entry %d is a %s, not a socket table", (int)(i + 1),
                        luaL_typename(L, -1));
    anchor(L, &a, a.weak_rows);
    read_row(L, lua_gettop(L), base, &rows[i], netns, &a);
    rows[i].index = (uint32_t)i;
    sort_key(&rows[i], &order[i]);
    lua_pop(L, 1);
  }
  if (sort) qsort(order, (size_t)n, sizeof *order, row_order);

  layout lay = {.netns = netns, .right = {[C_RECVQ] = 1, [C_SENDQ] = 1}};
  cell cells[COLUMNS];
  for (int k = 0; k < COLUMNS; k++) {
    cells[k].n = 0;
    put_str(&cells[k], heading[k]);
    lay.width[k] = min_width[k];
  }
  uint16_t head_len[COLUMNS], head_cols[COLUMNS];
  cell_lengths(cells, head_len, head_cols);
  lua_newtable(L);
  cell_store st = {.anchor = lua_gettop(L)};
  const char *head = store_cells(L, &st, cells);
  for (lua_Integer i = 0; i < n; i++) {
    row_cells(&rows[i], cells, netns);
    fit(&lay, cells);
    cell_lengths(cells, rows[i].len, rows[i].cols);
    rows[i].text = store_cells(L, &st, cells);
  }
  /* the text's exact size is known now: one allocation, no regrowth */
  size_t total = line_length(&lay, head_len, head_cols);
  for (lua_Integer i = 0; i < n; i++)
    total += line_length(&lay, rows[i].len, rows[i].cols);
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, total), *start = p;
  p = write_line(p, &lay, head, head_len, head_cols);
  for (lua_Integer i = 0; i < n; i++) {
    const sock_row *r = order[i].row;
    p = write_line(p, &lay, r->text, r->len, r->cols);
  }
  luaL_pushresultsize(&b, (size_t)(p - start));
  return 1;
}

void cr_open_sockfmt(lua_State *L) {
  lua_pushcfunction(L, l_format_sockets);
  lua_setfield(L, -2, "format_sockets");
}
