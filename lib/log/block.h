/* Blocks: one transaction each, a header then one or more independently
 * compressed frames (format-spec.md §4). */
#ifndef CVL_LOG_BLOCK_H
#define CVL_LOG_BLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <zstd.h>

#include "util/buf.h"

#define CVL_BLOCK_HEADER 48
#define CVL_FRAME_HEADER 24
#define CVL_BLOCK_VERSION 1
#define CVL_BLOCK_MAX_BODY (1u << 30)
#define CVL_FRAME_MAX_RECORDS 65535u
#define CVL_CODEC_RAW 0
#define CVL_CODEC_ZSTD 1
#define CVL_CODEC_ZSTD_DICT 2 /* format 3: zstd with a stored dictionary */

/* Finds the decompression dictionary with zstd dictionary id `id` (NULL if
 * the store has none). */
typedef const ZSTD_DDict *(*cvl_ddict_fn)(void *ud, uint32_t id);

typedef struct cvl_block_header {
	uint16_t frame_count;
	uint32_t record_count;
	uint32_t body_len; /* bytes after the header: every frame */
	uint64_t min_lsn;
	uint64_t max_lsn;
	uint32_t dict_id;
	/* every LSN <= durable_lsn was on disk (synced) before this block was
	 * written; 0 = unknown.  Stored as min_lsn - durable_lsn. */
	uint64_t durable_lsn;
} cvl_block_header;

typedef struct cvl_frame_header {
	uint64_t checksum;
	uint32_t stored_len;
	uint32_t raw_len;
	uint32_t record_count;
	uint8_t codec;
} cvl_frame_header;

/* Where a record landed: its frame (offset from block start, total length
 * including the frame header) and its index within the frame. */
typedef struct cvl_frame_loc {
	uint32_t frame_off;
	uint32_t frame_len;
	uint16_t rec_idx;
} cvl_frame_loc;

/*
 * Builds a block from `nrec` encoded records laid end to end in `recs`
 * (record i starts at offs[i]).  Records are packed into frames of about
 * `frame_target` raw bytes (never split); with `group` (may be NULL), a
 * frame also ends where group[i] changes once it holds a quarter of the
 * target, so a conversation's records share frames with few others.  Each
 * frame is zstd-compressed at `level` unless that does not make it
 * smaller.  Appends the block to `out` and fills locs[i] for every record.
 */
int cvl_block_build(const uint8_t *recs, const size_t *offs, const size_t *group,
		    size_t nrec, size_t total, uint64_t min_lsn, uint64_t max_lsn,
		    uint64_t durable_lsn, size_t frame_target, ZSTD_CCtx *cctx, int level,
		    cvl_buf *out, cvl_frame_loc *locs);

/* The same with every frame compressed with dictionary `cdict` (codec 2,
 * zstd dictionary id `dict_id`, also stored in the block header), for the
 * compactor's cold segments: the records need not carry consecutive LSNs,
 * [min_lsn, max_lsn] just bounds them.  cdict NULL: as cvl_block_build. */
int cvl_block_build_dict(const uint8_t *recs, const size_t *offs, const size_t *group,
			 size_t nrec, size_t total, uint64_t min_lsn, uint64_t max_lsn,
			 size_t frame_target, ZSTD_CCtx *cctx, int level,
			 const ZSTD_CDict *cdict, uint32_t dict_id, cvl_buf *out,
			 cvl_frame_loc *locs);

void cvl_block_header_encode(const cvl_block_header *h, uint8_t out[CVL_BLOCK_HEADER]);

/* Decodes and checks a block header. -1 with *why if invalid. */
int cvl_block_header_decode(const uint8_t in[CVL_BLOCK_HEADER], cvl_block_header *h,
			    const char **why);

/* Decodes a frame header and checks its checksum (frame bytes 8..23 and
 * the stored_len bytes that follow); `avail` bounds what may be read. */
int cvl_frame_check(const uint8_t *frame, size_t avail, cvl_frame_header *f,
		    const char **why);

/* Decompresses a checked frame's stored bytes into out[raw_len]; a codec 2
 * frame gets its dictionary from getd (NULL: such frames fail). */
int cvl_frame_decode(const cvl_frame_header *f, const uint8_t *stored,
		     ZSTD_DCtx *dctx, cvl_ddict_fn getd, void *ud, uint8_t *out,
		     const char **why);

/*
 * Checks a whole block held in memory (header + body): every frame header,
 * checksum and length, and that the counts add up.  0 or -1 with *why.
 */
int cvl_block_check(const uint8_t *blk, size_t len, const cvl_block_header *h,
		    const char **why);

/*
 * Walks [off, file_size) of `fd` for block headers that decode cleanly,
 * jumping over each block found; *found counts them and *max_durable is
 * the highest durable_lsn they carry.  Used after damage at `off` to tell
 * an unsynced (torn) tail from damage to data that was already durable.
 */
int cvl_block_scan_after(int fd, const char *path, uint64_t off, uint64_t file_size,
			 uint64_t *found, uint64_t *max_durable);

#endif
