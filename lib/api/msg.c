/* Message writes and point reads. */
#include <stdio.h>
#include <string.h>

#include "engine/db.h"
#include "engine/msgiter.h"
#include "log/record.h"
#include "model/conv.h"
#include "os/os.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/uuid.h"

static int conv_for_write(convlog_txn *t, const convlog_uuid *conv, const char *w,
			  cvl_cstate **cs)
{
	int rc = cvl_actx_conv(&t->a, conv, cs);
	int st;

	if (rc == CONVLOG_ENOTFOUND)
		return cvl_err(rc, "%s: the conversation does not exist", w);
	if (rc)
		return rc;
	st = (*cs)->cur->status;
	if (st == CONVLOG_STATUS_ARCHIVED)
		return cvl_err(CONVLOG_ETRANSITION, "%s: the conversation is archived; unarchive it first", w);
	if (st == CONVLOG_STATUS_DELETED)
		return cvl_err(CONVLOG_ETRANSITION, "%s: the conversation is deleted", w);
	return 0;
}

/* `born`: the creation stamp a new version keeps (NULL on append, where
 * the record's own stamp is the creation). */
static int write_msg(convlog_txn *t, uint8_t type, const convlog_msg *m, const cvl_stamp *born)
{
	cvl_buf b;
	int rc;

	cvl_buf_init(&b, CONVLOG_MAX_TXN_BYTES);
	rc = cvl_msg_encode(m, &b);
	if (!rc && born)
		rc = cvl_msg_put_stamps(&b, born, NULL);
	if (!rc)
		rc = cvl_txn_record(t, type, &m->conv_id, &b);
	cvl_buf_free(&b);
	return rc;
}

static int append_in(convlog_txn *t, const convlog_msg *in, uint32_t *out_seq)
{
	convlog_msg m;
	cvl_prep pr = {0};
	cvl_cstate *cs;
	char w[128], s[CONVLOG_UUID_STRLEN];
	const uint8_t *v;
	size_t vl;
	uint64_t next;
	int rc;

	snprintf(w, sizeof(w), "new message of conversation %s", cvl_uuid_str(&in->conv_id, s));
	if (convlog_uuid_is_nil(&in->conv_id))
		return cvl_err(CONVLOG_EINVAL, "msg_append: conv_id is required");
	if ((rc = conv_for_write(t, &in->conv_id, w, &cs)))
		return rc;
	next = cs->cur->message_count + 1;
	if (next > CONVLOG_MAX_SEQ)
		return cvl_err(CONVLOG_ETOOBIG, "%s: the conversation has the maximum of %u messages",
			       w, CONVLOG_MAX_SEQ);
	snprintf(w, sizeof(w), "message %llu of conversation %s", (unsigned long long)next, s);
	if (in->seq && in->seq != next)
		return cvl_err(CONVLOG_ESEQ, "%s: seq %u given, the next is %llu", w, in->seq,
			       (unsigned long long)next);
	if ((rc = cvl_msg_prepare(w, in, CONVLOG_MSG_ALL, t->db->opts.max_content, &m, &pr)))
		goto out;
	m.seq = (uint32_t)next;
	if (m.parent_seq == CONVLOG_PARENT_TIP)
		m.parent_seq = cs->cur->tip_seq;
	else if (m.parent_seq >= next) {
		rc = cvl_err(CONVLOG_EINVAL, "%s: parent_seq %u does not name an earlier message", w,
			     m.parent_seq);
		goto out;
	}
	if (m.status == 0)
		m.status = CONVLOG_MSG_COMPLETED;
	if (!m.created_at)
		m.created_at = cvl_txn_now(t);
	if (convlog_uuid_is_nil(&m.id)) {
		if ((rc = cvl_uuid_v7(&m.id, m.created_at)))
			goto out;
	} else {
		rc = cvl_view_get(&t->a.view, CVL_T_MSGID, m.id.bytes, 16, &v, &vl);
		if (rc == 0) {
			rc = cvl_err(CONVLOG_EEXIST, "%s: message id %s is already used", w,
				     cvl_uuid_str(&m.id, s));
			goto out;
		}
		if (rc != CONVLOG_ENOTFOUND)
			goto out;
	}
	if ((rc = write_msg(t, CVL_REC_MSG_APPEND, &m, NULL)))
		goto out;
	if (out_seq)
		*out_seq = m.seq;
out:
	cvl_prep_free(&pr);
	return rc;
}

CONVLOG_API int convlog_msg_append(convlog_db *db, convlog_txn *txn, const convlog_msg *in,
				   uint32_t *out_seq)
{
	convlog_txn *t;
	int rc;

	cvl_err_clear();
	if (!in)
		return cvl_err(CONVLOG_EINVAL, "msg_append: input is NULL");
	if ((rc = cvl_txn_enter(db, txn, &t)))
		return rc;
	return cvl_txn_leave(t, txn, append_in(t, in, out_seq));
}

static void merge(convlog_msg *m, const convlog_msg *f, uint64_t mask)
{
#define CP(bit, field) if (mask & (bit)) m->field = f->field
	CP(CONVLOG_MSG_ROLE, role);
	CP(CONVLOG_MSG_NAME, name);
	CP(CONVLOG_MSG_TOOL_CALLS, tool_calls);
	CP(CONVLOG_MSG_TOOL_CALL_ID, tool_call_id);
	CP(CONVLOG_MSG_TOKEN_COUNT, token_count);
	CP(CONVLOG_MSG_COST, cost);
	CP(CONVLOG_MSG_LATENCY, latency_ms);
	CP(CONVLOG_MSG_MODEL, model);
	CP(CONVLOG_MSG_STATUS, status);
	CP(CONVLOG_MSG_ERROR_MESSAGE, error_message);
	CP(CONVLOG_MSG_METADATA, metadata);
	CP(CONVLOG_MSG_EDITED_AT, edited_at);
#undef CP
	if (mask & CONVLOG_MSG_CONTENT) {
		m->content = f->content;
		m->content_len = f->content_len;
	}
	if (mask & CONVLOG_MSG_FEEDBACK) {
		m->feedback = f->feedback;
		m->feedback_text = f->feedback_text;
	}
}

static int supersede_in(convlog_txn *t, const convlog_uuid *conv, uint32_t seq,
			const convlog_msg *f, uint64_t mask)
{
	convlog_msg p, m, *old = NULL;
	cvl_prep pr = {0};
	cvl_cstate *cs;
	char w[128], s[CONVLOG_UUID_STRLEN];
	int rc;

	snprintf(w, sizeof(w), "message %u of conversation %s", seq, cvl_uuid_str(conv, s));
	if (mask & ~CONVLOG_MSG_ALL)
		return cvl_err(CONVLOG_EINVAL, "%s: unknown bits in the field mask", w);
	if ((rc = conv_for_write(t, conv, w, &cs)))
		return rc;
	if (seq == 0 || seq > cs->cur->message_count)
		return cvl_err(CONVLOG_ENOTFOUND, "%s does not exist", w);
	if (!convlog_uuid_is_nil(&cs->cur->parent_id) && seq <= cs->cur->fork_seq)
		return cvl_err(CONVLOG_EINVAL, "%s is inherited from the parent conversation; supersede it there",
			       w);
	if ((rc = cvl_msg_prepare(w, f, mask, t->db->opts.max_content, &p, &pr)))
		goto out;
	if ((mask & CONVLOG_MSG_ROLE) && !p.role) {
		rc = cvl_err(CONVLOG_EINVAL, "%s: role cannot be cleared", w);
		goto out;
	}
	cvl_msg_info info;
	if ((rc = cvl_txn_read_msgx(t, conv, seq, &old, &info)))
		goto out;
	m = *old;
	merge(&m, &p, mask);
	if (m.status == 0)
		m.status = CONVLOG_MSG_COMPLETED;
	if (!(mask & CONVLOG_MSG_EDITED_AT) || !m.edited_at)
		m.edited_at = cvl_txn_now(t);
	rc = write_msg(t, CVL_REC_MSG_SUPERSEDE, &m, &info.born);
out:
	convlog_msg_free(old);
	cvl_prep_free(&pr);
	return rc;
}

CONVLOG_API int convlog_msg_supersede(convlog_db *db, convlog_txn *txn,
				      const convlog_uuid *conv_id, uint32_t seq,
				      const convlog_msg *fields, uint64_t mask)
{
	convlog_txn *t;
	int rc;

	cvl_err_clear();
	if (!conv_id || !fields)
		return cvl_err(CONVLOG_EINVAL, "msg_supersede: NULL argument");
	if ((rc = cvl_txn_enter(db, txn, &t)))
		return rc;
	return cvl_txn_leave(t, txn, supersede_in(t, conv_id, seq, fields, mask));
}

/* ---- point reads ---- */

/* Reads seq of conv's seq space: inherited seqs come from the fork chain. */
static int get_in(convlog_db *db, cvl_view *v, const convlog_uuid *conv, uint32_t seq,
		  convlog_msg **out)
{
	convlog_conv *c = NULL;
	cvl_chain ch;
	char s[CONVLOG_UUID_STRLEN];
	int rc = cvl_conv_load(v, conv, &c);

	if (rc == CONVLOG_ENOTFOUND)
		return cvl_err(rc, "conversation %s does not exist", cvl_uuid_str(conv, s));
	if (rc)
		return rc;
	if (!(rc = cvl_chain_load(v, c, &ch)))
		rc = cvl_msg_read_at(db, v, cvl_chain_owner(&ch, seq), seq, out);
	convlog_conv_free(c);
	return rc;
}

CONVLOG_API int convlog_msg_get(convlog_db *db, const convlog_uuid *conv, uint32_t seq,
				convlog_msg **out)
{
	cvl_view v;
	int rc;

	cvl_err_clear();
	if (!conv || !out)
		return cvl_err(CONVLOG_EINVAL, "msg_get: NULL argument");
	*out = NULL;
	if ((rc = cvl_db_view(&db, &v)))
		return rc;
	rc = get_in(db, &v, conv, seq, out);
	cvl_view_release(&v);
	return rc;
}

CONVLOG_API int convlog_msg_get_by_id(convlog_db *db, const convlog_uuid *id, convlog_msg **out)
{
	const uint8_t *val;
	size_t vl;
	convlog_uuid conv;
	cvl_view v;
	char s[CONVLOG_UUID_STRLEN];
	int rc;

	cvl_err_clear();
	if (!id || !out)
		return cvl_err(CONVLOG_EINVAL, "msg_get_by_id: NULL argument");
	*out = NULL;
	if ((rc = cvl_db_view(&db, &v)))
		return rc;
	rc = cvl_view_get(&v, CVL_T_MSGID, id->bytes, 16, &val, &vl);
	if (rc == CONVLOG_ENOTFOUND)
		rc = cvl_err(rc, "message %s does not exist", cvl_uuid_str(id, s));
	else if (!rc && vl != 20)
		rc = cvl_err(CONVLOG_ECORRUPT, "message id index entry is malformed");
	if (!rc) {
		memcpy(conv.bytes, val, 16);
		if (v.scope) { /* its conversation must be in the handle's scope */
			convlog_conv *c = NULL;
			rc = cvl_conv_load(&v, &conv, &c);
			convlog_conv_free(c);
			if (rc == CONVLOG_ENOTFOUND)
				rc = cvl_err(rc, "message %s does not exist", cvl_uuid_str(id, s));
		}
	}
	if (!rc)
		rc = cvl_msg_read_at(db, &v, &conv, cvl_get_u32be(val + 16), out);
	cvl_view_release(&v);
	return rc;
}
