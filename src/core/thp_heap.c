/* Heap memory on transparent huge pages, for the executable (a Lua module
 * leaves its host's malloc alone: nothing here runs unless cr_thp_main_heap
 * did). A page fault costs ~12 us on a VM
 * (touching 5.4 MB of fresh malloc'd memory: 15-20 ms; the same advised
 * MADV_HUGEPAGE and 2 MB-aligned: 0.5-0.7 ms). Where THP is "madvise"
 * (Debian's default) only advised memory gets huge pages, and glibc's
 * malloc cannot be told to advise its own after start-up (its
 * glibc.malloc.hugetlb tunable is read from the environment at exec). So:
 *  - the main heap (Lua's): grown once by a pad kept at its top (M_TOP_PAD),
 *    advised, and its part below the first 2 MB boundary filled with one
 *    untouched allocation: a quiet diagnose 311 -> ~170 page faults;
 *  - around libbpf's load (its two 5.4 MB copies of the kernel's BTF), the
 *    calling thread's arena: one block allocated in it (not mapped apart:
 *    M_MMAP_THRESHOLD raised), advised and freed (kept: M_TRIM_THRESHOLD
 *    raised; glibc's thresholds are the process's, for those ~12 ms), so
 *    that what follows is carved from it: ~2,900 -> ~40 faults.
 * The advice is only that: without THP, or with it "never", nothing changes
 * but glibc's thresholds. */
#include "thp_heap.h"

#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGE_PAGE ((uintptr_t)2 << 20)
#define DEFAULT_THRESHOLD (128 * 1024) /* glibc's M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, M_TOP_PAD */
#define MMAP_THRESHOLD_MAX (32 << 20)  /* glibc's largest on 64-bit */
#define CHUNK_HEADER (2 * sizeof(size_t)) /* glibc's, before each allocation */
#define MAIN_HEAP_REQUEST (64 * 1024)
#define MAIN_HEAP_TRIES 16

static int enabled; /* the executable's choice: cr_thp_main_heap */
static int base_trim = DEFAULT_THRESHOLD; /* M_TRIM_THRESHOLD outside begin/end */
static int depth; /* begins not yet ended, in every thread, under the lock */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static __thread int thread_depth;
static __thread void *head; /* holds the block's part below its first huge page */

/* glibc's thresholds are the process's: raised while any begin runs. */
static void thresholds(int change) {
  pthread_mutex_lock(&lock);
  int was = depth;
  depth += change;
  if (was == 0 && depth > 0) {
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX);
    mallopt(M_TRIM_THRESHOLD, MMAP_THRESHOLD_MAX * 2);
  } else if (was > 0 && depth == 0) {
    mallopt(M_MMAP_THRESHOLD, DEFAULT_THRESHOLD);
    mallopt(M_TRIM_THRESHOLD, base_trim);
  }
  pthread_mutex_unlock(&lock);
}

/* Advises the whole huge pages within [from, to) as huge-page memory;
 * returns the first one's address, or 0 when none fits. */
static uintptr_t advise_huge(uintptr_t from, uintptr_t to) {
  uintptr_t first = (from + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
  uintptr_t last = to & ~(HUGE_PAGE - 1);
  if (last <= first) return 0;
  (void)madvise((void *)first, last - first, MADV_HUGEPAGE);
  return first;
}

/* One block of this thread's arena, allocated, advised and freed: the arena
 * keeps it for what follows. The next large allocation would start where
 * the block did, below its first huge page, and fault that part 4 KB at a
 * time: `head`, an allocation up to there, takes it first (from the same
 * free memory, most often). */
static void advise_arena(size_t bytes) {
  char *block = malloc(bytes);
  if (!block) return;
  uintptr_t first = advise_huge((uintptr_t)block, (uintptr_t)block + bytes);
  free(block);
  size_t below = first ? (size_t)(first - (uintptr_t)block) : 0;
  head = malloc(below > 2 * CHUNK_HEADER ? below - CHUNK_HEADER : 1);
}

void cr_thp_heap_begin(size_t bytes) {
  if (!enabled) return;
  if (bytes >= MMAP_THRESHOLD_MAX) bytes = MMAP_THRESHOLD_MAX - HUGE_PAGE;
  thresholds(+1);
  if (thread_depth++ == 0) advise_arena(bytes);
}

void cr_thp_heap_end(void) {
  if (!enabled || thread_depth == 0) return;
  if (--thread_depth == 0) {
    free(head);
    head = NULL;
  }
  thresholds(-1);
}

/* the main heap's part below its first huge page, kept unused (volatile: a
 * pointer never read would let the compiler drop the malloc) */
static void *volatile main_heap_filler;

/* Whether blocks[0..n) lie end to end, as carved from the top of the heap. */
static int contiguous(void *const blocks[], int n) {
  for (int i = 1; i < n; i++)
    if ((char *)blocks[i] != (char *)blocks[i - 1] + MAIN_HEAP_REQUEST + CHUNK_HEADER) return 0;
  return 1;
}

void cr_thp_main_heap(size_t pad) {
  enabled = 1;
  /* the pad for the one growth below; freed memory at the top kept past it */
  base_trim = (int)(pad + HUGE_PAGE);
  mallopt(M_TRIM_THRESHOLD, base_trim);
  mallopt(M_TOP_PAD, (int)pad);
  /* requests below the mmap threshold until one makes the heap grow (by
   * itself and the pad): what was free at its top before is used up first */
  void *blocks[MAIN_HEAP_TRIES];
  int n = 0;
  void *before = sbrk(0);
  while (n < MAIN_HEAP_TRIES && sbrk(0) == before && (blocks[n] = malloc(MAIN_HEAP_REQUEST)) != NULL) n++;
  char *end = sbrk(0);
  mallopt(M_TOP_PAD, DEFAULT_THRESHOLD); /* later growths as before */
  uintptr_t first = n > 0 && end != before ? advise_huge((uintptr_t)blocks[0], (uintptr_t)end) : 0;
  int filled = first && contiguous(blocks, n);
  while (n > 0) free(blocks[--n]);
  if (!filled) return;
  /* What is allocated next would start where the blocks did, below the
   * first huge page: one allocation, never touched, fills that part (from
   * the top, now larger than the pad: glibc maps a request of its own only
   * when the top cannot serve it). */
  size_t below = (size_t)(first - (uintptr_t)blocks[0]);
  if (below > 2 * CHUNK_HEADER) main_heap_filler = malloc(below - CHUNK_HEADER);
}

int cr_thp_in_use(void) {
  static int thp = -1; /* THP not "never": read once */
  if (!enabled) return 0;
  if (thp < 0) {
    char buf[128] = "";
    int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0) close(fd);
    buf[n > 0 ? n : 0] = '\0';
    thp = n > 0 && !strstr(buf, "[never]");
  }
  return thp;
}
