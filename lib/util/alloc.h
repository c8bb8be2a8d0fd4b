/* Every allocation in lib/ goes through here so tests can fail the Nth one. */
#ifndef CVL_UTIL_ALLOC_H
#define CVL_UTIL_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *cvl_malloc(size_t n);
void *cvl_calloc(size_t count, size_t size);
void *cvl_realloc(void *p, size_t n);
void cvl_free(void *p);
char *cvl_strdup(const char *s);
void *cvl_memdup(const void *p, size_t n);

/* Whole pages from the kernel (mmap), zero-filled, for large blocks that
 * come and go: the C heap would keep them resident after they are freed.
 * n is rounded up to pages; cvl_pages_free takes the same n.  Fails (NULL)
 * like cvl_malloc under the test seam. */
void *cvl_pages_alloc(size_t n);
void cvl_pages_free(void *p, size_t n);

/* Gives the C heap's free memory back to the kernel (glibc malloc_trim;
 * a no-op elsewhere).  Called after big transient working sets (an index
 * merge, a memtable flush): glibc otherwise keeps them resident. */
void cvl_alloc_trim(void);

/* Test seam: after `countdown` more successful allocations, fail; when
 * `sticky`, keep failing.  countdown < 0 disables. Returns failures so far. */
void cvl_alloc_fail_after(int64_t countdown, int sticky);
uint64_t cvl_alloc_failures(void);

#if defined(__clang_analyzer__) && !defined(CVL_ALLOC_IMPL)
/* The analyzer sees one file at a time: let it treat these as the C
 * library's (uninitialized or zero-filled memory, NULL on failure, use after
 * free).  Not cvl_realloc: its model forgets the contents realloc keeps. */
#include <stdlib.h>
#define cvl_malloc(n) malloc(n)
#define cvl_calloc(count, size) calloc((count), (size))
#define cvl_free(p) free(p)
#endif

#endif
