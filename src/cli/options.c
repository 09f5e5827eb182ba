/* Argument parsing for connrecipe; no Lua, no networking. */
#include "cli/options.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char last_error[512];

static int usage_error(const char *fmt, const char *arg) {
  snprintf(last_error, sizeof last_error, fmt, arg);
  fprintf(stderr, "connrecipe: %s (see 'connrecipe --help')\n", last_error);
  return -1;
}

const char *cli_last_error(void) { return last_error; }

/* "--name=value" or "--name value": the value, advancing *i for the second form. */
static const char *option_value(int argc, char **argv, int *i, const char *name) {
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n) == 0 && argv[*i][n] == '=') return argv[*i] + n + 1;
  if (*i + 1 < argc) return argv[++*i];
  return NULL;
}

static int is_option(const char *arg, const char *name) {
  size_t n = strlen(name);
  return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

static int parse_deadline(const char *v, cli_options *o) {
  char *end;
  errno = 0;
  double d = v ? strtod(v, &end) : 0;
  if (!v || errno || end == v || *end || !(d > 0) || !isfinite(d))
    return usage_error("--deadline needs a number of seconds > 0, got '%s'", v ? v : "");
  o->deadline = d;
  return 0;
}

/* The formats every recipe renders (lua/connrecipe/output.lua and formats/). */
static const char *const formats[] = {"text", "json", "nagios", "junit", "tap", "prometheus", NULL};

/* The canonical name of format V, or NULL if there is none of that name. */
static const char *format_named(const char *v) {
  for (int i = 0; v && formats[i]; i++)
    if (!strcmp(v, formats[i])) return formats[i];
  return NULL;
}

static int parse_format(const char *v, cli_options *o) {
  const char *f = format_named(v);
  if (f) {
    o->format = f;
    o->json = !strcmp(f, "json");
    return 0;
  }
  if (!v) return usage_error("%s", "--format needs one of text, json, nagios, junit, tap, prometheus");
  return usage_error("--format takes text, json, nagios, junit, tap or prometheus, got '%s'", v);
}

static int parse_color(const char *v, cli_options *o) {
  if (!v || (strcmp(v, "auto") && strcmp(v, "always") && strcmp(v, "never")))
    return usage_error("--color takes auto, always or never, got '%s'", v ? v : "");
  o->color = v;
  return 0;
}

/* Options every recipe shares. Returns 1 if argv[*i] was one, 0 if not, -1 on error. */
static int shared_option(int argc, char **argv, int *i, cli_options *o) {
  const char *a = argv[*i];
  if (!strcmp(a, "--json")) return parse_format("json", o) ? -1 : 1; /* the short form */
  else if (is_option(a, "--format"))
    return parse_format(option_value(argc, argv, i, "--format"), o) ? -1 : 1;
  else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) o->verbose = 1;
  else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) o->quiet = 1;
  else if (is_option(a, "--color")) return parse_color(option_value(argc, argv, i, "--color"), o) ? -1 : 1;
  else if (is_option(a, "--deadline"))
    return parse_deadline(option_value(argc, argv, i, "--deadline"), o) ? -1 : 1;
  else return 0;
  return 1;
}

static int add_chunk(cli_options *o, const char *code) {
  const char **c = realloc(o->chunks, sizeof *c * (size_t)(o->nchunks + 1));
  if (!c) return usage_error("%s", "out of memory");
  c[o->nchunks++] = code;
  o->chunks = c;
  return 0;
}

/* Options before the recipe name (or without one). */
static int program_option(int argc, char **argv, int *i, cli_options *o) {
  const char *a = argv[*i];
  int r = shared_option(argc, argv, i, o);
  if (r) return r < 0 ? -1 : 0;
  if (!strcmp(a, "-e")) {
    if (*i + 1 >= argc) return usage_error("%s needs a chunk of Lua code", "-e");
    return add_chunk(o, argv[++*i]);
  }
  if (!strncmp(a, "-e", 2)) return add_chunk(o, a + 2);
  if (!strcmp(a, "-l") || !strcmp(a, "--list")) o->list = 1;
  else if (!strcmp(a, "-i") || !strcmp(a, "--interactive")) o->interactive = 1;
  else if (!strcmp(a, "--version") || !strcmp(a, "-V")) o->version = 1;
  else if (!strcmp(a, "-h") || !strcmp(a, "--help")) o->help = 1;
  else return usage_error("unknown option '%s'", a);
  return 0;
}

/* Arguments after the recipe name: shared options are taken out, the rest
 * (and everything after "--", which is kept) goes to the recipe. */
static int recipe_arguments(int argc, char **argv, int i, cli_options *o) {
  o->recipe_argv = calloc((size_t)(argc - i) + 1, sizeof(char *));
  if (!o->recipe_argv) return usage_error("%s", "out of memory");
  int passthrough = 0;
  for (; i < argc; i++) {
    if (!passthrough && !strcmp(argv[i], "--")) passthrough = 1;
    int r = passthrough ? 0 : shared_option(argc, argv, &i, o);
    if (r < 0) return -1;
    if (r == 0) o->recipe_argv[o->recipe_argc++] = argv[i];
  }
  return 0;
}

/* After a usage error: the --format the whole command line asks for (the
 * last one, as when parsing), so that a Nagios check gets its UNKNOWN status
 * line for bad usage too. Says nothing about bad values: one error is enough. */
static void format_despite_error(int argc, char **argv, cli_options *o) {
  for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
    const char *f = NULL;
    if (!strcmp(argv[i], "--json")) f = "json";
    else if (is_option(argv[i], "--format")) f = format_named(option_value(argc, argv, &i, "--format"));
    if (f) {
      o->format = f;
      o->json = !strcmp(f, "json");
    }
  }
}

static int parse_all(int argc, char **argv, cli_options *o);

/* The names under which connrecipe is wait-for-it (a symbolic link to it). */
static int is_wait_for_it(const char *name) {
  return !strcmp(name, CLI_WAIT_FOR_IT) || !strcmp(name, CLI_WAIT_FOR_IT ".sh");
}

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* wait-for-it's command line, unchanged: every argument goes to the mode
 * (its -q, -h and -t are its own, not connrecipe's). */
static int raw_arguments(int argc, char **argv, int i, cli_options *o) {
  o->recipe_argv = calloc((size_t)(argc - i) + 1, sizeof(char *));
  if (!o->recipe_argv) return usage_error("%s", "out of memory");
  for (; i < argc; i++) o->recipe_argv[o->recipe_argc++] = argv[i];
  return 0;
}

int cli_parse(int argc, char **argv, cli_options *o) {
  if (parse_all(argc, argv, o) == 0) return 0;
  format_despite_error(argc, argv, o);
  return -1;
}

static int parse_all(int argc, char **argv, cli_options *o) {
  memset(o, 0, sizeof *o);
  o->color = "auto";
  o->format = "text";
  o->program = argc > 0 && argv[0] ? base_name(argv[0]) : "connrecipe";
  if (is_wait_for_it(o->program)) {
    o->recipe = CLI_WAIT_FOR_IT;
    return raw_arguments(argc, argv, 1, o);
  }
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--")) {
      i++;
      break;
    }
    if (!strcmp(a, "-")) {
      o->read_stdin = 1;
      continue;
    }
    if (a[0] != '-') break;
    if (program_option(argc, argv, &i, o)) return -1;
  }
  if (i < argc) {
    o->recipe = argv[i];
    if (!strcmp(o->recipe, CLI_WAIT_FOR_IT) || !strcmp(o->recipe, CLI_WAIT_FOR_IT ".lua"))
      return raw_arguments(argc, argv, i + 1, o);
    return recipe_arguments(argc, argv, i + 1, o);
  }
  return 0;
}

void cli_free(cli_options *o) {
  free(o->chunks);
  free(o->recipe_argv);
}

int cli_use_color(const cli_options *o) {
  if (!strcmp(o->color, "always")) return 1;
  if (!strcmp(o->color, "never")) return 0;
  const char *no_color = getenv("NO_COLOR");
  if (no_color && *no_color) return 0;
  return isatty(STDOUT_FILENO);
}

void cli_print_help(void) {
  fputs(
      "usage: connrecipe [options] RECIPE [recipe arguments...]\n"
      "       connrecipe [options] -e CODE\n"
      "       connrecipe [options] -          (run Lua code read from standard input)\n"
      "       connrecipe [-i]                 (the interactive REPL; the default on a terminal)\n"
      "       connrecipe [options] wait-for-it HOST:PORT [-s] [-t SECS] [-- CMD...]\n"
      "       connrecipe -l | --list | --version | --help\n"
      "\n"
      "Finds out why a connection is refused or times out, names the process\n"
      "responsible and prints the fix; recipes are Lua playbooks.\n"
      "\n"
      "  RECIPE            a path (anything with a '/'), or a name with or without\n"
      "                    .lua looked up, first hit wins, in: $CONNRECIPE_PATH\n"
      "                    (colon-separated), $XDG_CONFIG_HOME/connrecipe/recipes\n"
      "                    (default ~/.config/connrecipe/recipes),\n"
      "                    /etc/connrecipe/recipes, then the built-in recipes\n"
      "  -e CODE           run CODE as a task (may be repeated; runs before RECIPE)\n"
      "  -i, --interactive start the REPL (after -e chunks or the recipe, if any)\n"
      "  -l, --list        list the recipes found, with where each comes from\n"
      "  --version         print the version\n"
      "  -h, --help        this help; 'connrecipe RECIPE --help' for a recipe's own\n"
      "  wait-for-it ...   wait-for-it's own command line, unchanged (also when\n"
      "                    connrecipe runs through a link named wait-for-it):\n"
      "                    see 'connrecipe wait-for-it --help' and connrecipe(1)\n"
      "\n"
      "Options shared by all recipes (before or after RECIPE, up to a '--'):\n"
      "  --format=FMT      how results are written on stdout: text (the default),\n"
      "                    json (one document), nagios (a plugin's status line\n"
      "                    and exit status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN),\n"
      "                    junit (XML for Jenkins, GitLab), tap (TAP version 13),\n"
      "                    prometheus (the text exposition format, for\n"
      "                    node_exporter's textfile collector); the last one wins\n"
      "  --json            the same as --format=json\n"
      "  --color=WHEN      auto (default: only on a terminal, never when NO_COLOR is\n"
      "                    set), always, never\n"
      "  -v, --verbose     show every check; tracebacks for recipe errors\n"
      "  -q, --quiet       print only the result\n"
      "  --deadline SECS   stop the whole run after SECS seconds (the report still\n"
      "                    shows the findings so far, with no verdict; --json\n"
      "                    marks it \"interrupted\")\n"
      "\n"
      "Exit status:\n"
      "  0    success, nothing wrong found\n"
      "  1    the recipe found a problem\n"
      "  2    bad usage or bad input\n"
      "  3    error in the recipe or in connrecipe (also: --deadline expired, a\n"
      "       write to standard output failed)\n"
      "  130  interrupted (Ctrl-C)\n"
      "  With --format=nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (bad usage,\n"
      "  a recipe that failed, a run cut short).\n",
      stdout);
}
