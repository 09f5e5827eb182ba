/* libssl loaded on first use. Linking it made every start load, relocate and
 * bind libssl and libcrypto (~1.3 ms of CPU, 78% of the symbol bindings at
 * start), paid by every diagnose and listing though only the TLS probe needs
 * them. The library is found as the dynamic linker finds a DT_NEEDED one,
 * by the soname of the major version the headers are for (libssl.so.3): the
 * system's library directories, never a path a caller or a file names; its
 * dependency libcrypto comes with it, and dlsym on libssl's handle sees both.
 * It is never unloaded (OpenSSL's own exit handler runs at exit). */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "tls_lib.h"

#define CR_STR_(x) #x
#define CR_STR(x) CR_STR_(x)
#define CR_LIBSSL "libssl.so." CR_STR(OPENSSL_SHLIB_VERSION)

cr_tls_lib cr_tls;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int load_rc = -ELIBACC;
static char load_why[256] = "libssl was not loaded";

static void load(void) {
  void *h = dlopen(CR_LIBSSL, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    snprintf(load_why, sizeof load_why, "%s", e ? e : CR_LIBSSL ": not loaded");
    return;
  }
  cr_tls_lib fns;
#define CR_TLS_RESOLVE(name)                                                                                   \
  *(void **)&fns.name = dlsym(h, #name);                                                                       \
  if (!fns.name) {                                                                                             \
    snprintf(load_why, sizeof load_why, "%s", CR_LIBSSL " lacks " #name);                                                                      \
    return;                                                                                                    \
  }
  CR_TLS_FUNCTIONS(CR_TLS_RESOLVE)
#undef CR_TLS_RESOLVE
  cr_tls = fns;
  load_rc = 0;
}

int cr_tls_lib_load(const char **why) {
  pthread_once(&once, load);
  if (why) *why = load_rc == 0 ? NULL : load_why;
  return load_rc;
}
