/* Merging index segments (see merge.h). */
#include <stdlib.h>
#include <string.h>

#include "index/merge.h"
#include "util/alloc.h"
#include "util/err.h"

/* One input's dictionary: a cursor over the mapped file (no copy). */
typedef struct dict {
	cvl_dcur c;
	int has; /* c holds the input's next term */
} dict;

/* Moves d to its next term: 0 (d->has tells whether there is one) or an error. */
static int dict_step(dict *d)
{
	int r = cvl_dcur_next(&d->c);

	if (r < 0)
		return r;
	d->has = r == 1;
	return 0;
}

static int term_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	size_t n = al < bl ? al : bl;
	int c = memcmp(a, b, n);

	return c ? c : (al < bl ? -1 : al > bl);
}

/* A posting gathered for the term being merged. */
typedef struct gpost {
	uint32_t doc, tf;
	size_t pos; /* into the positions scratch */
} gpost;

typedef struct mstate {
	cvl_iseg *const *in;
	int n;
	uint32_t **map;      /* per input: local doc -> output doc, UINT32_MAX dropped */
	int overlap;         /* inputs' docid ranges overlap: postings need sorting */
	dict *d;
	gpost *g;
	size_t ng, gcap;
	uint32_t *pos;
	size_t npos, poscap;
	cvl_iseg_writer *w;
} mstate;

static int cmp_gpost(const void *a, const void *b)
{
	const gpost *x = a, *y = b;

	return x->doc < y->doc ? -1 : x->doc > y->doc;
}

static int oom(void)
{
	return cvl_err(CONVLOG_ENOMEM, "out of memory merging index segments");
}

/* Gathers the live postings of input k's term t. */
static int gather(mstate *m, int k, const cvl_iterm *t)
{
	cvl_pit *it = cvl_malloc(sizeof(*it));
	int rc = 0;

	if (!it)
		return oom();
	cvl_pit_init(it, m->in[k], t);
	for (uint32_t d = cvl_pit_advance(it, 0); d != UINT32_MAX; d = cvl_pit_next(it)) {
		if (d >= m->in[k]->ndocs) {
			it->corrupt = 1;
			break;
		}
		uint32_t nd = m->map[k][d], tf = cvl_pit_tf(it);
		if (nd == UINT32_MAX)
			continue;
		if (m->ng == m->gcap) {
			size_t nc = m->gcap ? m->gcap * 2 : 4096;
			gpost *ngp = cvl_realloc(m->g, nc * sizeof(*ngp));
			if (!ngp) {
				rc = oom();
				break;
			}
			m->g = ngp;
			m->gcap = nc;
		}
		if (m->npos + tf > m->poscap) {
			size_t nc = (m->npos + tf) * 2 + 4096;
			uint32_t *np = cvl_realloc(m->pos, nc * sizeof(*np));
			if (!np) {
				rc = oom();
				break;
			}
			m->pos = np;
			m->poscap = nc;
		}
		if (cvl_pit_positions(it, m->pos + m->npos)) {
			it->corrupt = 1;
			break;
		}
		m->g[m->ng++] = (gpost){nd, tf, m->npos};
		m->npos += tf;
	}
	if (!rc && it->corrupt)
		rc = cvl_err(CONVLOG_ECORRUPT, "%s: postings are damaged", m->in[k]->path);
	cvl_free(it);
	return rc;
}

/*
 * Writes the live postings of input k's term t straight to the output
 * (inputs whose docid ranges do not overlap are merged in order, so the
 * output doc numbers ascend): nothing is gathered, only one document's
 * positions are held.  The term is started at its first live posting.
 */
static int stream(mstate *m, int k, const cvl_iterm *t, const char *term, size_t tlen,
		  int *started)
{
	cvl_pit *it = cvl_malloc(sizeof(*it));
	int rc = 0;

	if (!it)
		return oom();
	cvl_pit_init(it, m->in[k], t);
	for (uint32_t d = cvl_pit_advance(it, 0); d != UINT32_MAX && !rc; d = cvl_pit_next(it)) {
		if (d >= m->in[k]->ndocs) {
			it->corrupt = 1;
			break;
		}
		uint32_t nd = m->map[k][d], tf = cvl_pit_tf(it);
		if (nd == UINT32_MAX)
			continue;
		if (tf > m->poscap) {
			size_t nc = (size_t)tf * 2;
			uint32_t *np = cvl_realloc(m->pos, nc * sizeof(*np));
			if (!np) {
				rc = oom();
				break;
			}
			m->pos = np;
			m->poscap = nc;
		}
		if (cvl_pit_positions(it, m->pos)) {
			it->corrupt = 1;
			break;
		}
		if (!*started) {
			if ((rc = cvl_iseg_term(m->w, term, tlen)))
				break;
			*started = 1;
		}
		rc = cvl_iseg_posting(m->w, nd, tf, m->pos);
	}
	if (!rc && it->corrupt)
		rc = cvl_err(CONVLOG_ECORRUPT, "%s: postings are damaged", m->in[k]->path);
	cvl_free(it);
	return rc;
}

/* Writes the next term (the smallest under the inputs' cursors). */
static int merge_term(mstate *m)
{
	const char *best = NULL;
	size_t blen = 0;
	int rc;

	for (int k = 0; k < m->n; k++) {
		dict *d = &m->d[k];
		if (!d->has)
			continue;
		if (!best || term_cmp(d->c.term, d->c.tlen, best, blen) < 0) {
			best = d->c.term;
			blen = d->c.tlen;
		}
	}
	if (!best)
		return 1;
	m->ng = m->npos = 0;
	char term[256];
	memcpy(term, best, blen);
	if (!m->overlap) {
		int started = 0;
		for (int k = 0; k < m->n; k++) {
			dict *d = &m->d[k];
			if (d->has && !term_cmp(d->c.term, d->c.tlen, term, blen)) {
				if ((rc = stream(m, k, &d->c.t, term, blen, &started)) ||
				    (rc = dict_step(d)))
					return rc;
			}
		}
		return 0;
	}
	for (int k = 0; k < m->n; k++) {
		dict *d = &m->d[k];
		if (d->has && !term_cmp(d->c.term, d->c.tlen, term, blen)) {
			if ((rc = gather(m, k, &d->c.t)) || (rc = dict_step(d)))
				return rc;
		}
	}
	if (!m->ng)
		return 0; /* every posting was dead */
	if (m->overlap)
		qsort(m->g, m->ng, sizeof(*m->g), cmp_gpost);
	if ((rc = cvl_iseg_term(m->w, term, blen)))
		return rc;
	for (size_t i = 0; i < m->ng; i++)
		if ((rc = cvl_iseg_posting(m->w, m->g[i].doc, m->g[i].tf, m->pos + m->g[i].pos)))
			return rc;
	return 0;
}

/* Numbers the live documents in docid order; collects the dropped ones. */
static int number_docs(mstate *m, cvl_merge_out *out, uint32_t *live)
{
	uint32_t *cur = cvl_calloc((size_t)m->n, sizeof(*cur));
	size_t cap = 0;
	int rc = 0;

	*live = 0;
	if (!cur)
		return oom();
	for (;;) {
		int best = -1;
		uint64_t bid = 0;
		for (int k = 0; k < m->n; k++)
			if (cur[k] < m->in[k]->ndocs) {
				uint64_t id = cvl_iseg_docid(m->in[k], cur[k]);
				if (best < 0 || id < bid) {
					best = k;
					bid = id;
				}
			}
		if (best < 0)
			break;
		uint32_t d = cur[best]++;
		if (!cvl_iseg_dead(m->in[best], d)) {
			cvl_idoc doc;
			cvl_iseg_doc(m->in[best], d, &doc);
			m->map[best][d] = (*live)++;
			if ((rc = cvl_iseg_add_doc(m->w, &doc)))
				break;
			continue;
		}
		m->map[best][d] = UINT32_MAX;
		if (out->ndropped == cap) {
			size_t nc = cap ? cap * 2 : 256;
			uint64_t *nv = cvl_realloc(out->dropped, nc * sizeof(*nv));
			if (!nv) {
				rc = oom();
				break;
			}
			out->dropped = nv;
			cap = nc;
		}
		out->dropped[out->ndropped++] = bid;
	}
	cvl_free(cur);
	return rc;
}

static void mstate_free(mstate *m)
{
	for (int k = 0; k < m->n; k++) {
		if (m->map)
			cvl_free(m->map[k]);
	}
	cvl_free(m->map);
	cvl_free(m->d);
	cvl_free(m->g);
	cvl_free(m->pos);
	cvl_iseg_abort(m->w);
}

int cvl_iseg_merge(cvl_iseg *const *in, int n, const char *dir, uint64_t id,
		   const _Atomic int *cancel, cvl_merge_out *out)
{
	mstate m = {.in = in, .n = n};
	uint32_t live = 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!(m.map = cvl_calloc((size_t)n, sizeof(*m.map))) || !(m.d = cvl_calloc((size_t)n, sizeof(*m.d)))) {
		rc = oom();
		goto out;
	}
	for (int k = 0; k < n && !rc; k++) {
		if (!(m.map[k] = cvl_malloc(((size_t)in[k]->ndocs + 1) * sizeof(uint32_t))))
			rc = oom();
		for (int j = 0; j < k; j++)
			m.overlap |= in[k]->min_docid <= in[j]->max_docid && in[j]->min_docid <= in[k]->max_docid;
	}
	if (rc || (rc = cvl_iseg_begin(dir, id, &m.w)) || (rc = number_docs(&m, out, &live)))
		goto out;
	if (!live) {
		rc = 0; /* nothing left: no segment */
		goto out;
	}
	for (int k = 0; k < n && !rc; k++)
		if (!(rc = cvl_dcur_first(in[k], &m.d[k].c)))
			rc = dict_step(&m.d[k]);
	while (!rc && (rc = merge_term(&m)) == 0)
		if (cancel && atomic_load(cancel))
			rc = cvl_err(CONVLOG_EINVAL, "index merge cancelled: the store is closing");
	if (rc == 1)
		rc = 0;
	if (rc)
		goto out;
	rc = cvl_iseg_finish(m.w, &out->bytes);
	m.w = NULL;
	if (!rc)
		out->ndocs = live;
out:
	mstate_free(&m);
	if (rc) {
		cvl_free(out->dropped);
		memset(out, 0, sizeof(*out));
	}
	return rc;
}
