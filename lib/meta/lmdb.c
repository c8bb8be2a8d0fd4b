#include <stdio.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "convlog.h"
#include "meta/lmdb.h"
#include "os/os.h"
#include "util/codec.h"
#include "util/err.h"

static const char *table_names[CVL_T_COUNT] = {
	"meta", "segments", "conv", "conv_stats", "conv_external", "msg", "msg_id",
	"ix_activity", "ix_user", "ix_org", "ix_session", "ix_status", "ix_tag",
	"ix_parent", "ix_initiator_role", "ix_responder_role", "ix_created", "ix_user_created",
	"ix_org_created", "ix_session_created", "msg_children", "text_deleted", "seg_stats",
	"sync_conv", "sync_feed", "sync_tomb", "sync_peer",
};

const char *cvl_table_name(int t)
{
	return t >= 0 && t < CVL_T_COUNT ? table_names[t] : "?";
}

/* The calling thread's write transaction: the map it began in, and whether
 * it ran out of map (cvl_lmdb_err saw MDB_MAP_FULL) -- which LMDB reports
 * from whichever mdb_put, mdb_del or commit needed the page, through
 * callers that only pass the translated code on. */
static _Thread_local struct {
	int full;
	uint64_t map;
} wstate;

int cvl_lmdb_err(int mrc, const char *what)
{
	switch (mrc) {
	case 0:
		return 0;
	case MDB_NOTFOUND:
		return CONVLOG_ENOTFOUND;
	case MDB_MAP_FULL:
		wstate.full = 1;
		return cvl_err(CONVLOG_ENOSPC, "LMDB %s: the map is full (%s)", what, mdb_strerror(mrc));
	case MDB_READERS_FULL:
		return cvl_err(CONVLOG_EBUSY,
			       "LMDB %s: every reader slot is taken (open iterators, snapshots and "
			       "read-only handles each hold one); end some and retry",
			       what);
	case ENOMEM:
		return cvl_err(CONVLOG_ENOMEM, "LMDB %s: out of memory", what);
	case ENOSPC:
		return cvl_err(CONVLOG_ENOSPC, "LMDB %s: %s", what, mdb_strerror(mrc));
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_BAD_TXN:
		return cvl_err(CONVLOG_ECORRUPT, "LMDB %s: %s", what, mdb_strerror(mrc));
	case MDB_VERSION_MISMATCH:
		return cvl_err(CONVLOG_EVERSION, "LMDB %s: %s", what, mdb_strerror(mrc));
	case EACCES:
	case EROFS:
		return cvl_err(CONVLOG_EREADONLY, "LMDB %s: %s", what, mdb_strerror(mrc));
	default:
		return cvl_err(CONVLOG_EIO, "LMDB %s: %s", what, mdb_strerror(mrc));
	}
}

/* Reads meta/"format" if the meta table exists; 0 if absent. */
static int read_format(cvl_lmdb *lm, MDB_txn *txn, const char *dir, uint32_t lo, uint32_t hi)
{
	MDB_dbi dbi;
	MDB_val k = {6, "format"}, v;
	int mrc = mdb_dbi_open(txn, table_names[CVL_T_META], 0, &dbi);

	if (mrc == MDB_NOTFOUND)
		return 0;
	if (mrc)
		return cvl_lmdb_err(mrc, "dbi_open");
	mrc = mdb_get(txn, dbi, &k, &v);
	if (mrc == MDB_NOTFOUND)
		return 0;
	if (mrc)
		return cvl_lmdb_err(mrc, "meta");
	if (v.mv_size != 4)
		return cvl_err(CONVLOG_ECORRUPT, "%s: meta/format has %zu bytes, expected 4", dir,
			       v.mv_size);
	uint32_t ver = cvl_get_u32le(v.mv_data);
	if (ver < lo || ver > hi)
		return cvl_err(CONVLOG_EVERSION,
			       "%s: store format version %u; this library (%s) reads versions %u to %u",
			       dir, ver, CONVLOG_VERSION_STRING, lo, hi);
	return 0;
}

/* ---- the gate (see struct cvl_lmdb) ---- */

static void gate_init(struct cvl_lmdb_gate *g)
{
	pthread_condattr_t ca;

	if (g->ready)
		return;
	pthread_mutex_init(&g->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cond, &ca);
	pthread_condattr_destroy(&ca);
	g->ready = 1;
}

void cvl_lmdb_fini(cvl_lmdb *lm)
{
	if (!lm->gate.ready)
		return;
	pthread_cond_destroy(&lm->gate.cond);
	pthread_mutex_destroy(&lm->gate.mu);
	lm->gate.ready = 0;
}

/* Counts a transaction about to begin: 1, or 0 when the gate is closed and
 * `wait` says not to wait for it. */
static int gate_enter(cvl_lmdb *lm, int wait)
{
	struct cvl_lmdb_gate *g = &lm->gate;
	int in;

	pthread_mutex_lock(&g->mu);
	while (g->closed && wait)
		pthread_cond_wait(&g->cond, &g->mu);
	in = !g->closed;
	if (in)
		g->ntxn++;
	pthread_mutex_unlock(&g->mu);
	return in;
}

static void gate_leave(cvl_lmdb *lm)
{
	struct cvl_lmdb_gate *g = &lm->gate;

	pthread_mutex_lock(&g->mu);
	if (--g->ntxn == 0 && g->closed)
		pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->mu);
}

static int adopt(cvl_lmdb *lm, uint64_t seen);

int cvl_lmdb_gate_wait(cvl_lmdb *lm)
{
	struct cvl_lmdb_gate *g = &lm->gate;
	uint64_t seen = 0;
	int todo;

	pthread_mutex_lock(&g->mu);
	while (g->closed)
		pthread_cond_wait(&g->cond, &g->mu);
	todo = g->adopt;
	if (todo)
		seen = g->adopt_seen;
	g->adopt = 0;
	pthread_mutex_unlock(&g->mu);
	return todo ? adopt(lm, seen) : 0;
}

static void deadline_in(struct timespec *ts, uint32_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int cvl_lmdb_quiesce(cvl_lmdb *lm, uint32_t wait_ms)
{
	struct cvl_lmdb_gate *g = &lm->gate;
	struct timespec dl;
	int64_t open;
	int late = 0;

	deadline_in(&dl, wait_ms);
	pthread_mutex_lock(&g->mu);
	/* another resize (or the compactor's swap) has it */
	while (g->closed && !late)
		late = pthread_cond_timedwait(&g->cond, &g->mu, &dl) == ETIMEDOUT;
	if (g->closed) {
		pthread_mutex_unlock(&g->mu);
		return cvl_err(CONVLOG_EBUSY, "LMDB %s: another map resize is in progress", lm->path);
	}
	/* new transactions wait from here on, so the count can only fall */
	g->closed = 1;
	atomic_store(&g->wanted, 1);
	while (g->ntxn > 0 && !late)
		late = pthread_cond_timedwait(&g->cond, &g->mu, &dl) == ETIMEDOUT;
	atomic_store(&g->wanted, 0);
	open = g->ntxn;
	if (open > 0) {
		g->closed = 0;
		pthread_cond_broadcast(&g->cond);
	}
	pthread_mutex_unlock(&g->mu);
	if (open > 0)
		return cvl_err(CONVLOG_EBUSY,
			       "LMDB %s: %" PRId64 " transaction(s) of this process (iterators, "
			       "snapshots, transactions) stayed open for %u ms; the map can only be "
			       "resized without them, which is retried later",
			       lm->path, open, wait_ms);
	return 0;
}

void cvl_lmdb_resume(cvl_lmdb *lm)
{
	struct cvl_lmdb_gate *g = &lm->gate;

	pthread_mutex_lock(&g->mu);
	g->closed = 0;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->mu);
}

/* ---- opening ---- */

/* A map for a store whose data.mdb has `file` bytes: LMDB would raise a
 * smaller one to exactly the data, leaving the first write no room. */
static uint64_t room_for(uint64_t map_size, uint64_t file)
{
	if (file && map_size < file / 2 * 3) {
		uint64_t want = (file * 2 + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
		if (cvl_os_probe_map((size_t)want) == 0)
			return want;
	}
	return map_size;
}

int cvl_lmdb_open(cvl_lmdb *lm, const char *dir, uint64_t map_size, int readonly,
		  uint32_t format_lo, uint32_t format_hi)
{
	MDB_txn *txn = NULL;
	MDB_envinfo info;
	char data[4096 + 16];
	uint64_t file = 0;
	int mrc, rc, cleared = 0, resized = 0;
	unsigned flags = MDB_NOTLS | (readonly ? MDB_RDONLY : 0);

	/* the gate outlives the environment (see struct cvl_lmdb) */
	memset(lm, 0, offsetof(cvl_lmdb, gate));
	gate_init(&lm->gate);
	lm->readonly = readonly;
	lm->format_lo = format_lo;
	lm->format_hi = format_hi;
	snprintf(lm->path, sizeof(lm->path), "%s", dir);
	snprintf(data, sizeof(data), "%s/data.mdb", dir);
	if (cvl_os_path_size(data, &file) != 0)
		cvl_err_clear(); /* a new store */
	map_size = room_for(map_size, file);
	/* The map is address space, not disk; where the process may not
	 * reserve that much (ulimit -v, sanitizers, small address spaces),
	 * fall back to smaller maps down to 256 MiB. */
	for (;;) {
		if ((mrc = mdb_env_create(&lm->env)) != 0)
			return cvl_lmdb_err(mrc, "env_create");
		mdb_env_set_maxdbs(lm->env, CVL_T_COUNT + 8);
		mdb_env_set_maxreaders(lm->env, 1024);
		mdb_env_set_mapsize(lm->env, (size_t)map_size);
		mrc = mdb_env_open(lm->env, dir, flags, 0644);
		if (mrc != ENOMEM || map_size <= (256u << 20))
			break;
		mdb_env_close(lm->env);
		lm->env = NULL;
		map_size /= 8;
	}
	if (mrc != 0) {
		rc = mrc == ENOENT ? cvl_err(CONVLOG_ENOTFOUND, "LMDB open %s: no such store", dir)
				   : cvl_lmdb_err(mrc, "open");
		goto fail;
	}
	/* LMDB raises a map smaller than the data to the data's size */
	lm->map_size = mdb_env_info(lm->env, &info) == 0 ? info.me_mapsize : map_size;
	for (;;) {
		mrc = mdb_txn_begin(lm->env, NULL, readonly ? MDB_RDONLY : 0, &txn);
		if (mrc == MDB_READERS_FULL && !cleared++) {
			int dead = 0;
			if (mdb_reader_check(lm->env, &dead) == 0 && dead > 0)
				atomic_fetch_add(&lm->gate.stale_cleared, (uint64_t)dead);
			continue;
		}
		/* the writer grew the map between our open and this begin; no
		 * transaction is open yet, so it may be adopted right here */
		if (mrc == MDB_MAP_RESIZED && resized++ < 3) {
			if ((mrc = mdb_env_set_mapsize(lm->env, 0)) != 0)
				break; /* the map is gone: only closing is safe */
			if (mdb_env_info(lm->env, &info) == 0)
				lm->map_size = info.me_mapsize;
			continue;
		}
		break;
	}
	if (mrc) {
		txn = NULL;
		rc = cvl_lmdb_err(mrc, "begin");
		goto fail;
	}
	if ((rc = read_format(lm, txn, dir, format_lo, format_hi)))
		goto fail;
	for (int t = 0; t < CVL_T_COUNT; t++) {
		mrc = mdb_dbi_open(txn, table_names[t], readonly ? 0 : MDB_CREATE, &lm->dbi[t]);
		/* tables newer formats added: a read-only handle on an older
		 * store goes without them */
		int optional = t == CVL_T_SEGSTAT || t >= CVL_T_SYNC_CONV;
		if (mrc == MDB_NOTFOUND && optional) {
			lm->dbi[t] = 0;
			continue;
		}
		if (t == CVL_T_SEGSTAT && !mrc)
			lm->has_segstat = 1;
		if (t == CVL_T_SYNC_CONV && !mrc)
			lm->has_sync = 1;
		if (mrc) {
			rc = mrc == MDB_NOTFOUND
				     ? cvl_err(CONVLOG_ECORRUPT, "LMDB %s: table %s is missing", dir,
					       table_names[t])
				     : cvl_lmdb_err(mrc, "dbi_open");
			goto fail;
		}
	}
	/* (the environment has no user context yet: this commit is not
	 * counted at the gate, as its begin was not) */
	if ((mrc = cvl_lmdb_commit(txn)) != 0) {
		txn = NULL;
		rc = cvl_lmdb_err(mrc, "commit");
		goto fail;
	}
	mdb_env_set_userctx(lm->env, lm);
	return 0;
fail:
	if (txn)
		mdb_txn_abort(txn);
	mdb_env_close(lm->env);
	lm->env = NULL;
	return rc;
}

int cvl_lmdb_commit(MDB_txn *txn)
{
	cvl_lmdb *lm = mdb_env_get_userctx(mdb_txn_env(txn));
	int e = cvl_os_fault_check(CVL_FAULT_META), mrc;

	if (e) {
		mdb_txn_abort(txn);
		mrc = e;
	} else {
		mrc = mdb_txn_commit(txn);
	}
	if (lm)
		gate_leave(lm);
	if (mrc == MDB_MAP_FULL)
		wstate.full = 1;
	return mrc;
}

void cvl_lmdb_abort(MDB_txn *txn)
{
	cvl_lmdb *lm;

	if (!txn)
		return;
	lm = mdb_env_get_userctx(mdb_txn_env(txn));
	mdb_txn_abort(txn);
	if (lm)
		gate_leave(lm);
}

void cvl_lmdb_close(cvl_lmdb *lm)
{
	if (lm->env)
		mdb_env_close(lm->env);
	lm->env = NULL;
}

/* ---- resizing (the gate closed, no transaction of this process open) ---- */

/* The environment after a remap failed: LMDB had already dropped the old
 * map, so it is opened again at the size it had. */
static int reopen_locked(cvl_lmdb *lm, int mrc)
{
	char dir[sizeof(lm->path)];
	uint64_t keep = lm->map_size;
	int rc;

	snprintf(dir, sizeof(dir), "%s", lm->path);
	cvl_lmdb_close(lm);
	rc = cvl_lmdb_open(lm, dir, keep, lm->readonly, lm->format_lo, lm->format_hi);
	if (rc) {
		lm->broken = rc;
		return cvl_err(rc, "LMDB %s: replacing the map failed (%s) and so did reopening it",
			       dir, mdb_strerror(mrc));
	}
	return cvl_err(mrc == ENOMEM ? CONVLOG_ENOMEM : CONVLOG_EIO, "LMDB %s: replacing the map failed: %s",
		       dir, mdb_strerror(mrc));
}

/* Remaps to `size` (0: the size the newest meta page records). */
static int remap_locked(cvl_lmdb *lm, uint64_t size)
{
	MDB_envinfo info;
	int mrc = mdb_env_set_mapsize(lm->env, (size_t)size);

	if (mrc == EINVAL) /* refused before touching the map */
		return cvl_err(CONVLOG_EIO, "LMDB %s: the map cannot be resized now", lm->path);
	if (mrc)
		return reopen_locked(lm, mrc);
	if (mdb_env_info(lm->env, &info) == 0)
		lm->map_size = info.me_mapsize;
	atomic_fetch_add(&lm->gate.grows, 1);
	return 0;
}

/* The largest step up from map size `cur` the address space allows, at
 * least to `need`: the map doubles, or grows by 1/2, 1/4 ... 1/16 of it
 * (at least 64 KiB).  A probe holds the new range while the old map is
 * still there, so it errs on the small side. */
static int grow_size(cvl_lmdb *lm, uint64_t cur, uint64_t need, uint64_t *out)
{
	uint64_t max = CVL_LMDB_MAP_MAX < SIZE_MAX ? CVL_LMDB_MAP_MAX : SIZE_MAX;

	if (cur >= max)
		return cvl_err(CONVLOG_ENOSPC, "LMDB %s: the map reached its maximum of %" PRIu64
			       " bytes", lm->path, max);
	for (int shift = 0; shift <= 4; shift++) {
		uint64_t step = cur >> shift, size;
		if (step < (64u << 10))
			step = 64u << 10;
		size = cur + step > need ? cur + step : need;
		size = (size + (64u << 10) - 1) & ~(uint64_t)((64u << 10) - 1); /* whole pages */
		if (size > max)
			size = max;
		if (size > cur && cvl_os_probe_map((size_t)size) == 0) {
			*out = size;
			return 0;
		}
	}
	return cvl_err(CONVLOG_ENOMEM,
		       "LMDB %s: the map (%" PRIu64 " bytes) is full and the address space has no "
		       "room for a larger one",
		       lm->path, cur);
}

/* Grows the map past `seen` (the size a write found full) and to at least
 * `need`, waiting up to wait_ms for this process's transactions. */
static int grow(cvl_lmdb *lm, uint64_t seen, uint64_t need, uint32_t wait_ms)
{
	uint64_t size = 0;
	int rc;

	if ((rc = cvl_lmdb_quiesce(lm, wait_ms)))
		return rc;
	if (lm->broken)
		rc = lm->broken;
	else if (lm->map_size > seen && lm->map_size >= need)
		rc = 0; /* another thread grew it meanwhile */
	else if (!(rc = grow_size(lm, lm->map_size, need, &size)))
		rc = remap_locked(lm, size);
	cvl_lmdb_resume(lm);
	return rc;
}

int cvl_lmdb_again(cvl_lmdb *lm, int *rc)
{
	int full = wstate.full, g;

	wstate.full = 0;
	if (!*rc || !full)
		return 0;
	if ((g = grow(lm, wstate.map, 0, CVL_LMDB_QUIESCE_MS))) {
		*rc = g;
		return 0;
	}
	atomic_fetch_add(&lm->gate.full_retries, 1);
	cvl_err_clear();
	return 1;
}

void cvl_lmdb_make_room(cvl_lmdb *lm, uint64_t bytes)
{
	MDB_envinfo info;
	MDB_stat st;
	uint64_t map, used;
	int ok;

	if (lm->readonly || !gate_enter(lm, 1))
		return;
	/* both read the meta pages: inside the gate, the map stays put */
	ok = !lm->broken && !mdb_env_info(lm->env, &info) && !mdb_env_stat(lm->env, &st);
	map = lm->map_size;
	gate_leave(lm);
	if (!ok)
		return;
	used = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
	if (used + bytes <= map)
		return;
	/* brief: readers that stay are the MDB_MAP_FULL path's to wait for */
	if (grow(lm, map, used + bytes, 50) != 0)
		cvl_err_clear();
}

/* The writer grew the map past what this handle maps (MDB_MAP_RESIZED):
 * takes its size, unless another thread did since `seen`. */
static int adopt(cvl_lmdb *lm, uint64_t seen)
{
	int rc;

	if ((rc = cvl_lmdb_quiesce(lm, CVL_LMDB_QUIESCE_MS)))
		return rc;
	if (lm->broken)
		rc = lm->broken;
	else if (lm->map_size == seen)
		rc = remap_locked(lm, 0);
	cvl_lmdb_resume(lm);
	return rc;
}

/* ---- transactions ---- */

static int rbegin(cvl_lmdb *lm, MDB_txn **txn, int wait)
{
	int mrc, cleared = 0, resized = 0;

	*txn = NULL;
	for (;;) {
		if (!gate_enter(lm, wait))
			return CVL_LMDB_GATED;
		if (lm->broken) {
			gate_leave(lm);
			return cvl_err(lm->broken, "LMDB %s: the environment was lost; reopen the store",
				       lm->path);
		}
		mrc = mdb_txn_begin(lm->env, NULL, MDB_RDONLY, txn);
		if (!mrc)
			return 0;
		*txn = NULL;
		if (mrc == MDB_READERS_FULL && !cleared++) {
			/* slots of processes that died inside a read stay taken
			 * until someone checks; then try once more */
			int dead = 0;
			if (mdb_reader_check(lm->env, &dead) == 0 && dead > 0)
				atomic_fetch_add(&lm->gate.stale_cleared, (uint64_t)dead);
			gate_leave(lm);
			continue;
		}
		if (mrc == MDB_MAP_RESIZED && resized++ < 3) {
			uint64_t seen = lm->map_size;
			int rc;
			gate_leave(lm);
			if (!wait) {
				/* adopting waits for the other readers: not
				 * with the caller's lock (cvl_lmdb_gate_wait) */
				pthread_mutex_lock(&lm->gate.mu);
				lm->gate.adopt = 1;
				lm->gate.adopt_seen = seen;
				pthread_mutex_unlock(&lm->gate.mu);
				return CVL_LMDB_GATED;
			}
			if ((rc = adopt(lm, seen)))
				return rc;
			continue;
		}
		gate_leave(lm);
		break;
	}
	if (mrc == MDB_READERS_FULL) {
		unsigned max = 0;
		mdb_env_get_maxreaders(lm->env, &max);
		return cvl_err(CONVLOG_EBUSY,
			       "LMDB %s: all %u reader slots are taken (each open iterator, snapshot and "
			       "read of a read-only handle holds one) and no dead process held any; end "
			       "some and retry",
			       lm->path, max);
	}
	return cvl_lmdb_err(mrc, "begin read transaction");
}

int cvl_lmdb_rtxn(cvl_lmdb *lm, MDB_txn **txn)
{
	return rbegin(lm, txn, 1);
}

int cvl_lmdb_rtxn_try(cvl_lmdb *lm, MDB_txn **txn)
{
	return rbegin(lm, txn, 0);
}

int cvl_lmdb_wtxn(cvl_lmdb *lm, MDB_txn **txn)
{
	int mrc;

	*txn = NULL;
	gate_enter(lm, 1);
	if (lm->broken) {
		gate_leave(lm);
		return cvl_err(lm->broken, "LMDB %s: the environment was lost; reopen the store",
			       lm->path);
	}
	wstate.full = 0;
	wstate.map = lm->map_size;
	if ((mrc = mdb_txn_begin(lm->env, NULL, 0, txn)) != 0) {
		*txn = NULL;
		gate_leave(lm);
		return cvl_lmdb_err(mrc, "begin write transaction");
	}
	return 0;
}

int cvl_lmdb_reader_check(cvl_lmdb *lm, int *dead)
{
	int mrc;

	*dead = 0;
	if ((mrc = mdb_reader_check(lm->env, dead)) != 0)
		return cvl_lmdb_err(mrc, "reader check");
	if (*dead > 0)
		atomic_fetch_add(&lm->gate.stale_cleared, (uint64_t)*dead);
	return 0;
}

int cvl_lmdb_get(cvl_lmdb *lm, MDB_txn *txn, int table, const void *key, size_t klen,
		 const uint8_t **val, size_t *vlen)
{
	MDB_val k = {klen, (void *)key}, v;
	int mrc = mdb_get(txn, lm->dbi[table], &k, &v);

	if (mrc == MDB_NOTFOUND)
		return CONVLOG_ENOTFOUND;
	if (mrc)
		return cvl_lmdb_err(mrc, table_names[table]);
	*val = v.mv_data;
	*vlen = v.mv_size;
	return 0;
}

static int reader_line(const char *msg, void *ctx)
{
	uint64_t *oldest = ctx;
	int pid;
	size_t tid;
	unsigned long long txn;

	/* NOLINTNEXTLINE(cert-err34-c): numbers LMDB printed from these very types */
	if (sscanf(msg, "%d %zx %llu", &pid, &tid, &txn) == 3 && txn < *oldest)
		*oldest = txn;
	return 0;
}

uint64_t cvl_lmdb_oldest_reader(cvl_lmdb *lm)
{
	uint64_t oldest = UINT64_MAX;

	if (mdb_reader_list(lm->env, reader_line, &oldest) < 0)
		return 0;
	return oldest;
}
