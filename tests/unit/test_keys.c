/* lib/meta/keys.c: LMDB key encodings. */
#include <stdint.h>
#include <string.h>
#include <xxhash.h>

#include "meta/keys.h"
#include "meta/lmdb.h"
#include "testutil.h"
#include "util/codec.h"

static void fill(char *s, size_t n, char c)
{
	memset(s, c, n);
	s[n] = '\0';
}

static convlog_uuid uuid_of(uint8_t b)
{
	convlog_uuid u;

	for (int i = 0; i < 16; i++)
		u.bytes[i] = (uint8_t)(b + i);
	return u;
}

START_TEST(test_keys__text_up_to_200_bytes_is_inline)
{
	char s[CVL_KEY_TEXT_INLINE + 2];
	uint8_t out[CVL_KEY_MAX];

	ck_assert_uint_eq(cvl_key_text(out, "", 0), 1);
	ck_assert_uint_eq(out[0], 0);
	ck_assert_uint_eq(cvl_key_text(out, "user-1", 6), 7);
	ck_assert_uint_eq(out[0], 6);
	ck_assert_int_eq(memcmp(out + 1, "user-1", 6), 0);

	fill(s, 200, 'x');
	ck_assert_uint_eq(cvl_key_text(out, s, 200), 201);
	ck_assert_uint_eq(out[0], 200);
	ck_assert_int_eq(memcmp(out + 1, s, 200), 0);
}
END_TEST

START_TEST(test_keys__text_over_200_bytes_is_hashed)
{
	char s[CVL_KEY_TEXT_INLINE + 100];
	uint8_t out[CVL_KEY_MAX], out2[CVL_KEY_MAX];
	XXH128_canonical_t h;

	fill(s, 201, 'x');
	ck_assert_uint_eq(cvl_key_text(out, s, 201), 17);
	ck_assert_uint_eq(out[0], 0xFF);
	XXH128_canonicalFromHash(&h, XXH3_128bits(s, 201));
	ck_assert_int_eq(memcmp(out + 1, h.digest, 16), 0);

	/* deterministic, and sensitive to every byte and the length */
	ck_assert_uint_eq(cvl_key_text(out2, s, 201), 17);
	ck_assert_int_eq(memcmp(out, out2, 17), 0);
	s[150] = 'y';
	cvl_key_text(out2, s, 201);
	ck_assert_int_ne(memcmp(out, out2, 17), 0);
	s[150] = 'x';
	fill(s, 202, 'x');
	cvl_key_text(out2, s, 202);
	ck_assert_int_ne(memcmp(out, out2, 17), 0);
	/* a hashed key can never equal an inline one: 0xFF is not a length */
	ck_assert_uint_gt(0xFF, CVL_KEY_TEXT_INLINE);
}
END_TEST

START_TEST(test_keys__desc_time_round_trips)
{
	static const int64_t ts[] = {0, 1, -1, 1700000000000, -1700000000000, INT64_MAX, INT64_MIN,
				     INT64_MIN + 1, INT64_MAX - 1};
	uint8_t k[8];

	for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
		cvl_key_desc_time(k, ts[i]);
		ck_assert_int_eq(cvl_key_get_desc_time(k), ts[i]);
	}
}
END_TEST

START_TEST(test_keys__desc_time_sorts_newest_first_including_negative)
{
	static const int64_t newest_first[] = {INT64_MAX, 1700000000001, 1700000000000, 1, 0, -1,
					       -2, -1700000000000, INT64_MIN + 1, INT64_MIN};
	size_t n = sizeof(newest_first) / sizeof(newest_first[0]);
	uint64_t seed = 3;

	for (size_t i = 0; i + 1 < n; i++) {
		uint8_t a[8], b[8];
		cvl_key_desc_time(a, newest_first[i]);
		cvl_key_desc_time(b, newest_first[i + 1]);
		ck_assert_msg(memcmp(a, b, 8) < 0, "%lld does not sort before %lld",
			      (long long)newest_first[i], (long long)newest_first[i + 1]);
	}
	for (int i = 0; i < 10000; i++) {
		int64_t x = (int64_t)tu_rand(&seed) >> (i % 40), y = (int64_t)tu_rand(&seed) >> (i % 50);
		uint8_t a[8], b[8];
		cvl_key_desc_time(a, x);
		cvl_key_desc_time(b, y);
		int c = memcmp(a, b, 8);
		ck_assert_int_eq(c < 0, x > y);
		ck_assert_int_eq(c == 0, x == y);
	}
}
END_TEST

START_TEST(test_keys__msg_key_is_conv_then_big_endian_seq)
{
	convlog_uuid c = uuid_of(0x10), d = uuid_of(0x11);
	uint8_t a[20], b[20];

	ck_assert_uint_eq(cvl_key_msg(a, &c, 0x01020304), 20);
	ck_assert_int_eq(memcmp(a, c.bytes, 16), 0);
	ck_assert_uint_eq(a[16], 1);
	ck_assert_uint_eq(a[19], 4);
	/* seq order is numeric order within one conversation */
	cvl_key_msg(a, &c, 255);
	cvl_key_msg(b, &c, 256);
	ck_assert_int_lt(memcmp(a, b, 20), 0);
	cvl_key_msg(a, &c, 1);
	cvl_key_msg(b, &c, CONVLOG_MAX_SEQ);
	ck_assert_int_lt(memcmp(a, b, 20), 0);
	/* and conversations do not interleave */
	cvl_key_msg(a, &c, UINT32_MAX);
	cvl_key_msg(b, &d, 0);
	ck_assert_int_lt(memcmp(a, b, 20), 0);
}
END_TEST

/* Expected key of an index entry: [text] + desc time + id. */
static size_t tt_key(uint8_t *out, const char *text, int64_t t, const convlog_uuid *id)
{
	size_t n = text ? cvl_key_text(out, text, strlen(text)) : 0;

	cvl_key_desc_time(out + n, t);
	memcpy(out + n + 8, id->bytes, 16);
	return n + 24;
}

static void assert_key(const cvl_ikey *k, int table, const uint8_t *want, size_t wlen)
{
	ck_assert_int_eq(k->table, table);
	ck_assert_uint_eq(k->len, wlen);
	ck_assert_int_eq(memcmp(k->k, want, wlen), 0);
}

START_TEST(test_keys__minimal_conversation_has_activity_created_and_status_keys_only)
{
	convlog_conv c;
	cvl_ikeys ks = {0};
	uint8_t want[CVL_KEY_MAX];

	convlog_conv_init(&c);
	c.id = uuid_of(0x40);
	c.status = CONVLOG_STATUS_ACTIVE;
	c.created_at = 10;
	c.last_activity_at = 1234;
	c.device_id = "device-not-indexed";
	c.title = "title-not-indexed";
	c.external_id = "ext-has-its-own-table";
	CK_OK(cvl_conv_index_keys(&c, &ks));
	ck_assert_uint_eq(ks.n, 3);
	assert_key(&ks.v[0], CVL_T_IX_ACT, want, tt_key(want, NULL, 1234, &c.id));
	assert_key(&ks.v[1], CVL_T_IX_CREATED, want, tt_key(want, NULL, 10, &c.id));
	want[0] = CONVLOG_STATUS_ACTIVE;
	cvl_key_desc_time(want + 1, 1234);
	memcpy(want + 9, c.id.bytes, 16);
	assert_key(&ks.v[2], CVL_T_IX_STATUS, want, 25);
	cvl_ikeys_free(&ks);
	ck_assert_ptr_null(ks.v);
	ck_assert_uint_eq(ks.n, 0);
}
END_TEST

START_TEST(test_keys__full_conversation_produces_exactly_the_expected_tables)
{
	convlog_conv c;
	cvl_ikeys ks = {0};
	uint8_t want[CVL_KEY_MAX];
	const char *tags[] = {"alpha", "beta"};

	convlog_conv_init(&c);
	c.id = uuid_of(0x80);
	c.user_id = "u-1";
	c.org_id = "org-9";
	c.session_id = "sess";
	c.initiator_role = "recruiter_twin";
	c.responder_role = "candidate_twin";
	c.tags = tags;
	c.n_tags = 2;
	c.status = CONVLOG_STATUS_ARCHIVED;
	c.parent_id = uuid_of(0x20);
	c.created_at = -50;
	c.last_activity_at = 777;
	CK_OK(cvl_conv_index_keys(&c, &ks));

	ck_assert_uint_eq(ks.n, 14);
	assert_key(&ks.v[0], CVL_T_IX_ACT, want, tt_key(want, NULL, 777, &c.id));
	assert_key(&ks.v[1], CVL_T_IX_USER, want, tt_key(want, "u-1", 777, &c.id));
	assert_key(&ks.v[2], CVL_T_IX_ORG, want, tt_key(want, "org-9", 777, &c.id));
	assert_key(&ks.v[3], CVL_T_IX_SESSION, want, tt_key(want, "sess", 777, &c.id));
	assert_key(&ks.v[4], CVL_T_IX_TAG, want, tt_key(want, "alpha", 777, &c.id));
	assert_key(&ks.v[5], CVL_T_IX_TAG, want, tt_key(want, "beta", 777, &c.id));
	/* creation-ordered listings, and agent roles (by creation only) */
	assert_key(&ks.v[6], CVL_T_IX_CREATED, want, tt_key(want, NULL, -50, &c.id));
	assert_key(&ks.v[7], CVL_T_IX_USER_CREATED, want, tt_key(want, "u-1", -50, &c.id));
	assert_key(&ks.v[8], CVL_T_IX_ORG_CREATED, want, tt_key(want, "org-9", -50, &c.id));
	assert_key(&ks.v[9], CVL_T_IX_SESSION_CREATED, want, tt_key(want, "sess", -50, &c.id));
	assert_key(&ks.v[10], CVL_T_IX_IROLE, want, tt_key(want, "recruiter_twin", -50, &c.id));
	assert_key(&ks.v[11], CVL_T_IX_RROLE, want, tt_key(want, "candidate_twin", -50, &c.id));
	want[0] = CONVLOG_STATUS_ARCHIVED;
	cvl_key_desc_time(want + 1, 777);
	memcpy(want + 9, c.id.bytes, 16);
	assert_key(&ks.v[12], CVL_T_IX_STATUS, want, 25);
	memcpy(want, c.parent_id.bytes, 16);
	cvl_key_desc_time(want + 16, 777);
	memcpy(want + 24, c.id.bytes, 16);
	assert_key(&ks.v[13], CVL_T_IX_PARENT, want, 40);

	/* reusing the list replaces its contents */
	convlog_conv m;
	convlog_conv_init(&m);
	m.id = c.id;
	m.status = CONVLOG_STATUS_ACTIVE;
	CK_OK(cvl_conv_index_keys(&m, &ks));
	ck_assert_uint_eq(ks.n, 3);
	cvl_ikeys_free(&ks);
}
END_TEST

START_TEST(test_keys__many_tags_and_long_texts_fit_their_keys)
{
	convlog_conv c;
	cvl_ikeys ks = {0};
	static char texts[CONVLOG_MAX_TAGS][CONVLOG_MAX_TAG + 1];
	const char *tags[CONVLOG_MAX_TAGS];
	char user[CONVLOG_MAX_SHORT_TEXT + 1];

	for (unsigned i = 0; i < CONVLOG_MAX_TAGS; i++) {
		fill(texts[i], i % 2 ? CONVLOG_MAX_TAG : 200, 'a');
		texts[i][0] = (char)('0' + i % 10);
		texts[i][1] = (char)('0' + i / 10 % 10);
		texts[i][2] = (char)('0' + i / 100);
		tags[i] = texts[i];
	}
	fill(user, CONVLOG_MAX_SHORT_TEXT, 'u');
	convlog_conv_init(&c);
	c.id = uuid_of(1);
	c.user_id = user;
	c.tags = tags;
	c.n_tags = CONVLOG_MAX_TAGS;
	CK_OK(cvl_conv_index_keys(&c, &ks));
	/* activity, user, tags, created, user created, status */
	ck_assert_uint_eq(ks.n, 1 + 1 + CONVLOG_MAX_TAGS + 2 + 1);
	ck_assert_int_eq(ks.v[1].table, CVL_T_IX_USER);
	ck_assert_uint_eq(ks.v[1].len, 17 + 24); /* hashed */
	for (unsigned i = 0; i < CONVLOG_MAX_TAGS; i++) {
		const cvl_ikey *k = &ks.v[2 + i];
		ck_assert_int_eq(k->table, CVL_T_IX_TAG);
		ck_assert_uint_eq(k->len, i % 2 ? 17 + 24 : 201 + 24);
		ck_assert_int_eq(memcmp(k->k + k->len - 16, c.id.bytes, 16), 0);
	}
	cvl_ikeys_free(&ks);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("keys");
	TCase *tc = tcase_create("keys");

	tcase_add_test(tc, test_keys__text_up_to_200_bytes_is_inline);
	tcase_add_test(tc, test_keys__text_over_200_bytes_is_hashed);
	tcase_add_test(tc, test_keys__desc_time_round_trips);
	tcase_add_test(tc, test_keys__desc_time_sorts_newest_first_including_negative);
	tcase_add_test(tc, test_keys__msg_key_is_conv_then_big_endian_seq);
	tcase_add_test(tc, test_keys__minimal_conversation_has_activity_created_and_status_keys_only);
	tcase_add_test(tc, test_keys__full_conversation_produces_exactly_the_expected_tables);
	tcase_add_test(tc, test_keys__many_tags_and_long_texts_fit_their_keys);
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
