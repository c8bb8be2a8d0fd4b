/* cmd_init.c - convlog init: create an empty store. */
#include <getopt.h>
#include <stdio.h>

#include "cmds.h"
#include "util.h"

static const char usage_text[] =
	"usage: convlog init [--exist-ok] STORE\n"
	"\n"
	"Creates an empty convlog store in the directory STORE.  The directory is\n"
	"created if missing; an existing directory must be empty.\n"
	"\n"
	"If STORE already is a convlog store, init fails (exit 1) so that a\n"
	"mistyped path cannot silently reuse an existing store; with --exist-ok it\n"
	"then does nothing and exits 0.\n"
	"\n"
	"Options:\n"
	"  --exist-ok   succeed when STORE already is a convlog store\n"
	"  -h, --help   show this help\n";

/* 1 when `path` opens as a store, 0 when there is none, -1 on error. */
static int is_store(const char *path)
{
	convlog_options *opts = NULL;
	convlog_db *db = NULL;
	int rc;

	rc = convlog_options_new(&opts);
	if (!rc)
		rc = convlog_options_set_open_flags(opts, CONVLOG_OPEN_READONLY);
	if (!rc)
		rc = convlog_open(path, opts, &db);
	convlog_options_free(opts);
	tool_close(db);
	if (rc == CONVLOG_ENOTFOUND)
		return 0;
	if (rc) {
		tool_lib_err("init", rc, NULL);
		return -1;
	}
	return 1;
}

int cmd_init(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"exist-ok", no_argument, NULL, 'e'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	convlog_db *db = NULL;
	int c, exist_ok = 0, st;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'e': exist_ok = 1; break;
		case 'h': fputs(usage_text, stdout); return TOOL_OK;
		default: return tool_getopt_error("init", c, argv);
		}
	}
	if (argc - optind != 1)
		return tool_usage("init", argc == optind ? "STORE is missing" : "too many arguments");
	st = is_store(argv[optind]);
	if (st < 0)
		return TOOL_FAIL;
	if (st > 0) {
		if (exist_ok)
			return TOOL_OK;
		tool_err("init", "%s is already a convlog store", argv[optind]);
		return TOOL_FAIL;
	}
	if (tool_open("init", argv[optind], CONVLOG_OPEN_CREATE, CONVLOG_DURABILITY_FULL, &db))
		return TOOL_FAIL;
	tool_close(db);
	return TOOL_OK;
}
