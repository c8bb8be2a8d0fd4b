/* cmd_verify.c - convlog verify: full consistency check of a store. */
#include <getopt.h>
#include <stdio.h>

#include "cmds.h"
#include "util.h"

static const char usage_text[] =
	"usage: convlog verify STORE\n"
	"\n"
	"Checks STORE: every block checksum and record of every segment, every\n"
	"message locator, the id index, every secondary index and every\n"
	"conversation's aggregates.  Each problem is printed on standard output\n"
	"as 'where: what', followed by 'ok' or 'N problems'.  The store is opened\n"
	"read-only, so verify can run beside a writer.\n"
	"\n"
	"Options:\n"
	"  -h, --help   show this help\n"
	"\n"
	"Exit status: 0 no problems, 1 problems found or the check failed,\n"
	"2 usage error.\n";

static void on_problem(void *ud, const char *where, const char *what)
{
	(void)ud;
	printf("%s: %s\n", where, what);
}

int cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	convlog_db *db = NULL;
	uint64_t n = 0;
	int c, rc, st = TOOL_OK;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (c != 'h')
			return tool_getopt_error("verify", c, argv);
		fputs(usage_text, stdout);
		return TOOL_OK;
	}
	if (argc - optind != 1)
		return tool_usage("verify", argc == optind ? "STORE is missing" : "too many arguments");
	if (tool_open("verify", argv[optind], CONVLOG_OPEN_READONLY, CONVLOG_DURABILITY_FULL, &db))
		return TOOL_FAIL;
	rc = convlog_verify(db, on_problem, NULL, &n);
	if (rc) {
		st = tool_lib_err("verify", rc, NULL);
		goto out;
	}
	if (n == 0)
		printf("ok\n");
	else
		printf("%llu problem%s\n", (unsigned long long)n, n == 1 ? "" : "s");
	st = n ? TOOL_FAIL : TOOL_OK;
out:
	if (fflush(stdout) && !st)
		st = TOOL_FAIL;
	convlog_close(db);
	return st;
}
