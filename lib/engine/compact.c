/*
 * The compactor: rewrites segments so that space comes back, a
 * conversation's turns sit together, archived history is cheap, and purged
 * conversations leave no bytes behind (format-spec.md §3.5, §9.7).
 *
 * A pass:
 *  1. seals the active segment when it must (erasure, CONVLOG_COMPACT_FULL)
 *     and flushes every memtable, so LMDB names every live record;
 *  2. picks victims: every sealed log segment whose blocks are all
 *     flushed, and compacted segments that are mostly garbage, hold bytes
 *     of purged conversations, are small, or (archive mode) hold archived
 *     conversations in the warm tier;
 *  3. walks the msg table in key order (conversation, seq) and copies each
 *     live record of a victim, byte for byte (its LSN stays the search
 *     docid), into new compacted segments: warm at the store's level, cold
 *     (archived conversations) at a high level with a trained dictionary;
 *  4. each finished output is synced, renamed into place and switched in
 *     one LMDB transaction that moves every locator still naming the old
 *     copy and records the segment in the manifest (`segments`);
 *  5. one last transaction drops the victims from the manifest; their
 *     files are unlinked at once and their descriptors closed when no LMDB
 *     reader can still hold an old locator;
 *  6. after a purge, LMDB is rewritten by a compacting copy and swapped in,
 *     so its free pages no longer hold the purged bytes.
 * A crash at any point leaves either the old or the new location of every
 * record reachable; the next writer open removes unfinished outputs and
 * victims the manifest no longer lists.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <zdict.h>

#include "engine/db.h"
#include "engine/segstat.h"
#include "log/block.h"
#include "log/dict.h"
#include "log/record.h"
#include "log/segment.h"
#include "model/conv.h"
#include "os/os.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/htab.h"

#define BLOCK_TARGET (1u << 20)
#define WARM_FRAME (32u << 10)
#define COLD_FRAME (128u << 10)
#define COLD_LEVEL 19
#define DICT_SIZE (64u << 10)
#define DICT_SAMPLE (4u << 20)
#define DEFAULT_GARBAGE 30 /* percent */

/* One record moved: its key, where it was, where it is now. */
typedef struct move {
	uint8_t key[20];
	cvl_loc old, new;
	uint32_t len;
} move;

/* An output segment being written. */
typedef struct cwriter {
	convlog_db *db;
	int cold;
	uint64_t id;
	int fd;
	uint64_t off;           /* file size so far */
	cvl_buf recs;           /* records of the block being built */
	size_t *offs, *grp;     /* per record of the block */
	size_t nrec, reccap;
	uint64_t min_lsn, max_lsn;
	move *moves;            /* of the whole segment */
	size_t nmoves, movecap;
	size_t block_first;     /* first move of the block being built */
	uint64_t total;         /* record bytes written */
	ZSTD_CCtx *cctx;
	int level;
	const ZSTD_CDict *cdict;
	uint32_t dict_id;
	cvl_buf out;
	cvl_frame_loc *locs;
	size_t loccap;
	uint64_t last_conv_hash;
	size_t conv_no;
	int full; /* reached the segment size: copy_live switches to it */
} cwriter;

typedef struct cpass {
	convlog_db *db;
	const convlog_compact_opts *o;
	convlog_progress_fn fn;
	void *ud;
	convlog_compact_stats *st;
	/* victims (ids ascending) */
	uint64_t *vic;
	uint32_t *vic_flags;
	size_t nvic;
	uint64_t work, done; /* bytes to copy / copied, for progress */
	/* archived conversations (archive mode, or cold victims) */
	cvl_htab archived;
	struct arch *arch_all;
	cwriter w[2]; /* warm, cold */
	ZSTD_CDict *cdict;
	uint32_t dict_id;
	uint64_t written; /* bytes written, for the I/O budget */
	int64_t t0_ns;
	int erase, erase_partial;
	uint64_t erase_lsn;
} cpass;

struct arch {
	cvl_hnode hn;
	struct arch *next;
	uint8_t id[16];
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t id_hash(const uint8_t *id)
{
	return cvl_get_u64le(id + 8) * UINT64_C(0x9E3779B97F4A7C15);
}

static int arch_eq(const cvl_hnode *n, const void *k)
{
	return memcmp(((const struct arch *)n)->id, k, 16) == 0;
}

static int is_archived(cpass *p, const uint8_t *conv)
{
	return p->archived.nslots &&
	       cvl_htab_find(&p->archived, id_hash(conv), arch_eq, conv) != NULL;
}

static int is_victim(const cpass *p, uint32_t seg, uint32_t *flags)
{
	size_t lo = 0, hi = p->nvic;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (p->vic[mid] < seg)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < p->nvic && p->vic[lo] == seg) {
		if (flags)
			*flags = p->vic_flags[lo];
		return 1;
	}
	return 0;
}

/* Sleeps as long as the pass is ahead of its I/O budget. */
static void pace(cpass *p)
{
	uint64_t budget = p->o ? p->o->io_bytes_per_sec : 0;

	if (!budget)
		return;
	int64_t due = p->t0_ns + (int64_t)((double)p->written / (double)budget * 1e9);
	int64_t now = now_ns();
	if (due > now) {
		int64_t d = due - now;
		if (d > 1000000000)
			d = 1000000000;
		struct timespec ts = {d / 1000000000, d % 1000000000};
		nanosleep(&ts, NULL);
	}
}

static int progress(cpass *p)
{
	if (p->fn && p->fn(p->ud, p->done, p->work) != 0)
		return cvl_err(CONVLOG_ECANCELED, "compaction cancelled by its progress callback");
	return 0;
}

/* ---- output segments ---- */

static void writer_init(cwriter *w, convlog_db *db, int cold)
{
	memset(w, 0, sizeof(*w));
	w->db = db;
	w->cold = cold;
	w->fd = -1;
	cvl_buf_init(&w->recs, 0);
	cvl_buf_init(&w->out, 0);
}

static void writer_abandon(cwriter *w)
{
	char path[CVL_PATH_MAX];

	if (w->fd >= 0) {
		cvl_os_close(w->fd);
		cvl_seg_tmp_path(path, sizeof(path), w->db->seg_dir, w->id);
		cvl_os_unlink(path);
	}
	w->fd = -1;
	w->nrec = w->nmoves = 0;
	w->recs.len = 0;
}

static void writer_free(cwriter *w)
{
	writer_abandon(w);
	cvl_buf_free(&w->recs);
	cvl_buf_free(&w->out);
	cvl_free(w->offs);
	cvl_free(w->moves);
	cvl_free(w->locs);
	ZSTD_freeCCtx(w->cctx);
}

static int writer_start(cpass *p, cwriter *w)
{
	convlog_db *db = p->db;
	int rc;

	if (!w->cctx && !(w->cctx = ZSTD_createCCtx()))
		return cvl_err(CONVLOG_ENOMEM, "out of memory for zstd");
	if ((rc = cvl_seg_alloc_id(db, &w->id)))
		return rc;
	rc = cvl_seg_create_tmp(db->seg_dir, w->id, db->store_id, cvl_os_now_ms(),
				CVL_SEGF_COMPACT | (w->cold ? CVL_SEGF_COLD : 0), &w->fd);
	if (rc)
		return rc;
	w->off = CVL_SEG_HEADER;
	w->total = 0;
	w->nmoves = w->block_first = 0;
	w->level = w->cold ? COLD_LEVEL
			   : (p->o && p->o->level ? p->o->level : db->opts.level);
	w->cdict = w->cold ? p->cdict : NULL;
	w->dict_id = w->cold && p->cdict ? p->dict_id : 0;
	return 0;
}

/* Compresses and writes the records gathered so far as one block. */
static int writer_block(cpass *p, cwriter *w)
{
	char path[CVL_PATH_MAX];
	int rc;

	if (w->nrec == 0)
		return 0;
	if (w->loccap < w->nrec) {
		cvl_frame_loc *nl = cvl_realloc(w->locs, w->nrec * sizeof(*nl));
		if (!nl)
			return cvl_err(CONVLOG_ENOMEM, "out of memory compacting");
		w->locs = nl;
		w->loccap = w->nrec;
	}
	w->out.len = 0;
	rc = cvl_block_build_dict(w->recs.p, w->offs, w->grp, w->nrec, w->recs.len, w->min_lsn,
				  w->max_lsn, w->cold ? COLD_FRAME : WARM_FRAME, w->cctx, w->level,
				  w->cdict, w->dict_id, &w->out, w->locs);
	if (rc)
		return rc;
	cvl_seg_tmp_path(path, sizeof(path), p->db->seg_dir, w->id);
	if ((rc = cvl_os_pwrite(w->fd, w->out.p, w->out.len, w->off, path)))
		return rc;
	for (size_t i = 0; i < w->nrec; i++) {
		move *m = &w->moves[w->block_first + i];
		m->new = (cvl_loc){.seg = (uint32_t)w->id,
				   .frame_off = w->off + w->locs[i].frame_off,
				   .frame_len = w->locs[i].frame_len,
				   .rec_idx = w->locs[i].rec_idx};
	}
	w->off += w->out.len;
	p->written += w->out.len;
	w->nrec = 0;
	w->recs.len = 0;
	w->block_first = w->nmoves;
	pace(p);
	return 0;
}

static int switch_segment(cpass *p, cwriter *w);

/* Adds one live record (its exact bytes) to the tier's output. */
static int writer_add(cpass *p, cwriter *w, const uint8_t *key, const cvl_loc *old,
		      const uint8_t *rec, size_t len, uint64_t lsn)
{
	int rc;

	if (w->fd < 0 && (rc = writer_start(p, w)))
		return rc;
	if (w->nrec == w->reccap) {
		size_t nc = w->reccap ? w->reccap * 2 : 1024;
		size_t *no = cvl_realloc(w->offs, nc * 2 * sizeof(*no));
		if (!no)
			return cvl_err(CONVLOG_ENOMEM, "out of memory compacting");
		if (w->offs)
			memmove(no + nc, no + w->reccap, w->nrec * sizeof(*no));
		w->offs = no;
		w->grp = no + nc;
		w->reccap = nc;
	}
	if (w->nmoves == w->movecap) {
		size_t nc = w->movecap ? w->movecap * 2 : 1024;
		move *nm = cvl_realloc(w->moves, nc * sizeof(*nm));
		if (!nm)
			return cvl_err(CONVLOG_ENOMEM, "out of memory compacting");
		w->moves = nm;
		w->movecap = nc;
	}
	uint64_t h = id_hash(key);
	if (w->nrec == 0 || h != w->last_conv_hash)
		w->conv_no++;
	w->last_conv_hash = h;
	if ((rc = cvl_buf_append(&w->recs, rec, len)))
		return rc;
	w->offs[w->nrec] = w->recs.len - len;
	w->grp[w->nrec] = w->conv_no;
	if (w->nrec == 0 || lsn < w->min_lsn)
		w->min_lsn = lsn;
	if (w->nrec == 0 || lsn > w->max_lsn)
		w->max_lsn = lsn;
	w->nrec++;
	move *m = &w->moves[w->nmoves++];
	memcpy(m->key, key, 20);
	m->old = *old;
	m->len = (uint32_t)len;
	w->total += len;
	if (w->recs.len >= BLOCK_TARGET || w->nrec >= 60000) {
		if ((rc = writer_block(p, w)))
			return rc;
		/* a segment ends at the store's segment size (switched by
		 * copy_live once its read transaction is out of the way) */
		if (w->off >= p->db->opts.segment_size || w->off >= (3ull << 30))
			w->full = 1;
	}
	return 0;
}

/*
 * Publishes a finished output and moves to it every locator that still
 * names the copied record, in one LMDB transaction (with the flush lock, so
 * no flush rewrites the manifest meanwhile).
 */
static int switch_txn(cpass *p, cwriter *w, int *added, uint64_t *nrecs);

static int switch_segment(cpass *p, cwriter *w)
{
	convlog_db *db = p->db;
	uint64_t recs = 0;
	int rc, added = 0;

	if (w->fd < 0)
		return 0;
	if ((rc = writer_block(p, w)))
		return rc;
	if ((rc = cvl_seg_publish(db->seg_dir, w->id, w->fd)))
		return rc;
	pthread_mutex_lock(&db->flushmu);
	do
		rc = switch_txn(p, w, &added, &recs);
	while (cvl_lmdb_again(&db->lm, &rc));
	if (rc && added) {
		/* not recorded: never named; the next open removes the file */
		cvl_segs_retire(db, w->id, 0);
		w->fd = -1;
	}
	pthread_mutex_unlock(&db->flushmu);
	if (!rc) {
		p->st->segments_written++;
		p->st->cold_segments_written += w->cold;
		p->st->records_moved += recs;
		w->fd = -1; /* owned by the segment table now */
		w->nmoves = w->block_first = 0;
	}
	return rc;
}

/* switch_segment's LMDB transaction (flushmu held), a whole attempt; the
 * segment joins the table once (*added), before the first commit. */
static int switch_txn(cpass *p, cwriter *w, int *added, uint64_t *nrecs)
{
	convlog_db *db = p->db;
	cvl_sdeltas d = {0};
	MDB_txn *txn = NULL;
	uint64_t live = 0, recs = 0, erased = 0;
	int rc, mrc;

	if ((rc = cvl_lmdb_wtxn(&db->lm, &txn)))
		goto out;
	for (size_t i = 0; i < w->nmoves && !rc; i++) {
		move *m = &w->moves[i];
		MDB_val k = {20, m->key}, v;
		mrc = mdb_get(txn, db->lm.dbi[CVL_T_MSG], &k, &v);
		if (mrc == MDB_NOTFOUND) {
			/* purged meanwhile: its copy must go at the next pass */
			erased += m->len;
			continue;
		}
		if (mrc) {
			rc = cvl_lmdb_err(mrc, "msg");
			break;
		}
		if (v.mv_size < CVL_LOC_LEN || cvl_get_u32le(v.mv_data) != m->old.seg ||
		    cvl_get_u32le((uint8_t *)v.mv_data + 4) != m->old.frame_off ||
		    cvl_get_u16le((uint8_t *)v.mv_data + 12) != m->old.rec_idx)
			continue; /* superseded meanwhile */
		uint8_t buf[512], *nv = v.mv_size <= sizeof(buf) ? buf : cvl_malloc(v.mv_size);
		if (!nv) {
			rc = cvl_err(CONVLOG_ENOMEM, "out of memory compacting");
			break;
		}
		memcpy(nv, v.mv_data, v.mv_size);
		cvl_loc_encode(&m->new, nv);
		MDB_val pv = {v.mv_size, nv};
		uint32_t seg;
		uint64_t bytes;
		if (!(rc = cvl_segstat_of_msg(m->key, 20, nv, v.mv_size, &seg, &bytes)) &&
		    !(rc = cvl_sdeltas_add(&d, m->old.seg, -(int64_t)bytes, -1, 0))) {
			mrc = mdb_put(txn, db->lm.dbi[CVL_T_MSG], &k, &pv, 0);
			if (mrc)
				rc = cvl_lmdb_err(mrc, "msg");
			live += bytes;
			recs++;
		}
		if (nv != buf)
			cvl_free(nv);
	}
	if (!rc)
		rc = cvl_sdeltas_apply(&d, &db->lm, txn);
	if (!rc) {
		cvl_segstat s = {.live_bytes = live, .live_recs = recs, .total_bytes = w->total,
				 .erased_bytes = erased, .dict_id = w->dict_id};
		rc = cvl_segstat_put(&db->lm, txn, (uint32_t)w->id, &s);
	}
	if (!rc) {
		uint8_t k[8], v[8];
		cvl_put_u64be(k, w->id);
		cvl_put_u64le(v, w->off);
		MDB_val mk = {8, k}, mv = {8, v};
		if ((mrc = mdb_put(txn, db->lm.dbi[CVL_T_SEG], &mk, &mv, 0)))
			rc = cvl_lmdb_err(mrc, "segments");
	}
	if (!rc) {
		uint8_t v[8];
		pthread_rwlock_rdlock(&db->seg_lock);
		cvl_put_u64le(v, db->seg_next);
		pthread_rwlock_unlock(&db->seg_lock);
		MDB_val mk = {8, "seg_next"}, mv = {8, v};
		if ((mrc = mdb_put(txn, db->lm.dbi[CVL_T_META], &mk, &mv, 0)))
			rc = cvl_lmdb_err(mrc, "meta");
	}
	/* readers must find the file before they can see a locator into it */
	if (!rc && !*added &&
	    !(rc = cvl_segs_add(db, w->id, w->fd, w->off,
				CVL_SEGF_COMPACT | (w->cold ? CVL_SEGF_COLD : 0))))
		*added = 1;
	if (!rc) {
		mrc = cvl_lmdb_commit(txn);
		txn = NULL;
		if (mrc)
			rc = cvl_lmdb_err(mrc, "commit compaction");
	}
out:
	cvl_lmdb_abort(txn);
	cvl_sdeltas_free(&d);
	*nrecs = recs;
	return rc;
}

/* ---- planning ---- */

static int add_victim(cpass *p, uint64_t id, uint32_t flags)
{
	uint64_t *nv = cvl_realloc(p->vic, (p->nvic + 1) * sizeof(*nv));
	uint32_t *nf = nv ? cvl_realloc(p->vic_flags, (p->nvic + 1) * sizeof(*nf)) : NULL;

	if (nv)
		p->vic = nv;
	if (!nf)
		return cvl_err(CONVLOG_ENOMEM, "out of memory planning a compaction");
	p->vic_flags = nf;
	size_t i = p->nvic;
	while (i > 0 && p->vic[i - 1] > id) {
		p->vic[i] = p->vic[i - 1];
		p->vic_flags[i] = p->vic_flags[i - 1];
		i--;
	}
	p->vic[i] = id;
	p->vic_flags[i] = flags;
	p->nvic++;
	return 0;
}

/* Archived conversations, from the status index. */
static int load_archived(cpass *p, MDB_txn *txn)
{
	MDB_cursor *c;
	MDB_val k, v;
	uint8_t pre = CONVLOG_STATUS_ARCHIVED;
	int rc = 0, mrc;

	if ((rc = cvl_htab_init(&p->archived, 256)))
		return rc;
	if ((mrc = mdb_cursor_open(txn, p->db->lm.dbi[CVL_T_IX_STATUS], &c)))
		return cvl_lmdb_err(mrc, "ix_status");
	k.mv_size = 1;
	k.mv_data = &pre;
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); !mrc;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size < 17 || ((uint8_t *)k.mv_data)[0] != pre)
			break;
		struct arch *a = cvl_calloc(1, sizeof(*a));
		if (!a) {
			rc = cvl_err(CONVLOG_ENOMEM, "out of memory planning a compaction");
			break;
		}
		memcpy(a->id, (uint8_t *)k.mv_data + k.mv_size - 16, 16);
		a->hn.hash = id_hash(a->id);
		if (cvl_htab_find(&p->archived, a->hn.hash, arch_eq, a->id)) {
			cvl_free(a);
			continue;
		}
		cvl_htab_insert(&p->archived, &a->hn);
		a->next = p->arch_all;
		p->arch_all = a;
	}
	mdb_cursor_close(c);
	return rc;
}

/* Warm compacted segments holding messages of archived conversations. */
static int archived_segments(cpass *p, MDB_txn *txn, uint64_t **out, size_t *n)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = 0, mrc;

	*out = NULL;
	*n = 0;
	if ((mrc = mdb_cursor_open(txn, p->db->lm.dbi[CVL_T_MSG], &c)))
		return cvl_lmdb_err(mrc, "msg");
	for (struct arch *a = p->arch_all; a && !rc; a = a->next) {
		k.mv_size = 16;
		k.mv_data = a->id;
		for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); !mrc;
		     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			if (k.mv_size != 20 || memcmp(k.mv_data, a->id, 16) != 0 || v.mv_size < 4)
				break;
			uint64_t seg = cvl_get_u32le(v.mv_data);
			size_t i = 0;
			while (i < *n && (*out)[i] != seg)
				i++;
			if (i < *n)
				continue;
			uint64_t *no = cvl_realloc(*out, (*n + 1) * sizeof(*no));
			if (!no) {
				rc = cvl_err(CONVLOG_ENOMEM, "out of memory planning a compaction");
				break;
			}
			*out = no;
			no[(*n)++] = seg;
		}
	}
	mdb_cursor_close(c);
	return rc;
}

static int meta_get_u64(convlog_db *db, MDB_txn *txn, const char *key, size_t want,
			uint8_t *out)
{
	MDB_val k = {strlen(key), (void *)key}, v;
	int mrc = mdb_get(txn, db->lm.dbi[CVL_T_META], &k, &v);

	if (mrc == MDB_NOTFOUND)
		return CONVLOG_ENOTFOUND;
	if (mrc)
		return cvl_lmdb_err(mrc, "meta");
	if (v.mv_size != want)
		return cvl_err(CONVLOG_ECORRUPT, "meta/%s has %zu bytes, expected %zu", key,
			       v.mv_size, want);
	memcpy(out, v.mv_data, want);
	return 0;
}

static int plan(cpass *p)
{
	convlog_db *db = p->db;
	unsigned flags = p->o ? p->o->flags : 0;
	unsigned garbage = p->o && p->o->garbage_pct ? p->o->garbage_pct : DEFAULT_GARBAGE;
	uint64_t rp_seg = 0, rp_off = 0, *arch_segs = NULL;
	size_t narch = 0;
	uint8_t b[16] = {0};
	MDB_txn *txn;
	int rc;

	if ((rc = cvl_lmdb_rtxn(&db->lm, &txn)))
		return rc;
	rc = meta_get_u64(db, txn, "replay_pos", 16, b);
	if (!rc) {
		rp_seg = cvl_get_u64le(b);
		rp_off = cvl_get_u64le(b + 8);
	}
	if (rc == CONVLOG_ENOTFOUND)
		rc = 0;
	if (!rc) {
		int e = meta_get_u64(db, txn, "erase_lsn", 8, b);
		if (e == 0) {
			p->erase = 1;
			p->erase_lsn = cvl_get_u64le(b);
		} else if (e != CONVLOG_ENOTFOUND) {
			rc = e;
		}
	}
	if (!rc)
		rc = load_archived(p, txn);
	if (!rc && (flags & CONVLOG_COMPACT_ARCHIVE))
		rc = archived_segments(p, txn, &arch_segs, &narch);
	/* the segment table, copied under its lock */
	cvl_segfile *segs = NULL;
	size_t n = 0;
	uint64_t active;
	pthread_mutex_lock(&db->wmu);
	active = db->active_seg;
	pthread_mutex_unlock(&db->wmu);
	pthread_rwlock_rdlock(&db->seg_lock);
	if (!rc && (segs = cvl_malloc((db->nsegs + 1) * sizeof(*segs)))) {
		memcpy(segs, db->segs, db->nsegs * sizeof(*segs));
		n = db->nsegs;
	} else if (!rc) {
		rc = cvl_err(CONVLOG_ENOMEM, "out of memory planning a compaction");
	}
	pthread_rwlock_unlock(&db->seg_lock);
	size_t nsmall = 0;
	uint64_t small_limit = db->opts.segment_size / 4;
	for (size_t i = 0; i < n && !rc; i++) {
		cvl_segfile *sf = &segs[i];
		cvl_segstat st;
		p->st->segments_before++;
		p->st->bytes_before += sf->size;
		if ((rc = cvl_segstat_get(&db->lm, txn, (uint32_t)sf->id, &st)))
			break;
		int take = 0;
		if (!(sf->flags & CVL_SEGF_COMPACT)) {
			/* a sealed log segment every block of which LMDB holds */
			take = sf->id != active &&
			       (sf->id < rp_seg || (sf->id == rp_seg && rp_off >= sf->size));
			if (!take && sf->id != active)
				p->erase_partial = 1; /* sealed, not all flushed yet */
		} else {
			uint64_t tot = st.total_bytes ? st.total_bytes : 1;
			take = (flags & CONVLOG_COMPACT_FULL) || st.erased_bytes > 0 ||
			       st.live_recs == 0 || (tot - (st.live_bytes < tot ? st.live_bytes : tot)) * 100 >= (uint64_t)garbage * tot;
			for (size_t k = 0; k < narch && !take; k++)
				take = arch_segs[k] == sf->id && !(sf->flags & CVL_SEGF_COLD);
			if (!take && sf->size < small_limit)
				nsmall++;
		}
		if (take) {
			if ((rc = add_victim(p, sf->id, sf->flags)))
				break;
			p->work += st.live_bytes;
		}
	}
	/* small compacted segments of one tier are merged once there are four */
	for (int cold = 0; cold < 2 && !rc && nsmall >= 4; cold++) {
		size_t cnt = 0;
		for (size_t i = 0; i < n; i++)
			cnt += (segs[i].flags & CVL_SEGF_COMPACT) && !!(segs[i].flags & CVL_SEGF_COLD) == cold &&
			       segs[i].size < small_limit && !is_victim(p, (uint32_t)segs[i].id, NULL);
		for (size_t i = 0; i < n && !rc && cnt >= 4; i++) {
			cvl_segstat st;
			if (!(segs[i].flags & CVL_SEGF_COMPACT) || !!(segs[i].flags & CVL_SEGF_COLD) != cold ||
			    segs[i].size >= small_limit || is_victim(p, (uint32_t)segs[i].id, NULL))
				continue;
			if (!(rc = cvl_segstat_get(&db->lm, txn, (uint32_t)segs[i].id, &st)) &&
			    !(rc = add_victim(p, segs[i].id, segs[i].flags)))
				p->work += st.live_bytes;
		}
	}
	/* segments sharing a dictionary go together: the dictionary was
	 * trained on their records only, and is dropped with the last of them
	 * (a purge must not leave its words in a dictionary file) */
	for (int again = 1; again && !rc;) {
		again = 0;
		for (size_t i = 0; i < n && !rc; i++) {
			cvl_segstat st, vs;
			if (!(segs[i].flags & CVL_SEGF_COLD) || is_victim(p, (uint32_t)segs[i].id, NULL) ||
			    (rc = cvl_segstat_get(&db->lm, txn, (uint32_t)segs[i].id, &st)) || !st.dict_id)
				continue;
			for (size_t k = 0; k < p->nvic && !rc; k++) {
				if (!(p->vic_flags[k] & CVL_SEGF_COLD) ||
				    (rc = cvl_segstat_get(&db->lm, txn, (uint32_t)p->vic[k], &vs)) ||
				    vs.dict_id != st.dict_id)
					continue;
				if (!(rc = add_victim(p, segs[i].id, segs[i].flags)))
					p->work += st.live_bytes;
				again = 1;
				break;
			}
		}
	}
	cvl_free(segs);
	cvl_free(arch_segs);
	cvl_lmdb_abort(txn);
	return rc;
}

/* ---- the dictionary of cold segments ---- */

/*
 * Trains a dictionary on a sample of the records that go cold (archived
 * conversations in victims).  Few or tiny samples make ZDICT fail: cold
 * segments are then written without one.
 */
static int train_dict(cpass *p)
{
	convlog_db *db = p->db;
	cvl_buf samples;
	size_t *sizes = NULL, nsz = 0, cap = 0;
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, mrc;
	uint64_t seen = 0;

	int cold = p->o && (p->o->flags & CONVLOG_COMPACT_ARCHIVE);
	for (size_t i = 0; i < p->nvic && !cold; i++)
		cold = (p->vic_flags[i] & CVL_SEGF_COLD) != 0;
	if (!p->arch_all || !cold)
		return 0; /* nothing goes cold in this pass */
	cvl_buf_init(&samples, 0);
	if ((rc = cvl_lmdb_rtxn(&db->lm, &txn)))
		return rc;
	if ((mrc = mdb_cursor_open(txn, db->lm.dbi[CVL_T_MSG], &c))) {
		cvl_lmdb_abort(txn);
		return cvl_err(CONVLOG_EIO, "LMDB: %s", mdb_strerror(mrc));
	}
	for (struct arch *a = p->arch_all; a && samples.len < DICT_SAMPLE && !rc; a = a->next) {
		k.mv_size = 16;
		k.mv_data = a->id;
		for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); !mrc && samples.len < DICT_SAMPLE;
		     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			if (k.mv_size != 20 || memcmp(k.mv_data, a->id, 16) != 0 || v.mv_size < CVL_LOC_LEN)
				break;
			cvl_loc loc = {.seg = cvl_get_u32le(v.mv_data),
				       .frame_off = cvl_get_u32le((uint8_t *)v.mv_data + 4),
				       .frame_len = cvl_get_u32le((uint8_t *)v.mv_data + 8),
				       .rec_idx = cvl_get_u16le((uint8_t *)v.mv_data + 12)};
			/* only records this pass writes cold: a dictionary holds
			 * nothing of conversations outside the segments using it,
			 * so rewriting those segments (a purge) drops it too */
			uint32_t vf;
			if (!is_victim(p, loc.seg, &vf) ||
			    !((p->o && (p->o->flags & CONVLOG_COMPACT_ARCHIVE)) || (vf & CVL_SEGF_COLD)))
				continue;
			if (++seen % 3 != 1) /* every third record of each conversation */
				continue;
			cvl_frame *f;
			if (cvl_frame_get(db, &loc, &f)) {
				cvl_err_clear();
				continue;
			}
			if (loc.rec_idx < f->nrec) {
				size_t s = f->rec_off[loc.rec_idx];
				size_t e = loc.rec_idx + 1u < f->nrec ? f->rec_off[loc.rec_idx + 1] : f->raw_len;
				if (nsz == cap) {
					cap = cap ? cap * 2 : 1024;
					size_t *ns = cvl_realloc(sizes, cap * sizeof(*ns));
					if (!ns)
						rc = cvl_err(CONVLOG_ENOMEM, "out of memory training a dictionary");
					else
						sizes = ns;
				}
				if (!rc && !(rc = cvl_buf_append(&samples, f->raw + s, e - s)))
					sizes[nsz++] = e - s;
			}
			cvl_cache_release(db->cache, f);
		}
	}
	mdb_cursor_close(c);
	cvl_lmdb_abort(txn);
	if (!rc && nsz >= 16 && samples.len >= 8 * DICT_SIZE / 4) {
		uint8_t *dict = cvl_malloc(DICT_SIZE);
		if (!dict) {
			rc = cvl_err(CONVLOG_ENOMEM, "out of memory training a dictionary");
			goto out;
		}
		size_t dl = ZDICT_trainFromBuffer(dict, DICT_SIZE, samples.p, sizes, (unsigned)nsz);
		unsigned id = ZDICT_isError(dl) ? 0 : ZDICT_getDictID(dict, dl);
		char path[CVL_PATH_MAX];
		if (id)
			cvl_dict_path(path, sizeof(path), db->seg_dir, id);
		/* zstd derives the id from the content: the same samples give
		 * the same dictionary, which is then reused; another one with
		 * that id (a hash collision) means going without */
		int usable = 0;
		if (id && cvl_os_exists(path)) {
			uint8_t *old = NULL;
			size_t ol = 0;
			if (cvl_dict_read(db->seg_dir, id, &old, &ol) == 0)
				usable = ol == dl && memcmp(old, dict, dl) == 0;
			cvl_err_clear();
			cvl_free(old);
		} else if (id && !(rc = cvl_dict_write(db->seg_dir, id, dict, dl))) {
			usable = 1;
		}
		if (usable) {
			p->cdict = ZSTD_createCDict(dict, dl, COLD_LEVEL);
			p->dict_id = p->cdict ? id : 0;
		}
		cvl_free(dict);
	}
out:
	cvl_free(sizes);
	cvl_buf_free(&samples);
	return rc;
}

/* ---- copying ---- */

static int copy_live(cpass *p)
{
	convlog_db *db = p->db;
	unsigned flags = p->o ? p->o->flags : 0;
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t since = 0;
	uint8_t at[20]; /* where to go on after a pause */
	int rc = 0, mrc, paused = 0;

again:
	if ((rc = cvl_lmdb_rtxn(&db->lm, &txn)))
		return rc;
	if ((mrc = mdb_cursor_open(txn, db->lm.dbi[CVL_T_MSG], &c))) {
		cvl_lmdb_abort(txn);
		return cvl_lmdb_err(mrc, "msg");
	}
	if (paused) {
		/* the table may have changed meanwhile: on from the key we
		 * stopped at, which was not copied yet */
		k = (MDB_val){20, at};
		mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	} else {
		mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	}
	paused = 0;
	for (; !mrc && !rc; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		uint32_t vflags;
		/* a full output is switched to without this read transaction
		 * (the switch's write may have to grow the map, which waits for
		 * every reader of the process); a resize waiting for readers is
		 * let through the same way */
		if (k.mv_size == 20 &&
		    (p->w[0].full || p->w[1].full || cvl_lmdb_wanted(&db->lm))) {
			memcpy(at, k.mv_data, 20);
			paused = 1;
			break;
		}
		if (k.mv_size != 20 || v.mv_size < CVL_LOC_LEN) {
			rc = cvl_err(CONVLOG_ECORRUPT, "a msg entry is malformed");
			break;
		}
		cvl_loc loc = {.seg = cvl_get_u32le(v.mv_data),
			       .frame_off = cvl_get_u32le((uint8_t *)v.mv_data + 4),
			       .frame_len = cvl_get_u32le((uint8_t *)v.mv_data + 8),
			       .rec_idx = cvl_get_u16le((uint8_t *)v.mv_data + 12)};
		if (!is_victim(p, loc.seg, &vflags))
			continue;
		cvl_frame *f;
		if ((rc = cvl_frame_get(db, &loc, &f)))
			break;
		if (loc.rec_idx >= f->nrec) {
			cvl_cache_release(db->cache, f);
			rc = cvl_err(CONVLOG_ECORRUPT, "segment %u offset %" PRIu64 ": a locator names record %u of %u",
				     loc.seg, loc.frame_off, loc.rec_idx, f->nrec);
			break;
		}
		size_t s = f->rec_off[loc.rec_idx];
		size_t e = loc.rec_idx + 1u < f->nrec ? f->rec_off[loc.rec_idx + 1] : f->raw_len;
		const uint8_t *rp = f->raw + s;
		cvl_record r;
		const char *why;
		if (cvl_record_decode(&rp, f->raw + e, &r, &why) || !cvl_record_is_msg(r.type)) {
			cvl_cache_release(db->cache, f);
			rc = cvl_err(CONVLOG_ECORRUPT, "segment %u offset %" PRIu64 ": a locator names no message record",
				     loc.seg, loc.frame_off);
			break;
		}
		/* archived conversations go cold in archive mode, and stay cold */
		int cold = is_archived(p, k.mv_data) &&
			   ((flags & CONVLOG_COMPACT_ARCHIVE) || (vflags & CVL_SEGF_COLD));
		rc = writer_add(p, &p->w[cold], k.mv_data, &loc, f->raw + s, e - s, r.lsn);
		cvl_cache_release(db->cache, f);
		p->done += e - s;
		if (!rc && p->done - since >= (4u << 20)) {
			since = p->done;
			rc = progress(p);
		}
	}
	mdb_cursor_close(c);
	cvl_lmdb_abort(txn);
	if (!rc && !paused && mrc && mrc != MDB_NOTFOUND)
		rc = cvl_lmdb_err(mrc, "msg");
	for (int t = 0; t < 2 && !rc; t++) {
		if (p->w[t].full) {
			p->w[t].full = 0;
			rc = switch_segment(p, &p->w[t]);
		}
	}
	if (!rc && paused)
		goto again;
	for (int t = 0; t < 2 && !rc; t++)
		rc = switch_segment(p, &p->w[t]);
	return rc;
}

/* ---- dropping the victims ---- */

static int drop_txn(cpass *p, uint64_t *gone, size_t *ngone_out, uint64_t *tid);

static int drop_victims(cpass *p)
{
	convlog_db *db = p->db;
	uint64_t *gone = NULL, tid = 0;
	size_t ngone = 0;
	int rc;

	if (!p->nvic)
		return 0;
	if (!(gone = cvl_malloc(p->nvic * sizeof(*gone))))
		return cvl_err(CONVLOG_ENOMEM, "out of memory compacting");
	pthread_mutex_lock(&db->flushmu);
	do
		rc = drop_txn(p, gone, &ngone, &tid);
	while (cvl_lmdb_again(&db->lm, &rc));
	if (!rc) {
		for (size_t i = 0; i < ngone; i++) {
			char path[CVL_PATH_MAX];
			cvl_seg_path(path, sizeof(path), db->seg_dir, gone[i]);
			/* open descriptors keep the file readable for old snapshots */
			cvl_segs_retire(db, gone[i], tid);
			if (cvl_os_unlink(path) != 0)
				cvl_err_clear();
			p->st->segments_rewritten++;
		}
		if (ngone && cvl_os_fsync_dir(db->seg_dir) != 0)
			cvl_err_clear();
	}
	pthread_mutex_unlock(&db->flushmu);
	cvl_free(gone);
	return rc;
}

/* drop_victims' LMDB transaction (flushmu held), a whole attempt: *tid gets
 * its id, gone[] the segments it dropped. */
static int drop_txn(cpass *p, uint64_t *gone, size_t *ngone_out, uint64_t *tid)
{
	convlog_db *db = p->db;
	MDB_txn *txn = NULL;
	size_t ngone = 0;
	uint8_t b[16] = {0};
	int rc, mrc;

	if ((rc = cvl_lmdb_wtxn(&db->lm, &txn)))
		goto out;
	for (size_t i = 0; i < p->nvic && !rc; i++) {
		cvl_segstat st;
		if ((rc = cvl_segstat_get(&db->lm, txn, (uint32_t)p->vic[i], &st)))
			break;
		if (st.live_recs) { /* cannot happen: keep it rather than lose a record */
			cvl_db_log(db, CONVLOG_LOG_WARN,
				   "compaction: segment %" PRIu64 " still holds %" PRIu64 " live records; kept",
				   p->vic[i], st.live_recs);
			continue;
		}
		uint8_t k[8];
		cvl_put_u64be(k, p->vic[i]);
		MDB_val mk = {8, k};
		mrc = mdb_del(txn, db->lm.dbi[CVL_T_SEG], &mk, NULL);
		if (mrc && mrc != MDB_NOTFOUND) {
			rc = cvl_lmdb_err(mrc, "segments");
			break;
		}
		if ((rc = cvl_segstat_del(&db->lm, txn, (uint32_t)p->vic[i])))
			break;
		gone[ngone++] = p->vic[i];
	}
	/* replay must not start in a segment that is gone: the log after a
	 * dropped (fully flushed) segment starts at the next log segment */
	if (!rc && !(rc = meta_get_u64(db, txn, "replay_pos", 16, b))) {
		uint64_t rs = cvl_get_u64le(b);
		int dropped = 0;
		for (size_t i = 0; i < ngone; i++)
			dropped |= gone[i] == rs;
		if (dropped) {
			uint64_t next = 0;
			pthread_rwlock_rdlock(&db->seg_lock);
			for (size_t i = 0; i < db->nsegs && !next; i++)
				if (!(db->segs[i].flags & CVL_SEGF_COMPACT) && db->segs[i].id > rs)
					next = db->segs[i].id;
			pthread_rwlock_unlock(&db->seg_lock);
			if (!next) {
				rc = cvl_err(CONVLOG_ECORRUPT, "compaction: no log segment follows segment %" PRIu64, rs);
			} else {
				cvl_put_u64le(b, next);
				cvl_put_u64le(b + 8, CVL_SEG_HEADER);
				MDB_val mk = {10, "replay_pos"}, mv = {16, b};
				if ((mrc = mdb_put(txn, db->lm.dbi[CVL_T_META], &mk, &mv, 0)))
					rc = cvl_lmdb_err(mrc, "meta");
			}
		}
	} else if (rc == CONVLOG_ENOTFOUND) {
		rc = 0;
	}
	/* a purge is erased from the segments once every log segment sealed
	 * after it was rewritten; LMDB's free pages are next (erase_meta) */
	if (!rc && p->erase && !p->erase_partial &&
	    !(rc = meta_get_u64(db, txn, "erase_lsn", 8, b)) && cvl_get_u64le(b) == p->erase_lsn) {
		MDB_val mk = {9, "erase_lsn"}, ek = {10, "erase_meta"};
		uint8_t one = 1;
		MDB_val ev = {1, &one};
		if ((mrc = mdb_del(txn, db->lm.dbi[CVL_T_META], &mk, NULL)) ||
		    (mrc = mdb_put(txn, db->lm.dbi[CVL_T_META], &ek, &ev, 0)))
			rc = cvl_lmdb_err(mrc, "meta");
	} else if (rc == CONVLOG_ENOTFOUND) {
		rc = 0;
	}
	if (!rc) {
		*tid = mdb_txn_id(txn);
		mrc = cvl_lmdb_commit(txn);
		txn = NULL;
		if (mrc)
			rc = cvl_lmdb_err(mrc, "commit compaction");
	}
out:
	cvl_lmdb_abort(txn);
	*ngone_out = ngone;
	return rc;
}

/* Removes dictionary files no segment uses any more. */
static int dict_cb(void *ud, const char *name)
{
	cpass *p = ud;
	uint32_t id;
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	int used = 0, mrc;

	if (cvl_dict_parse_name(name, &id) != 0)
		return 0;
	if (cvl_lmdb_rtxn(&p->db->lm, &txn) != 0) {
		cvl_err_clear();
		return 0;
	}
	if (!mdb_cursor_open(txn, p->db->lm.dbi[CVL_T_SEGSTAT], &c)) {
		for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); !mrc && !used;
		     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			cvl_segstat st;
			if (!cvl_segstat_decode(v.mv_data, v.mv_size, &st))
				used = st.dict_id == id;
			cvl_err_clear();
		}
		mdb_cursor_close(c);
	} else {
		used = 1;
	}
	cvl_lmdb_abort(txn);
	if (!used && id != p->dict_id) {
		char path[CVL_PATH_MAX];
		cvl_dict_path(path, sizeof(path), p->db->seg_dir, id);
		if (cvl_os_unlink(path) != 0)
			cvl_err_clear();
	}
	return 0;
}

/* ---- LMDB: copy without free pages, then swap ---- */

/* Read-only handles hold a shared flock on STORE/readers while open; the
 * exclusive lock, taken without waiting, proves there are none (and keeps
 * new ones out until it is dropped).  -1 when it cannot be had. */
static int lock_readers_out(convlog_db *db)
{
	char path[CVL_PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/readers", db->path);
	if (cvl_os_open(path, CVL_O_RDWR | CVL_O_CREATE, &fd) != 0) {
		cvl_err_clear();
		return -1;
	}
	if (cvl_os_flock(fd, 1, 0) != 0) {
		cvl_err_clear();
		cvl_os_close(fd);
		return -1;
	}
	return fd;
}

/* Copies every table of the store into a new environment in `dir`, in key
 * order with MDB_APPEND: leaf pages come out full, and no free page (with
 * whatever bytes it held) is carried over. */
static int repack(convlog_db *db, const char *dir)
{
	MDB_env *dst = NULL;
	MDB_txn *src = NULL, *dt = NULL;
	MDB_cursor *c = NULL;
	int rc = 0, mrc;

	if ((mrc = mdb_env_create(&dst)))
		return cvl_lmdb_err(mrc, "env_create");
	mdb_env_set_maxdbs(dst, CVL_T_COUNT + 8);
	/* (the source transaction first: it keeps the map from being resized
	 * under mdb_env_info) */
	if ((rc = cvl_lmdb_rtxn(&db->lm, &src)))
		goto out;
	/* room for the live pages, not the whole map: a second 1 TiB mapping
	 * fails where address space is tight (sanitizers, ulimit -v) */
	MDB_envinfo info;
	MDB_stat es;
	uint64_t want = 64u << 20;
	if (!mdb_env_info(db->lm.env, &info) && !mdb_env_stat(db->lm.env, &es))
		want += (uint64_t)(info.me_last_pgno + 1) * es.ms_psize * 5 / 4;
	mdb_env_set_mapsize(dst, (size_t)(want < db->lm.map_size ? want : db->lm.map_size));
	if ((mrc = mdb_env_open(dst, dir, MDB_NOSYNC, 0644))) {
		rc = cvl_lmdb_err(mrc, "repack");
		goto out;
	}
	for (int t = 0; t < CVL_T_COUNT && !rc; t++) {
		MDB_dbi dd;
		MDB_val k, v;
		size_t n = 0;
		if (!cvl_lmdb_has(&db->lm, t))
			continue;
		if ((mrc = mdb_txn_begin(dst, NULL, 0, &dt)) ||
		    (mrc = mdb_dbi_open(dt, cvl_table_name(t), MDB_CREATE, &dd)) ||
		    (mrc = mdb_cursor_open(src, db->lm.dbi[t], &c))) {
			rc = cvl_lmdb_err(mrc, "repack");
			break;
		}
		for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); !mrc;
		     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			/* the copy has no free pages: nothing is left to erase */
			if (t == CVL_T_META && k.mv_size == 10 && !memcmp(k.mv_data, "erase_meta", 10))
				continue;
			if ((mrc = mdb_put(dt, dd, &k, &v, MDB_APPEND)))
				break;
			if (++n % 65536 == 0) { /* bounded dirty pages */
				mrc = cvl_lmdb_commit(dt);
				dt = NULL; /* gone either way */
				if (mrc || (mrc = mdb_txn_begin(dst, NULL, 0, &dt)))
					break;
			}
		}
		mdb_cursor_close(c);
		c = NULL;
		if (mrc && mrc != MDB_NOTFOUND) {
			rc = cvl_lmdb_err(mrc, cvl_table_name(t));
			break;
		}
		if (!dt)
			break;
		mrc = cvl_lmdb_commit(dt);
		dt = NULL;
		if (mrc)
			rc = cvl_lmdb_err(mrc, "repack commit");
	}
	if (!rc && (mrc = mdb_env_sync(dst, 1)))
		rc = cvl_lmdb_err(mrc, "repack sync");
out:
	if (dt)
		cvl_lmdb_abort(dt);
	if (src)
		cvl_lmdb_abort(src);
	mdb_env_close(dst);
	return rc;
}

/* Share of data.mdb's pages no table uses (free pages). */
static double lmdb_free_share(convlog_db *db)
{
	MDB_envinfo info;
	MDB_txn *txn;
	MDB_stat st;
	uint64_t used = 0;

	if (cvl_lmdb_rtxn(&db->lm, &txn)) {
		cvl_err_clear();
		return 0;
	}
	if (mdb_env_info(db->lm.env, &info)) {
		cvl_lmdb_abort(txn);
		return 0;
	}
	for (int t = 0; t < CVL_T_COUNT; t++) {
		if (!cvl_lmdb_has(&db->lm, t))
			continue;
		if (!mdb_stat(txn, db->lm.dbi[t], &st))
			used += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
	}
	cvl_lmdb_abort(txn);
	double total = (double)info.me_last_pgno + 1;
	return total > 64 ? 1.0 - (double)used / total : 0;
}

/*
 * LMDB never clears the pages a purge freed: a compacting copy holds only
 * live pages.  The copy is made with every LMDB writer of the handle held
 * off, then swapped in by rename when no reader is inside a transaction.
 * Skipped (and retried by the next compaction) while another process has
 * the store open, or readers keep transactions open.
 */
static int erase_swap(convlog_db *db, int force, int *done)
{
	char meta[CVL_PATH_MAX], dir[CVL_PATH_MAX], from[CVL_PATH_MAX + 16], to[CVL_PATH_MAX + 16];
	MDB_txn *txn = NULL;
	int rc = 0, mrc, swapped = 0, rfd = -1;

	*done = 0;
	snprintf(meta, sizeof(meta), "%s/meta", db->path);
	snprintf(dir, sizeof(dir), "%s/meta.compact", db->path);
	snprintf(from, sizeof(from), "%s/data.mdb", dir);
	snprintf(to, sizeof(to), "%s/data.mdb", meta);
	/* commits go on (they do not write LMDB); flushes and merges wait */
	pthread_mutex_lock(&db->mergemu);
	pthread_mutex_lock(&db->flushmu);
	/* the pending flag stays in the live environment until the copy,
	 * which leaves it out, replaces it: a crash in between retries */
	if ((rc = cvl_lmdb_rtxn(&db->lm, &txn)))
		goto out;
	MDB_val k = {10, "erase_meta"}, v;
	mrc = mdb_get(txn, db->lm.dbi[CVL_T_META], &k, &v);
	cvl_lmdb_abort(txn);
	txn = NULL;
	if (mrc && mrc != MDB_NOTFOUND) {
		rc = cvl_lmdb_err(mrc, "meta");
		goto out;
	}
	int erasing = mrc == 0;
	if (!erasing && !force)
		goto out; /* nothing to erase */
	if ((rfd = lock_readers_out(db)) < 0) {
		cvl_db_log(db, CONVLOG_LOG_INFO,
			   "compaction: a read-only handle has %s open; LMDB free pages are erased later",
			   db->path);
		goto restore;
	}
	cvl_os_unlink(from);
	snprintf(to, sizeof(to), "%s/lock.mdb", dir);
	cvl_os_unlink(to);
	snprintf(to, sizeof(to), "%s/data.mdb", meta);
	if ((rc = cvl_os_mkdir(dir)) || (rc = repack(db, dir)))
		goto restore;
	/* wait (a little) until no transaction of this handle is open: LMDB's
	 * reader table says a slot is free a few instructions before the
	 * reader's mdb_txn_abort last writes to it, so also wait for every
	 * snapshot to be released (new ones need mtmu) */
	for (int tries = 0; tries < 2000 && !swapped; tries++) {
		pthread_mutex_lock(&db->mtmu);
		/* the gate too: no transaction of this handle (not only
		 * snapshots) may begin while the environment is closed and
		 * reopened; it also waits out a map resize in progress */
		int quiet = atomic_load_explicit(&db->open_snaps, memory_order_acquire) == 0 &&
			    cvl_lmdb_oldest_reader(&db->lm) == UINT64_MAX;
		if (quiet && cvl_lmdb_quiesce(&db->lm, 0) != 0) {
			cvl_err_clear();
			quiet = 0;
		}
		if (quiet) {
			uint64_t map = db->lm.map_size;
			cvl_lmdb_close(&db->lm);
			rc = cvl_os_rename(from, to);
			if (!rc)
				rc = cvl_os_fsync_dir(meta);
			int orc = cvl_lmdb_open(&db->lm, meta, map, 0, CVL_FORMAT_MIN, CVL_FORMAT_VERSION);
			if (orc) {
				/* no environment any more: every LMDB begin (reads
				 * of the failed handle too) must report it, not use
				 * the closed one */
				rc = orc;
				db->lm.broken = orc;
				cvl_db_fail(db, orc);
			}
			cvl_lmdb_resume(&db->lm);
			swapped = 1;
			/* transaction ids start again: no reader is left to
			 * need a retired segment */
			pthread_rwlock_wrlock(&db->seg_lock);
			for (size_t i = 0; i < db->nretired; i++)
				cvl_os_close(db->retired[i].fd);
			db->nretired = 0;
			pthread_rwlock_unlock(&db->seg_lock);
		}
		pthread_mutex_unlock(&db->mtmu);
		if (!swapped) {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
	}
	cvl_os_unlink(from);
	snprintf(from, sizeof(from), "%s/lock.mdb", dir);
	cvl_os_unlink(from);
	rmdir(dir);
	if (swapped) {
		*done = !rc && erasing;
		goto out;
	}
	cvl_db_log(db, CONVLOG_LOG_INFO, "compaction: readers kept LMDB busy; its free pages are erased later");
restore:
	cvl_os_unlink(from);
	snprintf(from, sizeof(from), "%s/lock.mdb", dir);
	cvl_os_unlink(from);
	rmdir(dir);
out:
	if (txn)
		cvl_lmdb_abort(txn);
	if (rfd >= 0)
		cvl_os_close(rfd);
	pthread_mutex_unlock(&db->flushmu);
	pthread_mutex_unlock(&db->mergemu);
	return rc;
}

static void stats_after(cpass *p)
{
	convlog_db *db = p->db;

	pthread_rwlock_rdlock(&db->seg_lock);
	p->st->segments_after = db->nsegs;
	p->st->bytes_after = 0;
	for (size_t i = 0; i < db->nsegs; i++)
		p->st->bytes_after += db->segs[i].size;
	pthread_rwlock_unlock(&db->seg_lock);
}

static uint64_t meta_size(convlog_db *db)
{
	char path[CVL_PATH_MAX];
	uint64_t sz = 0;

	snprintf(path, sizeof(path), "%s/meta/data.mdb", db->path);
	if (cvl_os_path_size(path, &sz) != 0)
		cvl_err_clear();
	return sz;
}

CONVLOG_API void convlog_compact_opts_init(convlog_compact_opts *o)
{
	if (!o)
		return;
	memset(o, 0, sizeof(*o));
	o->version = CONVLOG_COMPACT_VERSION;
}

int cvl_compact(convlog_db *db, const convlog_compact_opts *o, convlog_progress_fn fn, void *ud,
		convlog_compact_stats *st, int background)
{
	cpass p = {.db = db, .o = o, .fn = fn, .ud = ud, .st = st};
	unsigned flags = o ? o->flags : 0;
	int64_t t0 = now_ns();
	int rc;

	memset(st, 0, sizeof(*st));
	st->version = CONVLOG_COMPACT_VERSION;
	st->meta_bytes_before = meta_size(db);
	writer_init(&p.w[0], db, 0);
	writer_init(&p.w[1], db, 1);
	pthread_mutex_lock(&db->compactmu);
	/* everything the log holds goes to LMDB first; erasure and full
	 * compaction also seal the active segment so it can be rewritten */
	{
		uint8_t b[8];
		MDB_txn *txn;
		int erase = 0;
		if (!(rc = cvl_lmdb_rtxn(&db->lm, &txn))) {
			erase = meta_get_u64(db, txn, "erase_lsn", 8, b) == 0;
			cvl_lmdb_abort(txn);
		}
		cvl_err_clear();
		if (!rc && !(flags & CONVLOG_COMPACT_DRY_RUN) && (!background || erase)) {
			pthread_mutex_lock(&db->wmu);
			rc = cvl_rotate_locked(db);
			/* a purge still in the memtable is found after the flush */
			pthread_mutex_unlock(&db->wmu);
			if (!rc)
				rc = cvl_flush_frozen(db);
			if (!rc && !erase && !(rc = cvl_lmdb_rtxn(&db->lm, &txn))) {
				erase = meta_get_u64(db, txn, "erase_lsn", 8, b) == 0;
				cvl_lmdb_abort(txn);
				cvl_err_clear();
			}
			if (!rc && (erase || (flags & CONVLOG_COMPACT_FULL))) {
				pthread_mutex_lock(&db->wmu);
				rc = cvl_seg_roll_locked(db);
				if (!rc)
					rc = cvl_rotate_locked(db);
				pthread_mutex_unlock(&db->wmu);
				if (!rc)
					rc = cvl_flush_frozen(db);
			}
		}
	}
	if (!rc)
		rc = plan(&p);
	st->segments_planned = p.nvic;
	st->bytes_planned = p.work;
	if (rc || (flags & CONVLOG_COMPACT_DRY_RUN)) {
		stats_after(&p);
		goto out;
	}
	p.t0_ns = now_ns();
	if (!rc && (rc = progress(&p)) == 0 && p.nvic) {
		if (!(rc = train_dict(&p)) && !(rc = copy_live(&p)))
			rc = drop_victims(&p);
		if (!rc)
			cvl_os_listdir(db->seg_dir, dict_cb, &p);
		p.done = p.work;
		if (!rc)
			rc = progress(&p);
	}
	/* the purged conversations' words: every index segment is rewritten
	 * without the documents a purge removed */
	if (!rc && p.erase) {
		int did = 0;
		rc = cvl_text_merge(db, 1, &did);
	}
	if (!rc) {
		/* a purge's free pages must go; so should a data.mdb that the
		 * locator switches left more than a quarter free */
		int done = 0;
		rc = erase_swap(db, p.nvic && lmdb_free_share(db) > 0.25, &done);
		st->erased = done;
	}
	cvl_segs_reap(db);
	stats_after(&p);
out:
	pthread_mutex_unlock(&db->compactmu);
	writer_free(&p.w[0]);
	writer_free(&p.w[1]);
	ZSTD_freeCDict(p.cdict);
	cvl_htab_free(&p.archived);
	while (p.arch_all) {
		struct arch *n = p.arch_all->next;
		cvl_free(p.arch_all);
		p.arch_all = n;
	}
	cvl_free(p.vic);
	cvl_free(p.vic_flags);
	st->meta_bytes_after = meta_size(db);
	st->elapsed_ms = (now_ns() - t0) / 1000000;
	return rc;
}

CONVLOG_API int convlog_compact(convlog_db *db, const convlog_compact_opts *o,
				convlog_progress_fn fn, void *ud, convlog_compact_stats *out)
{
	convlog_compact_stats st;
	int rc;

	cvl_err_clear();
	if ((rc = cvl_db_check_write(db)))
		return rc;
	if (o && o->version != CONVLOG_COMPACT_VERSION)
		return cvl_err(CONVLOG_EINVAL, "compact: options of version %u, expected %u",
			       o->version, CONVLOG_COMPACT_VERSION);
	if (o && (o->flags & ~(unsigned)(CONVLOG_COMPACT_ARCHIVE | CONVLOG_COMPACT_DRY_RUN |
					  CONVLOG_COMPACT_FULL)))
		return cvl_err(CONVLOG_EINVAL, "compact: unknown flags 0x%x", o->flags);
	if (o && (o->garbage_pct > 100 || (o->level && (o->level < 1 || o->level > 19))))
		return cvl_err(CONVLOG_EINVAL, "compact: garbage_pct above 100 or level outside 1..19");
	if (out && out->version != CONVLOG_COMPACT_VERSION)
		return cvl_err(CONVLOG_EINVAL, "compact: stats of version %u, expected %u",
			       out->version, CONVLOG_COMPACT_VERSION);
	rc = cvl_compact(db, o, fn, ud, &st, 0);
	atomic_fetch_add(&db->n_compactions, 1);
	if (out)
		*out = st;
	return rc;
}

/* ---- the background compactor ---- */

static int cp_progress(void *ud, uint64_t done, uint64_t total)
{
	(void)done;
	(void)total;
	return atomic_load(&((convlog_db *)ud)->cp_stop);
}

static int lifecycle_set(const convlog_lifecycle *l)
{
	return l->inactive_after_ms || l->archive_after_ms || l->purge_after_ms || l->max_age_ms;
}

static void *cp_main(void *arg)
{
	convlog_db *db = arg;

	for (;;) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)db->opts.compact_interval_ms * 1000000u;
		ts.tv_sec += (time_t)(ns / 1000000000u);
		ts.tv_nsec = (long)(ns % 1000000000u);
		pthread_mutex_lock(&db->cpmu);
		while (!atomic_load(&db->cp_stop)) {
			if (pthread_cond_timedwait(&db->cpcond, &db->cpmu, &ts) != 0)
				break;
		}
		pthread_mutex_unlock(&db->cpmu);
		if (atomic_load(&db->cp_stop) || atomic_load(&db->failed))
			break;
		/* policies first: a purge they make is erased by the pass */
		if (lifecycle_set(&db->opts.life) && convlog_lifecycle_sweep(db, 0, NULL) != 0)
			cvl_db_log(db, CONVLOG_LOG_WARN, "lifecycle sweep failed: %s", cvl_err_msg());
		convlog_compact_opts o;
		convlog_compact_stats st;
		convlog_compact_opts_init(&o);
		o.io_bytes_per_sec = db->opts.compact_io_bps;
		int rc = cvl_compact(db, &o, cp_progress, db, &st, 1);
		if (rc && rc != CONVLOG_ECANCELED)
			cvl_db_log(db, CONVLOG_LOG_WARN, "background compaction failed: %s", cvl_err_msg());
		else if (!rc && st.segments_written)
			cvl_db_log(db, CONVLOG_LOG_INFO,
				   "background compaction: %" PRIu64 " segments rewritten, %" PRIu64
				   " -> %" PRIu64 " bytes in %" PRId64 " ms",
				   st.segments_rewritten, st.bytes_before, st.bytes_after, st.elapsed_ms);
		atomic_fetch_add(&db->n_compactions, 1);
	}
	return NULL;
}

int cvl_cp_start(convlog_db *db)
{
	if (db->readonly || !db->opts.compact_interval_ms)
		return 0;
	pthread_mutex_init(&db->cpmu, NULL);
	pthread_cond_init(&db->cpcond, NULL);
	atomic_store(&db->cp_stop, 0);
	if (pthread_create(&db->cp, NULL, cp_main, db) != 0) {
		pthread_mutex_destroy(&db->cpmu);
		pthread_cond_destroy(&db->cpcond);
		return cvl_err(CONVLOG_ENOMEM, "cannot start the compaction thread");
	}
	db->cp_started = 1;
	return 0;
}

void cvl_cp_stop(convlog_db *db)
{
	if (!db->cp_started)
		return;
	pthread_mutex_lock(&db->cpmu);
	atomic_store(&db->cp_stop, 1);
	pthread_cond_broadcast(&db->cpcond);
	pthread_mutex_unlock(&db->cpmu);
	pthread_join(db->cp, NULL);
	pthread_mutex_destroy(&db->cpmu);
	pthread_cond_destroy(&db->cpcond);
	db->cp_started = 0;
}
