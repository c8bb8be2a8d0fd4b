/*
 * Index segment merges: the tiered policy, the merge itself (crash-safe:
 * new file, then one LMDB transaction, then the old files go), and the
 * merge thread that runs the policy after flushes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/db.h"
#include "index/iseg.h"
#include "index/merge.h"
#include "os/os.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"

#define MERGE_FACTOR 8           /* segments of one tier merged together */
#define TIER_BASE (1u << 20)     /* tier 0: files up to 1 MiB */
#define EXPUNGE_RATIO 3          /* rewrite alone when over 1/3 is dead */

static int tier_of(const cvl_iseg *s)
{
	uint64_t sz = s->file_size / TIER_BASE;
	int t = 0;

	while (sz >= MERGE_FACTOR) {
		sz /= MERGE_FACTOR;
		t++;
	}
	return t;
}

/*
 * Picks the segments to merge (mtmu held), referenced, in registration
 * order.  Tiered: MERGE_FACTOR segments of the lowest tier that has that
 * many; else one segment with over a third of its documents dead.
 */
static int pick(convlog_db *db, int all, cvl_iseg **out, int cap)
{
	int n = 0;

	if (all) {
		int dead = 0;
		for (int i = 0; i < db->nisegs; i++)
			dead |= cvl_iseg_ndead(db->isegs[i]) > 0;
		if (db->nisegs > 1 || dead)
			for (int i = 0; i < db->nisegs && n < cap; i++)
				out[n++] = db->isegs[i];
	} else {
		int count[64] = {0}, tier = -1;
		for (int i = 0; i < db->nisegs; i++)
			count[tier_of(db->isegs[i])]++;
		for (int t = 0; t < 64 && tier < 0; t++)
			if (count[t] >= MERGE_FACTOR)
				tier = t;
		for (int i = 0; i < db->nisegs && tier >= 0 && n < MERGE_FACTOR; i++)
			if (tier_of(db->isegs[i]) == tier)
				out[n++] = db->isegs[i];
		for (int i = 0; i < db->nisegs && !n; i++) {
			cvl_iseg *s = db->isegs[i];
			if ((uint64_t)cvl_iseg_ndead(s) * EXPUNGE_RATIO > s->ndocs)
				out[n++] = s;
		}
	}
	for (int i = 0; i < n; i++)
		cvl_iseg_ref(out[i]);
	return n;
}

static int has_u64(const uint64_t *v, size_t n, uint64_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return 1;
	return 0;
}

/* The merge's LMDB transaction: the segment list and text_deleted (one
 * attempt). */
static int record_txn(convlog_db *db, cvl_iseg **in, int n, uint64_t out_id,
		      const cvl_merge_out *mo)
{
	MDB_txn *txn;
	const uint8_t *v, *p, *end;
	size_t vl;
	uint64_t cnt = 0, id, ids[n];
	cvl_buf b;
	uint8_t next[8], k[8];
	int rc, mrc = 0, placed = 0;

	for (int i = 0; i < n; i++)
		ids[i] = in[i]->id;
	if ((rc = cvl_lmdb_wtxn(&db->lm, &txn)))
		return rc;
	cvl_buf_init(&b, 0);
	rc = cvl_lmdb_get(&db->lm, txn, CVL_T_META, "text_segs", 9, &v, &vl);
	if (rc) {
		rc = rc == CONVLOG_ENOTFOUND ? cvl_err(CONVLOG_ECORRUPT, "meta/text_segs vanished") : rc;
		goto out;
	}
	p = v;
	end = v + vl;
	if ((rc = cvl_buf_reserve(&b, vl + 10)))
		goto out;
	if (cvl_varint_get(&p, end, &cnt) || cnt > vl) {
		rc = cvl_err(CONVLOG_ECORRUPT, "meta/text_segs is malformed");
		goto out;
	}
	uint64_t keep = 0;
	const uint8_t *q = p;
	for (uint64_t i = 0; i < cnt; i++)
		if (!cvl_varint_get(&q, end, &id) && !has_u64(ids, (size_t)n, id))
			keep++;
	if ((rc = cvl_buf_put_varint(&b, keep + (mo->ndocs ? 1 : 0))))
		goto out;
	for (uint64_t i = 0; i < cnt && !rc; i++) {
		if (cvl_varint_get(&p, end, &id)) {
			rc = cvl_err(CONVLOG_ECORRUPT, "meta/text_segs is malformed");
			break;
		}
		if (has_u64(ids, (size_t)n, id)) {
			/* the result takes the place of the first input */
			if (!placed && mo->ndocs)
				rc = cvl_buf_put_varint(&b, out_id);
			placed = 1;
			continue;
		}
		rc = cvl_buf_put_varint(&b, id);
	}
	if (rc)
		goto out;
	if (!placed) {
		rc = cvl_err(CONVLOG_ECORRUPT, "merged index segments are not in meta/text_segs");
		goto out;
	}
	cvl_put_u64le(next, atomic_load(&db->iseg_next));
	MDB_val k1 = {9, "text_segs"}, v1 = {b.len, b.p}, k2 = {9, "text_next"}, v2 = {8, next};
	if (!(mrc = mdb_put(txn, db->lm.dbi[CVL_T_META], &k1, &v1, 0)))
		mrc = mdb_put(txn, db->lm.dbi[CVL_T_META], &k2, &v2, 0);
	for (size_t i = 0; i < mo->ndropped && !mrc; i++) {
		cvl_put_u64be(k, mo->dropped[i]);
		MDB_val dk = {8, k};
		mrc = mdb_del(txn, db->lm.dbi[CVL_T_IX_DELETED], &dk, NULL);
		if (mrc == MDB_NOTFOUND)
			mrc = 0;
	}
	if (!mrc) {
		mrc = cvl_lmdb_commit(txn);
		txn = NULL;
	}
	if (mrc)
		rc = cvl_lmdb_err(mrc, "recording an index merge");
out:
	if (txn)
		cvl_lmdb_abort(txn);
	cvl_buf_free(&b);
	return rc;
}

static int record(convlog_db *db, cvl_iseg **in, int n, uint64_t out_id, const cvl_merge_out *mo)
{
	int rc;

	do
		rc = record_txn(db, in, n, out_id, mo);
	while (cvl_lmdb_again(&db->lm, &rc));
	return rc;
}

/* Swaps the inputs for the result (mtmu held); carries over the
 * documents that died while the merge ran. */
static void swap_locked(convlog_db *db, cvl_iseg **in, int n, cvl_iseg *res)
{
	int k = 0, placed = 0;
	uint32_t doc;

	for (int i = 0; i < n && res; i++) {
		cvl_iseg *s = in[i];
		for (uint32_t w = 0; w < (s->ndocs + 63) / 64; w++) {
			uint64_t bits = atomic_load(&s->dead[w]);
			while (bits) {
				uint32_t d = w * 64 + (uint32_t)__builtin_ctzll(bits);
				bits &= bits - 1;
				if (d < s->ndocs && cvl_iseg_find_doc(res, cvl_iseg_docid(s, d), &doc) == 0)
					cvl_iseg_kill(res, doc);
			}
		}
	}
	for (int i = 0; i < db->nisegs; i++) {
		cvl_iseg *s = db->isegs[i];
		int merged = 0;
		for (int j = 0; j < n; j++)
			merged |= s == in[j];
		if (!merged) {
			db->isegs[k++] = s;
			continue;
		}
		if (!placed && res)
			db->isegs[k++] = res;
		placed = 1;
		cvl_iseg_unref(s); /* the list's reference */
	}
	db->nisegs = k;
}

int cvl_text_merge(convlog_db *db, int all, int *did)
{
	cvl_iseg *in[4096], *res = NULL;
	cvl_merge_out mo;
	int n, rc;

	*did = 0;
	if (atomic_load(&db->text_damaged))
		return 0; /* a reindex rebuilds it all; merging would forget the damage */
	pthread_mutex_lock(&db->mergemu);
	pthread_mutex_lock(&db->mtmu);
	n = pick(db, all, in, (int)(sizeof(in) / sizeof(in[0])));
	pthread_mutex_unlock(&db->mtmu);
	if (!n) {
		pthread_mutex_unlock(&db->mergemu);
		return 0;
	}
	uint64_t id = atomic_fetch_add(&db->iseg_next, 1);
	rc = cvl_iseg_merge(in, n, db->idx_dir, id, &db->mg_stop, &mo);
	if (!rc && mo.ndocs)
		rc = cvl_iseg_open(db->idx_dir, id, &res);
	if (!rc)
		rc = record(db, in, n, id, &mo);
	if (rc) {
		/* the new file (if any) is an orphan: removed now or at next open */
		char path[CVL_PATH_MAX];
		snprintf(path, sizeof(path), "%s/%016" PRIx64 ".idx", db->idx_dir, id);
		cvl_iseg_unref(res);
		cvl_os_unlink(path);
	} else {
		pthread_mutex_lock(&db->mtmu);
		swap_locked(db, in, n, res);
		pthread_mutex_unlock(&db->mtmu);
		for (int i = 0; i < n; i++)
			cvl_os_unlink(in[i]->path); /* readers keep their mappings */
		*did = 1;
		cvl_db_log(db, CONVLOG_LOG_INFO, "merged %d index segments into %016" PRIx64 " (%u documents, %zu dropped)",
			   n, id, mo.ndocs, mo.ndropped);
	}
	cvl_free(mo.dropped);
	for (int i = 0; i < n; i++)
		cvl_iseg_unref(in[i]);
	pthread_mutex_unlock(&db->mergemu);
	return rc;
}

/* ---- the merge thread ---- */

static void *mg_main(void *arg)
{
	convlog_db *db = arg;

	pthread_mutex_lock(&db->mgmu);
	while (!atomic_load(&db->mg_stop)) {
		if (!db->mg_kicked) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += 5;
			pthread_cond_timedwait(&db->mgcond, &db->mgmu, &ts);
			continue;
		}
		db->mg_kicked = 0;
		pthread_mutex_unlock(&db->mgmu);
		int did = 1;
		while (did && !atomic_load(&db->mg_stop) && !atomic_load(&db->failed))
			if (cvl_text_merge(db, 0, &did) && !atomic_load(&db->mg_stop)) {
				cvl_db_log(db, CONVLOG_LOG_WARN, "index merge failed: %s", cvl_err_msg());
				break;
			}
		cvl_alloc_trim(); /* a merge's working set */
		pthread_mutex_lock(&db->mgmu);
	}
	pthread_mutex_unlock(&db->mgmu);
	return NULL;
}

int cvl_mg_start(convlog_db *db)
{
	pthread_condattr_t ca;
	int e;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&db->mgcond, &ca);
	pthread_condattr_destroy(&ca);
	atomic_store(&db->mg_stop, 0);
	db->mg_kicked = 1; /* the policy may have work from before the open */
	e = pthread_create(&db->mg, NULL, mg_main, db);
	if (e)
		return cvl_err(CONVLOG_ENOMEM, "cannot start the index merge thread: %s",
			       cvl_errno_str(e));
	pthread_mutex_lock(&db->mgmu);
	db->mg_started = 1;
	pthread_mutex_unlock(&db->mgmu);
	return 0;
}

void cvl_mg_stop(convlog_db *db)
{
	if (!db->mg_started)
		return;
	pthread_mutex_lock(&db->mgmu);
	atomic_store(&db->mg_stop, 1);
	db->mg_started = 0; /* no kick signals the condition from now on */
	pthread_cond_signal(&db->mgcond);
	pthread_mutex_unlock(&db->mgmu);
	pthread_join(db->mg, NULL);
	pthread_cond_destroy(&db->mgcond);
	atomic_store(&db->mg_stop, 0);
}

void cvl_mg_kick(convlog_db *db)
{
	pthread_mutex_lock(&db->mgmu);
	if (!db->mg_started) { /* read under mgmu: cvl_mg_stop clears it */
		pthread_mutex_unlock(&db->mgmu);
		return;
	}
	db->mg_kicked = 1;
	pthread_cond_signal(&db->mgcond);
	pthread_mutex_unlock(&db->mgmu);
}
