#include <string.h>
#include <xxhash.h>

#include "convlog.h"
#include "log/block.h"
#include "os/os.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"

static const uint8_t block_magic[4] = {'C', 'V', 'L', 'B'};

void cvl_block_header_encode(const cvl_block_header *h, uint8_t out[CVL_BLOCK_HEADER])
{
	memset(out, 0, CVL_BLOCK_HEADER);
	memcpy(out, block_magic, 4);
	out[4] = CVL_BLOCK_VERSION;
	out[5] = 0;
	cvl_put_u16le(out + 6, h->frame_count);
	cvl_put_u32le(out + 8, h->record_count);
	cvl_put_u32le(out + 12, h->body_len);
	cvl_put_u64le(out + 16, h->min_lsn);
	cvl_put_u64le(out + 24, h->max_lsn);
	cvl_put_u32le(out + 32, h->dict_id);
	uint64_t gap = h->durable_lsn && h->durable_lsn < h->min_lsn ? h->min_lsn - h->durable_lsn : 0;
	cvl_put_u32le(out + 36, gap > UINT32_MAX ? UINT32_MAX : (uint32_t)gap);
	cvl_put_u64le(out + 40, XXH3_64bits(out, 40));
}

int cvl_block_header_decode(const uint8_t in[CVL_BLOCK_HEADER], cvl_block_header *h,
			    const char **why)
{
	if (memcmp(in, block_magic, 4) != 0) {
		*why = "bad block magic";
		return -1;
	}
	if (cvl_get_u64le(in + 40) != XXH3_64bits(in, 40)) {
		*why = "block header checksum mismatch";
		return -1;
	}
	if (in[4] != CVL_BLOCK_VERSION) {
		*why = "unknown block version";
		return -1;
	}
	if (in[5] != 0) {
		*why = "reserved block header bits are set";
		return -1;
	}
	h->frame_count = cvl_get_u16le(in + 6);
	h->record_count = cvl_get_u32le(in + 8);
	h->body_len = cvl_get_u32le(in + 12);
	h->min_lsn = cvl_get_u64le(in + 16);
	h->max_lsn = cvl_get_u64le(in + 24);
	h->dict_id = cvl_get_u32le(in + 32);
	uint32_t gap = cvl_get_u32le(in + 36);
	h->durable_lsn = gap && gap < h->min_lsn ? h->min_lsn - gap : 0;
	if (h->frame_count == 0 || h->record_count == 0 || h->min_lsn == 0 ||
	    h->min_lsn > h->max_lsn) {
		*why = "block header counts or LSN range are invalid";
		return -1;
	}
	if (h->body_len > CVL_BLOCK_MAX_BODY ||
	    h->body_len < (uint64_t)h->frame_count * CVL_FRAME_HEADER) {
		*why = "block body length is out of range";
		return -1;
	}
	return 0;
}

static void frame_header_encode(uint8_t *out, const cvl_frame_header *f,
				const uint8_t *stored)
{
	cvl_put_u32le(out + 8, f->stored_len);
	cvl_put_u32le(out + 12, f->raw_len);
	cvl_put_u32le(out + 16, f->record_count);
	out[20] = f->codec;
	out[21] = out[22] = out[23] = 0;
	(void)stored;
	cvl_put_u64le(out, XXH3_64bits(out + 8, CVL_FRAME_HEADER - 8 + f->stored_len));
}

int cvl_frame_check(const uint8_t *frame, size_t avail, cvl_frame_header *f,
		    const char **why)
{
	if (avail < CVL_FRAME_HEADER) {
		*why = "frame header runs past the block";
		return -1;
	}
	f->checksum = cvl_get_u64le(frame);
	f->stored_len = cvl_get_u32le(frame + 8);
	f->raw_len = cvl_get_u32le(frame + 12);
	f->record_count = cvl_get_u32le(frame + 16);
	f->codec = frame[20];
	if (f->stored_len > avail - CVL_FRAME_HEADER) {
		*why = "frame length runs past the block";
		return -1;
	}
	if (XXH3_64bits(frame + 8, CVL_FRAME_HEADER - 8 + f->stored_len) != f->checksum) {
		*why = "frame checksum mismatch";
		return -1;
	}
	if (frame[21] || frame[22] || frame[23]) {
		*why = "reserved frame header bytes are set";
		return -1;
	}
	if (f->codec != CVL_CODEC_RAW && f->codec != CVL_CODEC_ZSTD &&
	    f->codec != CVL_CODEC_ZSTD_DICT) {
		*why = "unknown frame codec";
		return -1;
	}
	if (f->record_count == 0 || f->record_count > CVL_FRAME_MAX_RECORDS ||
	    f->raw_len > CVL_BLOCK_MAX_BODY ||
	    (f->codec == CVL_CODEC_RAW && f->raw_len != f->stored_len)) {
		*why = "frame counts are invalid";
		return -1;
	}
	return 0;
}

int cvl_frame_decode(const cvl_frame_header *f, const uint8_t *stored,
		     ZSTD_DCtx *dctx, cvl_ddict_fn getd, void *ud, uint8_t *out,
		     const char **why)
{
	size_t r;

	if (f->codec == CVL_CODEC_RAW) {
		memcpy(out, stored, f->raw_len);
		return 0;
	}
	if (f->codec == CVL_CODEC_ZSTD_DICT) {
		unsigned id = ZSTD_getDictID_fromFrame(stored, f->stored_len);
		const ZSTD_DDict *dd = id && getd ? getd(ud, id) : NULL;
		if (!id) {
			*why = "dictionary frame names no dictionary";
			return -1;
		}
		if (!dd) {
			*why = "frame needs a compression dictionary the store does not have";
			return -1;
		}
		r = ZSTD_decompress_usingDDict(dctx, out, f->raw_len, stored, f->stored_len, dd);
	} else {
		r = ZSTD_decompressDCtx(dctx, out, f->raw_len, stored, f->stored_len);
	}
	if (ZSTD_isError(r) || r != f->raw_len) {
		*why = "frame does not decompress to its stated size";
		return -1;
	}
	return 0;
}

int cvl_block_check(const uint8_t *blk, size_t len, const cvl_block_header *h,
		    const char **why)
{
	size_t off = CVL_BLOCK_HEADER;
	uint64_t records = 0;

	if (len != CVL_BLOCK_HEADER + (size_t)h->body_len) {
		*why = "block length mismatch";
		return -1;
	}
	for (unsigned i = 0; i < h->frame_count; i++) {
		cvl_frame_header f;
		if (cvl_frame_check(blk + off, len - off, &f, why))
			return -1;
		records += f.record_count;
		off += CVL_FRAME_HEADER + f.stored_len;
	}
	if (off != len) {
		*why = "frames do not fill the block";
		return -1;
	}
	if (records != h->record_count) {
		*why = "frame record counts do not add up to the block's";
		return -1;
	}
	return 0;
}

/* Compresses one frame of records [a, b) into out. */
static int build_frame(const uint8_t *raw, size_t raw_len, uint32_t nrec,
		       ZSTD_CCtx *cctx, int level, const ZSTD_CDict *cdict, cvl_buf *out,
		       uint32_t *frame_len)
{
	size_t start = out->len, bound = ZSTD_compressBound(raw_len), clen;
	cvl_frame_header f = {.raw_len = (uint32_t)raw_len, .record_count = nrec};
	int rc = cvl_buf_reserve(out, CVL_FRAME_HEADER + (bound > raw_len ? bound : raw_len));

	if (rc)
		return rc;
	uint8_t *hdr = out->p + start, *dst = hdr + CVL_FRAME_HEADER;
	clen = cdict ? ZSTD_compress_usingCDict(cctx, dst, bound, raw, raw_len, cdict)
		     : ZSTD_compressCCtx(cctx, dst, bound, raw, raw_len, level);
	if (ZSTD_isError(clen))
		return cvl_err(CONVLOG_ENOMEM, "zstd compression failed: %s",
			       ZSTD_getErrorName(clen));
	if (clen >= raw_len) {
		memcpy(dst, raw, raw_len);
		f.codec = CVL_CODEC_RAW;
		f.stored_len = (uint32_t)raw_len;
	} else {
		f.codec = cdict ? CVL_CODEC_ZSTD_DICT : CVL_CODEC_ZSTD;
		f.stored_len = (uint32_t)clen;
	}
	frame_header_encode(hdr, &f, dst);
	out->len = start + CVL_FRAME_HEADER + f.stored_len;
	*frame_len = CVL_FRAME_HEADER + f.stored_len;
	return 0;
}

static int block_build(const uint8_t *recs, const size_t *offs, const size_t *group,
		       size_t nrec, size_t total, uint64_t min_lsn, uint64_t max_lsn,
		       uint64_t durable_lsn, size_t frame_target, ZSTD_CCtx *cctx, int level,
		       const ZSTD_CDict *cdict, uint32_t dict_id, cvl_buf *out,
		       cvl_frame_loc *locs)
{
	size_t block_start = out->len, i = 0;
	cvl_block_header h = {.record_count = (uint32_t)nrec, .min_lsn = min_lsn,
			      .max_lsn = max_lsn, .durable_lsn = durable_lsn,
			      .dict_id = cdict ? dict_id : 0};
	int rc = cvl_buf_reserve(out, CVL_BLOCK_HEADER);

	if (rc)
		return rc;
	out->len += CVL_BLOCK_HEADER;
	while (i < nrec) {
		size_t a = i, b = i + 1;
		uint32_t flen = 0;
		while (b < nrec && offs[b] - offs[a] < frame_target &&
		       b - a < CVL_FRAME_MAX_RECORDS &&
		       !(group && group[b] != group[b - 1] && offs[b] - offs[a] >= frame_target / 4))
			b++;
		size_t end = b < nrec ? offs[b] : total;
		if (h.frame_count == UINT16_MAX)
			return cvl_err(CONVLOG_ETOOBIG, "transaction needs more than %u frames",
				       UINT16_MAX);
		uint32_t frame_off = (uint32_t)(out->len - block_start);
		rc = build_frame(recs + offs[a], end - offs[a], (uint32_t)(b - a), cctx, level,
				 cdict, out, &flen);
		if (rc)
			return rc;
		for (size_t k = a; k < b; k++) {
			locs[k].frame_off = frame_off;
			locs[k].frame_len = flen;
			locs[k].rec_idx = (uint16_t)(k - a);
		}
		h.frame_count++;
		i = b;
	}
	if (out->len - block_start - CVL_BLOCK_HEADER > CVL_BLOCK_MAX_BODY)
		return cvl_err(CONVLOG_ETOOBIG, "transaction block exceeds %u bytes",
			       CVL_BLOCK_MAX_BODY);
	h.body_len = (uint32_t)(out->len - block_start - CVL_BLOCK_HEADER);
	cvl_block_header_encode(&h, out->p + block_start);
	return 0;
}

int cvl_block_build(const uint8_t *recs, const size_t *offs, const size_t *group,
		    size_t nrec, size_t total, uint64_t min_lsn, uint64_t max_lsn,
		    uint64_t durable_lsn, size_t frame_target, ZSTD_CCtx *cctx, int level,
		    cvl_buf *out, cvl_frame_loc *locs)
{
	return block_build(recs, offs, group, nrec, total, min_lsn, max_lsn, durable_lsn,
			   frame_target, cctx, level, NULL, 0, out, locs);
}

int cvl_block_build_dict(const uint8_t *recs, const size_t *offs, const size_t *group,
			 size_t nrec, size_t total, uint64_t min_lsn, uint64_t max_lsn,
			 size_t frame_target, ZSTD_CCtx *cctx, int level,
			 const ZSTD_CDict *cdict, uint32_t dict_id, cvl_buf *out,
			 cvl_frame_loc *locs)
{
	return block_build(recs, offs, group, nrec, total, min_lsn, max_lsn, 0, frame_target,
			   cctx, level, cdict, dict_id, out, locs);
}

int cvl_block_scan_after(int fd, const char *path, uint64_t off, uint64_t file_size,
			 uint64_t *found, uint64_t *max_durable)
{
	enum { WIN = 1 << 20 };
	uint8_t *buf = cvl_malloc(WIN);
	uint64_t win_off = 0;
	size_t win_len = 0;
	int rc = 0;

	*found = 0;
	*max_durable = 0;
	if (!buf)
		return cvl_err(CONVLOG_ENOMEM, "out of memory scanning %s", path);
	while (off + CVL_BLOCK_HEADER <= file_size) {
		if (!win_len || off < win_off || off + CVL_BLOCK_HEADER > win_off + win_len) {
			size_t want = WIN;
			if (want > file_size - off)
				want = (size_t)(file_size - off);
			if ((rc = cvl_os_pread(fd, buf, want, off, &win_len, path)))
				break;
			win_off = off;
			if (win_len < CVL_BLOCK_HEADER)
				break;
		}
		const uint8_t *p = buf + (off - win_off);
		cvl_block_header h;
		const char *why;
		if (p[0] == 'C' && memcmp(p, block_magic, 4) == 0 &&
		    cvl_block_header_decode(p, &h, &why) == 0) {
			(*found)++;
			if (h.durable_lsn > *max_durable)
				*max_durable = h.durable_lsn;
			off += CVL_BLOCK_HEADER + (uint64_t)h.body_len;
			continue;
		}
		off++;
	}
	cvl_free(buf);
	return rc;
}
