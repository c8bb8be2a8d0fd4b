/* Write transactions: record encoding, commit (one block), group commit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/db.h"
#include "index/memidx.h"
#include "log/block.h"
#include "log/record.h"
#include "log/segment.h"
#include "os/os.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/hlc.h"
#include "util/uuid.h"

int64_t cvl_txn_now(convlog_txn *t)
{
	(void)t;
	return cvl_os_now_ms();
}

/* The writer's warm scratch: taken by a transaction once it holds wmu,
 * given back (emptied; dropped if it grew past 64 MiB) before it lets go,
 * so that each transaction does not grow its buffers from nothing. */
#define SCRATCH_KEEP (64u << 20)

static void scratch_take(convlog_txn *t)
{
	convlog_db *db = t->db;

	if (db->wtext) {
		cvl_text_release(&t->a.text);
		t->a.text = *db->wtext;
		t->a.text.an = NULL;
		cvl_text_init(db->wtext);
		memset(db->wtext, 0, sizeof(*db->wtext));
		cvl_text_init(db->wtext);
	}
	if (db->wrecs.cap) {
		cvl_buf_free(&t->recs);
		t->recs = db->wrecs;
		t->recs.len = 0;
		cvl_buf_init(&db->wrecs, CONVLOG_MAX_TXN_BYTES);
	}
}

static void scratch_give(convlog_txn *t)
{
	convlog_db *db = t->db;

	if (!db->wtext)
		db->wtext = cvl_calloc(1, sizeof(*db->wtext));
	if (db->wtext) {
		cvl_text_reset(&t->a);
		if (t->a.text.terms.cap + t->a.text.groups.cap + t->a.text.gpos.cap > SCRATCH_KEEP)
			cvl_text_release(&t->a.text);
		cvl_text_release(db->wtext);
		*db->wtext = t->a.text;
		memset(&t->a.text, 0, sizeof(t->a.text));
		cvl_text_init(&t->a.text);
	}
	if (t->recs.cap <= SCRATCH_KEEP) {
		cvl_buf_free(&db->wrecs);
		db->wrecs = t->recs;
		db->wrecs.len = 0;
		cvl_buf_init(&t->recs, CONVLOG_MAX_TXN_BYTES);
	}
}

static void txn_free(convlog_txn *t)
{
	if (!t)
		return;
	cvl_actx_free(&t->a);
	cvl_buf_free(&t->recs);
	cvl_free(t->offs);
	cvl_free(t->grp);
	t->magic = CVL_DB_POISON;
	cvl_free(t);
}

CONVLOG_API int convlog_txn_begin(convlog_db *db, convlog_txn **out)
{
	convlog_txn *t;
	int rc;

	cvl_err_clear();
	if (!out)
		return cvl_err(CONVLOG_EINVAL, "txn_begin: out is NULL");
	*out = NULL;
	convlog_db *handle = db;
	const cvl_scope *scope;
	if ((rc = cvl_db_enter_write(&db, &scope)))
		return rc;
	t = cvl_calloc(1, sizeof(*t));
	if (!t)
		return cvl_err(CONVLOG_ENOMEM, "out of memory for a transaction");
	t->magic = CVL_TXN_MAGIC;
	t->db = db;
	t->handle = handle;
	t->scope = scope;
	cvl_buf_init(&t->recs, CONVLOG_MAX_TXN_BYTES);
	if ((rc = cvl_actx_init(&t->a, db))) {
		cvl_free(t);
		return rc;
	}
	t->a.txn = t;
	t->a.scope = scope;
	pthread_mutex_lock(&db->wmu);
	if ((rc = atomic_load(&db->failed)) != 0) {
		pthread_mutex_unlock(&db->wmu);
		txn_free(t);
		return cvl_err(CONVLOG_EFAILED, "the store failed earlier (%s); reopen it",
			       convlog_strerror(rc));
	}
	/* a memtable its commit could not freeze (flushes keep failing) takes
	 * no more: refused here, before anything is written */
	if (cvl_mt_total_bytes(db->active) >= db->opts.memtable_size &&
	    (rc = cvl_rotate_locked(db)) != 0) {
		pthread_mutex_unlock(&db->wmu);
		txn_free(t);
		return rc;
	}
	rc = cvl_db_snapshot(db, &t->a.view);
	if (rc) {
		pthread_mutex_unlock(&db->wmu);
		txn_free(t);
		return rc;
	}
	scratch_take(t);
	t->a.view.snap = UINT64_MAX;
	t->a.view.ws = &t->a.ws;
	t->first_lsn = db->next_lsn;
	*out = t;
	return 0;
}

static int txn_check(convlog_txn *t)
{
	if (!t || t->magic != CVL_TXN_MAGIC)
		return cvl_err(CONVLOG_EINVAL, "not a live transaction handle");
	if (t->a.failed)
		return cvl_err(CONVLOG_ETXN, "the transaction failed earlier; abort it");
	return 0;
}

/* A scoped transaction touches only conversations inside its scope:
 * before a record, its conversation must be new or in scope (else it does
 * not exist for this handle); after it, still in scope. */
static int scope_before(convlog_txn *t, const convlog_uuid *conv)
{
	cvl_cstate *cs = NULL;
	int rc = cvl_actx_conv(&t->a, conv, &cs);

	if (rc == CONVLOG_ENOTFOUND && cs && !cs->cur)
		return 0; /* a new conversation: checked after */
	return rc;
}

static int scope_after(convlog_txn *t, const convlog_uuid *conv)
{
	cvl_cstate *cs = NULL;
	char s[CONVLOG_UUID_STRLEN];
	int rc = cvl_actx_conv(&t->a, conv, &cs);

	if (rc == CONVLOG_ENOTFOUND && cs && !cs->cur)
		return 0; /* purged */
	if (rc == CONVLOG_ENOTFOUND && cs && cs->cur)
		return cvl_err(CONVLOG_EINVAL,
			       "conversation %s would leave this handle's scope (org_id / user_id)",
			       cvl_uuid_str(conv, s));
	return rc;
}

int cvl_txn_record(convlog_txn *t, uint8_t type, const convlog_uuid *conv,
		   const cvl_buf *body)
{
	convlog_db *db = t->db;
	size_t mark = t->recs.len;
	uint64_t lsn = t->first_lsn + t->nrec;
	cvl_loc loc = {0};
	int rc;

	if (t->scope && (rc = scope_before(t, conv)))
		return rc;
	if (t->nrec == t->offcap) {
		size_t nc = t->offcap ? t->offcap * 2 : 64;
		size_t *no = cvl_realloc(t->offs, nc * sizeof(*no));
		if (!no)
			return cvl_err(CONVLOG_ENOMEM, "out of memory in a transaction");
		t->offs = no;
		convlog_uuid *ng = cvl_realloc(t->grp, nc * sizeof(*ng));
		if (!ng)
			return cvl_err(CONVLOG_ENOMEM, "out of memory in a transaction");
		t->grp = ng;
		t->offcap = nc;
	}
	db->hlc = cvl_hlc_next(db->hlc, cvl_os_now_ms());
	rc = cvl_record_encode(&t->recs, type, lsn, db->hlc, db->replica_id, body->p, body->len);
	if (rc) {
		t->recs.len = mark;
		if (rc == CONVLOG_ETOOBIG)
			return cvl_err(CONVLOG_ETOOBIG,
				       "transaction would exceed %u bytes of records; commit in smaller batches",
				       CONVLOG_MAX_TXN_BYTES);
		return rc;
	}
	t->offs[t->nrec] = mark;
	t->grp[t->nrec] = *conv;
	loc.frame_off = t->nrec;
	t->a.rec.hlc = db->hlc;
	t->a.rec.origin = db->replica_id;
	rc = cvl_apply(&t->a, type, body->p, body->len, &loc);
	if (!rc && t->scope)
		rc = scope_after(t, conv);
	if (rc) {
		t->a.failed = 1;
		return rc;
	}
	t->nrec++;
	return 0;
}

int cvl_txn_read_msg(convlog_txn *t, const convlog_uuid *conv, uint32_t seq, convlog_msg **out)
{
	return cvl_txn_read_msgx(t, conv, seq, out, NULL);
}

int cvl_txn_read_msgx(convlog_txn *t, const convlog_uuid *conv, uint32_t seq, convlog_msg **out,
		      cvl_msg_info *info)
{
	uint8_t k[20];
	const uint8_t *val;
	size_t vlen;
	cvl_msg_sum s;
	int rc;

	rc = cvl_view_get(&t->a.view, CVL_T_MSG, k, cvl_key_msg(k, conv, seq), &val, &vlen);
	if (rc)
		return rc;
	if (cvl_msg_sum_decode(val, vlen, seq, &s))
		return cvl_err(CONVLOG_ECORRUPT, "message summary is malformed");
	if (s.loc.seg == 0) {
		cvl_record r;
		const char *why;
		size_t i = (size_t)s.loc.frame_off;
		const uint8_t *p = t->recs.p + t->offs[i];
		if (i >= t->nrec || cvl_record_decode(&p, t->recs.p + t->recs.len, &r, &why))
			return cvl_err(CONVLOG_ECORRUPT, "pending record %zu is unreadable", i);
		if (info)
			cvl_msg_info_of(&r, info);
		rc = cvl_msg_decode(r.body, r.body_len, out, &why);
		return rc < 0 && rc != CONVLOG_ENOMEM ? cvl_err(CONVLOG_ECORRUPT, "%s", why) : rc;
	}
	return cvl_read_msgx(t->db, &s.loc, conv, seq, out, info);
}

/* ---- commit ---- */

size_t cvl_mt_total_bytes(cvl_memtable *mt)
{
	return atomic_load(&mt->bytes) +
	       (mt->aux ? atomic_load(&((cvl_memidx *)mt->aux)->bytes) : 0);
}

/*
 * The active segment is kept zero-filled about CVL_PREZERO bytes past its
 * last block.  A commit then overwrites allocated, initialised blocks
 * without changing the file size, so its fdatasync writes the data pages
 * only, instead of also committing the file system's metadata for an
 * extending write (measured on this machine's ext4: p50 255 us instead of
 * 340 us per 1.5 KB append + fdatasync).  The zeros are written after a
 * block, before its commit's sync; about once per CVL_PREZERO bytes of log
 * one commit's sync carries them.  They are not log data: recovery drops an
 * all-zero tail of the newest segment without reporting it (format-spec
 * §9.3), and a segment loses its zeros when it is sealed or closed.  This
 * is an optimisation: a failure is ignored and the zeros taken back.
 */
#define CVL_PREZERO (1u << 20)

static void prezero(convlog_db *db, const char *path)
{
	static const uint8_t zeros[65536];
	uint64_t end = db->active_end, cap = db->opts.segment_size;

	if (db->zero_end < end)
		db->zero_end = end;
	if (db->zero_end - end >= CVL_PREZERO / 2 || db->zero_end >= cap)
		return;
	uint64_t to = db->zero_end + CVL_PREZERO;
	if (to > cap)
		to = cap;
	for (uint64_t at = db->zero_end; at < to;) {
		size_t n = to - at < sizeof(zeros) ? (size_t)(to - at) : sizeof(zeros);
		if (cvl_os_pwrite(db->active_fd, zeros, n, at, path) != 0) {
			cvl_err_clear();
			if (cvl_os_ftruncate(db->active_fd, end, path) != 0)
				cvl_err_clear(); /* zeros, or less: still an all-zero tail */
			db->zero_end = end;
			return;
		}
		at += n;
	}
	db->zero_end = to;
}

/* Cuts the zeros after the last block (sealing or closing the segment). */
int cvl_seg_trim_zeros(convlog_db *db)
{
	char path[CVL_PATH_MAX];

	if (db->active_fd < 0 || db->zero_end <= db->active_end)
		return 0;
	cvl_seg_path(path, sizeof(path), db->seg_dir, db->active_seg);
	int rc = cvl_os_ftruncate(db->active_fd, db->active_end, path);
	if (!rc)
		db->zero_end = db->active_end;
	return rc;
}

static int rollover(convlog_db *db)
{
	uint64_t id;
	int fd, rc;
	char path[CVL_PATH_MAX];

	if ((rc = cvl_seg_alloc_id(db, &id)))
		return rc;

	cvl_seg_path(path, sizeof(path), db->seg_dir, db->active_seg);
	/* a sealed segment ends with its last block */
	if ((rc = cvl_seg_trim_zeros(db)))
		return rc;
	rc = cvl_os_fdatasync(db->active_fd, path);
	if (rc)
		return rc;
	pthread_mutex_lock(&db->syncmu);
	if (db->written_lsn > db->synced_lsn) {
		db->synced_lsn = db->written_lsn;
		if (db->opts.durability == CONVLOG_DURABILITY_FULL)
			atomic_store(&db->visible_lsn, db->synced_lsn);
	}
	pthread_mutex_unlock(&db->syncmu);
	rc = cvl_seg_create(db->seg_dir, id, db->store_id, cvl_os_now_ms(), &fd);
	if (rc)
		return rc;
	rc = cvl_segs_add(db, id, fd, CVL_SEG_HEADER, 0);
	if (rc) {
		cvl_os_close(fd);
		return rc;
	}
	db->active_seg = id;
	db->active_fd = fd;
	db->active_end = CVL_SEG_HEADER;
	db->zero_end = CVL_SEG_HEADER;
	pthread_mutex_lock(&db->syncmu);
	db->sync_fd = fd;
	pthread_mutex_unlock(&db->syncmu);
	return 0;
}

int cvl_seg_roll_locked(convlog_db *db)
{
	return db->active_end > CVL_SEG_HEADER ? rollover(db) : 0;
}

static void set_seg_size(convlog_db *db, uint64_t id, uint64_t size)
{
	pthread_rwlock_wrlock(&db->seg_lock);
	for (size_t i = db->nsegs; i-- > 0;) {
		if (db->segs[i].id == id) {
			db->segs[i].size = size;
			break;
		}
	}
	pthread_rwlock_unlock(&db->seg_lock);
}

/* Fills in the locators of messages written by this transaction. */
static void fix_locators(convlog_txn *t, const cvl_frame_loc *locs, const size_t *pos,
			 uint64_t block_off)
{
	for (cvl_wentry *e = t->a.ws.all; e; e = e->next_all) {
		if (e->pend_rec < 0)
			continue;
		const cvl_frame_loc *fl = &locs[pos ? pos[e->pend_rec] : (size_t)e->pend_rec];
		cvl_loc l = {.seg = (uint32_t)t->db->active_seg,
			     .frame_off = block_off + fl->frame_off,
			     .frame_len = fl->frame_len,
			     .rec_idx = fl->rec_idx};
		cvl_loc_encode(&l, e->val);
		e->pend_rec = -1;
	}
}

_Static_assert(sizeof(size_t) == sizeof(uint64_t), "LSN scratch reuses size_t arrays");

struct gnode {
	cvl_hnode hn;
	const convlog_uuid *id;
	size_t first;
};

static int gnode_eq(const cvl_hnode *n, const void *key)
{
	return cvl_uuid_cmp(((const struct gnode *)n)->id, key) == 0;
}

struct gpos {
	size_t first, idx;
};

static int gpos_cmp(const void *a, const void *b)
{
	const struct gpos *x = a, *y = b;

	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * Puts the records of one conversation next to each other (keeping their
 * order, groups in order of first appearance), so that a conversation's
 * turns share frames even when a batch interleaves conversations.  Records
 * of different conversations commute (format-spec.md §8), so only LSNs
 * are renumbered in the new order.  Fills *out and offs with the reordered
 * records and pos[i] with the new position of record i; *out stays empty
 * when the order does not change.
 */
static int group_records(convlog_txn *t, cvl_buf *out, size_t *offs, size_t *pos,
			 size_t *grp_of)
{
	struct gnode *nodes = cvl_calloc(t->nrec, sizeof(*nodes));
	struct gpos *order = cvl_malloc(t->nrec * sizeof(*order));
	cvl_htab h = {0};
	size_t groups = 0;
	int rc = 0;

	if (!nodes || !order || (rc = cvl_htab_init(&h, t->nrec * 2))) {
		rc = rc ? rc : cvl_err(CONVLOG_ENOMEM, "out of memory committing");
		goto out;
	}
	for (size_t i = 0; i < t->nrec; i++) {
		uint64_t hash = cvl_get_u64le(t->grp[i].bytes + 8) * UINT64_C(0x9E3779B97F4A7C15);
		struct gnode *g = (struct gnode *)cvl_htab_find(&h, hash, gnode_eq, &t->grp[i]);
		if (!g) {
			g = &nodes[groups++];
			g->id = &t->grp[i];
			g->first = i;
			g->hn.hash = hash;
			cvl_htab_insert(&h, &g->hn);
		}
		order[i] = (struct gpos){g->first, i};
	}
	if (groups < 2)
		goto out;
	qsort(order, t->nrec, sizeof(*order), gpos_cmp);
	if ((rc = cvl_buf_reserve(out, t->recs.len)))
		goto out;
	for (size_t p = 0; p < t->nrec; p++) {
		size_t i = order[p].idx, end = i + 1 < t->nrec ? t->offs[i + 1] : t->recs.len;
		const uint8_t *rp = t->recs.p + t->offs[i];
		uint64_t len;
		offs[p] = out->len;
		pos[i] = p;
		grp_of[p] = order[p].first;
		memcpy(out->p + out->len, rp, end - t->offs[i]);
		cvl_varint_get(&rp, t->recs.p + end, &len);
		cvl_put_u64le(out->p + out->len + (size_t)(rp - (t->recs.p + t->offs[i])) + 2,
			      t->first_lsn + p);
		out->len += end - t->offs[i];
	}
out:
	cvl_htab_free(&h);
	cvl_free(nodes);
	cvl_free(order);
	return rc;
}

/* Writes the block and publishes; wmu held. *lsn gets the commit LSN. */
static int commit_locked(convlog_txn *t, uint64_t *lsn)
{
	convlog_db *db = t->db;
	uint64_t last = t->first_lsn + t->nrec - 1, off;
	cvl_frame_loc *locs;
	char path[CVL_PATH_MAX];
	int rc;

	*lsn = 0;
	if (t->nrec == 0)
		return 0;
	t->a.blk_last = last; /* the feed position of what it changed */
	rc = cvl_actx_settle(&t->a);
	t->a.blk_last = 0;
	if (rc)
		return rc;
	/* one scratch allocation: three size_t arrays, then the locators */
	size_t *offs = cvl_malloc(t->nrec * (3 * sizeof(size_t) + sizeof(*locs)));
	if (!offs)
		return cvl_err(CONVLOG_ENOMEM, "out of memory committing");
	size_t *pos = offs + t->nrec, *grp = pos + t->nrec;
	locs = (cvl_frame_loc *)(grp + t->nrec);
	cvl_buf grouped;
	cvl_buf_init(&grouped, 0);
	if ((rc = group_records(t, &grouped, offs, pos, grp)))
		goto out;
	db->blockbuf.len = 0;
	pthread_mutex_lock(&db->syncmu);
	uint64_t durable = db->synced_lsn;
	pthread_mutex_unlock(&db->syncmu);
	if (grouped.len)
		rc = cvl_block_build(grouped.p, offs, grp, t->nrec, grouped.len, t->first_lsn, last,
				     durable, db->opts.frame_size, db->cctx, db->opts.level,
				     &db->blockbuf, locs);
	else
		rc = cvl_block_build(t->recs.p, t->offs, NULL, t->nrec, t->recs.len, t->first_lsn, last,
				     durable, db->opts.frame_size, db->cctx, db->opts.level,
				     &db->blockbuf, locs);
	if (rc)
		goto out;
	if (db->active_end + db->blockbuf.len > db->opts.segment_size &&
	    db->active_end > CVL_SEG_HEADER && (rc = rollover(db)))
		goto out;
	off = db->active_end;
	fix_locators(t, locs, grouped.len ? pos : NULL, off);
	/* final LSNs (grouping may have renumbered records), for the index */
	for (size_t i = 0; i < t->nrec; i++)
		grp[i] = t->first_lsn + (grouped.len ? pos[i] : i);
	if ((rc = cvl_text_settle(&t->a, (const uint64_t *)grp)) ||
	    (rc = cvl_mt_reserve(db->active, t->a.ws.mt_cost)) ||
	    (rc = cvl_text_reserve(&t->a, db->active)))
		goto out;
	cvl_seg_path(path, sizeof(path), db->seg_dir, db->active_seg);
	rc = cvl_os_pwrite(db->active_fd, db->blockbuf.p, db->blockbuf.len, off, path);
	if (rc) {
		/* take back whatever part of the block reached the file */
		if (cvl_os_ftruncate(db->active_fd, off, path) != 0)
			cvl_db_fail(db, rc);
		db->zero_end = off;
		goto out;
	}
	db->active_end = off + db->blockbuf.len;
	prezero(db, path);
	set_seg_size(db, db->active_seg, db->active_end);
	cvl_actx_publish(&t->a, db->active, last);
	cvl_text_publish(&t->a, db->active);
	db->active->end_seg = db->active_seg;
	db->active->end_off = db->active_end;
	db->next_lsn = last + 1;
	pthread_mutex_lock(&db->syncmu);
	db->written_lsn = last;
	pthread_mutex_unlock(&db->syncmu);
	if (db->opts.durability != CONVLOG_DURABILITY_FULL)
		atomic_store(&db->visible_lsn, last);
	atomic_fetch_add(&db->n_commits, 1);
	*lsn = last;
out:
	cvl_buf_free(&grouped);
	cvl_free(offs);
	return rc;
}

CONVLOG_API int convlog_txn_commit(convlog_txn *t)
{
	convlog_db *db;
	uint64_t lsn = 0;
	int rc;

	cvl_err_clear();
	if (!t || t->magic != CVL_TXN_MAGIC)
		return cvl_err(CONVLOG_EINVAL, "not a live transaction handle");
	db = t->db;
	if (t->a.failed) {
		rc = cvl_err(CONVLOG_ETXN, "the transaction failed earlier and was rolled back");
	} else if ((rc = atomic_load(&db->failed)) != 0) {
		rc = cvl_err(CONVLOG_EFAILED, "the store failed earlier (%s); reopen it",
			     convlog_strerror(rc));
	} else {
		rc = commit_locked(t, &lsn);
	}
	/* the snapshot must go before the lock so a flush can retire memtables */
	cvl_view_release(&t->a.view);
	scratch_give(t);
	/* a full memtable is frozen only now: the rotation may wait for a
	 * flush, and a flush that must grow the LMDB map waits for every
	 * snapshot (this one too) to end */
	if (!rc && lsn && cvl_mt_total_bytes(db->active) >= db->opts.memtable_size &&
	    cvl_rotate_locked(db) != 0)
		cvl_err_clear(); /* the commit is written all the same: it stands, and
				    the next begin is refused while this goes on */
	pthread_mutex_unlock(&db->wmu);
	txn_free(t);
	if (!rc && lsn && db->opts.durability == CONVLOG_DURABILITY_FULL)
		rc = cvl_sync_to(db, lsn);
	return rc;
}

CONVLOG_API void convlog_txn_abort(convlog_txn *t)
{
	convlog_db *db;

	if (!t || t->magic != CVL_TXN_MAGIC)
		return;
	db = t->db;
	cvl_view_release(&t->a.view);
	scratch_give(t);
	pthread_mutex_unlock(&db->wmu);
	txn_free(t);
}

int cvl_txn_enter(convlog_db *db, convlog_txn *txn, convlog_txn **use)
{
	int rc;

	if (txn) {
		if ((rc = txn_check(txn)))
			return rc;
		if (txn->handle != db)
			return cvl_err(CONVLOG_EINVAL, "transaction belongs to another store handle");
		txn->op_mark = txn->nrec;
		*use = txn;
		return 0;
	}
	rc = convlog_txn_begin(db, use);
	if (!rc)
		(*use)->autocommit = 1;
	return rc;
}

int cvl_txn_leave(convlog_txn *use, convlog_txn *given, int rc)
{
	char saved[CVL_ERRMSG_MAX];

	if (given) {
		/* a call that failed after writing part of its records would
		 * leave half an operation in the txn */
		if (rc && given->nrec > given->op_mark)
			given->a.failed = 1;
		return rc;
	}
	if (rc) {
		memcpy(saved, cvl_err_msg(), sizeof(saved));
		convlog_txn_abort(use);
		return cvl_err(rc, "%s", saved);
	}
	return convlog_txn_commit(use);
}

/* ---- group commit ---- */

int cvl_sync_to(convlog_db *db, uint64_t lsn)
{
	int rc = 0;
	char path[CVL_PATH_MAX];

	pthread_mutex_lock(&db->syncmu);
	while (db->synced_lsn < lsn) {
		int f = atomic_load(&db->failed);
		if (f) {
			rc = cvl_err(CONVLOG_EFAILED,
				     "a log sync failed (%s); this commit may not be durable: reopen the store",
				     convlog_strerror(f));
			break;
		}
		if (db->sync_running) {
			pthread_cond_wait(&db->synccond, &db->syncmu);
			continue;
		}
		uint64_t target = db->written_lsn;
		int fd = db->sync_fd;
		db->sync_running = 1;
		pthread_mutex_unlock(&db->syncmu);
		snprintf(path, sizeof(path), "%s (active segment)", db->seg_dir);
		int src = cvl_os_fdatasync(fd, path);
		pthread_mutex_lock(&db->syncmu);
		db->sync_running = 0;
		if (src) {
			cvl_db_fail(db, src);
			rc = src;
			pthread_cond_broadcast(&db->synccond);
			break;
		}
		atomic_fetch_add(&db->n_syncs, 1);
		if (target > db->synced_lsn) {
			db->synced_lsn = target;
			if (db->opts.durability == CONVLOG_DURABILITY_FULL)
				atomic_store(&db->visible_lsn, target);
		}
		pthread_cond_broadcast(&db->synccond);
	}
	pthread_mutex_unlock(&db->syncmu);
	return rc;
}
