/* cmd_show.c - convlog show: one conversation and its messages. */
#include <getopt.h>
#include <stdio.h>

#include "cmds.h"
#include "jsonl.h"
#include "text.h"
#include "util.h"

static const char usage_text[] =
	"usage: convlog show [--json] [--last N] STORE CONV\n"
	"\n"
	"Prints conversation CONV of STORE, named by its UUID or its external_id,\n"
	"and its messages in seq order.  The text form has a header with every\n"
	"field that is set, then each message as '[seq] role (name) time' plus\n"
	"usage details, with the content indented below it.  A fork shows the\n"
	"messages it inherits from its parents too, each marked '(from ID)'.\n"
	"--json writes the conversation line and the message lines exactly as\n"
	"'convlog export': a fork's own messages only (seq > fork_seq).\n"
	"\n"
	"Options:\n"
	"  --json          JSONL output\n"
	"  -n, --last N    only the last N messages (with --json: of its own)\n"
	"  -h, --help      show this help\n";

/* The seqs after which messages are shown: a fork's JSON output starts
 * after its fork point, like export. */
static uint32_t first_after(const convlog_conv *c, uint32_t last, int json)
{
	uint64_t after = 0;

	if (json && !convlog_uuid_is_nil(&c->parent_id))
		after = c->fork_seq;
	if (last && c->message_count > last && c->message_count - last > after)
		after = c->message_count - last;
	return (uint32_t)after;
}

static int show(convlog_db *db, const char *arg, uint32_t last, int json)
{
	convlog_conv *c = NULL;
	convlog_msg_iter *it = NULL;
	int rc, st;

	if ((st = tool_conv_lookup("show", db, arg, &c)))
		return st;
	if (!json)
		text_conv_header(c);
	else if (jsonl_print_conv(stdout, c)) {
		tool_err("show", "cannot write the conversation as JSON");
		st = TOOL_FAIL;
		goto out;
	}
	rc = convlog_msg_range(db, &c->id, CONVLOG_RANGE_AFTER, 0, first_after(c, last, json),
			       &it);
	if (rc) {
		st = tool_lib_err("show", rc, NULL);
		goto out;
	}
	st = text_msgs("show", it, &c->id, json, NULL);
out:
	convlog_msg_iter_free(it);
	convlog_conv_free(c);
	if (fflush(stdout) && !st) {
		tool_err("show", "write error");
		st = TOOL_FAIL;
	}
	return st;
}

int cmd_show(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"last", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	convlog_db *db = NULL;
	uint64_t v;
	uint32_t last = 0;
	int c, json = 0, st;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":n:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'n':
			if (tool_parse_u64(optarg, UINT32_MAX, &v) || v == 0)
				return tool_usage("show", "--last needs a number from 1 to %u",
						  UINT32_MAX);
			last = (uint32_t)v;
			break;
		case 'h': fputs(usage_text, stdout); return TOOL_OK;
		default: return tool_getopt_error("show", c, argv);
		}
	}
	if (argc - optind != 2)
		return tool_usage("show", argc - optind < 2 ? "STORE and CONV are required"
							    : "too many arguments");
	if (tool_open("show", argv[optind], CONVLOG_OPEN_READONLY, CONVLOG_DURABILITY_FULL, &db))
		return TOOL_FAIL;
	st = show(db, argv[optind + 1], last, json);
	tool_close(db);
	return st;
}
