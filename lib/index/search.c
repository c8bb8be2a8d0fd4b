/*
 * Query execution (format-spec.md §10.5).
 *
 * compile:  query tree -> node tree with analysed terms and resolved
 *           filters; empty words ("!!!") drop out.
 * stats:    N, average length and document frequencies summed over all
 *           sources, so scores do not depend on how documents happen to
 *           be spread over segments.
 * run:      per source, an iterator tree (terms, phrases, prefix unions,
 *           AND, OR, complements, filter scans) walked document at a time.
 *           Once the heap holds k hits, the root's block upper bound is
 *           checked first and whole postings blocks whose best possible
 *           score cannot enter the heap are skipped without decoding
 *           (block-max pruning, as in Lucene's block-max WAND).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "index/search.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/uuid.h"

#define END UINT32_MAX

/* ====================================================================== */
/* Compiled query                                                         */
/* ====================================================================== */

enum { N_TERM, N_PHRASE, N_PREFIX, N_AND, N_OR, N_NOT, N_PRED };

typedef struct cterm {
	char text[CVL_TERM_MAX + 1];
	uint32_t len;
	uint64_t df;
	double idf;
} cterm;

typedef struct cnode {
	int kind;
	cterm *terms;           /* TERM: 1; PHRASE: n; PREFIX: the prefix */
	uint32_t *rel;          /* PHRASE: position of each term relative to the first */
	size_t nterms;
	double idf;             /* PHRASE: sum of the terms'; PREFIX: of the union */
	/* PRED */
	int filter;
	uint64_t hash;
	int64_t time;
	convlog_uuid *ids;
	size_t nids;
	struct cnode **kids;
	size_t nkids;
} cnode;

typedef struct exec {
	const cvl_sreq *r;
	cnode *root;
	double N, avgdl;
	double bmax;          /* largest recency factor */
	/* heap of hits: a min-heap on (key, docid) */
	cvl_shit *heap;
	size_t nheap;
	uint64_t candidates;
	cvl_hlterm *hl;
	size_t nhl, hlcap;
	int err;
} exec;

static void cnode_free(cnode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		cnode_free(n->kids[i]);
	cvl_free(n->kids);
	cvl_free(n->terms);
	cvl_free(n->rel);
	cvl_free(n->ids);
	cvl_free(n);
}

static cnode *cnode_new(int kind)
{
	cnode *n = cvl_calloc(1, sizeof(*n));

	if (n)
		n->kind = kind;
	return n;
}

static int add_hl(exec *x, const char *t, size_t len, int prefix)
{
	for (size_t i = 0; i < x->nhl; i++)
		if (x->hl[i].len == len && x->hl[i].prefix == prefix && !memcmp(x->hl[i].text, t, len))
			return 0;
	if (x->nhl == x->hlcap) {
		size_t nc = x->hlcap ? x->hlcap * 2 : 8;
		cvl_hlterm *nv = cvl_realloc(x->hl, nc * sizeof(*nv));
		if (!nv)
			return cvl_err(CONVLOG_ENOMEM, "out of memory for a search");
		x->hl = nv;
		x->hlcap = nc;
	}
	cvl_hlterm *h = &x->hl[x->nhl++];
	memcpy(h->text, t, len);
	h->text[len] = 0;
	h->len = (uint8_t)len;
	h->prefix = (uint8_t)prefix;
	return 0;
}

/* Tokens of a query word or phrase. */
typedef struct qtoks {
	cterm t[64];
	uint32_t pos[64];
	int whole[64];
	size_t n;
	int overflow;
} qtoks;

static int on_qtok(void *ud, const cvl_token *k)
{
	qtoks *q = ud;

	if (k->whole == 2)
		return 0; /* queries match stems; the surface form is for prefixes */
	if (q->n == 64) {
		q->overflow = 1;
		return 1;
	}
	memcpy(q->t[q->n].text, k->text, k->len);
	q->t[q->n].text[k->len] = 0;
	q->t[q->n].len = k->len;
	q->pos[q->n] = k->pos;
	q->whole[q->n] = k->whole;
	q->n++;
	return 0;
}

/* A phrase of the non-whole tokens (or a term if there is only one). */
static cnode *phrase_of(const qtoks *q)
{
	size_t n = 0, first = SIZE_MAX;

	for (size_t i = 0; i < q->n; i++)
		if (!q->whole[i]) {
			n++;
			if (first == SIZE_MAX)
				first = i;
		}
	if (!n)
		return NULL;
	cnode *c = cnode_new(n == 1 ? N_TERM : N_PHRASE);
	if (!c || !(c->terms = cvl_calloc(n, sizeof(cterm))) ||
	    !(c->rel = cvl_calloc(n, sizeof(uint32_t)))) {
		cnode_free(c);
		return NULL;
	}
	for (size_t i = 0, k = 0; i < q->n; i++)
		if (!q->whole[i]) {
			c->terms[k] = q->t[i];
			c->rel[k++] = q->pos[i] - q->pos[first];
		}
	c->nterms = n;
	return c;
}

static int compile(exec *x, const cvl_qnode *q, int neg, cnode **out);

static int compile_text(exec *x, const cvl_qnode *q, int neg, cnode **out)
{
	qtoks *t = cvl_malloc(sizeof(*t));
	cnode *c = NULL;
	int rc;

	*out = NULL;
	if (!t)
		return cvl_err(CONVLOG_ENOMEM, "out of memory for a search");
	t->n = 0;
	t->overflow = 0;
	rc = cvl_analyze(x->r->an, q->text, strlen(q->text), on_qtok, t);
	if (rc < 0 || t->overflow) {
		cvl_free(t);
		return rc < 0 ? rc
			      : cvl_err(CONVLOG_ETOOBIG, "a search phrase has more than 64 words at %u",
					q->at);
	}
	size_t nwhole = 0;
	for (size_t i = 0; i < t->n; i++)
		nwhole += t->whole[i] != 0;
	if (q->kind == CVL_Q_TERM && nwhole == 1 && t->n > 1) {
		/* an identifier: verbatim, or its parts as a phrase */
		cnode *w = cnode_new(N_TERM), *p = phrase_of(t);
		c = cnode_new(N_OR);
		size_t wi = 0;
		while (!t->whole[wi])
			wi++;
		if (w && (w->terms = cvl_calloc(1, sizeof(cterm)))) {
			w->terms[0] = t->t[wi];
			w->nterms = 1;
		}
		if (!c || !w || !w->terms || !p || !(c->kids = cvl_calloc(2, sizeof(cnode *)))) {
			cnode_free(c);
			cnode_free(w);
			cnode_free(p);
			cvl_free(t);
			return cvl_err(CONVLOG_ENOMEM, "out of memory for a search");
		}
		c->kids[0] = w;
		c->kids[1] = p;
		c->nkids = 2;
	} else if (t->n) {
		if (!(c = phrase_of(t))) {
			cvl_free(t);
			return cvl_err(CONVLOG_ENOMEM, "out of memory for a search");
		}
	}
	for (size_t i = 0; i < t->n && !neg && !rc; i++)
		rc = add_hl(x, t->t[i].text, t->t[i].len, 0);
	cvl_free(t);
	if (rc) {
		cnode_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

static int compile_prefix(exec *x, const cvl_qnode *q, int neg, cnode **out)
{
	char buf[CVL_TERM_MAX + 1];
	size_t n = cvl_analyze_prefix(x->r->an, q->text, strlen(q->text), buf, sizeof(buf));
	cnode *c;

	*out = NULL;
	if (!n)
		return 0;
	if (!(c = cnode_new(N_PREFIX)) || !(c->terms = cvl_calloc(1, sizeof(cterm)))) {
		cnode_free(c);
		return cvl_err(CONVLOG_ENOMEM, "out of memory for a search");
	}
	memcpy(c->terms[0].text, buf, n);
	c->terms[0].len = (uint32_t)n;
	c->nterms = 1;
	*out = c;
	return neg ? 0 : add_hl(x, buf, n, 1);
}

static int cmp_uuid(const void *a, const void *b)
{
	return cvl_uuid_cmp(a, b);
}

static int compile_filter(exec *x, const cvl_qnode *q, cnode **out)
{
	cnode *c = cnode_new(N_PRED);
	int rc = 0;

	*out = NULL;
	if (!c)
		return cvl_err(CONVLOG_ENOMEM, "out of memory for a search");
	c->filter = q->filter;
	switch (q->filter) {
	case CVL_F_ROLE:
	case CVL_F_MODEL:
		c->hash = XXH3_64bits(q->text, strlen(q->text));
		break;
	case CVL_F_AFTER:
	case CVL_F_BEFORE:
		c->time = q->time;
		break;
	default:
		if (!x->r->resolve)
			rc = cvl_err(CONVLOG_EINVAL, "filter at %u is not supported here", q->at);
		else
			rc = x->r->resolve(x->r->resolve_ud, q->filter, q->text, &c->ids, &c->nids);
		if (!rc && c->nids > 1)
			qsort(c->ids, c->nids, sizeof(*c->ids), cmp_uuid);
	}
	if (rc) {
		cnode_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

/* AND / OR: compiled children, empty ones dropped, one child collapsed. */
static int compile_list(exec *x, const cvl_qnode *q, int neg, cnode **out)
{
	cnode *c = cnode_new(q->kind == CVL_Q_AND ? N_AND : N_OR);
	int rc = 0;

	*out = NULL;
	if (!c || !(c->kids = cvl_calloc(q->nkids, sizeof(cnode *)))) {
		cnode_free(c);
		return cvl_err(CONVLOG_ENOMEM, "out of memory for a search");
	}
	for (size_t i = 0; i < q->nkids && !rc; i++) {
		cnode *k;
		if (!(rc = compile(x, q->kids[i], neg, &k)) && k)
			c->kids[c->nkids++] = k;
	}
	if (rc || !c->nkids) {
		cnode_free(c);
		return rc;
	}
	if (c->nkids == 1) {
		*out = c->kids[0];
		c->nkids = 0;
		cnode_free(c);
		return 0;
	}
	*out = c;
	return 0;
}

/* Compiles q; *out NULL when it has nothing to search for. */
static int compile(exec *x, const cvl_qnode *q, int neg, cnode **out)
{
	cnode *k, *c;
	int rc;

	*out = NULL;
	switch (q->kind) {
	case CVL_Q_TERM:
	case CVL_Q_PHRASE:
		return compile_text(x, q, neg, out);
	case CVL_Q_PREFIX:
		return compile_prefix(x, q, neg, out);
	case CVL_Q_FILTER:
		return compile_filter(x, q, out);
	case CVL_Q_AND:
	case CVL_Q_OR:
		return compile_list(x, q, neg, out);
	case CVL_Q_NOT:
		if ((rc = compile(x, q->kids[0], !neg, &k)) || !k)
			return rc;
		if (!(c = cnode_new(N_NOT)) || !(c->kids = cvl_calloc(1, sizeof(cnode *)))) {
			cnode_free(c);
			cnode_free(k);
			return cvl_err(CONVLOG_ENOMEM, "out of memory for a search");
		}
		c->kids[0] = k;
		c->nkids = 1;
		*out = c;
		return 0;
	}
	return cvl_err(CONVLOG_EINVAL, "unknown query node");
}

/* Whether n can produce matches by itself (has a positive text clause). */
static int drives(const cnode *n)
{
	switch (n->kind) {
	case N_TERM:
	case N_PHRASE:
	case N_PREFIX:
		return 1;
	case N_AND:
		for (size_t i = 0; i < n->nkids; i++)
			if (drives(n->kids[i]))
				return 1;
		return 0;
	case N_OR:
		for (size_t i = 0; i < n->nkids; i++)
			if (!drives(n->kids[i]))
				return 0;
		return 1;
	}
	return 0;
}

/* ====================================================================== */
/* Statistics                                                             */
/* ====================================================================== */

static uint32_t src_ndocs(const cvl_ssrc *s)
{
	return s->seg ? s->seg->ndocs : atomic_load_explicit(&s->mi->ndocs, memory_order_acquire);
}

/*
 * Statistics count live documents only, so that flushes and merges, which
 * drop dead documents, do not change scores (page tokens stay valid while
 * nothing is committed).  A term's live df subtracts its dead postings,
 * counted only in sources that have dead documents.
 */
static uint64_t seg_live_df(cvl_iseg *seg, const cvl_iterm *t)
{
	cvl_pit it;
	uint64_t n = 0;

	if (!cvl_iseg_ndead(seg))
		return t->df;
	cvl_pit_init(&it, seg, t);
	for (uint32_t d = cvl_pit_advance(&it, 0); d != END; d = cvl_pit_next(&it))
		n += d < seg->ndocs && !cvl_iseg_dead(seg, d);
	return n;
}

static uint64_t mi_live_df(cvl_memidx *mi, cvl_mi_term *t)
{
	cvl_mi_iter it;
	const cvl_mi_post *p;
	uint32_t nd = atomic_load_explicit(&mi->ndocs, memory_order_acquire);
	uint64_t n = 0;

	cvl_mi_iter_init(&it, t);
	if (!atomic_load_explicit(&mi->ndead, memory_order_relaxed))
		return it.left;
	while ((p = cvl_mi_iter_next(&it)))
		n += p->doc < nd && !cvl_mi_dead(mi, p->doc);
	return n;
}

static uint64_t term_df(const cvl_ssrc *s, const char *t, size_t len)
{
	if (s->seg) {
		cvl_iterm it;
		return cvl_iseg_lookup(s->seg, t, len, &it) == 0 ? seg_live_df(s->seg, &it) : 0;
	}
	cvl_mi_term *mt = cvl_mi_find(s->mi, t, len);
	return mt ? mi_live_df(s->mi, mt) : 0;
}

struct pfx_walk {
	cvl_iseg *seg;
	const char *p;
	size_t plen;
	uint64_t df;
	size_t n;
	int (*each)(void *ud, const char *text, size_t len, const cvl_iterm *t);
	void *ud;
};

static int pfx_cb(void *ud, const char *text, size_t len, const cvl_iterm *t)
{
	struct pfx_walk *w = ud;

	if (len < w->plen || memcmp(text, w->p, w->plen) != 0)
		return 1; /* past the prefix */
	if (++w->n > CVL_PREFIX_MAX_TERMS)
		return 2;
	w->df += w->each ? t->df : seg_live_df(w->seg, t);
	return w->each ? w->each(w->ud, text, len, t) : 0;
}

/* Walks the terms of a memtable index starting with p. */
static int mi_prefix(cvl_memidx *mi, const char *p, size_t plen,
		     int (*fn)(void *ud, cvl_mi_term *t), void *ud)
{
	for (uint32_t b = 0; b < CVL_MI_BUCKETS; b++)
		for (cvl_mi_term *t = atomic_load_explicit(&mi->buckets[b], memory_order_acquire); t;
		     t = atomic_load_explicit(&t->next, memory_order_acquire))
			if (t->len >= plen && memcmp(t->text, p, plen) == 0) {
				int rc = fn(ud, t);
				if (rc)
					return rc;
			}
	return 0;
}

struct mi_count {
	cvl_memidx *mi;
	uint64_t df;
	size_t n;
};

static int mi_count_cb(void *ud, cvl_mi_term *t)
{
	struct mi_count *c = ud;

	c->df += mi_live_df(c->mi, t);
	return ++c->n > CVL_PREFIX_MAX_TERMS ? 2 : 0;
}

static int too_many(const cterm *p)
{
	return cvl_err(CONVLOG_ETOOBIG, "prefix '%s*' matches more than %u words; make it longer",
		       p->text, CVL_PREFIX_MAX_TERMS);
}

static double idf_of(double N, double df)
{
	if (df > N)
		df = N;
	return log(1.0 + (N - df + 0.5) / (df + 0.5));
}

static int gather(exec *x, cnode *n)
{
	const cvl_sreq *r = x->r;
	int rc;

	for (size_t i = 0; i < n->nkids; i++)
		if ((rc = gather(x, n->kids[i])))
			return rc;
	if (n->kind == N_TERM || n->kind == N_PHRASE) {
		n->idf = 0;
		for (size_t t = 0; t < n->nterms; t++) {
			cterm *ct = &n->terms[t];
			ct->df = 0;
			for (size_t s = 0; s < r->nsrc; s++)
				ct->df += term_df(&r->src[s], ct->text, ct->len);
			ct->idf = idf_of(x->N, (double)ct->df);
			n->idf += ct->idf;
		}
	} else if (n->kind == N_PREFIX) {
		cterm *p = &n->terms[0];
		uint64_t df = 0;
		for (size_t s = 0; s < r->nsrc; s++) {
			if (r->src[s].seg) {
				struct pfx_walk w = {r->src[s].seg, p->text, p->len, 0, 0, NULL, NULL};
				rc = cvl_iseg_terms(r->src[s].seg, p->text, p->len, pfx_cb, &w);
				if (rc < 0)
					return rc;
				if (w.n > CVL_PREFIX_MAX_TERMS)
					return too_many(p);
				df += w.df;
			} else {
				struct mi_count c = {r->src[s].mi, 0, 0};
				if (mi_prefix(r->src[s].mi, p->text, p->len, mi_count_cb, &c))
					return too_many(p);
				df += c.df;
			}
		}
		p->df = df;
		n->idf = idf_of(x->N, (double)df);
	}
	return 0;
}

/* ====================================================================== */
/* Iterators                                                              */
/* ====================================================================== */

enum { I_EMPTY, I_TERM_SEG, I_TERM_MI, I_PHRASE, I_DENSE, I_AND, I_OR, I_COMPL, I_ALL };

typedef struct src {
	exec *x;
	const cvl_ssrc *s;
	cvl_iseg *seg;
	cvl_memidx *mi;
	uint32_t ndocs;
	double k1, b, avgdl;
} src;

typedef struct it it;
struct it {
	int kind;
	int started;
	uint32_t doc;
	uint64_t cost;
	double idf, ub;
	src *S;
	/* terms */
	cvl_pit *pit;
	cvl_mi_term *mt;
	cvl_mi_iter mit;
	const cvl_mi_post *mp;
	uint32_t *posbuf;
	uint32_t poscap;
	/* phrase: kids are its distinct words; word w of the phrase is
	 * kids[pmap[w]] at offset rel[w] */
	const uint32_t *rel;
	uint8_t pmap[64];
	size_t nphr;
	uint32_t ptf;
	int root;           /* the query's root: may consult the heap */
	/* dense */
	uint32_t *tf;
	/* and / or / compl */
	it **kids;
	size_t nkids;
	it **neg;
	size_t nneg;
	const cnode **preds;
	size_t npreds;
	const cnode *pred; /* I_ALL */
};

static void it_free(it *i)
{
	if (!i)
		return;
	for (size_t k = 0; k < i->nkids; k++)
		it_free(i->kids[k]);
	for (size_t k = 0; k < i->nneg; k++)
		it_free(i->neg[k]);
	cvl_free(i->kids);
	cvl_free(i->neg);
	cvl_free(i->preds);
	cvl_free(i->pit);
	cvl_free(i->posbuf);
	cvl_free(i->tf);
	cvl_free(i);
}

static inline double bm(const src *S, double tf, double len)
{
	return tf * (S->k1 + 1.0) / (tf + S->k1 * (1.0 - S->b + S->b * len / S->avgdl));
}

static inline uint32_t doclen(const src *S, uint32_t d)
{
	return S->seg ? cvl_iseg_doclen(S->seg, d) : cvl_mi_doc(S->mi, d)->len;
}

/* ---- predicates ---- */

static int has_id(const convlog_uuid *ids, size_t n, const convlog_uuid *id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cvl_uuid_cmp(&ids[mid], id);
		if (!c)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

static void doc_conv(const src *S, uint32_t d, convlog_uuid *out)
{
	if (S->seg) {
		uint32_t ci = cvl_get_u32le(S->seg->docs + (size_t)d * CVL_ISEG_DOC + 8);
		if (ci < S->seg->nconvs)
			memcpy(out->bytes, S->seg->convs + (size_t)ci * 16, 16);
		else
			memset(out->bytes, 0, 16);
	} else {
		*out = cvl_mi_doc(S->mi, d)->conv;
	}
}

static int pred_ok(const src *S, const cnode *p, uint32_t d)
{
	cvl_idoc doc;
	convlog_uuid id;

	switch (p->filter) {
	case CVL_F_ROLE:
	case CVL_F_MODEL:
	case CVL_F_AFTER:
	case CVL_F_BEFORE:
		if (S->seg)
			cvl_iseg_doc(S->seg, d, &doc);
		else
			doc = *cvl_mi_doc(S->mi, d);
		if (p->filter == CVL_F_ROLE)
			return doc.role_h == p->hash;
		if (p->filter == CVL_F_MODEL)
			return doc.model_h == p->hash;
		if (p->filter == CVL_F_AFTER)
			return doc.created_at >= p->time;
		return doc.created_at < p->time;
	default:
		doc_conv(S, d, &id);
		return has_id(p->ids, p->nids, &id);
	}
}

/* ---- advance ---- */

static uint32_t it_advance(it *i, uint32_t target);

static uint32_t term_seg_advance(it *i, uint32_t target)
{
	uint32_t d = cvl_pit_advance(i->pit, target);

	if (i->pit->corrupt)
		i->S->x->err = CONVLOG_ECORRUPT;
	return d;
}

static uint32_t term_mi_advance(it *i, uint32_t target)
{
	while (!i->mp || i->mp->doc < target) {
		const cvl_mi_post *p = cvl_mi_iter_next(&i->mit);
		if (!p || p->doc >= i->S->ndocs) {
			i->mp = NULL;
			return END;
		}
		i->mp = p;
	}
	return i->mp->doc;
}

static uint32_t term_tf(const it *i)
{
	return i->kind == I_TERM_SEG ? cvl_pit_tf(i->pit) : i->mp->tf;
}

/* Positions of a term iterator's current doc into its posbuf. */
static const uint32_t *term_positions(it *i, uint32_t *n)
{
	uint32_t tf = term_tf(i);

	/* each position takes at least a byte of the positions section: a
	 * larger tf is damage, not a reason to allocate gigabytes */
	if (i->kind == I_TERM_SEG && tf > (uint64_t)(i->pit->pos_end - i->pit->pos_base)) {
		i->S->x->err = CONVLOG_ECORRUPT;
		*n = 0;
		return NULL;
	}
	if (tf > i->poscap) {
		uint32_t *nb = cvl_realloc(i->posbuf, (size_t)tf * sizeof(*nb));
		if (!nb) {
			i->S->x->err = CONVLOG_ENOMEM;
			*n = 0;
			return NULL;
		}
		i->posbuf = nb;
		i->poscap = tf;
	}
	if (i->kind == I_TERM_SEG) {
		if (cvl_pit_positions(i->pit, i->posbuf)) {
			i->S->x->err = CONVLOG_ECORRUPT;
			*n = 0;
			return NULL;
		}
	} else {
		for (uint32_t k = 0; k < tf; k++)
			i->posbuf[k] = cvl_mi_pos(i->S->mi, i->mp->pos + k);
	}
	*n = tf;
	return i->posbuf;
}

static int has_pos(const uint32_t *v, uint32_t n, uint32_t want, uint32_t *from)
{
	uint32_t k = *from;

	while (k < n && v[k] < want)
		k++;
	*from = k;
	return k < n && v[k] == want;
}

/* Occurrences of the phrase in the current doc (all kids on it): each
 * position of the word with the fewest occurrences anchors a candidate
 * start, the other words are looked up forwards from their last hit. */
static uint32_t phrase_count(it *i)
{
	const uint32_t *pv[64];
	uint32_t pn[64], cur[64], count = 0;
	size_t anchor = 0;

	if (!i->nkids || !i->nphr) /* no words: no occurrences */
		return 0;
	for (size_t k = 0; k < i->nkids; k++) {
		/* each kid's positions live in its own buffer */
		if (!(pv[k] = term_positions(i->kids[k], &pn[k])))
			return 0;
	}
	for (size_t w = 0; w < i->nphr; w++) {
		cur[w] = 0;
		if (pn[i->pmap[w]] < pn[i->pmap[anchor]])
			anchor = w;
	}
	const uint32_t *p0 = pv[i->pmap[anchor]], r0 = i->rel[anchor];
	uint32_t n0 = pn[i->pmap[anchor]];
	for (uint32_t a = 0; a < n0; a++) {
		if (p0[a] < r0)
			continue;
		uint32_t base = p0[a] - r0;
		size_t w = 0;
		for (; w < i->nphr; w++) {
			size_t k = i->pmap[w];
			if (w != anchor && !has_pos(pv[k], pn[k], base + i->rel[w], &cur[w]))
				break;
		}
		if (w == i->nphr)
			count++;
		else if (cur[w] >= pn[i->pmap[w]])
			break; /* that word has no later occurrence */
	}
	return count;
}

/* Leapfrog: first doc >= target that every kid holds. */
static uint32_t leapfrog(it **kids, size_t n, uint32_t target)
{
	uint32_t d = it_advance(kids[0], target);

	for (size_t k = 1; k < n && d != END;) {
		uint32_t e = it_advance(kids[k], d);
		if (e == d) {
			k++;
			continue;
		}
		d = e == END ? END : it_advance(kids[0], e);
		k = 1;
	}
	return d;
}

static int excluded(it *i, uint32_t d)
{
	for (size_t k = 0; k < i->nneg; k++)
		if (it_advance(i->neg[k], d) == d)
			return 1;
	for (size_t k = 0; k < i->npreds; k++)
		if (!pred_ok(i->S, i->preds[k], d))
			return 1;
	return 0;
}

static uint32_t and_advance(it *i, uint32_t target)
{
	uint32_t d = target;

	while ((d = leapfrog(i->kids, i->nkids, d)) != END && excluded(i, d))
		d++;
	return d;
}

/* Whether a doc all kids hold cannot beat the heap even if every
 * occurrence of the rarest kid were a phrase match (root phrase only). */
static int phrase_hopeless(it *i, uint32_t d)
{
	exec *x = i->S->x;
	uint32_t mtf = UINT32_MAX;

	if (!i->root || x->nheap < x->r->k || x->r->newest)
		return 0;
	for (size_t k = 0; k < i->nkids; k++) {
		uint32_t tf = term_tf(i->kids[k]);
		if (tf < mtf)
			mtf = tf;
	}
	return i->idf * bm(i->S, mtf, doclen(i->S, d)) * x->bmax * (1 + 1e-9) < x->heap[0].key;
}

static uint32_t phrase_advance(it *i, uint32_t target)
{
	uint32_t d = target;

	while ((d = leapfrog(i->kids, i->nkids, d)) != END) {
		if (phrase_hopeless(i, d)) {
			d++;
			continue;
		}
		if ((i->ptf = phrase_count(i)))
			break;
		if (i->S->x->err)
			return END;
		d++;
	}
	return d;
}

static uint32_t or_advance(it *i, uint32_t target)
{
	uint32_t m = END;

	for (size_t k = 0; k < i->nkids; k++) {
		uint32_t d = it_advance(i->kids[k], target);
		if (d < m)
			m = d;
	}
	return m;
}

static uint32_t dense_advance(it *i, uint32_t target)
{
	for (uint32_t d = target; d < i->S->ndocs; d++)
		if (i->tf[d])
			return d;
	return END;
}

static uint32_t compl_advance(it *i, uint32_t target)
{
	for (uint32_t d = target; d < i->S->ndocs; d++)
		if (it_advance(i->kids[0], d) != d)
			return d;
	return END;
}

static uint32_t all_advance(it *i, uint32_t target)
{
	for (uint32_t d = target; d < i->S->ndocs; d++)
		if (!i->pred || pred_ok(i->S, i->pred, d))
			return d;
	return END;
}

static uint32_t it_advance(it *i, uint32_t target)
{
	if (i->started && (i->doc == END || i->doc >= target))
		return i->doc;
	i->started = 1;
	switch (i->kind) {
	case I_EMPTY:
		i->doc = END;
		break;
	case I_TERM_SEG:
		i->doc = term_seg_advance(i, target);
		break;
	case I_TERM_MI:
		i->doc = term_mi_advance(i, target);
		break;
	case I_PHRASE:
		i->doc = phrase_advance(i, target);
		break;
	case I_DENSE:
		i->doc = dense_advance(i, target);
		break;
	case I_AND:
		i->doc = and_advance(i, target);
		break;
	case I_OR:
		i->doc = or_advance(i, target);
		break;
	case I_COMPL:
		i->doc = compl_advance(i, target);
		break;
	case I_ALL:
		i->doc = all_advance(i, target);
		break;
	}
	return i->doc;
}

/* ---- scores and bounds ---- */

static double it_score(it *i)
{
	double s = 0;

	switch (i->kind) {
	case I_TERM_SEG:
	case I_TERM_MI:
		return i->idf * bm(i->S, term_tf(i), doclen(i->S, i->doc));
	case I_PHRASE:
		return i->idf * bm(i->S, i->ptf, doclen(i->S, i->doc));
	case I_DENSE:
		return i->idf * bm(i->S, i->tf[i->doc], doclen(i->S, i->doc));
	case I_AND:
		for (size_t k = 0; k < i->nkids; k++)
			s += it_score(i->kids[k]);
		return s;
	case I_OR:
		for (size_t k = 0; k < i->nkids; k++)
			if (i->kids[k]->doc == i->doc)
				s += it_score(i->kids[k]);
		return s;
	}
	return 0;
}

/*
 * An upper bound *ub of the score of any doc in [target, returned doc]
 * (END: to the end of the source).
 */
static uint32_t it_shallow(it *i, uint32_t target, double *ub)
{
	uint32_t end = END, e;
	double u, sum = 0;

	switch (i->kind) {
	case I_TERM_SEG:
		if (i->started && i->doc == END) {
			*ub = 0;
			return END;
		}
		end = cvl_pit_shallow(i->pit, target);
		*ub = end == END ? (i->pit->corrupt ? i->ub : 0)
				 : i->idf * bm(i->S, i->pit->bmax_tf, i->pit->bmin_len);
		return end;
	case I_TERM_MI:
	case I_DENSE:
		*ub = i->started && i->doc == END ? 0 : i->ub;
		return END;
	case I_PHRASE: {
		/* a phrase occurs at most as often as its rarest word, in a doc
		 * at least as long as the longest block minimum */
		uint32_t mtf = UINT32_MAX, mlen = 0;
		for (size_t k = 0; k < i->nkids; k++) {
			it *c = i->kids[k];
			if (c->started && c->doc == END) {
				*ub = 0;
				return END;
			}
			if (c->kind == I_TERM_SEG) {
				e = cvl_pit_shallow(c->pit, target);
				if (e == END && !c->pit->corrupt) {
					*ub = 0;
					return END;
				}
				if (c->pit->bmax_tf < mtf)
					mtf = c->pit->bmax_tf;
				if (c->pit->bmin_len > mlen)
					mlen = c->pit->bmin_len;
				if (e < end)
					end = e;
			} else if (c->kind == I_TERM_MI) {
				uint32_t t = atomic_load_explicit(&c->mt->max_tf, memory_order_relaxed);
				if (t < mtf)
					mtf = t;
			}
		}
		*ub = mtf == UINT32_MAX ? i->ub : i->idf * bm(i->S, mtf, mlen);
		return end;
	}
	case I_AND:
	case I_OR:
		for (size_t k = 0; k < i->nkids; k++) {
			e = it_shallow(i->kids[k], target, &u);
			if (i->kind != I_OR && u == 0 && e == END &&
			    (i->kids[k]->started && i->kids[k]->doc == END)) {
				*ub = 0; /* a required kid is exhausted */
				return END;
			}
			sum += u;
			if (e < end)
				end = e;
		}
		*ub = sum;
		return end;
	}
	*ub = 0;
	return END;
}

/* ---- building ---- */

static it *it_new(src *S, int kind)
{
	it *i = cvl_calloc(1, sizeof(*i));

	if (i) {
		i->kind = kind;
		i->S = S;
	} else {
		S->x->err = CONVLOG_ENOMEM;
	}
	return i;
}

static it *build(src *S, const cnode *n);

static it *build_term(src *S, const cterm *t, double idf)
{
	it *i;

	if (S->seg) {
		cvl_iterm tm;
		int rc = cvl_iseg_lookup(S->seg, t->text, t->len, &tm);
		if (rc == CONVLOG_ECORRUPT)
			S->x->err = rc;
		if (rc)
			return it_new(S, I_EMPTY);
		if (!(i = it_new(S, I_TERM_SEG)))
			return NULL;
		if (!(i->pit = cvl_malloc(sizeof(*i->pit)))) {
			S->x->err = CONVLOG_ENOMEM;
			it_free(i);
			return NULL;
		}
		cvl_pit_init(i->pit, S->seg, &tm);
		i->cost = tm.df;
		i->idf = idf;
		i->ub = idf * bm(S, tm.max_tf, 0);
		return i;
	}
	cvl_mi_term *mt = cvl_mi_find(S->mi, t->text, t->len);
	if (!mt)
		return it_new(S, I_EMPTY);
	if (!(i = it_new(S, I_TERM_MI)))
		return NULL;
	i->mt = mt;
	cvl_mi_iter_init(&i->mit, mt);
	i->cost = i->mit.left;
	i->idf = idf;
	i->ub = idf * bm(S, atomic_load_explicit(&mt->max_tf, memory_order_acquire), 0);
	return i;
}

struct dense_fill {
	src *S;
	uint32_t *tf;
	uint32_t max;
	uint64_t n;
};

static int dense_seg_cb(void *ud, const char *text, size_t len, const cvl_iterm *t)
{
	struct dense_fill *f = ud;
	cvl_pit *p = cvl_malloc(sizeof(*p));

	(void)text;
	(void)len;
	if (!p)
		return 3;
	cvl_pit_init(p, f->S->seg, t);
	for (uint32_t d = cvl_pit_advance(p, 0); d != END; d = cvl_pit_next(p)) {
		if (d >= f->S->ndocs) {
			p->corrupt = 1;
			break;
		}
		if (!f->tf[d])
			f->n++;
		f->tf[d] += cvl_pit_tf(p);
		if (f->tf[d] > f->max)
			f->max = f->tf[d];
	}
	int bad = p->corrupt;
	cvl_free(p);
	return bad ? 4 : 0;
}

static int dense_mi_cb(void *ud, cvl_mi_term *t)
{
	struct dense_fill *f = ud;
	cvl_mi_iter m;
	const cvl_mi_post *p;

	cvl_mi_iter_init(&m, t);
	while ((p = cvl_mi_iter_next(&m)) && p->doc < f->S->ndocs) {
		if (!f->tf[p->doc])
			f->n++;
		f->tf[p->doc] += p->tf;
		if (f->tf[p->doc] > f->max)
			f->max = f->tf[p->doc];
	}
	return 0;
}

/* A prefix: the union of its expansions, materialised as tf per doc. */
static it *build_prefix(src *S, const cnode *n)
{
	const cterm *p = &n->terms[0];
	struct dense_fill f = {S, NULL, 0, 0};
	it *i = it_new(S, I_DENSE);
	int rc;

	if (!i)
		return NULL;
	if (!(f.tf = cvl_calloc((size_t)S->ndocs + 1, sizeof(uint32_t)))) {
		S->x->err = CONVLOG_ENOMEM;
		it_free(i);
		return NULL;
	}
	if (S->seg) {
		struct pfx_walk w = {S->seg, p->text, p->len, 0, 0, dense_seg_cb, &f};
		rc = cvl_iseg_terms(S->seg, p->text, p->len, pfx_cb, &w);
		if (rc == 3 || rc == CONVLOG_ENOMEM)
			S->x->err = CONVLOG_ENOMEM;
		else if (rc == 4 || rc < 0)
			S->x->err = CONVLOG_ECORRUPT;
		else if (w.n > CVL_PREFIX_MAX_TERMS)
			S->x->err = too_many(p);
	} else {
		mi_prefix(S->mi, p->text, p->len, dense_mi_cb, &f);
	}
	i->tf = f.tf;
	i->cost = f.n;
	i->idf = n->idf;
	i->ub = n->idf * bm(S, f.max, 0);
	if (!f.n)
		i->kind = I_EMPTY;
	return i;
}

static int cmp_cost(const void *a, const void *b)
{
	const it *x = *(it *const *)a, *y = *(it *const *)b;

	return x->cost < y->cost ? -1 : x->cost > y->cost;
}

static int push_kid(it ***v, size_t *n, it *k)
{
	it **nv = cvl_realloc(*v, (*n + 1) * sizeof(**v));

	if (!nv)
		return -1;
	*v = nv;
	nv[(*n)++] = k;
	return 0;
}

static it *build_and(src *S, const cnode *n)
{
	it *i = it_new(S, I_AND);

	if (!i)
		return NULL;
	for (size_t k = 0; k < n->nkids && !S->x->err; k++) {
		const cnode *c = n->kids[k];
		if (c->kind == N_PRED) {
			const cnode **np = cvl_realloc(i->preds, (i->npreds + 1) * sizeof(*np));
			if (!np) {
				S->x->err = CONVLOG_ENOMEM;
				break;
			}
			i->preds = np;
			np[i->npreds++] = c;
			continue;
		}
		int neg = c->kind == N_NOT;
		it *b = build(S, neg ? c->kids[0] : c);
		if (!b || (neg ? push_kid(&i->neg, &i->nneg, b) : push_kid(&i->kids, &i->nkids, b))) {
			it_free(b);
			S->x->err = S->x->err ? S->x->err : CONVLOG_ENOMEM;
			break;
		}
	}
	if (!S->x->err && !i->nkids) {
		/* only filters and negations: scan every document */
		it *all = it_new(S, I_ALL);
		if (!all || push_kid(&i->kids, &i->nkids, all)) {
			it_free(all);
			S->x->err = CONVLOG_ENOMEM;
		} else {
			all->cost = S->ndocs;
		}
	}
	if (S->x->err) {
		it_free(i);
		return NULL;
	}
	qsort(i->kids, i->nkids, sizeof(*i->kids), cmp_cost);
	i->cost = i->kids[0]->cost;
	for (size_t k = 0; k < i->nkids; k++) {
		i->ub += i->kids[k]->ub;
		if (i->kids[k]->kind == I_EMPTY)
			i->kind = I_EMPTY;
	}
	return i;
}

static it *build_list(src *S, const cnode *n, int kind)
{
	it *i = it_new(S, kind);

	if (!i)
		return NULL;
	if (!(i->kids = cvl_calloc(n->nkids ? n->nkids : 1, sizeof(it *)))) {
		S->x->err = CONVLOG_ENOMEM;
		it_free(i);
		return NULL;
	}
	i->nkids = 0; /* as it_new left it; said again for the analyzer, which
		       * stops following calls this deep in the recursion */
	for (size_t k = 0; k < n->nkids; k++) {
		it *b = kind == I_PHRASE ? build_term(S, &n->terms[k], n->terms[k].idf)
					 : build(S, n->kids[k]);
		if (!b) {
			it_free(i);
			return NULL;
		}
		i->kids[i->nkids++] = b;
	}
	return i;
}

static it *build(src *S, const cnode *n)
{
	it *i;

	switch (n->kind) {
	case N_TERM:
		return build_term(S, &n->terms[0], n->idf);
	case N_PREFIX:
		return build_prefix(S, n);
	case N_PHRASE: {
		/* one iterator per distinct word */
		cterm uniq[64];
		uint8_t map[64];
		size_t nu = 0;
		for (size_t w = 0; w < n->nterms && w < 64; w++) {
			size_t u = 0;
			while (u < nu && !(uniq[u].len == n->terms[w].len &&
					   !memcmp(uniq[u].text, n->terms[w].text, uniq[u].len)))
				u++;
			if (u == nu)
				uniq[nu++] = n->terms[w];
			map[w] = (uint8_t)u;
		}
		cnode tmp = *n;
		tmp.terms = uniq;
		tmp.nkids = nu;
		if (!(i = build_list(S, &tmp, I_PHRASE)))
			return NULL;
		i->rel = n->rel;
		i->nphr = n->nterms < 64 ? n->nterms : 64;
		i->idf = n->idf;
		uint64_t c = UINT64_MAX;
		for (size_t k = 0; k < i->nkids; k++) {
			if (i->kids[k]->kind == I_EMPTY)
				i->kind = I_EMPTY;
			if (i->kids[k]->cost < c)
				c = i->kids[k]->cost;
		}
		for (size_t w = 0; w < i->nphr; w++) {
			i->pmap[w] = map[w];
			i->ub += i->kids[map[w]]->ub;
		}
		i->cost = c;
		return i;
	}
	case N_AND:
		return build_and(S, n);
	case N_OR:
		if (!(i = build_list(S, n, I_OR)))
			return NULL;
		for (size_t k = 0; k < i->nkids; k++) {
			i->cost += i->kids[k]->cost;
			i->ub += i->kids[k]->ub;
		}
		return i;
	case N_NOT:
		if (!(i = it_new(S, I_COMPL)))
			return NULL;
		if (!(i->kids = cvl_calloc(1, sizeof(it *))) || !(i->kids[0] = build(S, n->kids[0]))) {
			S->x->err = S->x->err ? S->x->err : CONVLOG_ENOMEM;
			it_free(i);
			return NULL;
		}
		i->nkids = 1;
		i->cost = S->ndocs;
		return i;
	case N_PRED:
		if ((i = it_new(S, I_ALL))) {
			i->pred = n;
			i->cost = S->ndocs;
		}
		return i;
	}
	return it_new(S, I_EMPTY);
}

/* ====================================================================== */
/* Top k                                                                  */
/* ====================================================================== */

/* a ranks below b */
static inline int below(const cvl_shit *a, const cvl_shit *b)
{
	return a->key < b->key || (a->key == b->key && a->docid < b->docid);
}

static void sift_down(cvl_shit *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && below(&h[l], &h[m]))
			m = l;
		if (r < n && below(&h[r], &h[m]))
			m = r;
		if (m == i)
			return;
		cvl_shit t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static void sift_up(cvl_shit *h, size_t i)
{
	while (i) {
		size_t p = (i - 1) / 2;
		if (!below(&h[i], &h[p]))
			return;
		cvl_shit t = h[i];
		h[i] = h[p];
		h[p] = t;
		i = p;
	}
}

static void offer(exec *x, const cvl_shit *c)
{
	const cvl_sreq *r = x->r;

	if (r->group) {
		for (size_t i = 0; i < x->nheap; i++)
			if (!memcmp(x->heap[i].conv.bytes, c->conv.bytes, 16)) {
				if (below(&x->heap[i], c)) {
					x->heap[i] = *c;
					sift_down(x->heap, x->nheap, i);
				}
				return;
			}
	}
	if (x->nheap < r->k) {
		x->heap[x->nheap] = *c;
		sift_up(x->heap, x->nheap++);
	} else if (below(&x->heap[0], c)) {
		x->heap[0] = *c;
		sift_down(x->heap, x->nheap, 0);
	}
}

static double boost(const cvl_sreq *r, int64_t created)
{
	double age = (double)(r->now_ms - created);

	if (age < 0)
		age = 0;
	return 1.0 + r->recency * exp2(-age / r->halflife_ms);
}

/* Looks at doc d of the source, which the root matches. */
static void consider(src *S, it *root, uint32_t d)
{
	exec *x = S->x;
	const cvl_sreq *r = x->r;
	cvl_shit h;
	cvl_idoc doc;

	if (S->seg) {
		if (cvl_iseg_dead(S->seg, d))
			return;
		cvl_iseg_doc(S->seg, d, &doc);
	} else {
		if (cvl_mi_dead(S->mi, d))
			return;
		doc = *cvl_mi_doc(S->mi, d);
	}
	if (doc.docid > r->snap || (r->nhidden && has_id(r->hidden, r->nhidden, &doc.conv)))
		return;
	h.docid = doc.docid;
	h.conv = doc.conv;
	h.seq = doc.seq;
	h.created_at = doc.created_at;
	h.score = it_score(root);
	if (r->recency > 0)
		h.score *= boost(r, doc.created_at);
	h.key = r->newest ? (double)doc.created_at : h.score;
	x->candidates++;
	if (r->after && (h.key > r->after_key || (h.key == r->after_key && h.docid >= r->after_docid)))
		return;
	offer(x, &h);
}

static void run_source(exec *x, const cvl_ssrc *s)
{
	const cvl_sreq *r = x->r;
	src S = {x, s, s->seg, s->mi, src_ndocs(s), CVL_BM25_K1, CVL_BM25_B, x->avgdl};
	double bmax = r->recency > 0 ? 1.0 + r->recency : 1.0;
	it *root;
	uint32_t d = 0;

	if (!S.ndocs || !(root = build(&S, x->root)))
		return;
	root->root = 1;
	while (!x->err && root->kind != I_EMPTY) {
		uint32_t end = END;
		if (!r->newest && x->nheap == r->k) {
			double ub;
			end = it_shallow(root, d, &ub);
			/* 1e-9: scores are sums in a different order than bounds */
			if (ub * bmax * (1 + 1e-9) < x->heap[0].key) {
				if (end == END)
					break;
				d = end + 1;
				continue;
			}
		}
		uint32_t nd = it_advance(root, d);
		if (nd == END)
			break;
		if (nd > end) { /* moved past the block checked: check again */
			d = nd;
			continue;
		}
		consider(&S, root, nd);
		if (nd == END - 1)
			break;
		d = nd + 1;
	}
	it_free(root);
}

/* ====================================================================== */

static int cmp_hit(const void *a, const void *b)
{
	const cvl_shit *x = a, *y = b;

	if (below(x, y))
		return 1;
	return below(y, x) ? -1 : 0;
}

void cvl_sresult_free(cvl_sresult *res)
{
	cvl_free(res->hits);
	cvl_free(res->hl);
	memset(res, 0, sizeof(*res));
}

int cvl_search_run(const cvl_sreq *r, cvl_sresult *out)
{
	exec x = {.r = r};
	uint64_t total_len = 0;
	double N = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = compile(&x, r->q, 0, &x.root)))
		goto out;
	if (!x.root || !drives(x.root)) {
		rc = cvl_err(CONVLOG_EINVAL, "the query has no searchable words");
		goto out;
	}
	for (size_t s = 0; s < r->nsrc; s++) {
		const cvl_ssrc *so = &r->src[s];
		if (so->seg) {
			N += so->seg->ndocs - cvl_iseg_ndead(so->seg);
			total_len += so->seg->total_len - atomic_load(&so->seg->dead_len);
		} else {
			N += (double)src_ndocs(so) - atomic_load(&so->mi->ndead);
			total_len += atomic_load(&so->mi->total_len) - atomic_load(&so->mi->dead_len);
		}
	}
	x.N = N;
	x.bmax = r->recency > 0 ? 1.0 + r->recency : 1.0;
	x.avgdl = N > 0 && total_len ? (double)total_len / N : 1.0;
	if ((rc = gather(&x, x.root)))
		goto out;
	if (!(x.heap = cvl_malloc((size_t)r->k * sizeof(*x.heap)))) {
		rc = cvl_err(CONVLOG_ENOMEM, "out of memory for a search");
		goto out;
	}
	/* newest sources first: with recency they fill the heap best */
	for (size_t s = r->nsrc; s-- > 0 && !x.err;)
		run_source(&x, &r->src[s]);
	if (x.err) {
		rc = x.err == CONVLOG_ENOMEM ? cvl_err(CONVLOG_ENOMEM, "out of memory for a search")
		     : x.err == CONVLOG_ECORRUPT ? cvl_err(CONVLOG_ECORRUPT, "a text index segment is damaged (convlog verify; convlog reindex rebuilds it)")
						 : x.err;
		goto out;
	}
	if (x.nheap > 1)
		qsort(x.heap, x.nheap, sizeof(*x.heap), cmp_hit);
	out->hits = x.heap;
	out->nhits = x.nheap;
	out->hl = x.hl;
	out->nhl = x.nhl;
	out->candidates = x.candidates;
	x.heap = NULL;
	x.hl = NULL;
out:
	cnode_free(x.root);
	cvl_free(x.heap);
	cvl_free(x.hl);
	return rc;
}
