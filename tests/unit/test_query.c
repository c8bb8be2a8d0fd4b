/* lib/index/query.c: the search query parser.  Trees are compared as
 * s-expressions, e.g. (AND (TERM a) (OR (TERM b) (PHRASE "c d"))). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/query.h"
#include "testutil.h"
#include "util/alloc.h"

#define FILTER_HINT                                                                        \
	" (filters are role: user: conv: session: tag: model: after: before:; quote other "   \
	"text that contains ':')"
#define DATE_HINT " (expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[.fff] with Z or +HH:MM)"
#define OR_HINT                                                                            \
	": a side with only negated clauses or filters cannot be looked up in the index"
#define NO_TERM                                                                            \
	"the query needs at least one search term (filters and negated clauses only narrow a " \
	"search)"

/* ---- printers ---- */

typedef struct out {
	char buf[1 << 16];
	size_t len;
} out;

static out sx_out, q_out;

static void put(out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, sizeof(o->buf) - o->len, fmt, ap);
	va_end(ap);
	ck_assert_int_ge(n, 0);
	ck_assert_uint_lt(o->len + (size_t)n, sizeof(o->buf));
	o->len += (size_t)n;
}

static const char *filter_name(int f)
{
	static const char *names[] = {"?",	 "role", "user",  "conv", "session",
				      "tag", "model", "after", "before"};

	return f >= 1 && f <= 8 ? names[f] : "?";
}

static int timed(const cvl_qnode *n)
{
	return n->filter == CVL_F_AFTER || n->filter == CVL_F_BEFORE;
}

static void sexpr(out *o, const cvl_qnode *n)
{
	static const char *kinds[] = {"TERM", "PHRASE", "PREFIX", "AND", "OR", "NOT", "FILTER"};

	put(o, "(%s", kinds[n->kind]);
	if (n->kind == CVL_Q_PHRASE)
		put(o, " \"%s\"", n->text);
	else if (n->kind == CVL_Q_FILTER && timed(n))
		put(o, " %s %lld", filter_name(n->filter), (long long)n->time);
	else if (n->kind == CVL_Q_FILTER)
		put(o, " %s \"%s\"", filter_name(n->filter), n->text);
	else if (n->text)
		put(o, " %s", n->text);
	for (size_t i = 0; i < n->nkids; i++) {
		put(o, " ");
		sexpr(o, n->kids[i]);
	}
	put(o, ")");
}

static const char *to_sexpr(const cvl_qnode *n)
{
	sx_out.len = 0;
	sx_out.buf[0] = '\0';
	sexpr(&sx_out, n);
	return sx_out.buf;
}

static int is_composite(const cvl_qnode *n)
{
	return n->kind == CVL_Q_AND || n->kind == CVL_Q_OR;
}

/* Renders the tree back in the query language, parenthesised only where
 * precedence needs it. */
static void unparse(out *o, const cvl_qnode *n)
{
	switch (n->kind) {
	case CVL_Q_TERM: put(o, "%s", n->text); break;
	case CVL_Q_PREFIX: put(o, "%s*", n->text); break;
	case CVL_Q_PHRASE: put(o, "\"%s\"", n->text); break;
	case CVL_Q_FILTER:
		put(o, strpbrk(n->text, " \t\n\v\f\r()") ? "%s:\"%s\"" : "%s:%s",
		    filter_name(n->filter), n->text);
		break;
	case CVL_Q_NOT:
		put(o, is_composite(n->kids[0]) ? "-(" : "-");
		unparse(o, n->kids[0]);
		put(o, is_composite(n->kids[0]) ? ")" : "");
		break;
	default:
		for (size_t i = 0; i < n->nkids; i++) {
			int paren = n->kind == CVL_Q_AND && n->kids[i]->kind == CVL_Q_OR;

			put(o, "%s%s", i == 0 ? "" : n->kind == CVL_Q_OR ? " OR " : " ",
			    paren ? "(" : "");
			unparse(o, n->kids[i]);
			put(o, paren ? ")" : "");
		}
	}
}

static const char *to_query(const cvl_qnode *n)
{
	q_out.len = 0;
	q_out.buf[0] = '\0';
	unparse(&q_out, n);
	return q_out.buf;
}

/* Shape rules every parsed tree keeps. */
static void check_shape(const cvl_qnode *n, size_t qlen)
{
	ck_assert_uint_le(n->at, qlen);
	switch (n->kind) {
	case CVL_Q_AND:
	case CVL_Q_OR:
		ck_assert_uint_ge(n->nkids, 2);
		ck_assert_ptr_null(n->text);
		for (size_t i = 0; i < n->nkids; i++) {
			ck_assert_int_ne(n->kids[i]->kind, n->kind); /* flattened */
			check_shape(n->kids[i], qlen);
		}
		break;
	case CVL_Q_NOT:
		ck_assert_uint_eq(n->nkids, 1);
		check_shape(n->kids[0], qlen);
		break;
	default:
		ck_assert_uint_eq(n->nkids, 0);
		ck_assert_ptr_nonnull(n->text);
		ck_assert_uint_gt(strlen(n->text), 0);
	}
}

/* ---- helpers ---- */

static cvl_qnode *parse_ok(const char *q)
{
	cvl_qnode *n = NULL;
	uint32_t at = 0;
	int rc = cvl_query_parse(q, &n, &at);

	ck_assert_msg(rc == 0, "'%s' -> %d at %u: %s", q, rc, at, convlog_errmsg());
	check_shape(n, strlen(q));
	return n;
}

#define CK_TREE(q, want)                                                                  \
	do {                                                                              \
		cvl_qnode *_n = parse_ok(q);                                              \
		const char *_got = to_sexpr(_n);                                          \
		ck_assert_msg(strcmp(_got, (want)) == 0, "'%s'\n  got  %s\n  want %s", (q), \
			      _got, (want));                                              \
		cvl_query_free(_n);                                                       \
	} while (0)

static void check_err(const char *q, int code, uint32_t at, const char *msg)
{
	cvl_qnode *n = (cvl_qnode *)&n;
	uint32_t got_at = 12345;
	int rc = cvl_query_parse(q, &n, &got_at);

	ck_assert_msg(rc == code, "'%s' -> %d, want %d: %s", q, rc, code, convlog_errmsg());
	ck_assert_ptr_null(n);
	ck_assert_msg(got_at == at, "'%s': error at %u, want %u: %s", q, got_at, at,
		      convlog_errmsg());
	ck_assert_msg(strcmp(convlog_errmsg(), msg) == 0, "'%s':\n  got  %s\n  want %s", q,
		      convlog_errmsg(), msg);
}

/* The time of the filter in "x <filter>". */
static int64_t when(const char *filter)
{
	char q[256];
	cvl_qnode *n;
	int64_t t;

	snprintf(q, sizeof(q), "x %s", filter);
	n = parse_ok(q);
	ck_assert_int_eq(n->kind, CVL_Q_AND);
	ck_assert_uint_eq(n->nkids, 2);
	ck_assert_int_eq(n->kids[1]->kind, CVL_Q_FILTER);
	t = n->kids[1]->time;
	cvl_query_free(n);
	return t;
}

static char *repeat(const char *s, int times, const char *tail)
{
	size_t n = strlen(s), m = tail ? strlen(tail) : 0;
	char *q = malloc(n * (size_t)times + m + 1);

	ck_assert_ptr_nonnull(q);
	for (int i = 0; i < times; i++)
		memcpy(q + n * (size_t)i, s, n);
	memcpy(q + n * (size_t)times, tail ? tail : "", m + 1);
	return q;
}

/* ---- grammar ---- */

START_TEST(test_query__single_word_is_a_term)
{
	cvl_qnode *n = parse_ok("  hello  ");

	ck_assert_str_eq(to_sexpr(n), "(TERM hello)");
	ck_assert_uint_eq(n->at, 2);
	cvl_query_free(n);
	CK_TREE("x", "(TERM x)");
	CK_TREE("don't", "(TERM don't)");
	CK_TREE("e-mail", "(TERM e-mail)");
	CK_TREE("a.b_c/d?e!f", "(TERM a.b_c/d?e!f)");
}
END_TEST

START_TEST(test_query__juxtaposition_and_explicit_and_are_the_same)
{
	CK_TREE("a b c", "(AND (TERM a) (TERM b) (TERM c))");
	CK_TREE("a AND b AND c", "(AND (TERM a) (TERM b) (TERM c))");
	CK_TREE("a AND b c", "(AND (TERM a) (TERM b) (TERM c))");
}
END_TEST

START_TEST(test_query__and_binds_tighter_than_or)
{
	CK_TREE("a OR b c", "(OR (TERM a) (AND (TERM b) (TERM c)))");
	CK_TREE("a b OR c", "(OR (AND (TERM a) (TERM b)) (TERM c))");
	CK_TREE("a AND b OR c AND d", "(OR (AND (TERM a) (TERM b)) (AND (TERM c) (TERM d)))");
	CK_TREE("a OR b AND c OR d", "(OR (TERM a) (AND (TERM b) (TERM c)) (TERM d))");
	CK_TREE("a OR b", "(OR (TERM a) (TERM b))");
}
END_TEST

START_TEST(test_query__not_binds_tightest)
{
	CK_TREE("NOT a b", "(AND (NOT (TERM a)) (TERM b))");
	CK_TREE("-a b OR c", "(OR (AND (NOT (TERM a)) (TERM b)) (TERM c))");
	CK_TREE("a OR NOT b c", "(OR (TERM a) (AND (NOT (TERM b)) (TERM c)))");
	CK_TREE("b -a OR c", "(OR (AND (TERM b) (NOT (TERM a))) (TERM c))");
}
END_TEST

START_TEST(test_query__parentheses_group)
{
	cvl_qnode *n;

	CK_TREE("(a OR b) c", "(AND (OR (TERM a) (TERM b)) (TERM c))");
	CK_TREE("((a))", "(TERM a)");
	CK_TREE("a (b OR c) d", "(AND (TERM a) (OR (TERM b) (TERM c)) (TERM d))");
	CK_TREE("(a)(b)", "(AND (TERM a) (TERM b))");
	CK_TREE("a(b)", "(AND (TERM a) (TERM b))");
	CK_TREE("(a OR (b (c OR d)))",
		"(OR (TERM a) (AND (TERM b) (OR (TERM c) (TERM d))))");
	n = parse_ok("x (a OR b)");
	ck_assert_uint_eq(n->kids[1]->at, 2); /* a group node sits at its '(' */
	cvl_query_free(n);
}
END_TEST

START_TEST(test_query__nested_and_and_or_or_are_flattened)
{
	CK_TREE("(a b) (c d)", "(AND (TERM a) (TERM b) (TERM c) (TERM d))");
	CK_TREE("a (b (c (d)))", "(AND (TERM a) (TERM b) (TERM c) (TERM d))");
	CK_TREE("a AND (b AND c) AND d", "(AND (TERM a) (TERM b) (TERM c) (TERM d))");
	CK_TREE("a OR (b OR c) OR d", "(OR (TERM a) (TERM b) (TERM c) (TERM d))");
	CK_TREE("((a OR b)) OR ((c))", "(OR (TERM a) (TERM b) (TERM c))");
	CK_TREE("(a OR b) (c OR d)", "(AND (OR (TERM a) (TERM b)) (OR (TERM c) (TERM d)))");
	CK_TREE("a OR (b c) OR d", "(OR (TERM a) (AND (TERM b) (TERM c)) (TERM d))");
	CK_TREE("x -(a (b c))", "(AND (TERM x) (NOT (AND (TERM a) (TERM b) (TERM c))))");
}
END_TEST

START_TEST(test_query__operators_are_upper_case_whole_words)
{
	CK_TREE("a and b", "(AND (TERM a) (TERM and) (TERM b))");
	CK_TREE("a or b", "(AND (TERM a) (TERM or) (TERM b))");
	CK_TREE("a Or b", "(AND (TERM a) (TERM Or) (TERM b))");
	CK_TREE("a not b", "(AND (TERM a) (TERM not) (TERM b))");
	CK_TREE("ANDROID ORACLE NOTHING", "(AND (TERM ANDROID) (TERM ORACLE) (TERM NOTHING))");
	CK_TREE("a AND* b", "(AND (TERM a) (PREFIX AND) (TERM b))");
	CK_TREE("NOT-a b", "(AND (TERM NOT-a) (TERM b))");
	CK_TREE("a OR\"b\"", "(OR (TERM a) (PHRASE \"b\"))");
	CK_TREE("\"a OR b\"", "(PHRASE \"a OR b\")");
}
END_TEST

START_TEST(test_query__negation_forms)
{
	CK_TREE("a -b", "(AND (TERM a) (NOT (TERM b)))");
	CK_TREE("a NOT b", "(AND (TERM a) (NOT (TERM b)))");
	CK_TREE("a AND NOT b", "(AND (TERM a) (NOT (TERM b)))");
	CK_TREE("-b a", "(AND (NOT (TERM b)) (TERM a))");
	CK_TREE("a --b", "(AND (TERM a) (NOT (NOT (TERM b))))");
	CK_TREE("a NOT -b", "(AND (TERM a) (NOT (NOT (TERM b))))");
	CK_TREE("a -(b c)", "(AND (TERM a) (NOT (AND (TERM b) (TERM c))))");
	CK_TREE("a -\"b c\"", "(AND (TERM a) (NOT (PHRASE \"b c\")))");
	CK_TREE("a -b*", "(AND (TERM a) (NOT (PREFIX b)))");
	CK_TREE("a-b", "(TERM a-b)");
	CK_TREE("a -b-c", "(AND (TERM a) (NOT (TERM b-c)))");
	CK_TREE("a NOT(b)", "(AND (TERM a) (NOT (TERM b)))");
	CK_TREE("(a)-b", "(AND (TERM a) (NOT (TERM b)))");
	CK_TREE("a -role:system", "(AND (TERM a) (NOT (FILTER role \"system\")))");
	CK_TREE("a NOT after:2024-01-01", "(AND (TERM a) (NOT (FILTER after 1704067200000)))");
}
END_TEST

START_TEST(test_query__phrases_keep_their_bytes)
{
	cvl_qnode *n;

	CK_TREE("\"hello world\"", "(PHRASE \"hello world\")");
	CK_TREE("\"a (b) -c OR d*: e\"", "(PHRASE \"a (b) -c OR d*: e\")");
	CK_TREE("\" padded \"", "(PHRASE \" padded \")");
	CK_TREE("\"tab\there\nnl\"", "(PHRASE \"tab\there\nnl\")");
	CK_TREE("foo\"bar\"", "(AND (TERM foo) (PHRASE \"bar\"))");
	CK_TREE("\"a\"\"b\"", "(AND (PHRASE \"a\") (PHRASE \"b\"))");
	CK_TREE("\"東京 タワー\" x", "(AND (PHRASE \"東京 タワー\") (TERM x))");
	CK_TREE("\"back\\slash\"", "(PHRASE \"back\\slash\")"); /* no escapes */
	n = parse_ok("x \"y z\"");
	ck_assert_uint_eq(n->kids[1]->at, 2); /* the opening quote */
	cvl_query_free(n);
}
END_TEST

START_TEST(test_query__star_at_the_end_makes_a_prefix)
{
	CK_TREE("prog*", "(PREFIX prog)");
	CK_TREE("東京*", "(PREFIX 東京)");
	CK_TREE("a prog* b", "(AND (TERM a) (PREFIX prog) (TERM b))");
	CK_TREE("x* OR y*", "(OR (PREFIX x) (PREFIX y))");
	CK_TREE("(ab*)", "(PREFIX ab)");
	CK_TREE("-ab* c", "(AND (NOT (PREFIX ab)) (TERM c))");
}
END_TEST

START_TEST(test_query__filters_take_word_and_quoted_values)
{
	cvl_qnode *n;

	CK_TREE("x role:user", "(AND (TERM x) (FILTER role \"user\"))");
	CK_TREE("role:user x", "(AND (FILTER role \"user\") (TERM x))");
	CK_TREE("x user:\"alice smith\"", "(AND (TERM x) (FILTER user \"alice smith\"))");
	CK_TREE("x conv:0190a3b4-7c1d-7e2f-8a9b-0c1d2e3f4a5b",
		"(AND (TERM x) (FILTER conv \"0190a3b4-7c1d-7e2f-8a9b-0c1d2e3f4a5b\"))");
	CK_TREE("x session:s-1 tag:\"a:b c\"",
		"(AND (TERM x) (FILTER session \"s-1\") (FILTER tag \"a:b c\"))");
	CK_TREE("x model:gpt-4o:latest", "(AND (TERM x) (FILTER model \"gpt-4o:latest\"))");
	CK_TREE("x model:gpt:", "(AND (TERM x) (FILTER model \"gpt:\"))");
	CK_TREE("x role:us*", "(AND (TERM x) (FILTER role \"us*\"))"); /* verbatim */
	CK_TREE("x tag:-y", "(AND (TERM x) (FILTER tag \"-y\"))");
	CK_TREE("x tag:\"(x) OR y\"", "(AND (TERM x) (FILTER tag \"(x) OR y\"))");
	CK_TREE("x tag:\"a\"b", "(AND (TERM x) (FILTER tag \"a\") (TERM b))");
	CK_TREE("x tag:東京", "(AND (TERM x) (FILTER tag \"東京\"))");
	CK_TREE("x role:\"\tuser\n\"", "(AND (TERM x) (FILTER role \"\tuser\n\"))");
	n = parse_ok("x role:r user:u conv:c session:s tag:t model:m after:2024-01-01 "
		     "before:\"2024-01-02\"");
	ck_assert_uint_eq(n->nkids, 9);
	for (size_t i = 1; i < 9; i++) {
		ck_assert_int_eq(n->kids[i]->kind, CVL_Q_FILTER);
		ck_assert_int_eq(n->kids[i]->filter, (int)i); /* CVL_F_ROLE .. CVL_F_BEFORE */
	}
	ck_assert_int_eq(n->kids[1]->time, 0);
	ck_assert_str_eq(n->kids[7]->text, "2024-01-01"); /* the value as written */
	ck_assert_int_eq(n->kids[7]->time, 1704067200000);
	ck_assert_str_eq(n->kids[8]->text, "2024-01-02");
	ck_assert_int_eq(n->kids[8]->time, 1704153600000);
	cvl_query_free(n);
}
END_TEST

START_TEST(test_query__dates_are_utc_midnight)
{
	ck_assert_int_eq(when("after:1970-01-01"), 0);
	ck_assert_int_eq(when("after:2024-01-01"), 1704067200000);
	ck_assert_int_eq(when("before:2000-03-01"), 951868800000);
	ck_assert_int_eq(when("after:2024-02-29"), 1709164800000);
	ck_assert_int_eq(when("after:1969-12-31"), -86400000);
	ck_assert_int_eq(when("after:1900-03-01"), -2203891200000);
	ck_assert_int_eq(when("after:1600-02-29"), -11670998400000);
	ck_assert_int_eq(when("after:0001-01-01"), -62135596800000);
	ck_assert_int_eq(when("after:0000-01-01"), -62167219200000);
	ck_assert_int_eq(when("after:0000-02-29"), -62162121600000); /* year 0 is leap */
	ck_assert_int_eq(when("after:9999-12-31"), 253402214400000);
	ck_assert_int_eq(when("before:\"2024-12-31\""), 1735603200000);
}
END_TEST

START_TEST(test_query__rfc3339_times_with_offsets)
{
	ck_assert_int_eq(when("after:2024-01-01T00:00:00Z"), 1704067200000);
	ck_assert_int_eq(when("after:2024-01-01T10:20:30.123Z"), 1704104430123);
	ck_assert_int_eq(when("after:2024-01-01t10:20:30.123z"), 1704104430123);
	ck_assert_int_eq(when("after:2024-01-01T10:20:30.5Z"), 1704104430500);
	ck_assert_int_eq(when("after:2024-01-01T10:20:30.1Z"), 1704104430100);
	ck_assert_int_eq(when("after:2024-01-01T10:20:30.123999Z"), 1704104430123);
	ck_assert_int_eq(when("after:2024-01-01T10:20:30+02:00"), 1704097230000);
	ck_assert_int_eq(when("after:2024-01-01T10:20:30-05:30"), 1704124230000);
	ck_assert_int_eq(when("after:2024-01-01T10:20:30-00:00"), 1704104430000);
	ck_assert_int_eq(when("after:2024-01-01T00:30:00+01:00"), 1704065400000);
	ck_assert_int_eq(when("after:1969-12-31T23:59:59.999Z"), -1);
	ck_assert_int_eq(when("after:2024-12-31T23:59:59Z"), 1735689599000);
	ck_assert_int_eq(when("after:2024-12-31T23:59:60Z"), 1735689600000); /* leap second */
	ck_assert_int_eq(when("after:\"2024-01-01 10:20:30Z\""), 1704104430000);
	ck_assert_int_eq(when("before:9999-12-31T23:59:59.999-23:59"), 253402387139999);
	ck_assert_int_eq(when("after:0000-01-01T00:00:00+23:59"), -62167305540000);
}
END_TEST

START_TEST(test_query__utf8_terms_pass_through)
{
	CK_TREE("東京 café naïve", "(AND (TERM 東京) (TERM café) (TERM naïve))");
	CK_TREE("Ελληνικά OR русский", "(OR (TERM Ελληνικά) (TERM русский))");
	CK_TREE("日本語テキスト", "(TERM 日本語テキスト)");
	CK_TREE("🙂x", "(TERM 🙂x)");
	CK_TREE("-東京 大阪", "(AND (NOT (TERM 東京)) (TERM 大阪))");
	/* Only ASCII whitespace separates: NBSP is part of the word. */
	CK_TREE("a\xc2\xa0" "b", "(TERM a\xc2\xa0" "b)");
	/* Not validated here: the analyzer treats invalid bytes as separators. */
	CK_TREE("\xff\xfe", "(TERM \xff\xfe)");
}
END_TEST

START_TEST(test_query__any_ascii_whitespace_separates)
{
	CK_TREE("a\tb\nc\r\nd\ve\ff", "(AND (TERM a) (TERM b) (TERM c) (TERM d) (TERM e) (TERM f))");
	CK_TREE("\t a \n OR\tb \r", "(OR (TERM a) (TERM b))");
	CK_TREE("(\ta\n)", "(TERM a)");
	CK_TREE("a\n-b", "(AND (TERM a) (NOT (TERM b)))");
	CK_TREE("a\tAND\nNOT\rb", "(AND (TERM a) (NOT (TERM b)))");
}
END_TEST

START_TEST(test_query__nodes_record_their_byte_positions)
{
	/*          0         1         2         3         4
	 *          01234567890123456789012345678901234567890123 */
	const char *q = "hello \"big world\" pre* role:user -x (a OR b)";
	cvl_qnode *n = parse_ok(q);

	ck_assert_int_eq(n->kind, CVL_Q_AND);
	ck_assert_uint_eq(n->at, 0);
	ck_assert_uint_eq(n->nkids, 6);
	ck_assert_uint_eq(n->kids[0]->at, 0);
	ck_assert_uint_eq(n->kids[1]->at, 6);
	ck_assert_str_eq(n->kids[1]->text, "big world");
	ck_assert_uint_eq(n->kids[2]->at, 18);
	ck_assert_str_eq(n->kids[2]->text, "pre");
	ck_assert_uint_eq(n->kids[3]->at, 23);
	ck_assert_int_eq(n->kids[3]->filter, CVL_F_ROLE);
	ck_assert_uint_eq(n->kids[4]->at, 33);
	ck_assert_uint_eq(n->kids[4]->kids[0]->at, 34);
	ck_assert_uint_eq(n->kids[5]->at, 36);
	ck_assert_uint_eq(n->kids[5]->kids[0]->at, 37);
	ck_assert_uint_eq(n->kids[5]->kids[1]->at, 42);
	ck_assert_int_eq(n->kids[0]->filter, 0);
	ck_assert_int_eq(n->kids[0]->time, 0);
	cvl_query_free(n);
}
END_TEST

/* ---- validation ---- */

START_TEST(test_query__needs_a_positive_search_term)
{
	check_err("role:user", CONVLOG_EINVAL, 0, NO_TERM);
	check_err("-foo", CONVLOG_EINVAL, 0, NO_TERM);
	check_err("NOT foo -bar", CONVLOG_EINVAL, 0, NO_TERM);
	check_err("-a OR -b", CONVLOG_EINVAL, 0, NO_TERM);
	check_err("role:user after:2024-01-01", CONVLOG_EINVAL, 0, NO_TERM);
	check_err("(role:user -x)", CONVLOG_EINVAL, 0, NO_TERM);
	check_err("-(a b)", CONVLOG_EINVAL, 0, NO_TERM);
}
END_TEST

START_TEST(test_query__or_side_without_a_search_term_is_rejected)
{
	check_err("a OR -b", CONVLOG_EINVAL, 5, "each side of 'OR' needs a search term at 5" OR_HINT);
	check_err("a OR role:user", CONVLOG_EINVAL, 5,
		  "each side of 'OR' needs a search term at 5" OR_HINT);
	check_err("(-a -b) OR c", CONVLOG_EINVAL, 0,
		  "each side of 'OR' needs a search term at 0" OR_HINT);
	check_err("a OR b OR NOT c", CONVLOG_EINVAL, 10,
		  "each side of 'OR' needs a search term at 10" OR_HINT);
	check_err("(a OR -b) role:x", CONVLOG_EINVAL, 6,
		  "each side of 'OR' needs a search term at 6" OR_HINT);
}
END_TEST

START_TEST(test_query__or_of_negations_or_filters_may_narrow_another_term)
{
	/* Another clause drives the search; the OR only narrows its results. */
	CK_TREE("(a OR -b) c", "(AND (OR (TERM a) (NOT (TERM b))) (TERM c))");
	CK_TREE("c (role:user OR role:assistant)",
		"(AND (TERM c) (OR (FILTER role \"user\") (FILTER role \"assistant\")))");
	CK_TREE("c -(a OR -b)", "(AND (TERM c) (NOT (OR (TERM a) (NOT (TERM b)))))");
	CK_TREE("a OR (b role:user)", "(OR (TERM a) (AND (TERM b) (FILTER role \"user\")))");
	CK_TREE("a OR (b -c)", "(OR (TERM a) (AND (TERM b) (NOT (TERM c))))");
}
END_TEST

/* ---- errors ---- */

static const struct {
	const char *q;
	uint32_t at;
	const char *msg;
} syntax_errors[] = {
	{"", 0, "empty query"},
	{" \t\r\n", 0, "empty query"},
	{"(", 0, "unbalanced '(' at 0"},
	{"(a", 0, "unbalanced '(' at 0"},
	{"a (b (c)", 2, "unbalanced '(' at 2"},
	{"a)", 1, "unbalanced ')' at 1"},
	{"(a))", 3, "unbalanced ')' at 3"},
	{") a", 0, "unbalanced ')' at 0"},
	{"()", 0, "empty parentheses at 0"},
	{"a ( \t)", 2, "empty parentheses at 2"},
	{"a OR", 4, "expected a term after 'OR' at 4"},
	{"a OR )", 5, "expected a term after 'OR' at 5"},
	{"(a OR) b", 5, "expected a term after 'OR' at 5"},
	{"OR a", 0, "'OR' needs a term before it at 0"},
	{"a (AND b)", 3, "'AND' needs a term before it at 3"},
	{"a AND", 5, "expected a term after 'AND' at 5"},
	{"a AND OR b", 6, "expected a term after 'AND' at 6"},
	{"a OR OR b", 5, "expected a term after 'OR' at 5"},
	{"a OR AND b", 5, "expected a term after 'OR' at 5"},
	{"a NOT", 5, "expected a term after 'NOT' at 5"},
	{"a NOT )", 6, "expected a term after 'NOT' at 6"},
	{"a -", 3, "expected a term after '-' at 3"},
	{"a - b", 3, "expected a term after '-' at 3"},
	{"a -)", 3, "expected a term after '-' at 3"},
	{"a -OR b", 3, "expected a term after '-' at 3"},
	{"a \"b", 2, "unterminated quote at 2"},
	{"a \"\"", 2, "empty phrase at 2"},
	{"a \" \t\"", 2, "empty phrase at 2"},
	{"*", 0, "'*' needs a prefix before it at 0"},
	{"a *b", 2, "'*' needs a prefix before it at 2"},
	{"a \"b\"*", 5, "'*' needs a prefix before it at 5"},
	{"a*b", 1, "'*' must end the word at 1"},
	{"ab**", 2, "'*' must end the word at 2"},
	{"color:red", 0, "unknown filter 'color' at 0" FILTER_HINT},
	{"see http://example.com", 4, "unknown filter 'http' at 4" FILTER_HINT},
	{"Role:user x", 0, "unknown filter 'Role' at 0" FILTER_HINT},
	{"at 12:30", 3, "unknown filter '12' at 3" FILTER_HINT},
	{"x :y", 2, "missing filter name before ':' at 2"},
	{"x role:", 7, "expected a value after 'role:' at 7"},
	{"x role: user", 7, "expected a value after 'role:' at 7"},
	{"x role:(user)", 7, "expected a value after 'role:' at 7"},
	{"x after:", 8, "expected a date after 'after:' at 8"},
	{"x before: 2024-01-01", 9, "expected a date after 'before:' at 9"},
	{"x role:\"\"", 7, "empty value for 'role:' at 7"},
	{"x role:\"abc", 7, "unterminated quote at 7"},
	{"x after:2024-1-01", 14, "malformed date after 'after:' at 14" DATE_HINT},
	{"x after:2024-13-01", 13, "month 13 out of range after 'after:' at 13"},
	{"x after:2024-00-10", 13, "month 00 out of range after 'after:' at 13"},
	{"x after:2023-02-29", 16, "day 29 out of range for 2023-02 after 'after:' at 16"},
	{"x after:2100-02-29", 16, "day 29 out of range for 2100-02 after 'after:' at 16"},
	{"x after:2024-04-31", 16, "day 31 out of range for 2024-04 after 'after:' at 16"},
	{"x after:2024-04-00", 16, "day 00 out of range for 2024-04 after 'after:' at 16"},
	{"x before:2024-01-01T24:00:00Z", 20, "hour 24 out of range after 'before:' at 20"},
	{"x before:2024-01-01T23:60:00Z", 23, "minute 60 out of range after 'before:' at 23"},
	{"x before:2024-01-01T23:59:61Z", 26, "second 61 out of range after 'before:' at 26"},
	{"x after:2024-01-01T10:00:00", 27,
	 "missing time zone ('Z' or +HH:MM) after 'after:' at 27"},
	{"x after:2024-01-01T10:00:00+2:00", 29, "malformed date after 'after:' at 29" DATE_HINT},
	{"x after:2024-01-01T10:00:00+24:00", 28, "zone hour 24 out of range after 'after:' at 28"},
	{"x after:2024-01-01T10:00:00+05:60", 31,
	 "zone minute 60 out of range after 'after:' at 31"},
	{"x after:2024-01-01T10:00:00.Z", 28, "malformed date after 'after:' at 28" DATE_HINT},
	{"x after:2024-01-01x", 18, "malformed date after 'after:' at 18" DATE_HINT},
	{"x after:2024-01-01T", 19, "malformed date after 'after:' at 19" DATE_HINT},
	{"x after:2024-01-01T10:00Z", 24, "malformed date after 'after:' at 24" DATE_HINT},
	{"x after:yesterday", 8, "malformed date after 'after:' at 8" DATE_HINT},
	{"x after:20240101", 12, "malformed date after 'after:' at 12" DATE_HINT},
	{"x after:2024-01-01T10:00:00Zjunk", 28, "malformed date after 'after:' at 28" DATE_HINT},
	{"x after:2024-01-01T10:00:00+05:00:00", 33,
	 "malformed date after 'after:' at 33" DATE_HINT},
	{"x after:+2024-01-01", 8, "malformed date after 'after:' at 8" DATE_HINT},
	{"x before:\"2024-01-01 25:00:00Z\"", 21, "hour 25 out of range after 'before:' at 21"},
};

START_TEST(test_query__syntax_errors_name_their_position)
{
	for (size_t i = 0; i < sizeof(syntax_errors) / sizeof(syntax_errors[0]); i++)
		check_err(syntax_errors[i].q, CONVLOG_EINVAL, syntax_errors[i].at,
			  syntax_errors[i].msg);
}
END_TEST

START_TEST(test_query__null_arguments_are_einval)
{
	cvl_qnode *n = (cvl_qnode *)&n;
	uint32_t at;

	CK_ERR(cvl_query_parse(NULL, &n, &at), CONVLOG_EINVAL);
	ck_assert_ptr_null(n);
	CK_ERR(cvl_query_parse("a", NULL, &at), CONVLOG_EINVAL);
	CK_ERR(cvl_query_parse("(", &n, NULL), CONVLOG_EINVAL); /* err_at is optional */
	CK_OK(cvl_query_parse("a", &n, NULL));
	cvl_query_free(n);
	cvl_query_free(NULL);
}
END_TEST

/* ---- limits ---- */

START_TEST(test_query__queries_over_4096_bytes_are_too_big)
{
	char *q = repeat("a ", 2048, NULL);
	cvl_qnode *n;

	ck_assert_uint_eq(strlen(q), 4096);
	n = parse_ok(q);
	ck_assert_uint_eq(n->nkids, 2048);
	cvl_query_free(n);
	free(q);
	q = repeat("a ", 2048, "b");
	check_err(q, CONVLOG_ETOOBIG, 4096, "query longer than 4096 bytes at 4096");
	free(q);
	q = repeat("(", 100000, NULL);
	check_err(q, CONVLOG_ETOOBIG, 4096, "query longer than 4096 bytes at 4096");
	free(q);
}
END_TEST

/* head + open x n + mid + close x n */
static char *wrap(const char *head, const char *open, int n, const char *mid, const char *close)
{
	size_t hl = strlen(head), ol = strlen(open), ml = strlen(mid), cl = strlen(close);
	char *q = malloc(hl + (ol + cl) * (size_t)n + ml + 1), *p = q;

	ck_assert_ptr_nonnull(q);
	memcpy(p, head, hl);
	p += hl;
	for (int i = 0; i < n; i++, p += ol)
		memcpy(p, open, ol);
	memcpy(p, mid, ml);
	p += ml;
	for (int i = 0; i < n; i++, p += cl)
		memcpy(p, close, cl);
	*p = '\0';
	return q;
}

/* `open` adds `per` levels: 64 levels parse, one more run is too deep. */
static void check_depth(const char *head, const char *open, int per, const char *mid,
			const char *close, uint32_t err_at)
{
	char msg[128];
	char *q = wrap(head, open, 64 / per, mid, close);
	cvl_qnode *n = parse_ok(q);

	cvl_query_free(n);
	free(q);
	q = wrap(head, open, 64 / per + 1, mid, close);
	snprintf(msg, sizeof(msg), "query nested deeper than 64 levels at %u", err_at);
	check_err(q, CONVLOG_ETOOBIG, err_at, msg);
	free(q);
}

START_TEST(test_query__nesting_deeper_than_64_levels_is_too_big)
{
	char *q, *one;
	cvl_qnode *n;

	check_depth("", "(", 1, "a", ")", 64);
	check_depth("b ", "-", 1, "a", "", 2 + 64);
	check_depth("b ", "NOT ", 1, "a", "", 2 + 64 * 4);
	check_depth("b ", "-(", 2, "a", ")", 2 + 64); /* 65th level: the 33rd '-' */
	check_depth("a ", "(-", 2, "a", ")", 2 + 64); /* 65th level: the 33rd '(' */
	/* No recursion past the limit, however long the run. */
	q = repeat("(", 4000, NULL);
	check_err(q, CONVLOG_ETOOBIG, 64, "query nested deeper than 64 levels at 64");
	free(q);
	q = repeat("-", 4096, NULL);
	check_err(q, CONVLOG_ETOOBIG, 64, "query nested deeper than 64 levels at 64");
	free(q);
	/* Depth is per path: siblings each get the full 64. */
	one = wrap("", "(", 60, "a", ")");
	q = repeat(one, 30, NULL);
	free(one);
	ck_assert_uint_le(strlen(q), 4096);
	n = parse_ok(q);
	ck_assert_int_eq(n->kind, CVL_Q_AND);
	ck_assert_uint_eq(n->nkids, 30);
	cvl_query_free(n);
	free(q);
}
END_TEST

/* ---- memory ---- */

static const char *sweep_queries[] = {
	"(a OR \"b c\") d* role:user -e after:2024-01-01T00:00:00Z f OR g h",
	"a b c d e f g h i j k l m n o p q r s t u v w x y z",
	"(a b) (c d) OR (e OR f) OR (g OR (h i))",
	"x -(-(-y)) tag:\"t u\" before:1999-12-31",
	"a OR -b",
	"x after:2024-13-01",
	"(a b c",
};

static void sweep(const char *q, int sticky)
{
	uint32_t at;
	int64_t k;
	cvl_qnode *n = NULL;
	int rc = CONVLOG_ENOMEM, want = cvl_query_parse(q, &n, &at);

	cvl_query_free(n); /* `want`: the outcome when nothing fails */
	for (k = 0; rc == CONVLOG_ENOMEM; k++) {
		ck_assert_int_lt(k, 100000);
		n = (cvl_qnode *)&n;
		cvl_alloc_fail_after(k, sticky);
		rc = cvl_query_parse(q, &n, &at);
		cvl_alloc_fail_after(-1, 0);
		ck_assert_msg(rc == CONVLOG_ENOMEM || rc == want, "'%s' k=%lld: %d %s", q,
			      (long long)k, rc, convlog_errmsg());
		if (rc == 0)
			ck_assert_ptr_nonnull(n);
		else
			ck_assert_ptr_null(n);
		if (rc == CONVLOG_ENOMEM)
			ck_assert_str_eq(convlog_errmsg(), "out of memory parsing the query");
		cvl_query_free(n == (cvl_qnode *)&n ? NULL : n);
	}
	ck_assert_int_gt(k, 1); /* the sweep hit at least one allocation */
}

START_TEST(test_query__allocation_failures_are_enomem_without_leaks)
{
	for (size_t i = 0; i < sizeof(sweep_queries) / sizeof(sweep_queries[0]); i++) {
		sweep(sweep_queries[i], 0);
		sweep(sweep_queries[i], 1);
	}
}
END_TEST

/* ---- fuzz ---- */

/* Parses q: never crashes; an error names a position inside the query; a
 * tree printed back and re-parsed gives the same tree.  Returns 1 if q
 * parsed. */
static int fuzz_one(const char *q)
{
	cvl_qnode *n = NULL, *again = NULL;
	uint32_t at = UINT32_MAX;
	char first[sizeof(sx_out.buf)];
	int rc = cvl_query_parse(q, &n, &at);

	if (rc) {
		ck_assert_msg(rc == CONVLOG_EINVAL || rc == CONVLOG_ETOOBIG, "'%s' -> %d", q, rc);
		ck_assert_ptr_null(n);
		ck_assert_msg(at <= strlen(q), "'%s': error at %u", q, at);
		ck_assert_uint_gt(strlen(convlog_errmsg()), 0);
		return 0;
	}
	check_shape(n, strlen(q));
	snprintf(first, sizeof(first), "%s", to_sexpr(n));
	rc = cvl_query_parse(to_query(n), &again, &at);
	ck_assert_msg(rc == 0, "'%s' printed as '%s' fails: %s", q, q_out.buf, convlog_errmsg());
	ck_assert_msg(strcmp(first, to_sexpr(again)) == 0, "'%s' -> %s\n printed '%s' -> %s", q,
		      first, q_out.buf, sx_out.buf);
	cvl_query_free(n);
	cvl_query_free(again);
	return 1;
}

START_TEST(test_query__random_queries_never_crash_and_round_trip)
{
	static const char *pieces[] = {
		"a", "b", "é", "東", "(", ")", "\"", "-", "*", ":", " ", " ", " ", "\t",
		"OR", "AND", "NOT", "role:", "tag:", "after:", "2024-01-01", "T10:00:00Z", "x",
	};
	const size_t npieces = sizeof(pieces) / sizeof(pieces[0]);
	uint64_t seed = 0x9e3779b97f4a7c15;
	char q[512];
	int ok = 0, runs = 20000;

	for (int r = 0; r < runs; r++) {
		size_t len = 0, count = tu_rand(&seed) % 16;

		for (size_t i = 0; i < count; i++) {
			const char *p = pieces[tu_rand(&seed) % npieces];

			memcpy(q + len, p, strlen(p));
			len += strlen(p);
		}
		q[len] = '\0';
		ok += fuzz_one(q);
	}
	ck_assert_int_gt(ok, runs / 20); /* the alphabet reaches valid queries */
	for (int r = 0; r < runs; r++) {
		size_t len = tu_rand(&seed) % 40;

		for (size_t i = 0; i < len; i++)
			q[i] = (char)(1 + tu_rand(&seed) % 255);
		q[len] = '\0';
		fuzz_one(q);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("query");
	TCase *tc = tcase_create("query");

	tcase_add_test(tc, test_query__single_word_is_a_term);
	tcase_add_test(tc, test_query__juxtaposition_and_explicit_and_are_the_same);
	tcase_add_test(tc, test_query__and_binds_tighter_than_or);
	tcase_add_test(tc, test_query__not_binds_tightest);
	tcase_add_test(tc, test_query__parentheses_group);
	tcase_add_test(tc, test_query__nested_and_and_or_or_are_flattened);
	tcase_add_test(tc, test_query__operators_are_upper_case_whole_words);
	tcase_add_test(tc, test_query__negation_forms);
	tcase_add_test(tc, test_query__phrases_keep_their_bytes);
	tcase_add_test(tc, test_query__star_at_the_end_makes_a_prefix);
	tcase_add_test(tc, test_query__filters_take_word_and_quoted_values);
	tcase_add_test(tc, test_query__dates_are_utc_midnight);
	tcase_add_test(tc, test_query__rfc3339_times_with_offsets);
	tcase_add_test(tc, test_query__utf8_terms_pass_through);
	tcase_add_test(tc, test_query__any_ascii_whitespace_separates);
	tcase_add_test(tc, test_query__nodes_record_their_byte_positions);
	tcase_add_test(tc, test_query__needs_a_positive_search_term);
	tcase_add_test(tc, test_query__or_side_without_a_search_term_is_rejected);
	tcase_add_test(tc, test_query__or_of_negations_or_filters_may_narrow_another_term);
	tcase_add_test(tc, test_query__syntax_errors_name_their_position);
	tcase_add_test(tc, test_query__null_arguments_are_einval);
	tcase_add_test(tc, test_query__queries_over_4096_bytes_are_too_big);
	tcase_add_test(tc, test_query__nesting_deeper_than_64_levels_is_too_big);
	tcase_add_test(tc, test_query__allocation_failures_are_enomem_without_leaks);
	tcase_add_test(tc, test_query__random_queries_never_crash_and_round_trip);
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
