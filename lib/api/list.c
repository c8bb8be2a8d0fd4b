/* Conversation listings over the secondary indexes, with resume tokens. */
#include <string.h>

#include "engine/db.h"
#include "model/conv.h"
#include "util/alloc.h"
#include "util/err.h"

#define LIST_MAGIC 0x4356494cu
#define TOKEN_PREFIX "cl1."

struct convlog_conv_iter {
	uint32_t magic;
	convlog_db *db;
	cvl_view v;
	cvl_vcur cur;
	convlog_conv_filter f; /* strings owned below */
	char *user, *org, *session, *tag, *irole, *rrole;
	int table;
	int reverse; /* oldest first: walk the index backwards */
	uint8_t prefix[CVL_KEY_MAX];
	size_t plen;
	uint8_t resume[CVL_KEY_MAX];
	size_t rlen;
	int started;
	const cvl_scope *scope; /* a scoped handle's: only its conversations */
	uint32_t returned;
	uint8_t last[CVL_KEY_MAX];
	size_t last_len;
	int have_last;
	convlog_conv *c;
};

CONVLOG_API void convlog_conv_filter_init(convlog_conv_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->version = CONVLOG_CONV_VERSION;
}

static void use_text(convlog_conv_iter *it, int table, const char *text)
{
	it->table = table;
	it->plen = text ? cvl_key_text(it->prefix, text, strlen(text)) : 0;
}

/* The order CONVLOG_ORDER_DEFAULT means for filter f: newest created for
 * role filters alone (agent-to-agent logs), else newest activity. */
static int default_order(const convlog_conv_filter *f)
{
	int roles = f->initiator_role || f->responder_role;
	int other = f->user_id || f->org_id || f->session_id || f->tag || f->status || f->has_parent;

	return roles && !other ? CONVLOG_ORDER_CREATED_DESC : CONVLOG_ORDER_ACTIVITY;
}

/* Picks the index that serves the filter in the requested order. */
static int choose_index(convlog_conv_iter *it)
{
	const convlog_conv_filter *f = &it->f;
	int order = f->order == CONVLOG_ORDER_DEFAULT ? default_order(f) : f->order;
	int roles = f->initiator_role || f->responder_role;

	it->reverse = order == CONVLOG_ORDER_CREATED_ASC;
	if (order == CONVLOG_ORDER_ACTIVITY) {
		if (f->has_parent) {
			it->table = CVL_T_IX_PARENT;
			memcpy(it->prefix, f->parent_id.bytes, 16);
			it->plen = 16;
		} else if (f->session_id) {
			use_text(it, CVL_T_IX_SESSION, f->session_id);
		} else if (f->tag) {
			use_text(it, CVL_T_IX_TAG, f->tag);
		} else if (f->user_id) {
			use_text(it, CVL_T_IX_USER, f->user_id);
		} else if (f->org_id) {
			use_text(it, CVL_T_IX_ORG, f->org_id);
		} else if (f->status) {
			it->table = CVL_T_IX_STATUS;
			it->prefix[0] = (uint8_t)f->status;
			it->plen = 1;
		} else if (roles) {
			return cvl_err(CONVLOG_EINVAL,
				       "conv_list: role filters list by creation time, not by activity");
		} else {
			use_text(it, CVL_T_IX_ACT, NULL);
		}
		return 0;
	}
	if (f->session_id)
		use_text(it, CVL_T_IX_SESSION_CREATED, f->session_id);
	else if (f->initiator_role)
		use_text(it, CVL_T_IX_IROLE, f->initiator_role);
	else if (f->responder_role)
		use_text(it, CVL_T_IX_RROLE, f->responder_role);
	else if (f->user_id)
		use_text(it, CVL_T_IX_USER_CREATED, f->user_id);
	else if (f->org_id)
		use_text(it, CVL_T_IX_ORG_CREATED, f->org_id);
	else if (f->tag || f->status || f->has_parent)
		return cvl_err(CONVLOG_EINVAL,
			       "conv_list: no index lists by creation time for tag, status or parent "
			       "alone; add a user, org, session or role filter, or list by activity");
	else
		use_text(it, CVL_T_IX_CREATED, NULL);
	return 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int parse_token(convlog_conv_iter *it, const char *tok)
{
	size_t n = strlen(tok), pl = strlen(TOKEN_PREFIX);

	if (n < pl + 2 || strncmp(tok, TOKEN_PREFIX, pl) != 0 || (n - pl) % 2 ||
	    (n - pl) / 2 > CVL_KEY_MAX + 1)
		return cvl_err(CONVLOG_EINVAL, "list: '%.40s' is not a listing token", tok);
	uint8_t raw[CVL_KEY_MAX + 1] = {0}; /* rl >= 1, beyond the analyzers' reach */
	size_t rl = (n - pl) / 2;
	for (size_t i = 0; i < rl; i++) {
		int hi = hexval(tok[pl + 2 * i]), lo = hexval(tok[pl + 2 * i + 1]);
		if (hi < 0 || lo < 0)
			return cvl_err(CONVLOG_EINVAL, "list: '%.40s' is not a listing token", tok);
		raw[i] = (uint8_t)(hi << 4 | lo);
	}
	if (raw[0] != (it->table | (it->reverse ? 0x80 : 0)) || rl - 1 < it->plen ||
	    memcmp(raw + 1, it->prefix, it->plen) != 0)
		return cvl_err(CONVLOG_EINVAL, "list: the token belongs to a listing with other filters");
	memcpy(it->resume, raw + 1, rl - 1);
	it->rlen = rl - 1;
	return 0;
}

static int dup_str(const char *s, char **out)
{
	*out = NULL;
	if (s && !(*out = cvl_strdup(s)))
		return cvl_err(CONVLOG_ENOMEM, "out of memory for a listing");
	return 0;
}

CONVLOG_API int convlog_conv_list(convlog_db *db, const convlog_conv_filter *f,
				  convlog_conv_iter **out)
{
	convlog_conv_iter *it;
	const cvl_scope *scope;
	int rc;

	cvl_err_clear();
	if (!out)
		return cvl_err(CONVLOG_EINVAL, "conv_list: out is NULL");
	*out = NULL;
	if ((rc = cvl_db_enter(&db, &scope)))
		return rc;
	if (f && f->version != CONVLOG_CONV_VERSION)
		return cvl_err(CONVLOG_EINVAL, "conv_list: filter version %u (use convlog_conv_filter_init)",
			       f->version);
	if (f && f->status && !cvl_status_valid(f->status))
		return cvl_err(CONVLOG_ESTATUS, "conv_list: unknown status %d", f->status);
	if (f && (f->order < CONVLOG_ORDER_DEFAULT || f->order > CONVLOG_ORDER_CREATED_ASC))
		return cvl_err(CONVLOG_EINVAL, "conv_list: unknown order %d", f->order);
	it = cvl_calloc(1, sizeof(*it));
	if (!it)
		return cvl_err(CONVLOG_ENOMEM, "out of memory for a listing");
	it->magic = LIST_MAGIC;
	it->db = db;
	if (f)
		it->f = *f;
	else
		convlog_conv_filter_init(&it->f);
	if ((rc = dup_str(it->f.user_id, &it->user)) || (rc = dup_str(it->f.org_id, &it->org)) ||
	    (rc = dup_str(it->f.session_id, &it->session)) || (rc = dup_str(it->f.tag, &it->tag)) ||
	    (rc = dup_str(it->f.initiator_role, &it->irole)) ||
	    (rc = dup_str(it->f.responder_role, &it->rrole)))
		goto fail;
	it->f.user_id = it->user;
	it->f.org_id = it->org;
	it->f.session_id = it->session;
	it->f.tag = it->tag;
	it->f.initiator_role = it->irole;
	it->f.responder_role = it->rrole;
	it->f.after = NULL;
	if (scope) {
		/* the scope is a filter too, and the user or org index serves it
		 * when the caller named neither (the order stays the one the
		 * caller's own filters imply) */
		if (it->f.order == CONVLOG_ORDER_DEFAULT)
			it->f.order = default_order(&it->f);
		if (scope->user_id && !it->f.user_id)
			it->f.user_id = scope->user_id;
		if (scope->org_id && !it->f.org_id)
			it->f.org_id = scope->org_id;
		it->scope = scope;
	}
	if ((rc = choose_index(it)))
		goto fail;
	if (f && f->after && (rc = parse_token(it, f->after)))
		goto fail;
	if ((rc = cvl_db_snapshot(db, &it->v)) || (rc = cvl_vcur_open(&it->v, it->table, &it->cur)))
		goto fail;
	*out = it;
	return 0;
fail:
	convlog_conv_iter_free(it);
	return rc;
}

static int str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static int matches(const convlog_conv_iter *it, const convlog_conv *c)
{
	const convlog_conv_filter *f = &it->f;

	if (!cvl_scope_covers(it->scope, c))
		return 0;
	if (f->user_id && !str_eq(c->user_id, f->user_id))
		return 0;
	if (f->org_id && !str_eq(c->org_id, f->org_id))
		return 0;
	if (f->session_id && !str_eq(c->session_id, f->session_id))
		return 0;
	if (f->status && c->status != f->status)
		return 0;
	if (!f->status && !f->include_deleted && c->status == CONVLOG_STATUS_DELETED)
		return 0;
	if (f->has_parent && memcmp(c->parent_id.bytes, f->parent_id.bytes, 16) != 0)
		return 0;
	if (f->initiator_role && !str_eq(c->initiator_role, f->initiator_role))
		return 0;
	if (f->responder_role && !str_eq(c->responder_role, f->responder_role))
		return 0;
	if (f->tag) {
		size_t i;
		for (i = 0; i < c->n_tags; i++)
			if (!strcmp(c->tags[i], f->tag))
				break;
		if (i == c->n_tags)
			return 0;
	}
	return 1;
}

/* Positions the cursor at the first entry of the listing. */
static int start(convlog_conv_iter *it)
{
	uint8_t end[CVL_KEY_MAX + 40];
	int rc;

	if (it->reverse) {
		if (it->rlen)
			return cvl_vcur_seek_le(&it->cur, it->resume, it->rlen, 1);
		/* past every key of the prefix: prefix + 0xff... */
		memcpy(end, it->prefix, it->plen);
		memset(end + it->plen, 0xff, 40);
		return cvl_vcur_seek_le(&it->cur, end, it->plen + 40, 0);
	}
	if (!it->rlen)
		return cvl_vcur_seek(&it->cur, it->prefix, it->plen);
	rc = cvl_vcur_seek(&it->cur, it->resume, it->rlen);
	if (!rc && it->cur.klen == it->rlen && memcmp(it->cur.key, it->resume, it->rlen) == 0)
		rc = cvl_vcur_next(&it->cur);
	return rc;
}

CONVLOG_API int convlog_conv_iter_next(convlog_conv_iter *it, const convlog_conv **conv)
{
	int rc;

	cvl_err_clear();
	if (!it || it->magic != LIST_MAGIC || !conv)
		return cvl_err(CONVLOG_EINVAL, "conv_iter_next: not a listing");
	convlog_conv_free(it->c);
	it->c = NULL;
	*conv = NULL;
	if (it->f.limit && it->returned >= it->f.limit)
		return CONVLOG_DONE;
	for (;;) {
		if (!it->started) {
			it->started = 1;
			rc = start(it);
		} else {
			rc = it->reverse ? cvl_vcur_prev(&it->cur) : cvl_vcur_next(&it->cur);
		}
		if (rc)
			return rc;
		if (it->cur.klen < it->plen + 16 || memcmp(it->cur.key, it->prefix, it->plen) != 0)
			return CONVLOG_DONE;
		convlog_uuid id;
		memcpy(id.bytes, it->cur.key + it->cur.klen - 16, 16);
		rc = cvl_conv_load(&it->v, &id, &it->c);
		if (rc == CONVLOG_ENOTFOUND)
			return cvl_err(CONVLOG_ECORRUPT, "index %s names a conversation that does not exist",
				       cvl_table_name(it->table));
		if (rc)
			return rc;
		memcpy(it->last, it->cur.key, it->cur.klen);
		it->last_len = it->cur.klen;
		it->have_last = 1;
		if (matches(it, it->c)) {
			it->returned++;
			*conv = it->c;
			return 0;
		}
		convlog_conv_free(it->c);
		it->c = NULL;
	}
}

CONVLOG_API int convlog_conv_iter_token(convlog_conv_iter *it, char **out)
{
	static const char hex[] = "0123456789abcdef";
	size_t pl = strlen(TOKEN_PREFIX);
	char *s;

	cvl_err_clear();
	if (!it || it->magic != LIST_MAGIC || !out)
		return cvl_err(CONVLOG_EINVAL, "conv_iter_token: not a listing");
	*out = NULL;
	if (!it->have_last)
		return cvl_err(CONVLOG_EINVAL, "conv_iter_token: nothing was listed yet");
	s = cvl_malloc(pl + 2 * (it->last_len + 1) + 1);
	if (!s)
		return cvl_err(CONVLOG_ENOMEM, "out of memory for a token");
	memcpy(s, TOKEN_PREFIX, pl);
	uint8_t tb = (uint8_t)(it->table | (it->reverse ? 0x80 : 0));
	s[pl] = hex[tb >> 4];
	s[pl + 1] = hex[tb & 15];
	for (size_t i = 0; i < it->last_len; i++) {
		s[pl + 2 + 2 * i] = hex[it->last[i] >> 4];
		s[pl + 3 + 2 * i] = hex[it->last[i] & 15];
	}
	s[pl + 2 + 2 * it->last_len] = '\0';
	*out = s;
	return 0;
}

CONVLOG_API void convlog_conv_iter_free(convlog_conv_iter *it)
{
	if (!it || it->magic != LIST_MAGIC)
		return;
	convlog_conv_free(it->c);
	cvl_vcur_close(&it->cur);
	cvl_view_release(&it->v);
	cvl_free(it->user);
	cvl_free(it->org);
	cvl_free(it->session);
	cvl_free(it->tag);
	cvl_free(it->irole);
	cvl_free(it->rrole);
	it->magic = CVL_DB_POISON;
	cvl_free(it);
}
