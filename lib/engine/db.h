/* The store handle and the engine's internal interfaces. */
#ifndef CVL_ENGINE_DB_H
#define CVL_ENGINE_DB_H

#include <pthread.h>
#include <sys/types.h>
#include <stdatomic.h>
#include <zstd.h>

#include "convlog.h"
#include "log/cache.h"
#include "meta/lmdb.h"
#include "meta/memtable.h"
#include "meta/view.h"
#include "meta/wset.h"
#include "meta/keys.h"
#include "engine/syncst.h"
#include "model/msg.h"
#include "util/buf.h"
#include "util/htab.h"

struct cvl_analyzer;
struct cvl_iseg;
struct cvl_memidx;

#define CVL_DB_MAGIC 0x43564c44u   /* "CVLD" */
#define CVL_DB_POISON 0xdeadbeefu
#define CVL_FORMAT_VERSION 4 /* written by this library */
#define CVL_FORMAT_MIN 1     /* oldest it opens (a writer upgrades it) */
#define CVL_FROZEN_MAX 2
#define CVL_PATH_MAX 4096

struct convlog_options {
	uint32_t magic;
	int durability;
	uint32_t sync_interval_ms;
	unsigned open_flags;
	uint64_t segment_size;
	uint64_t memtable_size;
	uint32_t flush_interval_ms;
	uint64_t cache_size;
	uint32_t frame_size;
	int level;
	uint32_t max_content;
	uint64_t map_size;
	convlog_log_fn log;
	void *log_ud;
	convlog_lifecycle life; /* lifecycle policies (all 0: none) */
	uint32_t compact_interval_ms; /* background compactor period; 0 = off */
	uint64_t compact_io_bps;      /* its write budget; 0 = unlimited */
	char stem[32]; /* stemming language for a new store; "" = none */
	int stem_set;  /* set explicitly: must match an existing store */
};

#define CVL_OPTS_MAGIC 0x4356504fu

typedef struct cvl_segfile {
	uint64_t id;
	int fd;
	uint64_t size;  /* bytes of valid blocks (writer: end of log) */
	uint32_t flags; /* CVL_SEGF_* from the header */
	uint64_t gone_txn; /* retired: LMDB txn id that dropped it */
} cvl_segfile;

/* A loaded decompression dictionary. */
typedef struct cvl_ddict_ent {
	uint32_t id;
	ZSTD_DDict *dd;
} cvl_ddict_ent;

/* Store-wide counters kept in meta/"counters". */
typedef struct cvl_counters {
	int64_t conversations, deleted, messages, content_bytes;
} cvl_counters;

struct convlog_db {
	uint32_t magic;
	struct convlog_options opts;
	int readonly;
	uint32_t format; /* meta/format of the store */
	char path[CVL_PATH_MAX];
	char seg_dir[CVL_PATH_MAX];
	int lock_fd;
	int readers_fd; /* read-only handles: shared flock on STORE/readers */
	cvl_lmdb lm;
	uint8_t store_id[16];
	uint64_t replica_id;

	/* segment files (ids ascending) */
	pthread_rwlock_t seg_lock;
	cvl_segfile *segs;
	size_t nsegs, segcap;
	/* compacted away: unlinked, fds kept until no reader predates them */
	cvl_segfile *retired;
	size_t nretired, retcap;
	uint64_t seg_next; /* next segment id (log or compacted; wmu) */
	pthread_mutex_t compactmu; /* one compaction at a time */
	cvl_ddict_ent *ddicts; /* under dctx_mu */
	size_t nddicts;

	/* writer: everything below wmu is touched only with wmu held */
	pthread_mutex_t wmu;
	uint64_t next_lsn;
	_Atomic uint64_t hlc;
	uint64_t active_seg;
	int active_fd;
	uint64_t active_end;
	uint64_t zero_end; /* the active segment is zero-filled up to here */
	ZSTD_CCtx *cctx;
	cvl_buf blockbuf;
	/* scratch a transaction borrows while it holds wmu (kept warm) */
	cvl_buf wrecs;
	struct cvl_text *wtext;

	/* memtables */
	pthread_mutex_t mtmu;
	pthread_mutex_t flushmu; /* one flush at a time */
	pthread_cond_t mtcond;
	cvl_memtable *active;
	cvl_memtable *frozen[CVL_FROZEN_MAX]; /* oldest first */
	int nfrozen;
	_Atomic uint64_t visible_lsn;
	uint64_t flushed_lsn;
	int flush_error;

	/* durability */
	pthread_mutex_t syncmu;
	pthread_cond_t synccond;
	uint64_t written_lsn, synced_lsn;
	int sync_running;
	int sync_fd;
	_Atomic int failed; /* first fatal error code; handle refuses writes */

	/* background thread (flush, periodic sync, age rotation) */
	pthread_t bg;
	int bg_started;
	int bg_stop;
	pthread_mutex_t bgmu;
	pthread_cond_t bgcond;

	/* reads */
	cvl_cache *cache;
	pthread_mutex_t dctx_mu;
	ZSTD_DCtx *dctx_pool[8];
	int ndctx;

	/* full-text index */
	struct cvl_analyzer *an; /* writer and replay only */
	char stem[32];           /* stemming language, "" for none */
	char idx_dir[CVL_PATH_MAX];
	struct cvl_iseg **isegs; /* registered index segments (under mtmu) */
	int nisegs, isegcap;
	_Atomic uint64_t iseg_next; /* next segment id */
	pthread_mutex_t mergemu; /* one merge or reindex at a time */
	/* an index segment the list names could not be opened: its id + 1
	 * (0 = none).  Searches fail and merges wait until a reindex. */
	_Atomic uint64_t text_damaged;
	pthread_t mg;            /* the merge thread (writer) */
	int mg_started;
	_Atomic int mg_stop;
	pthread_mutex_t mgmu;
	pthread_cond_t mgcond;
	int mg_kicked;
	/* background compactor and lifecycle sweeper */
	pthread_t cp;
	int cp_started;
	_Atomic int cp_stop;
	pthread_mutex_t cpmu;
	pthread_cond_t cpcond;
	_Atomic uint64_t n_compactions;
	struct cvl_analyzer *an_pool[4]; /* for searches (under dctx_mu) */
	int nan_pool;

	/* snapshots (cvl_db_snapshot) whose LMDB read transaction has not
	 * fully ended: the compactor's environment swap waits for 0 */
	_Atomic int64_t open_snaps;

	/* stats */
	_Atomic uint64_t n_commits, n_syncs, n_flushes;
	uint64_t recovered_blocks, truncated_bytes;
};

/* ---- handle checks ---- */
int cvl_db_check(convlog_db *db);         /* magic + not failed (reads ok if failed) */
int cvl_db_check_write(convlog_db *db);   /* plus writable, not failed */

/* ---- scoped handles (convlog_scope_open) ----
 * A scoped handle is a small object behind a convlog_db pointer: only its
 * first member, the magic, is shared with struct convlog_db.  Calls that
 * support scopes resolve it with cvl_db_enter*, which hands back the store
 * handle and the scope; cvl_db_check* refuse it (CONVLOG_ESCOPE), so a call
 * that was never taught about scopes cannot leak another user's data. */
typedef struct cvl_scope {
	char *org_id;  /* NULL: any org */
	char *user_id; /* NULL: any user */
} cvl_scope;

#define CVL_SCOPE_MAGIC 0x43565343u /* "CVSC" */

typedef struct cvl_scoped {
	uint32_t magic;
	convlog_db *base;
	cvl_scope scope;
} cvl_scoped;

/* Whether conversation c lies in scope s (NULL s: everything does). */
int cvl_scope_covers(const cvl_scope *s, const convlog_conv *c);
/* A CONVLOG_ENOTFOUND error for a conversation the scope hides. */
int cvl_scope_hidden(const convlog_uuid *id);
/* *db: store or scoped handle in, store handle out; *scope: the scope or
 * NULL.  The checks of cvl_db_check / cvl_db_check_write. */
int cvl_db_enter(convlog_db **db, const cvl_scope **scope);
int cvl_db_enter_write(convlog_db **db, const cvl_scope **scope);
/* cvl_db_enter, then a snapshot that sees only the scope. */
int cvl_db_view(convlog_db **db, cvl_view *v);
/* Frees a scoped handle (convlog_close). */
void cvl_scope_free(cvl_scoped *h);
void cvl_db_log(convlog_db *db, int level, const char *fmt, ...);
void cvl_db_fail(convlog_db *db, int rc);

/* ---- snapshots ---- */
int cvl_db_snapshot(convlog_db *db, cvl_view *v);

/* ---- segments ---- */
/* Cuts the active segment's zero-filled tail (writer, wmu held). */
int cvl_seg_trim_zeros(convlog_db *db);
/* The fd of segment `seg`; opens a segment created since this handle
 * listed the directory (the compactor's).  CONVLOG_ENOTFOUND if absent. */
int cvl_seg_fd(convlog_db *db, uint32_t seg, int *fd);
/* The same among the segments already open (live or retired). */
int cvl_seg_lookup(convlog_db *db, uint32_t seg, int *fd);
int cvl_segs_add(convlog_db *db, uint64_t id, int fd, uint64_t size, uint32_t flags);
void cvl_segs_close(convlog_db *db);
/* Moves segment `id` to the retired list (seg_lock taken). */
int cvl_segs_retire(convlog_db *db, uint64_t id, uint64_t txn_id);
/* Closes retired segments no LMDB reader can still need. */
void cvl_segs_reap(convlog_db *db);
/* The newest log (not compacted) segment's index in db->segs, or -1. */
ssize_t cvl_segs_last_log(convlog_db *db);
/* A new segment id (never reused: meta/seg_next survives compaction). */
int cvl_seg_alloc_id(convlog_db *db, uint64_t *id);
/* Seals the active segment and starts a new one (wmu held). */
int cvl_seg_roll_locked(convlog_db *db);
/* The decompression dictionary with id `id` (cvl_ddict_fn for db). */
const ZSTD_DDict *cvl_db_ddict(void *db, uint32_t id);

/* ---- reading records ---- */
ZSTD_DCtx *cvl_dctx_get(convlog_db *db);
void cvl_dctx_put(convlog_db *db, ZSTD_DCtx *d);
/* The frame at loc, from the cache or the segment (cvl_cache_release). */
int cvl_frame_get(convlog_db *db, const cvl_loc *loc, cvl_frame **out);
/* Reads and decodes the message version at `loc`; checks it is
 * (conv, seq). */
int cvl_read_msg(convlog_db *db, const cvl_loc *loc, const convlog_uuid *conv,
		 uint32_t seq, convlog_msg **out);
/* What sync needs beside a message version: its record's type and LSN and
 * the message's creation and version stamps. */
typedef struct cvl_msg_info {
	uint8_t type;
	uint64_t lsn;
	cvl_stamp born, ver;
} cvl_msg_info;
struct cvl_record;
void cvl_msg_info_of(const struct cvl_record *r, cvl_msg_info *info);
/* cvl_read_msg, also filling *info when not NULL. */
int cvl_read_msgx(convlog_db *db, const cvl_loc *loc, const convlog_uuid *conv,
		  uint32_t seq, convlog_msg **out, cvl_msg_info *info);

/* ---- conversation state inside an apply context ---- */
typedef struct cvl_cstate {
	cvl_hnode hn;
	struct cvl_cstate *next_all;
	convlog_uuid id;
	convlog_conv *orig;  /* state before this context (NULL if new) */
	convlog_conv *cur;   /* current state (packed; NULL once purged) */
	cvl_ikeys orig_keys;
	int dirty_static, dirty_hot;
	/* sync state (format 4): loaded with the conversation */
	cvl_sync_conv sy;
	int sy_exists;  /* sync_conv / sync_feed entries exist for sy.feed_lsn */
	int sy_dirty;   /* stamps or feed position to write at settle */
	int purged;     /* a CONV_PURGE removed it: settle writes the tombstone */
	cvl_stamp purge_stamp;
	uint64_t touch_lsn; /* replay: last block that changed it */
} cvl_cstate;

/* Text-index work of an apply context, published with its records. */
typedef struct cvl_tdoc {
	uint64_t docid;   /* 0 while pending: rec names the record */
	int64_t rec;
	convlog_uuid conv;
	uint32_t seq, len;
	int64_t created_at;
	uint64_t role_h, model_h;
	size_t grp_off, ngrp; /* into groups; ngrp SIZE_MAX: dropped */
} cvl_tdoc;

typedef struct cvl_tkill {
	uint64_t docid;   /* 0 while pending: rec names the record */
	int64_t rec;
} cvl_tkill;

typedef struct cvl_text {
	cvl_tdoc *docs;
	size_t ndocs, dcap;
	cvl_tkill *kills;
	size_t nkills, kcap;
	cvl_buf terms;  /* term bytes */
	cvl_buf groups; /* per document and term (textidx.c) */
	cvl_buf gpos;   /* positions, contiguous per group */
	cvl_buf tpos, tnext; /* the document being analysed: per token */
	uint32_t *slots; /* per-document term table */
	size_t nslots, g0, ntok;
	struct cvl_mi_group *scratch; /* publish's group list (cvl_text_reserve) */
	size_t scap;
	struct cvl_analyzer *an;    /* NULL: the store's (db->an) */
} cvl_text;

/* Applies records to a write-set (transactions and recovery share it). */
typedef struct cvl_actx {
	convlog_db *db;
	cvl_view view; /* view.ws = &ws */
	cvl_wset ws;
	cvl_htab convs;
	cvl_cstate *conv_list;
	cvl_counters dcount; /* counter deltas since the last settle */
	int failed;          /* an apply ran out of memory half-way */
	cvl_text text;       /* documents to index, versions to unindex */
	uint64_t lsn;        /* LSN of the record being applied; 0 = pending */
	cvl_stamp rec;       /* hlc and origin of the record being applied */
	uint64_t blk_last;   /* replay: the block's last LSN; a transaction:
	                        its last LSN while it commits, else 0 */
	struct convlog_txn *txn; /* the open transaction (pending records); NULL in replay */
	/* a scoped transaction: cvl_actx_conv hides conversations outside it,
	 * and every record must leave its conversation inside it */
	const struct cvl_scope *scope;
} cvl_actx;

int cvl_actx_init(cvl_actx *a, convlog_db *db);
void cvl_actx_free(cvl_actx *a);
/* Loads conversation `id` (CONVLOG_ENOTFOUND if it does not exist). */
int cvl_actx_conv(cvl_actx *a, const convlog_uuid *id, cvl_cstate **out);
/* Applies one decoded record.  `loc` for messages (seg 0: pending at
 * record index loc->frame_off of the open transaction). */
int cvl_apply(cvl_actx *a, uint8_t type, const uint8_t *body, size_t len,
	      const cvl_loc *loc);
/* Writes dirty conversations, their index changes and counters to ws. */
int cvl_actx_settle(cvl_actx *a);
/* Moves the write-set into the active memtable at version `lsn` and
 * empties it (the caller reserved memtable space via ws.mt_cost). */
void cvl_actx_publish(cvl_actx *a, cvl_memtable *mt, uint64_t lsn);
/* Drops cached conversation states (after publish or abort). */
void cvl_actx_reset(cvl_actx *a);

/* Calls fn for every conversation whose parent_id is `id` as the context
 * sees it (its own changes included); stops at a non-zero return. */
int cvl_actx_children(cvl_actx *a, const convlog_uuid *id,
		      int (*fn)(cvl_actx *, cvl_cstate *, void *), void *ud);

int cvl_counters_read(cvl_view *v, cvl_counters *c);
/* The meta/"counters" value of `c` (format-spec §7.4) into b (reset). */
int cvl_counters_encode(const cvl_counters *c, cvl_buf *b);
/* Conversation + statistics through a view; CONVLOG_ENOTFOUND if absent. */
int cvl_conv_load(cvl_view *v, const convlog_uuid *id, convlog_conv **out);
/* Messages of c's own (a fork's inherited prefix is its parent's). */
static inline uint64_t cvl_conv_own_messages(const convlog_conv *c)
{
	if (convlog_uuid_is_nil(&c->parent_id))
		return c->message_count;
	return c->message_count > c->fork_seq ? c->message_count - c->fork_seq : 0;
}

/* ---- transactions ---- */
struct convlog_txn {
	uint32_t magic;
	convlog_db *db;
	cvl_actx a;
	cvl_buf recs;     /* encoded records */
	size_t *offs;     /* record start offsets */
	convlog_uuid *grp; /* conversation of each record */
	size_t nrec, offcap;
	uint64_t first_lsn;
	size_t op_mark; /* nrec when the current call began */
	int autocommit;
	convlog_db *handle; /* what convlog_txn_begin got: scoped or not */
	const cvl_scope *scope; /* the handle's scope (also in a.scope); NULL: none */
};

#define CVL_TXN_MAGIC 0x4356544eu

/* Appends and applies one record about conversation `conv`: the only way
 * state changes. */
int cvl_txn_record(convlog_txn *t, uint8_t type, const convlog_uuid *conv,
		   const cvl_buf *body);
/* Begins an implicit txn when `txn` is NULL; returns the one to use. */
int cvl_txn_enter(convlog_db *db, convlog_txn *txn, convlog_txn **use);
/* Ends it: commit on rc == 0 for implicit txns, abort on error; explicit
 * txns pass through. */
int cvl_txn_leave(convlog_txn *use, convlog_txn *given, int rc);
/* Reads the full current version of a message as the txn sees it. */
int cvl_txn_read_msg(convlog_txn *t, const convlog_uuid *conv, uint32_t seq,
		     convlog_msg **out);
/* The same with the record's type, LSN and stamps (info may be NULL). */
int cvl_txn_read_msgx(convlog_txn *t, const convlog_uuid *conv, uint32_t seq,
		      convlog_msg **out, cvl_msg_info *info);
int64_t cvl_txn_now(convlog_txn *t);
/* Purges deleted conversation `id` inside t: detaches its forks (with
 * copies of what they inherited), then CONV_PURGE (lib/api/conv.c). */
int cvl_conv_purge_in(convlog_txn *t, const convlog_uuid *id);

/* ---- durability and background work ---- */
int cvl_sync_to(convlog_db *db, uint64_t lsn);
int cvl_bg_start(convlog_db *db);
void cvl_bg_stop(convlog_db *db);
void cvl_bg_kick(convlog_db *db);
/* Memtable bytes including its text index. */
size_t cvl_mt_total_bytes(cvl_memtable *mt);
/* Freezes the active memtable (wmu held). */
int cvl_rotate_locked(convlog_db *db);
/* Flushes every frozen memtable to LMDB. */
int cvl_flush_frozen(convlog_db *db);

/* ---- forks: who owns a seq of a conversation's seq space ---- */
#define CVL_CHAIN_MAX 64
typedef struct cvl_chain {
	int n;
	struct {
		convlog_uuid id;
		uint32_t fork_seq; /* 0 for a root */
	} c[CVL_CHAIN_MAX];
} cvl_chain;

/* Loads the fork chain of conversation `c` (c itself first). */
int cvl_chain_load(cvl_view *v, const convlog_conv *c, cvl_chain *ch);
/* The conversation that owns `seq` in c[0]'s seq space. */
const convlog_uuid *cvl_chain_owner(const cvl_chain *ch, uint32_t seq);
/* The highest seq of c[i]'s own messages that c[0] sees. */
uint32_t cvl_chain_limit(const cvl_chain *ch, int i);

/* ---- full-text index (engine side) ---- */
/* Queues message version `m` (of the record being applied) for indexing. */
int cvl_text_add(cvl_actx *a, const cvl_msg_peek *m, const cvl_loc *loc);
/* Queues the removal of the version stored at `old` from the index. */
int cvl_text_kill(cvl_actx *a, const cvl_loc *old);
/* The same when the caller knows the docid (the record's LSN) or, for a
 * record pending in this transaction, its index `rec` (docid 0). */
int cvl_text_kill_doc(cvl_actx *a, uint64_t docid, int64_t rec);
/* Resolves pending LSNs (rec_lsn[i]: final LSN of record i; NULL when all
 * are known) and records the removals in the write-set (text_deleted). */
int cvl_text_settle(cvl_actx *a, const uint64_t *rec_lsn);
/* Memidx bytes the queued documents need. */
size_t cvl_text_cost(const cvl_actx *a);
/* Adds the queued documents to mt's text index and applies the removals
 * to every index; never fails after cvl_text_reserve. */
int cvl_text_reserve(cvl_actx *a, cvl_memtable *mt);
void cvl_text_publish(cvl_actx *a, cvl_memtable *mt);
void cvl_text_init(cvl_text *t);
void cvl_text_release(cvl_text *t);
void cvl_text_reset(cvl_actx *a);
void cvl_text_free(cvl_actx *a);
/* The text index of a memtable (created on first use). */
struct cvl_memidx *cvl_mt_text(cvl_memtable *mt);
/* Reads the segment list (and the next id) of meta through txn. */
int cvl_text_open_list(convlog_db *db, MDB_txn *txn, uint64_t **ids, size_t *n);
/* Removes index files the segment list does not name (writer open). */
int cvl_text_remove_orphans(convlog_db *db, const uint64_t *ids, size_t n);
/* Opens the listed segments (reusing registered ones) and marks the
 * versions text_deleted records as removed, reading it through memtable
 * mt over LMDB read txn `txn` (taken over and ended; NULL: a fresh
 * snapshot).  A read-only handle passes the snapshot it read the list
 * from, so the marks match the segments.  With `tolerate`, a segment that cannot
 * be opened is left out and recorded in db->text_damaged (which a load
 * without such a segment clears); without, its error is returned. */
int cvl_text_load(convlog_db *db, const uint64_t *ids, size_t n, cvl_memtable *mt,
		  MDB_txn *txn, int tolerate, struct cvl_iseg ***out, int *nout);
/* Replaces the registered segments by segs (taken over; mtmu held). */
void cvl_text_install_locked(convlog_db *db, struct cvl_iseg **segs, int n);
void cvl_text_close(convlog_db *db);
/* Writes frozen memtable mt's text index as a segment before its flush;
 * *seg_id = 0 when it had no documents (flushmu held). */
int cvl_text_flush_write(convlog_db *db, cvl_memtable *mt, uint64_t *seg_id);
/* In the flush's LMDB txn: records the segment list with seg_id added. */
int cvl_text_flush_meta(convlog_db *db, MDB_txn *txn, uint64_t seg_id);
/* Makes room to register one more segment. */
int cvl_text_seg_room(convlog_db *db);
/* Registers segment s written from frozen memtable mt (mtmu held; after
 * cvl_text_seg_room; cannot fail). */
void cvl_text_register_locked(convlog_db *db, struct cvl_iseg *s, cvl_memtable *mt);
/* The registered segments, referenced (mtmu held). */
int cvl_text_segs_locked(convlog_db *db, struct cvl_iseg ***out, int *n);
void cvl_text_segs_release(struct cvl_iseg **v, int n);
/* Merges segments: by the tiered policy, or all into one; *did tells
 * whether anything was merged.  Takes mergemu. */
int cvl_text_merge(convlog_db *db, int all, int *did);
/* Rebuilds the index from the messages with stemming `stem` (NULL: the
 * store's); takes wmu. */
int cvl_text_reindex(convlog_db *db, const char *stem);
/* The merge thread: started with the background thread, kicked after
 * flushes. */
int cvl_mg_start(convlog_db *db);
void cvl_mg_stop(convlog_db *db);
void cvl_mg_kick(convlog_db *db);

/* What a search reads: the registered segments and memtables, taken
 * together (under one mtmu hold) so no document is seen twice or missed. */
typedef struct cvl_tsnap {
	struct cvl_iseg **segs;
	int nsegs;
	cvl_memtable *mt[CVL_FROZEN_MAX + 1]; /* oldest first */
	int nmt;
	uint64_t snap;                        /* visible LSN */
} cvl_tsnap;
int cvl_text_snapshot(convlog_db *db, cvl_tsnap *s);
void cvl_text_snapshot_release(cvl_tsnap *s);
/* An analyzer for a search (pooled); put it back after. */
int cvl_text_analyzer_get(convlog_db *db, struct cvl_analyzer **out);
void cvl_text_analyzer_put(convlog_db *db, struct cvl_analyzer *an);

/* ---- compaction ---- */
/* `background`: no flush first (only fully flushed segments qualify), and
 * stop early when the handle closes. */
int cvl_compact(convlog_db *db, const convlog_compact_opts *o, convlog_progress_fn fn, void *ud,
		convlog_compact_stats *st, int background);
/* The background compactor (options' compact_interval_ms > 0). */
int cvl_cp_start(convlog_db *db);
void cvl_cp_stop(convlog_db *db);

/* ---- open / recovery ---- */
int cvl_recover(convlog_db *db);
int cvl_refresh_readonly(convlog_db *db);

#endif
