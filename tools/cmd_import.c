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
#include <sys/stat.h>
#include <time.h>

#include "cmds.h"
#include "foreign.h"
#include "jsonl.h"
#include "progress.h"
#include "util.h"

static const char usage_text[] =
	"usage: convlog import [-f FORMAT] [-k] [-v] [--json] [--no-progress] STORE FILE\n"
	"\n"
	"Imports conversations into the existing store STORE from FILE ('-' reads\n"
	"standard input), in one of these formats (see convlog(1)):\n"
	"  convlog   the lossless JSONL that 'convlog export' writes\n"
	"  chatgpt   conversations.json of a ChatGPT data export\n"
	"  claude    conversations.json of a Claude.ai data export\n"
	"  openai    JSONL of {\"messages\": [...]} chat-completions lists\n"
	"Without --format the format is detected from the first conversation.\n"
	"Each conversation is imported atomically; importing the same file twice\n"
	"changes nothing the second time.  Branches (edited questions, regenerated\n"
	"answers) become a message tree whose tip is the branch shown last.\n"
	"Source fields without a convlog field of their own go into metadata.\n"
	"The file is read one conversation at a time, so memory stays bounded by\n"
	"the largest conversation (at most 256 MiB of JSON).\n"
	"\n"
	"On bad input the error names the position (line, or conversation number\n"
	"and byte offset) and the conversation, and that conversation is not\n"
	"imported.  Without --keep-going import stops there (conversations before\n"
	"it stay imported).\n"
	"\n"
	"Options:\n"
	"  -f, --format F    convlog, chatgpt, claude, openai or auto (default)\n"
	"  -k, --keep-going  import the good conversations, report each bad one\n"
	"  -v, --verbose     print a summary line on stderr\n"
	"      --no-progress no progress line (it is shown only on a terminal)\n"
	"      --json        each error, then a summary, as JSON lines on stdout\n"
	"  -h, --help        show this help\n"
	"\n"
	"Exit status: 0 all imported, 1 something failed, 2 usage error.\n";

/* Largest source conversation read into memory (JSON bytes). */
#define ITEM_MAX ((size_t)256 << 20)
/* Deepest nesting accepted inside one source conversation. */
#define DEPTH_MAX 512

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
	int json;            /* errors and the summary as JSON lines on stdout */
	foreign_format fmt;  /* as given, then as detected */
	int array;           /* reading a JSON array: `line` is the item number */
	uint64_t item_off;   /* array: byte offset of the current item */
	int64_t now_ms;
	progress bar;
	uint64_t done_bytes;
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

	char where[ERRLEN];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (im->array)
		snprintf(where, sizeof(where), "%s: conversation %ld (byte %llu)", im->name, line,
			 (unsigned long long)im->item_off);
	else
		snprintf(where, sizeof(where), "%s:%ld", im->name, line);
	progress_clear(&im->bar);
	if (im->g.id[0])
		tool_err("import", "%s: conversation %s: %s", where, im->g.id, msg);
	else
		tool_err("import", "%s: %s", where, msg);
	if (im->json) {
		json_t *j = json_pack("{s:s, s:s, s:I, s:s?, s:s}", "kind", "error", "file",
				      im->name, im->array ? "item" : "line", (json_int_t)line,
				      "conversation", im->g.id[0] ? im->g.id : NULL, "error", msg);
		if (j && im->array)
			json_object_set_new(j, "byte", json_integer((json_int_t)im->item_off));
		if (j)
			jsonl_print(stdout, j);
		json_decref(j);
	}
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

/* ---- other formats: one converted source conversation per group ---- */

/*
 * Imports source conversation `src` (item `pos`: array element number or
 * line) of a foreign format: converts it and applies the result as one
 * group.  Formats without stable times (OpenAI) leave an existing
 * conversation alone: its id comes from the line's bytes, so it is the
 * same conversation.
 */
static int foreign_item(importer *im, const json_t *src, const char *raw, size_t len, long pos)
{
	json_t *arr = NULL;
	char err[ERRLEN];
	int st;

	group_clear(&im->g);
	if (foreign_convert(im->fmt, src, pos - 1, raw, len, im->now_ms, &arr, err, sizeof(err))) {
		foreign_describe(im->fmt, src, im->g.id, sizeof(im->g.id));
		st = fail(im, pos, "%s", err);
		goto out;
	}
	json_t *conv = json_array_get(arr, 0);
	json_incref(conv);
	st = begin(im, conv, pos);
	if (!st && im->fmt == FOREIGN_OPENAI && im->g.old) {
		im->unchanged++;
		group_clear(&im->g);
		goto out;
	}
	for (size_t i = 1; !st && i < json_array_size(arr); i++)
		st = message_line(im, json_array_get(arr, i), pos);
	if (!st)
		st = finish(im);
out:
	json_decref(arr);
	group_clear(&im->g);
	return st;
}

/* ---- JSONL files (convlog, openai) ---- */

static int one_openai_line(importer *im, const char *buf, size_t n, long line)
{
	json_error_t e;
	json_t *obj;
	int st;

	if (strspn(buf, " \t\r\n") == n)
		return TOOL_OK;
	im->g.id[0] = 0;
	obj = json_loadb(buf, n, JSONL_LOAD_FLAGS, &e);
	if (!obj) {
		im->failed++;
		report(im, line, "invalid JSON at column %d: %s", e.column, e.text);
		return TOOL_FAIL;
	}
	st = foreign_item(im, obj, buf, n, line);
	json_decref(obj);
	return st;
}

/* The format of a JSONL file from its first line that parses (convlog
 * when none does: its strict parser then reports the line). */
static foreign_format detect_line(const char *buf, size_t n)
{
	json_error_t e;
	json_t *obj = json_loadb(buf, n, JSONL_LOAD_FLAGS, &e);
	foreign_format f = obj ? foreign_detect(obj, 0) : FOREIGN_AUTO;

	json_decref(obj);
	return f;
}

static int run_lines(importer *im, FILE *in)
{
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	long line = 0;
	int st = TOOL_OK, s;

	while ((n = getline(&buf, &cap, in)) >= 0) {
		im->done_bytes += (uint64_t)n;
		if (im->fmt == FOREIGN_AUTO && strspn(buf, " \t\r\n") != (size_t)n) {
			im->fmt = detect_line(buf, (size_t)n);
			if (im->fmt != FOREIGN_OPENAI)
				im->fmt = FOREIGN_CONVLOG;
		}
		if (im->fmt == FOREIGN_OPENAI)
			s = one_openai_line(im, buf, (size_t)n, ++line);
		else
			s = one_line(im, buf, (size_t)n, ++line);
		if (s) {
			st = s;
			if (!im->keep_going)
				goto out;
		}
		progress_update(&im->bar, im->done_bytes, im->added + im->updated + im->unchanged);
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

/* ---- JSON arrays (chatgpt, claude): one element at a time ---- */

typedef struct areader {
	FILE *f;
	uint64_t off;     /* bytes consumed */
	char *item;       /* the current element's bytes */
	size_t len, cap;
	int too_big, too_deep;
} areader;

static int ar_getc(areader *r)
{
	int c = getc_unlocked(r->f);

	if (c != EOF)
		r->off++;
	return c;
}

static void ar_ungetc(areader *r, int c)
{
	if (c != EOF) {
		ungetc(c, r->f);
		r->off--;
	}
}

static int ar_skip_ws(areader *r)
{
	int c;

	do
		c = ar_getc(r);
	while (c == ' ' || c == '\t' || c == '\n' || c == '\r');
	return c;
}

static int ar_put(areader *r, int c)
{
	if (r->len >= ITEM_MAX) {
		r->too_big = 1;
		return 0;
	}
	if (r->len + 1 >= r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 1 << 16;
		char *p = realloc(r->item, nc);
		if (!p)
			return -1;
		r->item = p;
		r->cap = nc;
	}
	r->item[r->len++] = (char)c;
	return 0;
}

/*
 * Reads the bytes of the next element into r->item, tracking strings and
 * nesting only (jansson checks the syntax afterwards).  Returns 1 with an
 * element, 0 at the closing bracket, -1 on a read or memory error and -2
 * when the file ends inside the element (its start stays in r->off's
 * caller copy).  Bytes past ITEM_MAX or nesting past DEPTH_MAX set
 * too_big/too_deep, and the element is still read to its end, so that
 * --keep-going can go on with the next one.
 */
static int ar_next(areader *r, int first)
{
	int c, depth = 0, in_str = 0, esc = 0;

	r->len = 0;
	r->too_big = r->too_deep = 0;
	c = ar_skip_ws(r);
	if (!first) {
		if (c == ']')
			return 0;
		if (c != ',')
			return -3;
		c = ar_skip_ws(r);
	} else if (c == ']') {
		return 0;
	}
	if (c == EOF)
		return ferror(r->f) ? -1 : -2;
	if (c != '{' && c != '[') {
		/* a scalar element: up to the next delimiter */
		for (; c != EOF && c != ',' && c != ']'; c = ar_getc(r)) {
			if (ar_put(r, c))
				return -1;
			if (c == '"') {
				while ((c = ar_getc(r)) != EOF) {
					if (ar_put(r, c))
						return -1;
					if (esc)
						esc = 0;
					else if (c == '\\')
						esc = 1;
					else if (c == '"')
						break;
				}
				if (c == EOF)
					break;
			}
		}
		if (c == EOF)
			return ferror(r->f) ? -1 : -2;
		ar_ungetc(r, c);
		return 1;
	}
	for (;;) {
		if (ar_put(r, c))
			return -1;
		if (in_str) {
			if (esc)
				esc = 0;
			else if (c == '\\')
				esc = 1;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '{' || c == '[') {
			if (++depth > DEPTH_MAX)
				r->too_deep = 1;
		} else if (c == '}' || c == ']') {
			if (--depth == 0)
				return 1;
		}
		if ((c = ar_getc(r)) == EOF)
			return ferror(r->f) ? -1 : -2;
	}
}

static int array_item(importer *im, areader *r, long pos)
{
	json_error_t e;
	json_t *obj;
	int st;

	im->g.id[0] = 0;
	if (r->too_big) {
		im->failed++;
		report(im, pos, "the conversation is larger than %zu MiB of JSON", ITEM_MAX >> 20);
		return TOOL_FAIL;
	}
	if (r->too_deep) {
		im->failed++;
		report(im, pos, "JSON nested deeper than %d levels", DEPTH_MAX);
		return TOOL_FAIL;
	}
	obj = json_loadb(r->item, r->len, JSONL_LOAD_FLAGS, &e);
	if (!obj) {
		im->failed++;
		report(im, pos, "invalid JSON at byte %llu: %s",
		       (unsigned long long)(im->item_off + (uint64_t)(e.position > 0 ? e.position - 1 : 0)),
		       e.text);
		return TOOL_FAIL;
	}
	if (im->fmt == FOREIGN_AUTO) {
		im->fmt = foreign_detect(obj, 1);
		if (im->fmt != FOREIGN_CHATGPT && im->fmt != FOREIGN_CLAUDE) {
			json_decref(obj);
			im->failed++;
			report(im, pos, "not a ChatGPT or Claude.ai conversation; give --format");
			im->fmt = FOREIGN_AUTO;
			return TOOL_FAIL;
		}
	}
	if (!json_is_object(obj)) {
		json_decref(obj);
		im->failed++;
		report(im, pos, "the element is not a JSON object");
		return TOOL_FAIL;
	}
	st = foreign_item(im, obj, r->item, r->len, pos);
	json_decref(obj);
	return st;
}

static int run_array(importer *im, FILE *in)
{
	areader r = {.f = in};
	long pos = 0;
	int st = TOOL_OK, s;

	ar_skip_ws(&r); /* the '[' the caller peeked */
	for (;;) {
		uint64_t start = r.off;
		int rc = ar_next(&r, pos == 0);
		im->item_off = start;
		if (rc == 0)
			break;
		pos++;
		if (rc == -1) {
			tool_err("import", "%s: %s", im->name, ferror(in) ? "read error" : "out of memory");
			st = TOOL_FAIL;
			break;
		}
		if (rc == -2 || rc == -3) {
			im->failed++;
			im->g.id[0] = 0;
			im->item_off = r.off;
			report(im, pos, rc == -2 ? "the file ends inside the array (truncated?)"
						 : "expected ',' or ']' between conversations");
			st = TOOL_FAIL;
			break;
		}
		im->item_off = r.too_big ? start : r.off - r.len;
		s = array_item(im, &r, pos);
		im->done_bytes = r.off;
		if (s) {
			st = s;
			if (!im->keep_going)
				break;
		}
		progress_update(&im->bar, im->done_bytes, im->added + im->updated + im->unchanged);
	}
	if (st == TOOL_OK && ar_skip_ws(&r) != EOF) {
		tool_err("import", "%s: byte %llu: data after the closing ']'", im->name,
			 (unsigned long long)(r.off - 1));
		st = TOOL_FAIL;
	}
	free(r.item);
	group_clear(&im->g);
	return st;
}

/* Reads FILE in its format: JSON arrays element by element, JSONL line by
 * line. */
static int run(importer *im, FILE *in)
{
	int c;

	do
		c = getc(in);
	while (c == ' ' || c == '\t' || c == '\n' || c == '\r');
	if (c != EOF)
		ungetc(c, in);
	if (c == '[') {
		if (im->fmt == FOREIGN_CONVLOG || im->fmt == FOREIGN_OPENAI) {
			tool_err("import", "%s: a JSON array, not %s JSONL (try --format chatgpt "
				 "or claude)", im->name, foreign_name(im->fmt));
			return TOOL_FAIL;
		}
		im->array = 1;
		return run_array(im, in);
	}
	if (im->fmt == FOREIGN_CHATGPT || im->fmt == FOREIGN_CLAUDE) {
		tool_err("import", "%s: a %s export is a JSON array of conversations, and this "
			 "file does not start with '['", im->name, foreign_name(im->fmt));
		return TOOL_FAIL;
	}
	return run_lines(im, in);
}

static void summary_json(const importer *im)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}",
			      "kind", "summary", "file", im->name, "format", foreign_name(im->fmt),
			      "conversations", (json_int_t)(im->added + im->updated + im->unchanged),
			      "new", (json_int_t)im->added, "updated", (json_int_t)im->updated,
			      "unchanged", (json_int_t)im->unchanged, "failed", (json_int_t)im->failed,
			      "messages_appended", (json_int_t)im->appended,
			      "messages_superseded", (json_int_t)im->superseded,
			      "seconds", progress_now() - im->bar.t0);

	if (j)
		jsonl_print(stdout, j);
	json_decref(j);
}

static void summary(const importer *im)
{
	tool_err("import", "%s (%s): %lu conversations imported (%lu new, %lu updated, %lu "
		 "unchanged), %lu failed; %lu messages appended, %lu superseded; %.1f s",
		 im->name, foreign_name(im->fmt), im->added + im->updated + im->unchanged,
		 im->added, im->updated, im->unchanged, im->failed, im->appended,
		 im->superseded, progress_now() - im->bar.t0);
}

int cmd_import(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"format", required_argument, NULL, 'f'},
		{"keep-going", no_argument, NULL, 'k'},
		{"verbose", no_argument, NULL, 'v'},
		{"no-progress", no_argument, NULL, 'P'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	importer im;
	FILE *in = NULL;
	struct stat sb;
	struct timespec ts;
	int c, verbose = 0, bar = 1, st;

	memset(&im, 0, sizeof(im));
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":f:kvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (foreign_parse_name(optarg, &im.fmt))
				return tool_usage("import", "unknown format '%s' (convlog, chatgpt, "
						  "claude, openai or auto)", optarg);
			break;
		case 'k': im.keep_going = 1; break;
		case 'v': verbose = 1; break;
		case 'P': bar = 0; break;
		case 'j': im.json = 1; break;
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
	if (in != stdin)
		setvbuf(in, NULL, _IOFBF, 1 << 20);
	clock_gettime(CLOCK_REALTIME, &ts);
	im.now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	progress_start(&im.bar, "import", "conv",
		       !fstat(fileno(in), &sb) && S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0,
		       bar);
	st = tool_open("import", argv[optind], 0, CONVLOG_DURABILITY_NORMAL, &im.db);
	if (!st) {
		st = run(&im, in);
		progress_clear(&im.bar);
		if (convlog_sync(im.db) && !st)
			st = tool_lib_err("import", -1, argv[optind]);
		if (verbose)
			summary(&im);
		if (im.json)
			summary_json(&im);
	}
	tool_close(im.db);
	if (in != stdin)
		fclose(in);
	return st;
}
