/* Recipe lookup: $CONNRECIPE_PATH, the user's and the system's recipe
 * directories, then the recipes compiled into the binary. */
#include "lua/recipe_path.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connrecipe/text.h"
#include "connrecipe/trust.h"

static void add_dir(recipe_path *rp, const char *dir, size_t len) {
  if (len == 0 || rp->ndirs == RECIPE_DIRS_MAX) return;
  rp->dirs[rp->ndirs++] = strndup(dir, len);
}

void recipe_path_init(recipe_path *rp) {
  memset(rp, 0, sizeof *rp);
  const char *env = getenv("CONNRECIPE_PATH");
  for (const char *p = env; p && *p;) {
    const char *colon = strchr(p, ':');
    size_t len = colon ? (size_t)(colon - p) : strlen(p);
    add_dir(rp, p, len);
    p = colon ? colon + 1 : p + len;
  }
  char buf[PATH_MAX];
  const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
  if (xdg && *xdg)
    snprintf(buf, sizeof buf, "%s/connrecipe/recipes", xdg);
  else if (home && *home)
    snprintf(buf, sizeof buf, "%s/.config/connrecipe/recipes", home);
  else
    buf[0] = '\0';
  add_dir(rp, buf, strlen(buf));
  add_dir(rp, "/etc/connrecipe/recipes", strlen("/etc/connrecipe/recipes"));
}

void recipe_path_free(recipe_path *rp) {
  for (int i = 0; i < rp->ndirs; i++) free(rp->dirs[i]);
  rp->ndirs = 0;
}

/* Opens PATH, a recipe in a directory of the search path, when it exists and
 * is trusted: owned by root or the user running connrecipe and writable by
 * nobody else, up to "/". One that exists but is not is skipped with a
 * warning: as root, running another user's file is handing them root. */
static int open_trusted(const char *path) {
  char why[2048];
  int fd = cr_trust_open(path, geteuid(), why, sizeof why);
  if (fd < 0 && errno != ENOENT && errno != ENOTDIR && errno != EACCES) {
    char shown[PATH_MAX * 2];
    cr_text_escape_cstr(path, shown, sizeof shown);
    fprintf(stderr, "connrecipe: skipping recipe %s: %s\n", shown, why);
  }
  return fd;
}

static int has_lua_suffix(const char *name) {
  size_t n = strlen(name);
  return n > 4 && strcmp(name + n - 4, ".lua") == 0;
}

int recipe_find(const recipe_path *rp, const char *recipe, recipe_location *out, char *why,
                size_t whylen) {
  memset(out, 0, sizeof *out);
  out->fd = -1;
  if (strchr(recipe, '/')) { /* a path, as given */
    struct stat st;
    if (stat(recipe, &st) != 0 || !S_ISREG(st.st_mode)) {
      snprintf(why, whylen, "cannot open recipe %s: %s", recipe,
               stat(recipe, &st) != 0 ? "no such file" : "not a regular file");
      return -1;
    }
    snprintf(out->path, sizeof out->path, "%s", recipe);
    snprintf(out->name, sizeof out->name, "%s", strrchr(recipe, '/') + 1);
    snprintf(out->origin, sizeof out->origin, "%s", recipe);
    return 0;
  }
  snprintf(out->name, sizeof out->name, "%s%s", recipe, has_lua_suffix(recipe) ? "" : ".lua");
  for (int i = 0; i < rp->ndirs; i++) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", rp->dirs[i], out->name);
    out->fd = open_trusted(path);
    if (out->fd >= 0) {
      snprintf(out->path, sizeof out->path, "%s", path);
      snprintf(out->origin, sizeof out->origin, "%s", rp->dirs[i]);
      return 0;
    }
  }
  out->builtin = cr_embedded_find(CR_EMBED_RECIPE, out->name);
  if (out->builtin) {
    snprintf(out->origin, sizeof out->origin, "built-in");
    return 0;
  }
  size_t n = (size_t)snprintf(why, whylen, "recipe '%s' not found; searched:", recipe);
  for (int i = 0; i < rp->ndirs && n < whylen; i++)
    n += (size_t)snprintf(why + n, whylen - n, " %s,", rp->dirs[i]);
  if (n < whylen) snprintf(why + n, whylen - n, " built-in recipes (see 'connrecipe --list')");
  return -1;
}

static int name_seen(char **names, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (strcmp(names[i], name) == 0) return 1;
  return 0;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .lua files of a directory, sorted; *count set. */
static char **lua_files(const char *dir, int *count) {
  *count = 0;
  DIR *d = opendir(dir);
  if (!d) return NULL;
  char **names = NULL;
  int cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (!has_lua_suffix(e->d_name)) continue;
    if (*count == cap) {
      cap = cap ? cap * 2 : 16;
      char **grown = realloc(names, sizeof *names * (size_t)cap);
      if (!grown) break;
      names = grown;
    }
    names[(*count)++] = strdup(e->d_name);
  }
  closedir(d);
  if (names) qsort(names, (size_t)*count, sizeof *names, compare_names);
  return names;
}

void recipe_list(const recipe_path *rp, recipe_visit_fn fn, void *data) {
  char *seen[4096];
  int nseen = 0;
  for (int i = 0; i < rp->ndirs; i++) {
    int n;
    char **names = lua_files(rp->dirs[i], &n);
    for (int j = 0; j < n; j++) {
      recipe_location loc = {.fd = -1};
      snprintf(loc.path, sizeof loc.path, "%s/%s", rp->dirs[i], names[j]);
      if (!name_seen(seen, nseen, names[j]) && nseen < 4096 &&
          (loc.fd = open_trusted(loc.path)) >= 0) {
        seen[nseen++] = strdup(names[j]);
        snprintf(loc.name, sizeof loc.name, "%s", names[j]);
        snprintf(loc.origin, sizeof loc.origin, "%s", rp->dirs[i]);
        fn(&loc, data);
        close(loc.fd);
      }
      free(names[j]);
    }
    free(names);
  }
  for (const cr_embedded_file *f = cr_embedded_files; f->name; f++) {
    if (f->kind != CR_EMBED_RECIPE || name_seen(seen, nseen, f->name)) continue;
    recipe_location loc = {.fd = -1};
    snprintf(loc.name, sizeof loc.name, "%s", f->name);
    snprintf(loc.origin, sizeof loc.origin, "built-in");
    loc.builtin = f;
    fn(&loc, data);
  }
  for (int i = 0; i < nseen; i++) free(seen[i]);
}

/* Copies the text of a "-- text" line without the dashes and the spaces. */
static int comment_text(const char *line, size_t len, char *out, size_t outlen) {
  if (len < 2 || line[0] != '-' || line[1] != '-') return 0;
  size_t i = 0;
  while (i < len && line[i] == '-') i++;
  while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
  size_t end = len;
  while (end > i && (line[end - 1] == ' ' || line[end - 1] == '\r')) end--;
  if (end == i) return 0;
  snprintf(out, outlen, "%.*s", (int)(end - i), line + i);
  return 1;
}

void recipe_description(const recipe_location *loc, char *out, size_t outlen) {
  char head[4096];
  size_t len = 0;
  out[0] = '\0';
  if (loc->builtin) {
    len = loc->builtin->len < sizeof head - 1 ? loc->builtin->len : sizeof head - 1;
    memcpy(head, loc->builtin->source, len);
  } else { /* the file that was checked, never the path again */
    ssize_t n = loc->fd >= 0 ? pread(loc->fd, head, sizeof head - 1, 0) : -1;
    if (n < 0) return;
    len = (size_t)n;
  }
  head[len] = '\0';
  for (char *line = head; line && *line;) {
    char *nl = strchr(line, '\n');
    size_t n = nl ? (size_t)(nl - line) : strlen(line);
    if (line[0] == '#' && line == head) { /* shebang */
    } else if (comment_text(line, n, out, outlen)) {
      return;
    } else if (n > 0) {
      return; /* code before any comment: no description */
    }
    line = nl ? nl + 1 : NULL;
  }
}
