/* lib/log/block.c and lib/log/record.c: blocks of compressed frames and
 * the records they carry. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "log/block.h"
#include "log/cache.h"
#include "log/record.h"
#include "testutil.h"
#include "util/alloc.h"
#include "util/codec.h"

#define BASE_LSN 1000

/* Per-record hlc and origin: dense bits, so random records stay
 * incompressible even counting their fixed fields. */
static uint64_t mix(uint64_t x)
{
	x += UINT64_C(0x9E3779B97F4A7C15);
	x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
	return x ^ (x >> 31);
}

/* A set of encoded records laid end to end, with their bodies kept for
 * comparison. */
typedef struct recset {
	cvl_buf recs;
	size_t *offs;
	size_t n;
	uint8_t **bodies;
	size_t *blens;
} recset;

/* Random bodies are incompressible; text bodies compress well. */
static void recset_make(recset *rs, size_t n, size_t min_body, size_t max_body, int random_bytes,
			uint64_t seed)
{
	static const char *words[] = {"assistant", "user", "hello", "the", "conversation",
				      "model", "token", "reply", "\xe6\x97\xa5\xe6\x9c\xac"};

	cvl_buf_init(&rs->recs, 0);
	rs->n = n;
	rs->offs = calloc(n, sizeof(*rs->offs));
	rs->bodies = calloc(n, sizeof(*rs->bodies));
	rs->blens = calloc(n, sizeof(*rs->blens));
	ck_assert_ptr_nonnull(rs->offs);
	for (size_t i = 0; i < n; i++) {
		size_t len = min_body + (size_t)(tu_rand(&seed) % (max_body - min_body + 1));
		uint8_t *b = malloc(len ? len : 1);
		size_t k = 0;
		ck_assert_ptr_nonnull(b);
		if (random_bytes) {
			for (k = 0; k < len; k++)
				b[k] = (uint8_t)tu_rand(&seed);
		} else {
			while (k < len) {
				const char *w = words[tu_rand(&seed) % 9];
				for (size_t j = 0; w[j] && k < len; j++)
					b[k++] = (uint8_t)w[j];
				if (k < len)
					b[k++] = ' ';
			}
		}
		rs->bodies[i] = b;
		rs->blens[i] = len;
		rs->offs[i] = rs->recs.len;
		CK_OK(cvl_record_encode(&rs->recs, i % 2 ? CVL_REC_MSG_APPEND : CVL_REC_CONV_PUT,
					BASE_LSN + i, mix(i), mix(i + 100000), b, len));
	}
}

static void recset_free(recset *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		free(rs->bodies[i]);
	free(rs->bodies);
	free(rs->blens);
	free(rs->offs);
	cvl_buf_free(&rs->recs);
}

/* Builds the block of `rs` into `out` (reset first); returns the locs. */
static cvl_frame_loc *build(const recset *rs, size_t frame_target, cvl_buf *out)
{
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	cvl_frame_loc *locs = calloc(rs->n, sizeof(*locs));

	ck_assert_ptr_nonnull(cctx);
	cvl_buf_reset(out);
	CK_OK(cvl_block_build(rs->recs.p, rs->offs, NULL, rs->n, rs->recs.len, BASE_LSN,
			      BASE_LSN + rs->n - 1, BASE_LSN - 1, frame_target, cctx, 3, out, locs));
	ZSTD_freeCCtx(cctx);
	return locs;
}

static void assert_record_is(const cvl_record *r, const recset *rs, size_t i)
{
	ck_assert_uint_eq(r->lsn, BASE_LSN + i);
	ck_assert_uint_eq(r->hlc, mix(i));
	ck_assert_uint_eq(r->origin, mix(i + 100000));
	ck_assert_uint_eq(r->type, i % 2 ? CVL_REC_MSG_APPEND : CVL_REC_CONV_PUT);
	ck_assert_uint_eq(r->body_len, rs->blens[i]);
	ck_assert_int_eq(memcmp(r->body, rs->bodies[i], rs->blens[i]), 0);
}

/* Decompresses the frame at blk+off; returns the raw bytes (malloc'd). */
static uint8_t *frame_raw(const uint8_t *blk, size_t blen, size_t off, cvl_frame_header *f)
{
	const char *why = NULL;
	ZSTD_DCtx *d = ZSTD_createDCtx();
	uint8_t *raw;

	ck_assert_msg(cvl_frame_check(blk + off, blen - off, f, &why) == 0, "frame at %zu: %s",
		      off, why);
	raw = malloc(f->raw_len ? f->raw_len : 1);
	ck_assert_ptr_nonnull(raw);
	ck_assert_msg(cvl_frame_decode(f, blk + off + CVL_FRAME_HEADER, d, NULL, NULL, raw, &why) == 0,
		      "frame at %zu: %s", off, why);
	ZSTD_freeDCtx(d);
	return raw;
}

START_TEST(test_block__records_split_into_frames_and_decode_back)
{
	recset rs;
	cvl_buf out;
	cvl_block_header h;
	const char *why = NULL;
	size_t off, next = 0, frames = 0;

	recset_make(&rs, 300, 50, 400, 0, 1);
	cvl_buf_init(&out, 0);
	cvl_frame_loc *locs = build(&rs, 4096, &out);

	ck_assert_msg(cvl_block_header_decode(out.p, &h, &why) == 0, "%s", why);
	ck_assert_uint_eq(h.record_count, 300);
	ck_assert_uint_eq(h.min_lsn, BASE_LSN);
	ck_assert_uint_eq(h.max_lsn, BASE_LSN + 299);
	ck_assert_uint_eq(h.dict_id, 0);
	ck_assert_uint_eq(h.durable_lsn, BASE_LSN - 1);
	ck_assert_uint_eq(h.body_len + CVL_BLOCK_HEADER, out.len);
	ck_assert_uint_gt(h.frame_count, 5);
	ck_assert_msg(cvl_block_check(out.p, out.len, &h, &why) == 0, "%s", why);

	for (off = CVL_BLOCK_HEADER; off < out.len; frames++) {
		cvl_frame_header f;
		uint8_t *raw = frame_raw(out.p, out.len, off, &f);
		const uint8_t *p = raw, *end = raw + f.raw_len;
		size_t first = next;
		for (uint32_t k = 0; k < f.record_count; k++) {
			cvl_record r;
			ck_assert_msg(cvl_record_decode(&p, end, &r, &why) == 0, "%s", why);
			assert_record_is(&r, &rs, next++);
		}
		ck_assert_ptr_eq(p, end);
		/* records are never split, and a frame only passes the target
		 * with its last record */
		size_t last_len = rs.recs.len - rs.offs[next - 1];
		if (next < rs.n)
			last_len = rs.offs[next] - rs.offs[next - 1];
		ck_assert_uint_lt(f.raw_len - last_len, 4096);
		ck_assert_uint_eq(f.codec, CVL_CODEC_ZSTD);
		ck_assert_uint_lt(f.stored_len, f.raw_len);
		ck_assert_uint_eq(locs[first].frame_off, off);
		off += CVL_FRAME_HEADER + f.stored_len;
		free(raw);
	}
	ck_assert_uint_eq(off, out.len);
	ck_assert_uint_eq(frames, h.frame_count);
	ck_assert_uint_eq(next, 300);
	free(locs);
	cvl_buf_free(&out);
	recset_free(&rs);
}
END_TEST

START_TEST(test_block__locs_point_at_the_right_frame_and_record)
{
	recset rs;
	cvl_buf out;
	const char *why = NULL;

	recset_make(&rs, 250, 10, 600, 0, 2);
	cvl_buf_init(&out, 0);
	cvl_frame_loc *locs = build(&rs, 2048, &out);

	for (size_t i = 0; i < rs.n; i++) {
		cvl_frame_header f;
		cvl_frame *fr = NULL;
		cvl_record r;
		uint8_t *raw = frame_raw(out.p, out.len, locs[i].frame_off, &f);

		ck_assert_uint_eq(locs[i].frame_len, CVL_FRAME_HEADER + f.stored_len);
		ck_assert_uint_lt(locs[i].rec_idx, f.record_count);
		if (i > 0 && locs[i].frame_off == locs[i - 1].frame_off)
			ck_assert_uint_eq(locs[i].rec_idx, locs[i - 1].rec_idx + 1);
		else
			ck_assert_uint_eq(locs[i].rec_idx, 0);
		ck_assert_msg(cvl_frame_make(1, locs[i].frame_off, raw, f.raw_len, f.record_count,
					     &fr, &why) == 0, "%s", why);
		const uint8_t *p = fr->raw + fr->rec_off[locs[i].rec_idx];
		ck_assert_int_eq(cvl_record_decode(&p, fr->raw + fr->raw_len, &r, &why), 0);
		assert_record_is(&r, &rs, i);
		cvl_frame_free(fr);
	}
	free(locs);
	cvl_buf_free(&out);
	recset_free(&rs);
}
END_TEST

START_TEST(test_block__incompressible_frames_use_the_raw_codec)
{
	recset rs;
	cvl_buf out;
	cvl_block_header h;
	const char *why = NULL;
	size_t off, next = 0;

	/* one record per frame, so nothing repeats inside a frame */
	recset_make(&rs, 64, 200, 900, 1, 3);
	cvl_buf_init(&out, 0);
	cvl_frame_loc *locs = build(&rs, 1, &out);
	ck_assert_int_eq(cvl_block_header_decode(out.p, &h, &why), 0);
	ck_assert_int_eq(cvl_block_check(out.p, out.len, &h, &why), 0);
	ck_assert_uint_eq(h.frame_count, 64);
	for (off = CVL_BLOCK_HEADER; off < out.len;) {
		cvl_frame_header f;
		uint8_t *raw = frame_raw(out.p, out.len, off, &f);
		ck_assert_uint_eq(f.codec, CVL_CODEC_RAW);
		ck_assert_uint_eq(f.stored_len, f.raw_len);
		/* raw frames store the records verbatim */
		ck_assert_int_eq(memcmp(raw, rs.recs.p + rs.offs[next], f.raw_len), 0);
		next += f.record_count;
		off += CVL_FRAME_HEADER + f.stored_len;
		free(raw);
	}
	ck_assert_uint_eq(next, rs.n);
	free(locs);
	cvl_buf_free(&out);
	recset_free(&rs);
}
END_TEST

START_TEST(test_block__oversized_record_gets_a_frame_of_its_own)
{
	recset rs;
	cvl_buf out;
	cvl_block_header h;
	const char *why;

	/* every record is larger than the target: one record per frame */
	recset_make(&rs, 5, 3000, 5000, 0, 4);
	cvl_buf_init(&out, 0);
	cvl_frame_loc *locs = build(&rs, 1024, &out);
	ck_assert_int_eq(cvl_block_header_decode(out.p, &h, &why), 0);
	ck_assert_uint_eq(h.frame_count, 5);
	for (size_t i = 0; i < 5; i++) {
		ck_assert_uint_eq(locs[i].rec_idx, 0);
		if (i)
			ck_assert_uint_eq(locs[i].frame_off,
					  locs[i - 1].frame_off + locs[i - 1].frame_len);
	}
	ck_assert_uint_eq(locs[4].frame_off + locs[4].frame_len, out.len);
	free(locs);
	cvl_buf_free(&out);
	recset_free(&rs);
}
END_TEST

START_TEST(test_block__appends_after_existing_bytes)
{
	recset rs;
	cvl_buf out;
	cvl_block_header h;
	const char *why;
	ZSTD_CCtx *cctx = ZSTD_createCCtx();

	recset_make(&rs, 20, 10, 100, 0, 5);
	cvl_buf_init(&out, 0);
	CK_OK(cvl_buf_append(&out, "prefix", 6));
	cvl_frame_loc *locs = calloc(rs.n, sizeof(*locs));
	CK_OK(cvl_block_build(rs.recs.p, rs.offs, NULL, rs.n, rs.recs.len, 5, 24, 0, 256, cctx, 1, &out,
			      locs));
	ck_assert_int_eq(memcmp(out.p, "prefix", 6), 0);
	ck_assert_int_eq(cvl_block_header_decode(out.p + 6, &h, &why), 0);
	ck_assert_int_eq(cvl_block_check(out.p + 6, out.len - 6, &h, &why), 0);
	/* frame offsets are relative to the block, not the buffer */
	ck_assert_uint_eq(locs[0].frame_off, CVL_BLOCK_HEADER);
	ZSTD_freeCCtx(cctx);
	free(locs);
	cvl_buf_free(&out);
	recset_free(&rs);
}
END_TEST

START_TEST(test_block__header_fields_round_trip)
{
	cvl_block_header h = {.frame_count = 3, .record_count = 70000, .body_len = 123456,
			      .min_lsn = UINT64_C(1) << 40, .max_lsn = (UINT64_C(1) << 40) + 69999,
			      .durable_lsn = (UINT64_C(1) << 40) - 12345};
	cvl_block_header d;
	uint8_t b[CVL_BLOCK_HEADER];
	const char *why = NULL;

	cvl_block_header_encode(&h, b);
	ck_assert_int_eq(memcmp(b, "CVLB", 4), 0);
	ck_assert_uint_eq(b[4], CVL_BLOCK_VERSION);
	ck_assert_uint_eq(cvl_get_u64le(b + 40), XXH3_64bits(b, 40));
	ck_assert_msg(cvl_block_header_decode(b, &d, &why) == 0, "%s", why);
	ck_assert_uint_eq(d.frame_count, 3);
	ck_assert_uint_eq(d.record_count, 70000);
	ck_assert_uint_eq(d.body_len, 123456);
	ck_assert_uint_eq(d.min_lsn, h.min_lsn);
	ck_assert_uint_eq(d.max_lsn, h.max_lsn);
	ck_assert_uint_eq(d.dict_id, 0);
	ck_assert_uint_eq(d.durable_lsn, h.durable_lsn);
	/* stored as the gap below min_lsn */
	ck_assert_uint_eq(cvl_get_u32le(b + 36), 12345);
}
END_TEST

/* durable_lsn after an encode/decode of a header with these LSNs. */
static uint64_t durable_after(uint64_t min_lsn, uint64_t durable)
{
	cvl_block_header h = {.frame_count = 1, .record_count = 1, .body_len = CVL_FRAME_HEADER,
			      .min_lsn = min_lsn, .max_lsn = min_lsn, .durable_lsn = durable};
	cvl_block_header d;
	uint8_t b[CVL_BLOCK_HEADER];
	const char *why = NULL;

	cvl_block_header_encode(&h, b);
	ck_assert_msg(cvl_block_header_decode(b, &d, &why) == 0, "%s", why);
	return d.durable_lsn;
}

START_TEST(test_block__durable_lsn_round_trips_or_degrades_to_a_safe_bound)
{
	ck_assert_uint_eq(durable_after(100, 99), 99);
	ck_assert_uint_eq(durable_after(100, 1), 1);
	ck_assert_uint_eq(durable_after(UINT64_MAX, UINT64_MAX - UINT32_MAX), UINT64_MAX - UINT32_MAX);
	/* 0 means unknown */
	ck_assert_uint_eq(durable_after(100, 0), 0);
	/* a durable point at or past the block's own LSNs is not recorded */
	ck_assert_uint_eq(durable_after(100, 100), 0);
	ck_assert_uint_eq(durable_after(100, 5000), 0);
	/* a gap too large for 32 bits is clamped: the decoded point is lower
	 * than the real one, never higher */
	uint64_t min = UINT64_C(1) << 40, real = 7;
	uint64_t got = durable_after(min, real);
	ck_assert_uint_le(got, min - 1);
	ck_assert_uint_ge(got, real);
	ck_assert_uint_eq(got, min - UINT32_MAX);
}
END_TEST

START_TEST(test_block__flipped_header_bit_is_detected)
{
	recset rs;
	cvl_buf out;
	cvl_block_header h;
	const char *why;

	recset_make(&rs, 10, 10, 50, 0, 6);
	cvl_buf_init(&out, 0);
	free(build(&rs, 4096, &out));
	ck_assert_int_eq(cvl_block_header_decode(out.p, &h, &why), 0);
	for (int i = 0; i < CVL_BLOCK_HEADER; i++) {
		for (int bit = 0; bit < 8; bit++) {
			uint8_t c[CVL_BLOCK_HEADER];
			memcpy(c, out.p, sizeof(c));
			c[i] ^= (uint8_t)(1u << bit);
			why = NULL;
			ck_assert_msg(cvl_block_header_decode(c, &h, &why) == -1,
				      "flip of byte %d bit %d not detected", i, bit);
			ck_assert_ptr_nonnull(why);
		}
	}
	cvl_buf_free(&out);
	recset_free(&rs);
}
END_TEST

/* Re-encodes a header after tampering with its decoded fields (valid
 * checksum), to test the semantic checks. */
static int decode_raw(uint8_t *b)
{
	cvl_block_header d;
	const char *why = NULL;

	cvl_put_u64le(b + 40, XXH3_64bits(b, 40));
	return cvl_block_header_decode(b, &d, &why);
}

START_TEST(test_block__header_with_valid_checksum_but_bad_fields_is_rejected)
{
	cvl_block_header good = {.frame_count = 2, .record_count = 4, .body_len = 100,
				 .min_lsn = 10, .max_lsn = 13};
	uint8_t b[CVL_BLOCK_HEADER];

	cvl_block_header_encode(&good, b);
	ck_assert_int_eq(decode_raw(b), 0);

#define TAMPER(stmt)                                                                     \
	do {                                                                             \
		cvl_block_header_encode(&good, b);                                       \
		stmt;                                                                    \
		ck_assert_msg(decode_raw(b) == -1, "accepted: %s", #stmt);               \
	} while (0)

	TAMPER(b[4] = 2);                          /* version */
	TAMPER(b[5] = 1);                          /* reserved */
	TAMPER(cvl_put_u16le(b + 6, 0));           /* no frames */
	TAMPER(cvl_put_u32le(b + 8, 0));           /* no records */
	TAMPER(cvl_put_u64le(b + 16, 0));          /* min_lsn 0 */
	TAMPER(cvl_put_u64le(b + 16, 14));         /* min > max */
	TAMPER(cvl_put_u32le(b + 12, 47));         /* body shorter than 2 frame headers */
	TAMPER(cvl_put_u32le(b + 12, CVL_BLOCK_MAX_BODY + 1));
#undef TAMPER
	/* the boundaries themselves are fine */
	cvl_block_header_encode(&good, b);
	cvl_put_u32le(b + 12, 2 * CVL_FRAME_HEADER);
	ck_assert_int_eq(decode_raw(b), 0);
	cvl_put_u64le(b + 16, 13);
	ck_assert_int_eq(decode_raw(b), 0);
}
END_TEST

START_TEST(test_block__flipped_frame_bit_is_detected)
{
	recset rs;
	cvl_buf out;
	cvl_block_header h;
	const char *why;

	recset_make(&rs, 12, 20, 120, 0, 7);
	cvl_buf_init(&out, 0);
	free(build(&rs, 512, &out));
	ck_assert_int_eq(cvl_block_header_decode(out.p, &h, &why), 0);
	ck_assert_uint_gt(h.frame_count, 1);
	uint8_t *c = malloc(out.len);
	for (size_t i = CVL_BLOCK_HEADER; i < out.len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(c, out.p, out.len);
			c[i] ^= (uint8_t)(1u << bit);
			why = NULL;
			ck_assert_msg(cvl_block_check(c, out.len, &h, &why) == -1,
				      "flip of byte %zu bit %d not detected", i, bit);
			ck_assert_ptr_nonnull(why);
		}
	}
	free(c);
	cvl_buf_free(&out);
	recset_free(&rs);
}
END_TEST

START_TEST(test_block__frame_check_rejects_bad_fields_under_a_valid_checksum)
{
	uint8_t fr[CVL_FRAME_HEADER + 8];
	cvl_frame_header f;
	const char *why;

	memset(fr, 0, sizeof(fr));
#define FRAME(stored, raw, nrec, codec, r21)                                             \
	do {                                                                             \
		cvl_put_u32le(fr + 8, stored);                                           \
		cvl_put_u32le(fr + 12, raw);                                             \
		cvl_put_u32le(fr + 16, nrec);                                            \
		fr[20] = codec;                                                          \
		fr[21] = r21;                                                            \
		cvl_put_u64le(fr, XXH3_64bits(fr + 8, CVL_FRAME_HEADER - 8 + (stored)));  \
	} while (0)

	FRAME(8, 8, 1, CVL_CODEC_RAW, 0);
	ck_assert_int_eq(cvl_frame_check(fr, sizeof(fr), &f, &why), 0);
	ck_assert_uint_eq(f.stored_len, 8);
	FRAME(8, 8, 1, 3, 0); /* unknown codec */
	ck_assert_int_eq(cvl_frame_check(fr, sizeof(fr), &f, &why), -1);
	FRAME(8, 8, 1, CVL_CODEC_RAW, 1); /* reserved */
	ck_assert_int_eq(cvl_frame_check(fr, sizeof(fr), &f, &why), -1);
	FRAME(8, 8, 0, CVL_CODEC_RAW, 0); /* no records */
	ck_assert_int_eq(cvl_frame_check(fr, sizeof(fr), &f, &why), -1);
	FRAME(8, 8, CVL_FRAME_MAX_RECORDS + 1, CVL_CODEC_RAW, 0);
	ck_assert_int_eq(cvl_frame_check(fr, sizeof(fr), &f, &why), -1);
	FRAME(8, 9, 1, CVL_CODEC_RAW, 0); /* raw with raw_len != stored_len */
	ck_assert_int_eq(cvl_frame_check(fr, sizeof(fr), &f, &why), -1);
	FRAME(8, CVL_BLOCK_MAX_BODY + 1, 1, CVL_CODEC_ZSTD, 0);
	ck_assert_int_eq(cvl_frame_check(fr, sizeof(fr), &f, &why), -1);
	/* stored length beyond what is available */
	FRAME(8, 8, 1, CVL_CODEC_RAW, 0);
	ck_assert_int_eq(cvl_frame_check(fr, sizeof(fr) - 1, &f, &why), -1);
	ck_assert_int_eq(cvl_frame_check(fr, CVL_FRAME_HEADER - 1, &f, &why), -1);
#undef FRAME
}
END_TEST

START_TEST(test_block__frame_decode_rejects_a_wrong_raw_length)
{
	recset rs;
	cvl_buf out;
	cvl_frame_header f;
	const char *why = NULL;
	ZSTD_DCtx *d = ZSTD_createDCtx();

	recset_make(&rs, 30, 100, 200, 0, 8);
	cvl_buf_init(&out, 0);
	free(build(&rs, 1 << 20, &out));
	ck_assert_int_eq(cvl_frame_check(out.p + CVL_BLOCK_HEADER, out.len - CVL_BLOCK_HEADER, &f,
					 &why), 0);
	ck_assert_uint_eq(f.codec, CVL_CODEC_ZSTD);
	uint8_t *raw = malloc(f.raw_len + 16);
	f.raw_len -= 1;
	ck_assert_int_eq(cvl_frame_decode(&f, out.p + CVL_BLOCK_HEADER + CVL_FRAME_HEADER, d, NULL, NULL, raw,
					  &why), -1);
	f.raw_len += 2;
	ck_assert_int_eq(cvl_frame_decode(&f, out.p + CVL_BLOCK_HEADER + CVL_FRAME_HEADER, d, NULL, NULL, raw,
					  &why), -1);
	f.raw_len -= 1;
	ck_assert_int_eq(cvl_frame_decode(&f, out.p + CVL_BLOCK_HEADER + CVL_FRAME_HEADER, d, NULL, NULL, raw,
					  &why), 0);
	ck_assert_int_eq(memcmp(raw, rs.recs.p, rs.recs.len), 0);
	free(raw);
	ZSTD_freeDCtx(d);
	cvl_buf_free(&out);
	recset_free(&rs);
}
END_TEST

START_TEST(test_block__truncated_block_is_rejected)
{
	recset rs;
	cvl_buf out;
	cvl_block_header h;
	const char *why;

	recset_make(&rs, 40, 20, 200, 0, 9);
	cvl_buf_init(&out, 0);
	free(build(&rs, 700, &out));
	ck_assert_int_eq(cvl_block_header_decode(out.p, &h, &why), 0);
	ck_assert_int_eq(cvl_block_check(out.p, out.len, &h, &why), 0);
	for (size_t len = CVL_BLOCK_HEADER; len < out.len; len++) {
		cvl_block_header lie = h;
		why = NULL;
		ck_assert_msg(cvl_block_check(out.p, len, &h, &why) == -1, "len %zu accepted", len);
		ck_assert_ptr_nonnull(why);
		/* even when the header is rewritten to claim the shorter length */
		lie.body_len = (uint32_t)(len - CVL_BLOCK_HEADER);
		ck_assert_msg(cvl_block_check(out.p, len, &lie, &why) == -1,
			      "len %zu accepted with a matching header", len);
	}
	cvl_buf_free(&out);
	recset_free(&rs);
}
END_TEST

START_TEST(test_block__header_counts_must_match_the_frames)
{
	recset rs;
	cvl_buf out;
	cvl_block_header h, t;
	const char *why;

	recset_make(&rs, 40, 20, 200, 0, 10);
	cvl_buf_init(&out, 0);
	free(build(&rs, 700, &out));
	ck_assert_int_eq(cvl_block_header_decode(out.p, &h, &why), 0);
	ck_assert_uint_gt(h.frame_count, 2);
	t = h;
	t.record_count++;
	ck_assert_int_eq(cvl_block_check(out.p, out.len, &t, &why), -1);
	t = h;
	t.record_count--;
	ck_assert_int_eq(cvl_block_check(out.p, out.len, &t, &why), -1);
	t = h;
	t.frame_count--;
	ck_assert_int_eq(cvl_block_check(out.p, out.len, &t, &why), -1);
	t = h;
	t.frame_count++;
	ck_assert_int_eq(cvl_block_check(out.p, out.len, &t, &why), -1);
	cvl_buf_free(&out);
	recset_free(&rs);
}
END_TEST

/* ---- scanning a segment for block headers ---- */

static int write_file(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	size_t done = 0;

	ck_assert_int_ge(fd, 0);
	while (done < n) {
		ssize_t w = write(fd, p + done, n - done);
		ck_assert_int_gt(w, 0);
		done += (size_t)w;
	}
	return fd;
}

/* A small valid block for LSNs [min_lsn, min_lsn + 2] (caller frees). */
static uint8_t *small_block(uint64_t min_lsn, uint64_t durable, size_t *len)
{
	recset rs;
	cvl_buf out;
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	cvl_frame_loc locs[3];

	recset_make(&rs, 3, 10, 30, 0, 11 + min_lsn);
	cvl_buf_init(&out, 0);
	CK_OK(cvl_block_build(rs.recs.p, rs.offs, NULL, rs.n, rs.recs.len, min_lsn, min_lsn + 2, durable,
			      4096, cctx, 3, &out, locs));
	ZSTD_freeCCtx(cctx);
	recset_free(&rs);
	return cvl_buf_detach(&out, len);
}

static void scan(int fd, const char *path, uint64_t off, uint64_t size, uint64_t *found,
		 uint64_t *max_durable)
{
	*found = 777;
	*max_durable = 777;
	CK_OK(cvl_block_scan_after(fd, path, off, size, found, max_durable));
}

START_TEST(test_block__scan_after_skips_garbage_and_counts_valid_blocks)
{
	char path[256];
	size_t la, lb, lc, n = 20000;
	uint8_t *a = small_block(100, 50, &la), *b = small_block(200, 180, &lb),
		*c = small_block(300, 0, &lc);
	uint8_t *file = malloc(n);
	uint64_t seed = 12, found, dur;
	size_t pa = 5000, pb = 9000, pc;

	for (size_t i = 0; i < n; i++)
		file[i] = (uint8_t)tu_rand(&seed);
	/* decoys: a bare magic, and a full header with a broken checksum */
	memcpy(file + 100, "CVLB", 4);
	memcpy(file + 1000, b, CVL_BLOCK_HEADER);
	file[1000 + 20] ^= 1;
	memcpy(file + pa, a, la);
	memcpy(file + pb, b, lb);
	pc = pb + lb; /* back to back */
	memcpy(file + pc, c, lc);
	tu_tmppath(path, sizeof(path), "scan");
	int fd = write_file(path, file, n);

	scan(fd, path, 0, n, &found, &dur);
	ck_assert_uint_eq(found, 3);
	ck_assert_uint_eq(dur, 180);
	scan(fd, path, pa, n, &found, &dur);
	ck_assert_uint_eq(found, 3);
	scan(fd, path, pa + 1, n, &found, &dur);
	ck_assert_uint_eq(found, 2);
	ck_assert_uint_eq(dur, 180);
	scan(fd, path, pb + 1, n, &found, &dur);
	ck_assert_uint_eq(found, 1);
	ck_assert_uint_eq(dur, 0);
	/* a file size that cuts the last header hides it */
	scan(fd, path, pb + 1, pc + CVL_BLOCK_HEADER - 1, &found, &dur);
	ck_assert_uint_eq(found, 0);
	ck_assert_uint_eq(dur, 0);
	scan(fd, path, pb + 1, pc + CVL_BLOCK_HEADER, &found, &dur);
	ck_assert_uint_eq(found, 1);
	close(fd);
	unlink(path);
	free(file);
	cvl_free(a);
	cvl_free(b);
	cvl_free(c);
}
END_TEST

START_TEST(test_block__scan_after_reports_none_in_zeros)
{
	char path[256];
	size_t n = (3u << 20) + 123;
	uint8_t *zeros = calloc(1, n);
	uint64_t found, dur;

	tu_tmppath(path, sizeof(path), "zeros");
	int fd = write_file(path, zeros, n);
	scan(fd, path, 0, n, &found, &dur);
	ck_assert_uint_eq(found, 0);
	ck_assert_uint_eq(dur, 0);
	scan(fd, path, n - 10, n, &found, &dur);
	ck_assert_uint_eq(found, 0);
	scan(fd, path, n, n, &found, &dur);
	ck_assert_uint_eq(found, 0);
	close(fd);
	unlink(path);
	free(zeros);
}
END_TEST

START_TEST(test_block__scan_after_finds_headers_across_read_windows)
{
	/* the scan reads 1 MiB windows; place a block at and around their
	 * edges, including headers that straddle a window's end */
	static const int64_t deltas[] = {-49, -48, -47, -1, 0, 1, 2, 47, 48, 49};
	char path[256];
	size_t blen;
	uint8_t *blk = small_block(1000, 990, &blen);
	size_t n = (3u << 20);
	uint8_t *file = calloc(1, n);

	tu_tmppath(path, sizeof(path), "windows");
	for (int edge = 1; edge <= 2; edge++) {
		for (size_t k = 0; k < sizeof(deltas) / sizeof(deltas[0]); k++) {
			uint64_t pos = (uint64_t)((int64_t)edge * (1 << 20) + deltas[k]);
			uint64_t found, dur;
			memset(file, 0, n);
			memcpy(file + pos, blk, blen);
			int fd = write_file(path, file, n);
			scan(fd, path, 0, n, &found, &dur);
			ck_assert_msg(found == 1, "block at %llu: found %llu",
				      (unsigned long long)pos, (unsigned long long)found);
			ck_assert_uint_eq(dur, 990);
			/* also from an odd starting offset */
			scan(fd, path, 7, n, &found, &dur);
			ck_assert_uint_eq(found, 1);
			close(fd);
		}
	}
	/* many blocks, back to back, crossing both edges */
	size_t off = 1000;
	uint64_t placed = 0;
	memset(file, 0, n);
	while (off + blen < n - 1000) {
		memcpy(file + off, blk, blen);
		off += blen;
		placed++;
	}
	int fd = write_file(path, file, n);
	uint64_t found, dur;
	scan(fd, path, 0, n, &found, &dur);
	ck_assert_uint_eq(found, placed);
	close(fd);
	unlink(path);
	free(file);
	cvl_free(blk);
}
END_TEST

START_TEST(test_block__scan_after_jumps_over_block_bodies)
{
	char path[256];
	size_t ilen, olen;
	uint8_t *inner = small_block(500, 400, &ilen);
	recset rs;
	cvl_buf out;
	cvl_block_header h;
	const char *why;
	uint64_t found, dur;

	/* an outer block whose only record carries a whole valid block,
	 * stored verbatim (raw codec) behind random bytes */
	recset_make(&rs, 1, 2000, 2000, 1, 77);
	memcpy(rs.bodies[0] + 600, inner, ilen);
	cvl_buf_reset(&rs.recs);
	CK_OK(cvl_record_encode(&rs.recs, CVL_REC_MSG_APPEND, 600, 1, 1, rs.bodies[0], 2000));
	cvl_buf_init(&out, 0);
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	cvl_frame_loc loc;
	CK_OK(cvl_block_build(rs.recs.p, rs.offs, NULL, 1, rs.recs.len, 600, 600, 0, 4096, cctx, 3, &out,
			      &loc));
	ZSTD_freeCCtx(cctx);
	ck_assert_int_eq(cvl_block_header_decode(out.p, &h, &why), 0);
	ck_assert_uint_eq(out.p[CVL_BLOCK_HEADER + 20], CVL_CODEC_RAW); /* precondition */
	olen = out.len;

	tu_tmppath(path, sizeof(path), "nested");
	int fd = write_file(path, out.p, olen);
	scan(fd, path, 0, olen, &found, &dur);
	ck_assert_uint_eq(found, 1);
	ck_assert_uint_eq(dur, 0);
	/* starting inside the outer block, the inner header is seen */
	scan(fd, path, 1, olen, &found, &dur);
	ck_assert_uint_eq(found, 1);
	ck_assert_uint_eq(dur, 400);
	close(fd);
	unlink(path);
	cvl_buf_free(&out);
	recset_free(&rs);
	cvl_free(inner);
}
END_TEST

/* ---- records ---- */

START_TEST(test_block__record_round_trips_with_every_known_type)
{
	static const uint8_t types[] = {CVL_REC_CONV_PUT, CVL_REC_CONV_PATCH, CVL_REC_CONV_STATUS,
					CVL_REC_MSG_APPEND, CVL_REC_MSG_SUPERSEDE};
	cvl_buf b;
	const char *why;

	cvl_buf_init(&b, 0);
	for (size_t i = 0; i < sizeof(types); i++)
		CK_OK(cvl_record_encode(&b, types[i], i + 1, UINT64_MAX - i, i * 3,
					(const uint8_t *)"body\0x", i == 0 ? 0 : 6));
	const uint8_t *p = b.p, *end = b.p + b.len;
	for (size_t i = 0; i < sizeof(types); i++) {
		cvl_record r;
		ck_assert_int_eq(cvl_record_decode(&p, end, &r, &why), 0);
		ck_assert_uint_eq(r.type, types[i]);
		ck_assert_uint_eq(r.lsn, i + 1);
		ck_assert_uint_eq(r.hlc, UINT64_MAX - i);
		ck_assert_uint_eq(r.origin, i * 3);
		ck_assert_uint_eq(r.body_len, i == 0 ? 0 : 6);
		if (i)
			ck_assert_int_eq(memcmp(r.body, "body\0x", 6), 0);
		ck_assert_str_ne(cvl_record_type_name(types[i]), "unknown");
	}
	ck_assert_ptr_eq(p, end);
	ck_assert_str_eq(cvl_record_type_name(CVL_REC_MSG_APPEND), "msg_append");
	ck_assert_str_eq(cvl_record_type_name(0x7f), "unknown");
	cvl_buf_free(&b);
}
END_TEST

/* One encoded record with a 4-byte body in `b` (reset first). */
static void one_record(cvl_buf *b)
{
	cvl_buf_reset(b);
	CK_OK(cvl_record_encode(b, CVL_REC_MSG_APPEND, 1, 2, 3, (const uint8_t *)"abcd", 4));
	ck_assert_uint_eq(b->len, 1 + CVL_REC_FIXED + 4);
}

static int decode_one(const uint8_t *p, size_t n, const char **why)
{
	const uint8_t *q = p;
	cvl_record r;
	int rc = cvl_record_decode(&q, p + n, &r, why);

	if (rc)
		ck_assert_ptr_eq(q, p); /* no advance on failure */
	return rc;
}

START_TEST(test_block__record_decode_rejects_unknown_types)
{
	cvl_buf b;
	const char *why;

	cvl_buf_init(&b, 0);
	for (int t = 0; t < 256; t++) {
		int known = t == CVL_REC_CONV_PUT || t == CVL_REC_CONV_PATCH ||
			    t == CVL_REC_CONV_STATUS || t == CVL_REC_CONV_PURGE ||
			    t == CVL_REC_CONV_DETACH || t == CVL_REC_MSG_APPEND ||
			    t == CVL_REC_MSG_SUPERSEDE || t == CVL_REC_MSG_ADOPT ||
			    t == CVL_REC_CONV_MERGE || t == CVL_REC_SYNC_PEER ||
			    t == CVL_REC_MSG_DROP;
		one_record(&b);
		b.p[1] = (uint8_t)t;
		why = NULL;
		ck_assert_int_eq(decode_one(b.p, b.len, &why), known ? 0 : -1);
		if (!known)
			ck_assert_str_eq(why, "unknown record type");
	}
	cvl_buf_free(&b);
}
END_TEST

START_TEST(test_block__record_decode_rejects_non_zero_flags)
{
	cvl_buf b;
	const char *why = NULL;

	cvl_buf_init(&b, 0);
	for (int bit = 0; bit < 8; bit++) {
		one_record(&b);
		b.p[2] = (uint8_t)(1u << bit);
		ck_assert_int_eq(decode_one(b.p, b.len, &why), -1);
		ck_assert_str_eq(why, "record flags are not zero");
	}
	cvl_buf_free(&b);
}
END_TEST

START_TEST(test_block__record_decode_rejects_bad_lengths)
{
	cvl_buf b;
	const char *why = NULL;

	cvl_buf_init(&b, 0);
	/* shorter than the fixed part */
	one_record(&b);
	b.p[0] = CVL_REC_FIXED - 1;
	ck_assert_int_eq(decode_one(b.p, b.len, &why), -1);
	b.p[0] = 0;
	ck_assert_int_eq(decode_one(b.p, b.len, &why), -1);
	/* running past the end */
	one_record(&b);
	b.p[0] = CVL_REC_FIXED + 5;
	ck_assert_int_eq(decode_one(b.p, b.len, &why), -1);
	/* every truncation of a good record */
	one_record(&b);
	for (size_t n = 0; n < b.len; n++)
		ck_assert_msg(decode_one(b.p, n, &why) == -1, "truncated to %zu accepted", n);
	/* a length varint that never ends */
	uint8_t cont[3] = {0xFF, 0xFF, 0xFF};
	ck_assert_int_eq(decode_one(cont, sizeof(cont), &why), -1);
	ck_assert_str_eq(why, "record length is not a valid varint");
	/* a huge length must not wrap */
	uint8_t huge[CVL_VARINT_MAX + CVL_REC_FIXED];
	memset(huge, 0, sizeof(huge));
	size_t k = cvl_varint_put(huge, UINT64_MAX);
	huge[k] = CVL_REC_MSG_APPEND;
	ck_assert_int_eq(decode_one(huge, sizeof(huge), &why), -1);
	cvl_buf_free(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("block");
	TCase *tc = tcase_create("block");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_block__records_split_into_frames_and_decode_back);
	tcase_add_test(tc, test_block__locs_point_at_the_right_frame_and_record);
	tcase_add_test(tc, test_block__incompressible_frames_use_the_raw_codec);
	tcase_add_test(tc, test_block__oversized_record_gets_a_frame_of_its_own);
	tcase_add_test(tc, test_block__appends_after_existing_bytes);
	tcase_add_test(tc, test_block__header_fields_round_trip);
	tcase_add_test(tc, test_block__durable_lsn_round_trips_or_degrades_to_a_safe_bound);
	tcase_add_test(tc, test_block__flipped_header_bit_is_detected);
	tcase_add_test(tc, test_block__header_with_valid_checksum_but_bad_fields_is_rejected);
	tcase_add_test(tc, test_block__flipped_frame_bit_is_detected);
	tcase_add_test(tc, test_block__frame_check_rejects_bad_fields_under_a_valid_checksum);
	tcase_add_test(tc, test_block__frame_decode_rejects_a_wrong_raw_length);
	tcase_add_test(tc, test_block__truncated_block_is_rejected);
	tcase_add_test(tc, test_block__header_counts_must_match_the_frames);
	tcase_add_test(tc, test_block__scan_after_skips_garbage_and_counts_valid_blocks);
	tcase_add_test(tc, test_block__scan_after_reports_none_in_zeros);
	tcase_add_test(tc, test_block__scan_after_finds_headers_across_read_windows);
	tcase_add_test(tc, test_block__scan_after_jumps_over_block_bodies);
	tcase_add_test(tc, test_block__record_round_trips_with_every_known_type);
	tcase_add_test(tc, test_block__record_decode_rejects_unknown_types);
	tcase_add_test(tc, test_block__record_decode_rejects_non_zero_flags);
	tcase_add_test(tc, test_block__record_decode_rejects_bad_lengths);
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
