#include <string.h>

#include "convlog.h"
#include "engine/segstat.h"
#include "model/msg.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"

void cvl_segstat_encode(const cvl_segstat *s, uint8_t out[CVL_SEGSTAT_LEN])
{
	cvl_put_u64le(out, s->live_bytes);
	cvl_put_u64le(out + 8, s->live_recs);
	cvl_put_u64le(out + 16, s->total_bytes);
	cvl_put_u64le(out + 24, s->erased_bytes);
	cvl_put_u32le(out + 32, s->dict_id);
	cvl_put_u32le(out + 36, 0);
}

int cvl_segstat_decode(const uint8_t *p, size_t n, cvl_segstat *s)
{
	if (n != CVL_SEGSTAT_LEN || cvl_get_u32le(p + 36) != 0)
		return cvl_err(CONVLOG_ECORRUPT, "a seg_stats value is malformed");
	s->live_bytes = cvl_get_u64le(p);
	s->live_recs = cvl_get_u64le(p + 8);
	s->total_bytes = cvl_get_u64le(p + 16);
	s->erased_bytes = cvl_get_u64le(p + 24);
	s->dict_id = cvl_get_u32le(p + 32);
	return 0;
}

static void seg_key(uint8_t k[4], uint32_t seg)
{
	cvl_put_u32be(k, seg);
}

int cvl_segstat_get(cvl_lmdb *lm, MDB_txn *txn, uint32_t seg, cvl_segstat *s)
{
	uint8_t k[4];
	MDB_val mk = {4, k}, mv;
	int mrc;

	memset(s, 0, sizeof(*s));
	if (!lm->has_segstat)
		return 0;
	seg_key(k, seg);
	mrc = mdb_get(txn, lm->dbi[CVL_T_SEGSTAT], &mk, &mv);
	if (mrc == MDB_NOTFOUND)
		return 0;
	if (mrc)
		return cvl_lmdb_err(mrc, "seg_stats");
	return cvl_segstat_decode(mv.mv_data, mv.mv_size, s);
}

int cvl_segstat_put(cvl_lmdb *lm, MDB_txn *txn, uint32_t seg, const cvl_segstat *s)
{
	uint8_t k[4], v[CVL_SEGSTAT_LEN];
	MDB_val mk = {4, k}, mv = {sizeof(v), v};
	int mrc;

	seg_key(k, seg);
	cvl_segstat_encode(s, v);
	mrc = mdb_put(txn, lm->dbi[CVL_T_SEGSTAT], &mk, &mv, 0);
	return mrc ? cvl_lmdb_err(mrc, "seg_stats") : 0;
}

int cvl_segstat_del(cvl_lmdb *lm, MDB_txn *txn, uint32_t seg)
{
	uint8_t k[4];
	MDB_val mk = {4, k};
	int mrc;

	seg_key(k, seg);
	mrc = mdb_del(txn, lm->dbi[CVL_T_SEGSTAT], &mk, NULL);
	return mrc && mrc != MDB_NOTFOUND ? cvl_lmdb_err(mrc, "seg_stats") : 0;
}

int cvl_segstat_of_msg(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
		       uint32_t *seg, uint64_t *bytes)
{
	cvl_msg_sum s;

	if (klen != 20 || cvl_msg_sum_decode(val, vlen, cvl_get_u32be(key + 16), &s))
		return cvl_err(CONVLOG_ECORRUPT, "message summary is malformed");
	*seg = s.loc.seg;
	/* stores from before format 3 have no record length: estimate */
	*bytes = s.rec_len ? s.rec_len : s.content_len + 64;
	return 0;
}

int cvl_sdeltas_add(cvl_sdeltas *d, uint32_t seg, int64_t live, int64_t recs, int64_t erased)
{
	for (size_t i = d->n; i-- > 0;)
		if (d->v[i].seg == seg) {
			d->v[i].live += live;
			d->v[i].recs += recs;
			d->v[i].erased += erased;
			return 0;
		}
	if (d->n == d->cap) {
		size_t nc = d->cap ? d->cap * 2 : 16;
		cvl_segdelta *nv = cvl_realloc(d->v, nc * sizeof(*nv));
		if (!nv)
			return cvl_err(CONVLOG_ENOMEM, "out of memory for segment accounting");
		d->v = nv;
		d->cap = nc;
	}
	d->v[d->n++] = (cvl_segdelta){seg, live, recs, erased};
	return 0;
}

int cvl_sdeltas_msg(cvl_sdeltas *d, cvl_lmdb *lm, MDB_txn *txn, const uint8_t *key,
		    size_t klen, const uint8_t *val, size_t vlen)
{
	MDB_val mk = {klen, (void *)key}, mv;
	uint32_t seg;
	uint64_t bytes;
	int rc, mrc = mdb_get(txn, lm->dbi[CVL_T_MSG], &mk, &mv);

	if (mrc && mrc != MDB_NOTFOUND)
		return cvl_lmdb_err(mrc, "msg");
	if (!mrc) {
		if ((rc = cvl_segstat_of_msg(key, klen, mv.mv_data, mv.mv_size, &seg, &bytes)) ||
		    (rc = cvl_sdeltas_add(d, seg, -(int64_t)bytes, -1,
					  vlen == SIZE_MAX ? (int64_t)bytes : 0)))
			return rc;
	}
	if (vlen == SIZE_MAX)
		return 0;
	if ((rc = cvl_segstat_of_msg(key, klen, val, vlen, &seg, &bytes)))
		return rc;
	return cvl_sdeltas_add(d, seg, (int64_t)bytes, 1, 0);
}

static uint64_t add_sat(uint64_t v, int64_t d)
{
	if (d < 0 && (uint64_t)-d > v)
		return 0;
	return v + (uint64_t)d;
}

int cvl_sdeltas_apply(cvl_sdeltas *d, cvl_lmdb *lm, MDB_txn *txn)
{
	int rc;

	if (!lm->has_segstat)
		return 0;
	for (size_t i = 0; i < d->n; i++) {
		cvl_segdelta *x = &d->v[i];
		cvl_segstat s;
		if (!x->live && !x->recs && !x->erased)
			continue;
		if ((rc = cvl_segstat_get(lm, txn, x->seg, &s)))
			return rc;
		s.live_bytes = add_sat(s.live_bytes, x->live);
		s.live_recs = add_sat(s.live_recs, x->recs);
		s.erased_bytes = add_sat(s.erased_bytes, x->erased);
		if ((rc = cvl_segstat_put(lm, txn, x->seg, &s)))
			return rc;
	}
	d->n = 0;
	return 0;
}

void cvl_sdeltas_free(cvl_sdeltas *d)
{
	cvl_free(d->v);
	memset(d, 0, sizeof(*d));
}

int cvl_segstat_rebuild(cvl_lmdb *lm, MDB_txn *txn)
{
	cvl_sdeltas d = {0};
	MDB_cursor *c = NULL;
	MDB_val k, v;
	int rc = 0, mrc;

	/* keep what cannot be recomputed (totals, erased, dictionary) */
	if ((mrc = mdb_cursor_open(txn, lm->dbi[CVL_T_SEGSTAT], &c)))
		return cvl_lmdb_err(mrc, "seg_stats");
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); !mrc; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		cvl_segstat s;
		if (k.mv_size != 4 || (rc = cvl_segstat_decode(v.mv_data, v.mv_size, &s)))
			break;
		s.live_bytes = s.live_recs = 0;
		uint8_t nv[CVL_SEGSTAT_LEN];
		cvl_segstat_encode(&s, nv);
		MDB_val pv = {sizeof(nv), nv};
		if ((mrc = mdb_cursor_put(c, &k, &pv, MDB_CURRENT)))
			break;
	}
	mdb_cursor_close(c);
	if (rc)
		return rc;
	if (mrc && mrc != MDB_NOTFOUND)
		return cvl_lmdb_err(mrc, "seg_stats");
	if ((mrc = mdb_cursor_open(txn, lm->dbi[CVL_T_MSG], &c)))
		return cvl_lmdb_err(mrc, "msg");
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); !mrc; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		uint32_t seg;
		uint64_t bytes;
		if ((rc = cvl_segstat_of_msg(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &seg, &bytes)) ||
		    (rc = cvl_sdeltas_add(&d, seg, (int64_t)bytes, 1, 0)))
			break;
	}
	mdb_cursor_close(c);
	if (!rc && mrc && mrc != MDB_NOTFOUND)
		rc = cvl_lmdb_err(mrc, "msg");
	if (!rc)
		rc = cvl_sdeltas_apply(&d, lm, txn);
	cvl_sdeltas_free(&d);
	return rc;
}
