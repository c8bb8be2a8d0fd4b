/* The LMDB environment under STORE/meta and its named tables
 * (format-spec.md §7).  The only file that includes lmdb.h's error space. */
#ifndef CVL_META_LMDB_H
#define CVL_META_LMDB_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

enum cvl_table {
	CVL_T_META = 0,
	CVL_T_SEG,
	CVL_T_CONV,
	CVL_T_CSTAT,
	CVL_T_CEXT,
	CVL_T_MSG,
	CVL_T_MSGID,
	CVL_T_IX_ACT,
	CVL_T_IX_USER,
	CVL_T_IX_ORG,
	CVL_T_IX_SESSION,
	CVL_T_IX_STATUS,
	CVL_T_IX_TAG,
	CVL_T_IX_PARENT,
	CVL_T_IX_IROLE,
	CVL_T_IX_RROLE,
	CVL_T_IX_CREATED,
	CVL_T_IX_USER_CREATED,
	CVL_T_IX_ORG_CREATED,
	CVL_T_IX_SESSION_CREATED,
	CVL_T_MSG_CHILDREN,
	CVL_T_IX_DELETED,
	CVL_T_SEGSTAT, /* format 3: per-segment live bytes (absent before) */
	CVL_T_SYNC_CONV, /* format 4: per-conversation sync stamps */
	CVL_T_SYNC_FEED, /* format 4: change feed, (lsn, conv) -> kind */
	CVL_T_SYNC_TOMB, /* format 4: purge tombstones */
	CVL_T_SYNC_PEER, /* format 4: per-peer cursors */
	CVL_T_COUNT
};

/* Secondary indexes of conversations: CVL_T_IX_FIRST..CVL_T_IX_LAST. */
#define CVL_T_IX_FIRST CVL_T_IX_ACT
#define CVL_T_IX_LAST CVL_T_IX_SESSION_CREATED

typedef struct cvl_lmdb {
	MDB_env *env;
	MDB_dbi dbi[CVL_T_COUNT];
	int readonly;
	int has_segstat; /* a read-only handle on a format 2 store lacks it */
	int has_sync;    /* ... and one on a format 3 store the sync tables */
	uint64_t map_size; /* what the environment got (see cvl_lmdb_open) */
	char path[4096];
} cvl_lmdb;

const char *cvl_table_name(int t);

/* Whether table t is open (a read-only handle on an older store lacks the
 * tables later formats added). */
static inline int cvl_lmdb_has(const cvl_lmdb *lm, int t)
{
	return t == CVL_T_SEGSTAT ? lm->has_segstat : t >= CVL_T_SYNC_CONV ? lm->has_sync : 1;
}

/* Opens (creating when !readonly) the environment in directory `dir`.
 * The meta table's "format" record must lie in [format_lo, format_hi] before any
 * missing table is created: a store of another version is never touched
 * (CONVLOG_EVERSION). */
int cvl_lmdb_open(cvl_lmdb *lm, const char *dir, uint64_t map_size, int readonly,
		  uint32_t format_lo, uint32_t format_hi);
void cvl_lmdb_close(cvl_lmdb *lm);

/* Commits write transaction txn (mdb_txn_commit: the txn is gone either
 * way).  The test seam CVL_FAULT_META makes it abort instead and return
 * EIO or the injected errno, as a failed commit would. */
int cvl_lmdb_commit(MDB_txn *txn);
/* The oldest transaction id any live reader (any process) holds, or
 * UINT64_MAX when there is none. */
uint64_t cvl_lmdb_oldest_reader(cvl_lmdb *lm);

/* Translates an LMDB return code into CONVLOG_E* with a message. */
int cvl_lmdb_err(int mrc, const char *what);

int cvl_lmdb_rtxn(cvl_lmdb *lm, MDB_txn **txn);
int cvl_lmdb_wtxn(cvl_lmdb *lm, MDB_txn **txn);

/* Point read: 0, CONVLOG_ENOTFOUND or an error.  *val borrowed from txn. */
int cvl_lmdb_get(cvl_lmdb *lm, MDB_txn *txn, int table, const void *key, size_t klen,
		 const uint8_t **val, size_t *vlen);

#endif
