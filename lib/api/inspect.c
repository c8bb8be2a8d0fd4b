/* convlog_inspect: a description of a store's files and structures, read
 * from block and frame headers, LMDB statistics and the engine's state. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "engine/db.h"
#include "engine/segstat.h"
#include "index/iseg.h"
#include "log/block.h"
#include "log/dict.h"
#include "log/segment.h"
#include "os/os.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"

/* What one segment walk adds up besides convlog_segment_info. */
typedef struct seg_sums {
	uint64_t stored; /* stored bytes of the frames of valid blocks */
} seg_sums;

/* A frame header checked without its stored bytes (no checksum): the
 * rules of format-spec.md §4.2 that need only the 24 bytes. */
static int frame_head(const uint8_t b[CVL_FRAME_HEADER], uint64_t avail, cvl_frame_header *f,
		      const char **why)
{
	f->stored_len = cvl_get_u32le(b + 8);
	f->raw_len = cvl_get_u32le(b + 12);
	f->record_count = cvl_get_u32le(b + 16);
	f->codec = b[20];
	*why = NULL;
	if (avail < CVL_FRAME_HEADER || f->stored_len > avail - CVL_FRAME_HEADER)
		*why = "frame length runs past the block";
	else if (b[21] || b[22] || b[23])
		*why = "reserved frame header bytes are set";
	else if (f->codec > CVL_CODEC_ZSTD_DICT)
		*why = "unknown frame codec";
	else if (f->record_count == 0 || f->record_count > CVL_FRAME_MAX_RECORDS ||
		 f->raw_len > CVL_BLOCK_MAX_BODY ||
		 (f->codec == CVL_CODEC_RAW && f->raw_len != f->stored_len))
		*why = "frame counts are invalid";
	return *why ? -1 : 0;
}

/* The frame headers of the block at `off`: 1 if they are valid and fill
 * the body, 0 if not, or an I/O error. */
static int scan_frames(int fd, const char *path, uint64_t off, const cvl_block_header *h,
		       convlog_segment_info *si, seg_sums *sum)
{
	uint64_t pos = off + CVL_BLOCK_HEADER, end = pos + h->body_len;
	uint64_t raw = 0, stored = 0, recs = 0;
	uint8_t b[CVL_FRAME_HEADER];
	const char *why;
	size_t got;
	int rc;

	for (unsigned fi = 0; fi < h->frame_count; fi++) {
		cvl_frame_header f;
		if (end - pos < CVL_FRAME_HEADER)
			return 0;
		if ((rc = cvl_os_pread(fd, b, sizeof(b), pos, &got, path)))
			return rc;
		if (got != sizeof(b) || frame_head(b, end - pos, &f, &why))
			return 0;
		raw += f.raw_len;
		stored += f.stored_len;
		recs += f.record_count;
		pos += CVL_FRAME_HEADER + (uint64_t)f.stored_len;
	}
	if (pos != end || recs != h->record_count)
		return 0;
	si->frames += h->frame_count;
	si->records += recs;
	si->raw_bytes += raw;
	sum->stored += stored;
	return 1;
}

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* Walks the block headers of one segment up to `limit`.  In the newest log
 * segment (`tail`), zeros or a block cut short end the log quietly: the
 * writer keeps zeros ahead of it and may be writing the next block. */
static int scan_segment(convlog_db *db, const cvl_segfile *sf, uint64_t limit, int tail,
			convlog_segment_info *si, seg_sums *sum)
{
	char path[CVL_PATH_MAX];
	uint64_t off = CVL_SEG_HEADER;
	uint8_t hb[CVL_BLOCK_HEADER];
	size_t got;
	int rc;

	cvl_seg_path(path, sizeof(path), db->seg_dir, sf->id);
	si->valid_bytes = CVL_SEG_HEADER;
	while (off < limit) {
		cvl_block_header h;
		const char *why;
		size_t n = limit - off < CVL_BLOCK_HEADER ? (size_t)(limit - off) : CVL_BLOCK_HEADER;
		if ((rc = cvl_os_pread(sf->fd, hb, n, off, &got, path)))
			return rc;
		if (tail && all_zero(hb, got))
			break;
		if (got < CVL_BLOCK_HEADER || cvl_block_header_decode(hb, &h, &why)) {
			si->damaged = !(tail && got < CVL_BLOCK_HEADER);
			break; /* the next block cannot be found */
		}
		if (limit - off - CVL_BLOCK_HEADER < h.body_len) {
			si->damaged = !tail;
			break;
		}
		if ((rc = scan_frames(sf->fd, path, off, &h, si, sum)) < 0)
			return rc;
		if (rc == 1) {
			si->blocks++;
			si->valid_bytes += CVL_BLOCK_HEADER + (uint64_t)h.body_len;
			if (!si->min_lsn || h.min_lsn < si->min_lsn)
				si->min_lsn = h.min_lsn;
			if (h.max_lsn > si->max_lsn)
				si->max_lsn = h.max_lsn;
			if (!si->dict_id)
				si->dict_id = h.dict_id;
		} else {
			si->damaged = 1;
		}
		off += CVL_BLOCK_HEADER + (uint64_t)h.body_len;
	}
	return 0;
}

/* One segment: its file, its blocks, its accounting in seg_stats. */
static int inspect_segment(convlog_db *db, cvl_view *v, const cvl_segfile *sf, int newest_log,
			   convlog_segment_info *si, seg_sums *sum)
{
	char path[CVL_PATH_MAX];
	uint64_t size = 0;
	int rc;

	si->id = sf->id;
	si->tier = sf->flags & CVL_SEGF_COLD ? CONVLOG_TIER_COLD
		   : sf->flags & CVL_SEGF_COMPACT ? CONVLOG_TIER_WARM
						  : CONVLOG_TIER_LOG;
	cvl_seg_path(path, sizeof(path), db->seg_dir, sf->id);
	if ((rc = cvl_os_file_size(sf->fd, &size, path)))
		return rc;
	si->file_bytes = size;
	/* a writer's active segment: only what its commits finished writing */
	uint64_t limit = newest_log && !db->readonly && sf->size < size ? sf->size : size;
	if ((rc = scan_segment(db, sf, limit, newest_log, si, sum)))
		return rc;
	if (db->format >= 3 && db->lm.has_segstat && sf->id <= UINT32_MAX) {
		cvl_segstat st;
		if ((rc = cvl_segstat_get(&db->lm, v->txn, (uint32_t)sf->id, &st)))
			return rc;
		si->live_bytes = st.live_bytes;
		si->live_records = st.live_recs;
		si->erased_bytes = st.erased_bytes;
		if (st.dict_id)
			si->dict_id = st.dict_id;
	}
	return 0;
}

/* The segment table, copied under its lock; the view's LMDB reader keeps
 * the fds of segments a compaction retires meanwhile open. */
static int copy_segs(convlog_db *db, cvl_segfile **out, size_t *n, ssize_t *last_log)
{
	int rc = 0;

	pthread_rwlock_rdlock(&db->seg_lock);
	*last_log = cvl_segs_last_log(db);
	*n = db->nsegs; /* after the call, which the analyzer cannot see into */
	*out = cvl_malloc((db->nsegs ? db->nsegs : 1) * sizeof(**out));
	if (*out)
		memcpy(*out, db->segs, db->nsegs * sizeof(**out));
	else
		rc = cvl_err(CONVLOG_ENOMEM, "out of memory inspecting the segments");
	pthread_rwlock_unlock(&db->seg_lock);
	return rc;
}

static int fill_segments(convlog_db *db, cvl_view *v, uint64_t active_seg,
			 convlog_inspect_info *in)
{
	cvl_segfile *segs = NULL;
	seg_sums sum = {0};
	uint64_t file_total = 0;
	size_t n;
	ssize_t last;
	int rc;

	if ((rc = copy_segs(db, &segs, &n, &last)))
		return rc;
	in->segments = cvl_calloc(n ? n : 1, sizeof(*in->segments));
	if (!in->segments) {
		rc = cvl_err(CONVLOG_ENOMEM, "out of memory inspecting the segments");
		goto out;
	}
	in->n_segments = n;
	for (size_t i = 0; i < n; i++) {
		convlog_segment_info *si = &in->segments[i];
		if ((rc = inspect_segment(db, v, &segs[i], (ssize_t)i == last, si, &sum)))
			goto out;
		si->active = db->readonly ? (ssize_t)i == last : segs[i].id == active_seg;
		file_total += si->file_bytes;
	}
	uint64_t raw = 0;
	for (size_t i = 0; i < n; i++)
		raw += in->segments[i].raw_bytes;
	in->frame_ratio = sum.stored ? (double)raw / (double)sum.stored : 0.0;
	in->content_ratio = file_total ? (double)in->content_bytes / (double)file_total : 0.0;
out:
	cvl_free(segs);
	return rc;
}

static int fill_tables(convlog_db *db, cvl_view *v, convlog_inspect_info *in)
{
	int mrc;

	in->tables = cvl_calloc(CVL_T_COUNT, sizeof(*in->tables));
	if (!in->tables)
		return cvl_err(CONVLOG_ENOMEM, "out of memory inspecting LMDB");
	for (int t = 0; t < CVL_T_COUNT; t++) {
		MDB_stat ms;
		if (!cvl_lmdb_has(&db->lm, t))
			continue; /* a read-only handle on a format 2 store */
		if ((mrc = mdb_stat(v->txn, db->lm.dbi[t], &ms)))
			return cvl_lmdb_err(mrc, cvl_table_name(t));
		convlog_table_info *ti = &in->tables[in->n_tables++];
		ti->name = cvl_table_name(t);
		ti->entries = ms.ms_entries;
		ti->depth = ms.ms_depth;
		ti->branch_pages = ms.ms_branch_pages;
		ti->leaf_pages = ms.ms_leaf_pages;
		ti->overflow_pages = ms.ms_overflow_pages;
	}
	return 0;
}

static int fill_lmdb_env(convlog_db *db, convlog_inspect_info *in)
{
	char p[CVL_PATH_MAX];
	MDB_envinfo ei;
	MDB_stat es;
	uint64_t sz = 0;
	int mrc;

	if ((mrc = mdb_env_info(db->lm.env, &ei)) || (mrc = mdb_env_stat(db->lm.env, &es)))
		return cvl_lmdb_err(mrc, "environment info");
	in->lmdb_map_bytes = ei.me_mapsize;
	in->lmdb_page_size = es.ms_psize;
	in->lmdb_used_pages = (uint64_t)ei.me_last_pgno + 1;
	in->lmdb_last_txn = ei.me_last_txnid;
	in->lmdb_readers = ei.me_numreaders;
	in->lmdb_max_readers = ei.me_maxreaders;
	snprintf(p, sizeof(p), "%s/meta/data.mdb", db->path);
	if (cvl_os_path_size(p, &sz) == 0)
		in->lmdb_file_bytes = sz;
	cvl_err_clear();
	return 0;
}

static int fill_index(convlog_db *db, convlog_inspect_info *in)
{
	cvl_tsnap ts;
	int rc = cvl_text_snapshot(db, &ts);

	if (rc)
		return rc;
	in->index_segments = cvl_calloc(ts.nsegs ? (size_t)ts.nsegs : 1, sizeof(*in->index_segments));
	if (!in->index_segments) {
		rc = cvl_err(CONVLOG_ENOMEM, "out of memory inspecting the text index");
		goto out;
	}
	in->n_index_segments = (size_t)ts.nsegs;
	for (int i = 0; i < ts.nsegs; i++) {
		const cvl_iseg *s = ts.segs[i];
		convlog_index_segment_info *x = &in->index_segments[i];
		x->id = s->id;
		x->bytes = s->file_size;
		x->docs = s->ndocs;
		x->dead_docs = cvl_iseg_ndead(s);
		x->terms = s->nterms;
	}
	snprintf(in->stemming, sizeof(in->stemming), "%s", db->stem);
out:
	cvl_text_snapshot_release(&ts);
	return rc;
}

/* The writer's active segment and the memtables.  wmu first (the writer
 * inserts into the active memtable under it), then mtmu, as commits do. */
static uint64_t fill_memtables(convlog_db *db, convlog_inspect_info *in)
{
	uint64_t active;

	pthread_mutex_lock(&db->wmu);
	active = db->active_seg;
	pthread_mutex_lock(&db->mtmu);
	in->memtable_bytes = cvl_mt_total_bytes(db->active);
	in->memtable_entries = db->active->entries;
	for (int i = 0; i < db->nfrozen; i++) {
		in->memtable_bytes += cvl_mt_total_bytes(db->frozen[i]);
		in->memtable_entries += db->frozen[i]->entries;
	}
	in->frozen_memtables = db->nfrozen;
	pthread_mutex_unlock(&db->mtmu);
	pthread_mutex_unlock(&db->wmu);
	return active;
}

/* Identity, log positions and counters from meta (§7.4). */
static int fill_meta(convlog_db *db, cvl_view *v, convlog_inspect_info *in)
{
	cvl_counters c;
	const uint8_t *val;
	size_t n;
	int rc;

	in->format = db->format;
	for (int i = 0; i < 16; i++)
		snprintf(in->store_id + 2 * i, 3, "%02x", db->store_id[i]);
	in->replica_id = db->replica_id;
	in->readonly = db->readonly;
	in->last_lsn = atomic_load(&db->visible_lsn);
	if (cvl_lmdb_get(&db->lm, v->txn, CVL_T_META, "flushed_lsn", 11, &val, &n) == 0 && n == 8)
		in->flushed_lsn = cvl_get_u64le(val);
	in->replay_offset = CVL_SEG_HEADER;
	if (cvl_lmdb_get(&db->lm, v->txn, CVL_T_META, "replay_pos", 10, &val, &n) == 0 && n == 16) {
		in->replay_segment = cvl_get_u64le(val);
		in->replay_offset = cvl_get_u64le(val + 8);
	}
	cvl_err_clear();
	if ((rc = cvl_counters_read(v, &c)))
		return rc;
	in->conversations = (uint64_t)c.conversations;
	in->messages = (uint64_t)c.messages;
	in->content_bytes = (uint64_t)c.content_bytes;
	return 0;
}

typedef struct dict_walk {
	convlog_db *db;
	convlog_inspect_info *in;
} dict_walk;

static int on_dict(void *ud, const char *name)
{
	dict_walk *w = ud;
	char p[CVL_PATH_MAX];
	uint64_t sz = 0;
	uint32_t id;

	if (cvl_dict_parse_name(name, &id))
		return 0;
	cvl_dict_path(p, sizeof(p), w->db->seg_dir, id);
	if (cvl_os_path_size(p, &sz) == 0) { /* else deleted meanwhile */
		w->in->n_dicts++;
		w->in->dict_bytes += sz;
	}
	return 0;
}

static int fill_dicts(convlog_db *db, convlog_inspect_info *in)
{
	dict_walk w = {db, in};
	int rc = cvl_os_listdir(db->seg_dir, on_dict, &w);

	cvl_err_clear();
	return rc < 0 ? rc : 0;
}

CONVLOG_API void convlog_inspect_free(convlog_inspect_info *info)
{
	if (!info)
		return;
	cvl_free(info->segments);
	cvl_free(info->tables);
	cvl_free(info->index_segments);
	cvl_free(info);
}

CONVLOG_API int convlog_inspect(convlog_db *db, convlog_inspect_info **out)
{
	convlog_inspect_info *in = NULL;
	cvl_view v;
	int rc, have_view = 0;

	cvl_err_clear();
	if (!out)
		return cvl_err(CONVLOG_EINVAL, "inspect: out is NULL");
	*out = NULL;
	if ((rc = cvl_db_check(db)))
		return rc;
	if (!(in = cvl_calloc(1, sizeof(*in))))
		return cvl_err(CONVLOG_ENOMEM, "out of memory inspecting the store");
	in->version = CONVLOG_INSPECT_VERSION;
	/* the index first: on a read-only handle it catches up with the writer */
	if ((rc = fill_index(db, in)) || (rc = cvl_db_snapshot(db, &v)))
		goto out;
	have_view = 1;
	uint64_t active = fill_memtables(db, in);
	if (!(rc = fill_meta(db, &v, in)) && !(rc = fill_segments(db, &v, active, in)) &&
	    !(rc = fill_tables(db, &v, in)) && !(rc = fill_lmdb_env(db, in)))
		rc = fill_dicts(db, in);
out:
	if (have_view)
		cvl_view_release(&v);
	if (rc) {
		convlog_inspect_free(in);
		return rc;
	}
	*out = in;
	return 0;
}
