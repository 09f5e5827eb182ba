/* A minimal gRPC client over a Unix socket: unary calls on one HTTP/2
 * connection (libnghttp2), blocking, each bounded by a deadline. Enough for
 * containerd's List calls; no TLS, no streaming, no compression. */
#ifndef CONNRECIPE_GRPC_H
#define CONNRECIPE_GRPC_H

#include <stddef.h>
#include <stdint.h>

typedef struct cr_grpc_conn cr_grpc_conn;

/* The most a response may hold: larger ones fail (E2BIG) rather than grow. */
#define CR_GRPC_MAX_RESPONSE (32u << 20)

/* Loads libnghttp2 (once per process; the first connection does it too).
 * Returns 0, or -ELIBACC with the dynamic linker's reason in *why. */
int cr_grpc_lib_load(const char **why);

/* Connects to the socket at path; NULL with *err = -errno (-ENOMEM, -ELIBACC
 * when libnghttp2 cannot be loaded, or the connect's errno: ENOENT, EACCES,
 * ECONNREFUSED). timeout_ms bounds every call made on the connection, all
 * together. */
cr_grpc_conn *cr_grpc_connect(const char *path, int timeout_ms, int *err);
void cr_grpc_close(cr_grpc_conn *c);

/* Calls method (the path: "/package.Service/Method") with the serialized
 * request; metadata is name/value pairs (n of them). On success returns 0,
 * *resp (malloc'd, the caller frees) holds the response message without its
 * gRPC frame. On failure returns:
 *   -errno    for the transport (ETIMEDOUT, ECONNRESET, EPROTO, E2BIG, ENOMEM)
 *   > 0       the grpc-status the server sent (msg holds its grpc-message)
 * and msg (cap bytes) says what, in words. After a transport failure the
 * connection is only good for cr_grpc_close. */
int cr_grpc_call(cr_grpc_conn *c, const char *method, const char *const *metadata, size_t n,
                 const uint8_t *req, size_t req_len, uint8_t **resp, size_t *resp_len, char *msg,
                 size_t cap);

/* A unary response body: exactly one uncompressed length-prefixed message.
 * Sets *msg, *len (pointing into buf); returns 0, or -EPROTO with why. */
int cr_grpc_unframe(const uint8_t *buf, size_t len, const uint8_t **msg, size_t *msg_len,
                    const char **why);

#endif
