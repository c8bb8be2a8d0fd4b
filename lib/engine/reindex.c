/*
 * Rebuilding the text index from the messages (convlog_reindex): every
 * current message version is read in log order, analysed (with a new
 * stemming language if asked) and written as fresh segments; one LMDB
 * transaction then replaces the segment list, forgets text_deleted and
 * records the language.  Writers wait for the duration; readers keep
 * searching the old index until the switch.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/db.h"
#include "index/analyze.h"
#include "index/iseg.h"
#include "index/memidx.h"
#include "log/record.h"
#include "os/os.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"

#define CHUNK (1u << 20) /* message locators sorted at a time */

typedef struct rbuild {
	convlog_db *db;
	cvl_actx a;
	cvl_memtable *mt;
	uint64_t *ids;
	size_t nids, idcap;
	uint64_t last_lsn;
} rbuild;

static int cmp_loc(const void *x, const void *y)
{
	const cvl_loc *a = x, *b = y;

	if (a->seg != b->seg)
		return a->seg < b->seg ? -1 : 1;
	if (a->frame_off != b->frame_off)
		return a->frame_off < b->frame_off ? -1 : 1;
	return a->rec_idx < b->rec_idx ? -1 : a->rec_idx > b->rec_idx;
}

/* Moves the queued documents into the builder's memtable index. */
static int publish(rbuild *b)
{
	int rc;

	if (!b->a.text.ndocs)
		return 0;
	if ((rc = cvl_text_settle(&b->a, NULL)) || (rc = cvl_text_reserve(&b->a, b->mt)))
		return rc;
	cvl_text_publish(&b->a, b->mt);
	return 0;
}

/* Writes the builder's index as a segment and starts a new one. */
static int cut(rbuild *b)
{
	uint64_t id;
	cvl_memtable *nm;
	int rc;

	if ((rc = publish(b)) || (rc = cvl_text_flush_write(b->db, b->mt, &id)))
		return rc;
	if (id) {
		if (b->nids == b->idcap) {
			size_t nc = b->idcap ? b->idcap * 2 : 16;
			uint64_t *nv = cvl_realloc(b->ids, nc * sizeof(*nv));
			if (!nv)
				return cvl_err(CONVLOG_ENOMEM, "out of memory rebuilding the index");
			b->ids = nv;
			b->idcap = nc;
		}
		b->ids[b->nids++] = id;
	}
	if ((rc = cvl_mt_new(&nm)))
		return rc;
	cvl_mt_unref(b->mt);
	b->mt = nm;
	return 0;
}

/* Indexes the message version stored at loc. */
static int add_one(rbuild *b, const cvl_loc *loc)
{
	cvl_frame *f;
	cvl_record r;
	cvl_msg_peek m;
	const char *why;
	int rc = cvl_frame_get(b->db, loc, &f);

	if (rc)
		return rc;
	const uint8_t *p = f->raw + f->rec_off[loc->rec_idx < f->nrec ? loc->rec_idx : 0];
	if (loc->rec_idx >= f->nrec || cvl_record_decode(&p, f->raw + f->raw_len, &r, &why) ||
	    !cvl_record_is_msg(r.type) ||
	    cvl_msg_peek_body(r.body, r.body_len, &m))
		rc = cvl_err(CONVLOG_ECORRUPT, "a message locator names no message record");
	else if (r.lsn <= b->last_lsn)
		rc = cvl_err(CONVLOG_ECORRUPT, "message records are not in LSN order in the log");
	if (!rc) {
		b->last_lsn = r.lsn;
		b->a.lsn = r.lsn;
		rc = cvl_text_add(&b->a, &m, loc);
	}
	cvl_cache_release(b->db->cache, f);
	if (rc)
		return rc;
	if (cvl_text_cost(&b->a) >= (4u << 20) && (rc = publish(b)))
		return rc;
	if (b->mt->aux && cvl_mt_total_bytes(b->mt) >= b->db->opts.memtable_size)
		return cut(b);
	return 0;
}

/* Indexes a chunk of locators, in log (= docid) order. */
static int add_chunk(rbuild *b, cvl_loc *locs, size_t n)
{
	int rc = 0;

	if (n > 1)
		qsort(locs, n, sizeof(*locs), cmp_loc);
	b->last_lsn = 0;
	for (size_t i = 0; i < n && !rc; i++)
		rc = add_one(b, &locs[i]);
	return rc ? rc : cut(b); /* chunks may overlap in docids: never share a segment */
}

static int build(rbuild *b)
{
	cvl_view v;
	cvl_vcur cur;
	cvl_loc *locs = cvl_malloc(CHUNK * sizeof(*locs));
	size_t n = 0;
	int rc;

	if (!locs)
		return cvl_err(CONVLOG_ENOMEM, "out of memory rebuilding the index");
	if ((rc = cvl_db_snapshot(b->db, &v))) {
		cvl_free(locs);
		return rc;
	}
	if (!(rc = cvl_vcur_open(&v, CVL_T_MSG, &cur))) {
		for (rc = cvl_vcur_seek(&cur, "", 0); rc == 0; rc = cvl_vcur_next(&cur)) {
			cvl_msg_sum s;
			if (cur.klen != 20 || cvl_msg_sum_decode(cur.val, cur.vlen, cvl_get_u32be(cur.key + 16), &s)) {
				rc = cvl_err(CONVLOG_ECORRUPT, "a message summary is malformed");
				break;
			}
			locs[n++] = s.loc;
			if (n == CHUNK) {
				if ((rc = add_chunk(b, locs, n)))
					break;
				n = 0;
			}
		}
		if (rc == CONVLOG_DONE)
			rc = n ? add_chunk(b, locs, n) : 0;
		cvl_vcur_close(&cur);
	}
	cvl_view_release(&v);
	cvl_free(locs);
	return rc;
}

/* The LMDB transaction that switches to the new index (one attempt). */
static int record_txn(convlog_db *db, const rbuild *b, const char *stem)
{
	MDB_txn *txn;
	cvl_buf lst;
	uint8_t next[8];
	int rc, mrc;

	cvl_buf_init(&lst, 0);
	rc = cvl_buf_put_varint(&lst, b->nids);
	for (size_t i = 0; i < b->nids && !rc; i++)
		rc = cvl_buf_put_varint(&lst, b->ids[i]);
	if (rc || (rc = cvl_lmdb_wtxn(&db->lm, &txn))) {
		cvl_buf_free(&lst);
		return rc;
	}
	cvl_put_u64le(next, atomic_load(&db->iseg_next));
	MDB_val k1 = {9, "text_segs"}, v1 = {lst.len, lst.p}, k2 = {9, "text_next"}, v2 = {8, next},
		k3 = {9, "text_stem"}, v3 = {strlen(stem), (void *)stem};
	if (!(mrc = mdb_put(txn, db->lm.dbi[CVL_T_META], &k1, &v1, 0)) &&
	    !(mrc = mdb_put(txn, db->lm.dbi[CVL_T_META], &k2, &v2, 0)) &&
	    !(mrc = mdb_put(txn, db->lm.dbi[CVL_T_META], &k3, &v3, 0)) &&
	    !(mrc = mdb_drop(txn, db->lm.dbi[CVL_T_IX_DELETED], 0))) {
		mrc = cvl_lmdb_commit(txn);
		txn = NULL;
	}
	if (txn)
		cvl_lmdb_abort(txn);
	cvl_buf_free(&lst);
	return mrc ? cvl_lmdb_err(mrc, "recording the rebuilt index") : 0;
}

static int record(convlog_db *db, const rbuild *b, const char *stem)
{
	int rc;

	do
		rc = record_txn(db, b, stem);
	while (cvl_lmdb_again(&db->lm, &rc));
	return rc;
}

static void remove_files(convlog_db *db, const uint64_t *ids, size_t n)
{
	char path[CVL_PATH_MAX];

	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%016" PRIx64 ".idx", db->idx_dir, ids[i]);
		cvl_os_unlink(path);
	}
}

/* With wmu and mergemu held. */
static int reindex_locked(convlog_db *db, const char *stem, cvl_analyzer *an)
{
	rbuild b = {.db = db};
	cvl_iseg **segs = NULL, **old;
	int nsegs = 0, nold, rc;

	/* everything into LMDB first: the memtables then hold no documents */
	if ((rc = cvl_rotate_locked(db)) || (rc = cvl_flush_frozen(db)))
		return rc;
	if ((rc = cvl_actx_init(&b.a, db)))
		return rc;
	b.a.text.an = an;
	if ((rc = cvl_mt_new(&b.mt)) == 0 && (rc = build(&b)) == 0 &&
	    (rc = cvl_text_load(db, b.ids, b.nids, db->active, NULL, 0, &segs, &nsegs)) == 0 &&
	    (rc = record(db, &b, stem)) != 0) {
		cvl_text_segs_release(segs, nsegs);
		segs = NULL;
	}
	cvl_mt_unref(b.mt);
	cvl_actx_free(&b.a);
	if (rc) {
		remove_files(db, b.ids, b.nids);
		cvl_free(b.ids);
		return rc;
	}
	pthread_mutex_lock(&db->mtmu);
	old = db->isegs;
	nold = db->nisegs;
	db->isegs = NULL;
	db->nisegs = db->isegcap = 0;
	cvl_text_install_locked(db, segs, nsegs);
	pthread_mutex_unlock(&db->mtmu);
	for (int i = 0; i < nold; i++)
		cvl_os_unlink(old[i]->path); /* readers keep their mappings */
	cvl_text_segs_release(old, nold);
	cvl_free(b.ids);
	atomic_store(&db->text_damaged, 0);
	return 0;
}

int cvl_text_reindex(convlog_db *db, const char *stem)
{
	cvl_analyzer *an = NULL, *old;
	char lang[32];
	int rc;

	snprintf(lang, sizeof(lang), "%s", stem ? stem : db->stem);
	if ((rc = cvl_analyzer_new(lang, &an)))
		return rc;
	pthread_mutex_lock(&db->wmu);
	pthread_mutex_lock(&db->mergemu);
	rc = reindex_locked(db, lang, an);
	if (!rc) {
		/* the writer's analyzer and the search pool follow the store */
		old = db->an;
		db->an = an;
		an = old;
		pthread_mutex_lock(&db->dctx_mu);
		snprintf(db->stem, sizeof(db->stem), "%s", lang);
		for (int i = 0; i < db->nan_pool; i++)
			cvl_analyzer_free(db->an_pool[i]);
		db->nan_pool = 0;
		pthread_mutex_unlock(&db->dctx_mu);
	}
	pthread_mutex_unlock(&db->mergemu);
	pthread_mutex_unlock(&db->wmu);
	cvl_analyzer_free(an);
	return rc;
}
