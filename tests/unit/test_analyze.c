/* lib/index/analyze.c: the text analyzer of the full-text index. */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/analyze.h"
#include "testutil.h"
#include "util/alloc.h"
#include "util/text.h"

#define MAX_TOKS 1024

typedef struct tok {
	char text[CVL_TERM_MAX + 1];
	uint32_t len, pos, start, end;
	int whole;
} tok;

typedef struct toks {
	tok t[MAX_TOKS];
	int n;
	int calls;
	int stop_at; /* emit returns 7 on this call (1-based); 0: never */
} toks;

static cvl_analyzer *plain, *english;
static toks got;
static char rendered[8192];

static void setup(void)
{
	CK_OK(cvl_analyzer_new(NULL, &plain));
	CK_OK(cvl_analyzer_new("english", &english));
}

static void teardown(void)
{
	cvl_analyzer_free(plain);
	cvl_analyzer_free(english);
	plain = english = NULL;
}

static int collect(void *ud, const cvl_token *t)
{
	toks *k = ud;
	tok *o;

	/* plain ifs: every passing ck_assert costs a message to the parent */
	k->calls++;
	if (k->n >= MAX_TOKS || t->len == 0 || t->len > CVL_TERM_MAX)
		ck_abort_msg("token %d has length %u", k->n, t->len);
	o = &k->t[k->n++];
	memcpy(o->text, t->text, t->len);
	o->text[t->len] = '\0';
	o->len = t->len;
	o->pos = t->pos;
	o->start = t->start;
	o->end = t->end;
	o->whole = t->whole;
	if (k->stop_at && k->calls == k->stop_at)
		return 7;
	return 0;
}

static toks *run_n(cvl_analyzer *a, const char *s, size_t n)
{
	memset(&got, 0, sizeof(got));
	CK_OK(cvl_analyze(a, s, n, collect, &got));
	return &got;
}

static toks *run(cvl_analyzer *a, const char *s)
{
	return run_n(a, s, strlen(s));
}

/* "term/pos" per token, "*" after a whole-identifier token, space separated. */
static const char *render(const toks *k)
{
	size_t o = 0;

	rendered[0] = '\0';
	for (int i = 0; i < k->n && o < sizeof(rendered) - 100; i++)
		o += (size_t)snprintf(rendered + o, sizeof(rendered) - o, "%s%s/%u%s", i ? " " : "",
				      k->t[i].text, k->t[i].pos, k->t[i].whole ? "*" : "");
	return rendered;
}

static const char *tokens(cvl_analyzer *a, const char *s)
{
	return render(run(a, s));
}

#define ASSERT_TOKENS(a, text, expect) ck_assert_str_eq(tokens(a, text), expect)

/* Asserts token i has the source range [start, end). */
static void assert_span(const toks *k, int i, uint32_t start, uint32_t end)
{
	ck_assert_int_lt(i, k->n);
	ck_assert_msg(k->t[i].start == start && k->t[i].end == end,
		      "token %d '%s': span [%u,%u), expected [%u,%u)", i, k->t[i].text,
		      k->t[i].start, k->t[i].end, start, end);
}

START_TEST(test_analyze__ascii_words_fold_case_and_split_on_punctuation)
{
	ASSERT_TOKENS(plain, "Hello, World! (It's) 2024-06-01; e-mail ME@x.",
		      "hello/0 world/1 it/2 s/3 2024/4 06/5 01/6 e/7 mail/8 me/9 x/10");
	ASSERT_TOKENS(plain, "a+b=c/d|e\\f\"g\"#h$i%j&k*l<m>n?o!p~q`r^s{t}u[v]w",
		      "a/0 b/1 c/2 d/3 e/4 f/5 g/6 h/7 i/8 j/9 k/10 l/11 m/12 n/13 "
		      "o/14 p/15 q/16 r/17 s/18 t/19 u/20 v/21 w/22");
}
END_TEST

START_TEST(test_analyze__numbers_are_tokens_and_not_split_from_letters)
{
	ASSERT_TOKENS(plain, "1,000,000 people in 2024 v2 mp3s 42nd",
		      "1/0 000/1 000/2 people/3 in/4 2024/5 v2/6 mp3s/7 42nd/8");
	/* a '.' between digits is an identifier separator like any other */
	ASSERT_TOKENS(plain, "pi is 3.14", "pi/0 is/1 3/2 3.14/2* 14/3");
}
END_TEST

START_TEST(test_analyze__apostrophes_split_like_unicode61)
{
	ASSERT_TOKENS(plain, "don't won\xE2\x80\x99t O'Brien's",
		      "don/0 t/1 won/2 t/3 o/4 brien/5 s/6");
}
END_TEST

START_TEST(test_analyze__accents_and_diacritics_are_folded)
{
	ASSERT_TOKENS(plain, "Café naïve RÉSUMÉ Ærø Straße ẞ Ångström İstanbul",
		      "cafe/0 naive/1 resume/2 \xC3\xA6r\xC3\xB8/3 strasse/4 ss/5 angstrom/6 "
		      "istanbul/7");
	/* decomposed input: the combining accent continues the word and folds away */
	toks *k = run(plain, "cafe\xCC\x81s ok");
	ck_assert_str_eq(render(k), "cafes/0 ok/1");
	assert_span(k, 0, 0, 7);
	/* Greek and Cyrillic fold case too */
	ASSERT_TOKENS(plain, "ΣΟΦΊΑ Москва", "σοφια/0 москва/1");
}
END_TEST

START_TEST(test_analyze__compatibility_forms_fold_under_nfkc)
{
	ASSERT_TOKENS(plain,
		      "\xEF\xBD\x86\xEF\xBD\x95\xEF\xBD\x8C\xEF\xBD\x8C " /* ｆｕｌｌ */
		      "\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\xA3 "		  /* ＡＢＣ */
		      "\xEF\xAC\x81le "					  /* ﬁle */
		      "\xE2\x91\xA0 "					  /* ① */
		      "\xE2\x85\xAB "					  /* Ⅻ */
		      "x\xC2\xB2 "					  /* x² */
		      "\xEF\xBC\x92\xEF\xBC\x90\xEF\xBC\x92\xEF\xBC\x94", /* ２０２４ */
		      "full/0 abc/1 file/2 1/3 xii/4 x2/5 2024/6");
}
END_TEST

START_TEST(test_analyze__chinese_runs_become_overlapping_bigrams)
{
	toks *k = run(plain, "東京都");

	ck_assert_str_eq(render(k), "東京/0 京都/1");
	assert_span(k, 0, 0, 6);
	assert_span(k, 1, 3, 9);
	ASSERT_TOKENS(plain, "我们讨论数据库。性能问题",
		      "我们/0 们讨/1 讨论/2 论数/3 数据/4 据库/5 性能/6 能问/7 问题/8");
}
END_TEST

START_TEST(test_analyze__japanese_kana_and_kanji_form_one_run)
{
	ASSERT_TOKENS(plain, "東京タワーに行く",
		      "東京/0 京タ/1 タワ/2 ワー/3 ーに/4 に行/5 行く/6");
	ASSERT_TOKENS(plain, "これは、テスト。", "これ/0 れは/1 テス/2 スト/3");
	/* 々 (iteration mark) belongs to the run */
	ASSERT_TOKENS(plain, "人々", "人々/0");
}
END_TEST

START_TEST(test_analyze__korean_hangul_runs_become_bigrams)
{
	ASSERT_TOKENS(plain, "한국어 검색 엔진이", "한국/0 국어/1 검색/2 엔진/3 진이/4");
	/* decomposed (NFD) Hangul is composed first: 한 = U+1112 U+1161 U+11AB */
	toks *k = run(plain, "\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB\xEA\xB5\xAD");
	ck_assert_str_eq(render(k), "한국/0");
	assert_span(k, 0, 0, 12);
}
END_TEST

START_TEST(test_analyze__single_cjk_char_is_a_unigram)
{
	toks *k = run(plain, "字 a 字!");

	ck_assert_str_eq(render(k), "字/0 a/1 字/2");
	assert_span(k, 0, 0, 3);
	assert_span(k, 2, 6, 9);
}
END_TEST

START_TEST(test_analyze__cjk_run_separates_from_adjacent_latin)
{
	toks *k = run(plain, "使用convlog存储2024年");

	ck_assert_str_eq(render(k), "使用/0 convlog/1 存储/2 2024/3 年/4");
	assert_span(k, 1, 6, 13);
	assert_span(k, 2, 13, 19);
	/* a '.' or '_' between CJK and Latin does not make an identifier */
	ASSERT_TOKENS(plain, "東京.tokyo 大阪_osaka", "東京/0 tokyo/1 大阪/2 osaka/3");
}
END_TEST

START_TEST(test_analyze__halfwidth_katakana_folds_and_composes)
{
	/* ｶﾞｲﾄﾞ: the halfwidth voicing mark joins the kana before it */
	toks *k = run(plain, "\xEF\xBD\xB6\xEF\xBE\x9E\xEF\xBD\xB2\xEF\xBE\x84\xEF\xBE\x9E");

	ck_assert_str_eq(render(k), "ガイ/0 イド/1");
	assert_span(k, 0, 0, 9);
	assert_span(k, 1, 6, 15);
	/* voicing is kept (ビール is not ピール or ヒール); か + U+3099 is が */
	ASSERT_TOKENS(plain, "ビール ピール \xE3\x81\x8B\xE3\x82\x99",
		      "ビー/0 ール/1 ピー/2 ール/3 が/4");
}
END_TEST

START_TEST(test_analyze__snake_case_identifier_yields_parts_and_whole)
{
	toks *k = run(plain, "call get_user_id now");

	ck_assert_str_eq(render(k), "call/0 get/1 get_user_id/1* user/2 id/3 now/4");
	assert_span(k, 1, 5, 8);
	assert_span(k, 2, 5, 16);
	assert_span(k, 3, 9, 13);
	assert_span(k, 4, 14, 16);
}
END_TEST

START_TEST(test_analyze__dotted_name_keeps_its_separators_in_the_whole)
{
	ASSERT_TOKENS(plain, "os.path.join(a)", "os/0 os.path.join/0* path/1 join/2 a/3");
	ASSERT_TOKENS(plain, "get_user.emails", "get/0 get_user.emails/0* user/1 emails/2");
	ASSERT_TOKENS(plain, "see www.Example.com",
		      "see/0 www/1 www.example.com/1* example/2 com/3");
}
END_TEST

START_TEST(test_analyze__camel_case_identifier_yields_parts_and_whole)
{
	toks *k = run(plain, "getUserEmails");

	ck_assert_str_eq(render(k), "get/0 getuseremails/0* user/1 emails/2");
	assert_span(k, 0, 0, 3);
	assert_span(k, 1, 0, 13);
	assert_span(k, 2, 3, 7);
	assert_span(k, 3, 7, 13);
	ASSERT_TOKENS(plain, "PascalCase", "pascal/0 pascalcase/0* case/1");
	ASSERT_TOKENS(plain, "ÉcoleNormale", "ecole/0 ecolenormale/0* normale/1");
}
END_TEST

START_TEST(test_analyze__acronym_splits_before_its_last_capital)
{
	ASSERT_TOKENS(plain, "HTTPServer", "http/0 httpserver/0* server/1");
	ASSERT_TOKENS(plain, "XMLHttpRequest", "xml/0 xmlhttprequest/0* http/1 request/2");
	ASSERT_TOKENS(plain, "parseJSON", "parse/0 parsejson/0* json/1");
	/* a plural acronym is one word */
	ASSERT_TOKENS(plain, "URLs and IDs", "urls/0 and/1 ids/2");
	ASSERT_TOKENS(plain, "getIDsFor", "get/0 getidsfor/0* ids/1 for/2");
}
END_TEST

START_TEST(test_analyze__separators_and_humps_combine)
{
	ASSERT_TOKENS(plain, "get_userID", "get/0 get_userid/0* user/1 id/2");
	ASSERT_TOKENS(plain, "self.cacheSize_max",
		      "self/0 self.cachesize_max/0* cache/1 size/2 max/3");
}
END_TEST

START_TEST(test_analyze__plain_words_are_only_themselves)
{
	toks *k = run(plain, "Hello NASA hello ALLCAPS x");

	ck_assert_str_eq(render(k), "hello/0 nasa/1 hello/2 allcaps/3 x/4");
	for (int i = 0; i < k->n; i++)
		ck_assert_int_eq(k->t[i].whole, 0);
}
END_TEST

START_TEST(test_analyze__dot_or_underscore_not_between_word_chars_separates)
{
	ASSERT_TOKENS(plain, "the end. _private a__b .x y. __init__ c._d e_.f",
		      "the/0 end/1 private/2 a/3 b/4 x/5 y/6 init/7 c/8 d/9 e/10 f/11");
}
END_TEST

START_TEST(test_analyze__positions_and_byte_offsets_are_exact)
{
	/* bytes: Ü=2 ï=2; "Ünïcode" 0..9, "get_userName" 11..23, 東京 24..30, "ok" 31..33 */
	toks *k = run(plain, "Ünïcode  get_userName 東京 ok");

	ck_assert_str_eq(render(k), "unicode/0 get/1 get_username/1* user/2 name/3 東京/4 ok/5");
	assert_span(k, 0, 0, 9);
	assert_span(k, 1, 11, 14);
	assert_span(k, 2, 11, 23);
	assert_span(k, 3, 15, 19);
	assert_span(k, 4, 19, 23);
	assert_span(k, 5, 24, 30);
	assert_span(k, 6, 31, 33);
	/* positions restart for each text */
	k = run(plain, "again");
	ck_assert_uint_eq(k->t[0].pos, 0);
}
END_TEST

START_TEST(test_analyze__stemming_applies_to_alphabetic_words_and_parts)
{
	/* a changed word is followed by its unstemmed form (whole = 2) */
	ASSERT_TOKENS(english, "Running runners jumped",
		      "run/0 running/0* runner/1 runners/1* jump/2 jumped/2*");
	/* parts are stemmed, the whole identifier is not */
	ASSERT_TOKENS(english, "getRunningTests",
		      "get/0 getrunningtests/0* run/1 running/1* test/2 tests/2*");
	/* numbers, words with digits and CJK are not stemmed */
	ASSERT_TOKENS(english, "1990s mp3s 東京 学習", "1990s/0 mp3s/1 東京/2 学習/3");
	/* the same word twice (the second from the stem cache) */
	ASSERT_TOKENS(english, "connections connections",
		      "connect/0 connections/0* connect/1 connections/1*");
}
END_TEST

START_TEST(test_analyze__stemming_off_keeps_words)
{
	cvl_analyzer *empty;

	ASSERT_TOKENS(plain, "Running runners", "running/0 runners/1");
	CK_OK(cvl_analyzer_new("", &empty));
	ASSERT_TOKENS(empty, "Running runners", "running/0 runners/1");
	cvl_analyzer_free(empty);
}
END_TEST

START_TEST(test_analyze__other_languages_stem_too)
{
	cvl_analyzer *fr;

	CK_OK(cvl_analyzer_new("french", &fr));
	ASSERT_TOKENS(fr, "continuellement", "continuel/0 continuellement/0*");
	cvl_analyzer_free(fr);
}
END_TEST

START_TEST(test_analyze__unknown_language_is_einval)
{
	cvl_analyzer *a = (cvl_analyzer *)&a;

	CK_ERR(cvl_analyzer_new("klingon", &a), CONVLOG_EINVAL);
	ck_assert_ptr_null(a);
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "klingon"));
	CK_ERR(cvl_analyzer_new("english", NULL), CONVLOG_EINVAL);
	cvl_analyzer_free(NULL);
}
END_TEST

START_TEST(test_analyze__allocation_failure_is_enomem)
{
	cvl_analyzer *a = NULL;

	cvl_alloc_fail_after(0, 0);
	CK_ERR(cvl_analyzer_new(NULL, &a), CONVLOG_ENOMEM);
	ck_assert_ptr_null(a);
	cvl_alloc_fail_after(1, 0); /* the stem cache */
	CK_ERR(cvl_analyzer_new("english", &a), CONVLOG_ENOMEM);
	ck_assert_ptr_null(a);
	cvl_alloc_fail_after(-1, 0);
}
END_TEST

START_TEST(test_analyze__long_terms_are_cut_at_a_character_boundary)
{
	char s[512];
	size_t n = 0, bad;
	toks *k;

	memset(s, 'a', 70);
	s[70] = '\0';
	k = run(plain, s);
	ck_assert_int_eq(k->n, 1);
	ck_assert_uint_eq(k->t[0].len, 64);
	assert_span(k, 0, 0, 70);
	/* 'a' + 40 x 'ж' (2 bytes): 81 bytes, cut to 63 */
	s[n++] = 'a';
	for (int i = 0; i < 40; i++) {
		memcpy(s + n, "\xD0\xB6", 2);
		n += 2;
	}
	k = run_n(plain, s, n);
	ck_assert_int_eq(k->n, 1);
	ck_assert_uint_eq(k->t[0].len, 63);
	ck_assert_int_eq(cvl_utf8_check(k->t[0].text, k->t[0].len, &bad), 0);
	/* the whole identifier is cut too; its parts stay exact */
	memset(s, 'b', 40);
	s[40] = '_';
	memset(s + 41, 'c', 40);
	k = run_n(plain, s, 81);
	ck_assert_int_eq(k->n, 3);
	ck_assert_uint_eq(k->t[0].len, 40);
	ck_assert_int_eq(k->t[1].whole, 1);
	ck_assert_uint_eq(k->t[1].len, 64);
	assert_span(k, 1, 0, 81);
	ck_assert_uint_eq(k->t[2].len, 40);
	/* stemming leaves a cut term alone */
	memset(s, 'x', 66);
	memcpy(s + 66, "ing", 4);
	k = run(english, s);
	ck_assert_uint_eq(k->t[0].len, 64);
}
END_TEST

START_TEST(test_analyze__long_identifier_chains_keep_consecutive_positions)
{
	char s[512];
	size_t n = 0;
	int wholes = 0;
	toks *k;

	for (int i = 0; i < 100; i++) {
		if (i)
			s[n++] = '_';
		s[n++] = (char)('a' + i % 26);
	}
	k = run_n(plain, s, n);
	for (int i = 0, pos = 0; i < k->n; i++) {
		if (k->t[i].whole) {
			wholes++;
			continue;
		}
		ck_assert_uint_eq(k->t[i].pos, (uint32_t)pos++);
	}
	ck_assert_int_eq(k->n - wholes, 100);
	ck_assert_int_ge(wholes, 1);
}
END_TEST

START_TEST(test_analyze__emit_nonzero_stops_the_walk)
{
	toks k;
	const char *texts[] = {"one two three four", "getUserName tail", "東京都庁 tail"};

	for (int t = 0; t < 3; t++) {
		for (int stop = 1; stop <= 3; stop++) {
			memset(&k, 0, sizeof(k));
			k.stop_at = stop;
			ck_assert_int_eq(
			    cvl_analyze(plain, texts[t], strlen(texts[t]), collect, &k), 7);
			ck_assert_int_eq(k.calls, stop);
		}
	}
}
END_TEST

START_TEST(test_analyze__empty_and_whitespace_input_yield_nothing)
{
	const char *texts[] = {"", "   ", "\t\r\n \f\v",
			       "!!! ... --- ___ ,;:", "\xE3\x80\x80 \xC2\xA0"};

	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(run(plain, texts[i])->n, 0);
	ck_assert_int_eq(run_n(plain, NULL, 0)->n, 0);
	CK_ERR(cvl_analyze(plain, NULL, 3, collect, &got), CONVLOG_EINVAL);
	CK_ERR(cvl_analyze(plain, "x", 1, NULL, NULL), CONVLOG_EINVAL);
}
END_TEST

START_TEST(test_analyze__invalid_utf8_bytes_are_separators)
{
	toks *k = run(plain, "ab\xFF"
			     "cd\xC3 ef\xC0\xAFgh\xED\xA0\x80ij\xE6\x9D");

	ck_assert_str_eq(render(k), "ab/0 cd/1 ef/2 gh/3 ij/4");
	assert_span(k, 1, 3, 5);
	/* a truncated sequence at the very end */
	ASSERT_TOKENS(plain, "x\xF0\x9F\x98", "x/0");
}
END_TEST

/* Random bytes biased towards UTF-8 lead and continuation bytes. */
START_TEST(test_analyze__random_bytes_never_break_the_contract)
{
	static const char *pieces[] = {"a",
				       "Z",
				       "_",
				       ".",
				       " ",
				       "東",
				       "ｶ",
				       "\xEF\xBE\x9E",
				       "\xCC\x81",
				       "é",
				       "\xE1\x84\x92",
				       "\xE1\x85\xA1",
				       "\xE1\x86\xAB",
				       "1",
				       "\xF0\x9F\x98\x80",
				       "\xE3\x82\x99"};
	uint64_t seed = 12345;
	char s[600];
	size_t bad;

	for (int iter = 0; iter < 3000; iter++) {
		size_t n = 0;
		while (n < 500) {
			uint64_t r = tu_rand(&seed);
			if (r % 3 == 0) {
				s[n++] = (char)(r >> 8);
			} else {
				const char *p = pieces[(r >> 8) % 16];
				memcpy(s + n, p, strlen(p));
				n += strlen(p);
			}
		}
		toks *k = run_n(iter % 2 ? english : plain, s, n);
		uint32_t next = 0;
		for (int i = 0; i < k->n; i++) {
			const tok *t = &k->t[i];
			int ok = cvl_utf8_check(t->text, t->len, &bad) == 0 && t->start < t->end &&
				 t->end <= n;
			if (t->whole == 1) /* after the first part (and its surface form) */
				ok = ok && i > 0 && k->t[i - 1].whole != 1 && t->pos == k->t[i - 1].pos;
			else if (t->whole == 2) /* right after its stem */
				ok = ok && i > 0 && !k->t[i - 1].whole && t->pos == k->t[i - 1].pos;
			else
				ok = ok && t->pos == next++;
			if (!ok)
				ck_abort_msg("iteration %d token %d '%s' pos %u [%u,%u)", iter, i,
					     t->text, t->pos, t->start, t->end);
		}
	}
}
END_TEST

static const char *prefix(cvl_analyzer *a, const char *s, size_t cap)
{
	static char out[128];
	size_t n;

	memset(out, 'X', sizeof(out));
	n = cvl_analyze_prefix(a, s, strlen(s), out, cap);
	ck_assert_uint_le(n, cap);
	out[n] = '\0';
	return out;
}

START_TEST(test_analyze__prefix_folds_without_stemming_or_splitting)
{
	ck_assert_str_eq(prefix(english, "Runn", 64), "runn");
	ck_assert_str_eq(prefix(english, "running", 64), "running");
	ck_assert_str_eq(prefix(plain, "Café", 64), "cafe");
	ck_assert_str_eq(prefix(plain, "\xEF\xBC\xA6\xEF\xBC\xB5\xEF\xBC\xAC", 64), "ful");
	ck_assert_str_eq(prefix(plain, "Stra\xC3\x9F", 64), "strass");
	ck_assert_str_eq(prefix(plain, "  get_Us", 64), "get_us");
	ck_assert_str_eq(prefix(plain, "getUs", 64), "getus");
	ck_assert_str_eq(prefix(plain, "東京タ", 64), "東京タ");
	ck_assert_str_eq(prefix(plain, "\xEF\xBD\xB6\xEF\xBE\x9E", 64), "ガ");
	/* a separator ends the prefix */
	ck_assert_str_eq(prefix(plain, "foo bar", 64), "foo");
	/* no word character: nothing */
	ck_assert_uint_eq(cvl_analyze_prefix(plain, "!!!", 3, rendered, 64), 0);
	ck_assert_uint_eq(cvl_analyze_prefix(plain, "", 0, rendered, 64), 0);
	ck_assert_uint_eq(cvl_analyze_prefix(plain, "_.", 2, rendered, 64), 0);
	ck_assert_uint_eq(cvl_analyze_prefix(plain, "\xFF", 1, rendered, 64), 0);
}
END_TEST

START_TEST(test_analyze__prefix_is_cut_at_a_character_boundary)
{
	char s[200];

	ck_assert_str_eq(prefix(plain, "日本語", 4), "日");
	ck_assert_str_eq(prefix(plain, "日本語", 6), "日本");
	ck_assert_str_eq(prefix(plain, "abc", 2), "ab");
	memset(s, 'q', 100);
	s[100] = '\0';
	ck_assert_uint_eq(strlen(prefix(plain, s, 128)), CVL_TERM_MAX);
}
END_TEST

/* ---- comparison with SQLite FTS5's unicode61 tokenizer ---- */

/* Random ASCII text without camelCase humps (where we emit parts by design). */
static size_t ascii_text(uint64_t *seed, char *s, size_t cap)
{
	static const char seps[] = " \t\n.,;:!?'\"-_()[]{}/\\@#$%^&*+=<>|~`";
	size_t n = 0;

	while (n + 40 < cap) {
		uint64_t r = tu_rand(seed);
		int len = 1 + (int)(r % 12), kind = (int)((r >> 8) % 5);
		for (int i = 0; i < len; i++) {
			uint64_t c = tu_rand(seed);
			if (kind == 0)
				s[n++] = (char)('0' + c % 10);
			else if (kind == 1)
				s[n++] = (char)('A' + c % 26);
			else if (kind == 2 && i == 0)
				s[n++] = (char)('A' + c % 26);
			else if (kind == 3 && c % 4 == 0)
				s[n++] = (char)('0' + c % 10);
			else
				s[n++] = (char)('a' + c % 26);
		}
		int nsep = 1 + (int)((r >> 16) % 3);
		for (int i = 0; i < nsep; i++)
			s[n++] = seps[tu_rand(seed) % (sizeof(seps) - 1)];
	}
	s[n] = '\0';
	return n;
}

static void exec_sql(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK, "%s: %s", sql, err);
}

/* Our non-whole tokens of docs[i] as "term/pos ..." */
static void ours(const char *doc, char *out, size_t cap)
{
	toks *k = run(plain, doc);
	size_t o = 0;

	out[0] = '\0';
	for (int i = 0; i < k->n; i++) {
		if (!k->t[i].whole)
			o +=
			    (size_t)snprintf(out + o, cap - o, "%s/%u ", k->t[i].text, k->t[i].pos);
	}
}

static void theirs(sqlite3 *db, int64_t rowid, char *out, size_t cap)
{
	sqlite3_stmt *st;
	size_t o = 0;

	ck_assert_int_eq(sqlite3_prepare_v2(db,
					    "SELECT term, \"offset\" FROM v WHERE doc = ?1 "
					    "ORDER BY \"offset\"",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_int64(st, 1, rowid);
	out[0] = '\0';
	while (sqlite3_step(st) == SQLITE_ROW)
		o += (size_t)snprintf(out + o, cap - o, "%s/%d ", sqlite3_column_text(st, 0),
				      sqlite3_column_int(st, 1));
	sqlite3_finalize(st);
}

START_TEST(test_analyze__matches_sqlite_fts5_unicode61_on_ascii)
{
	static const char *fixed[] = {
	    "Hello, World! It's 2024-06-01; e-mail me at bob@example.com.",
	    "snake_case and os.path.join(x) and v1.2.3 or 3.14159 -- NASA's URLs.",
	    "Don't stop: 100% of *tests* [passed] {ok} <b>bold</b> #tag @user ~tilde",
	    "C:\\Program Files\\app.exe /usr/local/bin   trailing   ",
	};
	enum { NRAND = 40 };
	static char docs[4 + NRAND][2048], a[32768], b[32768];
	uint64_t seed = 99;
	sqlite3 *db;
	sqlite3_stmt *ins;
	int ndocs = 4 + NRAND;

	ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
	exec_sql(db, "CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61');"
		     "CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance');");
	ck_assert_int_eq(
	    sqlite3_prepare_v2(db, "INSERT INTO t(rowid, x) VALUES (?1, ?2)", -1, &ins, NULL),
	    SQLITE_OK);
	for (int i = 0; i < ndocs; i++) {
		if (i < 4)
			snprintf(docs[i], sizeof(docs[i]), "%s", fixed[i]);
		else
			ascii_text(&seed, docs[i], sizeof(docs[i]));
		sqlite3_bind_int64(ins, 1, i + 1);
		sqlite3_bind_text(ins, 2, docs[i], -1, SQLITE_STATIC);
		ck_assert_int_eq(sqlite3_step(ins), SQLITE_DONE);
		sqlite3_reset(ins);
	}
	sqlite3_finalize(ins);
	for (int i = 0; i < ndocs; i++) {
		ours(docs[i], a, sizeof(a));
		theirs(db, i + 1, b, sizeof(b));
		size_t d = 0;
		while (a[d] && a[d] == b[d])
			d++;
		d = d > 40 ? d - 40 : 0;
		ck_assert_msg(strcmp(a, b) == 0,
			      "doc %d differs:\n ours   ...%.120s\n theirs ...%.120s", i, a + d,
			      b + d);
	}
	sqlite3_close(db);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("analyze");
	TCase *tc = tcase_create("analyze");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_analyze__ascii_words_fold_case_and_split_on_punctuation);
	tcase_add_test(tc, test_analyze__numbers_are_tokens_and_not_split_from_letters);
	tcase_add_test(tc, test_analyze__apostrophes_split_like_unicode61);
	tcase_add_test(tc, test_analyze__accents_and_diacritics_are_folded);
	tcase_add_test(tc, test_analyze__compatibility_forms_fold_under_nfkc);
	tcase_add_test(tc, test_analyze__chinese_runs_become_overlapping_bigrams);
	tcase_add_test(tc, test_analyze__japanese_kana_and_kanji_form_one_run);
	tcase_add_test(tc, test_analyze__korean_hangul_runs_become_bigrams);
	tcase_add_test(tc, test_analyze__single_cjk_char_is_a_unigram);
	tcase_add_test(tc, test_analyze__cjk_run_separates_from_adjacent_latin);
	tcase_add_test(tc, test_analyze__halfwidth_katakana_folds_and_composes);
	tcase_add_test(tc, test_analyze__snake_case_identifier_yields_parts_and_whole);
	tcase_add_test(tc, test_analyze__dotted_name_keeps_its_separators_in_the_whole);
	tcase_add_test(tc, test_analyze__camel_case_identifier_yields_parts_and_whole);
	tcase_add_test(tc, test_analyze__acronym_splits_before_its_last_capital);
	tcase_add_test(tc, test_analyze__separators_and_humps_combine);
	tcase_add_test(tc, test_analyze__plain_words_are_only_themselves);
	tcase_add_test(tc, test_analyze__dot_or_underscore_not_between_word_chars_separates);
	tcase_add_test(tc, test_analyze__positions_and_byte_offsets_are_exact);
	tcase_add_test(tc, test_analyze__stemming_applies_to_alphabetic_words_and_parts);
	tcase_add_test(tc, test_analyze__stemming_off_keeps_words);
	tcase_add_test(tc, test_analyze__other_languages_stem_too);
	tcase_add_test(tc, test_analyze__unknown_language_is_einval);
	tcase_add_test(tc, test_analyze__allocation_failure_is_enomem);
	tcase_add_test(tc, test_analyze__long_terms_are_cut_at_a_character_boundary);
	tcase_add_test(tc, test_analyze__long_identifier_chains_keep_consecutive_positions);
	tcase_add_test(tc, test_analyze__emit_nonzero_stops_the_walk);
	tcase_add_test(tc, test_analyze__empty_and_whitespace_input_yield_nothing);
	tcase_add_test(tc, test_analyze__invalid_utf8_bytes_are_separators);
	tcase_add_test(tc, test_analyze__random_bytes_never_break_the_contract);
	tcase_add_test(tc, test_analyze__prefix_folds_without_stemming_or_splitting);
	tcase_add_test(tc, test_analyze__prefix_is_cut_at_a_character_boundary);
	tcase_add_test(tc, test_analyze__matches_sqlite_fts5_unicode61_on_ascii);
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
