/*
 * fuzz_query: the search query language (format-spec.md §10.4): the input
 * is a query string for convlog_search_check() and the internal parser
 * (cvl_query_parse), whose tree is walked and freed; a query that parses
 * also runs against a small store made at start-up (both orders, grouped
 * or not), so the search executor sees every tree shape the parser
 * accepts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convlog.h"
#include "fuzz_common.h"
#include "index/query.h"

static convlog_db *db;

static const char *texts[] = {
	"Hello from A. Book me a flight to New York",
	"Hi! This is the assistant answering, the flight is booked",
	"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e text with caf\xc3\xa9 and na\xc3\xafve words",
	"tool output: {\"temp\": 21, \"city\": \"Boston\"} weather weather weather",
	"a b c d e f g a b c a b a",
};

static void init(void)
{
	char dir[4096], path[4200];
	convlog_options *o;

	fz_tempdir(dir, sizeof(dir), "query");
	snprintf(path, sizeof(path), "%s/store", dir);
	if (convlog_options_new(&o) || convlog_options_set_map_size(o, 64u << 20) ||
	    convlog_options_set_durability(o, CONVLOG_DURABILITY_OFF) ||
	    convlog_open(path, o, &db))
		abort();
	convlog_options_free(o);
	for (int c = 0; c < 3; c++) {
		convlog_conv cv;
		convlog_uuid id;
		convlog_conv_init(&cv);
		cv.user_id = c ? "user-b" : "user-a";
		cv.title = "fuzz";
		if (convlog_conv_create(db, NULL, &cv, &id))
			abort();
		for (int i = 0; i < 6; i++) {
			convlog_msg m;
			convlog_msg_init(&m);
			m.conv_id = id;
			m.role = i % 2 ? "assistant" : "user";
			m.model = i % 2 ? "gpt-x" : NULL;
			m.content = texts[(c + i) % 5];
			m.content_len = strlen(m.content);
			if (convlog_msg_append(db, NULL, &m, NULL))
				abort();
		}
	}
	/* half the documents in an index segment, half in memory */
	if (convlog_checkpoint(db))
		abort();
	convlog_msg m;
	convlog_msg_init(&m);
	convlog_conv_iter *li;
	const convlog_conv *cv;
	if (convlog_conv_list(db, NULL, &li) || convlog_conv_iter_next(li, &cv))
		abort();
	m.conv_id = cv->id;
	m.role = "user";
	m.content = "late hello words after the checkpoint";
	m.content_len = strlen(m.content);
	convlog_conv_iter_free(li);
	if (convlog_msg_append(db, NULL, &m, NULL))
		abort();
}

static size_t walk(const cvl_qnode *n, int depth)
{
	size_t k = 1;

	if (!n || depth > 200)
		return 0;
	if (n->text)
		k += strlen(n->text);
	for (size_t i = 0; i < n->nkids; i++)
		k += walk(n->kids[i], depth + 1);
	return k;
}

static void search(const char *q, int order, int group)
{
	convlog_search_query sq;
	convlog_search_result *r;

	convlog_search_query_init(&sq);
	sq.query = q;
	sq.order = order;
	sq.group_by_conv = group;
	sq.limit = 3;
	sq.recency_weight = group ? 0.5 : 0;
	if (convlog_search(db, &sq, &r) != 0)
		return;
	if (r->next) {
		convlog_search_result *r2;
		char *tok = strdup(r->next);
		sq.after = tok;
		if (tok && convlog_search(db, &sq, &r2) == 0)
			convlog_search_result_free(r2);
		free(tok);
	}
	convlog_search_result_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cvl_qnode *tree = NULL;
	uint32_t at = 0;
	char *q;
	int rc;

	if (!db)
		init();
	if (size > 8192)
		return 0;
	q = malloc(size + 1);
	if (!q)
		return 0;
	memcpy(q, data, size);
	q[size] = 0;
	rc = convlog_search_check(q, &at);
	if (cvl_query_parse(q, &tree, &at) == 0) {
		(void)walk(tree, 0);
		cvl_query_free(tree);
		if (rc == 0) {
			search(q, CONVLOG_SEARCH_RELEVANCE, 0);
			search(q, CONVLOG_SEARCH_NEWEST, size & 1);
		}
	}
	free(q);
	return 0;
}
