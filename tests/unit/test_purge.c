/*
 * Purge through the public API: every read forgets the conversation at
 * once (rows, listings, external ids, message ids, search, counters), forks
 * keep their threads, and the log replays a purge exactly.  Randomised
 * purges of fork trees against a model are in test_tree.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static char path[256];
static convlog_db *db;

static convlog_options *opts(void)
{
	return tu_opts(CONVLOG_DURABILITY_FULL);
}

static void setup(void)
{
	convlog_options *o = opts();

	tu_tmppath(path, sizeof(path), "purge");
	db = tu_open(path, o);
	convlog_options_free(o);
}

static void teardown(void)
{
	convlog_close(db);
	db = NULL;
	tu_rmrf(path);
}

static void reopen(void)
{
	convlog_options *o = opts();

	convlog_close(db);
	db = tu_open(path, o);
	convlog_options_free(o);
}

static convlog_stats stats(void)
{
	convlog_stats s = {.version = CONVLOG_STATS_VERSION};

	CK_OK(convlog_stats_get(db, &s));
	return s;
}

static size_t hits(const char *query)
{
	convlog_search_query q;
	convlog_search_result *r;
	size_t n;

	convlog_search_query_init(&q);
	q.query = query;
	q.limit = 1000;
	q.include_deleted = 1;
	CK_OK(convlog_search(db, &q, &r));
	n = r->n_hits;
	convlog_search_result_free(r);
	return n;
}

static int listed(const convlog_conv_filter *f, const convlog_uuid *id)
{
	convlog_conv_iter *it;
	const convlog_conv *c;
	int found = 0, rc;

	CK_OK(convlog_conv_list(db, f, &it));
	while ((rc = convlog_conv_iter_next(it, &c)) == 0)
		found |= memcmp(c->id.bytes, id->bytes, 16) == 0;
	ck_assert_int_eq(rc, CONVLOG_DONE);
	convlog_conv_iter_free(it);
	return found;
}

static convlog_uuid full_conv(const char *ext, const char *tag, const char *word)
{
	convlog_conv c;
	convlog_uuid id;
	const char *tags[] = {tag};
	char text[128];

	convlog_conv_init(&c);
	c.external_id = ext;
	c.user_id = "u-purge";
	c.session_id = "s-purge";
	c.title = word;
	c.tags = tags;
	c.n_tags = 1;
	CK_OK(convlog_conv_create(db, NULL, &c, &id));
	for (int i = 0; i < 5; i++) {
		snprintf(text, sizeof(text), "turn %d mentions %s and more", i, word);
		tu_msg(db, &id, i % 2 ? "assistant" : "user", text);
	}
	return id;
}

START_TEST(test_purge__only_deleted_conversations_are_purged)
{
	convlog_uuid id = full_conv("ext-a", "t-a", "zanzibar"), nobody;
	convlog_conv *c;

	CK_ERR(convlog_conv_purge(db, NULL, &id), CONVLOG_ETRANSITION);
	CK_OK(convlog_conv_get(db, &id, &c));
	ck_assert_int_eq(c->status, CONVLOG_STATUS_ACTIVE);
	convlog_conv_free(c);
	ck_assert_uint_eq(hits("zanzibar"), 5);
	CK_OK(convlog_uuid_generate(&nobody));
	CK_ERR(convlog_conv_purge(db, NULL, &nobody), CONVLOG_ENOTFOUND);
	CK_ERR(convlog_conv_purge(db, NULL, NULL), CONVLOG_EINVAL);
	tu_verify_clean(db);
}
END_TEST

START_TEST(test_purge__every_read_forgets_the_conversation)
{
	convlog_uuid gone = full_conv("ext-gone", "t-gone", "zanzibar");
	convlog_uuid kept = full_conv("ext-kept", "t-kept", "kilimanjaro");
	convlog_stats before = stats();
	convlog_msg *m;
	convlog_conv *c;
	convlog_uuid mid;
	convlog_conv_filter f;

	/* an edit leaves an older version behind too */
	convlog_msg e;
	convlog_msg_init(&e);
	e.content = "edited text about zanzibar";
	e.content_len = strlen(e.content);
	CK_OK(convlog_msg_supersede(db, NULL, &gone, 2, &e, CONVLOG_MSG_CONTENT));
	CK_OK(convlog_msg_get(db, &gone, 3, &m));
	mid = m->id;
	convlog_msg_free(m);

	CK_OK(convlog_conv_delete(db, NULL, &gone));
	CK_OK(convlog_conv_purge(db, NULL, &gone));
	for (int pass = 0; pass < 3; pass++) {
		CK_ERR(convlog_conv_get(db, &gone, &c), CONVLOG_ENOTFOUND);
		CK_ERR(convlog_conv_get_by_external(db, "ext-gone", &c), CONVLOG_ENOTFOUND);
		CK_ERR(convlog_msg_get(db, &gone, 1, &m), CONVLOG_ENOTFOUND);
		CK_ERR(convlog_msg_get_by_id(db, &mid, &m), CONVLOG_ENOTFOUND);
		ck_assert_uint_eq(hits("zanzibar"), 0);
		ck_assert_uint_eq(hits("kilimanjaro"), 5);
		convlog_conv_filter_init(&f);
		f.include_deleted = 1;
		ck_assert(!listed(&f, &gone));
		ck_assert(listed(&f, &kept));
		f.tag = "t-gone";
		ck_assert(!listed(&f, &gone));
		convlog_conv_filter_init(&f);
		f.user_id = "u-purge";
		f.include_deleted = 1;
		ck_assert(!listed(&f, &gone));
		convlog_conv_filter_init(&f);
		f.status = CONVLOG_STATUS_DELETED;
		ck_assert(!listed(&f, &gone));
		convlog_stats s = stats();
		ck_assert_uint_eq(s.conversations, before.conversations - 1);
		ck_assert_uint_eq(s.deleted_conversations, 0);
		ck_assert_uint_eq(s.messages, before.messages - 5);
		ck_assert_uint_lt(s.content_bytes, before.content_bytes);
		CK_OK(convlog_conv_get(db, &kept, &c));
		ck_assert_uint_eq(c->message_count, 5);
		convlog_conv_free(c);
		tu_verify_clean(db);
		CK_ERR(convlog_conv_purge(db, NULL, &gone), CONVLOG_ENOTFOUND);
		if (pass == 0)
			reopen();
		else if (pass == 1)
			CK_OK(convlog_checkpoint(db));
	}
	/* the external id is free again */
	convlog_uuid again = full_conv("ext-gone", "t-gone", "zanzibar");
	ck_assert_uint_eq(hits("zanzibar"), 5);
	(void)again;
}
END_TEST

/* The thread of `conv` as "seq:content" lines. */
static void thread_text(const convlog_uuid *conv, char *out, size_t n)
{
	convlog_msg_iter *it;
	const convlog_msg *m;
	size_t len = 0;
	int rc;

	out[0] = '\0';
	CK_OK(convlog_msg_range(db, conv, CONVLOG_RANGE_ALL, 0, 0, &it));
	while ((rc = convlog_msg_iter_next(it, &m)) == 0)
		len += (size_t)snprintf(out + len, n - len, "%u:%u:%.*s|", m->seq, m->parent_seq,
					(int)m->content_len, m->content);
	ck_assert_int_eq(rc, CONVLOG_DONE);
	convlog_msg_iter_free(it);
}

START_TEST(test_purge__forks_keep_their_threads_and_the_log_replays_it)
{
	convlog_uuid root = full_conv(NULL, "t", "zanzibar"), f1, f2, f3;
	char b1[4096], b2[4096], b3[4096], a[4096];
	convlog_conv *c;
	convlog_msg *m;
	uint64_t tokens_before;

	CK_OK(convlog_conv_fork(db, NULL, &root, 3, NULL, 0, &f1));
	tu_msg(db, &f1, "user", "f1 own turn");
	CK_OK(convlog_conv_fork(db, NULL, &f1, 4, NULL, 0, &f2));
	tu_msg(db, &f2, "user", "f2 own turn");
	CK_OK(convlog_conv_fork(db, NULL, &root, 5, NULL, 0, &f3));
	CK_OK(convlog_conv_delete(db, NULL, &f3)); /* deleted forks survive too */
	thread_text(&f1, b1, sizeof(b1));
	thread_text(&f2, b2, sizeof(b2));
	thread_text(&f3, b3, sizeof(b3));
	CK_OK(convlog_msg_get(db, &root, 2, &m));
	convlog_uuid shared = m->id;
	convlog_msg_free(m);
	CK_OK(convlog_conv_get(db, &f1, &c));
	tokens_before = c->token_total;
	convlog_conv_free(c);

	/* in a child with its own handle: delete and purge in one
	 * transaction, then die without closing, so the reopen below replays
	 * the purge from the log */
	convlog_close(db);
	db = NULL;
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		convlog_options *o = opts();
		convlog_db *cdb;
		convlog_txn *t;
		if (convlog_open(path, o, &cdb) || convlog_txn_begin(cdb, &t) ||
		    convlog_conv_delete(cdb, t, &root) || convlog_conv_purge(cdb, t, &root) ||
		    convlog_txn_commit(t))
			_exit(1);
		_exit(0);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	convlog_options *o = opts();
	db = tu_open(path, o);
	convlog_options_free(o);
	convlog_stats rs = stats();
	ck_assert_uint_gt(rs.recovered_blocks, 0);
	for (int pass = 0; pass < 2; pass++) {
		CK_ERR(convlog_conv_get(db, &root, &c), CONVLOG_ENOTFOUND);
		thread_text(&f1, a, sizeof(a));
		ck_assert_str_eq(a, b1);
		thread_text(&f2, a, sizeof(a));
		ck_assert_str_eq(a, b2);
		thread_text(&f3, a, sizeof(a));
		ck_assert_str_eq(a, b3);
		CK_OK(convlog_conv_get(db, &f1, &c));
		ck_assert(convlog_uuid_is_nil(&c->parent_id));
		ck_assert_uint_eq(c->fork_seq, 0);
		ck_assert_uint_eq(c->depth, 0);
		ck_assert_uint_ge(c->token_total, tokens_before);
		convlog_conv_free(c);
		CK_OK(convlog_conv_get(db, &f2, &c));
		ck_assert_mem_eq(c->parent_id.bytes, f1.bytes, 16);
		ck_assert_uint_eq(c->fork_seq, 4);
		ck_assert_uint_eq(c->depth, 1);
		convlog_conv_free(c);
		/* message 2 was inherited by f1 and f3: each copy has an id
		 * derived from its fork and the original (the same on every
		 * replica that purges), and the original id is gone */
		CK_ERR(convlog_msg_get_by_id(db, &shared, &m), CONVLOG_ENOTFOUND);
		CK_OK(convlog_msg_get(db, &f1, 2, &m));
		ck_assert(memcmp(m->id.bytes, shared.bytes, 16) != 0);
		ck_assert_uint_eq((m->id.bytes[6] >> 4), 8);
		convlog_uuid copy1 = m->id;
		convlog_msg_free(m);
		CK_OK(convlog_msg_get_by_id(db, &copy1, &m));
		ck_assert_mem_eq(m->conv_id.bytes, f1.bytes, 16);
		convlog_msg_free(m);
		CK_OK(convlog_msg_get(db, &f3, 2, &m));
		ck_assert(memcmp(m->id.bytes, copy1.bytes, 16) != 0);
		convlog_msg_free(m);
		/* the copies are searchable under the forks (3 in f1, 5 in f3) */
		ck_assert_uint_eq(hits("zanzibar"), 8);
		tu_verify_clean(db);
		reopen();
	}
}
END_TEST

/* Whether any file under dir (recursively) contains `needle`. */
static int tree_has(const char *dir, const char *needle, char *where, size_t wn)
{
	char cmd[600];
	FILE *f;
	int found;

	snprintf(cmd, sizeof(cmd), "grep -rlaF '%s' '%s' 2>/dev/null", needle, dir);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	found = fgets(where, (int)wn, f) != NULL;
	pclose(f);
	return found;
}

START_TEST(test_purge__search_index_files_keep_no_trace_after_a_full_merge)
{
	convlog_uuid kept = full_conv(NULL, "t", "keeper");
	convlog_uuid gone = full_conv(NULL, "t", "qzxcanaryvkw");
	char idx[300], where[512];

	(void)kept;
	snprintf(idx, sizeof(idx), "%s/index", path);
	/* some of the canary's documents in segment files, some in memory */
	CK_OK(convlog_checkpoint(db));
	tu_msg(db, &gone, "user", "one more qzxcanaryvkw turn");
	ck_assert_uint_eq(hits("qzxcanaryvkw"), 6);
	CK_OK(convlog_conv_delete(db, NULL, &gone));
	CK_OK(convlog_conv_purge(db, NULL, &gone));
	CK_OK(convlog_checkpoint(db));
	CK_OK(convlog_index_merge(db, CONVLOG_MERGE_ALL));
	ck_assert_uint_eq(hits("qzxcanaryvkw"), 0);
	ck_assert_uint_eq(hits("keeper"), 5);
	convlog_close(db);
	db = NULL;
	ck_assert_msg(!tree_has(idx, "qzxcanaryvkw", where, sizeof(where)),
		      "the purged term is still in %s", where);
	reopen();
	ck_assert_uint_eq(hits("keeper"), 5);
	tu_verify_clean(db);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("purge");
	TCase *tc = tcase_create("purge");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_purge__only_deleted_conversations_are_purged);
	tcase_add_test(tc, test_purge__every_read_forgets_the_conversation);
	tcase_add_test(tc, test_purge__forks_keep_their_threads_and_the_log_replays_it);
	tcase_add_test(tc, test_purge__search_index_files_keep_no_trace_after_a_full_merge);
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
