/* libnghttp2's entry points for containerd's gRPC API (grpc.c), loaded at the
 * first connection (lazy_lib.h): only hosts running containerd call it, and
 * linking it cost every start a library to map and bind. */
#ifndef CR_NGHTTP2_LIB_H
#define CR_NGHTTP2_LIB_H

#include <nghttp2/nghttp2.h>

#include "lazy_lib.h"

#define CR_NGHTTP2_FUNCTIONS(X)                                                                                \
  X(nghttp2_session_callbacks_new) X(nghttp2_session_callbacks_del)                                           \
  X(nghttp2_session_callbacks_set_send_callback) X(nghttp2_session_callbacks_set_on_data_chunk_recv_callback) \
  X(nghttp2_session_callbacks_set_on_header_callback) X(nghttp2_session_callbacks_set_on_stream_close_callback) \
  X(nghttp2_session_client_new) X(nghttp2_session_del) X(nghttp2_session_mem_recv) X(nghttp2_session_send)    \
  X(nghttp2_session_want_read) X(nghttp2_session_want_write) X(nghttp2_strerror) X(nghttp2_submit_request)    \
  X(nghttp2_submit_rst_stream) X(nghttp2_submit_settings)

typedef struct {
  CR_NGHTTP2_FUNCTIONS(CR_LAZY_FIELD)
} cr_nghttp2_lib;

/* Filled by cr_grpc_lib_load (connrecipe/grpc.h); read only after it returned 0. */
extern cr_nghttp2_lib cr_nghttp2;

#endif
