/* libFuzzer target for containerd's responses (scripts/fuzz.sh): the input
 * is a gRPC response body; unframed (cr_grpc_unframe, or taken whole when it
 * is not a frame), it goes through the three decoders into one list.
 * Checks: no crash, no leak; the list holds at most max containers, each with
 * a non-empty id and namespace, and labels within the bound. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "connrecipe/containerd.h"
#include "connrecipe/grpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *msg = data;
  size_t len = size;
  const char *why;
  if (cr_grpc_unframe(data, size, &msg, &len, &why) == 0 && (len != size - 5 || msg != data + 5)) abort();
  if (msg != data + 5) msg = data, len = size;
  cr_ctrd_list l = {0};
  cr_ctrd_decode_namespaces(msg, len, &l);
  cr_ctrd_decode_containers(msg, len, "default", 8, &l);
  cr_ctrd_decode_tasks(msg, len, "default", &l);
  if (l.n > 8) abort();
  for (size_t i = 0; i < l.n; i++) {
    if (!l.v[i].id || !l.v[i].id[0] || strlen(l.v[i].id) > CR_CTRD_MAX_ID || strcmp(l.v[i].ns, "default")) abort();
    for (size_t k = 0; k < l.v[i].nlabels; k++)
      if (strlen(l.v[i].labels[k].key) > 4096 || strlen(l.v[i].labels[k].value) > 4096) abort();
  }
  for (size_t i = 0; i < l.nns; i++)
    if (!l.namespaces[i][0]) abort();
  cr_containerd_free(&l);
  return 0;
}
