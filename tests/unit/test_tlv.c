/* lib/model/tlv.c: tagged fields and the packing bump allocator. */
#include <stdint.h>
#include <string.h>

#include "model/tlv.h"
#include "testutil.h"
#include "util/codec.h"

/* Reads the next item, asserting it exists. */
static void next_ok(cvl_tlv *t, cvl_tlv_item *it)
{
	ck_assert_int_eq(cvl_tlv_next(t, it), 1);
}

START_TEST(test_tlv__varint_and_bytes_fields_round_trip)
{
	cvl_buf b;
	cvl_tlv t;
	cvl_tlv_item it;

	cvl_buf_init(&b, 0);
	CK_OK(cvl_tlv_put_u(&b, 1, 0));
	CK_OK(cvl_tlv_put_u(&b, 2, UINT64_MAX));
	CK_OK(cvl_tlv_put_i(&b, 3, -5));
	CK_OK(cvl_tlv_put_i(&b, 4, INT64_MIN));
	CK_OK(cvl_tlv_put_bytes(&b, 5, "a\0b", 3));
	CK_OK(cvl_tlv_put_bytes(&b, 6, NULL, 0));
	CK_OK(cvl_tlv_put_str(&b, 7, "h\xc3\xa9llo"));
	CK_OK(cvl_tlv_put_u(&b, 1000000, 42));

	cvl_tlv_init(&t, b.p, b.len);
	next_ok(&t, &it);
	ck_assert_uint_eq(it.field, 1);
	ck_assert_int_eq(it.wt, CVL_WT_VARINT);
	ck_assert_uint_eq(it.v, 0);
	next_ok(&t, &it);
	ck_assert_uint_eq(it.field, 2);
	ck_assert_uint_eq(it.v, UINT64_MAX);
	next_ok(&t, &it);
	ck_assert_uint_eq(it.field, 3);
	ck_assert_int_eq(cvl_unzigzag(it.v), -5);
	next_ok(&t, &it);
	ck_assert_uint_eq(it.field, 4);
	ck_assert_int_eq(cvl_unzigzag(it.v), INT64_MIN);
	next_ok(&t, &it);
	ck_assert_uint_eq(it.field, 5);
	ck_assert_int_eq(it.wt, CVL_WT_BYTES);
	ck_assert_uint_eq(it.len, 3);
	ck_assert_int_eq(memcmp(it.data, "a\0b", 3), 0);
	next_ok(&t, &it);
	ck_assert_uint_eq(it.field, 6);
	ck_assert_int_eq(it.wt, CVL_WT_BYTES);
	ck_assert_uint_eq(it.len, 0);
	next_ok(&t, &it);
	ck_assert_uint_eq(it.field, 7);
	ck_assert_uint_eq(it.len, 6);
	ck_assert_int_eq(memcmp(it.data, "h\xc3\xa9llo", 6), 0);
	next_ok(&t, &it);
	ck_assert_uint_eq(it.field, 1000000);
	ck_assert_uint_eq(it.v, 42);
	ck_assert_int_eq(cvl_tlv_next(&t, &it), 0);
	/* the end is sticky */
	ck_assert_int_eq(cvl_tlv_next(&t, &it), 0);
	cvl_buf_free(&b);
}
END_TEST

START_TEST(test_tlv__key_encodes_field_and_wire_type)
{
	cvl_buf b;

	cvl_buf_init(&b, 0);
	CK_OK(cvl_tlv_put_u(&b, 3, 1));
	CK_OK(cvl_tlv_put_bytes(&b, 3, "xy", 2));
	/* 3 << 3 | 0 = 0x18, value 1; 3 << 3 | 2 = 0x1A, length 2, bytes */
	static const uint8_t expect[] = {0x18, 0x01, 0x1A, 0x02, 'x', 'y'};
	ck_assert_uint_eq(b.len, sizeof(expect));
	ck_assert_int_eq(memcmp(b.p, expect, sizeof(expect)), 0);
	cvl_buf_free(&b);
}
END_TEST

START_TEST(test_tlv__null_string_is_skipped_but_empty_string_is_written)
{
	cvl_buf b;
	cvl_tlv t;
	cvl_tlv_item it;

	cvl_buf_init(&b, 0);
	CK_OK(cvl_tlv_put_str(&b, 9, NULL));
	ck_assert_uint_eq(b.len, 0);
	CK_OK(cvl_tlv_put_str(&b, 9, ""));
	ck_assert_uint_eq(b.len, 2);
	cvl_tlv_init(&t, b.p, b.len);
	next_ok(&t, &it);
	ck_assert_uint_eq(it.field, 9);
	ck_assert_uint_eq(it.len, 0);
	ck_assert_int_eq(cvl_tlv_next(&t, &it), 0);
	cvl_buf_free(&b);
}
END_TEST

START_TEST(test_tlv__empty_input_has_no_items)
{
	cvl_tlv t;
	cvl_tlv_item it;
	uint8_t dummy = 0;

	cvl_tlv_init(&t, &dummy, 0);
	ck_assert_int_eq(cvl_tlv_next(&t, &it), 0);
}
END_TEST

START_TEST(test_tlv__every_truncation_is_malformed_not_misread)
{
	cvl_buf b;

	cvl_buf_init(&b, 0);
	CK_OK(cvl_tlv_put_u(&b, 20, UINT64_C(1) << 50));
	CK_OK(cvl_tlv_put_bytes(&b, 300, "0123456789", 10));
	size_t first = cvl_varint_len(20 << 3) + cvl_varint_len(UINT64_C(1) << 50);

	/* cutting inside either field must give -1, never a short item */
	for (size_t cut = 1; cut < b.len; cut++) {
		cvl_tlv t;
		cvl_tlv_item it;
		int r;
		if (cut == first)
			continue; /* a clean boundary */
		cvl_tlv_init(&t, b.p, cut);
		while ((r = cvl_tlv_next(&t, &it)) == 1)
			;
		ck_assert_msg(r == -1, "cut at %zu gave %d", cut, r);
	}
	cvl_buf_free(&b);
}
END_TEST

START_TEST(test_tlv__truncated_key_varint_is_malformed)
{
	static const uint8_t in[] = {0x88}; /* continuation bit, nothing after */
	cvl_tlv t;
	cvl_tlv_item it;

	cvl_tlv_init(&t, in, sizeof(in));
	ck_assert_int_eq(cvl_tlv_next(&t, &it), -1);
}
END_TEST

START_TEST(test_tlv__truncated_value_varint_is_malformed)
{
	static const uint8_t in[] = {0x08, 0xFF, 0xFF};
	cvl_tlv t;
	cvl_tlv_item it;

	cvl_tlv_init(&t, in, sizeof(in));
	ck_assert_int_eq(cvl_tlv_next(&t, &it), -1);
}
END_TEST

START_TEST(test_tlv__length_past_the_end_is_malformed)
{
	static const uint8_t in[] = {0x0A, 0x05, 'a', 'b', 'c', 'd'}; /* says 5, has 4 */
	static const uint8_t huge[] = {0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
				       0xFF, 0x01, 'a'};
	cvl_tlv t;
	cvl_tlv_item it;

	cvl_tlv_init(&t, in, sizeof(in));
	ck_assert_int_eq(cvl_tlv_next(&t, &it), -1);
	/* a length that would wrap a pointer is caught too */
	cvl_tlv_init(&t, huge, sizeof(huge));
	ck_assert_int_eq(cvl_tlv_next(&t, &it), -1);
	/* exactly to the end is fine */
	static const uint8_t ok[] = {0x0A, 0x04, 'a', 'b', 'c', 'd'};
	cvl_tlv_init(&t, ok, sizeof(ok));
	next_ok(&t, &it);
	ck_assert_uint_eq(it.len, 4);
	ck_assert_int_eq(cvl_tlv_next(&t, &it), 0);
}
END_TEST

START_TEST(test_tlv__field_zero_is_malformed)
{
	static const uint8_t varint0[] = {0x00, 0x01};
	static const uint8_t bytes0[] = {0x02, 0x00};
	cvl_tlv t;
	cvl_tlv_item it;

	cvl_tlv_init(&t, varint0, sizeof(varint0));
	ck_assert_int_eq(cvl_tlv_next(&t, &it), -1);
	cvl_tlv_init(&t, bytes0, sizeof(bytes0));
	ck_assert_int_eq(cvl_tlv_next(&t, &it), -1);
}
END_TEST

START_TEST(test_tlv__unknown_wire_types_are_malformed)
{
	for (uint8_t wt = 0; wt < 8; wt++) {
		uint8_t in[] = {(uint8_t)(1 << 3 | wt), 0x00, 0x00};
		cvl_tlv t;
		cvl_tlv_item it;
		int r;

		cvl_tlv_init(&t, in, sizeof(in));
		r = cvl_tlv_next(&t, &it);
		if (wt == CVL_WT_VARINT || wt == CVL_WT_BYTES)
			ck_assert_int_eq(r, 1);
		else
			ck_assert_msg(r == -1, "wire type %u gave %d", wt, r);
	}
}
END_TEST

START_TEST(test_tlv__field_numbers_beyond_32_bits_are_malformed)
{
	cvl_buf b;
	cvl_tlv t;
	cvl_tlv_item it;

	cvl_buf_init(&b, 0);
	/* field 2^32 as a raw key */
	CK_OK(cvl_buf_put_varint(&b, (UINT64_C(1) << 32) << 3 | CVL_WT_VARINT));
	CK_OK(cvl_buf_put_varint(&b, 1));
	cvl_tlv_init(&t, b.p, b.len);
	ck_assert_int_eq(cvl_tlv_next(&t, &it), -1);
	cvl_buf_reset(&b);
	/* the largest 32-bit field is fine */
	CK_OK(cvl_tlv_put_u(&b, UINT32_MAX, 9));
	cvl_tlv_init(&t, b.p, b.len);
	next_ok(&t, &it);
	ck_assert_uint_eq(it.field, UINT32_MAX);
	ck_assert_uint_eq(it.v, 9);
	cvl_buf_free(&b);
}
END_TEST

START_TEST(test_tlv__malformed_item_after_good_ones_is_reported)
{
	cvl_buf b;
	cvl_tlv t;
	cvl_tlv_item it;

	cvl_buf_init(&b, 0);
	CK_OK(cvl_tlv_put_u(&b, 1, 1));
	CK_OK(cvl_tlv_put_u(&b, 2, 2));
	CK_OK(cvl_buf_put_u8(&b, 1 << 3 | 5)); /* wire type 5 */
	cvl_tlv_init(&t, b.p, b.len);
	next_ok(&t, &it);
	next_ok(&t, &it);
	ck_assert_uint_eq(it.v, 2);
	ck_assert_int_eq(cvl_tlv_next(&t, &it), -1);
	cvl_buf_free(&b);
}
END_TEST

START_TEST(test_tlv__random_bytes_never_read_out_of_bounds)
{
	uint64_t seed = 2024;
	uint8_t buf[64];

	/* every item reported lies inside the input */
	for (int round = 0; round < 20000; round++) {
		size_t n = (size_t)(tu_rand(&seed) % sizeof(buf));
		cvl_tlv t;
		cvl_tlv_item it;
		int r, guard = 0;
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)tu_rand(&seed);
		cvl_tlv_init(&t, buf, n);
		while ((r = cvl_tlv_next(&t, &it)) == 1) {
			ck_assert_uint_ne(it.field, 0);
			if (it.wt == CVL_WT_BYTES) {
				ck_assert(it.data >= buf);
				ck_assert(it.data + it.len <= buf + n);
			}
			ck_assert(t.p <= buf + n);
			ck_assert_int_lt(++guard, 65);
		}
		ck_assert(r == 0 || r == -1);
	}
}
END_TEST

START_TEST(test_tlv__put_propagates_buffer_cap)
{
	cvl_buf b;

	cvl_buf_init(&b, 4);
	CK_ERR(cvl_tlv_put_bytes(&b, 1, "abcdef", 6), CONVLOG_ETOOBIG);
	CK_ERR(cvl_tlv_put_str(&b, 1, "abcdef"), CONVLOG_ETOOBIG);
	cvl_buf_free(&b);
}
END_TEST

/* ---- pack helpers ---- */

START_TEST(test_tlv__pack_take_aligns_to_eight)
{
	cvl_pack pk = {0};

	ck_assert_ptr_null(cvl_pack_take(&pk, 3));
	ck_assert_uint_eq(pk.off, 3);
	ck_assert_ptr_null(cvl_pack_take(&pk, 8));
	ck_assert_uint_eq(pk.off, 16);
	ck_assert_ptr_null(cvl_pack_take(&pk, 0));
	ck_assert_uint_eq(pk.off, 16);

	_Alignas(8) uint8_t mem[64];
	cvl_pack real = {.base = mem, .off = 1, .cap = sizeof(mem)};
	uint8_t *p = cvl_pack_take(&real, 5);
	ck_assert_ptr_eq(p, mem + 8);
	ck_assert_uint_eq(real.off, 13);
	p = cvl_pack_take(&real, 4);
	ck_assert_ptr_eq(p, mem + 16);
	ck_assert_uint_eq((uintptr_t)p % 8, 0);
}
END_TEST

START_TEST(test_tlv__pack_str_copies_and_terminates)
{
	uint8_t mem[32];
	cvl_pack pk = {.base = mem, .off = 0, .cap = sizeof(mem)};
	cvl_pack count = {0};

	memset(mem, 'Z', sizeof(mem));
	char *a = cvl_pack_str(&pk, (const uint8_t *)"hello", 5);
	char *e = cvl_pack_str(&pk, (const uint8_t *)"", 0);
	char *c = cvl_pack_str(&pk, (const uint8_t *)"x\0y", 3);
	ck_assert_ptr_eq(a, (char *)mem);
	ck_assert_str_eq(a, "hello");
	ck_assert_ptr_eq(e, (char *)mem + 6);
	ck_assert_str_eq(e, "");
	ck_assert_ptr_eq(c, (char *)mem + 7);
	ck_assert_int_eq(memcmp(c, "x\0y\0", 4), 0);
	ck_assert_uint_eq(pk.off, 11);
	ck_assert_uint_eq(mem[11], 'Z'); /* nothing written past the end */

	/* counting mode measures exactly what filling uses */
	ck_assert_ptr_null(cvl_pack_str(&count, (const uint8_t *)"hello", 5));
	ck_assert_ptr_null(cvl_pack_str(&count, (const uint8_t *)"", 0));
	ck_assert_ptr_null(cvl_pack_str(&count, (const uint8_t *)"x\0y", 3));
	ck_assert_uint_eq(count.off, pk.off);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tlv");
	TCase *tc = tcase_create("tlv");

	tcase_add_test(tc, test_tlv__varint_and_bytes_fields_round_trip);
	tcase_add_test(tc, test_tlv__key_encodes_field_and_wire_type);
	tcase_add_test(tc, test_tlv__null_string_is_skipped_but_empty_string_is_written);
	tcase_add_test(tc, test_tlv__empty_input_has_no_items);
	tcase_add_test(tc, test_tlv__every_truncation_is_malformed_not_misread);
	tcase_add_test(tc, test_tlv__truncated_key_varint_is_malformed);
	tcase_add_test(tc, test_tlv__truncated_value_varint_is_malformed);
	tcase_add_test(tc, test_tlv__length_past_the_end_is_malformed);
	tcase_add_test(tc, test_tlv__field_zero_is_malformed);
	tcase_add_test(tc, test_tlv__unknown_wire_types_are_malformed);
	tcase_add_test(tc, test_tlv__field_numbers_beyond_32_bits_are_malformed);
	tcase_add_test(tc, test_tlv__malformed_item_after_good_ones_is_reported);
	tcase_add_test(tc, test_tlv__random_bytes_never_read_out_of_bounds);
	tcase_add_test(tc, test_tlv__put_propagates_buffer_cap);
	tcase_add_test(tc, test_tlv__pack_take_aligns_to_eight);
	tcase_add_test(tc, test_tlv__pack_str_copies_and_terminates);
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
