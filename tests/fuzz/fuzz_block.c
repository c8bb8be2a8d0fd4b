/*
 * fuzz_block: a log block from bytes (format-spec.md §4, §5, §6): the block
 * header, the frames (raw and zstd without a dictionary), the records they
 * carry, and the record bodies through the conversation and message
 * decoders.
 *
 * Input: one flags byte, then the block.  Flags bit 0 set: the harness
 * rewrites the header and frame checksums first (fz_fix_blocks), so the
 * mutations reach the frame, record and body decoders instead of dying at
 * an XXH3 check; clear: the bytes are used as they are.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "fuzz_common.h"
#include "log/block.h"
#include "log/record.h"
#include "model/conv.h"
#include "model/msg.h"

#define RAW_CAP (64u << 20) /* bigger frames are refused before decoding */

static void body(uint8_t type, const uint8_t *p, size_t n)
{
	const char *why = NULL;
	convlog_conv *c = NULL;
	convlog_msg *m = NULL;
	cvl_msg_peek pk;
	cvl_msg_sum sum;
	uint64_t mask;
	int64_t at;

	if (cvl_record_is_msg(type) || type == CVL_REC_MSG_DROP) {
		if (cvl_msg_decode(p, n, &m, &why) == 0)
			convlog_msg_free(m);
		memset(&pk, 0, sizeof(pk));
		(void)cvl_msg_peek_body(p, n, &pk);
	} else {
		if (cvl_conv_decode(p, n, &c, &why) == 0) {
			(void)cvl_conv_overlay(c, p, n, &why);
			convlog_conv_free(c);
		}
		(void)cvl_conv_patch_meta(p, n, &mask, &at);
	}
	/* the same TLV read as an LMDB `msg` value (locator + summary) */
	memset(&sum, 0, sizeof(sum));
	(void)cvl_msg_sum_decode(p, n, 7, &sum);
}

static void frames(const uint8_t *blk, size_t len, const cvl_block_header *h, ZSTD_DCtx *d)
{
	size_t pos = CVL_BLOCK_HEADER;
	const char *why;

	for (unsigned i = 0; i < h->frame_count && pos < len; i++) {
		cvl_frame_header f;
		if (cvl_frame_check(blk + pos, len - pos, &f, &why))
			return;
		if (f.raw_len > RAW_CAP)
			return;
		uint8_t *raw = malloc(f.raw_len ? f.raw_len : 1);
		if (!raw)
			return;
		if (cvl_frame_decode(&f, blk + pos + CVL_FRAME_HEADER, d, NULL, NULL, raw, &why) == 0) {
			const uint8_t *p = raw, *end = raw + f.raw_len;
			for (uint32_t r = 0; r < f.record_count; r++) {
				cvl_record rec;
				if (cvl_record_decode(&p, end, &rec, &why))
					break;
				(void)cvl_record_type_name(rec.type);
				body(rec.type, rec.body, rec.body_len);
			}
		}
		free(raw);
		pos += CVL_FRAME_HEADER + f.stored_len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static ZSTD_DCtx *d;
	cvl_block_header h;
	const char *why;
	uint8_t *blk;
	size_t len;

	if (size < 1)
		return 0;
	if (!d && !(d = ZSTD_createDCtx()))
		abort();
	len = size - 1;
	blk = malloc(len ? len : 1);
	if (!blk)
		return 0;
	memcpy(blk, data + 1, len);
	if (data[0] & 1)
		fz_fix_blocks(blk, len);
	if (len >= CVL_BLOCK_HEADER && cvl_block_header_decode(blk, &h, &why) == 0 &&
	    h.body_len <= len - CVL_BLOCK_HEADER) {
		size_t blen = CVL_BLOCK_HEADER + (size_t)h.body_len;
		int ok = cvl_block_check(blk, blen, &h, &why) == 0;
		/* recovery decodes only checked blocks; bit 1 also tries the
		 * unchecked ones, since the frame decoders bound themselves */
		if (ok || (data[0] & 2))
			frames(blk, blen, &h, d);
	}
	/* the whole input as one record body of each kind */
	body(CVL_REC_MSG_APPEND, blk, len);
	body(CVL_REC_CONV_PUT, blk, len);
	free(blk);
	return 0;
}
