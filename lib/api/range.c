/* Message iterators: seq ranges of a conversation's seq space (through its
 * fork chain) and explicit lists of messages (threads, children). */
#include <string.h>

#include "engine/db.h"
#include "engine/msgiter.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/uuid.h"

#define ITER_MAGIC 0x4356494du

struct convlog_msg_iter {
	uint32_t magic;
	convlog_db *db;
	cvl_view v;
	cvl_chain chain;
	cvl_vcur cur;      /* range over a conversation without a fork chain */
	int cur_open, positioned;
	uint32_t next, last; /* range: seqs still to return */
	cvl_msg_ref *items;  /* list mode when non-NULL */
	size_t nitems, pos;
	convlog_msg *m;
};

static int iter_new(convlog_db *db, convlog_msg_iter **out)
{
	convlog_msg_iter *it = cvl_calloc(1, sizeof(*it));

	if (!it)
		return cvl_err(CONVLOG_ENOMEM, "out of memory for an iterator");
	it->magic = ITER_MAGIC;
	it->db = db;
	*out = it;
	return 0;
}

int cvl_msg_iter_list(convlog_db *db, cvl_view *v, cvl_msg_ref *items, size_t n,
		      convlog_msg_iter **out)
{
	convlog_msg_iter *it = NULL;
	int rc = iter_new(db, &it);

	if (rc) {
		cvl_view_release(v);
		cvl_free(items);
		return rc;
	}
	it->v = *v;
	it->items = items;
	it->nitems = n;
	*out = it;
	return 0;
}

/* Reads message (conv, seq) through the view. */
int cvl_msg_read_at(convlog_db *db, cvl_view *v, const convlog_uuid *conv, uint32_t seq,
		    convlog_msg **out)
{
	uint8_t k[20];
	const uint8_t *val;
	size_t vl;
	cvl_msg_sum sum;
	char s[CONVLOG_UUID_STRLEN];
	int rc = cvl_view_get(v, CVL_T_MSG, k, cvl_key_msg(k, conv, seq), &val, &vl);

	if (rc == CONVLOG_ENOTFOUND)
		return cvl_err(rc, "message %u of conversation %s does not exist", seq,
			       cvl_uuid_str(conv, s));
	if (rc)
		return rc;
	if (cvl_msg_sum_decode(val, vl, seq, &sum))
		return cvl_err(CONVLOG_ECORRUPT, "message %u of conversation %s: summary is malformed",
			       seq, cvl_uuid_str(conv, s));
	return cvl_read_msg(db, &sum.loc, conv, seq, out);
}

CONVLOG_API int convlog_msg_range(convlog_db *db, const convlog_uuid *conv, int kind, uint32_t n,
				  uint32_t after_seq, convlog_msg_iter **out)
{
	convlog_msg_iter *it = NULL;
	convlog_conv *c = NULL;
	char s[CONVLOG_UUID_STRLEN];
	uint64_t count;
	int rc;

	cvl_err_clear();
	if (!conv || !out)
		return cvl_err(CONVLOG_EINVAL, "msg_range: NULL argument");
	*out = NULL;
	if (kind < CONVLOG_RANGE_ALL || kind > CONVLOG_RANGE_AFTER)
		return cvl_err(CONVLOG_EINVAL, "msg_range: unknown range kind %d", kind);
	if ((kind == CONVLOG_RANGE_FIRST || kind == CONVLOG_RANGE_LAST) && n == 0)
		return cvl_err(CONVLOG_EINVAL, "msg_range: FIRST and LAST need n > 0");
	const cvl_scope *scope;
	if ((rc = cvl_db_enter(&db, &scope)) || (rc = iter_new(db, &it)))
		return rc;
	if ((rc = cvl_db_snapshot(db, &it->v)))
		goto fail;
	it->v.scope = scope;
	rc = cvl_conv_load(&it->v, conv, &c);
	if (rc == CONVLOG_ENOTFOUND)
		rc = cvl_err(rc, "conversation %s does not exist", cvl_uuid_str(conv, s));
	if (rc || (rc = cvl_chain_load(&it->v, c, &it->chain)))
		goto fail;
	count = c->message_count;
	it->next = 1;
	it->last = (uint32_t)count;
	if (kind == CONVLOG_RANGE_FIRST && n < it->last)
		it->last = n;
	else if (kind == CONVLOG_RANGE_LAST)
		it->next = count > n ? (uint32_t)(count - n + 1) : 1;
	else if (kind == CONVLOG_RANGE_AFTER) {
		it->next = after_seq + 1;
		if (n && (uint64_t)after_seq + n < it->last)
			it->last = after_seq + n;
	}
	if (it->chain.n == 1) {
		if ((rc = cvl_vcur_open(&it->v, CVL_T_MSG, &it->cur)))
			goto fail;
		it->cur_open = 1;
	}
	convlog_conv_free(c);
	*out = it;
	return 0;
fail:
	convlog_conv_free(c);
	convlog_msg_iter_free(it);
	return rc;
}

/* Next message of a plain conversation, walking the msg table. */
static int next_by_cursor(convlog_msg_iter *it)
{
	const convlog_uuid *conv = &it->chain.c[0].id;
	uint8_t k[20];
	cvl_msg_sum sum;
	char s[CONVLOG_UUID_STRLEN];
	int rc;

	if (!it->positioned) {
		rc = cvl_vcur_seek(&it->cur, k, cvl_key_msg(k, conv, it->next));
		it->positioned = 1;
	} else {
		rc = cvl_vcur_next(&it->cur);
	}
	if (rc == CONVLOG_DONE || (rc == 0 && (it->cur.klen != 20 ||
					       memcmp(it->cur.key, conv->bytes, 16) != 0 ||
					       cvl_get_u32be(it->cur.key + 16) != it->next)))
		return cvl_err(CONVLOG_ECORRUPT, "message %u of conversation %s is missing from the index",
			       it->next, cvl_uuid_str(conv, s));
	if (rc)
		return rc;
	if (cvl_msg_sum_decode(it->cur.val, it->cur.vlen, it->next, &sum))
		return cvl_err(CONVLOG_ECORRUPT, "message %u of conversation %s: summary is malformed",
			       it->next, cvl_uuid_str(conv, s));
	return cvl_read_msg(it->db, &sum.loc, conv, it->next, &it->m);
}

CONVLOG_API int convlog_msg_iter_next(convlog_msg_iter *it, const convlog_msg **msg)
{
	int rc;

	cvl_err_clear();
	if (!it || it->magic != ITER_MAGIC || !msg)
		return cvl_err(CONVLOG_EINVAL, "msg_iter_next: not an iterator");
	convlog_msg_free(it->m);
	it->m = NULL;
	*msg = NULL;
	if (it->items) {
		if (it->pos == it->nitems)
			return CONVLOG_DONE;
		cvl_msg_ref *r = &it->items[it->pos];
		if ((rc = cvl_msg_read_at(it->db, &it->v, &r->conv, r->seq, &it->m)))
			return rc;
		it->pos++;
	} else {
		if (it->next == 0 || it->next > it->last)
			return CONVLOG_DONE;
		if (it->cur_open)
			rc = next_by_cursor(it);
		else
			rc = cvl_msg_read_at(it->db, &it->v, cvl_chain_owner(&it->chain, it->next),
					     it->next, &it->m);
		if (rc)
			return rc;
		it->next++;
	}
	*msg = it->m;
	return 0;
}

CONVLOG_API void convlog_msg_iter_free(convlog_msg_iter *it)
{
	if (!it || it->magic != ITER_MAGIC)
		return;
	convlog_msg_free(it->m);
	if (it->cur_open)
		cvl_vcur_close(&it->cur);
	cvl_view_release(&it->v);
	cvl_free(it->items);
	it->magic = CVL_DB_POISON;
	cvl_free(it);
}
