/* Segment files: a 64-byte header followed by blocks (format-spec.md §3). */
#ifndef CVL_LOG_SEGMENT_H
#define CVL_LOG_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#define CVL_SEG_HEADER 64
#define CVL_SEG_VERSION 1
#define CVL_SEG_NAME_MAX 4096

/* Header flags (store format 3).  A compacted segment holds message
 * records the compactor copied out of older segments: it is not part of
 * the log (never replayed, never appended to). */
#define CVL_SEGF_COMPACT 1u
#define CVL_SEGF_COLD 2u /* compacted, archived conversations, dictionary */
#define CVL_SEGF_KNOWN 3u

typedef struct cvl_seg_header {
	uint32_t version;
	uint32_t flags;
	uint64_t id;
	uint8_t store_id[16];
	int64_t created_at;
} cvl_seg_header;

void cvl_seg_path(char *buf, size_t n, const char *dir, uint64_t id);
/* 0 and *id if `name` is a segment file name ("%016x.seg"), else -1. */
int cvl_seg_parse_name(const char *name, uint64_t *id);

void cvl_seg_header_encode(const cvl_seg_header *h, uint8_t out[CVL_SEG_HEADER]);
/* CONVLOG_ECORRUPT (bad magic/checksum/reserved) or CONVLOG_EVERSION. */
int cvl_seg_header_decode(const uint8_t in[CVL_SEG_HEADER], cvl_seg_header *h,
			  const char *path);

/* Creates segment `id` in `dir` (must not exist), writes and syncs the
 * header and the directory entry.  Returns the open read-write fd. */
int cvl_seg_create(const char *dir, uint64_t id, const uint8_t store_id[16],
		   int64_t now_ms, int *fd);

/* Opens and checks an existing segment; `rw` for the writer.  *flags
 * (may be NULL) gets the header flags. */
int cvl_seg_open(const char *dir, uint64_t id, const uint8_t store_id[16], int rw,
		 int *fd, uint64_t *size, uint32_t *flags);

/* The compactor's output: `%016x.seg.tmp`, header with `flags` written
 * (not synced); cvl_seg_publish syncs it and renames it into place. */
void cvl_seg_tmp_path(char *buf, size_t n, const char *dir, uint64_t id);
int cvl_seg_create_tmp(const char *dir, uint64_t id, const uint8_t store_id[16],
		       int64_t now_ms, uint32_t flags, int *fd);
int cvl_seg_publish(const char *dir, uint64_t id, int fd);
/* 0 and *id if `name` is a compactor's temporary file name. */
int cvl_seg_parse_tmp_name(const char *name, uint64_t *id);

#endif
