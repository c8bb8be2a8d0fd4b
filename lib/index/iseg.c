/* Index segment files: writer and mmap reader (format-spec.md §10.2). */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "index/bitpack.h"
#include "index/iseg.h"
#include "os/os.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/htab.h"

static const uint8_t head_magic[8] = {'C', 'V', 'L', 'I', 'D', 'X', '\r', '\n'};
static const uint8_t foot_magic[8] = {'C', 'V', 'L', 'I', 'D', 'X', 'E', 'N'};

enum { S_POST, S_POS, S_DOCS, S_CONVS, S_STRS, S_DICT, S_DICTIDX, S_RESERVED, S_COUNT };
#define FOOTER (S_COUNT * 24 + 16)
#define DICT_BLOCK 64

/* ====================================================================== */
/* Writer                                                                 */
/* ====================================================================== */

typedef struct strent {
	cvl_hnode hn;
	uint16_t idx;
} strent;

typedef struct convent {
	cvl_hnode hn;
	uint32_t idx;
	uint8_t id[16];
} convent;

/* A section written through a side file once it passes cvl_iseg_spill
 * bytes (positions and documents grow with the input), copied into the
 * segment at finish. */
typedef struct spill {
	char path[4096];
	int fd;
	uint64_t spilled;
	XXH3_state_t *hash;
} spill;

struct cvl_iseg_writer {
	char path[4096], tmp[4096], dir[4096];
	int fd;
	uint64_t id, off; /* main file write offset */
	cvl_buf out;      /* pending bytes of the main file (postings) */
	cvl_buf pos;      /* positions section, in memory */
	cvl_buf docs, convs, strs, dict, idx, idxkeys;
	cvl_htab strh, convh;
	strent *strlist;
	uint32_t ndocs, nconvs, nterms;
	uint16_t nstrs;
	uint64_t total_len, min_docid, max_docid;
	/* the term being written */
	char term[256];
	size_t tlen;
	char prev[256];
	size_t plen;
	uint32_t *tdocs, *ttfs;
	uint64_t *tpos; /* positions offset per posting */
	size_t tn, tcap;
	uint32_t last_doc;
	XXH3_state_t *post_hash; /* of the postings section as it streams out */
	spill ps, ds;   /* positions: <id>.pos.tmp, documents: <id>.docs.tmp */
	uint32_t *lens; /* length of each document (blocks record the minimum) */
	size_t lcap;
};

size_t cvl_iseg_spill = 8u << 20;

static int w_flush(cvl_iseg_writer *w)
{
	int rc = cvl_os_pwrite(w->fd, w->out.p, w->out.len, w->off, w->tmp);

	XXH3_64bits_update(w->post_hash, w->out.p, w->out.len);
	w->off += w->out.len;
	w->out.len = 0;
	return rc;
}

int cvl_iseg_begin(const char *dir, uint64_t id, cvl_iseg_writer **out)
{
	cvl_iseg_writer *w = cvl_calloc(1, sizeof(*w));
	int rc;

	if (!w)
		return cvl_err(CONVLOG_ENOMEM, "out of memory writing an index segment");
	w->fd = -1;
	w->ps.fd = w->ds.fd = -1;
	w->id = id;
	snprintf(w->dir, sizeof(w->dir), "%s", dir);
	snprintf(w->path, sizeof(w->path), "%s/%016" PRIx64 ".idx", dir, id);
	snprintf(w->tmp, sizeof(w->tmp), "%s/%016" PRIx64 ".idx.tmp", dir, id);
	snprintf(w->ps.path, sizeof(w->ps.path), "%s/%016" PRIx64 ".pos.tmp", dir, id);
	snprintf(w->ds.path, sizeof(w->ds.path), "%s/%016" PRIx64 ".docs.tmp", dir, id);
	cvl_buf_init(&w->out, 0);
	cvl_buf_init(&w->pos, 0);
	cvl_buf_init(&w->docs, 0);
	cvl_buf_init(&w->convs, 0);
	cvl_buf_init(&w->strs, 0);
	cvl_buf_init(&w->dict, 0);
	cvl_buf_init(&w->idx, 0);
	cvl_buf_init(&w->idxkeys, 0);
	if ((rc = cvl_htab_init(&w->strh, 64)) || (rc = cvl_htab_init(&w->convh, 1024)))
		goto fail;
	if (!(w->post_hash = XXH3_createState()) || !(w->ps.hash = XXH3_createState()) ||
	    !(w->ds.hash = XXH3_createState())) {
		rc = cvl_err(CONVLOG_ENOMEM, "out of memory writing an index segment");
		goto fail;
	}
	XXH3_64bits_reset(w->post_hash);
	XXH3_64bits_reset(w->ps.hash);
	XXH3_64bits_reset(w->ds.hash);
	cvl_os_unlink(w->tmp);
	if ((rc = cvl_os_open(w->tmp, CVL_O_RDWR | CVL_O_CREATE | CVL_O_EXCL, &w->fd)))
		goto fail;
	w->off = CVL_ISEG_HEADER;
	*out = w;
	return 0;
fail:
	cvl_iseg_abort(w);
	return rc;
}

static void free_node(cvl_hnode *n, void *ud)
{
	(void)ud;
	cvl_free(n);
}

void cvl_iseg_abort(cvl_iseg_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0) {
		cvl_os_close(w->fd);
		cvl_os_unlink(w->tmp);
	}
	for (spill *sp = &w->ps; sp; sp = sp == &w->ps ? &w->ds : NULL) {
		if (sp->fd >= 0) {
			cvl_os_close(sp->fd);
			cvl_os_unlink(sp->path);
		}
		if (sp->hash)
			XXH3_freeState(sp->hash);
	}
	if (w->strh.slots)
		cvl_htab_each(&w->strh, free_node, NULL);
	if (w->convh.slots)
		cvl_htab_each(&w->convh, free_node, NULL);
	cvl_htab_free(&w->strh);
	cvl_htab_free(&w->convh);
	cvl_buf_free(&w->out);
	cvl_buf_free(&w->pos);
	cvl_buf_free(&w->docs);
	cvl_buf_free(&w->convs);
	cvl_buf_free(&w->strs);
	cvl_buf_free(&w->dict);
	cvl_buf_free(&w->idx);
	cvl_buf_free(&w->idxkeys);
	cvl_free(w->tdocs);
	cvl_free(w->ttfs);
	cvl_free(w->tpos);
	if (w->post_hash)
		XXH3_freeState(w->post_hash);
	cvl_free(w->lens);
	cvl_free(w);
}

static int str_eq(const cvl_hnode *n, const void *k)
{
	(void)n;
	(void)k;
	return 1; /* the hash is the key */
}

/* Index of a role/model hash in the segment's hash table. */
static int str_index(cvl_iseg_writer *w, uint64_t h, uint16_t *out)
{
	strent *e;
	int rc;

	*out = CVL_ISEG_NOSTR;
	if (!h)
		return 0;
	if ((e = (strent *)cvl_htab_find(&w->strh, h, str_eq, NULL))) {
		*out = e->idx;
		return 0;
	}
	if (w->nstrs == CVL_ISEG_NOSTR - 1)
		return 0; /* table full: unfilterable, still indexed */
	if (!(e = cvl_malloc(sizeof(*e))))
		return cvl_err(CONVLOG_ENOMEM, "out of memory writing an index segment");
	e->hn.hash = h;
	e->idx = w->nstrs++;
	cvl_htab_insert(&w->strh, &e->hn);
	if ((rc = cvl_buf_put_u64le(&w->strs, h)))
		return rc;
	*out = e->idx;
	return 0;
}

static int conv_eq(const cvl_hnode *n, const void *k)
{
	return memcmp(((const convent *)n)->id, k, 16) == 0;
}

static int conv_index(cvl_iseg_writer *w, const convlog_uuid *id, uint32_t *out)
{
	uint64_t h = cvl_get_u64le(id->bytes + 8) * UINT64_C(0x9E3779B97F4A7C15);
	convent *e = (convent *)cvl_htab_find(&w->convh, h, conv_eq, id->bytes);
	int rc;

	if (e) {
		*out = e->idx;
		return 0;
	}
	if (!(e = cvl_malloc(sizeof(*e))))
		return cvl_err(CONVLOG_ENOMEM, "out of memory writing an index segment");
	e->hn.hash = h;
	e->idx = w->nconvs++;
	memcpy(e->id, id->bytes, 16);
	cvl_htab_insert(&w->convh, &e->hn);
	if ((rc = cvl_buf_append(&w->convs, id->bytes, 16)))
		return rc;
	*out = e->idx;
	return 0;
}

/* Moves buffer b to its side file. */
static int spill_out(cvl_iseg_writer *w, spill *sp, cvl_buf *b)
{
	int rc;

	(void)w;
	if (sp->fd < 0) {
		cvl_os_unlink(sp->path);
		if ((rc = cvl_os_open(sp->path, CVL_O_RDWR | CVL_O_CREATE | CVL_O_EXCL, &sp->fd)))
			return rc;
	}
	if ((rc = cvl_os_pwrite(sp->fd, b->p, b->len, sp->spilled, sp->path)))
		return rc;
	XXH3_64bits_update(sp->hash, b->p, b->len);
	sp->spilled += b->len;
	b->len = 0;
	return 0;
}

int cvl_iseg_add_doc(cvl_iseg_writer *w, const cvl_idoc *d)
{
	uint8_t r[CVL_ISEG_DOC];
	uint32_t ci = 0;
	uint16_t ri = CVL_ISEG_NOSTR, mi = CVL_ISEG_NOSTR;
	int rc;

	if ((rc = conv_index(w, &d->conv, &ci)) || (rc = str_index(w, d->role_h, &ri)) ||
	    (rc = str_index(w, d->model_h, &mi)))
		return rc;
	cvl_put_u64le(r, d->docid);
	cvl_put_u32le(r + 8, ci);
	cvl_put_u32le(r + 12, d->seq);
	cvl_put_u64le(r + 16, (uint64_t)d->created_at);
	cvl_put_u32le(r + 24, d->len);
	cvl_put_u16le(r + 28, ri);
	cvl_put_u16le(r + 30, mi);
	if (w->ndocs == w->lcap) {
		size_t nc = w->lcap ? w->lcap * 2 : 1024;
		uint32_t *nl = cvl_realloc(w->lens, nc * sizeof(*nl));
		if (!nl)
			return cvl_err(CONVLOG_ENOMEM, "out of memory writing an index segment");
		w->lens = nl;
		w->lcap = nc;
	}
	if (!w->ndocs)
		w->min_docid = d->docid;
	w->max_docid = d->docid;
	w->lens[w->ndocs++] = d->len;
	w->total_len += d->len;
	if ((rc = cvl_buf_append(&w->docs, r, sizeof(r))))
		return rc;
	return w->docs.len >= cvl_iseg_spill ? spill_out(w, &w->ds, &w->docs) : 0;
}

static uint32_t w_doclen(const cvl_iseg_writer *w, uint32_t doc)
{
	return w->lens[doc];
}

/* Encodes postings [a, b) of the buffered term as one block. */
static int put_block(cvl_iseg_writer *w, size_t a, size_t b, uint32_t prev_last,
		     uint64_t term_pos)
{
	uint32_t gaps[CVL_ISEG_BLOCK], tf1[CVL_ISEG_BLOCK], max_tf = 0, min_len = UINT32_MAX;
	size_t n = b - a;
	int rc;

	for (size_t i = 0; i < n; i++) {
		uint32_t d = w->tdocs[a + i], prev = i ? w->tdocs[a + i - 1] : prev_last;
		gaps[i] = (i == 0 && a == 0) ? d : d - prev - 1;
		tf1[i] = w->ttfs[a + i] - 1;
		if (w->ttfs[a + i] > max_tf)
			max_tf = w->ttfs[a + i];
		uint32_t l = w_doclen(w, d);
		if (l < min_len)
			min_len = l;
	}
	unsigned gb = cvl_bits_needed(gaps, n), tb = cvl_bits_needed(tf1, n);
	size_t body = cvl_packed_size(n, gb) + cvl_packed_size(n, tb);
	if ((rc = cvl_buf_put_varint(&w->out, n)) ||
	    (rc = cvl_buf_put_varint(&w->out, w->tdocs[b - 1])) ||
	    (rc = cvl_buf_put_varint(&w->out, max_tf)) || (rc = cvl_buf_put_varint(&w->out, min_len)) ||
	    (rc = cvl_buf_put_u8(&w->out, (uint8_t)gb)) || (rc = cvl_buf_put_u8(&w->out, (uint8_t)tb)) ||
	    (rc = cvl_buf_put_varint(&w->out, w->tpos[a] - term_pos)) ||
	    (rc = cvl_buf_put_varint(&w->out, body)) || (rc = cvl_buf_reserve(&w->out, body)))
		return rc;
	cvl_pack(gaps, n, gb, w->out.p + w->out.len);
	cvl_pack(tf1, n, tb, w->out.p + w->out.len + cvl_packed_size(n, gb));
	w->out.len += body;
	return 0;
}

static int dict_entry(cvl_iseg_writer *w, uint64_t post_off, uint64_t post_len, uint64_t pos_off,
		      uint32_t max_tf)
{
	size_t shared = 0;
	int rc;

	if (w->nterms % DICT_BLOCK == 0) {
		/* a new dictionary block: index its first term */
		if ((rc = cvl_buf_put_u64le(&w->idx, w->dict.len)) ||
		    (rc = cvl_buf_put_u32le(&w->idx, (uint32_t)w->idxkeys.len)) ||
		    (rc = cvl_buf_append(&w->idx, (uint8_t[2]){(uint8_t)w->tlen, 0}, 2)) ||
		    (rc = cvl_buf_append(&w->idxkeys, w->term, w->tlen)))
			return rc;
	} else {
		while (shared < w->tlen && shared < w->plen && w->term[shared] == w->prev[shared])
			shared++;
	}
	if ((rc = cvl_buf_put_varint(&w->dict, shared)) ||
	    (rc = cvl_buf_put_varint(&w->dict, w->tlen - shared)) ||
	    (rc = cvl_buf_append(&w->dict, w->term + shared, w->tlen - shared)) ||
	    (rc = cvl_buf_put_varint(&w->dict, w->tn)) || (rc = cvl_buf_put_varint(&w->dict, max_tf)) ||
	    (rc = cvl_buf_put_varint(&w->dict, post_off)) ||
	    (rc = cvl_buf_put_varint(&w->dict, post_len)) || (rc = cvl_buf_put_varint(&w->dict, pos_off)))
		return rc;
	memcpy(w->prev, w->term, w->tlen);
	w->plen = w->tlen;
	w->nterms++;
	return 0;
}

/* Writes the buffered term's postings and dictionary entry. */
static int end_term(cvl_iseg_writer *w)
{
	uint64_t post_off = w->off - CVL_ISEG_HEADER + w->out.len, pos_off = w->tpos[0];
	uint32_t max_tf = 0, prev_last = 0;
	int rc;

	for (size_t i = 0; i < w->tn; i++)
		if (w->ttfs[i] > max_tf)
			max_tf = w->ttfs[i];
	for (size_t a = 0; a < w->tn; a += CVL_ISEG_BLOCK) {
		size_t b = a + CVL_ISEG_BLOCK < w->tn ? a + CVL_ISEG_BLOCK : w->tn;
		if ((rc = put_block(w, a, b, prev_last, pos_off)))
			return rc;
		prev_last = w->tdocs[b - 1];
	}
	uint64_t post_len = w->off - CVL_ISEG_HEADER + w->out.len - post_off;
	if ((rc = dict_entry(w, post_off, post_len, pos_off, max_tf)))
		return rc;
	w->tn = 0;
	return w->out.len > (1u << 20) ? w_flush(w) : 0;
}

int cvl_iseg_term(cvl_iseg_writer *w, const char *text, size_t len)
{
	int rc;

	if (w->tlen && w->tn && (rc = end_term(w)))
		return rc;
	if (len > sizeof(w->term))
		len = sizeof(w->term);
	memcpy(w->term, text, len);
	w->tlen = len;
	w->tn = 0;
	return 0;
}

/* Moves the buffered positions to the side file (bounded memory). */
/* Writes the section's buffer b: the side file's bytes, then b. */
static int spill_put(cvl_iseg_writer *w, spill *sp, cvl_buf *b, uint8_t *foot, int sec)
{
	uint64_t off = w->off;
	int rc = 0;

	if (sp->fd >= 0) {
		uint8_t *chunk = cvl_malloc(1u << 20);
		if (!chunk)
			return cvl_err(CONVLOG_ENOMEM, "out of memory writing an index segment");
		for (uint64_t at = 0; at < sp->spilled && !rc;) {
			size_t want = sp->spilled - at < (1u << 20) ? (size_t)(sp->spilled - at) : (1u << 20), got = 0;
			if (!(rc = cvl_os_pread(sp->fd, chunk, want, at, &got, sp->path)) && got != want)
				rc = cvl_err(CONVLOG_EIO, "%s: short read", sp->path);
			if (!rc)
				rc = cvl_os_pwrite(w->fd, chunk, want, w->off, w->tmp);
			w->off += want;
			at += want;
		}
		cvl_free(chunk);
		cvl_os_close(sp->fd);
		sp->fd = -1;
		cvl_os_unlink(sp->path);
		if (rc)
			return rc;
	}
	XXH3_64bits_update(sp->hash, b->p, b->len);
	if ((rc = cvl_os_pwrite(w->fd, b->p, b->len, w->off, w->tmp)))
		return rc;
	w->off += b->len;
	cvl_put_u64le(foot + sec * 24, off);
	cvl_put_u64le(foot + sec * 24 + 8, w->off - off);
	cvl_put_u64le(foot + sec * 24 + 16, XXH3_64bits_digest(sp->hash));
	return 0;
}

int cvl_iseg_posting(cvl_iseg_writer *w, uint32_t doc, uint32_t tf, const uint32_t *pos)
{
	uint32_t prev = 0;
	int rc;

	if (w->tn == w->tcap) {
		size_t nc = w->tcap ? w->tcap * 2 : 1024;
		uint32_t *d = cvl_realloc(w->tdocs, nc * sizeof(*d));
		if (d)
			w->tdocs = d;
		uint32_t *t = cvl_realloc(w->ttfs, nc * sizeof(*t));
		if (t)
			w->ttfs = t;
		uint64_t *p = cvl_realloc(w->tpos, nc * sizeof(*p));
		if (p)
			w->tpos = p;
		if (!d || !t || !p)
			return cvl_err(CONVLOG_ENOMEM, "out of memory writing an index segment");
		w->tcap = nc;
	}
	w->tdocs[w->tn] = doc;
	w->ttfs[w->tn] = tf;
	w->tpos[w->tn++] = w->ps.spilled + w->pos.len;
	for (uint32_t i = 0; i < tf; i++) {
		if ((rc = cvl_buf_put_varint(&w->pos, pos[i] - prev)))
			return rc;
		prev = pos[i];
	}
	return w->pos.len >= cvl_iseg_spill ? spill_out(w, &w->ps, &w->pos) : 0;
}

static int put_section(cvl_iseg_writer *w, const cvl_buf *b, uint8_t *foot, int k)
{
	cvl_put_u64le(foot + k * 24, w->off);
	cvl_put_u64le(foot + k * 24 + 8, b->len);
	cvl_put_u64le(foot + k * 24 + 16, XXH3_64bits(b->p, b->len));
	int rc = cvl_os_pwrite(w->fd, b->p, b->len, w->off, w->tmp);
	w->off += b->len;
	return rc;
}

static int write_tail(cvl_iseg_writer *w, uint8_t *foot, uint64_t post_start)
{
	cvl_buf nidx;
	int rc;

	cvl_put_u64le(foot, post_start);
	cvl_put_u64le(foot + 8, w->off - post_start);
	cvl_put_u64le(foot + 16, XXH3_64bits_digest(w->post_hash));
	cvl_buf_init(&nidx, 0);
	if ((rc = cvl_buf_put_u32le(&nidx, (uint32_t)(w->idx.len / 14))) ||
	    (rc = cvl_buf_append(&nidx, w->idx.p, w->idx.len)) ||
	    (rc = cvl_buf_append(&nidx, w->idxkeys.p, w->idxkeys.len)))
		goto out;
	if ((rc = spill_put(w, &w->ps, &w->pos, foot, S_POS)) ||
	    (rc = spill_put(w, &w->ds, &w->docs, foot, S_DOCS)) ||
	    (rc = put_section(w, &w->convs, foot, S_CONVS)) ||
	    (rc = put_section(w, &w->strs, foot, S_STRS)) || (rc = put_section(w, &w->dict, foot, S_DICT)))
		goto out;
	rc = put_section(w, &nidx, foot, S_DICTIDX);
	/* the reserved section is empty */
	cvl_put_u64le(foot + S_RESERVED * 24 + 16, XXH3_64bits(NULL, 0));
out:
	cvl_buf_free(&nidx);
	return rc;
}

static void header_encode(const cvl_iseg_writer *w, uint8_t *h)
{
	memset(h, 0, CVL_ISEG_HEADER);
	memcpy(h, head_magic, 8);
	cvl_put_u32le(h + 8, CVL_ISEG_VERSION);
	cvl_put_u64le(h + 16, w->id);
	cvl_put_u64le(h + 24, w->min_docid);
	cvl_put_u64le(h + 32, w->max_docid);
	cvl_put_u32le(h + 40, w->ndocs);
	cvl_put_u32le(h + 44, w->nterms);
	cvl_put_u64le(h + 48, w->total_len);
	cvl_put_u64le(h + 56, XXH3_64bits(h, 56));
}

int cvl_iseg_finish(cvl_iseg_writer *w, uint64_t *bytes)
{
	uint8_t foot[FOOTER], h[CVL_ISEG_HEADER];
	uint64_t post_start = CVL_ISEG_HEADER;
	int rc;

	memset(foot, 0, sizeof(foot));
	if ((w->tn && (rc = end_term(w))) || (rc = w_flush(w)) ||
	    (rc = write_tail(w, foot, post_start)))
		goto out;
	cvl_put_u32le(foot + S_COUNT * 24, S_COUNT);
	cvl_put_u32le(foot + S_COUNT * 24 + 4, 0);
	memcpy(foot + S_COUNT * 24 + 8, foot_magic, 8);
	uint8_t fsum[8];
	cvl_put_u64le(fsum, XXH3_64bits(foot, sizeof(foot)));
	header_encode(w, h);
	if ((rc = cvl_os_pwrite(w->fd, foot, sizeof(foot), w->off, w->tmp)) ||
	    (rc = cvl_os_pwrite(w->fd, fsum, 8, w->off + sizeof(foot), w->tmp)) ||
	    (rc = cvl_os_pwrite(w->fd, h, sizeof(h), 0, w->tmp)) || (rc = cvl_os_fsync(w->fd, w->tmp)) ||
	    (rc = cvl_os_rename(w->tmp, w->path)) || (rc = cvl_os_fsync_dir(w->dir)))
		goto out;
	if (bytes)
		*bytes = w->off + sizeof(foot) + 8;
	cvl_os_close(w->fd);
	w->fd = -1;
out:
	cvl_iseg_abort(w);
	return rc;
}

/* ====================================================================== */
/* Reader                                                                 */
/* ====================================================================== */

static int bad(const cvl_iseg *s, const char *why)
{
	return cvl_err(CONVLOG_ECORRUPT, "%s: %s", s->path, why);
}

/* Maps the sections named in the footer after checking bounds and sums. */
static int map_sections(cvl_iseg *s)
{
	const uint8_t *f = s->map + s->file_size - FOOTER - 8;
	const uint8_t **ptr[S_COUNT] = {&s->post, &s->pos, &s->docs, &s->convs, &s->strs, &s->dict,
					&s->dictidx, NULL};
	uint64_t *len[S_COUNT] = {&s->post_len, &s->pos_len, NULL, NULL, &s->strs_len, &s->dict_len,
				  &s->dictidx_len, NULL};
	uint64_t lens[S_COUNT];

	if (memcmp(f + S_COUNT * 24 + 8, foot_magic, 8) != 0 ||
	    cvl_get_u64le(f + FOOTER) != XXH3_64bits(f, FOOTER))
		return bad(s, "index segment footer is damaged");
	for (int k = 0; k < S_COUNT; k++) {
		uint64_t off = cvl_get_u64le(f + k * 24), n = cvl_get_u64le(f + k * 24 + 8);
		if (off > s->file_size || n > s->file_size - off)
			return bad(s, "an index section lies outside the file");
		/* the small sections are checked now; the bulk ones (postings,
		 * positions, documents, dictionary) by cvl_iseg_verify, so that
		 * opening a store does not read its whole index */
		int bulk = k == S_POST || k == S_POS || k == S_DOCS || k == S_DICT;
		if (!bulk && cvl_get_u64le(f + k * 24 + 16) != XXH3_64bits(s->map + off, n))
			return bad(s, "index section checksum mismatch");
		lens[k] = n;
		if (ptr[k])
			*ptr[k] = s->map + off;
		if (len[k])
			*len[k] = n;
	}
	if (lens[S_DOCS] != (uint64_t)s->ndocs * CVL_ISEG_DOC || lens[S_CONVS] % 16 != 0 ||
	    s->dictidx_len < 4)
		return bad(s, "index sections have inconsistent sizes");
	s->nconvs = (uint32_t)(lens[S_CONVS] / 16);
	s->ndict = cvl_get_u32le(s->dictidx);
	if ((uint64_t)s->ndict * 14 > s->dictidx_len - 4)
		return bad(s, "index dictionary index is truncated");
	return 0;
}

int cvl_iseg_verify(const cvl_iseg *s)
{
	static const char *names[S_COUNT] = {"postings", "positions", "documents", "conversations",
					     "strings", "dictionary", "dictionary index", "reserved"};
	const uint8_t *f = s->map + s->file_size - FOOTER - 8;

	for (int k = 0; k < S_COUNT; k++) {
		uint64_t off = cvl_get_u64le(f + k * 24), n = cvl_get_u64le(f + k * 24 + 8);
		if (cvl_get_u64le(f + k * 24 + 16) != XXH3_64bits(s->map + off, n))
			return cvl_err(CONVLOG_ECORRUPT, "%s: index %s section checksum mismatch",
				       s->path, names[k]);
	}
	return 0;
}

static int load_strs(cvl_iseg *s)
{
	if (s->strs_len % 8)
		return bad(s, "string table is malformed");
	s->nstrs = (uint32_t)(s->strs_len / 8);
	s->str_hash = cvl_malloc((s->nstrs + 1) * sizeof(uint64_t));
	if (!s->str_hash)
		return cvl_err(CONVLOG_ENOMEM, "out of memory opening an index segment");
	for (uint32_t i = 0; i < s->nstrs; i++)
		s->str_hash[i] = cvl_get_u64le(s->strs + (size_t)i * 8);
	return 0;
}

int cvl_iseg_open(const char *dir, uint64_t id, cvl_iseg **out)
{
	cvl_iseg *s = cvl_calloc(1, sizeof(*s));
	int fd = -1, rc;

	if (!s)
		return cvl_err(CONVLOG_ENOMEM, "out of memory opening an index segment");
	atomic_init(&s->refs, 1);
	s->id = id;
	snprintf(s->path, sizeof(s->path), "%s/%016" PRIx64 ".idx", dir, id);
	if ((rc = cvl_os_open(s->path, CVL_O_RDONLY, &fd)) ||
	    (rc = cvl_os_file_size(fd, &s->file_size, s->path)))
		goto fail;
	if (s->file_size < CVL_ISEG_HEADER + FOOTER + 8) {
		rc = bad(s, "index segment is too short");
		goto fail;
	}
	void *m;
	if ((rc = cvl_os_mmap_file(fd, (size_t)s->file_size, &m, s->path)))
		goto fail;
	s->map = m;
	const uint8_t *h = s->map;
	if (memcmp(h, head_magic, 8) != 0 || cvl_get_u64le(h + 56) != XXH3_64bits(h, 56)) {
		rc = bad(s, "not an index segment (bad header)");
		goto fail;
	}
	if (cvl_get_u32le(h + 8) != CVL_ISEG_VERSION || cvl_get_u32le(h + 12) != 0) {
		rc = cvl_err(CONVLOG_EVERSION, "%s: index segment version %u", s->path,
			     cvl_get_u32le(h + 8));
		goto fail;
	}
	s->min_docid = cvl_get_u64le(h + 24);
	s->max_docid = cvl_get_u64le(h + 32);
	s->ndocs = cvl_get_u32le(h + 40);
	s->nterms = cvl_get_u32le(h + 44);
	s->total_len = cvl_get_u64le(h + 48);
	if (cvl_get_u64le(h + 16) != id) {
		rc = bad(s, "index segment header names another id");
		goto fail;
	}
	if ((rc = map_sections(s)) || (rc = load_strs(s)))
		goto fail;
	s->dead = cvl_calloc((s->ndocs + 63) / 64 + 1, sizeof(*s->dead));
	if (!s->dead) {
		rc = cvl_err(CONVLOG_ENOMEM, "out of memory opening an index segment");
		goto fail;
	}
	cvl_os_close(fd);
	*out = s;
	return 0;
fail:
	cvl_os_close(fd);
	atomic_store(&s->refs, 1);
	cvl_iseg_unref(s);
	return rc;
}

void cvl_iseg_ref(cvl_iseg *s)
{
	atomic_fetch_add(&s->refs, 1);
}

void cvl_iseg_unref(cvl_iseg *s)
{
	if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	if (s->map)
		cvl_os_munmap((void *)s->map, (size_t)s->file_size);
	cvl_free(s->str_hash);
	cvl_free((void *)s->dead);
	cvl_free(s);
}

uint64_t cvl_iseg_docid(const cvl_iseg *s, uint32_t doc)
{
	return cvl_get_u64le(s->docs + (size_t)doc * CVL_ISEG_DOC);
}

void cvl_iseg_doc(const cvl_iseg *s, uint32_t doc, cvl_idoc *d)
{
	const uint8_t *r = s->docs + (size_t)doc * CVL_ISEG_DOC;
	uint32_t ci = cvl_get_u32le(r + 8);
	uint16_t ri = cvl_get_u16le(r + 28), mi = cvl_get_u16le(r + 30);

	d->docid = cvl_get_u64le(r);
	if (ci < s->nconvs)
		memcpy(d->conv.bytes, s->convs + (size_t)ci * 16, 16);
	else
		memset(d->conv.bytes, 0, 16);
	d->seq = cvl_get_u32le(r + 12);
	d->created_at = (int64_t)cvl_get_u64le(r + 16);
	d->len = cvl_get_u32le(r + 24);
	d->role_h = ri < s->nstrs ? s->str_hash[ri] : 0;
	d->model_h = mi < s->nstrs ? s->str_hash[mi] : 0;
}

int cvl_iseg_find_doc(const cvl_iseg *s, uint64_t docid, uint32_t *doc)
{
	uint32_t lo = 0, hi = s->ndocs;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (cvl_iseg_docid(s, mid) < docid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->ndocs && cvl_iseg_docid(s, lo) == docid) {
		*doc = lo;
		return 0;
	}
	return CONVLOG_ENOTFOUND;
}

void cvl_iseg_kill(cvl_iseg *s, uint32_t doc)
{
	uint64_t bit = UINT64_C(1) << (doc % 64);

	if (doc >= s->ndocs)
		return;
	if (!(atomic_fetch_or_explicit(&s->dead[doc / 64], bit, memory_order_relaxed) & bit)) {
		atomic_fetch_add_explicit(&s->dead_len, cvl_iseg_doclen(s, doc), memory_order_relaxed);
		atomic_fetch_add_explicit(&s->ndead, 1, memory_order_relaxed);
	}
}

uint32_t cvl_iseg_ndead(const cvl_iseg *s)
{
	return atomic_load_explicit(&s->ndead, memory_order_relaxed);
}

/* ---- dictionary ---- */

static int key_cmp(const uint8_t *a, size_t al, const char *b, size_t bl)
{
	size_t n = al < bl ? al : bl;
	int c = n ? memcmp(a, b, n) : 0;

	return c ? c : (al < bl ? -1 : al > bl);
}

/* The dictionary block whose first term is the greatest <= text. */
static uint32_t find_block(const cvl_iseg *s, const char *text, size_t len)
{
	const uint8_t *ix = s->dictidx + 4, *keys = ix + (size_t)s->ndict * 14;
	const uint8_t *end = s->dictidx + s->dictidx_len;
	uint32_t lo = 0, hi = s->ndict;

	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		const uint8_t *e = ix + (size_t)mid * 14;
		uint32_t ko = cvl_get_u32le(e + 8);
		uint16_t kl = cvl_get_u16le(e + 12);
		if (keys + ko + kl > end || key_cmp(keys + ko, kl, text, len) <= 0)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

typedef cvl_dcur dcur;

/* Decodes the next dictionary entry. 1 ok, 0 end, -1 corrupt. */
static int dict_next(dcur *c)
{
	uint64_t shared, suf, df, mtf, po, pl, pso;

	if (c->p >= c->end)
		return 0;
	if (cvl_varint_get(&c->p, c->end, &shared) || cvl_varint_get(&c->p, c->end, &suf) ||
	    shared > c->tlen || shared + suf > sizeof(c->term) || suf > (uint64_t)(c->end - c->p))
		return -1;
	memcpy(c->term + shared, c->p, suf);
	c->p += suf;
	c->tlen = shared + suf;
	if (cvl_varint_get(&c->p, c->end, &df) || cvl_varint_get(&c->p, c->end, &mtf) ||
	    cvl_varint_get(&c->p, c->end, &po) || cvl_varint_get(&c->p, c->end, &pl) ||
	    cvl_varint_get(&c->p, c->end, &pso) || df > UINT32_MAX || mtf > UINT32_MAX)
		return -1;
	c->t = (cvl_iterm){(uint32_t)df, (uint32_t)mtf, po, pl, pso};
	return 1;
}

static int dict_seek(const cvl_iseg *s, const char *text, size_t len, dcur *c)
{
	uint32_t b = find_block(s, text, len);
	uint64_t off;

	if (s->ndict == 0) {
		c->p = c->end = s->dict;
		return 0;
	}
	off = cvl_get_u64le(s->dictidx + 4 + (size_t)b * 14);
	if (off > s->dict_len)
		return bad(s, "dictionary index points outside the dictionary");
	c->p = s->dict + off;
	c->end = s->dict + s->dict_len;
	c->tlen = 0;
	return 0;
}

static int valid_term(const cvl_iseg *s, const cvl_iterm *t)
{
	return t->post_off <= s->post_len && t->post_len <= s->post_len - t->post_off &&
	       t->pos_off <= s->pos_len && t->df <= s->ndocs;
}

int cvl_iseg_lookup(const cvl_iseg *s, const char *text, size_t len, cvl_iterm *t)
{
	dcur c;
	int r, rc = dict_seek(s, text, len, &c);

	if (rc)
		return rc;
	while ((r = dict_next(&c)) == 1) {
		int cmp = key_cmp((const uint8_t *)c.term, c.tlen, text, len);
		if (cmp == 0) {
			if (!valid_term(s, &c.t))
				return bad(s, "a dictionary entry points outside its section");
			*t = c.t;
			return 0;
		}
		if (cmp > 0)
			return CONVLOG_ENOTFOUND;
	}
	return r < 0 ? bad(s, "dictionary entry is malformed") : CONVLOG_ENOTFOUND;
}

int cvl_iseg_terms(const cvl_iseg *s, const char *from, size_t flen,
		   int (*fn)(void *ud, const char *text, size_t len, const cvl_iterm *t), void *ud)
{
	dcur c;
	int r, rc = dict_seek(s, from, flen, &c);

	if (rc)
		return rc;
	while ((r = dict_next(&c)) == 1) {
		if (key_cmp((const uint8_t *)c.term, c.tlen, from, flen) < 0)
			continue;
		if (!valid_term(s, &c.t))
			return bad(s, "a dictionary entry points outside its section");
		if ((rc = fn(ud, c.term, c.tlen, &c.t)))
			return rc;
	}
	return r < 0 ? bad(s, "dictionary entry is malformed") : 0;
}

int cvl_dcur_first(const cvl_iseg *s, cvl_dcur *c)
{
	c->s = s;
	return dict_seek(s, "", 0, c);
}

int cvl_dcur_next(cvl_dcur *c)
{
	int r = dict_next(c);

	if (r < 0)
		return bad(c->s, "dictionary entry is malformed");
	if (r == 1 && !valid_term(c->s, &c->t))
		return bad(c->s, "a dictionary entry points outside its section");
	return r;
}

/* ---- postings ---- */

void cvl_pit_init(cvl_pit *it, const cvl_iseg *s, const cvl_iterm *t)
{
	memset(it, 0, sizeof(*it));
	it->p = s->post + t->post_off;
	it->end = it->p + t->post_len;
	it->pos_base = s->pos + t->pos_off;
	it->pos_end = s->pos + s->pos_len;
	it->df = it->left = t->df;
	it->doc = 0;
	it->blast = 0;
	it->next = it->p;
	it->n = it->i = 0;
	it->decoded = 1; /* nothing loaded yet */
	it->i = it->n;
}

/* Reads the header of the block at it->next; 0 ok, -1 end or corrupt. */
static int load_header(cvl_pit *it)
{
	const uint8_t *p = it->next;
	uint64_t n, last, mtf, mlen, prel, body;

	if (it->left == 0 || p >= it->end)
		return -1;
	if (cvl_varint_get(&p, it->end, &n) || cvl_varint_get(&p, it->end, &last) ||
	    cvl_varint_get(&p, it->end, &mtf) || cvl_varint_get(&p, it->end, &mlen) ||
	    it->end - p < 2)
		goto bad;
	unsigned gb = p[0], tb = p[1];
	p += 2;
	if (cvl_varint_get(&p, it->end, &prel) || cvl_varint_get(&p, it->end, &body) || n == 0 ||
	    n > CVL_ISEG_BLOCK || n > it->left || gb > 32 || tb > 32 ||
	    body != cvl_packed_size(n, gb) + cvl_packed_size(n, tb) ||
	    body > (uint64_t)(it->end - p) || prel > (uint64_t)(it->pos_end - it->pos_base) ||
	    last > UINT32_MAX)
		goto bad;
	it->prev_last = it->blast;
	it->n = (uint32_t)n;
	it->blast = (uint32_t)last;
	it->bmax_tf = (uint32_t)mtf;
	it->bmin_len = (uint32_t)mlen;
	it->bpos = it->pos_base + prel;
	it->body = p;
	it->next = p + body;
	it->decoded = 0;
	it->i = 0;
	it->left -= (uint32_t)n;
	it->nblk++;
	it->docs[0] = gb | tb << 8; /* stash widths until decoded */
	return 0;
bad:
	it->corrupt = 1;
	return -1;
}

static void decode_block(cvl_pit *it)
{
	int first_block = it->nblk == 1;
	unsigned gb = it->docs[0] & 0xff, tb = it->docs[0] >> 8;
	uint32_t prev = it->prev_last;

	cvl_unpack(it->body, it->n, gb, it->docs);
	cvl_unpack(it->body + cvl_packed_size(it->n, gb), it->n, tb, it->tfs);
	for (uint32_t i = 0; i < it->n; i++) {
		uint32_t d = (i == 0 && first_block) ? it->docs[0] : prev + 1 + it->docs[i];
		it->docs[i] = d;
		prev = d;
		it->tfs[i]++;
	}
	it->decoded = 1;
	it->pp = it->bpos;
	it->pp_i = 0;
}

uint32_t cvl_pit_shallow(cvl_pit *it, uint32_t target)
{
	/* the current block, if loaded and not passed */
	if (it->n && it->i < it->n && it->blast >= target)
		return it->blast;
	while (1) {
		if (load_header(it))
			return UINT32_MAX;
		if (it->blast >= target)
			return it->blast;
	}
}

uint32_t cvl_pit_advance(cvl_pit *it, uint32_t target)
{
	if (cvl_pit_shallow(it, target) == UINT32_MAX) {
		it->doc = UINT32_MAX;
		return UINT32_MAX;
	}
	if (!it->decoded)
		decode_block(it);
	while (it->i < it->n && it->docs[it->i] < target)
		it->i++;
	if (it->i == it->n) { /* cannot happen: blast >= target */
		it->doc = UINT32_MAX;
		return UINT32_MAX;
	}
	it->doc = it->docs[it->i];
	return it->doc;
}

uint32_t cvl_pit_next(cvl_pit *it)
{
	if (it->decoded && it->n && it->i + 1 < it->n) {
		it->i++;
		it->doc = it->docs[it->i];
		return it->doc;
	}
	if (it->doc == UINT32_MAX)
		return UINT32_MAX;
	uint32_t target = (it->n && it->decoded) ? it->docs[it->i] + 1 : 0;
	if (it->n && it->decoded)
		it->i = it->n; /* leave the block */
	return cvl_pit_advance(it, target);
}

int cvl_pit_positions(cvl_pit *it, uint32_t *out)
{
	const uint8_t *p = it->pp;

	/* skip the positions of the docs before the current one: count the
	 * varints' last bytes (high bit clear), eight bytes at a time */
	uint64_t skip = 0;
	while (it->pp_i < it->i)
		skip += it->tfs[it->pp_i++];
	while (skip >= 8 && it->pos_end - p >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		uint64_t ends = (((~w & 0x8080808080808080ull) >> 7) * 0x0101010101010101ull) >> 56;
		if (ends >= skip)
			break; /* the last one may sit mid-word */
		skip -= ends;
		p += 8;
	}
	for (; skip; p++) {
		if (p >= it->pos_end)
			return -1;
		skip -= !(*p & 0x80);
	}
	it->pp = p;
	uint32_t prev = 0;
	for (uint32_t k = 0; k < it->tfs[it->i]; k++) {
		uint64_t v;
		if (cvl_varint_get(&p, it->pos_end, &v) || v > UINT32_MAX)
			return -1;
		prev += (uint32_t)v;
		out[k] = prev;
	}
	return 0;
}
