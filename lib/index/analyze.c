/*
 * Text analyzer: UTF-8 text -> normalised terms with positions.
 *
 * One pass over the bytes.  ASCII is classified with a table and folded
 * with arithmetic; only other code points go to utf8proc (category, then
 * NFKC + case fold + mark stripping of that one code point).  Nothing is
 * allocated per call: terms are built in fixed buffers inside the
 * analyzer, since no term outlives CVL_TERM_MAX bytes.
 *
 * A word run (letters, numbers, private use; combining marks continue it)
 * is scanned as an identifier: '_' or '.' between two word characters and
 * camelCase humps start a new part.  Parts are kept until the run ends,
 * because the whole-identifier token goes right after the first part.
 * CJK characters never join a word run; a CJK run is folded into units (a
 * unit absorbs following combining marks, e.g. halfwidth katakana voicing)
 * and emitted as overlapping bigrams from a two-unit window.
 */
#include <libstemmer.h>
#include <string.h>
#include <utf8proc.h>
#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

#include "convlog.h"
#include "index/analyze.h"
#include "util/alloc.h"
#include "util/err.h"

#define MAX_PARTS 64	/* parts kept per identifier; a longer chain is split */
#define FOLD_CPS 32	/* code points from folding one (U+FDFA gives 18) */
#define UNIT_CPS 8	/* code points kept per CJK unit */
#define STEM_CACHE 4096 /* stem cache entries (a power of two) */
#define STEM_WORD 24	/* longest word the stem cache holds */

/* Character classes. */
enum {
	C_WORD = 1,
	C_UPPER = 2,
	C_LOWER = 4,
	C_DIGIT = 8,
	C_JOIN = 16, /* '_' and '.': join identifier parts */
	C_CJK = 32,
	C_MARK = 64 /* Mn, Mc, Me: continue a word, folded away */
};

/* clang-format off */
#define D (C_WORD | C_DIGIT)
#define L (C_WORD | C_LOWER)
#define U (C_WORD | C_UPPER)
#define J C_JOIN
static const uint8_t ascii_class[256] = { /* bytes >= 0x80: 0 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, J, 0,
	D, D, D, D, D, D, D, D, D, D, 0, 0, 0, 0, 0, 0,
	0, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U,
	U, U, U, U, U, U, U, U, U, U, U, 0, 0, 0, 0, J,
	0, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L,
	L, L, L, L, L, L, L, L, L, L, L, 0, 0, 0, 0, 0,
};
#undef D
#undef L
#undef U
#undef J
/* clang-format on */

typedef struct part {
	uint32_t start, end;	      /* source bytes */
	uint8_t len;		      /* folded bytes in text */
	uint8_t full;		      /* a code point did not fit: text was cut */
	uint8_t digit;		      /* contains a number: not stemmed */
	char joiner;		      /* '_' or '.' before this part, 0 after a hump */
	char text[CVL_TERM_MAX + 16]; /* slack for 16-byte stores */
} part;

typedef struct stem_entry {
	uint8_t wlen, slen; /* wlen 0: empty */
	char word[STEM_WORD];
	char stem[STEM_WORD];
} stem_entry;

typedef struct unit {
	int32_t cp[UNIT_CPS];
	int n;
	uint32_t start, end;
} unit;

struct cvl_analyzer {
	struct sb_stemmer *stem;
	stem_entry *stem_cache; /* STEM_CACHE entries when stemming */
	cvl_emit_fn emit;
	void *ud;
	uint32_t pos; /* next position */
	int nparts;   /* parts of the identifier being scanned */
	unit u[2];    /* CJK window: previous, current */
	char tok[2 * CVL_TERM_MAX];
	part parts[MAX_PARTS];
};

/* ---- code points ---- */

/* Strict UTF-8 decode of one code point; *cp = -1 and 1 byte for bad input. */
static uint32_t decode(const uint8_t *s, size_t n, int32_t *cp)
{
	uint8_t c = s[0];
	uint32_t k = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
	int32_t v = c & (0x7F >> k);

	*cp = -1;
	if (c < 0xC2 || c > 0xF4 || n < k)
		return 1;
	for (uint32_t j = 1; j < k; j++) {
		if ((s[j] & 0xC0) != 0x80)
			return 1;
		v = (v << 6) | (s[j] & 0x3F);
	}
	if ((k == 3 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))) ||
	    (k == 4 && (v < 0x10000 || v > 0x10FFFF)))
		return 1;
	*cp = v;
	return k;
}

static uint32_t encode(int32_t cp, char *o)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Longest prefix of text[0..n) of at most max bytes ending on a character boundary. */
static uint32_t cut_utf8(const char *text, uint32_t n, uint32_t max)
{
	if (n <= max)
		return n;
	while (max > 0 && ((uint8_t)text[max] & 0xC0) == 0x80)
		max--;
	return max;
}

/* Hiragana and katakana (incl. halfwidth): their voicing marks are kept. */
static int is_kana(int32_t cp)
{
	return (cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x31F0 && cp <= 0x31FF) ||
	       (cp >= 0xFF65 && cp <= 0xFF9F);
}

/* Han, Hiragana, Katakana, Hangul: indexed as bigrams. */
static int is_cjk(int32_t cp)
{
	if (cp < 0x1100)
		return 0;
	return (cp <= 0x11FF) ||		 /* Hangul Jamo */
	       (cp >= 0x3005 && cp <= 0x3007) || /* 々 〆 〇 */
	       (cp >= 0x3021 && cp <= 0x3029) || /* Hangzhou numerals */
	       (cp >= 0x3038 && cp <= 0x303B) ||
	       (cp >= 0x3040 && cp <= 0x30FF) || /* Hiragana, Katakana */
	       (cp >= 0x3130 && cp <= 0x318F) || /* Hangul compatibility Jamo */
	       (cp >= 0x31F0 && cp <= 0x31FF) || /* Katakana extensions */
	       (cp >= 0x3400 && cp <= 0x4DBF) || /* Extension A */
	       (cp >= 0x4E00 && cp <= 0x9FFF) || /* Unified Ideographs */
	       (cp >= 0xA960 && cp <= 0xA97F) || /* Hangul Jamo Extended-A */
	       (cp >= 0xAC00 && cp <= 0xD7FF) || /* Syllables, Jamo Extended-B */
	       (cp >= 0xF900 && cp <= 0xFAFF) || /* Compatibility Ideographs */
	       (cp >= 0xFF66 && cp <= 0xFF9F) || /* halfwidth Katakana */
	       (cp >= 0xFFA0 && cp <= 0xFFDC) || /* halfwidth Hangul */
	       (cp >= 0x20000 && cp <= 0x3134F); /* Extensions B-G, supplement */
}

/* Code points that NFKC + case folding leave alone (the common CJK ones). */
static int fold_is_identity(int32_t cp)
{
	return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xAC00 && cp <= 0xD7A3) ||
	       (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x3041 && cp <= 0x3096) ||
	       (cp >= 0x30A1 && cp <= 0x30FA) || (cp >= 0x30FC && cp <= 0x30FE) ||
	       (cp >= 0x309D && cp <= 0x309E) || (cp >= 0x20000 && cp <= 0x2A6DF);
}

static unsigned classify(int32_t cp)
{
	unsigned f;

	if (cp < 0)
		return 0;
	if (fold_is_identity(cp))
		return C_WORD | C_CJK;
	switch (utf8proc_category(cp)) {
	case UTF8PROC_CATEGORY_LU:
	case UTF8PROC_CATEGORY_LT:
		f = C_WORD | C_UPPER;
		break;
	case UTF8PROC_CATEGORY_LL:
		f = C_WORD | C_LOWER;
		break;
	case UTF8PROC_CATEGORY_LM:
	case UTF8PROC_CATEGORY_LO:
	case UTF8PROC_CATEGORY_CO:
		f = C_WORD;
		break;
	case UTF8PROC_CATEGORY_ND:
	case UTF8PROC_CATEGORY_NL:
	case UTF8PROC_CATEGORY_NO:
		f = C_WORD | C_DIGIT;
		break;
	case UTF8PROC_CATEGORY_MN:
	case UTF8PROC_CATEGORY_MC:
	case UTF8PROC_CATEGORY_ME:
		return C_MARK;
	default:
		return 0;
	}
	return is_cjk(cp) ? C_WORD | C_CJK : f;
}

/* Class of the code point at s[i] (0 past the end or for a bad byte). */
static inline unsigned peek(const uint8_t *s, size_t len, size_t i, int32_t *cp, uint32_t *n)
{
	if (i >= len) {
		*cp = -1;
		*n = 0;
		return 0;
	}
	if (s[i] < 0x80) {
		*cp = s[i];
		*n = 1;
		return ascii_class[s[i]];
	}
	*n = decode(s + i, len - i, cp);
	return classify(*cp);
}

/* NFKC + case fold (+ strip marks) of one non-ASCII code point into out[FOLD_CPS]. */
static int fold_cp(int32_t cp, int keep_marks, int32_t *out)
{
	utf8proc_option_t o = UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_DECOMPOSE;
	utf8proc_ssize_t n;
	int bc = 0;

	if (fold_is_identity(cp)) {
		out[0] = cp;
		return 1;
	}
	if (!keep_marks)
		o |= UTF8PROC_STRIPMARK;
	n = utf8proc_decompose_char(cp, out, FOLD_CPS, o, &bc);
	if (n < 0 || n > FOLD_CPS)
		return 0;
	return (int)n;
}

/* ---- emitting ---- */

static int emit_term(cvl_analyzer *a, const char *text, uint32_t n, uint32_t pos, uint32_t start,
		     uint32_t end, int whole)
{
	cvl_token t;

	t.text = text;
	t.len = cut_utf8(text, n, CVL_TERM_MAX);
	t.pos = pos;
	t.start = start;
	t.end = end;
	t.whole = whole;
	return a->emit(a->ud, &t);
}

/*
 * Stems text[0..*n) into *out.  Chat vocabulary is Zipfian, so a small
 * direct-mapped cache of recent words saves most calls into the stemmer.
 */
static int stem_word(cvl_analyzer *a, const char *text, uint32_t *n, const char **out)
{
	stem_entry *e = NULL;
	const sb_symbol *r;
	uint32_t h = 2166136261u, k;

	if (*n <= STEM_WORD) {
		for (uint32_t j = 0; j < *n; j++)
			h = (h ^ (uint8_t)text[j]) * 16777619u;
		e = &a->stem_cache[h & (STEM_CACHE - 1)];
		if (e->wlen == *n && memcmp(e->word, text, *n) == 0) {
			*out = e->stem;
			*n = e->slen;
			return 0;
		}
	}
	r = sb_stemmer_stem(a->stem, (const sb_symbol *)text, (int)*n);
	if (!r)
		return cvl_err(CONVLOG_ENOMEM, "analyzer: stemmer out of memory");
	k = (uint32_t)sb_stemmer_length(a->stem);
	if (e && k <= STEM_WORD) {
		e->wlen = (uint8_t)*n;
		e->slen = (uint8_t)k;
		memcpy(e->word, text, *n);
		memcpy(e->stem, r, k);
	}
	*out = (const char *)r;
	*n = k;
	return 0;
}

/* A word or identifier part, stemmed when it is alphabetic and not cut. */
static int emit_part(cvl_analyzer *a, const part *p, uint32_t pos)
{
	const char *text = p->text;
	uint32_t n = p->len;
	int rc;

	if (a->stem && !p->digit && !p->full) {
		rc = stem_word(a, p->text, &n, &text);
		if (rc)
			return rc;
		/* the word as written too, so prefixes match what was written */
		if ((n != p->len || memcmp(text, p->text, n) != 0) &&
		    (rc = emit_term(a, text, n, pos, p->start, p->end, 0)))
			return rc;
		if (n != p->len || memcmp(text, p->text, n) != 0)
			return emit_term(a, p->text, p->len, pos, p->start, p->end, 2);
	}
	return emit_term(a, text, n, pos, p->start, p->end, 0);
}

/* The whole identifier, folded, separators kept; parts [first, last]. */
static int emit_whole(cvl_analyzer *a, int first, int last, uint32_t pos)
{
	char *o = a->tok;
	uint32_t n = 0;

	for (int j = first; j <= last && n < CVL_TERM_MAX; j++) {
		const part *p = &a->parts[j];
		if (j > first && p->joiner)
			o[n++] = p->joiner;
		uint32_t k = cut_utf8(p->text, p->len, CVL_TERM_MAX - n);
		memcpy(o + n, p->text, k);
		n += k;
		if (k < p->len || p->full)
			break;
	}
	return emit_term(a, o, n, pos, a->parts[first].start, a->parts[last].end, 1);
}

/* Emits the identifier scanned so far: first part, whole, other parts. */
static int flush_ident(cvl_analyzer *a)
{
	int first = -1, last = -1, k = 0, rc = 0;
	uint32_t pos = a->pos;

	for (int j = 0; j < a->nparts; j++) {
		if (a->parts[j].len == 0)
			continue;
		if (first < 0)
			first = j;
		last = j;
		k++;
	}
	a->nparts = 0;
	if (k == 0)
		return 0;
	a->pos += (uint32_t)k;
	rc = emit_part(a, &a->parts[first], pos);
	if (rc || k == 1)
		return rc;
	rc = emit_whole(a, first, last, pos);
	for (int j = first + 1; !rc && j <= last; j++) {
		if (a->parts[j].len == 0)
			continue;
		rc = emit_part(a, &a->parts[j], ++pos);
	}
	return rc;
}

/* ---- word runs ---- */

static void part_begin(cvl_analyzer *a, uint32_t start, char joiner)
{
	part *p = &a->parts[a->nparts++];

	p->start = p->end = start;
	p->len = 0;
	p->full = 0;
	p->digit = 0;
	p->joiner = joiner;
}

/* Starts a new part at `start`; a chain past MAX_PARTS becomes a new identifier. */
static int part_next(cvl_analyzer *a, uint32_t start, char joiner)
{
	int rc;

	if (a->nparts == MAX_PARTS) {
		rc = flush_ident(a);
		if (rc)
			return rc;
		joiner = 0;
	}
	part_begin(a, start, joiner);
	return 0;
}

static void part_put(part *p, int32_t cp)
{
	char b[4];
	uint32_t n;

	if (p->full)
		return;
	n = encode(cp, b);
	if (p->len + n > CVL_TERM_MAX) {
		p->full = 1;
		return;
	}
	memcpy(p->text + p->len, b, n);
	p->len = (uint8_t)(p->len + n);
}

static void part_put_folded(part *p, int32_t cp)
{
	int32_t f[FOLD_CPS];
	int n = fold_cp(cp, 0, f);

	for (int j = 0; j < n; j++)
		part_put(p, f[j]);
}

/*
 * Is an upper-case letter, after a letter of class `prev`, the start of a
 * hump?  lower->Upper always; Upper->Upper when a lower-case letter follows
 * ("HTTPServer"), except a plural 's' ending the run ("URLs", "IDs").
 */
static int is_hump(unsigned prev, const uint8_t *s, size_t len, size_t next)
{
	int32_t cp;
	uint32_t n;
	unsigned g;

	if (prev & C_LOWER)
		return 1;
	if (!(prev & C_UPPER))
		return 0;
	g = peek(s, len, next, &cp, &n);
	if (!(g & C_LOWER))
		return 0;
	if (cp != 's')
		return 1;
	g = peek(s, len, next + 1, &cp, &n);
	return (g & C_WORD) && !(g & (C_UPPER | C_CJK));
}

/* Does a joiner followed by s[next] continue an identifier? */
static int joins(const uint8_t *s, size_t len, size_t next)
{
	int32_t cp;
	uint32_t n;
	unsigned g = peek(s, len, next, &cp, &n);

	return (g & C_WORD) && !(g & C_CJK);
}

#if defined(__SSE2__) && defined(__GNUC__)
/* Length of the run of [a-z0-9] at the start of v; ORs its digit bits into *digits. */
static inline unsigned run16(__m128i v, unsigned *digits)
{
	__m128i lo = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('a' - 1)),
				   _mm_cmplt_epi8(v, _mm_set1_epi8('z' + 1)));
	__m128i dg = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
				   _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
	unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(lo, dg));
	unsigned run = (unsigned)__builtin_ctz(~m); /* bit 16 of ~m is set */

	*digits |= (unsigned)_mm_movemask_epi8(dg) & ((1u << run) - 1);
	return run;
}
#endif

/* Appends k source bytes (already folded) at s to the part, cutting at CVL_TERM_MAX. */
static void part_copy(part *p, const uint8_t *s, size_t k)
{
	uint32_t room = CVL_TERM_MAX - p->len;

	if (k > room) {
		k = room;
		p->full = 1;
	}
	memcpy(p->text + p->len, s, k);
	p->len = (uint8_t)(p->len + k);
}

/*
 * Copies the run of ASCII lower-case letters and digits at s[i] into the
 * part (the hot path: nothing to fold); returns where it stops.
 */
static size_t ascii_run(part *p, const uint8_t *s, size_t len, size_t i, unsigned *prev)
{
	size_t j = i, t;
	unsigned digits = 0, f;

#if defined(__SSE2__) && defined(__GNUC__)
	while (j + 16 <= len) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + j));
		unsigned r = run16(v, &digits), room = CVL_TERM_MAX - p->len;
		/* text has 16 bytes of slack: store all, keep the run */
		_mm_storeu_si128((__m128i *)(void *)(p->text + p->len), v);
		if (r > room)
			p->full = 1;
		p->len = (uint8_t)(p->len + (r < room ? r : room));
		j += r;
		if (r < 16)
			goto done;
	}
#endif
	t = j;
	while (j < len && ((f = ascii_class[s[j]]) & (C_LOWER | C_DIGIT))) {
		digits |= f & C_DIGIT;
		j++;
	}
	part_copy(p, s + t, j - t);
#if defined(__SSE2__) && defined(__GNUC__)
done:
#endif
	if (j == i)
		return i;
	p->digit |= digits != 0;
	p->end = (uint32_t)j;
	*prev = ascii_class[s[j - 1]];
	return j;
}

/* Folds the word character cp of class f into the part. */
static void part_add(part *p, int32_t cp, unsigned f, uint32_t end)
{
	if (cp < 0x80)
		part_put(p, (f & C_UPPER) ? cp + 32 : cp);
	else
		part_put_folded(p, cp);
	p->digit |= (f & C_DIGIT) != 0;
	p->end = end;
}

/* Scans the word run starting at *ip (a non-CJK word character). */
static int scan_word(cvl_analyzer *a, const uint8_t *s, size_t len, size_t *ip)
{
	size_t i = *ip;
	unsigned prev = 0, f;
	int32_t cp;
	uint32_t n;
	int rc = 0;
	part *p;

	a->nparts = 0;
	part_begin(a, (uint32_t)i, 0);
	p = &a->parts[0];
	for (;;) {
		i = ascii_run(p, s, len, i, &prev);
		if (i < len && s[i] < 0x80 && !ascii_class[s[i]])
			break; /* the usual end: an ASCII separator */
		f = peek(s, len, i, &cp, &n);
		if (f & C_MARK) {
			i += n;
			p->end = (uint32_t)i;
			continue;
		}
		if (f & C_JOIN) {
			if (!joins(s, len, i + 1))
				break;
			rc = part_next(a, (uint32_t)(i + 1), (char)cp);
			if (rc)
				goto out;
			p = &a->parts[a->nparts - 1];
			prev = 0;
			i++;
			continue;
		}
		if (!(f & C_WORD) || (f & C_CJK))
			break;
		if ((f & C_UPPER) && is_hump(prev, s, len, i + n)) {
			rc = part_next(a, (uint32_t)i, 0);
			if (rc)
				goto out;
			p = &a->parts[a->nparts - 1];
		}
		part_add(p, cp, f, (uint32_t)(i + n));
		prev = f;
		i += n;
	}
	rc = a->nparts == 1 && a->parts[0].len ? emit_part(a, p, a->pos++) : flush_ident(a);
out:
	*ip = i;
	return rc;
}

/* ---- CJK runs ---- */

static int is_combining(int32_t cp)
{
	return !fold_is_identity(cp) && utf8proc_get_property(cp)->combining_class != 0;
}

/* Does the folded code point cp compose with the unit before it? */
static int attaches(const unit *u, int32_t cp)
{
	int32_t last = u->cp[u->n - 1];

	if (is_combining(cp))
		return 1;
	if (cp >= 0x1161 && cp <= 0x1175) /* Hangul vowel after a leading consonant */
		return last >= 0x1100 && last <= 0x1112;
	if (cp >= 0x11A8 && cp <= 0x11C2) /* trailing consonant after an LV syllable */
		return last >= 0xAC00 && last <= 0xD7A3 && (last - 0xAC00) % 28 == 0;
	return 0;
}

/* Appends folded code points to a unit and recomposes it (NFKC's C). */
static void unit_add(unit *u, const int32_t *cp, int k, uint32_t end)
{
	utf8proc_ssize_t n;

	u->end = end;
	for (int j = 0; j < k && u->n < UNIT_CPS; j++)
		u->cp[u->n++] = cp[j];
	if (u->n < 2 || k == 0)
		return;
	n = utf8proc_normalize_utf32(u->cp, u->n, UTF8PROC_COMPOSE);
	if (n > 0)
		u->n = (int)n;
}

/* Emits the current unit alone, or the previous and current units as a bigram. */
static int emit_cjk(cvl_analyzer *a, int bigram)
{
	const unit *first = bigram ? &a->u[0] : &a->u[1];
	uint32_t n = 0;

	for (const unit *u = first; u <= &a->u[1]; u++) {
		for (int j = 0; j < u->n; j++)
			n += encode(u->cp[j], a->tok + n);
	}
	return emit_term(a, a->tok, n, a->pos++, first->start, a->u[1].end, 0);
}

/* Scans the CJK run starting at *ip. */
static int scan_cjk(cvl_analyzer *a, const uint8_t *s, size_t len, size_t *ip)
{
	int32_t cp, f[FOLD_CPS];
	uint32_t n, count = 0;
	size_t i = *ip;
	unsigned c;
	int k, rc = 0;

	for (;; i += n) {
		c = peek(s, len, i, &cp, &n);
		if (!(c & (C_CJK | C_MARK)))
			break;
		k = fold_cp(cp, is_kana(cp), f);
		if ((c & C_MARK) || (k > 0 && count && attaches(&a->u[1], f[0]))) {
			if (count)
				unit_add(&a->u[1], f, k, (uint32_t)(i + n));
			continue;
		}
		if (k == 0 || is_combining(f[0]))
			continue; /* nothing to index, or a mark with nothing to attach to */
		if (count >= 2) {
			rc = emit_cjk(a, 1);
			if (rc)
				goto out;
		}
		a->u[0] = a->u[1];
		a->u[1].n = 0;
		a->u[1].start = (uint32_t)i;
		unit_add(&a->u[1], f, k, (uint32_t)(i + n));
		count++;
	}
	if (count)
		rc = emit_cjk(a, count >= 2);
out:
	*ip = i;
	return rc;
}

/* ---- public ---- */

static int stem_listed(const char *lang)
{
	for (const char **l = sb_stemmer_list(); *l; l++) {
		if (strcmp(*l, lang) == 0)
			return 1;
	}
	return 0;
}

int cvl_analyzer_new(const char *stem_lang, cvl_analyzer **out)
{
	cvl_analyzer *a;

	if (!out)
		return cvl_err(CONVLOG_EINVAL, "analyzer: NULL out");
	*out = NULL;
	a = cvl_calloc(1, sizeof(*a));
	if (!a)
		return cvl_err(CONVLOG_ENOMEM, "analyzer: out of memory");
	if (stem_lang && *stem_lang) {
		a->stem = sb_stemmer_new(stem_lang, "UTF_8");
		if (!a->stem) {
			int listed = stem_listed(stem_lang);
			cvl_free(a);
			if (listed)
				return cvl_err(CONVLOG_ENOMEM, "analyzer: out of memory");
			return cvl_err(CONVLOG_EINVAL, "unknown stemming language '%s'", stem_lang);
		}
		a->stem_cache = cvl_calloc(STEM_CACHE, sizeof(stem_entry));
		if (!a->stem_cache) {
			cvl_analyzer_free(a);
			return cvl_err(CONVLOG_ENOMEM, "analyzer: out of memory");
		}
	}
	*out = a;
	return 0;
}

void cvl_analyzer_free(cvl_analyzer *a)
{
	if (!a)
		return;
	if (a->stem)
		sb_stemmer_delete(a->stem);
	cvl_free(a->stem_cache);
	cvl_free(a);
}

int cvl_analyze(cvl_analyzer *a, const char *text, size_t len, cvl_emit_fn emit, void *ud)
{
	const uint8_t *s = (const uint8_t *)text;
	size_t i = 0;
	int32_t cp;
	uint32_t n;
	unsigned f;
	int rc = 0;

	if (!a || !emit || (!text && len))
		return cvl_err(CONVLOG_EINVAL, "analyze: NULL argument");
	if (len > UINT32_MAX)
		return cvl_err(CONVLOG_ETOOBIG, "analyze: %zu bytes of text, limit 4 GiB", len);
	a->emit = emit;
	a->ud = ud;
	a->pos = 0;
	while (i < len && !rc) {
		if (s[i] < 0x80) {
			if (ascii_class[s[i]] & C_WORD)
				rc = scan_word(a, s, len, &i);
			else
				i++;
			continue;
		}
		f = peek(s, len, i, &cp, &n);
		if (f & C_CJK)
			rc = scan_cjk(a, s, len, &i);
		else if (f & C_WORD)
			rc = scan_word(a, s, len, &i);
		else
			i += n;
	}
	return rc;
}

/* Folds one prefix code point of class c into buf; returns the new count. */
static int prefix_put(int32_t *buf, int nb, int32_t cp, unsigned c)
{
	int32_t f[FOLD_CPS];
	int k, keep;

	if (cp < 0x80) {
		buf[nb++] = (c & C_UPPER) ? cp + 32 : cp;
		return nb;
	}
	keep = is_kana(cp) && (!(c & C_MARK) || (nb > 0 && is_kana(buf[nb - 1])));
	k = fold_cp(cp, keep, f);
	for (int j = 0; j < k; j++)
		buf[nb++] = f[j];
	return nb;
}

size_t cvl_analyze_prefix(cvl_analyzer *a, const char *text, size_t len, char *out, size_t cap)
{
	const uint8_t *s = (const uint8_t *)text;
	int32_t buf[CVL_TERM_MAX + FOLD_CPS], cp;
	size_t i = 0, o = 0, lim = cap < CVL_TERM_MAX ? cap : CVL_TERM_MAX;
	utf8proc_ssize_t nb = 0;
	uint32_t n;
	unsigned c;
	char b[4];

	(void)a;
	if (!text || !out)
		return 0;
	for (; i < len && nb < CVL_TERM_MAX; i += n) {
		c = peek(s, len, i, &cp, &n);
		if (nb == 0 && !(c & C_WORD))
			continue; /* leading separators, joiners, marks, bad bytes */
		if (!(c & (C_WORD | C_MARK | C_JOIN)))
			break;
		nb = prefix_put(buf, (int)nb, cp, c);
	}
	if (nb > 1)
		nb = utf8proc_normalize_utf32(buf, nb, UTF8PROC_COMPOSE);
	for (utf8proc_ssize_t j = 0; j < nb; j++) {
		uint32_t k = encode(buf[j], b);
		if (o + k > lim)
			break;
		memcpy(out + o, b, k);
		o += k;
	}
	if (o < cap)
		out[o] = '\0';
	return o;
}
