#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#define CVL_ALLOC_IMPL /* the functions themselves, not alloc.h's analyzer model */
#include "util/alloc.h"

static _Atomic int64_t fail_countdown = -1;
static _Atomic int fail_sticky;
static _Atomic uint64_t fail_count;

static int should_fail(void)
{
	int64_t c = atomic_load_explicit(&fail_countdown, memory_order_relaxed);

	if (c < 0)
		return 0;
	if (c == 0) {
		if (!atomic_load(&fail_sticky))
			atomic_store(&fail_countdown, -1);
		atomic_fetch_add(&fail_count, 1);
		return 1;
	}
	atomic_fetch_sub(&fail_countdown, 1);
	return 0;
}

void cvl_alloc_fail_after(int64_t countdown, int sticky)
{
	atomic_store(&fail_sticky, sticky);
	atomic_store(&fail_countdown, countdown);
}

uint64_t cvl_alloc_failures(void)
{
	return atomic_load(&fail_count);
}

void *cvl_malloc(size_t n)
{
	if (should_fail())
		return NULL;
	return malloc(n ? n : 1);
}

void *cvl_calloc(size_t count, size_t size)
{
	if (should_fail())
		return NULL;
	return calloc(count ? count : 1, size ? size : 1);
}

void *cvl_realloc(void *p, size_t n)
{
	if (should_fail())
		return NULL;
	return realloc(p, n ? n : 1);
}

void cvl_free(void *p)
{
	free(p);
}

/* Under AddressSanitizer (or ThreadSanitizer) the sanitizer owns malloc;
 * glibc's malloc_trim would walk an arena it never set up and crash. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CVL_OWN_MALLOC 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CVL_OWN_MALLOC 0
#endif
#endif
#ifndef CVL_OWN_MALLOC
#define CVL_OWN_MALLOC 1
#endif

void cvl_alloc_trim(void)
{
#if defined(__GLIBC__) && CVL_OWN_MALLOC
	malloc_trim(0);
#endif
}

void *cvl_pages_alloc(size_t n)
{
	if (should_fail())
		return NULL;
	void *p = mmap(NULL, n ? n : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void cvl_pages_free(void *p, size_t n)
{
	if (p)
		munmap(p, n ? n : 1);
}

char *cvl_strdup(const char *s)
{
	return s ? cvl_memdup(s, strlen(s) + 1) : NULL;
}

void *cvl_memdup(const void *p, size_t n)
{
	void *q = cvl_malloc(n);

	if (q && n)
		memcpy(q, p, n);
	return q;
}


