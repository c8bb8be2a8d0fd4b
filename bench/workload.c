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
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		bench_die("out of memory");
	return q;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d)
		bench_die("out of memory");
	return d;
}

/* p with room for `need` elements of `size` bytes (capacity *cap). */
static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
	size_t nc = *cap ? *cap : 1024;

	if (need <= *cap)
		return p;
	while (nc < need)
		nc *= 2;
	*cap = nc;
	return xrealloc(p, nc * size);
}

/* ---- real text: an order-2 word Markov model of the fortune files ---- */

/*
 * Training.  Every regular file directly in the fortune directory and in
 * its subdirectories (languages: de/ ...), except the .dat and .u8 index
 * files, symbolic links and the offensive "off/", is read in sorted path
 * order; fortunes are separated by lines holding only "%".  Overstrikes
 * ("_\bx") keep their last character, control characters go, white space
 * separates tokens, punctuation stays attached to its word, and a token
 * ending in . ! ? or an ellipsis (before closing quotes or brackets) ends a
 * sentence, as does the end of a fortune.
 *
 * Tokens are also normalised where convlog's analyzer and SQLite's
 * unicode61 tokenizer would disagree, since the search scenario compares
 * their match sets: camelCase humps are lower-cased ("McDonald" ->
 * "Mcdonald": convlog splits at humps, FTS5 does not), 'ß' becomes "ss"
 * (convlog's case folding does that, FTS5's does not), and tokens with
 * characters outside Latin-1 letters and common punctuation (mojibake, C1
 * controls) or longer than MK_TOK_MAX bytes are dropped.
 *
 * The model.  Sentences are stored as BOS w1 .. wn EOS.  The pairs (a, b)
 * of adjacent tokens are numbered, grouped by a; each pair lists its
 * successors c as the pairs (b, c) they lead to, so a step of the walk is
 * one sampled index.  A context seen n times with d distinct successors is
 * followed with probability n / (n + beta * d) and otherwise backs off,
 * from the last two tokens to the last one to the token frequencies
 * (Witten-Bell, weighted): rare contexts do not replay the training text
 * verbatim, which would make the corpus unrealistically compressible.
 */

#define MK_BOS 0          /* token 0: start of a sentence (only a context) */
#define MK_EOS 1          /* token 1: end of a sentence (only a successor) */
#define MK_TOK_MAX 40     /* longer tokens (rulers, URLs) are dropped */
#define MK_FILE_MAX (64u << 20)
#define MK_SENT_TOKENS 60 /* a generated sentence stops after this ... */
#define MK_SENT_BYTES 480 /* ... or before this (gen_text leaves 600) */
#define MK_NONE UINT32_MAX
/* Back-off weights (x/16, see wb_pick): below Witten-Bell's 1, so that the
 * text keeps more of the training text's local syntax; verbatim runs stay
 * short all the same (1% of the generated 10-grams occur in the fortunes). */
#define MK_BETA2 4 /* from the last two tokens */
#define MK_BETA1 1 /* from the last one */

typedef struct wl_markov wl_markov;

struct wl_markov {
	uint32_t n_tok, n_pairs, n_tri;
	char *text;          /* token bytes, each NUL-terminated */
	uint32_t *tok_off;   /* n_tok */
	uint8_t *tok_len;    /* n_tok */
	uint32_t *uni_cum;   /* n_tok: cumulative token counts */
	uint32_t *bi_first;  /* n_tok + 1: pairs (a, .) are bi_first[a] ..< bi_first[a + 1] */
	uint32_t *bi_tok;    /* n_pairs + 1: b of pair (a, b); pair n_pairs is (BOS, BOS) */
	uint32_t *bi_cum;    /* n_pairs: cumulative counts within each a */
	uint32_t *tri_first; /* n_pairs + 2: pair p leads to tri_first[p] ..< tri_first[p + 1] */
	uint32_t *tri_pair;  /* n_tri: the pair (b, c) a step moves to */
	uint32_t *tri_cum;   /* n_tri: cumulative counts within each pair */
};

/* Interned strings: id -> bytes, bytes -> id. */
typedef struct strtab {
	char *text;
	size_t len, cap;
	uint32_t *off;
	uint8_t *slen;
	size_t n, ncap;
	uint32_t *slot; /* id + 1; 0: empty */
	uint32_t scap;
} strtab;

static uint32_t strtab_slot(const strtab *t, const char *s, size_t n)
{
	uint32_t h = (uint32_t)XXH64(s, n, 0) & (t->scap - 1);

	for (; t->slot[h]; h = (h + 1) & (t->scap - 1)) {
		uint32_t id = t->slot[h] - 1;
		if (t->slen[id] == n && !memcmp(t->text + t->off[id], s, n))
			break;
	}
	return h;
}

static void strtab_rehash(strtab *t)
{
	t->scap = t->scap ? t->scap * 2 : 1u << 16;
	free(t->slot);
	t->slot = calloc(t->scap, sizeof(*t->slot));
	if (!t->slot)
		bench_die("out of memory");
	for (uint32_t id = 0; id < t->n; id++)
		t->slot[strtab_slot(t, t->text + t->off[id], t->slen[id])] = id + 1;
}

/* The id of s[0..n) (n < 256), added if new. */
static uint32_t strtab_add(strtab *t, const char *s, size_t n)
{
	uint32_t h;

	if (2 * (t->n + 1) > t->scap)
		strtab_rehash(t);
	h = strtab_slot(t, s, n);
	if (t->slot[h])
		return t->slot[h] - 1;
	t->text = grow(t->text, &t->cap, t->len + n + 1, 1);
	if (t->n + 1 > t->ncap) {
		t->off = grow(t->off, &t->ncap, t->n + 1, sizeof(*t->off));
		t->slen = xrealloc(t->slen, t->ncap);
	}
	memcpy(t->text + t->len, s, n);
	t->text[t->len + n] = '\0';
	t->off[t->n] = (uint32_t)t->len;
	t->slen[t->n] = (uint8_t)n;
	t->len += n + 1;
	t->slot[h] = (uint32_t)++t->n;
	return (uint32_t)(t->n - 1);
}

static void strtab_free(strtab *t)
{
	free(t->text);
	free(t->off);
	free(t->slen);
	free(t->slot);
	memset(t, 0, sizeof(*t));
}

typedef struct trainer {
	strtab tok;
	uint32_t *seq; /* BOS w1 .. wn EOS per sentence */
	size_t n_seq, seq_cap;
	int open;      /* a sentence is open */
	char *fortune; /* the fortune being read, cleaned */
	size_t flen, fcap;
	uint64_t words, dropped;
	uint32_t files, skipped;
	XXH64_state_t *digest;
} trainer;

/* Strict UTF-8: the length of the sequence at s[i] and its code point, or
 * 0 if it is not valid. */
static size_t utf8_next(const unsigned char *s, size_t n, size_t i, uint32_t *cp)
{
	unsigned c = s[i];
	size_t k;
	uint32_t v, min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		k = 2, v = c & 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		k = 3, v = c & 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		k = 4, v = c & 0x07, min = 0x10000;
	else
		return 0;
	if (i + k > n)
		return 0;
	for (size_t j = 1; j < k; j++) {
		if ((s[i + j] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i + j] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return k;
}

static int utf8_valid(const unsigned char *s, size_t n)
{
	uint32_t cp;

	for (size_t i = 0, k; i < n; i += k)
		if (!(k = utf8_next(s, n, i, &cp)))
			return 0;
	return 1;
}

/* Characters a token may hold: ASCII, Latin-1 letters, common punctuation. */
static int tok_char_ok(uint32_t cp)
{
	static const uint32_t extra[] = {0xa1, 0xa2, 0xa3, 0xa7, 0xa9, 0xab, 0xb0, 0xb7, 0xbb,
					 0xbf, 0x2013, 0x2014, 0x2015, 0x2018, 0x2019, 0x201a,
					 0x201c, 0x201d, 0x201e, 0x2026, 0x20ac};

	if ((cp > 0x20 && cp < 0x7f) || (cp >= 0xc0 && cp <= 0xff))
		return 1;
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		if (cp == extra[i])
			return 1;
	return 0;
}

/* Letter classes of the characters tok_char_ok admits: 'U', 'L' or 0. */
static int letter_case(uint32_t cp)
{
	if ((cp >= 'A' && cp <= 'Z') || (cp >= 0xc0 && cp <= 0xde && cp != 0xd7))
		return 'U';
	if ((cp >= 'a' && cp <= 'z') || (cp >= 0xdf && cp <= 0xff && cp != 0xf7))
		return 'L';
	return 0;
}

/* Lower-cases every upper-case letter after the first of each letter run
 * that also holds a lower-case one: no camelCase hump is left. */
static void fix_humps(char *s, size_t n)
{
	uint32_t cp;

	for (size_t i = 0, k; i < n;) {
		size_t start = i, first = 0;
		int lower = 0;

		for (; i < n && (k = utf8_next((unsigned char *)s, n, i, &cp)) && letter_case(cp);
		     i += k) {
			lower |= letter_case(cp) == 'L';
			first = first ? first : k;
		}
		for (size_t j = start + first; lower && j < i; j += k) {
			k = utf8_next((unsigned char *)s, n, j, &cp);
			if (letter_case(cp) != 'U')
				continue;
			if (k == 1)
				s[j] = (char)(s[j] + 32);
			else
				s[j + 1] = (char)(s[j + 1] + 0x20); /* U+00C0.. -> U+00E0.. */
		}
		if (i == start)
			i += utf8_next((unsigned char *)s, n, i, &cp);
	}
}

/* The token s[0..n) as the model keeps it, into out (MK_TOK_MAX bytes);
 * 0 to drop it. */
static size_t clean_token(const char *s, size_t n, char *out)
{
	size_t o = 0;
	uint32_t cp;

	for (size_t i = 0, k; i < n; i += k) {
		const char *src = s + i;
		size_t add;

		k = utf8_next((const unsigned char *)s, n, i, &cp);
		add = k;
		if (cp == 0xdf)
			src = "ss", add = 2;
		else if (cp == 0xb4) /* acute accent used as an apostrophe */
			src = "'", add = 1;
		else if (!tok_char_ok(cp))
			return 0;
		if (o + add > MK_TOK_MAX)
			return 0;
		memcpy(out + o, src, add);
		o += add;
	}
	fix_humps(out, o);
	return o;
}

/* Does the token end a sentence: . ! ? or an ellipsis before closers? */
static int ends_sentence(const char *s, size_t n)
{
	static const char *const closers[] = {")", "]", "}", "\"", "'", "*", "_",
					      "\xc2\xbb", "\xe2\x80\x9d", "\xe2\x80\x99"};
	int cut = 1;

	while (n && cut) {
		cut = 0;
		for (size_t i = 0; i < sizeof(closers) / sizeof(closers[0]) && !cut; i++) {
			size_t k = strlen(closers[i]);
			if (n > k && !memcmp(s + n - k, closers[i], k))
				n -= k, cut = 1;
		}
	}
	if (n && (s[n - 1] == '.' || s[n - 1] == '!' || s[n - 1] == '?'))
		return 1;
	return n >= 3 && !memcmp(s + n - 3, "\xe2\x80\xa6", 3);
}

static void seq_push(trainer *t, uint32_t id)
{
	t->seq = grow(t->seq, &t->seq_cap, t->n_seq + 1, sizeof(*t->seq));
	t->seq[t->n_seq++] = id;
}

static void train_token(trainer *t, const char *s, size_t n)
{
	char tok[MK_TOK_MAX];
	size_t k = clean_token(s, n, tok);

	if (!k) {
		t->dropped++;
		return;
	}
	if (!t->open)
		seq_push(t, MK_BOS);
	t->open = 1;
	seq_push(t, strtab_add(&t->tok, tok, k));
	t->words++;
	if (ends_sentence(tok, k)) {
		seq_push(t, MK_EOS);
		t->open = 0;
	}
}

/* Tokens of the fortune read so far; it ends the open sentence. */
static void train_fortune(trainer *t)
{
	const char *f = t->fortune;

	for (size_t i = 0, j; i < t->flen; i = j + 1) {
		for (j = i; j < t->flen && f[j] != ' ' && f[j] != '\n';)
			j++;
		if (j > i)
			train_token(t, f + i, j - i);
	}
	if (t->open)
		seq_push(t, MK_EOS);
	t->open = 0;
	t->flen = 0;
}

static void fortune_put(trainer *t, const void *s, size_t n)
{
	t->fortune = grow(t->fortune, &t->fcap, t->flen + n, 1);
	memcpy(t->fortune + t->flen, s, n);
	t->flen += n;
}

/* Appends one line (valid UTF-8) to the fortune, cleaned. */
static void train_line(trainer *t, const unsigned char *s, size_t n)
{
	size_t start = t->flen;
	uint32_t cp;

	for (size_t i = 0, k; i < n; i += k) {
		k = utf8_next(s, n, i, &cp);
		if (cp == '\b') { /* overstrike: the next character replaces this one */
			while (t->flen > start && ((unsigned char)t->fortune[--t->flen] & 0xc0) == 0x80)
				;
		} else if (cp == '\t' || cp == '\v' || cp == '\f' || cp == 0xa0) {
			fortune_put(t, " ", 1);
		} else if (cp >= 0x20 && cp != 0x7f) {
			fortune_put(t, s + i, k);
		}
	}
	fortune_put(t, "\n", 1);
}

/* Reads one fortune file; a file that is not UTF-8 is skipped. */
static void train_file(trainer *t, const char *dir, const char *rel)
{
	char path[4096];
	unsigned char *buf = NULL;
	size_t n = 0, cap = 0, r;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "rb");
	if (!f)
		bench_die("%s: %s", path, strerror(errno));
	do {
		buf = grow(buf, &cap, n + 65536, 1);
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r && n <= MK_FILE_MAX);
	if (ferror(f))
		bench_die("%s: read error", path);
	fclose(f);
	if (n > MK_FILE_MAX || !utf8_valid(buf, n)) {
		bench_log("workload: %s is %s, skipped", path,
			  n > MK_FILE_MAX ? "too large" : "not UTF-8");
		t->skipped++;
		free(buf);
		return;
	}
	XXH64_update(t->digest, rel, strlen(rel) + 1);
	XXH64_update(t->digest, buf, n);
	for (size_t i = 0, j; i < n; i = j + 1) {
		size_t e;
		for (j = i; j < n && buf[j] != '\n';)
			j++;
		e = j > i && buf[j - 1] == '\r' ? j - 1 : j;
		if (e - i == 1 && buf[i] == '%')
			train_fortune(t);
		else
			train_line(t, buf + i, e - i);
	}
	train_fortune(t);
	t->files++;
	free(buf);
}

typedef struct pathlist {
	char **p;
	size_t n, cap;
} pathlist;

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && !strcmp(s + n - k, suffix);
}

/* The fortune files under root/sub (sub NULL: root itself, whose
 * subdirectories are listed too, except "off"). */
static void list_fortunes(const char *root, const char *sub, pathlist *l)
{
	char path[4096], rel[4096];
	struct dirent *de;
	struct stat st;
	DIR *d;

	snprintf(path, sizeof(path), "%s%s%s", root, sub ? "/" : "", sub ? sub : "");
	d = opendir(path);
	if (!d)
		bench_die("%s: %s", path, strerror(errno));
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(rel, sizeof(rel), "%s%s%s", sub ? sub : "", sub ? "/" : "", de->d_name);
		snprintf(path, sizeof(path), "%s/%s", root, rel);
		if (lstat(path, &st) != 0)
			bench_die("%s: %s", path, strerror(errno));
		if (S_ISDIR(st.st_mode) && !sub && strcmp(de->d_name, "off") != 0)
			list_fortunes(root, rel, l);
		if (!S_ISREG(st.st_mode) || ends_with(rel, ".dat") || ends_with(rel, ".u8"))
			continue;
		l->p = grow(l->p, &l->cap, l->n + 1, sizeof(*l->p));
		l->p[l->n++] = xstrdup(rel);
	}
	closedir(d);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* First k in [lo, hi) with cum[k] > u (cum[hi - 1] > u). */
static uint32_t upper_bound(const uint32_t *cum, uint32_t lo, uint32_t hi, uint32_t u)
{
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (cum[mid] > u)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* The pair (a, b), or MK_NONE. */
static uint32_t mk_pair(const wl_markov *m, uint32_t a, uint32_t b)
{
	uint32_t lo = m->bi_first[a], hi = m->bi_first[a + 1];

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (m->bi_tok[mid] == b)
			return mid;
		if (m->bi_tok[mid] < b)
			lo = mid + 1;
		else
			hi = mid;
	}
	return MK_NONE;
}

/*
 * Sorted (context << 32 | successor) keys -> per-context lists: first[c]
 * (n_ctx + 1 entries), the successors and their cumulative counts within
 * each context.  Returns the number of distinct keys.
 */
static uint32_t count_keys(uint64_t *key, size_t n, uint32_t n_ctx, uint32_t **first,
			   uint32_t **succ, uint32_t **cum)
{
	uint32_t k = 0, c = 0;

	qsort(key, n, sizeof(*key), cmp_u64);
	*first = xrealloc(NULL, ((size_t)n_ctx + 1) * sizeof(**first));
	for (size_t i = 0; i < n; i++)
		k += i == 0 || key[i] != key[i - 1];
	*succ = xrealloc(NULL, (size_t)k * sizeof(**succ));
	*cum = xrealloc(NULL, (size_t)k * sizeof(**cum));
	k = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t ctx = (uint32_t)(key[i] >> 32);
		int same_ctx = i > 0 && (uint32_t)(key[i - 1] >> 32) == ctx;
		if (i > 0 && key[i] == key[i - 1]) {
			(*cum)[k - 1]++;
			continue;
		}
		while (c <= ctx)
			(*first)[c++] = k;
		(*succ)[k] = (uint32_t)key[i];
		(*cum)[k] = (same_ctx ? (*cum)[k - 1] : 0) + 1;
		k++;
	}
	while (c <= n_ctx)
		(*first)[c++] = k;
	return k;
}

/* The tables of the model from the token stream. */
static void mk_tables(const trainer *t, wl_markov *m)
{
	const uint32_t *seq = t->seq;
	uint64_t *key = xrealloc(NULL, t->n_seq * sizeof(*key));
	size_t n = 0;
	uint32_t *first;

	m->n_tok = (uint32_t)t->tok.n;
	m->uni_cum = calloc(m->n_tok, sizeof(*m->uni_cum));
	if (!m->uni_cum)
		bench_die("out of memory");
	for (size_t i = 0; i < t->n_seq; i++)
		m->uni_cum[seq[i]] += seq[i] != MK_BOS;
	for (uint32_t i = 1; i < m->n_tok; i++)
		m->uni_cum[i] += m->uni_cum[i - 1];
	for (size_t i = 0; i + 1 < t->n_seq; i++)
		if (seq[i] != MK_EOS)
			key[n++] = (uint64_t)seq[i] << 32 | seq[i + 1];
	m->n_pairs = count_keys(key, n, m->n_tok, &m->bi_first, &m->bi_tok, &m->bi_cum);
	m->bi_tok = xrealloc(m->bi_tok, ((size_t)m->n_pairs + 1) * sizeof(*m->bi_tok));
	m->bi_tok[m->n_pairs] = MK_BOS;
	n = 0;
	for (size_t i = 0; i + 1 < t->n_seq; i++) {
		uint32_t ctx;
		if (seq[i] == MK_EOS)
			continue;
		ctx = seq[i] == MK_BOS ? m->n_pairs : mk_pair(m, seq[i - 1], seq[i]);
		key[n++] = (uint64_t)ctx << 32 | mk_pair(m, seq[i], seq[i + 1]);
	}
	m->n_tri = count_keys(key, n, m->n_pairs + 1, &first, &m->tri_pair, &m->tri_cum);
	m->tri_first = first;
	free(key);
}

static size_t mk_bytes(const wl_markov *m, size_t text)
{
	return sizeof(*m) + text + (size_t)m->n_tok * (4 + 1 + 4 + 4) + 4 +
	       (size_t)m->n_pairs * (4 + 4 + 4) + 4 + 8 + (size_t)m->n_tri * (4 + 4);
}

/* Trains the model on the fortune files under dir; NULL if there are none. */
static wl_markov *mk_train(workload *w, const char *dir)
{
	trainer t;
	pathlist l = {0};
	wl_markov *m;
	char name[96];

	memset(&t, 0, sizeof(t));
	list_fortunes(dir, NULL, &l);
	qsort(l.p, l.n, sizeof(*l.p), cmp_str);
	t.digest = XXH64_createState();
	if (!t.digest)
		bench_die("out of memory");
	XXH64_reset(t.digest, 0);
	strtab_add(&t.tok, "\001BOS", 4); /* MK_BOS */
	strtab_add(&t.tok, "\001EOS", 4); /* MK_EOS */
	for (size_t i = 0; i < l.n; i++) {
		train_file(&t, dir, l.p[i]);
		free(l.p[i]);
	}
	free(l.p);
	free(t.fortune);
	w->corpus_digest = XXH64_digest(t.digest);
	XXH64_freeState(t.digest);
	if (t.words == 0) {
		strtab_free(&t.tok);
		free(t.seq);
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		bench_die("out of memory");
	mk_tables(&t, m);
	m->text = xrealloc(t.tok.text, t.tok.len);
	m->tok_off = xrealloc(t.tok.off, t.tok.n * sizeof(*m->tok_off));
	m->tok_len = xrealloc(t.tok.slen, t.tok.n);
	w->markov_bytes = mk_bytes(m, t.tok.len);
	free(t.tok.slot);
	free(t.seq);
	snprintf(name, sizeof(name), "fortunes-markov2 (%u files, %" PRIu64 " words)", t.files,
		 t.words);
	w->corpus = xstrdup(name);
	malloc_trim(0); /* the training buffers: out of the engines' RSS after fork */
	if (t.dropped)
		bench_log("workload: %" PRIu64 " fortune tokens dropped (characters outside "
			  "Latin-1 and common punctuation, or longer than %d bytes)",
			  t.dropped, MK_TOK_MAX);
	return m;
}

static void mk_free(wl_markov *m)
{
	if (!m)
		return;
	free(m->text);
	free(m->tok_off);
	free(m->tok_len);
	free(m->uni_cum);
	free(m->bi_first);
	free(m->bi_tok);
	free(m->bi_cum);
	free(m->tri_first);
	free(m->tri_pair);
	free(m->tri_cum);
	free(m);
}

/* Picks the fortune model or the synthetic words, and says which. */
static void text_source(workload *w)
{
	const char *dir = getenv("CONVLOG_BENCH_FORTUNES");
	struct stat st;
	double t0 = now_us();

	int found;

	if (!dir)
		dir = WL_FORTUNE_DIR;
	found = *dir && stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
	if (found)
		w->markov = mk_train(w, dir);
	if (!w->markov) {
		w->corpus = xstrdup("synthetic-zipf");
		w->corpus_digest = 0;
		bench_log("workload: text: synthetic-zipf (%s%s)", *dir ? "no fortune text in " : "",
			  *dir ? dir : "CONVLOG_BENCH_FORTUNES is empty");
		return;
	}
	bench_log("workload: text: %s from %s, training text digest %016" PRIx64
		  "; model %.1f MiB (%u tokens, %u pairs, %u triples), built in %.2f s",
		  w->corpus, dir, w->corpus_digest, (double)w->markov_bytes / 1048576.0,
		  w->markov->n_tok, w->markov->n_pairs, w->markov->n_tri, (now_us() - t0) / 1e6);
}

/* ---- walking the model ---- */

/*
 * Witten-Bell with a weight: with probability n / (n + beta * d), where
 * beta = beta16 / 16, picks one of the d successors in cum[lo, hi) (n
 * observations) into *k and returns 1; else 0 (back off).
 */
static int wb_pick(const uint32_t *cum, uint32_t lo, uint32_t hi, uint32_t beta16, rng *r,
		   uint32_t *k)
{
	uint32_t n, u;

	if (lo == hi)
		return 0;
	n = cum[hi - 1];
	u = rng_below(r, 16 * n + beta16 * (hi - lo));
	if (u >= 16 * n)
		return 0;
	*k = upper_bound(cum, lo, hi, u / 16);
	return 1;
}

typedef struct mk_state {
	uint32_t pair; /* the last two tokens, or MK_NONE */
	uint32_t last; /* the last token */
} mk_state;

static uint32_t mk_step(const wl_markov *m, mk_state *s, rng *r)
{
	uint32_t k, c;

	if (s->pair != MK_NONE &&
	    wb_pick(m->tri_cum, m->tri_first[s->pair], m->tri_first[s->pair + 1], MK_BETA2,
		    r, &k))
		s->pair = m->tri_pair[k];
	else if (wb_pick(m->bi_cum, m->bi_first[s->last], m->bi_first[s->last + 1], MK_BETA1, r,
			 &k))
		s->pair = k;
	else {
		c = upper_bound(m->uni_cum, 0, m->n_tok,
				rng_below(r, m->uni_cum[m->n_tok - 1]));
		s->pair = mk_pair(m, s->last, c);
		s->last = c;
		return c;
	}
	s->last = m->bi_tok[s->pair];
	return s->last;
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
	text_source(w);
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
