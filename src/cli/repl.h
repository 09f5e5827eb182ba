/* The interactive REPL: lua.c's, with libedit, async calls inline and tasks
 * running in the background while the prompt waits. */
#ifndef CONNRECIPE_CLI_REPL_H
#define CONNRECIPE_CLI_REPL_H

#include <lua.h>

/* Runs the REPL on the terminal until Ctrl-D (exit status 0) or until
 * --deadline expires (3).
 * The module must be loaded as the global `cr`. */
int repl_run(lua_State *L);

#endif
