/* libnghttp2 loaded at the first gRPC connection (nghttp2_lib.h), by the
 * soname the build found (CR_LIBNGHTTP2_SONAME). */
#include "nghttp2_lib.h"

#include "connrecipe/grpc.h"

cr_nghttp2_lib cr_nghttp2;

static cr_lazy_lib libnghttp2 = CR_LAZY_LIB_INIT(CR_LIBNGHTTP2_SONAME);
static const char *const names[] = {CR_NGHTTP2_FUNCTIONS(CR_LAZY_NAME)};

int cr_grpc_lib_load(const char **why) {
  _Static_assert(CR_LAZY_COUNT(cr_nghttp2) == sizeof names / sizeof names[0], "one name per field");
  return cr_lazy_lib_load(&libnghttp2, names, &cr_nghttp2, CR_LAZY_COUNT(cr_nghttp2), why);
}
