#ifndef CONNRECIPE_THP_HEAP_H
#define CONNRECIPE_THP_HEAP_H
/* Allocations on transparent huge pages (thp_heap.c), for the executable. */
#include <stddef.h>

/* The executable's, before the Lua state: the main thread's heap (glibc's
 * main arena, grown by brk) grows once by `pad` and keeps that much free at
 * its top; what it then holds past its first 2 MB boundary is advised as
 * huge-page memory. Requests of 128 KB and more still get a mapping each.
 * Also makes cr_thp_heap_begin/end do something. */
void cr_thp_main_heap(size_t pad);

/* Until the matching cr_thp_heap_end: requests below 32 MB come from the
 * calling thread's malloc arena and freed memory stays in it (glibc's
 * thresholds, process-wide), and `bytes` of that arena's free memory are
 * advised as huge-page memory: one page fault per 2 MB instead of one per
 * 4 KB. Nothing unless cr_thp_main_heap ran. */
void cr_thp_heap_begin(size_t bytes);
void cr_thp_heap_end(void);

/* Whether the advice above takes: cr_thp_main_heap ran and the kernel's
 * transparent huge pages are not "never". */
int cr_thp_in_use(void);

#endif
