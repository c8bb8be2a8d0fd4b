/* Full-text search: the public entry points, filters resolved to
 * conversation sets, page tokens and snippets. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "engine/db.h"
#include "engine/msgiter.h"
#include "index/analyze.h"
#include "index/query.h"
#include "index/search.h"
#include "os/os.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/text.h"
#include "util/uuid.h"

#define DEFAULT_LIMIT 20
#define DEFAULT_SNIPPET 24
#define MAX_SNIPPET 200
#define SNIPPET_SCAN (1u << 20) /* bytes of a message looked at for a snippet */
#define TOKEN_TAG "s1"

CONVLOG_API void convlog_search_query_init(convlog_search_query *q)
{
	if (!q)
		return;
	memset(q, 0, sizeof(*q));
	q->version = CONVLOG_SEARCH_VERSION;
}

static int check_text(const char *query, uint32_t *err_at)
{
	size_t bad, n = strlen(query);

	if (n > 4096) {
		if (err_at)
			*err_at = 4096;
		return cvl_err(CONVLOG_ETOOBIG, "the query is longer than 4096 bytes");
	}
	if (cvl_utf8_check(query, n, &bad)) {
		if (err_at)
			*err_at = (uint32_t)bad;
		return cvl_err(CONVLOG_EUTF8, "the query is not valid UTF-8 at %zu", bad);
	}
	return 0;
}

CONVLOG_API int convlog_search_check(const char *query, uint32_t *err_at)
{
	cvl_qnode *q = NULL;
	int rc;

	cvl_err_clear();
	if (!query)
		return cvl_err(CONVLOG_EINVAL, "search_check: query is NULL");
	if ((rc = check_text(query, err_at)))
		return rc;
	rc = cvl_query_parse(query, &q, err_at);
	cvl_query_free(q);
	return rc;
}

/* ---- conversation sets ---- */

typedef struct idset {
	convlog_uuid *v;
	size_t n, cap;
} idset;

static int idset_add(idset *s, const convlog_uuid *id)
{
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 16;
		convlog_uuid *nv = cvl_realloc(s->v, nc * sizeof(*nv));
		if (!nv)
			return cvl_err(CONVLOG_ENOMEM, "out of memory for a search filter");
		s->v = nv;
		s->cap = nc;
	}
	s->v[s->n++] = *id;
	return 0;
}

static int cmp_id(const void *a, const void *b)
{
	return cvl_uuid_cmp(a, b);
}

/* Sorts and removes duplicates. */
static void idset_finish(idset *s)
{
	size_t k = 0;

	if (s->n > 1)
		qsort(s->v, s->n, sizeof(*s->v), cmp_id);
	for (size_t i = 0; i < s->n; i++)
		if (!k || cvl_uuid_cmp(&s->v[k - 1], &s->v[i]))
			s->v[k++] = s->v[i];
	s->n = k;
}

/* Every conversation a listing filter names. */
static int list_ids(convlog_db *db, const convlog_conv_filter *f, idset *s)
{
	convlog_conv_iter *it;
	const convlog_conv *c;
	int rc = convlog_conv_list(db, f, &it);

	if (rc)
		return rc;
	while ((rc = convlog_conv_iter_next(it, &c)) == 0)
		if ((rc = idset_add(s, &c->id)))
			break;
	convlog_conv_iter_free(it);
	return rc == CONVLOG_DONE ? 0 : rc;
}

struct rctx {
	convlog_db *db;
	int include_deleted;
	const cvl_scope *scope;
};

static int resolve(void *ud, int filter, const char *value, convlog_uuid **ids, size_t *n)
{
	struct rctx *r = ud;
	convlog_conv_filter f;
	idset s = {0};
	convlog_uuid id;
	int rc = 0;

	*ids = NULL;
	*n = 0;
	convlog_conv_filter_init(&f);
	f.include_deleted = r->include_deleted;
	switch (filter) {
	case CVL_F_CONV:
		if (convlog_uuid_parse(value, &id) == 0) {
			rc = idset_add(&s, &id);
		} else {
			convlog_conv *c = NULL;
			rc = convlog_conv_get_by_external(r->db, value, &c);
			if (rc == 0)
				rc = idset_add(&s, &c->id);
			else if (rc == CONVLOG_ENOTFOUND || rc == CONVLOG_EINVAL)
				rc = 0; /* names nothing: matches nothing */
			convlog_conv_free(c);
		}
		break;
	case CVL_F_USER:
		f.user_id = value;
		rc = list_ids(r->db, &f, &s);
		break;
	case CVL_F_SESSION:
		f.session_id = value;
		rc = list_ids(r->db, &f, &s);
		break;
	case CVL_F_TAG:
		f.tag = value;
		rc = list_ids(r->db, &f, &s);
		break;
	case CVL_F_SCOPE:
		if (r->scope) {
			f.user_id = r->scope->user_id;
			f.org_id = r->scope->org_id;
			rc = list_ids(r->db, &f, &s);
		}
		break;
	default:
		rc = cvl_err(CONVLOG_EINVAL, "unknown search filter");
	}
	if (rc) {
		cvl_free(s.v);
		return rc;
	}
	idset_finish(&s);
	*ids = s.v;
	*n = s.n;
	return 0;
}

/* ---- page tokens: "s1.<mode><query hash>.<a>.<b>" ---- */

static uint64_t dbits(double d);

static uint32_t query_hash(const convlog_search_query *q)
{
	uint64_t seed = (uint64_t)q->order | (uint64_t)(q->group_by_conv != 0) << 8 |
			(uint64_t)(q->include_deleted != 0) << 9;

	seed ^= dbits(q->recency_weight) * UINT64_C(0x9E3779B97F4A7C15);
	seed ^= (uint64_t)q->recency_halflife_days << 40;
	return (uint32_t)XXH3_64bits_withSeed(q->query, strlen(q->query), seed);
}

static int parse_token(const convlog_search_query *q, uint64_t *a, uint64_t *b)
{
	char tag[3];
	uint32_t h;
	int used = 0;

	/* NOLINTNEXTLINE(cert-err34-c): width-limited hex fields cannot overflow */
	if (sscanf(q->after, "%2[^.].%8" SCNx32 ".%16" SCNx64 ".%16" SCNx64 "%n", tag, &h, a, b,
		   &used) != 4 ||
	    q->after[used] || strcmp(tag, TOKEN_TAG) != 0 || h != query_hash(q))
		return cvl_err(CONVLOG_EINVAL,
			       "search: the page token is malformed or belongs to another query");
	return 0;
}

static char *make_token(const convlog_search_query *q, uint64_t a, uint64_t b)
{
	char *t = cvl_malloc(64);

	if (t)
		snprintf(t, 64, "%s.%08" PRIx32 ".%016" PRIx64 ".%016" PRIx64, TOKEN_TAG, query_hash(q),
			 a, b);
	return t;
}

static uint64_t dbits(double d)
{
	uint64_t u;

	memcpy(&u, &d, 8);
	return u;
}

static double bitsd(uint64_t u)
{
	double d;

	memcpy(&d, &u, 8);
	return d;
}

/* ---- snippets ---- */

typedef struct stok {
	uint32_t start, end;
	int whole;
	int match; /* index of the highlight term + 1, or 0 */
} stok;

typedef struct scoll {
	stok *v;
	size_t n, cap;
	const cvl_hlterm *hl;
	size_t nhl;
	int oom;
} scoll;

static int on_stok(void *ud, const cvl_token *k)
{
	scoll *c = ud;

	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 256;
		stok *nv = cvl_realloc(c->v, nc * sizeof(*nv));
		if (!nv) {
			c->oom = 1;
			return 1;
		}
		c->v = nv;
		c->cap = nc;
	}
	stok *t = &c->v[c->n++];
	t->start = k->start;
	t->end = k->end;
	t->whole = k->whole != 0; /* identifiers and surface forms: marks only */
	t->match = 0;
	for (size_t i = 0; i < c->nhl && !t->match; i++) {
		const cvl_hlterm *h = &c->hl[i];
		if (h->prefix ? k->len >= h->len && !memcmp(k->text, h->text, h->len)
			      : k->len == h->len && !memcmp(k->text, h->text, h->len))
			t->match = (int)i + 1;
	}
	return 0;
}

typedef struct sbuf {
	char *p;
	size_t n, cap;
	int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (!b->p || b->n + n + 1 > b->cap) {
		size_t nc = (b->n + n + 1) * 2;
		char *np = cvl_realloc(b->p, nc);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
}

static int is_space(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == '\v';
}

/* Text [a, b) with white space runs collapsed and ranges marked. */
static void emit(sbuf *out, const char *text, uint32_t a, uint32_t b, const stok *marks,
		 size_t nmarks, const char *open, const char *close)
{
	size_t m = 0;
	int space = 0;

	for (uint32_t i = a; i < b;) {
		while (m < nmarks && marks[m].end <= i)
			m++;
		if (m < nmarks && marks[m].start == i) {
			if (space)
				sb_put(out, " ", 1);
			space = 0;
			sb_put(out, open, strlen(open));
			sb_put(out, text + i, marks[m].end - i);
			sb_put(out, close, strlen(close));
			i = marks[m].end;
			continue;
		}
		if (is_space(text[i])) {
			space = out->n > 0;
			i++;
			continue;
		}
		if (space)
			sb_put(out, " ", 1);
		space = 0;
		sb_put(out, text + i, 1);
		i++;
	}
}

static int cmp_mark(const void *a, const void *b)
{
	const stok *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->end > y->end ? -1 : x->end < y->end;
}

/* Score of window [i, i + w) of the word tokens: distinct terms first. */
static uint64_t window_score(const stok *words, size_t n, size_t i, size_t w, size_t nhl)
{
	uint64_t seen[4] = {0}, distinct = 0, total = 0;

	for (size_t k = i; k < i + w && k < n; k++) {
		int m = words[k].match;
		if (!m)
			continue;
		total++;
		size_t b = (size_t)(m - 1) % 256;
		if (!(seen[b / 64] >> (b % 64) & 1)) {
			seen[b / 64] |= UINT64_C(1) << (b % 64);
			distinct++;
		}
	}
	(void)nhl;
	return distinct << 32 | total;
}

static int snippet(cvl_analyzer *an, const char *text, size_t len, const cvl_hlterm *hl,
		   size_t nhl, uint32_t words_wanted, const char *open, const char *close,
		   char **out)
{
	scoll c = {NULL, 0, 0, hl, nhl, 0};
	sbuf sb = {NULL, 0, 0, 0};
	stok *words = NULL, *marks = NULL;
	size_t nw = 0, nm = 0;
	int rc;

	size_t full = len;

	*out = NULL;
	if (len > SNIPPET_SCAN) {
		len = SNIPPET_SCAN;
		while (len && ((unsigned char)text[len] & 0xC0) == 0x80)
			len--;
	}
	rc = cvl_analyze(an, text, len, on_stok, &c);
	if (c.oom || rc < 0 || (c.n && (!(words = cvl_malloc(c.n * sizeof(*words))) ||
					 !(marks = cvl_malloc(c.n * sizeof(*marks)))))) {
		rc = c.oom || rc >= 0 ? cvl_err(CONVLOG_ENOMEM, "out of memory for a snippet") : rc;
		goto out;
	}
	/* words: the non-whole tokens, matched also when inside a matched
	 * whole identifier; marks: matched ranges */
	for (size_t i = 0; i < c.n; i++) {
		if (c.v[i].match)
			marks[nm++] = c.v[i];
		if (c.v[i].whole)
			continue;
		words[nw] = c.v[i];
		for (size_t j = i; j-- > 0 && !words[nw].match;) {
			if (c.v[j].whole && c.v[j].match && c.v[j].start <= c.v[i].start &&
			    c.v[j].end >= c.v[i].end)
				words[nw].match = c.v[j].match;
			if (c.v[j].end <= c.v[i].start && !c.v[j].whole)
				break;
		}
		nw++;
	}
	size_t w = words_wanted, best = 0;
	if (nw > w) {
		uint64_t bs = 0;
		for (size_t i = 0; i < nw; i++) {
			if (!words[i].match)
				continue;
			size_t st = i > w / 4 ? i - w / 4 : 0;
			if (st + w > nw)
				st = nw - w;
			uint64_t s = window_score(words, nw, st, w, nhl);
			if (s > bs) {
				bs = s;
				best = st;
			}
		}
	}
	uint32_t a = 0, b = (uint32_t)len;
	if (nw > w) {
		a = best ? words[best].start : 0;
		b = best + w < nw ? words[best + w - 1].end : (uint32_t)len;
	}
	/* merge overlapping marks (a whole identifier covers its parts) */
	if (nm > 1)
		qsort(marks, nm, sizeof(*marks), cmp_mark);
	size_t k = 0;
	for (size_t i = 0; i < nm; i++) {
		if (marks[i].start < a || marks[i].end > b)
			continue;
		if (k && marks[i].start < marks[k - 1].end) {
			if (marks[i].end > marks[k - 1].end)
				marks[k - 1].end = marks[i].end;
			continue;
		}
		marks[k++] = marks[i];
	}
	if (a > 0)
		sb_put(&sb, "...", 3);
	emit(&sb, text, a, b, marks, k, open, close);
	if (b < full)
		sb_put(&sb, "...", 3);
	if (!sb.p)
		sb_put(&sb, "", 0);
	if (sb.oom) {
		rc = cvl_err(CONVLOG_ENOMEM, "out of memory for a snippet");
		goto out;
	}
	*out = sb.p;
	sb.p = NULL;
	rc = 0;
out:
	cvl_free(sb.p);
	cvl_free(c.v);
	cvl_free(words);
	cvl_free(marks);
	return rc;
}

/* ---- search ---- */

typedef struct result_priv {
	convlog_search_result pub;
	char *next;
} result_priv;

CONVLOG_API void convlog_search_result_free(convlog_search_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_hits; i++) {
		cvl_free((char *)r->hits[i].role);
		cvl_free((char *)r->hits[i].snippet);
	}
	cvl_free(r->hits);
	cvl_free(((result_priv *)r)->next);
	cvl_free(r);
}

static int check_query(const convlog_search_query *q)
{
	if (!q)
		return cvl_err(CONVLOG_EINVAL, "search: query is NULL");
	if (q->version != CONVLOG_SEARCH_VERSION)
		return cvl_err(CONVLOG_EINVAL, "search: query version %u, expected %u", q->version,
			       CONVLOG_SEARCH_VERSION);
	if (!q->query)
		return cvl_err(CONVLOG_EINVAL, "search: no query text");
	if (q->limit > CONVLOG_SEARCH_MAX_LIMIT)
		return cvl_err(CONVLOG_EINVAL, "search: limit %u is over %u", q->limit,
			       CONVLOG_SEARCH_MAX_LIMIT);
	if (q->order != CONVLOG_SEARCH_RELEVANCE && q->order != CONVLOG_SEARCH_NEWEST)
		return cvl_err(CONVLOG_EINVAL, "search: unknown order %d", q->order);
	if (!(q->recency_weight >= 0 && q->recency_weight <= 1e6))
		return cvl_err(CONVLOG_EINVAL, "search: recency_weight must be in 0..1e6");
	if (q->snippet_words > MAX_SNIPPET)
		return cvl_err(CONVLOG_EINVAL, "search: snippet_words %u is over %u", q->snippet_words,
			       MAX_SNIPPET);
	return 0;
}

/* Conversations a search hides: the soft-deleted ones. */
static int hidden_ids(convlog_db *db, idset *s)
{
	convlog_conv_filter f;

	convlog_conv_filter_init(&f);
	f.status = CONVLOG_STATUS_DELETED;
	int rc = list_ids(db, &f, s);

	if (!rc)
		idset_finish(s);
	return rc;
}

typedef struct sstate {
	convlog_db *db;
	const cvl_scope *scope;
	const convlog_search_query *q;
	cvl_qnode *tree;
	cvl_analyzer *an;
	cvl_tsnap ts;
	int have_ts;
	cvl_ssrc *src;
	idset hidden;
	cvl_sresult res;
	cvl_view v;
	int have_v;
	uint32_t limit, offset;
} sstate;

static void sstate_free(sstate *s)
{
	cvl_sresult_free(&s->res);
	if (s->have_v)
		cvl_view_release(&s->v);
	if (s->have_ts)
		cvl_text_snapshot_release(&s->ts);
	cvl_free(s->src);
	cvl_free(s->hidden.v);
	if (s->an)
		cvl_text_analyzer_put(s->db, s->an);
	cvl_query_free(s->tree);
}

static int run(sstate *s)
{
	const convlog_search_query *q = s->q;
	struct rctx rc_ud = {s->db, q->include_deleted, s->scope};
	cvl_sreq r = {0};
	uint64_t a = 0, b = 0;
	size_t n = 0;
	int rc;

	if (q->after && (rc = parse_token(q, &a, &b)))
		return rc;
	if (q->group_by_conv) {
		if (a > UINT32_MAX - s->limit - 1)
			return cvl_err(CONVLOG_EINVAL, "search: the page token is out of range");
		s->offset = (uint32_t)a;
	} else if (q->after) {
		r.after = 1;
		r.after_key = bitsd(a);
		r.after_docid = b;
	}
	if ((rc = cvl_text_analyzer_get(s->db, &s->an)))
		return rc;
	if (!q->include_deleted && (rc = hidden_ids(s->db, &s->hidden)))
		return rc;
	if ((rc = cvl_text_snapshot(s->db, &s->ts)))
		return rc;
	s->have_ts = 1;
	if (!(s->src = cvl_calloc((size_t)s->ts.nsegs + (size_t)s->ts.nmt + 1, sizeof(*s->src))))
		return cvl_err(CONVLOG_ENOMEM, "out of memory for a search");
	for (int i = 0; i < s->ts.nsegs; i++)
		s->src[n++].seg = s->ts.segs[i];
	for (int i = 0; i < s->ts.nmt; i++)
		if (s->ts.mt[i]->aux)
			s->src[n++].mi = s->ts.mt[i]->aux;
	r.q = s->tree;
	r.an = s->an;
	r.src = s->src;
	r.nsrc = n;
	r.snap = s->ts.snap;
	r.k = s->offset + s->limit + 1;
	r.group = q->group_by_conv;
	r.newest = q->order == CONVLOG_SEARCH_NEWEST;
	r.recency = q->recency_weight;
	r.halflife_ms = (q->recency_halflife_days ? q->recency_halflife_days : 30) * 86400000.0;
	r.now_ms = cvl_os_now_ms();
	r.hidden = s->hidden.v;
	r.nhidden = s->hidden.n;
	r.resolve = resolve;
	r.resolve_ud = &rc_ud;
	return cvl_search_run(&r, &s->res);
}

/* Fills hit h from search hit x: role and snippet from the message. */
static int fill_hit(sstate *s, const cvl_shit *x, convlog_search_hit *h, int *gone)
{
	const convlog_search_query *q = s->q;
	convlog_msg *m = NULL;
	int rc = cvl_msg_read_at(s->db, &s->v, &x->conv, x->seq, &m);

	*gone = 0;
	if (rc == CONVLOG_ENOTFOUND) {
		*gone = 1; /* erased since the index snapshot */
		return 0;
	}
	if (rc)
		return rc;
	h->conv_id = x->conv;
	h->seq = x->seq;
	h->score = q->order == CONVLOG_SEARCH_NEWEST ? 0 : x->score;
	h->created_at = x->created_at;
	h->role = cvl_strdup(m->role ? m->role : "");
	rc = h->role ? 0 : cvl_err(CONVLOG_ENOMEM, "out of memory for a search result");
	if (!rc)
		rc = snippet(s->an, m->content ? m->content : "", m->content ? strlen(m->content) : 0,
			     s->res.hl, s->res.nhl, q->snippet_words ? q->snippet_words : DEFAULT_SNIPPET,
			     q->hl_open ? q->hl_open : "[", q->hl_close ? q->hl_close : "]",
			     (char **)&h->snippet);
	convlog_msg_free(m);
	return rc;
}

static int build_result(sstate *s, convlog_search_result **out)
{
	result_priv *r = cvl_calloc(1, sizeof(*r));
	size_t from = s->offset < s->res.nhits ? s->offset : s->res.nhits;
	size_t upto = from + s->limit < s->res.nhits ? from + s->limit : s->res.nhits;
	int rc;

	if (!r || (upto > from && !(r->pub.hits = cvl_calloc(upto - from, sizeof(*r->pub.hits))))) {
		cvl_free(r);
		return cvl_err(CONVLOG_ENOMEM, "out of memory for a search result");
	}
	r->pub.version = CONVLOG_SEARCH_VERSION;
	r->pub.candidates = s->res.candidates;
	if ((rc = cvl_db_snapshot(s->db, &s->v))) {
		convlog_search_result_free(&r->pub);
		return rc;
	}
	s->have_v = 1;
	for (size_t i = from; i < upto; i++) {
		int gone;
		convlog_search_hit *h = &r->pub.hits[r->pub.n_hits];
		if ((rc = fill_hit(s, &s->res.hits[i], h, &gone))) {
			r->pub.n_hits++; /* partly filled: freed with the rest */
			convlog_search_result_free(&r->pub);
			return rc;
		}
		if (!gone)
			r->pub.n_hits++;
	}
	if (s->res.nhits > upto) {
		const cvl_shit *last = &s->res.hits[upto - 1];
		r->next = s->q->group_by_conv ? make_token(s->q, upto, 0)
					      : make_token(s->q, dbits(last->key), last->docid);
		if (!r->next) {
			convlog_search_result_free(&r->pub);
			return cvl_err(CONVLOG_ENOMEM, "out of memory for a search result");
		}
		r->pub.next = r->next;
	}
	*out = &r->pub;
	return 0;
}

/* A scoped handle searches its own conversations: the query becomes
 * (query) AND scope, the scope a filter resolved like user: (the query
 * still drives). */
static int scope_query(cvl_qnode **tree)
{
	cvl_qnode *and = cvl_calloc(1, sizeof(*and));
	cvl_qnode *f = cvl_calloc(1, sizeof(*f));
	cvl_qnode **kids = cvl_calloc(2, sizeof(*kids));
	char *text = cvl_strdup("scope");

	if (!and || !f || !kids || !text) {
		cvl_free(and);
		cvl_free(f);
		cvl_free(kids);
		cvl_free(text);
		return cvl_err(CONVLOG_ENOMEM, "out of memory for a search");
	}
	f->kind = CVL_Q_FILTER;
	f->filter = CVL_F_SCOPE;
	f->text = text;
	and->kind = CVL_Q_AND;
	and->kids = kids;
	and->nkids = 2;
	kids[0] = *tree;
	kids[1] = f;
	*tree = and;
	return 0;
}

CONVLOG_API int convlog_search(convlog_db *db, const convlog_search_query *q,
			       convlog_search_result **out)
{
	sstate s = {.db = db, .q = q};
	int rc;

	cvl_err_clear();
	if (!out)
		return cvl_err(CONVLOG_EINVAL, "search: out is NULL");
	*out = NULL;
	if ((rc = cvl_db_enter(&db, &s.scope)) || (rc = check_query(q)) ||
	    (rc = check_text(q->query, NULL)) || (rc = cvl_query_parse(q->query, &s.tree, NULL)))
		return rc;
	s.db = db;
	if (s.scope && (rc = scope_query(&s.tree))) {
		cvl_query_free(s.tree);
		return rc;
	}
	uint64_t bad = atomic_load(&db->text_damaged);
	if (bad) {
		cvl_query_free(s.tree);
		return cvl_err(CONVLOG_ECORRUPT, "the text index is damaged (index segment %016" PRIx64
			       " is missing or unreadable): run 'convlog verify --repair' or convlog_reindex()",
			       bad - 1);
	}
	s.limit = q->limit ? q->limit : DEFAULT_LIMIT;
	if (!(rc = run(&s)))
		rc = build_result(&s, out);
	sstate_free(&s);
	return rc;
}

/* ---- maintenance ---- */

CONVLOG_API int convlog_index_merge(convlog_db *db, unsigned flags)
{
	int rc, did = 1;

	cvl_err_clear();
	if ((rc = cvl_db_check_write(db)))
		return rc;
	if (flags & ~(unsigned)CONVLOG_MERGE_ALL)
		return cvl_err(CONVLOG_EINVAL, "index_merge: unknown flags 0x%x", flags);
	if (flags & CONVLOG_MERGE_ALL)
		rc = cvl_text_merge(db, 1, &did);
	else
		while (did && !rc)
			rc = cvl_text_merge(db, 0, &did);
	cvl_alloc_trim();
	return rc;
}

CONVLOG_API int convlog_reindex(convlog_db *db, const char *stemming)
{
	int rc;

	cvl_err_clear();
	if ((rc = cvl_db_check_write(db)))
		return rc;
	if (stemming && !strcmp(stemming, "none"))
		stemming = "";
	if (stemming && strlen(stemming) > 31)
		return cvl_err(CONVLOG_EINVAL, "reindex: unknown stemming language '%s'", stemming);
	return cvl_text_reindex(db, stemming);
}
