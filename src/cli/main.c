/* connrecipe: run a recipe, a -e chunk or standard input as tasks on the
 * runtime, and turn the outcome into an exit status. All Lua work happens
 * under one lua_pcall (as in lua.c). */
#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/counted_stdout.h"
#include "cli/exec_path.h"
#include "cli/options.h"
#include "lua/recipe_path.h"
#include "cli/repl.h"
#include "cli/std_streams.h"
#include "cli/thread_pool.h"
#include "connrecipe/sockets.h"
#include "connrecipe/text.h"
#include "core/thp_heap.h"
#include "lua/bindings.h"
#include "lua/embedded.h"
#include "runtime/helpers.h"
#include "runtime/runtime.h"
#include "version.h"

typedef struct {
  cli_options opts;
  recipe_path path;
  int exit_code;
} cli_state;

/* --format=nagios: a failure of connrecipe itself is the plugin's UNKNOWN,
 * with a status line on stdout when nothing else was written there. */
static int nagios_mode, nagios_line_written;

#define NAGIOS_UNKNOWN 3

/* "connrecipe: MESSAGE" and, with -v, a traceback's lines. The message may
 * quote a path or a name another user chose: all its control bytes are
 * escaped, newlines too (it stays one line); the traceback keeps its own. */
static void error_with_traceback(const char *msg, const char *traceback) {
  std_streams_flush_stdout(); /* partial output first, then the reason */
  if (!msg) msg = "(no message)";
  size_t len = strlen(msg);
  fputs("connrecipe: ", stderr);
  cr_text_write(stderr, msg, len, 0);
  if (traceback && strncmp(traceback, msg, len) == 0) /* luaL_traceback: the message first */
    cr_text_write(stderr, traceback + len, strlen(traceback + len), CR_TEXT_KEEP_LINES);
  fputc('\n', stderr);
  if (nagios_mode && !nagios_line_written && counted_stdout_bytes() <= 0) {
    fputs("CONNRECIPE UNKNOWN - ", stdout);
    cr_text_write(stdout, msg, len, 0);
    fputc('\n', stdout);
    fflush(stdout);
    nagios_line_written = 1;
  }
}

static void error_line(const char *msg) { error_with_traceback(msg, NULL); }

/* The exit status of a failure of connrecipe (not a recipe's verdict). */
static int failure_status(int code) { return nagios_mode ? NAGIOS_UNKNOWN : code; }

/* ---- running a chunk as a task ------------------------------------------------------- */

/* Exit status of a finished task: an integer it returned, 1 for false, 0 otherwise. */
static int returned_status(lua_State *L, cr_task *t) {
  int base = lua_gettop(L);
  cr_task_push_outcome(t, L);
  int code = EXIT_OK;
  if (lua_gettop(L) >= base + 2) {
    int idx = base + 2;
    if (lua_isboolean(L, idx) && !lua_toboolean(L, idx)) code = EXIT_PROBLEM;
    else if (lua_isinteger(L, idx)) {
      lua_Integer v = lua_tointeger(L, idx);
      code = (v >= 0 && v <= 255) ? (int)v : EXIT_INTERNAL;
    }
  }
  lua_settop(L, base);
  return code;
}

/* A run cut short by Ctrl-C or --deadline: the recipe framework prints what it
 * found so far (under --json, the one document). Its own failure is reported
 * but does not change the exit status. */
static void report_stop(lua_State *L, cr_stop_reason why) {
  lua_getfield(L, LUA_REGISTRYINDEX, "connrecipe.module");
  lua_getfield(L, -1, "_recipe");
  lua_getfield(L, -1, "stopped");
  lua_pushstring(L, cr_stop_reason_name(why));
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    error_line(lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
}

static int outcome_status(lua_State *L, cli_state *cs, cr_task *t) {
  cr_runtime *rt = cr_runtime_get(L);
  cr_task_observe(t);
  if (cr_runtime_stop_reason(rt)) report_stop(L, cr_runtime_stop_reason(rt));
  switch (cr_runtime_stop_reason(rt)) {
  case CR_STOP_INTERRUPT:
    error_line("interrupted");
    return failure_status(EXIT_INTERRUPTED);
  case CR_STOP_DEADLINE: {
    char msg[128];
    snprintf(msg, sizeof msg, "deadline of %g s expired; the output above is partial",
             cs->opts.deadline);
    error_line(msg);
    return failure_status(EXIT_INTERNAL);
  }
  default:
    break;
  }
  switch (cr_task_get_state(t)) {
  case CR_TASK_FAILED: {
    const char *msg = cr_task_message(t); /* NULL: it could not even be copied */
    error_with_traceback(msg ? msg : "not enough memory", cs->opts.verbose ? cr_task_traceback(t) : NULL);
    return failure_status(EXIT_INTERNAL);
  }
  case CR_TASK_CANCELLED:
    error_line("the recipe's task was cancelled");
    return failure_status(EXIT_INTERNAL);
  default:
    return returned_status(L, t);
  }
}

/* Runs the function below nargs arguments as a task, with every task it
 * starts; with `then`, the function below it too (cr_task_spawn_then). */
static int run_task(lua_State *L, cli_state *cs, int nargs, int then) {
  cr_runtime *rt = cr_runtime_get(L);
  cr_task *t = then ? cr_task_spawn_then(L, nargs) : cr_task_spawn(L, nargs);
  cr_task_ref(t);
  cr_runtime_run(rt, L);
  int code = outcome_status(L, cs, t);
  cr_task_unref(t);
  if (!cr_runtime_stop_reason(rt)) cr_runtime_report_unobserved(rt); /* a stop fails tasks itself */
  return code;
}

static int load_failed(lua_State *L) {
  error_line(lua_tostring(L, -1));
  lua_pop(L, 1);
  return failure_status(EXIT_INTERNAL);
}

/* ---- the modes ---------------------------------------------------------------------------- */

static int run_chunks(lua_State *L, cli_state *cs) {
  for (int i = 0; i < cs->opts.nchunks; i++) {
    const char *code = cs->opts.chunks[i];
    if (luaL_loadbuffer(L, code, strlen(code), "=(command line)") != LUA_OK) return load_failed(L);
    int status = run_task(L, cs, 0, 0);
    if (status != EXIT_OK) return status;
  }
  return EXIT_OK;
}

static int run_stdin(lua_State *L, cli_state *cs) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) luaL_addlstring(&b, buf, n);
  luaL_pushresult(&b);
  size_t len;
  const char *code = lua_tolstring(L, -1, &len);
  if (luaL_loadbuffer(L, code, len, "=stdin") != LUA_OK) return load_failed(L);
  lua_remove(L, -2);
  return run_task(L, cs, 0, 0);
}

static void set_arg_table(lua_State *L, cli_state *cs, const char *script) {
  lua_createtable(L, cs->opts.recipe_argc, 1);
  lua_pushstring(L, script);
  lua_rawseti(L, -2, 0);
  for (int i = 0; i < cs->opts.recipe_argc; i++) {
    lua_pushstring(L, cs->opts.recipe_argv[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setglobal(L, "arg");
}

static int run_recipe(lua_State *L, cli_state *cs) {
  recipe_location loc;
  char why[2048];
  if (recipe_find(&cs->path, cs->opts.recipe, &loc, why, sizeof why) != 0) {
    error_line(why);
    return failure_status(EXIT_USAGE);
  }
  const char *where = loc.builtin ? loc.name : loc.path;
  lua_getglobal(L, "cr");
  lua_getfield(L, -1, "cli");
  lua_pushstring(L, loc.name);
  lua_setfield(L, -2, "recipe");
  lua_pushstring(L, where);
  lua_setfield(L, -2, "recipe_source");
  lua_pop(L, 2);
  set_arg_table(L, cs, where);
  /* connrecipe.runner: begin(name, argv) -> then, which runs the recipe the
   * chunk declares, if any, in the chunk's task once the chunk has returned */
  cr_require_embedded(L, "connrecipe.runner");
  lua_pushstring(L, loc.name);
  lua_createtable(L, cs->opts.recipe_argc, 0);
  for (int i = 0; i < cs->opts.recipe_argc; i++) {
    lua_pushstring(L, cs->opts.recipe_argv[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_call(L, 2, 1);
  if (cr_recipe_load(L, &loc, NULL) != LUA_OK) return load_failed(L);
  luaL_checkstack(L, cs->opts.recipe_argc, "too many arguments");
  for (int i = 0; i < cs->opts.recipe_argc; i++) lua_pushstring(L, cs->opts.recipe_argv[i]);
  return run_task(L, cs, cs->opts.recipe_argc, 1);
}

/* ---- --list ------------------------------------------------------------------------------- */

/* The recipes on the path, as connrecipe.recipecall lists them for recipes()
 * in the REPL: NAME  DESCRIPTION  FROM; --json: {"recipes": [{name,
 * description, path}]}. */
static int list_recipes(lua_State *L, cli_state *cs) {
  cr_require_embedded(L, "connrecipe.recipecall");
  lua_getfield(L, -1, cs->opts.json ? "list_json" : "list_text");
  cr_push_recipe_list(L);
  lua_call(L, 1, 1);
  fputs(lua_tostring(L, -1), stdout);
  return EXIT_OK;
}

/* ---- setup -------------------------------------------------------------------------------- */

/* cr.cli: what the command line said, for recipes and the recipe framework. */
static void set_cli_table(lua_State *L, cli_state *cs) {
  lua_createtable(L, 0, 9);
  lua_pushstring(L, cs->opts.program);
  lua_setfield(L, -2, "program");
  lua_pushstring(L, cs->opts.format);
  lua_setfield(L, -2, "format");
  cr_set_boolean(L, "json", cs->opts.json);
  cr_set_boolean(L, "verbose", cs->opts.verbose);
  cr_set_boolean(L, "quiet", cs->opts.quiet);
  cr_set_boolean(L, "color", cli_use_color(&cs->opts));
  cr_set_boolean(L, "stderr_tty", isatty(STDERR_FILENO));
  if (cs->opts.deadline > 0) cr_set_number(L, "deadline", cs->opts.deadline);
  lua_setfield(L, -2, "cli");
}

static int pmain(lua_State *L) {
  cli_state *cs = lua_touserdata(L, 1);
  luaL_openlibs(L);
  cr_use_system_search_paths(L); /* never "./?.lua", nor LUA_PATH */
  lua_gc(L, LUA_GCGEN, 0, 0); /* as lua.c runs its chunks */
  luaL_requiref(L, "connrecipe", luaopen_connrecipe, 0);
  set_cli_table(L, cs);
  counted_stdout_register(L);
  lua_setglobal(L, "cr");
  cr_runtime *rt = cr_runtime_get(L);
  cr_runtime_catch_sigint(rt);
  cr_helpers_catch_termination();
  cr_runtime_set_deadline(rt, cs->opts.deadline);

  if (cs->opts.list) {
    cs->exit_code = list_recipes(L, cs);
    return 0;
  }
  int code = run_chunks(L, cs);
  if (code == EXIT_OK && cs->opts.read_stdin) code = run_stdin(L, cs);
  if (code == EXIT_OK && cs->opts.recipe) code = run_recipe(L, cs);
  if (cs->opts.interactive && code != EXIT_INTERRUPTED) code = repl_run(L);
  cs->exit_code = code;
  return 0;
}

#if defined(__SANITIZE_ADDRESS__)
#define CR_LEAK_CHECKED() 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CR_LEAK_CHECKED() 1
#endif
#endif
#if !defined(CR_LEAK_CHECKED) && __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CR_LEAK_CHECKED() RUNNING_ON_VALGRIND
#endif
#ifndef CR_LEAK_CHECKED
#define CR_LEAK_CHECKED() 0
#endif

/* The allocator while the state closes: frees are left to the process's exit. */
static void *alloc_no_free(void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud;
  (void)osize;
  if (nsize == 0) return NULL;
  return realloc(ptr, nsize);
}

/* lua_close still runs at exit: it closes pending to-be-closed variables and
 * calls every __gc finalizer (a recipe's, a C module's), as lua.c does. But
 * giving each of its thousands of objects back to malloc one by one is ~1.2M
 * instructions, ~8% of a whole diagnose, for memory the exit returns at once;
 * so frees are skipped then, except where a leak checker (ASan, valgrind)
 * would count what is left as lost. */
static void close_lua_at_exit(lua_State *L) {
  if (!CR_LEAK_CHECKED()) lua_setallocf(L, alloc_no_free, NULL);
  lua_close(L);
}

int main(int argc, char **argv) {
  if (std_streams_reopen_closed() != 0) {
    fputs("connrecipe: cannot open /dev/null for a closed standard stream\n", stderr);
    return EXIT_INTERNAL;
  }
  if (std_streams_check_at_exit(EXIT_INTERNAL) != 0) return EXIT_INTERNAL;
  cli_state cs = {0};
  int parsed = cli_parse(argc, argv, &cs.opts);
  nagios_mode = !strcmp(cs.opts.format, "nagios");
  if (parsed != 0) {
    if (nagios_mode) printf("CONNRECIPE UNKNOWN - %s\n", cli_last_error());
    cli_free(&cs.opts);
    return failure_status(EXIT_USAGE);
  }
  if (cs.opts.list && !cs.opts.json && strcmp(cs.opts.format, "text")) {
    fprintf(stderr, "connrecipe: --list prints text or --json, not --format=%s\n", cs.opts.format);
    cli_free(&cs.opts);
    return failure_status(EXIT_USAGE);
  }
  if (cs.opts.help) {
    cli_print_help();
    cli_free(&cs.opts);
    return EXIT_OK;
  }
  if (cs.opts.version) {
    printf("connrecipe %s (%s, libuv %s)\n", CONNRECIPE_VERSION, LUA_RELEASE, uv_version_string());
    cli_free(&cs.opts);
    return EXIT_OK;
  }
  if (!cs.opts.list && !cs.opts.nchunks && !cs.opts.recipe && !cs.opts.read_stdin &&
      !cs.opts.interactive) {
    if (isatty(STDIN_FILENO))
      cs.opts.interactive = 1; /* like lua: a terminal and nothing to do is the REPL */
    else
      cs.opts.read_stdin = 1; /* piped input with nothing else to do: run it */
  }
  if (cs.opts.interactive && !isatty(STDIN_FILENO)) {
    fputs("connrecipe: -i needs a terminal on standard input (pipe code to 'connrecipe -')\n",
          stderr);
    cli_free(&cs.opts);
    return failure_status(EXIT_USAGE);
  }
  thread_pool_on_demand();
  cr_netns_enter_in_place();
  exec_path_drop_relative();
  /* a recipe's output is noticed through a counted stdout; the REPL keeps glibc's
   * (its line editor needs the stream's file descriptor). Uncounted if it fails. */
  if (cs.opts.recipe && !cs.opts.interactive) (void)counted_stdout_install();
  recipe_path_init(&cs.path);
  /* Lua's heap on huge pages: a page fault costs ~12 us on a VM, and a run
   * touches hundreds of 4 KB pages (thousands with many sockets). Not under
   * a leak checker, which has an allocator of its own. */
  if (!CR_LEAK_CHECKED()) cr_thp_main_heap(16 << 20);
  lua_State *L = luaL_newstate();
  if (!L) {
    fputs("connrecipe: cannot create the Lua state: not enough memory\n", stderr);
    return EXIT_INTERNAL;
  }
  lua_pushcfunction(L, pmain);
  lua_pushlightuserdata(L, &cs);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    error_line(lua_tostring(L, -1));
    cs.exit_code = failure_status(EXIT_INTERNAL);
  }
  std_streams_flush_stdout();
  close_lua_at_exit(L);
  counted_stdout_uninstall();
  recipe_path_free(&cs.path);
  cli_free(&cs.opts);
  return cs.exit_code;
}
