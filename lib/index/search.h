/*
 * Query execution over the text index (format-spec.md §10.5): the parsed
 * query is compiled once (terms analysed, filters resolved, global BM25
 * statistics of the live documents gathered over every source), then run
 * source by source with
 * document-at-a-time iterators and block-max pruning against one shared
 * top-k heap.
 *
 * Sources are index segments and memtable indexes; a search holds a
 * reference to each for its duration.  Nothing here touches LMDB: filters
 * that name conversations by user, session or tag are resolved to sets of
 * conversation ids by the caller's callback before any posting is read.
 */
#ifndef CVL_INDEX_SEARCH_H
#define CVL_INDEX_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "convlog.h"
#include "index/analyze.h"
#include "index/iseg.h"
#include "index/memidx.h"
#include "index/query.h"

#define CVL_BM25_K1 1.2
#define CVL_BM25_B 0.75
#define CVL_PREFIX_MAX_TERMS 65536 /* expansions of one prefix, per source */

typedef struct cvl_ssrc {
	cvl_iseg *seg;     /* one of seg, mi */
	cvl_memidx *mi;
} cvl_ssrc;

/*
 * Resolves a conversation-set filter (CVL_F_USER, CVL_F_SESSION,
 * CVL_F_TAG, CVL_F_CONV) to the ids it names, sorted by cvl_uuid_cmp and
 * without duplicates (*ids owned by the caller of the search, freed with
 * cvl_free).  An empty set is fine: the filter then matches nothing.
 */
typedef int (*cvl_resolve_fn)(void *ud, int filter, const char *value, convlog_uuid **ids,
			      size_t *n);

typedef struct cvl_sreq {
	const cvl_qnode *q;
	cvl_analyzer *an;
	const cvl_ssrc *src;
	size_t nsrc;
	uint64_t snap;          /* documents with a larger docid are not visible */
	uint32_t k;             /* hits wanted (>= 1) */
	int group;              /* at most one hit (the best) per conversation */
	int newest;             /* order by created_at, not by score */
	double recency;         /* score x (1 + recency * 2^(-age / halflife)) */
	double halflife_ms;
	int64_t now_ms;
	int after;              /* paging: only hits ordered after (after_key, after_docid) */
	double after_key;
	uint64_t after_docid;
	const convlog_uuid *hidden; /* sorted: conversations whose messages never match */
	size_t nhidden;
	cvl_resolve_fn resolve;
	void *resolve_ud;
} cvl_sreq;

typedef struct cvl_shit {
	uint64_t docid;
	convlog_uuid conv;
	uint32_t seq;
	int64_t created_at;
	double score;           /* BM25 (with the recency factor) */
	double key;             /* what the order is by: score, or created_at */
} cvl_shit;

/* What to highlight: analysed terms of positive clauses. */
typedef struct cvl_hlterm {
	char text[CVL_TERM_MAX + 1];
	uint8_t len;
	uint8_t prefix;         /* matches any term starting with text */
} cvl_hlterm;

typedef struct cvl_sresult {
	cvl_shit *hits;         /* best first */
	size_t nhits;
	cvl_hlterm *hl;
	size_t nhl;
	uint64_t candidates;    /* documents scored (for statistics) */
} cvl_sresult;

/*
 * Runs the query.  Errors: CONVLOG_EINVAL (the query has no searchable
 * text once analysed: "the query has no searchable words"),
 * CONVLOG_ETOOBIG (a prefix with too many expansions), CONVLOG_ECORRUPT
 * (a damaged segment), CONVLOG_ENOMEM, or the resolver's error.
 */
int cvl_search_run(const cvl_sreq *r, cvl_sresult *out);
void cvl_sresult_free(cvl_sresult *res);

#endif
