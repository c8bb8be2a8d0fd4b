/*
 * Memtable: a multi-version skiplist of (table, key) -> value | tombstone.
 * One writer inserts (under the store's writer lock) while any number of
 * readers traverse without locks; a reader ignores versions newer than its
 * snapshot LSN.  Memory comes from an arena freed with the memtable when
 * its last reference goes.
 */
#ifndef CVL_META_MEMTABLE_H
#define CVL_META_MEMTABLE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define CVL_MT_TOMB UINT32_MAX
#define CVL_MT_HEIGHT 16

typedef struct cvl_mt_node cvl_mt_node;
typedef struct cvl_mt_chunk cvl_mt_chunk;

typedef struct cvl_memtable {
	_Atomic int refs;
	cvl_mt_node *head;
	_Atomic int height;
	cvl_mt_chunk *chunks;
	uint8_t *cur;       /* bump pointer in the newest chunk */
	size_t cur_left;
	_Atomic size_t bytes; /* arena bytes in use */
	uint64_t entries;
	uint64_t min_lsn, max_lsn;
	/* log position just after the last block whose records it holds */
	uint64_t end_seg, end_off;
	uint64_t born_ns;   /* monotonic time of the first insert */
	uint64_t rng;
	/* the text index of the documents applied to it: set once by the
	 * writer while searches may already read the memtable */
	_Atomic(void *) aux;
	void (*aux_free)(void *);
} cvl_memtable;

int cvl_mt_new(cvl_memtable **out);
void cvl_mt_ref(cvl_memtable *mt);
void cvl_mt_unref(cvl_memtable *mt);

/* Upper bound of arena bytes one insert of this size can take. */
size_t cvl_mt_entry_cost(size_t klen, size_t vlen);

/* Guarantees that inserts costing `bytes` in total will not allocate. */
int cvl_mt_reserve(cvl_memtable *mt, size_t bytes);

/* Inserts a version; vlen CVL_MT_TOMB for a tombstone.  Must follow a
 * reserve that covers it; never fails.  Writer only. */
void cvl_mt_insert(cvl_memtable *mt, uint8_t table, const uint8_t *key, size_t klen,
		   const uint8_t *val, size_t vlen, uint64_t lsn);

/* Newest version <= snap: 1 value, 2 tombstone, 0 none. */
int cvl_mt_get(cvl_memtable *mt, uint8_t table, const uint8_t *key, size_t klen,
	       uint64_t snap, const uint8_t **val, size_t *vlen);

/* Iterator over the newest version <= snap of each key of one table. */
typedef struct cvl_mt_iter {
	cvl_memtable *mt;
	cvl_mt_node *node;
	uint64_t snap;
	uint8_t table;
} cvl_mt_iter;

void cvl_mt_iter_init(cvl_mt_iter *it, cvl_memtable *mt, uint8_t table, uint64_t snap);
/* Positions at the first key >= key (NULL/0: table start). */
void cvl_mt_iter_seek(cvl_mt_iter *it, const uint8_t *key, size_t klen);
int cvl_mt_iter_valid(const cvl_mt_iter *it);
void cvl_mt_iter_next(cvl_mt_iter *it);
/* Positions at the greatest visible key <= key (< key when `strict`). */
void cvl_mt_iter_seek_le(cvl_mt_iter *it, const uint8_t *key, size_t klen, int strict);
/* Moves to the greatest visible key below the current one. */
void cvl_mt_iter_prev(cvl_mt_iter *it);
/* Key without the table byte; value or tombstone (vlen CVL_MT_TOMB). */
void cvl_mt_iter_entry(const cvl_mt_iter *it, const uint8_t **key, size_t *klen,
		       const uint8_t **val, size_t *vlen);

/* Whole-table walk of every key's newest version (flush); any table. */
int cvl_mt_each_latest(cvl_memtable *mt, int (*fn)(void *ud, uint8_t table,
						    const uint8_t *key, size_t klen,
						    const uint8_t *val, size_t vlen),
		       void *ud);

#endif
