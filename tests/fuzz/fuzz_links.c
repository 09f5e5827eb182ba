/* cr_links_parse on arbitrary bytes: a read of an RTM_GETLINK dump. */
#include <stddef.h>
#include <stdint.h>

#include "connrecipe/links.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cr_link_list list = {0};
  cr_links_parse(data, size, &list);
  cr_links_free(&list);
  return 0;
}
