/* cr_lazy_lib_load: dlopen by soname on first use (lazy_lib.h). */
#include "lazy_lib.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int resolve(cr_lazy_lib *lib, const char *const names[], void *table, size_t count) {
  void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    snprintf(lib->why, sizeof lib->why, "%s", e ? e : "not loaded");
    return -1;
  }
  void **found = calloc(count, sizeof *found);
  if (!found) {
    snprintf(lib->why, sizeof lib->why, "%s: out of memory", lib->soname);
    dlclose(h);
    return -1;
  }
  for (size_t i = 0; i < count; i++) {
    found[i] = dlsym(h, names[i]);
    if (!found[i]) { /* not the library we were built with: not used at all */
      snprintf(lib->why, sizeof lib->why, "%s lacks %s", lib->soname, names[i]);
      free(found);
      dlclose(h);
      return -1;
    }
  }
  /* the table is a struct of object and function pointers, all of one size
   * and representation on the platforms dlsym serves */
  memcpy(table, found, count * sizeof *found);
  free(found);
  return 1;
}

int cr_lazy_lib_load(cr_lazy_lib *lib, const char *const names[], void *table, size_t count,
                     const char **why) {
  pthread_mutex_lock(&lib->lock);
  if (lib->state == 0) lib->state = resolve(lib, names, table, count);
  int state = lib->state;
  pthread_mutex_unlock(&lib->lock);
  if (why) *why = state == 1 ? NULL : lib->why;
  return state == 1 ? 0 : -ELIBACC;
}
