#ifndef CONNRECIPE_THP_HEAP_H
#define CONNRECIPE_THP_HEAP_H
/* Allocations on transparent huge pages (thp_heap.c). */
#include <stddef.h>

/* From here on, requests below 32 MB come from the calling thread's malloc
 * arena, freed memory stays in it, and `bytes` of that arena's free memory
 * are advised to the kernel as huge-page memory: one page fault per 2 MB
 * instead of one per 4 KB. */
void cr_thp_heap_begin(size_t bytes);

/* The end of a cr_thp_heap_begin: glibc's thresholds as they were once the
 * last one ends (then freed memory goes back to the kernel again). */
void cr_thp_heap_end(void);

/* The main thread's heap (glibc's main arena, grown by brk): from here on it
 * grows by `pad` beyond each request and keeps that much free at its top,
 * and what it holds now past its first 2 MB boundary is advised as
 * huge-page memory. Requests of 128 KB and more still get a mapping each. */
void cr_thp_main_heap(size_t pad);

#endif
