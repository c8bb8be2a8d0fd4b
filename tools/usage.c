/* usage.c - the report of 'convlog stats --by' (see usage.h). */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "jsonl.h"
#include "usage.h"
#include "util.h"

static const char *const group_names[] = {"none", "role", "model", "org", "user", "day"};
static const char *const group_heads[] = {"GROUP", "ROLE", "MODEL", "ORG", "USER", "DAY"};

#define NGROUPS (sizeof(group_names) / sizeof(group_names[0]))
#define NCOLS 8
#define CELL 32
#define KEY_MAX 40 /* display columns of the key before it is cut */

int usage_group_parse(const char *name)
{
	for (size_t i = 0; i < NGROUPS; i++)
		if (!strcmp(group_names[i], name))
			return (int)i;
	return -1;
}

/* ---- JSON ---- */

static json_t *latency(int64_t ms)
{
	return ms >= 0 ? json_integer((json_int_t)ms) : json_null();
}

static int row_json(const convlog_usage_row *r)
{
	json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:I}", "type",
			      "usage", "key", r->key, "count", (json_int_t)r->count, "errors",
			      (json_int_t)r->errors, "tokens", (json_int_t)r->tokens, "cost",
			      (json_int_t)r->cost, "latency_p50", latency(r->latency_p50),
			      "latency_p95", latency(r->latency_p95), "latency_max",
			      latency(r->latency_max), "latency_count",
			      (json_int_t)r->latency_count);
	int rc = o ? jsonl_print(stdout, o) : -1;

	json_decref(o);
	return rc;
}

/* ---- table ---- */

/* The cells of one row: numbers as text, "-" for an unknown latency. */
static void cells(const convlog_usage_row *r, char c[NCOLS][CELL])
{
	const int64_t lat[3] = {r->latency_p50, r->latency_p95, r->latency_max};

	snprintf(c[1], CELL, "%llu", (unsigned long long)r->count);
	snprintf(c[2], CELL, "%llu", (unsigned long long)r->errors);
	snprintf(c[3], CELL, "%lld", (long long)r->tokens);
	tool_cost_format(r->cost, c[4]);
	for (int i = 0; i < 3; i++) {
		if (lat[i] >= 0)
			snprintf(c[5 + i], CELL, "%lld", (long long)lat[i]);
		else
			snprintf(c[5 + i], CELL, "-");
	}
}

/* The key as shown: "(all)" for the ungrouped row, "(none)" when unset. */
static const char *key_text(const convlog_usage_query *q, const char *key)
{
	if (*key)
		return key;
	return q->group_by == CONVLOG_GROUP_NONE ? "(all)" : "(none)";
}

/* Display width of the key column: the widest key, cut at KEY_MAX. */
static int key_width(const convlog_usage_query *q, const convlog_usage *u)
{
	int w = (int)strlen(group_heads[q->group_by]);

	for (size_t i = 0; i < u->n_rows; i++) {
		int kw = tool_width(key_text(q, u->rows[i].key));
		if (kw > KEY_MAX)
			kw = KEY_MAX;
		if (kw > w)
			w = kw;
	}
	return w;
}

static void table(const convlog_usage_query *q, const convlog_usage *u)
{
	static const char *const heads[NCOLS] = {NULL,       "MESSAGES", "ERRORS", "TOKENS",
						 "COST USD", "P50 MS",   "P95 MS", "MAX MS"};
	char c[NCOLS][CELL];
	int w[NCOLS], kw = key_width(q, u);

	for (int j = 1; j < NCOLS; j++)
		w[j] = (int)strlen(heads[j]);
	for (size_t i = 0; i < u->n_rows; i++) {
		cells(&u->rows[i], c);
		for (int j = 1; j < NCOLS; j++)
			if ((int)strlen(c[j]) > w[j])
				w[j] = (int)strlen(c[j]);
	}
	printf("%-*s", kw, group_heads[q->group_by]);
	for (int j = 1; j < NCOLS; j++)
		printf("  %*s", w[j], heads[j]);
	putchar('\n');
	for (size_t i = 0; i < u->n_rows; i++) {
		int used = tool_fit(stdout, key_text(q, u->rows[i].key), KEY_MAX);
		printf("%*s", kw - used, "");
		cells(&u->rows[i], c);
		for (int j = 1; j < NCOLS; j++)
			printf("  %*s", w[j], c[j]);
		putchar('\n');
	}
}

int usage_report(convlog_db *db, const convlog_usage_query *q, int json)
{
	convlog_usage *u = NULL;
	int rc, st = TOOL_OK;

	if ((rc = convlog_usage_get(db, q, &u)))
		return tool_lib_err("stats", rc, NULL);
	if (!json)
		table(q, u);
	for (size_t i = 0; json && i < u->n_rows && !st; i++)
		if (row_json(&u->rows[i])) {
			tool_err("stats", "cannot write a usage row as JSON");
			st = TOOL_FAIL;
		}
	convlog_usage_free(u);
	if (fflush(stdout) && !st) {
		tool_err("stats", "write error");
		st = TOOL_FAIL;
	}
	return st;
}
