/*
 * A view reads the merged state: the writer's write-set (if any), then the
 * memtables newest first, then an LMDB read transaction.  Readers' views
 * are snapshots: memtable versions newer than `snap` are invisible.
 */
#ifndef CVL_META_VIEW_H
#define CVL_META_VIEW_H

#include <stdatomic.h>
#include <stdint.h>

#include "meta/lmdb.h"
#include "meta/memtable.h"
#include "meta/wset.h"

#define CVL_VIEW_MT_MAX 6

typedef struct cvl_view {
	cvl_lmdb *lm;
	/* the handle's count of open snapshots this view holds one of
	 * (cvl_db_snapshot), released after its LMDB transaction ends */
	_Atomic int64_t *snaps;
	MDB_txn *txn;
	cvl_memtable *mt[CVL_VIEW_MT_MAX]; /* newest first, referenced */
	int nmt;
	uint64_t snap;
	cvl_wset *ws; /* writer only */
	/* a scoped handle's reads: conversations outside it do not exist
	 * (cvl_conv_load); NULL sees everything */
	const struct cvl_scope *scope;
} cvl_view;

/* Releases the memtable refs and aborts the LMDB txn. */
void cvl_view_release(cvl_view *v);

/* 0 with *val (borrowed for the view's life), CONVLOG_ENOTFOUND, or error. */
int cvl_view_get(cvl_view *v, int table, const void *key, size_t klen,
		 const uint8_t **val, size_t *vlen);

/* Ordered iteration over one table, merging memtables with LMDB (the
 * write-set is not included: only readers iterate). */
typedef struct cvl_vcur {
	cvl_view *v;
	int table;
	int nsrc;
	struct cvl_vsrc {
		int valid;
		cvl_mt_iter mi; /* memtable source */
		MDB_cursor *mc; /* LMDB source (the last one) */
		const uint8_t *k, *val;
		size_t kl, vl;
	} src[CVL_VIEW_MT_MAX + 1];
	const uint8_t *key, *val;
	size_t klen, vlen;
} cvl_vcur;

int cvl_vcur_open(cvl_view *v, int table, cvl_vcur *c);
void cvl_vcur_close(cvl_vcur *c);
/* Position at the first live key >= key.  0, CONVLOG_DONE, or error. */
int cvl_vcur_seek(cvl_vcur *c, const void *key, size_t klen);
/* Advance.  0, CONVLOG_DONE, or error. */
int cvl_vcur_next(cvl_vcur *c);
/* Position at the last live key <= key (< key when `strict`). */
int cvl_vcur_seek_le(cvl_vcur *c, const void *key, size_t klen, int strict);
/* Step back to the previous live key.  0, CONVLOG_DONE, or error. */
int cvl_vcur_prev(cvl_vcur *c);

#endif
