/* convlog_verify: a full consistency check of a store, on a snapshot. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine/db.h"
#include "engine/segstat.h"
#include "index/iseg.h"
#include "index/memidx.h"
#include "log/block.h"
#include "log/record.h"
#include "log/segment.h"
#include "model/conv.h"
#include "os/os.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/htab.h"
#include "util/uuid.h"

/* What the message table says about one conversation. */
typedef struct cagg {
	cvl_hnode hn;
	struct cagg *next;
	convlog_uuid id;
	uint64_t count, max_seq, min_seq;
	int64_t last_created;
	int64_t tokens, cost, content;
} cagg;

typedef struct vctx {
	convlog_db *db;
	cvl_view v;
	convlog_problem_fn fn;
	void *ud;
	uint64_t n;
	cvl_htab aggs;
	cagg *all;
	cvl_counters seen;
	int ix_table; /* index being walked by on_ix */
	uint64_t msgids, children;
} vctx;

static void problem(vctx *c, const char *where, const char *fmt, ...) CVL_PRINTF(3, 4);

static void problem(vctx *c, const char *where, const char *fmt, ...)
{
	char what[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	c->n++;
	if (c->fn)
		c->fn(c->ud, where, what);
}

static int agg_eq(const cvl_hnode *n, const void *k)
{
	return memcmp(((const cagg *)n)->id.bytes, k, 16) == 0;
}

static uint64_t agg_hash(const convlog_uuid *id)
{
	return cvl_get_u64le(id->bytes + 8) * UINT64_C(0x9E3779B97F4A7C15);
}

static cagg *agg_get(vctx *c, const convlog_uuid *id)
{
	cagg *a = (cagg *)cvl_htab_find(&c->aggs, agg_hash(id), agg_eq, id->bytes);

	if (a)
		return a;
	a = cvl_calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->id = *id;
	a->hn.hash = agg_hash(id);
	cvl_htab_insert(&c->aggs, &a->hn);
	a->next = c->all;
	c->all = a;
	return a;
}

/* ---- 1. the log ---- */

static int scan_frames(vctx *c, const char *path, uint64_t off, const cvl_buf *blk,
		       const cvl_block_header *h, ZSTD_DCtx *d, cvl_buf *raw, int compacted)
{
	size_t pos = CVL_BLOCK_HEADER;
	uint64_t prev = 0;
	char where[CVL_PATH_MAX + 64];
	const char *why;

	for (unsigned fi = 0; fi < h->frame_count; fi++) {
		cvl_frame_header fh;
		snprintf(where, sizeof(where), "segment %s offset %" PRIu64, path, off + pos);
		cvl_frame_check(blk->p + pos, blk->len - pos, &fh, &why);
		raw->len = 0;
		if (cvl_buf_reserve(raw, fh.raw_len))
			return CONVLOG_ENOMEM;
		if (cvl_frame_decode(&fh, blk->p + pos + CVL_FRAME_HEADER, d, cvl_db_ddict, c->db,
				     raw->p, &why)) {
			problem(c, where, "%s", why);
			return 0;
		}
		const uint8_t *p = raw->p, *end = raw->p + fh.raw_len;
		for (uint32_t i = 0; i < fh.record_count; i++) {
			cvl_record r;
			if (cvl_record_decode(&p, end, &r, &why)) {
				problem(c, where, "record %u: %s", i, why);
				return 0;
			}
			/* compacted blocks are ordered by conversation, not LSN */
			if (r.lsn < h->min_lsn || r.lsn > h->max_lsn || (!compacted && r.lsn <= prev))
				problem(c, where, "record %u: LSN %" PRIu64 " is outside the block's range or out of order",
					i, r.lsn);
			if (compacted && !cvl_record_is_msg(r.type))
				problem(c, where, "record %u: a compacted segment holds a %s record", i,
					cvl_record_type_name(r.type));
			prev = r.lsn;
		}
		if (p != end)
			problem(c, where, "bytes after the last record of the frame");
		pos += CVL_FRAME_HEADER + fh.stored_len;
	}
	return 0;
}

static int scan_segment(vctx *c, uint64_t id, int fd, uint64_t size, uint32_t flags,
			uint64_t *prev_lsn, ZSTD_DCtx *d, cvl_buf *blk, cvl_buf *raw)
{
	int compacted = (flags & CVL_SEGF_COMPACT) != 0;
	char path[CVL_PATH_MAX], where[CVL_PATH_MAX + 64];
	uint64_t off = CVL_SEG_HEADER;
	size_t got;
	int rc;

	cvl_seg_path(path, sizeof(path), c->db->seg_dir, id);
	while (off < size) {
		cvl_block_header h;
		const char *why = NULL;
		uint8_t hb[CVL_BLOCK_HEADER];
		snprintf(where, sizeof(where), "segment %s offset %" PRIu64, path, off);
		if (size - off < CVL_BLOCK_HEADER) {
			problem(c, where, "file ends inside a block header");
			return 0;
		}
		if ((rc = cvl_os_pread(fd, hb, sizeof(hb), off, &got, path)))
			return rc;
		if (cvl_block_header_decode(hb, &h, &why)) {
			problem(c, where, "%s; the rest of the segment cannot be read", why);
			return 0;
		}
		if (size - off < CVL_BLOCK_HEADER + (uint64_t)h.body_len) {
			problem(c, where, "file ends inside a block");
			return 0;
		}
		blk->len = 0;
		if ((rc = cvl_buf_reserve(blk, CVL_BLOCK_HEADER + h.body_len)))
			return rc;
		if ((rc = cvl_os_pread(fd, blk->p, CVL_BLOCK_HEADER + h.body_len, off, &got, path)))
			return rc;
		blk->len = got;
		if (cvl_block_check(blk->p, blk->len, &h, &why)) {
			problem(c, where, "%s", why);
		} else {
			if (!compacted && h.min_lsn <= *prev_lsn)
				problem(c, where, "block LSNs %" PRIu64 "..%" PRIu64 " do not follow LSN %" PRIu64,
					h.min_lsn, h.max_lsn, *prev_lsn);
			if (!compacted)
				*prev_lsn = h.max_lsn;
			else if (h.durable_lsn)
				problem(c, where, "a compacted block carries a durable watermark");
			if ((rc = scan_frames(c, path, off, blk, &h, d, raw, compacted)))
				return rc;
		}
		off += CVL_BLOCK_HEADER + (uint64_t)h.body_len;
	}
	return 0;
}

static int check_log(vctx *c)
{
	convlog_db *db = c->db;
	cvl_buf blk, raw;
	uint64_t prev = 0;
	ZSTD_DCtx *d = ZSTD_createDCtx();
	int rc = 0;

	if (!d)
		return cvl_err(CONVLOG_ENOMEM, "out of memory for zstd");
	cvl_buf_init(&blk, 0);
	cvl_buf_init(&raw, 0);
	for (size_t i = 0;; i++) {
		pthread_rwlock_rdlock(&db->seg_lock);
		int more = i < db->nsegs;
		cvl_segfile sf = more ? db->segs[i] : (cvl_segfile){0};
		pthread_rwlock_unlock(&db->seg_lock);
		if (!more ||
		    (rc = scan_segment(c, sf.id, sf.fd, sf.size, sf.flags, &prev, d, &blk, &raw)))
			break;
	}
	cvl_buf_free(&blk);
	cvl_buf_free(&raw);
	ZSTD_freeDCtx(d);
	return rc;
}

/* ---- 2. messages ---- */

static void msg_where(char *w, size_t n, const convlog_uuid *conv, uint32_t seq)
{
	char s[CONVLOG_UUID_STRLEN];

	snprintf(w, n, "message %u of conversation %s", seq, cvl_uuid_str(conv, s));
}

static void check_one_msg(vctx *c, const convlog_uuid *conv, uint32_t seq, const cvl_msg_sum *s)
{
	char where[128];
	convlog_msg *m = NULL;
	const uint8_t *v;
	size_t vl;
	uint8_t mk[20];
	int rc;

	msg_where(where, sizeof(where), conv, seq);
	rc = cvl_read_msg(c->db, &s->loc, conv, seq, &m);
	if (rc) {
		problem(c, where, "%s", cvl_err_msg());
		return;
	}
	if (m->parent_seq != s->parent_seq || m->created_at != s->created_at ||
	    m->token_count != s->tokens || m->cost != s->cost || m->status != s->status ||
	    m->content_len != s->content_len || !m->role || strlen(m->role) != s->role_len ||
	    memcmp(m->role, s->role, s->role_len) != 0)
		problem(c, where, "the summary in the index disagrees with the stored record");
	if (m->parent_seq >= seq)
		problem(c, where, "parent_seq %u does not name an earlier message", m->parent_seq);
	rc = cvl_view_get(&c->v, CVL_T_MSGID, m->id.bytes, 16, &v, &vl);
	cvl_key_msg(mk, conv, seq);
	if (rc || vl != 20 || memcmp(v, mk, 20) != 0)
		problem(c, where, "the message-id index does not point back to it");
	uint8_t ck[24];
	if (cvl_view_get(&c->v, CVL_T_MSG_CHILDREN, ck, cvl_key_child(ck, conv, m->parent_seq, seq), &v,
			 &vl) != 0)
		problem(c, where, "missing from the children index");
	convlog_msg_free(m);
}

static int each(vctx *c, int table, int (*fn)(vctx *, const uint8_t *, size_t, const uint8_t *, size_t))
{
	cvl_vcur cur;
	int rc = cvl_vcur_open(&c->v, table, &cur);

	if (rc)
		return rc;
	for (rc = cvl_vcur_seek(&cur, NULL, 0); rc == 0; rc = cvl_vcur_next(&cur)) {
		if ((rc = fn(c, cur.key, cur.klen, cur.val, cur.vlen)))
			break;
	}
	cvl_vcur_close(&cur);
	return rc == CONVLOG_DONE ? 0 : rc;
}

static int on_msg(vctx *c, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	convlog_uuid conv;
	cvl_msg_sum s;
	char where[128];
	cagg *a;

	if (kl != 20) {
		problem(c, "table msg", "a key of %zu bytes (expected 20)", kl);
		return 0;
	}
	memcpy(conv.bytes, k, 16);
	uint32_t seq = cvl_get_u32be(k + 16);
	msg_where(where, sizeof(where), &conv, seq);
	if (cvl_msg_sum_decode(v, vl, seq, &s)) {
		problem(c, where, "the index entry is malformed");
		return 0;
	}
	if (!(a = agg_get(c, &conv)))
		return cvl_err(CONVLOG_ENOMEM, "out of memory verifying");
	a->count++;
	if (seq > a->max_seq)
		a->max_seq = seq;
	if (!a->min_seq || seq < a->min_seq)
		a->min_seq = seq;
	if (a->count == 1 || s.created_at > a->last_created)
		a->last_created = s.created_at;
	a->tokens += s.tokens > 0 ? s.tokens : 0;
	a->cost += s.cost > 0 ? s.cost : 0;
	a->content += (int64_t)s.content_len;
	c->seen.messages++;
	c->seen.content_bytes += (int64_t)s.content_len;
	check_one_msg(c, &conv, seq, &s);
	return 0;
}

/* Each message's id maps back to it (check_one_msg); with as many id
 * entries as messages, the mapping is one-to-one. */
static int on_msgid(vctx *c, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	char s[CONVLOG_UUID_STRLEN], where[80];
	convlog_uuid id;
	const uint8_t *mv;
	size_t ml;

	memcpy(id.bytes, k, kl == 16 ? 16 : 0);
	snprintf(where, sizeof(where), "message id %s", kl == 16 ? cvl_uuid_str(&id, s) : "?");
	c->msgids++;
	if (kl != 16 || vl != 20) {
		problem(c, where, "malformed message-id index entry");
		return 0;
	}
	if (cvl_view_get(&c->v, CVL_T_MSG, v, 20, &mv, &ml) != 0)
		problem(c, where, "the message-id index names a message that does not exist");
	return 0;
}

/* ---- 3. conversations and their indexes ---- */

static int on_conv(vctx *c, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	char s[CONVLOG_UUID_STRLEN], where[80];
	convlog_uuid id;
	convlog_conv *cv = NULL;
	cvl_ikeys keys = {0};
	const uint8_t *x;
	size_t xl;
	uint8_t ek[CVL_KEY_MAX];
	int rc;

	if (kl != 16) {
		problem(c, "table conv", "a key of %zu bytes (expected 16)", kl);
		return 0;
	}
	memcpy(id.bytes, k, 16);
	snprintf(where, sizeof(where), "conversation %s", cvl_uuid_str(&id, s));
	rc = cvl_conv_load(&c->v, &id, &cv);
	if (rc) {
		problem(c, where, "%s", cvl_err_msg());
		return rc == CONVLOG_ENOMEM ? rc : 0;
	}
	c->seen.conversations++;
	c->seen.deleted += cv->status == CONVLOG_STATUS_DELETED;
	if (cvl_uuid_cmp(&cv->id, &id) != 0)
		problem(c, where, "the record holds another id");
	if (!cvl_status_valid(cv->status))
		problem(c, where, "unknown status %d", cv->status);
	cagg *a = (cagg *)cvl_htab_find(&c->aggs, agg_hash(&id), agg_eq, id.bytes);
	/* a fork's seqs 1..fork_seq are its parent's */
	uint64_t base = convlog_uuid_is_nil(&cv->parent_id) ? 0 : cv->fork_seq;
	uint64_t cnt = a ? a->count : 0, mx = a ? a->max_seq : base;
	if (cv->message_count != base + cnt || mx != base + cnt || (a && a->min_seq <= base))
		problem(c, where, "message_count %" PRIu64 " but %" PRIu64 " own messages after fork_seq %" PRIu64
			" (highest seq %" PRIu64 ")", cv->message_count, cnt, base, mx);
	if (base) {
		convlog_conv *p = NULL;
		if (cvl_conv_load(&c->v, &cv->parent_id, &p) != 0)
			problem(c, where, "the parent of this fork does not exist");
		else if (p->message_count < base || cv->depth != p->depth + 1)
			problem(c, where, "fork_seq or depth disagree with the parent");
		convlog_conv_free(p);
	}
	if (cv->token_total != (a ? a->tokens : 0) || cv->cost_total != (a ? a->cost : 0))
		problem(c, where, "token_total/cost_total disagree with its messages");
	if (cv->tip_seq > cv->message_count)
		problem(c, where, "tip_seq %u is beyond message_count", cv->tip_seq);
	if (cv->last_message_at != (a ? a->last_created : 0))
		problem(c, where, "last_message_at disagrees with its messages");
	if (a && cv->last_activity_at < a->last_created)
		problem(c, where, "last_activity_at is older than its latest message");
	if (a)
		a->count = UINT64_MAX; /* seen */
	if ((rc = cvl_conv_index_keys(cv, &keys)))
		goto out;
	for (size_t i = 0; i < keys.n; i++)
		if (cvl_view_get(&c->v, keys.v[i].table, keys.v[i].k, keys.v[i].len, &x, &xl) != 0)
			problem(c, where, "missing from index %s", cvl_table_name(keys.v[i].table));
	if (cv->external_id &&
	    (cvl_view_get(&c->v, CVL_T_CEXT, ek, cvl_key_text(ek, cv->external_id, strlen(cv->external_id)),
			  &x, &xl) != 0 || xl != 16 || memcmp(x, id.bytes, 16) != 0))
		problem(c, where, "external_id '%.60s' does not map back to it", cv->external_id);
out:
	cvl_ikeys_free(&keys);
	convlog_conv_free(cv);
	(void)v;
	(void)vl;
	return rc;
}

static int on_cstat(vctx *c, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	const uint8_t *x;
	size_t xl;

	if (kl != 16 || cvl_view_get(&c->v, CVL_T_CONV, k, 16, &x, &xl) != 0)
		problem(c, "table conv_stats", "statistics for a conversation that does not exist");
	return 0;
}

static int on_ext(vctx *c, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	convlog_conv *cv = NULL;
	convlog_uuid id;

	if (vl != 16) {
		problem(c, "table conv_external", "malformed entry");
		return 0;
	}
	memcpy(id.bytes, v, 16);
	if (cvl_conv_load(&c->v, &id, &cv) != 0 || !cv->external_id)
		problem(c, "table conv_external", "an external id maps to a conversation without one");
	convlog_conv_free(cv);
	return 0;
}

static int on_ix(vctx *c, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	convlog_conv *cv = NULL;
	cvl_ikeys keys = {0};
	convlog_uuid id;
	int found = 0, rc;

	if (kl < 16) {
		problem(c, cvl_table_name(c->ix_table), "a key of %zu bytes", kl);
		return 0;
	}
	memcpy(id.bytes, k + kl - 16, 16);
	if (cvl_conv_load(&c->v, &id, &cv) != 0) {
		problem(c, cvl_table_name(c->ix_table), "an entry names a conversation that does not exist");
		return 0;
	}
	if ((rc = cvl_conv_index_keys(cv, &keys)) == 0) {
		for (size_t i = 0; i < keys.n && !found; i++)
			found = keys.v[i].table == c->ix_table && keys.v[i].len == kl &&
				memcmp(keys.v[i].k, k, kl) == 0;
		if (!found) {
			char s[CONVLOG_UUID_STRLEN], where[96];
			snprintf(where, sizeof(where), "%s entry for %s", cvl_table_name(c->ix_table),
				 cvl_uuid_str(&id, s));
			problem(c, where, "stale entry: it does not match the conversation");
		}
	}
	cvl_ikeys_free(&keys);
	convlog_conv_free(cv);
	return rc;
}

static int on_child(vctx *c, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	const uint8_t *mv;
	size_t ml;
	uint8_t mk[20];
	cvl_msg_sum s;

	c->children++;
	if (kl != 24) {
		problem(c, "table msg_children", "a key of %zu bytes (expected 24)", kl);
		return 0;
	}
	memcpy(mk, k, 16);
	memcpy(mk + 16, k + 20, 4);
	if (cvl_view_get(&c->v, CVL_T_MSG, mk, 20, &mv, &ml) != 0 ||
	    cvl_msg_sum_decode(mv, ml, cvl_get_u32be(k + 20), &s) ||
	    s.parent_seq != cvl_get_u32be(k + 16))
		problem(c, "table msg_children", "an entry names a message that does not exist or has another parent");
	return 0;
}

static void check_leftovers(vctx *c)
{
	cvl_counters stored;
	char s[CONVLOG_UUID_STRLEN], where[80];

	for (cagg *a = c->all; a; a = a->next) {
		if (a->count == UINT64_MAX)
			continue;
		snprintf(where, sizeof(where), "conversation %s", cvl_uuid_str(&a->id, s));
		problem(c, where, "%" PRIu64 " messages belong to a conversation that does not exist",
			a->count);
	}
	if (c->children != (uint64_t)c->seen.messages)
		problem(c, "table msg_children", "%" PRIu64 " entries for %" PRId64 " messages",
			c->children, c->seen.messages);
	if (c->msgids != (uint64_t)c->seen.messages)
		problem(c, "table msg_id", "%" PRIu64 " entries for %" PRId64 " messages", c->msgids,
			c->seen.messages);
	if (cvl_counters_read(&c->v, &stored) != 0) {
		problem(c, "meta counters", "%s", cvl_err_msg());
		return;
	}
	if (memcmp(&stored, &c->seen, sizeof(stored)) != 0)
		problem(c, "meta counters",
			"stored %" PRId64 " conversations / %" PRId64 " deleted / %" PRId64 " messages / %" PRId64
			" content bytes, found %" PRId64 " / %" PRId64 " / %" PRId64 " / %" PRId64,
			stored.conversations, stored.deleted, stored.messages, stored.content_bytes,
			c->seen.conversations, c->seen.deleted, c->seen.messages, c->seen.content_bytes);
}

/* The text index: segment checksums, and one live document per message. */
static int check_text(vctx *c)
{
	cvl_tsnap ts;
	uint64_t live = 0;
	char where[64];
	int rc = cvl_text_snapshot(c->db, &ts);

	if (rc)
		return rc;
	uint64_t bad = atomic_load(&c->db->text_damaged);
	if (bad)
		problem(c, "text index", "index segment %016" PRIx64 " is missing or unreadable: the "
			"index misses its documents (rebuild it: verify --repair or reindex)", bad - 1);
	for (int i = 0; i < ts.nsegs; i++) {
		cvl_iseg *s = ts.segs[i];
		snprintf(where, sizeof(where), "index segment %016" PRIx64, s->id);
		if (cvl_iseg_verify(s))
			problem(c, where, "%s", cvl_err_msg());
		live += s->ndocs - cvl_iseg_ndead(s);
	}
	for (int i = 0; i < ts.nmt; i++) {
		cvl_memidx *mi = ts.mt[i]->aux;
		uint32_t n = mi ? atomic_load(&mi->ndocs) : 0;
		for (uint32_t d = 0; d < n; d++)
			live += !cvl_mi_dead(mi, d) && cvl_mi_doc(mi, d)->docid <= ts.snap;
	}
	/* comparable only when nothing was committed between the snapshots */
	if (ts.snap == c->v.snap && live != (uint64_t)c->seen.messages)
		problem(c, "text index", "%" PRIu64 " searchable message versions for %" PRId64 " messages",
			live, c->seen.messages);
	cvl_text_snapshot_release(&ts);
	return 0;
}

/* seg_stats must describe the msg table of the same LMDB snapshot, and
 * every segment a locator names must be in the manifest. */
static int check_segstat(vctx *c)
{
	cvl_lmdb *lm = &c->db->lm;
	cvl_sdeltas want = {0};
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	char where[64];
	int rc = 0, mrc;

	if (!lm->has_segstat || c->db->format < 3)
		return 0;
	if ((mrc = mdb_cursor_open(c->v.txn, lm->dbi[CVL_T_MSG], &cur)))
		return cvl_lmdb_err(mrc, "msg");
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !mrc;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint32_t seg;
		uint64_t bytes;
		if (cvl_segstat_of_msg(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &seg, &bytes)) {
			cvl_err_clear();
			continue; /* reported by on_msg */
		}
		if ((rc = cvl_sdeltas_add(&want, seg, (int64_t)bytes, 1, 0)))
			break;
	}
	mdb_cursor_close(cur);
	for (size_t i = 0; !rc && i < want.n; i++) {
		cvl_segstat st;
		uint8_t mk[8];
		MDB_val mkv = {8, mk}, mv;
		snprintf(where, sizeof(where), "segment %u", want.v[i].seg);
		cvl_put_u64be(mk, want.v[i].seg);
		if (mdb_get(c->v.txn, lm->dbi[CVL_T_SEG], &mkv, &mv) != 0)
			problem(c, where, "message locators name it but the manifest (segments) does not list it");
		if ((rc = cvl_segstat_get(lm, c->v.txn, want.v[i].seg, &st))) {
			problem(c, where, "%s", cvl_err_msg());
			rc = 0;
			continue;
		}
		if (st.live_bytes != (uint64_t)want.v[i].live || st.live_recs != (uint64_t)want.v[i].recs)
			problem(c, where, "seg_stats says %" PRIu64 " live bytes in %" PRIu64
				" records; the locators add up to %" PRId64 " in %" PRId64,
				st.live_bytes, st.live_recs, want.v[i].live, want.v[i].recs);
	}
	/* entries for segments no locator names must say nothing is live */
	if (!rc && !mdb_cursor_open(c->v.txn, lm->dbi[CVL_T_SEGSTAT], &cur)) {
		for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !mrc;
		     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			cvl_segstat st;
			if (k.mv_size != 4 || cvl_segstat_decode(v.mv_data, v.mv_size, &st)) {
				cvl_err_clear();
				problem(c, "table seg_stats", "a malformed entry");
				continue;
			}
			uint32_t seg = cvl_get_u32be(k.mv_data);
			int named = 0;
			for (size_t i = 0; i < want.n && !named; i++)
				named = want.v[i].seg == seg;
			snprintf(where, sizeof(where), "segment %u", seg);
			if (!named && (st.live_bytes || st.live_recs))
				problem(c, where, "seg_stats counts live records no locator names");
		}
		mdb_cursor_close(cur);
	}
	cvl_sdeltas_free(&want);
	return rc;
}

/* ---- sync tables (format 4): every conversation has its stamps and one
 * feed entry at its position, every tombstone one feed entry ---- */

static int on_feed(vctx *c, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	char where[96], s[CONVLOG_UUID_STRLEN];
	const uint8_t *x;
	size_t xl;
	convlog_uuid id;
	int rc;

	if (kl != 24 || vl != 1 || (v[0] != CVL_FEED_CONV && v[0] != CVL_FEED_PURGED)) {
		problem(c, "table sync_feed", "a malformed entry");
		return 0;
	}
	memcpy(id.bytes, k + 8, 16);
	uint64_t lsn = cvl_get_u64be(k);
	snprintf(where, sizeof(where), "sync_feed %" PRIu64 "/%s", lsn, cvl_uuid_str(&id, s));
	if (v[0] == CVL_FEED_CONV) {
		cvl_sync_conv sy;
		rc = cvl_view_get(&c->v, CVL_T_SYNC_CONV, id.bytes, 16, &x, &xl);
		if (rc && rc != CONVLOG_ENOTFOUND)
			return rc;
		if (rc || cvl_sync_conv_decode(x, xl, &sy))
			problem(c, where, "the conversation has no (well-formed) sync_conv entry");
		else if (sy.feed_lsn != lsn)
			problem(c, where, "a stale entry: the conversation is at feed position %" PRIu64, sy.feed_lsn);
		return 0;
	}
	rc = cvl_view_get(&c->v, CVL_T_SYNC_TOMB, id.bytes, 16, &x, &xl);
	if (rc && rc != CONVLOG_ENOTFOUND)
		return rc;
	if (rc || xl != CVL_SYNC_TOMB_LEN || cvl_get_u64le(x) != lsn)
		problem(c, where, "a purge entry without its tombstone");
	return 0;
}

static int on_sync_conv(vctx *c, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	char where[96], s[CONVLOG_UUID_STRLEN];
	const uint8_t *x;
	size_t xl;
	cvl_sync_conv sy;
	uint8_t fk[24];
	int rc;

	if (kl != 16 || cvl_sync_conv_decode(v, vl, &sy)) {
		problem(c, "table sync_conv", "a malformed entry");
		return 0;
	}
	snprintf(where, sizeof(where), "sync_conv %s", cvl_uuid_str((const convlog_uuid *)k, s));
	rc = cvl_view_get(&c->v, CVL_T_CONV, k, 16, &x, &xl);
	if (rc && rc != CONVLOG_ENOTFOUND)
		return rc;
	if (rc)
		problem(c, where, "stamps of a conversation that does not exist");
	cvl_feed_key(fk, sy.feed_lsn, k);
	rc = cvl_view_get(&c->v, CVL_T_SYNC_FEED, fk, 24, &x, &xl);
	if (rc && rc != CONVLOG_ENOTFOUND)
		return rc;
	if (rc)
		problem(c, where, "no change-feed entry at its position %" PRIu64, sy.feed_lsn);
	return 0;
}

static int on_conv_sync(vctx *c, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	char where[96], s[CONVLOG_UUID_STRLEN];
	const uint8_t *x;
	size_t xl;
	int rc;

	if (kl != 16)
		return 0; /* reported by on_conv */
	rc = cvl_view_get(&c->v, CVL_T_SYNC_CONV, k, 16, &x, &xl);
	if (rc && rc != CONVLOG_ENOTFOUND)
		return rc;
	snprintf(where, sizeof(where), "conversation %s", cvl_uuid_str((const convlog_uuid *)k, s));
	if (rc)
		problem(c, where, "no sync_conv entry (stamps and feed position)");
	if (!cvl_view_get(&c->v, CVL_T_SYNC_TOMB, k, 16, &x, &xl))
		problem(c, where, "exists although a tombstone says it was purged");
	return 0;
}

static int check_sync(vctx *c)
{
	int rc;

	if (!c->db->lm.has_sync || c->db->format < 4)
		return 0;
	if ((rc = each(c, CVL_T_SYNC_FEED, on_feed)) || (rc = each(c, CVL_T_SYNC_CONV, on_sync_conv)))
		return rc;
	return each(c, CVL_T_CONV, on_conv_sync);
}

static int run(vctx *c)
{
	int rc;

	if ((rc = check_log(c)) || (rc = each(c, CVL_T_MSG, on_msg)) ||
	    (rc = each(c, CVL_T_MSGID, on_msgid)) || (rc = each(c, CVL_T_CONV, on_conv)) ||
	    (rc = each(c, CVL_T_CSTAT, on_cstat)) || (rc = each(c, CVL_T_CEXT, on_ext)) ||
	    (rc = each(c, CVL_T_MSG_CHILDREN, on_child)))
		return rc;
	for (c->ix_table = CVL_T_IX_FIRST; c->ix_table <= CVL_T_IX_LAST; c->ix_table++)
		if ((rc = each(c, c->ix_table, on_ix)))
			return rc;
	check_leftovers(c);
	if ((rc = check_segstat(c)) || (rc = check_sync(c)))
		return rc;
	return check_text(c);
}

CONVLOG_API int convlog_verify(convlog_db *db, convlog_problem_fn fn, void *ud, uint64_t *n_problems)
{
	vctx c = {.db = db, .fn = fn, .ud = ud};
	int rc;

	cvl_err_clear();
	if ((rc = cvl_db_check(db)))
		return rc;
	if ((rc = cvl_htab_init(&c.aggs, 1024)))
		return rc;
	if (!(rc = cvl_db_snapshot(db, &c.v)))
		rc = run(&c);
	cvl_view_release(&c.v);
	while (c.all) {
		cagg *n = c.all->next;
		cvl_free(c.all);
		c.all = n;
	}
	cvl_htab_free(&c.aggs);
	if (n_problems)
		*n_problems = c.n;
	if (!rc)
		cvl_err_clear();
	return rc;
}
