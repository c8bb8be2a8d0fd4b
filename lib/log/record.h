/* Log records: the typed mutations a block carries (format-spec.md §5). */
#ifndef CVL_LOG_RECORD_H
#define CVL_LOG_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define CVL_REC_CONV_PUT 0x01
#define CVL_REC_CONV_PATCH 0x02
#define CVL_REC_CONV_STATUS 0x03
#define CVL_REC_CONV_PURGE 0x04  /* format 2 */
#define CVL_REC_CONV_DETACH 0x05 /* format 2 */
#define CVL_REC_MSG_APPEND 0x10
#define CVL_REC_MSG_SUPERSEDE 0x11
#define CVL_REC_MSG_ADOPT 0x12   /* format 2 */
#define CVL_REC_CONV_MERGE 0x06  /* format 4: sync */
#define CVL_REC_SYNC_PEER 0x07   /* format 4: sync */
#define CVL_REC_MSG_DROP 0x13    /* format 4: sync */

/* Records whose body is a full message (a locator may name them). */
static inline int cvl_record_is_msg(uint8_t t)
{
	return t == 0x10 || t == 0x11 || t == 0x12;
}

/* Records whose body is keyed by MF_CONV/MF_SEQ (messages and drops). */
static inline int cvl_record_msg_keyed(uint8_t t)
{
	return cvl_record_is_msg(t) || t == 0x13;
}

/* Fixed part after the length varint: type, flags, lsn, hlc, origin. */
#define CVL_REC_FIXED 26

/* Encoded size of a record with a `body_len`-byte body. */
static inline size_t cvl_record_len(size_t body_len)
{
	size_t l = CVL_REC_FIXED + body_len, n = l;
	size_t v = 1;
	while (n >= 0x80) {
		n >>= 7;
		v++;
	}
	return l + v;
}

typedef struct cvl_record {
	uint8_t type;
	uint64_t lsn;
	uint64_t hlc;
	uint64_t origin;
	const uint8_t *body; /* TLV, borrowed */
	size_t body_len;
} cvl_record;

/* Appends one encoded record to `out`. */
int cvl_record_encode(cvl_buf *out, uint8_t type, uint64_t lsn, uint64_t hlc,
		      uint64_t origin, const uint8_t *body, size_t body_len);

/* Decodes the record at [*pp, end) and advances *pp.  Returns 0 or -1 when
 * the bytes are not a well-formed record (the caller reports corruption). */
int cvl_record_decode(const uint8_t **pp, const uint8_t *end, cvl_record *out,
		      const char **why);

const char *cvl_record_type_name(uint8_t type);

#endif
