/* libFuzzer target: the /proc/net line parsers and the sock_diag message
 * parsers. The first byte picks the parser; the rest is the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "connrecipe/sockets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int which = data[0] % 7;
  data++;
  size--;
  /* a private copy of exactly `size` bytes, so ASan sees any over-read */
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf) return 0;
  memcpy(buf, data, size);
  cr_sock s;
  char path[128];
  static const int protos[4] = {CR_PROTO_TCP, CR_PROTO_TCP, CR_PROTO_UDP, CR_PROTO_UDP};
  static const int families[4] = {AF_INET, AF_INET6, AF_INET, AF_INET6};
  switch (which) {
  case 0:
  case 1:
  case 2:
  case 3:
    cr_procnet_parse_inet((const char *)buf, size, protos[which], families[which], &s);
    break;
  case 4:
    if (cr_procnet_parse_unix((const char *)buf, size, &s, path, sizeof path) == 0 && s.path)
      (void)strlen(s.path);
    break;
  case 5:
    cr_sockdiag_parse_inet(buf, size, CR_PROTO_TCP, &s);
    break;
  case 6:
    if (cr_sockdiag_parse_unix(buf, size, &s, path, sizeof path) == 0 && s.path)
      (void)strlen(s.path);
    break;
  }
  free(buf);
  return 0;
}
