/* cmd_replay.c - convlog replay: fork before the first message and list the
 * user turns to send again. */
#include <getopt.h>
#include <stdio.h>

#include <jansson.h>

#include "cmds.h"
#include "jsonl.h"
#include "text.h"
#include "util.h"

static const char usage_text[] =
	"usage: convlog replay [--system-prompt P] STORE CONV\n"
	"\n"
	"Replays conversation CONV of STORE (its UUID or external_id): forks it\n"
	"before its first message (fork_seq 0), with system prompt P instead of\n"
	"CONV's when given, and prints what an application sends again to the\n"
	"model.  The first line is\n"
	"  {\"type\":\"replay\",\"source_id\":CONV's id,\"fork_id\":the new id}\n"
	"followed by one JSONL message line (the format of 'convlog export') per\n"
	"user turn of CONV's active thread (root to tip), in order.\n"
	"\n"
	"Options:\n"
	"  --system-prompt P   system prompt of the replay\n"
	"  -h, --help          show this help\n";

static int head_line(const convlog_uuid *source, const convlog_uuid *fork)
{
	char a[CONVLOG_UUID_STRLEN], b[CONVLOG_UUID_STRLEN];
	json_t *o = json_pack("{s:s, s:s, s:s}", "type", "replay", "source_id",
			      tool_uuid_str(source, a), "fork_id", tool_uuid_str(fork, b));
	int rc = o ? jsonl_print(stdout, o) : -1;

	json_decref(o);
	if (rc)
		tool_err("replay", "write error");
	return rc ? TOOL_FAIL : TOOL_OK;
}

static int replay(convlog_db *db, const char *arg, const char *prompt)
{
	convlog_conv *c = NULL;
	convlog_msg_iter *turns = NULL;
	convlog_uuid id;
	int rc, st;

	if ((st = tool_conv_lookup("replay", db, arg, &c)))
		return st;
	rc = convlog_conv_replay(db, NULL, &c->id, prompt, &id, &turns);
	if (rc)
		st = tool_lib_err("replay", rc, NULL);
	else if (!(st = head_line(&c->id, &id)))
		st = text_msgs("replay", turns, NULL, 1, NULL);
	convlog_msg_iter_free(turns);
	convlog_conv_free(c);
	if (fflush(stdout) && !st) {
		tool_err("replay", "write error");
		st = TOOL_FAIL;
	}
	return st;
}

int cmd_replay(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"system-prompt", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	convlog_db *db = NULL;
	const char *prompt = NULL;
	int c, st;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': prompt = optarg; break;
		case 'h': fputs(usage_text, stdout); return TOOL_OK;
		default: return tool_getopt_error("replay", c, argv);
		}
	}
	if (argc - optind != 2)
		return tool_usage("replay", argc - optind < 2 ? "STORE and CONV are required"
							      : "too many arguments");
	if (tool_open("replay", argv[optind], 0, CONVLOG_DURABILITY_FULL, &db))
		return TOOL_FAIL;
	st = replay(db, argv[optind + 1], prompt);
	tool_close(db);
	return st;
}
