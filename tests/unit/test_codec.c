/* lib/util/codec.h (varints, zigzag, fixed-width LE/BE, sortable i64) and
 * lib/util/buf.c (growable buffer with a hard cap). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/codec.h"

static const uint64_t varint_cases[] = {
	0,
	1,
	0x7f,
	0x80,
	0x3fff,
	0x4000,
	0x1fffff,
	0x200000,
	UINT64_C(0xffffffff),
	UINT64_C(0x100000000),
	UINT64_C(0x7fffffffffffffff),
	UINT64_C(0x8000000000000000),
	UINT64_MAX,
};

/* Expected LEB128 length: one byte per started group of 7 bits. */
static size_t expected_varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >>= 7)
		n++;
	return n;
}

START_TEST(test_codec__varint_round_trips_at_group_boundaries)
{
	for (size_t i = 0; i < sizeof(varint_cases) / sizeof(varint_cases[0]); i++) {
		uint8_t buf[CVL_VARINT_MAX + 4];
		uint64_t v = varint_cases[i], got = 0;
		const uint8_t *p = buf;

		memset(buf, 0xAA, sizeof(buf));
		size_t n = cvl_varint_put(buf, v);
		ck_assert_uint_eq(n, expected_varint_len(v));
		ck_assert_uint_eq(n, cvl_varint_len(v));
		ck_assert_uint_le(n, CVL_VARINT_MAX);
		/* the byte after the varint is untouched */
		ck_assert_uint_eq(buf[n], 0xAA);
		/* continuation bits: all but the last byte have the top bit */
		for (size_t k = 0; k + 1 < n; k++)
			ck_assert_uint_ne(buf[k] & 0x80, 0);
		ck_assert_uint_eq(buf[n - 1] & 0x80, 0);
		ck_assert_int_eq(cvl_varint_get(&p, buf + n, &got), 0);
		ck_assert_uint_eq(got, v);
		ck_assert_ptr_eq(p, buf + n);
	}
}
END_TEST

START_TEST(test_codec__varint_known_encodings)
{
	uint8_t buf[CVL_VARINT_MAX];

	ck_assert_uint_eq(cvl_varint_put(buf, 300), 2);
	ck_assert_uint_eq(buf[0], 0xAC);
	ck_assert_uint_eq(buf[1], 0x02);
	ck_assert_uint_eq(cvl_varint_put(buf, UINT64_MAX), 10);
	for (int i = 0; i < 9; i++)
		ck_assert_uint_eq(buf[i], 0xFF);
	ck_assert_uint_eq(buf[9], 0x01);
}
END_TEST

START_TEST(test_codec__varint_random_values_round_trip_back_to_back)
{
	uint64_t seed = 0x1234567;
	uint64_t vals[500];
	uint8_t buf[500 * CVL_VARINT_MAX];
	size_t off = 0;

	for (int i = 0; i < 500; i++) {
		/* vary magnitude so every length appears */
		vals[i] = tu_rand(&seed) >> (tu_rand(&seed) % 64);
		off += cvl_varint_put(buf + off, vals[i]);
	}
	const uint8_t *p = buf, *end = buf + off;
	for (int i = 0; i < 500; i++) {
		uint64_t got;
		ck_assert_int_eq(cvl_varint_get(&p, end, &got), 0);
		ck_assert_uint_eq(got, vals[i]);
	}
	ck_assert_ptr_eq(p, end);
}
END_TEST

START_TEST(test_codec__truncated_varint_is_rejected_without_advancing)
{
	uint8_t buf[CVL_VARINT_MAX];
	size_t n = cvl_varint_put(buf, UINT64_C(1) << 40);

	for (size_t cut = 0; cut < n; cut++) {
		const uint8_t *p = buf;
		uint64_t got = 777;
		ck_assert_int_eq(cvl_varint_get(&p, buf + cut, &got), -1);
		ck_assert_ptr_eq(p, buf);
		ck_assert_uint_eq(got, 777);
	}
}
END_TEST

START_TEST(test_codec__varint_longer_than_ten_bytes_is_rejected)
{
	uint8_t buf[12];
	const uint8_t *p = buf;
	uint64_t got;

	memset(buf, 0x80, 11);
	buf[11] = 0x00;
	ck_assert_int_eq(cvl_varint_get(&p, buf + sizeof(buf), &got), -1);
	ck_assert_ptr_eq(p, buf);
}
END_TEST

START_TEST(test_codec__varint_overflowing_64_bits_is_rejected)
{
	uint8_t buf[10];
	const uint8_t *p = buf;
	uint64_t got;

	/* nine full groups then a tenth byte carrying bit 64 */
	memset(buf, 0xFF, 9);
	buf[9] = 0x02;
	ck_assert_int_eq(cvl_varint_get(&p, buf + 10, &got), -1);
	buf[9] = 0x01; /* exactly UINT64_MAX is fine */
	p = buf;
	ck_assert_int_eq(cvl_varint_get(&p, buf + 10, &got), 0);
	ck_assert_uint_eq(got, UINT64_MAX);
}
END_TEST

START_TEST(test_codec__zigzag_maps_small_magnitudes_to_small_values)
{
	ck_assert_uint_eq(cvl_zigzag(0), 0);
	ck_assert_uint_eq(cvl_zigzag(-1), 1);
	ck_assert_uint_eq(cvl_zigzag(1), 2);
	ck_assert_uint_eq(cvl_zigzag(-2), 3);
	ck_assert_uint_eq(cvl_zigzag(2), 4);
	ck_assert_uint_eq(cvl_zigzag(INT64_MAX), UINT64_MAX - 1);
	ck_assert_uint_eq(cvl_zigzag(INT64_MIN), UINT64_MAX);
}
END_TEST

START_TEST(test_codec__zigzag_round_trips)
{
	static const int64_t fixed[] = {0, 1, -1, 63, -64, 64, -65, INT32_MAX, INT32_MIN,
					INT64_MAX, INT64_MIN, INT64_MIN + 1};
	uint64_t seed = 99;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		ck_assert_int_eq(cvl_unzigzag(cvl_zigzag(fixed[i])), fixed[i]);
	for (int i = 0; i < 10000; i++) {
		int64_t v = (int64_t)tu_rand(&seed);
		ck_assert_int_eq(cvl_unzigzag(cvl_zigzag(v)), v);
	}
}
END_TEST

START_TEST(test_codec__little_endian_byte_layout)
{
	uint8_t b[8];

	cvl_put_u16le(b, 0x1234);
	ck_assert_uint_eq(b[0], 0x34);
	ck_assert_uint_eq(b[1], 0x12);
	ck_assert_uint_eq(cvl_get_u16le(b), 0x1234);

	cvl_put_u32le(b, 0xA1B2C3D4u);
	ck_assert_uint_eq(b[0], 0xD4);
	ck_assert_uint_eq(b[1], 0xC3);
	ck_assert_uint_eq(b[2], 0xB2);
	ck_assert_uint_eq(b[3], 0xA1);
	ck_assert_uint_eq(cvl_get_u32le(b), 0xA1B2C3D4u);

	cvl_put_u64le(b, UINT64_C(0x0102030405060708));
	for (int i = 0; i < 8; i++)
		ck_assert_uint_eq(b[i], 8 - i);
	ck_assert_uint_eq(cvl_get_u64le(b), UINT64_C(0x0102030405060708));

	/* high bits survive (no sign extension through int promotion) */
	cvl_put_u64le(b, UINT64_MAX);
	ck_assert_uint_eq(cvl_get_u64le(b), UINT64_MAX);
	cvl_put_u32le(b, 0xFFFFFFFFu);
	ck_assert_uint_eq(cvl_get_u32le(b), 0xFFFFFFFFu);
	cvl_put_u16le(b, 0xFFFF);
	ck_assert_uint_eq(cvl_get_u16le(b), 0xFFFF);
}
END_TEST

START_TEST(test_codec__big_endian_byte_layout)
{
	uint8_t b[8];

	cvl_put_u32be(b, 0xA1B2C3D4u);
	ck_assert_uint_eq(b[0], 0xA1);
	ck_assert_uint_eq(b[1], 0xB2);
	ck_assert_uint_eq(b[2], 0xC3);
	ck_assert_uint_eq(b[3], 0xD4);
	ck_assert_uint_eq(cvl_get_u32be(b), 0xA1B2C3D4u);

	cvl_put_u64be(b, UINT64_C(0x0102030405060708));
	for (int i = 0; i < 8; i++)
		ck_assert_uint_eq(b[i], i + 1);
	ck_assert_uint_eq(cvl_get_u64be(b), UINT64_C(0x0102030405060708));
	cvl_put_u64be(b, UINT64_MAX - 1);
	ck_assert_uint_eq(cvl_get_u64be(b), UINT64_MAX - 1);
}
END_TEST

START_TEST(test_codec__big_endian_memcmp_order_matches_numeric_order)
{
	uint64_t seed = 5;

	for (int i = 0; i < 10000; i++) {
		uint64_t a = tu_rand(&seed), c = tu_rand(&seed);
		uint8_t ba[8], bc[8];
		if (i % 3 == 0)
			c = a + (i % 2 ? 1 : 0); /* near and equal values */
		cvl_put_u64be(ba, a);
		cvl_put_u64be(bc, c);
		int m = memcmp(ba, bc, 8);
		ck_assert_int_eq(m < 0, a < c);
		ck_assert_int_eq(m == 0, a == c);
	}
}
END_TEST

START_TEST(test_codec__sortable_i64_preserves_signed_order)
{
	static const int64_t ordered[] = {INT64_MIN, INT64_MIN + 1, -1000000, -2, -1,
					  0, 1, 2, 1000000, INT64_MAX - 1, INT64_MAX};
	size_t n = sizeof(ordered) / sizeof(ordered[0]);
	uint64_t seed = 77;

	for (size_t i = 0; i + 1 < n; i++) {
		uint8_t a[8], b[8];
		ck_assert_uint_lt(cvl_i64_sortable(ordered[i]), cvl_i64_sortable(ordered[i + 1]));
		cvl_put_u64be(a, cvl_i64_sortable(ordered[i]));
		cvl_put_u64be(b, cvl_i64_sortable(ordered[i + 1]));
		ck_assert_int_lt(memcmp(a, b, 8), 0);
	}
	ck_assert_uint_eq(cvl_i64_sortable(INT64_MIN), 0);
	ck_assert_uint_eq(cvl_i64_sortable(INT64_MAX), UINT64_MAX);
	for (int i = 0; i < 10000; i++) {
		int64_t x = (int64_t)tu_rand(&seed), y = (int64_t)tu_rand(&seed);
		ck_assert_int_eq(cvl_i64_sortable(x) < cvl_i64_sortable(y), x < y);
		ck_assert_int_eq(cvl_i64_from_sortable(cvl_i64_sortable(x)), x);
	}
}
END_TEST

/* ---- cvl_buf ---- */

START_TEST(test_codec__buf_append_past_its_cap_is_etoobig_and_keeps_contents)
{
	cvl_buf b;

	cvl_buf_init(&b, 10);
	CK_OK(cvl_buf_append(&b, "0123456789", 10));
	ck_assert_uint_eq(b.len, 10);
	CK_ERR(cvl_buf_append(&b, "x", 1), CONVLOG_ETOOBIG);
	ck_assert_uint_eq(b.len, 10);
	ck_assert_int_eq(memcmp(b.p, "0123456789", 10), 0);
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "10 bytes"));
	CK_ERR(cvl_buf_put_u8(&b, 1), CONVLOG_ETOOBIG);
	CK_ERR(cvl_buf_put_varint(&b, 1), CONVLOG_ETOOBIG);
	CK_ERR(cvl_buf_put_u32le(&b, 1), CONVLOG_ETOOBIG);
	CK_ERR(cvl_buf_put_u64le(&b, 1), CONVLOG_ETOOBIG);
	ck_assert_uint_eq(b.len, 10);
	/* an empty append still fits */
	CK_OK(cvl_buf_append(&b, NULL, 0));
	cvl_buf_free(&b);
}
END_TEST

START_TEST(test_codec__buf_reserve_huge_does_not_overflow)
{
	cvl_buf b;

	cvl_buf_init(&b, 100);
	CK_OK(cvl_buf_append(&b, "abc", 3));
	CK_ERR(cvl_buf_reserve(&b, SIZE_MAX), CONVLOG_ETOOBIG);
	CK_ERR(cvl_buf_reserve(&b, SIZE_MAX - 1), CONVLOG_ETOOBIG);
	CK_ERR(cvl_buf_reserve(&b, 98), CONVLOG_ETOOBIG);
	CK_OK(cvl_buf_reserve(&b, 97));
	ck_assert_uint_ge(b.cap, 100);
	ck_assert_uint_eq(b.len, 3);
	cvl_buf_free(&b);

	/* unlimited buffer: SIZE_MAX still cannot fit next to 3 bytes */
	cvl_buf_init(&b, 0);
	ck_assert_uint_eq(b.max, SIZE_MAX);
	CK_OK(cvl_buf_append(&b, "abc", 3));
	CK_ERR(cvl_buf_reserve(&b, SIZE_MAX - 1), CONVLOG_ETOOBIG);
	cvl_buf_free(&b);
}
END_TEST

START_TEST(test_codec__buf_capacity_never_exceeds_its_max)
{
	cvl_buf b;
	uint8_t chunk[100];

	memset(chunk, 7, sizeof(chunk));
	cvl_buf_init(&b, 300);
	for (int i = 0; i < 3; i++) {
		CK_OK(cvl_buf_append(&b, chunk, sizeof(chunk)));
		ck_assert_uint_le(b.cap, 300);
		ck_assert_uint_ge(b.cap, b.len);
	}
	ck_assert_uint_eq(b.len, 300);
	CK_ERR(cvl_buf_put_u8(&b, 0), CONVLOG_ETOOBIG);
	cvl_buf_free(&b);
}
END_TEST

START_TEST(test_codec__buf_put_helpers_write_the_codec_encodings)
{
	cvl_buf b;

	cvl_buf_init(&b, 0);
	CK_OK(cvl_buf_put_u8(&b, 0xEE));
	CK_OK(cvl_buf_put_varint(&b, 300));
	CK_OK(cvl_buf_put_u32le(&b, 0x11223344u));
	CK_OK(cvl_buf_put_u64le(&b, UINT64_C(0x8877665544332211)));
	ck_assert_uint_eq(b.len, 1 + 2 + 4 + 8);
	ck_assert_uint_eq(b.p[0], 0xEE);
	ck_assert_uint_eq(b.p[1], 0xAC);
	ck_assert_uint_eq(b.p[2], 0x02);
	ck_assert_uint_eq(cvl_get_u32le(b.p + 3), 0x11223344u);
	ck_assert_uint_eq(cvl_get_u64le(b.p + 7), UINT64_C(0x8877665544332211));

	cvl_buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_gt(b.cap, 0);

	CK_OK(cvl_buf_append(&b, "hello", 5));
	size_t len = 0;
	uint8_t *p = cvl_buf_detach(&b, &len);
	ck_assert_uint_eq(len, 5);
	ck_assert_int_eq(memcmp(p, "hello", 5), 0);
	ck_assert_ptr_null(b.p);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.cap, 0);
	cvl_free(p);
	cvl_buf_free(&b);
}
END_TEST

START_TEST(test_codec__buf_growth_failure_is_enomem_and_keeps_contents)
{
	cvl_buf b;
	uint8_t big[1000];

	memset(big, 3, sizeof(big));
	cvl_buf_init(&b, 0);
	CK_OK(cvl_buf_append(&b, "keep", 4));
	cvl_alloc_fail_after(0, 0);
	int rc = cvl_buf_append(&b, big, sizeof(big));
	cvl_alloc_fail_after(-1, 0);
	ck_assert_int_eq(rc, CONVLOG_ENOMEM);
	ck_assert_uint_eq(b.len, 4);
	ck_assert_int_eq(memcmp(b.p, "keep", 4), 0);
	CK_OK(cvl_buf_append(&b, big, sizeof(big)));
	ck_assert_uint_eq(b.len, 1004);
	cvl_buf_free(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("codec");
	TCase *tc = tcase_create("codec");

	tcase_add_test(tc, test_codec__varint_round_trips_at_group_boundaries);
	tcase_add_test(tc, test_codec__varint_known_encodings);
	tcase_add_test(tc, test_codec__varint_random_values_round_trip_back_to_back);
	tcase_add_test(tc, test_codec__truncated_varint_is_rejected_without_advancing);
	tcase_add_test(tc, test_codec__varint_longer_than_ten_bytes_is_rejected);
	tcase_add_test(tc, test_codec__varint_overflowing_64_bits_is_rejected);
	tcase_add_test(tc, test_codec__zigzag_maps_small_magnitudes_to_small_values);
	tcase_add_test(tc, test_codec__zigzag_round_trips);
	tcase_add_test(tc, test_codec__little_endian_byte_layout);
	tcase_add_test(tc, test_codec__big_endian_byte_layout);
	tcase_add_test(tc, test_codec__big_endian_memcmp_order_matches_numeric_order);
	tcase_add_test(tc, test_codec__sortable_i64_preserves_signed_order);
	tcase_add_test(tc, test_codec__buf_append_past_its_cap_is_etoobig_and_keeps_contents);
	tcase_add_test(tc, test_codec__buf_reserve_huge_does_not_overflow);
	tcase_add_test(tc, test_codec__buf_capacity_never_exceeds_its_max);
	tcase_add_test(tc, test_codec__buf_put_helpers_write_the_codec_encodings);
	tcase_add_test(tc, test_codec__buf_growth_failure_is_enomem_and_keeps_contents);
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
