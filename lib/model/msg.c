#include <string.h>

#include "model/msg.h"
#include "model/tlv.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/hlc.h"

static const char *mstatus_names[] = {NULL, "completed", "pending", "error"};

int cvl_msg_status_valid(int s)
{
	return s >= CONVLOG_MSG_COMPLETED && s <= CONVLOG_MSG_ERROR;
}

CONVLOG_API const char *convlog_msg_status_name(int s)
{
	return cvl_msg_status_valid(s) ? mstatus_names[s] : NULL;
}

CONVLOG_API int convlog_msg_status_parse(const char *name, int *out)
{
	cvl_err_clear();
	if (!name || !out)
		return cvl_err(CONVLOG_EINVAL, "msg_status_parse: NULL argument");
	for (int i = 1; i <= CONVLOG_MSG_ERROR; i++) {
		if (!strcmp(name, mstatus_names[i])) {
			*out = i;
			return 0;
		}
	}
	return cvl_err(CONVLOG_ESTATUS, "unknown message status '%.64s'", name);
}

CONVLOG_API void convlog_msg_init(convlog_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->version = CONVLOG_MSG_VERSION;
	m->parent_seq = CONVLOG_PARENT_TIP;
	m->token_count = m->cost = m->latency_ms = -1;
}

CONVLOG_API void convlog_msg_free(convlog_msg *m)
{
	cvl_free(m);
}

#define TRY(x) do { if ((rc = (x)) != 0) return rc; } while (0)

/* Optional non-negative quantity: -1 (unknown) is omitted, else stored +1
 * so that 0 stays distinguishable from absent. */
static int put_opt(cvl_buf *b, uint32_t f, int64_t v)
{
	return v < 0 ? 0 : cvl_tlv_put_u(b, f, (uint64_t)v + 1);
}

static int64_t get_opt(uint64_t v)
{
	return v == 0 ? -1 : (int64_t)(v - 1);
}

int cvl_msg_encode(const convlog_msg *m, cvl_buf *b)
{
	int rc;

	TRY(cvl_tlv_put_bytes(b, MF_ID, m->id.bytes, 16));
	TRY(cvl_tlv_put_bytes(b, MF_CONV, m->conv_id.bytes, 16));
	TRY(cvl_tlv_put_u(b, MF_SEQ, m->seq));
	TRY(cvl_tlv_put_u(b, MF_PARENT, m->parent_seq));
	TRY(cvl_tlv_put_str(b, MF_ROLE, m->role));
	TRY(cvl_tlv_put_str(b, MF_NAME, m->name));
	TRY(cvl_tlv_put_bytes(b, MF_CONTENT, m->content_len ? m->content : "", m->content_len));
	TRY(cvl_tlv_put_str(b, MF_TOOL_CALLS, m->tool_calls));
	TRY(cvl_tlv_put_str(b, MF_TOOL_CALL_ID, m->tool_call_id));
	TRY(put_opt(b, MF_TOKENS, m->token_count));
	TRY(put_opt(b, MF_COST, m->cost));
	TRY(put_opt(b, MF_LATENCY, m->latency_ms));
	TRY(cvl_tlv_put_str(b, MF_MODEL, m->model));
	TRY(cvl_tlv_put_u(b, MF_STATUS, (uint64_t)m->status));
	TRY(cvl_tlv_put_str(b, MF_ERROR, m->error_message));
	if (m->feedback)
		TRY(cvl_tlv_put_i(b, MF_FEEDBACK, m->feedback));
	TRY(cvl_tlv_put_str(b, MF_FEEDBACK_TEXT, m->feedback_text));
	TRY(cvl_tlv_put_str(b, MF_METADATA, m->metadata));
	TRY(cvl_tlv_put_i(b, MF_CREATED, m->created_at));
	if (m->edited_at)
		TRY(cvl_tlv_put_i(b, MF_EDITED, m->edited_at));
	return 0;
}

int cvl_msg_put_stamps(cvl_buf *b, const cvl_stamp *born, const cvl_stamp *ver)
{
	int rc;

	if (born && born->hlc) {
		TRY(cvl_tlv_put_u(b, MF_BORN_HLC, born->hlc));
		TRY(cvl_tlv_put_u(b, MF_BORN_ORIGIN, born->origin));
	}
	if (ver && ver->hlc) {
		TRY(cvl_tlv_put_u(b, MF_VER_HLC, ver->hlc));
		TRY(cvl_tlv_put_u(b, MF_VER_ORIGIN, ver->origin));
	}
	return 0;
}

static const char **mstr_slot(convlog_msg *m, uint32_t f)
{
	switch (f) {
	case MF_ROLE: return &m->role;
	case MF_NAME: return &m->name;
	case MF_TOOL_CALLS: return &m->tool_calls;
	case MF_TOOL_CALL_ID: return &m->tool_call_id;
	case MF_MODEL: return &m->model;
	case MF_ERROR: return &m->error_message;
	case MF_FEEDBACK_TEXT: return &m->feedback_text;
	case MF_METADATA: return &m->metadata;
	default: return NULL;
	}
}

static int mnum(convlog_msg *m, uint32_t f, uint64_t v)
{
	switch (f) {
	case MF_SEQ: m->seq = (uint32_t)v; break;
	case MF_PARENT: m->parent_seq = (uint32_t)v; break;
	case MF_TOKENS: m->token_count = get_opt(v); break;
	case MF_COST: m->cost = get_opt(v); break;
	case MF_LATENCY: m->latency_ms = get_opt(v); break;
	case MF_STATUS: m->status = (int)(v > 255 ? 255 : v); break;
	case MF_FEEDBACK: m->feedback = (int)cvl_unzigzag(v); break;
	case MF_CREATED: m->created_at = cvl_unzigzag(v); break;
	case MF_EDITED: m->edited_at = cvl_unzigzag(v); break;
	case MF_BORN_HLC: case MF_BORN_ORIGIN: case MF_VER_HLC: case MF_VER_ORIGIN:
		break; /* sync stamps: read by the sync layer (cvl_msg_peek_body) */
	default: return -1;
	}
	return 0;
}

static int mwalk(const uint8_t *p, size_t n, convlog_msg *m, cvl_pack *pk, const char **why)
{
	cvl_tlv t;
	cvl_tlv_item it;
	int r;

	cvl_tlv_init(&t, p, n);
	while ((r = cvl_tlv_next(&t, &it)) == 1) {
		const char **slot = mstr_slot(m, it.field);
		if (it.wt == CVL_WT_VARINT) {
			if (mnum(m, it.field, it.v)) {
				*why = "unknown numeric message field";
				return -1;
			}
		} else if (slot) {
			char *s = cvl_pack_str(pk, it.data, it.len);
			if (pk->base)
				*slot = s;
		} else if (it.field == MF_CONTENT) {
			char *s = cvl_pack_str(pk, it.data, it.len);
			if (pk->base) {
				m->content = s;
				m->content_len = it.len;
			}
		} else if (it.field == MF_ID || it.field == MF_CONV) {
			if (it.len != 16) {
				*why = "message id is not 16 bytes";
				return -1;
			}
			memcpy(it.field == MF_ID ? m->id.bytes : m->conv_id.bytes, it.data, 16);
		} else {
			*why = "unknown message field";
			return -1;
		}
	}
	if (r < 0) {
		*why = "malformed message fields";
		return -1;
	}
	return 0;
}

int cvl_msg_decode(const uint8_t *p, size_t n, convlog_msg **out, const char **why)
{
	convlog_msg tmp, *m;
	cvl_pack pk = {0};
	size_t total;

	*out = NULL;
	convlog_msg_init(&tmp);
	if (mwalk(p, n, &tmp, &pk, why))
		return -1;
	total = sizeof(convlog_msg) + pk.off;
	m = cvl_malloc(total);
	if (!m)
		return cvl_err(CONVLOG_ENOMEM, "out of memory decoding a message");
	convlog_msg_init(m);
	m->parent_seq = 0;
	pk.base = (uint8_t *)m;
	pk.cap = total;
	pk.off = sizeof(convlog_msg);
	if (mwalk(p, n, m, &pk, why)) {
		cvl_free(m);
		return -1;
	}
	*out = m;
	return 0;
}

int cvl_msg_prepare(const char *who, const convlog_msg *in, uint64_t mask,
		    uint32_t max_content, convlog_msg *out, cvl_prep *pr)
{
	static const struct {
		uint64_t bit;
		size_t off;
		const char *name;
		size_t max;
	} strs[] = {
		{CONVLOG_MSG_ROLE, offsetof(convlog_msg, role), "role", CONVLOG_MAX_SHORT_TEXT},
		{CONVLOG_MSG_NAME, offsetof(convlog_msg, name), "name", CONVLOG_MAX_SHORT_TEXT},
		{CONVLOG_MSG_TOOL_CALL_ID, offsetof(convlog_msg, tool_call_id), "tool_call_id", CONVLOG_MAX_SHORT_TEXT},
		{CONVLOG_MSG_MODEL, offsetof(convlog_msg, model), "model", CONVLOG_MAX_SHORT_TEXT},
		{CONVLOG_MSG_ERROR_MESSAGE, offsetof(convlog_msg, error_message), "error_message", CONVLOG_MAX_TITLE},
		{CONVLOG_MSG_FEEDBACK, offsetof(convlog_msg, feedback_text), "feedback_text", CONVLOG_MAX_TITLE},
	};
	int rc;

	if (in->version != CONVLOG_MSG_VERSION)
		return cvl_err(CONVLOG_EINVAL, "%s: struct version %u (use convlog_msg_init)", who,
			       in->version);
	*out = *in;
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		if (!(mask & strs[i].bit))
			continue;
		const char *s = *(const char *const *)((const char *)in + strs[i].off);
		rc = cvl_check_str(who, strs[i].name, s, strs[i].max, strs[i].bit == CONVLOG_MSG_ROLE);
		if (rc)
			return rc;
	}
	if ((mask & CONVLOG_MSG_ROLE) && !in->role)
		return cvl_err(CONVLOG_EINVAL, "%s: role is required", who);
	if (mask & CONVLOG_MSG_CONTENT) {
		rc = cvl_check_text(who, "content", in->content, in->content_len, max_content);
		if (rc)
			return rc;
	}
	if (mask & CONVLOG_MSG_TOOL_CALLS) {
		rc = cvl_check_json(who, "tool_calls", in->tool_calls, CONVLOG_MAX_MSG_JSON, 0, pr,
				    &out->tool_calls);
		if (rc)
			return rc;
	}
	if (mask & CONVLOG_MSG_METADATA) {
		rc = cvl_check_json(who, "metadata", in->metadata, CONVLOG_MAX_MSG_JSON, 1, pr,
				    &out->metadata);
		if (rc)
			return rc;
	}
	if (((mask & CONVLOG_MSG_TOKEN_COUNT) && in->token_count < -1) ||
	    ((mask & CONVLOG_MSG_COST) && in->cost < -1) ||
	    ((mask & CONVLOG_MSG_LATENCY) && in->latency_ms < -1))
		return cvl_err(CONVLOG_ERANGE, "%s: usage figures must be >= 0 (or -1 for unknown)",
			       who);
	if ((mask & CONVLOG_MSG_FEEDBACK) && (in->feedback < -1 || in->feedback > 1))
		return cvl_err(CONVLOG_ERANGE, "%s: feedback %d is not -1, 0 or +1", who,
			       in->feedback);
	if ((mask & CONVLOG_MSG_STATUS) && in->status != 0 && !cvl_msg_status_valid(in->status))
		return cvl_err(CONVLOG_ESTATUS, "%s: unknown message status %d", who, in->status);
	return 0;
}

/* ---- summary ---- */

void cvl_loc_encode(const cvl_loc *l, uint8_t out[CVL_LOC_LEN])
{
	cvl_put_u32le(out, l->seg);
	cvl_put_u32le(out + 4, (uint32_t)l->frame_off);
	cvl_put_u32le(out + 8, l->frame_len);
	cvl_put_u16le(out + 12, l->rec_idx);
}

static int put_text(cvl_buf *b, uint32_t f, const char *s, size_t n)
{
	return s ? cvl_tlv_put_bytes(b, f, s, n) : 0;
}

int cvl_msg_sum_encode(const cvl_msg_peek *m, const cvl_loc *loc, cvl_buf *b)
{
	uint8_t l[CVL_LOC_LEN];
	int rc;

	cvl_loc_encode(loc, l);
	TRY(cvl_buf_append(b, l, sizeof(l)));
	if (m->parent_seq + 1 != m->seq)
		TRY(cvl_tlv_put_u(b, MF_PARENT, m->parent_seq));
	TRY(put_text(b, MF_ROLE, m->role, m->role_len));
	TRY(put_opt(b, MF_TOKENS, m->tokens));
	TRY(put_opt(b, MF_COST, m->cost));
	TRY(put_opt(b, MF_LATENCY, m->latency));
	TRY(put_text(b, MF_MODEL, m->model, m->model_len));
	if (m->status != CONVLOG_MSG_COMPLETED)
		TRY(cvl_tlv_put_u(b, MF_STATUS, (uint64_t)m->status));
	if (m->feedback)
		TRY(cvl_tlv_put_i(b, MF_FEEDBACK, m->feedback));
	TRY(cvl_tlv_put_i(b, MF_CREATED, m->created_at));
	if (m->edited_at)
		TRY(cvl_tlv_put_i(b, MF_EDITED, m->edited_at));
	TRY(cvl_tlv_put_u(b, MF_CONTENT_LEN, m->content_len));
	if (m->rec_len)
		TRY(cvl_tlv_put_u(b, MF_REC_LEN, m->rec_len));
	return 0;
}

int cvl_msg_peek_body(const uint8_t *p, size_t n, cvl_msg_peek *m)
{
	cvl_tlv t;
	cvl_tlv_item it;
	int r;

	memset(m, 0, sizeof(*m));
	m->tokens = m->cost = m->latency = -1;
	cvl_tlv_init(&t, p, n);
	while ((r = cvl_tlv_next(&t, &it)) == 1) {
		if (it.wt == CVL_WT_VARINT) {
			switch (it.field) {
			case MF_SEQ: m->seq = (uint32_t)it.v; break;
			case MF_PARENT: m->parent_seq = (uint32_t)it.v; break;
			case MF_TOKENS: m->tokens = get_opt(it.v); break;
			case MF_COST: m->cost = get_opt(it.v); break;
			case MF_LATENCY: m->latency = get_opt(it.v); break;
			case MF_STATUS: m->status = (int)(it.v > 255 ? 255 : it.v); break;
			case MF_FEEDBACK: m->feedback = (int)cvl_unzigzag(it.v); break;
			case MF_CREATED: m->created_at = cvl_unzigzag(it.v); break;
			case MF_EDITED: m->edited_at = cvl_unzigzag(it.v); break;
			case MF_BORN_HLC: m->born_hlc = it.v; break;
			case MF_BORN_ORIGIN: m->born_origin = it.v; break;
			case MF_VER_HLC: m->ver_hlc = it.v; break;
			case MF_VER_ORIGIN: m->ver_origin = it.v; break;
			default: return -1;
			}
			continue;
		}
		switch (it.field) {
		case MF_ID:
		case MF_CONV:
			if (it.len != 16)
				return -1;
			memcpy(it.field == MF_ID ? m->id.bytes : m->conv.bytes, it.data, 16);
			*(it.field == MF_ID ? &m->has_id : &m->has_conv) = 1;
			break;
		case MF_ROLE:
			m->role = (const char *)it.data;
			m->role_len = it.len;
			break;
		case MF_MODEL:
			m->model = (const char *)it.data;
			m->model_len = it.len;
			break;
		case MF_CONTENT:
			m->content = (const char *)it.data;
			m->content_len = it.len;
			break;
		case MF_NAME: case MF_TOOL_CALLS: case MF_TOOL_CALL_ID: case MF_ERROR:
		case MF_FEEDBACK_TEXT: case MF_METADATA:
			break;
		default:
			return -1;
		}
	}
	if (r < 0 || !m->has_id || !m->has_conv || m->seq == 0 || !m->role)
		return -1;
	return 0;
}

int cvl_msg_sum_decode(const uint8_t *p, size_t n, uint32_t seq, cvl_msg_sum *s)
{
	cvl_tlv t;
	cvl_tlv_item it;
	int r;

	if (n < CVL_LOC_LEN)
		return -1;
	memset(s, 0, sizeof(*s));
	s->loc.seg = cvl_get_u32le(p);
	s->loc.frame_off = cvl_get_u32le(p + 4);
	s->loc.frame_len = cvl_get_u32le(p + 8);
	s->loc.rec_idx = cvl_get_u16le(p + 12);
	s->tokens = s->cost = s->latency = -1;
	s->parent_seq = seq - 1;
	s->status = CONVLOG_MSG_COMPLETED;
	cvl_tlv_init(&t, p + CVL_LOC_LEN, n - CVL_LOC_LEN);
	while ((r = cvl_tlv_next(&t, &it)) == 1) {
		if (it.wt == CVL_WT_BYTES && it.field == MF_ROLE) {
			s->role = (const char *)it.data;
			s->role_len = it.len;
		} else if (it.wt == CVL_WT_BYTES && it.field == MF_MODEL) {
			s->model = (const char *)it.data;
			s->model_len = it.len;
		} else if (it.wt != CVL_WT_VARINT) {
			return -1;
		} else {
			switch (it.field) {
			case MF_PARENT: s->parent_seq = (uint32_t)it.v; break;
			case MF_TOKENS: s->tokens = get_opt(it.v); break;
			case MF_COST: s->cost = get_opt(it.v); break;
			case MF_LATENCY: s->latency = get_opt(it.v); break;
			case MF_STATUS: s->status = (int)it.v; break;
			case MF_FEEDBACK: s->feedback = (int)cvl_unzigzag(it.v); break;
			case MF_CREATED: s->created_at = cvl_unzigzag(it.v); break;
			case MF_EDITED: s->edited_at = cvl_unzigzag(it.v); break;
			case MF_CONTENT_LEN: s->content_len = it.v; break;
			case MF_REC_LEN: s->rec_len = it.v; break;
			default: return -1;
			}
		}
	}
	return r < 0 ? -1 : 0;
}
