/* cmd_verify.c - convlog verify: full consistency check of a store, and
 * --repair: rebuild what is derived from the primary data. */
#include <getopt.h>
#include <stdio.h>

#include "cmds.h"
#include "jsonl.h"
#include "util.h"

static const char usage_text[] =
	"usage: convlog verify [--repair] [--json] STORE\n"
	"\n"
	"Checks STORE: every block checksum and record of every segment, every\n"
	"message locator, the id index, every secondary index, every\n"
	"conversation's aggregates, the segment accounting and the text index.\n"
	"Each problem is printed on standard output as 'where: what', followed by\n"
	"'ok' or 'N problems'.  The store is opened read-only, so verify can run\n"
	"beside a writer.\n"
	"\n"
	"With --repair the store is opened for writing (no other writer may have\n"
	"it open), checked, and everything derived from the primary data is\n"
	"rebuilt: message summaries, the message-id and children indexes, every\n"
	"conversation index, aggregates, counters, segment accounting and the\n"
	"text index.  What cannot be rebuilt (a conversation record or a message\n"
	"record that is damaged) is printed as 'unrepairable: where: what'.  The\n"
	"store is then checked again.\n"
	"\n"
	"Options:\n"
	"  -r, --repair  rebuild derived data, then check again\n"
	"      --json    one JSON object per line: {\"kind\":\"problem\",...} per\n"
	"                problem ({\"kind\":\"unrepairable\",...} with --repair),\n"
	"                then {\"kind\":\"summary\",...}\n"
	"  -h, --help    show this help\n"
	"\n"
	"Exit status: 0 no problems (after the repair, with --repair), 1 problems\n"
	"found or the check failed, 2 usage error.\n";

typedef struct vout {
	int json;
	const char *kind; /* "problem" or "unrepairable" */
} vout;

static void on_problem(void *ud, const char *where, const char *what)
{
	const vout *o = ud;

	if (o->json) {
		json_t *j = json_pack("{s:s, s:s, s:s}", "kind", o->kind, "where", where,
				      "what", what);
		if (j)
			jsonl_print(stdout, j);
		json_decref(j);
	} else if (o->kind[0] == 'u') {
		printf("unrepairable: %s: %s\n", where, what);
	} else {
		printf("%s: %s\n", where, what);
	}
}

static int check(convlog_db *db, vout *o, uint64_t *n)
{
	int rc;

	o->kind = "problem";
	rc = convlog_verify(db, on_problem, o, n);
	return rc ? tool_lib_err("verify", rc, NULL) : TOOL_OK;
}

static void summary(const vout *o, int repaired, uint64_t before, uint64_t unfixable,
		    uint64_t after)
{
	if (o->json) {
		json_t *j = repaired ? json_pack("{s:s, s:I, s:I, s:I}", "kind", "summary",
						 "problems_before", (json_int_t)before,
						 "unrepairable", (json_int_t)unfixable,
						 "problems", (json_int_t)after)
				     : json_pack("{s:s, s:I}", "kind", "summary", "problems",
						 (json_int_t)after);
		if (j)
			jsonl_print(stdout, j);
		json_decref(j);
		return;
	}
	if (repaired)
		printf("repaired: %llu problem%s before, %llu unrepairable; after: ",
		       (unsigned long long)before, before == 1 ? "" : "s",
		       (unsigned long long)unfixable);
	if (after == 0)
		printf("ok\n");
	else
		printf("%llu problem%s\n", (unsigned long long)after, after == 1 ? "" : "s");
}

int cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"repair", no_argument, NULL, 'r'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	convlog_db *db = NULL;
	uint64_t n = 0, before = 0, unfixable = 0;
	vout o = {0};
	int c, rc, repair = 0, st;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":rh", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': repair = 1; break;
		case 'j': o.json = 1; break;
		case 'h': fputs(usage_text, stdout); return TOOL_OK;
		default: return tool_getopt_error("verify", c, argv);
		}
	}
	if (argc - optind != 1)
		return tool_usage("verify", argc == optind ? "STORE is missing" : "too many arguments");
	if (tool_open("verify", argv[optind], repair ? 0 : CONVLOG_OPEN_READONLY,
		      CONVLOG_DURABILITY_FULL, &db))
		return TOOL_FAIL;
	if ((st = check(db, &o, &n)))
		goto out;
	if (repair) {
		before = n;
		o.kind = "unrepairable";
		rc = convlog_repair(db, on_problem, &o, &unfixable);
		if (rc) {
			st = tool_lib_err("verify", rc, "repair");
			goto out;
		}
		/* the check again, quietly: its problems are the ones left */
		o.kind = "problem";
		if ((st = check(db, &o, &n)))
			goto out;
	}
	summary(&o, repair, before, unfixable, n);
	st = n ? TOOL_FAIL : TOOL_OK;
out:
	if (fflush(stdout) && !st)
		st = TOOL_FAIL;
	tool_close(db);
	return st;
}
