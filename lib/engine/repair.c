/*
 * convlog_repair: rebuilds what the store derives from its primary data.
 *
 * Primary: the conversation records (`conv` and the HOT fields of
 * `conv_stats`) and the message records in the segments, reached through
 * the locators of `msg`.  Everything else is a function of them and is
 * rebuilt in one LMDB write transaction, with writers blocked and the
 * memtables flushed first so that LMDB holds the whole state:
 *   1. every `msg` summary is re-derived from the record its locator names;
 *   2. `msg_id` and `msg_children` are emptied and refilled from them;
 *   3. each conversation's aggregates (message_count, token_total,
 *      cost_total, last_message_at, and last_activity_at when older than
 *      its newest message) are recomputed, and every `ix_*` table and
 *      `conv_external` is emptied and refilled;
 *   4. meta/counters and the live counts of `seg_stats`;
 * then the text index is rebuilt from the messages (convlog_reindex).
 * What has no primary data to come from (a conversation record that does
 * not decode, a locator naming no readable record, messages of a
 * conversation that does not exist) is reported and left alone.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine/db.h"
#include "engine/segstat.h"
#include "log/record.h"
#include "model/conv.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/htab.h"
#include "util/uuid.h"

/* What the messages of one conversation add up to. */
typedef struct ragg {
	cvl_hnode hn;
	struct ragg *next;
	convlog_uuid id;
	uint64_t count;
	uint32_t max_seq;
	int64_t last_created, tokens, cost;
	int seen; /* its conversation exists */
} ragg;

typedef struct rctx {
	convlog_db *db;
	MDB_txn *txn;
	cvl_view v; /* over txn: reads see the rewrites */
	convlog_problem_fn fn;
	void *ud;
	uint64_t unfixable;
	uint64_t reported; /* problems an earlier attempt already reported */
	cvl_htab aggs;
	ragg *all;
	cvl_counters seen;
	cvl_buf b;
} rctx;

static void unfixable(rctx *c, const char *where, const char *fmt, ...) CVL_PRINTF(3, 4);

static void unfixable(rctx *c, const char *where, const char *fmt, ...)
{
	char what[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* an attempt run again (the map grew) meets the same problems in
	 * the same order: each is reported once */
	if (++c->unfixable > c->reported && c->fn)
		c->fn(c->ud, where, what);
}

static int agg_eq(const cvl_hnode *n, const void *k)
{
	return memcmp(((const ragg *)n)->id.bytes, k, 16) == 0;
}

static uint64_t agg_hash(const uint8_t *id)
{
	return cvl_get_u64le(id + 8) * UINT64_C(0x9E3779B97F4A7C15);
}

static ragg *agg_get(rctx *c, const uint8_t *id, int create)
{
	ragg *a = (ragg *)cvl_htab_find(&c->aggs, agg_hash(id), agg_eq, id);

	if (a || !create)
		return a;
	if (!(a = cvl_calloc(1, sizeof(*a))))
		return NULL;
	memcpy(a->id.bytes, id, 16);
	a->hn.hash = agg_hash(id);
	cvl_htab_insert(&c->aggs, &a->hn);
	a->next = c->all;
	c->all = a;
	return a;
}

static int put(rctx *c, int table, const void *k, size_t kl, const void *v, size_t vl)
{
	MDB_val mk = {kl, (void *)k}, mv = {vl, (void *)v};
	int mrc = mdb_put(c->txn, c->db->lm.dbi[table], &mk, &mv, 0);

	return mrc ? cvl_lmdb_err(mrc, cvl_table_name(table)) : 0;
}

/* ---- 1, 2: messages ---- */

/* The record the locator names, checked to be message (conv, seq). */
static int read_record(rctx *c, const cvl_loc *loc, const uint8_t *key, cvl_msg_peek *m,
		       cvl_frame **fout, const char **why)
{
	cvl_frame *f = NULL;
	cvl_record r;
	const uint8_t *p;
	int rc;

	*why = NULL;
	if ((rc = cvl_frame_get(c->db, loc, &f)))
		return rc;
	*fout = f;
	if (loc->rec_idx >= f->nrec) {
		*why = "the locator names a record beyond its frame";
		return CONVLOG_ECORRUPT;
	}
	p = f->raw + f->rec_off[loc->rec_idx];
	if (cvl_record_decode(&p, f->raw + f->raw_len, &r, why))
		return CONVLOG_ECORRUPT;
	if (!cvl_record_is_msg(r.type) || cvl_msg_peek_body(r.body, r.body_len, m)) {
		*why = "the locator names a record that is not a message";
		return CONVLOG_ECORRUPT;
	}
	if (memcmp(m->conv.bytes, key, 16) != 0 || m->seq != cvl_get_u32be(key + 16)) {
		*why = "the locator names another message's record";
		return CONVLOG_ECORRUPT;
	}
	m->rec_len = cvl_record_len(r.body_len);
	return 0;
}

static void msg_where(char *w, size_t n, const uint8_t *key)
{
	char s[CONVLOG_UUID_STRLEN];
	convlog_uuid id;

	memcpy(id.bytes, key, 16);
	snprintf(w, n, "message %u of conversation %s", cvl_get_u32be(key + 16), cvl_uuid_str(&id, s));
}

static int count_msg(rctx *c, const uint8_t *key, uint32_t seq, int64_t created, int64_t tokens,
		     int64_t cost, uint64_t content_len)
{
	ragg *a = agg_get(c, key, 1);

	if (!a)
		return cvl_err(CONVLOG_ENOMEM, "out of memory repairing");
	a->count++;
	if (seq > a->max_seq)
		a->max_seq = seq;
	if (a->count == 1 || created > a->last_created)
		a->last_created = created;
	a->tokens += tokens > 0 ? tokens : 0;
	a->cost += cost > 0 ? cost : 0;
	c->seen.messages++;
	c->seen.content_bytes += (int64_t)content_len;
	return 0;
}

static int one_msg(rctx *c, MDB_cursor *cur, MDB_val *k, MDB_val *v)
{
	char where[128];
	const char *why;
	cvl_msg_sum s;
	cvl_msg_peek m;
	cvl_frame *f = NULL;
	uint8_t ck[24];
	int rc;

	if (k->mv_size != 20) {
		unfixable(c, "table msg", "a key of %zu bytes (expected 20)", k->mv_size);
		return 0;
	}
	const uint8_t *key = k->mv_data;
	uint32_t seq = cvl_get_u32be(key + 16);
	msg_where(where, sizeof(where), key);
	if (cvl_msg_sum_decode(v->mv_data, v->mv_size, seq, &s)) {
		unfixable(c, where, "the locator is malformed: the record cannot be found");
		return 0;
	}
	rc = read_record(c, &s.loc, key, &m, &f, &why);
	if (rc == CONVLOG_ENOMEM) {
		cvl_cache_release(c->db->cache, f);
		return rc;
	}
	if (rc) {
		cvl_cache_release(c->db->cache, f);
		unfixable(c, where, "%s", why ? why : cvl_err_msg());
		cvl_err_clear();
		/* keep the entry; count it from its summary */
		return count_msg(c, key, seq, s.created_at, s.tokens, s.cost, s.content_len);
	}
	c->b.len = 0;
	rc = cvl_msg_sum_encode(&m, &s.loc, &c->b);
	if (!rc && (c->b.len != v->mv_size || memcmp(c->b.p, v->mv_data, c->b.len) != 0)) {
		MDB_val nv = {c->b.len, c->b.p};
		int mrc = mdb_cursor_put(cur, k, &nv, MDB_CURRENT);
		if (mrc)
			rc = cvl_lmdb_err(mrc, "msg");
	}
	if (!rc)
		rc = put(c, CVL_T_MSGID, m.id.bytes, 16, key, 20);
	if (!rc)
		rc = put(c, CVL_T_MSG_CHILDREN, ck, cvl_key_child(ck, &m.conv, m.parent_seq, seq),
			 NULL, 0);
	if (!rc)
		rc = count_msg(c, key, seq, m.created_at, m.tokens, m.cost, m.content_len);
	cvl_cache_release(c->db->cache, f);
	return rc;
}

static int drop(rctx *c, int table)
{
	int mrc = mdb_drop(c->txn, c->db->lm.dbi[table], 0);

	return mrc ? cvl_lmdb_err(mrc, cvl_table_name(table)) : 0;
}

static int repair_msgs(rctx *c)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc, mrc;

	if ((rc = drop(c, CVL_T_MSGID)) || (rc = drop(c, CVL_T_MSG_CHILDREN)))
		return rc;
	if ((mrc = mdb_cursor_open(c->txn, c->db->lm.dbi[CVL_T_MSG], &cur)))
		return cvl_lmdb_err(mrc, "msg");
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !mrc;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if ((rc = one_msg(c, cur, &k, &v)))
			break;
	mdb_cursor_close(cur);
	if (!rc && mrc != MDB_NOTFOUND)
		rc = cvl_lmdb_err(mrc, "msg");
	return rc;
}

/* ---- 3: conversations ---- */

static int one_conv(rctx *c, const uint8_t *key)
{
	char s[CONVLOG_UUID_STRLEN], where[80];
	convlog_uuid id;
	convlog_conv *cv = NULL;
	cvl_ikeys keys = {0};
	uint8_t ek[CVL_KEY_MAX];
	const uint8_t *old;
	size_t oldlen;
	int rc;

	memcpy(id.bytes, key, 16);
	snprintf(where, sizeof(where), "conversation %s", cvl_uuid_str(&id, s));
	rc = cvl_conv_load(&c->v, &id, &cv);
	if (rc == CONVLOG_ENOMEM)
		return rc;
	if (rc) {
		unfixable(c, where, "%s", cvl_err_msg());
		cvl_err_clear();
		return 0;
	}
	ragg *a = agg_get(c, key, 0);
	uint64_t base = convlog_uuid_is_nil(&cv->parent_id) ? 0 : cv->fork_seq;
	if (a) {
		a->seen = 1;
		if (a->max_seq != base + a->count)
			unfixable(c, where, "its own messages are %" PRIu64 " but the highest seq is "
				  "%u (after fork_seq %" PRIu64 "): messages are missing", a->count,
				  a->max_seq, base);
	}
	cv->message_count = a ? (a->max_seq > base ? a->max_seq : base) : base;
	cv->token_total = a ? a->tokens : 0;
	cv->cost_total = a ? a->cost : 0;
	cv->last_message_at = a ? a->last_created : 0;
	if (a && cv->last_activity_at < a->last_created)
		cv->last_activity_at = a->last_created;
	if (cv->tip_seq > cv->message_count)
		unfixable(c, where, "tip_seq %u is beyond its %" PRIu64 " messages", cv->tip_seq,
			  cv->message_count);
	c->seen.conversations++;
	c->seen.deleted += cv->status == CONVLOG_STATUS_DELETED;
	c->b.len = 0;
	if ((rc = cvl_conv_encode(cv, CVL_CG_HOT | CVL_CG_AGG, &c->b)))
		goto out;
	rc = cvl_view_get(&c->v, CVL_T_CSTAT, key, 16, &old, &oldlen);
	if (rc && rc != CONVLOG_ENOTFOUND)
		goto out;
	if (rc || oldlen != c->b.len || memcmp(old, c->b.p, oldlen) != 0)
		rc = put(c, CVL_T_CSTAT, key, 16, c->b.p, c->b.len);
	else
		rc = 0;
	if (rc || (rc = cvl_conv_index_keys(cv, &keys)))
		goto out;
	for (size_t i = 0; i < keys.n && !rc; i++)
		rc = put(c, keys.v[i].table, keys.v[i].k, keys.v[i].len, NULL, 0);
	if (!rc && cv->external_id)
		rc = put(c, CVL_T_CEXT, ek, cvl_key_text(ek, cv->external_id, strlen(cv->external_id)),
			 key, 16);
out:
	cvl_ikeys_free(&keys);
	convlog_conv_free(cv);
	return rc;
}

static int repair_convs(rctx *c)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc = 0, mrc;

	if ((rc = drop(c, CVL_T_CEXT)))
		return rc;
	for (int t = CVL_T_IX_FIRST; t <= CVL_T_IX_LAST; t++)
		if ((rc = drop(c, t)))
			return rc;
	if ((mrc = mdb_cursor_open(c->txn, c->db->lm.dbi[CVL_T_CONV], &cur)))
		return cvl_lmdb_err(mrc, "conv");
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !mrc;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 16) {
			unfixable(c, "table conv", "a key of %zu bytes (expected 16)", k.mv_size);
			continue;
		}
		if ((rc = one_conv(c, k.mv_data)))
			break;
	}
	mdb_cursor_close(cur);
	if (!rc && mrc != MDB_NOTFOUND)
		rc = cvl_lmdb_err(mrc, "conv");
	return rc;
}

/* ---- 4: store-wide ---- */

static int repair_counters(rctx *c)
{
	char s[CONVLOG_UUID_STRLEN], where[80];
	int rc;

	for (ragg *a = c->all; a; a = a->next) {
		if (a->seen)
			continue;
		snprintf(where, sizeof(where), "conversation %s", cvl_uuid_str(&a->id, s));
		unfixable(c, where, "%" PRIu64 " messages belong to a conversation that does not "
			  "exist", a->count);
	}
	if ((rc = cvl_counters_encode(&c->seen, &c->b)))
		return rc;
	return put(c, CVL_T_META, "counters", 8, c->b.p, c->b.len);
}

/* ---- 5: sync state (format 4) ---- */

/* Every conversation gets stamps (zero ones, the feed's newest position,
 * when they are missing: every peer then receives it again, and any
 * write wins over it), stamps of missing conversations go, and the feed
 * is rebuilt from the stamps' and tombstones' positions. */
static int repair_sync(rctx *c)
{
	cvl_lmdb *lm = &c->db->lm;
	MDB_cursor *cur = NULL;
	MDB_val k, v, x;
	uint8_t fk[24], val[CVL_SYNC_CONV_LEN];
	char s[CONVLOG_UUID_STRLEN], where[80];
	uint64_t head = c->db->next_lsn ? c->db->next_lsn - 1 : 0;
	int rc = 0, mrc;

	if (!lm->has_sync || c->db->format < 4)
		return 0;
	if ((rc = drop(c, CVL_T_SYNC_FEED)))
		return rc;
	if ((mrc = mdb_cursor_open(c->txn, lm->dbi[CVL_T_CONV], &cur)))
		return cvl_lmdb_err(mrc, "conv");
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !mrc && !rc;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		cvl_sync_conv sy;
		uint8_t kind = CVL_FEED_CONV;
		if (k.mv_size != 16)
			continue;
		if (mdb_get(c->txn, lm->dbi[CVL_T_SYNC_CONV], &k, &x) ||
		    cvl_sync_conv_decode(x.mv_data, x.mv_size, &sy)) {
			memset(&sy, 0, sizeof(sy));
			sy.feed_lsn = head;
			cvl_sync_conv_encode(&sy, val);
			if ((rc = put(c, CVL_T_SYNC_CONV, k.mv_data, 16, val, sizeof(val))))
				break;
		}
		if (!mdb_get(c->txn, lm->dbi[CVL_T_SYNC_TOMB], &k, &x)) {
			snprintf(where, sizeof(where), "conversation %s",
				 cvl_uuid_str((const convlog_uuid *)k.mv_data, s));
			unfixable(c, where, "exists although a tombstone says it was purged");
		}
		cvl_feed_key(fk, sy.feed_lsn, k.mv_data);
		rc = put(c, CVL_T_SYNC_FEED, fk, 24, &kind, 1);
	}
	mdb_cursor_close(cur);
	if (rc)
		return rc;
	/* stamps whose conversation is gone */
	if ((mrc = mdb_cursor_open(c->txn, lm->dbi[CVL_T_SYNC_CONV], &cur)))
		return cvl_lmdb_err(mrc, "sync_conv");
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !mrc;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if (k.mv_size != 16 || mdb_get(c->txn, lm->dbi[CVL_T_CONV], &k, &x))
			if ((mrc = mdb_cursor_del(cur, 0)))
				break;
	mdb_cursor_close(cur);
	if (mrc && mrc != MDB_NOTFOUND)
		return cvl_lmdb_err(mrc, "sync_conv");
	/* tombstones */
	if ((mrc = mdb_cursor_open(c->txn, lm->dbi[CVL_T_SYNC_TOMB], &cur)))
		return cvl_lmdb_err(mrc, "sync_tomb");
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !mrc && !rc;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint8_t kind = CVL_FEED_PURGED;
		if (k.mv_size != 16 || v.mv_size != CVL_SYNC_TOMB_LEN) {
			unfixable(c, "table sync_tomb", "a malformed entry");
			continue;
		}
		cvl_feed_key(fk, cvl_get_u64le(v.mv_data), k.mv_data);
		rc = put(c, CVL_T_SYNC_FEED, fk, 24, &kind, 1);
	}
	mdb_cursor_close(cur);
	if (!rc && mrc && mrc != MDB_NOTFOUND)
		rc = cvl_lmdb_err(mrc, "sync_tomb");
	return rc;
}

static int repair_lmdb(rctx *c)
{
	cvl_lmdb *lm = &c->db->lm;
	int rc;

	if ((rc = repair_msgs(c)) || (rc = repair_convs(c)) || (rc = repair_counters(c)))
		return rc;
	if (lm->has_segstat && c->db->format >= 3)
		rc = cvl_segstat_rebuild(lm, c->txn);
	if (!rc)
		rc = repair_sync(c);
	return rc;
}

/* Forgets what an attempt gathered, for the next one. */
static int repair_reset(rctx *c)
{
	while (c->all) {
		ragg *n = c->all->next;
		cvl_free(c->all);
		c->all = n;
	}
	cvl_htab_free(&c->aggs);
	memset(&c->seen, 0, sizeof(c->seen));
	if (c->unfixable > c->reported)
		c->reported = c->unfixable;
	c->unfixable = 0;
	return cvl_htab_init(&c->aggs, 1024);
}

static int repair_txn(rctx *c)
{
	convlog_db *db = c->db;
	int rc, mrc;

	if ((rc = cvl_lmdb_wtxn(&db->lm, &c->txn)))
		return rc;
	c->v.lm = &db->lm;
	c->v.txn = c->txn;
	rc = repair_lmdb(c);
	if (!rc) {
		mrc = cvl_lmdb_commit(c->txn);
		c->txn = NULL;
		if (mrc)
			rc = cvl_lmdb_err(mrc, "committing the repair");
	}
	if (c->txn)
		cvl_lmdb_abort(c->txn);
	c->txn = NULL;
	return rc;
}

/* With compactmu and wmu held. */
static int repair_locked(rctx *c)
{
	convlog_db *db = c->db;
	int rc, again = 0;

	/* everything into LMDB: the memtables then hold nothing */
	if ((rc = cvl_rotate_locked(db)) || (rc = cvl_flush_frozen(db)))
		return rc;
	do {
		if (again++ && (rc = repair_reset(c)))
			break;
		rc = repair_txn(c);
	} while (cvl_lmdb_again(&db->lm, &rc));
	return rc;
}

CONVLOG_API int convlog_repair(convlog_db *db, convlog_problem_fn fn, void *ud,
			       uint64_t *n_unfixable)
{
	rctx c = {.db = db, .fn = fn, .ud = ud};
	int rc;

	cvl_err_clear();
	if (n_unfixable)
		*n_unfixable = 0;
	if ((rc = cvl_db_check_write(db)))
		return rc;
	if ((rc = cvl_htab_init(&c.aggs, 1024)))
		return rc;
	cvl_buf_init(&c.b, 0);
	pthread_mutex_lock(&db->compactmu);
	pthread_mutex_lock(&db->wmu);
	rc = repair_locked(&c);
	pthread_mutex_unlock(&db->wmu);
	/* the text index last: it reads the repaired message table */
	if (!rc)
		rc = cvl_text_reindex(db, NULL);
	pthread_mutex_unlock(&db->compactmu);
	while (c.all) {
		ragg *n = c.all->next;
		cvl_free(c.all);
		c.all = n;
	}
	cvl_htab_free(&c.aggs);
	cvl_buf_free(&c.b);
	if (n_unfixable)
		*n_unfixable = c.unfixable;
	if (!rc)
		cvl_err_clear();
	return rc;
}
