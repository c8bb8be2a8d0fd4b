#include <string.h>
#include <xxhash.h>

#include "meta/keys.h"
#include "meta/lmdb.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"

size_t cvl_key_text(uint8_t *out, const char *s, size_t n)
{
	if (n <= CVL_KEY_TEXT_INLINE) {
		out[0] = (uint8_t)n;
		memcpy(out + 1, s, n);
		return n + 1;
	}
	XXH128_canonical_t h;
	XXH128_canonicalFromHash(&h, XXH3_128bits(s, n));
	out[0] = 0xFF;
	memcpy(out + 1, h.digest, 16);
	return 17;
}

size_t cvl_key_msg(uint8_t *out, const convlog_uuid *conv, uint32_t seq)
{
	memcpy(out, conv->bytes, 16);
	cvl_put_u32be(out + 16, seq);
	return 20;
}

void cvl_key_desc_time(uint8_t *out, int64_t ms)
{
	cvl_put_u64be(out, ~cvl_i64_sortable(ms));
}

int64_t cvl_key_get_desc_time(const uint8_t *p)
{
	return cvl_i64_from_sortable(~cvl_get_u64be(p));
}

void cvl_ikeys_free(cvl_ikeys *ks)
{
	cvl_free(ks->v);
	ks->v = NULL;
	ks->n = ks->cap = 0;
}

static cvl_ikey *add(cvl_ikeys *ks, int table)
{
	if (ks->n == ks->cap) {
		size_t nc = ks->cap ? ks->cap * 2 : 16;
		cvl_ikey *nv = cvl_realloc(ks->v, nc * sizeof(*nv));
		if (!nv)
			return NULL;
		ks->v = nv;
		ks->cap = nc;
	}
	cvl_ikey *k = &ks->v[ks->n++];
	k->table = (uint8_t)table;
	k->len = 0;
	return k;
}

/* [text] + desc time + id */
static int add_tt(cvl_ikeys *ks, int table, const char *text, int64_t t,
		  const convlog_uuid *id)
{
	cvl_ikey *k = add(ks, table);
	size_t n = 0;

	if (!k)
		return cvl_err(CONVLOG_ENOMEM, "out of memory building index keys");
	if (text)
		n = cvl_key_text(k->k, text, strlen(text));
	cvl_key_desc_time(k->k + n, t);
	memcpy(k->k + n + 8, id->bytes, 16);
	k->len = (uint8_t)(n + 24);
	return 0;
}

int cvl_conv_index_keys(const convlog_conv *c, cvl_ikeys *out)
{
	int64_t act = c->last_activity_at;
	int rc;

	out->n = 0;
	if ((rc = add_tt(out, CVL_T_IX_ACT, NULL, act, &c->id)))
		return rc;
	if (c->user_id && (rc = add_tt(out, CVL_T_IX_USER, c->user_id, act, &c->id)))
		return rc;
	if (c->org_id && (rc = add_tt(out, CVL_T_IX_ORG, c->org_id, act, &c->id)))
		return rc;
	if (c->session_id && (rc = add_tt(out, CVL_T_IX_SESSION, c->session_id, act, &c->id)))
		return rc;
	for (size_t i = 0; i < c->n_tags; i++)
		if ((rc = add_tt(out, CVL_T_IX_TAG, c->tags[i], act, &c->id)))
			return rc;
	if ((rc = add_tt(out, CVL_T_IX_CREATED, NULL, c->created_at, &c->id)))
		return rc;
	if (c->user_id && (rc = add_tt(out, CVL_T_IX_USER_CREATED, c->user_id, c->created_at, &c->id)))
		return rc;
	if (c->org_id && (rc = add_tt(out, CVL_T_IX_ORG_CREATED, c->org_id, c->created_at, &c->id)))
		return rc;
	if (c->session_id &&
	    (rc = add_tt(out, CVL_T_IX_SESSION_CREATED, c->session_id, c->created_at, &c->id)))
		return rc;
	if (c->initiator_role &&
	    (rc = add_tt(out, CVL_T_IX_IROLE, c->initiator_role, c->created_at, &c->id)))
		return rc;
	if (c->responder_role &&
	    (rc = add_tt(out, CVL_T_IX_RROLE, c->responder_role, c->created_at, &c->id)))
		return rc;
	/* status: one byte + desc activity + id */
	cvl_ikey *k = add(out, CVL_T_IX_STATUS);
	if (!k)
		return cvl_err(CONVLOG_ENOMEM, "out of memory building index keys");
	k->k[0] = (uint8_t)c->status;
	cvl_key_desc_time(k->k + 1, act);
	memcpy(k->k + 9, c->id.bytes, 16);
	k->len = 25;
	if (!convlog_uuid_is_nil(&c->parent_id)) {
		k = add(out, CVL_T_IX_PARENT);
		if (!k)
			return cvl_err(CONVLOG_ENOMEM, "out of memory building index keys");
		memcpy(k->k, c->parent_id.bytes, 16);
		cvl_key_desc_time(k->k + 16, act);
		memcpy(k->k + 24, c->id.bytes, 16);
		k->len = 40;
	}
	return 0;
}

size_t cvl_key_child(uint8_t *out, const convlog_uuid *conv, uint32_t parent, uint32_t seq)
{
	memcpy(out, conv->bytes, 16);
	cvl_put_u32be(out + 16, parent);
	cvl_put_u32be(out + 20, seq);
	return 24;
}
