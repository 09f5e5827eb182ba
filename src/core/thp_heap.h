#ifndef CONNRECIPE_THP_HEAP_H
#define CONNRECIPE_THP_HEAP_H
/* Large, short-lived allocations on transparent huge pages (thp_heap.c). */
#include <stddef.h>

/* From here on, this thread's allocations below `bytes` in all come from
 * its malloc arena, of which `bytes` are advised to the kernel as huge-page
 * memory: one fault per 2 MB instead of one per 4 KB. */
void cr_thp_heap_begin(size_t bytes);

/* glibc's thresholds as they were (freed memory goes back to the kernel). */
void cr_thp_heap_end(void);

#endif
