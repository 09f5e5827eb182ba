/* libnghttp2 loaded at the first gRPC connection (nghttp2_lib.h), by the
 * soname the build found (CR_LIBNGHTTP2_SONAME). */
#include "nghttp2_lib.h"

#include "connrecipe/grpc.h"

CR_LAZY_LIB_DEFINE(cr_nghttp2, cr_grpc_lib_load, CR_LIBNGHTTP2_SONAME, CR_NGHTTP2_FUNCTIONS)
