/* libssl loaded on first use (lazy_lib.h). Linking it made every start load,
 * relocate and bind libssl and libcrypto (~1.3 ms of CPU, 78% of the symbol
 * bindings at start), paid by every diagnose and listing though only the TLS
 * probe needs them. Found by the soname of the major version the headers are
 * for (libssl.so.3); its dependency libcrypto comes with it, and dlsym on
 * libssl's handle sees both. OpenSSL's own exit handler runs at exit. */
#include "tls_lib.h"

#define CR_STR_(x) #x
#define CR_STR(x) CR_STR_(x)

CR_LAZY_LIB_DEFINE(cr_tls, cr_tls_lib_load, "libssl.so." CR_STR(OPENSSL_SHLIB_VERSION), CR_TLS_FUNCTIONS)
