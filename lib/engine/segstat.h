/* Per-segment accounting (LMDB table seg_stats, format-spec.md §7.8):
 * how many bytes of each segment's message records are still named by a
 * `msg` locator.  Kept exact by every LMDB transaction that changes `msg`
 * (flushes and the compactor's locator switches), so it always describes
 * the LMDB state it is stored in. */
#ifndef CVL_ENGINE_SEGSTAT_H
#define CVL_ENGINE_SEGSTAT_H

#include <stddef.h>
#include <stdint.h>

#include "meta/lmdb.h"

#define CVL_SEGSTAT_LEN 40

typedef struct cvl_segstat {
	uint64_t live_bytes;   /* record bytes named by msg locators */
	uint64_t live_recs;    /* locators naming this segment */
	uint64_t total_bytes;  /* record bytes written (compacted segments; 0 = unknown) */
	uint64_t erased_bytes; /* bytes of records of purged conversations */
	uint32_t dict_id;      /* dictionary its frames use (0 none) */
} cvl_segstat;

typedef struct cvl_segdelta {
	uint32_t seg;
	int64_t live, recs, erased;
} cvl_segdelta;

typedef struct cvl_sdeltas {
	cvl_segdelta *v;
	size_t n, cap;
	int erase; /* a conversation was purged */
} cvl_sdeltas;

void cvl_segstat_encode(const cvl_segstat *s, uint8_t out[CVL_SEGSTAT_LEN]);
int cvl_segstat_decode(const uint8_t *p, size_t n, cvl_segstat *s);
/* Reads seg's entry through txn (all zero when absent). */
int cvl_segstat_get(cvl_lmdb *lm, MDB_txn *txn, uint32_t seg, cvl_segstat *s);
int cvl_segstat_put(cvl_lmdb *lm, MDB_txn *txn, uint32_t seg, const cvl_segstat *s);
int cvl_segstat_del(cvl_lmdb *lm, MDB_txn *txn, uint32_t seg);

/* Segment and record bytes a `msg` value (key conv ‖ seq) accounts for. */
int cvl_segstat_of_msg(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
		       uint32_t *seg, uint64_t *bytes);

int cvl_sdeltas_add(cvl_sdeltas *d, uint32_t seg, int64_t live, int64_t recs, int64_t erased);
/* The change of msg key `key` in txn from its current LMDB value to
 * (val, vlen) (vlen SIZE_MAX: deleted), recorded in d. */
int cvl_sdeltas_msg(cvl_sdeltas *d, cvl_lmdb *lm, MDB_txn *txn, const uint8_t *key,
		    size_t klen, const uint8_t *val, size_t vlen);
/* Adds the deltas to seg_stats in txn. */
int cvl_sdeltas_apply(cvl_sdeltas *d, cvl_lmdb *lm, MDB_txn *txn);
void cvl_sdeltas_free(cvl_sdeltas *d);

/* Recomputes seg_stats from the msg table (upgrade, verify --repair);
 * `compacted` totals are kept. */
int cvl_segstat_rebuild(cvl_lmdb *lm, MDB_txn *txn);

#endif
