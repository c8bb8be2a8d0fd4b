/* cmd_reindex.c - convlog reindex: rebuild the full-text index. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmds.h"
#include "util.h"

static const char usage_text[] =
	"usage: convlog reindex [--stemming LANG] STORE\n"
	"\n"
	"Rebuilds the full-text index of STORE from its messages and merges it\n"
	"into one segment: after convlog verify reported a damaged index\n"
	"segment, or to change the stemming language (\"none\" or a Snowball\n"
	"language: english, french, german, spanish, italian, portuguese, dutch,\n"
	"russian, swedish, ...).  Writers wait while it runs; readers keep\n"
	"searching the old index until the new one replaces it.  Prints the\n"
	"number of messages, index segments and index size.\n"
	"\n"
	"Options:\n"
	"  --stemming LANG  the store's new stemming language (default: keep)\n"
	"  -h, --help       show this help\n";

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cmd_reindex(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"stemming", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *stem = NULL;
	convlog_db *db = NULL;
	convlog_stats st;
	char size[32];
	int c, rc;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': stem = optarg; break;
		case 'h': fputs(usage_text, stdout); return TOOL_OK;
		default: return tool_getopt_error("reindex", c, argv);
		}
	}
	if (argc - optind != 1)
		return tool_usage("reindex", argc - optind < 1 ? "STORE is required" : "too many arguments");
	if (tool_open("reindex", argv[optind], 0, CONVLOG_DURABILITY_FULL, &db))
		return TOOL_FAIL;
	double t0 = now_s();
	if ((rc = convlog_reindex(db, stem)) || (rc = convlog_index_merge(db, CONVLOG_MERGE_ALL))) {
		tool_lib_err("reindex", rc, NULL);
		tool_close(db);
		return rc == CONVLOG_EINVAL ? TOOL_USAGE : TOOL_FAIL;
	}
	double t1 = now_s();
	memset(&st, 0, sizeof(st));
	st.version = CONVLOG_STATS_VERSION;
	if ((rc = convlog_stats_get(db, &st))) {
		tool_lib_err("reindex", rc, "statistics");
		tool_close(db);
		return TOOL_FAIL;
	}
	tool_human_size(st.index_bytes, size, sizeof(size));
	printf("reindexed %llu messages in %.1f s: %llu index segment%s, %s\n",
	       (unsigned long long)st.messages, t1 - t0, (unsigned long long)st.index_segments,
	       st.index_segments == 1 ? "" : "s", size);
	tool_close(db);
	return TOOL_OK;
}
