/* libbpf reads the kernel's BTF (5.4 MB on Linux 6.18) into one buffer and
 * copies it into a second, then indexes it: ~2,900 fresh 4 KB pages, one
 * page fault each, ~30 ms of CPU on a VM where a fault costs ~12 us: more
 * than the iterator's whole walk. Where transparent huge pages are "madvise"
 * (Debian's default), memory advised MADV_HUGEPAGE faults in 2 MB at a time.
 * glibc's malloc cannot be told to advise its own memory after start-up
 * (its glibc.malloc.hugetlb tunable is read from the environment at exec),
 * so: large requests are kept out of mmap (M_MMAP_THRESHOLD) and freed
 * memory is kept (M_TRIM_THRESHOLD), and one block is allocated, advised
 * and freed: the arena keeps it, untouched, for the allocations that follow
 * in this thread. The advice is only that: without THP, or with it "never",
 * nothing changes but the thresholds, restored afterwards. */
#include "thp_heap.h"

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_PAGE ((uintptr_t)2 << 20)
#define DEFAULT_THRESHOLD (128 * 1024) /* glibc's M_MMAP_THRESHOLD and M_TRIM_THRESHOLD */
#define MMAP_THRESHOLD_MAX (32 << 20)  /* glibc's largest on 64-bit */

/* glibc's chunk header before each allocation */
#define CHUNK_HEADER 16

static __thread void *head; /* holds the block's part before its first huge page */

void cr_thp_heap_begin(size_t bytes) {
  if (bytes >= MMAP_THRESHOLD_MAX) bytes = MMAP_THRESHOLD_MAX - HUGE_PAGE;
  mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX);
  mallopt(M_TRIM_THRESHOLD, MMAP_THRESHOLD_MAX * 2);
  char *block = malloc(bytes);
  if (!block) return;
  uintptr_t first = ((uintptr_t)block + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
  uintptr_t end = ((uintptr_t)block + bytes) & ~(HUGE_PAGE - 1);
  if (end <= first) {
    free(block);
    return;
  }
  (void)madvise((void *)first, end - first, MADV_HUGEPAGE);
  free(block);
  /* The next large allocation would start where the block did, below its
   * first huge page, and fault that part 4 KB at a time: an allocation up
   * to there takes it first (from the same free memory, most often). */
  size_t below = (size_t)(first - (uintptr_t)block);
  if (below > 2 * CHUNK_HEADER) head = malloc(below - CHUNK_HEADER);
}

void cr_thp_heap_end(void) {
  free(head);
  head = NULL;
  mallopt(M_MMAP_THRESHOLD, DEFAULT_THRESHOLD);
  mallopt(M_TRIM_THRESHOLD, DEFAULT_THRESHOLD);
}
