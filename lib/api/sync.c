/*
 * Sync: changesets out of the change feed, and their convergent merge
 * (format-spec.md §15; README "Sync").
 *
 * A changeset carries state, not operations: for every conversation whose
 * feed position is after the cursor, its fields with the stamp of every
 * field unit, and its own messages changed after the cursor with their
 * creation and version stamps; plus the tombstones of purged
 * conversations and the maker's receive cursors (acknowledgements).
 * Merging takes, per unit, the later stamp; messages by id, a version by
 * its stamp; and orders a conversation's own messages by their creation
 * stamps, renumbering local messages when a remote one sorts before them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zstd.h>

#include "api/sync_int.h"
#include "engine/db.h"
#include "log/record.h"
#include "model/conv.h"
#include "model/tlv.h"
#include "os/os.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/hlc.h"
#include "util/uuid.h"

/* ---- the container (§15.1) ---- */

static const uint8_t cs_magic[8] = {'C', 'V', 'L', 'C', 'H', 'S', 'E', 'T'};
#define CS_VERSION 1
#define CS_HEADER 64
#define CS_TRAILER 8
#define CS_CODEC_RAW 0
#define CS_CODEC_ZSTD 1
#define CS_MAX_RAW (UINT64_C(1) << 32) /* 4 GiB of items */
#define CVL_SYNC_MAX_AHEAD_MS (24 * 3600 * 1000LL) /* clock skew a changeset may show */

enum { IT_ACK = 1, IT_TOMB = 2, IT_CONV = 3, IT_MSG = 4 };
/* changeset-only fields */
enum { CSF_TIP_MSG = 64, CSF_FORK_MSG = 65 };
enum { CSM_PARENT_ID = 25 };


static int cs_check(const uint8_t *p, size_t len, cs_header *h)
{
	if (!p || len < CS_HEADER + CS_TRAILER || memcmp(p, cs_magic, 8) != 0)
		return cvl_err(CONVLOG_EINVAL, "not a convlog changeset (bad magic or too short)");
	if (XXH3_64bits(p, len - CS_TRAILER) != cvl_get_u64le(p + len - CS_TRAILER))
		return cvl_err(CONVLOG_ECORRUPT, "changeset checksum mismatch (%zu bytes): damaged or truncated",
			       len);
	uint32_t ver = cvl_get_u32le(p + 8);
	if (ver != CS_VERSION)
		return cvl_err(CONVLOG_EVERSION, "changeset version %u; this library (%s) reads version %u",
			       ver, CONVLOG_VERSION_STRING, CS_VERSION);
	h->flags = cvl_get_u32le(p + 12);
	h->source = cvl_get_u64le(p + 16);
	h->since = cvl_get_u64le(p + 24);
	h->upto = cvl_get_u64le(p + 32);
	h->n_items = cvl_get_u32le(p + 40);
	h->codec = p[44];
	h->raw_len = cvl_get_u64le(p + 48);
	h->stored_len = cvl_get_u64le(p + 56);
	if (h->flags || p[45] || p[46] || p[47] || h->codec > CS_CODEC_ZSTD || !h->source ||
	    h->since > h->upto || h->raw_len > CS_MAX_RAW ||
	    h->stored_len != len - CS_HEADER - CS_TRAILER ||
	    (h->codec == CS_CODEC_RAW && h->raw_len != h->stored_len))
		return cvl_err(CONVLOG_ECORRUPT, "changeset header is malformed");
	return 0;
}

/* Wraps the raw item bytes into a changeset (zstd when it helps). */
static int cs_seal(const cs_header *h, const cvl_buf *raw, void **out, size_t *outlen)
{
	size_t bound = ZSTD_compressBound(raw->len);
	uint8_t *p = cvl_malloc(CS_HEADER + (bound > raw->len ? bound : raw->len) + CS_TRAILER);
	size_t stored = raw->len;
	uint8_t codec = CS_CODEC_RAW;

	if (!p)
		return cvl_err(CONVLOG_ENOMEM, "out of memory sealing a changeset");
	if (raw->len >= 256) {
		size_t z = ZSTD_compress(p + CS_HEADER, bound, raw->p, raw->len, 3);
		if (!ZSTD_isError(z) && z < raw->len) {
			stored = z;
			codec = CS_CODEC_ZSTD;
		}
	}
	if (codec == CS_CODEC_RAW && raw->len)
		memcpy(p + CS_HEADER, raw->p, raw->len);
	memset(p, 0, CS_HEADER);
	memcpy(p, cs_magic, 8);
	cvl_put_u32le(p + 8, CS_VERSION);
	cvl_put_u32le(p + 12, 0);
	cvl_put_u64le(p + 16, h->source);
	cvl_put_u64le(p + 24, h->since);
	cvl_put_u64le(p + 32, h->upto);
	cvl_put_u32le(p + 40, h->n_items);
	p[44] = codec;
	cvl_put_u64le(p + 48, raw->len);
	cvl_put_u64le(p + 56, stored);
	cvl_put_u64le(p + CS_HEADER + stored, XXH3_64bits(p, CS_HEADER + stored));
	*out = p;
	*outlen = CS_HEADER + stored + CS_TRAILER;
	return 0;
}

/* Appends one item to the changeset being built; a changeset that would
 * pass what readers accept (CS_MAX_RAW bytes of items, 2^32-1 items) is
 * refused: split the export (convlog_sync_export_part). */
static int put_item(cvl_cs_builder *w, uint8_t type, const cvl_buf *body)
{
	cvl_buf *raw = &w->raw;
	int rc;

	if (w->h.n_items == UINT32_MAX || raw->len + 1 + 10 + body->len > CS_MAX_RAW)
		return cvl_err(CONVLOG_ETOOBIG,
			       "changeset over %u items or 4 GiB: export it in parts (sync_export_part)",
			       UINT32_MAX);
	if ((rc = cvl_buf_put_u8(raw, type)) || (rc = cvl_buf_put_varint(raw, body->len)) ||
	    (rc = cvl_buf_append(raw, body->p, body->len)))
		return rc;
	w->h.n_items++;
	return 0;
}

static int put_stamp16(cvl_buf *b, uint32_t field, const cvl_stamp *s)
{
	uint8_t v[16];

	cvl_put_u64le(v, s->hlc);
	cvl_put_u64le(v + 8, s->origin);
	return cvl_tlv_put_bytes(b, field, v, 16);
}

/* ---- building (§15.2) ---- */

void cvl_csb_init(cvl_cs_builder *w, uint64_t source, uint64_t since, uint64_t upto)
{
	memset(w, 0, sizeof(*w));
	w->h.source = source;
	w->h.since = since;
	w->h.upto = upto;
	cvl_buf_init(&w->raw, 0);
	cvl_buf_init(&w->b, 0);
}

void cvl_csb_free(cvl_cs_builder *w)
{
	cvl_buf_free(&w->raw);
	cvl_buf_free(&w->b);
	cvl_buf_init(&w->raw, 0); /* a second free is harmless */
	cvl_buf_init(&w->b, 0);
}

static int csb_ack(cvl_cs_builder *w, uint64_t peer, uint64_t recv)
{
	int rc;

	w->b.len = 0;
	if ((rc = cvl_tlv_put_u(&w->b, 1, peer)) || (rc = cvl_tlv_put_u(&w->b, 2, recv)) ||
	    (rc = put_item(w, IT_ACK, &w->b)))
		return rc;
	return 0;
}

int cvl_csb_tomb(cvl_cs_builder *w, const convlog_uuid *id, const cvl_stamp *st)
{
	int rc;

	w->b.len = 0;
	if ((rc = cvl_tlv_put_bytes(&w->b, 1, id->bytes, 16)) || (rc = put_stamp16(&w->b, 2, st)) ||
	    (rc = put_item(w, IT_TOMB, &w->b)))
		return rc;
	return 0;
}

int cvl_csb_conv(cvl_cs_builder *w, const convlog_conv *c, const cvl_stamp unit[CVL_SYNC_UNITS],
		 const cvl_stamp *born, const convlog_uuid *tip, const convlog_uuid *fork)
{
	uint8_t st[17 * CVL_SYNC_UNITS];
	convlog_conv x = *c;
	cvl_buf *b = &w->b;
	int rc;

	/* the fields without seq numbers, then the stamps */
	x.tip_seq = 0;
	x.fork_seq = 0;
	b->len = 0;
	if ((rc = cvl_conv_encode(&x, CVL_CG_STATIC | CVL_CG_HOT, b)))
		return rc;
	for (int u = 0; u < CVL_SYNC_UNITS; u++) {
		st[17 * u] = (uint8_t)u;
		cvl_put_u64le(st + 17 * u + 1, unit[u].hlc);
		cvl_put_u64le(st + 17 * u + 9, unit[u].origin);
	}
	if ((rc = cvl_tlv_put_bytes(b, CF_STAMPS, st, sizeof(st))) || (rc = put_stamp16(b, CF_BORN, born)) ||
	    (tip && !convlog_uuid_is_nil(tip) && (rc = cvl_tlv_put_bytes(b, CSF_TIP_MSG, tip->bytes, 16))) ||
	    (fork && !convlog_uuid_is_nil(fork) && (rc = cvl_tlv_put_bytes(b, CSF_FORK_MSG, fork->bytes, 16))) ||
	    (rc = put_item(w, IT_CONV, b)))
		return rc;
	return 0;
}

int cvl_csb_msg(cvl_cs_builder *w, const convlog_msg *m, const cvl_stamp *born, const cvl_stamp *ver,
		const convlog_uuid *parent)
{
	cvl_buf *b = &w->b;
	int rc;

	b->len = 0;
	if ((rc = cvl_msg_encode(m, b)) || (rc = cvl_msg_put_stamps(b, born, ver)) ||
	    (parent && !convlog_uuid_is_nil(parent) &&
	     (rc = cvl_tlv_put_bytes(b, CSM_PARENT_ID, parent->bytes, 16))) ||
	    (rc = put_item(w, IT_MSG, b)))
		return rc;
	return 0;
}

int cvl_csb_seal(cvl_cs_builder *w, void **out, size_t *len)
{
	int rc = cs_seal(&w->h, &w->raw, out, len);

	cvl_csb_free(w);
	return rc;
}

/* ---- export (§15.3) ---- */

/* The message at `seq` of conversation c's seq space (inherited seqs
 * resolve through the fork chain), with its record info. */
/* Message `seq` of `owner`'s own messages, with its record info. */
static int own_msg_at(convlog_db *db, cvl_view *v, const convlog_uuid *owner, uint32_t seq,
		      convlog_msg **m, cvl_msg_info *info)
{
	uint8_t k[20];
	const uint8_t *val;
	size_t vl;
	cvl_msg_sum s;
	int rc;

	rc = cvl_view_get(v, CVL_T_MSG, k, cvl_key_msg(k, owner, seq), &val, &vl);
	if (rc)
		return rc;
	if (cvl_msg_sum_decode(val, vl, seq, &s))
		return cvl_err(CONVLOG_ECORRUPT, "message summary is malformed");
	return cvl_read_msgx(db, &s.loc, owner, seq, m, info);
}

static int msg_at(convlog_db *db, cvl_view *v, const convlog_conv *c, uint32_t seq,
		  convlog_msg **m, cvl_msg_info *info)
{
	cvl_chain ch;
	int rc;

	if ((rc = cvl_chain_load(v, c, &ch)))
		return rc;
	return own_msg_at(db, v, cvl_chain_owner(&ch, seq), seq, m, info);
}

static int id_at(convlog_db *db, cvl_view *v, const convlog_conv *c, uint32_t seq, convlog_uuid *id)
{
	convlog_msg *m;
	int rc;

	memset(id, 0, sizeof(*id));
	if (seq == 0)
		return 0;
	if ((rc = msg_at(db, v, c, seq, &m, NULL)))
		return rc == CONVLOG_ENOTFOUND ? 0 : rc;
	*id = m->id;
	convlog_msg_free(m);
	return 0;
}

static int export_conv(convlog_db *db, cvl_view *v, const convlog_uuid *id, uint64_t since,
		       cvl_cs_builder *w)
{
	convlog_conv *c = NULL;
	cvl_sync_conv sy;
	const uint8_t *val;
	size_t vl;
	convlog_uuid tip, fork, *ids = NULL;
	int rc;

	if ((rc = cvl_conv_load(v, id, &c)))
		return rc == CONVLOG_ENOTFOUND ? 0 : rc; /* purged since: its tombstone follows */
	rc = cvl_view_get(v, CVL_T_SYNC_CONV, id->bytes, 16, &val, &vl);
	if (rc == CONVLOG_ENOTFOUND) {
		memset(&sy, 0, sizeof(sy));
		rc = 0;
	} else if (!rc && cvl_sync_conv_decode(val, vl, &sy)) {
		rc = cvl_err(CONVLOG_ECORRUPT, "sync_conv value of a conversation has the wrong size");
	}
	if (rc)
		goto out;
	uint32_t fs = convlog_uuid_is_nil(&c->parent_id) ? 0 : c->fork_seq;
	memset(&fork, 0, sizeof(fork));
	if (fs && (rc = id_at(db, v, c, fs, &fork)))
		goto out;
	if ((rc = id_at(db, v, c, c->tip_seq, &tip)) ||
	    (rc = cvl_csb_conv(w, c, sy.unit, &sy.born, &tip, &fork)))
		goto out;
	/* its own messages changed after the cursor (all of them read, for
	 * the parent ids) */
	uint32_t n = c->message_count > fs ? c->message_count - fs : 0;
	ids = n ? cvl_calloc(n, sizeof(*ids)) : NULL;
	if (n && !ids) {
		rc = cvl_err(CONVLOG_ENOMEM, "out of memory exporting a conversation");
		goto out;
	}
	for (uint32_t i = 0; i < n && !rc; i++) {
		convlog_msg *m;
		cvl_msg_info info;
		rc = own_msg_at(db, v, &c->id, fs + 1 + i, &m, &info); /* no chain walk per message */
		if (rc == CONVLOG_ENOTFOUND) {
			rc = 0;
			continue;
		}
		if (rc)
			break;
		ids[i] = m->id;
		if (since == 0 || info.lsn > since) {
			convlog_uuid pid = {{0}};
			if (m->parent_seq > fs)
				pid = ids[m->parent_seq - fs - 1];
			else if (m->parent_seq)
				rc = id_at(db, v, c, m->parent_seq, &pid);
			if (!rc)
				rc = cvl_csb_msg(w, m, &info.born, &info.ver, &pid);
		}
		convlog_msg_free(m);
	}
out:
	cvl_free(ids);
	convlog_conv_free(c);
	return rc;
}

/* Conversations an export already holds. */
typedef struct xdone {
	cvl_hnode hn;
	convlog_uuid id;
	struct xdone *next;
} xdone;

typedef struct xctx {
	convlog_db *db;
	cvl_view v;
	uint64_t since, from;
	cvl_cs_builder w;
	cvl_htab done;
	xdone *all;
} xctx;

static uint64_t uuid_hash(const convlog_uuid *id)
{
	return XXH3_64bits(id->bytes, 16);
}

static int xdone_eq(const cvl_hnode *n, const void *key)
{
	return memcmp(((const xdone *)n)->id.bytes, key, 16) == 0;
}

static int is_done(xctx *x, const convlog_uuid *id)
{
	return cvl_htab_find(&x->done, uuid_hash(id), xdone_eq, id->bytes) != NULL;
}

static int mark_done(xctx *x, const convlog_uuid *id)
{
	xdone *d = cvl_calloc(1, sizeof(*d));

	if (!d)
		return cvl_err(CONVLOG_ENOMEM, "out of memory exporting");
	d->id = *id;
	d->hn.hash = uuid_hash(id);
	d->next = x->all;
	x->all = d;
	cvl_htab_insert(&x->done, &d->hn);
	return 0;
}

/* Exports conversation id after the ancestors the receiver may lack (feed
 * position after the cursor and after the earlier parts) and this
 * changeset does not hold yet, so a parent always comes before its forks,
 * in every part of a split export. */
static int export_with_ancestors(xctx *x, const convlog_uuid *id)
{
	convlog_uuid chain[CVL_CHAIN_MAX];
	int n = 0, rc = 0;
	convlog_uuid cur = *id;

	while (n < CVL_CHAIN_MAX) {
		convlog_conv *c;
		const uint8_t *val;
		size_t vl;
		cvl_sync_conv sy;
		if (is_done(x, &cur))
			break;
		rc = cvl_conv_load(&x->v, &cur, &c);
		if (rc == CONVLOG_ENOTFOUND) {
			rc = 0;
			break;
		}
		if (rc)
			return rc;
		convlog_uuid parent = c->parent_id;
		convlog_conv_free(c);
		if (n > 0 && x->from) {
			/* an ancestor: only when the receiver may not have it */
			rc = cvl_view_get(&x->v, CVL_T_SYNC_CONV, cur.bytes, 16, &val, &vl);
			if (rc && rc != CONVLOG_ENOTFOUND)
				return rc;
			if (!rc && !cvl_sync_conv_decode(val, vl, &sy) && sy.feed_lsn <= x->from)
				break;
			rc = 0;
		}
		chain[n++] = cur;
		if (convlog_uuid_is_nil(&parent))
			break;
		cur = parent;
	}
	while (n-- > 0 && !rc)
		if (!(rc = mark_done(x, &chain[n])))
			rc = export_conv(x->db, &x->v, &chain[n], x->since, &x->w);
	return rc;
}

CONVLOG_API int convlog_sync_export_part(convlog_db *db, uint64_t since, uint64_t from,
					 size_t max_bytes, void **out, size_t *len, uint64_t *upto,
					 uint64_t *next)
{
	xctx x = {0};
	cvl_vcur cur;
	uint64_t last = 0;
	int seen = 0, cut = 0, rc;
	const cvl_scope *scope;

	cvl_err_clear();
	if ((rc = cvl_db_enter(&db, &scope)))
		return rc;
	if (!out || !len)
		return cvl_err(CONVLOG_EINVAL, "sync_export: NULL argument");
	*out = NULL;
	*len = 0;
	if (next)
		*next = 0;
	if (from && from < since)
		return cvl_err(CONVLOG_EINVAL, "sync_export: a part cannot start (%" PRIu64 ") before the cursor (%" PRIu64 ")",
			       from, since);
	if (!db->lm.has_sync)
		return cvl_err(CONVLOG_EVERSION, "%s: a format %u store has no change feed; open it for writing once to upgrade it",
			       db->path, db->format);
	if ((rc = cvl_htab_init(&x.done, 64)))
		return rc;
	if ((rc = cvl_db_snapshot(db, &x.v))) {
		cvl_htab_free(&x.done);
		return rc;
	}
	/* a scoped export: conversations outside the scope do not exist */
	x.v.scope = scope;
	x.db = db;
	x.since = since;
	x.from = from ? from : since;
	cvl_csb_init(&x.w, db->replica_id, since, x.v.snap > since ? x.v.snap : since);
	/* acknowledgements: what this store applied from each peer */
	if ((rc = cvl_vcur_open(&x.v, CVL_T_SYNC_PEER, &cur)))
		goto out;
	uint8_t zero = 0;
	for (rc = cvl_vcur_seek(&cur, &zero, 0); !rc; rc = cvl_vcur_next(&cur)) {
		cvl_sync_peer p;
		if (cur.klen != 8 || cvl_sync_peer_decode(cur.val, cur.vlen, &p)) {
			rc = cvl_err(CONVLOG_ECORRUPT, "sync_peer entry is malformed");
			break;
		}
		if ((rc = csb_ack(&x.w, cvl_get_u64be(cur.key), p.recv)))
			break;
	}
	cvl_vcur_close(&cur);
	if (rc != CONVLOG_DONE)
		goto out;
	/* the feed after the cursor, in order; a part ends between two
	 * positions once it holds max_bytes (never at position 0, which the
	 * next part would start from again) */
	if ((rc = cvl_vcur_open(&x.v, CVL_T_SYNC_FEED, &cur)))
		goto out;
	uint8_t start[8];
	cvl_put_u64be(start, x.from ? x.from + 1 : 0);
	for (rc = cvl_vcur_seek(&cur, start, 8); !rc; rc = cvl_vcur_next(&cur)) {
		if (cur.klen != 24 || cur.vlen != 1) {
			rc = cvl_err(CONVLOG_ECORRUPT, "sync_feed entry is malformed");
			break;
		}
		uint64_t lsn = cvl_get_u64be(cur.key);
		if (lsn > x.w.h.upto)
			break;
		if (seen && lsn != last && last && max_bytes && x.w.raw.len >= max_bytes) {
			cut = 1;
			break;
		}
		seen = 1;
		last = lsn;
		convlog_uuid id;
		memcpy(id.bytes, cur.key + 8, 16);
		if (cur.val[0] == CVL_FEED_PURGED && scope)
			continue; /* a tombstone does not say whose it was */
		if (cur.val[0] == CVL_FEED_PURGED) {
			const uint8_t *tv;
			size_t tl;
			if ((rc = cvl_view_get(&x.v, CVL_T_SYNC_TOMB, cur.key + 8, 16, &tv, &tl)) ||
			    tl != CVL_SYNC_TOMB_LEN) {
				rc = rc ? rc : cvl_err(CONVLOG_ECORRUPT, "sync_tomb entry is malformed");
				if (rc == CONVLOG_ENOTFOUND)
					rc = cvl_err(CONVLOG_ECORRUPT, "a feed tombstone has no sync_tomb entry");
				break;
			}
			cvl_stamp ps = {cvl_get_u64le(tv + 8), cvl_get_u64le(tv + 16)};
			if ((rc = cvl_csb_tomb(&x.w, &id, &ps)))
				break;
			continue;
		}
		if ((rc = export_with_ancestors(&x, &id)))
			break;
	}
	cvl_vcur_close(&cur);
	if (rc && rc != CONVLOG_DONE)
		goto out;
	/* a part before the last leaves the receiver's cursor where it was:
	 * conversations that changed after its end lack their earlier changes
	 * there until a later part brings them */
	if (cut)
		x.w.h.upto = since;
	if (upto)
		*upto = x.w.h.upto;
	if (next)
		*next = cut ? last : 0;
	rc = cvl_csb_seal(&x.w, out, len); /* frees w */
out:
	if (rc)
		cvl_csb_free(&x.w);
	for (xdone *d = x.all, *nx; d; d = nx) {
		nx = d->next;
		cvl_free(d);
	}
	cvl_htab_free(&x.done);
	cvl_view_release(&x.v);
	return rc;
}

CONVLOG_API int convlog_sync_export(convlog_db *db, uint64_t since, void **out, size_t *len,
				    uint64_t *upto)
{
	return convlog_sync_export_part(db, since, 0, 0, out, len, upto, NULL);
}

/* ---- reading a changeset ---- */

void cvl_cs_free(rset *s)
{
	for (size_t i = 0; i < s->nconvs; i++) {
		for (size_t j = 0; j < s->convs[i].nmsgs; j++)
			convlog_msg_free(s->convs[i].msgs[j].m);
		cvl_free(s->convs[i].msgs);
		convlog_conv_free(s->convs[i].c);
	}
	cvl_free(s->convs);
	cvl_free(s->tombs);
	cvl_free(s->raw);
}

static void see(rset *s, const cvl_stamp *st)
{
	if (cvl_stamp_cmp(st, &s->max) > 0)
		s->max = *st;
}

static int bad_item(size_t i, const char *why)
{
	return cvl_err(CONVLOG_ECORRUPT, "changeset item %zu: %s", i, why);
}

/* Splits off the fields of `keep` (a list ending in 0) into `out`... the
 * rest of the TLV goes to `rest`. */
static int split_tlv(const uint8_t *p, size_t n, const uint32_t *take, cvl_tlv_item *got,
		     cvl_buf *rest)
{
	cvl_tlv t;
	cvl_tlv_item it;
	int r, rc;

	rest->len = 0;
	cvl_tlv_init(&t, p, n);
	for (;;) {
		const uint8_t *start = t.p;
		if ((r = cvl_tlv_next(&t, &it)) != 1)
			break;
		int k = 0;
		while (take[k] && take[k] != it.field)
			k++;
		if (take[k]) {
			got[k] = it;
			continue;
		}
		if ((rc = cvl_buf_append(rest, start, (size_t)(t.p - start))))
			return rc;
	}
	return r < 0 ? -1 : 0;
}

static int get_uuid(const cvl_tlv_item *it, convlog_uuid *u)
{
	memset(u, 0, sizeof(*u));
	if (!it->field)
		return 0;
	if (it->wt != CVL_WT_BYTES || it->len != 16)
		return -1;
	memcpy(u->bytes, it->data, 16);
	return 0;
}

static int get_stamp16(const cvl_tlv_item *it, cvl_stamp *s)
{
	memset(s, 0, sizeof(*s));
	if (!it->field)
		return 0;
	if (it->wt != CVL_WT_BYTES || it->len != 16)
		return -1;
	s->hlc = cvl_get_u64le(it->data);
	s->origin = cvl_get_u64le(it->data + 8);
	return 0;
}

static int parse_conv(rset *s, size_t i, const uint8_t *p, size_t n, cvl_buf *rest)
{
	static const uint32_t take[] = {CF_STAMPS, CF_BORN, CSF_TIP_MSG, CSF_FORK_MSG, 0};
	cvl_tlv_item got[5] = {{0}};
	const char *why;
	rconv *rc_ = &s->convs[s->nconvs];
	int rc;

	memset(rc_, 0, sizeof(*rc_));
	if (split_tlv(p, n, take, got, rest) || get_stamp16(&got[1], &rc_->born) ||
	    get_uuid(&got[2], &rc_->tip) || get_uuid(&got[3], &rc_->fork) ||
	    got[0].wt != CVL_WT_BYTES || got[0].len != 17 * CVL_SYNC_UNITS)
		return bad_item(i, "conversation item is malformed");
	for (int u = 0; u < CVL_SYNC_UNITS; u++) {
		const uint8_t *e = got[0].data + 17 * u;
		if (e[0] != u)
			return bad_item(i, "conversation stamps are out of order");
		rc_->unit[u].hlc = cvl_get_u64le(e + 1);
		rc_->unit[u].origin = cvl_get_u64le(e + 9);
		see(s, &rc_->unit[u]);
	}
	see(s, &rc_->born);
	rc = cvl_conv_decode(rest->p, rest->len, &rc_->c, &why);
	if (rc)
		return rc == CONVLOG_ENOMEM ? rc : bad_item(i, why);
	if (convlog_uuid_is_nil(&rc_->c->id) || !cvl_status_valid(rc_->c->status)) {
		convlog_conv_free(rc_->c); /* not counted yet: cvl_cs_free would miss it */
		rc_->c = NULL;
		return bad_item(i, "conversation item without an id or with an unknown status");
	}
	s->nconvs++;
	return 0;
}

static int parse_msg(rset *s, size_t i, const uint8_t *p, size_t n, cvl_buf *rest)
{
	static const uint32_t take[] = {MF_BORN_HLC, MF_BORN_ORIGIN, MF_VER_HLC, MF_VER_ORIGIN,
					CSM_PARENT_ID, 0};
	cvl_tlv_item got[6] = {{0}};
	const char *why;
	rmsg m = {0};
	int rc;

	if (!s->nconvs)
		return bad_item(i, "a message before any conversation");
	rconv *c = &s->convs[s->nconvs - 1];
	if (split_tlv(p, n, take, got, rest) || get_uuid(&got[4], &m.parent))
		return bad_item(i, "message item is malformed");
	for (int k = 0; k < 4; k++)
		if (got[k].wt != CVL_WT_VARINT || !got[k].field)
			return bad_item(i, "message item without its stamps");
	m.born = (cvl_stamp){got[0].v, got[1].v};
	m.ver = (cvl_stamp){got[2].v, got[3].v};
	if (!m.born.hlc || !m.ver.hlc)
		return bad_item(i, "message item with a zero stamp");
	see(s, &m.born);
	see(s, &m.ver);
	rc = cvl_msg_decode(rest->p, rest->len, &m.m, &why);
	if (rc)
		return rc == CONVLOG_ENOMEM ? rc : bad_item(i, why);
	if (cvl_uuid_cmp(&m.m->conv_id, &c->c->id) != 0 || convlog_uuid_is_nil(&m.m->id)) {
		convlog_msg_free(m.m);
		return bad_item(i, "message item does not belong to the conversation before it");
	}
	if (c->nmsgs == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 8;
		rmsg *nm = cvl_realloc(c->msgs, nc * sizeof(*nm));
		if (!nm) {
			convlog_msg_free(m.m);
			return cvl_err(CONVLOG_ENOMEM, "out of memory reading a changeset");
		}
		c->msgs = nm;
		c->cap = nc;
	}
	c->msgs[c->nmsgs++] = m;
	return 0;
}

int cvl_cs_read(rset *s, const void *data, size_t len, uint64_t me)
{
	const uint8_t *p = data;
	size_t ntomb = 0, nconv = 0;
	cvl_buf rest;
	int rc;

	memset(s, 0, sizeof(*s));
	if ((rc = cs_check(p, len, &s->h)))
		return rc;
	s->raw = cvl_malloc(s->h.raw_len ? s->h.raw_len : 1);
	if (!s->raw)
		return cvl_err(CONVLOG_ENOMEM, "out of memory reading a changeset of %" PRIu64 " bytes",
			       s->h.raw_len);
	if (s->h.codec == CS_CODEC_ZSTD) {
		size_t z = ZSTD_decompress(s->raw, s->h.raw_len, p + CS_HEADER, s->h.stored_len);
		if (ZSTD_isError(z) || z != s->h.raw_len)
			return cvl_err(CONVLOG_ECORRUPT, "changeset payload does not decompress");
	} else if (s->h.raw_len) {
		memcpy(s->raw, p + CS_HEADER, s->h.raw_len);
	}
	/* two passes: count, then decode into arrays of the right size */
	for (int pass = 0; pass < 2; pass++) {
		const uint8_t *q = s->raw, *end = s->raw + s->h.raw_len;
		uint32_t items = 0;
		if (pass == 1) {
			s->tombs = cvl_calloc(ntomb ? ntomb : 1, sizeof(*s->tombs));
			s->convs = cvl_calloc(nconv ? nconv : 1, sizeof(*s->convs));
			if (!s->tombs || !s->convs)
				return cvl_err(CONVLOG_ENOMEM, "out of memory reading a changeset");
		}
		cvl_buf_init(&rest, 0);
		while (q < end) {
			uint8_t type = *q++;
			uint64_t bl;
			if (cvl_varint_get(&q, end, &bl) || bl > (uint64_t)(end - q)) {
				cvl_buf_free(&rest);
				return bad_item(items, "item length runs past the payload");
			}
			rc = 0;
			if (pass == 0) {
				if (type == IT_TOMB)
					ntomb++;
				else if (type == IT_CONV)
					nconv++;
				else if (type != IT_ACK && type != IT_MSG)
					rc = bad_item(items, "unknown item type");
			} else if (type == IT_ACK) {
				cvl_tlv t;
				cvl_tlv_item it;
				uint64_t who = 0, recv = 0;
				int r;
				cvl_tlv_init(&t, q, (size_t)bl);
				while ((r = cvl_tlv_next(&t, &it)) == 1)
					if (it.wt == CVL_WT_VARINT && it.field == 1)
						who = it.v;
					else if (it.wt == CVL_WT_VARINT && it.field == 2)
						recv = it.v;
					else
						break; /* any other field: malformed (r is 1) */
				if (r != 0)
					rc = bad_item(items, "ack item is malformed");
				else if (who == me)
					s->my_ack = recv;
			} else if (type == IT_TOMB) {
				static const uint32_t take[] = {1, 2, 0};
				cvl_tlv_item got[3] = {{0}};
				rtomb *tb = &s->tombs[s->ntombs];
				if (split_tlv(q, (size_t)bl, take, got, &rest) || rest.len ||
				    !got[0].field || get_uuid(&got[0], &tb->id) ||
				    get_stamp16(&got[1], &tb->st) || convlog_uuid_is_nil(&tb->id))
					rc = bad_item(items, "tombstone item is malformed");
				else {
					see(s, &tb->st);
					s->ntombs++;
				}
			} else if (type == IT_CONV) {
				rc = parse_conv(s, items, q, (size_t)bl, &rest);
			} else {
				rc = parse_msg(s, items, q, (size_t)bl, &rest);
			}
			if (rc) {
				cvl_buf_free(&rest);
				return rc;
			}
			q += bl;
			items++;
		}
		cvl_buf_free(&rest);
		if (items != s->h.n_items)
			return cvl_err(CONVLOG_ECORRUPT, "changeset holds %u items, its header says %u",
				       items, s->h.n_items);
	}
	return 0;
}

CONVLOG_API int convlog_sync_peek(const void *data, size_t len, convlog_sync_result *res)
{
	cs_header h;
	int rc;

	cvl_err_clear();
	if (!res)
		return cvl_err(CONVLOG_EINVAL, "sync_peek: NULL result");
	memset(res, 0, sizeof(*res));
	if ((rc = cs_check(data, len, &h)))
		return rc;
	res->source = h.source;
	res->since = h.since;
	res->upto = h.upto;
	res->snapshot = h.since == 0;
	res->conversations = h.n_items;
	return 0;
}

/* ---- applying (§15.4) ---- */

typedef struct mctx {
	convlog_db *db;
	convlog_txn *t;
	convlog_sync_result *res;
	int64_t now;
	cvl_buf b;
} mctx;

/* An own message of a conversation being rebuilt. */
typedef struct lmsg {
	convlog_msg *own;     /* the local version read (NULL for a new one) */
	const rmsg *remote;   /* the remote version to write, when it wins */
	cvl_stamp born, ver;
	convlog_uuid id, parent;
	uint32_t old_seq;     /* 0: new here */
} lmsg;

static int lmsg_cmp(const void *a, const void *b)
{
	const lmsg *x = a, *y = b;
	int c = cvl_stamp_cmp(&x->born, &y->born);

	return c ? c : memcmp(x->id.bytes, y->id.bytes, 16);
}

static void lmsgs_free(lmsg *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		convlog_msg_free(v[i].own);
	cvl_free(v);
}

static int load_cs(mctx *x, const convlog_uuid *id, cvl_cstate **cs)
{
	int rc = cvl_actx_conv(&x->t->a, id, cs);

	if (rc == CONVLOG_ENOTFOUND) {
		char s[CONVLOG_UUID_STRLEN];
		return cvl_err(CONVLOG_ENOTFOUND, "conversation %s is missing", cvl_uuid_str(id, s));
	}
	return rc;
}

static uint32_t own_from(const convlog_conv *c)
{
	return convlog_uuid_is_nil(&c->parent_id) ? 0 : c->fork_seq;
}

/* cvl_chain_load through the transaction's conversation states, which
 * hold conversations this transaction made before they are settled into
 * its write-set. */
static int txn_chain(mctx *x, const convlog_conv *c, cvl_chain *ch)
{
	convlog_uuid next = c->parent_id;
	int rc;

	ch->n = 1;
	ch->c[0].id = c->id;
	ch->c[0].fork_seq = own_from(c);
	while (!convlog_uuid_is_nil(&next) && ch->c[ch->n - 1].fork_seq > 0) {
		cvl_cstate *ps;
		if (ch->n == CVL_CHAIN_MAX)
			return cvl_err(CONVLOG_ECORRUPT, "fork chain deeper than %d", CVL_CHAIN_MAX);
		if ((rc = load_cs(x, &next, &ps)))
			return rc == CONVLOG_ENOTFOUND ? CONVLOG_ECORRUPT : rc;
		ch->c[ch->n].id = ps->id;
		ch->c[ch->n].fork_seq = own_from(ps->cur);
		next = ps->cur->parent_id;
		ch->n++;
	}
	return 0;
}

/* The id of the message at `seq` of conversation c's space, as the
 * transaction sees it (nil for seq 0 or a missing message). */
static int txn_id_at(mctx *x, const convlog_conv *c, uint32_t seq, convlog_uuid *id)
{
	cvl_chain ch;
	convlog_msg *m;
	int rc;

	memset(id, 0, sizeof(*id));
	if (!seq)
		return 0;
	if ((rc = txn_chain(x, c, &ch)))
		return rc;
	rc = cvl_txn_read_msg(x->t, cvl_chain_owner(&ch, seq), seq, &m);
	if (rc == CONVLOG_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	*id = m->id;
	convlog_msg_free(m);
	return 0;
}

/* The seq of message `id` in conversation c's space now (its own
 * messages, or one inherited through the fork chain); ENOTFOUND if it is
 * not there. */
static int txn_seq_of(mctx *x, const convlog_conv *c, const convlog_uuid *id, uint32_t *seq)
{
	const uint8_t *v;
	size_t vl;
	cvl_chain ch;
	int rc;

	rc = cvl_view_get(&x->t->a.view, CVL_T_MSGID, id->bytes, 16, &v, &vl);
	if (rc)
		return rc;
	if (vl != 20)
		return cvl_err(CONVLOG_ECORRUPT, "msg_id entry is malformed");
	uint32_t s = cvl_get_u32be(v + 16);
	if ((rc = txn_chain(x, c, &ch)))
		return rc;
	for (int i = 0; i < ch.n; i++)
		if (memcmp(ch.c[i].id.bytes, v, 16) == 0 && s > ch.c[i].fork_seq &&
		    s <= cvl_chain_limit(&ch, i)) {
			*seq = s;
			return 0;
		}
	return CONVLOG_ENOTFOUND;
}

static int needs(const char *what, const convlog_uuid *id, const convlog_uuid *conv)
{
	char s[CONVLOG_UUID_STRLEN], s2[CONVLOG_UUID_STRLEN];

	return cvl_err(CONVLOG_ENOTFOUND,
		       "the changeset needs %s %s of conversation %s, which this store has not seen: apply the earlier changesets (or an export since 0) first",
		       what, cvl_uuid_str(id, s), cvl_uuid_str(conv, s2));
}

/* Reads conversation cs's own messages from seq `from` on, with their
 * stamps and parent ids. */
static int read_own(mctx *x, cvl_cstate *cs, uint32_t from, lmsg **out, size_t *n)
{
	const convlog_conv *c = cs->cur;
	uint32_t fs = own_from(c);
	size_t cnt = c->message_count >= from ? c->message_count - from + 1 : 0;
	lmsg *v;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (from <= fs)
		return cvl_err(CONVLOG_ECORRUPT, "read_own below the fork point");
	if (!cnt)
		return 0;
	if (!(v = cvl_calloc(cnt, sizeof(*v))))
		return cvl_err(CONVLOG_ENOMEM, "out of memory merging a conversation");
	for (size_t i = 0; i < cnt && !rc; i++) {
		cvl_msg_info info;
		uint32_t seq = from + (uint32_t)i;
		if ((rc = cvl_txn_read_msgx(x->t, &cs->id, seq, &v[i].own, &info)))
			break;
		v[i].born = info.born;
		v[i].ver = info.ver;
		v[i].id = v[i].own->id;
		v[i].old_seq = seq;
		uint32_t ps = v[i].own->parent_seq;
		if (ps >= from && ps < seq)
			v[i].parent = v[ps - from].id; /* read above: no second read */
		else
			rc = txn_id_at(x, c, ps, &v[i].parent);
	}
	if (rc) {
		lmsgs_free(v, cnt);
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

static int drop_msgs(mctx *x, const convlog_uuid *conv, const lmsg *v, size_t n)
{
	int rc = 0;

	for (size_t i = n; i-- > 0 && !rc;) {
		x->b.len = 0;
		if (!(rc = cvl_tlv_put_bytes(&x->b, MF_ID, v[i].id.bytes, 16)) &&
		    !(rc = cvl_tlv_put_bytes(&x->b, MF_CONV, conv->bytes, 16)) &&
		    !(rc = cvl_tlv_put_u(&x->b, MF_SEQ, v[i].old_seq)))
			rc = cvl_txn_record(x->t, CVL_REC_MSG_DROP, conv, &x->b);
	}
	return rc;
}

/* Writes message `l` as `type` at `seq` of conversation cs with parent
 * `parent_seq`; a remote version is validated first. */
static int write_one(mctx *x, uint8_t type, cvl_cstate *cs, const lmsg *l, uint32_t seq,
		     uint32_t parent_seq)
{
	const convlog_msg *src = l->remote ? l->remote->m : l->own;
	cvl_stamp ver = l->remote ? l->remote->ver : l->ver;
	convlog_msg m;
	cvl_prep pr = {0};
	char w[128], s[CONVLOG_UUID_STRLEN];
	int rc;

	snprintf(w, sizeof(w), "synced message %s", cvl_uuid_str(&l->id, s));
	if (l->remote) {
		if ((rc = cvl_msg_prepare(w, src, CONVLOG_MSG_ALL, x->db->opts.max_content, &m, &pr)))
			goto out;
		if (!m.status)
			m.status = CONVLOG_MSG_COMPLETED;
	} else {
		m = *src;
	}
	m.id = l->id;
	m.conv_id = cs->id;
	m.seq = seq;
	m.parent_seq = parent_seq;
	if (type == CVL_REC_MSG_SUPERSEDE && l->own)
		m.created_at = l->own->created_at; /* kept by every version */
	x->b.len = 0;
	if (!(rc = cvl_msg_encode(&m, &x->b)) && !(rc = cvl_msg_put_stamps(&x->b, &l->born, &ver)))
		rc = cvl_txn_record(x->t, type, &cs->id, &x->b);
out:
	cvl_prep_free(&pr);
	return rc;
}

/* Appends v[0..n) to conversation cs from its current end. */
static int append_all(mctx *x, cvl_cstate *cs, const lmsg *v, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n && !rc; i++) {
		uint32_t seq = cs->cur->message_count + 1, ps = 0;
		if (!convlog_uuid_is_nil(&v[i].parent)) {
			rc = txn_seq_of(x, cs->cur, &v[i].parent, &ps);
			if (rc == CONVLOG_ENOTFOUND)
				return needs("the parent message", &v[i].parent, &cs->id);
			if (rc)
				return rc;
			if (ps >= seq) {
				char s[CONVLOG_UUID_STRLEN];
				return cvl_err(CONVLOG_ECORRUPT, "message %s sorts before its parent (its creation stamp is older)",
					       cvl_uuid_str(&v[i].id, s));
			}
		}
		rc = write_one(x, CVL_REC_MSG_APPEND, cs, &v[i], seq, ps);
		if (!rc && v[i].old_seq && v[i].old_seq != seq)
			x->res->renumbered++;
	}
	return rc;
}

/* A conversation-merge record: the units in `mask` from c with stamps st
 * (born when creating). */
static int write_merge(mctx *x, const convlog_conv *c, uint64_t mask, const cvl_stamp *st,
		       const cvl_stamp *born)
{
	uint8_t sb[17 * CVL_SYNC_UNITS];
	size_t ns = 0;
	cvl_buf *b = &x->b;
	int rc;

	b->len = 0;
	if ((rc = cvl_tlv_put_bytes(b, CF_ID, c->id.bytes, 16)) ||
	    (rc = cvl_tlv_put_u(b, CF_MASK, mask)) || (rc = cvl_tlv_put_i(b, CF_AT, x->now)) ||
	    (rc = cvl_conv_encode_fields(c, mask & CONVLOG_CONV_ALL, b)))
		return rc;
	if (mask & (UINT64_C(1) << CVL_UNIT_STATUS)) {
		if ((rc = cvl_tlv_put_u(b, CF_STATUS, (uint64_t)c->status)) ||
		    (c->prev_status && (rc = cvl_tlv_put_u(b, CF_PREV_STATUS, (uint64_t)c->prev_status))) ||
		    (c->archived_at && (rc = cvl_tlv_put_i(b, CF_ARCHIVED, c->archived_at))) ||
		    (c->deleted_at && (rc = cvl_tlv_put_i(b, CF_DELETED, c->deleted_at))))
			return rc;
	}
	if ((c->updated_at && (rc = cvl_tlv_put_i(b, CF_UPDATED, c->updated_at))) ||
	    (c->last_activity_at && (rc = cvl_tlv_put_i(b, CF_ACTIVITY, c->last_activity_at))))
		return rc;
	for (int u = 0; u < CVL_SYNC_UNITS; u++) {
		if (!(mask & (UINT64_C(1) << u)))
			continue;
		sb[17 * ns] = (uint8_t)u;
		cvl_put_u64le(sb + 17 * ns + 1, st[u].hlc);
		cvl_put_u64le(sb + 17 * ns + 9, st[u].origin);
		ns++;
	}
	if ((rc = cvl_tlv_put_bytes(b, CF_STAMPS, sb, 17 * ns)) ||
	    (born && (rc = put_stamp16(b, CF_BORN, born))))
		return rc;
	return cvl_txn_record(x->t, CVL_REC_CONV_MERGE, &c->id, b);
}

/* ---- renumbering forks ---- */

typedef struct fork_job {
	convlog_uuid id, point, tip; /* fork point and tip message ids */
	lmsg *own;
	size_t n;
} fork_job;

typedef struct fork_list {
	fork_job *v;
	size_t n, cap;
	uint32_t first; /* first changed seq */
	mctx *x;
	int rc;
} fork_list;

static int collect_forks(cvl_actx *a, cvl_cstate *cs, void *ud);

/* Records fork cs (affected: its fork point is at or after the first
 * changed seq) with everything needed to rebuild it, then its forks. */
static int collect_forks(cvl_actx *a, cvl_cstate *cs, void *ud)
{
	fork_list *fl = ud;
	mctx *x = fl->x;
	int rc;

	if (cs->cur->fork_seq < fl->first)
		return 0;
	if (fl->n == fl->cap) {
		size_t nc = fl->cap ? fl->cap * 2 : 4;
		fork_job *nv = cvl_realloc(fl->v, nc * sizeof(*nv));
		if (!nv)
			return cvl_err(CONVLOG_ENOMEM, "out of memory renumbering forks");
		fl->v = nv;
		fl->cap = nc;
	}
	fork_job *j = &fl->v[fl->n++];
	memset(j, 0, sizeof(*j));
	j->id = cs->id;
	if ((rc = txn_id_at(x, cs->cur, cs->cur->fork_seq, &j->point)) ||
	    (rc = txn_id_at(x, cs->cur, cs->cur->tip_seq, &j->tip)) ||
	    (rc = read_own(x, cs, cs->cur->fork_seq + 1, &j->own, &j->n)))
		return rc;
	return cvl_actx_children(a, &cs->id, collect_forks, fl);
}

static void fork_list_free(fork_list *fl)
{
	for (size_t i = 0; i < fl->n; i++)
		lmsgs_free(fl->v[i].own, fl->v[i].n);
	cvl_free(fl->v);
}

/* Rebuilds an affected fork after its parent changed: its own messages go,
 * its fork point moves to where the point message is now, and they come
 * back after it; tip and status keep their values and stamps. */
static int rebuild_fork(mctx *x, fork_job *j)
{
	cvl_cstate *cs, *ps;
	int rc;

	if ((rc = load_cs(x, &j->id, &cs)))
		return rc;
	/* ints only: the packed strings go when the state is repacked */
	int status = cs->cur->status, prev = cs->cur->prev_status;
	int64_t arch = cs->cur->archived_at, del = cs->cur->deleted_at;
	uint32_t old_fs = cs->cur->fork_seq;
	cvl_stamp st[CVL_SYNC_UNITS];
	memcpy(st, cs->sy.unit, sizeof(st));
	if ((rc = drop_msgs(x, &j->id, j->own, j->n)) || (rc = load_cs(x, &j->id, &cs)))
		return rc;
	uint32_t fs = 0;
	if (!convlog_uuid_is_nil(&j->point)) {
		if ((rc = load_cs(x, &cs->cur->parent_id, &ps)))
			return rc;
		rc = txn_seq_of(x, ps->cur, &j->point, &fs);
		if (rc == CONVLOG_ENOTFOUND)
			return needs("the fork point", &j->point, &j->id);
		if (rc)
			return rc;
	}
	if (fs != old_fs) {
		convlog_conv c = *cs->cur;
		c.fork_seq = fs;
		if ((rc = write_merge(x, &c, UINT64_C(1) << CVL_UNIT_PARENT, st, NULL)))
			return rc;
	}
	if ((rc = load_cs(x, &j->id, &cs)) || (rc = append_all(x, cs, j->own, j->n)) ||
	    (rc = load_cs(x, &j->id, &cs)))
		return rc;
	uint32_t tip = 0;
	if (!convlog_uuid_is_nil(&j->tip) && (rc = txn_seq_of(x, cs->cur, &j->tip, &tip)) &&
	    rc != CONVLOG_ENOTFOUND)
		return rc;
	/* the appends moved the tip and may have reactivated it: put back
	 * what was there, with the stamps it had */
	convlog_conv keep = *cs->cur;
	keep.tip_seq = tip;
	keep.status = status;
	keep.prev_status = prev;
	keep.archived_at = arch;
	keep.deleted_at = del;
	return write_merge(x, &keep, (UINT64_C(1) << CVL_UNIT_TIP) | (UINT64_C(1) << CVL_UNIT_STATUS), st, NULL);
}

/* ---- merging one conversation ---- */

/* Copies the fields of unit u (not 12, the fork point) from r into c. */
static void take_unit(convlog_conv *c, const convlog_conv *r, int u)
{
	switch (u) {
	case 0: c->external_id = r->external_id; break;
	case 1: c->org_id = r->org_id; break;
	case 2: c->user_id = r->user_id; break;
	case 3: c->device_id = r->device_id; break;
	case 4: c->session_id = r->session_id; break;
	case 5: c->initiator_role = r->initiator_role; break;
	case 6: c->responder_role = r->responder_role; break;
	case 7: c->title = r->title; break;
	case 8: c->topic = r->topic; break;
	case 9: c->system_prompt = r->system_prompt; break;
	case 10: c->tags = r->tags; c->n_tags = r->n_tags; break;
	case 11: c->rating = r->rating; break;
	case 14: c->cursors = r->cursors; c->n_cursors = r->n_cursors; break;
	case 15: c->metadata = r->metadata; break;
	case 16: c->created_at = r->created_at; break;
	case CVL_UNIT_STATUS:
		c->status = r->status;
		c->prev_status = r->prev_status;
		c->archived_at = r->archived_at;
		c->deleted_at = r->deleted_at;
		break;
	default: break; /* 12 and 13 are handled by the caller */
	}
}

static int is_tombstoned(mctx *x, const convlog_uuid *id)
{
	const uint8_t *v;
	size_t vl;
	int rc = cvl_view_get(&x->t->a.view, CVL_T_SYNC_TOMB, id->bytes, 16, &v, &vl);

	return rc == CONVLOG_ENOTFOUND ? 0 : rc ? rc : 1;
}

static int old_seq_cmp(const void *a, const void *b)
{
	const lmsg *x = a, *y = b;

	return x->old_seq < y->old_seq ? -1 : x->old_seq > y->old_seq;
}

static int merge_conv(mctx *x, const rconv *r)
{
	const convlog_uuid *id = &r->c->id;
	cvl_cstate *cs, *ps;
	convlog_conv rv;
	cvl_prep pr = {0};
	lmsg *all = NULL, *moved = NULL;
	size_t nl = 0, n = 0, nmoved = 0;
	fork_list fl = {0};
	char w[80], s[CONVLOG_UUID_STRLEN];
	int created = 0, msgs_changed = 0;
	int rc;

	if ((rc = is_tombstoned(x, id)) != 0) {
		if (rc == 1)
			x->res->ignored++;
		return rc < 0 ? rc : 0;
	}
	x->res->conversations++;
	snprintf(w, sizeof(w), "synced conversation %s", cvl_uuid_str(id, s));
	if ((rc = cvl_conv_prepare(w, r->c, CONVLOG_CONV_ALL, &rv, &pr)))
		goto out;
	rv.status = r->c->status;
	rv.prev_status = r->c->prev_status;
	rv.archived_at = r->c->archived_at;
	rv.deleted_at = r->c->deleted_at;
	rv.updated_at = r->c->updated_at;
	rv.last_activity_at = r->c->last_activity_at;
	rc = cvl_actx_conv(&x->t->a, id, &cs);
	if (rc == CONVLOG_ENOTFOUND) {
		/* new here: made with every unit and its stamp, then messages */
		convlog_conv nc = rv;
		nc.tip_seq = 0;
		nc.fork_seq = 0;
		nc.depth = 0;
		if (!convlog_uuid_is_nil(&nc.parent_id)) {
			rc = cvl_actx_conv(&x->t->a, &nc.parent_id, &ps);
			if (rc == CONVLOG_ENOTFOUND) {
				if ((rc = is_tombstoned(x, &nc.parent_id)) < 0)
					goto out;
				if (!rc) {
					rc = needs("the parent conversation", &nc.parent_id, id);
					goto out;
				}
				/* its parent was purged here: it starts as a root */
				memset(&nc.parent_id, 0, sizeof(nc.parent_id));
			} else if (rc) {
				goto out;
			} else {
				nc.depth = ps->cur->depth + 1;
				if (!convlog_uuid_is_nil(&r->fork)) {
					rc = txn_seq_of(x, ps->cur, &r->fork, &nc.fork_seq);
					if (rc == CONVLOG_ENOTFOUND)
						rc = needs("the fork point", &r->fork, id);
					if (rc)
						goto out;
				}
			}
		}
		if ((rc = write_merge(x, &nc, CVL_UNITS_ALL, r->unit, &r->born)) ||
		    (rc = load_cs(x, id, &cs)))
			goto out;
		created = 1;
		x->res->created++;
	} else if (rc) {
		goto out;
	}
	cvl_stamp lst[CVL_SYNC_UNITS];
	memcpy(lst, cs->sy.unit, sizeof(lst));
	int l_status = cs->cur->status, l_prev = cs->cur->prev_status;
	int64_t l_arch = cs->cur->archived_at, l_del = cs->cur->deleted_at;
	int64_t l_upd = cs->cur->updated_at, l_act = cs->cur->last_activity_at;
	uint32_t fs = own_from(cs->cur);
	convlog_uuid ltip;
	if ((rc = txn_id_at(x, cs->cur, cs->cur->tip_seq, &ltip)) ||
	    (rc = read_own(x, cs, fs + 1, &all, &nl)))
		goto out;
	n = nl;
	/* the remote messages: newer versions of ours, and new ones */
	if (r->nmsgs) {
		lmsg *na = cvl_realloc(all, (nl + r->nmsgs) * sizeof(*na));
		if (!na) {
			rc = cvl_err(CONVLOG_ENOMEM, "out of memory merging a conversation");
			goto out;
		}
		all = na;
	}
	for (size_t i = 0; i < r->nmsgs; i++) {
		const rmsg *rm = &r->msgs[i];
		const uint8_t *v;
		size_t vl;
		rc = cvl_view_get(&x->t->a.view, CVL_T_MSGID, rm->m->id.bytes, 16, &v, &vl);
		if (rc == 0) {
			uint32_t seq = vl == 20 ? cvl_get_u32be(v + 16) : 0;
			if (vl == 20 && memcmp(v, id->bytes, 16) == 0 && seq > fs && seq - fs <= nl) {
				lmsg *l = &all[seq - fs - 1];
				if (cvl_stamp_cmp(&rm->ver, &l->ver) > 0 &&
				    (!l->remote || cvl_stamp_cmp(&rm->ver, &l->remote->ver) > 0))
					l->remote = rm;
			} else {
				x->res->ignored++; /* the id names a message elsewhere */
			}
			continue;
		}
		if (rc != CONVLOG_ENOTFOUND)
			goto out;
		rc = 0;
		memset(&all[n], 0, sizeof(all[n]));
		all[n].remote = rm;
		all[n].born = rm->born;
		all[n].ver = rm->ver;
		all[n].id = rm->m->id;
		all[n].parent = rm->parent;
		n++;
	}
	/* one order everywhere: by creation stamp, then id */
	if (n)
		qsort(all, n, sizeof(*all), lmsg_cmp);
	size_t p = 0;
	while (p < nl && all[p].old_seq == fs + 1 + p)
		p++;
	uint32_t first = fs + 1 + (uint32_t)p;
	if (p < nl) {
		/* messages of ours move: take them out from the top, and forks
		 * whose fork point is among them, to rebuild after */
		fl.first = first;
		fl.x = x;
		if ((rc = cvl_actx_children(&x->t->a, id, collect_forks, &fl)))
			goto out;
		if (!(moved = cvl_malloc((nl - p) * sizeof(*moved)))) {
			rc = cvl_err(CONVLOG_ENOMEM, "out of memory merging a conversation");
			goto out;
		}
		for (size_t i = p; i < n; i++)
			if (all[i].old_seq)
				moved[nmoved++] = all[i];
		qsort(moved, nmoved, sizeof(*moved), old_seq_cmp);
		if ((rc = drop_msgs(x, id, moved, nmoved)) || (rc = load_cs(x, id, &cs)))
			goto out;
	}
	for (size_t i = 0; i < p && !rc; i++)
		if (all[i].remote) {
			rc = write_one(x, CVL_REC_MSG_SUPERSEDE, cs, &all[i], all[i].old_seq,
				       all[i].own->parent_seq);
			x->res->messages_updated++;
			msgs_changed = 1;
		}
	if (rc)
		goto out;
	if (p < n) {
		if ((rc = load_cs(x, id, &cs)) || (rc = append_all(x, cs, all + p, n - p)))
			goto out;
		for (size_t i = p; i < n; i++) {
			if (!all[i].old_seq)
				x->res->messages_added++;
			else if (all[i].remote)
				x->res->messages_updated++;
		}
		msgs_changed = 1;
	}
	for (size_t i = 0; i < fl.n && !rc; i++)
		rc = rebuild_fork(x, &fl.v[i]);
	if (rc || (rc = load_cs(x, id, &cs)))
		goto out;
	/* the fields: per unit, the later stamp */
	convlog_conv f = *cs->cur;
	cvl_stamp st[CVL_SYNC_UNITS];
	memcpy(st, lst, sizeof(st));
	uint64_t wins = 0;
	f.status = l_status;
	f.prev_status = l_prev;
	f.archived_at = l_arch;
	f.deleted_at = l_del;
	for (int u = 0; u < CVL_SYNC_UNITS; u++) {
		if (u == CVL_UNIT_PARENT || cvl_stamp_cmp(&r->unit[u], &lst[u]) <= 0)
			continue;
		wins |= UINT64_C(1) << u;
		st[u] = r->unit[u];
		take_unit(&f, &rv, u);
	}
	/* (a conversation made here got its tip unit's stamp, not its value) */
	const convlog_uuid *tip_id =
		created || (wins & (UINT64_C(1) << CVL_UNIT_TIP)) ? &r->tip : &ltip;
	uint32_t tip = 0;
	if (!convlog_uuid_is_nil(tip_id)) {
		rc = txn_seq_of(x, cs->cur, tip_id, &tip);
		if (rc == CONVLOG_ENOTFOUND)
			rc = needs("the tip message", tip_id, id);
		if (rc)
			goto out;
	}
	f.tip_seq = tip;
	int times = r->c->updated_at > l_upd || r->c->last_activity_at > l_act;
	if (r->c->updated_at > f.updated_at)
		f.updated_at = r->c->updated_at;
	if (r->c->last_activity_at > f.last_activity_at)
		f.last_activity_at = r->c->last_activity_at;
	uint64_t mask = wins;
	if (msgs_changed) /* the appends moved the tip and may have reactivated */
		mask |= (UINT64_C(1) << CVL_UNIT_TIP) | (UINT64_C(1) << CVL_UNIT_STATUS);
	if (f.tip_seq != cs->cur->tip_seq)
		mask |= UINT64_C(1) << CVL_UNIT_TIP;
	if (mask || times)
		rc = write_merge(x, &f, mask, st, NULL);
	if (!rc && !created && (wins || times))
		x->res->updated++;
out:
	fork_list_free(&fl);
	cvl_free(moved);
	lmsgs_free(all, n);
	cvl_prep_free(&pr);
	return rc;
}

/* A purge from another replica: the conversation goes here too (a
 * placeholder keeps the tombstone when it never arrived). */
static int apply_tomb(mctx *x, const rtomb *tb)
{
	cvl_cstate *cs;
	int rc;

	if ((rc = is_tombstoned(x, &tb->id)) != 0)
		return rc < 0 ? rc : 0;
	rc = cvl_actx_conv(&x->t->a, &tb->id, &cs);
	if (rc == CONVLOG_ENOTFOUND) {
		convlog_conv c;
		cvl_stamp st[CVL_SYNC_UNITS];
		convlog_conv_init(&c);
		c.id = tb->id;
		c.status = CONVLOG_STATUS_DELETED;
		c.prev_status = CONVLOG_STATUS_ACTIVE;
		for (int u = 0; u < CVL_SYNC_UNITS; u++)
			st[u] = tb->st;
		if ((rc = write_merge(x, &c, UINT64_C(1) << CVL_UNIT_STATUS, st, &tb->st)))
			return rc;
	} else if (rc) {
		return rc;
	} else if (cs->cur->status != CONVLOG_STATUS_DELETED) {
		x->b.len = 0;
		if ((rc = cvl_tlv_put_bytes(&x->b, CF_ID, tb->id.bytes, 16)) ||
		    (rc = cvl_tlv_put_u(&x->b, CF_STATUS, CONVLOG_STATUS_DELETED)) ||
		    (rc = cvl_tlv_put_i(&x->b, CF_AT, x->now)) ||
		    (rc = cvl_txn_record(x->t, CVL_REC_CONV_STATUS, &tb->id, &x->b)))
			return rc;
	}
	if ((rc = cvl_conv_purge_in(x->t, &tb->id)))
		return rc;
	x->res->purged++;
	return 0;
}

static int read_peer(cvl_view *v, uint64_t id, cvl_sync_peer *p)
{
	uint8_t k[8];
	const uint8_t *val;
	size_t vl;
	int rc;

	memset(p, 0, sizeof(*p));
	cvl_put_u64be(k, id);
	rc = cvl_view_get(v, CVL_T_SYNC_PEER, k, 8, &val, &vl);
	if (rc == CONVLOG_ENOTFOUND)
		return 0;
	if (!rc && cvl_sync_peer_decode(val, vl, p))
		rc = cvl_err(CONVLOG_ECORRUPT, "sync_peer entry is malformed");
	return rc;
}

/* A scoped apply: whether conversation id exists here outside the scope
 * (the changeset's version lies inside it: another replica moved it). */
static int hidden_here(mctx *x, const convlog_uuid *id)
{
	cvl_cstate *cs = NULL;
	int rc = cvl_actx_conv(&x->t->a, id, &cs);

	return rc == CONVLOG_ENOTFOUND && cs && cs->cur;
}

CONVLOG_API int convlog_sync_apply(convlog_db *db, const void *data, size_t len,
				   convlog_sync_result *res)
{
	convlog_sync_result dummy;
	mctx x = {0};
	rset s;
	convlog_db *handle = db;
	const cvl_scope *scope;
	int rc;

	cvl_err_clear();
	if ((rc = cvl_db_enter_write(&db, &scope)))
		return rc;
	if (!res)
		res = &dummy;
	memset(res, 0, sizeof(*res));
	if ((rc = cvl_cs_read(&s, data, len, db->replica_id)))
		goto done;
	if (s.h.source == db->replica_id) {
		rc = cvl_err(CONVLOG_EINVAL, "the changeset was made by this store (replica %016" PRIx64 ")",
			     db->replica_id);
		goto done;
	}
	/* a replica whose clock runs far ahead would win every later write
	 * for as long as the difference lasts: refuse its changesets */
	int64_t now = cvl_os_now_ms();
	if (CVL_HLC_MS(s.max.hlc) > now + CVL_SYNC_MAX_AHEAD_MS) {
		rc = cvl_err(CONVLOG_ERANGE,
			     "the changeset from replica %016" PRIx64 " holds a stamp %.1f hours ahead of this machine's clock (more than %d allowed): fix that replica's clock",
			     s.h.source, (double)(CVL_HLC_MS(s.max.hlc) - now) / 3.6e6,
			     (int)(CVL_SYNC_MAX_AHEAD_MS / 3600000));
		goto done;
	}
	res->source = s.h.source;
	res->since = s.h.since;
	res->upto = s.h.upto;
	res->snapshot = s.h.since == 0;
	x.db = db;
	x.res = res;
	cvl_buf_init(&x.b, 0);
	if ((rc = convlog_txn_begin(handle, &x.t))) /* scoped: so is the txn */
		goto done;
	x.now = cvl_txn_now(x.t);
	/* the clock moves past everything the changeset holds, so what this
	 * store writes next is ordered after it */
	if (s.max.hlc > atomic_load(&db->hlc))
		atomic_store(&db->hlc, s.max.hlc);
	/* a scoped apply takes the scope's conversations and leaves the rest
	 * (counted as ignored), tombstones included: they do not say whose
	 * they were.  It leaves the peer's cursor too, so an unscoped apply
	 * of the same changes later still gets everything. */
	for (size_t i = 0; i < s.ntombs && !rc; i++)
		if (scope)
			res->ignored++;
		else
			rc = apply_tomb(&x, &s.tombs[i]);
	for (size_t i = 0; i < s.nconvs && !rc; i++)
		if (scope && (!cvl_scope_covers(scope, s.convs[i].c) || hidden_here(&x, &s.convs[i].c->id)))
			res->ignored++;
		else
			rc = merge_conv(&x, &s.convs[i]);
	if (!rc && !scope) {
		cvl_sync_peer p;
		if (!(rc = read_peer(&x.t->a.view, s.h.source, &p))) {
			/* the cursor moves only without a gap */
			uint64_t recv = s.h.since <= p.recv && s.h.upto > p.recv ? s.h.upto : p.recv;
			res->cursor_moved = recv > p.recv;
			x.b.len = 0;
			if (!(rc = cvl_tlv_put_u(&x.b, 1, s.h.source)) && !(rc = cvl_tlv_put_u(&x.b, 2, recv)) &&
			    !(rc = cvl_tlv_put_u(&x.b, 3, s.my_ack)) && !(rc = cvl_tlv_put_i(&x.b, 4, x.now))) {
				convlog_uuid nil = {{0}};
				rc = cvl_txn_record(x.t, CVL_REC_SYNC_PEER, &nil, &x.b);
			}
		}
	}
	if (rc)
		convlog_txn_abort(x.t);
	else
		rc = convlog_txn_commit(x.t);
	if (rc)
		memset(res, 0, sizeof(*res));
done:
	cvl_buf_free(&x.b);
	cvl_cs_free(&s);
	return rc;
}

CONVLOG_API int convlog_sync_feed(convlog_db *db, uint64_t since, uint64_t *head,
				  convlog_feed_fn fn, void *ud)
{
	cvl_view v = {0};
	cvl_vcur cur;
	uint8_t start[8];
	const cvl_scope *scope;
	int rc;

	cvl_err_clear();
	if ((rc = cvl_db_enter(&db, &scope)))
		return rc;
	if (!fn)
		return cvl_err(CONVLOG_EINVAL, "sync_feed: NULL callback");
	if (!db->lm.has_sync)
		return cvl_err(CONVLOG_EVERSION, "%s: a format %u store has no change feed; open it for writing once to upgrade it",
			       db->path, db->format);
	if ((rc = cvl_db_snapshot(db, &v)))
		return rc;
	if (head)
		*head = v.snap > since ? v.snap : since;
	if ((rc = cvl_vcur_open(&v, CVL_T_SYNC_FEED, &cur))) {
		cvl_view_release(&v);
		return rc;
	}
	cvl_put_u64be(start, since ? since + 1 : 0);
	for (rc = cvl_vcur_seek(&cur, start, 8); !rc; rc = cvl_vcur_next(&cur)) {
		convlog_uuid id;
		if (cur.klen != 24 || cur.vlen != 1) {
			rc = cvl_err(CONVLOG_ECORRUPT, "sync_feed entry is malformed");
			break;
		}
		memcpy(id.bytes, cur.key + 8, 16);
		if (scope) {
			/* a scoped feed: the scope's live conversations only (a
			 * tombstone does not say whose it was) */
			convlog_conv *c = NULL;
			if (cur.val[0] == CVL_FEED_PURGED)
				continue;
			v.scope = scope;
			rc = cvl_conv_load(&v, &id, &c);
			v.scope = NULL;
			convlog_conv_free(c);
			if (rc == CONVLOG_ENOTFOUND)
				continue;
			if (rc)
				break;
		}
		if ((rc = fn(ud, cvl_get_u64be(cur.key), &id, cur.val[0] == CVL_FEED_PURGED)))
			break;
	}
	cvl_vcur_close(&cur);
	cvl_view_release(&v);
	return rc == CONVLOG_DONE ? 0 : rc;
}

int cvl_sync_peer_get(convlog_db *db, uint64_t peer, cvl_sync_peer *out)
{
	cvl_view v = {0};
	int rc;

	memset(out, 0, sizeof(*out));
	if (!db->lm.has_sync)
		return cvl_err(CONVLOG_EVERSION, "%s: a format %u store has no change feed", db->path, db->format);
	if ((rc = cvl_db_snapshot(db, &v)))
		return rc;
	rc = read_peer(&v, peer, out);
	cvl_view_release(&v);
	return rc;
}

int cvl_sync_note_peer(convlog_db *db, uint64_t peer, uint64_t recv, uint64_t ack)
{
	convlog_txn *t;
	cvl_buf b;
	convlog_uuid nil = {{0}};
	int rc;

	if ((rc = cvl_db_check_write(db)) || (rc = convlog_txn_begin(db, &t)))
		return rc;
	cvl_buf_init(&b, 0);
	if (!(rc = cvl_tlv_put_u(&b, 1, peer)) && !(rc = cvl_tlv_put_u(&b, 2, recv)) &&
	    !(rc = cvl_tlv_put_u(&b, 3, ack)) && !(rc = cvl_tlv_put_i(&b, 4, cvl_txn_now(t))))
		rc = cvl_txn_record(t, CVL_REC_SYNC_PEER, &nil, &b);
	cvl_buf_free(&b);
	if (rc) {
		convlog_txn_abort(t);
		return rc;
	}
	return convlog_txn_commit(t);
}

CONVLOG_API int convlog_sync_status(convlog_db *db, convlog_sync_info **out)
{
	cvl_view v = {0};
	cvl_vcur cur;
	convlog_sync_info *in;
	uint8_t zero = 0;
	int rc;

	cvl_err_clear();
	if ((rc = cvl_db_check(db)))
		return rc;
	if (!out)
		return cvl_err(CONVLOG_EINVAL, "sync_status: NULL argument");
	*out = NULL;
	if (!db->lm.has_sync)
		return cvl_err(CONVLOG_EVERSION, "%s: a format %u store has no change feed; open it for writing once to upgrade it",
			       db->path, db->format);
	if (!(in = cvl_calloc(1, sizeof(*in))))
		return cvl_err(CONVLOG_ENOMEM, "out of memory");
	if ((rc = cvl_db_snapshot(db, &v)))
		goto out;
	in->replica_id = db->replica_id;
	in->head = v.snap;
	if ((rc = cvl_vcur_open(&v, CVL_T_SYNC_FEED, &cur)))
		goto out;
	for (rc = cvl_vcur_seek(&cur, &zero, 0); !rc; rc = cvl_vcur_next(&cur)) {
		in->feed_entries++;
		if (cur.vlen == 1 && cur.val[0] == CVL_FEED_PURGED)
			in->tombstones++;
	}
	cvl_vcur_close(&cur);
	if (rc != CONVLOG_DONE || (rc = cvl_vcur_open(&v, CVL_T_SYNC_PEER, &cur)))
		goto out;
	size_t cap = 0;
	for (rc = cvl_vcur_seek(&cur, &zero, 0); !rc; rc = cvl_vcur_next(&cur)) {
		cvl_sync_peer p;
		if (cur.klen != 8 || cvl_sync_peer_decode(cur.val, cur.vlen, &p)) {
			rc = cvl_err(CONVLOG_ECORRUPT, "sync_peer entry is malformed");
			break;
		}
		if (in->n_peers == cap) {
			size_t nc = cap ? cap * 2 : 4;
			convlog_sync_peer *np = cvl_realloc(in->peers, nc * sizeof(*np));
			if (!np) {
				rc = cvl_err(CONVLOG_ENOMEM, "out of memory");
				break;
			}
			in->peers = np;
			cap = nc;
		}
		in->peers[in->n_peers++] = (convlog_sync_peer){cvl_get_u64be(cur.key), p.recv, p.ack, p.at};
	}
	cvl_vcur_close(&cur);
	if (rc == CONVLOG_DONE)
		rc = 0;
out:
	cvl_view_release(&v);
	if (rc)
		convlog_sync_info_free(in);
	else
		*out = in;
	return rc;
}

CONVLOG_API void convlog_sync_info_free(convlog_sync_info *info)
{
	if (!info)
		return;
	cvl_free(info->peers);
	cvl_free(info);
}
