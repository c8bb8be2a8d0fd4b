/* cmd_tip.c - convlog tip: switch a conversation's active branch. */
#include <getopt.h>
#include <stdio.h>

#include "cmds.h"
#include "util.h"

static const char usage_text[] =
	"usage: convlog tip STORE CONV SEQ\n"
	"\n"
	"Makes message SEQ the tip of conversation CONV of STORE (its UUID or\n"
	"external_id): the leaf of its active thread, which the next message\n"
	"appended without an explicit parent continues.  Any message of CONV's\n"
	"seq space may be named, a fork's inherited ones included.  Prints\n"
	"nothing on success.\n"
	"\n"
	"Options:\n"
	"  -h, --help   show this help\n";

static int set_tip(convlog_db *db, const char *arg, uint32_t seq)
{
	convlog_conv *c = NULL;
	char s[CONVLOG_UUID_STRLEN];
	int rc, st;

	if ((st = tool_conv_lookup("tip", db, arg, &c)))
		return st;
	if (seq > c->message_count) {
		tool_err("tip", "conversation %s has no message %u (it has %llu)",
			 tool_uuid_str(&c->id, s), seq, (unsigned long long)c->message_count);
		st = TOOL_FAIL;
	} else if ((rc = convlog_conv_set_tip(db, NULL, &c->id, seq))) {
		st = tool_lib_err("tip", rc, NULL);
	}
	convlog_conv_free(c);
	return st;
}

int cmd_tip(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	convlog_db *db = NULL;
	uint32_t seq;
	int c, st;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(usage_text, stdout); return TOOL_OK;
		default: return tool_getopt_error("tip", c, argv);
		}
	}
	if (argc - optind != 3)
		return tool_usage("tip", argc - optind < 3 ? "STORE, CONV and SEQ are required"
							   : "too many arguments");
	if ((st = tool_parse_seq("tip", "SEQ", argv[optind + 2], 1, &seq)))
		return st;
	if (tool_open("tip", argv[optind], 0, CONVLOG_DURABILITY_FULL, &db))
		return TOOL_FAIL;
	st = set_tip(db, argv[optind + 1], seq);
	tool_close(db);
	return st;
}
