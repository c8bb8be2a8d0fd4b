/* lib/model/conv.c and lib/model/msg.c: record encodings, validation of
 * caller input, message summaries and the lifecycle table. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/conv.h"
#include "model/msg.h"
#include "model/tlv.h"
#include "testutil.h"
#include "util/alloc.h"
#include "util/codec.h"

#define WHO "conversation 0190"

static convlog_uuid uuid_of(uint8_t b)
{
	convlog_uuid u;

	for (int i = 0; i < 16; i++)
		u.bytes[i] = (uint8_t)(b * 16 + i);
	return u;
}

static void assert_str_or_null(const char *got, const char *want)
{
	if (!want) {
		ck_assert_ptr_null(got);
		return;
	}
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, want);
}

/* ====================================================================== */
/* Conversations                                                          */
/* ====================================================================== */

static const char *full_tags[] = {"alpha", "\xce\xb2\xce\xb7\xcf\x84\xce\xb1", "\xe6\xa0\x87\xe7\xad\xbe"};
static const convlog_cursor full_cursors[] = {
	{"client", -5}, {"server", INT64_MAX}, {"\xe7\xab\xaf", INT64_MIN}, {"zero", 0}};
static char long_prompt[5001];

static void conv_full(convlog_conv *c)
{
	memset(long_prompt, 'p', sizeof(long_prompt) - 1);
	long_prompt[sizeof(long_prompt) - 1] = '\0';
	convlog_conv_init(c);
	c->id = uuid_of(1);
	c->external_id = "ac_7f3k";
	c->org_id = "org-\xc3\xbc";
	c->user_id = "user-\xe6\x97\xa5\xe6\x9c\xac";
	c->device_id = "whatsapp-channel-12345";
	c->session_id = "sess-1";
	c->initiator_role = "recruiter_twin";
	c->responder_role = "candidate_twin";
	c->title = "Title \xf0\x9f\x98\x80";
	c->topic = "topic";
	c->system_prompt = long_prompt;
	c->status = CONVLOG_STATUS_DELETED;
	c->prev_status = CONVLOG_STATUS_INACTIVE_TIMEOUT;
	c->tags = full_tags;
	c->n_tags = 3;
	c->rating = 4;
	c->parent_id = uuid_of(2);
	c->fork_seq = 3;
	c->depth = 2;
	c->tip_seq = 9;
	c->cursors = full_cursors;
	c->n_cursors = 4;
	c->metadata = "{\"k\":[1,2],\"goal\":\"ship\"}";
	c->created_at = -1000; /* before the epoch */
	c->updated_at = 1700000000001;
	c->last_activity_at = 1700000000002;
	c->archived_at = 1700000000003;
	c->deleted_at = 1700000000004;
	c->message_count = UINT64_C(1) << 40;
	c->token_total = INT64_MAX;
	c->cost_total = 123456789;
}

static convlog_conv *conv_round_trip(const convlog_conv *in, unsigned groups)
{
	cvl_buf b;
	convlog_conv *out = NULL;
	const char *why = NULL;

	cvl_buf_init(&b, 0);
	CK_OK(cvl_conv_encode(in, groups, &b));
	ck_assert_msg(cvl_conv_decode(b.p, b.len, &out, &why) == 0, "decode: %s", why);
	ck_assert_ptr_nonnull(out);
	cvl_buf_free(&b);
	return out;
}

START_TEST(test_model_codec__conv_round_trips_every_field)
{
	convlog_conv in;
	convlog_conv *c;

	conv_full(&in);
	c = conv_round_trip(&in, CVL_CG_STATIC | CVL_CG_HOT | CVL_CG_AGG);
	ck_assert_uint_eq(c->version, CONVLOG_CONV_VERSION);
	ck_assert_int_eq(memcmp(c->id.bytes, in.id.bytes, 16), 0);
	ck_assert_str_eq(c->external_id, in.external_id);
	ck_assert_str_eq(c->org_id, in.org_id);
	ck_assert_str_eq(c->user_id, in.user_id);
	ck_assert_str_eq(c->device_id, in.device_id);
	ck_assert_str_eq(c->session_id, in.session_id);
	ck_assert_str_eq(c->initiator_role, in.initiator_role);
	ck_assert_str_eq(c->responder_role, in.responder_role);
	ck_assert_str_eq(c->title, in.title);
	ck_assert_str_eq(c->topic, in.topic);
	ck_assert_str_eq(c->system_prompt, in.system_prompt);
	ck_assert_int_eq(c->status, in.status);
	ck_assert_int_eq(c->prev_status, in.prev_status);
	ck_assert_uint_eq(c->n_tags, 3);
	for (size_t i = 0; i < 3; i++)
		ck_assert_str_eq(c->tags[i], full_tags[i]);
	ck_assert_int_eq(c->rating, 4);
	ck_assert_int_eq(memcmp(c->parent_id.bytes, in.parent_id.bytes, 16), 0);
	ck_assert_uint_eq(c->fork_seq, 3);
	ck_assert_uint_eq(c->depth, 2);
	ck_assert_uint_eq(c->tip_seq, 9);
	ck_assert_uint_eq(c->n_cursors, 4);
	for (size_t i = 0; i < 4; i++) {
		ck_assert_str_eq(c->cursors[i].name, full_cursors[i].name);
		ck_assert_int_eq(c->cursors[i].value, full_cursors[i].value);
	}
	ck_assert_str_eq(c->metadata, in.metadata);
	ck_assert_int_eq(c->created_at, -1000);
	ck_assert_int_eq(c->updated_at, in.updated_at);
	ck_assert_int_eq(c->last_activity_at, in.last_activity_at);
	ck_assert_int_eq(c->archived_at, in.archived_at);
	ck_assert_int_eq(c->deleted_at, in.deleted_at);
	ck_assert_uint_eq(c->message_count, in.message_count);
	ck_assert_int_eq(c->token_total, INT64_MAX);
	ck_assert_int_eq(c->cost_total, 123456789);
	convlog_conv_free(c);
}
END_TEST

START_TEST(test_model_codec__conv_absent_fields_decode_as_defaults)
{
	convlog_conv in, *c;

	convlog_conv_init(&in);
	in.id = uuid_of(3);
	c = conv_round_trip(&in, CVL_CG_STATIC | CVL_CG_HOT | CVL_CG_AGG);
	ck_assert_int_eq(memcmp(c->id.bytes, in.id.bytes, 16), 0);
	ck_assert_ptr_null(c->external_id);
	ck_assert_ptr_null(c->user_id);
	ck_assert_ptr_null(c->title);
	ck_assert_ptr_null(c->metadata);
	ck_assert_ptr_null(c->tags);
	ck_assert_uint_eq(c->n_tags, 0);
	ck_assert_ptr_null(c->cursors);
	ck_assert_uint_eq(c->n_cursors, 0);
	ck_assert_int_eq(c->status, 0);
	ck_assert_int_eq(c->rating, 0);
	ck_assert_int_eq(convlog_uuid_is_nil(&c->parent_id), 1);
	ck_assert_int_eq(c->created_at, 0);
	ck_assert_uint_eq(c->message_count, 0);
	convlog_conv_free(c);

	/* empty strings stay empty strings, not absent */
	convlog_conv_init(&in);
	in.title = "";
	in.topic = "";
	c = conv_round_trip(&in, CVL_CG_STATIC);
	assert_str_or_null(c->title, "");
	assert_str_or_null(c->topic, "");
	ck_assert_ptr_null(c->user_id);
	convlog_conv_free(c);
}
END_TEST

START_TEST(test_model_codec__conv_field_groups_encode_separately)
{
	convlog_conv in, *c;

	conv_full(&in);
	c = conv_round_trip(&in, CVL_CG_STATIC);
	ck_assert_str_eq(c->title, in.title);
	ck_assert_int_eq(c->status, in.status);
	ck_assert_int_eq(c->archived_at, in.archived_at);
	ck_assert_int_eq(c->deleted_at, in.deleted_at);
	ck_assert_uint_eq(c->tip_seq, 0); /* tip is hot, not static */
	ck_assert_int_eq(c->updated_at, 0);
	ck_assert_int_eq(c->last_activity_at, 0);
	ck_assert_uint_eq(c->message_count, 0);
	convlog_conv_free(c);

	c = conv_round_trip(&in, CVL_CG_HOT);
	ck_assert_ptr_null(c->title);
	ck_assert_int_eq(c->status, 0);
	ck_assert_uint_eq(c->tip_seq, 9);
	ck_assert_int_eq(c->updated_at, in.updated_at);
	ck_assert_int_eq(c->last_activity_at, in.last_activity_at);
	ck_assert_uint_eq(c->message_count, 0);
	convlog_conv_free(c);

	c = conv_round_trip(&in, CVL_CG_AGG);
	ck_assert_ptr_null(c->title);
	ck_assert_uint_eq(c->tip_seq, 0);
	ck_assert_uint_eq(c->message_count, in.message_count);
	ck_assert_int_eq(c->token_total, in.token_total);
	ck_assert_int_eq(c->cost_total, in.cost_total);
	convlog_conv_free(c);
}
END_TEST

START_TEST(test_model_codec__conv_encode_fields_writes_only_the_mask)
{
	convlog_conv in, *c;
	cvl_buf b;
	const char *why;

	conv_full(&in);
	cvl_buf_init(&b, 0);
	CK_OK(cvl_conv_encode_fields(&in, CONVLOG_CONV_TITLE | CONVLOG_CONV_TAGS |
					       CONVLOG_CONV_CURSORS | CONVLOG_CONV_PARENT,
				     &b));
	ck_assert_int_eq(cvl_conv_decode(b.p, b.len, &c, &why), 0);
	ck_assert_str_eq(c->title, in.title);
	ck_assert_uint_eq(c->n_tags, 3);
	ck_assert_uint_eq(c->n_cursors, 4);
	ck_assert_uint_eq(c->fork_seq, 3);
	ck_assert_ptr_null(c->user_id);
	ck_assert_ptr_null(c->metadata);
	ck_assert_int_eq(c->rating, 0);
	ck_assert_int_eq(c->created_at, 0);
	ck_assert_int_eq(convlog_uuid_is_nil(&c->id), 1);
	convlog_conv_free(c);
	cvl_buf_free(&b);
}
END_TEST

START_TEST(test_model_codec__conv_overlay_applies_counters_only)
{
	convlog_conv in, *c, hot;
	cvl_buf b;
	const char *why;

	conv_full(&in);
	c = conv_round_trip(&in, CVL_CG_STATIC);
	convlog_conv_init(&hot);
	hot.tip_seq = 77;
	hot.updated_at = 5;
	hot.last_activity_at = 6;
	hot.message_count = 8;
	hot.token_total = -3;
	hot.cost_total = 4;
	cvl_buf_init(&b, 0);
	CK_OK(cvl_conv_encode(&hot, CVL_CG_HOT | CVL_CG_AGG, &b));
	ck_assert_int_eq(cvl_conv_overlay(c, b.p, b.len, &why), 0);
	ck_assert_uint_eq(c->tip_seq, 77);
	ck_assert_int_eq(c->updated_at, 5);
	ck_assert_int_eq(c->last_activity_at, 6);
	ck_assert_uint_eq(c->message_count, 8);
	ck_assert_int_eq(c->token_total, -3);
	ck_assert_int_eq(c->cost_total, 4);
	ck_assert_str_eq(c->title, in.title); /* untouched */

	/* string fields are not counters */
	cvl_buf_reset(&b);
	CK_OK(cvl_tlv_put_str(&b, CF_TITLE, "nope"));
	ck_assert_int_eq(cvl_conv_overlay(c, b.p, b.len, &why), -1);
	cvl_buf_reset(&b);
	CK_OK(cvl_buf_put_u8(&b, 0x80)); /* truncated key */
	ck_assert_int_eq(cvl_conv_overlay(c, b.p, b.len, &why), -1);
	convlog_conv_free(c);
	cvl_buf_free(&b);
}
END_TEST

START_TEST(test_model_codec__conv_patch_meta_reads_mask_and_time)
{
	convlog_conv in;
	cvl_buf b;
	uint64_t mask = 1;
	int64_t at = 1;

	conv_full(&in);
	cvl_buf_init(&b, 0);
	CK_OK(cvl_tlv_put_u(&b, CF_MASK, CONVLOG_CONV_TITLE | CONVLOG_CONV_TAGS));
	CK_OK(cvl_conv_encode_fields(&in, CONVLOG_CONV_TITLE | CONVLOG_CONV_TAGS, &b));
	CK_OK(cvl_tlv_put_i(&b, CF_AT, -77));
	ck_assert_int_eq(cvl_conv_patch_meta(b.p, b.len, &mask, &at), 0);
	ck_assert_uint_eq(mask, CONVLOG_CONV_TITLE | CONVLOG_CONV_TAGS);
	ck_assert_int_eq(at, -77);
	/* without them: zeros */
	cvl_buf_reset(&b);
	CK_OK(cvl_tlv_put_str(&b, CF_TITLE, "t"));
	ck_assert_int_eq(cvl_conv_patch_meta(b.p, b.len, &mask, &at), 0);
	ck_assert_uint_eq(mask, 0);
	ck_assert_int_eq(at, 0);
	CK_OK(cvl_buf_put_u8(&b, 0x07 << 3 | 5));
	ck_assert_int_eq(cvl_conv_patch_meta(b.p, b.len, &mask, &at), -1);
	cvl_buf_free(&b);
}
END_TEST

START_TEST(test_model_codec__conv_decode_rejects_malformed_input)
{
	convlog_conv *c = (convlog_conv *)0x1;
	cvl_buf b;
	const char *why;
	uint8_t id15[15] = {0};

	cvl_buf_init(&b, 0);
	/* an unknown numeric field */
	CK_OK(cvl_tlv_put_u(&b, 50, 1));
	ck_assert_int_eq(cvl_conv_decode(b.p, b.len, &c, &why), -1);
	ck_assert_ptr_null(c);
	ck_assert_str_eq(why, "unknown numeric conversation field");
	/* an unknown bytes field */
	cvl_buf_reset(&b);
	CK_OK(cvl_tlv_put_str(&b, 51, "x"));
	ck_assert_int_eq(cvl_conv_decode(b.p, b.len, &c, &why), -1);
	ck_assert_str_eq(why, "unknown conversation field");
	/* a string field with the numeric wire type */
	cvl_buf_reset(&b);
	CK_OK(cvl_tlv_put_u(&b, CF_TITLE, 1));
	ck_assert_int_eq(cvl_conv_decode(b.p, b.len, &c, &why), -1);
	/* ids that are not 16 bytes */
	cvl_buf_reset(&b);
	CK_OK(cvl_tlv_put_bytes(&b, CF_ID, id15, sizeof(id15)));
	ck_assert_int_eq(cvl_conv_decode(b.p, b.len, &c, &why), -1);
	ck_assert_str_eq(why, "conversation id is not 16 bytes");
	cvl_buf_reset(&b);
	CK_OK(cvl_tlv_put_bytes(&b, CF_PARENT, id15, sizeof(id15)));
	ck_assert_int_eq(cvl_conv_decode(b.p, b.len, &c, &why), -1);
	/* cursor entries: name running past the entry, trailing bytes, no value */
	static const uint8_t bad_cursors[][6] = {
		{5, 'a', 'b', 0x02},       /* name length 5 in a 4-byte entry */
		{1, 'a', 0x02, 0x00},      /* trailing byte */
		{1, 'a'},                  /* no value */
		{1, 'a', 0x80},            /* truncated value */
	};
	static const size_t bad_len[] = {4, 4, 2, 3};
	for (size_t i = 0; i < 4; i++) {
		cvl_buf_reset(&b);
		CK_OK(cvl_tlv_put_bytes(&b, CF_CURSOR, bad_cursors[i], bad_len[i]));
		ck_assert_int_eq(cvl_conv_decode(b.p, b.len, &c, &why), -1);
		ck_assert_str_eq(why, "malformed cursor entry");
	}
	/* every truncation of a full record fails cleanly or decodes a prefix */
	convlog_conv in;
	conv_full(&in);
	cvl_buf_reset(&b);
	CK_OK(cvl_conv_encode(&in, CVL_CG_STATIC | CVL_CG_HOT | CVL_CG_AGG, &b));
	int failures = 0;
	for (size_t n = 0; n < b.len; n++) {
		convlog_conv *d = NULL;
		if (cvl_conv_decode(b.p, n, &d, &why) == 0)
			convlog_conv_free(d);
		else
			failures++;
	}
	ck_assert_int_gt(failures, 0);
	cvl_buf_free(&b);
}
END_TEST

/* A stored cursor name over the limit is corruption, never a stack overflow
 * when the conversation is encoded again (found by this test). */
START_TEST(test_model_codec__decoded_long_cursor_name_is_rejected_or_reencoded_safely)
{
	uint8_t entry[CVL_VARINT_MAX * 2 + 200];
	char name[201];
	cvl_buf b;
	convlog_conv *c = NULL, *d = NULL;
	const char *why = NULL;
	size_t n = 0;

	memset(name, 'n', 200);
	name[200] = '\0';
	n += cvl_varint_put(entry, 200);
	memcpy(entry + n, name, 200);
	n += 200;
	n += cvl_varint_put(entry + n, cvl_zigzag(42));
	cvl_buf_init(&b, 0);
	CK_OK(cvl_tlv_put_bytes(&b, CF_ID, uuid_of(1).bytes, 16));
	CK_OK(cvl_tlv_put_bytes(&b, CF_CURSOR, entry, n));
	if (cvl_conv_decode(b.p, b.len, &c, &why) != 0) {
		ck_assert_ptr_null(c); /* rejected as malformed: fine */
		cvl_buf_free(&b);
		return;
	}
	ck_assert_uint_eq(c->n_cursors, 1);
	ck_assert_str_eq(c->cursors[0].name, name);
	cvl_buf_reset(&b);
	CK_OK(cvl_conv_encode(c, CVL_CG_STATIC, &b));
	ck_assert_int_eq(cvl_conv_decode(b.p, b.len, &d, &why), 0);
	ck_assert_uint_eq(d->n_cursors, 1);
	ck_assert_str_eq(d->cursors[0].name, name);
	ck_assert_int_eq(d->cursors[0].value, 42);
	convlog_conv_free(c);
	convlog_conv_free(d);
	cvl_buf_free(&b);
}
END_TEST

/* ---- prepare ---- */

static int prepare(const convlog_conv *in, uint64_t mask, convlog_conv *out, cvl_prep *pr)
{
	memset(pr, 0, sizeof(*pr));
	return cvl_conv_prepare(WHO, in, mask, out, pr);
}

START_TEST(test_model_codec__conv_prepare_accepts_a_full_conversation)
{
	convlog_conv in, out;
	cvl_prep pr;

	conv_full(&in);
	in.status = CONVLOG_STATUS_ACTIVE;
	CK_OK(prepare(&in, CONVLOG_CONV_ALL, &out, &pr));
	ck_assert_str_eq(out.title, in.title);
	ck_assert_str_eq(out.metadata, "{\"k\":[1,2],\"goal\":\"ship\"}");
	cvl_prep_free(&pr);
}
END_TEST

START_TEST(test_model_codec__conv_prepare_rejects_invalid_utf8_with_eutf8)
{
	convlog_conv in, out;
	cvl_prep pr;

	convlog_conv_init(&in);
	in.title = "ok \xc3\x28";
	CK_ERR(prepare(&in, CONVLOG_CONV_ALL, &out, &pr), CONVLOG_EUTF8);
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), WHO));
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "title"));
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "byte 3"));
	cvl_prep_free(&pr);

	convlog_conv_init(&in);
	in.user_id = "\xed\xa0\x80"; /* surrogate */
	CK_ERR(prepare(&in, CONVLOG_CONV_ALL, &out, &pr), CONVLOG_EUTF8);
	cvl_prep_free(&pr);

	const char *tags[] = {"fine", "bad\xff"};
	convlog_conv_init(&in);
	in.tags = tags;
	in.n_tags = 2;
	CK_ERR(prepare(&in, CONVLOG_CONV_ALL, &out, &pr), CONVLOG_EUTF8);
	cvl_prep_free(&pr);

	convlog_cursor cur[] = {{"\xc0\x80", 1}};
	convlog_conv_init(&in);
	in.cursors = cur;
	in.n_cursors = 1;
	CK_ERR(prepare(&in, CONVLOG_CONV_ALL, &out, &pr), CONVLOG_EUTF8);
	cvl_prep_free(&pr);

	/* JSON text is checked as UTF-8 too */
	convlog_conv_init(&in);
	in.metadata = "{\"a\":\"\xff\"}";
	CK_ERR(prepare(&in, CONVLOG_CONV_ALL, &out, &pr), CONVLOG_EUTF8);
	cvl_prep_free(&pr);
}
END_TEST

START_TEST(test_model_codec__conv_prepare_rejects_bad_json_with_ejson)
{
	static const char *bad[] = {"{", "{\"a\":1,\"a\":2}", "[1,2]", "\"s\"", "{\"n\":99999999999999999999}",
				    "not json"};
	convlog_conv in, out;
	cvl_prep pr;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		convlog_conv_init(&in);
		in.metadata = bad[i];
		CK_ERR(prepare(&in, CONVLOG_CONV_ALL, &out, &pr), CONVLOG_EJSON);
		ck_assert_ptr_nonnull(strstr(convlog_errmsg(), WHO));
		ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "metadata"));
		cvl_prep_free(&pr);
	}
}
END_TEST

START_TEST(test_model_codec__conv_prepare_canonicalises_metadata)
{
	convlog_conv in, out;
	cvl_prep pr;

	convlog_conv_init(&in);
	in.metadata = " { \"z\" : 1 ,\n \"a\" : { \"b\" : [ true ] } } ";
	CK_OK(prepare(&in, CONVLOG_CONV_ALL, &out, &pr));
	ck_assert_str_eq(out.metadata, "{\"z\":1,\"a\":{\"b\":[true]}}");
	ck_assert_str_eq(in.metadata, " { \"z\" : 1 ,\n \"a\" : { \"b\" : [ true ] } } ");
	cvl_prep_free(&pr);
}
END_TEST

START_TEST(test_model_codec__conv_prepare_range_checks_rating)
{
	convlog_conv in, out;
	cvl_prep pr;

	for (int r = -2; r <= 7; r++) {
		convlog_conv_init(&in);
		in.rating = r;
		int rc = prepare(&in, CONVLOG_CONV_ALL, &out, &pr);
		if (r >= 0 && r <= 5)
			ck_assert_msg(rc == 0, "rating %d -> %d", r, rc);
		else
			ck_assert_msg(rc == CONVLOG_ERANGE, "rating %d -> %d", r, rc);
		cvl_prep_free(&pr);
	}
	/* unchecked when the mask leaves rating out */
	convlog_conv_init(&in);
	in.rating = 6;
	CK_OK(prepare(&in, CONVLOG_CONV_TITLE, &out, &pr));
	cvl_prep_free(&pr);
}
END_TEST

START_TEST(test_model_codec__conv_prepare_limits_tags)
{
	static char texts[CONVLOG_MAX_TAGS + 1][8];
	static const char *tags[CONVLOG_MAX_TAGS + 1];
	char long_tag[CONVLOG_MAX_TAG + 2];
	convlog_conv in, out;
	cvl_prep pr;

	for (unsigned i = 0; i <= CONVLOG_MAX_TAGS; i++) {
		snprintf(texts[i], sizeof(texts[i]), "t%u", i);
		tags[i] = texts[i];
	}
	convlog_conv_init(&in);
	in.tags = tags;
	in.n_tags = CONVLOG_MAX_TAGS;
	CK_OK(prepare(&in, CONVLOG_CONV_ALL, &out, &pr));
	ck_assert_uint_eq(out.n_tags, CONVLOG_MAX_TAGS);
	cvl_prep_free(&pr);
	in.n_tags = CONVLOG_MAX_TAGS + 1;
	CK_ERR(prepare(&in, CONVLOG_CONV_ALL, &out, &pr), CONVLOG_ETOOBIG);
	cvl_prep_free(&pr);

	/* one tag too long, one tag empty, a NULL tag, a NULL array */
	memset(long_tag, 'x', CONVLOG_MAX_TAG + 1);
	long_tag[CONVLOG_MAX_TAG + 1] = '\0';
	const char *one[1] = {long_tag};
	in.tags = one;
	in.n_tags = 1;
	CK_ERR(prepare(&in, CONVLOG_CONV_ALL, &out, &pr), CONVLOG_ETOOBIG);
	cvl_prep_free(&pr);
	long_tag[CONVLOG_MAX_TAG] = '\0';
	CK_OK(prepare(&in, CONVLOG_CONV_ALL, &out, &pr));
	cvl_prep_free(&pr);
	one[0] = "";
	CK_ERR(prepare(&in, CONVLOG_CONV_ALL, &out, &pr), CONVLOG_EINVAL);
	cvl_prep_free(&pr);
	one[0] = NULL;
	CK_ERR(prepare(&in, CONVLOG_CONV_ALL, &out, &pr), CONVLOG_EINVAL);
	cvl_prep_free(&pr);
	in.tags = NULL;
	in.n_tags = 2;
	CK_ERR(prepare(&in, CONVLOG_CONV_ALL, &out, &pr), CONVLOG_EINVAL);
	cvl_prep_free(&pr);
}
END_TEST

START_TEST(test_model_codec__conv_prepare_sorts_and_deduplicates_tags)
{
	const char *tags[] = {"beta", "alpha", "beta", "gamma", "alpha", "\xc3\xa9t\xc3\xa9", "Alpha"};
	convlog_conv in, out;
	cvl_prep pr;

	convlog_conv_init(&in);
	in.tags = tags;
	in.n_tags = 7;
	CK_OK(prepare(&in, CONVLOG_CONV_ALL, &out, &pr));
	ck_assert_uint_eq(out.n_tags, 5);
	/* byte order: upper case before lower, UTF-8 after ASCII */
	ck_assert_str_eq(out.tags[0], "Alpha");
	ck_assert_str_eq(out.tags[1], "alpha");
	ck_assert_str_eq(out.tags[2], "beta");
	ck_assert_str_eq(out.tags[3], "gamma");
	ck_assert_str_eq(out.tags[4], "\xc3\xa9t\xc3\xa9");
	/* the caller's array is untouched */
	ck_assert_str_eq(tags[0], "beta");
	ck_assert_ptr_ne(out.tags, in.tags);
	cvl_prep_free(&pr);
}
END_TEST

START_TEST(test_model_codec__conv_prepare_validates_cursors)
{
	convlog_cursor dup[] = {{"client", 1}, {"server", 2}, {"client", 3}};
	convlog_cursor unsorted[] = {{"z", 1}, {"a", 2}, {"m", 3}};
	convlog_cursor empty[] = {{"", 1}};
	convlog_cursor noname[] = {{NULL, 1}};
	static convlog_cursor many[CONVLOG_MAX_CURSORS + 1];
	static char names[CONVLOG_MAX_CURSORS + 1][8];
	char long_name[CONVLOG_MAX_CURSOR_NAME + 2];
	convlog_conv in, out;
	cvl_prep pr;

	convlog_conv_init(&in);
	in.cursors = dup;
	in.n_cursors = 3;
	CK_ERR(prepare(&in, CONVLOG_CONV_ALL, &out, &pr), CONVLOG_EINVAL);
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "client"));
	cvl_prep_free(&pr);

	in.cursors = unsorted;
	CK_OK(prepare(&in, CONVLOG_CONV_ALL, &out, &pr));
	ck_assert_uint_eq(out.n_cursors, 3);
	ck_assert_str_eq(out.cursors[0].name, "a");
	ck_assert_int_eq(out.cursors[0].value, 2);
	ck_assert_str_eq(out.cursors[1].name, "m");
	ck_assert_str_eq(out.cursors[2].name, "z");
	ck_assert_int_eq(out.cursors[2].value, 1);
	ck_assert_str_eq(unsorted[0].name, "z");
	cvl_prep_free(&pr);

	in.cursors = empty;
	in.n_cursors = 1;
	CK_ERR(prepare(&in, CONVLOG_CONV_ALL, &out, &pr), CONVLOG_EINVAL);
	cvl_prep_free(&pr);
	in.cursors = noname;
	CK_ERR(prepare(&in, CONVLOG_CONV_ALL, &out, &pr), CONVLOG_EINVAL);
	cvl_prep_free(&pr);

	memset(long_name, 'n', CONVLOG_MAX_CURSOR_NAME + 1);
	long_name[CONVLOG_MAX_CURSOR_NAME + 1] = '\0';
	convlog_cursor longc[] = {{long_name, 1}};
	in.cursors = longc;
	CK_ERR(prepare(&in, CONVLOG_CONV_ALL, &out, &pr), CONVLOG_ETOOBIG);
	cvl_prep_free(&pr);

	for (unsigned i = 0; i <= CONVLOG_MAX_CURSORS; i++) {
		snprintf(names[i], sizeof(names[i]), "c%u", i);
		many[i].name = names[i];
		many[i].value = i;
	}
	in.cursors = many;
	in.n_cursors = CONVLOG_MAX_CURSORS;
	CK_OK(prepare(&in, CONVLOG_CONV_ALL, &out, &pr));
	cvl_prep_free(&pr);
	in.n_cursors = CONVLOG_MAX_CURSORS + 1;
	CK_ERR(prepare(&in, CONVLOG_CONV_ALL, &out, &pr), CONVLOG_ETOOBIG);
	cvl_prep_free(&pr);
}
END_TEST

START_TEST(test_model_codec__conv_prepare_checks_other_fields)
{
	convlog_conv in, out;
	cvl_prep pr;
	static char big[CONVLOG_MAX_TITLE + 2];

	/* struct version */
	convlog_conv_init(&in);
	in.version = 0;
	CK_ERR(prepare(&in, CONVLOG_CONV_ALL, &out, &pr), CONVLOG_EINVAL);
	/* external_id must not be empty; other ids may */
	convlog_conv_init(&in);
	in.external_id = "";
	CK_ERR(prepare(&in, CONVLOG_CONV_ALL, &out, &pr), CONVLOG_EINVAL);
	convlog_conv_init(&in);
	in.user_id = "";
	CK_OK(prepare(&in, CONVLOG_CONV_ALL, &out, &pr));
	/* length limits */
	memset(big, 't', CONVLOG_MAX_TITLE + 1);
	big[CONVLOG_MAX_TITLE + 1] = '\0';
	convlog_conv_init(&in);
	in.title = big;
	CK_ERR(prepare(&in, CONVLOG_CONV_ALL, &out, &pr), CONVLOG_ETOOBIG);
	big[CONVLOG_MAX_TITLE] = '\0';
	CK_OK(prepare(&in, CONVLOG_CONV_ALL, &out, &pr));
	big[CONVLOG_MAX_SHORT_TEXT + 1] = '\0';
	convlog_conv_init(&in);
	in.org_id = big;
	CK_ERR(prepare(&in, CONVLOG_CONV_ALL, &out, &pr), CONVLOG_ETOOBIG);
	/* fork position without a parent */
	convlog_conv_init(&in);
	in.fork_seq = 3;
	CK_ERR(prepare(&in, CONVLOG_CONV_ALL, &out, &pr), CONVLOG_EINVAL);
	in.parent_id = uuid_of(9);
	CK_OK(prepare(&in, CONVLOG_CONV_ALL, &out, &pr));
	/* tip beyond the sequence space */
	convlog_conv_init(&in);
	in.tip_seq = CONVLOG_MAX_SEQ + 1;
	CK_ERR(prepare(&in, CONVLOG_CONV_ALL, &out, &pr), CONVLOG_ERANGE);
	/* fields outside the mask are not checked */
	convlog_conv_init(&in);
	in.title = "\xff";
	in.metadata = "[";
	CK_OK(prepare(&in, CONVLOG_CONV_USER_ID, &out, &pr));
	cvl_prep_free(&pr);
}
END_TEST

/* ---- lifecycle ---- */

START_TEST(test_model_codec__status_transitions_follow_the_lifecycle)
{
	enum { A = CONVLOG_STATUS_ACTIVE, IT = CONVLOG_STATUS_INACTIVE_TIMEOUT,
	       IU = CONVLOG_STATUS_INACTIVE_USER_TERMINATED,
	       IS = CONVLOG_STATUS_INACTIVE_SYSTEM_TERMINATED, C = CONVLOG_STATUS_COMPLETED,
	       AR = CONVLOG_STATUS_ARCHIVED, D = CONVLOG_STATUS_DELETED };
	/* DESIGN.md §1: active -> inactive_* | completed; inactive_* |
	 * completed -> active | archived; archived -> active.  active ->
	 * archived is refused; deleted and restore have their own calls, so
	 * every transition into or out of deleted is refused here, as are
	 * unknown values and staying put. */
	static const int allowed[][2] = {
		{A, IT}, {A, IU}, {A, IS}, {A, C},
		{IT, A}, {IT, AR}, {IU, A}, {IU, AR}, {IS, A}, {IS, AR}, {C, A}, {C, AR},
		{AR, A},
	};
	int seen = 0;

	for (int from = -1; from <= D + 2; from++) {
		for (int to = -1; to <= D + 2; to++) {
			int want = CONVLOG_ETRANSITION;
			for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
				if (allowed[i][0] == from && allowed[i][1] == to)
					want = 0;
			int got = cvl_status_transition_ok(from, to);
			ck_assert_msg(got == want, "%d (%s) -> %d (%s): got %d, want %d", from,
				      convlog_status_name(from) ? convlog_status_name(from) : "?", to,
				      convlog_status_name(to) ? convlog_status_name(to) : "?", got,
				      want);
			seen += got == 0;
		}
	}
	ck_assert_int_eq(seen, (int)(sizeof(allowed) / sizeof(allowed[0])));
	(void)IS;
}
END_TEST

START_TEST(test_model_codec__status_names_round_trip)
{
	for (int s = CONVLOG_STATUS_ACTIVE; s <= CONVLOG_STATUS_DELETED; s++) {
		int back = 0;
		ck_assert_int_eq(cvl_status_valid(s), 1);
		ck_assert_ptr_nonnull(convlog_status_name(s));
		CK_OK(convlog_status_parse(convlog_status_name(s), &back));
		ck_assert_int_eq(back, s);
	}
	ck_assert_str_eq(convlog_status_name(CONVLOG_STATUS_INACTIVE_USER_TERMINATED),
			 "inactive_user_terminated");
	ck_assert_ptr_null(convlog_status_name(0));
	ck_assert_ptr_null(convlog_status_name(8));
	ck_assert_int_eq(cvl_status_valid(0), 0);
	ck_assert_int_eq(cvl_status_valid(8), 0);
	int out;
	CK_ERR(convlog_status_parse("Active", &out), CONVLOG_ESTATUS);
	CK_ERR(convlog_status_parse("", &out), CONVLOG_ESTATUS);
	CK_ERR(convlog_status_parse(NULL, &out), CONVLOG_EINVAL);

	for (int s = CONVLOG_MSG_COMPLETED; s <= CONVLOG_MSG_ERROR; s++) {
		int back = 0;
		CK_OK(convlog_msg_status_parse(convlog_msg_status_name(s), &back));
		ck_assert_int_eq(back, s);
	}
	ck_assert_str_eq(convlog_msg_status_name(CONVLOG_MSG_PENDING), "pending");
	ck_assert_ptr_null(convlog_msg_status_name(0));
	ck_assert_ptr_null(convlog_msg_status_name(4));
	CK_ERR(convlog_msg_status_parse("done", &out), CONVLOG_ESTATUS);
}
END_TEST

/* ====================================================================== */
/* Messages                                                               */
/* ====================================================================== */

static const char nul_content[] = "before\0after \xe6\x97\xa5\xe6\x9c\xac\0\0end \xf0\x9f\x98\x80";
#define NUL_CONTENT_LEN (sizeof(nul_content) - 1)

static void msg_full(convlog_msg *m)
{
	convlog_msg_init(m);
	m->id = uuid_of(5);
	m->conv_id = uuid_of(6);
	m->seq = 42;
	m->parent_seq = 40;
	m->role = "assistant";
	m->name = "helper \xc3\xa9";
	m->content = nul_content;
	m->content_len = NUL_CONTENT_LEN;
	m->tool_calls = "[{\"id\":\"call_1\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]";
	m->tool_call_id = "call_0";
	m->token_count = 1234;
	m->cost = 56;
	m->latency_ms = 789;
	m->model = "gpt-x";
	m->status = CONVLOG_MSG_PENDING;
	m->error_message = "partial";
	m->feedback = -1;
	m->feedback_text = "meh";
	m->metadata = "{\"attachments\":[]}";
	m->created_at = 1700000000000;
	m->edited_at = -7;
}

static convlog_msg *msg_round_trip(const convlog_msg *in)
{
	cvl_buf b;
	convlog_msg *out = NULL;
	const char *why = NULL;

	cvl_buf_init(&b, 0);
	CK_OK(cvl_msg_encode(in, &b));
	ck_assert_msg(cvl_msg_decode(b.p, b.len, &out, &why) == 0, "decode: %s", why);
	ck_assert_ptr_nonnull(out);
	cvl_buf_free(&b);
	return out;
}

START_TEST(test_model_codec__msg_round_trips_every_field_including_nul_bytes)
{
	convlog_msg in, *m;

	msg_full(&in);
	m = msg_round_trip(&in);
	ck_assert_uint_eq(m->version, CONVLOG_MSG_VERSION);
	ck_assert_int_eq(memcmp(m->id.bytes, in.id.bytes, 16), 0);
	ck_assert_int_eq(memcmp(m->conv_id.bytes, in.conv_id.bytes, 16), 0);
	ck_assert_uint_eq(m->seq, 42);
	ck_assert_uint_eq(m->parent_seq, 40);
	ck_assert_str_eq(m->role, "assistant");
	ck_assert_str_eq(m->name, in.name);
	ck_assert_uint_eq(m->content_len, NUL_CONTENT_LEN);
	ck_assert_int_eq(memcmp(m->content, nul_content, NUL_CONTENT_LEN), 0);
	ck_assert_int_eq(m->content[m->content_len], '\0');
	ck_assert_str_eq(m->tool_calls, in.tool_calls);
	ck_assert_str_eq(m->tool_call_id, "call_0");
	ck_assert_int_eq(m->token_count, 1234);
	ck_assert_int_eq(m->cost, 56);
	ck_assert_int_eq(m->latency_ms, 789);
	ck_assert_str_eq(m->model, "gpt-x");
	ck_assert_int_eq(m->status, CONVLOG_MSG_PENDING);
	ck_assert_str_eq(m->error_message, "partial");
	ck_assert_int_eq(m->feedback, -1);
	ck_assert_str_eq(m->feedback_text, "meh");
	ck_assert_str_eq(m->metadata, in.metadata);
	ck_assert_int_eq(m->created_at, 1700000000000);
	ck_assert_int_eq(m->edited_at, -7);
	convlog_msg_free(m);
}
END_TEST

START_TEST(test_model_codec__msg_unknown_usage_differs_from_zero)
{
	convlog_msg in, *m;

	convlog_msg_init(&in);
	in.seq = 1;
	in.role = "user";
	ck_assert_int_eq(in.token_count, -1);
	m = msg_round_trip(&in);
	ck_assert_int_eq(m->token_count, -1);
	ck_assert_int_eq(m->cost, -1);
	ck_assert_int_eq(m->latency_ms, -1);
	convlog_msg_free(m);

	in.token_count = 0;
	in.cost = 0;
	in.latency_ms = 0;
	m = msg_round_trip(&in);
	ck_assert_int_eq(m->token_count, 0);
	ck_assert_int_eq(m->cost, 0);
	ck_assert_int_eq(m->latency_ms, 0);
	convlog_msg_free(m);

	in.token_count = INT64_MAX;
	in.cost = 1;
	in.latency_ms = -1;
	m = msg_round_trip(&in);
	ck_assert_int_eq(m->token_count, INT64_MAX);
	ck_assert_int_eq(m->cost, 1);
	ck_assert_int_eq(m->latency_ms, -1);
	convlog_msg_free(m);
}
END_TEST

START_TEST(test_model_codec__msg_absent_fields_decode_as_absent)
{
	convlog_msg in, *m;

	convlog_msg_init(&in);
	in.seq = 1;
	in.parent_seq = 0;
	in.role = "user";
	m = msg_round_trip(&in);
	ck_assert_uint_eq(m->parent_seq, 0);
	ck_assert_ptr_null(m->name);
	ck_assert_ptr_null(m->tool_calls);
	ck_assert_ptr_null(m->tool_call_id);
	ck_assert_ptr_null(m->model);
	ck_assert_ptr_null(m->error_message);
	ck_assert_ptr_null(m->feedback_text);
	ck_assert_ptr_null(m->metadata);
	ck_assert_int_eq(m->feedback, 0);
	ck_assert_int_eq(m->edited_at, 0);
	ck_assert_int_eq(m->status, 0);
	/* empty content: a valid empty string */
	ck_assert_uint_eq(m->content_len, 0);
	ck_assert_ptr_nonnull(m->content);
	ck_assert_str_eq(m->content, "");
	convlog_msg_free(m);

	/* feedback +1 */
	in.feedback = 1;
	m = msg_round_trip(&in);
	ck_assert_int_eq(m->feedback, 1);
	convlog_msg_free(m);
}
END_TEST

START_TEST(test_model_codec__msg_decode_rejects_malformed_input)
{
	convlog_msg *m = (convlog_msg *)0x1;
	cvl_buf b;
	const char *why;
	uint8_t id17[17] = {0};

	cvl_buf_init(&b, 0);
	CK_OK(cvl_tlv_put_u(&b, 33, 1));
	ck_assert_int_eq(cvl_msg_decode(b.p, b.len, &m, &why), -1);
	ck_assert_ptr_null(m);
	ck_assert_str_eq(why, "unknown numeric message field");
	cvl_buf_reset(&b);
	CK_OK(cvl_tlv_put_str(&b, 34, "x"));
	ck_assert_int_eq(cvl_msg_decode(b.p, b.len, &m, &why), -1);
	ck_assert_str_eq(why, "unknown message field");
	cvl_buf_reset(&b);
	CK_OK(cvl_tlv_put_bytes(&b, MF_CONV, id17, sizeof(id17)));
	ck_assert_int_eq(cvl_msg_decode(b.p, b.len, &m, &why), -1);
	ck_assert_str_eq(why, "message id is not 16 bytes");
	cvl_buf_reset(&b);
	CK_OK(cvl_tlv_put_u(&b, MF_CONTENT, 5)); /* content as a number */
	ck_assert_int_eq(cvl_msg_decode(b.p, b.len, &m, &why), -1);
	cvl_buf_reset(&b);
	CK_OK(cvl_tlv_put_bytes(&b, MF_CONTENT, "abc", 3));
	ck_assert_int_eq(cvl_msg_decode(b.p, b.len - 1, &m, &why), -1);
	ck_assert_str_eq(why, "malformed message fields");
	cvl_buf_free(&b);
}
END_TEST

/* ---- prepare ---- */

static int mprep(const convlog_msg *in, uint64_t mask, uint32_t max, convlog_msg *out,
		 cvl_prep *pr)
{
	memset(pr, 0, sizeof(*pr));
	return cvl_msg_prepare("message 3 of " WHO, in, mask, max, out, pr);
}

static void base_msg(convlog_msg *m)
{
	convlog_msg_init(m);
	m->role = "user";
	m->content = "hello";
	m->content_len = 5;
}

START_TEST(test_model_codec__msg_prepare_accepts_and_canonicalises)
{
	convlog_msg in, out;
	cvl_prep pr;

	msg_full(&in);
	in.tool_calls = " [ { \"b\" : 1, \"a\" : 2 } ] ";
	in.metadata = "{ \"x\" : null }";
	CK_OK(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr));
	ck_assert_str_eq(out.tool_calls, "[{\"b\":1,\"a\":2}]");
	ck_assert_str_eq(out.metadata, "{\"x\":null}");
	ck_assert_ptr_eq(out.content, in.content);
	ck_assert_uint_eq(out.content_len, NUL_CONTENT_LEN);
	cvl_prep_free(&pr);

	/* tool_calls may be any JSON value */
	in.tool_calls = "\"just a string\"";
	CK_OK(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr));
	cvl_prep_free(&pr);
	/* unknown usage is -1, and status 0 means the default */
	base_msg(&in);
	in.status = 0;
	CK_OK(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr));
	cvl_prep_free(&pr);
	/* empty content with a NULL pointer is fine */
	in.content = NULL;
	in.content_len = 0;
	CK_OK(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr));
	cvl_prep_free(&pr);
}
END_TEST

START_TEST(test_model_codec__msg_prepare_requires_a_role)
{
	convlog_msg in, out;
	cvl_prep pr;

	base_msg(&in);
	in.role = NULL;
	CK_ERR(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr), CONVLOG_EINVAL);
	in.role = "";
	CK_ERR(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr), CONVLOG_EINVAL);
	in.role = "\xff";
	CK_ERR(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr), CONVLOG_EUTF8);
	in.role = "recruiter_twin"; /* app roles are fine */
	CK_OK(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr));
	/* a supersede that leaves the role alone does not need one */
	in.role = NULL;
	CK_OK(mprep(&in, CONVLOG_MSG_CONTENT, 1000, &out, &pr));
	cvl_prep_free(&pr);
}
END_TEST

START_TEST(test_model_codec__msg_prepare_checks_content)
{
	convlog_msg in, out;
	cvl_prep pr;
	char bad[64];

	base_msg(&in);
	/* invalid UTF-8 after an embedded NUL: reported at its byte */
	memcpy(bad, "abc\0def\xe2\x82", 9);
	in.content = bad;
	in.content_len = 9;
	CK_ERR(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr), CONVLOG_EUTF8);
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "content"));
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "byte 7"));
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "message 3 of " WHO));
	/* the limit is the caller's max_content */
	in.content = "0123456789";
	in.content_len = 10;
	CK_OK(mprep(&in, CONVLOG_MSG_ALL, 10, &out, &pr));
	CK_ERR(mprep(&in, CONVLOG_MSG_ALL, 9, &out, &pr), CONVLOG_ETOOBIG);
	/* a length without bytes */
	in.content = NULL;
	in.content_len = 3;
	CK_ERR(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr), CONVLOG_EINVAL);
	/* NUL bytes are content like any other */
	in.content = nul_content;
	in.content_len = NUL_CONTENT_LEN;
	CK_OK(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr));
	/* not checked when the mask leaves content out */
	in.content = bad;
	in.content_len = 9;
	CK_OK(mprep(&in, CONVLOG_MSG_ALL & ~CONVLOG_MSG_CONTENT, 1000, &out, &pr));
	cvl_prep_free(&pr);
}
END_TEST

START_TEST(test_model_codec__msg_prepare_reports_each_bad_field)
{
	convlog_msg in, out;
	cvl_prep pr;
	static char long_name[CONVLOG_MAX_SHORT_TEXT + 2];

	base_msg(&in);
	in.version = 2;
	CK_ERR(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr), CONVLOG_EINVAL);

	base_msg(&in);
	in.tool_calls = "[1,";
	CK_ERR(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr), CONVLOG_EJSON);
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "tool_calls"));
	base_msg(&in);
	in.metadata = "[]";
	CK_ERR(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr), CONVLOG_EJSON);
	base_msg(&in);
	in.metadata = "{\"a\":1,\"a\":1}";
	CK_ERR(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr), CONVLOG_EJSON);

	int64_t *usage[3];
	for (int u = 0; u < 3; u++) {
		base_msg(&in);
		usage[0] = &in.token_count;
		usage[1] = &in.cost;
		usage[2] = &in.latency_ms;
		*usage[u] = -2;
		CK_ERR(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr), CONVLOG_ERANGE);
		*usage[u] = INT64_MIN;
		CK_ERR(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr), CONVLOG_ERANGE);
		*usage[u] = -1;
		CK_OK(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr));
		*usage[u] = 0;
		CK_OK(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr));
	}

	for (int f = -3; f <= 3; f++) {
		base_msg(&in);
		in.feedback = f;
		if (f >= -1 && f <= 1)
			CK_OK(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr));
		else
			CK_ERR(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr), CONVLOG_ERANGE);
	}

	base_msg(&in);
	in.status = CONVLOG_MSG_ERROR + 1;
	CK_ERR(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr), CONVLOG_ESTATUS);
	in.status = -1;
	CK_ERR(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr), CONVLOG_ESTATUS);
	in.status = CONVLOG_MSG_ERROR;
	CK_OK(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr));

	memset(long_name, 'n', CONVLOG_MAX_SHORT_TEXT + 1);
	long_name[CONVLOG_MAX_SHORT_TEXT + 1] = '\0';
	const char **shorts[] = {&in.name, &in.model, &in.tool_call_id};
	for (int i = 0; i < 3; i++) {
		base_msg(&in);
		*shorts[i] = long_name;
		CK_ERR(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr), CONVLOG_ETOOBIG);
		*shorts[i] = "\xc0\xaf";
		CK_ERR(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr), CONVLOG_EUTF8);
	}
	base_msg(&in);
	in.feedback_text = "\xed\xb0\x80";
	CK_ERR(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr), CONVLOG_EUTF8);
	base_msg(&in);
	in.error_message = "bad \xf5";
	CK_ERR(mprep(&in, CONVLOG_MSG_ALL, 1000, &out, &pr), CONVLOG_EUTF8);
	cvl_prep_free(&pr);
}
END_TEST

/* ---- peek and summary ---- */

START_TEST(test_model_codec__msg_peek_body_reads_fields_in_place)
{
	convlog_msg in;
	cvl_msg_peek pk;
	cvl_buf b;

	msg_full(&in);
	cvl_buf_init(&b, 0);
	CK_OK(cvl_msg_encode(&in, &b));
	ck_assert_int_eq(cvl_msg_peek_body(b.p, b.len, &pk), 0);
	ck_assert_int_eq(memcmp(pk.id.bytes, in.id.bytes, 16), 0);
	ck_assert_int_eq(memcmp(pk.conv.bytes, in.conv_id.bytes, 16), 0);
	ck_assert_uint_eq(pk.seq, 42);
	ck_assert_uint_eq(pk.parent_seq, 40);
	ck_assert_uint_eq(pk.role_len, 9);
	ck_assert_int_eq(memcmp(pk.role, "assistant", 9), 0);
	ck_assert(pk.role >= (const char *)b.p && pk.role < (const char *)b.p + b.len);
	ck_assert_uint_eq(pk.model_len, 5);
	ck_assert_int_eq(memcmp(pk.model, "gpt-x", 5), 0);
	ck_assert_int_eq(pk.tokens, 1234);
	ck_assert_int_eq(pk.cost, 56);
	ck_assert_int_eq(pk.latency, 789);
	ck_assert_int_eq(pk.status, CONVLOG_MSG_PENDING);
	ck_assert_int_eq(pk.feedback, -1);
	ck_assert_int_eq(pk.created_at, 1700000000000);
	ck_assert_int_eq(pk.edited_at, -7);
	ck_assert_uint_eq(pk.content_len, NUL_CONTENT_LEN);

	/* unknown usage stays -1, absent model stays NULL */
	convlog_msg_init(&in);
	in.id = uuid_of(1);
	in.conv_id = uuid_of(2);
	in.seq = 1;
	in.role = "user";
	cvl_buf_reset(&b);
	CK_OK(cvl_msg_encode(&in, &b));
	ck_assert_int_eq(cvl_msg_peek_body(b.p, b.len, &pk), 0);
	ck_assert_int_eq(pk.tokens, -1);
	ck_assert_int_eq(pk.cost, -1);
	ck_assert_int_eq(pk.latency, -1);
	ck_assert_ptr_null(pk.model);
	ck_assert_uint_eq(pk.content_len, 0);
	cvl_buf_free(&b);
}
END_TEST

START_TEST(test_model_codec__msg_peek_body_requires_identity_fields)
{
	convlog_msg in;
	cvl_msg_peek pk;
	cvl_buf b;

	cvl_buf_init(&b, 0);
	/* no role */
	msg_full(&in);
	in.role = NULL;
	CK_OK(cvl_msg_encode(&in, &b));
	ck_assert_int_eq(cvl_msg_peek_body(b.p, b.len, &pk), -1);
	/* seq 0 */
	msg_full(&in);
	in.seq = 0;
	cvl_buf_reset(&b);
	CK_OK(cvl_msg_encode(&in, &b));
	ck_assert_int_eq(cvl_msg_peek_body(b.p, b.len, &pk), -1);
	/* no id / no conversation */
	cvl_buf_reset(&b);
	CK_OK(cvl_tlv_put_bytes(&b, MF_CONV, uuid_of(1).bytes, 16));
	CK_OK(cvl_tlv_put_u(&b, MF_SEQ, 1));
	CK_OK(cvl_tlv_put_str(&b, MF_ROLE, "user"));
	ck_assert_int_eq(cvl_msg_peek_body(b.p, b.len, &pk), -1);
	CK_OK(cvl_tlv_put_bytes(&b, MF_ID, uuid_of(2).bytes, 16));
	ck_assert_int_eq(cvl_msg_peek_body(b.p, b.len, &pk), 0);
	/* an unknown field and a truncated body */
	CK_OK(cvl_tlv_put_u(&b, 39, 1));
	ck_assert_int_eq(cvl_msg_peek_body(b.p, b.len, &pk), -1);
	ck_assert_int_eq(cvl_msg_peek_body(b.p, b.len - 1, &pk), -1);
	cvl_buf_free(&b);
}
END_TEST

/* Peeks an encoded message then encodes and decodes its summary. */
static void summary_round_trip(const convlog_msg *in, const cvl_loc *loc, cvl_msg_sum *s,
			       cvl_buf *b)
{
	cvl_buf body;
	cvl_msg_peek pk;

	cvl_buf_init(&body, 0);
	CK_OK(cvl_msg_encode(in, &body));
	ck_assert_int_eq(cvl_msg_peek_body(body.p, body.len, &pk), 0);
	cvl_buf_reset(b);
	CK_OK(cvl_msg_sum_encode(&pk, loc, b));
	cvl_buf_free(&body); /* the summary must not point into the body */
	ck_assert_int_eq(cvl_msg_sum_decode(b->p, b->len, in->seq, s), 0);
}

START_TEST(test_model_codec__msg_summary_round_trips)
{
	convlog_msg in;
	cvl_msg_sum s;
	cvl_buf b;
	cvl_loc loc = {.seg = 7, .frame_off = 0xFFFFFFF0u, .frame_len = 123456, .rec_idx = 65535};

	cvl_buf_init(&b, 0);
	msg_full(&in);
	summary_round_trip(&in, &loc, &s, &b);
	ck_assert_uint_eq(s.loc.seg, 7);
	ck_assert_uint_eq(s.loc.frame_off, 0xFFFFFFF0u);
	ck_assert_uint_eq(s.loc.frame_len, 123456);
	ck_assert_uint_eq(s.loc.rec_idx, 65535);
	ck_assert_uint_eq(s.parent_seq, 40);
	ck_assert_uint_eq(s.role_len, 9);
	ck_assert_int_eq(memcmp(s.role, "assistant", 9), 0);
	ck_assert_uint_eq(s.model_len, 5);
	ck_assert_int_eq(memcmp(s.model, "gpt-x", 5), 0);
	ck_assert_int_eq(s.tokens, 1234);
	ck_assert_int_eq(s.cost, 56);
	ck_assert_int_eq(s.latency, 789);
	ck_assert_int_eq(s.status, CONVLOG_MSG_PENDING);
	ck_assert_int_eq(s.feedback, -1);
	ck_assert_int_eq(s.created_at, 1700000000000);
	ck_assert_int_eq(s.edited_at, -7);
	ck_assert_uint_eq(s.content_len, NUL_CONTENT_LEN);

	/* defaults that the summary leaves out: parent = seq - 1, completed */
	convlog_msg_init(&in);
	in.id = uuid_of(1);
	in.conv_id = uuid_of(2);
	in.seq = 5;
	in.parent_seq = 4;
	in.role = "user";
	in.status = CONVLOG_MSG_COMPLETED;
	in.token_count = 0;
	summary_round_trip(&in, &loc, &s, &b);
	ck_assert_uint_eq(s.parent_seq, 4);
	ck_assert_int_eq(s.status, CONVLOG_MSG_COMPLETED);
	ck_assert_int_eq(s.tokens, 0);
	ck_assert_int_eq(s.cost, -1);
	ck_assert_ptr_null(s.model);
	size_t short_len = b.len;
	/* a tree edge (parent not seq - 1) and a root are kept */
	in.parent_seq = 2;
	summary_round_trip(&in, &loc, &s, &b);
	ck_assert_uint_eq(s.parent_seq, 2);
	ck_assert_uint_gt(b.len, short_len);
	in.parent_seq = 0;
	summary_round_trip(&in, &loc, &s, &b);
	ck_assert_uint_eq(s.parent_seq, 0);
	in.seq = 1;
	summary_round_trip(&in, &loc, &s, &b);
	ck_assert_uint_eq(s.parent_seq, 0);
	in.status = CONVLOG_MSG_ERROR;
	summary_round_trip(&in, &loc, &s, &b);
	ck_assert_int_eq(s.status, CONVLOG_MSG_ERROR);
	cvl_buf_free(&b);
}
END_TEST

START_TEST(test_model_codec__msg_summary_decode_rejects_malformed_input)
{
	uint8_t buf[64];
	cvl_msg_sum s;
	cvl_loc loc = {.seg = 1, .frame_off = 2, .frame_len = 3, .rec_idx = 4};
	cvl_buf b;

	cvl_loc_encode(&loc, buf);
	ck_assert_int_eq(cvl_msg_sum_decode(buf, CVL_LOC_LEN, 1, &s), 0);
	ck_assert_int_eq(cvl_msg_sum_decode(buf, CVL_LOC_LEN - 1, 1, &s), -1);
	cvl_buf_init(&b, 0);
	CK_OK(cvl_buf_append(&b, buf, CVL_LOC_LEN));
	CK_OK(cvl_tlv_put_str(&b, MF_NAME, "x")); /* a string field it does not keep */
	ck_assert_int_eq(cvl_msg_sum_decode(b.p, b.len, 1, &s), -1);
	b.len = CVL_LOC_LEN;
	CK_OK(cvl_tlv_put_u(&b, 35, 1)); /* an unknown number */
	ck_assert_int_eq(cvl_msg_sum_decode(b.p, b.len, 1, &s), -1);
	b.len = CVL_LOC_LEN;
	CK_OK(cvl_buf_put_u8(&b, 0x80));
	ck_assert_int_eq(cvl_msg_sum_decode(b.p, b.len, 1, &s), -1);
	cvl_buf_free(&b);
}
END_TEST

START_TEST(test_model_codec__locator_is_fourteen_little_endian_bytes)
{
	cvl_loc loc = {.seg = 0x01020304, .frame_off = 0x05060708, .frame_len = 0x090A0B0C,
		       .rec_idx = 0x0D0E};
	uint8_t out[CVL_LOC_LEN + 1];
	static const uint8_t want[CVL_LOC_LEN] = {4, 3, 2, 1, 8, 7, 6, 5, 0xC, 0xB, 0xA, 9, 0xE, 0xD};

	ck_assert_uint_eq(CVL_LOC_LEN, 14);
	out[CVL_LOC_LEN] = 0x77;
	cvl_loc_encode(&loc, out);
	ck_assert_int_eq(memcmp(out, want, CVL_LOC_LEN), 0);
	ck_assert_uint_eq(out[CVL_LOC_LEN], 0x77);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("model_codec");
	TCase *tc = tcase_create("model_codec");

	tcase_add_test(tc, test_model_codec__conv_round_trips_every_field);
	tcase_add_test(tc, test_model_codec__conv_absent_fields_decode_as_defaults);
	tcase_add_test(tc, test_model_codec__conv_field_groups_encode_separately);
	tcase_add_test(tc, test_model_codec__conv_encode_fields_writes_only_the_mask);
	tcase_add_test(tc, test_model_codec__conv_overlay_applies_counters_only);
	tcase_add_test(tc, test_model_codec__conv_patch_meta_reads_mask_and_time);
	tcase_add_test(tc, test_model_codec__conv_decode_rejects_malformed_input);
	tcase_add_test(tc, test_model_codec__decoded_long_cursor_name_is_rejected_or_reencoded_safely);
	tcase_add_test(tc, test_model_codec__conv_prepare_accepts_a_full_conversation);
	tcase_add_test(tc, test_model_codec__conv_prepare_rejects_invalid_utf8_with_eutf8);
	tcase_add_test(tc, test_model_codec__conv_prepare_rejects_bad_json_with_ejson);
	tcase_add_test(tc, test_model_codec__conv_prepare_canonicalises_metadata);
	tcase_add_test(tc, test_model_codec__conv_prepare_range_checks_rating);
	tcase_add_test(tc, test_model_codec__conv_prepare_limits_tags);
	tcase_add_test(tc, test_model_codec__conv_prepare_sorts_and_deduplicates_tags);
	tcase_add_test(tc, test_model_codec__conv_prepare_validates_cursors);
	tcase_add_test(tc, test_model_codec__conv_prepare_checks_other_fields);
	tcase_add_test(tc, test_model_codec__status_transitions_follow_the_lifecycle);
	tcase_add_test(tc, test_model_codec__status_names_round_trip);
	tcase_add_test(tc, test_model_codec__msg_round_trips_every_field_including_nul_bytes);
	tcase_add_test(tc, test_model_codec__msg_unknown_usage_differs_from_zero);
	tcase_add_test(tc, test_model_codec__msg_absent_fields_decode_as_absent);
	tcase_add_test(tc, test_model_codec__msg_decode_rejects_malformed_input);
	tcase_add_test(tc, test_model_codec__msg_prepare_accepts_and_canonicalises);
	tcase_add_test(tc, test_model_codec__msg_prepare_requires_a_role);
	tcase_add_test(tc, test_model_codec__msg_prepare_checks_content);
	tcase_add_test(tc, test_model_codec__msg_prepare_reports_each_bad_field);
	tcase_add_test(tc, test_model_codec__msg_peek_body_reads_fields_in_place);
	tcase_add_test(tc, test_model_codec__msg_peek_body_requires_identity_fields);
	tcase_add_test(tc, test_model_codec__msg_summary_round_trips);
	tcase_add_test(tc, test_model_codec__msg_summary_decode_rejects_malformed_input);
	tcase_add_test(tc, test_model_codec__locator_is_fourteen_little_endian_bytes);
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
