/* Sync state values (format-spec.md §7.9). */
#include <string.h>

#include "engine/syncst.h"
#include "util/codec.h"
#include "util/err.h"

void cvl_sync_conv_encode(const cvl_sync_conv *s, uint8_t out[CVL_SYNC_CONV_LEN])
{
	cvl_put_u64le(out, s->feed_lsn);
	cvl_put_u64le(out + 8, s->born.hlc);
	cvl_put_u64le(out + 16, s->born.origin);
	for (int u = 0; u < CVL_SYNC_UNITS; u++) {
		cvl_put_u64le(out + 24 + 16 * u, s->unit[u].hlc);
		cvl_put_u64le(out + 32 + 16 * u, s->unit[u].origin);
	}
}

int cvl_sync_conv_decode(const uint8_t *p, size_t n, cvl_sync_conv *s)
{
	if (n != CVL_SYNC_CONV_LEN)
		return -1;
	s->feed_lsn = cvl_get_u64le(p);
	s->born.hlc = cvl_get_u64le(p + 8);
	s->born.origin = cvl_get_u64le(p + 16);
	for (int u = 0; u < CVL_SYNC_UNITS; u++) {
		s->unit[u].hlc = cvl_get_u64le(p + 24 + 16 * u);
		s->unit[u].origin = cvl_get_u64le(p + 32 + 16 * u);
	}
	return 0;
}

void cvl_feed_key(uint8_t out[24], uint64_t lsn, const uint8_t id[16])
{
	cvl_put_u64be(out, lsn);
	memcpy(out + 8, id, 16);
}

void cvl_sync_peer_encode(const cvl_sync_peer *p, uint8_t out[CVL_SYNC_PEER_LEN])
{
	cvl_put_u64le(out, p->recv);
	cvl_put_u64le(out + 8, p->ack);
	cvl_put_u64le(out + 16, (uint64_t)p->at);
}

int cvl_sync_peer_decode(const uint8_t *p, size_t n, cvl_sync_peer *out)
{
	if (n != CVL_SYNC_PEER_LEN)
		return -1;
	out->recv = cvl_get_u64le(p);
	out->ack = cvl_get_u64le(p + 8);
	out->at = (int64_t)cvl_get_u64le(p + 16);
	return 0;
}

/* Format 3 -> 4: every conversation gets zero stamps and a feed entry at
 * LSN 0 (before any cursor but 0), in the upgrade transaction. */
int cvl_sync_upgrade(cvl_lmdb *lm, MDB_txn *txn)
{
	MDB_cursor *c;
	MDB_val k, v;
	cvl_sync_conv sy;
	uint8_t val[CVL_SYNC_CONV_LEN], fk[24], kind = CVL_FEED_CONV;
	int mrc;

	memset(&sy, 0, sizeof(sy));
	cvl_sync_conv_encode(&sy, val);
	if ((mrc = mdb_cursor_open(txn, lm->dbi[CVL_T_CONV], &c)))
		return cvl_lmdb_err(mrc, "sync upgrade");
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); !mrc; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		MDB_val sk = {16, k.mv_data}, sv = {sizeof(val), val}, old;
		MDB_val feedk = {24, fk}, feedv = {1, &kind};
		if (k.mv_size != 16)
			continue;
		/* a store this library wrote and another set back keeps its own */
		if (!mdb_get(txn, lm->dbi[CVL_T_SYNC_CONV], &sk, &old))
			continue;
		cvl_feed_key(fk, 0, k.mv_data);
		if ((mrc = mdb_put(txn, lm->dbi[CVL_T_SYNC_CONV], &sk, &sv, 0)) ||
		    (mrc = mdb_put(txn, lm->dbi[CVL_T_SYNC_FEED], &feedk, &feedv, 0)))
			break;
	}
	mdb_cursor_close(c);
	return mrc == MDB_NOTFOUND ? 0 : cvl_lmdb_err(mrc, "sync upgrade");
}
