/* Shared libraries loaded on first use instead of at every start. Linking a
 * library makes every run map, relocate and bind it (and what it needs): on
 * this project's machines ~0.4-0.5 ms of CPU each for libbpf (with libelf and
 * libz) and libedit (with libtinfo, libbsd, libmd), ~5 ms for libssl, paid by
 * every diagnose though only the BPF owner walk, the REPL or the TLS probe
 * needs them.
 *
 * A library is named by its soname (the major version its headers are for)
 * and found as the dynamic linker finds a DT_NEEDED one: the system's library
 * directories, never a path a caller or a file names. It is never unloaded.
 *
 * Each user lists the functions (and variables) it calls in an X-macro and
 * gets a struct of pointers typed from the library's own headers:
 *
 *   #define CR_FOO_SYMBOLS(X) X(foo_open) X(foo_close)
 *   typedef struct { CR_FOO_SYMBOLS(CR_LAZY_FIELD) } cr_foo_lib;
 *   static const char *const foo_names[] = { CR_FOO_SYMBOLS(CR_LAZY_NAME) };
 *   extern cr_foo_lib cr_foo;
 *
 * and calls cr_foo.foo_open(...) after cr_lazy_lib_load returned 0. A
 * variable's field points at it: *cr_foo.foo_flag = 1. */
#ifndef CR_LAZY_LIB_H
#define CR_LAZY_LIB_H

#include <pthread.h>
#include <stddef.h>

#define CR_LAZY_FIELD(name) __typeof__(name) *name;
#define CR_LAZY_NAME(name) #name,

typedef struct {
  const char *soname;
  pthread_mutex_t lock;
  int state; /* 0 not tried, 1 loaded, -1 failed (why says how) */
  char why[256];
} cr_lazy_lib;

#define CR_LAZY_LIB_INIT(soname) {(soname), PTHREAD_MUTEX_INITIALIZER, 0, ""}

/* Loads lib once per process (later calls return the first outcome) and
 * fills table, a struct of `count` pointers, with the symbols names[0..count)
 * in order. Returns 0, or -ELIBACC when the library or one of the symbols is
 * missing; then *why (when why is not NULL) is the dynamic linker's reason
 * or "SONAME lacks NAME", and the table is left untouched. Thread-safe. */
int cr_lazy_lib_load(cr_lazy_lib *lib, const char *const names[], void *table, size_t count,
                     const char **why);

#define CR_LAZY_COUNT(table) (sizeof(table) / sizeof(void *))

#endif
