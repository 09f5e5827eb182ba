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
 * gets a struct of pointers typed from the library's own headers, and its
 * loader:
 *
 *   #define CR_FOO_SYMBOLS(X) X(foo_open) X(foo_close)          (foo_lib.h)
 *   CR_LAZY_TABLE(cr_foo_lib, CR_FOO_SYMBOLS);
 *   extern cr_foo_lib cr_foo;
 *   int cr_foo_lib_load(const char **why);
 *
 *   CR_LAZY_LIB_DEFINE(cr_foo, cr_foo_lib_load, "libfoo.so.1", CR_FOO_SYMBOLS)   (foo_lib.c)
 *
 * and calls cr_foo.foo_open(...) after cr_foo_lib_load returned 0 (on this
 * thread, or another that then synchronised with it). A variable's field
 * points at it: *cr_foo.foo_flag = 1. */
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

/* The struct of pointers for SYMBOLS, named type. */
#define CR_LAZY_TABLE(type, SYMBOLS)                                                                           \
  typedef struct {                                                                                             \
    SYMBOLS(CR_LAZY_FIELD)                                                                                     \
  } type

/* The table (its type declared by CR_LAZY_TABLE) and loader: int loader(const
 * char **why) loads soname once and fills the table, as cr_lazy_lib_load. */
#define CR_LAZY_LIB_DEFINE(table, loader, soname, SYMBOLS)                                                     \
  __typeof__(table) table;                                                                                     \
  static cr_lazy_lib table##_library = CR_LAZY_LIB_INIT(soname);                                              \
  static const char *const table##_names[] = {SYMBOLS(CR_LAZY_NAME)};                                         \
  int loader(const char **why) {                                                                               \
    _Static_assert(CR_LAZY_COUNT(table) == sizeof table##_names / sizeof table##_names[0], "a name a field"); \
    return cr_lazy_lib_load(&table##_library, table##_names, &table, CR_LAZY_COUNT(table), why);               \
  }

#endif
