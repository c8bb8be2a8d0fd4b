/* cmd_session.c - convlog session: totals of a session and its
 * conversations, oldest first. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cmds.h"
#include "jsonl.h"
#include "text.h"
#include "util.h"

static const char usage_text[] =
	"usage: convlog session [--json] STORE SESSION_ID\n"
	"\n"
	"Summarises session SESSION_ID of STORE from its conversations'\n"
	"aggregates (soft-deleted conversations excluded): conversations, their\n"
	"own messages (a fork's inherited prefix is counted in its parent),\n"
	"tokens, cost in USD, first activity (earliest created_at) and last\n"
	"activity; then lists the session's conversations oldest first, as the\n"
	"table of 'convlog ls' (with their creation time).  An unknown session\n"
	"has zero counts.  --json writes the summary as one object\n"
	"  {\"type\":\"session\",\"session_id\":S,\"conversations\":N,\"messages\":N,\n"
	"   \"token_total\":N,\"cost_total\":MICRO_USD,\"first_activity_at\":TIME,\n"
	"   \"last_activity_at\":TIME}\n"
	"(times omitted when there is no conversation), then the conversation\n"
	"lines of the JSONL format.\n"
	"\n"
	"Options:\n"
	"  --json       JSONL output\n"
	"  -h, --help   show this help\n";

static void time_line(const char *name, int64_t ms)
{
	char t[TOOL_TIME_STRLEN];

	if (ms) {
		tool_time_format(ms, t);
		printf("  %-17s %s\n", name, t);
	}
}

static void summary_text(const char *sid, const convlog_session_summary *s)
{
	char cost[TOOL_COST_STRLEN];

	printf("session %s\n", sid);
	printf("  %-17s %llu\n", "conversations", (unsigned long long)s->conversations);
	printf("  %-17s %llu\n", "messages", (unsigned long long)s->messages);
	printf("  %-17s %lld\n", "tokens", (long long)s->token_total);
	printf("  %-17s %s USD\n", "cost", tool_cost_format(s->cost_total, cost));
	time_line("first_activity_at", s->first_activity_at);
	time_line("last_activity_at", s->last_activity_at);
	putchar('\n');
	text_table_header(1);
}

static int set_time(json_t *o, const char *k, int64_t ms)
{
	char t[TOOL_TIME_STRLEN];

	if (!ms)
		return 0;
	tool_time_format(ms, t);
	return json_object_set_new(o, k, json_string(t));
}

static int summary_json(const char *sid, const convlog_session_summary *s)
{
	json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "type", "session", "session_id",
			      sid, "conversations", (json_int_t)s->conversations, "messages",
			      (json_int_t)s->messages, "token_total", (json_int_t)s->token_total,
			      "cost_total", (json_int_t)s->cost_total);
	int rc = !o || set_time(o, "first_activity_at", s->first_activity_at) ||
		 set_time(o, "last_activity_at", s->last_activity_at) || jsonl_print(stdout, o);

	json_decref(o);
	if (rc)
		tool_err("session", "cannot write the summary as JSON");
	return rc ? TOOL_FAIL : TOOL_OK;
}

/* The session's conversations, oldest created first. */
static int conversations(convlog_db *db, const char *sid, int json)
{
	convlog_conv_filter f;
	convlog_conv_iter *it = NULL;
	const convlog_conv *c;
	int rc;

	convlog_conv_filter_init(&f);
	f.session_id = sid;
	f.order = CONVLOG_ORDER_CREATED_ASC;
	if ((rc = convlog_conv_list(db, &f, &it)))
		return tool_lib_err("session", rc, NULL);
	while ((rc = convlog_conv_iter_next(it, &c)) == 0) {
		if (!json) {
			text_table_row(c, 1);
		} else if (jsonl_print_conv(stdout, c)) {
			tool_err("session", "cannot write a conversation as JSON");
			rc = -1;
			break;
		}
	}
	convlog_conv_iter_free(it);
	if (rc == CONVLOG_DONE)
		return TOOL_OK;
	return rc == -1 ? TOOL_FAIL : tool_lib_err("session", rc, NULL);
}

static int session(convlog_db *db, const char *sid, int json)
{
	convlog_session_summary s;
	int rc, st;

	memset(&s, 0, sizeof(s));
	s.version = CONVLOG_SESSION_VERSION;
	if ((rc = convlog_session_get_summary(db, sid, &s)))
		return tool_lib_err("session", rc, NULL);
	st = TOOL_OK;
	if (json)
		st = summary_json(sid, &s);
	else
		summary_text(sid, &s);
	if (!st)
		st = conversations(db, sid, json);
	if (fflush(stdout) && !st) {
		tool_err("session", "write error");
		st = TOOL_FAIL;
	}
	return st;
}

int cmd_session(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	convlog_db *db = NULL;
	int c, json = 0, st;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'h': fputs(usage_text, stdout); return TOOL_OK;
		default: return tool_getopt_error("session", c, argv);
		}
	}
	if (argc - optind != 2)
		return tool_usage("session", argc - optind < 2 ? "STORE and SESSION_ID are required"
							       : "too many arguments");
	if (tool_open("session", argv[optind], CONVLOG_OPEN_READONLY, CONVLOG_DURABILITY_FULL,
		      &db))
		return TOOL_FAIL;
	st = session(db, argv[optind + 1], json);
	tool_close(db);
	return st;
}
