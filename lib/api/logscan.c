/*
 * convlog_log_scan: every record of the segment files, decoded, its body
 * rendered as a JSON object (format-spec.md §4-§6).  Log segments are read
 * block by block in file order; the records of compacted segments are
 * first collected as (LSN, frame, index), sorted, then read back through
 * the frame cache, so the whole walk comes out in LSN order.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/db.h"
#include "log/block.h"
#include "log/record.h"
#include "log/segment.h"
#include "model/conv.h"
#include "model/msg.h"
#include "model/tlv.h"
#include "os/os.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/text.h"
#include "util/uuid.h"

/* ---- JSON text in a cvl_buf; the first error sticks ---- */

typedef struct jw {
	cvl_buf *b;
	int rc;
} jw;

static void put(jw *w, const void *p, size_t n)
{
	if (!w->rc && n)
		w->rc = cvl_buf_append(w->b, p, n);
}

static void put_s(jw *w, const char *s)
{
	put(w, s, strlen(s));
}

static void putf(jw *w, const char *fmt, ...) CVL_PRINTF(2, 3);

static void putf(jw *w, const char *fmt, ...)
{
	char tmp[96];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	put(w, tmp, n < 0 ? 0 : (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Bytes that are not UTF-8 text: {"hex":"..."}. */
static void put_hex(jw *w, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[128];

	put_s(w, "{\"hex\":\"");
	for (size_t i = 0; i < n;) {
		size_t k = 0;
		for (; i < n && k + 2 <= sizeof(tmp); i++) {
			tmp[k++] = digits[p[i] >> 4];
			tmp[k++] = digits[p[i] & 15];
		}
		put(w, tmp, k);
	}
	put_s(w, "\"}");
}

/* A JSON string of UTF-8 text (U+0000 and other controls escaped); text
 * that is not valid UTF-8 goes out as put_hex. */
static void put_text(jw *w, const uint8_t *p, size_t n)
{
	size_t bad, run = 0;

	if (cvl_utf8_check((const char *)p, n, &bad)) {
		put_hex(w, p, n);
		return;
	}
	put(w, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		char esc[8];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		put(w, p + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': put_s(w, "\\\""); break;
		case '\\': put_s(w, "\\\\"); break;
		case '\n': put_s(w, "\\n"); break;
		case '\r': put_s(w, "\\r"); break;
		case '\t': put_s(w, "\\t"); break;
		default:
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(w, esc, 6);
		}
	}
	put(w, p + run, n - run);
	put(w, "\"", 1);
}

/* ---- record bodies (§6.2, §6.4) ---- */

enum { J_TEXT, J_UUID, J_UINT, J_INT, J_PLUS1, J_CSTATUS, J_MSTATUS, J_JSON, J_CURSOR, J_HEX64 };

typedef struct fdef {
	uint32_t num;
	const char *name;
	uint8_t kind;
	uint8_t repeated;
} fdef;

static const fdef conv_fields[] = {
	{CF_ID, "id", J_UUID, 0},
	{CF_EXTERNAL_ID, "external_id", J_TEXT, 0},
	{CF_ORG, "org_id", J_TEXT, 0},
	{CF_USER, "user_id", J_TEXT, 0},
	{CF_DEVICE, "device_id", J_TEXT, 0},
	{CF_SESSION, "session_id", J_TEXT, 0},
	{CF_IROLE, "initiator_role", J_TEXT, 0},
	{CF_RROLE, "responder_role", J_TEXT, 0},
	{CF_TITLE, "title", J_TEXT, 0},
	{CF_TOPIC, "topic", J_TEXT, 0},
	{CF_SYSPROMPT, "system_prompt", J_TEXT, 0},
	{CF_STATUS, "status", J_CSTATUS, 0},
	{CF_PREV_STATUS, "prev_status", J_CSTATUS, 0},
	{CF_TAG, "tag", J_TEXT, 1},
	{CF_RATING, "rating", J_UINT, 0},
	{CF_PARENT, "parent_id", J_UUID, 0},
	{CF_FORK_SEQ, "fork_seq", J_UINT, 0},
	{CF_DEPTH, "depth", J_UINT, 0},
	{CF_TIP, "tip_seq", J_UINT, 0},
	{CF_CURSOR, "cursor", J_CURSOR, 1},
	{CF_METADATA, "metadata", J_JSON, 0},
	{CF_CREATED, "created_at", J_INT, 0},
	{CF_UPDATED, "updated_at", J_INT, 0},
	{CF_ACTIVITY, "last_activity_at", J_INT, 0},
	{CF_ARCHIVED, "archived_at", J_INT, 0},
	{CF_DELETED, "deleted_at", J_INT, 0},
	{CF_MSG_COUNT, "message_count", J_UINT, 0},
	{CF_TOKENS, "token_total", J_INT, 0},
	{CF_COST, "cost_total", J_INT, 0},
	{CF_LAST_MSG, "last_message_at", J_INT, 0},
	{CF_MASK, "mask", J_UINT, 0},
	{CF_AT, "at", J_INT, 0},
};

static const fdef msg_fields[] = {
	{MF_ID, "id", J_UUID, 0},
	{MF_CONV, "conv_id", J_UUID, 0},
	{MF_SEQ, "seq", J_UINT, 0},
	{MF_PARENT, "parent_seq", J_UINT, 0},
	{MF_ROLE, "role", J_TEXT, 0},
	{MF_NAME, "name", J_TEXT, 0},
	{MF_CONTENT, "content", J_TEXT, 0},
	{MF_TOOL_CALLS, "tool_calls", J_JSON, 0},
	{MF_TOOL_CALL_ID, "tool_call_id", J_TEXT, 0},
	{MF_TOKENS, "token_count", J_PLUS1, 0},
	{MF_COST, "cost", J_PLUS1, 0},
	{MF_LATENCY, "latency_ms", J_PLUS1, 0},
	{MF_MODEL, "model", J_TEXT, 0},
	{MF_STATUS, "status", J_MSTATUS, 0},
	{MF_ERROR, "error_message", J_TEXT, 0},
	{MF_FEEDBACK, "feedback", J_INT, 0},
	{MF_FEEDBACK_TEXT, "feedback_text", J_TEXT, 0},
	{MF_METADATA, "metadata", J_JSON, 0},
	{MF_CREATED, "created_at", J_INT, 0},
	{MF_EDITED, "edited_at", J_INT, 0},
	{MF_BORN_HLC, "born_hlc", J_UINT, 0},
	{MF_BORN_ORIGIN, "born_origin", J_HEX64, 0},
	{MF_VER_HLC, "ver_hlc", J_UINT, 0},
	{MF_VER_ORIGIN, "ver_origin", J_HEX64, 0},
	{MF_CONTENT_LEN, "content_len", J_UINT, 0},
	{MF_REC_LEN, "rec_len", J_UINT, 0},
};

static int kind_wire(int kind)
{
	return kind == J_TEXT || kind == J_UUID || kind == J_JSON || kind == J_CURSOR ? CVL_WT_BYTES
										    : CVL_WT_VARINT;
}

/* Stored JSON text (metadata, tool_calls) verbatim when it parses, else as
 * a string. */
static void put_json(jw *w, const uint8_t *p, size_t n)
{
	char *canon = NULL;
	size_t cl;
	int rc = cvl_json_canon((const char *)p, n, CVL_JSON_ANY, "stored JSON", &canon, &cl);

	cvl_free(canon);
	if (rc == CONVLOG_ENOMEM && !w->rc)
		w->rc = rc;
	cvl_err_clear();
	if (rc)
		put_text(w, p, n);
	else
		put(w, p, n);
}

/* A cursor entry (§6.2.1): {"name":...,"value":...}. */
static void put_cursor(jw *w, const uint8_t *p, size_t n)
{
	const uint8_t *q = p, *end = p + n;
	uint64_t nl, v;

	if (cvl_varint_get(&q, end, &nl) || nl > (uint64_t)(end - q)) {
		put_hex(w, p, n);
		return;
	}
	const uint8_t *name = q;
	q += nl;
	if (cvl_varint_get(&q, end, &v) || q != end) {
		put_hex(w, p, n);
		return;
	}
	put_s(w, "{\"name\":");
	put_text(w, name, (size_t)nl);
	putf(w, ",\"value\":%" PRId64 "}", cvl_unzigzag(v));
}

static void put_enum(jw *w, const char *name, uint64_t v)
{
	if (name)
		putf(w, "\"%s\"", name);
	else
		putf(w, "%" PRIu64, v);
}

static void put_value(jw *w, const fdef *d, const cvl_tlv_item *it)
{
	char s[CONVLOG_UUID_STRLEN];

	if (!d) {
		if (it->wt == CVL_WT_VARINT)
			putf(w, "%" PRIu64, it->v);
		else
			put_text(w, it->data, it->len);
		return;
	}
	switch (d->kind) {
	case J_TEXT: put_text(w, it->data, it->len); break;
	case J_UUID:
		if (it->len == 16)
			putf(w, "\"%s\"", cvl_uuid_str((const convlog_uuid *)(const void *)it->data, s));
		else
			put_hex(w, it->data, it->len);
		break;
	case J_UINT: putf(w, "%" PRIu64, it->v); break;
	case J_HEX64: putf(w, "\"%016" PRIx64 "\"", it->v); break; /* replica ids use all 64 bits */
	case J_INT: putf(w, "%" PRId64, cvl_unzigzag(it->v)); break;
	case J_PLUS1:
		if (it->v)
			putf(w, "%" PRIu64, it->v - 1);
		else
			put_s(w, "null");
		break;
	case J_CSTATUS:
		put_enum(w, it->v <= 255 ? convlog_status_name((int)it->v) : NULL, it->v);
		break;
	case J_MSTATUS:
		put_enum(w, it->v <= 255 ? convlog_msg_status_name((int)it->v) : NULL, it->v);
		break;
	case J_JSON: put_json(w, it->data, it->len); break;
	default: put_cursor(w, it->data, it->len); break;
	}
}

static const fdef *find_def(const fdef *defs, size_t n, const cvl_tlv_item *it)
{
	for (size_t i = 0; i < n; i++)
		if (defs[i].num == it->field)
			return kind_wire(defs[i].kind) == it->wt ? &defs[i] : NULL;
	return NULL;
}

/* Every occurrence of repeated field d from `from` on, as an array. */
static void put_repeated(jw *w, const fdef *d, const uint8_t *from, const uint8_t *end)
{
	cvl_tlv t;
	cvl_tlv_item it;
	int n = 0;

	put(w, "[", 1);
	cvl_tlv_init(&t, from, (size_t)(end - from));
	while (cvl_tlv_next(&t, &it) == 1) {
		if (it.field != d->num || it.wt != kind_wire(d->kind))
			continue;
		if (n++)
			put(w, ",", 1);
		put_value(w, d, &it);
	}
	put(w, "]", 1);
}

/* The record body as one JSON object; unknown fields (or fields with the
 * wrong wire type) as "field_N", a malformed tail as "_error". */
static int render_body(cvl_buf *out, uint8_t type, const uint8_t *body, size_t len)
{
	int msg = cvl_record_msg_keyed(type);
	const fdef *defs = msg ? msg_fields : conv_fields;
	size_t nd = msg ? sizeof(msg_fields) / sizeof(*defs) : sizeof(conv_fields) / sizeof(*defs);
	jw w = {out, 0};
	uint64_t done = 0; /* repeated fields already written, by index in defs */
	cvl_tlv t;
	cvl_tlv_item it;
	int first = 1, r;

	out->len = 0;
	put(&w, "{", 1);
	cvl_tlv_init(&t, body, len);
	for (;;) {
		const uint8_t *at = t.p;
		if ((r = cvl_tlv_next(&t, &it)) == 0)
			break;
		const fdef *d = r > 0 ? find_def(defs, nd, &it) : NULL;
		uint64_t bit = d && d->repeated ? UINT64_C(1) << (d - defs) : 0;
		if (done & bit)
			continue; /* already in its array */
		done |= bit;
		if (!first)
			put(&w, ",", 1);
		first = 0;
		if (r < 0) {
			putf(&w, "\"_error\":\"malformed field at byte %zu\"", (size_t)(at - body));
			break;
		}
		if (d)
			putf(&w, "\"%s\":", d->name);
		else
			putf(&w, "\"field_%" PRIu32 "\":", it.field);
		if (bit)
			put_repeated(&w, d, at, body + len);
		else
			put_value(&w, d, &it);
	}
	put(&w, "}", 2); /* with the NUL */
	if (!w.rc)
		out->len--;
	return w.rc;
}

/* The conversation and seq a record is about. */
static void record_keys(uint8_t type, const uint8_t *body, size_t len, convlog_uuid *conv,
			uint32_t *seq)
{
	uint32_t want = cvl_record_msg_keyed(type) ? MF_CONV : CF_ID;
	cvl_tlv t;
	cvl_tlv_item it;

	memset(conv, 0, sizeof(*conv));
	*seq = 0;
	cvl_tlv_init(&t, body, len);
	while (cvl_tlv_next(&t, &it) == 1) {
		if (it.field == want && it.wt == CVL_WT_BYTES && it.len == 16)
			memcpy(conv->bytes, it.data, 16);
		else if (want == MF_CONV && it.field == MF_SEQ && it.wt == CVL_WT_VARINT)
			*seq = (uint32_t)it.v;
	}
}

/* ---- the walk ---- */

/* A decoded frame of the current block. */
typedef struct fspan {
	uint64_t off; /* of the frame header in the file */
	uint32_t frame_len;
	uint32_t nrec;
	size_t raw_off, raw_len; /* in scan.raw */
} fspan;

/* A record of a compacted segment, to be read back in LSN order. */
typedef struct lsnent {
	uint64_t lsn;
	uint32_t seg, frame_off, frame_len;
	uint16_t idx, pad;
} lsnent;

typedef struct scan {
	convlog_db *db;
	convlog_block_fn bfn;
	convlog_record_fn rfn;
	void *ud;
	ZSTD_DCtx *d;
	cvl_buf blk, raw, json;
	fspan *fr;
	size_t nfr, frcap;
	lsnent *ents;
	size_t nents, entcap;
	char problem[256];
} scan;

/* read_block results besides errors */
enum { B_OK, B_SKIP, B_STOP, B_END };

static int bad(scan *s, convlog_log_block *b, int what, const char *fmt, ...) CVL_PRINTF(4, 5);

static int bad(scan *s, convlog_log_block *b, int what, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->problem, sizeof(s->problem), fmt, ap);
	va_end(ap);
	b->problem = s->problem;
	return what;
}

static int push_span(scan *s, const fspan *f)
{
	if (s->nfr == s->frcap) {
		size_t nc = s->frcap ? s->frcap * 2 : 16;
		fspan *n = cvl_realloc(s->fr, nc * sizeof(*n));
		if (!n)
			return cvl_err(CONVLOG_ENOMEM, "out of memory scanning the log");
		s->fr = n;
		s->frcap = nc;
	}
	s->fr[s->nfr++] = *f;
	return 0;
}

/* Decodes every frame of the block in s->blk into s->raw and checks that
 * its records parse and lie in the block's LSN range. */
static int decode_frames(scan *s, const cvl_block_header *h, int compacted, convlog_log_block *b)
{
	size_t pos = CVL_BLOCK_HEADER;
	const char *why;
	int rc;

	s->raw.len = 0;
	s->nfr = 0;
	for (unsigned fi = 0; fi < h->frame_count; fi++) {
		cvl_frame_header fh;
		fspan f = {.off = b->offset + pos, .raw_off = s->raw.len};
		if (cvl_frame_check(s->blk.p + pos, s->blk.len - pos, &fh, &why))
			return bad(s, b, B_SKIP, "frame %u: %s", fi, why);
		if (compacted && f.off > UINT32_MAX)
			return bad(s, b, B_SKIP, "frame %u starts beyond 4 GiB", fi);
		if ((rc = cvl_buf_reserve(&s->raw, fh.raw_len)))
			return rc;
		if (cvl_frame_decode(&fh, s->blk.p + pos + CVL_FRAME_HEADER, s->d, cvl_db_ddict, s->db,
				     s->raw.p + s->raw.len, &why))
			return bad(s, b, B_SKIP, "frame %u: %s", fi, why);
		const uint8_t *p = s->raw.p + s->raw.len, *end = p + fh.raw_len;
		for (uint32_t i = 0; i < fh.record_count; i++) {
			cvl_record r;
			if (cvl_record_decode(&p, end, &r, &why))
				return bad(s, b, B_SKIP, "frame %u record %u: %s", fi, i, why);
			if (r.lsn < h->min_lsn || r.lsn > h->max_lsn)
				return bad(s, b, B_SKIP, "frame %u record %u: LSN %" PRIu64
					   " is outside the block's range", fi, i, r.lsn);
		}
		if (p != end)
			return bad(s, b, B_SKIP, "frame %u: bytes after its last record", fi);
		f.frame_len = CVL_FRAME_HEADER + fh.stored_len;
		f.nrec = fh.record_count;
		f.raw_len = fh.raw_len;
		s->raw.len += fh.raw_len;
		if ((rc = push_span(s, &f)))
			return rc;
		pos += CVL_FRAME_HEADER + fh.stored_len;
	}
	return B_OK;
}

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/*
 * Reads, checks and decodes the block at b->offset.  In the newest log
 * segment (`tail`), zeros or a block cut short end the log quietly: the
 * writer keeps zeros ahead of it and may be writing the next block.
 */
static int read_block(scan *s, const cvl_segfile *sf, const char *path, uint64_t limit, int tail,
		      convlog_log_block *b)
{
	uint64_t off = b->offset;
	uint8_t hb[CVL_BLOCK_HEADER];
	cvl_block_header h;
	const char *why;
	size_t got, n = limit - off < CVL_BLOCK_HEADER ? (size_t)(limit - off) : CVL_BLOCK_HEADER;
	int rc;

	if ((rc = cvl_os_pread(sf->fd, hb, n, off, &got, path)))
		return rc;
	if (tail && (all_zero(hb, got) || got < CVL_BLOCK_HEADER))
		return B_END;
	if (got < CVL_BLOCK_HEADER)
		return bad(s, b, B_STOP, "the file ends inside a block header");
	if (cvl_block_header_decode(hb, &h, &why))
		return bad(s, b, B_STOP, "%s; the rest of the segment cannot be read", why);
	b->body_len = h.body_len;
	b->frame_count = h.frame_count;
	b->record_count = h.record_count;
	b->min_lsn = h.min_lsn;
	b->max_lsn = h.max_lsn;
	b->durable_lsn = h.durable_lsn;
	b->dict_id = h.dict_id;
	if (limit - off - CVL_BLOCK_HEADER < h.body_len)
		return tail ? B_END : bad(s, b, B_STOP, "the file ends inside the block");
	s->blk.len = 0;
	if ((rc = cvl_buf_reserve(&s->blk, CVL_BLOCK_HEADER + (size_t)h.body_len)))
		return rc;
	if ((rc = cvl_os_pread(sf->fd, s->blk.p, CVL_BLOCK_HEADER + (size_t)h.body_len, off, &got,
			       path)))
		return rc;
	s->blk.len = got;
	if (cvl_block_check(s->blk.p, s->blk.len, &h, &why))
		return bad(s, b, B_SKIP, "%s", why);
	return decode_frames(s, &h, (sf->flags & CVL_SEGF_COMPACT) != 0, b);
}

/* Decodes the record at *pp, renders it and hands it to record_fn. */
static int emit_record(scan *s, uint64_t seg, uint64_t frame_off, uint32_t idx, const uint8_t **pp,
		       const uint8_t *end)
{
	const uint8_t *start = *pp;
	convlog_log_record lr;
	cvl_record r;
	const char *why;
	int rc;

	if (cvl_record_decode(pp, end, &r, &why))
		return cvl_err(CONVLOG_ECORRUPT, "segment %" PRIu64 " frame at %" PRIu64 " record %u: %s",
			       seg, frame_off, idx, why);
	if (!s->rfn)
		return 0;
	memset(&lr, 0, sizeof(lr));
	lr.segment = seg;
	lr.frame_offset = frame_off;
	lr.index = idx;
	lr.lsn = r.lsn;
	lr.hlc = r.hlc;
	lr.origin = r.origin;
	lr.length = (uint32_t)(*pp - start);
	lr.type = cvl_record_type_name(r.type);
	record_keys(r.type, r.body, r.body_len, &lr.conv_id, &lr.seq);
	if ((rc = render_body(&s->json, r.type, r.body, r.body_len)))
		return rc;
	lr.json = (const char *)s->json.p;
	return s->rfn(s->ud, &lr);
}

/* The records of the decoded block, in file order. */
static int emit_block(scan *s, uint64_t seg)
{
	int rc;

	for (size_t i = 0; i < s->nfr; i++) {
		const fspan *f = &s->fr[i];
		const uint8_t *p = s->raw.p + f->raw_off, *end = p + f->raw_len;
		for (uint32_t k = 0; k < f->nrec; k++)
			if ((rc = emit_record(s, seg, f->off, k, &p, end)))
				return rc;
	}
	return 0;
}

/* Notes where each record of the decoded block is, for emit_sorted. */
static int collect_block(scan *s, uint64_t seg)
{
	for (size_t i = 0; i < s->nfr; i++) {
		const fspan *f = &s->fr[i];
		const uint8_t *p = s->raw.p + f->raw_off, *end = p + f->raw_len;
		for (uint32_t k = 0; k < f->nrec; k++) {
			cvl_record r;
			const char *why;
			if (cvl_record_decode(&p, end, &r, &why))
				return cvl_err(CONVLOG_ECORRUPT, "segment %" PRIu64 ": %s", seg, why);
			if (s->nents == s->entcap) {
				size_t nc = s->entcap ? s->entcap * 2 : 1024;
				lsnent *n = cvl_realloc(s->ents, nc * sizeof(*n));
				if (!n)
					return cvl_err(CONVLOG_ENOMEM, "out of memory sorting %zu records",
						       s->nents);
				s->ents = n;
				s->entcap = nc;
			}
			s->ents[s->nents++] = (lsnent){.lsn = r.lsn,
						       .seg = (uint32_t)seg,
						       .frame_off = (uint32_t)f->off,
						       .frame_len = f->frame_len,
						       .idx = (uint16_t)k};
		}
	}
	return 0;
}

/* Walks one segment's blocks in file order: records go to record_fn
 * (`collect` 0) or to the LSN list (`collect` 1). */
static int walk_segment(scan *s, const cvl_segfile *sf, int tail, int collect)
{
	char path[CVL_PATH_MAX];
	uint64_t size, limit;
	int rc;

	cvl_seg_path(path, sizeof(path), s->db->seg_dir, sf->id);
	if ((rc = cvl_os_file_size(sf->fd, &size, path)))
		return rc;
	/* a writer's active segment: only what its commits finished writing */
	limit = tail && !s->db->readonly && sf->size < size ? sf->size : size;
	for (uint64_t off = CVL_SEG_HEADER; off < limit;) {
		convlog_log_block b = {.segment = sf->id, .offset = off};
		int what = read_block(s, sf, path, limit, tail, &b);
		if (what < 0)
			return what;
		if (what == B_END)
			break;
		if (s->bfn && (rc = s->bfn(s->ud, &b)))
			return rc;
		if (what == B_STOP)
			break;
		if (what == B_OK && (rc = collect ? collect_block(s, sf->id) : emit_block(s, sf->id)))
			return rc;
		off += CVL_BLOCK_HEADER + (uint64_t)b.body_len;
	}
	return 0;
}

static int ent_cmp(const void *a, const void *b)
{
	const lsnent *x = a, *y = b;

	if (x->lsn != y->lsn)
		return x->lsn < y->lsn ? -1 : 1;
	if (x->seg != y->seg)
		return x->seg < y->seg ? -1 : 1;
	if (x->frame_off != y->frame_off)
		return x->frame_off < y->frame_off ? -1 : 1;
	return (int)x->idx - (int)y->idx;
}

/* The collected records of compacted segments in LSN order, read back
 * through the frame cache (a frame's records are often adjacent). */
static int emit_sorted(scan *s)
{
	cvl_frame *f = NULL;
	int rc = 0;

	if (s->nents > 1)
		qsort(s->ents, s->nents, sizeof(*s->ents), ent_cmp);
	for (size_t i = 0; i < s->nents && !rc; i++) {
		const lsnent *e = &s->ents[i];
		if (f && (f->seg != e->seg || f->off != e->frame_off)) {
			cvl_cache_release(s->db->cache, f);
			f = NULL;
		}
		if (!f) {
			cvl_loc loc = {.seg = e->seg, .frame_off = e->frame_off,
				       .frame_len = e->frame_len, .rec_idx = e->idx};
			if ((rc = cvl_frame_get(s->db, &loc, &f)))
				break;
		}
		if (e->idx >= f->nrec) {
			rc = cvl_err(CONVLOG_ECORRUPT, "segment %u frame at %u: no record %u", e->seg,
				     e->frame_off, e->idx);
			break;
		}
		const uint8_t *p = f->raw + f->rec_off[e->idx];
		rc = emit_record(s, e->seg, e->frame_off, e->idx, &p, f->raw + f->raw_len);
	}
	if (f)
		cvl_cache_release(s->db->cache, f);
	return rc;
}

static int copy_segs(convlog_db *db, cvl_segfile **out, size_t *n, ssize_t *last_log)
{
	int rc = 0;

	pthread_rwlock_rdlock(&db->seg_lock);
	*last_log = cvl_segs_last_log(db);
	*n = db->nsegs; /* after the call, which the analyzer cannot see into */
	cvl_free(*out);
	*out = cvl_malloc((db->nsegs ? db->nsegs : 1) * sizeof(**out));
	if (*out)
		memcpy(*out, db->segs, db->nsegs * sizeof(**out));
	else
		rc = cvl_err(CONVLOG_ENOMEM, "out of memory scanning the log");
	pthread_rwlock_unlock(&db->seg_lock);
	return rc;
}

/* Segment `id` in the table copied into *segs, or -1; a segment the
 * compactor created since this handle listed the directory is opened. */
static ssize_t find_segment(convlog_db *db, uint64_t id, cvl_segfile **segs, size_t *n,
			    ssize_t *last, int *rc)
{
	int fd;

	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < *n; i++)
			if ((*segs)[i].id == id)
				return (ssize_t)i;
		if (pass || id > UINT32_MAX || cvl_seg_fd(db, (uint32_t)id, &fd) != 0)
			break;
		if ((*rc = copy_segs(db, segs, n, last)))
			return -1;
	}
	cvl_err_clear();
	*rc = cvl_err(CONVLOG_ENOTFOUND, "the store has no segment %" PRIu64 " (%016" PRIx64 ".seg)",
		      id, id);
	return -1;
}

static int run(scan *s, uint64_t segment)
{
	cvl_segfile *segs = NULL;
	size_t n;
	ssize_t last;
	int rc;

	if ((rc = copy_segs(s->db, &segs, &n, &last)))
		return rc;
	if (segment) {
		ssize_t i = find_segment(s->db, segment, &segs, &n, &last, &rc);
		if (i >= 0)
			rc = walk_segment(s, &segs[i], i == last, 0);
		goto out;
	}
	for (size_t i = 0; i < n && !rc; i++)
		if (segs[i].flags & CVL_SEGF_COMPACT)
			rc = walk_segment(s, &segs[i], 0, 1);
	if (!rc)
		rc = emit_sorted(s);
	for (size_t i = 0; i < n && !rc; i++)
		if (!(segs[i].flags & CVL_SEGF_COMPACT))
			rc = walk_segment(s, &segs[i], (ssize_t)i == last, 0);
out:
	cvl_free(segs);
	return rc;
}

CONVLOG_API int convlog_log_scan(convlog_db *db, uint64_t segment, convlog_block_fn block_fn,
				 convlog_record_fn record_fn, void *ud)
{
	scan s = {.db = db, .bfn = block_fn, .rfn = record_fn, .ud = ud};
	cvl_view v;
	int rc;

	cvl_err_clear();
	if ((rc = cvl_db_check(db)))
		return rc;
	/* the snapshot's LMDB reader keeps segments a compaction retires
	 * meanwhile open (cvl_segs_reap) */
	if ((rc = cvl_db_snapshot(db, &v)))
		return rc;
	s.d = cvl_dctx_get(db);
	cvl_buf_init(&s.blk, 0);
	cvl_buf_init(&s.raw, 0);
	cvl_buf_init(&s.json, 0);
	rc = s.d ? run(&s, segment) : cvl_err(CONVLOG_ENOMEM, "out of memory for zstd");
	cvl_dctx_put(db, s.d);
	cvl_buf_free(&s.blk);
	cvl_buf_free(&s.raw);
	cvl_buf_free(&s.json);
	cvl_free(s.fr);
	cvl_free(s.ents);
	cvl_view_release(&v);
	return rc;
}
