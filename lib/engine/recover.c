/* Open-time recovery: find the segments, replay the log after the last
 * flush into the memtable, and cut off a torn tail. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/db.h"
#include "index/iseg.h"
#include "log/block.h"
#include "log/record.h"
#include "log/segment.h"
#include "os/os.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"

#define REPLAY_BATCH (16u << 20)

typedef struct ids {
	uint64_t *v;
	size_t n, cap;
} ids;

static int collect(void *ud, const char *name)
{
	ids *s = ud;
	uint64_t id;

	if (cvl_seg_parse_name(name, &id) != 0)
		return 0;
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 32;
		uint64_t *nv = cvl_realloc(s->v, nc * sizeof(*nv));
		if (!nv)
			return cvl_err(CONVLOG_ENOMEM, "out of memory listing segments");
		s->v = nv;
		s->cap = nc;
	}
	s->v[s->n++] = id;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int meta_u64(cvl_view *v, const char *key, size_t want, uint8_t *out)
{
	const uint8_t *val;
	size_t n;
	int rc = cvl_view_get(v, CVL_T_META, key, strlen(key), &val, &n);

	if (rc)
		return rc;
	if (n != want)
		return cvl_err(CONVLOG_ECORRUPT, "meta/%s has %zu bytes, expected %zu", key, n, want);
	memcpy(out, val, n);
	return 0;
}

/* Opens every segment file not open yet (and, for known ones, refreshes
 * their size); a newest segment whose header never made it to disk (crash
 * while creating it) is removed. */
static int open_segments(convlog_db *db)
{
	ids s = {0};
	int rc = cvl_os_listdir(db->seg_dir, collect, &s);

	if (rc)
		goto out;
	if (s.n > 1)
		qsort(s.v, s.n, sizeof(*s.v), cmp_u64);
	for (size_t i = 0; i < s.n; i++) {
		int fd;
		uint64_t size;
		if (s.v[i] <= UINT32_MAX && cvl_seg_lookup(db, (uint32_t)s.v[i], &fd) == 0) {
			char path[CVL_PATH_MAX];
			cvl_seg_path(path, sizeof(path), db->seg_dir, s.v[i]);
			if ((rc = cvl_os_file_size(fd, &size, path)))
				goto out;
			pthread_rwlock_wrlock(&db->seg_lock);
			for (size_t k = 0; k < db->nsegs; k++)
				if (db->segs[k].id == s.v[i])
					db->segs[k].size = size;
			pthread_rwlock_unlock(&db->seg_lock);
			continue;
		}
		uint32_t flags = 0;
		rc = cvl_seg_open(db->seg_dir, s.v[i], db->store_id, !db->readonly, &fd, &size,
				  &flags);
		if (rc == CONVLOG_ECORRUPT && i == s.n - 1) {
			char path[CVL_PATH_MAX];
			uint64_t sz = 0;
			cvl_seg_path(path, sizeof(path), db->seg_dir, s.v[i]);
			if (cvl_os_path_size(path, &sz) == 0 && sz <= CVL_SEG_HEADER) {
				cvl_db_log(db, CONVLOG_LOG_WARN,
					   "%s: segment creation was interrupted; removing it", path);
				rc = db->readonly ? 0 : cvl_os_unlink(path);
				break;
			}
		}
		if (rc)
			goto out;
		if ((rc = cvl_segs_add(db, s.v[i], fd, size, flags))) {
			cvl_os_close(fd);
			goto out;
		}
	}
out:
	cvl_free(s.v);
	return rc;
}

typedef struct replay {
	convlog_db *db;
	cvl_memtable *mt; /* where replayed state goes */
	cvl_actx a;
	cvl_buf blk;
	uint8_t *raw;
	size_t rawcap;
	ZSTD_DCtx *dctx;
	uint64_t expect_lsn; /* next LSN the log must hold */
	uint64_t pending_lsn; /* last LSN applied but not yet published */
} replay;

static int publish(replay *r)
{
	int rc;

	if (!r->pending_lsn)
		return 0;
	if ((rc = cvl_actx_settle(&r->a)) || (rc = cvl_text_settle(&r->a, NULL)) ||
	    (rc = cvl_mt_reserve(r->mt, r->a.ws.mt_cost)) || (rc = cvl_text_reserve(&r->a, r->mt)))
		return rc;
	cvl_actx_publish(&r->a, r->mt, r->pending_lsn);
	cvl_text_publish(&r->a, r->mt);
	cvl_actx_reset(&r->a);
	r->pending_lsn = 0;
	return 0;
}

static int bad(const char *path, uint64_t off, const char *why)
{
	return cvl_err(CONVLOG_ECORRUPT, "%s offset %" PRIu64 ": %s", path, off, why);
}

/* Applies every record of the checked block held in r->blk. */
static int replay_block(replay *r, uint32_t seg, uint64_t off, const cvl_block_header *h,
			const char *path)
{
	size_t pos = CVL_BLOCK_HEADER;
	uint64_t lsn = r->expect_lsn;
	const char *why;
	int rc;

	if (h->min_lsn != r->expect_lsn)
		return bad(path, off, "block LSNs do not continue the log");
	for (unsigned fi = 0; fi < h->frame_count; fi++) {
		cvl_frame_header fh;
		const uint8_t *fp = r->blk.p + pos;
		cvl_frame_check(fp, r->blk.len - pos, &fh, &why);
		if (fh.raw_len > r->rawcap) {
			uint8_t *nr = cvl_realloc(r->raw, fh.raw_len);
			if (!nr)
				return cvl_err(CONVLOG_ENOMEM, "out of memory replaying the log");
			r->raw = nr;
			r->rawcap = fh.raw_len;
		}
		if (cvl_frame_decode(&fh, fp + CVL_FRAME_HEADER, r->dctx, NULL, NULL, r->raw, &why))
			return bad(path, off + pos, why);
		const uint8_t *p = r->raw, *end = r->raw + fh.raw_len;
		for (uint32_t ri = 0; ri < fh.record_count; ri++) {
			cvl_record rec;
			if (cvl_record_decode(&p, end, &rec, &why))
				return bad(path, off + pos, why);
			if (rec.lsn != lsn)
				return bad(path, off + pos, "record LSNs are not consecutive");
			cvl_loc loc = {.seg = seg, .frame_off = off + pos,
				       .frame_len = CVL_FRAME_HEADER + fh.stored_len,
				       .rec_idx = (uint16_t)ri};
			r->a.lsn = rec.lsn;
			r->a.rec.hlc = rec.hlc;
			r->a.rec.origin = rec.origin;
			r->a.blk_last = h->max_lsn;
			if ((rc = cvl_apply(&r->a, rec.type, rec.body, rec.body_len, &loc))) {
				/* a checksummed record that does not fit the state */
				if (rc == CONVLOG_ENOTFOUND)
					rc = CONVLOG_ECORRUPT;
				return cvl_err_ctx(rc, "%s offset %" PRIu64 ": replaying LSN %" PRIu64 ": ",
						   path, off + pos, rec.lsn);
			}
			if (rec.hlc > atomic_load(&r->db->hlc))
				atomic_store(&r->db->hlc, rec.hlc);
			lsn++;
		}
		if (p != end)
			return bad(path, off + pos, "frame has bytes after its last record");
		pos += CVL_FRAME_HEADER + fh.stored_len;
	}
	if (lsn != h->max_lsn + 1)
		return bad(path, off, "block LSN range does not match its records");
	r->expect_lsn = lsn;
	r->pending_lsn = h->max_lsn;
	if (r->a.ws.mt_cost + cvl_text_cost(&r->a) >= REPLAY_BATCH)
		return publish(r);
	return 0;
}

/* Reads the block at off into r->blk; 0 ok, 1 invalid (why set), <0 error. */
static int read_block(replay *r, int fd, const char *path, uint64_t off, uint64_t size,
		      cvl_block_header *h, const char **why)
{
	uint8_t hb[CVL_BLOCK_HEADER];
	size_t got;
	int rc;

	if (size - off < CVL_BLOCK_HEADER) {
		*why = "file ends inside a block header";
		return 1;
	}
	if ((rc = cvl_os_pread(fd, hb, sizeof(hb), off, &got, path)))
		return rc;
	if (got < sizeof(hb)) { /* the file shrank since its size was read */
		*why = "file ends inside a block header";
		return 1;
	}
	if (cvl_block_header_decode(hb, h, why))
		return 1;
	if (size - off < CVL_BLOCK_HEADER + (uint64_t)h->body_len) {
		*why = "file ends inside a block";
		return 1;
	}
	r->blk.len = 0;
	if ((rc = cvl_buf_reserve(&r->blk, CVL_BLOCK_HEADER + h->body_len)))
		return rc;
	if ((rc = cvl_os_pread(fd, r->blk.p, CVL_BLOCK_HEADER + h->body_len, off, &got, path)))
		return rc;
	r->blk.len = got;
	return cvl_block_check(r->blk.p, r->blk.len, h, why) ? 1 : 0;
}

/* *yes: bytes [from, to) of fd are all zero. */
static int all_zero(int fd, const char *path, uint64_t from, uint64_t to, int *yes)
{
	uint8_t buf[65536];
	size_t got;
	int rc;

	*yes = 1;
	while (from < to && *yes) {
		size_t n = to - from < sizeof(buf) ? (size_t)(to - from) : sizeof(buf);
		if ((rc = cvl_os_pread(fd, buf, n, from, &got, path)))
			return rc;
		if (got != n) {
			*yes = 0;
			break;
		}
		for (size_t i = 0; i < n; i++)
			if (buf[i]) {
				*yes = 0;
				break;
			}
		from += n;
	}
	return 0;
}

/*
 * A read-only handle reads a log that a live writer is appending to, one
 * pwrite after the other, into zeros it wrote ahead (txn.c prezero).  The
 * block at `off` may have been zeros or half written when it was read, and
 * whole by the time handle_bad looked past it: bytes after `off` were
 * written after the block at `off` was, so once the scan has seen them a
 * new read of the block, with the file's size read again, sees it whole.
 * Returns 2 (whole now: replay goes on, sf->size updated), 1 (still bad)
 * or <0.
 */
static int reread_block(replay *r, cvl_segfile *sf, const char *path, uint64_t off)
{
	cvl_block_header h;
	const char *why = NULL;
	uint64_t size;
	int rc;

	if ((rc = cvl_os_file_size(sf->fd, &size, path)))
		return rc;
	if ((rc = read_block(r, sf->fd, path, off, size, &h, &why)) != 0)
		return rc;
	pthread_rwlock_wrlock(&r->db->seg_lock);
	sf->size = size;
	pthread_rwlock_unlock(&r->db->seg_lock);
	return 2;
}

/*
 * A bad block.  In the newest segment, damage is a torn tail when nothing
 * after it proves the damaged LSNs were already durable: blocks written
 * after a sync carry that sync's LSN, so a later block whose durable_lsn
 * reaches the damaged LSNs shows synced data was lost (corruption).
 * Otherwise the damage and what follows were never acknowledged as durable
 * and are cut off.  Older segments were synced when the log rolled over:
 * damage there is always corruption.  Returns 0 (the log ends at `off`),
 * 2 (read-only: the block is whole now) or <0.
 */
static int handle_bad(replay *r, cvl_segfile *sf, int last, const char *path, uint64_t off,
		      const char *why)
{
	convlog_db *db = r->db;
	uint64_t found = 0, durable = 0;
	int rc, zero;

	if (!last)
		return bad(path, off, why);
	/* the zeros a writer keeps ahead of the log (txn.c prezero) */
	if ((rc = all_zero(sf->fd, path, off, sf->size, &zero)))
		return rc;
	if (zero) {
		if (!db->readonly && (rc = cvl_os_ftruncate(sf->fd, off, path)))
			return rc;
		pthread_rwlock_wrlock(&db->seg_lock);
		sf->size = off;
		pthread_rwlock_unlock(&db->seg_lock);
		return 0;
	}
	if ((rc = cvl_block_scan_after(sf->fd, path, off + 1, sf->size, &found, &durable)))
		return rc;
	if (db->readonly && (rc = reread_block(r, sf, path, off)) != 1)
		return rc; /* 2: the block is whole now; <0: error */
	if (found && durable >= r->expect_lsn)
		return cvl_err(CONVLOG_ECORRUPT,
			       "%s offset %" PRIu64 ": %s; a later block records LSN %" PRIu64
			       " as durable, so this is damage to synced data, not a torn write",
			       path, off, why, durable);
	/* (read-only: also what a block being written looks like) */
	cvl_db_log(db, db->readonly ? CONVLOG_LOG_INFO : CONVLOG_LOG_WARN,
		   "%s: torn tail at offset %" PRIu64 " (%s): %" PRIu64 " bytes (%" PRIu64
		   " unsynced blocks after it) %s",
		   path, off, why, sf->size - off, found, db->readonly ? "ignored" : "truncated");
	db->truncated_bytes += sf->size - off;
	if (!db->readonly) {
		if ((rc = cvl_os_ftruncate(sf->fd, off, path)) || (rc = cvl_os_fdatasync(sf->fd, path)))
			return rc;
	}
	pthread_rwlock_wrlock(&db->seg_lock);
	sf->size = off;
	pthread_rwlock_unlock(&db->seg_lock);
	return 0;
}

static int replay_segment(replay *r, size_t i, uint64_t off)
{
	convlog_db *db = r->db;
	cvl_segfile *sf = &db->segs[i];
	char path[CVL_PATH_MAX];
	int last = (ssize_t)i == cvl_segs_last_log(db);

	cvl_seg_path(path, sizeof(path), db->seg_dir, sf->id);
	if (off > sf->size || off < CVL_SEG_HEADER)
		return bad(path, off, "the flushed state (meta/replay_pos) does not point into this segment");
	while (off < sf->size) {
		cvl_block_header h;
		const char *why = NULL;
		int rc = read_block(r, sf->fd, path, off, sf->size, &h, &why);
		if (rc == 1) {
			/* 0: the log ends at off; 2 (read-only): the block was
			 * being written and is whole now */
			if ((rc = handle_bad(r, sf, last, path, off, why)) != 2)
				return rc;
			continue;
		}
		if (rc)
			return rc;
		if ((rc = replay_block(r, (uint32_t)sf->id, off, &h, path)))
			return rc;
		off += r->blk.len;
		db->recovered_blocks++;
	}
	return 0;
}

/*
 * Replays the log from (start_seg, start_off) into `mt`, reading the
 * flushed state through LMDB transaction `txn` (taken over by the replay
 * and ended with it, unless `keep_txn`).  *end_lsn gets the last LSN
 * replayed.
 */
static int replay_log(convlog_db *db, cvl_memtable *mt, MDB_txn *txn, int keep_txn,
		      uint64_t start_seg, uint64_t start_off, uint64_t flushed_lsn,
		      uint64_t *end_lsn)
{
	replay r = {.db = db, .mt = mt, .expect_lsn = flushed_lsn + 1};
	int rc;

	cvl_buf_init(&r.blk, 0);
	if ((rc = cvl_actx_init(&r.a, db))) {
		if (!keep_txn)
			cvl_lmdb_abort(txn);
		return rc;
	}
	r.a.view.lm = &db->lm;
	r.a.view.txn = txn;
	r.a.view.mt[0] = mt;
	r.a.view.nmt = 1;
	cvl_mt_ref(mt);
	r.a.view.snap = UINT64_MAX;
	r.dctx = ZSTD_createDCtx();
	if (!r.dctx) {
		rc = cvl_err(CONVLOG_ENOMEM, "out of memory for zstd");
		goto out;
	}
	for (size_t i = 0; i < db->nsegs && !rc; i++) {
		/* compacted segments are not part of the log */
		if (db->segs[i].id < start_seg || db->segs[i].flags & CVL_SEGF_COMPACT)
			continue;
		rc = replay_segment(&r, i, db->segs[i].id == start_seg ? start_off : CVL_SEG_HEADER);
	}
	if (!rc)
		rc = publish(&r);
	*end_lsn = r.expect_lsn - 1;
out:
	ZSTD_freeDCtx(r.dctx);
	cvl_free(r.raw);
	cvl_buf_free(&r.blk);
	if (keep_txn)
		r.a.view.txn = NULL; /* the caller's still */
	cvl_actx_free(&r.a);
	return rc;
}

/* Reads where the flushed state ends, through LMDB transaction `txn`. */
static int read_progress(convlog_db *db, MDB_txn *txn, uint64_t *flushed, uint64_t *seg,
			 uint64_t *off)
{
	cvl_view v = {.lm = &db->lm, .txn = txn};
	uint8_t b[16];
	int rc;

	*flushed = 0;
	*seg = 0;
	*off = CVL_SEG_HEADER;
	rc = meta_u64(&v, "flushed_lsn", 8, b);
	if (!rc)
		*flushed = cvl_get_u64le(b);
	if (!rc || rc == CONVLOG_ENOTFOUND)
		rc = meta_u64(&v, "replay_pos", 16, b);
	if (!rc) {
		*seg = cvl_get_u64le(b);
		*off = cvl_get_u64le(b + 8);
	}
	if (!rc || rc == CONVLOG_ENOTFOUND)
		rc = meta_u64(&v, "hlc", 8, b);
	if (!rc && cvl_get_u64le(b) > atomic_load(&db->hlc))
		atomic_store(&db->hlc, cvl_get_u64le(b));
	if (rc && rc != CONVLOG_ENOTFOUND)
		return rc;
	if (*seg) {
		int fd;
		if (*seg > UINT32_MAX || cvl_seg_fd(db, (uint32_t)*seg, &fd) != 0)
			return cvl_err(CONVLOG_ECORRUPT,
				       "segment %016" PRIx64 " holding the log after the last flush is missing",
				       *seg);
	}
	return 0;
}

static int tmp_cb(void *ud, const char *name)
{
	convlog_db *db = ud;
	uint64_t id;
	size_t n = strlen(name);
	char path[CVL_PATH_MAX];

	if (cvl_seg_parse_tmp_name(name, &id) == 0 ||
	    (n > 10 && strncmp(name, "dict-", 5) == 0 && strcmp(name + n - 4, ".tmp") == 0)) {
		snprintf(path, sizeof(path), "%s/%s", db->seg_dir, name);
		cvl_db_log(db, CONVLOG_LOG_INFO, "%s: unfinished compaction output; removing it", path);
		return cvl_os_unlink(path);
	}
	return 0;
}

/*
 * The writer removes what an interrupted compaction left (format-spec.md
 * §9.7): unfinished outputs (*.seg.tmp), compacted segments the manifest
 * does not list (written, never switched in), and log segments older than
 * the replay position the manifest no longer lists (replaced, not yet
 * unlinked).
 */
static int remove_leftovers(convlog_db *db, MDB_txn *txn, uint64_t start_seg)
{
	const uint8_t *v;
	size_t n;
	int rc;

	if ((rc = cvl_os_listdir(db->seg_dir, tmp_cb, db)))
		return rc;
	rc = cvl_lmdb_get(&db->lm, txn, CVL_T_META, "seg_next", 8, &v, &n);
	if (rc == 0 && n == 8 && cvl_get_u64le(v) > db->seg_next)
		db->seg_next = cvl_get_u64le(v);
	else if (rc && rc != CONVLOG_ENOTFOUND)
		return rc;
	for (size_t i = 0; i < db->nsegs;) {
		cvl_segfile *sf = &db->segs[i];
		uint8_t k[8];
		cvl_put_u64be(k, sf->id);
		rc = cvl_lmdb_get(&db->lm, txn, CVL_T_SEG, k, 8, &v, &n);
		if (rc && rc != CONVLOG_ENOTFOUND)
			return rc;
		int orphan = rc == CONVLOG_ENOTFOUND &&
			     ((sf->flags & CVL_SEGF_COMPACT) || (start_seg && sf->id < start_seg));
		if (!orphan) {
			i++;
			continue;
		}
		char path[CVL_PATH_MAX];
		cvl_seg_path(path, sizeof(path), db->seg_dir, sf->id);
		cvl_db_log(db, CONVLOG_LOG_INFO, "%s: left by an interrupted compaction; removing it", path);
		if ((rc = cvl_os_unlink(path)))
			return rc;
		pthread_rwlock_wrlock(&db->seg_lock);
		cvl_os_close(sf->fd);
		memmove(db->segs + i, db->segs + i + 1, (db->nsegs - i - 1) * sizeof(*db->segs));
		db->nsegs--;
		pthread_rwlock_unlock(&db->seg_lock);
	}
	return cvl_os_fsync_dir(db->seg_dir);
}

/* Opens the text index the flushed state names, marks its removed
 * versions (after replay: through memtable mt) and registers it. */
static int load_text(convlog_db *db, const uint64_t *tids, size_t n, cvl_memtable *mt,
		     int tolerate)
{
	cvl_iseg **segs;
	int nsegs, rc;

	if (!db->readonly && (rc = cvl_text_remove_orphans(db, tids, n)))
		return rc;
	if ((rc = cvl_text_load(db, tids, n, mt, NULL, tolerate, &segs, &nsegs)))
		return rc;
	pthread_mutex_lock(&db->mtmu);
	cvl_text_install_locked(db, segs, nsegs);
	pthread_mutex_unlock(&db->mtmu);
	return 0;
}

/* Replays the log tail into db->active and loads the text index. */
static int recover_state(convlog_db *db, uint64_t *end, int tolerate)
{
	uint64_t flushed, start_seg, start_off, *tids = NULL;
	size_t ntids = 0;
	MDB_txn *txn;
	int rc;

	if ((rc = open_segments(db)) || (rc = cvl_lmdb_rtxn(&db->lm, &txn)))
		return rc;
	if ((rc = read_progress(db, txn, &flushed, &start_seg, &start_off)) ||
	    (rc = cvl_text_open_list(db, txn, &tids, &ntids)) ||
	    (!db->readonly && (rc = remove_leftovers(db, txn, start_seg)))) {
		cvl_lmdb_abort(txn);
		cvl_free(tids); /* read by the list before a later step failed */
		return rc;
	}
	db->flushed_lsn = flushed;
	rc = replay_log(db, db->active, txn, 0, start_seg, start_off, flushed, end);
	if (!rc)
		rc = load_text(db, tids, ntids, db->active, tolerate);
	cvl_free(tids);
	return rc;
}

int cvl_recover(convlog_db *db)
{
	uint64_t end = 0;
	int rc;

	for (int tries = 0;; tries++) {
		/* an index file that stays missing is damage, not a race:
		 * the last try opens the store without it */
		rc = recover_state(db, &end, !db->readonly || tries == 16);
		/* a reader may race a writer's merge (see cvl_refresh_readonly) */
		if (rc != CONVLOG_ENOTFOUND || !db->readonly || tries == 16)
			break;
		cvl_memtable *nm;
		if ((rc = cvl_mt_new(&nm)))
			break;
		cvl_mt_unref(db->active);
		db->active = nm;
		cvl_err_clear();
	}
	if (rc)
		return rc;
	db->next_lsn = end + 1;
	db->written_lsn = db->synced_lsn = end;
	atomic_store(&db->visible_lsn, end);
	if (db->readonly)
		return 0;
	if (cvl_segs_last_log(db) < 0) {
		int fd;
		uint64_t id = db->seg_next ? db->seg_next : 1;
		if ((rc = cvl_seg_create(db->seg_dir, id, db->store_id, cvl_os_now_ms(), &fd)))
			return rc;
		if ((rc = cvl_segs_add(db, id, fd, CVL_SEG_HEADER, 0))) {
			cvl_os_close(fd);
			return rc;
		}
	}
	cvl_segfile *last = &db->segs[cvl_segs_last_log(db)];
	db->active_seg = last->id;
	db->active_fd = last->fd;
	db->active_end = last->size;
	db->zero_end = last->size;
	db->sync_fd = last->fd;
	db->active->end_seg = last->id;
	db->active->end_off = last->size;
	/* what the crashed process wrote may still sit only in the page cache */
	char path[CVL_PATH_MAX];
	cvl_seg_path(path, sizeof(path), db->seg_dir, last->id);
	return cvl_os_fdatasync(last->fd, path);
}

/*
 * A read-only handle rebuilds its overlay when the writer has flushed since
 * the handle last looked: LMDB then holds newer state than the replayed
 * memtable was built on, and may name segments opened since.  The new
 * memtable replays the log after the writer's new flush point.
 */
static int refresh_once(convlog_db *db, int tolerate)
{
	uint64_t flushed, start_seg, start_off, end, *tids = NULL;
	size_t ntids = 0;
	cvl_memtable *mt = NULL, *old;
	cvl_iseg **segs = NULL;
	int nsegs = 0;
	MDB_txn *txn;
	int rc;

	if ((rc = open_segments(db)) || (rc = cvl_lmdb_rtxn(&db->lm, &txn)))
		goto out;
	if ((rc = read_progress(db, txn, &flushed, &start_seg, &start_off)) ||
	    (rc = cvl_text_open_list(db, txn, &tids, &ntids))) {
		cvl_lmdb_abort(txn);
		goto out;
	}
	pthread_mutex_lock(&db->mtmu);
	int stale = flushed != db->flushed_lsn;
	pthread_mutex_unlock(&db->mtmu);
	if (!stale) {
		cvl_lmdb_abort(txn);
		goto out;
	}
	if ((rc = cvl_mt_new(&mt))) {
		cvl_lmdb_abort(txn);
		goto out;
	}
	/* the deletion marks are read through the snapshot the index list
	 * came from: a merge committed meanwhile drops the marks of what it
	 * erased, which this handle's older segments still hold */
	rc = replay_log(db, mt, txn, 1, start_seg, start_off, flushed, &end);
	if (rc) {
		cvl_lmdb_abort(txn);
		goto out;
	}
	if ((rc = cvl_text_load(db, tids, ntids, mt, txn, tolerate, &segs, &nsegs)))
		goto out;
	pthread_mutex_lock(&db->mtmu);
	old = db->active;
	db->active = mt;
	cvl_text_install_locked(db, segs, nsegs);
	db->flushed_lsn = flushed;
	atomic_store(&db->visible_lsn, end);
	pthread_mutex_unlock(&db->mtmu);
	cvl_mt_unref(old);
	mt = NULL;
out:
	cvl_free(tids);
	cvl_mt_unref(mt);
	return rc;
}

/*
 * The writer deletes index files merged away right after the LMDB
 * transaction that drops them from the list, so a reader can read a list
 * naming a file that is gone by the time it opens it: it then reads the
 * list again.
 */
int cvl_refresh_readonly(convlog_db *db)
{
	int rc;

	pthread_mutex_lock(&db->wmu); /* read-only handles never write: refresh lock */
	for (int tries = 0;; tries++) {
		rc = refresh_once(db, tries == 16);
		if (rc != CONVLOG_ENOTFOUND || tries == 16)
			break;
		cvl_err_clear();
	}
	pthread_mutex_unlock(&db->wmu);
	return rc;
}
