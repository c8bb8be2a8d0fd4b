/*
 * cmd_export.c - convlog export: every conversation (deleted ones too) and
 * its messages as JSONL.
 *
 * Order: conversations as convlog_conv_list() returns them (newest
 * last_activity_at first), except that a fork's parent is always written
 * before the fork so that the output imports in one pass; after each
 * conversation line come its messages in seq order.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "jsonl.h"
#include "util.h"

static const char usage_text[] =
	"usage: convlog export [-o FILE] STORE\n"
	"\n"
	"Writes every conversation of STORE (soft-deleted ones included) and all\n"
	"of their messages in the JSONL format of convlog(1): a conversation line\n"
	"followed by its message lines in seq order.  Conversations come newest\n"
	"activity first, except that a fork always follows its parent.  The\n"
	"output is deterministic: the same store state gives the same bytes, and\n"
	"'convlog import' of it into an empty store reproduces the store.\n"
	"\n"
	"Options:\n"
	"  -o, --out FILE  write to FILE (replaced atomically when complete)\n"
	"                  instead of standard output\n"
	"  -h, --help      show this help\n";

typedef struct item {
	convlog_uuid id, parent;
	uint32_t fork_seq; /* a fork's seqs up to here are its parent's */
	json_t *obj;
	int state; /* 0 pending, 1 being written, 2 written */
} item;

typedef struct exporter {
	convlog_db *db;
	FILE *out;
	item *items;
	size_t n, cap;
	item **by_id; /* items sorted by id, for parent lookups */
} exporter;

static int cmp_item(const void *a, const void *b)
{
	return memcmp((*(item *const *)a)->id.bytes, (*(item *const *)b)->id.bytes, 16);
}

static item *find(exporter *ex, const convlog_uuid *id)
{
	item key = {.id = *id}, *kp = &key, **hit;

	hit = bsearch(&kp, ex->by_id, ex->n, sizeof(*ex->by_id), cmp_item);
	return hit ? *hit : NULL;
}

/* Reads the whole listing into memory (one snapshot). */
static int collect(exporter *ex)
{
	convlog_conv_filter f;
	convlog_conv_iter *it = NULL;
	const convlog_conv *c;
	int rc;

	convlog_conv_filter_init(&f);
	f.include_deleted = 1;
	if ((rc = convlog_conv_list(ex->db, &f, &it)))
		goto out;
	while ((rc = convlog_conv_iter_next(it, &c)) == 0) {
		if (ex->n == ex->cap) {
			size_t cap = ex->cap ? ex->cap * 2 : 64;
			item *p = realloc(ex->items, cap * sizeof(*p));
			if (!p) {
				tool_err("export", "out of memory");
				rc = -1;
				goto out;
			}
			ex->items = p;
			ex->cap = cap;
		}
		item *x = &ex->items[ex->n];
		memset(x, 0, sizeof(*x));
		x->id = c->id;
		x->parent = c->parent_id;
		x->fork_seq = convlog_uuid_is_nil(&c->parent_id) ? 0 : c->fork_seq;
		x->obj = jsonl_conv_json(c);
		if (!x->obj) {
			tool_err("export", "cannot convert a conversation to JSON");
			rc = -1;
			goto out;
		}
		ex->n++;
	}
	if (rc == CONVLOG_DONE)
		rc = 0;
	else
		tool_lib_err("export", rc, "listing conversations");
out:
	convlog_conv_iter_free(it);
	return rc ? TOOL_FAIL : TOOL_OK;
}

/* A conversation's own messages (a fork's inherited prefix is exported
 * with its parent). */
static int write_messages(exporter *ex, const convlog_uuid *id, uint32_t fork_seq)
{
	convlog_msg_iter *it = NULL;
	const convlog_msg *m;
	json_t *o;
	int rc, st = TOOL_OK;

	if ((rc = convlog_msg_range(ex->db, id, CONVLOG_RANGE_AFTER, 0, fork_seq, &it)))
		return tool_lib_err("export", rc, NULL);
	while ((rc = convlog_msg_iter_next(it, &m)) == 0) {
		o = jsonl_msg_json(m);
		if (!o) {
			tool_err("export", "message %u: cannot convert to JSON", m->seq);
			st = TOOL_FAIL;
			goto out;
		}
		rc = jsonl_print(ex->out, o);
		json_decref(o);
		if (rc) {
			tool_err("export", "write error: %s", strerror(errno));
			st = TOOL_FAIL;
			goto out;
		}
	}
	if (rc != CONVLOG_DONE)
		st = tool_lib_err("export", rc, NULL);
out:
	convlog_msg_iter_free(it);
	return st;
}

/* Writes x after its parent (when the parent is in the store). */
static int write_item(exporter *ex, item *x)
{
	item *p;
	int st;

	if (x->state)
		return TOOL_OK; /* written, or a parent cycle */
	x->state = 1;
	if (!convlog_uuid_is_nil(&x->parent) && (p = find(ex, &x->parent)) &&
	    (st = write_item(ex, p)))
		return st;
	if (jsonl_print(ex->out, x->obj)) {
		tool_err("export", "write error: %s", strerror(errno));
		return TOOL_FAIL;
	}
	x->state = 2;
	return write_messages(ex, &x->id, x->fork_seq);
}

static int export_all(exporter *ex)
{
	int st = collect(ex);

	if (st)
		return st;
	ex->by_id = malloc((ex->n ? ex->n : 1) * sizeof(*ex->by_id));
	if (!ex->by_id) {
		tool_err("export", "out of memory");
		return TOOL_FAIL;
	}
	for (size_t i = 0; i < ex->n; i++)
		ex->by_id[i] = &ex->items[i];
	if (ex->n > 1)
		qsort(ex->by_id, ex->n, sizeof(*ex->by_id), cmp_item);
	for (size_t i = 0; i < ex->n && !st; i++)
		st = write_item(ex, &ex->items[i]);
	return st;
}

/* Opens the output: stdout, or a temporary file renamed at the end. */
static int open_out(const char *path, char *tmp, size_t n, FILE **out)
{
	if (!path) {
		*out = stdout;
		return TOOL_OK;
	}
	snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
	*out = fopen(tmp, "wb");
	if (!*out) {
		tool_err("export", "%s: %s", tmp, strerror(errno));
		return TOOL_FAIL;
	}
	return TOOL_OK;
}

static int close_out(const char *path, const char *tmp, FILE *f, int st)
{
	if (!path) {
		if (fflush(f) && !st) {
			tool_err("export", "write error: %s", strerror(errno));
			st = TOOL_FAIL;
		}
		return st;
	}
	if ((fclose(f) || st) && !st) {
		tool_err("export", "%s: %s", tmp, strerror(errno));
		st = TOOL_FAIL;
	}
	if (!st && rename(tmp, path)) {
		tool_err("export", "%s: %s", path, strerror(errno));
		st = TOOL_FAIL;
	}
	if (st)
		unlink(tmp);
	return st;
}

int cmd_export(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"out", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	exporter ex;
	const char *path = NULL;
	char tmp[4096];
	int c, st;

	memset(&ex, 0, sizeof(ex));
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': path = strcmp(optarg, "-") ? optarg : NULL; break;
		case 'h': fputs(usage_text, stdout); return TOOL_OK;
		default: return tool_getopt_error("export", c, argv);
		}
	}
	if (argc - optind != 1)
		return tool_usage("export", argc == optind ? "STORE is missing" : "too many arguments");
	st = tool_open("export", argv[optind], CONVLOG_OPEN_READONLY, CONVLOG_DURABILITY_FULL,
		       &ex.db);
	if (st)
		return st;
	st = open_out(path, tmp, sizeof(tmp), &ex.out);
	if (!st)
		st = close_out(path, tmp, ex.out, export_all(&ex));
	for (size_t i = 0; i < ex.n; i++)
		json_decref(ex.items[i].obj);
	free(ex.items);
	free(ex.by_id);
	tool_close(ex.db);
	return st;
}
