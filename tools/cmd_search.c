/* cmd_search.c - convlog search: full-text search of message content. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cmds.h"
#include "jsonl.h"
#include "util.h"

static const char usage_text[] =
	"usage: convlog search [options] STORE QUERY\n"
	"\n"
	"Searches the content of every message in STORE and prints the best\n"
	"matches (BM25), each with the passage that matches best.  QUERY:\n"
	"  words            all must occur         a OR b        either\n"
	"  -word, NOT word  must not occur         ( ... )       grouping\n"
	"  \"exact phrase\"   consecutive words      prefix*       word starting so\n"
	"  role:R  model:M  user:ID  session:ID  tag:T  conv:ID_OR_EXTERNAL_ID\n"
	"  after:YYYY-MM-DD  before:YYYY-MM-DD (or RFC 3339 times, UTC)\n"
	"Soft-deleted conversations are left out unless --deleted is given.\n"
	"\n"
	"Text output: one line per hit (rank, time, conversation#seq, role,\n"
	"score) and the snippet, matches in [brackets] (bold on a terminal);\n"
	"then, if there are more hits, the --after token of the next page.\n"
	"--json writes one object per hit\n"
	"  {\"type\":\"hit\",\"conversation_id\":ID,\"seq\":N,\"score\":X,\n"
	"   \"created_at\":TIME,\"role\":R,\"snippet\":S}\n"
	"and a last line {\"type\":\"page\",\"hits\":N,\"next\":TOKEN|null}.\n"
	"\n"
	"Options:\n"
	"  -n, --limit N    hits per page, 1..1000 (default 20)\n"
	"  --group          at most one hit (the best) per conversation\n"
	"  --newest         newest first instead of best first\n"
	"  --recency W      favour recent messages: score x (1 + W x 2^(-age/30d))\n"
	"  --after TOKEN    the page after the one that printed TOKEN\n"
	"  --words N        words of context in a snippet, 1..200 (default 24)\n"
	"  --deleted        include soft-deleted conversations\n"
	"  --json           JSONL output\n"
	"  -h, --help       show this help\n"
	"\n"
	"Exit status: 0 (also when nothing matches), 1 on errors, 2 on a bad\n"
	"command line or a malformed query.\n";

static void show_error_position(const char *query)
{
	uint32_t at = 0;
	int rc = convlog_search_check(query, &at);

	if (rc == 0 || rc == CONVLOG_ENOMEM)
		return;
	fprintf(stderr, "  %s\n  %*s^\n", query, (int)at, "");
}

static int print_text(const convlog_search_result *r)
{
	char t[TOOL_TIME_STRLEN], id[CONVLOG_UUID_STRLEN];

	for (size_t i = 0; i < r->n_hits; i++) {
		const convlog_search_hit *h = &r->hits[i];
		tool_time_short(h->created_at, t);
		printf("%3zu. %s  %s#%u  %s", i + 1, t, tool_uuid_str(&h->conv_id, id), h->seq,
		       *h->role ? h->role : "-");
		if (h->score > 0)
			printf("  %.3f", h->score);
		printf("\n     %s\n", h->snippet);
	}
	if (r->n_hits == 0)
		printf("no matches\n");
	if (r->next)
		printf("more: --after %s\n", r->next);
	return TOOL_OK;
}

static int print_json(const convlog_search_result *r)
{
	char t[TOOL_TIME_STRLEN], id[CONVLOG_UUID_STRLEN];
	int rc = 0;

	for (size_t i = 0; i < r->n_hits && !rc; i++) {
		const convlog_search_hit *h = &r->hits[i];
		tool_time_format(h->created_at, t);
		json_t *o = json_pack("{s:s, s:s, s:I, s:f, s:s, s:s, s:s}", "type", "hit",
				      "conversation_id", tool_uuid_str(&h->conv_id, id), "seq",
				      (json_int_t)h->seq, "score", h->score, "created_at", t, "role",
				      h->role, "snippet", h->snippet);
		rc = !o || jsonl_print(stdout, o);
		json_decref(o);
	}
	if (!rc) {
		json_t *o = json_pack("{s:s, s:I, s:o}", "type", "page", "hits", (json_int_t)r->n_hits,
				      "next", r->next ? json_string(r->next) : json_null());
		rc = !o || jsonl_print(stdout, o);
		json_decref(o);
	}
	if (rc)
		tool_err("search", "cannot write a result as JSON");
	return rc ? TOOL_FAIL : TOOL_OK;
}

struct sargs {
	convlog_search_query q;
	int json;
};

static int parse_args(int argc, char **argv, struct sargs *a)
{
	static const struct option longopts[] = {
		{"limit", required_argument, NULL, 'n'},
		{"group", no_argument, NULL, 'g'},
		{"newest", no_argument, NULL, 'N'},
		{"recency", required_argument, NULL, 'r'},
		{"after", required_argument, NULL, 'a'},
		{"words", required_argument, NULL, 'w'},
		{"deleted", no_argument, NULL, 'd'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint64_t v;
	char *end;
	int c;

	convlog_search_query_init(&a->q);
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hn:", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (tool_parse_u64(optarg, CONVLOG_SEARCH_MAX_LIMIT, &v) || v == 0)
				return tool_usage("search", "--limit needs a number from 1 to %d",
						  CONVLOG_SEARCH_MAX_LIMIT);
			a->q.limit = (uint32_t)v;
			break;
		case 'w':
			if (tool_parse_u64(optarg, 200, &v) || v == 0)
				return tool_usage("search", "--words needs a number from 1 to 200");
			a->q.snippet_words = (uint32_t)v;
			break;
		case 'r':
			a->q.recency_weight = strtod(optarg, &end);
			if (end == optarg || *end || !(a->q.recency_weight >= 0) ||
			    a->q.recency_weight > 1e6)
				return tool_usage("search", "--recency needs a number from 0 to 1000000");
			break;
		case 'g': a->q.group_by_conv = 1; break;
		case 'N': a->q.order = CONVLOG_SEARCH_NEWEST; break;
		case 'a': a->q.after = optarg; break;
		case 'd': a->q.include_deleted = 1; break;
		case 'j': a->json = 1; break;
		case 'h': fputs(usage_text, stdout); return -1;
		default: return tool_getopt_error("search", c, argv);
		}
	}
	if (argc - optind != 2)
		return tool_usage("search", argc - optind < 2 ? "STORE and QUERY are required"
							      : "too many arguments (quote the query)");
	return TOOL_OK;
}

int cmd_search(int argc, char **argv)
{
	struct sargs a;
	convlog_db *db = NULL;
	convlog_search_result *r = NULL;
	int st = parse_args(argc, argv, &a), rc;

	if (st)
		return st < 0 ? TOOL_OK : st;
	a.q.query = argv[optind + 1];
	if (!a.json && isatty(STDOUT_FILENO)) {
		a.q.hl_open = "\033[1m";
		a.q.hl_close = "\033[0m";
	}
	if ((rc = convlog_search_check(a.q.query, NULL))) {
		tool_lib_err("search", rc, "malformed query");
		show_error_position(a.q.query);
		return TOOL_USAGE;
	}
	if (tool_open("search", argv[optind], CONVLOG_OPEN_READONLY, CONVLOG_DURABILITY_FULL, &db))
		return TOOL_FAIL;
	if ((rc = convlog_search(db, &a.q, &r))) {
		st = tool_lib_err("search", rc, NULL);
		if (rc == CONVLOG_EINVAL && !a.q.after)
			st = TOOL_USAGE;
	} else {
		st = a.json ? print_json(r) : print_text(r);
	}
	convlog_search_result_free(r);
	tool_close(db);
	if (fflush(stdout) && !st) {
		tool_err("search", "write error");
		st = TOOL_FAIL;
	}
	return st;
}
