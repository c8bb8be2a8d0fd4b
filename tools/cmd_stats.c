/* cmd_stats.c - convlog stats: counts and sizes of a store. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "jsonl.h"
#include "usage.h"
#include "util.h"

static const char usage_text[] =
	"usage: convlog stats [--json] STORE\n"
	"       convlog stats --by GROUP [--since T] [--until T] [--user U] [--org O]\n"
	"                     [--session S] [--conv CONV] [--all] [--json] STORE\n"
	"\n"
	"Without --by, prints the statistics of STORE: conversations (and how many\n"
	"are soft-deleted), messages, content bytes, segments and their size, the\n"
	"LMDB file size, the text index, bytes on disk against content bytes, log sequence\n"
	"numbers and unflushed memtable bytes.  With --json the same figures come\n"
	"as one JSON object (sizes in bytes, disk_ratio = disk_bytes /\n"
	"content_bytes, 0 without content).\n"
	"\n"
	"With --by, prints usage analytics of the messages instead, grouped by\n"
	"GROUP: role, model, org, user, day (UTC day of the message's created_at)\n"
	"or none (one row).  Each group has its message count, error count\n"
	"(status error), token and cost sums (known values only; cost in USD),\n"
	"and latency p50, p95 (nearest rank) and max in ms over the messages\n"
	"with a known latency ('-' when none).  Rows come ordered by key; an\n"
	"unset key shows as (none).  --json writes one object per row:\n"
	"  {\"type\":\"usage\",\"key\":K,\"count\":N,\"errors\":N,\"tokens\":N,\n"
	"   \"cost\":MICRO_USD,\"latency_p50\":MS,\"latency_p95\":MS,\n"
	"   \"latency_max\":MS,\"latency_count\":N}\n"
	"(latencies null when none, key \"\" when unset or ungrouped).  The\n"
	"store is opened read-only.\n"
	"\n"
	"Options:\n"
	"  --json            JSON output\n"
	"  --by GROUP        usage analytics grouped by role, model, org, user, day\n"
	"                    or none\n"
	"  --since T         only messages created at or after T (RFC 3339)\n"
	"  --until T         only messages created before T (RFC 3339)\n"
	"  --user U          only conversations of user_id U\n"
	"  --org O           only conversations of org_id O\n"
	"  --session S       only conversations of session_id S\n"
	"  --conv CONV       only conversation CONV (UUID or external_id)\n"
	"  -a, --all         count soft-deleted conversations too\n"
	"  -h, --help        show this help\n";

typedef struct stats_opts {
	convlog_usage_query q;
	const char *conv; /* --conv, resolved after opening */
	int by;           /* --by was given */
	int scoped;       /* an option that needs --by was given */
	int json;
} stats_opts;

static double ratio(const convlog_stats *s)
{
	uint64_t disk = s->segment_bytes + s->meta_bytes + s->index_bytes;

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
	printf("%-18s %llu\n", "index segments", (unsigned long long)s->index_segments);
	size_line("text index", s->index_bytes);
	size_line("on disk", s->segment_bytes + s->meta_bytes + s->index_bytes);
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
	     SETU(o, s, segment_bytes) || SETU(o, s, meta_bytes) || SETU(o, s, index_segments) ||
	     SETU(o, s, index_bytes) ||
	     json_object_set_new(o, "disk_bytes",
				 json_integer((json_int_t)(s->segment_bytes + s->meta_bytes +
							   s->index_bytes))) ||
	     json_object_set_new(o, "disk_ratio", json_real(ratio(s))) ||
	     SETU(o, s, last_lsn) || SETU(o, s, flushed_lsn) || SETU(o, s, memtable_bytes) ||
	     SETU(o, s, cache_bytes) || SETU(o, s, recovered_blocks) ||
	     SETU(o, s, truncated_bytes);
	if (!rc)
		rc = jsonl_print(stdout, o);
	json_decref(o);
	return rc;
}

static int parse_time(const char *opt, const char *arg, int64_t *out)
{
	const char *why;

	if (tool_time_parse(arg, out, &why))
		return tool_usage("stats", "%s '%s': %s", opt, arg, why);
	return TOOL_OK;
}

static int parse_opt(stats_opts *o, int c, char **argv)
{
	o->scoped |= c != 'j' && c != 'b';
	switch (c) {
	case 'j': o->json = 1; return TOOL_OK;
	case 'b':
		o->by = 1;
		o->q.group_by = usage_group_parse(optarg);
		if (o->q.group_by < 0)
			return tool_usage("stats", "--by is role, model, org, user, day or none, "
					  "not '%s'", optarg);
		return TOOL_OK;
	case 's': return parse_time("--since", optarg, &o->q.since);
	case 'U': return parse_time("--until", optarg, &o->q.until);
	case 'u': o->q.user_id = optarg; return TOOL_OK;
	case 'O': o->q.org_id = optarg; return TOOL_OK;
	case 'S': o->q.session_id = optarg; return TOOL_OK;
	case 'c': o->conv = optarg; return TOOL_OK;
	case 'a': o->q.include_deleted = 1; return TOOL_OK;
	default: return tool_getopt_error("stats", c, argv);
	}
}

static int store_stats(convlog_db *db, int json)
{
	convlog_stats s;
	int rc, st = TOOL_OK;

	memset(&s, 0, sizeof(s));
	s.version = CONVLOG_STATS_VERSION;
	rc = convlog_stats_get(db, &s);
	if (rc)
		st = tool_lib_err("stats", rc, NULL);
	else if (json ? json_out(&s) : (text(&s), 0))
		st = TOOL_FAIL;
	if (fflush(stdout) && !st)
		st = TOOL_FAIL;
	return st;
}

static int usage_stats(convlog_db *db, stats_opts *o)
{
	convlog_conv *c = NULL;
	int st = TOOL_OK;

	if (o->conv && !(st = tool_conv_lookup("stats", db, o->conv, &c))) {
		o->q.has_conv = 1;
		o->q.conv_id = c->id;
	}
	convlog_conv_free(c);
	return st ? st : usage_report(db, &o->q, o->json);
}

/* Checks the combination of options once they are all parsed. */
static int check_opts(const stats_opts *o, int argc)
{
	if (argc - optind != 1)
		return tool_usage("stats", argc == optind ? "STORE is missing" : "too many arguments");
	if (o->scoped && !o->by)
		return tool_usage("stats", "--since, --until, --user, --org, --session, --conv "
				  "and --all need --by");
	if (o->q.since && o->q.until && o->q.until <= o->q.since)
		return tool_usage("stats", "--until must be later than --since");
	return TOOL_OK;
}

int cmd_stats(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"by", required_argument, NULL, 'b'},
		{"since", required_argument, NULL, 's'},
		{"until", required_argument, NULL, 'U'},
		{"user", required_argument, NULL, 'u'},
		{"org", required_argument, NULL, 'O'},
		{"session", required_argument, NULL, 'S'},
		{"conv", required_argument, NULL, 'c'},
		{"all", no_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	convlog_db *db = NULL;
	stats_opts o;
	int c, st;

	memset(&o, 0, sizeof(o));
	convlog_usage_query_init(&o.q);
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":ah", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_text, stdout);
			return TOOL_OK;
		}
		if ((st = parse_opt(&o, c, argv)))
			return st;
	}
	if ((st = check_opts(&o, argc)))
		return st;
	if (tool_open("stats", argv[optind], CONVLOG_OPEN_READONLY, CONVLOG_DURABILITY_FULL, &db))
		return TOOL_FAIL;
	st = o.by ? usage_stats(db, &o) : store_stats(db, o.json);
	tool_close(db);
	return st;
}
