/* cmd_fork.c - convlog fork: a new conversation branching off another. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "util.h"

static const char usage_text[] =
	"usage: convlog fork [--at SEQ] [--title T] [--system-prompt P] [--tag T]...\n"
	"                    STORE CONV\n"
	"\n"
	"Forks conversation CONV of STORE (its UUID or external_id) at message SEQ\n"
	"into a new conversation and prints the new id.  The fork shares CONV's\n"
	"messages 1..SEQ without copying them; its own messages are numbered from\n"
	"SEQ + 1.  Its descriptive fields (user, org, device, session, roles,\n"
	"title, topic, system prompt, tags, metadata) are copied from CONV, then\n"
	"the options override them; --tag options replace the copied tags.\n"
	"\n"
	"Options:\n"
	"  --at SEQ            fork after message SEQ (0 = before the first\n"
	"                      message; default: CONV's tip)\n"
	"  --title T           title of the fork\n"
	"  --system-prompt P   system prompt of the fork\n"
	"  --tag T             a tag of the fork (repeatable)\n"
	"  -h, --help          show this help\n";

typedef struct fork_opts {
	convlog_conv o;    /* overrides */
	uint64_t mask;
	const char **tags; /* argv strings */
	int has_at;
	uint32_t at;
} fork_opts;

static int add_tag(fork_opts *f, const char *tag)
{
	const char **t = realloc(f->tags, (f->o.n_tags + 1) * sizeof(*t));

	if (!t) {
		tool_err("fork", "out of memory");
		return TOOL_FAIL;
	}
	t[f->o.n_tags++] = tag;
	f->tags = t;
	f->o.tags = t;
	f->mask |= CONVLOG_CONV_TAGS;
	return TOOL_OK;
}

static int parse_opt(fork_opts *f, int c, char **argv)
{
	switch (c) {
	case 'a':
		f->has_at = 1;
		return tool_parse_seq("fork", "--at", optarg, 0, &f->at);
	case 'T':
		f->o.title = optarg;
		f->mask |= CONVLOG_CONV_TITLE;
		return TOOL_OK;
	case 'p':
		f->o.system_prompt = optarg;
		f->mask |= CONVLOG_CONV_SYSTEM_PROMPT;
		return TOOL_OK;
	case 't': return add_tag(f, optarg);
	default: return tool_getopt_error("fork", c, argv);
	}
}

static int do_fork(convlog_db *db, const char *arg, fork_opts *f)
{
	convlog_conv *c = NULL;
	convlog_uuid id;
	char s[CONVLOG_UUID_STRLEN];
	int rc, st;

	if ((st = tool_conv_lookup("fork", db, arg, &c)))
		return st;
	if (!f->has_at)
		f->at = c->tip_seq;
	if (f->at > c->message_count) {
		tool_err("fork", "conversation %s has no message %u (it has %llu)",
			 tool_uuid_str(&c->id, s), f->at, (unsigned long long)c->message_count);
		st = TOOL_FAIL;
	} else if ((rc = convlog_conv_fork(db, NULL, &c->id, f->at, &f->o, f->mask, &id))) {
		st = tool_lib_err("fork", rc, NULL);
	} else {
		printf("%s\n", tool_uuid_str(&id, s));
		if (fflush(stdout)) {
			tool_err("fork", "write error");
			st = TOOL_FAIL;
		}
	}
	convlog_conv_free(c);
	return st;
}

int cmd_fork(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"at", required_argument, NULL, 'a'},
		{"title", required_argument, NULL, 'T'},
		{"system-prompt", required_argument, NULL, 'p'},
		{"tag", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	fork_opts f;
	convlog_db *db = NULL;
	int c, st = TOOL_OK;

	memset(&f, 0, sizeof(f));
	convlog_conv_init(&f.o);
	optind = 0;
	opterr = 0;
	while (!st && (c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_text, stdout);
			goto out;
		}
		st = parse_opt(&f, c, argv);
	}
	if (st)
		goto out;
	if (argc - optind != 2) {
		st = tool_usage("fork", argc - optind < 2 ? "STORE and CONV are required"
							  : "too many arguments");
		goto out;
	}
	st = tool_open("fork", argv[optind], 0, CONVLOG_DURABILITY_FULL, &db);
	if (!st)
		st = do_fork(db, argv[optind + 1], &f);
	tool_close(db);
out:
	free(f.tags);
	return st;
}
