/* cmd_ls.c - convlog ls: list conversations with filters and paging. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "jsonl.h"
#include "util.h"

static const char usage_text[] =
	"usage: convlog ls [OPTIONS] STORE\n"
	"\n"
	"Lists the conversations of STORE, newest activity first, as a table\n"
	"(id, last activity in UTC, message count, status, title) or, with\n"
	"--json, as conversation lines of the JSONL format.  Soft-deleted\n"
	"conversations are left out unless --all or --status deleted is given.\n"
	"The table abbreviates the inactive_* statuses (timeout, user-ended,\n"
	"sys-ended).\n"
	"\n"
	"When --limit stops the listing and more conversations may follow, the\n"
	"table output ends with 'next: TOKEN' on stderr; pass the token to\n"
	"--after, with the same filters, to continue.\n"
	"\n"
	"Options:\n"
	"  --user U        only conversations of user_id U\n"
	"  --org O         only conversations of org_id O\n"
	"  --session S     only conversations of session_id S\n"
	"  --tag T         only conversations tagged T\n"
	"  --status NAME   only conversations in status NAME (active, completed,\n"
	"                  inactive_timeout, inactive_user_terminated,\n"
	"                  inactive_system_terminated, archived, deleted)\n"
	"  -a, --all       include soft-deleted conversations\n"
	"  -n, --limit N   list at most N conversations\n"
	"  --after TOKEN   continue a listing after its 'next:' token\n"
	"  --json          write JSONL conversation lines instead of a table\n"
	"  -h, --help      show this help\n";

#define COL_ID 36
#define COL_TIME 16
#define COL_MSGS 6
#define COL_STATUS 10
#define WIDTH 100

typedef struct ls_opts {
	convlog_conv_filter f;
	uint32_t limit;
	int json;
} ls_opts;

static const char *short_status(int st)
{
	switch (st) {
	case CONVLOG_STATUS_INACTIVE_TIMEOUT: return "timeout";
	case CONVLOG_STATUS_INACTIVE_USER_TERMINATED: return "user-ended";
	case CONVLOG_STATUS_INACTIVE_SYSTEM_TERMINATED: return "sys-ended";
	default: {
		const char *s = convlog_status_name(st);
		return s ? s : "?";
	}
	}
}

static void header(void)
{
	printf("%-*s %-*s %*s %-*s %s\n", COL_ID, "ID", COL_TIME, "LAST ACTIVITY", COL_MSGS,
	       "MSGS", COL_STATUS, "STATUS", "TITLE");
}

static void row(const convlog_conv *c)
{
	char id[CONVLOG_UUID_STRLEN], t[TOOL_TIME_STRLEN];
	const char *title = c->title ? c->title : c->topic ? c->topic : "";

	tool_time_short(c->last_activity_at, t);
	printf("%-*s %-*s %*llu %-*s ", COL_ID, tool_uuid_str(&c->id, id), COL_TIME, t, COL_MSGS,
	       (unsigned long long)c->message_count, COL_STATUS, short_status(c->status));
	tool_fit(stdout, title, WIDTH - (COL_ID + COL_TIME + COL_MSGS + COL_STATUS + 4));
	putchar('\n');
}

static int print_one(const ls_opts *o, const convlog_conv *c)
{
	json_t *j;
	int rc;

	if (!o->json) {
		row(c);
		return 0;
	}
	j = jsonl_conv_json(c);
	if (!j) {
		tool_err("ls", "cannot convert a conversation to JSON");
		return -1;
	}
	rc = jsonl_print(stdout, j);
	json_decref(j);
	return rc;
}

/* After `limit` rows: prints the resume token if another row exists. */
static int more(const ls_opts *o, convlog_conv_iter *it)
{
	const convlog_conv *c;
	char *tok = NULL;
	int rc;

	if ((rc = convlog_conv_iter_token(it, &tok)))
		return tool_lib_err("ls", rc, NULL);
	rc = convlog_conv_iter_next(it, &c);
	if (rc == 0 && !o->json)
		fprintf(stderr, "next: %s\n", tok);
	convlog_free(tok);
	if (rc < 0)
		return tool_lib_err("ls", rc, NULL);
	return TOOL_OK;
}

static int list(convlog_db *db, const ls_opts *o)
{
	convlog_conv_iter *it = NULL;
	const convlog_conv *c;
	uint32_t n = 0;
	int rc, st = TOOL_OK;

	if ((rc = convlog_conv_list(db, &o->f, &it)))
		return tool_lib_err("ls", rc, NULL);
	if (!o->json)
		header();
	while ((!o->limit || n < o->limit) && (rc = convlog_conv_iter_next(it, &c)) == 0) {
		if (print_one(o, c)) {
			st = TOOL_FAIL;
			goto out;
		}
		n++;
	}
	if (o->limit && n == o->limit)
		st = more(o, it);
	else if (rc != CONVLOG_DONE)
		st = tool_lib_err("ls", rc, NULL);
out:
	convlog_conv_iter_free(it);
	if (fflush(stdout) && !st) {
		tool_err("ls", "write error");
		st = TOOL_FAIL;
	}
	return st;
}

static int parse_opt(ls_opts *o, int c, char **argv)
{
	uint64_t v;

	switch (c) {
	case 'u': o->f.user_id = optarg; break;
	case 'O': o->f.org_id = optarg; break;
	case 's': o->f.session_id = optarg; break;
	case 't': o->f.tag = optarg; break;
	case 'S':
		if (convlog_status_parse(optarg, &o->f.status))
			return tool_usage("ls", "unknown status '%s'", optarg);
		break;
	case 'a': o->f.include_deleted = 1; break;
	case 'n':
		if (tool_parse_u64(optarg, UINT32_MAX, &v) || v == 0)
			return tool_usage("ls", "--limit needs a number from 1 to %u", UINT32_MAX);
		o->limit = (uint32_t)v;
		break;
	case 'A': o->f.after = optarg; break;
	case 'j': o->json = 1; break;
	default: return tool_getopt_error("ls", c, argv);
	}
	return TOOL_OK;
}

int cmd_ls(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"user", required_argument, NULL, 'u'},
		{"org", required_argument, NULL, 'O'},
		{"session", required_argument, NULL, 's'},
		{"tag", required_argument, NULL, 't'},
		{"status", required_argument, NULL, 'S'},
		{"all", no_argument, NULL, 'a'},
		{"limit", required_argument, NULL, 'n'},
		{"after", required_argument, NULL, 'A'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	ls_opts o;
	convlog_db *db = NULL;
	int c, st;

	memset(&o, 0, sizeof(o));
	convlog_conv_filter_init(&o.f);
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":an:h", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_text, stdout);
			return TOOL_OK;
		}
		if ((st = parse_opt(&o, c, argv)))
			return st;
	}
	if (argc - optind != 1)
		return tool_usage("ls", argc == optind ? "STORE is missing" : "too many arguments");
	if (tool_open("ls", argv[optind], CONVLOG_OPEN_READONLY, CONVLOG_DURABILITY_FULL, &db))
		return TOOL_FAIL;
	st = list(db, &o);
	convlog_close(db);
	return st;
}
