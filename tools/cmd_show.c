/* cmd_show.c - convlog show: one conversation and its messages. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "jsonl.h"
#include "util.h"

static const char usage_text[] =
	"usage: convlog show [--json] [--last N] STORE CONV\n"
	"\n"
	"Prints conversation CONV of STORE, named by its UUID or its external_id,\n"
	"and its messages in seq order.  The text form has a header with every\n"
	"field that is set, then each message as '[seq] role (name) time' plus\n"
	"usage details, with the content indented below it.  --json writes the\n"
	"conversation line and the message lines exactly as 'convlog export'.\n"
	"\n"
	"Options:\n"
	"  --json          JSONL output\n"
	"  -n, --last N    only the last N messages\n"
	"  -h, --help      show this help\n";

/* Finds CONV by UUID, then by external_id. */
static int lookup(convlog_db *db, const char *arg, convlog_conv **out)
{
	convlog_uuid id;
	int rc;

	if (convlog_uuid_parse(arg, &id) == 0) {
		rc = convlog_conv_get(db, &id, out);
		if (rc != CONVLOG_ENOTFOUND)
			return rc ? tool_lib_err("show", rc, NULL) : TOOL_OK;
	}
	rc = convlog_conv_get_by_external(db, arg, out);
	if (rc == CONVLOG_ENOTFOUND) {
		tool_err("show", "no conversation has the id or external_id '%s'", arg);
		return TOOL_FAIL;
	}
	return rc ? tool_lib_err("show", rc, NULL) : TOOL_OK;
}

static void field(const char *name, const char *value)
{
	if (value && *value)
		printf("  %-17s %s\n", name, value);
}

/* Prints stored JSON text as "PREFIX json". */
static void json_text(const char *prefix, const char *text)
{
	char *s;

	if (!text)
		return;
	s = jsonl_reformat(text);
	printf("%s%s\n", prefix, s ? s : text);
	free(s);
}

static void time_field(const char *name, int64_t ms)
{
	char t[TOOL_TIME_STRLEN];

	if (ms) {
		tool_time_format(ms, t);
		field(name, t);
	}
}

static void num_field(const char *name, long long v)
{
	char s[32];

	if (v) {
		snprintf(s, sizeof(s), "%lld", v);
		field(name, s);
	}
}

static void list_fields(const convlog_conv *c)
{
	char id[CONVLOG_UUID_STRLEN];

	if (c->n_tags) {
		printf("  %-17s", "tags");
		for (size_t i = 0; i < c->n_tags; i++)
			printf(" %s", c->tags[i]);
		putchar('\n');
	}
	num_field("rating", c->rating);
	if (!convlog_uuid_is_nil(&c->parent_id))
		field("parent_id", tool_uuid_str(&c->parent_id, id));
	num_field("fork_seq", c->fork_seq);
	num_field("depth", c->depth);
	num_field("tip_seq", c->tip_seq);
	if (c->n_cursors) {
		printf("  %-17s", "cursors");
		for (size_t i = 0; i < c->n_cursors; i++)
			printf(" %s=%lld", c->cursors[i].name, (long long)c->cursors[i].value);
		putchar('\n');
	}
	if (c->metadata)
		printf("  %-17s ", "metadata");
	json_text("", c->metadata);
}

static void conv_header(const convlog_conv *c)
{
	char id[CONVLOG_UUID_STRLEN], s[96];

	printf("conversation %s\n", tool_uuid_str(&c->id, id));
	field("external_id", c->external_id);
	field("title", c->title);
	field("topic", c->topic);
	field("status", convlog_status_name(c->status));
	if (c->status == CONVLOG_STATUS_DELETED)
		field("prev_status", convlog_status_name(c->prev_status));
	field("org_id", c->org_id);
	field("user_id", c->user_id);
	field("device_id", c->device_id);
	field("session_id", c->session_id);
	field("initiator_role", c->initiator_role);
	field("responder_role", c->responder_role);
	field("system_prompt", c->system_prompt);
	list_fields(c);
	time_field("created_at", c->created_at);
	time_field("updated_at", c->updated_at);
	time_field("last_activity_at", c->last_activity_at);
	time_field("archived_at", c->archived_at);
	time_field("deleted_at", c->deleted_at);
	snprintf(s, sizeof(s), "%llu (tokens %lld, cost %lld.%06lld USD)",
		 (unsigned long long)c->message_count, (long long)c->token_total,
		 (long long)(c->cost_total / 1000000), (long long)(c->cost_total % 1000000));
	field("messages", s);
}

static void msg_usage(const convlog_msg *m)
{
	if (m->parent_seq != m->seq - 1)
		printf("  parent=%u", m->parent_seq);
	if (m->model && *m->model)
		printf("  model=%s", m->model);
	if (m->token_count >= 0)
		printf("  tokens=%lld", (long long)m->token_count);
	if (m->cost >= 0)
		printf("  cost=%lld.%06lld", (long long)(m->cost / 1000000),
		       (long long)(m->cost % 1000000));
	if (m->latency_ms >= 0)
		printf("  latency=%lldms", (long long)m->latency_ms);
	if (m->status != CONVLOG_MSG_COMPLETED)
		printf("  status=%s", convlog_msg_status_name(m->status));
	if (m->feedback)
		printf("  feedback=%+d", m->feedback);
}

static void msg_text(const convlog_msg *m)
{
	char t[TOOL_TIME_STRLEN];

	tool_time_format(m->created_at, t);
	printf("\n[%u] %s", m->seq, m->role);
	if (m->name && *m->name)
		printf(" (%s)", m->name);
	printf(" %s", t);
	msg_usage(m);
	putchar('\n');
	if (m->edited_at) {
		tool_time_format(m->edited_at, t);
		printf("    (edited %s)\n", t);
	}
	tool_print_text(stdout, m->content, m->content_len, "    ");
	json_text("    tool_calls: ", m->tool_calls);
	if (m->tool_call_id && *m->tool_call_id)
		printf("    tool_call_id: %s\n", m->tool_call_id);
	if (m->error_message && *m->error_message)
		printf("    error: %s\n", m->error_message);
	if (m->feedback_text && *m->feedback_text)
		printf("    feedback: %s\n", m->feedback_text);
	json_text("    metadata: ", m->metadata);
}

static int print_json(const json_t *o, const char *what)
{
	if (!o) {
		tool_err("show", "cannot convert the %s to JSON", what);
		return TOOL_FAIL;
	}
	return jsonl_print(stdout, o) ? TOOL_FAIL : TOOL_OK;
}

static int messages(convlog_db *db, const convlog_conv *c, uint32_t last, int json)
{
	convlog_msg_iter *it = NULL;
	const convlog_msg *m;
	json_t *o;
	int rc, st = TOOL_OK;

	rc = convlog_msg_range(db, &c->id, last ? CONVLOG_RANGE_LAST : CONVLOG_RANGE_ALL, last,
			       0, &it);
	if (rc)
		return tool_lib_err("show", rc, NULL);
	while (!st && (rc = convlog_msg_iter_next(it, &m)) == 0) {
		if (!json) {
			msg_text(m);
			continue;
		}
		o = jsonl_msg_json(m);
		st = print_json(o, "message");
		json_decref(o);
	}
	if (!st && rc != CONVLOG_DONE)
		st = tool_lib_err("show", rc, NULL);
	convlog_msg_iter_free(it);
	return st;
}

static int show(convlog_db *db, const char *arg, uint32_t last, int json)
{
	convlog_conv *c = NULL;
	json_t *o;
	int st;

	if ((st = lookup(db, arg, &c)))
		return st;
	if (json) {
		o = jsonl_conv_json(c);
		st = print_json(o, "conversation");
		json_decref(o);
	} else {
		conv_header(c);
	}
	if (!st)
		st = messages(db, c, last, json);
	convlog_conv_free(c);
	if (fflush(stdout) && !st) {
		tool_err("show", "write error");
		st = TOOL_FAIL;
	}
	return st;
}

int cmd_show(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"last", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	convlog_db *db = NULL;
	uint64_t v;
	uint32_t last = 0;
	int c, json = 0, st;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":n:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'n':
			if (tool_parse_u64(optarg, UINT32_MAX, &v) || v == 0)
				return tool_usage("show", "--last needs a number from 1 to %u",
						  UINT32_MAX);
			last = (uint32_t)v;
			break;
		case 'h': fputs(usage_text, stdout); return TOOL_OK;
		default: return tool_getopt_error("show", c, argv);
		}
	}
	if (argc - optind != 2)
		return tool_usage("show", argc - optind < 2 ? "STORE and CONV are required"
							    : "too many arguments");
	if (tool_open("show", argv[optind], CONVLOG_OPEN_READONLY, CONVLOG_DURABILITY_FULL, &db))
		return TOOL_FAIL;
	st = show(db, argv[optind + 1], last, json);
	convlog_close(db);
	return st;
}
