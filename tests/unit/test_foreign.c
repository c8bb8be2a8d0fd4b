/*
 * tools/foreign.c: ChatGPT, Claude.ai and OpenAI exports to convlog JSONL
 * objects.
 *
 * Fixtures live in tests/data/exports/ (or $CONVLOG_TEST_EXPORTS); the
 * suite runs from the top of the tree, as `make unit` does.
 *   chatgpt.json   branches (edited question + regenerated answer, tip on
 *                  a non-last branch); tools, multimodal, hidden system,
 *                  null-message root, null times, archived; non-Latin text
 *   claude.json    linear; attachments, files, tool_use/tool_result,
 *                  thinking, citations; parent_message_uuid branches
 *   openai.jsonl   plain; tool_calls and a tool message; content parts
 *                  and extra top-level keys
 * The bad fixtures (chatgpt_cycle, chatgpt_missing_parent, chatgpt_dup_id,
 * chatgpt_wrong_type, claude_bad_time .json, openai_bad.jsonl) each hold a
 * GOOD conversation, then the bad one, then another GOOD one: the
 * importer's --keep-going test relies on that order (JSON has no
 * comments, so it is noted here).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "foreign.h"
#include "jsonl.h"
#include "testutil.h"

#define NOW 1700000000000LL /* 2023-11-14T22:13:20.000Z */
#define MAXLINES 8

/* ---- helpers ---- */

static void fixture_path(char *out, size_t n, const char *name)
{
	const char *dir = getenv("CONVLOG_TEST_EXPORTS");

	snprintf(out, n, "%s/%s", dir ? dir : "tests/data/exports", name);
}

static json_t *load_array(const char *name)
{
	char path[512];
	json_error_t e;
	json_t *a;

	fixture_path(path, sizeof(path), name);
	a = json_load_file(path, JSONL_LOAD_FLAGS, &e);
	ck_assert_msg(a != NULL, "%s: %s (line %d)", path, e.text, e.line);
	ck_assert(json_is_array(a));
	return a;
}

typedef struct line {
	char *raw;
	size_t len;
	json_t *obj;
} line;

/* Reads a JSONL fixture; returns the number of lines. */
static size_t load_lines(const char *name, line *out)
{
	char path[512];
	json_error_t e;
	size_t cap = 0, n = 0;
	char *buf = NULL;
	ssize_t len;
	FILE *f;

	fixture_path(path, sizeof(path), name);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	while ((len = getline(&buf, &cap, f)) > 0 && n < MAXLINES) {
		out[n].raw = strndup(buf, (size_t)len);
		out[n].len = (size_t)len;
		out[n].obj = json_loadb(buf, (size_t)len, JSONL_LOAD_FLAGS, &e);
		ck_assert_msg(out[n].obj != NULL, "%s:%zu: %s", path, n + 1, e.text);
		n++;
	}
	free(buf);
	fclose(f);
	return n;
}

static void free_lines(line *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(l[i].raw);
		json_decref(l[i].obj);
	}
}

/* Inline JSON with ' for " (no apostrophes in the text, then). */
static json_t *J(const char *text)
{
	char *s = strdup(text);
	json_error_t e;
	json_t *v;

	for (char *p = s; *p; p++)
		if (*p == '\'')
			*p = '"';
	v = json_loads(s, JSONL_LOAD_FLAGS, &e);
	ck_assert_msg(v != NULL, "bad test JSON: %s at %d: %s", e.text, e.position, s);
	free(s);
	return v;
}

static const char *str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static long long num(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	ck_assert_msg(json_is_integer(v), "'%s' is not an integer", k);
	return json_integer_value(v);
}

static const json_t *meta(const json_t *o, const char *k)
{
	return json_object_get(json_object_get(o, "metadata"), k);
}

static const char *meta_str(const json_t *o, const char *k)
{
	return json_string_value(meta(o, k));
}

/*
 * Every object must pass the strict JSONL parser; messages are numbered
 * 1..n, name the conversation, and their parents come before them.
 */
static void check_valid(const json_t *arr)
{
	size_t n = json_array_size(arr);
	const json_t *conv = json_array_get(arr, 0);
	jsonl_conv_in ci;
	jsonl_msg_in mi;
	char err[512];
	int rc;

	ck_assert_uint_ge(n, 1);
	ck_assert_str_eq(jsonl_type(conv), "conversation");
	rc = jsonl_conv_parse(conv, &ci, err, sizeof(err));
	ck_assert_msg(rc == 0, "conversation: %s", err);
	ck_assert_uint_le(ci.c.tip_seq, n - 1);
	jsonl_conv_clear(&ci);
	ck_assert(json_is_object(json_object_get(conv, "metadata")));
	for (size_t i = 1; i < n; i++) {
		const json_t *m = json_array_get(arr, i);
		ck_assert_str_eq(jsonl_type(m), "message");
		rc = jsonl_msg_parse(m, &mi, err, sizeof(err));
		ck_assert_msg(rc == 0, "message %zu: %s", i, err);
		ck_assert_uint_eq(mi.m.seq, i);
		ck_assert(mi.has_parent_seq);
		ck_assert_uint_lt(mi.m.parent_seq, mi.m.seq);
		jsonl_msg_clear(&mi);
		ck_assert_str_eq(str(m, "conversation_id"), str(conv, "id"));
		ck_assert(json_is_object(json_object_get(m, "metadata")));
	}
}

/* Converts src, checks the output and that a second conversion is equal. */
static json_t *convert(foreign_format f, const json_t *src, const char *raw, size_t len)
{
	json_t *a = NULL, *b = NULL;
	char err[512] = "";
	int rc;

	rc = foreign_convert(f, src, 0, raw, len, NOW, &a, err, sizeof(err));
	ck_assert_msg(rc == 0, "conversion failed: %s", err);
	rc = foreign_convert(f, src, 0, raw, len, NOW, &b, err, sizeof(err));
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(json_equal(a, b), "two conversions differ");
	json_decref(b);
	check_valid(a);
	return a;
}

/* The conversion fails and the message contains `expect`. */
static void convert_fails(foreign_format f, const json_t *src, const char *expect)
{
	json_t *out = (json_t *)1;
	char err[512] = "";

	ck_assert_int_eq(foreign_convert(f, src, 0, NULL, 0, NOW, &out, err, sizeof(err)), -1);
	ck_assert_ptr_null(out);
	ck_assert_msg(strstr(err, expect) != NULL, "error '%s' lacks '%s'", err, expect);
}

static void assert_parents(const json_t *arr, const int *parent, size_t n)
{
	ck_assert_uint_eq(json_array_size(arr), n + 1);
	for (size_t s = 1; s <= n; s++)
		ck_assert_msg(num(json_array_get(arr, s), "parent_seq") == parent[s - 1],
			      "seq %zu: parent_seq %lld, expected %d", s,
			      num(json_array_get(arr, s), "parent_seq"), parent[s - 1]);
}

/* The v8 UUID of the XXH3-128 hash of s, as the converter derives it. */
static void v8_of(const char *s, char out[CONVLOG_UUID_STRLEN])
{
	XXH128_canonical_t c;
	convlog_uuid id;

	XXH128_canonicalFromHash(&c, XXH3_128bits(s, strlen(s)));
	memcpy(id.bytes, c.digest, 16);
	id.bytes[6] = (unsigned char)((id.bytes[6] & 0x0f) | 0x80);
	id.bytes[8] = (unsigned char)((id.bytes[8] & 0x3f) | 0x80);
	convlog_uuid_format(&id, out);
}

/* A ChatGPT conversation around one mapping (inline tests). */
static json_t *gpt_conv(const char *mapping_json, const char *current)
{
	json_t *c = J("{'id': 'conv-1', 'title': 'T', 'create_time': 1714567890.5,"
		      " 'update_time': 1714567999.0}");

	json_object_set_new(c, "mapping", J(mapping_json));
	if (current)
		json_object_set_new(c, "current_node", json_string(current));
	return c;
}

#define ROOT_U_A                                                                         \
	"{'r': {'id': 'r', 'message': null, 'parent': null, 'children': ['u']},"        \
	" 'u': {'id': 'u', 'message': {'id': 'u', 'author': {'role': 'user'},"          \
	"       'create_time': 1714567891.0, 'content': {'content_type': 'text',"       \
	"       'parts': ['hi']}}, 'parent': 'r', 'children': ['a']},"                   \
	" 'a': {'id': 'a', 'message': {'id': 'a', 'author': {'role': 'assistant'},"     \
	"       'create_time': 1714567892.0, 'content': {'content_type': 'text',"       \
	"       'parts': ['hello']}}, 'parent': 'u', 'children': []}}"

/* ---- names and detection ---- */

START_TEST(test_foreign__names_round_trip)
{
	static const char *const names[] = {"auto", "convlog", "chatgpt", "claude", "openai"};
	foreign_format f;

	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(foreign_parse_name(names[i], &f), 0);
		ck_assert_int_eq(f, i);
		ck_assert_str_eq(foreign_name(f), names[i]);
	}
	ck_assert_int_eq(foreign_parse_name("ChatGPT", &f), -1);
	ck_assert_int_eq(foreign_parse_name("gemini", &f), -1);
	ck_assert_int_eq(foreign_parse_name("", &f), -1);
}
END_TEST

START_TEST(test_foreign__detect_by_shape)
{
	json_t *gpt = load_array("chatgpt.json"), *cl = load_array("claude.json");
	json_t *v;

	ck_assert_int_eq(foreign_detect(json_array_get(gpt, 0), 1), FOREIGN_CHATGPT);
	ck_assert_int_eq(foreign_detect(json_array_get(cl, 0), 1), FOREIGN_CLAUDE);
	/* one export conversation per line is still recognised */
	ck_assert_int_eq(foreign_detect(json_array_get(gpt, 0), 0), FOREIGN_CHATGPT);
	v = J("{'type': 'conversation', 'id': 'x'}");
	ck_assert_int_eq(foreign_detect(v, 0), FOREIGN_CONVLOG);
	ck_assert_int_eq(foreign_detect(v, 1), FOREIGN_AUTO);
	json_decref(v);
	v = J("{'type': 'message'}");
	ck_assert_int_eq(foreign_detect(v, 0), FOREIGN_CONVLOG);
	json_decref(v);
	v = J("{'messages': [{'role': 'user', 'content': 'hi'}]}");
	ck_assert_int_eq(foreign_detect(v, 0), FOREIGN_OPENAI);
	ck_assert_int_eq(foreign_detect(v, 1), FOREIGN_AUTO);
	json_decref(v);
	v = J("{'messages': 'no'}");
	ck_assert_int_eq(foreign_detect(v, 0), FOREIGN_AUTO);
	json_decref(v);
	v = J("[1, 2]");
	ck_assert_int_eq(foreign_detect(v, 0), FOREIGN_AUTO);
	json_decref(v);
	ck_assert_int_eq(foreign_detect(NULL, 0), FOREIGN_AUTO);
	json_decref(gpt);
	json_decref(cl);
}
END_TEST

START_TEST(test_foreign__describe_names_id_and_title)
{
	json_t *gpt = load_array("chatgpt.json"), *cl = load_array("claude.json");
	json_t *v;
	char out[128], small[12];

	foreign_describe(FOREIGN_CHATGPT, json_array_get(gpt, 0), out, sizeof(out));
	ck_assert_str_eq(out, "6650a3b1-7c2e-8005-9f3a-2b1d4e6f8a90 (\"Trip to Lisbon\")");
	foreign_describe(FOREIGN_CLAUDE, json_array_get(cl, 2), out, sizeof(out));
	ck_assert_str_eq(out, "7e6f5a4b-3c2d-4e1f-a0b9-c8d7e6f5a4b3 (\"Regex help\")");
	v = J("{'conversation_id': 'c-9', 'title': 'a\\nb'}");
	foreign_describe(FOREIGN_CHATGPT, v, out, sizeof(out));
	ck_assert_str_eq(out, "c-9 (\"a b\")"); /* control characters become spaces */
	json_decref(v);
	v = J("{'messages': []}");
	foreign_describe(FOREIGN_OPENAI, v, out, sizeof(out));
	ck_assert_str_eq(out, "(no id)");
	json_decref(v);
	/* cut to the buffer without splitting a UTF-8 sequence */
	v = J("{'id': 'ab', 'title': '\xe6\x8b\x89\xe9\xba\xb5'}");
	foreign_describe(FOREIGN_CHATGPT, v, small, 9);
	ck_assert_str_eq(small, "ab (\"\xe6\x8b\x89");
	foreign_describe(FOREIGN_CHATGPT, v, small, 8);
	ck_assert_str_eq(small, "ab (\"");
	foreign_describe(FOREIGN_CHATGPT, v, small, 0); /* nothing written, no crash */
	json_decref(v);
	json_decref(gpt);
	json_decref(cl);
}
END_TEST

/* ---- ChatGPT ---- */

START_TEST(test_foreign__chatgpt_branches_become_siblings)
{
	/* system(hidden) user assistant | edited: user assistant / user (asst, regen) */
	static const int parents[] = {0, 1, 2, 3, 4, 3, 6, 6};
	static const char *const roles[] = {"system", "user", "assistant", "user",
					    "assistant", "user", "assistant", "assistant"};
	json_t *all = load_array("chatgpt.json");
	json_t *a = convert(FOREIGN_CHATGPT, json_array_get(all, 0), NULL, 0);
	const json_t *c = json_array_get(a, 0);

	assert_parents(a, parents, 8);
	for (int s = 1; s <= 8; s++)
		ck_assert_str_eq(str(json_array_get(a, s), "role"), roles[s - 1]);
	ck_assert_int_eq(num(c, "tip_seq"), 7); /* current_node: the first regeneration */
	ck_assert_str_eq(str(c, "id"), "6650a3b1-7c2e-8005-9f3a-2b1d4e6f8a90");
	ck_assert_str_eq(str(c, "external_id"), "chatgpt:6650a3b1-7c2e-8005-9f3a-2b1d4e6f8a90");
	ck_assert_str_eq(str(json_array_get(a, 4), "content"), "What about Sintra?");
	ck_assert_str_eq(str(json_array_get(a, 6), "content"), "What about Sintra and Cascais?");
	ck_assert_str_eq(str(json_array_get(a, 7), "id"), "f3a4b5c6-d7e8-4f9a-8b1c-2d3e4f5a6b7c");
	ck_assert_str_eq(str(json_array_get(a, 7), "model"), "gpt-4o");
	ck_assert_str_eq(str(json_array_get(a, 8), "model"), "gpt-4o-mini");
	ck_assert_str_eq(str(json_array_get(a, 3), "content"),
			 "Day 1: Alfama and the castle.\nDay 2: Belém.\nDay 3: LX Factory.");
	/* the hidden system message is kept, flagged, and timed like the conversation */
	ck_assert_str_eq(str(json_array_get(a, 1), "content"), "");
	ck_assert(json_is_true(meta(json_array_get(a, 1), "hidden")));
	ck_assert_ptr_null(meta(json_array_get(a, 2), "hidden"));
	ck_assert_str_eq(str(json_array_get(a, 1), "created_at"), "2024-05-01T12:51:30.000Z");
	ck_assert_str_eq(str(json_array_get(a, 2), "created_at"), "2024-05-01T12:51:30.123Z");
	ck_assert_str_eq(str(json_array_get(a, 8), "created_at"), "2024-05-01T12:54:37.654Z");
	json_decref(a);
	json_decref(all);
}
END_TEST

START_TEST(test_foreign__chatgpt_conversation_fields_and_metadata)
{
	json_t *all = load_array("chatgpt.json");
	json_t *a = convert(FOREIGN_CHATGPT, json_array_get(all, 0), NULL, 0);
	json_t *b = convert(FOREIGN_CHATGPT, json_array_get(all, 1), NULL, 0);
	const json_t *c = json_array_get(a, 0), *m = json_array_get(a, 3);

	ck_assert_str_eq(str(c, "title"), "Trip to Lisbon");
	ck_assert_str_eq(str(c, "status"), "active");
	ck_assert_str_eq(str(c, "created_at"), "2024-05-01T12:51:30.000Z");
	ck_assert_str_eq(str(c, "updated_at"), "2024-05-01T12:54:37.654Z");
	ck_assert_str_eq(str(c, "last_activity_at"), "2024-05-01T12:54:37.654Z");
	ck_assert_str_eq(meta_str(c, "source"), "chatgpt");
	ck_assert_str_eq(meta_str(c, "default_model_slug"), "gpt-4o");
	ck_assert_str_eq(json_string_value(json_array_get(meta(c, "safe_urls"), 0)),
			 "https://www.visitlisboa.com/");
	ck_assert(json_is_false(meta(c, "is_do_not_remember")));
	/* mapped or blank fields are not repeated */
	ck_assert_ptr_null(meta(c, "mapping"));
	ck_assert_ptr_null(meta(c, "title"));
	ck_assert_ptr_null(meta(c, "plugin_ids"));
	ck_assert_ptr_null(meta(c, "moderation_results"));
	ck_assert_ptr_null(meta(c, "is_archived"));
	/* message: unmapped message and metadata fields kept, model_slug mapped */
	ck_assert_str_eq(meta_str(m, "source"), "chatgpt");
	ck_assert_str_eq(meta_str(m, "content_type"), "text");
	ck_assert_str_eq(meta_str(m, "recipient"), "all");
	ck_assert(json_is_true(meta(m, "end_turn")));
	ck_assert(json_real_value(meta(m, "weight")) == 1.0);
	ck_assert_str_eq(str(json_object_get(meta(m, "metadata"), "finish_details"), "type"), "stop");
	ck_assert_ptr_null(json_object_get(meta(m, "metadata"), "model_slug"));
	ck_assert_ptr_null(meta(m, "status")); /* finished_successfully maps back */
	ck_assert_ptr_null(meta(m, "source_id"));
	ck_assert_ptr_null(meta(m, "content")); /* plain text: nothing beyond content */
	/* archived conversation without current_node: tip = last leaf */
	c = json_array_get(b, 0);
	ck_assert_str_eq(str(c, "status"), "archived");
	ck_assert_str_eq(str(c, "archived_at"), "2024-05-01T22:01:40.987Z");
	ck_assert_int_eq(num(c, "tip_seq"), 9);
	json_decref(a);
	json_decref(b);
	json_decref(all);
}
END_TEST

START_TEST(test_foreign__chatgpt_tools_multimodal_and_null_times)
{
	static const int parents[] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
	json_t *all = load_array("chatgpt.json");
	json_t *a = convert(FOREIGN_CHATGPT, json_array_get(all, 1), NULL, 0);
	const json_t *sys = json_array_get(a, 1), *img = json_array_get(a, 2);
	const json_t *code = json_array_get(a, 3), *py = json_array_get(a, 4);
	const json_t *web = json_array_get(a, 8);

	assert_parents(a, parents, 9); /* the "client-created-root" is no message */
	ck_assert_str_eq(str(sys, "role"), "system");
	ck_assert(json_is_true(meta(sys, "hidden")));
	ck_assert(json_is_true(json_object_get(meta(sys, "metadata"),
					       "is_visually_hidden_from_conversation")));
	/* null create_time: the conversation's, then the parent's */
	ck_assert_str_eq(str(sys, "created_at"), "2024-05-01T21:46:40.500Z");
	ck_assert_str_eq(str(img, "created_at"), "2024-05-01T21:46:40.500Z");
	ck_assert_str_eq(str(img, "content"), "What does this chart show? Compute the totals per region.");
	ck_assert_str_eq(meta_str(img, "content_type"), "multimodal_text");
	ck_assert_str_eq(str(json_array_get(meta(img, "parts"), 0), "content_type"),
			 "image_asset_pointer");
	ck_assert_str_eq(str(json_array_get(json_object_get(meta(img, "metadata"), "attachments"), 0),
			     "name"),
			 "q1_sales.png");
	ck_assert_str_eq(str(code, "content"),
			 "import pandas as pd\ndf = pd.read_csv('/mnt/data/q1_sales.csv')\n"
			 "df.groupby('region')['sales'].sum()");
	ck_assert_str_eq(str(meta(code, "content"), "language"), "unknown");
	ck_assert_str_eq(meta_str(code, "recipient"), "python");
	ck_assert(json_is_false(meta(code, "end_turn")));
	ck_assert_str_eq(str(py, "role"), "tool");
	ck_assert_str_eq(str(py, "name"), "python");
	ck_assert_str_eq(str(py, "content"), "region\nEast     1250.0\nNorth     980.5\n"
					     "South    1410.2\nName: sales, dtype: float64");
	ck_assert_str_eq(meta_str(py, "content_type"), "execution_output");
	ck_assert_str_eq(str(json_object_get(meta(py, "metadata"), "aggregate_result"), "status"),
			 "success");
	ck_assert_ptr_null(meta(py, "content"));
	ck_assert_str_eq(str(web, "name"), "browser");
	ck_assert_str_eq(str(web, "content"),
			 "\xe3\x80\x90" "0\xe2\x80\xa0Retail sales rise 2.1% in Q1\xe2\x80\xa0"
			 "www.ine.pt\xe3\x80\x91\nPortugal's retail trade turnover index rose "
			 "2.1% year on year.");
	ck_assert_str_eq(meta_str(web, "content_type"), "tether_browsing_display");
	json_decref(a);
	json_decref(all);
}
END_TEST

START_TEST(test_foreign__chatgpt_unicode_is_byte_exact)
{
	json_t *all = load_array("chatgpt.json");
	json_t *a = convert(FOREIGN_CHATGPT, json_array_get(all, 2), NULL, 0);

	ck_assert_str_eq(str(json_array_get(a, 0), "title"),
			 "\xe6\x8b\x89\xe9\xba\xb5\xe6\x8e\xa8\xe8\x96\xa6 \xf0\x9f\x8d\x9c");
	ck_assert_str_eq(str(json_array_get(a, 1), "content"),
			 "\xe6\x9d\xb1\xe4\xba\xac\xe3\x81\xa7\xe4\xb8\x80\xe7\x95\xaa\xe3\x81\x8a"
			 "\xe3\x81\x84\xe3\x81\x97\xe3\x81\x84\xe3\x83\xa9\xe3\x83\xbc\xe3\x83\xa1"
			 "\xe3\x83\xb3\xe5\xb1\x8b\xe3\x81\xaf\xe3\x81\xa9\xe3\x81\x93\xe3\x81\xa7"
			 "\xe3\x81\x99\xe3\x81\x8b\xef\xbc\x9f");
	/* Arabic, a ZWJ family written as \u escapes, a ZWJ flag, a skin tone,
	 * decomposed combining marks (not normalised) */
	ck_assert_str_eq(str(json_array_get(a, 2), "content"),
			 "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7! \xf0\x9f\x91\xa9\xe2\x80\x8d"
			 "\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7\xe2\x80\x8d\xf0\x9f\x91\xa6 "
			 "\xf0\x9f\x8f\xb3\xef\xb8\x8f\xe2\x80\x8d\xf0\x9f\x8c\x88 \xf0\x9f\x91\xa8"
			 "\xf0\x9f\x8f\xbd\xe2\x80\x8d\xf0\x9f\x92\xbb\nCafe\xcc\x81, nai\xcc\x88ve, "
			 "n\xcc\x83o\n\xe4\xb8\x80\xe8\x98\xad\xef\xbc\x88\xe3\x81\x84\xe3\x81\xa1"
			 "\xe3\x82\x89\xe3\x82\x93\xef\xbc\x89\xe3\x81\x8c\xe3\x81\x8a\xe3\x81\x99"
			 "\xe3\x81\x99\xe3\x82\x81\xe3\x81\xa7\xe3\x81\x99\xe3\x80\x82");
	ck_assert_str_eq(str(json_array_get(a, 3), "content"),
			 "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, \xce\xb3\xce\xb5\xce\xb9"
			 "\xce\xac \xcf\x83\xce\xbf\xcf\x85, \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d, "
			 "\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8\xe0\xa5\x8d\xe0\xa4\xa4\xe0\xa5\x87");
	ck_assert_str_eq(str(json_array_get(a, 4), "content"), "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbe ok");
	ck_assert_int_eq(num(json_array_get(a, 0), "tip_seq"), 4);
	json_decref(a);
	json_decref(all);
}
END_TEST

START_TEST(test_foreign__chatgpt_unlisted_child_is_appended_by_time)
{
	/* x and y name u as parent but u's children list only a; y is older */
	json_t *c = gpt_conv(
		"{'r': {'id': 'r', 'message': null, 'parent': null, 'children': ['u']},"
		" 'u': {'id': 'u', 'message': {'id': 'u', 'author': {'role': 'user'},"
		"  'create_time': 1714567891.0, 'content': {'content_type': 'text', 'parts': ['q']}},"
		"  'parent': 'r', 'children': ['a']},"
		" 'x': {'id': 'x', 'message': {'id': 'x', 'author': {'role': 'assistant'},"
		"  'create_time': 1714567899.0, 'content': {'content_type': 'text', 'parts': ['x']}},"
		"  'parent': 'u'},"
		" 'a': {'id': 'a', 'message': {'id': 'a', 'author': {'role': 'assistant'},"
		"  'create_time': 1714567895.0, 'content': {'content_type': 'text', 'parts': ['a']}},"
		"  'parent': 'u', 'children': []},"
		" 'y': {'id': 'y', 'message': {'id': 'y', 'author': {'role': 'assistant'},"
		"  'create_time': 1714567893.0, 'content': {'content_type': 'text', 'parts': ['y']}},"
		"  'parent': 'u', 'children': []}}",
		NULL);
	static const int parents[] = {0, 1, 1, 1};
	json_t *a = convert(FOREIGN_CHATGPT, c, NULL, 0);

	assert_parents(a, parents, 4);
	ck_assert_str_eq(str(json_array_get(a, 2), "content"), "a");
	ck_assert_str_eq(str(json_array_get(a, 3), "content"), "y");
	ck_assert_str_eq(str(json_array_get(a, 4), "content"), "x");
	ck_assert_int_eq(num(json_array_get(a, 0), "tip_seq"), 4); /* last child of the last root */
	json_decref(a);
	json_decref(c);
}
END_TEST

START_TEST(test_foreign__chatgpt_non_uuid_ids_are_derived_as_v8)
{
	json_t *c = gpt_conv(ROOT_U_A, "a");
	json_t *a;
	char want[CONVLOG_UUID_STRLEN];

	a = convert(FOREIGN_CHATGPT, c, NULL, 0);
	v8_of("chatgpt:conv:conv-1", want);
	ck_assert_str_eq(str(json_array_get(a, 0), "id"), want);
	ck_assert_str_eq(str(json_array_get(a, 0), "external_id"), "chatgpt:conv-1");
	v8_of("chatgpt:msg:conv-1:u", want);
	ck_assert_str_eq(str(json_array_get(a, 1), "id"), want);
	ck_assert_int_eq(want[14], '8'); /* version 8 */
	ck_assert(strchr("89ab", want[19]) != NULL); /* RFC 4122 variant */
	ck_assert_str_eq(meta_str(json_array_get(a, 1), "source_id"), "u");
	ck_assert_int_eq(num(json_array_get(a, 0), "tip_seq"), 2);
	json_decref(a);
	/* an upper-case UUID is used, lower-cased */
	json_object_set_new(c, "id", json_string("6650A3B1-7C2E-8005-9F3A-2B1D4E6F8A90"));
	a = convert(FOREIGN_CHATGPT, c, NULL, 0);
	ck_assert_str_eq(str(json_array_get(a, 0), "id"), "6650a3b1-7c2e-8005-9f3a-2b1d4e6f8a90");
	ck_assert_str_eq(str(json_array_get(a, 0), "external_id"),
			 "chatgpt:6650A3B1-7C2E-8005-9F3A-2B1D4E6F8A90");
	v8_of("chatgpt:msg:6650A3B1-7C2E-8005-9F3A-2B1D4E6F8A90:u", want);
	ck_assert_str_eq(str(json_array_get(a, 1), "id"), want);
	json_decref(a);
	json_decref(c);
}
END_TEST

START_TEST(test_foreign__chatgpt_content_types)
{
	json_t *c = gpt_conv(
		"{'e': {'id': 'e', 'message': {'id': 'e', 'author': {'role': 'assistant'},"
		"  'create_time': 1714567891.0, 'status': 'finished_successfully',"
		"  'content': {'content_type': 'system_error', 'name': 'tool_error',"
		"  'text': 'Timed out'}}, 'parent': null, 'children': ['q']},"
		" 'q': {'id': 'q', 'message': {'id': 'q', 'author': {'role': 'tool', 'name': 'browser'},"
		"  'status': 'in_progress', 'content': {'content_type': 'tether_quote',"
		"  'url': 'https://ex.org', 'domain': 'ex.org', 'text': 'quoted', 'title': 'Ex'}},"
		"  'parent': 'e', 'children': ['k']},"
		" 'k': {'id': 'k', 'message': {'id': 'k', 'author': {'role': 'user', 'name': 7},"
		"  'status': 'weird', 'content': {'content_type': 'user_editable_context',"
		"  'user_profile': 'I am a chef.', 'user_instructions': 'Be brief.'},"
		"  'metadata': {'is_visually_hidden_from_conversation': true}},"
		"  'parent': 'q', 'children': ['t']},"
		" 't': {'id': 't', 'message': {'id': 't', 'author': {'role': 'assistant'},"
		"  'content': {'content_type': 'thoughts', 'thoughts': [{'summary': 'S',"
		"  'content': 'C'}], 'source_analysis_msg_id': 'z'}}, 'parent': 'k'}}",
		"t");
	json_t *a = convert(FOREIGN_CHATGPT, c, NULL, 0);
	const json_t *e = json_array_get(a, 1), *q = json_array_get(a, 2);
	const json_t *k = json_array_get(a, 3), *t = json_array_get(a, 4);

	ck_assert_str_eq(str(e, "content"), "tool_error\nTimed out");
	ck_assert_str_eq(str(e, "status"), "error");
	ck_assert_str_eq(str(e, "error_message"), "Timed out");
	ck_assert_str_eq(meta_str(e, "status"), "finished_successfully");
	ck_assert_str_eq(str(q, "content"), "Ex\nhttps://ex.org\nquoted");
	ck_assert_str_eq(str(q, "status"), "pending");
	ck_assert_str_eq(str(meta(q, "content"), "domain"), "ex.org");
	ck_assert_str_eq(str(q, "created_at"), "2024-05-01T12:51:31.000Z"); /* the parent's */
	ck_assert_str_eq(str(k, "content"), "I am a chef.\nBe brief.");
	ck_assert_str_eq(str(k, "status"), "completed");
	ck_assert_str_eq(meta_str(k, "status"), "weird");
	ck_assert_ptr_null(json_object_get(k, "name")); /* not a string: kept */
	ck_assert_int_eq(json_integer_value(json_object_get(meta(k, "author"), "name")), 7);
	ck_assert(json_is_true(meta(k, "hidden")));
	ck_assert_str_eq(str(t, "content"), "S\nC\nz"); /* unknown type: every string */
	ck_assert_str_eq(str(meta(t, "content"), "content_type"), "thoughts");
	ck_assert_int_eq(num(json_array_get(a, 0), "tip_seq"), 4);
	json_decref(a);
	json_decref(c);
}
END_TEST

START_TEST(test_foreign__chatgpt_structural_errors_name_the_node)
{
	static const struct {
		const char *mapping, *current, *expect;
	} cases[] = {
		{"{'r': {'id': 'r', 'parent': null, 'children': ['ghost']}}", NULL,
		 "mapping node \"r\": child \"ghost\" is not in the mapping"},
		{"{'r': {'id': 'r', 'parent': null, 'children': ['s']},"
		 " 's': {'id': 's', 'parent': 'q', 'children': []},"
		 " 'q': {'id': 'q', 'parent': null, 'children': []}}", NULL,
		 "mapping node \"r\": lists child \"s\", whose parent is \"q\""},
		{"{'r': {'id': 'r', 'parent': null, 'children': ['s', 's']},"
		 " 's': {'id': 's', 'parent': 'r'}}", NULL,
		 "mapping node \"r\": lists child \"s\" twice"},
		{"{'r': {'id': 'r', 'parent': null}}", "nowhere",
		 "current_node \"nowhere\" is not in the mapping"},
		{"{'r': {'id': 'x', 'parent': null}}", NULL,
		 "mapping node \"r\": id \"x\" differs from the node's key"},
		{"{'r': {'id': 'r', 'parent': null, 'message': {'author': {'role': 3},"
		 " 'content': {'content_type': 'text', 'parts': []}}}}", NULL,
		 "mapping node \"r\": role is an integer, expected a string"},
		{"{'r': {'id': 'r', 'parent': null, 'message': {'author': {'role': 'user'},"
		 " 'content': {'content_type': 'text', 'parts': 'hi'}}}}", NULL,
		 "mapping node \"r\": parts is a string, expected an array"},
		{"{'r': {'id': 'r', 'parent': null, 'message': {'content': {}}}}", NULL,
		 "mapping node \"r\": the message has no author"},
		{"{'r': {'id': 'r', 'parent': null, 'message': {'author': {'role': 'user'},"
		 " 'create_time': -5}}}", NULL, "mapping node \"r\": create_time -5 is out of range"},
		{"{'r': {'id': 'r', 'parent': 'r', 'children': ['r']}}", NULL,
		 "mapping node \"r\": not reachable from a root"},
		{"{'r': []}", NULL, "mapping node \"r\": expected an object, got an array"},
		{"{}", NULL, "the mapping is empty"},
	};
	json_t *c;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = gpt_conv(cases[i].mapping, cases[i].current);
		convert_fails(FOREIGN_CHATGPT, c, cases[i].expect);
		json_decref(c);
	}
	c = J("{'id': 'c', 'mapping': []}");
	convert_fails(FOREIGN_CHATGPT, c, "mapping is an array, expected an object");
	json_decref(c);
	c = J("{'title': 'no id', 'mapping': {}}");
	convert_fails(FOREIGN_CHATGPT, c, "no id or conversation_id");
	json_decref(c);
	c = gpt_conv(ROOT_U_A, NULL);
	json_object_set_new(c, "create_time", json_string("yesterday"));
	convert_fails(FOREIGN_CHATGPT, c, "create_time is a string, expected a number or null");
	json_decref(c);
}
END_TEST

START_TEST(test_foreign__content_over_the_limit_is_an_error)
{
	size_t n = 17u << 20;
	char *big = malloc(n);
	json_t *c = gpt_conv(ROOT_U_A, NULL), *parts;

	memset(big, 'a', n);
	parts = json_object_get(json_object_get(json_object_get(json_object_get(
		json_object_get(c, "mapping"), "u"), "message"), "content"), "parts");
	json_array_set_new(parts, 0, json_stringn(big, n));
	convert_fails(FOREIGN_CHATGPT, c,
		      "mapping node \"u\": content is 17.0 MiB, over the 16 MiB limit");
	/* exactly the limit is fine */
	json_array_set_new(parts, 0, json_stringn(big, CONVLOG_DEFAULT_MAX_CONTENT));
	json_t *a = convert(FOREIGN_CHATGPT, c, NULL, 0);
	ck_assert_uint_eq(json_string_length(json_object_get(json_array_get(a, 1), "content")),
			  CONVLOG_DEFAULT_MAX_CONTENT);
	json_decref(a);
	json_decref(c);
	free(big);
}
END_TEST

/* Good, bad, good: only the middle one fails, with `expect`. */
static void bad_array_fixture(const char *name, foreign_format f, const char *expect)
{
	json_t *all = load_array(name), *a;
	const char *title_key = f == FOREIGN_CLAUDE ? "name" : "title";

	ck_assert_uint_eq(json_array_size(all), 3);
	for (size_t i = 0; i < 3; i += 2) {
		a = convert(f, json_array_get(all, i), NULL, 0);
		ck_assert_str_eq(str(json_array_get(a, 0), "title"),
				 str(json_array_get(all, i), title_key));
		json_decref(a);
	}
	convert_fails(f, json_array_get(all, 1), expect);
	json_decref(all);
}

START_TEST(test_foreign__bad_fixtures_fail_only_the_bad_conversation)
{
	bad_array_fixture("chatgpt_cycle.json", FOREIGN_CHATGPT,
			  "mapping node \"c0000002-0000-4000-8000-00000000000a\": not reachable "
			  "from a root: its parents form a cycle");
	bad_array_fixture("chatgpt_missing_parent.json", FOREIGN_CHATGPT,
			  "mapping node \"c0000002-0000-4000-8000-00000000000a\": parent "
			  "\"aaa2dead-0000-4000-8000-00000000beef\" is not in the mapping");
	bad_array_fixture("chatgpt_dup_id.json", FOREIGN_CHATGPT,
			  "mapping node \"c0000002-0000-4000-8000-00000000000a\": message id "
			  "aaa20002-0000-4000-8000-000000000002 is already the id of mapping node "
			  "\"aaa20002-0000-4000-8000-000000000002\"");
	bad_array_fixture("chatgpt_wrong_type.json", FOREIGN_CHATGPT,
			  "mapping node \"aaa20002-0000-4000-8000-000000000002\": create_time is "
			  "a string, expected a number or null");
	bad_array_fixture("claude_bad_time.json", FOREIGN_CLAUDE,
			  "chat message \"9a8b7c6d-0002-4e5f-8a9b-0000000000a2\": created_at "
			  "'yesterday' is not an ISO 8601 time");
}
END_TEST

/* ---- Claude.ai ---- */

START_TEST(test_foreign__claude_linear_chain)
{
	static const int parents[] = {0, 1, 2, 3};
	json_t *all = load_array("claude.json");
	json_t *a = convert(FOREIGN_CLAUDE, json_array_get(all, 0), NULL, 0);
	const json_t *c = json_array_get(a, 0);

	assert_parents(a, parents, 4);
	ck_assert_str_eq(str(c, "id"), "3f2a1b0c-9d8e-4f7a-b6c5-d4e3f2a1b0c9");
	ck_assert_str_eq(str(c, "external_id"), "claude:3f2a1b0c-9d8e-4f7a-b6c5-d4e3f2a1b0c9");
	ck_assert_str_eq(str(c, "title"), "Haiku about autumn");
	ck_assert_str_eq(str(c, "user_id"), "8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d");
	ck_assert_ptr_null(json_object_get(c, "topic")); /* empty summary */
	ck_assert_str_eq(str(c, "created_at"), "2024-10-02T08:15:30.123Z");
	ck_assert_str_eq(str(c, "updated_at"), "2024-10-02T08:16:45.654Z");
	ck_assert_int_eq(num(c, "tip_seq"), 4);
	ck_assert_str_eq(meta_str(c, "source"), "claude");
	ck_assert_ptr_null(meta(c, "account")); /* only the uuid: mapped */
	ck_assert_str_eq(str(json_array_get(a, 1), "role"), "user");
	ck_assert_str_eq(str(json_array_get(a, 2), "role"), "assistant");
	ck_assert_str_eq(str(json_array_get(a, 2), "content"),
			 "Crimson leaves descend\nwhispering to the cold earth\nsummer's last goodbye");
	ck_assert_ptr_null(meta(json_array_get(a, 2), "content")); /* plain text blocks */
	ck_assert_ptr_null(meta(json_array_get(a, 2), "text"));
	/* microseconds, Z with one digit, +02:00 */
	ck_assert_str_eq(str(json_array_get(a, 1), "created_at"), "2024-10-02T08:15:31.000Z");
	ck_assert_str_eq(str(json_array_get(a, 2), "created_at"), "2024-10-02T08:15:33.500Z");
	ck_assert_str_eq(str(json_array_get(a, 3), "created_at"), "2024-10-02T08:15:40.250Z");
	ck_assert_str_eq(meta_str(json_array_get(a, 3), "updated_at"), "2024-10-02T10:15:40.250+02:00");
	json_decref(a);
	json_decref(all);
}
END_TEST

START_TEST(test_foreign__claude_tools_attachments_thinking)
{
	json_t *all = load_array("claude.json");
	json_t *a = convert(FOREIGN_CLAUDE, json_array_get(all, 1), NULL, 0);
	const json_t *c = json_array_get(a, 0), *h = json_array_get(a, 1);
	const json_t *as = json_array_get(a, 2), *call, *blocks;

	ck_assert_str_eq(str(c, "topic"),
			 "The user shared meeting notes and asked about the weather in Lisbon.");
	ck_assert_str_eq(meta_str(c, "project_uuid"), "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b");
	ck_assert(json_is_false(meta(c, "is_starred")));
	ck_assert_str_eq(str(h, "content"),
			 "Summarize my notes and check the weather in Lisbon tomorrow.\n\n"
			 "[attachment: meeting-notes.txt]\nQ2 planning:\n- hire two engineers\n"
			 "- ship the importer by May");
	ck_assert_str_eq(str(json_array_get(meta(h, "attachments"), 0), "file_name"),
			 "meeting-notes.txt");
	ck_assert_str_eq(str(json_array_get(meta(h, "files"), 0), "file_uuid"),
			 "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a");
	ck_assert(json_is_array(meta(h, "content"))); /* block timestamps are kept */
	ck_assert_str_eq(str(h, "created_at"), "2025-03-14T15:09:27.120Z");
	/* the text blocks, not the "text" field with its placeholders */
	ck_assert_str_eq(str(as, "content"),
			 "Let me check the forecast.\nTomorrow in Lisbon: sunny, 19 \xc2\xb0"
			 "C.\n\nYour notes: hire two engineers and ship the importer by May.");
	ck_assert(strstr(meta_str(as, "text"), "not supported on your current device") != NULL);
	blocks = meta(as, "content");
	ck_assert_uint_eq(json_array_size(blocks), 5);
	ck_assert_str_eq(str(json_array_get(blocks, 0), "type"), "thinking");
	ck_assert_str_eq(str(json_array_get(blocks, 3), "type"), "tool_result");
	ck_assert_uint_eq(json_array_size(json_object_get(json_array_get(blocks, 4), "citations")), 1);
	ck_assert_uint_eq(json_array_size(json_object_get(as, "tool_calls")), 1);
	call = json_array_get(json_object_get(as, "tool_calls"), 0);
	ck_assert_str_eq(str(call, "id"), "toolu_01A09q90qw90lq917835lq9");
	ck_assert_str_eq(str(call, "type"), "function");
	ck_assert_str_eq(str(json_object_get(call, "function"), "name"), "web_search");
	ck_assert_str_eq(str(json_object_get(call, "function"), "arguments"),
			 "{\"query\":\"Lisbon weather tomorrow\"}");
	json_decref(a);
	json_decref(all);
}
END_TEST

START_TEST(test_foreign__claude_branches_and_current_leaf)
{
	static const int parents[] = {0, 1, 2, 3, 2, 5, 5};
	json_t *all = load_array("claude.json");
	json_t *a = convert(FOREIGN_CLAUDE, json_array_get(all, 2), NULL, 0);

	assert_parents(a, parents, 7);
	ck_assert_int_eq(num(json_array_get(a, 0), "tip_seq"), 6);
	ck_assert_str_eq(str(json_array_get(a, 3), "content"), "Make it stricter.");
	ck_assert_str_eq(str(json_array_get(a, 5), "content"), "Make it stricter, and explain each part.");
	ck_assert_str_eq(str(json_array_get(a, 6), "id"), "5f6a7b8c-9d0e-4f1a-9b2c-3d4e5f6a7b8c");
	/* without current_leaf_message_uuid: the last message of the array */
	json_object_del(json_array_get(all, 2), "current_leaf_message_uuid");
	json_decref(a);
	a = convert(FOREIGN_CLAUDE, json_array_get(all, 2), NULL, 0);
	ck_assert_int_eq(num(json_array_get(a, 0), "tip_seq"), 7);
	json_decref(a);
	json_decref(all);
}
END_TEST

START_TEST(test_foreign__claude_errors_name_the_message)
{
	static const struct {
		const char *msgs, *expect;
	} cases[] = {
		{"[{'uuid': 'm1', 'sender': 'human', 'text': 'a'},"
		 " {'uuid': 'm1', 'sender': 'assistant', 'text': 'b'}]",
		 "chat message \"m1\": the id is used twice"},
		{"[{'uuid': 'm1', 'sender': 'human', 'text': 'a', 'parent_message_uuid': 'gone'}]",
		 "chat message \"m1\": parent \"gone\" is not in the conversation"},
		{"[{'uuid': 'm1', 'sender': 'human', 'text': 'a', 'parent_message_uuid': 'm2'},"
		 " {'uuid': 'm2', 'sender': 'human', 'text': 'a', 'parent_message_uuid': 'm1'}]",
		 "chat message \"m1\": not reachable from a root"},
		{"[{'uuid': 'm1', 'text': 'a'}]", "chat message \"m1\": sender is missing"},
		{"[{'sender': 'human', 'text': 'a'}]", "chat_messages[0]: the message has no uuid"},
		{"[{'uuid': 'm1', 'sender': 'human', 'text': 5}]",
		 "chat message \"m1\": text is an integer, expected a string"},
		{"[{'uuid': 'm1', 'sender': 'human', 'content': [5]}]",
		 "chat message \"m1\": content[0] is an integer, expected an object"},
		{"[{'uuid': 'm1', 'sender': 'human', 'created_at': '2024-01-01T00:00:00'}]",
		 "chat message \"m1\": created_at '2024-01-01T00:00:00' is not an ISO 8601 time"},
		{"[{'uuid': 'm1', 'sender': 'human', 'attachments': ['x']}]",
		 "chat message \"m1\": attachments[0] is a string, expected an object"},
	};
	json_t *c;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = J("{'uuid': 'conv-9', 'name': 'n', 'created_at': '2024-01-01T00:00:00Z'}");
		json_object_set_new(c, "chat_messages", J(cases[i].msgs));
		convert_fails(FOREIGN_CLAUDE, c, cases[i].expect);
		json_decref(c);
	}
	c = J("{'uuid': 'conv-9', 'chat_messages': [{'uuid': 'm1', 'sender': 'human'}],"
	      " 'current_leaf_message_uuid': 'm9'}");
	convert_fails(FOREIGN_CLAUDE, c, "current_leaf_message_uuid \"m9\" is not in the conversation");
	json_decref(c);
}
END_TEST

START_TEST(test_foreign__claude_empty_and_timeless_conversations)
{
	json_t *c = J("{'uuid': 'conv-9', 'name': '', 'chat_messages': []}");
	json_t *a = convert(FOREIGN_CLAUDE, c, NULL, 0);
	char want[CONVLOG_UUID_STRLEN];

	ck_assert_uint_eq(json_array_size(a), 1);
	ck_assert_ptr_null(json_object_get(json_array_get(a, 0), "tip_seq"));
	/* no time anywhere: 1 ms after the epoch (0 means "not set") */
	ck_assert_str_eq(str(json_array_get(a, 0), "created_at"), "1970-01-01T00:00:00.001Z");
	v8_of("claude:conv:conv-9", want);
	ck_assert_str_eq(str(json_array_get(a, 0), "id"), want);
	json_decref(a);
	json_decref(c);
	/* no conversation time: the earliest message's; a non-UUID id is derived */
	c = J("{'uuid': 'conv-9', 'chat_messages': [{'uuid': 'm1', 'sender': 'robot',"
	      " 'created_at': '2024-02-03T04:05:06.789Z', 'text': 'beep'}]}");
	a = convert(FOREIGN_CLAUDE, c, NULL, 0);
	ck_assert_str_eq(str(json_array_get(a, 0), "created_at"), "2024-02-03T04:05:06.789Z");
	ck_assert_str_eq(str(json_array_get(a, 1), "role"), "robot");
	v8_of("claude:msg:conv-9:m1", want);
	ck_assert_str_eq(str(json_array_get(a, 1), "id"), want);
	ck_assert_str_eq(meta_str(json_array_get(a, 1), "source_id"), "m1");
	json_decref(a);
	json_decref(c);
}
END_TEST

/* ---- OpenAI ---- */

START_TEST(test_foreign__openai_lines)
{
	line l[MAXLINES];
	size_t n = load_lines("openai.jsonl", l);
	json_t *a, *b, *d;
	const json_t *m;

	ck_assert_uint_eq(n, 3);
	a = convert(FOREIGN_OPENAI, l[0].obj, l[0].raw, l[0].len);
	ck_assert_uint_eq(json_array_size(a), 4);
	ck_assert_str_eq(str(json_array_get(a, 0), "system_prompt"), "You are a helpful assistant.");
	ck_assert_str_eq(str(json_array_get(a, 0), "created_at"), "2023-11-14T22:13:20.000Z");
	ck_assert_str_eq(str(json_array_get(a, 0), "updated_at"), "2023-11-14T22:13:20.002Z");
	ck_assert_int_eq(num(json_array_get(a, 0), "tip_seq"), 3);
	ck_assert_str_eq(str(json_array_get(a, 3), "content"), "Paris.");
	ck_assert_str_eq(str(json_array_get(a, 3), "created_at"), "2023-11-14T22:13:20.002Z");
	ck_assert_int_eq(num(json_array_get(a, 3), "parent_seq"), 2);

	b = convert(FOREIGN_OPENAI, l[1].obj, l[1].raw, l[1].len);
	m = json_array_get(b, 2);
	ck_assert_str_eq(str(m, "content"), ""); /* null */
	ck_assert_str_eq(str(json_array_get(json_object_get(m, "tool_calls"), 0), "id"), "call_abc123");
	m = json_array_get(b, 3);
	ck_assert_str_eq(str(m, "role"), "tool");
	ck_assert_str_eq(str(m, "tool_call_id"), "call_abc123");
	ck_assert_int_eq(json_integer_value(meta(json_array_get(b, 4), "weight")), 1);
	ck_assert(json_is_array(meta(json_array_get(b, 0), "tools")));
	ck_assert(json_is_false(meta(json_array_get(b, 0), "parallel_tool_calls")));
	ck_assert_ptr_null(json_object_get(json_array_get(b, 0), "system_prompt"));

	d = convert(FOREIGN_OPENAI, l[2].obj, l[2].raw, l[2].len);
	ck_assert_str_eq(str(json_array_get(d, 0), "created_at"), "2024-06-10T06:13:20.000Z");
	ck_assert_str_eq(meta_str(json_array_get(d, 0), "id"), "chatcmpl-9aBcDeFgHiJkLmNoPqRsTuV");
	ck_assert_str_eq(str(meta(json_array_get(d, 0), "metadata"), "project"), "eval");
	m = json_array_get(d, 1);
	ck_assert_str_eq(str(m, "content"), "Describe this image.");
	ck_assert_ptr_null(json_object_get(m, "model")); /* a user message */
	ck_assert_str_eq(str(json_array_get(meta(m, "content"), 1), "type"), "image_url");
	m = json_array_get(d, 2);
	ck_assert_str_eq(str(m, "content"), "A cat sitting on a windowsill.");
	ck_assert_str_eq(str(m, "model"), "gpt-4o-2024-08-06");
	ck_assert_ptr_null(meta(m, "content")); /* text parts only */
	ck_assert_ptr_null(meta(m, "refusal"));
	json_decref(a);
	json_decref(b);
	json_decref(d);
	free_lines(l, n);
}
END_TEST

START_TEST(test_foreign__openai_ids_come_from_the_line_bytes)
{
	line l[MAXLINES];
	size_t n = load_lines("openai.jsonl", l);
	json_t *a, *b, *d;
	char want[CONVLOG_UUID_STRLEN], msg[64], hex[40], s[4096];
	XXH128_canonical_t h;

	a = convert(FOREIGN_OPENAI, l[0].obj, l[0].raw, l[0].len);
	/* the same bytes without the final newline: the same ids */
	b = convert(FOREIGN_OPENAI, l[0].obj, l[0].raw, l[0].len - 1);
	ck_assert(json_equal(a, b));
	json_decref(b);
	snprintf(s, sizeof(s), "openai:line:%.*s", (int)l[0].len - 1, l[0].raw);
	v8_of(s, want);
	ck_assert_str_eq(str(json_array_get(a, 0), "id"), want);
	XXH128_canonicalFromHash(&h, XXH3_128bits(s, strlen(s)));
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", h.digest[i]);
	snprintf(msg, sizeof(msg), "openai:%s", hex);
	ck_assert_str_eq(str(json_array_get(a, 0), "external_id"), msg);
	snprintf(s, sizeof(s), "openai:msg:%s:2", want);
	v8_of(s, want);
	ck_assert_str_eq(str(json_array_get(a, 2), "id"), want);
	/* another line, another conversation */
	d = convert(FOREIGN_OPENAI, l[1].obj, l[1].raw, l[1].len);
	ck_assert_str_ne(str(json_array_get(a, 0), "id"), str(json_array_get(d, 0), "id"));
	json_decref(a);
	json_decref(d);
	free_lines(l, n);
}
END_TEST

START_TEST(test_foreign__openai_errors)
{
	line l[MAXLINES];
	size_t n = load_lines("openai_bad.jsonl", l);
	json_t *a, *v;

	ck_assert_uint_eq(n, 3);
	a = convert(FOREIGN_OPENAI, l[0].obj, l[0].raw, l[0].len);
	json_decref(a);
	convert_fails(FOREIGN_OPENAI, l[1].obj, "messages is a string, expected an array");
	a = convert(FOREIGN_OPENAI, l[2].obj, l[2].raw, l[2].len);
	json_decref(a);
	free_lines(l, n);

	v = J("{'model': 'x'}");
	convert_fails(FOREIGN_OPENAI, v, "messages is missing");
	json_decref(v);
	v = J("{'messages': []}");
	convert_fails(FOREIGN_OPENAI, v, "messages is empty");
	json_decref(v);
	v = J("{'messages': [{'role': 'user', 'content': 'a'}, 7]}");
	convert_fails(FOREIGN_OPENAI, v, "messages[1]: expected an object, got an integer");
	json_decref(v);
	v = J("{'messages': [{'content': 'a'}]}");
	convert_fails(FOREIGN_OPENAI, v, "messages[0]: role is missing");
	json_decref(v);
	v = J("{'messages': [{'role': 5}]}");
	convert_fails(FOREIGN_OPENAI, v, "messages[0]: role is an integer, expected a string");
	json_decref(v);
	v = J("{'messages': [{'role': 'user', 'content': 5}]}");
	convert_fails(FOREIGN_OPENAI, v, "messages[0]: content is an integer");
	json_decref(v);
	v = J("{'created': 'today', 'messages': [{'role': 'user', 'content': 'a'}]}");
	convert_fails(FOREIGN_OPENAI, v, "created is a string, expected an integer");
	json_decref(v);
}
END_TEST

START_TEST(test_foreign__other_formats_and_non_objects_are_refused)
{
	json_t *v = J("{'type': 'conversation'}"), *out = NULL;
	char err[256];

	ck_assert_int_eq(foreign_convert(FOREIGN_CONVLOG, v, 0, NULL, 0, NOW, &out, err,
					 sizeof(err)), -1);
	ck_assert_ptr_null(out);
	ck_assert_str_eq(err, "the convlog format is not converted");
	json_decref(v);
	v = J("[1]");
	ck_assert_int_eq(foreign_convert(FOREIGN_CHATGPT, v, 0, NULL, 0, NOW, &out, err,
					 sizeof(err)), -1);
	ck_assert_str_eq(err, "expected a JSON object, got an array");
	json_decref(v);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("foreign");
	TCase *tc = tcase_create("foreign");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_foreign__names_round_trip);
	tcase_add_test(tc, test_foreign__detect_by_shape);
	tcase_add_test(tc, test_foreign__describe_names_id_and_title);
	tcase_add_test(tc, test_foreign__chatgpt_branches_become_siblings);
	tcase_add_test(tc, test_foreign__chatgpt_conversation_fields_and_metadata);
	tcase_add_test(tc, test_foreign__chatgpt_tools_multimodal_and_null_times);
	tcase_add_test(tc, test_foreign__chatgpt_unicode_is_byte_exact);
	tcase_add_test(tc, test_foreign__chatgpt_unlisted_child_is_appended_by_time);
	tcase_add_test(tc, test_foreign__chatgpt_non_uuid_ids_are_derived_as_v8);
	tcase_add_test(tc, test_foreign__chatgpt_content_types);
	tcase_add_test(tc, test_foreign__chatgpt_structural_errors_name_the_node);
	tcase_add_test(tc, test_foreign__content_over_the_limit_is_an_error);
	tcase_add_test(tc, test_foreign__bad_fixtures_fail_only_the_bad_conversation);
	tcase_add_test(tc, test_foreign__claude_linear_chain);
	tcase_add_test(tc, test_foreign__claude_tools_attachments_thinking);
	tcase_add_test(tc, test_foreign__claude_branches_and_current_leaf);
	tcase_add_test(tc, test_foreign__claude_errors_name_the_message);
	tcase_add_test(tc, test_foreign__claude_empty_and_timeless_conversations);
	tcase_add_test(tc, test_foreign__openai_lines);
	tcase_add_test(tc, test_foreign__openai_ids_come_from_the_line_bytes);
	tcase_add_test(tc, test_foreign__openai_errors);
	tcase_add_test(tc, test_foreign__other_formats_and_non_objects_are_refused);
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
