/*
 * Full-text search through the public API: a randomised test against an
 * in-memory model (appends, edits, deletions, flushes, reopens), a peer
 * test against SQLite FTS5 (same corpus, same queries: identical match
 * sets, same BM25 order where the order is clear-cut), and the features
 * one by one.
 */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

#define MIN_MS INT64_C(60000)
#define HOUR_MS INT64_C(3600000)
#define DAY_MS INT64_C(86400000)
#define T0 INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */

static char path[256];
static convlog_db *db;

static convlog_options *opts(void)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_OFF);

	CK_OK(convlog_options_set_memtable_size(o, 256u << 10));
	return o;
}

static void open_db(void)
{
	convlog_options *o = opts();

	db = tu_open(path, o);
	convlog_options_free(o);
}

static void setup(void)
{
	tu_tmppath(path, sizeof(path), "search");
	open_db();
}

static void teardown(void)
{
	convlog_close(db);
	db = NULL;
	tu_rmrf(path);
}

static void reopen(void)
{
	convlog_close(db);
	open_db();
}

/* ---- helpers ---- */

typedef struct hitref {
	convlog_uuid conv;
	uint32_t seq;
	double score;
	int64_t created_at;
	char snippet[512];
	char role[32];
} hitref;

/* Every hit of a query, fetched in pages of `page`; checks the order. */
static size_t search_all(const char *query, int order, int group, int deleted, uint32_t page,
			 hitref *out, size_t cap)
{
	convlog_search_query q;
	char *after = NULL;
	size_t n = 0;

	convlog_search_query_init(&q);
	q.query = query;
	q.limit = page;
	q.order = order;
	q.group_by_conv = group;
	q.include_deleted = deleted;
	for (int pages = 0;; pages++) {
		convlog_search_result *r;
		q.after = after;
		CK_OK(convlog_search(db, &q, &r));
		ck_assert_uint_le(r->n_hits, page);
		for (size_t i = 0; i < r->n_hits; i++) {
			ck_assert_msg(n < cap, "more than %zu hits for %s", cap, query);
			hitref *h = &out[n++];
			h->conv = r->hits[i].conv_id;
			h->seq = r->hits[i].seq;
			h->score = r->hits[i].score;
			h->created_at = r->hits[i].created_at;
			snprintf(h->snippet, sizeof(h->snippet), "%s", r->hits[i].snippet);
			snprintf(h->role, sizeof(h->role), "%s", r->hits[i].role);
			if (n > 1 && order == CONVLOG_SEARCH_RELEVANCE)
				ck_assert_msg(out[n - 2].score >= h->score, "%s: scores not descending",
					      query);
			if (n > 1 && order == CONVLOG_SEARCH_NEWEST)
				ck_assert_int_ge(out[n - 2].created_at, h->created_at);
		}
		free(after);
		after = r->next ? strdup(r->next) : NULL;
		ck_assert_msg(!r->next || r->n_hits == page, "%s: short page with a next token",
			      query);
		convlog_search_result_free(r);
		if (!after)
			break;
		ck_assert_int_lt(pages, 100000);
	}
	return n;
}

static int search_count(const char *query)
{
	static hitref h[4096];

	return (int)search_all(query, CONVLOG_SEARCH_RELEVANCE, 0, 0, 1000, h, 4096);
}

static convlog_uuid mkconv(const char *user, const char *session, const char *const *tags,
			   size_t ntags)
{
	convlog_conv c;
	convlog_uuid id;

	convlog_conv_init(&c);
	c.user_id = user;
	c.session_id = session;
	c.tags = tags;
	c.n_tags = ntags;
	c.created_at = T0;
	CK_OK(convlog_conv_create(db, NULL, &c, &id));
	return id;
}

static uint32_t put(const convlog_uuid *conv, const char *role, const char *model,
		    const char *text, int64_t at)
{
	convlog_msg m;
	uint32_t seq;

	convlog_msg_init(&m);
	m.conv_id = *conv;
	m.role = role;
	m.model = model;
	m.content = text;
	m.content_len = strlen(text);
	m.created_at = at;
	CK_OK(convlog_msg_append(db, NULL, &m, &seq));
	return seq;
}

static void edit(const convlog_uuid *conv, uint32_t seq, const char *text)
{
	convlog_msg m;

	convlog_msg_init(&m);
	m.content = text;
	m.content_len = strlen(text);
	CK_OK(convlog_msg_supersede(db, NULL, conv, seq, &m, CONVLOG_MSG_CONTENT));
}

/* ====================================================================== */
/* Randomised test against a model                                        */
/* ====================================================================== */

#define NCONV 12
#define MAXW 40
#define MAXDOC 1600

static const char *syl[] = {"ka", "ri", "to", "me", "su", "no", "ha", "lo"};
#define NSYL 8
#define NVOCAB (NSYL * NSYL)

static void vocab(int i, char *out)
{
	snprintf(out, 8, "%s%s", syl[i / NSYL], syl[i % NSYL]);
}

typedef struct mdoc {
	int conv;
	uint32_t seq;
	int nw;
	uint8_t w[MAXW];
	int role, model;
	int64_t at;
} mdoc;

typedef struct model {
	mdoc docs[MAXDOC];
	int ndocs;
	convlog_uuid conv[NCONV];
	int user[NCONV], session[NCONV], tag[NCONV];
	int deleted[NCONV];
	uint32_t nseq[NCONV];
} model;

static const char *roles[] = {"user", "assistant", "tool"};
static const char *models[] = {NULL, "m1", "m2"};

/* Zipf-ish word choice: low indexes are common. */
static int pick_word(uint64_t *r)
{
	uint64_t x = tu_rand(r) % 1000;

	return (int)((x * x / 1000) * NVOCAB / 1000);
}

static void doc_text(const mdoc *d, char *out, size_t cap, uint64_t *r)
{
	size_t n = 0;

	out[0] = 0;
	for (int i = 0; i < d->nw; i++) {
		char w[8];
		vocab(d->w[i], w);
		if (i == 0 || tu_rand(r) % 5 == 0)
			w[0] = (char)(w[0] - 32); /* capitalised */
		const char *sep = i == 0 ? "" : (tu_rand(r) % 7 == 0 ? ", " : (tu_rand(r) % 9 == 0 ? ".\n" : " "));
		n += (size_t)snprintf(out + n, cap - n, "%s%s", sep, w);
	}
	snprintf(out + n, cap - n, "%s", tu_rand(r) % 2 ? "." : "?");
}

static void random_words(mdoc *d, uint64_t *r)
{
	d->nw = 1 + (int)(tu_rand(r) % (MAXW - 1));
	for (int i = 0; i < d->nw; i++)
		d->w[i] = (uint8_t)pick_word(r);
}

/* A query: tree in the test's own form, printed to the language. */
enum { Q_TERM, Q_PHRASE, Q_PREFIX, Q_AND, Q_OR, Q_NOT, Q_ROLE, Q_MODEL, Q_USER, Q_SESSION,
       Q_TAG, Q_CONV, Q_AFTER, Q_BEFORE };

typedef struct mq {
	int kind;
	int a, b;       /* words, or filter value index */
	int three;      /* peer phrases: "a b a" */
	int64_t t;
	struct mq *k[3];
	int nk;
} mq;

static mq qpool[64];
static int nq;

static mq *qnew(int kind)
{
	mq *q = &qpool[nq++];

	memset(q, 0, sizeof(*q));
	q->kind = kind;
	return q;
}

static mq *rand_text(uint64_t *r)
{
	int k = (int)(tu_rand(r) % 10);
	mq *q = qnew(k < 6 ? Q_TERM : k < 8 ? Q_PHRASE : Q_PREFIX);

	q->a = pick_word(r);
	q->b = pick_word(r);
	return q;
}

static mq *rand_filter(uint64_t *r, const model *m)
{
	mq *q = qnew(Q_ROLE + (int)(tu_rand(r) % 8));

	q->a = (int)(tu_rand(r) % 3);
	if (q->kind == Q_CONV)
		q->a = (int)(tu_rand(r) % NCONV);
	if (q->kind == Q_MODEL)
		q->a = 1 + (int)(tu_rand(r) % 2);
	q->t = T0 + (int64_t)(tu_rand(r) % 20) * DAY_MS;
	(void)m;
	return q;
}

/* A query with at least one positive text clause driving it. */
static mq *rand_query(uint64_t *r, const model *m)
{
	int shape = (int)(tu_rand(r) % 9);
	mq *q, *x;

	nq = 0;
	switch (shape) {
	case 0:
	case 1:
		return rand_text(r);
	case 2: /* a b */
		q = qnew(Q_AND);
		q->k[q->nk++] = rand_text(r);
		q->k[q->nk++] = rand_text(r);
		return q;
	case 3: /* a OR b */
		q = qnew(Q_OR);
		q->k[q->nk++] = rand_text(r);
		q->k[q->nk++] = rand_text(r);
		return q;
	case 4: /* a -b */
		q = qnew(Q_AND);
		q->k[q->nk++] = rand_text(r);
		x = qnew(Q_NOT);
		x->k[x->nk++] = rand_text(r);
		q->k[q->nk++] = x;
		return q;
	case 5: /* a filter */
	case 6:
		q = qnew(Q_AND);
		q->k[q->nk++] = rand_text(r);
		q->k[q->nk++] = rand_filter(r, m);
		return q;
	case 7: /* (a OR b) -c */
		q = qnew(Q_AND);
		x = qnew(Q_OR);
		x->k[x->nk++] = rand_text(r);
		x->k[x->nk++] = rand_text(r);
		q->k[q->nk++] = x;
		x = qnew(Q_NOT);
		x->k[x->nk++] = rand_text(r);
		q->k[q->nk++] = x;
		return q;
	default: /* a (b OR -filter) */
		q = qnew(Q_AND);
		q->k[q->nk++] = rand_text(r);
		x = qnew(Q_OR);
		x->k[x->nk++] = rand_text(r);
		mq *n = qnew(Q_NOT);
		n->k[n->nk++] = rand_filter(r, m);
		x->k[x->nk++] = n;
		q->k[q->nk++] = x;
		return q;
	}
}

static size_t qprint(const mq *q, const model *m, char *out, size_t cap, int fts)
{
	char w1[8], w2[8], id[CONVLOG_UUID_STRLEN], d[16];
	size_t n = 0;

	vocab(q->a, w1);
	vocab(q->b, w2);
	switch (q->kind) {
	case Q_TERM: return (size_t)snprintf(out, cap, "%s", w1);
	case Q_PHRASE: return (size_t)snprintf(out, cap, "\"%s %s\"", w1, w2);
	case Q_PREFIX: return (size_t)snprintf(out, cap, "%.2s*", w1);
	case Q_ROLE: return (size_t)snprintf(out, cap, "role:%s", roles[q->a]);
	case Q_MODEL: return (size_t)snprintf(out, cap, "model:%s", models[q->a]);
	case Q_USER: return (size_t)snprintf(out, cap, "user:u%d", q->a);
	case Q_SESSION: return (size_t)snprintf(out, cap, "session:s%d", q->a);
	case Q_TAG: return (size_t)snprintf(out, cap, "tag:\"t %d\"", q->a);
	case Q_CONV:
		convlog_uuid_format(&m->conv[q->a], id);
		return (size_t)snprintf(out, cap, "conv:%s", id);
	case Q_AFTER:
	case Q_BEFORE: {
		time_t s = (time_t)(q->t / 1000);
		struct tm tm;
		gmtime_r(&s, &tm);
		strftime(d, sizeof(d), "%Y-%m-%d", &tm);
		return (size_t)snprintf(out, cap, "%s:%s", q->kind == Q_AFTER ? "after" : "before", d);
	}
	case Q_NOT:
		n = (size_t)snprintf(out, cap, fts ? "NOT (" : "-(");
		n += qprint(q->k[0], m, out + n, cap - n, fts);
		return n + (size_t)snprintf(out + n, cap - n, ")");
	case Q_AND:
	case Q_OR:
		for (int i = 0; i < q->nk; i++) {
			if (i)
				n += (size_t)snprintf(out + n, cap - n, "%s",
						      q->kind == Q_OR ? " OR " : (fts && q->k[i]->kind == Q_NOT ? " " : " AND "));
			n += (size_t)snprintf(out + n, cap - n, "(");
			n += qprint(q->k[i], m, out + n, cap - n, fts);
			n += (size_t)snprintf(out + n, cap - n, ")");
		}
		return n;
	}
	return 0;
}

static int has_word(const mdoc *d, int w)
{
	for (int i = 0; i < d->nw; i++)
		if (d->w[i] == w)
			return 1;
	return 0;
}

static int eval(const mq *q, const model *m, const mdoc *d)
{
	char w[8];

	switch (q->kind) {
	case Q_TERM: return has_word(d, q->a);
	case Q_PHRASE:
		for (int i = 0; i + 1 < d->nw; i++)
			if (d->w[i] == q->a && d->w[i + 1] == q->b)
				return 1;
		return 0;
	case Q_PREFIX:
		vocab(q->a, w);
		for (int i = 0; i < d->nw; i++) {
			char x[8];
			vocab(d->w[i], x);
			if (!strncmp(x, w, 2))
				return 1;
		}
		return 0;
	case Q_ROLE: return d->role == q->a;
	case Q_MODEL: return d->model == q->a;
	case Q_USER: return m->user[d->conv] == q->a;
	case Q_SESSION: return m->session[d->conv] == q->a;
	case Q_TAG: return m->tag[d->conv] == q->a;
	case Q_CONV: return d->conv == q->a;
	case Q_AFTER: return d->at >= q->t;
	case Q_BEFORE: return d->at < q->t;
	case Q_NOT: return !eval(q->k[0], m, d);
	case Q_AND:
		for (int i = 0; i < q->nk; i++)
			if (!eval(q->k[i], m, d))
				return 0;
		return 1;
	case Q_OR:
		for (int i = 0; i < q->nk; i++)
			if (eval(q->k[i], m, d))
				return 1;
		return 0;
	}
	return 0;
}

static int cmp_ref(const void *a, const void *b)
{
	const hitref *x = a, *y = b;
	int c = memcmp(x->conv.bytes, y->conv.bytes, 16);

	return c ? c : (x->seq < y->seq ? -1 : x->seq > y->seq);
}

static void check_query(const model *m, const mq *q, uint64_t *r)
{
	static hitref got[MAXDOC], want[MAXDOC];
	char qs[512];
	size_t nw = 0, ng;
	int group = tu_rand(r) % 4 == 0, deleted = tu_rand(r) % 5 == 0;
	int order = tu_rand(r) % 4 == 0 ? CONVLOG_SEARCH_NEWEST : CONVLOG_SEARCH_RELEVANCE;

	qprint(q, m, qs, sizeof(qs), 0);
	for (int i = 0; i < m->ndocs; i++) {
		const mdoc *d = &m->docs[i];
		if ((m->deleted[d->conv] && !deleted) || !eval(q, m, d))
			continue;
		want[nw].conv = m->conv[d->conv];
		want[nw++].seq = group ? 0 : d->seq;
	}
	ng = search_all(qs, order, group, deleted, 1 + (uint32_t)(tu_rand(r) % 40), got, MAXDOC);
	if (group) {
		/* one hit per conversation: compare conversations */
		for (size_t i = 0; i < ng; i++)
			got[i].seq = 0;
		qsort(want, nw, sizeof(*want), cmp_ref);
		size_t k = 0;
		for (size_t i = 0; i < nw; i++)
			if (!k || cmp_ref(&want[k - 1], &want[i]))
				want[k++] = want[i];
		nw = k;
	}
	qsort(got, ng, sizeof(*got), cmp_ref);
	if (!group)
		qsort(want, nw, sizeof(*want), cmp_ref);
	for (size_t i = 1; i < ng; i++)
		ck_assert_msg(cmp_ref(&got[i - 1], &got[i]), "%s: a hit appears twice (paging?)", qs);
	ck_assert_msg(ng == nw, "%s (group %d deleted %d): %zu hits, model says %zu", qs, group,
		      deleted, ng, nw);
	for (size_t i = 0; i < nw; i++)
		ck_assert_msg(!cmp_ref(&got[i], &want[i]), "%s: hit sets differ", qs);
}

static void model_append(model *m, int c, uint64_t *r)
{
	mdoc *d = &m->docs[m->ndocs++];
	char text[1024];

	d->conv = c;
	random_words(d, r);
	d->role = (int)(tu_rand(r) % 3);
	d->model = (int)(tu_rand(r) % 3);
	d->at = T0 + (int64_t)m->ndocs * 5 * HOUR_MS;
	doc_text(d, text, sizeof(text), r);
	d->seq = put(&m->conv[c], roles[d->role], models[d->model], text, d->at);
	ck_assert_uint_eq(d->seq, ++m->nseq[c]);
}

static void model_edit(model *m, uint64_t *r)
{
	mdoc *d = &m->docs[tu_rand(r) % (uint64_t)m->ndocs];
	char text[1024];

	if (m->deleted[d->conv])
		return;
	random_words(d, r);
	doc_text(d, text, sizeof(text), r);
	edit(&m->conv[d->conv], d->seq, text);
}

START_TEST(test_search__random_operations_match_the_model)
{
	static model m;
	uint64_t r = 0x5eed + (uint64_t)_i;
	static const char *tagnames[] = {"t 0", "t 1", "t 2"};

	memset(&m, 0, sizeof(m));
	for (int c = 0; c < NCONV; c++) {
		char u[8], s[8];
		m.user[c] = (int)(tu_rand(&r) % 3);
		m.session[c] = (int)(tu_rand(&r) % 3);
		m.tag[c] = (int)(tu_rand(&r) % 3);
		snprintf(u, sizeof(u), "u%d", m.user[c]);
		snprintf(s, sizeof(s), "s%d", m.session[c]);
		m.conv[c] = mkconv(u, s, &tagnames[m.tag[c]], 1);
	}
	for (int step = 0; step < 1400; step++) {
		uint64_t op = tu_rand(&r) % 100;
		int c = (int)(tu_rand(&r) % NCONV);
		if (op < 70 && m.ndocs < MAXDOC) {
			if (!m.deleted[c])
				model_append(&m, c, &r);
		} else if (op < 82 && m.ndocs) {
			model_edit(&m, &r);
		} else if (op < 84) {
			if (m.deleted[c])
				CK_OK(convlog_conv_restore(db, NULL, &m.conv[c]));
			else
				CK_OK(convlog_conv_delete(db, NULL, &m.conv[c]));
			m.deleted[c] = !m.deleted[c];
		} else if (op < 86) {
			CK_OK(convlog_checkpoint(db));
		} else if (op < 87) {
			reopen();
		} else if (op == 87) {
			CK_OK(convlog_index_merge(db, tu_rand(&r) % 2 ? CONVLOG_MERGE_ALL : 0));
		} else if (op == 88 && tu_rand(&r) % 4 == 0) {
			CK_OK(convlog_reindex(db, NULL));
		} else if (m.ndocs) {
			check_query(&m, rand_query(&r, &m), &r);
		}
	}
	reopen();
	for (int i = 0; i < 60; i++)
		check_query(&m, rand_query(&r, &m), &r);
	tu_verify_clean(db);
}
END_TEST

/* ====================================================================== */
/* Peer: SQLite FTS5 on the same corpus                                   */
/* ====================================================================== */

static const char *words[] = {
	"the", "of", "and", "to", "in", "is", "you", "that", "it", "for", "was", "on", "are",
	"with", "as", "his", "they", "be", "at", "one", "have", "this", "from", "or", "had",
	"by", "word", "but", "what", "some", "we", "can", "out", "other", "were", "all", "there",
	"when", "up", "use", "your", "how", "said", "an", "each", "she", "which", "do", "their",
	"time", "if", "will", "way", "about", "many", "then", "them", "write", "would", "like",
	"so", "these", "her", "long", "make", "thing", "see", "him", "two", "has", "look", "more",
	"day", "could", "go", "come", "did", "number", "sound", "no", "most", "people", "my",
	"over", "know", "water", "than", "call", "first", "who", "may", "down", "side", "been",
	"now", "find", "any", "new", "work", "part", "take", "get", "place", "made", "live",
	"where", "after", "back", "little", "only", "round", "man", "year", "came", "show",
	"every", "good", "me", "give", "our", "under", "name", "very", "through", "just", "form",
	"sentence", "great", "think", "say", "help", "low", "line", "differ", "turn", "cause",
	"much", "mean", "before", "move", "right", "boy", "old", "too", "same", "tell", "does",
	"set", "three", "want", "air", "well", "also", "play", "small", "end", "put", "home",
	"read", "hand", "port", "large", "spell", "add", "even", "land", "here", "must", "big",
	"high", "such", "follow", "act", "why", "ask", "men", "change", "went", "light", "kind",
	"off", "need", "house", "picture", "try", "us", "again", "animal", "point", "mother",
	"world", "near", "build", "self", "earth", "father", "head", "stand", "own", "page",
	"should", "country", "found", "answer", "school", "grow", "study", "still", "learn",
	"plant", "cover", "food", "sun", "four", "between", "state", "keep", "eye", "never",
	"last", "let", "thought", "city", "tree", "cross", "farm", "hard", "start", "might",
	"story", "saw", "far", "sea", "draw", "left", "late", "run", "while", "press", "close",
	"night", "real", "life", "few", "north", "open", "seem", "together", "next", "white",
	"children", "begin", "got", "walk", "example", "ease", "paper", "group", "always",
	"music", "those", "both", "mark", "often", "letter", "until", "mile", "river", "car",
	"feet", "care", "second", "book", "carry", "took", "science", "eat", "room", "friend",
	"began", "idea", "fish", "mountain", "stop", "once", "base", "hear", "horse", "cut",
	"sure", "watch", "color", "face", "wood", "main", "enough", "plain", "girl", "usual",
	"young", "ready", "above", "ever", "red", "list", "though", "feel", "talk", "bird",
	"soon", "body", "dog", "family", "direct", "pose", "leave", "song", "measure", "door",
	"product", "black", "short", "numeral", "class", "wind", "question", "happen",
	"complete", "ship", "area", "half", "rock", "order", "fire", "south", "problem", "piece",
	"told", "knew", "pass", "since", "top", "whole", "king", "space", "heard", "best",
	"hour", "better", "true", "during", "hundred", "five", "remember", "step", "early",
	"hold", "west", "ground", "interest", "reach", "fast", "verb", "sing", "listen", "six",
	"table", "travel", "less", "morning", "ten", "simple", "several", "vowel", "toward",
	"war", "lay", "against", "pattern", "slow", "center", "love", "person", "money",
	"serve", "appear", "road", "map", "rain", "rule", "govern", "pull", "cold", "notice",
	"voice", "unit", "power", "town", "fine", "certain", "fly", "fall", "lead", "cry", "dark",
	"machine", "note", "wait", "plan", "figure", "star", "box", "noun", "field", "rest",
	"correct", "able", "pound", "done", "beauty", "drive", "stood", "contain", "front",
	"teach", "week", "final", "gave", "green", "oh", "quick", "develop", "ocean", "warm",
	"free", "minute", "strong", "special", "mind", "behind", "clear", "tail", "produce",
	"fact", "street", "inch", "multiply", "nothing", "course", "stay", "wheel", "full",
	"force", "blue", "object", "decide", "surface", "deep", "moon", "island", "foot",
	"system", "busy", "test", "record", "boat", "common", "gold", "possible", "plane",
	"stead", "dry", "wonder", "laugh", "thousand", "ago", "ran", "check", "game", "shape",
	"equate", "hot", "miss", "brought", "heat", "snow", "tire", "bring", "yes", "distant",
	"fill", "east", "paint", "language", "among"};
#define NWORDS ((int)(sizeof(words) / sizeof(words[0])))
#define NPEER 3000

static int zipf(uint64_t *r)
{
	double u = (double)(tu_rand(r) % 1000000) / 1000000.0;

	return (int)(pow(u, 2.2) * NWORDS) % NWORDS;
}

static void peer_doc(uint64_t *r, char *out, size_t cap)
{
	int n = 2 + (int)(tu_rand(r) % 60);
	size_t k = 0;

	for (int i = 0; i < n; i++) {
		const char *w = words[zipf(r)];
		const char *sep = i == 0 ? "" : (tu_rand(r) % 9 == 0 ? ", " : (tu_rand(r) % 13 == 0 ? ". " : " "));
		k += (size_t)snprintf(out + k, cap - k, "%s", sep);
		if (tu_rand(r) % 6 == 0 || i == 0) {
			k += (size_t)snprintf(out + k, cap - k, "%c%s", w[0] - 32, w + 1);
		} else {
			k += (size_t)snprintf(out + k, cap - k, "%s", w);
		}
	}
	snprintf(out + k, cap - k, "%s", tu_rand(r) % 3 ? "." : "?");
}

typedef struct peer {
	sqlite3 *sq;
	convlog_uuid conv[NPEER / 50];
	int64_t rowid_of[NPEER / 50][51];
} peer;

static int64_t rowid_for(const peer *p, const convlog_uuid *c, uint32_t seq)
{
	for (int i = 0; i < NPEER / 50; i++)
		if (!memcmp(p->conv[i].bytes, c->bytes, 16))
			return p->rowid_of[i][seq];
	return -1;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void peer_build(peer *p)
{
	uint64_t r = 42;
	char text[2048];
	sqlite3_stmt *st;

	ck_assert_int_eq(sqlite3_open(":memory:", &p->sq), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(p->sq, "CREATE VIRTUAL TABLE t USING fts5(body)", NULL, NULL,
				      NULL),
			 SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(p->sq, "INSERT INTO t(rowid, body) VALUES(?, ?)", -1,
					    &st, NULL),
			 SQLITE_OK);
	for (int c = 0; c < NPEER / 50; c++)
		p->conv[c] = mkconv(NULL, NULL, NULL, 0);
	for (int i = 0; i < NPEER; i++) {
		int c = i / 50;
		peer_doc(&r, text, sizeof(text));
		uint32_t seq = put(&p->conv[c], "user", NULL, text, T0 + i * MIN_MS);
		p->rowid_of[c][seq] = i + 1;
		sqlite3_bind_int64(st, 1, i + 1);
		sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
		ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
		if (i == NPEER / 2)
			CK_OK(convlog_checkpoint(db)); /* half in segments, half in memory */
	}
	sqlite3_finalize(st);
}

/* FTS5 matches: rowids sorted, and the bm25 score of each. */
static size_t fts_match(peer *p, const char *q, int64_t *rows, double *score)
{
	sqlite3_stmt *st;
	size_t n = 0;

	ck_assert_msg(sqlite3_prepare_v2(p->sq, "SELECT rowid, bm25(t) FROM t WHERE t MATCH ? ORDER BY rowid", -1,
					 &st, NULL) == SQLITE_OK,
		      "%s", sqlite3_errmsg(p->sq));
	sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rows[n] = sqlite3_column_int64(st, 0);
		score[n++] = sqlite3_column_double(st, 1);
	}
	ck_assert_msg(rc == SQLITE_DONE, "fts5 '%s': %s", q, sqlite3_errmsg(p->sq));
	sqlite3_finalize(st);
	return n;
}

static double fts_score_of(const int64_t *rows, const double *score, size_t n, int64_t row)
{
	const int64_t *f = bsearch(&row, rows, n, sizeof(*rows), cmp_i64);

	return f ? score[f - rows] : NAN;
}

static mq *peer_text(uint64_t *r)
{
	int k = (int)(tu_rand(r) % 10);
	mq *q = qnew(k < 6 ? Q_TERM : k < 8 ? Q_PHRASE : Q_PREFIX);

	q->a = zipf(r);
	q->b = zipf(r);
	q->three = q->kind == Q_PHRASE && tu_rand(r) % 3 == 0; /* a repeated word */
	return q;
}

static size_t peer_print(const mq *q, char *out, size_t cap, int fts)
{
	size_t n = 0;

	switch (q->kind) {
	case Q_TERM: return (size_t)snprintf(out, cap, "%s", words[q->a]);
	case Q_PHRASE:
		if (q->three)
			return (size_t)snprintf(out, cap, "\"%s %s %s\"", words[q->a], words[q->b],
						words[q->a]);
		return (size_t)snprintf(out, cap, "\"%s %s\"", words[q->a], words[q->b]);
	case Q_PREFIX: return (size_t)snprintf(out, cap, "%.*s*", (int)(strlen(words[q->a]) > 2 ? 2 : 1), words[q->a]);
	case Q_AND:
	case Q_OR:
		for (int i = 0; i < q->nk; i++) {
			int neg = q->k[i]->kind == Q_NOT;
			const mq *k = neg ? q->k[i]->k[0] : q->k[i];
			if (i)
				n += (size_t)snprintf(out + n, cap - n, "%s",
						      neg ? (fts ? " NOT " : " -") : q->kind == Q_OR ? " OR " : " AND ");
			n += (size_t)snprintf(out + n, cap - n, "(");
			n += peer_print(k, out + n, cap - n, fts);
			n += (size_t)snprintf(out + n, cap - n, ")");
		}
		return n;
	}
	return 0;
}

START_TEST(test_search__match_sets_equal_sqlite_fts5)
{
	static peer p;
	static int64_t frows[NPEER], ours[NPEER];
	static double fscore[NPEER];
	static hitref got[NPEER];
	uint64_t r = 7;
	char q1[256], q2[256];

	peer_build(&p);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 150; i++) {
			nq = 0;
			mq *q;
			switch (i % 5) {
			case 0: q = peer_text(&r); break;
			case 1:
			case 2:
				q = qnew(i % 5 == 1 ? Q_AND : Q_OR);
				q->k[q->nk++] = peer_text(&r);
				q->k[q->nk++] = peer_text(&r);
				break;
			case 3:
				q = qnew(Q_AND);
				q->k[q->nk++] = peer_text(&r);
				q->k[q->nk] = qnew(Q_NOT);
				q->k[q->nk++]->k[q->k[1]->nk++] = peer_text(&r);
				break;
			default: {
				q = qnew(Q_AND);
				mq *o = qnew(Q_OR);
				o->k[o->nk++] = peer_text(&r);
				o->k[o->nk++] = peer_text(&r);
				q->k[q->nk++] = o;
				q->k[q->nk++] = peer_text(&r);
			}
			}
			peer_print(q, q1, sizeof(q1), 0);
			peer_print(q, q2, sizeof(q2), 1);
			size_t nf = fts_match(&p, q2, frows, fscore);
			size_t ng = search_all(q1, CONVLOG_SEARCH_RELEVANCE, 0, 0, 1000, got, NPEER);
			for (size_t k = 0; k < ng; k++)
				ours[k] = rowid_for(&p, &got[k].conv, got[k].seq);
			qsort(ours, ng, sizeof(*ours), cmp_i64);
			ck_assert_msg(ng == nf, "'%s' vs FTS5 '%s': %zu hits, FTS5 %zu", q1, q2, ng, nf);
			for (size_t k = 0; k < ng; k++)
				ck_assert_msg(ours[k] == frows[k], "'%s': match sets differ", q1);
			/* BM25 order of single terms and prefixes: the order
			 * depends only on tf and length there, so it must agree
			 * (ties may fall either way: compare FTS5's scores) */
			if (q->kind == Q_TERM || q->kind == Q_PREFIX) {
				size_t top = ng < 10 ? ng : 10;
				sqlite3_stmt *st;
				sqlite3_prepare_v2(p.sq, "SELECT bm25(t) FROM t WHERE t MATCH ? ORDER BY bm25(t) LIMIT 10", -1, &st, NULL);
				sqlite3_bind_text(st, 1, q2, -1, SQLITE_STATIC);
				for (size_t k = 0; k < top; k++) {
					ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
					double want = sqlite3_column_double(st, 0);
					double have = fts_score_of(frows, fscore, nf,
								   rowid_for(&p, &got[k].conv, got[k].seq));
					ck_assert_msg(fabs(want - have) <= 1e-9 * fabs(want) + 1e-12,
						      "'%s': rank %zu has FTS5 score %g, FTS5's rank %zu %g", q1, k + 1,
						      have, k + 1, want);
				}
				sqlite3_finalize(st);
			}
		}
		reopen(); /* the second round: everything in segments */
	}
	sqlite3_close(p.sq);
}
END_TEST

/* ====================================================================== */
/* Features                                                               */
/* ====================================================================== */

START_TEST(test_search__new_messages_are_searchable_at_once_and_after_reopen)
{
	convlog_uuid c = mkconv("alice", NULL, NULL, 0);

	put(&c, "user", NULL, "The quarterly report is late", T0);
	ck_assert_int_eq(search_count("quarterly"), 1);
	CK_OK(convlog_checkpoint(db));
	put(&c, "assistant", NULL, "I will finish the quarterly numbers", T0 + MIN_MS);
	ck_assert_int_eq(search_count("quarterly"), 2); /* a segment and the memtable */
	reopen();                                       /* replay re-indexes the tail */
	ck_assert_int_eq(search_count("quarterly"), 2);
	ck_assert_int_eq(search_count("quarterly numbers"), 1);
	ck_assert_int_eq(search_count("missing"), 0);
}
END_TEST

START_TEST(test_search__edits_replace_the_indexed_version_everywhere)
{
	convlog_uuid c = mkconv(NULL, NULL, NULL, 0);
	uint32_t s1 = put(&c, "user", NULL, "apples and pears", T0);
	uint32_t s2 = put(&c, "user", NULL, "grapes", T0 + 1);

	edit(&c, s1, "bananas only");
	ck_assert_int_eq(search_count("apples"), 0);
	ck_assert_int_eq(search_count("bananas"), 1);
	CK_OK(convlog_checkpoint(db));
	edit(&c, s1, "cherries now"); /* the version in a segment dies */
	ck_assert_int_eq(search_count("bananas"), 0);
	ck_assert_int_eq(search_count("cherries"), 1);
	edit(&c, s2, "plums");
	edit(&c, s2, "figs"); /* twice in one memtable */
	ck_assert_int_eq(search_count("grapes OR plums"), 0);
	ck_assert_int_eq(search_count("figs"), 1);
	reopen();
	ck_assert_int_eq(search_count("apples OR bananas OR grapes OR plums"), 0);
	ck_assert_int_eq(search_count("cherries OR figs"), 2);
	CK_OK(convlog_checkpoint(db));
	reopen(); /* deletions of segment documents come back from text_deleted */
	ck_assert_int_eq(search_count("bananas"), 0);
	ck_assert_int_eq(search_count("cherries"), 1);
}
END_TEST

START_TEST(test_search__deleted_conversations_are_hidden_until_restored)
{
	convlog_uuid a = mkconv(NULL, NULL, NULL, 0), b = mkconv(NULL, NULL, NULL, 0);
	hitref h[8];

	put(&a, "user", NULL, "secret plan alpha", T0);
	put(&b, "user", NULL, "secret plan beta", T0);
	CK_OK(convlog_conv_delete(db, NULL, &a));
	ck_assert_int_eq(search_count("secret"), 1);
	ck_assert_uint_eq(search_all("secret", 0, 0, 1, 10, h, 8), 2);
	CK_OK(convlog_conv_restore(db, NULL, &a));
	ck_assert_int_eq(search_count("secret"), 2);
}
END_TEST

START_TEST(test_search__filters)
{
	static const char *tags[] = {"billing", "code review"};
	convlog_uuid a = mkconv("alice", "s-1", &tags[0], 1), b = mkconv("bob", "s-2", &tags[1], 1);
	char q[128], id[CONVLOG_UUID_STRLEN];

	put(&a, "user", "gpt-4o", "invoice question", T0);
	put(&a, "assistant", "gpt-4o", "invoice answer", T0 + DAY_MS);
	put(&b, "user", NULL, "invoice bug", T0 + 2 * DAY_MS);
	ck_assert_int_eq(search_count("invoice role:user"), 2);
	ck_assert_int_eq(search_count("invoice role:User"), 0); /* exact */
	ck_assert_int_eq(search_count("invoice model:gpt-4o"), 2);
	ck_assert_int_eq(search_count("invoice -model:gpt-4o"), 1);
	ck_assert_int_eq(search_count("invoice user:alice"), 2);
	ck_assert_int_eq(search_count("invoice user:nobody"), 0);
	ck_assert_int_eq(search_count("invoice session:s-2"), 1);
	ck_assert_int_eq(search_count("invoice tag:\"code review\""), 1);
	ck_assert_int_eq(search_count("invoice after:2026-01-02"), 2);
	ck_assert_int_eq(search_count("invoice before:2026-01-02"), 1);
	ck_assert_int_eq(search_count("invoice after:2026-01-02 before:2026-01-03"), 1);
	ck_assert_int_eq(search_count("invoice after:2026-01-02T00:00:00.001Z"), 1);
	convlog_uuid_format(&b, id);
	snprintf(q, sizeof(q), "invoice conv:%s", id);
	ck_assert_int_eq(search_count(q), 1);
	ck_assert_int_eq(search_count("invoice (role:assistant OR user:bob)"), 2);
	CK_OK(convlog_checkpoint(db));
	ck_assert_int_eq(search_count("invoice role:user model:gpt-4o"), 1);
}
END_TEST

START_TEST(test_search__phrases_prefixes_identifiers_and_cjk)
{
	convlog_uuid c = mkconv(NULL, NULL, NULL, 0);

	put(&c, "user", NULL, "Call getUserEmails() then parse user_profile.json", T0);
	put(&c, "user", NULL, "東京都に住んでいます", T0 + 1);
	put(&c, "user", NULL, "Crème brûlée at the Café", T0 + 2);
	put(&c, "user", NULL, "emails for the user", T0 + 3);
	ck_assert_int_eq(search_count("getuseremails"), 1);
	ck_assert_int_eq(search_count("getUserEmails"), 1);
	ck_assert_int_eq(search_count("emails"), 2);
	ck_assert_int_eq(search_count("\"user emails\""), 1); /* the parts are consecutive */
	ck_assert_int_eq(search_count("user_profile.json"), 1);
	ck_assert_int_eq(search_count("profile"), 1);
	ck_assert_int_eq(search_count("京都"), 1);
	ck_assert_int_eq(search_count("東京都"), 1);
	ck_assert_int_eq(search_count("大阪"), 0);
	ck_assert_int_eq(search_count("creme BRULEE cafe"), 1);
	ck_assert_int_eq(search_count("brû*"), 1);
	ck_assert_int_eq(search_count("\"the café\""), 1);
	ck_assert_int_eq(search_count("\"café the\""), 0);
	ck_assert_int_eq(search_count("us*"), 2);
}
END_TEST

START_TEST(test_search__snippets_mark_matches_in_the_best_passage)
{
	convlog_uuid c = mkconv(NULL, NULL, NULL, 0);
	char text[4096];
	size_t n = 0;
	hitref h[2];

	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "filler%d ", i);
	snprintf(text + n, sizeof(text) - n, "the   needle\nsits here\t%s", "and more filler after it");
	put(&c, "user", NULL, text, T0);
	ck_assert_uint_eq(search_all("needle", 0, 0, 0, 10, h, 2), 1);
	ck_assert_msg(strstr(h[0].snippet, "the [needle] sits here"), "%s", h[0].snippet);
	ck_assert_msg(!strncmp(h[0].snippet, "...", 3), "%s", h[0].snippet);
	ck_assert_str_eq(h[0].role, "user");

	convlog_search_query q;
	convlog_search_result *r;
	convlog_search_query_init(&q);
	q.query = "need*";
	q.hl_open = "<b>";
	q.hl_close = "</b>";
	q.snippet_words = 3;
	CK_OK(convlog_search(db, &q, &r));
	ck_assert_uint_eq(r->n_hits, 1);
	ck_assert_msg(strstr(r->hits[0].snippet, "<b>needle</b>"), "%s", r->hits[0].snippet);
	ck_assert_uint_lt(strlen(r->hits[0].snippet), 60);
	convlog_search_result_free(r);
}
END_TEST

START_TEST(test_search__grouping_order_recency_and_paging)
{
	convlog_uuid a = mkconv(NULL, NULL, NULL, 0), b = mkconv(NULL, NULL, NULL, 0);
	hitref h[16];

	put(&a, "user", NULL, "rust rust rust", T0);
	put(&a, "user", NULL, "rust", T0 + DAY_MS);
	put(&b, "user", NULL, "rust and go", T0 + 400 * DAY_MS);
	ck_assert_uint_eq(search_all("rust", 0, 1, 0, 1, h, 16), 2);
	ck_assert_uint_eq(h[0].seq, 1); /* a's best */
	ck_assert_uint_eq(search_all("rust", CONVLOG_SEARCH_NEWEST, 0, 0, 2, h, 16), 3);
	ck_assert(!memcmp(h[0].conv.bytes, b.bytes, 16));

	/* recency lifts the newest message over the better match */
	convlog_search_query q;
	convlog_search_result *r;
	convlog_search_query_init(&q);
	q.query = "rust";
	CK_OK(convlog_search(db, &q, &r));
	ck_assert(!memcmp(r->hits[0].conv_id.bytes, a.bytes, 16));
	convlog_search_result_free(r);
	q.recency_weight = 50;
	q.recency_halflife_days = 30;
	CK_OK(convlog_search(db, &q, &r));
	ck_assert(!memcmp(r->hits[0].conv_id.bytes, b.bytes, 16));
	convlog_search_result_free(r);

	/* a token is bound to its query */
	q.recency_weight = 0;
	q.limit = 1;
	CK_OK(convlog_search(db, &q, &r));
	ck_assert_ptr_nonnull(r->next);
	char *tok = strdup(r->next);
	convlog_search_result_free(r);
	q.query = "go";
	q.after = tok;
	CK_ERR(convlog_search(db, &q, &r), CONVLOG_EINVAL);
	q.after = "s1.zz";
	CK_ERR(convlog_search(db, &q, &r), CONVLOG_EINVAL);
	free(tok);
}
END_TEST

START_TEST(test_search__bad_queries_are_refused_with_a_position)
{
	convlog_search_query q;
	convlog_search_result *r = (void *)1;
	uint32_t at = 0;

	convlog_search_query_init(&q);
	q.query = "alpha (beta";
	CK_ERR(convlog_search(db, &q, &r), CONVLOG_EINVAL);
	ck_assert_ptr_null(r);
	ck_assert_msg(strstr(convlog_errmsg(), "at 6"), "%s", convlog_errmsg());
	CK_ERR(convlog_search_check("alpha (beta", &at), CONVLOG_EINVAL);
	ck_assert_uint_eq(at, 6);
	CK_ERR(convlog_search_check("colour:red x", &at), CONVLOG_EINVAL);
	CK_ERR(convlog_search_check("a after:2026-13-01", &at), CONVLOG_EINVAL);
	CK_ERR(convlog_search_check("bad \xff byte", &at), CONVLOG_EUTF8);
	ck_assert_uint_eq(at, 4);
	CK_OK(convlog_search_check("a OR (b -c) \"d e\" f* role:user", NULL));
	q.query = "!!! ???";
	CK_ERR(convlog_search(db, &q, &r), CONVLOG_EINVAL);
	q.query = "x";
	q.limit = 1001;
	CK_ERR(convlog_search(db, &q, &r), CONVLOG_EINVAL);
	q.limit = 0;
	q.version = 99;
	CK_ERR(convlog_search(db, &q, &r), CONVLOG_EINVAL);
	q.version = CONVLOG_SEARCH_VERSION;
	q.recency_weight = -1;
	CK_ERR(convlog_search(db, &q, &r), CONVLOG_EINVAL);
}
END_TEST

START_TEST(test_search__stemming_is_chosen_per_store)
{
	char p2[256];
	convlog_options *o = opts();
	convlog_db *d2;
	convlog_uuid c;

	CK_ERR(convlog_options_set_stemming(o, "klingon"), CONVLOG_EINVAL);
	CK_OK(convlog_options_set_stemming(o, "english"));
	tu_tmppath(p2, sizeof(p2), "stem");
	d2 = tu_open(p2, o);
	convlog_close(db);
	db = d2;
	c = mkconv(NULL, NULL, NULL, 0);
	put(&c, "user", NULL, "She was running quickly", T0);
	ck_assert_int_eq(search_count("run"), 1);
	ck_assert_int_eq(search_count("runs"), 1);
	ck_assert_int_eq(search_count("runn*"), 1); /* prefixes are not stemmed */
	convlog_close(db);
	/* a different explicit setting is refused; none given: the store's */
	CK_OK(convlog_options_set_stemming(o, "none"));
	CK_ERR(convlog_open(p2, o, &db), CONVLOG_EINVAL);
	convlog_options_free(o);
	o = opts();
	db = tu_open(p2, o);
	convlog_options_free(o);
	ck_assert_int_eq(search_count("running"), 1);
	convlog_close(db);
	tu_rmrf(p2);
	open_db();
}
END_TEST

static uint64_t index_segments(void)
{
	convlog_stats st = {.version = CONVLOG_STATS_VERSION};

	CK_OK(convlog_stats_get(db, &st));
	return st.index_segments;
}

START_TEST(test_search__merges_and_reindex_keep_every_result)
{
	convlog_uuid c = mkconv(NULL, NULL, NULL, 0);
	static hitref before[400], after[400];
	char text[64];
	size_t nb, na;

	for (int i = 0; i < 300; i++) {
		snprintf(text, sizeof(text), "entry %d of batch b%d common", i, i / 10);
		put(&c, "user", NULL, text, T0 + i);
		if (i % 10 == 9)
			CK_OK(convlog_checkpoint(db)); /* a segment per batch */
	}
	for (uint32_t s = 1; s <= 300; s += 7)
		edit(&c, s, "edited common");
	CK_OK(convlog_checkpoint(db));
	nb = search_all("common", 0, 0, 0, 1000, before, 400);
	ck_assert_uint_eq(nb, 300);
	CK_OK(convlog_index_merge(db, CONVLOG_MERGE_ALL));
	ck_assert_uint_eq(index_segments(), 1);
	na = search_all("common", 0, 0, 0, 1000, after, 400);
	ck_assert_uint_eq(na, nb);
	for (size_t i = 0; i < na; i++)
		ck_assert(!cmp_ref(&before[i], &after[i]));
	ck_assert_int_eq(search_count("edited"), 43);
	ck_assert_int_eq(search_count("b0"), 8); /* 10 minus the edited 1 and 8 */
	tu_verify_clean(db);
	reopen();
	ck_assert_int_eq(search_count("edited"), 43);
	/* the dropped versions' text_deleted entries went with them */
	edit(&c, 2, "again common");
	ck_assert_int_eq(search_count("b0"), 7);
	CK_OK(convlog_reindex(db, NULL));
	ck_assert_int_eq(search_count("b0"), 7);
	ck_assert_int_eq(search_count("again"), 1);
	ck_assert_int_eq(search_count("common"), 300);
	tu_verify_clean(db);
	reopen();
	ck_assert_int_eq(search_count("common"), 300);
	/* reindex with stemming switches the store's language */
	CK_OK(convlog_reindex(db, "english"));
	ck_assert_int_eq(search_count("entries"), 300 - 44);
	CK_ERR(convlog_reindex(db, "klingon"), CONVLOG_EINVAL);
	ck_assert_int_eq(search_count("entries"), 300 - 44);
	reopen();
	ck_assert_int_eq(search_count("entries"), 300 - 44);
	tu_verify_clean(db);
}
END_TEST

START_TEST(test_search__read_only_handles_see_the_writers_index)
{
	convlog_uuid c = mkconv(NULL, NULL, NULL, 0);
	convlog_options *o = opts();
	convlog_db *ro, *w = db;

	put(&c, "user", NULL, "written before the reader opened", T0);
	CK_OK(convlog_options_set_open_flags(o, CONVLOG_OPEN_READONLY));
	ro = tu_open(path, o);
	convlog_options_free(o);
	db = ro;
	ck_assert_int_eq(search_count("reader"), 1);
	db = w;
	put(&c, "user", NULL, "the reader sees this after a flush", T0 + 1);
	CK_OK(convlog_checkpoint(db));
	db = ro;
	ck_assert_int_eq(search_count("reader"), 2);
	convlog_close(ro);
	db = w;
}
END_TEST

int main(void)
{
	Suite *s = suite_create("search");
	TCase *tc = tcase_create("search");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, test_search__random_operations_match_the_model, 0, 3);
	tcase_add_test(tc, test_search__match_sets_equal_sqlite_fts5);
	tcase_add_test(tc, test_search__new_messages_are_searchable_at_once_and_after_reopen);
	tcase_add_test(tc, test_search__edits_replace_the_indexed_version_everywhere);
	tcase_add_test(tc, test_search__deleted_conversations_are_hidden_until_restored);
	tcase_add_test(tc, test_search__filters);
	tcase_add_test(tc, test_search__phrases_prefixes_identifiers_and_cjk);
	tcase_add_test(tc, test_search__snippets_mark_matches_in_the_best_passage);
	tcase_add_test(tc, test_search__grouping_order_recency_and_paging);
	tcase_add_test(tc, test_search__bad_queries_are_refused_with_a_position);
	tcase_add_test(tc, test_search__stemming_is_chosen_per_store);
	tcase_add_test(tc, test_search__read_only_handles_see_the_writers_index);
	tcase_add_test(tc, test_search__merges_and_reindex_keep_every_result);
	suite_add_tcase(s, tc);
	return tu_run(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
