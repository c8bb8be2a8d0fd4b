/*
 * cmd_lifecycle.c - convlog delete, restore, archive and purge: lifecycle
 * changes of conversations.  The four differ only in the library call made
 * for each conversation, so they share this file: every CONV operand is
 * resolved first, then all of them change in one write transaction, so
 * that an unknown id or a refused change leaves the store as it was.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "util.h"

typedef struct lifecycle {
	const char *name;
	const char *usage;
	/* the change for one conversation, inside txn */
	int (*apply)(convlog_db *db, convlog_txn *txn, const convlog_conv *c);
	const char *confirm; /* needs --yes: the usage error without it, or NULL */
	const char *done;    /* "DONE ID" printed per conversation, or NULL */
} lifecycle;

static const char delete_usage[] =
	"usage: convlog delete STORE CONV...\n"
	"\n"
	"Soft-deletes each conversation CONV of STORE (its UUID or external_id):\n"
	"its status becomes deleted and deleted_at is set.  It keeps its messages\n"
	"and can be restored with 'convlog restore'; until then 'convlog ls' and\n"
	"'convlog search' leave it out (unless --all, --status deleted or\n"
	"--deleted is given) and it refuses new messages, changes and forks.\n"
	"Deleting a deleted conversation changes nothing.  All CONVs change in one\n"
	"transaction: when one is unknown or its change is refused, none changes.\n"
	"Prints nothing on success.\n"
	"\n"
	"Options:\n"
	"  -h, --help   show this help\n";

static const char restore_usage[] =
	"usage: convlog restore STORE CONV...\n"
	"\n"
	"Restores each soft-deleted conversation CONV of STORE (its UUID or\n"
	"external_id) to the status it had before it was deleted, and clears\n"
	"deleted_at.  A CONV that is not deleted is an error.  All CONVs change in\n"
	"one transaction: when one is unknown or its change is refused, none\n"
	"changes.  Prints nothing on success.\n"
	"\n"
	"Options:\n"
	"  -h, --help   show this help\n";

static const char archive_usage[] =
	"usage: convlog archive STORE CONV...\n"
	"\n"
	"Archives each conversation CONV of STORE (its UUID or external_id): its\n"
	"status becomes archived and archived_at is set.  An active conversation\n"
	"passes through inactive_user_terminated in the same step; an archived\n"
	"one is left as it is; a deleted one is an error (restore it first).\n"
	"Archived conversations refuse new messages.  All CONVs change in one\n"
	"transaction: when one is unknown or its change is refused, none changes.\n"
	"Prints nothing on success.\n"
	"\n"
	"Options:\n"
	"  -h, --help   show this help\n";

static const char purge_usage[] =
	"usage: convlog purge --yes STORE CONV...\n"
	"\n"
	"Erases each conversation CONV of STORE (its UUID or external_id) for\n"
	"good, soft-deleting it first if it is not deleted: the conversation, its\n"
	"own messages (every version) and its search entries disappear from every\n"
	"read at once, and the store is then compacted so that none of their\n"
	"bytes remains in any file of the store (segments, index, LMDB; see\n"
	"convlog compact).  Forks survive: a\n"
	"fork of a purged conversation receives copies of the messages it\n"
	"inherited from it, as its own messages, and is re-attached to the\n"
	"purged conversation's parent (or becomes a root conversation), so its\n"
	"thread keeps its messages.\n"
	"\n"
	"Purging cannot be undone: --yes is required.  All CONVs are purged in\n"
	"one transaction: when one is unknown or cannot be purged, none is.\n"
	"Prints 'purged ID' for each conversation purged.\n"
	"\n"
	"Options:\n"
	"  --yes        confirm that the conversations are to be erased\n"
	"  -h, --help   show this help\n";

static int delete_one(convlog_db *db, convlog_txn *txn, const convlog_conv *c)
{
	return convlog_conv_delete(db, txn, &c->id);
}

static int restore_one(convlog_db *db, convlog_txn *txn, const convlog_conv *c)
{
	return convlog_conv_restore(db, txn, &c->id);
}

static int archive_one(convlog_db *db, convlog_txn *txn, const convlog_conv *c)
{
	return convlog_conv_archive(db, txn, &c->id);
}

static int purge_one(convlog_db *db, convlog_txn *txn, const convlog_conv *c)
{
	int rc;

	if (c->status != CONVLOG_STATUS_DELETED) {
		rc = convlog_conv_delete(db, txn, &c->id);
		if (rc)
			return rc;
	}
	return convlog_conv_purge(db, txn, &c->id);
}

static const lifecycle lc_delete = {"delete", delete_usage, delete_one, NULL, NULL};
static const lifecycle lc_restore = {"restore", restore_usage, restore_one, NULL, NULL};
static const lifecycle lc_archive = {"archive", archive_usage, archive_one, NULL, NULL};
static const lifecycle lc_purge = {
	"purge", purge_usage, purge_one,
	"purging erases conversations for good; give --yes to confirm", "purged"};

static int same_id(const convlog_uuid *a, const convlog_uuid *b)
{
	return !memcmp(a->bytes, b->bytes, sizeof(a->bytes));
}

/*
 * Resolves every operand into cv[], reporting each unknown one; an id
 * named twice (by UUID and external_id, say) is kept once.  *n: the
 * conversations kept.  Returns TOOL_OK or TOOL_FAIL.
 */
static int resolve(const lifecycle *lc, convlog_db *db, char **args, int nargs,
		   convlog_conv **cv, size_t *n)
{
	int st = TOOL_OK;

	*n = 0;
	for (int i = 0; i < nargs; i++) {
		convlog_conv *c;
		size_t j;

		if (tool_conv_lookup(lc->name, db, args[i], &c)) {
			st = TOOL_FAIL;
			continue;
		}
		for (j = 0; j < *n && !same_id(&cv[j]->id, &c->id); j++)
			;
		if (j < *n)
			convlog_conv_free(c);
		else
			cv[(*n)++] = c;
	}
	return st;
}

/* Applies lc to cv[0..n) in one transaction, then prints lc->done lines. */
static int apply_all(const lifecycle *lc, convlog_db *db, convlog_conv **cv, size_t n)
{
	convlog_txn *txn = NULL;
	char s[CONVLOG_UUID_STRLEN];
	int rc;

	rc = convlog_txn_begin(db, &txn);
	if (rc)
		return tool_lib_err(lc->name, rc, NULL);
	for (size_t i = 0; i < n; i++) {
		rc = lc->apply(db, txn, cv[i]);
		if (rc) {
			tool_lib_err(lc->name, rc, NULL);
			convlog_txn_abort(txn);
			return TOOL_FAIL;
		}
	}
	rc = convlog_txn_commit(txn);
	if (rc)
		return tool_lib_err(lc->name, rc, NULL);
	for (size_t i = 0; lc->done && i < n; i++)
		printf("%s %s\n", lc->done, tool_uuid_str(&cv[i]->id, s));
	if (fflush(stdout)) {
		tool_err(lc->name, "write error");
		return TOOL_FAIL;
	}
	return TOOL_OK;
}

static int change(const lifecycle *lc, const char *store, char **args, int nargs)
{
	convlog_conv **cv;
	convlog_db *db = NULL;
	size_t n = 0;
	int st;

	cv = calloc((size_t)nargs, sizeof(*cv));
	if (!cv) {
		tool_err(lc->name, "out of memory");
		return TOOL_FAIL;
	}
	st = tool_open(lc->name, store, 0, CONVLOG_DURABILITY_FULL, &db);
	if (st)
		goto out;
	st = resolve(lc, db, args, nargs, cv, &n);
	if (!st)
		st = apply_all(lc, db, cv, n);
	if (!st && lc->apply == purge_one) {
		/* the purge is committed; now erase its bytes from every file:
		 * the index documents, then segments and LMDB's free pages */
		int rc = convlog_index_merge(db, CONVLOG_MERGE_ALL);
		if (!rc)
			rc = convlog_compact(db, NULL, NULL, NULL, NULL);
		if (rc)
			st = tool_lib_err(lc->name, rc, "compacting after the purge (run convlog compact)");
	}
out:
	for (size_t i = 0; i < n; i++)
		convlog_conv_free(cv[i]);
	free(cv);
	tool_close(db);
	return st;
}

static int run(const lifecycle *lc, int argc, char **argv)
{
	static const struct option plain_opts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static const struct option confirm_opts[] = {
		{"yes", no_argument, NULL, 'y'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c, yes = 0;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", lc->confirm ? confirm_opts : plain_opts,
				NULL)) != -1) {
		switch (c) {
		case 'h': fputs(lc->usage, stdout); return TOOL_OK;
		case 'y': yes = 1; break;
		default: return tool_getopt_error(lc->name, c, argv);
		}
	}
	if (argc - optind < 2)
		return tool_usage(lc->name, argc - optind < 1 ? "STORE and CONV are required"
							   : "CONV is required");
	if (lc->confirm && !yes)
		return tool_usage(lc->name, "%s", lc->confirm);
	return change(lc, argv[optind], argv + optind + 1, argc - optind - 1);
}

int cmd_delete(int argc, char **argv)
{
	return run(&lc_delete, argc, argv);
}

int cmd_restore(int argc, char **argv)
{
	return run(&lc_restore, argc, argv);
}

int cmd_archive(int argc, char **argv)
{
	return run(&lc_archive, argc, argv);
}

int cmd_purge(int argc, char **argv)
{
	return run(&lc_purge, argc, argv);
}
