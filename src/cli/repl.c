/* The REPL. libedit's callback interface reads the terminal from a uv_poll_t,
 * so the loop (and background tasks) run while the prompt waits. Each complete
 * chunk runs as a task; the prompt comes back when it finishes. Chunks are
 * compiled as lua.c does: first as "return <line>", then as a statement, and
 * an error ending in <eof> means the chunk continues on the next line. */
#include "cli/repl.h"
#include "cli/edit_lib.h"
#include "cli/options.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <lauxlib.h>

#include "connrecipe/text.h"
#include "connrecipe/trust.h"
#include "lua/bindings.h"
#include "lua/embedded.h"
#include "runtime/runtime.h"

#define PROMPT "cr> "
#define PROMPT_MORE "cr>> "
#define HISTORY_MAX 1000

typedef struct {
  lua_State *L;
  cr_runtime *rt;
  uv_poll_t input;
  int reading;         /* the prompt is shown and stdin polled */
  char *pending;       /* an incomplete chunk, continued on the next line */
  cr_task *line;       /* the running line's task */
  char *typed;         /* a line libedit handed over, for the main loop */
  int got_line;        /* ... or end of input when typed is NULL */
  int quit;
  int ctrl_c_typed;    /* Ctrl-C typed at the prompt: a key there, not a signal */
  int support_ref;     /* connrecipe.repl's table in the registry */
  char history[PATH_MAX];
} repl_state;

static repl_state *R; /* libedit's callbacks carry no user data */

static void input_closed(uv_handle_t *h) { *(int *)h->data = 1; }

/* ---- history ------------------------------------------------------------------ */

/* The history file is the user's own, never followed through a link and
 * never another user's: as root, $XDG_STATE_HOME may be a user's directory
 * (sudo keeps it), and a link planted there must not truncate what it points
 * to. It is read through the descriptor that was checked and replaced as a
 * whole (a new file renamed over it), so a link put there meanwhile is
 * replaced, not written through. A history that cannot be read or written
 * is a warning. */

static void history_warn(const char *what, const char *path, const char *reason) {
  char shown[PATH_MAX * 2];
  cr_text_escape_cstr(path, shown, sizeof shown);
  fprintf(stderr, "connrecipe: %s %s: %s\n", what, shown, reason);
}

static int make_dirs(char *path) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    int rc = mkdir(path, 0700);
    *p = '/';
    if (rc != 0 && errno != EEXIST) return -1;
  }
  return 0;
}

/* libedit reads and writes by name: the name of a descriptor of ours. */
static const char *fd_name(int fd, char *buf, size_t len) {
  snprintf(buf, len, "/proc/self/fd/%d", fd);
  return buf;
}

/* Opens the history to read it: -1 when there is none, or when it
 * is not to be used (a warning says why, and r->history is cleared so that
 * it is not written either). Makes it 0600 when it was more open. */
static int history_open_checked(repl_state *r) {
  int fd = open(r->history, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return -1; /* none yet; saving says if it cannot */
    history_warn("not using the REPL history", r->history,
                 errno == ELOOP ? "it is a symbolic link" : strerror(errno));
    r->history[0] = '\0';
    return -1;
  }
  struct stat st;
  const char *bad = NULL;
  char owner[64];
  if (fstat(fd, &st) != 0) {
    bad = strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    bad = "not a regular file";
  } else if (st.st_uid != geteuid()) {
    snprintf(owner, sizeof owner, "owned by uid %u, not by uid %u", (unsigned)st.st_uid,
             (unsigned)geteuid());
    bad = owner;
  } else if ((st.st_mode & 077) && fchmod(fd, 0600) != 0) {
    bad = strerror(errno);
  }
  if (bad) {
    history_warn("not using the REPL history", r->history, bad);
    r->history[0] = '\0';
    close(fd);
    return -1;
  }
  return fd;
}

/* $XDG_STATE_HOME/connrecipe/history, default ~/.local/state/connrecipe/history */
static void history_open(repl_state *r) {
  const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
  if (state && *state)
    snprintf(r->history, sizeof r->history, "%s/connrecipe/history", state);
  else if (home && *home)
    snprintf(r->history, sizeof r->history, "%s/.local/state/connrecipe/history", home);
  else
    r->history[0] = '\0';
  cr_edit.stifle_history(HISTORY_MAX);
  if (!r->history[0]) return;
  int fd = history_open_checked(r);
  if (fd < 0) return;
  char name[64];
  cr_edit.read_history(fd_name(fd, name, sizeof name));
  close(fd);
}

/* Writes the history into a new 0600 file beside the old one, then renames
 * it over the old: whatever the old name is by then (a link, another user's
 * file in a shared directory), it is replaced, never written through. */
static void history_save(repl_state *r) {
  if (!r->history[0]) return;
  char tmp[PATH_MAX + 16], name[64];
  snprintf(tmp, sizeof tmp, "%s.XXXXXX", r->history);
  int fd = -1, err = 0;
  if (make_dirs(r->history) != 0 || (fd = mkostemp(tmp, O_CLOEXEC)) < 0)
    err = errno;
  else if (cr_edit.write_history(fd_name(fd, name, sizeof name)) != 0)
    err = errno ? errno : EIO;
  else if (rename(tmp, r->history) != 0)
    err = errno;
  if (fd >= 0) close(fd);
  if (!err) return;
  if (fd >= 0) unlink(tmp);
  history_warn("cannot save the REPL history to", r->history, strerror(err));
}

/* ---- compiling a chunk ------------------------------------------------------------- */

/* An error at <eof> means the chunk is not finished yet (lua.c's test). */
static int incomplete(lua_State *L) {
  size_t len;
  const char *msg = lua_tolstring(L, -1, &len);
  return len >= 5 && strcmp(msg + len - 5, "<eof>") == 0;
}

/* Compiles the chunk: pushes the function and returns 1; or pushes the error
 * and returns 0; or returns -1 (nothing pushed) when more lines are needed. */
static int compile_chunk(lua_State *L, const char *chunk) {
  if (chunk[0] == '=') { /* "=expr" prints expr, as in Lua 5.1 */
    lua_pushfstring(L, "return %s", chunk + 1);
  } else {
    lua_pushfstring(L, "return %s;", chunk);
  }
  int status = luaL_loadbuffer(L, lua_tostring(L, -1), lua_rawlen(L, -1), "=stdin");
  lua_remove(L, -2);
  if (status == LUA_OK) return 1;
  lua_pop(L, 1);
  status = luaL_loadbuffer(L, chunk, strlen(chunk), "=stdin");
  if (status == LUA_OK) return 1;
  if (incomplete(L)) {
    lua_pop(L, 1);
    return -1;
  }
  return 0;
}

/* ---- prompt and input ----------------------------------------------------------------- */

static void on_line(char *line);

static void on_input(uv_poll_t *h, int status, int events) {
  (void)h;
  (void)status;
  (void)events;
  cr_edit.rl_callback_read_char();
}

static void prompt_show(repl_state *r) {
  if (r->reading || r->quit) return;
  cr_edit.rl_callback_handler_install(r->pending ? PROMPT_MORE : PROMPT, on_line);
  uv_poll_start(&r->input, UV_READABLE, on_input);
  r->reading = 1;
}

static void prompt_hide(repl_state *r) {
  if (!r->reading) return;
  uv_poll_stop(&r->input);
  cr_edit.rl_callback_handler_remove();
  r->reading = 0;
}

static void print_error(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  if (!msg) msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, -1));
  fflush(stdout);
  cr_text_write(stderr, msg, strlen(msg), 0); /* it may quote any value: one line */
  fputc('\n', stderr);
  lua_pop(L, 1);
}

static void pending_append(repl_state *r, const char *line) {
  size_t old = r->pending ? strlen(r->pending) : 0;
  char *p = realloc(r->pending, old + strlen(line) + 2);
  if (!p) return;
  if (old) {
    p[old] = '\n';
    strcpy(p + old + 1, line);
  } else {
    strcpy(p, line);
  }
  r->pending = p;
}

static void start_line(repl_state *r) {
  cr_task *t = cr_task_spawn(r->L, 0);
  cr_task_ref(t);
  r->line = t;
  cr_runtime_set_interrupt_target(r->rt, t);
}

/* libedit hands over a complete line (NULL at end of input). The main loop
 * takes it from there: libedit does not like its handler changed from inside. */
static void on_line(char *line) {
  R->typed = line;
  R->got_line = 1;
  uv_poll_stop(&R->input);
}

static void take_line(repl_state *r) {
  char *line = r->typed;
  r->typed = NULL;
  r->got_line = 0;
  r->reading = 0; /* on_line stopped the poll; the handler stays for the next prompt */
  if (!line) { /* Ctrl-D */
    cr_edit.rl_callback_handler_remove();
    fputc('\n', stdout);
    r->quit = 1;
    return;
  }
  if (!r->pending && line[strspn(line, " \t")] == '\0') {
    free(line);
    prompt_show(r);
    return;
  }
  pending_append(r, line);
  free(line);
  int compiled = compile_chunk(r->L, r->pending);
  if (compiled < 0) { /* continue on the next line */
    prompt_show(r);
    return;
  }
  cr_edit.add_history(r->pending);
  free(r->pending);
  r->pending = NULL;
  if (compiled == 0) {
    print_error(r->L);
    prompt_show(r);
    return;
  }
  cr_edit.rl_callback_handler_remove(); /* gives the terminal back to the running line */
  start_line(r);
}

/* ---- running lines -------------------------------------------------------------------- */

static void call_support(lua_State *L, repl_state *r, const char *fn) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->support_ref);
  lua_getfield(L, -1, fn);
  lua_remove(L, -2);
}

/* Prints the results of the finished line, or its error. */
static void finish_line(repl_state *r) {
  lua_State *L = r->L;
  int base = lua_gettop(L);
  int n = cr_task_push_outcome(r->line, L);
  if (lua_toboolean(L, base + 1)) {
    if (n > 1) { /* connrecipe.repl's show: a recipe's report as text, the rest pretty-printed */
      call_support(L, r, "show");
      lua_rotate(L, base + 2, 1);
      if (lua_pcall(L, n - 1, 0, 0) != LUA_OK) print_error(L);
    }
  } else {
    const char *msg = cr_task_message(r->line); /* NULL: cancelled by Ctrl-C */
    if (!msg) msg = "interrupted";
    fflush(stdout);
    cr_text_write(stderr, msg, strlen(msg), 0);
    fputc('\n', stderr);
  }
  lua_settop(L, base);
  cr_task_unref(r->line);
  r->line = NULL;
  cr_runtime_set_interrupt_target(r->rt, NULL);
}

/* Ctrl-C at the prompt. While libedit reads, the terminal's interrupt
 * character is a key, not a signal (see prompt_keys): it reaches libedit in
 * order with what is typed after it, and this binding only notes it. The main
 * loop clears the line before the next key is read, so nothing typed after
 * Ctrl-C lands in the line being thrown away. (As a signal, SIGINT overtook
 * the keys behind it: libedit read them into the old line before the main
 * loop saw the signal, and clearing the line lost them.) */
static int prompt_ctrl_c(int count, int key) {
  (void)count;
  (void)key;
  R->ctrl_c_typed = 1;
  return 0;
}

/* Ctrl-C: cancel the running line, or clear the line being typed (typed as a
 * key at the prompt, or a SIGINT sent while it waits, e.g. by kill -INT). */
static void handle_interrupt(repl_state *r) {
  int typed = r->ctrl_c_typed;
  r->ctrl_c_typed = 0;
  if (!cr_runtime_take_interrupt(r->rt) && !typed) return;
  if (r->line) {
    cr_task_cancel(r->line); /* finish_line reports it */
    return;
  }
  free(r->pending);
  r->pending = NULL;
  /* libedit clears its line only when the handler is installed afresh
   * (rl_replace_line ignores an empty text) */
  prompt_hide(r);
  fputs("^C\n", stdout);
  fflush(stdout);
  prompt_show(r);
}

/* ---- completion --------------------------------------------------------------------------- */

static char **candidates;
static int candidate_next;

static char *next_candidate(const char *text, int state) {
  (void)text;
  (void)state;
  if (!candidates || !candidates[candidate_next]) return NULL;
  return strdup(candidates[candidate_next++]);
}

static void free_candidates(void) {
  if (!candidates) return;
  for (int i = 0; candidates[i]; i++) free(candidates[i]);
  free(candidates);
  candidates = NULL;
}

/* Asks connrecipe.repl for the names completing `text`. */
static char **complete(const char *text, int start, int end) {
  (void)start;
  (void)end;
  lua_State *L = R->L;
  free_candidates();
  call_support(L, R, "complete");
  lua_pushstring(L, text);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_istable(L, -1)) {
    lua_pop(L, 1);
    return NULL;
  }
  int n = (int)lua_rawlen(L, -1);
  candidates = calloc((size_t)n + 1, sizeof *candidates);
  for (int i = 0; candidates && i < n; i++) {
    lua_rawgeti(L, -1, i + 1);
    candidates[i] = strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  candidate_next = 0;
  *cr_edit.rl_attempted_completion_over = 1;
  if (n == 0) return NULL;
  return cr_edit.rl_completion_matches(text, next_candidate);
}

/* ---- setup ---------------------------------------------------------------------------------- */

/* The terminal as the REPL found it: restored at exit, also when a task calls
 * os.exit while libedit's settings (no echo, no interrupt character) are in
 * place at the prompt. */
static struct termios tty_saved;
static int tty_saved_valid;

static void tty_restore_at_exit(void) {
  if (tty_saved_valid) tcsetattr(STDIN_FILENO, TCSANOW, &tty_saved);
}

static void tty_save(void) {
  static int registered;
  if (tcgetattr(STDIN_FILENO, &tty_saved) != 0) return;
  tty_saved_valid = 1;
  if (!registered) registered = atexit(tty_restore_at_exit) == 0;
}

/* Background tasks run while the prompt is up, and libedit only reads keys
 * between their resumes: for as long as they run, the interrupt character is
 * a signal again (handle_interrupt takes it; a second one ends a task that
 * spins, as before the key binding). Returns whether it switched. */
static int prompt_intr_on(repl_state *r, struct termios *editing) {
  if (!r->reading || !tty_saved_valid || tty_saved.c_cc[VINTR] == _POSIX_VDISABLE) return 0;
  if (!cr_runtime_has_ready(r->rt) || tcgetattr(STDIN_FILENO, editing) != 0) return 0;
  if (editing->c_cc[VINTR] == tty_saved.c_cc[VINTR] && (editing->c_lflag & ISIG)) return 0;
  struct termios t = *editing;
  t.c_cc[VINTR] = tty_saved.c_cc[VINTR];
  t.c_lflag |= ISIG;
  return tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
}

/* At the prompt the terminal's interrupt character (Ctrl-C unless stty says
 * otherwise) arrives as a key bound to prompt_ctrl_c: libedit's terminal
 * settings for editing ("setty -d") get no interrupt character, those it
 * restores for a running line keep it, so Ctrl-C still sends SIGINT there.
 * Ctrl-Z and Ctrl-\ stay signals at the prompt too. The key is bound first:
 * should that fail, Ctrl-C stays a signal at the prompt (handle_interrupt). */
static void prompt_keys(void) {
  struct termios t;
  if (tcgetattr(STDIN_FILENO, &t) != 0 || t.c_cc[VINTR] == _POSIX_VDISABLE) return;
  cr_edit.using_history(); /* libedit's editor exists from here on */
  if (cr_edit.rl_add_defun("connrecipe-interrupt", prompt_ctrl_c, t.c_cc[VINTR]) != 0) return;
  cr_edit.rl_parse_and_bind("setty -d -intr");
  char bind[64]; /* vi's command mode too; rl_add_defun binds the insert (or emacs) keymap */
  int c = t.c_cc[VINTR];
  if (c < 32 || c == 127) {
    snprintf(bind, sizeof bind, "bind -a ^%c connrecipe-interrupt", c == 127 ? '?' : c + '@');
    cr_edit.rl_parse_and_bind(bind);
  }
}

/* The terminal's width in columns, for help() to fit it; nil when unknown. */
static int terminal_columns(lua_State *L) {
  struct winsize ws;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0) return 0;
  lua_pushinteger(L, ws.ws_col);
  return 1;
}

/* connrecipe.repl, kept in the registry; its setup() makes the REPL's globals
 * (help, recipes, the recipes as functions). */
static void load_support(lua_State *L, repl_state *r) {
  cr_require_embedded(L, "connrecipe.help");
  lua_pushcfunction(L, terminal_columns);
  lua_setfield(L, -2, "terminal_columns");
  lua_pop(L, 1);
  cr_require_embedded(L, "connrecipe.repl");
  lua_getfield(L, -1, "setup");
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) print_error(L);
  r->support_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

static void banner(void) {
  lua_State *L = R->L;
  lua_getglobal(L, "cr");
  lua_getfield(L, -1, "version");
  printf("connrecipe %s REPL: help() lists functions and recipes; Ctrl-D exits\n",
         lua_tostring(L, -1));
  lua_pop(L, 2);
}

int repl_run(lua_State *L) {
  const char *why;
  if (cr_edit_lib_load(&why) != 0) {
    fprintf(stderr, "connrecipe: the REPL needs libedit (apt-get install libedit2): %s\n", why);
    return EXIT_INTERNAL;
  }
  repl_state r = {0};
  r.L = L;
  r.rt = cr_runtime_get(L);
  R = &r;
  load_support(L, &r);
  cr_runtime_set_interactive(r.rt, 1);
  *cr_edit.rl_readline_name = "connrecipe";
  *cr_edit.rl_basic_word_break_characters = " \t\n\"\\'`@$><=;|&{(,+-*/%^~#[]";
  *cr_edit.rl_attempted_completion_function = complete;
  *cr_edit.rl_completion_append_character = '\0';
  history_open(&r);
  tty_save();
  prompt_keys();
  uv_poll_init(cr_runtime_loop(r.rt), &r.input, STDIN_FILENO);
  banner();
  prompt_show(&r);
  int status = 0;
  while (!r.quit) {
    if (r.got_line) take_line(&r);
    struct termios editing;
    int intr_on = prompt_intr_on(&r, &editing);
    cr_runtime_run_ready(r.rt, L);
    if (intr_on) tcsetattr(STDIN_FILENO, TCSANOW, &editing);
    handle_interrupt(&r);
    if (cr_runtime_stop_reason(r.rt) == CR_STOP_DEADLINE) { /* --deadline bounds the session too */
      fflush(stdout);
      fputs("connrecipe: deadline expired; leaving the REPL\n", stderr);
      status = 3;
      break;
    }
    if (r.line && cr_task_get_state(r.line) >= CR_TASK_DONE) {
      finish_line(&r);
      cr_runtime_report_unobserved(r.rt);
      prompt_show(&r);
      continue;
    }
    if (!r.line && cr_runtime_has_unobserved(r.rt)) { /* a background task failed meanwhile */
      fputc('\n', stderr);
      cr_runtime_report_unobserved(r.rt);
      if (r.reading) cr_edit.rl_forced_update_display();
    }
    if (r.quit) break;
    if (r.got_line) continue;
    if (!cr_runtime_wait(r.rt) && r.line && cr_task_get_state(r.line) == CR_TASK_WAITING) {
      fputs("the line waits on nothing (a join cycle?); cancelling it\n", stderr);
      cr_task_cancel(r.line);
    }
  }
  prompt_hide(&r);
  /* r lives on this stack frame: libuv must be done with the handle before we return */
  int closed = 0;
  r.input.data = &closed;
  uv_close((uv_handle_t *)&r.input, input_closed);
  while (!closed) uv_run(cr_runtime_loop(r.rt), UV_RUN_NOWAIT);
  history_save(&r);
  free(r.pending);
  free_candidates();
  if (r.line) {
    cr_task_cancel(r.line);
    cr_task_unref(r.line);
  }
  luaL_unref(L, LUA_REGISTRYINDEX, r.support_ref);
  cr_runtime_set_interactive(r.rt, 0);
  R = NULL;
  return status;
}
