/* text.c - human-readable conversations, messages and tables (see text.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonl.h"
#include "text.h"
#include "util.h"

/* ---- conversation header ---- */

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

static int is_fork(const convlog_conv *c)
{
	return !convlog_uuid_is_nil(&c->parent_id);
}

/* A fork names its parent and fork point, fork_seq 0 included. */
static void fork_fields(const convlog_conv *c)
{
	char id[CONVLOG_UUID_STRLEN];

	if (!is_fork(c)) {
		num_field("fork_seq", c->fork_seq);
		num_field("depth", c->depth);
		return;
	}
	field("parent_id", tool_uuid_str(&c->parent_id, id));
	printf("  %-17s %u\n", "fork_seq", c->fork_seq);
	num_field("depth", c->depth);
}

static void list_fields(const convlog_conv *c)
{
	if (c->n_tags) {
		printf("  %-17s", "tags");
		for (size_t i = 0; i < c->n_tags; i++)
			printf(" %s", c->tags[i]);
		putchar('\n');
	}
	num_field("rating", c->rating);
	fork_fields(c);
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

/* message_count covers a fork's inherited prefix; the totals do not. */
static void totals(const convlog_conv *c)
{
	char s[160], cost[TOOL_COST_STRLEN];

	tool_cost_format(c->cost_total, cost);
	if (is_fork(c) && c->fork_seq)
		snprintf(s, sizeof(s), "%llu (%u inherited; own tokens %lld, cost %s USD)",
			 (unsigned long long)c->message_count, c->fork_seq,
			 (long long)c->token_total, cost);
	else
		snprintf(s, sizeof(s), "%llu (tokens %lld, cost %s USD)",
			 (unsigned long long)c->message_count, (long long)c->token_total, cost);
	field("messages", s);
}

void text_conv_header(const convlog_conv *c)
{
	char id[CONVLOG_UUID_STRLEN];

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
	totals(c);
}

/* ---- message blocks ---- */

static void msg_usage(const convlog_msg *m)
{
	char cost[TOOL_COST_STRLEN];

	if (m->parent_seq != m->seq - 1)
		printf("  parent=%u", m->parent_seq);
	if (m->model && *m->model)
		printf("  model=%s", m->model);
	if (m->token_count >= 0)
		printf("  tokens=%lld", (long long)m->token_count);
	if (m->cost >= 0)
		printf("  cost=%s", tool_cost_format(m->cost, cost));
	if (m->latency_ms >= 0)
		printf("  latency=%lldms", (long long)m->latency_ms);
	if (m->status != CONVLOG_MSG_COMPLETED)
		printf("  status=%s", convlog_msg_status_name(m->status));
	if (m->feedback)
		printf("  feedback=%+d", m->feedback);
}

void text_msg(const convlog_msg *m, const convlog_uuid *self)
{
	char t[TOOL_TIME_STRLEN], id[CONVLOG_UUID_STRLEN];

	tool_time_format(m->created_at, t);
	printf("\n[%u] %s", m->seq, m->role);
	if (m->name && *m->name)
		printf(" (%s)", m->name);
	printf(" %s", t);
	msg_usage(m);
	if (self && memcmp(&m->conv_id, self, sizeof(*self)))
		printf("  (from %s)", tool_uuid_str(&m->conv_id, id));
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

int text_msgs(const char *cmd, convlog_msg_iter *it, const convlog_uuid *self, int json,
	      uint64_t *count)
{
	const convlog_msg *m;
	uint64_t n = 0;
	int rc;

	while ((rc = convlog_msg_iter_next(it, &m)) == 0) {
		n++;
		if (!json) {
			text_msg(m, self);
		} else if (jsonl_print_msg(stdout, m)) {
			tool_err(cmd, "message %u: cannot write it as JSON", m->seq);
			return TOOL_FAIL;
		}
	}
	if (count)
		*count = n;
	return rc == CONVLOG_DONE ? TOOL_OK : tool_lib_err(cmd, rc, NULL);
}

/* ---- conversation table ---- */

#define COL_ID 36
#define COL_TIME 16
#define COL_MSGS 6
#define COL_STATUS 10
#define WIDTH 100

static const char *short_status(int st)
{
	switch (st) {
	case CONVLOG_STATUS_INACTIVE_TIMEOUT: return "timeout";
	case CONVLOG_STATUS_INACTIVE_USER_TERMINATED: return "user-ended";
	case CONVLOG_STATUS_INACTIVE_SYSTEM_TERMINATED: return "sys-ended";
	default: {
		const char *s = convlog_status_name(st);
		return s ? s : "?";
	}
	}
}

void text_table_header(int created)
{
	printf("%-*s %-*s %*s %-*s %s\n", COL_ID, "ID", COL_TIME,
	       created ? "CREATED" : "LAST ACTIVITY", COL_MSGS, "MSGS", COL_STATUS, "STATUS",
	       "TITLE");
}

void text_table_row(const convlog_conv *c, int created)
{
	char id[CONVLOG_UUID_STRLEN], t[TOOL_TIME_STRLEN];
	const char *title = c->title ? c->title : c->topic ? c->topic : "";

	tool_time_short(created ? c->created_at : c->last_activity_at, t);
	printf("%-*s %-*s %*llu %-*s ", COL_ID, tool_uuid_str(&c->id, id), COL_TIME, t, COL_MSGS,
	       (unsigned long long)c->message_count, COL_STATUS, short_status(c->status));
	tool_fit(stdout, title, WIDTH - (COL_ID + COL_TIME + COL_MSGS + COL_STATUS + 4));
	putchar('\n');
}
