#include <string.h>

#include "convlog.h"
#include "meta/view.h"
#include "util/err.h"

void cvl_view_release(cvl_view *v)
{
	for (int i = 0; i < v->nmt; i++)
		cvl_mt_unref(v->mt[i]);
	v->nmt = 0;
	if (v->txn)
		cvl_lmdb_abort(v->txn);
	v->txn = NULL;
	/* only now, with LMDB done with its reader slot (mdb_txn_abort writes
	 * it after marking it free), may the environment be closed */
	if (v->snaps)
		atomic_fetch_sub_explicit(v->snaps, 1, memory_order_release);
	v->snaps = NULL;
}

int cvl_view_get(cvl_view *v, int table, const void *key, size_t klen,
		 const uint8_t **val, size_t *vlen)
{
	int r;

	if (v->ws) {
		r = cvl_ws_get(v->ws, (uint8_t)table, key, klen, val, vlen);
		if (r)
			return r == 1 ? 0 : CONVLOG_ENOTFOUND;
	}
	for (int i = 0; i < v->nmt; i++) {
		r = cvl_mt_get(v->mt[i], (uint8_t)table, key, klen, v->snap, val, vlen);
		if (r)
			return r == 1 ? 0 : CONVLOG_ENOTFOUND;
	}
	return cvl_lmdb_get(v->lm, v->txn, table, key, klen, val, vlen);
}

/* ---- merged cursor ---- */

static int keycmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	size_t n = al < bl ? al : bl;
	int c = n ? memcmp(a, b, n) : 0;

	if (c)
		return c;
	return al < bl ? -1 : al > bl;
}

static void load_mt(struct cvl_vsrc *s)
{
	s->valid = cvl_mt_iter_valid(&s->mi);
	if (s->valid)
		cvl_mt_iter_entry(&s->mi, &s->k, &s->kl, &s->val, &s->vl);
}

static int load_lmdb(struct cvl_vsrc *s, int mrc, MDB_val *k, MDB_val *d)
{
	if (mrc == MDB_NOTFOUND) {
		s->valid = 0;
		return 0;
	}
	if (mrc)
		return cvl_lmdb_err(mrc, "cursor");
	s->valid = 1;
	s->k = k->mv_data;
	s->kl = k->mv_size;
	s->val = d->mv_data;
	s->vl = d->mv_size;
	return 0;
}

int cvl_vcur_open(cvl_view *v, int table, cvl_vcur *c)
{
	int mrc;

	memset(c, 0, sizeof(*c));
	c->v = v;
	c->table = table;
	for (int i = 0; i < v->nmt; i++)
		cvl_mt_iter_init(&c->src[i].mi, v->mt[i], (uint8_t)table, v->snap);
	c->nsrc = v->nmt + 1;
	mrc = mdb_cursor_open(v->txn, v->lm->dbi[table], &c->src[v->nmt].mc);
	return mrc ? cvl_lmdb_err(mrc, "cursor_open") : 0;
}

void cvl_vcur_close(cvl_vcur *c)
{
	if (c->nsrc && c->src[c->nsrc - 1].mc)
		mdb_cursor_close(c->src[c->nsrc - 1].mc);
	c->nsrc = 0;
}

/* Picks the smallest current key; newest source wins ties; skips
 * tombstones.  Advances sources past the chosen key on the next call. */
static int advance_past(cvl_vcur *c, const uint8_t *key, size_t klen);

static int pick(cvl_vcur *c)
{
	for (;;) {
		int best = -1, rc;
		for (int i = 0; i < c->nsrc; i++) {
			if (!c->src[i].valid)
				continue;
			if (best < 0 || keycmp(c->src[i].k, c->src[i].kl, c->src[best].k,
					       c->src[best].kl) < 0)
				best = i;
		}
		if (best < 0)
			return CONVLOG_DONE;
		struct cvl_vsrc *b = &c->src[best];
		if (best < c->nsrc - 1 && b->vl == CVL_MT_TOMB) {
			rc = advance_past(c, b->k, b->kl);
			if (rc)
				return rc;
			continue;
		}
		c->key = b->k;
		c->klen = b->kl;
		c->val = b->val;
		c->vlen = b->vl;
		return 0;
	}
}

static int advance_past(cvl_vcur *c, const uint8_t *key, size_t klen)
{
	uint8_t kb[600];
	size_t kl = klen < sizeof(kb) ? klen : sizeof(kb);
	int rc;

	memcpy(kb, key, kl); /* key may point into a source we move */
	for (int i = 0; i < c->nsrc; i++) {
		struct cvl_vsrc *s = &c->src[i];
		if (!s->valid || keycmp(s->k, s->kl, kb, kl) != 0)
			continue;
		if (i < c->nsrc - 1) {
			cvl_mt_iter_next(&s->mi);
			load_mt(s);
		} else {
			MDB_val k, d;
			rc = load_lmdb(s, mdb_cursor_get(s->mc, &k, &d, MDB_NEXT), &k, &d);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int cvl_vcur_seek(cvl_vcur *c, const void *key, size_t klen)
{
	struct cvl_vsrc *l = &c->src[c->nsrc - 1];
	MDB_val k = {klen, (void *)key}, d;
	int rc;

	for (int i = 0; i < c->nsrc - 1; i++) {
		cvl_mt_iter_seek(&c->src[i].mi, key, klen);
		load_mt(&c->src[i]);
	}
	if (klen)
		rc = load_lmdb(l, mdb_cursor_get(l->mc, &k, &d, MDB_SET_RANGE), &k, &d);
	else
		rc = load_lmdb(l, mdb_cursor_get(l->mc, &k, &d, MDB_FIRST), &k, &d);
	if (rc)
		return rc;
	return pick(c);
}

int cvl_vcur_next(cvl_vcur *c)
{
	int rc = advance_past(c, c->key, c->klen);

	if (rc)
		return rc;
	return pick(c);
}

/* ---- backwards ---- */

/* LMDB source at the greatest key <= key (< key when strict). */
static int lmdb_seek_le(struct cvl_vsrc *s, const uint8_t *key, size_t klen, int strict)
{
	MDB_val k = {klen, (void *)key}, d;
	int mrc = mdb_cursor_get(s->mc, &k, &d, MDB_SET_RANGE);

	if (mrc == MDB_NOTFOUND)
		return load_lmdb(s, mdb_cursor_get(s->mc, &k, &d, MDB_LAST), &k, &d);
	if (mrc)
		return cvl_lmdb_err(mrc, "cursor");
	if (!strict && keycmp(k.mv_data, k.mv_size, key, klen) == 0)
		return load_lmdb(s, 0, &k, &d);
	return load_lmdb(s, mdb_cursor_get(s->mc, &k, &d, MDB_PREV), &k, &d);
}

static int retreat_before(cvl_vcur *c, const uint8_t *key, size_t klen);

/* Picks the greatest current key; newest source wins; skips tombstones. */
static int pick_back(cvl_vcur *c)
{
	for (;;) {
		int best = -1, rc;
		for (int i = 0; i < c->nsrc; i++) {
			if (!c->src[i].valid)
				continue;
			if (best < 0 || keycmp(c->src[i].k, c->src[i].kl, c->src[best].k,
					       c->src[best].kl) > 0)
				best = i;
		}
		if (best < 0)
			return CONVLOG_DONE;
		struct cvl_vsrc *b = &c->src[best];
		if (best < c->nsrc - 1 && b->vl == CVL_MT_TOMB) {
			if ((rc = retreat_before(c, b->k, b->kl)))
				return rc;
			continue;
		}
		c->key = b->k;
		c->klen = b->kl;
		c->val = b->val;
		c->vlen = b->vl;
		return 0;
	}
}

/* Moves every source holding `key` to its previous key. */
static int retreat_before(cvl_vcur *c, const uint8_t *key, size_t klen)
{
	uint8_t kb[600];
	size_t kl = klen < sizeof(kb) ? klen : sizeof(kb);
	int rc;

	memcpy(kb, key, kl);
	for (int i = 0; i < c->nsrc; i++) {
		struct cvl_vsrc *s = &c->src[i];
		if (!s->valid || keycmp(s->k, s->kl, kb, kl) != 0)
			continue;
		if (i < c->nsrc - 1) {
			cvl_mt_iter_prev(&s->mi);
			load_mt(s);
		} else {
			MDB_val k, d;
			if ((rc = load_lmdb(s, mdb_cursor_get(s->mc, &k, &d, MDB_PREV), &k, &d)))
				return rc;
		}
	}
	return 0;
}

int cvl_vcur_seek_le(cvl_vcur *c, const void *key, size_t klen, int strict)
{
	int rc;

	for (int i = 0; i < c->nsrc - 1; i++) {
		cvl_mt_iter_seek_le(&c->src[i].mi, key, klen, strict);
		load_mt(&c->src[i]);
	}
	if ((rc = lmdb_seek_le(&c->src[c->nsrc - 1], key, klen, strict)))
		return rc;
	return pick_back(c);
}

int cvl_vcur_prev(cvl_vcur *c)
{
	uint8_t kb[600];
	size_t kl = c->klen < sizeof(kb) ? c->klen : sizeof(kb);
	int rc;

	/* sources may sit on different keys after a forward walk: re-seek */
	memcpy(kb, c->key, kl);
	for (int i = 0; i < c->nsrc - 1; i++) {
		cvl_mt_iter_seek_le(&c->src[i].mi, kb, kl, 1);
		load_mt(&c->src[i]);
	}
	if ((rc = lmdb_seek_le(&c->src[c->nsrc - 1], kb, kl, 1)))
		return rc;
	return pick_back(c);
}
