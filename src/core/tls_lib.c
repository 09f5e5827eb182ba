/* libssl loaded on first use (lazy_lib.h). Linking it made every start load,
 * relocate and bind libssl and libcrypto (~1.3 ms of CPU, 78% of the symbol
 * bindings at start), paid by every diagnose and listing though only the TLS
 * probe needs them. Found by the soname of the major version the headers are
 * for (libssl.so.3); its dependency libcrypto comes with it, and dlsym on
 * libssl's handle sees both. OpenSSL's own exit handler runs at exit. */
#include "tls_lib.h"

#define CR_STR_(x) #x
#define CR_STR(x) CR_STR_(x)

cr_tls_lib cr_tls;

static cr_lazy_lib libssl = CR_LAZY_LIB_INIT("libssl.so." CR_STR(OPENSSL_SHLIB_VERSION));
static const char *const names[] = {CR_TLS_FUNCTIONS(CR_LAZY_NAME)};

int cr_tls_lib_load(const char **why) {
  _Static_assert(CR_LAZY_COUNT(cr_tls) == sizeof names / sizeof names[0], "one name per field");
  return cr_lazy_lib_load(&libssl, names, &cr_tls, CR_LAZY_COUNT(cr_tls), why);
}
