/* Conversation writes and reads. */
#include <stdio.h>
#include <string.h>

#include "engine/db.h"
#include "log/record.h"
#include "model/conv.h"
#include "model/tlv.h"
#include "os/os.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/uuid.h"

static const char *who(char *buf, size_t n, const convlog_uuid *id)
{
	char s[CONVLOG_UUID_STRLEN];

	if (!id || convlog_uuid_is_nil(id))
		snprintf(buf, n, "new conversation");
	else
		snprintf(buf, n, "conversation %s", cvl_uuid_str(id, s));
	return buf;
}

static int not_found(const convlog_uuid *id)
{
	char s[CONVLOG_UUID_STRLEN];

	return cvl_err(CONVLOG_ENOTFOUND, "conversation %s does not exist", cvl_uuid_str(id, s));
}

/* Loads a conversation for a write; CONVLOG_ENOTFOUND with a message. */
static int load(convlog_txn *t, const convlog_uuid *id, cvl_cstate **cs)
{
	int rc = cvl_actx_conv(&t->a, id, cs);

	return rc == CONVLOG_ENOTFOUND ? not_found(id) : rc;
}

/* external_id must not name another conversation. */
static int ext_free(convlog_txn *t, const char *ext, const convlog_uuid *self, const char *w)
{
	uint8_t k[CVL_KEY_MAX];
	const uint8_t *v;
	size_t vl;
	char s[CONVLOG_UUID_STRLEN];
	int rc;

	if (!ext)
		return 0;
	rc = cvl_view_get(&t->a.view, CVL_T_CEXT, k, cvl_key_text(k, ext, strlen(ext)), &v, &vl);
	if (rc == CONVLOG_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (vl == 16 && memcmp(v, self->bytes, 16) == 0)
		return 0;
	convlog_uuid other;
	memcpy(other.bytes, v, vl == 16 ? 16 : 0);
	return cvl_err(CONVLOG_EEXIST, "%s: external_id '%.80s' is used by conversation %s", w, ext,
		       cvl_uuid_str(&other, s));
}

/*
 * The fork point of a new conversation: the parent must exist (and, unless
 * `any_status`, not be deleted) and hold fork_seq messages; depth is
 * derived from the parent's.
 */
static int fork_point(convlog_txn *t, convlog_conv *c, const char *w, int any_status)
{
	cvl_cstate *ps;
	char s[CONVLOG_UUID_STRLEN];
	int rc;

	if (convlog_uuid_is_nil(&c->parent_id)) {
		c->fork_seq = c->depth = 0;
		return 0;
	}
	if (cvl_uuid_cmp(&c->parent_id, &c->id) == 0)
		return cvl_err(CONVLOG_EINVAL, "%s: a conversation cannot be its own parent", w);
	rc = cvl_actx_conv(&t->a, &c->parent_id, &ps);
	if (rc == CONVLOG_ENOTFOUND)
		return cvl_err(CONVLOG_ENOTFOUND, "%s: parent conversation %s does not exist", w,
			       cvl_uuid_str(&c->parent_id, s));
	if (rc)
		return rc;
	if (!any_status && ps->cur->status == CONVLOG_STATUS_DELETED)
		return cvl_err(CONVLOG_ETRANSITION, "%s: parent conversation %s is deleted", w,
			       cvl_uuid_str(&c->parent_id, s));
	if (c->fork_seq > ps->cur->message_count)
		return cvl_err(CONVLOG_EINVAL, "%s: fork_seq %u is beyond the parent's %llu messages",
			       w, c->fork_seq, (unsigned long long)ps->cur->message_count);
	if (ps->cur->depth + 1 >= CVL_CHAIN_MAX)
		return cvl_err(CONVLOG_ETOOBIG, "%s: forks may nest at most %d deep", w,
			       CVL_CHAIN_MAX - 1);
	c->depth = ps->cur->depth + 1;
	return 0;
}

/* An existing conversation keeps its fork point. */
static int same_fork_point(const convlog_conv *old, const convlog_conv *c, const char *w)
{
	if (cvl_uuid_cmp(&old->parent_id, &c->parent_id) != 0 ||
	    (!convlog_uuid_is_nil(&c->parent_id) && old->fork_seq != c->fork_seq))
		return cvl_err(CONVLOG_EINVAL, "%s: a conversation's parent and fork_seq cannot change",
			       w);
	return 0;
}

static int write_conv(convlog_txn *t, const convlog_conv *c)
{
	cvl_buf b;
	int rc;

	cvl_buf_init(&b, 0);
	rc = cvl_conv_encode(c, CVL_CG_STATIC | CVL_CG_HOT, &b);
	if (!rc)
		rc = cvl_txn_record(t, CVL_REC_CONV_PUT, &c->id, &b);
	cvl_buf_free(&b);
	return rc;
}

static int create_in(convlog_txn *t, const convlog_conv *in, convlog_uuid *out_id)
{
	convlog_conv c;
	cvl_prep pr = {0};
	cvl_cstate *cs;
	char w[80];
	int64_t now = cvl_txn_now(t);
	int rc;

	who(w, sizeof(w), &in->id);
	if ((rc = cvl_conv_prepare(w, in, CONVLOG_CONV_ALL, &c, &pr)))
		goto out;
	if (t->scope && !c.user_id) /* a scoped handle creates in its scope */
		c.user_id = t->scope->user_id;
	if (t->scope && !c.org_id)
		c.org_id = t->scope->org_id;
	if (c.status == 0)
		c.status = CONVLOG_STATUS_ACTIVE;
	if (!cvl_status_valid(c.status) || c.status == CONVLOG_STATUS_DELETED) {
		rc = cvl_err(CONVLOG_ESTATUS, "%s: status %d cannot start a conversation", w, c.status);
		goto out;
	}
	if (!convlog_uuid_is_nil(&c.id)) {
		cs = NULL;
		rc = cvl_actx_conv(&t->a, &c.id, &cs);
		/* taken outside a scoped handle's scope too: ids are unique */
		if (rc == 0 || (rc == CONVLOG_ENOTFOUND && cs && cs->cur)) {
			rc = cvl_err(CONVLOG_EEXIST, "%s already exists", w);
			goto out;
		}
		if (rc != CONVLOG_ENOTFOUND)
			goto out;
	}
	if ((rc = ext_free(t, c.external_id, &c.id, w)) || (rc = fork_point(t, &c, w, 0)))
		goto out;
	if (convlog_uuid_is_nil(&c.id) && (rc = cvl_uuid_v7(&c.id, now)))
		goto out;
	if (!c.created_at)
		c.created_at = now;
	c.updated_at = c.last_activity_at = c.created_at;
	c.tip_seq = c.fork_seq;
	c.prev_status = 0;
	c.deleted_at = 0;
	c.archived_at = c.status == CONVLOG_STATUS_ARCHIVED ? c.created_at : 0;
	if ((rc = write_conv(t, &c)))
		goto out;
	if (out_id)
		*out_id = c.id;
out:
	cvl_prep_free(&pr);
	return rc;
}

CONVLOG_API int convlog_conv_create(convlog_db *db, convlog_txn *txn, const convlog_conv *in,
				    convlog_uuid *out_id)
{
	convlog_txn *t;
	int rc;

	cvl_err_clear();
	if (!in)
		return cvl_err(CONVLOG_EINVAL, "conv_create: input is NULL");
	if ((rc = cvl_txn_enter(db, txn, &t)))
		return rc;
	return cvl_txn_leave(t, txn, create_in(t, in, out_id));
}

static int put_in(convlog_txn *t, const convlog_conv *in)
{
	convlog_conv c;
	cvl_prep pr = {0};
	cvl_cstate *cs;
	char w[80];
	int rc;

	who(w, sizeof(w), &in->id);
	if (convlog_uuid_is_nil(&in->id))
		return cvl_err(CONVLOG_EINVAL, "conv_put: the conversation id is required");
	if ((rc = cvl_conv_prepare(w, in, CONVLOG_CONV_ALL, &c, &pr)))
		goto out;
	if (!cvl_status_valid(c.status)) {
		rc = cvl_err(CONVLOG_ESTATUS, "%s: unknown status %d", w, c.status);
		goto out;
	}
	if (t->scope && !c.user_id)
		c.user_id = t->scope->user_id;
	if (t->scope && !c.org_id)
		c.org_id = t->scope->org_id;
	if (c.prev_status && !cvl_status_valid(c.prev_status)) {
		rc = cvl_err(CONVLOG_ESTATUS, "%s: unknown prev_status %d", w, c.prev_status);
		goto out;
	}
	rc = cvl_actx_conv(&t->a, &c.id, &cs);
	if (rc && rc != CONVLOG_ENOTFOUND)
		goto out;
	if (rc == 0 && (rc = same_fork_point(cs->cur, &c, w)))
		goto out;
	uint64_t count = cs->cur ? cs->cur->message_count
				 : convlog_uuid_is_nil(&c.parent_id) ? 0 : c.fork_seq;
	if (c.tip_seq > count) {
		rc = cvl_err(CONVLOG_EINVAL, "%s: tip_seq %u is beyond its %llu messages", w, c.tip_seq,
			     (unsigned long long)count);
		goto out;
	}
	if (cs->cur)
		c.depth = cs->cur->depth;
	else if ((rc = fork_point(t, &c, w, 1)))
		goto out;
	if ((rc = ext_free(t, c.external_id, &c.id, w)))
		goto out;
	if (!c.created_at)
		c.created_at = cvl_txn_now(t);
	if (!c.updated_at)
		c.updated_at = c.created_at;
	if (!c.last_activity_at)
		c.last_activity_at = c.created_at;
	/* activity never goes back before the latest message: readers (usage
	 * analytics) rely on last_activity_at >= every message's created_at */
	if (cs->cur && cs->cur->last_message_at && c.last_activity_at < cs->cur->last_message_at)
		c.last_activity_at = cs->cur->last_message_at;
	if (c.status != CONVLOG_STATUS_DELETED) {
		c.deleted_at = 0;
		c.prev_status = 0;
	}
	rc = write_conv(t, &c);
out:
	cvl_prep_free(&pr);
	return rc;
}

CONVLOG_API int convlog_conv_put(convlog_db *db, convlog_txn *txn, const convlog_conv *in)
{
	convlog_txn *t;
	int rc;

	cvl_err_clear();
	if (!in)
		return cvl_err(CONVLOG_EINVAL, "conv_put: input is NULL");
	if ((rc = cvl_txn_enter(db, txn, &t)))
		return rc;
	return cvl_txn_leave(t, txn, put_in(t, in));
}

static int patch_in(convlog_txn *t, const convlog_uuid *id, const convlog_conv *f, uint64_t mask)
{
	convlog_conv c;
	cvl_prep pr = {0};
	cvl_cstate *cs;
	cvl_buf b;
	char w[80];
	int rc;

	who(w, sizeof(w), id);
	if (mask & ~CONVLOG_CONV_ALL)
		return cvl_err(CONVLOG_EINVAL, "%s: unknown bits in the patch mask", w);
	if ((rc = load(t, id, &cs)))
		return rc;
	if (cs->cur->status == CONVLOG_STATUS_DELETED)
		return cvl_err(CONVLOG_ETRANSITION, "%s is deleted; restore it before changing it", w);
	if ((rc = cvl_conv_prepare(w, f, mask, &c, &pr)))
		goto out;
	c.id = *id;
	if ((mask & CONVLOG_CONV_EXTERNAL_ID) && (rc = ext_free(t, c.external_id, id, w)))
		goto out;
	if ((mask & CONVLOG_CONV_PARENT) && (rc = same_fork_point(cs->cur, &c, w)))
		goto out;
	if ((mask & CONVLOG_CONV_TIP_SEQ) && c.tip_seq > cs->cur->message_count) {
		rc = cvl_err(CONVLOG_EINVAL, "%s: tip_seq %u is beyond its %llu messages", w, c.tip_seq,
			     (unsigned long long)cs->cur->message_count);
		goto out;
	}
	if ((mask & CONVLOG_CONV_CREATED_AT) && !c.created_at) {
		rc = cvl_err(CONVLOG_EINVAL, "%s: created_at cannot be cleared", w);
		goto out;
	}
	cvl_buf_init(&b, 0);
	if (!(rc = cvl_tlv_put_bytes(&b, CF_ID, id->bytes, 16)) &&
	    !(rc = cvl_tlv_put_u(&b, CF_MASK, mask)) &&
	    !(rc = cvl_tlv_put_i(&b, CF_AT, cvl_txn_now(t))) &&
	    !(rc = cvl_conv_encode_fields(&c, mask, &b)))
		rc = cvl_txn_record(t, CVL_REC_CONV_PATCH, id, &b);
	cvl_buf_free(&b);
out:
	cvl_prep_free(&pr);
	return rc;
}

CONVLOG_API int convlog_conv_patch(convlog_db *db, convlog_txn *txn, const convlog_uuid *id,
				   const convlog_conv *fields, uint64_t mask)
{
	convlog_txn *t;
	int rc;

	cvl_err_clear();
	if (!id || !fields)
		return cvl_err(CONVLOG_EINVAL, "conv_patch: NULL argument");
	if ((rc = cvl_txn_enter(db, txn, &t)))
		return rc;
	return cvl_txn_leave(t, txn, patch_in(t, id, fields, mask));
}

static int status_record(convlog_txn *t, const convlog_uuid *id, int status)
{
	cvl_buf b;
	int rc;

	cvl_buf_init(&b, 0);
	if (!(rc = cvl_tlv_put_bytes(&b, CF_ID, id->bytes, 16)) &&
	    !(rc = cvl_tlv_put_u(&b, CF_STATUS, (uint64_t)status)) &&
	    !(rc = cvl_tlv_put_i(&b, CF_AT, cvl_txn_now(t))))
		rc = cvl_txn_record(t, CVL_REC_CONV_STATUS, id, &b);
	cvl_buf_free(&b);
	return rc;
}

/* op: 0 set_status, 1 archive, 2 delete, 3 restore */
static int status_in(convlog_txn *t, const convlog_uuid *id, int status, int op)
{
	cvl_cstate *cs;
	char w[80];
	int rc, cur;

	who(w, sizeof(w), id);
	if (op == 0 && !cvl_status_valid(status))
		return cvl_err(CONVLOG_ESTATUS, "%s: unknown status %d", w, status);
	if ((rc = load(t, id, &cs)))
		return rc;
	cur = cs->cur->status;
	if (op == 0 && status == CONVLOG_STATUS_DELETED)
		op = 2;
	if (op == 2)
		return cur == CONVLOG_STATUS_DELETED ? 0 : status_record(t, id, CONVLOG_STATUS_DELETED);
	if (op == 3) {
		if (cur != CONVLOG_STATUS_DELETED)
			return cvl_err(CONVLOG_ETRANSITION, "%s is not deleted", w);
		int prev = cs->cur->prev_status;
		return status_record(t, id, cvl_status_valid(prev) && prev != CONVLOG_STATUS_DELETED
						    ? prev : CONVLOG_STATUS_ACTIVE);
	}
	if (cur == CONVLOG_STATUS_DELETED)
		return cvl_err(CONVLOG_ETRANSITION, "%s is deleted; restore it first", w);
	if (op == 1) {
		if (cur == CONVLOG_STATUS_ARCHIVED)
			return 0;
		if (cur == CONVLOG_STATUS_ACTIVE &&
		    (rc = status_record(t, id, CONVLOG_STATUS_INACTIVE_USER_TERMINATED)))
			return rc;
		return status_record(t, id, CONVLOG_STATUS_ARCHIVED);
	}
	if (cur == status)
		return 0;
	if (cvl_status_transition_ok(cur, status))
		return cvl_err(CONVLOG_ETRANSITION, "%s: %s -> %s is not an allowed transition%s", w,
			       convlog_status_name(cur), convlog_status_name(status),
			       cur == CONVLOG_STATUS_ACTIVE && status == CONVLOG_STATUS_ARCHIVED
				       ? " (use convlog_conv_archive)" : "");
	return status_record(t, id, status);
}

static int status_api(convlog_db *db, convlog_txn *txn, const convlog_uuid *id, int status,
		      int op)
{
	convlog_txn *t;
	int rc;

	cvl_err_clear();
	if (!id)
		return cvl_err(CONVLOG_EINVAL, "conversation id is NULL");
	if ((rc = cvl_txn_enter(db, txn, &t)))
		return rc;
	return cvl_txn_leave(t, txn, status_in(t, id, status, op));
}

CONVLOG_API int convlog_conv_set_status(convlog_db *db, convlog_txn *txn, const convlog_uuid *id,
					int status)
{
	return status_api(db, txn, id, status, 0);
}

CONVLOG_API int convlog_conv_archive(convlog_db *db, convlog_txn *txn, const convlog_uuid *id)
{
	return status_api(db, txn, id, 0, 1);
}

CONVLOG_API int convlog_conv_delete(convlog_db *db, convlog_txn *txn, const convlog_uuid *id)
{
	return status_api(db, txn, id, 0, 2);
}

CONVLOG_API int convlog_conv_restore(convlog_db *db, convlog_txn *txn, const convlog_uuid *id)
{
	return status_api(db, txn, id, 0, 3);
}

/* ---- purge ---- */

struct kids {
	convlog_uuid *v;
	size_t n, cap;
};

static int add_kid(cvl_actx *a, cvl_cstate *cs, void *ud)
{
	struct kids *k = ud;

	(void)a;
	if (k->n == k->cap) {
		size_t nc = k->cap ? k->cap * 2 : 8;
		convlog_uuid *nv = cvl_realloc(k->v, nc * sizeof(*nv));
		if (!nv)
			return cvl_err(CONVLOG_ENOMEM, "out of memory purging a conversation");
		k->v = nv;
		k->cap = nc;
	}
	k->v[k->n++] = cs->id;
	return 0;
}

/*
 * Fork f of p (which is being purged) keeps its thread: it is re-attached
 * to p's parent at the point where its inherited prefix leaves p's own
 * messages, and receives copies of the own messages of p it inherited.
 */
static int detach_fork(convlog_txn *t, const convlog_conv *p, const convlog_uuid *f)
{
	cvl_cstate *fs;
	cvl_buf b;
	uint32_t from, to, new_fs;
	int rc;

	if ((rc = load(t, f, &fs)))
		return rc;
	to = fs->cur->fork_seq;
	if (convlog_uuid_is_nil(&p->parent_id)) {
		new_fs = 0;
		from = 1;
	} else {
		new_fs = to < p->fork_seq ? to : p->fork_seq;
		from = p->fork_seq + 1;
	}
	cvl_buf_init(&b, 0);
	if (!(rc = cvl_tlv_put_bytes(&b, CF_ID, f->bytes, 16)) &&
	    (convlog_uuid_is_nil(&p->parent_id) ||
	     !(rc = cvl_tlv_put_bytes(&b, CF_PARENT, p->parent_id.bytes, 16))) &&
	    !(rc = cvl_tlv_put_u(&b, CF_FORK_SEQ, new_fs)) &&
	    !(rc = cvl_tlv_put_i(&b, CF_AT, cvl_txn_now(t))))
		rc = cvl_txn_record(t, CVL_REC_CONV_DETACH, f, &b);
	for (uint32_t seq = from; !rc && seq <= to; seq++) {
		convlog_msg *m;
		cvl_msg_info info;
		if ((rc = cvl_txn_read_msgx(t, &p->id, seq, &m, &info)))
			break;
		m->conv_id = *f;
		/* every copy gets an id derived from the fork and the original:
		 * unique, and the same on every replica that purges (sync) */
		cvl_uuid_derive(&m->id, f, &m->id);
		b.len = 0;
		rc = cvl_msg_encode(m, &b);
		convlog_msg_free(m);
		if (!rc)
			rc = cvl_msg_put_stamps(&b, &info.born, &info.ver);
		if (!rc)
			rc = cvl_txn_record(t, CVL_REC_MSG_ADOPT, f, &b);
	}
	cvl_buf_free(&b);
	return rc;
}

int cvl_conv_purge_in(convlog_txn *t, const convlog_uuid *id)
{
	struct kids k = {0};
	cvl_cstate *cs;
	convlog_conv p;
	char w[80];
	cvl_buf b;
	int rc;

	who(w, sizeof(w), id);
	if ((rc = load(t, id, &cs)))
		return rc;
	if (cs->cur->status != CONVLOG_STATUS_DELETED)
		return cvl_err(CONVLOG_ETRANSITION, "%s is not deleted; delete it before purging it", w);
	/* settle first so that index keys of this transaction's changes are
	 * written; forks are then found in ix_parent and the context */
	if ((rc = cvl_actx_settle(&t->a)) || (rc = cvl_actx_children(&t->a, id, add_kid, &k)))
		goto out;
	p.id = *id;
	p.parent_id = cs->cur->parent_id;
	p.fork_seq = cs->cur->fork_seq;
	for (size_t i = 0; i < k.n && !rc; i++)
		rc = detach_fork(t, &p, &k.v[i]);
	if (rc)
		goto out;
	cvl_buf_init(&b, 0);
	if (!(rc = cvl_tlv_put_bytes(&b, CF_ID, id->bytes, 16)) &&
	    !(rc = cvl_tlv_put_i(&b, CF_AT, cvl_txn_now(t))))
		rc = cvl_txn_record(t, CVL_REC_CONV_PURGE, id, &b);
	cvl_buf_free(&b);
out:
	cvl_free(k.v);
	return rc;
}

CONVLOG_API int convlog_conv_purge(convlog_db *db, convlog_txn *txn, const convlog_uuid *id)
{
	convlog_txn *t;
	int rc;

	cvl_err_clear();
	if (!id)
		return cvl_err(CONVLOG_EINVAL, "conversation id is NULL");
	if ((rc = cvl_txn_enter(db, txn, &t)))
		return rc;
	return cvl_txn_leave(t, txn, cvl_conv_purge_in(t, id));
}

/* ---- reads ---- */

CONVLOG_API int convlog_conv_get(convlog_db *db, const convlog_uuid *id, convlog_conv **out)
{
	cvl_view v;
	int rc;

	cvl_err_clear();
	if (!id || !out)
		return cvl_err(CONVLOG_EINVAL, "conv_get: NULL argument");
	*out = NULL;
	if ((rc = cvl_db_view(&db, &v)))
		return rc;
	rc = cvl_conv_load(&v, id, out);
	cvl_view_release(&v);
	return rc == CONVLOG_ENOTFOUND ? not_found(id) : rc;
}

CONVLOG_API int convlog_conv_get_by_external(convlog_db *db, const char *ext, convlog_conv **out)
{
	uint8_t k[CVL_KEY_MAX];
	const uint8_t *val;
	size_t vl;
	convlog_uuid id;
	cvl_view v;
	int rc;

	cvl_err_clear();
	if (!ext || !out)
		return cvl_err(CONVLOG_EINVAL, "conv_get_by_external: NULL argument");
	*out = NULL;
	if ((rc = cvl_db_view(&db, &v)))
		return rc;
	rc = cvl_view_get(&v, CVL_T_CEXT, k, cvl_key_text(k, ext, strlen(ext)), &val, &vl);
	if (!rc && vl != 16)
		rc = cvl_err(CONVLOG_ECORRUPT, "external id index entry is malformed");
	if (!rc) {
		memcpy(id.bytes, val, 16);
		rc = cvl_conv_load(&v, &id, out);
	}
	if (!rc && (!(*out)->external_id || strcmp((*out)->external_id, ext) != 0)) {
		convlog_conv_free(*out);
		*out = NULL;
		rc = CONVLOG_ENOTFOUND;
	}
	cvl_view_release(&v);
	if (rc == CONVLOG_ENOTFOUND)
		return cvl_err(rc, "no conversation has external_id '%.80s'", ext);
	return rc;
}
