/* Bounded LRU cache of decompressed frames, shared by reader threads. */
#ifndef CVL_LOG_CACHE_H
#define CVL_LOG_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct cvl_frame {
	uint32_t seg;
	uint64_t off;
	uint8_t *raw;
	size_t raw_len;
	uint32_t *rec_off; /* start of each record in raw */
	uint32_t nrec;
	int refs;          /* under the cache mutex */
	int cached;
	struct cvl_frame *lru_prev, *lru_next;
	struct cvl_frame *hnext;
	size_t charge;
} cvl_frame;

typedef struct cvl_cache cvl_cache;

int cvl_cache_new(size_t capacity, cvl_cache **out);
void cvl_cache_free(cvl_cache *c);

/* A referenced frame or NULL. */
cvl_frame *cvl_cache_get(cvl_cache *c, uint32_t seg, uint64_t off);
/* Takes ownership of `f` (refs = 1 for the caller); if an equal frame is
 * already cached, frees `f` and returns the cached one referenced. */
cvl_frame *cvl_cache_put(cvl_cache *c, cvl_frame *f);
void cvl_cache_release(cvl_cache *c, cvl_frame *f);
size_t cvl_cache_bytes(cvl_cache *c);

/* Builds a frame object from raw bytes (takes `raw`); indexes records.
 * -1 with *why if the records do not parse. */
int cvl_frame_make(uint32_t seg, uint64_t off, uint8_t *raw, size_t raw_len,
		   uint32_t expect_nrec, cvl_frame **out, const char **why);
void cvl_frame_free(cvl_frame *f);

#endif
