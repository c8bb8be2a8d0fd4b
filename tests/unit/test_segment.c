/* lib/log/segment.c: segment files, their header and their names. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "log/segment.h"
#include "os/os.h"
#include "testutil.h"
#include "util/codec.h"

static const uint8_t store_a[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t store_b[16] = {16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1};

static char dir[256];

static void setup(void)
{
	tu_tmppath(dir, sizeof(dir), "seg");
	ck_assert_int_eq(mkdir(dir, 0755), 0);
}

static void teardown(void)
{
	tu_rmrf(dir);
}

static void read_header(uint64_t id, uint8_t hdr[CVL_SEG_HEADER])
{
	char path[CVL_SEG_NAME_MAX];
	int fd;

	cvl_seg_path(path, sizeof(path), dir, id);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, hdr, CVL_SEG_HEADER, 0), CVL_SEG_HEADER);
	close(fd);
}

static void write_at(uint64_t id, const void *p, size_t n, off_t off)
{
	char path[CVL_SEG_NAME_MAX];
	int fd;

	cvl_seg_path(path, sizeof(path), dir, id);
	fd = open(path, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, p, n, off), (ssize_t)n);
	close(fd);
}

/* Opens segment `id` of store_a read-only; returns the code. */
static int open_a(uint64_t id)
{
	int fd = -2;
	uint64_t size = 0;
	int rc = cvl_seg_open(dir, id, store_a, 0, &fd, &size, NULL);

	if (rc == 0) {
		ck_assert_int_ge(fd, 0);
		cvl_os_close(fd);
	} else {
		ck_assert_int_eq(fd, -1);
	}
	return rc;
}

START_TEST(test_segment__created_segment_opens_with_its_header)
{
	int fd = -1, rfd = -1;
	uint64_t size = 0;
	uint8_t hdr[CVL_SEG_HEADER];
	cvl_seg_header h;

	CK_OK(cvl_seg_create(dir, 42, store_a, 1700000000123, &fd));
	ck_assert_int_ge(fd, 0);
	cvl_os_close(fd);

	CK_OK(cvl_seg_open(dir, 42, store_a, 1, &rfd, &size, NULL));
	ck_assert_int_ge(rfd, 0);
	ck_assert_uint_eq(size, CVL_SEG_HEADER);
	cvl_os_close(rfd);

	read_header(42, hdr);
	ck_assert_int_eq(memcmp(hdr, "CVLSEG\r\n", 8), 0);
	CK_OK(cvl_seg_header_decode(hdr, &h, "x"));
	ck_assert_uint_eq(h.version, CVL_SEG_VERSION);
	ck_assert_uint_eq(h.flags, 0);
	ck_assert_uint_eq(h.id, 42);
	ck_assert_int_eq(memcmp(h.store_id, store_a, 16), 0);
	ck_assert_int_eq(h.created_at, 1700000000123);
}
END_TEST

START_TEST(test_segment__open_reports_the_size_after_appends)
{
	int fd = -1;
	uint64_t size = 0;
	uint8_t data[1000];

	memset(data, 0x5A, sizeof(data));
	CK_OK(cvl_seg_create(dir, 1, store_a, 1, &fd));
	CK_OK(cvl_os_pwrite(fd, data, sizeof(data), CVL_SEG_HEADER, "seg"));
	cvl_os_close(fd);
	CK_OK(cvl_seg_open(dir, 1, store_a, 0, &fd, &size, NULL));
	ck_assert_uint_eq(size, CVL_SEG_HEADER + sizeof(data));
	cvl_os_close(fd);
}
END_TEST

START_TEST(test_segment__create_refuses_an_existing_segment_and_keeps_it)
{
	int fd = -1, fd2 = -1;
	uint8_t before[CVL_SEG_HEADER], after[CVL_SEG_HEADER];

	CK_OK(cvl_seg_create(dir, 7, store_a, 111, &fd));
	cvl_os_close(fd);
	read_header(7, before);
	ck_assert_int_lt(cvl_seg_create(dir, 7, store_b, 222, &fd2), 0);
	read_header(7, after);
	ck_assert_int_eq(memcmp(before, after, CVL_SEG_HEADER), 0);
	CK_OK(open_a(7));
}
END_TEST

START_TEST(test_segment__missing_segment_is_not_found)
{
	CK_ERR(open_a(99), CONVLOG_ENOTFOUND);
}
END_TEST

START_TEST(test_segment__every_flipped_header_bit_is_corruption)
{
	int fd;
	uint8_t orig[CVL_SEG_HEADER];

	CK_OK(cvl_seg_create(dir, 5, store_a, 1234, &fd));
	cvl_os_close(fd);
	read_header(5, orig);
	for (int i = 0; i < CVL_SEG_HEADER; i++) {
		for (int bit = 0; bit < 8; bit++) {
			uint8_t c[CVL_SEG_HEADER];
			cvl_seg_header h;
			memcpy(c, orig, sizeof(c));
			c[i] ^= (uint8_t)(1u << bit);
			int rc = cvl_seg_header_decode(c, &h, "segments/x.seg");
			ck_assert_msg(rc == CONVLOG_ECORRUPT, "byte %d bit %d: %d", i, bit, rc);
		}
	}
	/* and through open, with the path and offset in the message */
	uint8_t flipped = orig[30] ^ 0x10;
	write_at(5, &flipped, 1, 30);
	CK_ERR(open_a(5), CONVLOG_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "0000000000000005.seg"));
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "offset 0"));
}
END_TEST

START_TEST(test_segment__bad_magic_is_corruption)
{
	int fd;

	CK_OK(cvl_seg_create(dir, 6, store_a, 1, &fd));
	cvl_os_close(fd);
	write_at(6, "XVLSEG\r\n", 8, 0);
	CK_ERR(open_a(6), CONVLOG_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "magic"));
}
END_TEST

START_TEST(test_segment__wrong_version_is_eversion)
{
	cvl_seg_header h = {.version = CVL_SEG_VERSION + 1, .id = 3, .created_at = 9};
	cvl_seg_header d;
	uint8_t b[CVL_SEG_HEADER];
	int fd;

	memcpy(h.store_id, store_a, 16);
	cvl_seg_header_encode(&h, b);
	CK_ERR(cvl_seg_header_decode(b, &d, "p"), CONVLOG_EVERSION);
	h.version = 0;
	cvl_seg_header_encode(&h, b);
	CK_ERR(cvl_seg_header_decode(b, &d, "p"), CONVLOG_EVERSION);

	/* a file written by a newer version, checksum intact */
	CK_OK(cvl_seg_create(dir, 3, store_a, 9, &fd));
	cvl_os_close(fd);
	h.version = 2;
	cvl_seg_header_encode(&h, b);
	write_at(3, b, sizeof(b), 0);
	CK_ERR(open_a(3), CONVLOG_EVERSION);
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "version 2"));
}
END_TEST

START_TEST(test_segment__reserved_fields_must_be_zero)
{
	cvl_seg_header h = {.version = CVL_SEG_VERSION, .id = 3, .created_at = 9};
	cvl_seg_header d;
	uint8_t b[CVL_SEG_HEADER];

	memcpy(h.store_id, store_a, 16);
	h.flags = 4; /* unknown flag */
	cvl_seg_header_encode(&h, b);
	CK_ERR(cvl_seg_header_decode(b, &d, "p"), CONVLOG_ECORRUPT);
	h.flags = CVL_SEGF_COLD; /* cold without compacted */
	cvl_seg_header_encode(&h, b);
	CK_ERR(cvl_seg_header_decode(b, &d, "p"), CONVLOG_ECORRUPT);
	h.flags = CVL_SEGF_COMPACT | CVL_SEGF_COLD;
	cvl_seg_header_encode(&h, b);
	CK_OK(cvl_seg_header_decode(b, &d, "p"));
	ck_assert_uint_eq(d.flags, 3);
	h.flags = 0;
	cvl_seg_header_encode(&h, b);
	CK_OK(cvl_seg_header_decode(b, &d, "p"));
	b[50] = 1; /* reserved bytes 48..55, checksum recomputed */
	cvl_put_u64le(b + 56, XXH3_64bits(b, 56));
	CK_ERR(cvl_seg_header_decode(b, &d, "p"), CONVLOG_ECORRUPT);
}
END_TEST

START_TEST(test_segment__negative_created_at_round_trips)
{
	cvl_seg_header h = {.version = CVL_SEG_VERSION, .id = UINT64_MAX, .created_at = -5};
	cvl_seg_header d;
	uint8_t b[CVL_SEG_HEADER];

	cvl_seg_header_encode(&h, b);
	CK_OK(cvl_seg_header_decode(b, &d, "p"));
	ck_assert_int_eq(d.created_at, -5);
	ck_assert_uint_eq(d.id, UINT64_MAX);
}
END_TEST

START_TEST(test_segment__short_file_is_corruption)
{
	int fd;
	char path[CVL_SEG_NAME_MAX];

	CK_OK(cvl_seg_create(dir, 8, store_a, 1, &fd));
	cvl_os_close(fd);
	cvl_seg_path(path, sizeof(path), dir, 8);
	ck_assert_int_eq(truncate(path, CVL_SEG_HEADER - 1), 0);
	CK_ERR(open_a(8), CONVLOG_ECORRUPT);
	ck_assert_int_eq(truncate(path, 0), 0);
	CK_ERR(open_a(8), CONVLOG_ECORRUPT);
}
END_TEST

START_TEST(test_segment__segment_of_another_store_is_corruption)
{
	int fd;
	uint64_t size;

	CK_OK(cvl_seg_create(dir, 9, store_b, 1, &fd));
	cvl_os_close(fd);
	CK_ERR(open_a(9), CONVLOG_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "another store"));
	CK_OK(cvl_seg_open(dir, 9, store_b, 0, &fd, &size, NULL));
	cvl_os_close(fd);
}
END_TEST

START_TEST(test_segment__header_naming_another_id_is_corruption)
{
	int fd;
	char from[CVL_SEG_NAME_MAX], to[CVL_SEG_NAME_MAX];

	CK_OK(cvl_seg_create(dir, 10, store_a, 1, &fd));
	cvl_os_close(fd);
	cvl_seg_path(from, sizeof(from), dir, 10);
	cvl_seg_path(to, sizeof(to), dir, 11);
	ck_assert_int_eq(rename(from, to), 0);
	CK_ERR(open_a(11), CONVLOG_ECORRUPT);
}
END_TEST

START_TEST(test_segment__path_uses_sixteen_lowercase_hex_digits)
{
	char buf[CVL_SEG_NAME_MAX];

	cvl_seg_path(buf, sizeof(buf), "/d", 0xABCDEF);
	ck_assert_str_eq(buf, "/d/0000000000abcdef.seg");
	cvl_seg_path(buf, sizeof(buf), "s", UINT64_MAX);
	ck_assert_str_eq(buf, "s/ffffffffffffffff.seg");
}
END_TEST

START_TEST(test_segment__name_parsing_accepts_only_canonical_names)
{
	uint64_t id = 12345;

	ck_assert_int_eq(cvl_seg_parse_name("0000000000000001.seg", &id), 0);
	ck_assert_uint_eq(id, 1);
	ck_assert_int_eq(cvl_seg_parse_name("0000000000abcdef.seg", &id), 0);
	ck_assert_uint_eq(id, 0xabcdef);
	ck_assert_int_eq(cvl_seg_parse_name("ffffffffffffffff.seg", &id), 0);
	ck_assert_uint_eq(id, UINT64_MAX);
	ck_assert_int_eq(cvl_seg_parse_name("0000000000000000.seg", &id), 0);
	ck_assert_uint_eq(id, 0);

	static const char *bad[] = {
		"",
		".seg",
		"1.seg",
		"000000000000001.seg",   /* 15 digits */
		"00000000000000001.seg", /* 17 digits */
		"0000000000ABCDEF.seg",  /* upper case */
		"000000000000000g.seg",
		"0000000000000001.SEG",
		"0000000000000001.sega",
		"0000000000000001.tmp",
		"0000000000000001_seg",
		" 000000000000001.seg",
		"-000000000000001.seg",
		"0x00000000000001.seg",
		"LOCK",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		id = 777;
		ck_assert_msg(cvl_seg_parse_name(bad[i], &id) == -1, "'%s' accepted", bad[i]);
		ck_assert_uint_eq(id, 777);
	}
}
END_TEST

START_TEST(test_segment__path_and_name_parsing_agree)
{
	uint64_t seed = 31;

	for (int i = 0; i < 1000; i++) {
		char buf[CVL_SEG_NAME_MAX];
		uint64_t id = tu_rand(&seed) >> (i % 64), got = 0;
		cvl_seg_path(buf, sizeof(buf), "dir", id);
		ck_assert_int_eq(cvl_seg_parse_name(buf + 4, &got), 0);
		ck_assert_uint_eq(got, id);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("segment");
	TCase *tc = tcase_create("segment");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_segment__created_segment_opens_with_its_header);
	tcase_add_test(tc, test_segment__open_reports_the_size_after_appends);
	tcase_add_test(tc, test_segment__create_refuses_an_existing_segment_and_keeps_it);
	tcase_add_test(tc, test_segment__missing_segment_is_not_found);
	tcase_add_test(tc, test_segment__every_flipped_header_bit_is_corruption);
	tcase_add_test(tc, test_segment__bad_magic_is_corruption);
	tcase_add_test(tc, test_segment__wrong_version_is_eversion);
	tcase_add_test(tc, test_segment__reserved_fields_must_be_zero);
	tcase_add_test(tc, test_segment__negative_created_at_round_trips);
	tcase_add_test(tc, test_segment__short_file_is_corruption);
	tcase_add_test(tc, test_segment__segment_of_another_store_is_corruption);
	tcase_add_test(tc, test_segment__header_naming_another_id_is_corruption);
	tcase_add_test(tc, test_segment__path_uses_sixteen_lowercase_hex_digits);
	tcase_add_test(tc, test_segment__name_parsing_accepts_only_canonical_names);
	tcase_add_test(tc, test_segment__path_and_name_parsing_agree);
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
