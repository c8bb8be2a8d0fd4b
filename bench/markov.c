/*
 * markov.c - the real-text corpus: an order-2 word Markov model trained on
 * the fortune files, and the walk that generates text from it.
 *
 * workload.c decides when to use it (mk_text_source), walks it one token
 * at a time (mk_step) and takes its plain words for the vocabulary; the
 * model is built once by the parent, before the engines fork.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "bench.h"

/* ---- training the model ---- */

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

#define MK_FILE_MAX (64u << 20)
#define MK_NONE UINT32_MAX
/* Back-off weights (x/16, see wb_pick): below Witten-Bell's 1, so that the
 * text keeps more of the training text's local syntax; verbatim runs stay
 * short all the same (1% of the generated 10-grams occur in the fortunes). */
#define MK_BETA2 4 /* from the last two tokens */
#define MK_BETA1 1 /* from the last one */

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

uint32_t strtab_add(strtab *t, const char *s, size_t n)
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

void strtab_free(strtab *t)
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

void mk_free(wl_markov *m)
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

void mk_text_source(workload *w)
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

uint32_t mk_step(const wl_markov *m, mk_state *s, rng *r)
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
