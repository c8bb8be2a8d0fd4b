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

/* Test seam: after `countdown` more successful allocations, fail; when
 * `sticky`, keep failing.  countdown < 0 disables. Returns failures so far. */
void cvl_alloc_fail_after(int64_t countdown, int sticky);
uint64_t cvl_alloc_failures(void);

#endif
