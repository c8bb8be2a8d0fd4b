/* Applying log records to state: the single definition of what every
 * record type does, shared by live transactions and recovery. */
#include <string.h>

#include "engine/db.h"
#include "log/record.h"
#include "model/conv.h"
#include "model/tlv.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/uuid.h"

static const uint8_t counters_key[] = "counters";

static uint64_t id_hash(const convlog_uuid *id)
{
	uint64_t a, b;

	memcpy(&a, id->bytes, 8);
	memcpy(&b, id->bytes + 8, 8);
	return (a ^ (b * UINT64_C(0x9E3779B97F4A7C15))) * UINT64_C(0xff51afd7ed558ccd);
}

static int cs_eq(const cvl_hnode *n, const void *key)
{
	return cvl_uuid_cmp(&((const cvl_cstate *)n)->id, key) == 0;
}

int cvl_actx_init(cvl_actx *a, convlog_db *db)
{
	int rc;

	memset(a, 0, sizeof(*a));
	a->db = db;
	cvl_text_init(&a->text);
	rc = cvl_ws_init(&a->ws);
	if (rc)
		return rc;
	rc = cvl_htab_init(&a->convs, 16);
	if (rc) {
		cvl_ws_free(&a->ws);
		return rc;
	}
	a->view.ws = &a->ws;
	return 0;
}

void cvl_actx_reset(cvl_actx *a)
{
	cvl_cstate *cs = a->conv_list;

	while (cs) {
		cvl_cstate *n = cs->next_all;
		convlog_conv_free(cs->cur);
		cvl_ikeys_free(&cs->orig_keys);
		cvl_free(cs);
		cs = n;
	}
	a->conv_list = NULL;
	if (a->convs.slots) {
		memset(a->convs.slots, 0, a->convs.nslots * sizeof(*a->convs.slots));
		a->convs.count = 0;
	}
	memset(&a->dcount, 0, sizeof(a->dcount));
	cvl_text_reset(a);
}

void cvl_actx_free(cvl_actx *a)
{
	cvl_actx_reset(a);
	cvl_text_free(a);
	cvl_htab_free(&a->convs);
	cvl_ws_free(&a->ws);
	cvl_view_release(&a->view);
}

static int corrupt_conv(const convlog_uuid *id, const char *why)
{
	char s[CONVLOG_UUID_STRLEN];

	return cvl_err(CONVLOG_ECORRUPT, "conversation %s: stored state is malformed: %s",
		       cvl_uuid_str(id, s), why);
}

/* Reads conversation + statistics through the view. */
int cvl_conv_load(cvl_view *v, const convlog_uuid *id, convlog_conv **out)
{
	const uint8_t *val;
	size_t vlen;
	const char *why = NULL;
	convlog_conv *c;
	int rc;

	rc = cvl_view_get(v, CVL_T_CONV, id->bytes, 16, &val, &vlen);
	if (rc)
		return rc;
	rc = cvl_conv_decode(val, vlen, &c, &why);
	if (rc)
		return rc < 0 && why ? corrupt_conv(id, why) : rc;
	rc = cvl_view_get(v, CVL_T_CSTAT, id->bytes, 16, &val, &vlen);
	if (rc == CONVLOG_ENOTFOUND)
		rc = corrupt_conv(id, "statistics record is missing");
	else if (!rc && cvl_conv_overlay(c, val, vlen, &why))
		rc = corrupt_conv(id, why);
	if (!rc && !cvl_scope_covers(v->scope, c))
		rc = CONVLOG_ENOTFOUND;
	if (rc) {
		convlog_conv_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

static int sync_load(cvl_actx *a, cvl_cstate *cs);

static cvl_cstate *cs_new(cvl_actx *a, const convlog_uuid *id)
{
	cvl_cstate *cs = cvl_calloc(1, sizeof(*cs));

	if (!cs)
		return NULL;
	cs->id = *id;
	cs->hn.hash = id_hash(id);
	cvl_htab_insert(&a->convs, &cs->hn);
	cs->next_all = a->conv_list;
	a->conv_list = cs;
	return cs;
}

int cvl_actx_conv(cvl_actx *a, const convlog_uuid *id, cvl_cstate **out)
{
	cvl_cstate *cs = (cvl_cstate *)cvl_htab_find(&a->convs, id_hash(id), cs_eq, id);
	convlog_conv *c = NULL;
	int rc;

	if (cs) {
		*out = cs;
		return !cs->cur ? CONVLOG_ENOTFOUND : !cvl_scope_covers(a->scope, cs->cur) ? cvl_scope_hidden(id) : 0;
	}
	rc = cvl_conv_load(&a->view, id, &c);
	if (rc && rc != CONVLOG_ENOTFOUND)
		return rc;
	cs = cs_new(a, id);
	if (!cs) {
		convlog_conv_free(c);
		return cvl_err(CONVLOG_ENOMEM, "out of memory loading a conversation");
	}
	cs->cur = c;
	*out = cs;
	if (c && ((rc = cvl_conv_index_keys(c, &cs->orig_keys)) != 0 || (rc = sync_load(a, cs)) != 0))
		return rc;
	return !c ? CONVLOG_ENOTFOUND : !cvl_scope_covers(a->scope, c) ? cvl_scope_hidden(id) : 0;
}

/* Replaces cs->cur with a packed copy of `c` (which may point into it). */
static int repack(cvl_cstate *cs, const convlog_conv *c)
{
	cvl_buf b;
	convlog_conv *n;
	const char *why;
	int rc;

	cvl_buf_init(&b, 0);
	rc = cvl_conv_encode(c, CVL_CG_STATIC | CVL_CG_HOT | CVL_CG_AGG, &b);
	if (!rc) {
		rc = cvl_conv_decode(b.p, b.len, &n, &why);
		if (rc < 0 && rc != CONVLOG_ENOMEM)
			rc = cvl_err(CONVLOG_ECORRUPT, "conversation re-encoding failed: %s", why);
	}
	cvl_buf_free(&b);
	if (rc)
		return rc;
	convlog_conv_free(cs->cur);
	cs->cur = n;
	return 0;
}

static int ext_key(uint8_t *k, const char *ext)
{
	return (int)cvl_key_text(k, ext, strlen(ext));
}

/* Moves the external-id mapping when it changes.  The old mapping is
 * removed only while it still names this conversation, so records of
 * different conversations commute (a transaction's records are grouped by
 * conversation in its block). */
static int move_ext(cvl_actx *a, const convlog_uuid *id, const char *old, const char *new)
{
	uint8_t k[CVL_KEY_MAX];
	const uint8_t *v;
	size_t vl, kl;
	int rc;

	if ((old == NULL && new == NULL) || (old && new && !strcmp(old, new)))
		return 0;
	if (old) {
		kl = (size_t)ext_key(k, old);
		rc = cvl_view_get(&a->view, CVL_T_CEXT, k, kl, &v, &vl);
		if (rc && rc != CONVLOG_ENOTFOUND)
			return rc;
		if (!rc && vl == 16 && memcmp(v, id->bytes, 16) == 0 &&
		    (rc = cvl_ws_del(&a->ws, CVL_T_CEXT, k, kl)))
			return rc;
	}
	if (new)
		return cvl_ws_put(&a->ws, CVL_T_CEXT, k, (size_t)ext_key(k, new), id->bytes, 16, NULL);
	return 0;
}

static int is_inactive(int s)
{
	return s >= CONVLOG_STATUS_INACTIVE_TIMEOUT && s <= CONVLOG_STATUS_COMPLETED;
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* ---- sync state (format 4) ---- */

static int has_sync(const cvl_actx *a)
{
	return a->db->lm.has_sync;
}

/* cs changed: its feed entry moves at settle. */
static void touch(cvl_actx *a, cvl_cstate *cs)
{
	if (!has_sync(a))
		return;
	cs->sy_dirty = 1;
	if (!a->txn)
		cs->touch_lsn = a->blk_last;
}

/* Sets the stamp of every unit in `units` to st. */
static void stamp_units(cvl_actx *a, cvl_cstate *cs, uint64_t units, const cvl_stamp *st)
{
	for (int u = 0; u < CVL_SYNC_UNITS; u++)
		if (units & (UINT64_C(1) << u))
			cs->sy.unit[u] = *st;
	touch(a, cs);
}

static int sync_load(cvl_actx *a, cvl_cstate *cs)
{
	const uint8_t *v;
	size_t vl;
	int rc;

	memset(&cs->sy, 0, sizeof(cs->sy));
	cs->sy_exists = 0;
	if (!has_sync(a))
		return 0;
	rc = cvl_view_get(&a->view, CVL_T_SYNC_CONV, cs->id.bytes, 16, &v, &vl);
	if (rc == CONVLOG_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (cvl_sync_conv_decode(v, vl, &cs->sy))
		return corrupt_conv(&cs->id, "sync_conv value has the wrong size");
	cs->sy_exists = 1;
	return 0;
}

static int apply_put(cvl_actx *a, const uint8_t *body, size_t len)
{
	convlog_conv *nc;
	cvl_cstate *cs;
	const char *why;
	int rc = cvl_conv_decode(body, len, &nc, &why);

	if (rc)
		return rc < 0 && rc != CONVLOG_ENOMEM ? cvl_err(CONVLOG_ECORRUPT, "conv_put record: %s", why) : rc;
	if (convlog_uuid_is_nil(&nc->id) || !cvl_status_valid(nc->status)) {
		rc = cvl_err(CONVLOG_ECORRUPT, "conv_put record without an id or with an unknown status");
		goto out;
	}
	rc = cvl_actx_conv(a, &nc->id, &cs);
	if (rc && rc != CONVLOG_ENOTFOUND)
		goto out;
	if (cs->cur) {
		nc->message_count = cs->cur->message_count;
		nc->token_total = cs->cur->token_total;
		nc->cost_total = cs->cur->cost_total;
		nc->last_message_at = cs->cur->last_message_at;
		a->dcount.deleted += (nc->status == CONVLOG_STATUS_DELETED) -
				     (cs->cur->status == CONVLOG_STATUS_DELETED);
	} else {
		/* a fork's seq space starts with its parent's 1..fork_seq */
		nc->message_count = convlog_uuid_is_nil(&nc->parent_id) ? 0 : nc->fork_seq;
		nc->token_total = nc->cost_total = nc->last_message_at = 0;
		a->dcount.conversations++;
		a->dcount.deleted += nc->status == CONVLOG_STATUS_DELETED;
	}
	rc = move_ext(a, &nc->id, cs->cur ? cs->cur->external_id : NULL, nc->external_id);
	if (rc)
		goto out;
	if (!cs->cur)
		cs->sy.born = a->rec;
	convlog_conv_free(cs->cur);
	cs->cur = nc;
	nc = NULL;
	cs->dirty_static = cs->dirty_hot = 1;
	stamp_units(a, cs, CVL_UNITS_ALL, &a->rec);
out:
	convlog_conv_free(nc);
	return rc;
}

static void patch_copy(convlog_conv *m, const convlog_conv *f, uint64_t mask)
{
#define CP(bit, field) if (mask & (bit)) m->field = f->field
	CP(CONVLOG_CONV_EXTERNAL_ID, external_id);
	CP(CONVLOG_CONV_ORG_ID, org_id);
	CP(CONVLOG_CONV_USER_ID, user_id);
	CP(CONVLOG_CONV_DEVICE_ID, device_id);
	CP(CONVLOG_CONV_SESSION_ID, session_id);
	CP(CONVLOG_CONV_INITIATOR_ROLE, initiator_role);
	CP(CONVLOG_CONV_RESPONDER_ROLE, responder_role);
	CP(CONVLOG_CONV_TITLE, title);
	CP(CONVLOG_CONV_TOPIC, topic);
	CP(CONVLOG_CONV_SYSTEM_PROMPT, system_prompt);
	CP(CONVLOG_CONV_RATING, rating);
	CP(CONVLOG_CONV_TIP_SEQ, tip_seq);
	CP(CONVLOG_CONV_METADATA, metadata);
	CP(CONVLOG_CONV_CREATED_AT, created_at);
#undef CP
	if (mask & CONVLOG_CONV_TAGS) {
		m->tags = f->tags;
		m->n_tags = f->n_tags;
	}
	if (mask & CONVLOG_CONV_CURSORS) {
		m->cursors = f->cursors;
		m->n_cursors = f->n_cursors;
	}
	if (mask & CONVLOG_CONV_PARENT) {
		m->parent_id = f->parent_id;
		m->fork_seq = f->fork_seq;
		m->depth = f->depth;
	}
}

static int apply_patch(cvl_actx *a, const uint8_t *body, size_t len)
{
	convlog_conv *f, m;
	cvl_cstate *cs;
	uint64_t mask;
	int64_t at;
	const char *why;
	int rc = cvl_conv_decode(body, len, &f, &why);

	if (rc)
		return rc < 0 && rc != CONVLOG_ENOMEM ? cvl_err(CONVLOG_ECORRUPT, "conv_patch record: %s", why) : rc;
	if (cvl_conv_patch_meta(body, len, &mask, &at)) {
		rc = cvl_err(CONVLOG_ECORRUPT, "conv_patch record: malformed mask");
		goto out;
	}
	rc = cvl_actx_conv(a, &f->id, &cs);
	if (rc)
		goto out;
	m = *cs->cur;
	patch_copy(&m, f, mask);
	m.updated_at = max64(m.updated_at, at);
	if (mask & CONVLOG_CONV_EXTERNAL_ID) {
		rc = move_ext(a, &f->id, cs->cur->external_id, m.external_id);
		if (rc)
			goto out;
	}
	rc = repack(cs, &m);
	cs->dirty_static = cs->dirty_hot = 1;
	stamp_units(a, cs, mask & CONVLOG_CONV_ALL, &a->rec);
out:
	convlog_conv_free(f);
	return rc;
}

static int apply_status(cvl_actx *a, const uint8_t *body, size_t len)
{
	convlog_uuid id;
	uint64_t mask;
	int64_t at = 0;
	int status = 0, have_id = 0;
	cvl_cstate *cs;
	cvl_tlv t;
	cvl_tlv_item it;
	int r, rc;

	cvl_tlv_init(&t, body, len);
	while ((r = cvl_tlv_next(&t, &it)) == 1) {
		if (it.field == CF_ID && it.wt == CVL_WT_BYTES && it.len == 16) {
			memcpy(id.bytes, it.data, 16);
			have_id = 1;
		} else if (it.field == CF_STATUS && it.wt == CVL_WT_VARINT) {
			status = (int)(it.v > 255 ? 255 : it.v);
		} else if (it.field != CF_AT || it.wt != CVL_WT_VARINT) {
			r = -1;
			break;
		}
	}
	if (r < 0 || !have_id || !cvl_status_valid(status) ||
	    cvl_conv_patch_meta(body, len, &mask, &at))
		return cvl_err(CONVLOG_ECORRUPT, "conv_status record is malformed");
	rc = cvl_actx_conv(a, &id, &cs);
	if (rc)
		return rc;
	convlog_conv *c = cs->cur;
	int old = c->status;
	if (status == CONVLOG_STATUS_DELETED && old != CONVLOG_STATUS_DELETED) {
		c->prev_status = old;
		c->deleted_at = at;
		a->dcount.deleted++;
	} else if (old == CONVLOG_STATUS_DELETED && status != CONVLOG_STATUS_DELETED) {
		c->prev_status = 0;
		c->deleted_at = 0;
		a->dcount.deleted--;
	}
	/* archived_at lives while the conversation is archived, also through a
	 * delete and restore */
	if (status == CONVLOG_STATUS_ARCHIVED && old != CONVLOG_STATUS_DELETED)
		c->archived_at = at;
	else if (status != CONVLOG_STATUS_ARCHIVED && status != CONVLOG_STATUS_DELETED)
		c->archived_at = 0;
	c->status = status;
	c->updated_at = max64(c->updated_at, at);
	cs->dirty_static = cs->dirty_hot = 1;
	stamp_units(a, cs, UINT64_C(1) << CVL_UNIT_STATUS, &a->rec);
	return 0;
}

static int put_msg(cvl_actx *a, const cvl_msg_peek *m, const cvl_loc *loc)
{
	uint8_t k[20];
	uint8_t sumbuf[256];
	cvl_buf b = {.p = sumbuf, .cap = sizeof(sumbuf), .max = SIZE_MAX};
	cvl_wentry *e;
	int rc;

	/* summaries are small; fall back to the heap for long role/model */
	if (m->role_len + m->model_len + 128 > sizeof(sumbuf))
		cvl_buf_init(&b, 0);
	rc = cvl_msg_sum_encode(m, loc, &b);
	if (!rc)
		rc = cvl_ws_put(&a->ws, CVL_T_MSG, k, cvl_key_msg(k, &m->conv, m->seq), b.p, b.len, &e);
	if (!rc && loc->seg == 0)
		e->pend_rec = (int64_t)loc->frame_off;
	if (b.p != sumbuf)
		cvl_buf_free(&b);
	return rc;
}

static int64_t known(int64_t v)
{
	return v < 0 ? 0 : v;
}

static int apply_append(cvl_actx *a, const uint8_t *body, size_t len, const cvl_loc *loc)
{
	cvl_msg_peek m;
	cvl_cstate *cs;
	uint8_t idv[20];
	int rc;

	if (cvl_msg_peek_body(body, len, &m))
		return cvl_err(CONVLOG_ECORRUPT, "msg_append record is malformed");
	m.rec_len = cvl_record_len(len);
	rc = cvl_actx_conv(a, &m.conv, &cs);
	if (rc)
		return rc;
	convlog_conv *c = cs->cur;
	if (m.seq != c->message_count + 1 || m.parent_seq >= m.seq)
		return cvl_err(CONVLOG_ECORRUPT, "msg_append record: seq %u / parent %u after %llu messages",
			       m.seq, m.parent_seq, (unsigned long long)c->message_count);
	c->message_count = m.seq;
	c->token_total += known(m.tokens);
	c->cost_total += known(m.cost);
	c->tip_seq = m.seq;
	/* a message a sync merge writes (it carries its version stamp) leaves
	 * the times to the merge's CONV_MERGE: the replica it came from may
	 * hold lower ones (an import sets them as given) */
	if (!m.ver_hlc) {
		c->last_activity_at = max64(c->last_activity_at, m.created_at);
		c->updated_at = max64(c->updated_at, m.created_at);
	}
	c->last_message_at = c->message_count == 1 || !c->last_message_at
				     ? m.created_at : max64(c->last_message_at, m.created_at);
	/* the tip (and a reactivation) carry the message's creation stamp */
	cvl_stamp born = m.born_hlc ? (cvl_stamp){m.born_hlc, m.born_origin} : a->rec;
	uint64_t units = UINT64_C(1) << CVL_UNIT_TIP;
	if (is_inactive(c->status)) {
		c->status = CONVLOG_STATUS_ACTIVE;
		cs->dirty_static = 1;
		units |= UINT64_C(1) << CVL_UNIT_STATUS;
	}
	cs->dirty_hot = 1;
	stamp_units(a, cs, units, &born);
	rc = put_msg(a, &m, loc);
	if (rc)
		return rc;
	cvl_key_msg(idv, &m.conv, m.seq);
	rc = cvl_ws_put(&a->ws, CVL_T_MSGID, m.id.bytes, 16, idv, 20, NULL);
	if (rc)
		return rc;
	uint8_t ck[24];
	rc = cvl_ws_put(&a->ws, CVL_T_MSG_CHILDREN, ck, cvl_key_child(ck, &m.conv, m.parent_seq, m.seq),
			NULL, 0, NULL);
	if (rc)
		return rc;
	a->dcount.messages++;
	a->dcount.content_bytes += (int64_t)m.content_len;
	return cvl_text_add(a, &m, loc);
}

static int apply_supersede(cvl_actx *a, const uint8_t *body, size_t len, const cvl_loc *loc)
{
	cvl_msg_peek m;
	cvl_msg_sum old;
	cvl_cstate *cs;
	uint8_t k[20];
	const uint8_t *val;
	size_t vlen;
	int rc;

	if (cvl_msg_peek_body(body, len, &m))
		return cvl_err(CONVLOG_ECORRUPT, "msg_supersede record is malformed");
	m.rec_len = cvl_record_len(len);
	rc = cvl_actx_conv(a, &m.conv, &cs);
	if (rc)
		return rc;
	rc = cvl_view_get(&a->view, CVL_T_MSG, k, cvl_key_msg(k, &m.conv, m.seq), &val, &vlen);
	if (rc)
		return rc == CONVLOG_ENOTFOUND
			       ? cvl_err(CONVLOG_ECORRUPT, "msg_supersede names a message that does not exist")
			       : rc;
	if (cvl_msg_sum_decode(val, vlen, m.seq, &old))
		return cvl_err(CONVLOG_ECORRUPT, "message summary is malformed");
	convlog_conv *c = cs->cur;
	c->token_total += known(m.tokens) - known(old.tokens);
	c->cost_total += known(m.cost) - known(old.cost);
	if (!m.ver_hlc)
		c->updated_at = max64(c->updated_at, m.edited_at ? m.edited_at : m.created_at);
	cs->dirty_hot = 1;
	touch(a, cs);
	a->dcount.content_bytes += (int64_t)m.content_len - (int64_t)old.content_len;
	if ((rc = cvl_text_kill(a, &old.loc)) || (rc = cvl_text_add(a, &m, loc)))
		return rc;
	return put_msg(a, &m, loc);
}


/* ---- purge, detach, adopt (format 2) ---- */

/*
 * Calls fn for every conversation whose parent is `id` as this context
 * sees it: the ix_parent table (memtables and LMDB) plus conversations
 * loaded or changed in this context.  Stops at the first non-zero return.
 */
int cvl_actx_children(cvl_actx *a, const convlog_uuid *id,
		      int (*fn)(cvl_actx *, cvl_cstate *, void *), void *ud)
{
	cvl_vcur c;
	int rc;

	/* conversations of this context first: their ix keys may be stale */
	for (cvl_cstate *cs = a->conv_list; cs; cs = cs->next_all)
		if (cs->cur && cvl_uuid_cmp(&cs->cur->parent_id, id) == 0 &&
		    (rc = fn(a, cs, ud)))
			return rc;
	if ((rc = cvl_vcur_open(&a->view, CVL_T_IX_PARENT, &c)))
		return rc;
	for (rc = cvl_vcur_seek(&c, id->bytes, 16); !rc; rc = cvl_vcur_next(&c)) {
		convlog_uuid kid;
		cvl_cstate *cs;
		if (c.klen < 32 || memcmp(c.key, id->bytes, 16) != 0)
			break;
		memcpy(kid.bytes, c.key + c.klen - 16, 16);
		if (cvl_htab_find(&a->convs, id_hash(&kid), cs_eq, &kid))
			continue; /* seen above (or purged) */
		rc = cvl_actx_conv(a, &kid, &cs);
		if (rc == CONVLOG_ENOTFOUND)
			continue;
		if (rc || (cvl_uuid_cmp(&cs->cur->parent_id, id) == 0 && (rc = fn(a, cs, ud))))
			break;
	}
	cvl_vcur_close(&c);
	return rc == CONVLOG_DONE ? 0 : rc;
}

/* Sets the depth of cs's forks (recursively) from cs's. */
static int redepth_one(cvl_actx *a, cvl_cstate *cs, void *ud)
{
	const convlog_conv *p = ud;

	if (cs->cur->depth == p->depth + 1)
		return 0;
	if (p->depth + 1 >= CVL_CHAIN_MAX)
		return cvl_err(CONVLOG_ECORRUPT, "forks nest deeper than %d", CVL_CHAIN_MAX);
	cs->cur->depth = p->depth + 1;
	cs->dirty_static = 1;
	touch(a, cs);
	return cvl_actx_children(a, &cs->id, redepth_one, cs->cur);
}

/* The message record a locator names: pending ones are read from the open
 * transaction; *f is set when a cached frame must be released. */
static int loc_msg(cvl_actx *a, const cvl_loc *loc, cvl_msg_peek *m, uint64_t *lsn, cvl_frame **f)
{
	const uint8_t *p, *end;
	cvl_record r;
	const char *why;
	int rc;

	*f = NULL;
	if (loc->seg == 0) {
		convlog_txn *t = a->txn;
		size_t i = (size_t)loc->frame_off;
		if (!t || i >= t->nrec)
			return cvl_err(CONVLOG_ECORRUPT, "a pending message locator names no record");
		p = t->recs.p + t->offs[i];
		end = t->recs.p + t->recs.len;
	} else {
		if ((rc = cvl_frame_get(a->db, loc, f)))
			return rc;
		if (loc->rec_idx >= (*f)->nrec)
			return cvl_err(CONVLOG_ECORRUPT, "a message locator names no record");
		p = (*f)->raw + (*f)->rec_off[loc->rec_idx];
		end = (*f)->raw + (*f)->raw_len;
	}
	if (cvl_record_decode(&p, end, &r, &why) || !cvl_record_is_msg(r.type) ||
	    cvl_msg_peek_body(r.body, r.body_len, m))
		return cvl_err(CONVLOG_ECORRUPT, "a message locator names no message record");
	*lsn = r.lsn;
	return 0;
}

/* Removes message `seq` of conversation `conv` (purge and drop): its
 * `msg`, `msg_children` and (while it maps here) `msg_id` entries, its
 * search document, and its share of the counters.  With `want`, the
 * record must be that message.  CONVLOG_ENOTFOUND if there is no entry. */
static int remove_msg(cvl_actx *a, const convlog_uuid *conv, uint32_t seq, const convlog_uuid *want,
		      cvl_msg_sum *sm)
{
	uint8_t k[20], ck[24], here[20];
	const uint8_t *val;
	size_t vlen;
	cvl_msg_peek m;
	cvl_frame *f;
	uint64_t lsn = 0;
	int rc;

	rc = cvl_view_get(&a->view, CVL_T_MSG, k, cvl_key_msg(k, conv, seq), &val, &vlen);
	if (rc)
		return rc;
	if (cvl_msg_sum_decode(val, vlen, seq, sm))
		return cvl_err(CONVLOG_ECORRUPT, "message summary is malformed");
	/* one read of the record gives the id (for msg_id) and the docid (its
	 * LSN) of the search document */
	rc = loc_msg(a, &sm->loc, &m, &lsn, &f);
	if (!rc && want && cvl_uuid_cmp(&m.id, want) != 0)
		rc = cvl_err(CONVLOG_ECORRUPT, "msg_drop names another message than the one at its seq");
	if (!rc) {
		cvl_key_msg(here, conv, seq);
		int g = cvl_view_get(&a->view, CVL_T_MSGID, m.id.bytes, 16, &val, &vlen);
		if (g == 0 && vlen == 20 && memcmp(val, here, 20) == 0)
			rc = cvl_ws_del(&a->ws, CVL_T_MSGID, m.id.bytes, 16);
		else if (g != 0 && g != CONVLOG_ENOTFOUND)
			rc = g;
	}
	if (f)
		cvl_cache_release(a->db->cache, f);
	if (rc ||
	    (rc = cvl_text_kill_doc(a, sm->loc.seg ? lsn : 0, sm->loc.seg ? -1 : (int64_t)sm->loc.frame_off)) ||
	    (rc = cvl_ws_del(&a->ws, CVL_T_MSG, k, 20)) ||
	    (rc = cvl_ws_del(&a->ws, CVL_T_MSG_CHILDREN, ck, cvl_key_child(ck, conv, sm->parent_seq, seq))))
		return rc == CONVLOG_ENOTFOUND ? CONVLOG_ECORRUPT : rc;
	a->dcount.messages--;
	a->dcount.content_bytes -= (int64_t)sm->content_len;
	return 0;
}

static int apply_purge(cvl_actx *a, const uint8_t *body, size_t len)
{
	convlog_uuid id;
	int have_id = 0;
	cvl_cstate *cs;
	cvl_tlv t;
	cvl_tlv_item it;
	int r, rc;

	cvl_tlv_init(&t, body, len);
	while ((r = cvl_tlv_next(&t, &it)) == 1) {
		if (it.field == CF_ID && it.wt == CVL_WT_BYTES && it.len == 16 && !have_id) {
			memcpy(id.bytes, it.data, 16);
			have_id = 1;
		} else if (it.field != CF_AT || it.wt != CVL_WT_VARINT) {
			r = -1;
			break;
		}
	}
	if (r < 0 || !have_id)
		return cvl_err(CONVLOG_ECORRUPT, "conv_purge record is malformed");
	if ((rc = cvl_actx_conv(a, &id, &cs)))
		return rc == CONVLOG_ENOTFOUND
			       ? cvl_err(CONVLOG_ECORRUPT, "conv_purge names a conversation that does not exist")
			       : rc;
	convlog_conv *c = cs->cur;
	if (c->status != CONVLOG_STATUS_DELETED)
		return cvl_err(CONVLOG_ECORRUPT, "conv_purge names a conversation that is not deleted");
	/* its own messages: every key, the search document, the counters */
	for (uint64_t seq = c->fork_seq + 1; seq <= c->message_count; seq++) {
		cvl_msg_sum sm;
		rc = remove_msg(a, &id, (uint32_t)seq, NULL, &sm);
		if (rc && rc != CONVLOG_ENOTFOUND)
			return rc;
	}
	/* the conversation: rows, index keys, external id */
	if ((rc = move_ext(a, &id, c->external_id, NULL)))
		return rc;
	for (size_t i = 0; i < cs->orig_keys.n; i++) {
		cvl_ikey *k = &cs->orig_keys.v[i];
		if ((rc = cvl_ws_del(&a->ws, k->table, k->k, k->len)))
			return rc;
	}
	if ((rc = cvl_ws_del(&a->ws, CVL_T_CONV, id.bytes, 16)) ||
	    (rc = cvl_ws_del(&a->ws, CVL_T_CSTAT, id.bytes, 16)))
		return rc;
	cvl_ikeys_free(&cs->orig_keys);
	convlog_conv_free(cs->cur);
	cs->cur = NULL;
	cs->dirty_static = cs->dirty_hot = 0;
	cs->purged = 1;
	cs->purge_stamp = a->rec;
	touch(a, cs);
	a->dcount.conversations--;
	a->dcount.deleted--;
	return 0;
}

static int apply_detach(cvl_actx *a, const uint8_t *body, size_t len)
{
	convlog_uuid id, parent = {{0}};
	uint64_t fork_seq = 0;
	int have_id = 0, have_fs = 0;
	cvl_cstate *cs, *ps = NULL;
	cvl_tlv t;
	cvl_tlv_item it;
	int r, rc;

	cvl_tlv_init(&t, body, len);
	while ((r = cvl_tlv_next(&t, &it)) == 1) {
		if (it.field == CF_ID && it.wt == CVL_WT_BYTES && it.len == 16) {
			memcpy(id.bytes, it.data, 16);
			have_id = 1;
		} else if (it.field == CF_PARENT && it.wt == CVL_WT_BYTES && it.len == 16) {
			memcpy(parent.bytes, it.data, 16);
		} else if (it.field == CF_FORK_SEQ && it.wt == CVL_WT_VARINT) {
			fork_seq = it.v;
			have_fs = 1;
		} else if (it.field != CF_AT || it.wt != CVL_WT_VARINT) {
			r = -1;
			break;
		}
	}
	if (r < 0 || !have_id || !have_fs || fork_seq > UINT32_MAX ||
	    (convlog_uuid_is_nil(&parent) && fork_seq != 0) || cvl_uuid_cmp(&parent, &id) == 0)
		return cvl_err(CONVLOG_ECORRUPT, "conv_detach record is malformed");
	if ((rc = cvl_actx_conv(a, &id, &cs)))
		return rc == CONVLOG_ENOTFOUND
			       ? cvl_err(CONVLOG_ECORRUPT, "conv_detach names a conversation that does not exist")
			       : rc;
	if (!convlog_uuid_is_nil(&parent) && (rc = cvl_actx_conv(a, &parent, &ps)))
		return rc == CONVLOG_ENOTFOUND
			       ? cvl_err(CONVLOG_ECORRUPT, "conv_detach names a parent that does not exist")
			       : rc;
	convlog_conv *c = cs->cur;
	if (convlog_uuid_is_nil(&c->parent_id) || fork_seq > c->fork_seq ||
	    (ps && fork_seq > ps->cur->message_count))
		return cvl_err(CONVLOG_ECORRUPT, "conv_detach moves a fork point forwards or past its parent");
	c->parent_id = parent;
	c->fork_seq = (uint32_t)fork_seq;
	c->depth = ps ? ps->cur->depth + 1 : 0;
	cs->dirty_static = cs->dirty_hot = 1;
	stamp_units(a, cs, UINT64_C(1) << CVL_UNIT_PARENT, &a->rec);
	return cvl_actx_children(a, &id, redepth_one, c);
}

static int apply_adopt(cvl_actx *a, const uint8_t *body, size_t len, const cvl_loc *loc)
{
	cvl_msg_peek m;
	cvl_cstate *cs;
	uint8_t k[20], ck[24];
	const uint8_t *val;
	size_t vlen;
	int rc;

	if (cvl_msg_peek_body(body, len, &m))
		return cvl_err(CONVLOG_ECORRUPT, "msg_adopt record is malformed");
	m.rec_len = cvl_record_len(len);
	if ((rc = cvl_actx_conv(a, &m.conv, &cs)))
		return rc == CONVLOG_ENOTFOUND
			       ? cvl_err(CONVLOG_ECORRUPT, "msg_adopt names a conversation that does not exist")
			       : rc;
	convlog_conv *c = cs->cur;
	if (m.seq <= c->fork_seq || m.seq > c->message_count || m.parent_seq >= m.seq)
		return cvl_err(CONVLOG_ECORRUPT, "msg_adopt record: seq %u outside %u..%llu", m.seq,
			       c->fork_seq + 1, (unsigned long long)c->message_count);
	rc = cvl_view_get(&a->view, CVL_T_MSG, k, cvl_key_msg(k, &m.conv, m.seq), &val, &vlen);
	if (rc != CONVLOG_ENOTFOUND)
		return rc ? rc : cvl_err(CONVLOG_ECORRUPT, "msg_adopt names a message that exists");
	c->token_total += known(m.tokens);
	c->cost_total += known(m.cost);
	c->last_message_at = c->last_message_at ? max64(c->last_message_at, m.created_at)
						: m.created_at;
	c->last_activity_at = max64(c->last_activity_at, m.created_at);
	cs->dirty_hot = 1;
	touch(a, cs);
	if ((rc = put_msg(a, &m, loc)) ||
	    (rc = cvl_ws_put(&a->ws, CVL_T_MSGID, m.id.bytes, 16, k, 20, NULL)) ||
	    (rc = cvl_ws_put(&a->ws, CVL_T_MSG_CHILDREN, ck,
			     cvl_key_child(ck, &m.conv, m.parent_seq, m.seq), NULL, 0, NULL)))
		return rc;
	a->dcount.messages++;
	a->dcount.content_bytes += (int64_t)m.content_len;
	return cvl_text_add(a, &m, loc);
}

/* ---- sync records (format 4) ---- */

/* Reads the stamp list of a CONV_MERGE body (field 62: 17-byte entries
 * unit u8, hlc u64 LE, origin u64 LE) into st; returns the units it names
 * or -1 when malformed. */
static int64_t merge_stamps(const uint8_t *p, size_t n, cvl_stamp st[CVL_SYNC_UNITS])
{
	uint64_t units = 0;

	if (n % 17)
		return -1;
	for (size_t i = 0; i < n; i += 17) {
		unsigned u = p[i];
		if (u >= CVL_SYNC_UNITS || (units & (UINT64_C(1) << u)))
			return -1;
		units |= UINT64_C(1) << u;
		st[u].hlc = cvl_get_u64le(p + i + 1);
		st[u].origin = cvl_get_u64le(p + i + 9);
	}
	return (int64_t)units;
}

static int apply_merge(cvl_actx *a, const uint8_t *body, size_t len)
{
	cvl_stamp st[CVL_SYNC_UNITS] = {{0}}, born = {0};
	const uint8_t *stp = NULL;
	size_t stn = 0;
	int have_born = 0;
	convlog_conv *f = NULL, m;
	cvl_cstate *cs;
	uint64_t mask;
	int64_t at, units;
	const char *why;
	cvl_tlv t;
	cvl_tlv_item it;
	cvl_buf rest;
	int r, rc;

	/* fields 62 (stamps) and 63 (creation stamp) are this record's; the
	 * rest is a conversation TLV */
	cvl_buf_init(&rest, len);
	cvl_tlv_init(&t, body, len);
	for (;;) {
		const uint8_t *start = t.p;
		if ((r = cvl_tlv_next(&t, &it)) != 1)
			break;
		if (it.field == CF_STAMPS && it.wt == CVL_WT_BYTES) {
			stp = it.data;
			stn = it.len;
		} else if (it.field == CF_BORN && it.wt == CVL_WT_BYTES && it.len == 16) {
			born.hlc = cvl_get_u64le(it.data);
			born.origin = cvl_get_u64le(it.data + 8);
			have_born = 1;
		} else if ((rc = cvl_buf_append(&rest, start, (size_t)(t.p - start)))) {
			cvl_buf_free(&rest);
			return rc;
		}
	}
	units = r < 0 ? -1 : merge_stamps(stp, stn, st);
	if (units < 0 || cvl_conv_patch_meta(rest.p, rest.len, &mask, &at) ||
	    (mask & ~CVL_UNITS_ALL) || (uint64_t)units != mask) {
		cvl_buf_free(&rest);
		return cvl_err(CONVLOG_ECORRUPT, "conv_merge record is malformed");
	}
	rc = cvl_conv_decode(rest.p, rest.len, &f, &why);
	cvl_buf_free(&rest);
	if (rc)
		return rc < 0 && rc != CONVLOG_ENOMEM ? cvl_err(CONVLOG_ECORRUPT, "conv_merge record: %s", why) : rc;
	rc = cvl_actx_conv(a, &f->id, &cs);
	if (rc && rc != CONVLOG_ENOTFOUND)
		goto out;
	if (!cs->cur) {
		/* a conversation this replica has not seen: made from the body */
		if (!have_born || !(mask & (UINT64_C(1) << CVL_UNIT_STATUS)) ||
		    !cvl_status_valid(f->status) || convlog_uuid_is_nil(&f->id)) {
			rc = cvl_err(CONVLOG_ECORRUPT, "conv_merge creates a conversation without a status or creation stamp");
			goto out;
		}
		f->message_count = convlog_uuid_is_nil(&f->parent_id) ? 0 : f->fork_seq;
		f->token_total = f->cost_total = f->last_message_at = 0;
		a->dcount.conversations++;
		a->dcount.deleted += f->status == CONVLOG_STATUS_DELETED;
		if ((rc = move_ext(a, &f->id, NULL, f->external_id)))
			goto out;
		cs->cur = f;
		f = NULL;
		cs->sy.born = born;
		cs->dirty_static = cs->dirty_hot = 1;
		for (int u = 0; u < CVL_SYNC_UNITS; u++)
			if (mask & (UINT64_C(1) << u))
				cs->sy.unit[u] = st[u];
		touch(a, cs);
		goto out;
	}
	convlog_conv *c = cs->cur;
	m = *c;
	patch_copy(&m, f, mask & CONVLOG_CONV_ALL & ~CONVLOG_CONV_PARENT);
	if (mask & CONVLOG_CONV_PARENT) {
		/* moving a fork point is allowed while it has no messages of its
		 * own (a rebase: the caller re-appends them after) */
		if (c->message_count != (convlog_uuid_is_nil(&c->parent_id) ? 0 : c->fork_seq) ||
		    cvl_uuid_cmp(&f->parent_id, &f->id) == 0 ||
		    (convlog_uuid_is_nil(&f->parent_id) && f->fork_seq)) {
			rc = cvl_err(CONVLOG_ECORRUPT, "conv_merge moves the fork point of a conversation with messages");
			goto out;
		}
		m.parent_id = f->parent_id;
		m.fork_seq = f->fork_seq;
		m.depth = f->depth;
		m.message_count = convlog_uuid_is_nil(&f->parent_id) ? 0 : f->fork_seq;
	}
	if (mask & (UINT64_C(1) << CVL_UNIT_STATUS)) {
		if (!cvl_status_valid(f->status)) {
			rc = cvl_err(CONVLOG_ECORRUPT, "conv_merge record has an unknown status");
			goto out;
		}
		a->dcount.deleted += (f->status == CONVLOG_STATUS_DELETED) -
				     (c->status == CONVLOG_STATUS_DELETED);
		m.status = f->status;
		m.prev_status = f->prev_status;
		m.archived_at = f->archived_at;
		m.deleted_at = f->deleted_at;
	}
	/* the times merge by max; `at` (when the merge was made) is not one
	 * of them, or replicas would never agree */
	m.updated_at = max64(m.updated_at, f->updated_at);
	m.last_activity_at = max64(m.last_activity_at, f->last_activity_at);
	if ((mask & CONVLOG_CONV_EXTERNAL_ID) &&
	    (rc = move_ext(a, &f->id, c->external_id, m.external_id)))
		goto out;
	if ((rc = repack(cs, &m)))
		goto out;
	cs->dirty_static = cs->dirty_hot = 1;
	for (int u = 0; u < CVL_SYNC_UNITS; u++)
		if (mask & (UINT64_C(1) << u))
			cs->sy.unit[u] = st[u];
	touch(a, cs);
	if (mask & CONVLOG_CONV_PARENT)
		rc = cvl_actx_children(a, &cs->id, redepth_one, cs->cur);
out:
	convlog_conv_free(f);
	return rc;
}

/* MSG_DROP: removes a conversation's last own message (a sync merge
 * renumbering the messages after it re-appends them in the same
 * transaction). */
static int apply_drop(cvl_actx *a, const uint8_t *body, size_t len)
{
	convlog_uuid id, conv;
	uint64_t seq = 0;
	int have = 0;
	cvl_cstate *cs;
	cvl_tlv t;
	cvl_tlv_item it;
	int r, rc;

	cvl_tlv_init(&t, body, len);
	while ((r = cvl_tlv_next(&t, &it)) == 1) {
		if (it.field == MF_ID && it.wt == CVL_WT_BYTES && it.len == 16) {
			memcpy(id.bytes, it.data, 16);
			have |= 1;
		} else if (it.field == MF_CONV && it.wt == CVL_WT_BYTES && it.len == 16) {
			memcpy(conv.bytes, it.data, 16);
			have |= 2;
		} else if (it.field == MF_SEQ && it.wt == CVL_WT_VARINT && it.v && it.v <= UINT32_MAX) {
			seq = it.v;
			have |= 4;
		} else {
			r = -1;
			break;
		}
	}
	if (r < 0 || have != 7)
		return cvl_err(CONVLOG_ECORRUPT, "msg_drop record is malformed");
	if ((rc = cvl_actx_conv(a, &conv, &cs)))
		return rc == CONVLOG_ENOTFOUND
			       ? cvl_err(CONVLOG_ECORRUPT, "msg_drop names a conversation that does not exist")
			       : rc;
	convlog_conv *c = cs->cur;
	cvl_msg_sum sm;
	if (seq != c->message_count || seq <= c->fork_seq)
		return cvl_err(CONVLOG_ECORRUPT, "msg_drop of seq %llu: not the conversation's last own message",
			       (unsigned long long)seq);
	rc = remove_msg(a, &conv, (uint32_t)seq, &id, &sm);
	if (rc)
		return rc == CONVLOG_ENOTFOUND ? cvl_err(CONVLOG_ECORRUPT, "msg_drop names a message that does not exist") : rc;
	c->message_count = (uint32_t)(seq - 1);
	c->token_total -= known(sm.tokens);
	c->cost_total -= known(sm.cost);
	if (c->tip_seq >= seq)
		c->tip_seq = sm.parent_seq;
	cs->dirty_hot = 1;
	touch(a, cs);
	return 0;
}

/* SYNC_PEER: a peer's cursors move forwards (never back). */
static int apply_peer(cvl_actx *a, const uint8_t *body, size_t len)
{
	uint64_t peer = 0, recv = 0, ack = 0;
	int64_t at = 0;
	int have = 0;
	cvl_sync_peer p = {0};
	uint8_t k[8], v[CVL_SYNC_PEER_LEN];
	const uint8_t *val;
	size_t vlen;
	cvl_tlv t;
	cvl_tlv_item it;
	int r, rc;

	cvl_tlv_init(&t, body, len);
	while ((r = cvl_tlv_next(&t, &it)) == 1) {
		if (it.wt != CVL_WT_VARINT || it.field < 1 || it.field > 4) {
			r = -1;
			break;
		}
		switch (it.field) {
		case 1: peer = it.v; have = 1; break;
		case 2: recv = it.v; break;
		case 3: ack = it.v; break;
		case 4: at = cvl_unzigzag(it.v); break;
		}
	}
	if (r < 0 || !have || !peer)
		return cvl_err(CONVLOG_ECORRUPT, "sync_peer record is malformed");
	if (!has_sync(a))
		return 0;
	cvl_put_u64be(k, peer);
	rc = cvl_view_get(&a->view, CVL_T_SYNC_PEER, k, 8, &val, &vlen);
	if (rc && rc != CONVLOG_ENOTFOUND)
		return rc;
	if (!rc && cvl_sync_peer_decode(val, vlen, &p))
		return cvl_err(CONVLOG_ECORRUPT, "sync_peer value has the wrong size");
	if (recv > p.recv)
		p.recv = recv;
	if (ack > p.ack)
		p.ack = ack;
	if (at > p.at)
		p.at = at;
	cvl_sync_peer_encode(&p, v);
	return cvl_ws_put(&a->ws, CVL_T_SYNC_PEER, k, 8, v, sizeof(v), NULL);
}

int cvl_apply(cvl_actx *a, uint8_t type, const uint8_t *body, size_t len, const cvl_loc *loc)
{
	switch (type) {
	case CVL_REC_CONV_PUT: return apply_put(a, body, len);
	case CVL_REC_CONV_PATCH: return apply_patch(a, body, len);
	case CVL_REC_CONV_STATUS: return apply_status(a, body, len);
	case CVL_REC_MSG_APPEND: return apply_append(a, body, len, loc);
	case CVL_REC_MSG_SUPERSEDE: return apply_supersede(a, body, len, loc);
	case CVL_REC_CONV_PURGE: return apply_purge(a, body, len);
	case CVL_REC_CONV_DETACH: return apply_detach(a, body, len);
	case CVL_REC_MSG_ADOPT: return apply_adopt(a, body, len, loc);
	case CVL_REC_CONV_MERGE: return apply_merge(a, body, len);
	case CVL_REC_MSG_DROP: return apply_drop(a, body, len);
	case CVL_REC_SYNC_PEER: return apply_peer(a, body, len);
	default: return cvl_err(CONVLOG_ECORRUPT, "unknown record type %u", type);
	}
}

/* ---- settling ---- */

static int has_key(const cvl_ikeys *ks, const cvl_ikey *k)
{
	for (size_t i = 0; i < ks->n; i++)
		if (ks->v[i].table == k->table && ks->v[i].len == k->len &&
		    memcmp(ks->v[i].k, k->k, k->len) == 0)
			return 1;
	return 0;
}

static int settle_conv(cvl_actx *a, cvl_cstate *cs, cvl_buf *b)
{
	cvl_ikeys nk = {0};
	int rc = 0;

	if (cs->dirty_static) {
		b->len = 0;
		if ((rc = cvl_conv_encode(cs->cur, CVL_CG_STATIC, b)) ||
		    (rc = cvl_ws_put(&a->ws, CVL_T_CONV, cs->id.bytes, 16, b->p, b->len, NULL)))
			return rc;
	}
	b->len = 0;
	if ((rc = cvl_conv_encode(cs->cur, CVL_CG_HOT | CVL_CG_AGG, b)) ||
	    (rc = cvl_ws_put(&a->ws, CVL_T_CSTAT, cs->id.bytes, 16, b->p, b->len, NULL)))
		return rc;
	if ((rc = cvl_conv_index_keys(cs->cur, &nk)))
		goto out;
	for (size_t i = 0; i < cs->orig_keys.n; i++) {
		cvl_ikey *k = &cs->orig_keys.v[i];
		if (!has_key(&nk, k) && (rc = cvl_ws_del(&a->ws, k->table, k->k, k->len)))
			goto out;
	}
	for (size_t i = 0; i < nk.n; i++) {
		cvl_ikey *k = &nk.v[i];
		if (!has_key(&cs->orig_keys, k) &&
		    (rc = cvl_ws_put(&a->ws, k->table, k->k, k->len, NULL, 0, NULL)))
			goto out;
	}
	cvl_ikeys_free(&cs->orig_keys);
	cs->orig_keys = nk;
	nk.v = NULL;
	cs->dirty_static = cs->dirty_hot = 0;
out:
	cvl_ikeys_free(&nk);
	return rc;
}

int cvl_counters_read(cvl_view *v, cvl_counters *c)
{
	const uint8_t *val;
	size_t vlen;
	cvl_tlv t;
	cvl_tlv_item it;
	int r, rc;

	memset(c, 0, sizeof(*c));
	rc = cvl_view_get(v, CVL_T_META, counters_key, sizeof(counters_key) - 1, &val, &vlen);
	if (rc == CONVLOG_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	cvl_tlv_init(&t, val, vlen);
	while ((r = cvl_tlv_next(&t, &it)) == 1) {
		int64_t x = cvl_unzigzag(it.v);
		if (it.wt != CVL_WT_VARINT)
			return cvl_err(CONVLOG_ECORRUPT, "meta/counters is malformed");
		switch (it.field) {
		case 1: c->conversations = x; break;
		case 2: c->deleted = x; break;
		case 3: c->messages = x; break;
		case 4: c->content_bytes = x; break;
		default: return cvl_err(CONVLOG_ECORRUPT, "meta/counters has an unknown field");
		}
	}
	return r < 0 ? cvl_err(CONVLOG_ECORRUPT, "meta/counters is malformed") : 0;
}

int cvl_counters_encode(const cvl_counters *c, cvl_buf *b)
{
	int rc;

	b->len = 0;
	if ((rc = cvl_tlv_put_i(b, 1, c->conversations)) || (rc = cvl_tlv_put_i(b, 2, c->deleted)) ||
	    (rc = cvl_tlv_put_i(b, 3, c->messages)))
		return rc;
	return cvl_tlv_put_i(b, 4, c->content_bytes);
}

static int settle_counters(cvl_actx *a, cvl_buf *b)
{
	cvl_counters c;
	int rc;

	if (!a->dcount.conversations && !a->dcount.deleted && !a->dcount.messages &&
	    !a->dcount.content_bytes)
		return 0;
	if ((rc = cvl_counters_read(&a->view, &c)))
		return rc;
	c.conversations += a->dcount.conversations;
	c.deleted += a->dcount.deleted;
	c.messages += a->dcount.messages;
	c.content_bytes += a->dcount.content_bytes;
	if ((rc = cvl_counters_encode(&c, b)))
		return rc;
	rc = cvl_ws_put(&a->ws, CVL_T_META, counters_key, sizeof(counters_key) - 1, b->p, b->len,
			NULL);
	if (!rc)
		memset(&a->dcount, 0, sizeof(a->dcount));
	return rc;
}

/* Writes cs's sync state and moves its feed entry (or, once purged,
 * replaces both by a tombstone). */
static int settle_sync(cvl_actx *a, cvl_cstate *cs)
{
	uint64_t lsn = a->txn ? a->blk_last : cs->touch_lsn;
	uint8_t k[24], v[CVL_SYNC_CONV_LEN];
	uint8_t kind = cs->purged ? CVL_FEED_PURGED : CVL_FEED_CONV;
	int rc;

	if (cs->sy_exists) {
		cvl_feed_key(k, cs->sy.feed_lsn, cs->id.bytes);
		if ((rc = cvl_ws_del(&a->ws, CVL_T_SYNC_FEED, k, 24)))
			return rc;
	}
	cvl_feed_key(k, lsn, cs->id.bytes);
	if ((rc = cvl_ws_put(&a->ws, CVL_T_SYNC_FEED, k, 24, &kind, 1, NULL)))
		return rc;
	if (cs->purged) {
		cvl_put_u64le(v, lsn);
		cvl_put_u64le(v + 8, cs->purge_stamp.hlc);
		cvl_put_u64le(v + 16, cs->purge_stamp.origin);
		if ((cs->sy_exists && (rc = cvl_ws_del(&a->ws, CVL_T_SYNC_CONV, cs->id.bytes, 16))) ||
		    (rc = cvl_ws_put(&a->ws, CVL_T_SYNC_TOMB, cs->id.bytes, 16, v, CVL_SYNC_TOMB_LEN, NULL)))
			return rc;
		cs->sy_exists = 0;
		cs->sy_dirty = 0;
		return 0;
	}
	cs->sy.feed_lsn = lsn;
	cvl_sync_conv_encode(&cs->sy, v);
	if ((rc = cvl_ws_put(&a->ws, CVL_T_SYNC_CONV, cs->id.bytes, 16, v, sizeof(v), NULL)))
		return rc;
	cs->sy_exists = 1;
	cs->sy_dirty = 0;
	cs->touch_lsn = 0;
	return 0;
}

int cvl_actx_settle(cvl_actx *a)
{
	cvl_buf b;
	int rc = 0;
	/* a transaction settles its sync state when it commits, once its
	 * LSNs are known (a settle half-way leaves it pending) */
	int sync_now = !a->txn || a->blk_last;

	cvl_buf_init(&b, 0);
	for (cvl_cstate *cs = a->conv_list; cs && !rc; cs = cs->next_all) {
		if (cs->cur && (cs->dirty_static || cs->dirty_hot))
			rc = settle_conv(a, cs, &b);
		if (!rc && cs->sy_dirty && sync_now)
			rc = settle_sync(a, cs);
	}
	if (!rc)
		rc = settle_counters(a, &b);
	cvl_buf_free(&b);
	if (rc)
		a->failed = 1;
	return rc;
}

void cvl_actx_publish(cvl_actx *a, cvl_memtable *mt, uint64_t lsn)
{
	for (cvl_wentry *e = a->ws.all; e; e = e->next_all)
		cvl_mt_insert(mt, e->table, e->key, e->klen, e->val, e->vlen, lsn);
	cvl_ws_clear(&a->ws);
}
