/* lib/util/text.c: UTF-8 validation and canonical JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "util/alloc.h"
#include "util/text.h"

/* 0 if valid; else -1 with the reported offset in *bad. */
static int check(const char *s, size_t n, size_t *bad)
{
	*bad = (size_t)-1;
	return cvl_utf8_check(s, n, bad);
}

#define ASSERT_VALID(lit)                                                                 \
	do {                                                                              \
		size_t _bad;                                                              \
		ck_assert_msg(check(lit, sizeof(lit) - 1, &_bad) == 0,                    \
			      "%s should be valid UTF-8 (bad at %zu)", #lit, _bad);       \
	} while (0)

#define ASSERT_INVALID_AT(lit, at)                                                        \
	do {                                                                              \
		size_t _bad;                                                              \
		ck_assert_msg(check(lit, sizeof(lit) - 1, &_bad) == -1,                   \
			      "%s should be invalid UTF-8", #lit);                        \
		ck_assert_msg(_bad == (size_t)(at), "%s: bad offset %zu, expected %zu",   \
			      #lit, _bad, (size_t)(at));                                  \
	} while (0)

/* Encodes code point cp (assumed valid) into out; returns its length. */
static size_t enc(uint32_t cp, char *out)
{
	unsigned char *o = (unsigned char *)out;

	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | cp >> 6);
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xE0 | cp >> 12);
		o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (unsigned char)(0xF0 | cp >> 18);
	o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
	o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
	o[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

START_TEST(test_text__ascii_and_empty_are_valid)
{
	size_t bad;

	ck_assert_int_eq(check("", 0, &bad), 0);
	ck_assert_int_eq(check(NULL, 0, &bad), 0);
	ASSERT_VALID("hello, world");
	ASSERT_VALID("a much longer ascii string that crosses several eight-byte words");
	/* U+0000 is a valid code point: content may carry NUL bytes */
	ASSERT_VALID("a\0b\0\0c");
}
END_TEST

START_TEST(test_text__multibyte_cjk_and_emoji_are_valid)
{
	ASSERT_VALID("caf\xc3\xa9");                     /* é, 2 bytes */
	ASSERT_VALID("\xc2\x80");                        /* U+0080, smallest 2-byte */
	ASSERT_VALID("\xdf\xbf");                        /* U+07FF */
	ASSERT_VALID("\xe0\xa0\x80");                    /* U+0800, smallest 3-byte */
	ASSERT_VALID("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"); /* 日本語 */
	ASSERT_VALID("\xed\x9f\xbf");                    /* U+D7FF, just below surrogates */
	ASSERT_VALID("\xee\x80\x80");                    /* U+E000, just above */
	ASSERT_VALID("\xef\xbf\xbd");                    /* U+FFFD */
	ASSERT_VALID("\xf0\x90\x80\x80");                /* U+10000, smallest 4-byte */
	ASSERT_VALID("\xf0\x9f\x98\x80");                /* 😀 */
	ASSERT_VALID("\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb"); /* ZWJ sequence */
	ASSERT_VALID("\xf4\x8f\xbf\xbf");                /* U+10FFFF, the largest */
	ASSERT_VALID("mixed \xe4\xbd\xa0\xe5\xa5\xbd and \xf0\x9f\x8e\x89 with ascii in between!");
}
END_TEST

START_TEST(test_text__overlong_encodings_are_rejected)
{
	ASSERT_INVALID_AT("\xc0\x80", 0);          /* overlong NUL */
	ASSERT_INVALID_AT("\xc0\xaf", 0);          /* overlong '/' */
	ASSERT_INVALID_AT("\xc1\xbf", 0);
	ASSERT_INVALID_AT("\xe0\x80\x80", 0);
	ASSERT_INVALID_AT("\xe0\x9f\xbf", 0);      /* U+07FF in 3 bytes */
	ASSERT_INVALID_AT("\xf0\x80\x80\x80", 0);
	ASSERT_INVALID_AT("\xf0\x8f\xbf\xbf", 0);  /* U+FFFF in 4 bytes */
	ASSERT_INVALID_AT("ab\xc0\xafz", 2);
}
END_TEST

START_TEST(test_text__surrogates_are_rejected)
{
	ASSERT_INVALID_AT("\xed\xa0\x80", 0);      /* U+D800 */
	ASSERT_INVALID_AT("\xed\xaf\xbf", 0);      /* U+DBFF */
	ASSERT_INVALID_AT("\xed\xb0\x80", 0);      /* U+DC00 */
	ASSERT_INVALID_AT("\xed\xbf\xbf", 0);      /* U+DFFF */
	/* a CESU-8 style encoded pair of surrogates for U+1F600 */
	ASSERT_INVALID_AT("ok \xed\xa0\xbd\xed\xb8\x80", 3);
}
END_TEST

START_TEST(test_text__code_points_beyond_10ffff_are_rejected)
{
	ASSERT_INVALID_AT("\xf4\x90\x80\x80", 0);  /* U+110000 */
	ASSERT_INVALID_AT("\xf5\x80\x80\x80", 0);
	ASSERT_INVALID_AT("\xf7\xbf\xbf\xbf", 0);
	ASSERT_INVALID_AT("\xf8\x88\x80\x80\x80", 0); /* old 5-byte form */
	ASSERT_INVALID_AT("\xfc\x84\x80\x80\x80\x80", 0);
	ASSERT_INVALID_AT("\xfe", 0);
	ASSERT_INVALID_AT("x\xff", 1);
}
END_TEST

START_TEST(test_text__stray_and_missing_continuation_bytes_are_rejected)
{
	ASSERT_INVALID_AT("\x80", 0);
	ASSERT_INVALID_AT("abc\xbf", 3);
	ASSERT_INVALID_AT("\xc3\x41", 0);          /* lead byte then ASCII */
	ASSERT_INVALID_AT("\xe6\x97\x41", 0);
	ASSERT_INVALID_AT("\xf0\x9f\x98\x41", 0);
	/* a valid char followed by an extra continuation byte */
	ASSERT_INVALID_AT("\xc3\xa9\xa9", 2);
}
END_TEST

START_TEST(test_text__sequences_truncated_at_the_end_are_rejected)
{
	ASSERT_INVALID_AT("abc\xc3", 3);
	ASSERT_INVALID_AT("abcdefghij\xe6\x97", 10);
	ASSERT_INVALID_AT("\xe6", 0);
	ASSERT_INVALID_AT("\xf0\x9f\x98", 0);
	ASSERT_INVALID_AT("0123456789abcdef\xf0\x9f", 16);

	/* the length bounds the check: a valid sequence cut by n is invalid
	 * even when the bytes after n would complete it */
	const char *emoji = "xy\xf0\x9f\x98\x80";
	size_t bad;
	for (size_t n = 3; n < 6; n++) {
		ck_assert_int_eq(check(emoji, n, &bad), -1);
		ck_assert_uint_eq(bad, 2);
	}
	ck_assert_int_eq(check(emoji, 6, &bad), 0);
}
END_TEST

START_TEST(test_text__offset_is_first_bad_byte_after_long_valid_prefix)
{
	uint64_t seed = 42;
	char *buf = malloc(64 * 1024);

	ck_assert_ptr_nonnull(buf);
	for (int round = 0; round < 200; round++) {
		size_t n = 0, bad;
		int chars = (int)(tu_rand(&seed) % 400) + 1;
		int bad_at = (int)(tu_rand(&seed) % (uint64_t)chars);
		for (int i = 0; i < chars; i++) {
			uint32_t cp;
			switch (tu_rand(&seed) % 4) {
			case 0: cp = 0x20 + (uint32_t)(tu_rand(&seed) % 0x5f); break;
			case 1: cp = 0x80 + (uint32_t)(tu_rand(&seed) % 0x780); break;
			case 2:
				cp = 0x800 + (uint32_t)(tu_rand(&seed) % 0xF800);
				if (cp >= 0xD800 && cp <= 0xDFFF)
					cp = 0x4E2D;
				break;
			default: cp = 0x10000 + (uint32_t)(tu_rand(&seed) % 0x100000); break;
			}
			n += enc(cp, buf + n);
		}
		ck_assert_int_eq(check(buf, n, &bad), 0);
		/* byte offset of character bad_at */
		size_t pos = 0;
		for (int i = 0; i < bad_at; i++) {
			unsigned char c = (unsigned char)buf[pos];
			pos += c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
		}
		char saved = buf[pos];
		buf[pos] = (char)0xFF;
		ck_assert_int_eq(check(buf, n, &bad), -1);
		ck_assert_uint_eq(bad, pos);
		buf[pos] = saved;
	}
	free(buf);
}
END_TEST

/* ---- JSON ---- */

static int canon(const char *in, int kind, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	return cvl_json_canon(in, strlen(in), kind, "metadata", out, len);
}

#define ASSERT_CANON(in, kind, expect)                                                    \
	do {                                                                              \
		char *_o;                                                                 \
		size_t _l;                                                                \
		CK_OK(canon(in, kind, &_o, &_l));                                         \
		ck_assert_str_eq(_o, expect);                                             \
		ck_assert_uint_eq(_l, strlen(expect));                                    \
		cvl_free(_o);                                                             \
	} while (0)

START_TEST(test_text__json_canon_is_compact_and_keeps_key_order)
{
	ASSERT_CANON("{ \"b\" : 1,\n\t\"a\" : [ 1 , 2.5, true, false, null, {\"z\":{}} ] }",
		     CVL_JSON_OBJECT, "{\"b\":1,\"a\":[1,2.5,true,false,null,{\"z\":{}}]}");
	ASSERT_CANON("{\"z\":1,\"y\":2,\"x\":3,\"a\":4}", CVL_JSON_OBJECT,
		     "{\"z\":1,\"y\":2,\"x\":3,\"a\":4}");
	ASSERT_CANON("{}", CVL_JSON_OBJECT, "{}");
	ASSERT_CANON("  {\"s\":\"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80\"}  ",
		     CVL_JSON_OBJECT, "{\"s\":\"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80\"}");
}
END_TEST

START_TEST(test_text__json_canon_is_idempotent)
{
	const char *in = "{\"k\": [1, {\"n\": \"v\\n\\\"q\\\"\"}, -0.5e3], \"e\": \"\\u00e9\"}";
	char *a, *b;
	size_t al, bl;

	CK_OK(canon(in, CVL_JSON_OBJECT, &a, &al));
	CK_OK(canon(a, CVL_JSON_OBJECT, &b, &bl));
	ck_assert_str_eq(a, b);
	ck_assert_uint_eq(al, bl);
	ck_assert_ptr_null(strchr(a, ' '));
	cvl_free(a);
	cvl_free(b);
}
END_TEST

START_TEST(test_text__json_duplicate_keys_are_rejected)
{
	char *o;
	size_t l;

	CK_ERR(canon("{\"a\":1,\"a\":2}", CVL_JSON_OBJECT, &o, &l), CONVLOG_EJSON);
	ck_assert_ptr_null(o);
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "duplicate"));
	/* nested duplicates too */
	CK_ERR(canon("{\"x\":{\"b\":1,\"c\":2,\"b\":3}}", CVL_JSON_OBJECT, &o, &l), CONVLOG_EJSON);
	/* the same key in sibling objects is fine */
	ASSERT_CANON("{\"x\":{\"a\":1},\"y\":{\"a\":2}}", CVL_JSON_OBJECT,
		     "{\"x\":{\"a\":1},\"y\":{\"a\":2}}");
}
END_TEST

START_TEST(test_text__json_non_object_is_rejected_in_object_mode)
{
	static const char *non_objects[] = {"[1,2]", "\"str\"", "42", "true", "null", "[]"};
	char *o;
	size_t l;

	for (size_t i = 0; i < sizeof(non_objects) / sizeof(non_objects[0]); i++) {
		CK_ERR(canon(non_objects[i], CVL_JSON_OBJECT, &o, &l), CONVLOG_EJSON);
		ck_assert_ptr_null(o);
	}
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "metadata"));
	/* and accepted in any mode */
	ASSERT_CANON("[ 1, 2 ]", CVL_JSON_ANY, "[1,2]");
	ASSERT_CANON(" \"str\" ", CVL_JSON_ANY, "\"str\"");
	ASSERT_CANON("42", CVL_JSON_ANY, "42");
	ASSERT_CANON("null", CVL_JSON_ANY, "null");
	ASSERT_CANON("{\"a\" : 1}", CVL_JSON_ANY, "{\"a\":1}");
}
END_TEST

START_TEST(test_text__json_deep_nesting_round_trips)
{
	char in[2 * 200 + 16], expect[2 * 200 + 16];
	size_t n = 0;

	for (int i = 0; i < 100; i++)
		in[n++] = '[';
	in[n++] = '7';
	for (int i = 0; i < 100; i++)
		in[n++] = ']';
	in[n] = '\0';
	memcpy(expect, in, n + 1);
	ASSERT_CANON(in, CVL_JSON_ANY, expect);
	ASSERT_CANON("{\"a\":{\"b\":{\"c\":[{\"d\":[[],{}]}]}}}", CVL_JSON_OBJECT,
		     "{\"a\":{\"b\":{\"c\":[{\"d\":[[],{}]}]}}}");
}
END_TEST

START_TEST(test_text__json_integers_beyond_int64_are_rejected)
{
	char *o;
	size_t l;

	ASSERT_CANON("{\"a\": 9223372036854775807}", CVL_JSON_OBJECT,
		     "{\"a\":9223372036854775807}");
	ASSERT_CANON("{\"a\": -9223372036854775808}", CVL_JSON_OBJECT,
		     "{\"a\":-9223372036854775808}");
	CK_ERR(canon("{\"a\": 9223372036854775808}", CVL_JSON_OBJECT, &o, &l), CONVLOG_EJSON);
	CK_ERR(canon("{\"a\": -9223372036854775809}", CVL_JSON_OBJECT, &o, &l), CONVLOG_EJSON);
	CK_ERR(canon("{\"a\": 123456789012345678901234567890}", CVL_JSON_OBJECT, &o, &l),
	       CONVLOG_EJSON);
	CK_ERR(canon("[18446744073709551616]", CVL_JSON_ANY, &o, &l), CONVLOG_EJSON);
}
END_TEST

START_TEST(test_text__json_escaped_nul_is_allowed)
{
	char *o;
	size_t l;

	CK_OK(canon("{\"a\":\"x\\u0000y\"}", CVL_JSON_OBJECT, &o, &l));
	/* stays escaped, so the output is still a C string of its full length */
	ck_assert_str_eq(o, "{\"a\":\"x\\u0000y\"}");
	ck_assert_uint_eq(strlen(o), l);
	cvl_free(o);
	ASSERT_CANON("[\"\\u0000\", \"a\\u0000\\u0000\"]", CVL_JSON_ANY,
		     "[\"\\u0000\",\"a\\u0000\\u0000\"]");
}
END_TEST

START_TEST(test_text__json_error_message_has_line_and_column)
{
	char *o;
	size_t l;

	CK_ERR(canon("{\n  \"a\": }", CVL_JSON_OBJECT, &o, &l), CONVLOG_EJSON);
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "metadata"));
	ck_assert_msg(strstr(convlog_errmsg(), "line 2 column 8") != NULL, "message: %s",
		      convlog_errmsg());
	CK_ERR(canon("{\"a\":1}\n\n   ,", CVL_JSON_OBJECT, &o, &l), CONVLOG_EJSON);
	ck_assert_msg(strstr(convlog_errmsg(), "line 3 column 4") != NULL, "message: %s",
		      convlog_errmsg());
	/* the field name given by the caller prefixes the message */
	CK_ERR(cvl_json_canon("{", 1, CVL_JSON_OBJECT, "tool_calls", &o, &l), CONVLOG_EJSON);
	ck_assert_int_eq(strncmp(convlog_errmsg(), "tool_calls:", 11), 0);
}
END_TEST

START_TEST(test_text__json_malformed_inputs_are_rejected)
{
	static const char *bad[] = {
		"", "{", "}", "{\"a\"}", "{\"a\":}", "{a:1}", "{'a':1}", "{\"a\":1,}",
		"{\"a\":1} x", "{\"a\":01}", "{\"a\":NaN}", "{\"a\":1e400}", "{\"a\":\"\\q\"}",
		"{\"a\":\"unterminated}", "{\"a\":\"\\ud800\"}", "{\"a\":[1,2}",
	};
	char *o;
	size_t l;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = canon(bad[i], CVL_JSON_OBJECT, &o, &l);
		ck_assert_msg(rc == CONVLOG_EJSON, "'%s' -> %d", bad[i], rc);
		ck_assert_ptr_null(o);
	}
}
END_TEST

START_TEST(test_text__json_length_bounds_the_input)
{
	const char *in = "{\"a\":1}garbage";
	char *o = NULL;
	size_t l = 0;

	CK_OK(cvl_json_canon(in, 7, CVL_JSON_OBJECT, "metadata", &o, &l));
	ck_assert_str_eq(o, "{\"a\":1}");
	cvl_free(o);
	CK_ERR(cvl_json_canon(in, 6, CVL_JSON_OBJECT, "metadata", &o, &l), CONVLOG_EJSON);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("text");
	TCase *tc = tcase_create("text");

	tcase_add_test(tc, test_text__ascii_and_empty_are_valid);
	tcase_add_test(tc, test_text__multibyte_cjk_and_emoji_are_valid);
	tcase_add_test(tc, test_text__overlong_encodings_are_rejected);
	tcase_add_test(tc, test_text__surrogates_are_rejected);
	tcase_add_test(tc, test_text__code_points_beyond_10ffff_are_rejected);
	tcase_add_test(tc, test_text__stray_and_missing_continuation_bytes_are_rejected);
	tcase_add_test(tc, test_text__sequences_truncated_at_the_end_are_rejected);
	tcase_add_test(tc, test_text__offset_is_first_bad_byte_after_long_valid_prefix);
	tcase_add_test(tc, test_text__json_canon_is_compact_and_keeps_key_order);
	tcase_add_test(tc, test_text__json_canon_is_idempotent);
	tcase_add_test(tc, test_text__json_duplicate_keys_are_rejected);
	tcase_add_test(tc, test_text__json_non_object_is_rejected_in_object_mode);
	tcase_add_test(tc, test_text__json_deep_nesting_round_trips);
	tcase_add_test(tc, test_text__json_integers_beyond_int64_are_rejected);
	tcase_add_test(tc, test_text__json_escaped_nul_is_allowed);
	tcase_add_test(tc, test_text__json_error_message_has_line_and_column);
	tcase_add_test(tc, test_text__json_malformed_inputs_are_rejected);
	tcase_add_test(tc, test_text__json_length_bounds_the_input);
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
