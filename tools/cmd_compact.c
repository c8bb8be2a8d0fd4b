/* cmd_compact.c - convlog compact: rewrite segments, reclaim space, move
 * archived conversations to the cold tier, erase purged data. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmds.h"
#include "util.h"

static const char usage_text[] =
	"usage: convlog compact [--archive] [--full] [--level N] [--dry-run] [--json] STORE\n"
	"\n"
	"Compacts STORE: every sealed log segment and every compacted segment\n"
	"that is mostly garbage, small, or holds bytes of purged conversations is\n"
	"rewritten with only the current version of each message, the turns of\n"
	"each conversation stored together.  After a purge, LMDB is rewritten\n"
	"too, so no byte of a purged conversation remains in any file.  Readers\n"
	"and writers may keep using the store meanwhile.  Prints a summary:\n"
	"bytes before and after, segments rewritten and written, time.  Shows a\n"
	"progress bar on a terminal.\n"
	"\n"
	"Options:\n"
	"  --archive    also move archived conversations to cold segments\n"
	"               (zstd level 19 with a dictionary trained on them)\n"
	"  --full       seal the active segment and rewrite every segment\n"
	"  --level N    zstd level (1..19) of the rewritten warm segments\n"
	"               (default: the store's level, 3)\n"
	"  --dry-run    print what would be rewritten, change nothing\n"
	"  --json       print the summary as one JSON object\n"
	"  -h, --help   show this help\n";

struct bar {
	int on;
	double t0;
	int last;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int on_progress(void *ud, uint64_t done, uint64_t total)
{
	struct bar *b = ud;
	char d[32], t[32];

	if (!b->on || !total)
		return 0;
	int pct = (int)(done * 100 / total);
	if (pct == b->last)
		return 0;
	b->last = pct;
	int fill = pct * 30 / 100;
	tool_human_size(done, d, sizeof(d));
	tool_human_size(total, t, sizeof(t));
	double el = now_s() - b->t0;
	fprintf(stderr, "\rcompact [%.*s%*s] %3d%% %s of %s, %.0f s", fill,
		"##############################", 30 - fill, "", pct, d, t, el);
	fflush(stderr);
	return 0;
}

int cmd_compact(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"archive", no_argument, NULL, 'a'},
		{"full", no_argument, NULL, 'f'},
		{"dry-run", no_argument, NULL, 'n'},
		{"json", no_argument, NULL, 'j'},
		{"level", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	convlog_compact_opts o;
	convlog_compact_stats st = {.version = CONVLOG_COMPACT_VERSION};
	convlog_db *db = NULL;
	struct bar bar = {0};
	int c, rc, json = 0;

	convlog_compact_opts_init(&o);
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'a': o.flags |= CONVLOG_COMPACT_ARCHIVE; break;
		case 'f': o.flags |= CONVLOG_COMPACT_FULL; break;
		case 'n': o.flags |= CONVLOG_COMPACT_DRY_RUN; break;
		case 'j': json = 1; break;
		case 'l': {
			uint64_t v;
			if (tool_parse_u64(optarg, 19, &v) || v < 1)
				return tool_usage("compact", "--level wants 1..19, not '%s'", optarg);
			o.level = (int)v;
			break;
		}
		case 'h': fputs(usage_text, stdout); return TOOL_OK;
		default: return tool_getopt_error("compact", c, argv);
		}
	}
	if (argc - optind != 1)
		return tool_usage("compact", argc - optind < 1 ? "STORE is required" : "too many arguments");
	if (tool_open("compact", argv[optind], 0, CONVLOG_DURABILITY_FULL, &db))
		return TOOL_FAIL;
	bar.on = isatty(2) && !(o.flags & CONVLOG_COMPACT_DRY_RUN);
	bar.t0 = now_s();
	bar.last = -1;
	rc = convlog_compact(db, &o, on_progress, &bar, &st);
	if (bar.on)
		fputs("\r\033[K", stderr);
	tool_close(db);
	if (rc)
		return tool_lib_err("compact", rc, NULL);
	if (json) {
		printf("{\"dry_run\":%s,\"segments_before\":%llu,\"segments_after\":%llu,"
		       "\"bytes_before\":%llu,\"bytes_after\":%llu,\"meta_bytes_before\":%llu,"
		       "\"meta_bytes_after\":%llu,\"segments_planned\":%llu,\"bytes_planned\":%llu,"
		       "\"segments_rewritten\":%llu,\"segments_written\":%llu,"
		       "\"cold_segments_written\":%llu,\"records_moved\":%llu,\"erased\":%s,"
		       "\"elapsed_ms\":%lld}\n",
		       o.flags & CONVLOG_COMPACT_DRY_RUN ? "true" : "false",
		       (unsigned long long)st.segments_before, (unsigned long long)st.segments_after,
		       (unsigned long long)st.bytes_before, (unsigned long long)st.bytes_after,
		       (unsigned long long)st.meta_bytes_before, (unsigned long long)st.meta_bytes_after,
		       (unsigned long long)st.segments_planned, (unsigned long long)st.bytes_planned,
		       (unsigned long long)st.segments_rewritten, (unsigned long long)st.segments_written,
		       (unsigned long long)st.cold_segments_written, (unsigned long long)st.records_moved,
		       st.erased ? "true" : "false", (long long)st.elapsed_ms);
	} else if (o.flags & CONVLOG_COMPACT_DRY_RUN) {
		char b[32], p[32];
		tool_human_size(st.bytes_before, b, sizeof(b));
		tool_human_size(st.bytes_planned, p, sizeof(p));
		printf("would rewrite %llu of %llu segments (%s of segments), keeping %s of live records\n",
		       (unsigned long long)st.segments_planned, (unsigned long long)st.segments_before, b, p);
	} else {
		char b[32], a[32], mb[32], ma[32];
		tool_human_size(st.bytes_before, b, sizeof(b));
		tool_human_size(st.bytes_after, a, sizeof(a));
		tool_human_size(st.meta_bytes_before, mb, sizeof(mb));
		tool_human_size(st.meta_bytes_after, ma, sizeof(ma));
		printf("compacted in %.1f s: segments %s -> %s (%llu rewritten, %llu written, %llu cold), "
		       "%llu records moved, LMDB %s -> %s%s\n",
		       (double)st.elapsed_ms / 1000.0, b, a, (unsigned long long)st.segments_rewritten,
		       (unsigned long long)st.segments_written, (unsigned long long)st.cold_segments_written,
		       (unsigned long long)st.records_moved, mb, ma,
		       st.erased ? " (purged data erased)" : "");
	}
	if (fflush(stdout)) {
		tool_err("compact", "write error");
		return TOOL_FAIL;
	}
	return TOOL_OK;
}
