/* containerd's containers and tasks through its gRPC API (namespaces List,
 * containers List, tasks List), as plain structs. Everything is data from
 * another process: strings are bounded and may hold any bytes. */
#ifndef CONNRECIPE_CONTAINERD_H
#define CONNRECIPE_CONTAINERD_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  char *key, *value;
} cr_ctrd_label;

/* task status, containerd's enum */
enum {
  CR_CTRD_UNKNOWN,
  CR_CTRD_CREATED,
  CR_CTRD_RUNNING,
  CR_CTRD_STOPPED,
  CR_CTRD_PAUSED,
  CR_CTRD_PAUSING
};

typedef struct {
  char *ns, *id, *image; /* image may be "" */
  cr_ctrd_label *labels;
  size_t nlabels;
  char *spec; /* the OCI spec's JSON (its Any's value), NULL when absent or over CR_CTRD_MAX_SPEC */
  size_t spec_len;
  int64_t created_at; /* seconds, 0 unknown */
  int has_task;
  uint32_t pid, status, exit_status, exit_reason; /* exit_reason 1: OOM-killed (containerd 2) */
  int64_t exited_at;
} cr_ctrd_container;

typedef struct {
  cr_ctrd_container *v;
  size_t n;
  char **namespaces; /* those read */
  size_t nns;
} cr_ctrd_list;

#define CR_CTRD_MAX_SPEC (4u << 20)
#define CR_CTRD_MAX_ID 256

/* Reads the containers of namespace (NULL: of every namespace) through the
 * socket, at most max of them, all within timeout_ms. Returns 0, or the
 * failure as cr_grpc_call does (-errno, or a grpc-status > 0) with msg set. */
int cr_containerd_read(const char *socket, const char *ns, int timeout_ms, size_t max,
                       cr_ctrd_list *out, char *msg, size_t cap);
void cr_containerd_free(cr_ctrd_list *l);

/* The decoders, one per response (a protobuf message, unframed); exposed for
 * tests and fuzzing. They add to out; each returns 0 or -EPROTO / -ENOMEM. */
int cr_ctrd_decode_namespaces(const uint8_t *msg, size_t len, cr_ctrd_list *out);
int cr_ctrd_decode_containers(const uint8_t *msg, size_t len, const char *ns, size_t max,
                              cr_ctrd_list *out);
int cr_ctrd_decode_tasks(const uint8_t *msg, size_t len, const char *ns, cr_ctrd_list *out);

#endif
