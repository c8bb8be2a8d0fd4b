/* The LMDB environment under STORE/meta and its named tables
 * (format-spec.md §7).  The only file that includes lmdb.h's error space. */
#ifndef CVL_META_LMDB_H
#define CVL_META_LMDB_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
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
	uint64_t map_size; /* the map now (cvl_lmdb_open, then every growth) */
	char path[4096];
	uint32_t format_lo, format_hi; /* for a reopen after a failed remap */
	int broken; /* a failed remap lost the environment: every begin fails */

	/* ---- kept across cvl_lmdb_close/cvl_lmdb_open (the compactor's
	 * environment swap reopens a live handle) ----
	 * LMDB may remap (mdb_env_set_mapsize) only while this process has no
	 * transaction open: every transaction of the handle begins at this
	 * gate and is counted until cvl_lmdb_abort or cvl_lmdb_commit ends
	 * it.  A resize closes the gate, waits (bounded) for the count to
	 * reach 0, remaps and opens it again. */
	struct cvl_lmdb_gate {
		pthread_mutex_t mu;
		pthread_cond_t cond;
		int ready;
		int closed;       /* quiesced or draining: new transactions wait */
		int adopt;        /* a try-begin met MDB_MAP_RESIZED ... */
		uint64_t adopt_seen; /* ... with this map: the next gate wait adopts */
		int64_t ntxn;     /* transactions begun and not yet ended */
		_Atomic int wanted; /* a resize drains: long readers should yield */
		_Atomic uint64_t grows; /* map growths (or adoptions) so far */
		_Atomic uint64_t full_retries; /* writes run again after MDB_MAP_FULL */
		_Atomic uint64_t stale_cleared; /* dead processes' reader slots freed */
	} gate;
} cvl_lmdb;

/* How long a resize waits for this process's transactions to end before it
 * gives up with CONVLOG_EBUSY (the next attempt tries again). */
#define CVL_LMDB_QUIESCE_MS 1000
/* The largest map a growth asks for (the map_size option's maximum). */
#define CVL_LMDB_MAP_MAX (16ull << 40)

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
/* Closes the environment; the gate stays (cvl_lmdb_fini frees it). */
void cvl_lmdb_close(cvl_lmdb *lm);
void cvl_lmdb_fini(cvl_lmdb *lm);

/*
 * Transactions.  Every transaction on lm->env begins with cvl_lmdb_rtxn or
 * cvl_lmdb_wtxn and ends with cvl_lmdb_abort or cvl_lmdb_commit, never
 * mdb_txn_begin/abort/commit: the gate above counts them, and a count that
 * never drains keeps the map from growing.
 *
 * A read begin retries once after clearing dead processes' reader slots
 * (MDB_READERS_FULL; CONVLOG_EBUSY when they stay exhausted) and adopts a
 * map the writer grew (MDB_MAP_RESIZED).
 */
int cvl_lmdb_rtxn(cvl_lmdb *lm, MDB_txn **txn);
/* The same, but returns CVL_LMDB_GATED (positive) at once instead of
 * waiting while a resize holds the gate, or instead of adopting a map the
 * writer grew: for callers that hold a lock a transaction's owner may need
 * before it can end.  They drop it, call cvl_lmdb_gate_wait (which waits,
 * or adopts the map: 0 or its error) and try again. */
#define CVL_LMDB_GATED 1
int cvl_lmdb_rtxn_try(cvl_lmdb *lm, MDB_txn **txn);
int cvl_lmdb_gate_wait(cvl_lmdb *lm);
/* Begins a write transaction and notes, for cvl_lmdb_again, the map it
 * runs in. */
int cvl_lmdb_wtxn(cvl_lmdb *lm, MDB_txn **txn);
/* Ends a transaction (NULL: nothing). */
void cvl_lmdb_abort(MDB_txn *txn);
/* Commits write transaction txn (mdb_txn_commit: the txn is gone either
 * way).  The test seam CVL_FAULT_META makes it abort instead and return
 * EIO or the injected errno, as a failed commit would. */
int cvl_lmdb_commit(MDB_txn *txn);

/*
 * Map growth.  After a write transaction failed (and was ended) with *rc:
 * when the cause was MDB_MAP_FULL, grows the map (doubling, less when the
 * address space is short) and returns 1: run the transaction again.
 * Otherwise 0 with *rc unchanged, or 0 with *rc the growth's error
 * (CONVLOG_EBUSY: this process's readers did not finish in time;
 * CONVLOG_ENOMEM: no address space for a larger map).  The caller must
 * hold no transaction of lm.  Usage:
 *	do { begin; ...; commit-or-abort; } while (cvl_lmdb_again(lm, &rc));
 */
int cvl_lmdb_again(cvl_lmdb *lm, int *rc);
/* Grows the map ahead of a write of about `bytes` when the room left is
 * short, waiting only briefly for readers; failures are left to the
 * MDB_MAP_FULL path. */
void cvl_lmdb_make_room(cvl_lmdb *lm, uint64_t bytes);
/* A resize waits for readers: a long reader should end its transaction
 * and begin a new one (which waits until the resize is done). */
static inline int cvl_lmdb_wanted(cvl_lmdb *lm)
{
	return atomic_load_explicit(&lm->gate.wanted, memory_order_relaxed);
}

/* Closes the gate once no transaction of this process is open, waiting up
 * to wait_ms: 0 (then cvl_lmdb_resume) or CONVLOG_EBUSY. */
int cvl_lmdb_quiesce(cvl_lmdb *lm, uint32_t wait_ms);
void cvl_lmdb_resume(cvl_lmdb *lm);

/* Frees the reader slots of processes that died with a read open
 * (mdb_reader_check); *dead gets how many. */
int cvl_lmdb_reader_check(cvl_lmdb *lm, int *dead);
/* The oldest transaction id any live reader (any process) holds, or
 * UINT64_MAX when there is none. */
uint64_t cvl_lmdb_oldest_reader(cvl_lmdb *lm);

/* Translates an LMDB return code into CONVLOG_E* with a message. */
int cvl_lmdb_err(int mrc, const char *what);

/* Point read: 0, CONVLOG_ENOTFOUND or an error.  *val borrowed from txn. */
int cvl_lmdb_get(cvl_lmdb *lm, MDB_txn *txn, int table, const void *key, size_t klen,
		 const uint8_t **val, size_t *vlen);

#endif
