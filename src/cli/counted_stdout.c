/* The C stream stdout, counted: how the recipe framework notices that a
 * recipe printed something itself (--json prints one document; a recipe's own
 * output gets no report tacked on) without replacing any Lua function.
 *
 * Lua's print writes to the C `stdout`, io.write and io.stdout:write to the
 * FILE behind io.stdout. Before the Lua state is made, both become one
 * stream whose only difference from glibc's is that it counts the bytes it
 * hands to fd 1 (glibc lets a program assign stdout). Everything on the Lua
 * side stays stock: print, io.write, file methods and io.output are the real
 * C functions.
 *
 * Writes that bypass the stream -- a child on fd 1 (os.execute, io.popen(cmd,
 * "w")), a file opened on /dev/stdout -- show in fd 1's file offset and size
 * when stdout is a regular file; on a pipe or terminal there is nothing to
 * read them from (see docs/recipes.md). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cli/counted_stdout.h"

#include <errno.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <lauxlib.h>

static long long bytes_written; /* handed to fd 1 by the counted stream */
static FILE *glibc_stdout;      /* the stdout it replaced, while it is installed */

static ssize_t counted_write(void *cookie, const char *buf, size_t size) {
  (void)cookie;
  size_t done = 0;
  while (done < size) {
    ssize_t n = write(STDOUT_FILENO, buf + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    done += (size_t)n;
  }
  bytes_written += (long long)done;
  return done > 0 ? (ssize_t)done : -1; /* errno says why, as fwrite's caller expects */
}

static int counted_seek(void *cookie, off64_t *offset, int whence) {
  (void)cookie;
  off64_t at = lseek64(STDOUT_FILENO, *offset, whence);
  if (at < 0) return -1;
  *offset = at;
  return 0;
}

/* fclose(io.stdout) is refused by Lua (io_noclose); at exit, fd 1 stays open as glibc leaves it */
static int counted_close(void *cookie) {
  (void)cookie;
  return 0;
}

int counted_stdout_install(void) {
  /* write-only, as glibc's stdout: io.stdout:read() fails as in stock Lua */
  cookie_io_functions_t fns = { NULL, counted_write, counted_seek, counted_close };
  FILE *f = fopencookie(NULL, "w", fns);
  if (!f) return -1;
  fflush(stdout);
  /* as glibc buffers stdout: by line on a terminal, else in blocks */
  setvbuf(f, NULL, isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF, BUFSIZ);
  glibc_stdout = stdout;
  stdout = f;
  return 0;
}

void counted_stdout_uninstall(void) {
  if (!glibc_stdout) return;
  FILE *f = stdout;
  stdout = glibc_stdout;
  glibc_stdout = NULL;
  fclose(f); /* flushes; fd 1 stays open */
}

long long counted_stdout_bytes(void) {
  return glibc_stdout ? bytes_written + (long long)__fpending(stdout) : -1;
}

/* cr._stdout_written() -> bytes written through stdout so far (buffered ones
 * included), then fd 1's file offset and size when it is a regular file (a
 * file opened on /dev/stdout has an offset of its own, but grows the same
 * file); nil when the stream is not counted (the REPL, or connrecipe loaded as
 * a module) */
static int l_stdout_written(lua_State *L) {
  if (!glibc_stdout) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushinteger(L, (lua_Integer)(bytes_written + (long long)__fpending(stdout)));
  struct stat st;
  if (fstat(STDOUT_FILENO, &st) != 0 || !S_ISREG(st.st_mode)) return 1;
  lua_pushinteger(L, (lua_Integer)lseek(STDOUT_FILENO, 0, SEEK_CUR));
  lua_pushinteger(L, (lua_Integer)st.st_size);
  return 3;
}

void counted_stdout_register(lua_State *L) {
  lua_pushcfunction(L, l_stdout_written);
  lua_setfield(L, -2, "_stdout_written");
}
