/* Opening, creating and closing a store; handle checks; snapshots. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine/db.h"
#include "engine/segstat.h"
#include "index/analyze.h"
#include "log/segment.h"
#include "os/os.h"
#include "util/uuid.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"

int cvl_db_check(convlog_db *db)
{
	if (db && *(const uint32_t *)db == CVL_SCOPE_MAGIC)
		return cvl_err(CONVLOG_ESCOPE, "this call works on the whole store: "
			       "use the unscoped handle");
	if (!db || db->magic != CVL_DB_MAGIC)
		return cvl_err(CONVLOG_EINVAL, "not an open convlog_db handle");
	return 0;
}

int cvl_db_enter(convlog_db **db, const cvl_scope **scope)
{
	*scope = NULL;
	if (*db && *(const uint32_t *)*db == CVL_SCOPE_MAGIC) {
		cvl_scoped *h = (cvl_scoped *)(void *)*db;
		*scope = &h->scope;
		*db = h->base;
	}
	return cvl_db_check(*db);
}

int cvl_db_enter_write(convlog_db **db, const cvl_scope **scope)
{
	int rc = cvl_db_enter(db, scope);

	return rc ? rc : cvl_db_check_write(*db);
}

static int same_text(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

int cvl_scope_covers(const cvl_scope *s, const convlog_conv *c)
{
	if (!s)
		return 1;
	if (s->org_id && !same_text(s->org_id, c->org_id))
		return 0;
	if (s->user_id && !same_text(s->user_id, c->user_id))
		return 0;
	return 1;
}

int cvl_scope_hidden(const convlog_uuid *id)
{
	char s[CONVLOG_UUID_STRLEN];

	return cvl_err(CONVLOG_ENOTFOUND, "conversation %s does not exist", cvl_uuid_str(id, s));
}

int cvl_db_check_write(convlog_db *db)
{
	int rc = cvl_db_check(db), f;

	if (rc)
		return rc;
	if (db->readonly)
		return cvl_err(CONVLOG_EREADONLY, "%s is open read-only", db->path);
	if ((f = atomic_load(&db->failed)) != 0)
		return cvl_err(CONVLOG_EFAILED, "the store failed earlier (%s); reopen it",
			       convlog_strerror(f));
	return 0;
}

void cvl_db_log(convlog_db *db, int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!db->opts.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	db->opts.log(db->opts.log_ud, level, msg);
}

void cvl_db_fail(convlog_db *db, int rc)
{
	int expected = 0;

	if (atomic_compare_exchange_strong(&db->failed, &expected, rc ? rc : CONVLOG_EIO))
		cvl_db_log(db, CONVLOG_LOG_WARN,
			   "store marked failed: %s; no further writes until it is reopened",
			   cvl_err_msg());
}

static int take_snapshot(convlog_db *db, cvl_view *v, uint64_t *flushed)
{
	int rc;

	memset(v, 0, sizeof(*v));
	v->lm = &db->lm;
	pthread_mutex_lock(&db->mtmu);
	/* a map resize waits for open transactions, some of whose owners need
	 * mtmu to finish (a commit publishing): wait for it without mtmu */
	while ((rc = cvl_lmdb_rtxn_try(&db->lm, &v->txn)) == CVL_LMDB_GATED) {
		pthread_mutex_unlock(&db->mtmu);
		if ((rc = cvl_lmdb_gate_wait(&db->lm)))
			return rc;
		pthread_mutex_lock(&db->mtmu);
	}
	v->mt[v->nmt++] = db->active;
	cvl_mt_ref(db->active);
	for (int i = db->nfrozen - 1; i >= 0; i--) {
		v->mt[v->nmt++] = db->frozen[i];
		cvl_mt_ref(db->frozen[i]);
	}
	v->snap = atomic_load(&db->visible_lsn);
	*flushed = db->flushed_lsn;
	if (!rc) {
		atomic_fetch_add_explicit(&db->open_snaps, 1, memory_order_relaxed);
		v->snaps = &db->open_snaps;
	}
	pthread_mutex_unlock(&db->mtmu);
	if (rc)
		cvl_view_release(v);
	return rc;
}

/* The LSN the LMDB snapshot of `v` covers (meta/flushed_lsn). */
static uint64_t view_flushed(cvl_view *v)
{
	const uint8_t *val;
	size_t n;

	if (cvl_lmdb_get(v->lm, v->txn, CVL_T_META, "flushed_lsn", 11, &val, &n) || n != 8)
		return 0;
	return cvl_get_u64le(val);
}

int cvl_db_snapshot(convlog_db *db, cvl_view *v)
{
	uint64_t flushed;
	int rc;

	for (int tries = 0;; tries++) {
		if ((rc = take_snapshot(db, v, &flushed)) || !db->readonly)
			return rc;
		/* a read-only handle's overlay must match the LMDB state */
		if (view_flushed(v) == flushed)
			return 0;
		cvl_view_release(v);
		if (tries == 8)
			return cvl_err(CONVLOG_EIO, "the writer flushes faster than this read-only handle can follow");
		if ((rc = cvl_refresh_readonly(db)))
			return rc;
	}
}

int cvl_db_view(convlog_db **db, cvl_view *v)
{
	const cvl_scope *scope;
	int rc;

	if ((rc = cvl_db_enter(db, &scope)) || (rc = cvl_db_snapshot(*db, v)))
		return rc;
	v->scope = scope;
	return 0;
}

/* ---- creation ---- */

static int seg_file_cb(void *ud, const char *name)
{
	uint64_t id;

	if (cvl_seg_parse_name(name, &id) == 0) {
		*(int *)ud = 1;
		return 1;
	}
	return 0;
}

static int any_cb(void *ud, const char *name)
{
	(void)name;
	*(int *)ud = 1;
	return 1;
}

/* 1 if directory `p` has any entry (or cannot be read). */
static int has_any(const char *p)
{
	int found = 0;

	if (cvl_os_listdir(p, any_cb, &found) < 0)
		return 1;
	return found;
}

static int has_segments(convlog_db *db)
{
	int found = 0;

	if (cvl_os_listdir(db->seg_dir, seg_file_cb, &found) < 0)
		return 1; /* cannot tell: do not create */
	return found;
}

struct empty_ctx {
	convlog_db *db;
	int empty;
};

/* Counts entries other than an empty segments/ left by an interrupted
 * creation. */
static int dir_is_empty_cb(void *ud, const char *name)
{
	struct empty_ctx *e = ud;

	if (strcmp(name, "segments") == 0 && !has_any(e->db->seg_dir))
		return 0;
	e->empty = 0;
	return 1;
}

static int put_meta(MDB_txn *txn, convlog_db *db, const char *key, const void *v, size_t n)
{
	MDB_val k = {strlen(key), (void *)key}, d = {n, (void *)v};
	int mrc = mdb_put(txn, db->lm.dbi[CVL_T_META], &k, &d, 0);

	return mrc ? cvl_lmdb_err(mrc, "meta") : 0;
}

/* Writes the identity of a new store; no-op for an existing one. */
static int init_or_load_identity(convlog_db *db, int may_create)
{
	MDB_txn *txn;
	const uint8_t *v;
	size_t n;
	uint8_t b[8];
	int rc, mrc;

	if ((rc = cvl_lmdb_rtxn(&db->lm, &txn)))
		return rc;
	rc = cvl_lmdb_get(&db->lm, txn, CVL_T_META, "format", 6, &v, &n);
	if (rc == 0) {
		uint32_t ver = n == 4 ? cvl_get_u32le(v) : 0;
		if (ver < CVL_FORMAT_MIN || ver > CVL_FORMAT_VERSION) {
			cvl_lmdb_abort(txn);
			return cvl_err(CONVLOG_EVERSION,
				       "%s: store format version %u; this library (%s) reads versions %u to %u",
				       db->path, ver, CONVLOG_VERSION_STRING, CVL_FORMAT_MIN,
				       CVL_FORMAT_VERSION);
		}
		db->format = ver;
		if ((rc = cvl_lmdb_get(&db->lm, txn, CVL_T_META, "store_id", 8, &v, &n)) == 0 && n == 16)
			memcpy(db->store_id, v, 16);
		else if (!rc)
			rc = CONVLOG_ECORRUPT;
		if (!rc && (rc = cvl_lmdb_get(&db->lm, txn, CVL_T_META, "replica_id", 10, &v, &n)) == 0 &&
		    n == 8)
			db->replica_id = cvl_get_u64le(v);
		else if (!rc)
			rc = CONVLOG_ECORRUPT;
		cvl_lmdb_abort(txn);
		if (rc)
			return cvl_err(CONVLOG_ECORRUPT, "%s: store identity in meta/ is missing or malformed",
				       db->path);
		if (db->format < CVL_FORMAT_VERSION && !db->readonly) {
			/* version 2 adds record types and tables to version 1,
			 * version 3 compacted segments and seg_stats, version 4
			 * the sync records and tables: a writer
			 * upgrades the store on open (format-spec §12) */
			do {
				if ((rc = cvl_lmdb_wtxn(&db->lm, &txn)))
					return rc;
				cvl_put_u32le(b, CVL_FORMAT_VERSION);
				/* version 3 adds seg_stats: computed from msg here */
				if ((rc = put_meta(txn, db, "format", b, 4)) ||
				    (db->format < 3 && (rc = cvl_segstat_rebuild(&db->lm, txn))) ||
				    (db->format < 4 && (rc = cvl_sync_upgrade(&db->lm, txn)))) {
					cvl_lmdb_abort(txn);
					continue;
				}
				if ((mrc = cvl_lmdb_commit(txn)) != 0)
					rc = cvl_lmdb_err(mrc, "commit");
			} while (cvl_lmdb_again(&db->lm, &rc)); /* a small map */
			if (rc)
				return rc;
			cvl_db_log(db, CONVLOG_LOG_INFO, "%s: upgraded the store from format %u to %u", db->path,
				   db->format, CVL_FORMAT_VERSION);
			db->format = CVL_FORMAT_VERSION;
		}
		return 0;
	}
	cvl_lmdb_abort(txn);
	if (rc != CONVLOG_ENOTFOUND)
		return rc;
	if (!may_create || db->readonly)
		return cvl_err(CONVLOG_ENOTFOUND, "%s: not a convlog store (meta/ has no format record)",
			       db->path);
	if ((rc = cvl_os_random(db->store_id, 16)) || (rc = cvl_os_random(b, 8)))
		return rc;
	db->replica_id = cvl_get_u64le(b) | 1;
	if ((rc = cvl_lmdb_wtxn(&db->lm, &txn)))
		return rc;
	cvl_put_u32le(b, CVL_FORMAT_VERSION);
	db->format = CVL_FORMAT_VERSION;
	rc = put_meta(txn, db, "format", b, 4);
	if (!rc)
		rc = put_meta(txn, db, "store_id", db->store_id, 16);
	cvl_put_u64le(b, db->replica_id);
	if (!rc)
		rc = put_meta(txn, db, "replica_id", b, 8);
	cvl_put_u64le(b, (uint64_t)cvl_os_now_ms());
	if (!rc)
		rc = put_meta(txn, db, "created_at", b, 8);
	if (!rc)
		rc = put_meta(txn, db, "text_stem", db->opts.stem, strlen(db->opts.stem));
	cvl_put_u32le(b, CVL_ANALYZER_VERSION);
	if (!rc)
		rc = put_meta(txn, db, "text_analyzer", b, 4);
	if (rc) {
		cvl_lmdb_abort(txn);
		return rc;
	}
	mrc = cvl_lmdb_commit(txn);
	return mrc ? cvl_lmdb_err(mrc, "commit store identity") : 0;
}

/* Makes STORE, STORE/meta and STORE/segments; refuses a non-empty
 * directory that is not a store. */
static int prepare_dirs(convlog_db *db, int *may_create)
{
	char meta[CVL_PATH_MAX];
	int create = (db->opts.open_flags & CONVLOG_OPEN_CREATE) && !db->readonly;
	int rc;

	snprintf(meta, sizeof(meta), "%s/meta", db->path);
	*may_create = 0;
	if (cvl_os_exists(meta)) {
		/* a creation interrupted before the identity record was
		 * committed is finished, as long as no log was written */
		*may_create = create && !has_segments(db);
		return 0;
	}
	if (!create)
		return cvl_err(CONVLOG_ENOTFOUND, "%s: no convlog store here", db->path);
	if (cvl_os_exists(db->path)) {
		struct empty_ctx e = {db, 1};
		if ((rc = cvl_os_listdir(db->path, dir_is_empty_cb, &e)) < 0)
			return rc;
		if (!e.empty)
			return cvl_err(CONVLOG_EINVAL,
				       "%s exists, is not empty and is not a convlog store; refusing to create one there",
				       db->path);
	}
	/* meta/ last: its presence marks a store */
	if ((rc = cvl_os_mkdir(db->path)) || (rc = cvl_os_mkdir(db->seg_dir)) ||
	    (rc = cvl_os_fsync_dir(db->path)) || (rc = cvl_os_mkdir(meta)))
		return rc;
	*may_create = 1;
	return cvl_os_fsync_dir(db->path);
}

/* The store's analysis settings (meta/text_stem) and its analyzer. */
static int open_text(convlog_db *db)
{
	MDB_txn *txn;
	const uint8_t *v;
	size_t n = 0;
	int rc;

	if ((rc = cvl_lmdb_rtxn(&db->lm, &txn)))
		return rc;
	rc = cvl_lmdb_get(&db->lm, txn, CVL_T_META, "text_stem", 9, &v, &n);
	if (rc == 0 && n < sizeof(db->stem)) {
		memcpy(db->stem, v, n);
		db->stem[n] = 0;
	} else if (rc == 0) {
		rc = cvl_err(CONVLOG_ECORRUPT, "%s: meta/text_stem is malformed", db->path);
	} else if (rc == CONVLOG_ENOTFOUND) {
		rc = cvl_err(CONVLOG_ECORRUPT, "%s: meta/text_stem is missing", db->path);
	}
	if (!rc) {
		rc = cvl_lmdb_get(&db->lm, txn, CVL_T_META, "text_analyzer", 13, &v, &n);
		uint32_t ver = rc == 0 && n == 4 ? cvl_get_u32le(v) : 0;
		if (rc == 0 && ver != CVL_ANALYZER_VERSION)
			rc = cvl_err(CONVLOG_EVERSION,
				     "%s: the text index was built by analyzer version %u; this library "
				     "has version %u",
				     db->path, ver, CVL_ANALYZER_VERSION);
		else if (rc == CONVLOG_ENOTFOUND)
			rc = cvl_err(CONVLOG_ECORRUPT, "%s: meta/text_analyzer is missing", db->path);
	}
	cvl_lmdb_abort(txn);
	if (rc)
		return rc;
	if (db->opts.stem_set && strcmp(db->opts.stem, db->stem) != 0)
		return cvl_err(CONVLOG_EINVAL,
			       "%s: the store indexes text with stemming '%s', not '%s' (convlog reindex "
			       "--stemming changes it)",
			       db->path, *db->stem ? db->stem : "none",
			       *db->opts.stem ? db->opts.stem : "none");
	if ((rc = cvl_analyzer_new(db->stem, &db->an)))
		return cvl_err(rc == CONVLOG_EINVAL ? CONVLOG_ECORRUPT : rc,
			       "%s: the store's stemming language '%s' is unknown to this library",
			       db->path, db->stem);
	return 0;
}

static void db_free(convlog_db *db)
{
	cvl_text_close(db);
	cvl_analyzer_free(db->an);
	for (int i = 0; i < db->nan_pool; i++)
		cvl_analyzer_free(db->an_pool[i]);
	cvl_segs_close(db);
	cvl_lmdb_close(&db->lm);
	cvl_lmdb_fini(&db->lm);
	if (db->active)
		cvl_mt_unref(db->active);
	for (int i = 0; i < db->nfrozen; i++)
		cvl_mt_unref(db->frozen[i]);
	cvl_cache_free(db->cache);
	for (int i = 0; i < db->ndctx; i++)
		ZSTD_freeDCtx(db->dctx_pool[i]);
	ZSTD_freeCCtx(db->cctx);
	cvl_buf_free(&db->blockbuf);
	cvl_buf_free(&db->wrecs);
	if (db->wtext) {
		cvl_text_release(db->wtext);
		cvl_free(db->wtext);
	}
	cvl_os_close(db->lock_fd);
	cvl_os_close(db->readers_fd);
	pthread_rwlock_destroy(&db->seg_lock);
	pthread_mutex_destroy(&db->wmu);
	pthread_mutex_destroy(&db->mtmu);
	pthread_mutex_destroy(&db->flushmu);
	pthread_cond_destroy(&db->mtcond);
	pthread_mutex_destroy(&db->syncmu);
	pthread_cond_destroy(&db->synccond);
	pthread_mutex_destroy(&db->bgmu);
	pthread_mutex_destroy(&db->dctx_mu);
	pthread_mutex_destroy(&db->mergemu);
	pthread_mutex_destroy(&db->mgmu);
	pthread_mutex_destroy(&db->compactmu);
	db->magic = CVL_DB_POISON;
	cvl_free(db);
}

static int db_alloc(const char *path, const convlog_options *opts, convlog_db **out)
{
	convlog_db *db;
	convlog_options *defaults = NULL;
	int rc;

	db = cvl_calloc(1, sizeof(*db));
	if (!db)
		return cvl_err(CONVLOG_ENOMEM, "out of memory opening %s", path);
	if (!opts) {
		if ((rc = convlog_options_new(&defaults))) {
			cvl_free(db);
			return rc;
		}
		opts = defaults;
	}
	db->opts = *opts;
	convlog_options_free(defaults);
	db->readonly = (db->opts.open_flags & CONVLOG_OPEN_READONLY) != 0;
	db->lock_fd = -1;
	db->readers_fd = -1;
	db->active_fd = -1;
	snprintf(db->path, sizeof(db->path), "%s", path);
	snprintf(db->seg_dir, sizeof(db->seg_dir), "%s/segments", path);
	snprintf(db->idx_dir, sizeof(db->idx_dir), "%s/index", path);
	pthread_rwlock_init(&db->seg_lock, NULL);
	pthread_mutex_init(&db->wmu, NULL);
	pthread_mutex_init(&db->mtmu, NULL);
	pthread_mutex_init(&db->flushmu, NULL);
	pthread_cond_init(&db->mtcond, NULL);
	pthread_mutex_init(&db->syncmu, NULL);
	pthread_cond_init(&db->synccond, NULL);
	pthread_mutex_init(&db->bgmu, NULL);
	pthread_mutex_init(&db->dctx_mu, NULL);
	pthread_mutex_init(&db->mergemu, NULL);
	pthread_mutex_init(&db->mgmu, NULL);
	pthread_mutex_init(&db->compactmu, NULL);
	cvl_buf_init(&db->blockbuf, 0);
	cvl_buf_init(&db->wrecs, CONVLOG_MAX_TXN_BYTES);
	db->magic = CVL_DB_MAGIC;
	*out = db;
	return 0;
}

CONVLOG_API int convlog_open(const char *path, const convlog_options *opts, convlog_db **out)
{
	convlog_db *db = NULL;
	char p[CVL_PATH_MAX];
	int rc, may_create = 0;

	cvl_err_clear();
	if (!out)
		return cvl_err(CONVLOG_EINVAL, "open: out is NULL");
	*out = NULL;
	if (!path || !*path)
		return cvl_err(CONVLOG_EINVAL, "open: no path given");
	if (strlen(path) > CVL_PATH_MAX - 64)
		return cvl_err(CONVLOG_EINVAL, "open: path is too long");
	if (opts && opts->magic != CVL_OPTS_MAGIC)
		return cvl_err(CONVLOG_EINVAL, "open: options were not made by convlog_options_new");
	if ((rc = db_alloc(path, opts, &db)))
		return rc;
	if ((rc = prepare_dirs(db, &may_create)))
		goto fail;
	if (!db->readonly) {
		snprintf(p, sizeof(p), "%s/LOCK", path);
		if ((rc = cvl_os_lock(p, 1, &db->lock_fd)))
			goto fail;
		int rfd;
		snprintf(p, sizeof(p), "%s/readers", path);
		if ((rc = cvl_os_open(p, CVL_O_RDWR | CVL_O_CREATE, &rfd)))
			goto fail;
		cvl_os_close(rfd);
		/* an LMDB rewrite the compactor did not finish (format-spec §9.7) */
		static const char *const left[] = {"meta.compact/data.mdb", "meta.compact/lock.mdb"};
		for (int i = 0; i < 2; i++) {
			snprintf(p, sizeof(p), "%s/%s", path, left[i]);
			if (cvl_os_unlink(p) != 0)
				cvl_err_clear();
		}
		snprintf(p, sizeof(p), "%s/meta.compact", path);
		rmdir(p);
	}
	if (db->readonly) {
		/* the compactor swaps LMDB files only while no reader has them
		 * open (compact.c); a store on read-only media cannot change */
		snprintf(p, sizeof(p), "%s/readers", path);
		if (cvl_os_open(p, CVL_O_RDONLY, &db->readers_fd) == 0 &&
		    cvl_os_flock(db->readers_fd, 0, 1) != 0) {
			cvl_os_close(db->readers_fd);
			db->readers_fd = -1;
		}
		cvl_err_clear();
	}
	snprintf(p, sizeof(p), "%s/meta", path);
	if ((rc = cvl_lmdb_open(&db->lm, p, db->opts.map_size, db->readonly, CVL_FORMAT_MIN,
				CVL_FORMAT_VERSION)))
		goto fail;
	/* a process that died inside a read leaves its reader slot taken: it
	 * pins old pages (the map grows for nothing) and, enough of them,
	 * leave no slot for new reads */
	int dead = 0;
	if (!db->readonly && cvl_lmdb_reader_check(&db->lm, &dead) != 0)
		cvl_err_clear();
	if (dead > 0)
		cvl_db_log(db, CONVLOG_LOG_INFO, "%s: freed %d LMDB reader slot(s) of dead processes",
			   db->path, dead);
	if ((rc = init_or_load_identity(db, may_create)) || (rc = open_text(db)))
		goto fail;
	if ((rc = cvl_mt_new(&db->active)) || (rc = cvl_cache_new(db->opts.cache_size, &db->cache)))
		goto fail;
	if (!db->readonly && !(db->cctx = ZSTD_createCCtx())) {
		rc = cvl_err(CONVLOG_ENOMEM, "out of memory for zstd");
		goto fail;
	}
	if ((rc = cvl_recover(db)))
		goto fail;
	if (!db->readonly && (rc = cvl_bg_start(db)))
		goto fail;
	if (!db->readonly && (rc = cvl_mg_start(db))) {
		cvl_bg_stop(db);
		goto fail;
	}
	if (!db->readonly && (rc = cvl_cp_start(db))) {
		cvl_mg_stop(db);
		cvl_bg_stop(db);
		goto fail;
	}
	if (!db->readonly && atomic_load(&db->active->bytes) >= db->opts.memtable_size) {
		/* a long replayed tail goes to LMDB in the background */
		pthread_mutex_lock(&db->wmu);
		rc = cvl_rotate_locked(db);
		pthread_mutex_unlock(&db->wmu);
		if (rc) {
			cvl_cp_stop(db);
			cvl_mg_stop(db);
			cvl_bg_stop(db);
			goto fail;
		}
	}
	*out = db;
	cvl_err_clear(); /* recovery may have noted and handled problems */
	return 0;
fail:
	db_free(db);
	return rc;
}

CONVLOG_API void convlog_close(convlog_db *db)
{
	if (db && *(const uint32_t *)db == CVL_SCOPE_MAGIC) {
		cvl_scope_free((cvl_scoped *)(void *)db);
		return;
	}
	if (!db || db->magic != CVL_DB_MAGIC)
		return;
	cvl_cp_stop(db);
	cvl_mg_stop(db);
	cvl_bg_stop(db);
	if (!db->readonly && !atomic_load(&db->failed)) {
		pthread_mutex_lock(&db->wmu);
		pthread_mutex_lock(&db->mtmu);
		int room = db->nfrozen < CVL_FROZEN_MAX;
		pthread_mutex_unlock(&db->mtmu);
		if (!room)
			cvl_flush_frozen(db);
		if (cvl_rotate_locked(db) == 0 && cvl_flush_frozen(db) == 0) {
			pthread_mutex_lock(&db->syncmu);
			uint64_t w = db->written_lsn;
			pthread_mutex_unlock(&db->syncmu);
			/* a closed store's segments end with their last block */
			if (cvl_seg_trim_zeros(db) == 0)
				cvl_sync_to(db, w);
		}
		pthread_mutex_unlock(&db->wmu);
	}
	db_free(db);
}

CONVLOG_API int convlog_sync(convlog_db *db)
{
	uint64_t w;
	int rc;

	cvl_err_clear();
	if ((rc = cvl_db_check_write(db)))
		return rc;
	pthread_mutex_lock(&db->syncmu);
	w = db->written_lsn;
	pthread_mutex_unlock(&db->syncmu);
	return cvl_sync_to(db, w);
}

CONVLOG_API int convlog_checkpoint(convlog_db *db)
{
	int rc;

	cvl_err_clear();
	if ((rc = cvl_db_check_write(db)))
		return rc;
	/* frozen memtables first: with the list full (earlier flushes failed)
	 * the rotation would only report the old failure */
	if ((rc = cvl_flush_frozen(db)))
		return rc;
	pthread_mutex_lock(&db->wmu);
	rc = cvl_rotate_locked(db);
	pthread_mutex_unlock(&db->wmu);
	if (!rc)
		rc = cvl_flush_frozen(db);
	return rc;
}
