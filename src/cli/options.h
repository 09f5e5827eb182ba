/* Command-line options of the connrecipe executable. */
#ifndef CONNRECIPE_CLI_OPTIONS_H
#define CONNRECIPE_CLI_OPTIONS_H

enum {
  EXIT_OK = 0,          /* success, nothing wrong */
  EXIT_PROBLEM = 1,     /* the recipe found a problem */
  EXIT_USAGE = 2,       /* bad usage or bad input */
  EXIT_INTERNAL = 3,    /* error in the recipe or in connrecipe */
  EXIT_INTERRUPTED = 130
};

/* The mode that takes wait-for-it's command line (a built-in recipe of that name). */
#define CLI_WAIT_FOR_IT "wait-for-it"

typedef struct {
  const char *program; /* the name connrecipe was run under: argv[0]'s last component */
  const char **chunks; /* -e CODE, in order */
  int nchunks;
  int read_stdin; /* "-" */
  const char *recipe;
  int recipe_argc;
  char **recipe_argv;
  int list, version, help;
  int interactive; /* -i, or no arguments on a terminal */
  const char *format; /* text | json | nagios | junit | tap | prometheus */
  int json;           /* format is json (--json is --format=json) */
  int verbose, quiet;
  const char *color; /* auto | always | never */
  double deadline;   /* seconds, 0: none */
} cli_options;

/* Parses argv into opts. Run as wait-for-it (argv[0]'s name, or the
 * recipe name wait-for-it), the arguments after it go to that mode as they
 * are. Otherwise shared options (--format, --json, --color, -v, -q,
 * --deadline) are taken before and after the recipe name, up to a "--". On
 * bad usage prints one line to stderr and returns -1; opts->format is then
 * still the format the command line asks for. */
int cli_parse(int argc, char **argv, cli_options *opts);
void cli_free(cli_options *opts);

/* The message of cli_parse's last usage error, without the "connrecipe: ". */
const char *cli_last_error(void);

/* Whether output should be coloured, from --color and the environment. */
int cli_use_color(const cli_options *opts);

void cli_print_help(void);

#endif
