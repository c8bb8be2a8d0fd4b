/* Background work: memtable rotation and flushes to LMDB, periodic log
 * syncs in NORMAL durability. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "engine/db.h"
#include "engine/segstat.h"
#include "index/iseg.h"
#include "os/os.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"

int cvl_rotate_locked(convlog_db *db)
{
	cvl_memtable *nm;
	int rc;

	if (db->active->entries == 0)
		return 0;
	rc = cvl_mt_new(&nm);
	if (rc)
		return rc;
	pthread_mutex_lock(&db->mtmu);
	while (db->nfrozen == CVL_FROZEN_MAX && !db->flush_error) {
		cvl_bg_kick(db);
		pthread_cond_wait(&db->mtcond, &db->mtmu);
	}
	if (db->nfrozen == CVL_FROZEN_MAX) {
		rc = db->flush_error;
		pthread_mutex_unlock(&db->mtmu);
		cvl_mt_unref(nm);
		return cvl_err(rc, "flushing the memtable to LMDB keeps failing (%s); commits wait for it",
			       convlog_strerror(rc));
	}
	db->frozen[db->nfrozen++] = db->active;
	if (db->active->aux)
		cvl_mi_trim(db->active->aux); /* a frozen index takes no more documents */
	db->active = nm;
	pthread_mutex_unlock(&db->mtmu);
	cvl_bg_kick(db);
	return 0;
}

struct flush_ctx {
	convlog_db *db;
	MDB_txn *txn;
	cvl_sdeltas acct; /* seg_stats changes of this flush */
};

static int flush_entry(void *ud, uint8_t table, const uint8_t *key, size_t klen,
		       const uint8_t *val, size_t vlen)
{
	struct flush_ctx *fc = ud;
	MDB_val k = {klen, (void *)key};
	int mrc;

	if (table >= CVL_T_COUNT)
		return cvl_err(CONVLOG_ECORRUPT, "memtable holds an entry for table %u", table);
	if (table == CVL_T_MSG && fc->db->lm.has_segstat) {
		int rc = cvl_sdeltas_msg(&fc->acct, &fc->db->lm, fc->txn, key, klen, val,
					 vlen == CVL_MT_TOMB ? SIZE_MAX : vlen);
		if (rc)
			return rc;
	}
	if (table == CVL_T_CONV && vlen == CVL_MT_TOMB)
		fc->acct.erase = 1; /* a purge: its bytes wait for the compactor */
	if (vlen == CVL_MT_TOMB) {
		mrc = mdb_del(fc->txn, fc->db->lm.dbi[table], &k, NULL);
		if (mrc == MDB_NOTFOUND)
			mrc = 0;
	} else {
		MDB_val v = {vlen, (void *)val};
		mrc = mdb_put(fc->txn, fc->db->lm.dbi[table], &k, &v, 0);
	}
	return mrc ? cvl_lmdb_err(mrc, cvl_table_name(table)) : 0;
}

static int put_meta_u64(MDB_txn *txn, convlog_db *db, const char *key, const uint8_t *v,
			size_t n)
{
	MDB_val k = {strlen(key), (void *)key}, d = {n, (void *)v};
	int mrc = mdb_put(txn, db->lm.dbi[CVL_T_META], &k, &d, 0);

	return mrc ? cvl_lmdb_err(mrc, "meta") : 0;
}

static int write_progress(MDB_txn *txn, convlog_db *db, cvl_memtable *mt)
{
	uint8_t b[16];
	int rc;

	cvl_put_u64le(b, mt->max_lsn);
	if ((rc = put_meta_u64(txn, db, "flushed_lsn", b, 8)))
		return rc;
	cvl_put_u64le(b, mt->end_seg);
	cvl_put_u64le(b + 8, mt->end_off);
	if ((rc = put_meta_u64(txn, db, "replay_pos", b, 16)))
		return rc;
	cvl_put_u64le(b, atomic_load(&db->hlc));
	if ((rc = put_meta_u64(txn, db, "hlc", b, 8)))
		return rc;
	pthread_rwlock_rdlock(&db->seg_lock);
	for (size_t i = 0; i < db->nsegs && !rc; i++) {
		uint8_t k[8], v[8];
		cvl_put_u64be(k, db->segs[i].id);
		cvl_put_u64le(v, db->segs[i].size);
		MDB_val mk = {8, k}, mv = {8, v};
		int mrc = mdb_put(txn, db->lm.dbi[CVL_T_SEG], &mk, &mv, 0);
		if (mrc)
			rc = cvl_lmdb_err(mrc, "segments");
	}
	pthread_rwlock_unlock(&db->seg_lock);
	return rc;
}

/* Writes frozen memtable mt to LMDB in one transaction (a whole attempt:
 * run again after the map grew). */
static int flush_txn(convlog_db *db, cvl_memtable *mt, uint64_t seg_id)
{
	struct flush_ctx fc = {.db = db};
	int rc, mrc;

	rc = cvl_lmdb_wtxn(&db->lm, &fc.txn);
	if (!rc)
		rc = cvl_mt_each_latest(mt, flush_entry, &fc);
	if (!rc)
		rc = write_progress(fc.txn, db, mt);
	if (!rc)
		rc = cvl_sdeltas_apply(&fc.acct, &db->lm, fc.txn);
	if (!rc && fc.acct.erase) {
		uint8_t b[8];
		cvl_put_u64le(b, mt->max_lsn);
		rc = put_meta_u64(fc.txn, db, "erase_lsn", b, 8);
	}
	if (!rc)
		rc = cvl_text_flush_meta(db, fc.txn, seg_id);
	if (!rc) {
		mrc = cvl_lmdb_commit(fc.txn);
		fc.txn = NULL;
		if (mrc)
			rc = cvl_lmdb_err(mrc, "commit flush");
	}
	cvl_lmdb_abort(fc.txn);
	cvl_sdeltas_free(&fc.acct);
	return rc;
}

static int flush_one(convlog_db *db, int *did)
{
	cvl_memtable *mt;
	cvl_iseg *seg = NULL;
	uint64_t seg_id = 0;
	int rc;

	*did = 0;
	pthread_mutex_lock(&db->mtmu);
	mt = db->nfrozen ? db->frozen[0] : NULL;
	if (mt)
		cvl_mt_ref(mt);
	pthread_mutex_unlock(&db->mtmu);
	if (!mt)
		return 0;
	rc = cvl_sync_to(db, mt->max_lsn);
	/* the text index goes to its own file first: a crash before the
	 * LMDB commit below leaves an orphan that the next open removes */
	if (!rc)
		rc = cvl_text_flush_write(db, mt, &seg_id);
	if (!rc && seg_id && !(rc = cvl_iseg_open(db->idx_dir, seg_id, &seg)))
		rc = cvl_text_seg_room(db);
	if (!rc) {
		/* LMDB copies every page it changes: room for about twice the
		 * memtable spares most flushes a MDB_MAP_FULL and a second run */
		cvl_lmdb_make_room(&db->lm, 2 * (uint64_t)cvl_mt_total_bytes(mt));
		do
			rc = flush_txn(db, mt, seg_id);
		while (cvl_lmdb_again(&db->lm, &rc));
	}
	pthread_mutex_lock(&db->mtmu);
	if (!rc) {
		memmove(db->frozen, db->frozen + 1, (size_t)(db->nfrozen - 1) * sizeof(db->frozen[0]));
		db->nfrozen--;
		if (seg) {
			cvl_text_register_locked(db, seg, mt);
			seg = NULL;
		}
		db->flushed_lsn = mt->max_lsn;
		db->flush_error = 0;
		cvl_mt_unref(mt); /* the list's reference */
		atomic_fetch_add(&db->n_flushes, 1);
		*did = 1;
		if (seg_id)
			cvl_mg_kick(db);
	} else {
		db->flush_error = rc;
	}
	pthread_cond_broadcast(&db->mtcond);
	pthread_mutex_unlock(&db->mtmu);
	if (seg) /* not recorded: the file is an orphan, removed at next open */
		cvl_iseg_unref(seg);
	cvl_mt_unref(mt);
	cvl_alloc_trim(); /* the LMDB transaction's dirty pages and the skiplist */
	if (rc)
		cvl_db_log(db, CONVLOG_LOG_WARN, "memtable flush failed: %s", cvl_err_msg());
	return rc;
}

int cvl_flush_frozen(convlog_db *db)
{
	int did, rc;

	pthread_mutex_lock(&db->flushmu);
	do {
		rc = flush_one(db, &did);
	} while (!rc && did);
	pthread_mutex_unlock(&db->flushmu);
	return rc;
}

void cvl_bg_kick(convlog_db *db)
{
	pthread_mutex_lock(&db->bgmu);
	pthread_cond_signal(&db->bgcond);
	pthread_mutex_unlock(&db->bgmu);
}

static void maybe_age_rotate(convlog_db *db)
{
	uint64_t age_ns = (uint64_t)db->opts.flush_interval_ms * 1000000u;

	if (pthread_mutex_trylock(&db->wmu) != 0)
		return;
	if (db->active->entries && db->active->born_ns &&
	    cvl_os_mono_ns() - db->active->born_ns >= age_ns && !atomic_load(&db->failed)) {
		/* never wait for a slot here: that would hold up writers */
		pthread_mutex_lock(&db->mtmu);
		int room = db->nfrozen < CVL_FROZEN_MAX;
		pthread_mutex_unlock(&db->mtmu);
		if (room)
			cvl_rotate_locked(db);
	}
	pthread_mutex_unlock(&db->wmu);
}

static void *bg_main(void *arg)
{
	convlog_db *db = arg;
	uint32_t tick = 100;

	if (db->opts.durability == CONVLOG_DURABILITY_NORMAL && db->opts.sync_interval_ms < tick)
		tick = db->opts.sync_interval_ms;
	pthread_mutex_lock(&db->bgmu);
	while (!db->bg_stop) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long)tick * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&db->bgcond, &db->bgmu, &ts);
		if (db->bg_stop)
			break;
		pthread_mutex_unlock(&db->bgmu);
		if (!atomic_load(&db->failed)) {
			if (db->opts.durability == CONVLOG_DURABILITY_NORMAL) {
				pthread_mutex_lock(&db->syncmu);
				uint64_t w = db->written_lsn, s = db->synced_lsn;
				pthread_mutex_unlock(&db->syncmu);
				if (w > s)
					cvl_sync_to(db, w);
			}
			maybe_age_rotate(db);
			if (cvl_flush_frozen(db) != 0)
				tick = 1000; /* back off while flushes fail */
			else if (tick == 1000)
				tick = 100;
		}
		pthread_mutex_lock(&db->bgmu);
	}
	pthread_mutex_unlock(&db->bgmu);
	return NULL;
}

int cvl_bg_start(convlog_db *db)
{
	pthread_condattr_t ca;
	int e;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&db->bgcond, &ca);
	pthread_condattr_destroy(&ca);
	db->bg_stop = 0;
	e = pthread_create(&db->bg, NULL, bg_main, db);
	if (e)
		return cvl_err(CONVLOG_ENOMEM, "cannot start the background thread: %s",
			       cvl_errno_str(e));
	db->bg_started = 1;
	return 0;
}

void cvl_bg_stop(convlog_db *db)
{
	if (!db->bg_started)
		return;
	pthread_mutex_lock(&db->bgmu);
	db->bg_stop = 1;
	pthread_cond_signal(&db->bgcond);
	pthread_mutex_unlock(&db->bgmu);
	pthread_join(db->bg, NULL);
	db->bg_started = 0;
}
