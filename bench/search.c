/*
 * search.c - the full-text search scenario: which queries, and the driver
 * that times them against either engine.
 *
 * Query instances come from the workload itself, so that they mean the
 * same at every corpus size:
 *   common  the 10 most frequent words of the vocabulary
 *   phrase  adjacent word pairs taken from generated messages: in each, the
 *           pair of most frequent words not taken yet, both of rank < 100
 *           (frequent words make phrases expensive: long position lists)
 *   prefix  the first 2 or 3 letters of a frequent word, plus '*'
 *   and     two words of rank 100..1999 that occur in one message
 *   rare    a word of rank > 10000 taken from a generated message
 * Only plain lower-case ASCII words separated by one space are taken from
 * messages, so both tokenizers see the same words at the same positions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "bench.h"

const char *const sq_class_names[SQ_CLASSES] = {"common", "phrase", "prefix", "and", "rare"};

#define COMMON_N 10
#define PHRASE_MAX_RANK 100 /* both words of a phrase are this frequent */
#define AND_LO 100
#define AND_HI 2000
#define RARE_MIN 10001
#define MAX_SAMPLES 20000 /* messages looked at per class, at most */
#define MAX_TOKENS 4096

uint64_t sq_key(const uint8_t conv_id[16], uint32_t seq)
{
	uint64_t a, b;

	memcpy(&a, conv_id, 8);
	memcpy(&b, conv_id + 8, 8);
	return mix64(a ^ mix64(b)) + seq;
}

uint64_t sq_key_of_event(const workload *w, uint32_t i)
{
	const wl_event *e = &w->events[i];

	return sq_key(w->convs[e->conv].id, (uint32_t)e->turn + 1);
}

/* ---- word -> rank ---- */

typedef struct rank_map {
	uint32_t cap;
	int32_t *slot; /* rank, -1 empty */
	const workload *w;
} rank_map;

static uint32_t word_hash(const char *s, size_t n)
{
	return (uint32_t)XXH64(s, n, 7);
}

static void rank_map_build(rank_map *m, const workload *w)
{
	m->w = w;
	m->cap = 1;
	while (m->cap < w->n_words * 2)
		m->cap *= 2;
	m->slot = malloc(m->cap * sizeof(*m->slot));
	if (!m->slot)
		bench_die("out of memory for the rank map");
	memset(m->slot, 0xff, m->cap * sizeof(*m->slot));
	for (uint32_t r = 0; r < w->n_words; r++) {
		uint32_t h = word_hash(w->words[r], w->word_len[r]) & (m->cap - 1);
		while (m->slot[h] >= 0)
			h = (h + 1) & (m->cap - 1);
		m->slot[h] = (int32_t)r;
	}
}

/* The rank of a lower-case word, or -1. */
static int32_t rank_of(const rank_map *m, const char *s, size_t n)
{
	uint32_t h = word_hash(s, n) & (m->cap - 1);

	for (; m->slot[h] >= 0; h = (h + 1) & (m->cap - 1)) {
		int32_t r = m->slot[h];
		if (m->w->word_len[r] == n && !memcmp(m->w->words[r], s, n))
			return r;
	}
	return -1;
}

/* ---- plain words of one generated message ---- */

typedef struct token {
	int32_t rank; /* -1: not a plain vocabulary word */
	int follows;  /* separated from the previous token by exactly one ' ' */
} token;

/* Splits at white space; a token is plain when it is all ASCII letters
 * (lower-cased; only the sentence's first letter is ever upper case). */
static uint32_t plain_tokens(const rank_map *m, const char *s, size_t len, token *out)
{
	uint32_t n = 0;
	size_t i = 0;

	while (i < len && n < MAX_TOKENS) {
		size_t start, gap = i;
		char low[64];
		int plain = 1;

		while (i < len && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t'))
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && s[i] != ' ' && s[i] != '\n' && s[i] != '\t') {
			char ch = s[i];
			if (ch >= 'A' && ch <= 'Z')
				ch = (char)(ch - 'A' + 'a');
			if (ch < 'a' || ch > 'z' || i - start >= sizeof(low))
				plain = 0;
			else
				low[i - start] = ch;
			i++;
		}
		out[n].rank = plain ? rank_of(m, low, i - start) : -1;
		out[n].follows = n > 0 && start - gap == 1 && s[gap] == ' ';
		n++;
	}
	return n;
}

/* ---- instances ---- */

static int has_query(char (*list)[SQ_QLEN], uint32_t n, const char *q)
{
	for (uint32_t i = 0; i < n; i++)
		if (!strcmp(list[i], q))
			return 1;
	return 0;
}

/* Adds q as the next instance of class c, or as its warm-up query once the
 * class is full.  Returns 1 when the class (and its warm-up) is complete. */
static int add_query(query_set *qs, int c, const char *q)
{
	if (has_query(qs->q[c], qs->n[c], q) || !strcmp(qs->warm[c], q))
		return 0;
	if (qs->n[c] < SQ_MAX) {
		snprintf(qs->q[c][qs->n[c]++], SQ_QLEN, "%s", q);
		return 0;
	}
	snprintf(qs->warm[c], SQ_QLEN, "%s", q);
	return 1;
}

static void pick_common(const workload *w, query_set *qs)
{
	for (uint32_t r = 0; r < COMMON_N && r < w->n_words; r++)
		snprintf(qs->q[SQ_COMMON][qs->n[SQ_COMMON]++], SQ_QLEN, "%s", w->words[r]);
	snprintf(qs->warm[SQ_COMMON], SQ_QLEN, "%s", w->words[COMMON_N]);
}

static void pick_prefixes(const workload *w, query_set *qs)
{
	char q[SQ_QLEN];
	uint32_t k = 0;

	for (uint32_t r = 0; r < w->n_words; r++) {
		unsigned plen = 2 + (k & 1);
		if (w->word_len[r] <= plen)
			continue;
		snprintf(q, sizeof(q), "%.*s*", (int)plen, w->words[r]);
		if (has_query(qs->q[SQ_PREFIX], qs->n[SQ_PREFIX], q))
			continue;
		k++;
		if (add_query(qs, SQ_PREFIX, q))
			return;
	}
}

/* The phrase of most frequent words in the message not yet taken. */
static int phrase_from(const workload *w, query_set *qs, const token *t, uint32_t n)
{
	int32_t best = -1;
	uint32_t at = 0;
	char q[SQ_QLEN];

	for (uint32_t i = 1; i < n; i++) {
		int32_t hi = t[i].rank > t[i - 1].rank ? t[i].rank : t[i - 1].rank;
		if (!t[i].follows || t[i].rank < 0 || t[i - 1].rank < 0 || hi >= PHRASE_MAX_RANK)
			continue;
		if (best >= 0 && hi >= best)
			continue;
		snprintf(q, sizeof(q), "\"%s %s\"", w->words[t[i - 1].rank], w->words[t[i].rank]);
		if (has_query(qs->q[SQ_PHRASE], qs->n[SQ_PHRASE], q) ||
		    !strcmp(qs->warm[SQ_PHRASE], q))
			continue;
		best = hi;
		at = i;
	}
	if (best < 0)
		return 0;
	snprintf(q, sizeof(q), "\"%s %s\"", w->words[t[at - 1].rank], w->words[t[at].rank]);
	return add_query(qs, SQ_PHRASE, q);
}

/* Words of the message with rank in [lo, hi), each once. */
static uint32_t ranks_in(const token *t, uint32_t n, int32_t lo, int32_t hi, int32_t *out)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < n; i++) {
		int dup = 0;
		if (t[i].rank < lo || t[i].rank >= hi)
			continue;
		for (uint32_t j = 0; j < k; j++)
			dup |= out[j] == t[i].rank;
		if (!dup)
			out[k++] = t[i].rank;
	}
	return k;
}

static int and_from(const workload *w, query_set *qs, const token *t, uint32_t n, rng *r)
{
	static int32_t cand[MAX_TOKENS];
	uint32_t k = ranks_in(t, n, AND_LO, AND_HI, cand), a, b;
	char q[SQ_QLEN], rev[SQ_QLEN];

	if (k < 2)
		return 0;
	a = rng_below(r, k);
	b = (a + 1 + rng_below(r, k - 1)) % k;
	snprintf(q, sizeof(q), "%s %s", w->words[cand[a]], w->words[cand[b]]);
	snprintf(rev, sizeof(rev), "%s %s", w->words[cand[b]], w->words[cand[a]]);
	if (has_query(qs->q[SQ_AND], qs->n[SQ_AND], rev) || !strcmp(qs->warm[SQ_AND], rev))
		return 0;
	return add_query(qs, SQ_AND, q);
}

static int rare_from(const workload *w, query_set *qs, const token *t, uint32_t n, rng *r)
{
	static int32_t cand[MAX_TOKENS];
	uint32_t k = ranks_in(t, n, RARE_MIN, (int32_t)w->n_words, cand);

	if (k == 0)
		return 0;
	return add_query(qs, SQ_RARE, w->words[cand[rng_below(r, k)]]);
}

/* Phrase, AND and rare instances from messages drawn at random. */
static void pick_from_messages(const workload *w, const rank_map *m, query_set *qs, int c)
{
	static char buf[WL_MAX_CONTENT];
	static token t[MAX_TOKENS];
	rng r;

	rng_seed(&r, w->seed, 'Q', (uint64_t)c, 0);
	for (uint32_t s = 0; s < MAX_SAMPLES; s++) {
		uint32_t n;
		wl_msg msg;
		int full;

		wl_corpus_msg(w, rng_below(&r, w->n_msgs), buf, &msg);
		n = plain_tokens(m, msg.content, msg.len, t);
		full = c == SQ_PHRASE ? phrase_from(w, qs, t, n)
		       : c == SQ_AND  ? and_from(w, qs, t, n, &r)
				      : rare_from(w, qs, t, n, &r);
		if (full)
			return;
	}
}

void sq_build(const workload *w, uint32_t runs, uint32_t sanity_cap, query_set *qs)
{
	rank_map m;

	memset(qs, 0, sizeof(*qs));
	qs->runs = runs;
	qs->sanity_cap = sanity_cap;
	rank_map_build(&m, w);
	pick_common(w, qs);
	pick_prefixes(w, qs);
	pick_from_messages(w, &m, qs, SQ_PHRASE);
	pick_from_messages(w, &m, qs, SQ_AND);
	pick_from_messages(w, &m, qs, SQ_RARE);
	free(m.slot);
}

/* ---- the driver ---- */

static void time_class(const query_set *qs, const sq_engine *e, int c, results *r)
{
	search_facts *f = &r->s;
	double total = 0;
	lat l;

	if (!qs->n[c])
		return;
	lat_init(&l, qs->runs);
	for (uint32_t j = 0; j < qs->runs; j++) {
		uint32_t inst = j % qs->n[c];
		sq_hits h;
		double t0, us;

		memset(&h, 0, sizeof(h));
		t0 = now_us();
		e->top(e->ctx, qs->q[c][inst], &h);
		us = now_us() - t0;
		lat_add(&l, us);
		total += us;
		f->hits[c] += h.n;
		f->candidates[c] += h.candidates;
		f->snippet_bytes[c] += h.snippet_bytes;
		if (j < qs->n[c]) {
			f->ntop[c][inst] = h.n;
			memcpy(f->top[c][inst], h.keys, sizeof(h.keys));
		}
	}
	f->mean_us[c] = total / qs->runs;
	res_set(r, M_SEARCH_P50 + 2 * c, lat_pct(&l, 50));
	res_set(r, M_SEARCH_P50 + 2 * c + 1, lat_pct(&l, 95));
	lat_free(&l);
}

void sq_time(const query_set *qs, const sq_engine *e, results *r)
{
	sq_hits h;

	for (int c = 0; c < SQ_CLASSES; c++)
		if (qs->warm[c][0])
			e->top(e->ctx, qs->warm[c], &h);
	for (int c = 0; c < SQ_CLASSES; c++) {
		time_class(qs, e, c, r);
		bench_log("[%s] search %-6s p50 %.0f us, p95 %.0f us (%u instances, %u runs)",
			  e->name, sq_class_names[c], r->v[M_SEARCH_P50 + 2 * c],
			  r->v[M_SEARCH_P50 + 2 * c + 1], qs->n[c], qs->runs);
	}
}

void sq_count(const query_set *qs, const sq_engine *e, results *r)
{
	double t0 = now_us();

	for (int c = 0; c < SQ_CLASSES; c++)
		for (uint32_t i = 0; i < SQ_SANITY && i < qs->n[c]; i++)
			e->count(e->ctx, qs->q[c][i], qs->sanity_cap, &r->s.count[c][i],
				 &r->s.set_hash[c][i]);
	bench_log("[%s] search match counts for the cross-check: %.1f s", e->name,
		  (now_us() - t0) / 1e6);
	r->s.have = 1;
}

void sq_run(const query_set *qs, const sq_engine *e, results *r)
{
	sq_time(qs, e, r);
	sq_count(qs, e, r);
}
