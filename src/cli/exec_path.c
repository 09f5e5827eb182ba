/* See exec_path.h. */
#include "cli/exec_path.h"

#include <stdlib.h>
#include <string.h>

void exec_path_drop_relative(void) {
  const char *path = getenv("PATH");
  if (!path) return; /* libuv and execvp then search /usr/bin:/bin only */
  char *kept = malloc(strlen(path) + 1);
  if (!kept) return;
  size_t n = 0;
  for (const char *p = path;;) {
    const char *colon = strchr(p, ':');
    size_t len = colon ? (size_t)(colon - p) : strlen(p);
    if (len > 0 && p[0] == '/') {
      if (n) kept[n++] = ':';
      memcpy(kept + n, p, len);
      n += len;
    }
    if (!colon) break;
    p = colon + 1;
  }
  kept[n] = '\0';
  if (n == 0)
    unsetenv("PATH"); /* an empty PATH would mean the current directory again */
  else if (strcmp(kept, path) != 0)
    setenv("PATH", kept, 1);
  free(kept);
}
