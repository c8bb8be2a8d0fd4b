#include <stdio.h>
#include <errno.h>
#include <string.h>

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

int cvl_lmdb_err(int mrc, const char *what)
{
	switch (mrc) {
	case 0:
		return 0;
	case MDB_NOTFOUND:
		return CONVLOG_ENOTFOUND;
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

int cvl_lmdb_open(cvl_lmdb *lm, const char *dir, uint64_t map_size, int readonly,
		  uint32_t format_lo, uint32_t format_hi)
{
	MDB_txn *txn = NULL;
	int mrc, rc;
	unsigned flags = MDB_NOTLS | (readonly ? MDB_RDONLY : 0);

	memset(lm, 0, sizeof(*lm));
	lm->readonly = readonly;
	snprintf(lm->path, sizeof(lm->path), "%s", dir);
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
	lm->map_size = map_size;
	if (mrc != 0) {
		rc = mrc == ENOENT ? cvl_err(CONVLOG_ENOTFOUND, "LMDB open %s: no such store", dir)
				   : cvl_lmdb_err(mrc, "open");
		goto fail;
	}
	if ((mrc = mdb_txn_begin(lm->env, NULL, readonly ? MDB_RDONLY : 0, &txn)) != 0) {
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
	if ((mrc = cvl_lmdb_commit(txn)) != 0) {
		txn = NULL;
		rc = cvl_lmdb_err(mrc, "commit");
		goto fail;
	}
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
	int e = cvl_os_fault_check(CVL_FAULT_META);

	if (e) {
		mdb_txn_abort(txn);
		return e;
	}
	return mdb_txn_commit(txn);
}

void cvl_lmdb_close(cvl_lmdb *lm)
{
	if (lm->env)
		mdb_env_close(lm->env);
	lm->env = NULL;
}

int cvl_lmdb_rtxn(cvl_lmdb *lm, MDB_txn **txn)
{
	int mrc = mdb_txn_begin(lm->env, NULL, MDB_RDONLY, txn);

	return mrc ? cvl_lmdb_err(mrc, "begin read transaction") : 0;
}

int cvl_lmdb_wtxn(cvl_lmdb *lm, MDB_txn **txn)
{
	int mrc = mdb_txn_begin(lm->env, NULL, 0, txn);

	return mrc ? cvl_lmdb_err(mrc, "begin write transaction") : 0;
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
