/* cmd_sync.c - convlog sync: changesets between replicas. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "util.h"

static const char usage_text[] =
	"usage: convlog sync export [--since CURSOR] [-o FILE] [--json] STORE\n"
	"       convlog sync apply [--json] STORE FILE...\n"
	"       convlog sync status [--json] STORE\n"
	"       convlog sync push [--json] --pg URL STORE\n"
	"       convlog sync pull [--json] --pg URL STORE\n"
	"\n"
	"Offline sync between stores (replicas).  `export` writes a changeset:\n"
	"the current state of every conversation that changed after CURSOR (a\n"
	"position in STORE's change feed; 0, the default, exports everything),\n"
	"its messages changed since, and the conversations purged since.  It\n"
	"prints the cursor to pass as --since next time on stderr (stdout with\n"
	"--json).  `apply` merges changesets made by other stores, each in one\n"
	"transaction; applying one twice, or out of order, is harmless (\"-\"\n"
	"reads standard input).  `status` prints this store's replica id, feed\n"
	"head and the peers it has heard from, with their cursors.\n"
	"\n"
	"Sync through a PostgreSQL server (sql/convlog-pg.sql loaded in the\n"
	"database URL names, a libpq connection string or URI): `push` sends the\n"
	"changes the server has not acknowledged in one server transaction;\n"
	"`pull` applies the server's changes after STORE's cursor for it, read\n"
	"in one snapshot.  The server's row-level security applies to the role\n"
	"URL logs in as: a push of another user's conversation fails whole.\n"
	"\n"
	"Options:\n"
	"  --since CURSOR  export the changes after this feed position\n"
	"  -o FILE         write the changeset to FILE (default: standard output,\n"
	"                  which must not be a terminal)\n"
	"  --pg URL        the PostgreSQL server (push, pull)\n"
	"  --json          machine-readable output\n"
	"  -h, --help      show this help\n";

static int read_all(const char *path, void **out, size_t *len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	size_t cap = 1 << 16, n = 0;
	char *p;

	if (!f)
		return -1;
	p = malloc(cap);
	while (p) {
		size_t got = fread(p + n, 1, cap - n, f);
		n += got;
		if (n < cap) {
			if (ferror(f)) {
				free(p);
				p = NULL;
			}
			break;
		}
		char *np = realloc(p, cap * 2);
		if (!np) {
			free(p);
			p = NULL;
			break;
		}
		p = np;
		cap *= 2;
	}
	if (f != stdin)
		fclose(f);
	if (!p)
		return -1;
	*out = p;
	*len = n;
	return 0;
}

static int do_export(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"since", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint64_t since = 0, upto = 0;
	const char *outp = NULL;
	int json = 0, c, rc;
	convlog_db *db;
	void *cs;
	size_t len;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(optarg, &end, 10);
			if (errno || *end || !*optarg || optarg[0] == '-')
				return tool_usage("sync export", "--since needs a cursor (a number), not '%s'", optarg);
			since = v;
			break;
		}
		case 'o': outp = optarg; break;
		case 'j': json = 1; break;
		case 'h': fputs(usage_text, stdout); return TOOL_OK;
		default: return tool_getopt_error("sync export", c, argv);
		}
	}
	if (argc - optind != 1)
		return tool_usage("sync export", argc - optind < 1 ? "STORE is required" : "too many arguments");
	if (!outp && isatty(1))
		return tool_usage("sync export", "refusing to write a binary changeset to a terminal; use -o FILE");
	if (tool_open("sync export", argv[optind], CONVLOG_OPEN_READONLY, CONVLOG_DURABILITY_FULL, &db))
		return TOOL_FAIL;
	rc = convlog_sync_export(db, since, &cs, &len, &upto);
	tool_close(db);
	if (rc)
		return tool_lib_err("sync export", rc, NULL), TOOL_FAIL;
	FILE *f = outp ? fopen(outp, "wb") : stdout;
	int bad = !f || fwrite(cs, 1, len, f) != len;
	if (f && f != stdout)
		bad |= fclose(f) != 0;
	else if (f)
		bad |= fflush(f) != 0;
	convlog_free(cs);
	if (bad) {
		fprintf(stderr, "convlog sync export: writing %s: %s\n", outp ? outp : "standard output",
			strerror(errno));
		return TOOL_FAIL;
	}
	if (json)
		fprintf(outp ? stdout : stderr, "{\"since\":%" PRIu64 ",\"upto\":%" PRIu64 ",\"bytes\":%zu}\n",
			since, upto, len);
	else
		fprintf(stderr, "exported changes %" PRIu64 "..%" PRIu64 " (%zu bytes); next: --since %" PRIu64 "\n",
			since, upto, len, upto);
	return TOOL_OK;
}

static int do_apply(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int json = 0, c, rc, ret = TOOL_OK;
	convlog_db *db;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'h': fputs(usage_text, stdout); return TOOL_OK;
		default: return tool_getopt_error("sync apply", c, argv);
		}
	}
	if (argc - optind < 2)
		return tool_usage("sync apply", argc - optind < 1 ? "STORE is required" : "FILE is required");
	if (tool_open("sync apply", argv[optind], 0, CONVLOG_DURABILITY_FULL, &db))
		return TOOL_FAIL;
	for (int i = optind + 1; i < argc; i++) {
		void *data;
		size_t len;
		convlog_sync_result r;
		if (read_all(argv[i], &data, &len)) {
			fprintf(stderr, "convlog sync apply: %s: %s\n", argv[i], strerror(errno));
			ret = TOOL_FAIL;
			continue;
		}
		rc = convlog_sync_apply(db, data, len, &r);
		free(data);
		if (rc) {
			tool_lib_err("sync apply", rc, argv[i]);
			ret = TOOL_FAIL;
			continue;
		}
		if (json)
			printf("{\"file\":\"%s\",\"source\":\"%016" PRIx64 "\",\"since\":%" PRIu64 ",\"upto\":%" PRIu64
			       ",\"conversations\":%u,\"created\":%u,\"updated\":%u,\"messages_added\":%u,"
			       "\"messages_updated\":%u,\"renumbered\":%u,\"purged\":%u,\"ignored\":%u,\"cursor_moved\":%s}\n",
			       argv[i], r.source, r.since, r.upto, r.conversations, r.created, r.updated,
			       r.messages_added, r.messages_updated, r.renumbered, r.purged, r.ignored,
			       r.cursor_moved ? "true" : "false");
		else
			printf("%s: from %016" PRIx64 " (%" PRIu64 "..%" PRIu64 "): %u conversations (%u new, %u changed), "
			       "%u messages added, %u updated, %u renumbered, %u purged\n",
			       argv[i], r.source, r.since, r.upto, r.conversations, r.created, r.updated,
			       r.messages_added, r.messages_updated, r.renumbered, r.purged);
	}
	tool_close(db);
	return ret;
}

static int do_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int json = 0, c, rc;
	convlog_db *db;
	convlog_sync_info *in;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'h': fputs(usage_text, stdout); return TOOL_OK;
		default: return tool_getopt_error("sync status", c, argv);
		}
	}
	if (argc - optind != 1)
		return tool_usage("sync status", argc - optind < 1 ? "STORE is required" : "too many arguments");
	if (tool_open("sync status", argv[optind], CONVLOG_OPEN_READONLY, CONVLOG_DURABILITY_FULL, &db))
		return TOOL_FAIL;
	rc = convlog_sync_status(db, &in);
	tool_close(db);
	if (rc)
		return tool_lib_err("sync status", rc, NULL), TOOL_FAIL;
	if (json) {
		printf("{\"replica\":\"%016" PRIx64 "\",\"head\":%" PRIu64 ",\"feed_entries\":%" PRIu64
		       ",\"tombstones\":%" PRIu64 ",\"peers\":[",
		       in->replica_id, in->head, in->feed_entries, in->tombstones);
		for (size_t i = 0; i < in->n_peers; i++)
			printf("%s{\"replica\":\"%016" PRIx64 "\",\"recv\":%" PRIu64 ",\"ack\":%" PRIu64
			       ",\"last_at\":%" PRId64 "}",
			       i ? "," : "", in->peers[i].replica_id, in->peers[i].recv, in->peers[i].ack,
			       in->peers[i].last_at);
		printf("]}\n");
	} else {
		printf("replica %016" PRIx64 "\nfeed head %" PRIu64 " (%" PRIu64 " conversations and tombstones; %" PRIu64
		       " tombstones)\n",
		       in->replica_id, in->head, in->feed_entries, in->tombstones);
		for (size_t i = 0; i < in->n_peers; i++)
			printf("peer %016" PRIx64 ": applied its feed up to %" PRIu64 "; it applied ours up to %" PRIu64 "\n",
			       in->peers[i].replica_id, in->peers[i].recv, in->peers[i].ack);
	}
	convlog_sync_info_free(in);
	return TOOL_OK;
}

/* push (push != 0) or pull through a PostgreSQL server */
static int do_pg(int argc, char **argv, int push)
{
	static const struct option longopts[] = {
		{"pg", required_argument, NULL, 'p'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *cmd = push ? "sync push" : "sync pull";
	const char *url = NULL;
	int json = 0, c, rc;
	convlog_db *db;
	convlog_sync_result r;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': url = optarg; break;
		case 'j': json = 1; break;
		case 'h': fputs(usage_text, stdout); return TOOL_OK;
		default: return tool_getopt_error(cmd, c, argv);
		}
	}
	if (!url)
		return tool_usage(cmd, "--pg URL is required");
	if (argc - optind != 1)
		return tool_usage(cmd, argc - optind < 1 ? "STORE is required" : "too many arguments");
	if (tool_open(cmd, argv[optind], 0, CONVLOG_DURABILITY_FULL, &db))
		return TOOL_FAIL;
	rc = push ? convlog_sync_push_pg(db, url, &r) : convlog_sync_pull_pg(db, url, &r);
	tool_close(db);
	if (rc)
		return tool_lib_err(cmd, rc, NULL), TOOL_FAIL;
	if (push && json)
		printf("{\"since\":%" PRIu64 ",\"upto\":%" PRIu64 ",\"conversations\":%u,\"messages\":%u,"
		       "\"purged\":%u}\n",
		       r.since, r.upto, r.conversations, r.messages_added, r.purged);
	else if (push)
		printf("pushed changes %" PRIu64 "..%" PRIu64 ": %u conversations, %u messages, %u purges\n",
		       r.since, r.upto, r.conversations, r.messages_added, r.purged);
	else if (json)
		printf("{\"source\":\"%016" PRIx64 "\",\"since\":%" PRIu64 ",\"upto\":%" PRIu64
		       ",\"conversations\":%u,\"created\":%u,\"updated\":%u,\"messages_added\":%u,"
		       "\"messages_updated\":%u,\"renumbered\":%u,\"purged\":%u,\"ignored\":%u,\"cursor_moved\":%s}\n",
		       r.source, r.since, r.upto, r.conversations, r.created, r.updated,
		       r.messages_added, r.messages_updated, r.renumbered, r.purged, r.ignored,
		       r.cursor_moved ? "true" : "false");
	else
		printf("pulled from %016" PRIx64 " (%" PRIu64 "..%" PRIu64 "): %u conversations (%u new, %u changed), "
		       "%u messages added, %u updated, %u renumbered, %u purged\n",
		       r.source, r.since, r.upto, r.conversations, r.created, r.updated,
		       r.messages_added, r.messages_updated, r.renumbered, r.purged);
	return TOOL_OK;
}

int cmd_sync(int argc, char **argv)
{
	if (argc < 2)
		return tool_usage("sync", "a subcommand is required: export, apply, status, push or pull");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(usage_text, stdout);
		return TOOL_OK;
	}
	if (!strcmp(argv[1], "export"))
		return do_export(argc - 1, argv + 1);
	if (!strcmp(argv[1], "apply"))
		return do_apply(argc - 1, argv + 1);
	if (!strcmp(argv[1], "status"))
		return do_status(argc - 1, argv + 1);
	if (!strcmp(argv[1], "push"))
		return do_pg(argc - 1, argv + 1, 1);
	if (!strcmp(argv[1], "pull"))
		return do_pg(argc - 1, argv + 1, 0);
	return tool_usage("sync", "unknown subcommand '%s' (export, apply, status, push or pull)", argv[1]);
}
