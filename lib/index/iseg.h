/*
 * Index segments (STORE/index/%016x.idx): immutable files holding the
 * inverted index of a set of documents (format-spec.md §10.2).  Written
 * from a frozen in-memory index or by merging segments; read through mmap.
 */
#ifndef CVL_INDEX_ISEG_H
#define CVL_INDEX_ISEG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "index/memidx.h"
#include "util/buf.h"

#define CVL_ISEG_VERSION 1
#define CVL_ISEG_HEADER 64
#define CVL_ISEG_DOC 32       /* bytes per document record */
#define CVL_ISEG_BLOCK 128    /* documents per postings block */
#define CVL_ISEG_NOSTR 0xFFFFu

/* ---- writing ---- */

/* Positions a writer buffers before moving them to a side file (tests
 * lower it). */
extern size_t cvl_iseg_spill;

typedef struct cvl_iseg_writer cvl_iseg_writer;

/* Starts segment `id` in directory `dir` (written to a temporary name). */
int cvl_iseg_begin(const char *dir, uint64_t id, cvl_iseg_writer **out);
/* Documents first, in ascending docid order (local numbers 0, 1, ...). */
int cvl_iseg_add_doc(cvl_iseg_writer *w, const cvl_idoc *d);
/* Then terms in ascending byte order, each with its postings in
 * ascending local document order. */
int cvl_iseg_term(cvl_iseg_writer *w, const char *text, size_t len);
int cvl_iseg_posting(cvl_iseg_writer *w, uint32_t doc, uint32_t tf, const uint32_t *pos);
/* Writes the dictionary and footer, syncs, renames into place. */
int cvl_iseg_finish(cvl_iseg_writer *w, uint64_t *bytes);
void cvl_iseg_abort(cvl_iseg_writer *w);

/* ---- reading ---- */

typedef struct cvl_iseg {
	_Atomic int refs;
	uint64_t id;
	uint64_t min_docid, max_docid;
	uint32_t ndocs, nterms, nconvs, nstrs, ndict;
	uint64_t total_len;
	uint64_t file_size;
	const uint8_t *map;
	const uint8_t *docs, *convs, *strs, *post, *pos, *dict, *dictidx;
	uint64_t post_len, pos_len, dict_len, dictidx_len, strs_len;
	uint64_t *str_hash; /* nstrs role/model hashes */
	_Atomic uint64_t *dead; /* one bit per document */
	_Atomic uint32_t ndead;    /* bits set */
	_Atomic uint64_t dead_len; /* their lengths, for live statistics */
	char path[4096];
} cvl_iseg;

/* Opens a segment, checking its header, footer, section bounds and the
 * checksums of its small sections. */
int cvl_iseg_open(const char *dir, uint64_t id, cvl_iseg **out);
/* Checks every section checksum (reads the whole file). */
int cvl_iseg_verify(const cvl_iseg *s);
void cvl_iseg_ref(cvl_iseg *s);
void cvl_iseg_unref(cvl_iseg *s);

/* Document record accessors (doc < ndocs). */
uint64_t cvl_iseg_docid(const cvl_iseg *s, uint32_t doc);
void cvl_iseg_doc(const cvl_iseg *s, uint32_t doc, cvl_idoc *out);
static inline uint32_t cvl_iseg_doclen(const cvl_iseg *s, uint32_t doc)
{
	const uint8_t *p = s->docs + (size_t)doc * CVL_ISEG_DOC + 24;
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
/* Local number of a docid, CONVLOG_ENOTFOUND if not in the segment. */
int cvl_iseg_find_doc(const cvl_iseg *s, uint64_t docid, uint32_t *doc);
static inline int cvl_iseg_dead(const cvl_iseg *s, uint32_t doc)
{
	uint64_t w = atomic_load_explicit(&s->dead[doc / 64], memory_order_relaxed);

	return (int)((w >> (doc % 64)) & 1);
}
void cvl_iseg_kill(cvl_iseg *s, uint32_t doc);
uint32_t cvl_iseg_ndead(const cvl_iseg *s);

/* A term's dictionary entry. */
typedef struct cvl_iterm {
	uint32_t df, max_tf;
	uint64_t post_off, post_len, pos_off;
} cvl_iterm;

/* 0, CONVLOG_ENOTFOUND, or CONVLOG_ECORRUPT. */
int cvl_iseg_lookup(const cvl_iseg *s, const char *text, size_t len, cvl_iterm *t);

/* Walks terms >= `from` in order; fn returns non-zero to stop. */
int cvl_iseg_terms(const cvl_iseg *s, const char *from, size_t flen,
		   int (*fn)(void *ud, const char *text, size_t len, const cvl_iterm *t), void *ud);

/* Postings iterator with block skipping and block maxima. */
/* A cursor over a segment's dictionary, in term order, without copying
 * it: the term of the current entry is in term[0..tlen). */
typedef struct cvl_dcur {
	const cvl_iseg *s;
	const uint8_t *p, *end;
	char term[256];
	size_t tlen;
	cvl_iterm t;
} cvl_dcur;

/* Positions c before the first entry: 0 or CONVLOG_ECORRUPT. */
int cvl_dcur_first(const cvl_iseg *s, cvl_dcur *c);
/* Moves to the next entry: 1, 0 at the end, or CONVLOG_ECORRUPT. */
int cvl_dcur_next(cvl_dcur *c);

typedef struct cvl_pit {
	const uint8_t *p, *end, *pos_base, *pos_end;
	uint32_t df, left;         /* docs not yet loaded in a block */
	uint32_t docs[CVL_ISEG_BLOCK], tfs[CVL_ISEG_BLOCK];
	uint32_t n, i;             /* block size, cursor */
	uint32_t prev_last;        /* last doc of the previous block */
	uint32_t blast, bmax_tf, bmin_len; /* current block's last doc and maxima */
	const uint8_t *bpos;       /* positions of the block's first doc */
	const uint8_t *body, *next;
	int decoded;
	const uint8_t *pp;         /* position cursor */
	uint32_t pp_i;
	uint32_t doc;              /* current doc; UINT32_MAX at the end */
	uint32_t nblk;             /* blocks loaded so far */
	int corrupt;
} cvl_pit;

void cvl_pit_init(cvl_pit *it, const cvl_iseg *s, const cvl_iterm *t);
/* Moves to the first doc >= target (target 0 and a fresh iterator: the
 * first doc).  Returns the doc or UINT32_MAX. */
uint32_t cvl_pit_advance(cvl_pit *it, uint32_t target);
uint32_t cvl_pit_next(cvl_pit *it);
static inline uint32_t cvl_pit_tf(const cvl_pit *it)
{
	return it->tfs[it->i];
}
/* Moves the block cursor (without decoding) to the block that may hold
 * target; returns that block's last doc (UINT32_MAX past the end). */
uint32_t cvl_pit_shallow(cvl_pit *it, uint32_t target);
/* Positions of the current doc into out[tf]. 0 or -1 if corrupt. */
int cvl_pit_positions(cvl_pit *it, uint32_t *out);

#endif
