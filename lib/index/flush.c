#include <stdlib.h>
#include <string.h>

#include "index/flush.h"
#include "util/alloc.h"
#include "util/err.h"

static int cmp_term(const void *a, const void *b)
{
	const cvl_mi_term *x = *(cvl_mi_term *const *)a, *y = *(cvl_mi_term *const *)b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->text, y->text, n);

	return c ? c : (x->len < y->len ? -1 : x->len > y->len);
}

/* Every term of the index, sorted. */
static int sorted_terms(cvl_memidx *mi, cvl_mi_term ***out, size_t *n)
{
	size_t cap = atomic_load(&mi->nterms) + 1, k = 0;
	cvl_mi_term **v = cvl_malloc(cap * sizeof(*v));

	if (!v)
		return cvl_err(CONVLOG_ENOMEM, "out of memory flushing the text index");
	for (uint32_t b = 0; b < CVL_MI_BUCKETS; b++)
		for (cvl_mi_term *t = atomic_load(&mi->buckets[b]); t && k < cap; t = atomic_load(&t->next))
			v[k++] = t;
	if (k > 1)
		qsort(v, k, sizeof(*v), cmp_term);
	*out = v;
	*n = k;
	return 0;
}

static int write_term(cvl_iseg_writer *w, cvl_memidx *mi, cvl_mi_term *t, const uint32_t *map,
		      uint32_t *posbuf)
{
	cvl_mi_iter it;
	const cvl_mi_post *p;
	int started = 0, rc;

	cvl_mi_iter_init(&it, t);
	while ((p = cvl_mi_iter_next(&it))) {
		if (map[p->doc] == UINT32_MAX)
			continue;
		if (!started && (rc = cvl_iseg_term(w, t->text, t->len)))
			return rc;
		started = 1;
		uint32_t tf = p->tf < 65536 ? p->tf : 65536;
		for (uint32_t k = 0; k < tf; k++)
			posbuf[k] = cvl_mi_pos(mi, p->pos + k);
		if ((rc = cvl_iseg_posting(w, map[p->doc], tf, posbuf)))
			return rc;
	}
	return 0;
}

int cvl_mi_write(cvl_memidx *mi, const char *dir, uint64_t id, uint32_t *ndocs, uint64_t *bytes)
{
	uint32_t n = atomic_load(&mi->ndocs), live = 0, *map = NULL, *posbuf = NULL;
	cvl_mi_term **terms = NULL;
	cvl_iseg_writer *w = NULL;
	size_t nterms = 0;
	int rc;

	*ndocs = 0;
	map = cvl_malloc((n + 1) * sizeof(*map));
	posbuf = cvl_malloc(65536 * sizeof(*posbuf));
	if (!map || !posbuf) {
		rc = cvl_err(CONVLOG_ENOMEM, "out of memory flushing the text index");
		goto out;
	}
	for (uint32_t d = 0; d < n; d++)
		map[d] = cvl_mi_dead(mi, d) ? UINT32_MAX : live++;
	if (live == 0) {
		rc = 0;
		goto out;
	}
	if ((rc = cvl_iseg_begin(dir, id, &w)))
		goto out;
	for (uint32_t d = 0; d < n && !rc; d++)
		if (map[d] != UINT32_MAX)
			rc = cvl_iseg_add_doc(w, cvl_mi_doc(mi, d));
	if (!rc)
		rc = sorted_terms(mi, &terms, &nterms);
	for (size_t i = 0; i < nterms && !rc; i++)
		rc = write_term(w, mi, terms[i], map, posbuf);
	if (!rc) {
		rc = cvl_iseg_finish(w, bytes);
		w = NULL;
		*ndocs = live;
	}
out:
	cvl_iseg_abort(w);
	cvl_free(terms);
	cvl_free(map);
	cvl_free(posbuf);
	return rc;
}
