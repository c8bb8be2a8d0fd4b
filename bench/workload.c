/*
 * workload.c - the deterministic corpus.
 *
 * Everything derives from the seed: the text source (an order-2 word
 * Markov model trained on the fortune files when the machine has them,
 * else a Zipfian vocabulary of ~30k synthetic words; CJK and accented
 * words are mixed into some messages either way), ~N/200 users with
 * activity skewed Zipf(0.8), conversations of 10-40 turns that arrive
 * interleaved (a window of `interleave` conversations is open at once, as
 * in a live service), and per-message text that is regenerated on demand
 * from (seed, message index), so the corpus never has to sit in memory and
 * both engines get byte-identical input.  The same seed and the same
 * fortune files give the same corpus.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "bench.h"

const char *const wl_role_names[4] = {"system", "user", "assistant", "tool"};
const char *const wl_models[4] = {"gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet",
				  "llama-3.1-70b"};
/* micro-USD per 100 output tokens, per model */
static const int64_t model_price[4] = {1000, 60, 1500, 90};
static const char *const clients[3] = {"web", "ios", "android"};
static const char *const locales[4] = {"en-US", "de-DE", "ja-JP", "fr-FR"};

#define N_WORDS 30000
#define N_CJK 3000
#define N_ACCENT 3000
#define TS_STEP 2000 /* ms between arrivals, plus jitter below it */

/* ---- random numbers ---- */

uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

void rng_seed(rng *r, uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t x = mix64(seed) ^ mix64(a + 0x1234567ull) ^ mix64(mix64(b) + 77) ^
		     mix64(mix64(mix64(c)) + 991);

	for (int i = 0; i < 4; i++) {
		x = mix64(x);
		r->s[i] = x | (i == 0); /* never all zero */
	}
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t rng_next(rng *r) /* xoshiro256** */
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

uint32_t rng_below(rng *r, uint32_t n)
{
	return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

double rng_unit(rng *r)
{
	return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- alias tables ---- */

/* Fills t from the n weights in p (overwritten): p[i] / sum(p). */
static void alias_weights(alias_table *t, uint32_t n, double *p)
{
	uint32_t *small = malloc(n * sizeof(*small)), *large = malloc(n * sizeof(*large));
	uint32_t ns = 0, nl = 0;
	double sum = 0;

	t->n = n;
	t->prob = malloc(n * sizeof(*t->prob));
	t->alias = malloc(n * sizeof(*t->alias));
	if (!small || !large || !t->prob || !t->alias)
		bench_die("out of memory building a distribution");
	for (uint32_t i = 0; i < n; i++)
		sum += p[i];
	for (uint32_t i = 0; i < n; i++) {
		p[i] = p[i] * n / sum;
		if (p[i] < 1.0)
			small[ns++] = i;
		else
			large[nl++] = i;
	}
	while (ns && nl) {
		uint32_t l = small[--ns], g = large[--nl];
		t->prob[l] = p[l];
		t->alias[l] = g;
		p[g] = (p[g] + p[l]) - 1.0;
		if (p[g] < 1.0)
			small[ns++] = g;
		else
			large[nl++] = g;
	}
	while (nl) {
		uint32_t g = large[--nl];
		t->prob[g] = 1.0;
		t->alias[g] = g;
	}
	while (ns) {
		uint32_t l = small[--ns];
		t->prob[l] = 1.0;
		t->alias[l] = l;
	}
	free(small);
	free(large);
}

void alias_zipf(alias_table *t, uint32_t n, double s)
{
	double *p = malloc(n * sizeof(*p));

	if (!p)
		bench_die("out of memory building a distribution");
	for (uint32_t i = 0; i < n; i++)
		p[i] = 1.0 / pow((double)i + 1.0, s);
	alias_weights(t, n, p);
	free(p);
}

uint32_t alias_sample(const alias_table *t, rng *r)
{
	uint32_t i = rng_below(r, t->n);

	return rng_unit(r) < t->prob[i] ? i : t->alias[i];
}

void alias_free(alias_table *t)
{
	free(t->prob);
	free(t->alias);
	memset(t, 0, sizeof(*t));
}

/* ---- memory ---- */

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		bench_die("out of memory");
	return q;
}

char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d)
		bench_die("out of memory");
	return d;
}

void *grow(void *p, size_t *cap, size_t need, size_t size)
{
	size_t nc = *cap ? *cap : 1024;

	if (need <= *cap)
		return p;
	while (nc < need)
		nc *= 2;
	*cap = nc;
	return xrealloc(p, nc * size);
}

/* ---- vocabulary ---- */

/* Frequent words are short, as in natural text. */
static void make_word(rng *r, uint32_t rank, char *out)
{
	static const char cons[] = "bcdfghjklmnprstvwzbcdklmnprst";
	static const char vow[] = "aeiouaeioy";
	unsigned len = 2 + (unsigned)fmin(9.0, log2((double)rank + 2.0) * 0.6) + rng_below(r, 3);
	int vowel = rng_below(r, 2);
	unsigned i;

	for (i = 0; i < len; i++) {
		out[i] = vowel ? vow[rng_below(r, sizeof(vow) - 1)]
			       : cons[rng_below(r, sizeof(cons) - 1)];
		vowel = rng_below(r, 5) ? !vowel : vowel;
	}
	out[i] = '\0';
}

static int word_seen(char **set, uint32_t cap, const char *w, int insert_if_new,
		     char *to_insert)
{
	uint32_t h = (uint32_t)XXH64(w, strlen(w), 0) & (cap - 1);

	while (set[h]) {
		if (!strcmp(set[h], w))
			return 1;
		h = (h + 1) & (cap - 1);
	}
	if (insert_if_new)
		set[h] = to_insert;
	return 0;
}

static size_t put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	o[0] = (char)(0xe0 | (cp >> 12));
	o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[2] = (char)(0x80 | (cp & 0x3f));
	return 3;
}

/* The synthetic vocabulary: N_WORDS distinct words, Zipf(1.0) by rank. */
static void synthetic_words(workload *w, rng *r)
{
	const uint32_t cap = 1u << 16;
	char **set = calloc(cap, sizeof(*set));
	char buf[64];

	w->n_words = N_WORDS;
	w->words = calloc(N_WORDS, sizeof(*w->words));
	w->word_len = calloc(N_WORDS, 1);
	if (!set || !w->words || !w->word_len)
		bench_die("out of memory for the vocabulary");
	for (uint32_t i = 0; i < N_WORDS; i++) {
		do
			make_word(r, i, buf);
		while (word_seen(set, cap, buf, 0, NULL));
		w->words[i] = xstrdup(buf);
		w->word_len[i] = (uint8_t)strlen(buf);
		word_seen(set, cap, buf, 1, w->words[i]);
	}
	free(set);
	alias_zipf(&w->word_dist, N_WORDS, 1.0);
}

typedef struct plain_word {
	uint64_t count;
	const char *s;
	uint32_t len;
} plain_word;

static int cmp_plain(const void *a, const void *b)
{
	const plain_word *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->s, y->s);
}

/* With the fortune model: its plain words (all ASCII letters, lower-cased),
 * most frequent first, weighted by their counts. */
static void model_words(workload *w)
{
	const wl_markov *m = w->markov;
	strtab pw;
	plain_word *v = NULL;
	size_t vcap = 0;
	char low[MK_TOK_MAX];
	double *p;

	memset(&pw, 0, sizeof(pw));
	for (uint32_t id = MK_EOS + 1; id < m->n_tok; id++) {
		const char *s = m->text + m->tok_off[id];
		uint32_t n = m->tok_len[id], j, k;

		for (j = 0; j < n && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z')); j++)
			low[j] = (char)(s[j] | 0x20);
		if (j < n)
			continue;
		k = strtab_add(&pw, low, n);
		v = grow(v, &vcap, pw.n, sizeof(*v));
		if (k + 1 == pw.n)
			v[k].count = 0;
		v[k].count += m->uni_cum[id] - m->uni_cum[id - 1];
	}
	if (pw.n == 0)
		bench_die("the fortune text has no plain words");
	for (uint32_t k = 0; k < pw.n; k++) {
		v[k].s = pw.text + pw.off[k];
		v[k].len = pw.slen[k];
	}
	qsort(v, pw.n, sizeof(*v), cmp_plain);
	w->n_words = (uint32_t)pw.n;
	w->words = calloc(pw.n, sizeof(*w->words));
	w->word_len = calloc(pw.n, 1);
	p = malloc(pw.n * sizeof(*p));
	if (!w->words || !w->word_len || !p)
		bench_die("out of memory for the vocabulary");
	for (uint32_t k = 0; k < pw.n; k++) {
		w->words[k] = xstrdup(v[k].s);
		w->word_len[k] = (uint8_t)v[k].len;
		p[k] = (double)v[k].count;
	}
	alias_weights(&w->word_dist, w->n_words, p);
	free(p);
	free(v);
	strtab_free(&pw);
}

/* The CJK and accented words mixed into some messages. */
static void foreign_words(workload *w, rng *r)
{
	static const uint32_t accents[] = {0xe9, 0xe8, 0xea, 0xeb, 0xe1, 0xe0, 0xe2, 0xe4,
					   0xed, 0xf3, 0xf6, 0xf4, 0xfa, 0xfc, 0xfb, 0xf1,
					   0xe7, 0xdf, 0xf8, 0xe5};
	char buf[64];

	w->n_cjk = N_CJK;
	w->cjk = calloc(N_CJK, sizeof(*w->cjk));
	w->n_accent = N_ACCENT;
	w->accent = calloc(N_ACCENT, sizeof(*w->accent));
	if (!w->cjk || !w->accent)
		bench_die("out of memory for the vocabulary");
	for (uint32_t i = 0; i < N_CJK; i++) {
		size_t n = 0, k = 2 + rng_below(r, 3);
		for (size_t j = 0; j < k; j++)
			n += put_utf8(buf + n, 0x4e00 + rng_below(r, 0x9fa5 - 0x4e00));
		buf[n] = '\0';
		w->cjk[i] = xstrdup(buf);
	}
	for (uint32_t i = 0; i < N_ACCENT; i++) {
		size_t n = 0, k = 3 + rng_below(r, 8);
		for (size_t j = 0; j < k; j++) {
			if (rng_below(r, 4) == 0)
				n += put_utf8(buf + n, accents[rng_below(r, 20)]);
			else
				buf[n++] = (char)('a' + rng_below(r, 26));
		}
		buf[n] = '\0';
		w->accent[i] = xstrdup(buf);
	}
}

static void build_vocab(workload *w)
{
	rng r;

	rng_seed(&r, w->seed, 'V', 0, 0);
	if (w->markov)
		model_words(w);
	else
		synthetic_words(w, &r);
	foreign_words(w, &r);
}

/* ---- text ---- */

typedef struct tbuf {
	char *p;
	size_t len, cap;
} tbuf;

static void tput(tbuf *b, const char *s, size_t n)
{
	if (b->len + n >= b->cap)
		n = b->cap - 1 - b->len;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void tputs(tbuf *b, const char *s)
{
	tput(b, s, strlen(s));
}

typedef struct textmode {
	int cjk, accent;
} textmode;

static const char *pick_word(const workload *w, rng *r, const textmode *tm)
{
	if (tm->cjk && rng_below(r, 100) < 35)
		return w->cjk[rng_below(r, w->n_cjk)];
	if (tm->accent && rng_below(r, 100) < 25)
		return w->accent[rng_below(r, w->n_accent)];
	return w->words[alias_sample(&w->word_dist, r)];
}

static void sentence(const workload *w, rng *r, const textmode *tm, tbuf *b)
{
	static const char *const ends[] = {".", ".", ".", ".", "?", "!", ":"};
	uint32_t n = 4 + rng_below(r, 16);

	for (uint32_t i = 0; i < n; i++) {
		const char *word = pick_word(w, r, tm);
		if (i == 0 && word[0] >= 'a' && word[0] <= 'z') {
			char c = (char)(word[0] - 'a' + 'A');
			tput(b, &c, 1);
			tputs(b, word + 1);
		} else {
			tputs(b, word);
		}
		if (i + 1 < n)
			tputs(b, rng_below(r, 12) == 0 ? ", " : " ");
	}
	tputs(b, ends[rng_below(r, 7)]);
}

/* Appends s[0..n), JSON-escaped when esc (inside a tool result). */
static void put_word(tbuf *b, const char *s, size_t n, int esc)
{
	size_t i = 0;

	for (size_t j = 0; esc && j < n; j++) {
		if (s[j] != '"' && s[j] != '\\')
			continue;
		tput(b, s + i, j - i);
		tput(b, "\\", 1);
		i = j;
	}
	tput(b, s + i, n - i);
}

#define MK_SENT_TOKENS 60 /* a generated sentence stops after this ... */
#define MK_SENT_BYTES 480 /* ... or before this (gen_text leaves 600) */

/* A sentence walked from the fortune model: up to its end, max_tokens
 * tokens or MK_SENT_BYTES bytes; CJK and accented words are mixed in as in
 * sentence(). */
static void mk_sentence(const workload *w, rng *r, const textmode *tm, int esc,
			uint32_t max_tokens, tbuf *b)
{
	const wl_markov *m = w->markov;
	mk_state s = {m->n_pairs, MK_BOS};
	size_t start = b->len;
	uint32_t n = 0;

	for (uint32_t step = 0; n < max_tokens && step < 4 * max_tokens; step++) {
		const char *word;
		size_t len;

		if (tm->cjk && rng_below(r, 100) < 35) {
			word = w->cjk[rng_below(r, w->n_cjk)];
			len = strlen(word);
		} else if (tm->accent && rng_below(r, 100) < 25) {
			word = w->accent[rng_below(r, w->n_accent)];
			len = strlen(word);
		} else {
			uint32_t t = mk_step(m, &s, r);
			if (t == MK_EOS && n)
				break;
			if (t == MK_EOS) { /* an empty sentence: start again */
				s.pair = m->n_pairs;
				s.last = MK_BOS;
				continue;
			}
			word = m->text + m->tok_off[t];
			len = m->tok_len[t];
		}
		if (b->len - start + 2 * len + 1 > MK_SENT_BYTES)
			break;
		if (n++)
			tput(b, " ", 1);
		put_word(b, word, len, esc);
	}
	if (n == 0)
		put_word(b, w->words[0], w->word_len[0], esc);
}

/* A sentence of the corpus's text source. */
static void text_sentence(const workload *w, rng *r, const textmode *tm, int esc, tbuf *b)
{
	if (w->markov)
		mk_sentence(w, r, tm, esc, MK_SENT_TOKENS, b);
	else
		sentence(w, r, tm, b);
}

static const char *ascii_word(const workload *w, rng *r)
{
	return w->words[alias_sample(&w->word_dist, r)];
}

static void code_block(const workload *w, rng *r, tbuf *b)
{
	static const char *const langs[] = {"python", "c", "js", "sql", "bash", ""};
	char line[256];
	uint32_t n = 3 + rng_below(r, 13);

	tputs(b, "```");
	tputs(b, langs[rng_below(r, 6)]);
	tputs(b, "\n");
	for (uint32_t i = 0; i < n; i++) {
		int indent = (int)rng_below(r, 3) * 4;
		switch (rng_below(r, 5)) {
		case 0:
			snprintf(line, sizeof(line), "%*s%s = %s(%s, %u)\n", indent, "",
				 ascii_word(w, r), ascii_word(w, r), ascii_word(w, r),
				 rng_below(r, 1000));
			break;
		case 1:
			snprintf(line, sizeof(line), "%*sif %s > %u:\n", indent, "",
				 ascii_word(w, r), rng_below(r, 100));
			break;
		case 2:
			snprintf(line, sizeof(line), "%*sreturn %s.%s(%s)\n", indent, "",
				 ascii_word(w, r), ascii_word(w, r), ascii_word(w, r));
			break;
		case 3:
			snprintf(line, sizeof(line), "%*sfor %s in %s:\n", indent, "",
				 ascii_word(w, r), ascii_word(w, r));
			break;
		default:
			snprintf(line, sizeof(line), "%*s# %s %s %s\n", indent, "",
				 ascii_word(w, r), ascii_word(w, r), ascii_word(w, r));
			break;
		}
		tputs(b, line);
	}
	tputs(b, "```\n\n");
}

static size_t target_len(rng *r, int role)
{
	double u = rng_unit(r);

	switch (role) {
	case WL_ROLE_USER:
		return 20 + (size_t)(280.0 * u * u);
	case WL_ROLE_ASSISTANT:
		return 300 + (size_t)(3700.0 * pow(u, 1.3));
	case WL_ROLE_SYSTEM:
		return 100 + (size_t)(500.0 * u);
	default:
		return 100 + (size_t)(1400.0 * u * u);
	}
}

/* Fills b with text of about the target length for `role`. */
static void gen_text(const workload *w, rng *r, int role, tbuf *b)
{
	size_t target = target_len(r, role);
	textmode tm = {0, 0};
	uint32_t kind = rng_below(r, 100);
	int code = role == WL_ROLE_ASSISTANT && rng_below(r, 100) < 25;
	size_t code_at = target / 3;
	uint32_t in_par = 0, par_len = 3 + rng_below(r, 4);
	int glue = 0; /* model text: a sentence came right before */

	tm.cjk = kind < 3;
	tm.accent = kind >= 3 && kind < 6;
	if (role == WL_ROLE_TOOL)
		tputs(b, "{\"tool\":\"search\",\"ok\":true,\"result\":\"");
	while (b->len < target && b->len + 600 < b->cap) {
		if (code && b->len >= code_at) {
			if (b->len)
				tputs(b, "\n\n");
			code_block(w, r, b);
			code = 0;
			in_par = 0;
			glue = 0;
			continue;
		}
		/* (synthetic text glues the sentences of non-assistant turns:
		 * kept, for the same corpus as before) */
		if (in_par || (w->markov && glue))
			tputs(b, " ");
		text_sentence(w, r, &tm, role == WL_ROLE_TOOL, b);
		glue = 1;
		if (role == WL_ROLE_ASSISTANT && ++in_par == par_len && b->len < target) {
			tputs(b, "\n\n");
			in_par = 0;
			glue = 0;
			par_len = 3 + rng_below(r, 4);
		}
	}
	if (role == WL_ROLE_TOOL)
		tputs(b, "\"}");
}

/* ---- ids and usage ---- */

static void uuid_v7(uint8_t id[16], char text[37], int64_t ts, rng *r)
{
	uint64_t a = rng_next(r), c = rng_next(r);

	for (int i = 0; i < 6; i++)
		id[i] = (uint8_t)((uint64_t)ts >> (40 - 8 * i));
	id[6] = (uint8_t)(0x70 | (a & 0x0f));
	id[7] = (uint8_t)(a >> 8);
	id[8] = (uint8_t)(0x80 | ((a >> 16) & 0x3f));
	for (int i = 9; i < 16; i++)
		id[i] = (uint8_t)(c >> (8 * (i - 9)));
	snprintf(text, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7], id[8], id[9], id[10],
		 id[11], id[12], id[13], id[14], id[15]);
}

static void usage_fields(const workload *w, rng *r, const wl_conv *c, wl_msg *m)
{
	int64_t tokens = (int64_t)m->len / 4 + 1;

	(void)w;
	m->token_count = tokens;
	m->cost = -1;
	m->latency_ms = -1;
	m->model = NULL;
	switch (m->role) {
	case WL_ROLE_USER:
		m->cost = tokens * model_price[c->model] / 400; /* input: 1/4 */
		break;
	case WL_ROLE_ASSISTANT:
		m->cost = tokens * model_price[c->model] / 100;
		m->latency_ms = 250 + tokens * 12 + rng_below(r, 400);
		m->model = wl_models[c->model];
		break;
	case WL_ROLE_TOOL:
		m->latency_ms = 20 + rng_below(r, 2000);
		break;
	default:
		break;
	}
}

static int64_t event_ts(const workload *w, uint32_t i)
{
	return WL_T0_MS + (int64_t)i * TS_STEP + (int64_t)(mix64(w->seed ^ (i * 0x9e37ull)) % 1000);
}

void wl_corpus_msg(const workload *w, uint32_t i, char *buf, wl_msg *m)
{
	const wl_event *e = &w->events[i];
	const wl_conv *c = &w->convs[e->conv];
	tbuf b = {buf, 0, WL_MAX_CONTENT};
	rng r;

	rng_seed(&r, w->seed, 'M', i, 0);
	memset(m, 0, sizeof(*m));
	m->conv = e->conv;
	m->seq = (uint32_t)e->turn + 1;
	m->role = e->role;
	m->created_at = event_ts(w, i);
	uuid_v7(m->id, m->ids, m->created_at, &r);
	gen_text(w, &r, m->role, &b);
	buf[b.len] = '\0';
	m->content = buf;
	m->len = b.len;
	usage_fields(w, &r, c, m);
}

void wl_append_msg(const workload *w, uint32_t scen, uint32_t thread, uint32_t i, char *buf,
		   wl_msg *m)
{
	tbuf b = {buf, 0, WL_MAX_CONTENT};
	uint32_t k;
	rng r;

	rng_seed(&r, w->seed, 'A', scen, ((uint64_t)thread << 32) | i);
	memset(m, 0, sizeof(*m));
	m->conv = rng_below(&r, w->n_convs);
	k = rng_below(&r, 100);
	m->role = k < 50 ? WL_ROLE_USER : k < 95 ? WL_ROLE_ASSISTANT : WL_ROLE_TOOL;
	uuid_v7(m->id, m->ids,
		event_ts(w, w->n_msgs) + (int64_t)scen * 100000000 + (int64_t)thread * 1000000 + i,
		&r);
	gen_text(w, &r, m->role, &b);
	buf[b.len] = '\0';
	m->content = buf;
	m->len = b.len;
	usage_fields(w, &r, &w->convs[m->conv], m);
}

int wl_edited(const workload *w, uint32_t i)
{
	return mix64(w->seed ^ mix64((uint64_t)i + 0xed17ull)) % 10 == 0;
}

void wl_edit_content(const workload *w, uint32_t i, size_t len, char *buf)
{
	tbuf b = {buf, 0, WL_MAX_CONTENT};
	textmode tm = {0, 0};
	size_t n;
	rng r;

	if (len >= WL_MAX_CONTENT)
		bench_die("wl_edit_content: %zu bytes is too long", len);
	rng_seed(&r, w->seed, 'E', i, 0);
	while (b.len < len && b.len + 600 < b.cap) {
		if (b.len)
			tputs(&b, " ");
		text_sentence(w, &r, &tm, 0, &b);
	}
	/* cut at a character boundary at or before len, pad with spaces */
	n = b.len < len ? b.len : len;
	while (n > 0 && n < b.len && ((unsigned char)buf[n] & 0xc0) == 0x80)
		n--;
	memset(buf + n, ' ', len - n);
	buf[len] = '\0';
}

uint32_t wl_pick_conv(const workload *w, rng *r)
{
	return rng_below(r, w->n_convs);
}

uint32_t wl_pick_user(const workload *w, rng *r)
{
	return alias_sample(&w->user_dist, r);
}

/* ---- the plan: users, conversations, arrival order ---- */

typedef struct slot {
	uint32_t conv, planned, turn;
	int last_role;
} slot;

static void new_conv(workload *w, rng *sr, slot *s)
{
	wl_conv *c = &w->convs[w->n_convs];
	char title[256], meta[160];
	tbuf b = {title, 0, sizeof(title)};
	uint32_t nw = 2 + rng_below(sr, 5);
	rng r;

	rng_seed(&r, w->seed, 'C', w->n_convs, 0);
	c->user = alias_sample(&w->user_dist, &r);
	c->model = (uint8_t)rng_below(&r, 4);
	c->client = (uint8_t)rng_below(&r, 3);
	if (w->markov) { /* the start of a sentence (at most 6 * 41 bytes) */
		textmode tm = {0, 0};
		mk_sentence(w, &r, &tm, 0, nw, &b);
	}
	for (uint32_t i = 0; i < nw && !w->markov; i++) {
		if (i)
			tputs(&b, " ");
		tputs(&b, w->words[alias_sample(&w->word_dist, &r)]);
	}
	title[b.len] = '\0';
	if (title[0] >= 'a' && title[0] <= 'z')
		title[0] = (char)(title[0] - 'a' + 'A');
	c->title = xstrdup(title);
	snprintf(meta, sizeof(meta), "{\"client\":\"%s\",\"locale\":\"%s\",\"app_version\":\"2.%u.%u\"}",
		 clients[c->client], locales[rng_below(&r, 4)], rng_below(&r, 10),
		 rng_below(&r, 20));
	c->metadata = xstrdup(meta);
	s->conv = w->n_convs++;
	s->planned = 10 + rng_below(sr, 31);
	s->turn = 0;
	s->last_role = -1;
}

static int next_role(rng *r, int last)
{
	switch (last) {
	case -1:
		return rng_below(r, 100) < 15 ? WL_ROLE_SYSTEM : WL_ROLE_USER;
	case WL_ROLE_USER:
	case WL_ROLE_TOOL:
		return WL_ROLE_ASSISTANT;
	case WL_ROLE_ASSISTANT:
		return rng_below(r, 100) < 6 ? WL_ROLE_TOOL : WL_ROLE_USER;
	default:
		return WL_ROLE_USER;
	}
}

static void build_users(workload *w)
{
	char name[32];

	w->n_users = w->n_msgs / 200 ? w->n_msgs / 200 : 1;
	w->users = calloc(w->n_users, sizeof(*w->users));
	if (!w->users)
		bench_die("out of memory for users");
	for (uint32_t i = 0; i < w->n_users; i++) {
		snprintf(name, sizeof(name), "user-%06u", i);
		w->users[i] = xstrdup(name);
	}
	alias_zipf(&w->user_dist, w->n_users, 0.8);
}

/* Conversations opened near the end but never given a turn are dropped
 * (the events are renumbered). */
static void drop_empty(workload *w)
{
	uint32_t *map = malloc(w->n_convs * sizeof(*map)), n = 0;

	if (!map)
		bench_die("out of memory");
	for (uint32_t i = 0; i < w->n_convs; i++) {
		if (w->convs[i].nturns == 0) {
			free(w->convs[i].title);
			free(w->convs[i].metadata);
			continue;
		}
		map[i] = n;
		w->convs[n++] = w->convs[i];
	}
	for (uint32_t i = 0; i < w->n_msgs; i++)
		w->events[i].conv = map[w->events[i].conv];
	w->n_convs = n;
	free(map);
}

void wl_build(workload *w, uint64_t seed, uint32_t n_msgs, uint32_t interleave)
{
	uint32_t max_convs = n_msgs / 10 + interleave + 16;
	slot *slots;
	rng sr;

	memset(w, 0, sizeof(*w));
	w->seed = seed;
	w->n_msgs = n_msgs;
	w->interleave = interleave;
	mk_text_source(w);
	build_vocab(w);
	build_users(w);
	w->convs = calloc(max_convs, sizeof(*w->convs));
	w->events = calloc(n_msgs, sizeof(*w->events));
	slots = calloc(interleave, sizeof(*slots));
	if (!w->convs || !w->events || !slots)
		bench_die("out of memory for the workload plan");
	rng_seed(&sr, seed, 'S', 0, 0);
	for (uint32_t k = 0; k < interleave; k++)
		new_conv(w, &sr, &slots[k]);
	for (uint32_t i = 0; i < n_msgs; i++) {
		slot *s = &slots[rng_below(&sr, interleave)];
		wl_conv *c = &w->convs[s->conv];
		int role = next_role(&sr, s->last_role);

		if (s->turn == 0)
			c->created_at = event_ts(w, i);
		c->updated_at = event_ts(w, i);
		w->events[i].conv = s->conv;
		w->events[i].turn = (uint16_t)s->turn;
		w->events[i].role = (uint8_t)role;
		s->last_role = role;
		c->nturns = ++s->turn;
		if (s->turn >= s->planned && role != WL_ROLE_USER && i + 1 < n_msgs)
			new_conv(w, &sr, s);
	}
	drop_empty(w);
	for (uint32_t i = 0; i < w->n_convs; i++) {
		wl_conv *c = &w->convs[i];
		rng r;
		rng_seed(&r, seed, 'I', i, 0);
		uuid_v7(c->id, c->ids, c->created_at, &r);
	}
	free(slots);
}

void wl_digest(workload *w)
{
	static char buf[WL_MAX_CONTENT];
	XXH64_state_t *st = XXH64_createState();
	wl_msg m;

	if (!st)
		bench_die("out of memory");
	XXH64_reset(st, 0);
	w->raw_bytes = 0;
	for (uint32_t i = 0; i < w->n_convs; i++) {
		const wl_conv *c = &w->convs[i];
		XXH64_update(st, c->ids, 36);
		XXH64_update(st, w->users[c->user], strlen(w->users[c->user]));
		XXH64_update(st, c->title, strlen(c->title) + 1);
		XXH64_update(st, c->metadata, strlen(c->metadata) + 1);
		XXH64_update(st, &c->created_at, sizeof(c->created_at));
	}
	for (uint32_t i = 0; i < w->n_msgs; i++) {
		int64_t nums[5];
		wl_corpus_msg(w, i, buf, &m);
		nums[0] = m.seq;
		nums[1] = m.token_count;
		nums[2] = m.cost;
		nums[3] = m.latency_ms;
		nums[4] = m.created_at;
		XXH64_update(st, m.ids, 36);
		XXH64_update(st, w->convs[m.conv].ids, 36);
		XXH64_update(st, wl_role_names[m.role], strlen(wl_role_names[m.role]) + 1);
		XXH64_update(st, m.model ? m.model : "", m.model ? strlen(m.model) + 1 : 1);
		XXH64_update(st, nums, sizeof(nums));
		XXH64_update(st, m.content, m.len);
		w->raw_bytes += m.len;
	}
	w->digest = XXH64_digest(st);
	XXH64_freeState(st);
}

void wl_free(workload *w)
{
	for (uint32_t i = 0; i < w->n_words; i++)
		free(w->words[i]);
	for (uint32_t i = 0; i < w->n_cjk; i++)
		free(w->cjk[i]);
	for (uint32_t i = 0; i < w->n_accent; i++)
		free(w->accent[i]);
	for (uint32_t i = 0; i < w->n_users; i++)
		free(w->users[i]);
	for (uint32_t i = 0; i < w->n_convs; i++) {
		free(w->convs[i].title);
		free(w->convs[i].metadata);
	}
	free(w->words);
	free(w->word_len);
	free(w->cjk);
	free(w->accent);
	free(w->users);
	free(w->convs);
	free(w->events);
	alias_free(&w->word_dist);
	alias_free(&w->user_dist);
	mk_free(w->markov);
	free((void *)w->corpus);
	memset(w, 0, sizeof(*w));
}

/* ---- batches ---- */

static void batch_reserve(wl_batch *b, uint32_t count, size_t more)
{
	if (count > b->cap) {
		wl_msg *nm = realloc(b->m, count * sizeof(*nm));
		if (!nm)
			bench_die("out of memory for a batch");
		b->m = nm;
		b->cap = count;
	}
	if (b->used + more > b->arena_cap) {
		size_t nc = b->arena_cap ? b->arena_cap : 1u << 20;
		while (nc < b->used + more)
			nc *= 2;
		char *na = realloc(b->arena, nc);
		if (!na)
			bench_die("out of memory for a batch");
		b->arena = na;
		b->arena_cap = nc;
	}
}

/* Content pointers are arena offsets while filling; fixed at the end. */
static void batch_add(wl_batch *b, const wl_msg *m, const char *text)
{
	batch_reserve(b, b->n + 1, m->len + 1);
	memcpy(b->arena + b->used, text, m->len + 1);
	b->m[b->n] = *m;
	b->m[b->n].content = (const char *)(uintptr_t)b->used;
	b->used += m->len + 1;
	b->n++;
}

static void batch_fix(wl_batch *b)
{
	for (uint32_t i = 0; i < b->n; i++)
		b->m[i].content = b->arena + (uintptr_t)b->m[i].content;
}

void wl_batch_fill(const workload *w, uint32_t first, uint32_t count, wl_batch *b)
{
	static _Thread_local char buf[WL_MAX_CONTENT];
	wl_msg m;

	b->n = 0;
	b->used = 0;
	batch_reserve(b, count, 0);
	for (uint32_t i = first; i < first + count && i < w->n_msgs; i++) {
		wl_corpus_msg(w, i, buf, &m);
		batch_add(b, &m, buf);
	}
	batch_fix(b);
}

void wl_batch_appends(const workload *w, uint32_t scen, uint32_t thread, uint32_t count,
		      wl_batch *b)
{
	static _Thread_local char buf[WL_MAX_CONTENT];
	wl_msg m;

	b->n = 0;
	b->used = 0;
	batch_reserve(b, count, 0);
	for (uint32_t i = 0; i < count; i++) {
		wl_append_msg(w, scen, thread, i, buf, &m);
		batch_add(b, &m, buf);
	}
	batch_fix(b);
}

void wl_batch_edits(const workload *w, uint32_t *next, uint32_t count, wl_batch *b)
{
	static _Thread_local char buf[WL_MAX_CONTENT], edit[WL_MAX_CONTENT];
	wl_msg m;

	b->n = 0;
	b->used = 0;
	batch_reserve(b, count, 0);
	for (; *next < w->n_msgs && b->n < count; (*next)++) {
		if (!wl_edited(w, *next))
			continue;
		wl_corpus_msg(w, *next, buf, &m);
		wl_edit_content(w, *next, m.len, edit);
		batch_add(b, &m, edit);
	}
	batch_fix(b);
}

void wl_batch_free(wl_batch *b)
{
	free(b->m);
	free(b->arena);
	memset(b, 0, sizeof(*b));
}
