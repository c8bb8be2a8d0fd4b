/*
 * Search query parser (query.h): a recursive-descent parser over bytes.
 *
 * The lexer never looks inside UTF-8 sequences: every syntax character is
 * ASCII, and bytes >= 0x80 are word bytes, so multi-byte characters pass
 * through whole.  The parser does not validate UTF-8 (the analyzer treats
 * invalid sequences as separators at search time).
 *
 * Recursion is bounded: each '(' and each NOT/'-' is one level and more
 * than QUERY_MAX_DEPTH levels fail before recursing further, so the stack
 * used is a few frames per level whatever the input.  Trees are at most
 * that deep too, which keeps cvl_query_free's recursion bounded.
 *
 * Every function that fails frees what it built; a partly built tree never
 * escapes.  Errors go through fail(), which records the byte position.
 */
#include <stdio.h>
#include <string.h>

#include "index/query.h"
#include "util/alloc.h"
#include "util/err.h"

#define QUERY_MAX_BYTES 4096
#define QUERY_MAX_DEPTH 64
#define NAME_SHOWN 64 /* longest filter name quoted back in a message */

enum tok { T_END, T_LPAREN, T_RPAREN, T_QUOTE, T_MINUS, T_AND, T_OR, T_NOT, T_WORD };

typedef struct token {
	int kind;       /* enum tok */
	uint32_t start; /* first byte */
	uint32_t end;   /* one past the last byte */
} token;

typedef struct parser {
	const char *q;
	uint32_t len;
	int depth;       /* open '(' and NOT/'-' levels */
	uint32_t pos;    /* next unread byte */
	uint32_t err_at; /* position of the last error */
} parser;

typedef struct kids {
	cvl_qnode **v;
	size_t n, cap;
} kids;

static const struct {
	const char *name;
	int filter;
} filters[] = {
	{"role", CVL_F_ROLE}, {"user", CVL_F_USER},   {"conv", CVL_F_CONV},
	{"session", CVL_F_SESSION}, {"tag", CVL_F_TAG}, {"model", CVL_F_MODEL},
	{"after", CVL_F_AFTER}, {"before", CVL_F_BEFORE},
};

static int parse_or(parser *p, const char *after, cvl_qnode **out);
static int parse_unary(parser *p, const char *after, cvl_qnode **out);

/* Records the position, sets the message, returns code.  A macro, not a
 * variadic function, so that the static analyzers see which code it returns
 * (cvl_err checks the format). */
#define fail(p, code, at, ...) ((p)->err_at = (at), cvl_err((code), __VA_ARGS__))

static int nomem(parser *p)
{
	return fail(p, CONVLOG_ENOMEM, p->pos, "out of memory parsing the query");
}

/* ---- lexer ---- */

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int is_word(unsigned char c)
{
	return c != '\0' && !is_space(c) && c != '(' && c != ')' && c != '"';
}

static int word_kind(const char *w, uint32_t n)
{
	if (n == 3 && memcmp(w, "AND", 3) == 0)
		return T_AND;
	if (n == 2 && memcmp(w, "OR", 2) == 0)
		return T_OR;
	if (n == 3 && memcmp(w, "NOT", 3) == 0)
		return T_NOT;
	return T_WORD;
}

/* The next token after any whitespace; consumes nothing. */
static token peek(const parser *p)
{
	const unsigned char *q = (const unsigned char *)p->q;
	token t;
	uint32_t i = p->pos;

	while (i < p->len && is_space(q[i]))
		i++;
	t.start = i;
	t.end = i + 1;
	if (i == p->len) {
		t.kind = T_END;
		t.end = i;
		return t;
	}
	switch (q[i]) {
	case '(': t.kind = T_LPAREN; return t;
	case ')': t.kind = T_RPAREN; return t;
	case '"': t.kind = T_QUOTE; return t;
	case '-': t.kind = T_MINUS; return t;
	default: break;
	}
	while (t.end < p->len && is_word(q[t.end]))
		t.end++;
	t.kind = word_kind(p->q + i, t.end - i);
	return t;
}

/* A quoted run starting at the '"' at `at`: its text is q[*s, *s + *n);
 * consumes through the closing quote. */
static int scan_quoted(parser *p, uint32_t at, uint32_t *s, uint32_t *n)
{
	const char *close = memchr(p->q + at + 1, '"', p->len - at - 1);

	if (!close)
		return fail(p, CONVLOG_EINVAL, at, "unterminated quote at %u", at);
	*s = at + 1;
	*n = (uint32_t)(close - p->q) - *s;
	p->pos = *s + *n + 1;
	return 0;
}

/* ---- nodes ---- */

void cvl_query_free(cvl_qnode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		cvl_query_free(n->kids[i]);
	cvl_free(n->kids);
	cvl_free(n->text);
	cvl_free(n);
}

static int leaf(parser *p, int kind, uint32_t at, uint32_t s, uint32_t n, cvl_qnode **out)
{
	cvl_qnode *node = cvl_calloc(1, sizeof(*node));
	char *text = cvl_malloc((size_t)n + 1);

	if (!node || !text) {
		cvl_free(node);
		cvl_free(text);
		return nomem(p);
	}
	memcpy(text, p->q + s, n);
	text[n] = '\0';
	node->kind = kind;
	node->text = text;
	node->at = at;
	*out = node;
	return 0;
}

static void kids_free(kids *k)
{
	for (size_t i = 0; i < k->n; i++)
		cvl_query_free(k->v[i]);
	cvl_free(k->v);
	k->v = NULL;
	k->n = k->cap = 0;
}

/* Appends `n` (taking it, also on failure); a node of the same `kind` is
 * flattened into its children. */
static int kids_add(parser *p, kids *k, cvl_qnode *n, int kind)
{
	size_t add = n->kind == kind ? n->nkids : 1;

	if (k->n + add > k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 4;
		cvl_qnode **v;

		if (cap < k->n + add)
			cap = k->n + add;
		v = cvl_realloc(k->v, cap * sizeof(*v));
		if (!v) {
			cvl_query_free(n);
			return nomem(p);
		}
		k->v = v;
		k->cap = cap;
	}
	if (n->kind != kind) {
		k->v[k->n++] = n;
		return 0;
	}
	if (add) /* (an empty node has no array to copy from, nor k one to copy to) */
		memcpy(k->v + k->n, n->kids, add * sizeof(*n->kids));
	k->n += add;
	cvl_free(n->kids);
	cvl_free(n->text);
	cvl_free(n);
	return 0;
}

/* One child stands alone; two or more become a `kind` node.  Empties `k`. */
static int kids_finish(parser *p, kids *k, int kind, uint32_t at, cvl_qnode **out)
{
	cvl_qnode *node;

	if (k->n == 1) {
		*out = k->v[0];
		cvl_free(k->v);
		k->v = NULL;
		k->n = k->cap = 0;
		return 0;
	}
	node = cvl_calloc(1, sizeof(*node));
	if (!node) {
		kids_free(k);
		return nomem(p);
	}
	node->kind = kind;
	node->at = at;
	node->kids = k->v;
	node->nkids = k->n;
	k->v = NULL;
	k->n = k->cap = 0;
	*out = node;
	return 0;
}

/* ---- after:/before: values ---- */

typedef struct tcur {
	const char *s;
	uint32_t n, i;
} tcur;

/* Exactly `width` digits. */
static int digits(tcur *c, int width, int *v)
{
	*v = 0;
	for (int k = 0; k < width; k++, c->i++) {
		if (c->i >= c->n || c->s[c->i] < '0' || c->s[c->i] > '9')
			return -1;
		*v = *v * 10 + (c->s[c->i] - '0');
	}
	return 0;
}

static int lit(tcur *c, char ch)
{
	if (c->i >= c->n || c->s[c->i] != ch)
		return -1;
	c->i++;
	return 0;
}

static int is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int malformed(parser *p, const char *name, uint32_t at)
{
	return fail(p, CONVLOG_EINVAL, at,
		    "malformed date after '%s:' at %u (expected YYYY-MM-DD or "
		    "YYYY-MM-DDTHH:MM:SS[.fff] with Z or +HH:MM)",
		    name, at);
}

static int out_of_range(parser *p, const char *name, const char *what, int v, uint32_t at)
{
	return fail(p, CONVLOG_EINVAL, at, "%s %02d out of range after '%s:' at %u", what, v,
		    name, at);
}

/* YYYY-MM-DD into days since the epoch. */
static int parse_day(parser *p, const char *name, uint32_t base, tcur *c, int64_t *days)
{
	int y, m, d;

	if (digits(c, 4, &y) || lit(c, '-') || digits(c, 2, &m))
		return malformed(p, name, base + c->i);
	if (m < 1 || m > 12)
		return out_of_range(p, name, "month", m, base + c->i - 2);
	if (lit(c, '-') || digits(c, 2, &d))
		return malformed(p, name, base + c->i);
	if (d < 1 || d > month_days(y, m))
		return fail(p, CONVLOG_EINVAL, base + c->i - 2,
			    "day %02d out of range for %04d-%02d after '%s:' at %u", d, y, m, name,
			    base + c->i - 2);
	*days = days_from_civil(y, m, d);
	return 0;
}

/* HH:MM:SS[.fff] into ms since midnight; extra fraction digits truncate. */
static int parse_clock(parser *p, const char *name, uint32_t base, tcur *c, int64_t *ms)
{
	int h, mi, s, frac = 0, scale = 100, f;

	if (digits(c, 2, &h))
		return malformed(p, name, base + c->i);
	if (h > 23)
		return out_of_range(p, name, "hour", h, base + c->i - 2);
	if (lit(c, ':') || digits(c, 2, &mi))
		return malformed(p, name, base + c->i);
	if (mi > 59)
		return out_of_range(p, name, "minute", mi, base + c->i - 2);
	if (lit(c, ':') || digits(c, 2, &s))
		return malformed(p, name, base + c->i);
	if (s > 60) /* 60: a leap second, counted as the next second */
		return out_of_range(p, name, "second", s, base + c->i - 2);
	if (lit(c, '.') == 0) {
		if (digits(c, 1, &f))
			return malformed(p, name, base + c->i);
		do {
			frac += f * scale;
			scale /= 10;
		} while (digits(c, 1, &f) == 0);
	}
	*ms = ((int64_t)h * 3600 + mi * 60 + s) * 1000 + frac;
	return 0;
}

/* Z or (+|-)HH:MM into the offset in ms to subtract. */
static int parse_zone(parser *p, const char *name, uint32_t base, tcur *c, int64_t *off)
{
	int sign, h, m;

	if (lit(c, 'Z') == 0 || lit(c, 'z') == 0) {
		*off = 0;
		return 0;
	}
	if (c->i >= c->n)
		return fail(p, CONVLOG_EINVAL, base + c->i,
			    "missing time zone ('Z' or +HH:MM) after '%s:' at %u", name,
			    base + c->i);
	sign = c->s[c->i] == '-' ? -1 : 1;
	if ((lit(c, '+') && lit(c, '-')) || digits(c, 2, &h))
		return malformed(p, name, base + c->i);
	if (h > 23)
		return out_of_range(p, name, "zone hour", h, base + c->i - 2);
	if (lit(c, ':') || digits(c, 2, &m))
		return malformed(p, name, base + c->i);
	if (m > 59)
		return out_of_range(p, name, "zone minute", m, base + c->i - 2);
	*off = sign * ((int64_t)h * 60 + m) * 60000;
	return 0;
}

/* The value q[at, at + n) of after:/before: into ms since the epoch. */
static int parse_time(parser *p, const char *name, uint32_t at, uint32_t n, int64_t *ms)
{
	tcur c = {p->q + at, n, 0};
	int64_t days = 0, clock = 0, off = 0;
	int rc;

	rc = parse_day(p, name, at, &c, &days);
	if (rc)
		return rc;
	if (c.i < n && (c.s[c.i] == 'T' || c.s[c.i] == 't' || c.s[c.i] == ' ')) {
		c.i++;
		rc = parse_clock(p, name, at, &c, &clock);
		if (!rc)
			rc = parse_zone(p, name, at, &c, &off);
		if (rc)
			return rc;
	}
	if (c.i != n)
		return malformed(p, name, at + c.i);
	*ms = days * 86400000 + clock - off;
	return 0;
}

/* ---- primaries ---- */

static int lookup_filter(const char *name, uint32_t n)
{
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
		if (strlen(filters[i].name) == n && memcmp(filters[i].name, name, n) == 0)
			return (int)i;
	return -1;
}

/* The value after "name:" in word `t` (':' at `colon`): the rest of the
 * word, or a quoted string right after the ':' (consumed either way). */
static int filter_value(parser *p, const token *t, uint32_t colon, const char *name, int timed,
			uint32_t *vs, uint32_t *vn)
{
	int rc;

	*vs = colon + 1;
	*vn = t->end - *vs;
	p->pos = t->end;
	if (*vn > 0) /* a word value */
		return 0;
	if (t->end == p->len || p->q[t->end] != '"')
		return fail(p, CONVLOG_EINVAL, t->end, "expected %s after '%s:' at %u",
			    timed ? "a date" : "a value", name, t->end);
	rc = scan_quoted(p, t->end, vs, vn);
	if (rc)
		return rc;
	if (*vn == 0)
		return fail(p, CONVLOG_EINVAL, t->end, "empty value for '%s:' at %u", name, t->end);
	return 0;
}

/* FILTER: word `t` holds a ':' at `colon`. */
static int parse_filter(parser *p, const token *t, uint32_t colon, cvl_qnode **out)
{
	uint32_t nlen = colon - t->start, vs, vn;
	int f = lookup_filter(p->q + t->start, nlen), rc, timed;
	int64_t ms = 0;

	if (nlen == 0)
		return fail(p, CONVLOG_EINVAL, t->start, "missing filter name before ':' at %u",
			    t->start);
	if (f < 0)
		return fail(p, CONVLOG_EINVAL, t->start,
			    "unknown filter '%.*s' at %u (filters are role: user: conv: session: "
			    "tag: model: after: before:; quote other text that contains ':')",
			    (int)(nlen < NAME_SHOWN ? nlen : NAME_SHOWN), p->q + t->start, t->start);
	timed = filters[f].filter == CVL_F_AFTER || filters[f].filter == CVL_F_BEFORE;
	rc = filter_value(p, t, colon, filters[f].name, timed, &vs, &vn);
	if (!rc && timed)
		rc = parse_time(p, filters[f].name, vs, vn, &ms);
	if (!rc)
		rc = leaf(p, CVL_Q_FILTER, t->start, vs, vn, out);
	if (rc)
		return rc;
	(*out)->filter = filters[f].filter;
	(*out)->time = ms;
	return 0;
}

/* TERM, PREFIX or FILTER. */
static int parse_word(parser *p, const token *t, cvl_qnode **out)
{
	uint32_t n = t->end - t->start;
	const char *w = p->q + t->start;
	const char *colon = memchr(w, ':', n);
	const char *star = memchr(w, '*', n);

	if (colon)
		return parse_filter(p, t, (uint32_t)(colon - p->q), out);
	p->pos = t->end;
	if (!star)
		return leaf(p, CVL_Q_TERM, t->start, t->start, n, out);
	if (star == w)
		return fail(p, CONVLOG_EINVAL, t->start, "'*' needs a prefix before it at %u",
			    t->start);
	if (star != w + n - 1) {
		uint32_t at = (uint32_t)(star - p->q);

		return fail(p, CONVLOG_EINVAL, at, "'*' must end the word at %u", at);
	}
	return leaf(p, CVL_Q_PREFIX, t->start, t->start, n - 1, out);
}

static int parse_phrase(parser *p, const token *t, cvl_qnode **out)
{
	uint32_t s, n, i;
	int rc = scan_quoted(p, t->start, &s, &n);

	if (rc)
		return rc;
	for (i = 0; i < n && is_space((unsigned char)p->q[s + i]); i++)
		;
	if (i == n)
		return fail(p, CONVLOG_EINVAL, t->start, "empty phrase at %u", t->start);
	return leaf(p, CVL_Q_PHRASE, t->start, s, n, out);
}

static int enter(parser *p, uint32_t at)
{
	if (++p->depth > QUERY_MAX_DEPTH)
		return fail(p, CONVLOG_ETOOBIG, at, "query nested deeper than %d levels at %u",
			    QUERY_MAX_DEPTH, at);
	return 0;
}

static int parse_group(parser *p, const token *t, cvl_qnode **out)
{
	cvl_qnode *n = NULL;
	token next;
	int rc = enter(p, t->start);

	if (rc)
		return rc;
	p->pos = t->end;
	next = peek(p);
	if (next.kind == T_RPAREN)
		return fail(p, CONVLOG_EINVAL, t->start, "empty parentheses at %u", t->start);
	if (next.kind == T_END)
		return fail(p, CONVLOG_EINVAL, t->start, "unbalanced '(' at %u", t->start);
	rc = parse_or(p, NULL, &n);
	if (rc)
		return rc;
	next = peek(p);
	if (next.kind != T_RPAREN) { /* the end: parse_or stops only there or at ')' */
		cvl_query_free(n);
		return fail(p, CONVLOG_EINVAL, t->start, "unbalanced '(' at %u", t->start);
	}
	p->pos = next.end;
	p->depth--;
	if (n->kind == CVL_Q_AND || n->kind == CVL_Q_OR)
		n->at = t->start;
	*out = n;
	return 0;
}

static int parse_not(parser *p, const token *t, cvl_qnode **out)
{
	const char *op = t->kind == T_NOT ? "NOT" : "-";
	cvl_qnode *kid = NULL, *n;
	int rc = enter(p, t->start);

	if (rc)
		return rc;
	p->pos = t->end;
	if (t->kind == T_MINUS && (p->pos == p->len || is_space((unsigned char)p->q[p->pos])))
		return fail(p, CONVLOG_EINVAL, p->pos, "expected a term after '-' at %u", p->pos);
	rc = parse_unary(p, op, &kid);
	if (rc)
		return rc;
	p->depth--;
	n = cvl_calloc(1, sizeof(*n));
	if (n)
		n->kids = cvl_malloc(sizeof(*n->kids));
	if (!n || !n->kids) {
		cvl_free(n);
		cvl_query_free(kid);
		return nomem(p);
	}
	n->kind = CVL_Q_NOT;
	n->at = t->start;
	n->kids[0] = kid;
	n->nkids = 1;
	*out = n;
	return 0;
}

/* A token that cannot start an operand where one is needed. */
static int missing(parser *p, const token *t, const char *after)
{
	if (after)
		return fail(p, CONVLOG_EINVAL, t->start, "expected a term after '%s' at %u", after,
			    t->start);
	if (t->kind == T_RPAREN)
		return fail(p, CONVLOG_EINVAL, t->start, "unbalanced ')' at %u", t->start);
	if (t->kind == T_AND || t->kind == T_OR)
		return fail(p, CONVLOG_EINVAL, t->start, "'%s' needs a term before it at %u",
			    t->kind == T_AND ? "AND" : "OR", t->start);
	return fail(p, CONVLOG_EINVAL, t->start, "empty query");
}

/* unary := ("NOT" | "-") unary | primary; `after` names the operator that
 * requires this operand, NULL at the start of a group or the query. */
static int parse_unary(parser *p, const char *after, cvl_qnode **out)
{
	token t = peek(p);

	switch (t.kind) {
	case T_NOT:
	case T_MINUS:
		return parse_not(p, &t, out);
	case T_LPAREN:
		return parse_group(p, &t, out);
	case T_QUOTE:
		return parse_phrase(p, &t, out);
	case T_WORD:
		return parse_word(p, &t, out);
	default:
		return missing(p, &t, after);
	}
}

/* and := unary ( ["AND"] unary )* */
static int parse_and(parser *p, const char *after, cvl_qnode **out)
{
	kids k = {0};
	cvl_qnode *n = NULL;
	uint32_t at = peek(p).start;
	int rc;

	for (;;) {
		rc = parse_unary(p, after, &n);
		if (!rc)
			rc = kids_add(p, &k, n, CVL_Q_AND);
		if (rc)
			goto out;
		token t = peek(p);
		if (t.kind == T_END || t.kind == T_RPAREN || t.kind == T_OR)
			break;
		after = NULL;
		if (t.kind == T_AND) {
			p->pos = t.end;
			after = "AND";
		}
	}
	rc = kids_finish(p, &k, CVL_Q_AND, at, out);
out:
	kids_free(&k);
	return rc;
}

/* or := and ( "OR" and )* */
static int parse_or(parser *p, const char *after, cvl_qnode **out)
{
	kids k = {0};
	cvl_qnode *n = NULL;
	uint32_t at = peek(p).start;
	int rc;

	for (;;) {
		rc = parse_and(p, after, &n);
		if (!rc)
			rc = kids_add(p, &k, n, CVL_Q_OR);
		if (rc)
			goto out;
		token t = peek(p);
		if (t.kind != T_OR)
			break;
		p->pos = t.end;
		after = "OR";
	}
	rc = kids_finish(p, &k, CVL_Q_OR, at, out);
out:
	kids_free(&k);
	return rc;
}

/* ---- validation ---- */

/* Whether `n` yields candidates from the inverted index by itself. */
static int drives(const cvl_qnode *n)
{
	size_t i;

	switch (n->kind) {
	case CVL_Q_TERM:
	case CVL_Q_PHRASE:
	case CVL_Q_PREFIX:
		return 1;
	case CVL_Q_AND:
		for (i = 0; i < n->nkids && !drives(n->kids[i]); i++)
			;
		return i < n->nkids;
	case CVL_Q_OR:
		for (i = 0; i < n->nkids && drives(n->kids[i]); i++)
			;
		return i == n->nkids;
	default:
		return 0;
	}
}

/* In a tree that does not drive: an OR that has a driving side and one
 * that does not, reached through AND and OR only (its bad side). */
static const cvl_qnode *bad_or_side(const cvl_qnode *n)
{
	const cvl_qnode *bad = NULL;
	int any = 0;

	if (n->kind != CVL_Q_AND && n->kind != CVL_Q_OR)
		return NULL;
	for (size_t i = 0; i < n->nkids; i++) {
		if (n->kind == CVL_Q_OR && drives(n->kids[i]))
			any = 1;
		else if (n->kind == CVL_Q_OR && !bad)
			bad = n->kids[i];
	}
	if (any)
		return bad;
	for (size_t i = 0; i < n->nkids; i++)
		if ((bad = bad_or_side(n->kids[i])) != NULL)
			return bad;
	return NULL;
}

static int validate(parser *p, const cvl_qnode *root)
{
	const cvl_qnode *bad;

	if (drives(root))
		return 0;
	bad = bad_or_side(root);
	if (bad)
		return fail(p, CONVLOG_EINVAL, bad->at,
			    "each side of 'OR' needs a search term at %u: a side with only "
			    "negated clauses or filters cannot be looked up in the index",
			    bad->at);
	return fail(p, CONVLOG_EINVAL, 0,
		    "the query needs at least one search term (filters and negated clauses "
		    "only narrow a search)");
}

int cvl_query_parse(const char *q, cvl_qnode **out, uint32_t *err_at)
{
	parser p = {0};
	cvl_qnode *root = NULL;
	size_t len;
	token t;
	int rc;

	if (out)
		*out = NULL;
	if (!q || !out)
		return cvl_err(CONVLOG_EINVAL, "cvl_query_parse: NULL argument");
	len = strnlen(q, QUERY_MAX_BYTES + 1);
	p.q = q;
	p.len = (uint32_t)len;
	if (len > QUERY_MAX_BYTES) {
		rc = fail(&p, CONVLOG_ETOOBIG, QUERY_MAX_BYTES,
			  "query longer than %d bytes at %d", QUERY_MAX_BYTES, QUERY_MAX_BYTES);
		goto out;
	}
	if (peek(&p).kind == T_END) {
		rc = fail(&p, CONVLOG_EINVAL, 0, "empty query");
		goto out;
	}
	rc = parse_or(&p, NULL, &root);
	if (rc)
		goto out;
	t = peek(&p);
	if (t.kind != T_END) { /* parse_or stops only there or at ')' */
		rc = fail(&p, CONVLOG_EINVAL, t.start, "unbalanced ')' at %u", t.start);
		goto out;
	}
	rc = validate(&p, root);
out:
	if (rc) {
		cvl_query_free(root);
		if (err_at)
			*err_at = p.err_at;
		return rc;
	}
	*out = root;
	return 0;
}
