/* The coroutine library as tasks need it, in C so that it behaves as lbaselib's
 * own (lcorolib.c): same messages, same positions, C functions to the debug
 * library. Three differences make async calls work and keep user code seeing
 * stock Lua:
 *  - relay: an async call made inside one of the task's own coroutines yields
 *    the async marker; resume and wrap yield it on to the task (the approach of
 *    nmap's NSE) and hand the results back down when the scheduler resumes it;
 *  - a task's coroutine is what lua.c's main thread is to its chunk: yield
 *    there says "attempt to yield from outside a coroutine", isyieldable is
 *    false, running says it is the main one, and nobody but the scheduler
 *    resumes it;
 *  - a coroutine waiting with its task in an async call is "normal" (active,
 *    not running) and cannot be resumed by anyone but the relay. */
#include <lauxlib.h>
#include <lualib.h>

#include "runtime/internal.h"

#define RELAY (-2) /* auxresume: the coroutine waits in an async call */

cr_resume_frame *cr_resume_chain;

enum { COS_RUN, COS_DEAD, COS_YIELD, COS_NORM };
static const char *const statname[] = {"running", "dead", "suspended", "normal"};

static lua_State *getco(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  luaL_argexpected(L, co, 1, "thread"); /* as Debian's liblua5.4 words it */
  return co;
}

static int top_is(lua_State *co, const void *marker) {
  return lua_gettop(co) > 0 && lua_touserdata(co, -1) == marker;
}

static int waits_for_async(lua_State *co) {
  return lua_status(co) == LUA_YIELD && top_is(co, &cr_async_marker);
}

/* A task's coroutine that is not running: waiting, not started, or finished. */
static int is_idle_task(lua_State *co) {
  lua_Debug ar;
  if (lua_status(co) == LUA_YIELD) return top_is(co, &cr_task_waiting_marker);
  if (lua_status(co) != LUA_OK || lua_getstack(co, 0, &ar) || lua_gettop(co) == 0) return 0;
  return lua_tocfunction(co, 1) == cr_task_main || lua_touserdata(co, 1) == &cr_task_done_marker;
}

static int is_task(lua_State *L, lua_State *co) {
  return (cr_running_task && cr_running_task->co == co) || (co != L && is_idle_task(co));
}

static int auxstatus(lua_State *L, lua_State *co) {
  if (L == co) return COS_RUN;
  if (is_idle_task(co) || waits_for_async(co)) return COS_NORM;
  switch (lua_status(co)) {
  case LUA_YIELD:
    return COS_YIELD;
  case LUA_OK: {
    lua_Debug ar;
    if (lua_getstack(co, 0, &ar)) return COS_NORM; /* it has frames: it resumed another */
    return lua_gettop(co) == 0 ? COS_DEAD : COS_YIELD;
  }
  default:
    return COS_DEAD; /* an error */
  }
}

/* Why nobody but the scheduler or the relay may resume co, or NULL. */
static const char *refusal(lua_State *L, lua_State *co, int relayed) {
  int status = lua_status(co);
  if (status == LUA_YIELD) { /* one look at the top: the common case, a generator */
    const void *top = lua_gettop(co) > 0 ? lua_touserdata(co, -1) : NULL;
    if (top == &cr_async_marker && !relayed)
      return "cannot resume non-suspended coroutine (it waits in an async call of its task; "
             "only the scheduler resumes it)";
    if (top == &cr_task_waiting_marker) return "cannot resume non-suspended coroutine";
    return NULL;
  }
  if (status == LUA_OK && co != L && is_idle_task(co))
    return "cannot resume non-suspended coroutine";
  return NULL;
}

/* Resumes co with narg values from L's top; leaves its results (or the error)
 * on L's top. Returns their count, -1 on error, RELAY when co waits in an async
 * call (the marker then stays on co's stack: it tells who may resume co).
 * relayed: the relay hands co the results of the call it waited for. */
static int auxresume(lua_State *L, lua_State *co, int narg, int relayed) {
  const char *refused = refusal(L, co, relayed);
  if (refused) {
    lua_pushstring(L, refused);
    return -1;
  }
  if (!lua_checkstack(co, narg)) {
    lua_pushliteral(L, "too many arguments to resume");
    return -1;
  }
  lua_xmove(L, co, narg);
  cr_resume_frame frame = {L, cr_resume_chain};
  cr_resume_chain = &frame;
  cr_enter_thread(co);
  int nres;
  int status = lua_resume(co, L, narg, &nres);
  cr_enter_thread(L);
  cr_resume_chain = frame.prev;
  if (status == LUA_OK || status == LUA_YIELD) {
    if (status == LUA_YIELD && nres == 1 && cr_running_task && cr_running_task->op &&
        lua_touserdata(co, -1) == &cr_async_marker)
      return RELAY;
    if (!lua_checkstack(L, nres + 1)) {
      lua_pop(co, nres);
      lua_pushliteral(L, "too many results to resume");
      return -1;
    }
    lua_xmove(co, L, nres);
    return nres;
  }
  lua_xmove(co, L, 1); /* the error */
  return -1;
}

/* co waits in an async call: so does L, until the scheduler resumes the task;
 * then k resumes co with the call's results. */
static int relay(lua_State *L, lua_State *co, lua_KFunction k) {
  cr_task_note_relay(L, co);
  lua_pushlightuserdata(L, &cr_async_marker);
  return lua_yieldk(L, 1, 0, k);
}

/* ---- resume ------------------------------------------------------------------------------ */

static int resume_results(lua_State *L, int r) {
  if (r < 0) {
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2; /* false, message */
  }
  lua_pushboolean(L, 1);
  lua_insert(L, -(r + 1));
  return r + 1; /* true, results */
}

static int co_resume_k(lua_State *L, int status, lua_KContext ctx);

static int resume_from(lua_State *L, int relayed) {
  lua_State *co = lua_tothread(L, 1);
  int r = auxresume(L, co, lua_gettop(L) - 1, relayed);
  if (r == RELAY) return relay(L, co, co_resume_k);
  return resume_results(L, r);
}

/* back from the relay: [co, the marker our resumer left, the results] */
static int co_resume_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  lua_remove(L, 2);
  return resume_from(L, 1);
}

static int co_resume(lua_State *L) {
  getco(L);
  return resume_from(L, 0);
}

/* ---- wrap --------------------------------------------------------------------------------- */

static int auxwrap_k(lua_State *L, int status, lua_KContext ctx);

static int wrap_from(lua_State *L, int relayed) {
  lua_State *co = lua_tothread(L, lua_upvalueindex(1));
  int r = auxresume(L, co, lua_gettop(L), relayed);
  if (r == RELAY) return relay(L, co, auxwrap_k);
  if (r >= 0) return r;
  int stat = lua_status(co);
  if (stat != LUA_OK && stat != LUA_YIELD) { /* an error in the coroutine */
    stat = lua_resetthread(co);              /* close its to-be-closed variables */
    lua_xmove(co, L, 1);                     /* the error they leave */
  }
  if (stat != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
    luaL_where(L, 1); /* the caller's position, as lcorolib's auxwrap adds it */
    lua_insert(L, -2);
    lua_concat(L, 2);
  }
  return lua_error(L);
}

static int auxwrap_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  lua_remove(L, 1); /* [the marker our resumer left, the results] */
  return wrap_from(L, 1);
}

static int auxwrap(lua_State *L) { return wrap_from(L, 0); }

static int co_create(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_State *NL = lua_newthread(L);
  lua_pushvalue(L, 1);
  lua_xmove(L, NL, 1);
  return 1;
}

static int co_wrap(lua_State *L) {
  co_create(L);
  lua_pushcclosure(L, auxwrap, 1);
  return 1;
}

/* ---- the rest -------------------------------------------------------------------------------- */

static int co_yield (lua_State *L) {
  if (cr_running_task && cr_running_task->co == L)
    return luaL_error(L, "attempt to yield from outside a coroutine");
  return lua_yield(L, lua_gettop(L));
}

static int co_status(lua_State *L) {
  lua_State *co = getco(L);
  lua_pushstring(L, statname[auxstatus(L, co)]);
  return 1;
}

static int co_running(lua_State *L) {
  int ismain = lua_pushthread(L);
  lua_pushboolean(L, ismain || (cr_running_task && cr_running_task->co == L));
  return 2;
}

static int co_isyieldable(lua_State *L) {
  lua_State *co = lua_isnone(L, 1) ? L : getco(L);
  lua_pushboolean(L, lua_isyieldable(co) && !is_task(L, co));
  return 1;
}

static int co_close(lua_State *L) {
  lua_State *co = getco(L);
  int status = auxstatus(L, co);
  if (status != COS_DEAD && status != COS_YIELD)
    return luaL_error(L, "cannot close a %s coroutine", statname[status]);
  if (lua_resetthread(co) == LUA_OK) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  lua_xmove(co, L, 1);
  return 2;
}

/* Replaces the functions in the coroutine table (package.loaded.coroutine, the
 * same table as the global) but create, which stays lcorolib's. */
void cr_open_coroutines(lua_State *L) {
  static const luaL_Reg fns[] = {{"resume", co_resume},   {"wrap", co_wrap},
                                 {"yield", co_yield },    {"status", co_status},
                                 {"running", co_running}, {"isyieldable", co_isyieldable},
                                 {"close", co_close},     {NULL, NULL}};
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (lua_getfield(L, -1, LUA_COLIBNAME) == LUA_TTABLE) luaL_setfuncs(L, fns, 0);
  lua_pop(L, 2);
}
