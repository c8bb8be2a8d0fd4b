/*
 * Merging index segments: the live documents of several segments, in
 * docid order, written as one segment; dead documents are dropped.
 */
#ifndef CVL_INDEX_MERGE_H
#define CVL_INDEX_MERGE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "index/iseg.h"

typedef struct cvl_merge_out {
	uint32_t ndocs;      /* documents written; 0: no file was written */
	uint64_t bytes;
	uint64_t *dropped;   /* docids of the dead documents left out (cvl_free) */
	size_t ndropped;
} cvl_merge_out;

/*
 * Merges in[0..n) into segment `id` of `dir`.  Which documents are dead
 * is read once, at the start: documents that die while the merge runs are
 * written and must be marked dead in the result by the caller.  When
 * *cancel (optional) becomes non-zero the merge stops with CONVLOG_EINVAL
 * and leaves no file.
 */
int cvl_iseg_merge(cvl_iseg *const *in, int n, const char *dir, uint64_t id,
		   const _Atomic int *cancel, cvl_merge_out *out);

#endif
