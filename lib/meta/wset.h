/* A transaction's private write-set: (table, key) -> newest value or
 * tombstone.  Read first by the writer's view; moved into the memtable at
 * commit. */
#ifndef CVL_META_WSET_H
#define CVL_META_WSET_H

#include <stddef.h>
#include <stdint.h>

#include "util/htab.h"

typedef struct cvl_wentry {
	cvl_hnode hn;
	struct cvl_wentry *next_all;
	uint8_t table;
	uint32_t klen;
	uint32_t vlen; /* CVL_MT_TOMB for a tombstone */
	uint32_t vcap;
	int64_t pend_rec; /* msg entries: txn record index whose locator is due */
	uint8_t *key;
	uint8_t *val;
} cvl_wentry;

typedef struct cvl_wset {
	cvl_htab h;
	cvl_wentry *all;
	size_t count;
	size_t mt_cost; /* memtable bytes needed to insert everything */
} cvl_wset;

int cvl_ws_init(cvl_wset *ws);
void cvl_ws_free(cvl_wset *ws);
void cvl_ws_clear(cvl_wset *ws);

/* Sets the value (copied); returns the entry through *out (optional). */
int cvl_ws_put(cvl_wset *ws, uint8_t table, const uint8_t *key, size_t klen,
	       const uint8_t *val, size_t vlen, cvl_wentry **out);
int cvl_ws_del(cvl_wset *ws, uint8_t table, const uint8_t *key, size_t klen);
/* 1 value, 2 tombstone, 0 absent. */
int cvl_ws_get(cvl_wset *ws, uint8_t table, const uint8_t *key, size_t klen,
	       const uint8_t **val, size_t *vlen);

#endif
