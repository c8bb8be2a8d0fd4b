/* Message encoding, decoding, validation, and the per-message summary
 * kept in LMDB beside the locator. */
#ifndef CVL_MODEL_MSG_H
#define CVL_MODEL_MSG_H

#include "convlog.h"
#include "model/check.h"
#include "util/buf.h"

enum {
	MF_ID = 1, MF_CONV = 2, MF_SEQ = 3, MF_PARENT = 4, MF_ROLE = 5, MF_NAME = 6,
	MF_CONTENT = 7, MF_TOOL_CALLS = 8, MF_TOOL_CALL_ID = 9, MF_TOKENS = 10,
	MF_COST = 11, MF_LATENCY = 12, MF_MODEL = 13, MF_STATUS = 14, MF_ERROR = 15,
	MF_FEEDBACK = 16, MF_FEEDBACK_TEXT = 17, MF_METADATA = 18, MF_CREATED = 19,
	MF_EDITED = 20,
	/* format 4, sync: the stamps (hlc, origin) of the message's creation
	 * and of this version; absent = the record's own hlc and origin */
	MF_BORN_HLC = 21, MF_BORN_ORIGIN = 22, MF_VER_HLC = 23, MF_VER_ORIGIN = 24,
	MF_CONTENT_LEN = 40, /* summaries only */
	MF_REC_LEN = 41      /* summaries only, format 3 */
};

/* Full message TLV (record bodies). */
int cvl_msg_encode(const convlog_msg *m, cvl_buf *out);
struct cvl_stamp;
/* Appends the sync stamps (fields 21..24) after cvl_msg_encode; NULL:
 * omitted (the record's own stamp then stands for it). */
int cvl_msg_put_stamps(cvl_buf *out, const struct cvl_stamp *born, const struct cvl_stamp *ver);

/* Decodes into a new packed message (convlog_msg_free); 0, CONVLOG_ENOMEM,
 * or -1 with *why. */
int cvl_msg_decode(const uint8_t *p, size_t n, convlog_msg **out, const char **why);

/* Validates `in` (fields in `mask`; CONVLOG_MSG_ALL on append) and writes
 * a shallow copy with canonical JSON into *out. */
int cvl_msg_prepare(const char *who, const convlog_msg *in, uint64_t mask,
		    uint32_t max_content, convlog_msg *out, cvl_prep *pr);

/* Where a message version's record lives. seg 0 = not yet written (inside
 * an open transaction; frame_off is then the record's index in it).
 * Encoded as seg u32, frame_off u32, frame_len u32, rec_idx u16 (LE):
 * segments never exceed 4 GiB. */
typedef struct cvl_loc {
	uint32_t seg;
	uint64_t frame_off;
	uint32_t frame_len;
	uint16_t rec_idx;
} cvl_loc;

#define CVL_LOC_LEN 14

/* LMDB `msg` value: locator, then summary TLV in which parent_seq is
 * omitted when it is seq - 1 and status when it is completed.  Strings
 * borrowed. */
typedef struct cvl_msg_sum {
	cvl_loc loc;
	uint32_t parent_seq;
	const char *role;
	size_t role_len;
	const char *model;
	size_t model_len;
	int64_t tokens, cost, latency; /* -1 unknown */
	int status, feedback;
	int64_t created_at, edited_at;
	uint64_t content_len;
	uint64_t rec_len; /* encoded record bytes; 0 unknown (format < 3) */
} cvl_msg_sum;

/* The fields of a message record body that state changes need, read in
 * place (strings not NUL-terminated). */
typedef struct cvl_msg_peek {
	convlog_uuid id, conv;
	uint32_t seq, parent_seq;
	const char *role, *model, *content;
	size_t role_len, model_len;
	int64_t tokens, cost, latency;
	int status, feedback;
	int64_t created_at, edited_at;
	uint64_t content_len;
	uint64_t rec_len; /* set by the caller for the summary (0: omitted) */
	uint64_t born_hlc, born_origin, ver_hlc, ver_origin; /* 0: absent */
	int has_id, has_conv;
} cvl_msg_peek;

int cvl_msg_peek_body(const uint8_t *p, size_t n, cvl_msg_peek *out);
int cvl_msg_sum_encode(const cvl_msg_peek *m, const cvl_loc *loc, cvl_buf *out);
int cvl_msg_sum_decode(const uint8_t *p, size_t n, uint32_t seq, cvl_msg_sum *s);
void cvl_loc_encode(const cvl_loc *l, uint8_t out[CVL_LOC_LEN]);

int cvl_msg_status_valid(int s);

#endif
