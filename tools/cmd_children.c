/* cmd_children.c - convlog children: the replies to one message (the
 * alternatives a regeneration or an edit created). */
#include <getopt.h>
#include <stdio.h>

#include "cmds.h"
#include "text.h"
#include "util.h"

static const char usage_text[] =
	"usage: convlog children [--json] STORE CONV SEQ\n"
	"\n"
	"Prints the children of message SEQ of conversation CONV of STORE (its\n"
	"UUID or external_id): the messages whose parent_seq is SEQ, in seq\n"
	"order.  Siblings are the alternatives that regenerating or editing a\n"
	"turn created.  SEQ 0 lists the roots.  In a fork, the children of an\n"
	"inherited message are the parent's up to the fork point plus the\n"
	"fork's own.  The text form starts with 'children of seq N of\n"
	"conversation ID' ('roots of ...' for 0) and prints each message like\n"
	"'convlog show' ('(none)' when there are none); --json writes JSONL\n"
	"message lines in the format of 'convlog export'.\n"
	"\n"
	"Options:\n"
	"  --json       JSONL output\n"
	"  -h, --help   show this help\n";

static int children(convlog_db *db, const char *arg, uint32_t seq, int json)
{
	convlog_conv *c = NULL;
	convlog_msg_iter *it = NULL;
	uint64_t n = 0;
	char s[CONVLOG_UUID_STRLEN];
	int rc, st;

	if ((st = tool_conv_lookup("children", db, arg, &c)))
		return st;
	if ((rc = convlog_msg_children(db, &c->id, seq, &it))) {
		st = tool_lib_err("children", rc, NULL);
		goto out;
	}
	if (!json) {
		tool_uuid_str(&c->id, s);
		if (seq)
			printf("children of seq %u of conversation %s\n", seq, s);
		else
			printf("roots of conversation %s\n", s);
	}
	st = text_msgs("children", it, &c->id, json, &n);
	if (!st && !json && !n)
		printf("(none)\n");
out:
	convlog_msg_iter_free(it);
	convlog_conv_free(c);
	if (fflush(stdout) && !st) {
		tool_err("children", "write error");
		st = TOOL_FAIL;
	}
	return st;
}

int cmd_children(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	convlog_db *db = NULL;
	uint32_t seq;
	int c, json = 0, st;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'h': fputs(usage_text, stdout); return TOOL_OK;
		default: return tool_getopt_error("children", c, argv);
		}
	}
	if (argc - optind != 3)
		return tool_usage("children", argc - optind < 3 ? "STORE, CONV and SEQ are required"
								: "too many arguments");
	if ((st = tool_parse_seq("children", "SEQ", argv[optind + 2], 0, &seq)))
		return st;
	if (tool_open("children", argv[optind], CONVLOG_OPEN_READONLY, CONVLOG_DURABILITY_FULL,
		      &db))
		return TOOL_FAIL;
	st = children(db, argv[optind + 1], seq, json);
	tool_close(db);
	return st;
}
