/*
 * Crash test: a child process commits transactions in FULL durability and
 * acknowledges each commit on a pipe; the parent SIGKILLs it at a random
 * moment, reopens the store and checks that every acknowledged commit is
 * there, that no transaction is partly visible, and that verify passes.
 * The same store goes through every round, so recovery of a recovered
 * store is exercised too.  CONVLOG_CRASH_ROUNDS sets the number of rounds.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define PER_CONV 8 /* commits per conversation */

static char path[256];

static convlog_uuid conv_id(uint64_t c)
{
	convlog_uuid id = {{0x01, 0x90, 0xc4, 0x5a, 0, 0, 0x70, 0, 0x80}};

	for (int i = 0; i < 7; i++)
		id.bytes[9 + i] = (unsigned char)(c >> (8 * (6 - i)));
	return id;
}

static int msgs_in_commit(uint64_t i)
{
	return 1 + (int)(i % 3);
}

/* Messages in the store after commits 0..k-1. */
static uint64_t total_after(uint64_t k)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < k; i++)
		n += (uint64_t)msgs_in_commit(i);
	return n;
}

static size_t content_for(uint64_t i, int j, char *buf, size_t cap)
{
	size_t n = (size_t)snprintf(buf, cap, "commit %llu message %d ", (unsigned long long)i, j);
	size_t pad = (size_t)((i * 7919 + (uint64_t)j * 104729) % 3000);

	for (size_t k = 0; k < pad && n < cap - 1; k++)
		buf[n++] = (char)('a' + (i + k) % 26);
	buf[n] = '\0';
	return n;
}

static convlog_options *opts(void)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_FULL);

	CK_OK(convlog_options_set_flush_interval_ms(o, 20));
	return o;
}

static void commit_one(convlog_db *db, uint64_t i)
{
	convlog_txn *t;
	char buf[4096];

	CK_OK(convlog_txn_begin(db, &t));
	convlog_uuid id = conv_id(i / PER_CONV);
	if (i % PER_CONV == 0) {
		convlog_conv c;
		char title[32];
		convlog_conv_init(&c);
		snprintf(title, sizeof(title), "conversation %llu", (unsigned long long)(i / PER_CONV));
		c.id = id;
		c.title = title;
		c.user_id = "crash";
		CK_OK(convlog_conv_create(db, t, &c, NULL));
	}
	for (int j = 0; j < msgs_in_commit(i); j++) {
		convlog_msg m;
		convlog_msg_init(&m);
		m.conv_id = id;
		m.role = j % 2 ? "assistant" : "user";
		m.content = buf;
		m.content_len = content_for(i, j, buf, sizeof(buf));
		CK_OK(convlog_msg_append(db, t, &m, NULL));
	}
	CK_OK(convlog_txn_commit(t));
}

static void child(uint64_t start, int fd)
{
	convlog_options *o = opts();
	convlog_db *db = NULL;

	if (convlog_open(path, o, &db) != 0)
		_exit(3);
	for (uint64_t i = start;; i++) {
		commit_one(db, i);
		if (write(fd, &i, sizeof(i)) != sizeof(i))
			_exit(4);
	}
}

/* Checks conversation c holds exactly the messages of commits < k. */
static void check_conv(convlog_db *db, uint64_t c, uint64_t k)
{
	convlog_uuid id = conv_id(c);
	convlog_msg_iter *it;
	const convlog_msg *m;
	char buf[4096];
	uint64_t first = c * PER_CONV, last = first + PER_CONV;
	int rc;

	if (last > k)
		last = k;
	CK_OK(convlog_msg_range(db, &id, CONVLOG_RANGE_ALL, 0, 0, &it));
	for (uint64_t i = first; i < last; i++) {
		for (int j = 0; j < msgs_in_commit(i); j++) {
			rc = convlog_msg_iter_next(it, &m);
			ck_assert_msg(rc == 0, "conversation %llu: commit %llu message %d missing (%d)",
				      (unsigned long long)c, (unsigned long long)i, j, rc);
			size_t n = content_for(i, j, buf, sizeof(buf));
			ck_assert_uint_eq(m->content_len, n);
			ck_assert_mem_eq(m->content, buf, n);
		}
	}
	ck_assert_int_eq(convlog_msg_iter_next(it, &m), CONVLOG_DONE);
	convlog_msg_iter_free(it);
}

/* The text index finds commit i's message j exactly once. */
static void check_search(convlog_db *db, uint64_t i, int j)
{
	convlog_search_query q;
	convlog_search_result *r;
	char text[96];

	snprintf(text, sizeof(text), "\"commit %llu message %d\"", (unsigned long long)i, j);
	convlog_search_query_init(&q);
	q.query = text;
	q.limit = 5;
	CK_OK(convlog_search(db, &q, &r));
	ck_assert_msg(r->n_hits == 1, "search %s: %zu hits", text, r->n_hits);
	convlog_search_result_free(r);
}

/* Reopens after a crash; returns the number of commits in the store. */
static uint64_t check_store(uint64_t acked_until)
{
	convlog_options *o = opts();
	convlog_db *db = tu_open(path, o);
	convlog_stats s = {.version = CONVLOG_STATS_VERSION};
	uint64_t k;

	convlog_options_free(o);
	CK_OK(convlog_stats_get(db, &s));
	for (k = 0; total_after(k) < s.messages; k++)
		;
	ck_assert_msg(total_after(k) == s.messages,
		      "%llu messages is not a whole number of transactions", (unsigned long long)s.messages);
	ck_assert_msg(k >= acked_until, "acknowledged commits lost: store has %llu, %llu were acknowledged",
		      (unsigned long long)k, (unsigned long long)acked_until);
	ck_assert_msg(k <= acked_until + 1, "store has %llu commits, only %llu could exist",
		      (unsigned long long)k, (unsigned long long)acked_until + 1);
	ck_assert_uint_eq(s.conversations, k ? (k - 1) / PER_CONV + 1 : 0);
	for (uint64_t c = 0; c * PER_CONV < k; c++)
		check_conv(db, c, k);
	/* the newest commits (replayed into the memtable index) and a spread
	 * of older ones (index segments, possibly merged) */
	for (uint64_t i = k > 12 ? k - 12 : 0; i < k; i++)
		check_search(db, i, msgs_in_commit(i) - 1);
	for (uint64_t i = 0; i < k; i += 1 + k / 16)
		check_search(db, i, 0);
	tu_verify_clean(db);
	convlog_close(db);
	return k;
}

START_TEST(test_crash__sigkill_never_loses_acknowledged_commits)
{
	const char *env = getenv("CONVLOG_CRASH_ROUNDS");
	int rounds = env ? atoi(env) : 40;
	uint64_t seed = (uint64_t)time(NULL) ^ (uint64_t)getpid(), next = 0;

	fprintf(stderr, "crash test: %d rounds, seed %llu\n", rounds, (unsigned long long)seed);
	tu_tmppath(path, sizeof(path), "crash");
	for (int r = 0; r < rounds; r++) {
		int fds[2];
		uint64_t ack, acked_until = next;
		pid_t pid;
		ck_assert_int_eq(pipe(fds), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(fds[0]);
			child(next, fds[1]);
		}
		close(fds[1]);
		/* mostly mid-stream, sometimes during open/recovery */
		useconds_t delay = (useconds_t)(tu_rand(&seed) % 5 == 0 ? tu_rand(&seed) % 3000
									  : 2000 + tu_rand(&seed) % 80000);
		usleep(delay);
		kill(pid, SIGKILL);
		while (read(fds[0], &ack, sizeof(ack)) == sizeof(ack))
			acked_until = ack + 1;
		close(fds[0]);
		int status;
		waitpid(pid, &status, 0);
		ck_assert_msg(WIFSIGNALED(status), "child exited on its own (status %d)", status);
		next = check_store(acked_until);
	}
	fprintf(stderr, "crash test: %llu commits survived %d kills\n", (unsigned long long)next,
		rounds);
	ck_assert_uint_gt(next, 0);
	tu_rmrf(path);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("crash");
	TCase *tc = tcase_create("crash");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_crash__sigkill_never_loses_acknowledged_commits);
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
