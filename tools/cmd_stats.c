/* cmd_stats.c - convlog stats: counts and sizes of a store. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "jsonl.h"
#include "util.h"

static const char usage_text[] =
	"usage: convlog stats [--json] STORE\n"
	"\n"
	"Prints the statistics of STORE: conversations (and how many are\n"
	"soft-deleted), messages, content bytes, segments and their size, the\n"
	"LMDB file size, bytes on disk against content bytes, log sequence\n"
	"numbers and unflushed memtable bytes.  The store is opened read-only.\n"
	"With --json the same figures come as one JSON object (sizes in bytes,\n"
	"disk_ratio = disk_bytes / content_bytes, 0 without content).\n"
	"\n"
	"Options:\n"
	"  --json       one JSON object instead of text\n"
	"  -h, --help   show this help\n";

static double ratio(const convlog_stats *s)
{
	uint64_t disk = s->segment_bytes + s->meta_bytes;

	return s->content_bytes ? (double)disk / (double)s->content_bytes : 0.0;
}

static void size_line(const char *name, uint64_t v)
{
	char h[32];

	tool_human_size(v, h, sizeof(h));
	printf("%-18s %s (%llu bytes)\n", name, h, (unsigned long long)v);
}

static void text(const convlog_stats *s)
{
	printf("%-18s %llu (%llu deleted)\n", "conversations",
	       (unsigned long long)s->conversations, (unsigned long long)s->deleted_conversations);
	printf("%-18s %llu\n", "messages", (unsigned long long)s->messages);
	size_line("content", s->content_bytes);
	printf("%-18s %llu\n", "segments", (unsigned long long)s->segments);
	size_line("segment files", s->segment_bytes);
	size_line("lmdb", s->meta_bytes);
	size_line("on disk", s->segment_bytes + s->meta_bytes);
	if (s->content_bytes)
		printf("%-18s %.2f x content\n", "disk / content", ratio(s));
	printf("%-18s %llu (flushed to lmdb: %llu)\n", "last lsn",
	       (unsigned long long)s->last_lsn, (unsigned long long)s->flushed_lsn);
	size_line("memtable", s->memtable_bytes);
	if (s->truncated_bytes)
		printf("%-18s %llu bytes (torn tail at open)\n", "truncated",
		       (unsigned long long)s->truncated_bytes);
}

#define SETU(o, s, f) json_object_set_new(o, #f, json_integer((json_int_t)(s)->f))

static int json_out(const convlog_stats *s)
{
	json_t *o = json_object();
	int rc;

	if (!o)
		return -1;
	rc = SETU(o, s, conversations) || SETU(o, s, deleted_conversations) ||
	     SETU(o, s, messages) || SETU(o, s, content_bytes) || SETU(o, s, segments) ||
	     SETU(o, s, segment_bytes) || SETU(o, s, meta_bytes) ||
	     json_object_set_new(o, "disk_bytes",
				 json_integer((json_int_t)(s->segment_bytes + s->meta_bytes))) ||
	     json_object_set_new(o, "disk_ratio", json_real(ratio(s))) ||
	     SETU(o, s, last_lsn) || SETU(o, s, flushed_lsn) || SETU(o, s, memtable_bytes) ||
	     SETU(o, s, cache_bytes) || SETU(o, s, recovered_blocks) ||
	     SETU(o, s, truncated_bytes);
	if (!rc)
		rc = jsonl_print(stdout, o);
	json_decref(o);
	return rc;
}

int cmd_stats(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	convlog_db *db = NULL;
	convlog_stats s;
	int c, rc, json = 0, st = TOOL_OK;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'h': fputs(usage_text, stdout); return TOOL_OK;
		default: return tool_getopt_error("stats", c, argv);
		}
	}
	if (argc - optind != 1)
		return tool_usage("stats", argc == optind ? "STORE is missing" : "too many arguments");
	if (tool_open("stats", argv[optind], CONVLOG_OPEN_READONLY, CONVLOG_DURABILITY_FULL, &db))
		return TOOL_FAIL;
	memset(&s, 0, sizeof(s));
	s.version = CONVLOG_STATS_VERSION;
	rc = convlog_stats_get(db, &s);
	if (rc)
		st = tool_lib_err("stats", rc, NULL);
	else if (json ? json_out(&s) : (text(&s), 0))
		st = TOOL_FAIL;
	if (fflush(stdout) && !st)
		st = TOOL_FAIL;
	convlog_close(db);
	return st;
}
