#include <stdlib.h>
#include <string.h>

#include "model/conv.h"
#include "model/tlv.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"

static const char *status_names[] = {
	NULL, "active", "inactive_timeout", "inactive_user_terminated",
	"inactive_system_terminated", "completed", "archived", "deleted",
};

int cvl_status_valid(int s)
{
	return s >= CONVLOG_STATUS_ACTIVE && s <= CONVLOG_STATUS_DELETED;
}

CONVLOG_API const char *convlog_status_name(int status)
{
	return cvl_status_valid(status) ? status_names[status] : NULL;
}

CONVLOG_API int convlog_status_parse(const char *name, int *out)
{
	cvl_err_clear();
	if (!name || !out)
		return cvl_err(CONVLOG_EINVAL, "status_parse: NULL argument");
	for (int i = 1; i <= CONVLOG_STATUS_DELETED; i++) {
		if (!strcmp(name, status_names[i])) {
			*out = i;
			return 0;
		}
	}
	return cvl_err(CONVLOG_ESTATUS, "unknown conversation status '%.64s'", name);
}

static int is_inactive(int s)
{
	return s == CONVLOG_STATUS_INACTIVE_TIMEOUT ||
	       s == CONVLOG_STATUS_INACTIVE_USER_TERMINATED ||
	       s == CONVLOG_STATUS_INACTIVE_SYSTEM_TERMINATED || s == CONVLOG_STATUS_COMPLETED;
}

int cvl_status_transition_ok(int from, int to)
{
	if (from == CONVLOG_STATUS_ACTIVE)
		return is_inactive(to) ? 0 : CONVLOG_ETRANSITION;
	if (is_inactive(from))
		return to == CONVLOG_STATUS_ACTIVE || to == CONVLOG_STATUS_ARCHIVED
			       ? 0 : CONVLOG_ETRANSITION;
	if (from == CONVLOG_STATUS_ARCHIVED)
		return to == CONVLOG_STATUS_ACTIVE ? 0 : CONVLOG_ETRANSITION;
	return CONVLOG_ETRANSITION;
}

CONVLOG_API void convlog_conv_init(convlog_conv *c)
{
	memset(c, 0, sizeof(*c));
	c->version = CONVLOG_CONV_VERSION;
}

CONVLOG_API void convlog_conv_free(convlog_conv *c)
{
	cvl_free(c);
}

/* ---- encoding ---- */

static int put_nz_u(cvl_buf *b, uint32_t f, uint64_t v)
{
	return v ? cvl_tlv_put_u(b, f, v) : 0;
}

static int put_nz_i(cvl_buf *b, uint32_t f, int64_t v)
{
	return v ? cvl_tlv_put_i(b, f, v) : 0;
}

static int put_cursor(cvl_buf *b, const convlog_cursor *cur)
{
	uint8_t v[CVL_VARINT_MAX];
	size_t nl = strlen(cur->name), vl = cvl_varint_put(v, cvl_zigzag(cur->value));
	int rc;

	if ((rc = cvl_buf_put_varint(b, (uint64_t)CF_CURSOR << 3 | CVL_WT_BYTES)) ||
	    (rc = cvl_buf_put_varint(b, cvl_varint_len(nl) + nl + vl)) ||
	    (rc = cvl_buf_put_varint(b, nl)) || (rc = cvl_buf_append(b, cur->name, nl)))
		return rc;
	return cvl_buf_append(b, v, vl);
}

#define TRY(x) do { if ((rc = (x)) != 0) return rc; } while (0)

static int encode_strings(const convlog_conv *c, uint64_t mask, cvl_buf *b)
{
	int rc;

	if (mask & CONVLOG_CONV_EXTERNAL_ID) TRY(cvl_tlv_put_str(b, CF_EXTERNAL_ID, c->external_id));
	if (mask & CONVLOG_CONV_ORG_ID) TRY(cvl_tlv_put_str(b, CF_ORG, c->org_id));
	if (mask & CONVLOG_CONV_USER_ID) TRY(cvl_tlv_put_str(b, CF_USER, c->user_id));
	if (mask & CONVLOG_CONV_DEVICE_ID) TRY(cvl_tlv_put_str(b, CF_DEVICE, c->device_id));
	if (mask & CONVLOG_CONV_SESSION_ID) TRY(cvl_tlv_put_str(b, CF_SESSION, c->session_id));
	if (mask & CONVLOG_CONV_INITIATOR_ROLE) TRY(cvl_tlv_put_str(b, CF_IROLE, c->initiator_role));
	if (mask & CONVLOG_CONV_RESPONDER_ROLE) TRY(cvl_tlv_put_str(b, CF_RROLE, c->responder_role));
	if (mask & CONVLOG_CONV_TITLE) TRY(cvl_tlv_put_str(b, CF_TITLE, c->title));
	if (mask & CONVLOG_CONV_TOPIC) TRY(cvl_tlv_put_str(b, CF_TOPIC, c->topic));
	if (mask & CONVLOG_CONV_SYSTEM_PROMPT) TRY(cvl_tlv_put_str(b, CF_SYSPROMPT, c->system_prompt));
	return 0;
}

int cvl_conv_encode_fields(const convlog_conv *c, uint64_t mask, cvl_buf *b)
{
	int rc;

	TRY(encode_strings(c, mask, b));
	if (mask & CONVLOG_CONV_TAGS)
		for (size_t i = 0; i < c->n_tags; i++)
			TRY(cvl_tlv_put_str(b, CF_TAG, c->tags[i]));
	if (mask & CONVLOG_CONV_RATING) TRY(put_nz_u(b, CF_RATING, (uint64_t)c->rating));
	if (mask & CONVLOG_CONV_PARENT) {
		if (!convlog_uuid_is_nil(&c->parent_id))
			TRY(cvl_tlv_put_bytes(b, CF_PARENT, c->parent_id.bytes, 16));
		TRY(put_nz_u(b, CF_FORK_SEQ, c->fork_seq));
		TRY(put_nz_u(b, CF_DEPTH, c->depth));
	}
	if (mask & CONVLOG_CONV_TIP_SEQ) TRY(put_nz_u(b, CF_TIP, c->tip_seq));
	if (mask & CONVLOG_CONV_CURSORS)
		for (size_t i = 0; i < c->n_cursors; i++)
			TRY(put_cursor(b, &c->cursors[i]));
	if (mask & CONVLOG_CONV_METADATA) TRY(cvl_tlv_put_str(b, CF_METADATA, c->metadata));
	if (mask & CONVLOG_CONV_CREATED_AT) TRY(put_nz_i(b, CF_CREATED, c->created_at));
	return 0;
}

int cvl_conv_encode(const convlog_conv *c, unsigned groups, cvl_buf *b)
{
	int rc;

	if (groups & CVL_CG_STATIC) {
		TRY(cvl_tlv_put_bytes(b, CF_ID, c->id.bytes, 16));
		TRY(cvl_conv_encode_fields(c, CONVLOG_CONV_ALL & ~CONVLOG_CONV_TIP_SEQ, b));
		TRY(put_nz_u(b, CF_STATUS, (uint64_t)c->status));
		TRY(put_nz_u(b, CF_PREV_STATUS, (uint64_t)c->prev_status));
		TRY(put_nz_i(b, CF_ARCHIVED, c->archived_at));
		TRY(put_nz_i(b, CF_DELETED, c->deleted_at));
	}
	if (groups & CVL_CG_HOT) {
		TRY(put_nz_u(b, CF_TIP, c->tip_seq));
		TRY(put_nz_i(b, CF_UPDATED, c->updated_at));
		TRY(put_nz_i(b, CF_ACTIVITY, c->last_activity_at));
	}
	if (groups & CVL_CG_AGG) {
		TRY(put_nz_u(b, CF_MSG_COUNT, c->message_count));
		TRY(put_nz_i(b, CF_TOKENS, c->token_total));
		TRY(put_nz_i(b, CF_COST, c->cost_total));
		TRY(put_nz_i(b, CF_LAST_MSG, c->last_message_at));
	}
	return 0;
}

/* ---- decoding ---- */

static const char **str_slot(convlog_conv *c, uint32_t f)
{
	switch (f) {
	case CF_EXTERNAL_ID: return &c->external_id;
	case CF_ORG: return &c->org_id;
	case CF_USER: return &c->user_id;
	case CF_DEVICE: return &c->device_id;
	case CF_SESSION: return &c->session_id;
	case CF_IROLE: return &c->initiator_role;
	case CF_RROLE: return &c->responder_role;
	case CF_TITLE: return &c->title;
	case CF_TOPIC: return &c->topic;
	case CF_SYSPROMPT: return &c->system_prompt;
	case CF_METADATA: return &c->metadata;
	default: return NULL;
	}
}

static int number_field(convlog_conv *c, const cvl_tlv_item *it)
{
	uint64_t v = it->v;

	switch (it->field) {
	case CF_STATUS: c->status = (int)(v > 255 ? 255 : v); break;
	case CF_PREV_STATUS: c->prev_status = (int)(v > 255 ? 255 : v); break;
	case CF_RATING: c->rating = (int)(v > 255 ? 255 : v); break;
	case CF_FORK_SEQ: c->fork_seq = (uint32_t)v; break;
	case CF_DEPTH: c->depth = (uint32_t)v; break;
	case CF_TIP: c->tip_seq = (uint32_t)v; break;
	case CF_CREATED: c->created_at = cvl_unzigzag(v); break;
	case CF_UPDATED: c->updated_at = cvl_unzigzag(v); break;
	case CF_ACTIVITY: c->last_activity_at = cvl_unzigzag(v); break;
	case CF_ARCHIVED: c->archived_at = cvl_unzigzag(v); break;
	case CF_DELETED: c->deleted_at = cvl_unzigzag(v); break;
	case CF_MSG_COUNT: c->message_count = v; break;
	case CF_TOKENS: c->token_total = cvl_unzigzag(v); break;
	case CF_COST: c->cost_total = cvl_unzigzag(v); break;
	case CF_LAST_MSG: c->last_message_at = cvl_unzigzag(v); break;
	case CF_MASK: case CF_AT: break;
	default: return -1;
	}
	return 0;
}

static int parse_cursor(const cvl_tlv_item *it, const uint8_t **name, size_t *nl,
			int64_t *val)
{
	const uint8_t *p = it->data, *end = it->data + it->len;
	uint64_t n, v;

	if (cvl_varint_get(&p, end, &n) || n > (uint64_t)(end - p) || n == 0 ||
	    n > CONVLOG_MAX_CURSOR_NAME)
		return -1;
	*name = p;
	*nl = (size_t)n;
	p += n;
	if (cvl_varint_get(&p, end, &v) || p != end)
		return -1;
	*val = cvl_unzigzag(v);
	return 0;
}

/* One pass over the TLV; with pk->base NULL it only measures. */
static int walk(const uint8_t *p, size_t n, convlog_conv *c, cvl_pack *pk,
		size_t *ntags, size_t *ncur, const char **why)
{
	cvl_tlv t;
	cvl_tlv_item it;
	int fill = pk->base != NULL; /* (read once: cvl_pack_str does not change it) */
	int r;

	cvl_tlv_init(&t, p, n);
	while ((r = cvl_tlv_next(&t, &it)) == 1) {
		const char **slot = str_slot(c, it.field);
		if (it.wt == CVL_WT_VARINT) {
			if (number_field(c, &it)) {
				*why = "unknown numeric conversation field";
				return -1;
			}
		} else if (slot) {
			char *s = cvl_pack_str(pk, it.data, it.len);
			if (fill)
				*slot = s;
		} else if (it.field == CF_ID || it.field == CF_PARENT) {
			if (it.len != 16) {
				*why = "conversation id is not 16 bytes";
				return -1;
			}
			memcpy(it.field == CF_ID ? c->id.bytes : c->parent_id.bytes, it.data, 16);
		} else if (it.field == CF_TAG) {
			char *s = cvl_pack_str(pk, it.data, it.len);
			if (fill && *ntags < c->n_tags) /* (the first pass counted them) */
				((const char **)c->tags)[*ntags] = s;
			(*ntags)++;
		} else if (it.field == CF_CURSOR) {
			const uint8_t *nm;
			size_t nl;
			int64_t v;
			if (parse_cursor(&it, &nm, &nl, &v)) {
				*why = "malformed cursor entry";
				return -1;
			}
			char *s = cvl_pack_str(pk, nm, nl);
			if (fill && *ncur < c->n_cursors) {
				convlog_cursor *cv = (convlog_cursor *)c->cursors;
				cv[*ncur].name = s;
				cv[*ncur].value = v;
			}
			(*ncur)++;
		} else {
			*why = "unknown conversation field";
			return -1;
		}
	}
	if (r < 0) {
		*why = "malformed conversation fields";
		return -1;
	}
	return 0;
}

int cvl_conv_decode(const uint8_t *p, size_t n, convlog_conv **out, const char **why)
{
	convlog_conv tmp;
	cvl_pack pk = {0};
	size_t ntags = 0, ncur = 0;
	convlog_conv *c;

	*out = NULL;
	convlog_conv_init(&tmp);
	if (walk(p, n, &tmp, &pk, &ntags, &ncur, why))
		return -1;
	size_t strbytes = pk.off;
	size_t total = sizeof(convlog_conv) + 16 + ntags * sizeof(char *) +
		       ncur * sizeof(convlog_cursor) + 16 + strbytes;
	c = cvl_malloc(total);
	if (!c)
		return cvl_err(CONVLOG_ENOMEM, "out of memory decoding a conversation");
	convlog_conv_init(c);
	pk.base = (uint8_t *)c;
	pk.cap = total;
	pk.off = sizeof(convlog_conv);
	c->tags = ntags ? cvl_pack_take(&pk, ntags * sizeof(char *)) : NULL;
	c->cursors = ncur ? cvl_pack_take(&pk, ncur * sizeof(convlog_cursor)) : NULL;
	c->n_tags = ntags;
	c->n_cursors = ncur;
	ntags = ncur = 0;
	if (walk(p, n, c, &pk, &ntags, &ncur, why)) {
		cvl_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

int cvl_conv_overlay(convlog_conv *c, const uint8_t *p, size_t n, const char **why)
{
	cvl_tlv t;
	cvl_tlv_item it;
	int r;

	cvl_tlv_init(&t, p, n);
	while ((r = cvl_tlv_next(&t, &it)) == 1) {
		if (it.wt != CVL_WT_VARINT || number_field(c, &it)) {
			*why = "unexpected field in conversation statistics";
			return -1;
		}
	}
	if (r < 0) {
		*why = "malformed conversation statistics";
		return -1;
	}
	return 0;
}

int cvl_conv_patch_meta(const uint8_t *p, size_t n, uint64_t *mask, int64_t *at)
{
	cvl_tlv t;
	cvl_tlv_item it;
	int r;

	*mask = 0;
	*at = 0;
	cvl_tlv_init(&t, p, n);
	while ((r = cvl_tlv_next(&t, &it)) == 1) {
		if (it.wt == CVL_WT_VARINT && it.field == CF_MASK)
			*mask = it.v;
		else if (it.wt == CVL_WT_VARINT && it.field == CF_AT)
			*at = cvl_unzigzag(it.v);
	}
	return r < 0 ? -1 : 0;
}

/* ---- validation ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_cursor(const void *a, const void *b)
{
	return strcmp(((const convlog_cursor *)a)->name, ((const convlog_cursor *)b)->name);
}

static int prep_tags(const char *who, const convlog_conv *in, convlog_conv *out, cvl_prep *pr)
{
	const char **v;
	size_t n = 0;
	int rc;

	if (in->n_tags > CONVLOG_MAX_TAGS)
		return cvl_err(CONVLOG_ETOOBIG, "%s: %zu tags, the limit is %u", who, in->n_tags,
			       CONVLOG_MAX_TAGS);
	if (in->n_tags && !in->tags)
		return cvl_err(CONVLOG_EINVAL, "%s: tags is NULL with n_tags %zu", who, in->n_tags);
	out->tags = NULL;
	out->n_tags = 0;
	if (!in->n_tags)
		return 0;
	for (size_t i = 0; i < in->n_tags; i++) {
		if (!in->tags[i])
			return cvl_err(CONVLOG_EINVAL, "%s: tag %zu is NULL", who, i);
		rc = cvl_check_str(who, "tag", in->tags[i], CONVLOG_MAX_TAG, 1);
		if (rc)
			return rc;
	}
	v = cvl_prep_keep(pr, cvl_malloc(in->n_tags * sizeof(*v)));
	if (!v)
		return cvl_err(CONVLOG_ENOMEM, "%s: out of memory", who);
	memcpy(v, in->tags, in->n_tags * sizeof(*v));
	qsort(v, in->n_tags, sizeof(*v), cmp_str);
	for (size_t i = 0; i < in->n_tags; i++)
		if (n == 0 || strcmp(v[n - 1], v[i]) != 0)
			v[n++] = v[i];
	out->tags = v;
	out->n_tags = n;
	return 0;
}

static int prep_cursors(const char *who, const convlog_conv *in, convlog_conv *out,
			cvl_prep *pr)
{
	convlog_cursor *v;
	int rc;

	if (in->n_cursors > CONVLOG_MAX_CURSORS)
		return cvl_err(CONVLOG_ETOOBIG, "%s: %zu cursors, the limit is %u", who,
			       in->n_cursors, CONVLOG_MAX_CURSORS);
	if (in->n_cursors && !in->cursors)
		return cvl_err(CONVLOG_EINVAL, "%s: cursors is NULL with n_cursors %zu", who,
			       in->n_cursors);
	out->cursors = NULL;
	out->n_cursors = 0;
	if (!in->n_cursors)
		return 0;
	for (size_t i = 0; i < in->n_cursors; i++) {
		if (!in->cursors[i].name)
			return cvl_err(CONVLOG_EINVAL, "%s: cursor %zu has no name", who, i);
		rc = cvl_check_str(who, "cursor name", in->cursors[i].name,
				   CONVLOG_MAX_CURSOR_NAME, 1);
		if (rc)
			return rc;
	}
	v = cvl_prep_keep(pr, cvl_malloc(in->n_cursors * sizeof(*v)));
	if (!v)
		return cvl_err(CONVLOG_ENOMEM, "%s: out of memory", who);
	memcpy(v, in->cursors, in->n_cursors * sizeof(*v));
	qsort(v, in->n_cursors, sizeof(*v), cmp_cursor);
	for (size_t i = 1; i < in->n_cursors; i++)
		if (!strcmp(v[i - 1].name, v[i].name))
			return cvl_err(CONVLOG_EINVAL, "%s: cursor '%s' is given twice", who,
				       v[i].name);
	out->cursors = v;
	out->n_cursors = in->n_cursors;
	return 0;
}

int cvl_conv_prepare(const char *who, const convlog_conv *in, uint64_t mask,
		     convlog_conv *out, cvl_prep *pr)
{
	static const struct {
		uint64_t bit;
		size_t off;
		const char *name;
		size_t max;
	} strs[] = {
		{CONVLOG_CONV_EXTERNAL_ID, offsetof(convlog_conv, external_id), "external_id", CONVLOG_MAX_SHORT_TEXT},
		{CONVLOG_CONV_ORG_ID, offsetof(convlog_conv, org_id), "org_id", CONVLOG_MAX_SHORT_TEXT},
		{CONVLOG_CONV_USER_ID, offsetof(convlog_conv, user_id), "user_id", CONVLOG_MAX_SHORT_TEXT},
		{CONVLOG_CONV_DEVICE_ID, offsetof(convlog_conv, device_id), "device_id", CONVLOG_MAX_SHORT_TEXT},
		{CONVLOG_CONV_SESSION_ID, offsetof(convlog_conv, session_id), "session_id", CONVLOG_MAX_SHORT_TEXT},
		{CONVLOG_CONV_INITIATOR_ROLE, offsetof(convlog_conv, initiator_role), "initiator_role", CONVLOG_MAX_SHORT_TEXT},
		{CONVLOG_CONV_RESPONDER_ROLE, offsetof(convlog_conv, responder_role), "responder_role", CONVLOG_MAX_SHORT_TEXT},
		{CONVLOG_CONV_TITLE, offsetof(convlog_conv, title), "title", CONVLOG_MAX_TITLE},
		{CONVLOG_CONV_TOPIC, offsetof(convlog_conv, topic), "topic", CONVLOG_MAX_TITLE},
		{CONVLOG_CONV_SYSTEM_PROMPT, offsetof(convlog_conv, system_prompt), "system_prompt", CONVLOG_MAX_SYSTEM_PROMPT},
	};
	int rc;

	if (in->version != CONVLOG_CONV_VERSION)
		return cvl_err(CONVLOG_EINVAL, "%s: struct version %u (use convlog_conv_init)", who,
			       in->version);
	*out = *in;
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		if (!(mask & strs[i].bit))
			continue;
		const char *s = *(const char *const *)((const char *)in + strs[i].off);
		rc = cvl_check_str(who, strs[i].name, s, strs[i].max,
				   strs[i].bit == CONVLOG_CONV_EXTERNAL_ID);
		if (rc)
			return rc;
	}
	if (mask & CONVLOG_CONV_TAGS) {
		rc = prep_tags(who, in, out, pr);
		if (rc)
			return rc;
	}
	if (mask & CONVLOG_CONV_CURSORS) {
		rc = prep_cursors(who, in, out, pr);
		if (rc)
			return rc;
	}
	if (mask & CONVLOG_CONV_METADATA) {
		rc = cvl_check_json(who, "metadata", in->metadata, CONVLOG_MAX_CONV_METADATA, 1, pr,
				    &out->metadata);
		if (rc)
			return rc;
	}
	if ((mask & CONVLOG_CONV_RATING) && (in->rating < 0 || in->rating > 5))
		return cvl_err(CONVLOG_ERANGE, "%s: rating %d is not 1..5 (0 = none)", who,
			       in->rating);
	if ((mask & CONVLOG_CONV_PARENT) && convlog_uuid_is_nil(&in->parent_id) &&
	    (in->fork_seq || in->depth))
		return cvl_err(CONVLOG_EINVAL, "%s: fork_seq/depth given without parent_id", who);
	if ((mask & CONVLOG_CONV_TIP_SEQ) && in->tip_seq > CONVLOG_MAX_SEQ)
		return cvl_err(CONVLOG_ERANGE, "%s: tip_seq %u is out of range", who, in->tip_seq);
	return 0;
}
