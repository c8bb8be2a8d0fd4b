/*
 * main.c - the convlog command-line tool: dispatches to one subcommand per
 * file (cmd_*.c), prints the global help and the version.
 */
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "util.h"

typedef struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} command;

static const command commands[] = {
	{"init", cmd_init, "create an empty store"},
	{"import", cmd_import, "import conversations (convlog, ChatGPT, Claude, OpenAI)"},
	{"export", cmd_export, "write every conversation and message as JSONL"},
	{"ls", cmd_ls, "list conversations"},
	{"show", cmd_show, "print one conversation and its messages"},
	{"thread", cmd_thread, "print the thread from the root to a message"},
	{"children", cmd_children, "print the children (alternatives) of a message"},
	{"tip", cmd_tip, "make a message the tip (active branch) of a conversation"},
	{"fork", cmd_fork, "fork a conversation at a message"},
	{"replay", cmd_replay, "fork before the first message; print the user turns"},
	{"delete", cmd_delete, "soft-delete conversations (restorable)"},
	{"restore", cmd_restore, "restore soft-deleted conversations"},
	{"archive", cmd_archive, "archive conversations"},
	{"purge", cmd_purge, "erase conversations for good (needs --yes)"},
	{"compact", cmd_compact, "reclaim space, cluster turns, erase purged data"},
	{"session", cmd_session, "summarise a session and list its conversations"},
	{"search", cmd_search, "full-text search of message content"},
	{"reindex", cmd_reindex, "rebuild the full-text index (e.g. with another stemming)"},
	{"verify", cmd_verify, "check a store for corruption and inconsistencies"},
	{"inspect", cmd_inspect, "show segments, tables, index and memtable of a store"},
	{"dump", cmd_dump, "print the log's records, decoded"},
	{"stats", cmd_stats, "print store statistics or usage analytics"},
	{"sync", cmd_sync, "export and apply changesets between replicas"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fputs("usage: convlog [--version] [--help] COMMAND [ARGS...]\n"
	      "\n"
	      "Inspect, import and export convlog stores (embedded storage for AI\n"
	      "conversation history).\n"
	      "\n"
	      "Commands:\n", f);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fputs("  help     show the help of a command (convlog help COMMAND)\n"
	      "\n"
	      "Run 'convlog COMMAND --help' for the options of a command; convlog(1)\n"
	      "describes the JSONL format.  Exit status: 0 success, 1 failure or\n"
	      "problems found, 2 usage error.\n", f);
}

static const command *find(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static int help(int argc, char **argv)
{
	const command *c;
	char *args[3];

	if (argc < 2) {
		usage(stdout);
		return TOOL_OK;
	}
	if (argc > 2)
		return tool_usage("help", "too many arguments");
	c = find(argv[1]);
	if (!c)
		return tool_usage("help", "unknown command '%s'", argv[1]);
	args[0] = argv[1];
	args[1] = "--help";
	args[2] = NULL;
	return c->run(2, args);
}

int main(int argc, char **argv)
{
	const command *c;

	if (argc < 2) {
		usage(stderr);
		return TOOL_USAGE;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("convlog %s (libconvlog %s)\n", CONVLOG_VERSION_STRING, convlog_version());
		return TOOL_OK;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return help(1, argv + 1);
	if (!strcmp(argv[1], "help"))
		return help(argc - 1, argv + 1);
	c = find(argv[1]);
	if (!c) {
		fprintf(stderr, "convlog: unknown command '%s'\nTry 'convlog --help'.\n", argv[1]);
		return TOOL_USAGE;
	}
	return c->run(argc - 1, argv + 1);
}
