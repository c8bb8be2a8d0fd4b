/* cmd_ls.c - convlog ls: list conversations with filters and paging. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "jsonl.h"
#include "text.h"
#include "util.h"

static const char usage_text[] =
	"usage: convlog ls [OPTIONS] STORE\n"
	"\n"
	"Lists the conversations of STORE, newest activity first, as a table\n"
	"(id, last activity in UTC, message count, status, title) or, with\n"
	"--json, as conversation lines of the JSONL format.  Soft-deleted\n"
	"conversations are left out unless --all or --status deleted is given.\n"
	"The table abbreviates the inactive_* statuses (timeout, user-ended,\n"
	"sys-ended).  Listed in creation order (--order newest or oldest, or a\n"
	"role filter alone), the table shows created_at instead of last activity.\n"
	"Each listing walks one index and checks the other filters: in activity\n"
	"order a role filter needs --parent, --session, --tag, --user, --org or\n"
	"--status beside it; in creation order --tag, --status and --parent need\n"
	"--session, --initiator-role, --responder-role, --user or --org beside\n"
	"them.  Other combinations fail (exit 1).\n"
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
	"  --initiator-role R  only conversations whose initiator_role is R\n"
	"  --responder-role R  only conversations whose responder_role is R\n"
	"  --parent CONV   only the forks of conversation CONV (UUID or\n"
	"                  external_id)\n"
	"  --status NAME   only conversations in status NAME (active, completed,\n"
	"                  inactive_timeout, inactive_user_terminated,\n"
	"                  inactive_system_terminated, archived, deleted)\n"
	"  -a, --all       include soft-deleted conversations\n"
	"  --order ORDER   activity (newest activity first), newest (newest\n"
	"                  created first) or oldest (oldest created first);\n"
	"                  default: activity, or newest for a role filter alone\n"
	"  -n, --limit N   list at most N conversations\n"
	"  --after TOKEN   continue a listing after its 'next:' token\n"
	"  --json          write JSONL conversation lines instead of a table\n"
	"  -h, --help      show this help\n";

typedef struct ls_opts {
	convlog_conv_filter f;
	uint32_t limit;
	int json;
	int created;        /* the listing is in created order */
	const char *parent; /* --parent CONV, resolved after opening */
} ls_opts;

static int print_one(const ls_opts *o, const convlog_conv *c)
{
	if (!o->json) {
		text_table_row(c, o->created);
		return 0;
	}
	if (jsonl_print_conv(stdout, c)) {
		tool_err("ls", "cannot write a conversation as JSON");
		return -1;
	}
	return 0;
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
		text_table_header(o->created);
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

static int parse_order(ls_opts *o, const char *name)
{
	if (!strcmp(name, "activity"))
		o->f.order = CONVLOG_ORDER_ACTIVITY;
	else if (!strcmp(name, "newest"))
		o->f.order = CONVLOG_ORDER_CREATED_DESC;
	else if (!strcmp(name, "oldest"))
		o->f.order = CONVLOG_ORDER_CREATED_ASC;
	else
		return tool_usage("ls", "--order is activity, newest or oldest, not '%s'", name);
	return TOOL_OK;
}

/* Whether the listing comes in created order (convlog.h, conv_filter). */
static int created_order(const convlog_conv_filter *f)
{
	int roles = f->initiator_role || f->responder_role;
	int other = f->user_id || f->org_id || f->session_id || f->tag || f->status ||
		    f->has_parent;

	if (f->order == CONVLOG_ORDER_DEFAULT)
		return roles && !other;
	return f->order != CONVLOG_ORDER_ACTIVITY;
}

static int parse_opt(ls_opts *o, int c, char **argv)
{
	uint64_t v;

	switch (c) {
	case 'I': o->f.initiator_role = optarg; break;
	case 'R': o->f.responder_role = optarg; break;
	case 'P': o->parent = optarg; break;
	case 'o': return parse_order(o, optarg);
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

/* --parent CONV: the forks of that conversation. */
static int set_parent(convlog_db *db, ls_opts *o)
{
	convlog_conv *c = NULL;
	int st = tool_conv_lookup("ls", db, o->parent, &c);

	if (!st) {
		o->f.has_parent = 1;
		o->f.parent_id = c->id;
	}
	convlog_conv_free(c);
	return st;
}

int cmd_ls(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"user", required_argument, NULL, 'u'},
		{"org", required_argument, NULL, 'O'},
		{"session", required_argument, NULL, 's'},
		{"tag", required_argument, NULL, 't'},
		{"initiator-role", required_argument, NULL, 'I'},
		{"responder-role", required_argument, NULL, 'R'},
		{"parent", required_argument, NULL, 'P'},
		{"order", required_argument, NULL, 'o'},
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
	o.f.has_parent = o.parent != NULL; /* known before the lookup */
	o.created = created_order(&o.f);
	if (tool_open("ls", argv[optind], CONVLOG_OPEN_READONLY, CONVLOG_DURABILITY_FULL, &db))
		return TOOL_FAIL;
	st = TOOL_OK;
	if (o.parent)
		st = set_parent(db, &o);
	if (!st)
		st = list(db, &o);
	tool_close(db);
	return st;
}
