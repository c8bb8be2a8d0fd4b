#include <pthread.h>
#include <string.h>
#include <xxhash.h>

#include "index/memidx.h"
#include "util/alloc.h"
#include "util/err.h"

/*
 * Memory comes in 1 MiB blocks of whole pages (cvl_pages_alloc), so a
 * freed index returns it to the kernel.  cvl_mi_reserve makes sure enough
 * blocks exist before a batch is inserted (inserts must not fail half-way:
 * readers see them at once); blocks it reserved beyond what the batch
 * used stay for the next batch, and cvl_mi_trim returns them.
 */
struct cvl_mi_arena {
	struct cvl_mi_arena *prev;
	size_t size, used;
	uint8_t mem[];
};

#define BLOCK (1u << 20)
#define MAX_OBJ (16u << 10) /* larger than any term or postings chunk */
#define BLOCK_ROOM (BLOCK - sizeof(cvl_mi_arena))
#define FIRST_CHUNK 4u
#define MAX_CHUNK 1024u

_Static_assert(sizeof(cvl_mi_chunk) + MAX_CHUNK * sizeof(cvl_mi_post) <= MAX_OBJ,
	       "a postings chunk must fit MAX_OBJ");
_Static_assert(sizeof(cvl_mi_term) + 256 <= MAX_OBJ, "a term (at most 64 bytes) fits MAX_OBJ");

/*
 * Freed blocks wait in a small process-wide pool (at most POOL_MAX) for the
 * next memtable's index: fresh pages cost a page fault each, which showed
 * as 7% of import time without the pool.
 */
#define POOL_MAX 32
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static cvl_mi_arena *pool;
static size_t npool;

static cvl_mi_arena *block_new(void)
{
	cvl_mi_arena *a = NULL;

	pthread_mutex_lock(&pool_mu);
	if (pool) {
		a = pool;
		pool = a->prev;
		npool--;
	}
	pthread_mutex_unlock(&pool_mu);
	if (!a)
		a = cvl_pages_alloc(BLOCK);

	if (a) {
		a->prev = NULL;
		a->size = BLOCK_ROOM;
		a->used = 0;
	}
	return a;
}

static void blocks_free(cvl_mi_arena *a)
{
	while (a) {
		cvl_mi_arena *p = a->prev;
		pthread_mutex_lock(&pool_mu);
		int keep = npool < POOL_MAX;
		if (keep) {
			a->prev = pool;
			pool = a;
			npool++;
		}
		pthread_mutex_unlock(&pool_mu);
		if (!keep)
			cvl_pages_free(a, BLOCK);
		a = p;
	}
}

static void *take(cvl_memidx *mi, size_t n)
{
	n = (n + 7) & ~(size_t)7;
	if (n > BLOCK_ROOM)
		return NULL;
	if (!mi->arena || mi->arena->size - mi->arena->used < n) {
		cvl_mi_arena *a = mi->spare;
		if (a) {
			mi->spare = a->prev;
			mi->nspare--;
		} else if (!(a = block_new())) {
			return NULL;
		}
		a->prev = mi->arena;
		mi->arena = a;
	}
	void *p = mi->arena->mem + mi->arena->used;
	mi->arena->used += n;
	atomic_fetch_add_explicit(&mi->bytes, n, memory_order_relaxed);
	return p;
}

int cvl_mi_new(cvl_memidx **out)
{
	cvl_memidx *mi = cvl_calloc(1, sizeof(*mi));

	if (!mi)
		return cvl_err(CONVLOG_ENOMEM, "out of memory for the text index");
	*out = mi;
	return 0;
}

void cvl_mi_trim(cvl_memidx *mi)
{
	blocks_free(mi->spare);
	mi->spare = NULL;
	mi->nspare = 0;
}

void cvl_mi_free(cvl_memidx *mi)
{
	if (!mi)
		return;
	blocks_free(mi->arena);
	blocks_free(mi->spare);
	for (uint32_t i = 0; i < CVL_MI_MAX_CHUNKS; i++) {
		cvl_pages_free(atomic_load(&mi->docs[i]), CVL_MI_DOC_CHUNK * sizeof(cvl_idoc));
		cvl_pages_free((void *)atomic_load(&mi->dead[i]), CVL_MI_DOC_CHUNK);
		cvl_pages_free(atomic_load(&mi->pos[i]), CVL_MI_POS_CHUNK * sizeof(uint32_t));
	}
	cvl_free(mi);
}

size_t cvl_mi_cost(size_t ndocs, size_t ntokens, size_t nterms)
{
	size_t term = sizeof(cvl_mi_term) + 64 + 8 + sizeof(cvl_mi_chunk) +
		      FIRST_CHUNK * sizeof(cvl_mi_post) + 8;
	/* a posting may open a chunk; chunks double, so postings cost < 2x */
	return nterms * term + ntokens * (2 * sizeof(cvl_mi_post) + 16) + ndocs * 64 + 4096;
}

/* Doc, dead-flag and position chunks are whole pages of their own: they
 * are the only structures that grow by whole chunks. */
static int ensure_chunk(cvl_memidx *mi, _Atomic(void *) *slot, size_t bytes)
{
	if (atomic_load_explicit(slot, memory_order_relaxed))
		return 0;
	void *c = cvl_pages_alloc(bytes);
	if (!c)
		return cvl_err(CONVLOG_ENOMEM, "out of memory for the text index");
	atomic_fetch_add_explicit(&mi->bytes, bytes, memory_order_relaxed);
	atomic_store_explicit(slot, c, memory_order_release);
	return 0;
}

int cvl_mi_reserve(cvl_memidx *mi, size_t bytes, size_t ndocs, size_t ntokens)
{
	uint32_t d0 = atomic_load_explicit(&mi->ndocs, memory_order_relaxed);
	size_t room;
	int rc;

	/* each switch to a new block may leave up to MAX_OBJ unused */
	room = mi->arena && mi->arena->size - mi->arena->used > MAX_OBJ
		       ? mi->arena->size - mi->arena->used - MAX_OBJ : 0;
	room += mi->nspare * (BLOCK_ROOM - MAX_OBJ);
	while (room < bytes) {
		cvl_mi_arena *a = block_new();
		if (!a)
			return cvl_err(CONVLOG_ENOMEM, "out of memory growing the text index");
		a->prev = mi->spare;
		mi->spare = a;
		mi->nspare++;
		room += BLOCK_ROOM - MAX_OBJ;
	}
	for (size_t c = d0 / CVL_MI_DOC_CHUNK; c <= (d0 + ndocs) / CVL_MI_DOC_CHUNK; c++) {
		if (c >= CVL_MI_MAX_CHUNKS)
			return cvl_err(CONVLOG_ETOOBIG, "the in-memory text index is full");
		if ((rc = ensure_chunk(mi, (_Atomic(void *) *)&mi->docs[c],
				       CVL_MI_DOC_CHUNK * sizeof(cvl_idoc))) ||
		    (rc = ensure_chunk(mi, (_Atomic(void *) *)&mi->dead[c], CVL_MI_DOC_CHUNK)))
			return rc;
	}
	for (size_t c = mi->npos / CVL_MI_POS_CHUNK; c <= (mi->npos + ntokens) / CVL_MI_POS_CHUNK; c++) {
		if (c >= CVL_MI_MAX_CHUNKS)
			return cvl_err(CONVLOG_ETOOBIG, "the in-memory text index is full");
		if ((rc = ensure_chunk(mi, (_Atomic(void *) *)&mi->pos[c],
				       CVL_MI_POS_CHUNK * sizeof(uint32_t))))
			return rc;
	}
	return 0;
}

static cvl_mi_term *find_h(cvl_memidx *mi, const char *text, size_t len, uint64_t h)
{
	cvl_mi_term *t = atomic_load_explicit(&mi->buckets[h & (CVL_MI_BUCKETS - 1)],
					      memory_order_acquire);

	for (; t; t = atomic_load_explicit(&t->next, memory_order_acquire))
		if (t->hash == h && t->len == len && memcmp(t->text, text, len) == 0)
			return t;
	return NULL;
}

cvl_mi_term *cvl_mi_find(cvl_memidx *mi, const char *text, size_t len)
{
	return find_h(mi, text, len, XXH3_64bits(text, len));
}

static cvl_mi_term *new_term(cvl_memidx *mi, const char *text, size_t len, uint64_t h)
{
	cvl_mi_term *t = take(mi, sizeof(*t) + len);
	cvl_mi_chunk *c = take(mi, sizeof(*c) + FIRST_CHUNK * sizeof(cvl_mi_post));

	if (!t || !c)
		return NULL;
	memset(t, 0, sizeof(*t));
	memcpy(t->text, text, len);
	t->len = (uint16_t)len;
	t->hash = h;
	atomic_init(&c->next, NULL);
	c->cap = FIRST_CHUNK;
	t->first = t->last = c;
	_Atomic(cvl_mi_term *) *b = &mi->buckets[h & (CVL_MI_BUCKETS - 1)];
	atomic_init(&t->next, atomic_load_explicit(b, memory_order_relaxed));
	atomic_store_explicit(b, t, memory_order_release);
	atomic_fetch_add_explicit(&mi->nterms, 1, memory_order_relaxed);
	return t;
}

static int add_posting(cvl_memidx *mi, cvl_mi_term *t, const cvl_mi_post *p)
{
	if (t->last_used == t->last->cap) {
		uint32_t cap = t->last->cap * 2 > MAX_CHUNK ? MAX_CHUNK : t->last->cap * 2;
		cvl_mi_chunk *c = take(mi, sizeof(*c) + cap * sizeof(cvl_mi_post));
		if (!c)
			return CONVLOG_ENOMEM;
		atomic_init(&c->next, NULL);
		c->cap = cap;
		atomic_store_explicit(&t->last->next, c, memory_order_release);
		t->last = c;
		t->last_used = 0;
	}
	t->last->p[t->last_used++] = *p;
	if (p->tf > t->wmax_tf) {
		t->wmax_tf = p->tf;
		atomic_store_explicit(&t->max_tf, p->tf, memory_order_relaxed);
	}
	/* one writer: a plain release store publishes the posting */
	atomic_store_explicit(&t->count, ++t->wcount, memory_order_release);
	return 0;
}

/* Appends n positions (chunks were made by cvl_mi_reserve). */
static int put_positions(cvl_memidx *mi, const uint32_t *v, uint32_t n)
{
	while (n) {
		uint32_t chunk = mi->npos / CVL_MI_POS_CHUNK, at = mi->npos % CVL_MI_POS_CHUNK;
		uint32_t k = CVL_MI_POS_CHUNK - at < n ? CVL_MI_POS_CHUNK - at : n;
		if (chunk >= CVL_MI_MAX_CHUNKS ||
		    ensure_chunk(mi, (_Atomic(void *) *)&mi->pos[chunk], CVL_MI_POS_CHUNK * sizeof(uint32_t)))
			return CONVLOG_ENOMEM;
		memcpy(atomic_load_explicit(&mi->pos[chunk], memory_order_relaxed) + at, v,
		       k * sizeof(uint32_t));
		mi->npos += k;
		v += k;
		n -= k;
	}
	return 0;
}

static int put_pos(cvl_memidx *mi, uint32_t v)
{
	uint32_t chunk = mi->npos / CVL_MI_POS_CHUNK;

	if (chunk >= CVL_MI_MAX_CHUNKS ||
	    ensure_chunk(mi, (_Atomic(void *) *)&mi->pos[chunk], CVL_MI_POS_CHUNK * sizeof(uint32_t)))
		return CONVLOG_ENOMEM;
	atomic_load_explicit(&mi->pos[chunk], memory_order_relaxed)[mi->npos % CVL_MI_POS_CHUNK] = v;
	mi->npos++;
	return 0;
}

/* Starts document d: its record, before any posting names it. */
static uint32_t begin_doc(cvl_memidx *mi, const cvl_idoc *d)
{
	uint32_t doc = atomic_load_explicit(&mi->ndocs, memory_order_relaxed);
	uint32_t chunk = doc / CVL_MI_DOC_CHUNK;

	if (chunk >= CVL_MI_MAX_CHUNKS ||
	    ensure_chunk(mi, (_Atomic(void *) *)&mi->docs[chunk], CVL_MI_DOC_CHUNK * sizeof(cvl_idoc)) ||
	    ensure_chunk(mi, (_Atomic(void *) *)&mi->dead[chunk], CVL_MI_DOC_CHUNK))
		return UINT32_MAX;
	atomic_load_explicit(&mi->docs[chunk], memory_order_relaxed)[doc % CVL_MI_DOC_CHUNK] = *d;
	return doc;
}

static void end_doc(cvl_memidx *mi, const cvl_idoc *d, uint32_t doc)
{
	atomic_fetch_add_explicit(&mi->total_len, d->len, memory_order_relaxed);
	atomic_store_explicit(&mi->ndocs, doc + 1, memory_order_release);
}

/*
 * A document touches about a hundred terms, each a few cache misses away
 * (bucket, term, its last postings chunk).  The loop is software-pipelined
 * so those lines are requested ahead of use: buckets 12 groups ahead,
 * terms 8 ahead, then the term is found (or made) 4 ahead and its chunk
 * requested, and the posting is written.
 */
#define RING 8
#define FIND_AHEAD 4

static cvl_mi_term *term_for(cvl_memidx *mi, const cvl_mi_group *x)
{
	cvl_mi_term *t = find_h(mi, x->text, x->len, x->hash);

	if (!t)
		t = new_term(mi, x->text, x->len, x->hash);
	if (t)
		__builtin_prefetch(&t->last->p[t->last_used], 1);
	return t;
}

uint32_t cvl_mi_add_groups(cvl_memidx *mi, const cvl_idoc *d, const cvl_mi_group *g, size_t n)
{
	cvl_mi_term *ring[RING];
	uint32_t doc = begin_doc(mi, d);

	if (doc == UINT32_MAX)
		return doc;
	for (size_t j = 0; j < n && j < 12; j++)
		__builtin_prefetch(&mi->buckets[g[j].hash & (CVL_MI_BUCKETS - 1)]);
	for (size_t j = 0; j < n && j < FIND_AHEAD; j++)
		if (!(ring[j % RING] = term_for(mi, &g[j])))
			return UINT32_MAX;
	for (size_t i = 0; i < n; i++) {
		if (i + 12 < n)
			__builtin_prefetch(&mi->buckets[g[i + 12].hash & (CVL_MI_BUCKETS - 1)]);
		if (i + 8 < n) {
			cvl_mi_term *h = atomic_load_explicit(
				&mi->buckets[g[i + 8].hash & (CVL_MI_BUCKETS - 1)], memory_order_acquire);
			if (h)
				__builtin_prefetch(h);
		}
		if (i + FIND_AHEAD < n &&
		    !(ring[(i + FIND_AHEAD) % RING] = term_for(mi, &g[i + FIND_AHEAD])))
			return UINT32_MAX;
		cvl_mi_post p = {doc, g[i].npos, mi->npos};
		if (put_positions(mi, g[i].pos, g[i].npos) || add_posting(mi, ring[i % RING], &p))
			return UINT32_MAX;
	}
	end_doc(mi, d, doc);
	return doc;
}

uint32_t cvl_mi_add(cvl_memidx *mi, const cvl_idoc *d, const cvl_mi_tok *toks, size_t n)
{
	uint32_t doc = atomic_load_explicit(&mi->ndocs, memory_order_relaxed);
	uint32_t chunk = doc / CVL_MI_DOC_CHUNK;

	if (chunk >= CVL_MI_MAX_CHUNKS ||
	    ensure_chunk(mi, (_Atomic(void *) *)&mi->docs[chunk], CVL_MI_DOC_CHUNK * sizeof(cvl_idoc)) ||
	    ensure_chunk(mi, (_Atomic(void *) *)&mi->dead[chunk], CVL_MI_DOC_CHUNK))
		return UINT32_MAX;
	atomic_load_explicit(&mi->docs[chunk], memory_order_relaxed)[doc % CVL_MI_DOC_CHUNK] = *d;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && toks[j].len == toks[i].len &&
		       memcmp(toks[j].text, toks[i].text, toks[i].len) == 0)
			j++;
		uint64_t h = XXH3_64bits(toks[i].text, toks[i].len);
		cvl_mi_term *t = find_h(mi, toks[i].text, toks[i].len, h);
		if (!t && !(t = new_term(mi, toks[i].text, toks[i].len, h)))
			return UINT32_MAX;
		cvl_mi_post p = {doc, (uint32_t)(j - i), mi->npos};
		for (size_t k = i; k < j; k++)
			if (put_pos(mi, toks[k].pos))
				return UINT32_MAX;
		if (add_posting(mi, t, &p))
			return UINT32_MAX;
		i = j;
	}
	atomic_fetch_add_explicit(&mi->total_len, d->len, memory_order_relaxed);
	atomic_store_explicit(&mi->ndocs, doc + 1, memory_order_release);
	return doc;
}

void cvl_mi_kill(cvl_memidx *mi, uint32_t doc)
{
	_Atomic uint8_t *c = atomic_load_explicit(&mi->dead[doc / CVL_MI_DOC_CHUNK],
						  memory_order_relaxed);

	if (!atomic_exchange_explicit(&c[doc % CVL_MI_DOC_CHUNK], 1, memory_order_acq_rel)) {
		atomic_fetch_add_explicit(&mi->dead_len, cvl_mi_doc(mi, doc)->len, memory_order_relaxed);
		atomic_fetch_add_explicit(&mi->ndead, 1, memory_order_relaxed);
	}
}

int cvl_mi_lookup(cvl_memidx *mi, uint64_t docid, uint32_t *doc)
{
	uint32_t lo = 0, hi = atomic_load_explicit(&mi->ndocs, memory_order_acquire);

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (cvl_mi_doc(mi, mid)->docid < docid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < atomic_load_explicit(&mi->ndocs, memory_order_acquire) &&
	    cvl_mi_doc(mi, lo)->docid == docid) {
		*doc = lo;
		return 0;
	}
	return CONVLOG_ENOTFOUND;
}
