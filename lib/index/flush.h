/* Writing an in-memory index out as an index segment. */
#ifndef CVL_INDEX_FLUSH_H
#define CVL_INDEX_FLUSH_H

#include "index/iseg.h"
#include "index/memidx.h"

/* Writes the live documents of `mi` (dead ones dropped) as segment `id`
 * in `dir`.  *ndocs gets the documents written (0: nothing was written). */
int cvl_mi_write(cvl_memidx *mi, const char *dir, uint64_t id, uint32_t *ndocs,
		 uint64_t *bytes);

#endif
