/* Message range iterators. */
#include <string.h>

#include "engine/db.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/uuid.h"

#define ITER_MAGIC 0x4356494du

struct convlog_msg_iter {
	uint32_t magic;
	convlog_db *db;
	cvl_view v;
	cvl_vcur cur;
	convlog_uuid conv;
	uint32_t next, last; /* seqs still to return: next..last */
	int positioned;
	convlog_msg *m;
};

CONVLOG_API int convlog_msg_range(convlog_db *db, const convlog_uuid *conv, int kind, uint32_t n,
				  uint32_t after_seq, convlog_msg_iter **out)
{
	convlog_msg_iter *it;
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
	if ((rc = cvl_db_check(db)))
		return rc;
	it = cvl_calloc(1, sizeof(*it));
	if (!it)
		return cvl_err(CONVLOG_ENOMEM, "out of memory for an iterator");
	it->magic = ITER_MAGIC;
	it->db = db;
	it->conv = *conv;
	if ((rc = cvl_db_snapshot(db, &it->v)))
		goto fail;
	rc = cvl_conv_load(&it->v, conv, &c);
	if (rc == CONVLOG_ENOTFOUND)
		rc = cvl_err(rc, "conversation %s does not exist", cvl_uuid_str(conv, s));
	if (rc)
		goto fail;
	count = c->message_count;
	convlog_conv_free(c);
	it->next = 1;
	it->last = (uint32_t)count;
	switch (kind) {
	case CONVLOG_RANGE_FIRST:
		if (n < it->last)
			it->last = n;
		break;
	case CONVLOG_RANGE_LAST:
		it->next = count > n ? (uint32_t)(count - n + 1) : 1;
		break;
	case CONVLOG_RANGE_AFTER:
		it->next = after_seq + 1;
		if (n && (uint64_t)after_seq + n < it->last)
			it->last = after_seq + n;
		break;
	default:
		break;
	}
	if ((rc = cvl_vcur_open(&it->v, CVL_T_MSG, &it->cur)))
		goto fail;
	*out = it;
	return 0;
fail:
	convlog_msg_iter_free(it);
	return rc;
}

CONVLOG_API int convlog_msg_iter_next(convlog_msg_iter *it, const convlog_msg **msg)
{
	uint8_t k[20];
	cvl_msg_sum sum;
	char s[CONVLOG_UUID_STRLEN];
	int rc;

	cvl_err_clear();
	if (!it || it->magic != ITER_MAGIC || !msg)
		return cvl_err(CONVLOG_EINVAL, "msg_iter_next: not an iterator");
	convlog_msg_free(it->m);
	it->m = NULL;
	*msg = NULL;
	if (it->next == 0 || it->next > it->last)
		return CONVLOG_DONE;
	if (!it->positioned) {
		rc = cvl_vcur_seek(&it->cur, k, cvl_key_msg(k, &it->conv, it->next));
		it->positioned = 1;
	} else {
		rc = cvl_vcur_next(&it->cur);
	}
	if (rc == CONVLOG_DONE || (rc == 0 && (it->cur.klen != 20 ||
					       memcmp(it->cur.key, it->conv.bytes, 16) != 0 ||
					       cvl_get_u32be(it->cur.key + 16) != it->next)))
		return cvl_err(CONVLOG_ECORRUPT, "message %u of conversation %s is missing from the index",
			       it->next, cvl_uuid_str(&it->conv, s));
	if (rc)
		return rc;
	if (cvl_msg_sum_decode(it->cur.val, it->cur.vlen, it->next, &sum))
		return cvl_err(CONVLOG_ECORRUPT, "message %u of conversation %s: summary is malformed",
			       it->next, cvl_uuid_str(&it->conv, s));
	if ((rc = cvl_read_msg(it->db, &sum.loc, &it->conv, it->next, &it->m)))
		return rc;
	it->next++;
	*msg = it->m;
	return 0;
}

CONVLOG_API void convlog_msg_iter_free(convlog_msg_iter *it)
{
	if (!it || it->magic != ITER_MAGIC)
		return;
	convlog_msg_free(it->m);
	cvl_vcur_close(&it->cur);
	cvl_view_release(&it->v);
	it->magic = CVL_DB_POISON;
	cvl_free(it);
}
