/*
 * In-memory inverted index of the documents (message versions) applied to
 * one memtable.  Like the memtable it has one writer (at commit, under the
 * writer lock) and lock-free readers: every structure is append-only and
 * published with release stores; readers see a prefix.  It is flushed to
 * an index segment together with its memtable and freed with it.
 */
#ifndef CVL_INDEX_MEMIDX_H
#define CVL_INDEX_MEMIDX_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "convlog.h"

#define CVL_MI_BUCKETS (1u << 16)
#define CVL_MI_DOC_CHUNK 4096u
#define CVL_MI_POS_CHUNK 65536u
#define CVL_MI_MAX_CHUNKS 8192u

/* One indexed document: a message version. */
typedef struct cvl_idoc {
	uint64_t docid;        /* LSN of the record that wrote this version */
	convlog_uuid conv;
	uint32_t seq;
	uint32_t len;          /* number of tokens */
	int64_t created_at;
	uint64_t role_h;       /* XXH3-64 of the role / model text, 0 = none */
	uint64_t model_h;
} cvl_idoc;

typedef struct cvl_mi_post {
	uint32_t doc;  /* local document number */
	uint32_t tf;
	uint32_t pos;  /* first position in the positions store */
} cvl_mi_post;

typedef struct cvl_mi_chunk {
	struct cvl_mi_chunk *_Atomic next;
	uint32_t cap;
	cvl_mi_post p[];
} cvl_mi_chunk;

typedef struct cvl_mi_term {
	struct cvl_mi_term *_Atomic next; /* hash chain */
	uint64_t hash;
	_Atomic uint32_t count;           /* published postings */
	_Atomic uint32_t max_tf;
	cvl_mi_chunk *first;
	cvl_mi_chunk *last;               /* writer only */
	uint32_t last_used;               /* writer only */
	uint32_t wcount, wmax_tf;         /* writer only: count, max_tf */
	uint16_t len;
	char text[];
} cvl_mi_term;

typedef struct cvl_mi_arena cvl_mi_arena;

typedef struct cvl_memidx {
	cvl_mi_arena *arena;              /* block being filled; ->prev: full ones */
	cvl_mi_arena *spare;              /* reserved blocks not yet used */
	size_t nspare;
	_Atomic size_t bytes;             /* used bytes, doc and position chunks */
	_Atomic(cvl_mi_term *) buckets[CVL_MI_BUCKETS];
	_Atomic(cvl_idoc *) docs[CVL_MI_MAX_CHUNKS];
	_Atomic(_Atomic uint8_t *) dead[CVL_MI_MAX_CHUNKS]; /* per doc: superseded/deleted */
	_Atomic uint32_t ndocs;
	_Atomic(uint32_t *) pos[CVL_MI_MAX_CHUNKS];
	uint32_t npos;                    /* writer only */
	_Atomic uint32_t nterms;
	_Atomic uint64_t total_len;       /* sum of document lengths */
	_Atomic uint32_t ndead;           /* documents marked dead */
	_Atomic uint64_t dead_len;        /* their lengths */
} cvl_memidx;

int cvl_mi_new(cvl_memidx **out);
void cvl_mi_free(cvl_memidx *mi);
/* Returns the reserved blocks no insert used (the index takes no more
 * documents, e.g. its memtable was frozen).  Writer only. */
void cvl_mi_trim(cvl_memidx *mi);

/* A document to add: its tokens as (term, position) pairs. */
typedef struct cvl_mi_tok {
	const char *text;
	uint16_t len;
	uint32_t pos;
} cvl_mi_tok;

/* Upper bound of the bytes adding these documents may take. */
size_t cvl_mi_cost(size_t ndocs, size_t ntokens, size_t nterms);
/* Makes sure adding `ndocs` documents with `ntokens` tokens, costing
 * `bytes`, cannot fail. */
int cvl_mi_reserve(cvl_memidx *mi, size_t bytes, size_t ndocs, size_t ntokens);

/* Adds one document (writer only, after a covering reserve); tokens must
 * be sorted by (term, position).  Returns its local number. */
uint32_t cvl_mi_add(cvl_memidx *mi, const cvl_idoc *d, const cvl_mi_tok *toks, size_t n);

/* A document's occurrences of one term: its positions, ascending. */
typedef struct cvl_mi_group {
	const char *text;
	uint16_t len;
	uint32_t npos;
	uint64_t hash;          /* XXH3-64 of the text */
	const uint32_t *pos;
} cvl_mi_group;

/* Adds one document given as term groups, in any order (writer only,
 * after a covering reserve).  Returns its local number. */
uint32_t cvl_mi_add_groups(cvl_memidx *mi, const cvl_idoc *d, const cvl_mi_group *g, size_t n);

/* Marks local document `doc` dead (superseded or deleted). */
void cvl_mi_kill(cvl_memidx *mi, uint32_t doc);

/* Reader side. */
cvl_mi_term *cvl_mi_find(cvl_memidx *mi, const char *text, size_t len);
static inline const cvl_idoc *cvl_mi_doc(cvl_memidx *mi, uint32_t d)
{
	cvl_idoc *c = atomic_load_explicit(&mi->docs[d / CVL_MI_DOC_CHUNK], memory_order_acquire);
	return &c[d % CVL_MI_DOC_CHUNK];
}
static inline int cvl_mi_dead(cvl_memidx *mi, uint32_t d)
{
	_Atomic uint8_t *c = atomic_load_explicit(&mi->dead[d / CVL_MI_DOC_CHUNK], memory_order_acquire);
	return atomic_load_explicit(&c[d % CVL_MI_DOC_CHUNK], memory_order_relaxed) != 0;
}
static inline uint32_t cvl_mi_pos(cvl_memidx *mi, uint32_t i)
{
	uint32_t *c = atomic_load_explicit(&mi->pos[i / CVL_MI_POS_CHUNK], memory_order_acquire);
	return c[i % CVL_MI_POS_CHUNK];
}
/* Finds local document number by docid (binary search; docids ascend). */
int cvl_mi_lookup(cvl_memidx *mi, uint64_t docid, uint32_t *doc);

/* Postings iteration: call with (term, snapshot count). */
typedef struct cvl_mi_iter {
	cvl_mi_chunk *chunk;
	uint32_t i, left;
} cvl_mi_iter;

static inline void cvl_mi_iter_init(cvl_mi_iter *it, cvl_mi_term *t)
{
	it->chunk = t->first;
	it->i = 0;
	it->left = atomic_load_explicit(&t->count, memory_order_acquire);
}

static inline const cvl_mi_post *cvl_mi_iter_next(cvl_mi_iter *it)
{
	if (!it->left)
		return NULL;
	if (it->i == it->chunk->cap) {
		it->chunk = atomic_load_explicit(&it->chunk->next, memory_order_acquire);
		it->i = 0;
	}
	it->left--;
	return &it->chunk->p[it->i++];
}

#endif
