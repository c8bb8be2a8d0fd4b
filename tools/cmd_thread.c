/* cmd_thread.c - convlog thread: the messages from the root to one message. */
#include <getopt.h>
#include <stdio.h>

#include "cmds.h"
#include "text.h"
#include "util.h"

static const char usage_text[] =
	"usage: convlog thread [--to SEQ] [--json] STORE CONV\n"
	"\n"
	"Prints the thread of conversation CONV of STORE (its UUID or\n"
	"external_id) that leads from a root message to message SEQ (default:\n"
	"CONV's tip), following parent_seq links and, in a fork, into the\n"
	"messages it inherits from its parents.  The text form starts with\n"
	"'thread of conversation ID to seq N' and prints each message like\n"
	"'convlog show', marking inherited ones '(from ID)'.  --json writes\n"
	"one JSONL message line per message, in the format of 'convlog export'\n"
	"(an inherited message carries the conversation_id of its owner).\n"
	"\n"
	"Options:\n"
	"  --to SEQ     end the thread at message SEQ instead of the tip\n"
	"  --json       JSONL output\n"
	"  -h, --help   show this help\n";

static int thread(convlog_db *db, const char *arg, uint32_t to, int json)
{
	convlog_conv *c = NULL;
	convlog_msg_iter *it = NULL;
	char s[CONVLOG_UUID_STRLEN];
	int rc, st;

	if ((st = tool_conv_lookup("thread", db, arg, &c)))
		return st;
	if (!to)
		to = c->tip_seq;
	rc = convlog_msg_thread(db, &c->id, to, &it);
	if (rc) {
		st = tool_lib_err("thread", rc, NULL);
		goto out;
	}
	if (!json)
		printf("thread of conversation %s to seq %u\n", tool_uuid_str(&c->id, s), to);
	st = text_msgs("thread", it, &c->id, json, NULL);
out:
	convlog_msg_iter_free(it);
	convlog_conv_free(c);
	if (fflush(stdout) && !st) {
		tool_err("thread", "write error");
		st = TOOL_FAIL;
	}
	return st;
}

int cmd_thread(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"to", required_argument, NULL, 't'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	convlog_db *db = NULL;
	uint32_t to = 0;
	int c, json = 0, st;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			if ((st = tool_parse_seq("thread", "--to", optarg, 1, &to)))
				return st;
			break;
		case 'j': json = 1; break;
		case 'h': fputs(usage_text, stdout); return TOOL_OK;
		default: return tool_getopt_error("thread", c, argv);
		}
	}
	if (argc - optind != 2)
		return tool_usage("thread", argc - optind < 2 ? "STORE and CONV are required"
							      : "too many arguments");
	if (tool_open("thread", argv[optind], CONVLOG_OPEN_READONLY, CONVLOG_DURABILITY_FULL, &db))
		return TOOL_FAIL;
	st = thread(db, argv[optind + 1], to, json);
	tool_close(db);
	return st;
}
