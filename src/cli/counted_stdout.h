/* stdout as a counted stream, so the recipe framework can tell whether a
 * recipe printed anything itself (see counted_stdout.c). */
#ifndef CONNRECIPE_CLI_COUNTED_STDOUT_H
#define CONNRECIPE_CLI_COUNTED_STDOUT_H

#include <lua.h>

/* Makes `stdout` the counted stream; call before the Lua state opens io. 0 or -1. */
int counted_stdout_install(void);

/* Flushes and frees the counted stream; stdout is glibc's again. */
void counted_stdout_uninstall(void);

/* Bytes written through the counted stdout so far (buffered ones included),
 * or -1 when it is not installed. */
long long counted_stdout_bytes(void);

/* Sets cr._stdout_written in the table on top of the stack. */
void counted_stdout_register(lua_State *L);

#endif
