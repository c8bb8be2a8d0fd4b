/*
 * cmd_import.c - convlog import: load conversations from the JSONL format.
 *
 * A conversation line and the message lines after it form a group that is
 * applied in one write transaction:
 *   1. a new conversation is put with status active and tip_seq 0 so that
 *      messages can be appended (an existing one only when a message must
 *      be written: archived/deleted conversations refuse appends);
 *   2. each message is appended when its seq is not stored yet, skipped
 *      when stored identically, superseded when only mutable fields differ;
 *   3. the conversation is put exactly as in the file (status, tip_seq,
 *      timestamps), which restores what the appends changed.
 * A group that would change nothing is not written at all, so importing a
 * file twice is a no-op the second time.  Any error aborts the group's
 * transaction: the store stays as it was before that conversation.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "jsonl.h"
#include "util.h"

static const char usage_text[] =
	"usage: convlog import [-k] [-v] STORE FILE\n"
	"\n"
	"Imports conversations and messages from FILE (JSONL, see convlog(1); '-'\n"
	"reads standard input) into the existing store STORE.  Each conversation\n"
	"(its line and the message lines that follow it) is imported atomically.\n"
	"A conversation or message that already exists is updated, so importing\n"
	"an export into an empty store reproduces it, and importing the same file\n"
	"twice changes nothing the second time.  Derived fields (message_count,\n"
	"token_total, cost_total) are ignored.  A fork must come after its parent;\n"
	"its message lines are its own messages, from seq fork_seq + 1 on.\n"
	"\n"
	"On bad input the error names the line and the conversation, and that\n"
	"conversation is not imported.  Without --keep-going import stops there\n"
	"(conversations before it stay imported).\n"
	"\n"
	"Options:\n"
	"  -k, --keep-going  import the good conversations, report each bad one\n"
	"  -v, --verbose     print a summary line on stderr\n"
	"  -h, --help        show this help\n"
	"\n"
	"Exit status: 0 all imported, 1 something failed, 2 usage error.\n";

#define ERRLEN 512

typedef struct group {
	json_t *obj;          /* the conversation line; owns in's strings */
	jsonl_conv_in in;
	convlog_conv *old;    /* the stored version, NULL when new */
	convlog_txn *txn;
	long line;
	char id[CONVLOG_UUID_STRLEN + 48];
	int open;             /* a healthy group is being imported */
	int skipping;         /* the group failed: skip its message lines */
	int activated;        /* the "active, tip 0" put was written */
	int writes;           /* records written into txn */
	uint32_t base;        /* a fork's fork_seq: its own messages follow it */
	uint32_t last_seq;
	int64_t last_msg_at;  /* latest created_at of the group's messages */
	unsigned long appended, superseded; /* counted into importer on commit */
} group;

typedef struct importer {
	convlog_db *db;
	const char *name;
	int keep_going;
	group g;
	unsigned long added, updated, unchanged, failed, appended, superseded;
} importer;

static void group_clear(group *g)
{
	convlog_txn_abort(g->txn);
	convlog_conv_free(g->old);
	jsonl_conv_clear(&g->in);
	json_decref(g->obj);
	memset(g, 0, sizeof(*g));
}

static void vreport(importer *im, long line, const char *fmt, va_list ap)
{
	char msg[ERRLEN];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (im->g.id[0])
		tool_err("import", "%s:%ld: conversation %s: %s", im->name, line, im->g.id, msg);
	else
		tool_err("import", "%s:%ld: %s", im->name, line, msg);
}

static void report(importer *im, long line, const char *fmt, ...) TOOL_PRINTF(3, 4);

static void report(importer *im, long line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(im, line, fmt, ap);
	va_end(ap);
}

/* Reports an error at `line`, drops the current group (aborting its
 * transaction) and skips its remaining messages.  Returns TOOL_FAIL. */
static int fail(importer *im, long line, const char *fmt, ...) TOOL_PRINTF(3, 4);

static int fail(importer *im, long line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(im, line, fmt, ap);
	va_end(ap);
	group_clear(&im->g);
	im->g.skipping = 1;
	im->failed++;
	return TOOL_FAIL;
}

static int fail_lib(importer *im, long line)
{
	return fail(im, line, "%s", convlog_errmsg());
}

/* ---- comparisons: decide whether anything must be written ---- */

static int str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_cursor(const void *a, const void *b)
{
	return strcmp(((const convlog_cursor *)a)->name, ((const convlog_cursor *)b)->name);
}

/* Stored tags are a sorted set; compare the file's tags as one. */
static int tags_eq(const convlog_conv *old, jsonl_conv_in *in)
{
	size_t n = 0;

	if (in->c.n_tags > 1)
		qsort(in->tags, in->c.n_tags, sizeof(*in->tags), cmp_str);
	for (size_t i = 0; i < in->c.n_tags; i++) {
		if (i && !strcmp(in->tags[i - 1], in->tags[i]))
			continue;
		if (n >= old->n_tags || strcmp(old->tags[n], in->tags[i]))
			return 0;
		n++;
	}
	return n == old->n_tags;
}

static int cursors_eq(const convlog_conv *old, jsonl_conv_in *in)
{
	if (old->n_cursors != in->c.n_cursors)
		return 0;
	if (in->c.n_cursors > 1)
		qsort(in->cursors, in->c.n_cursors, sizeof(*in->cursors), cmp_cursor);
	for (size_t i = 0; i < old->n_cursors; i++)
		if (strcmp(old->cursors[i].name, in->cursors[i].name) ||
		    old->cursors[i].value != in->cursors[i].value)
			return 0;
	return 1;
}

static int conv_strings_eq(const convlog_conv *a, const convlog_conv *b)
{
	return str_eq(a->external_id, b->external_id) && str_eq(a->org_id, b->org_id) &&
	       str_eq(a->user_id, b->user_id) && str_eq(a->device_id, b->device_id) &&
	       str_eq(a->session_id, b->session_id) &&
	       str_eq(a->initiator_role, b->initiator_role) &&
	       str_eq(a->responder_role, b->responder_role) && str_eq(a->title, b->title) &&
	       str_eq(a->topic, b->topic) && str_eq(a->system_prompt, b->system_prompt) &&
	       str_eq(a->metadata, b->metadata);
}

/* 1 when the stored conversation already equals what putting the file's
 * would store (last_activity_at never goes below the latest message). */
static int conv_eq(const convlog_conv *old, jsonl_conv_in *in, int64_t last_msg_at)
{
	const convlog_conv *c = &in->c;
	int64_t upd = c->updated_at ? c->updated_at : c->created_at;
	int64_t act = c->last_activity_at ? c->last_activity_at : c->created_at;

	if (act < last_msg_at)
		act = last_msg_at;

	return conv_strings_eq(old, c) && old->status == c->status &&
	       old->prev_status == c->prev_status && old->rating == c->rating &&
	       !memcmp(&old->parent_id, &c->parent_id, sizeof(c->parent_id)) &&
	       old->fork_seq == c->fork_seq && old->depth == c->depth &&
	       old->tip_seq == c->tip_seq && old->created_at == c->created_at &&
	       old->updated_at == upd && old->last_activity_at == act &&
	       old->archived_at == c->archived_at && old->deleted_at == c->deleted_at &&
	       tags_eq(old, in) && cursors_eq(old, in);
}

/* 1 when the mutable fields of stored message `a` equal the file's `b`. */
static int msg_eq(const convlog_msg *a, const convlog_msg *b)
{
	return str_eq(a->role, b->role) && str_eq(a->name, b->name) &&
	       a->content_len == b->content_len &&
	       (!a->content_len || !memcmp(a->content, b->content, a->content_len)) &&
	       str_eq(a->tool_calls, b->tool_calls) && str_eq(a->tool_call_id, b->tool_call_id) &&
	       a->token_count == b->token_count && a->cost == b->cost &&
	       a->latency_ms == b->latency_ms && str_eq(a->model, b->model) &&
	       a->status == b->status && str_eq(a->error_message, b->error_message) &&
	       a->feedback == b->feedback && str_eq(a->feedback_text, b->feedback_text) &&
	       str_eq(a->metadata, b->metadata) && a->edited_at == b->edited_at;
}

/* ---- writing ---- */

/* Puts the conversation as active with tip_seq 0 so messages can be
 * appended and superseded (once per group). */
static int activate(importer *im, long line)
{
	group *g = &im->g;
	convlog_conv c = g->in.c;
	int rc;

	if (g->activated)
		return 0;
	c.status = CONVLOG_STATUS_ACTIVE;
	c.prev_status = 0;
	c.tip_seq = 0;
	c.deleted_at = 0;
	rc = convlog_conv_put(im->db, g->txn, &c);
	if (rc)
		return fail_lib(im, line);
	g->activated = 1;
	g->writes++;
	return 0;
}

/* Applies one parsed message to the open group. */
static int apply_msg(importer *im, const jsonl_msg_in *mi, long line)
{
	group *g = &im->g;
	const convlog_msg *m = &mi->m;
	convlog_msg *cur = NULL;
	char a[CONVLOG_UUID_STRLEN], b[CONVLOG_UUID_STRLEN];
	int rc = CONVLOG_ENOTFOUND, st = TOOL_OK;

	if (g->old && (rc = convlog_msg_get(im->db, &g->in.c.id, m->seq, &cur)) &&
	    rc != CONVLOG_ENOTFOUND)
		return fail_lib(im, line);
	if (rc == CONVLOG_ENOTFOUND) {
		if ((st = activate(im, line)))
			goto out;
		if (convlog_msg_append(im->db, g->txn, m, NULL)) {
			st = fail_lib(im, line);
			goto out;
		}
		g->writes++;
		g->appended++;
		goto out;
	}
	if (memcmp(&cur->id, &m->id, sizeof(m->id))) {
		st = fail(im, line, "seq %u is message %s in the store, not %s", m->seq,
			  tool_uuid_str(&cur->id, a), tool_uuid_str(&m->id, b));
		goto out;
	}
	if (cur->parent_seq != m->parent_seq || cur->created_at != m->created_at) {
		st = fail(im, line, "message %s (seq %u): parent_seq and created_at cannot change "
			  "(stored: parent_seq %u)", tool_uuid_str(&m->id, a), m->seq,
			  cur->parent_seq);
		goto out;
	}
	if (msg_eq(cur, m))
		goto out;
	if ((st = activate(im, line)))
		goto out;
	if (convlog_msg_supersede(im->db, g->txn, &m->conv_id, m->seq, m, CONVLOG_MSG_ALL)) {
		st = fail_lib(im, line);
		goto out;
	}
	g->writes++;
	g->superseded++;
out:
	convlog_msg_free(cur);
	return st;
}

static int message_line(importer *im, const json_t *obj, long line)
{
	group *g = &im->g;
	jsonl_msg_in mi;
	char err[ERRLEN], s[CONVLOG_UUID_STRLEN];
	int st;

	if (g->skipping)
		return TOOL_OK;
	if (!g->open) {
		im->failed++;
		report(im, line, "a message line comes before any conversation line");
		return TOOL_FAIL;
	}
	if (jsonl_msg_parse(obj, &mi, err, sizeof(err))) {
		st = fail(im, line, "message: %s", err);
		goto out;
	}
	if (memcmp(&mi.m.conv_id, &g->in.c.id, sizeof(mi.m.conv_id))) {
		st = fail(im, line, "the message belongs to conversation %s, not to the "
			  "conversation line before it", tool_uuid_str(&mi.m.conv_id, s));
		goto out;
	}
	if (g->last_seq && mi.m.seq != g->last_seq + 1) {
		st = fail(im, line, "message seq %u follows seq %u: seqs must be consecutive",
			  mi.m.seq, g->last_seq);
		goto out;
	}
	if (mi.m.seq <= g->base) {
		st = fail(im, line, "message seq %u: seqs up to fork_seq %u are the parent's; the "
			  "fork's own messages start at seq %u", mi.m.seq, g->base, g->base + 1);
		goto out;
	}
	if (!g->last_seq && !g->old && mi.m.seq != g->base + 1) {
		if (g->base)
			st = fail(im, line, "message seq %u: a new fork at fork_seq %u starts at "
				  "seq %u", mi.m.seq, g->base, g->base + 1);
		else
			st = fail(im, line, "message seq %u: a new conversation starts at seq 1",
				  mi.m.seq);
		goto out;
	}
	st = apply_msg(im, &mi, line);
	if (!st) {
		g->last_seq = mi.m.seq;
		if (mi.m.created_at > g->last_msg_at)
			g->last_msg_at = mi.m.created_at;
	}
out:
	jsonl_msg_clear(&mi);
	return st;
}

/* Ends the open group: puts the conversation exactly as in the file when
 * it differs, then commits (or drops a group that changed nothing). */
static int finish(importer *im)
{
	group *g = &im->g;
	int rc;

	if (!g->open) {
		group_clear(g);
		return TOOL_OK;
	}
	if (g->activated || !g->old || !conv_eq(g->old, &g->in, g->last_msg_at)) {
		if (convlog_conv_put(im->db, g->txn, &g->in.c))
			return fail_lib(im, g->line);
		g->writes++;
	}
	if (g->writes) {
		rc = convlog_txn_commit(g->txn);
		g->txn = NULL;
		if (rc)
			return fail_lib(im, g->line);
	}
	im->appended += g->appended;
	im->superseded += g->superseded;
	if (!g->old)
		im->added++;
	else if (g->writes)
		im->updated++;
	else
		im->unchanged++;
	group_clear(g);
	return TOOL_OK;
}

/* Names the conversation of a line for error messages, even unparsed. */
static void name_group(group *g, const json_t *obj)
{
	const char *id = json_string_value(json_object_get(obj, "id"));

	snprintf(g->id, sizeof(g->id), "%.36s", id ? id : "(without a valid id)");
}

/* Starts a group with a conversation line; takes ownership of obj. */
static int begin(importer *im, json_t *obj, long line)
{
	group *g = &im->g;
	char err[ERRLEN];
	int rc;

	group_clear(g);
	g->obj = obj;
	g->line = line;
	name_group(g, obj);
	if (jsonl_conv_parse(obj, &g->in, err, sizeof(err)))
		return fail(im, line, "%s", err);
	tool_uuid_str(&g->in.c.id, g->id);
	if (!convlog_uuid_is_nil(&g->in.c.parent_id))
		g->base = g->in.c.fork_seq;
	rc = convlog_conv_get(im->db, &g->in.c.id, &g->old);
	if (rc && rc != CONVLOG_ENOTFOUND)
		return fail_lib(im, line);
	if (convlog_txn_begin(im->db, &g->txn))
		return fail_lib(im, line);
	g->open = 1;
	return g->old ? TOOL_OK : activate(im, line);
}

/* A line that cannot be used fails the conversation it sits in.  A line
 * that visibly starts a new conversation (our export writes "type" first)
 * ends the group before it normally and fails a group of its own. */
static int bad_line(importer *im, const char *buf, long line, const char *fmt, const char *arg)
{
	const char *p = buf + strspn(buf, " \t");

	if (!strncmp(p, "{\"type\":\"conversation\"", 22)) {
		finish(im);
		return fail(im, line, fmt, arg);
	}
	if (im->g.open)
		return fail(im, line, fmt, arg);
	if (im->g.skipping)
		return TOOL_OK; /* more of a conversation already reported */
	im->failed++;
	report(im, line, fmt, arg);
	return TOOL_FAIL;
}

static int one_line(importer *im, char *buf, size_t n, long line)
{
	json_error_t e;
	json_t *obj;
	const char *type;
	char what[ERRLEN];
	int st;

	if (strspn(buf, " \t\r\n") == n)
		return TOOL_OK;
	obj = json_loadb(buf, n, JSONL_LOAD_FLAGS, &e);
	if (!obj) {
		snprintf(what, sizeof(what), "column %d: %s", e.column, e.text);
		return bad_line(im, buf, line, "invalid JSON at %s", what);
	}
	type = jsonl_type(obj);
	if (type && !strcmp(type, "conversation")) {
		st = finish(im);
		if (st && !im->keep_going) {
			json_decref(obj);
			return st;
		}
		int st2 = begin(im, obj, line);
		return st ? st : st2;
	}
	if (type && !strcmp(type, "message")) {
		st = message_line(im, obj, line);
		json_decref(obj);
		return st;
	}
	snprintf(what, sizeof(what), "%.60s", type ? type : "");
	json_decref(obj);
	return bad_line(im, buf, line, type ? "unknown line type '%s'"
					    : "the line has no \"type\" string%s", what);
}

static int run(importer *im, FILE *in)
{
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	long line = 0;
	int st = TOOL_OK, s;

	while ((n = getline(&buf, &cap, in)) >= 0) {
		s = one_line(im, buf, (size_t)n, ++line);
		if (s) {
			st = s;
			if (!im->keep_going)
				goto out;
		}
	}
	if (ferror(in)) {
		tool_err("import", "%s: read error", im->name);
		st = TOOL_FAIL;
		goto out;
	}
	s = finish(im);
	if (s)
		st = s;
out:
	free(buf);
	group_clear(&im->g);
	return st;
}

static void summary(const importer *im)
{
	tool_err("import", "%s: %lu conversations imported (%lu new, %lu updated, %lu "
		 "unchanged), %lu failed; %lu messages appended, %lu superseded", im->name,
		 im->added + im->updated + im->unchanged, im->added, im->updated,
		 im->unchanged, im->failed, im->appended, im->superseded);
}

int cmd_import(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"keep-going", no_argument, NULL, 'k'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	importer im;
	FILE *in = NULL;
	int c, verbose = 0, st;

	memset(&im, 0, sizeof(im));
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":kvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'k': im.keep_going = 1; break;
		case 'v': verbose = 1; break;
		case 'h': fputs(usage_text, stdout); return TOOL_OK;
		default: return tool_getopt_error("import", c, argv);
		}
	}
	if (argc - optind != 2)
		return tool_usage("import", argc - optind < 2 ? "STORE and FILE are required"
							      : "too many arguments");
	const char *file = argv[optind + 1];
	im.name = strcmp(file, "-") ? file : "<stdin>";
	in = strcmp(file, "-") ? fopen(file, "rb") : stdin;
	if (!in) {
		tool_err("import", "%s: %s", file, strerror(errno));
		return TOOL_FAIL;
	}
	st = tool_open("import", argv[optind], 0, CONVLOG_DURABILITY_NORMAL, &im.db);
	if (!st) {
		st = run(&im, in);
		if (convlog_sync(im.db) && !st)
			st = tool_lib_err("import", -1, argv[optind]);
		if (verbose)
			summary(&im);
	}
	convlog_close(im.db);
	if (in != stdin)
		fclose(in);
	return st;
}
