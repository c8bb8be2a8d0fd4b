/*
 * Limits: the documented maximum sizes are enforced with CONVLOG_ETOOBIG
 * and a refused call changes nothing; a store whose LMDB map is far too
 * small grows it as it goes (and a read-only handle in another process
 * follows); reader slots of killed processes are reclaimed, and running
 * out of them is a clean CONVLOG_EBUSY; a full disk fails appends and
 * flushes cleanly, and the same handle writes again once there is room.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/db.h"
#include "os/os.h"
#include "testutil.h"

static char path[256];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void setup(void)
{
	tu_tmppath(path, sizeof(path), "limits");
}

static void teardown(void)
{
	cvl_os_fault_set(0, 0, 0, 0, 0);
	tu_rmrf(path);
}

static uint64_t messages(convlog_db *db)
{
	convlog_stats s = {.version = CONVLOG_STATS_VERSION};

	CK_OK(convlog_stats_get(db, &s));
	return s.messages;
}

static uint64_t conversations(convlog_db *db)
{
	convlog_stats s = {.version = CONVLOG_STATS_VERSION};

	CK_OK(convlog_stats_get(db, &s));
	return s.conversations;
}

static char *filled(size_t n, char c)
{
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, c, n);
	s[n] = 0;
	return s;
}

/* A JSON object of exactly n bytes: {"k":"xxx..."} */
static char *json_of(size_t n)
{
	char *s = filled(n, 'x');

	ck_assert_uint_ge(n, 8);
	memcpy(s, "{\"k\":\"", 6);
	s[n - 2] = '"';
	s[n - 1] = '}';
	return s;
}

static int append(convlog_db *db, const convlog_uuid *conv, const char *content, size_t len,
		  const char *metadata)
{
	convlog_msg m;

	convlog_msg_init(&m);
	m.conv_id = *conv;
	m.role = "user";
	m.content = content;
	m.content_len = len;
	m.metadata = metadata;
	return convlog_msg_append(db, NULL, &m, NULL);
}

/* ---- maximum sizes ---- */

START_TEST(test_limits__content_one_byte_over_max_content_is_refused)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_NORMAL);

	CK_OK(convlog_options_set_max_content(o, 1000));
	CK_ERR(convlog_options_set_max_content(o, CONVLOG_MAX_CONTENT + 1u), CONVLOG_EINVAL);
	CK_ERR(convlog_options_set_max_content(o, 0), CONVLOG_EINVAL);
	convlog_db *db = tu_open(path, o);
	convlog_uuid id = tu_conv(db, "u", "content");
	char *at = filled(1000, 'a'), *over = filled(1001, 'b');

	CK_OK(append(db, &id, at, 1000, NULL));
	CK_ERR(append(db, &id, over, 1001, NULL), CONVLOG_ETOOBIG);
	ck_assert_msg(strstr(convlog_errmsg(), "content is 1001 bytes, the limit is 1000"),
		      "%s", convlog_errmsg());
	/* a new version over the limit is refused the same way */
	convlog_msg f;
	convlog_msg_init(&f);
	f.content = over;
	f.content_len = 1001;
	CK_ERR(convlog_msg_supersede(db, NULL, &id, 1, &f, CONVLOG_MSG_CONTENT), CONVLOG_ETOOBIG);
	/* ... and inside a transaction, which stays usable */
	convlog_txn *t;
	CK_OK(convlog_txn_begin(db, &t));
	convlog_msg m;
	convlog_msg_init(&m);
	m.conv_id = id;
	m.role = "user";
	m.content = over;
	m.content_len = 1001;
	CK_ERR(convlog_msg_append(db, t, &m, NULL), CONVLOG_ETOOBIG);
	m.content_len = 1000;
	CK_OK(convlog_msg_append(db, t, &m, NULL));
	CK_OK(convlog_txn_commit(t));

	ck_assert_uint_eq(messages(db), 2);
	convlog_conv *c;
	CK_OK(convlog_conv_get(db, &id, &c));
	ck_assert_uint_eq(c->message_count, 2);
	convlog_conv_free(c);
	convlog_msg *got;
	CK_OK(convlog_msg_get(db, &id, 1, &got));
	ck_assert_uint_eq(got->content_len, 1000);
	ck_assert_int_eq(got->edited_at, 0);
	convlog_msg_free(got);
	tu_verify_clean(db);
	free(at);
	free(over);
	convlog_close(db);
	convlog_options_free(o);
}
END_TEST

START_TEST(test_limits__metadata_over_its_limit_is_refused)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_NORMAL);
	convlog_db *db = tu_open(path, o);
	convlog_uuid id;
	convlog_conv c;
	char *conv_at = json_of(CONVLOG_MAX_CONV_METADATA);
	char *conv_over = json_of(CONVLOG_MAX_CONV_METADATA + 1);
	char *msg_over = json_of((size_t)CONVLOG_MAX_MSG_JSON + 1);

	/* conversation metadata: 1 MiB is fine, a byte more is not */
	convlog_conv_init(&c);
	c.title = "meta";
	c.metadata = conv_over;
	CK_ERR(convlog_conv_create(db, NULL, &c, &id), CONVLOG_ETOOBIG);
	ck_assert_msg(strstr(convlog_errmsg(), "metadata is longer than"), "%s", convlog_errmsg());
	ck_assert_uint_eq(conversations(db), 0);
	c.metadata = conv_at;
	CK_OK(convlog_conv_create(db, NULL, &c, &id));
	convlog_conv patch;
	convlog_conv_init(&patch);
	patch.metadata = conv_over;
	CK_ERR(convlog_conv_patch(db, NULL, &id, &patch, CONVLOG_CONV_METADATA), CONVLOG_ETOOBIG);
	convlog_conv *got;
	CK_OK(convlog_conv_get(db, &id, &got));
	ck_assert_uint_eq(strlen(got->metadata), CONVLOG_MAX_CONV_METADATA);
	convlog_conv_free(got);

	/* message metadata (and tool_calls): 16 MiB */
	CK_ERR(append(db, &id, "hi", 2, msg_over), CONVLOG_ETOOBIG);
	ck_assert_uint_eq(messages(db), 0);
	CK_OK(append(db, &id, "hi", 2, "{\"small\":1}"));
	convlog_msg f;
	convlog_msg_init(&f);
	f.metadata = msg_over;
	CK_ERR(convlog_msg_supersede(db, NULL, &id, 1, &f, CONVLOG_MSG_METADATA), CONVLOG_ETOOBIG);
	convlog_msg_init(&f);
	f.tool_calls = msg_over;
	CK_ERR(convlog_msg_supersede(db, NULL, &id, 1, &f, CONVLOG_MSG_TOOL_CALLS), CONVLOG_ETOOBIG);
	convlog_msg *m;
	CK_OK(convlog_msg_get(db, &id, 1, &m));
	ck_assert_str_eq(m->metadata, "{\"small\":1}");
	ck_assert_ptr_null(m->tool_calls);
	ck_assert_int_eq(m->edited_at, 0);
	convlog_msg_free(m);
	ck_assert_uint_eq(messages(db), 1);
	CK_OK(convlog_checkpoint(db));
	tu_verify_clean(db);
	free(conv_at);
	free(conv_over);
	free(msg_over);
	convlog_close(db);
	convlog_options_free(o);
}
END_TEST

START_TEST(test_limits__tags_and_short_texts_over_their_limits_are_refused)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_NORMAL);
	convlog_db *db = tu_open(path, o);
	static char texts[CONVLOG_MAX_TAGS + 1][CONVLOG_MAX_TAG + 1];
	static const char *tags[CONVLOG_MAX_TAGS + 1];
	convlog_uuid id;
	convlog_conv c;

	/* the most tags, each as long as a tag may be: one index entry each
	 * (longer than an LMDB key inlines, so hashed) */
	for (unsigned i = 0; i <= CONVLOG_MAX_TAGS; i++) {
		memset(texts[i], 'a' + i % 26, CONVLOG_MAX_TAG);
		snprintf(texts[i], 8, "%05u", i);
		texts[i][5] = 't';
		tags[i] = texts[i];
	}
	convlog_conv_init(&c);
	c.tags = tags;
	c.n_tags = CONVLOG_MAX_TAGS + 1;
	CK_ERR(convlog_conv_create(db, NULL, &c, &id), CONVLOG_ETOOBIG);
	ck_assert_msg(strstr(convlog_errmsg(), "257 tags, the limit is 256"), "%s", convlog_errmsg());
	ck_assert_uint_eq(conversations(db), 0);
	c.n_tags = CONVLOG_MAX_TAGS;
	CK_OK(convlog_conv_create(db, NULL, &c, &id));

	/* one tag a byte too long, or one tag too many, by patch */
	char *long_tag = filled(CONVLOG_MAX_TAG + 1, 'z');
	const char *one[] = {long_tag};
	convlog_conv p;
	convlog_conv_init(&p);
	p.tags = one;
	p.n_tags = 1;
	CK_ERR(convlog_conv_patch(db, NULL, &id, &p, CONVLOG_CONV_TAGS), CONVLOG_ETOOBIG);
	p.tags = tags;
	p.n_tags = CONVLOG_MAX_TAGS + 1;
	CK_ERR(convlog_conv_patch(db, NULL, &id, &p, CONVLOG_CONV_TAGS), CONVLOG_ETOOBIG);

	/* ids and other short texts: 1024 bytes */
	char *user_at = filled(CONVLOG_MAX_SHORT_TEXT, 'u');
	char *user_over = filled(CONVLOG_MAX_SHORT_TEXT + 1, 'u');
	convlog_conv_init(&p);
	p.user_id = user_over;
	CK_ERR(convlog_conv_patch(db, NULL, &id, &p, CONVLOG_CONV_USER_ID), CONVLOG_ETOOBIG);
	p.user_id = user_at;
	CK_OK(convlog_conv_patch(db, NULL, &id, &p, CONVLOG_CONV_USER_ID));
	convlog_msg m;
	convlog_msg_init(&m);
	m.conv_id = id;
	m.role = user_over;
	m.content = "x";
	m.content_len = 1;
	CK_ERR(convlog_msg_append(db, NULL, &m, NULL), CONVLOG_ETOOBIG);
	ck_assert_uint_eq(messages(db), 0);

	convlog_conv *got;
	CK_OK(convlog_conv_get(db, &id, &got));
	ck_assert_uint_eq(got->n_tags, CONVLOG_MAX_TAGS);
	ck_assert_str_eq(got->user_id, user_at);
	convlog_conv_free(got);
	/* the longest values are found through their (hashed) index keys,
	 * from the memtable and, after a flush, from LMDB */
	for (int pass = 0; pass < 2; pass++) {
		convlog_conv_filter f;
		convlog_conv_iter *it;
		const convlog_conv *cc;
		convlog_conv_filter_init(&f);
		f.user_id = user_at;
		f.tag = texts[CONVLOG_MAX_TAGS - 1];
		CK_OK(convlog_conv_list(db, &f, &it));
		CK_OK(convlog_conv_iter_next(it, &cc));
		ck_assert_mem_eq(cc->id.bytes, id.bytes, 16);
		ck_assert_int_eq(convlog_conv_iter_next(it, &cc), CONVLOG_DONE);
		convlog_conv_iter_free(it);
		CK_OK(convlog_checkpoint(db));
	}
	tu_verify_clean(db);
	free(long_tag);
	free(user_at);
	free(user_over);
	convlog_close(db);
	convlog_options_free(o);
}
END_TEST

/* ---- LMDB map growth ---- */

static _Atomic int n_warnings;

static void log_fn(void *ud, int level, const char *msg)
{
	(void)ud;
	if (level == CONVLOG_LOG_WARN) {
		atomic_fetch_add(&n_warnings, 1);
		fprintf(stderr, "convlog warning: %s\n", msg);
	}
}

static convlog_options *tiny_map_opts(void)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_NORMAL);

	CK_OK(convlog_options_set_map_size(o, 1u << 20));
	CK_ERR(convlog_options_set_map_size(o, (1u << 20) - 1), CONVLOG_EINVAL);
	CK_OK(convlog_options_set_log(o, log_fn, NULL));
	return o;
}

/* A child process (the test binary run again) that holds a read-only
 * handle; it talks through two pipes, a line at a time. */
static pid_t child_start(const char *mode, const char *arg, int *to_child, int *from_child)
{
	int down[2], up[2];
	char a1[16], a2[16];
	pid_t pid;

	ck_assert_int_eq(pipe2(down, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(up, O_CLOEXEC), 0);
	snprintf(a1, sizeof(a1), "%d", down[0]);
	snprintf(a2, sizeof(a2), "%d", up[1]);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		fcntl(down[0], F_SETFD, 0);
		fcntl(up[1], F_SETFD, 0);
		execl("/proc/self/exe", "test_limits", mode, path, a1, a2, arg, (char *)NULL);
		_exit(3);
	}
	close(down[0]);
	close(up[1]);
	*to_child = down[1];
	*from_child = up[0];
	return pid;
}

static void read_line(int fd, char *buf, size_t n)
{
	size_t got = 0;

	while (got + 1 < n) {
		ssize_t r = read(fd, buf + got, 1);
		ck_assert_msg(r == 1, "the child went away (read %zd)", r);
		if (buf[got] == '\n')
			break;
		got++;
	}
	buf[got] = 0;
}

static void child_wait(pid_t pid, int want_signal)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	if (want_signal)
		ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == want_signal, "status %d",
			      status);
	else
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
}

static int child_say(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int child_say(int fd, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return write(fd, buf, (size_t)n) == n ? 0 : -1;
}

static int child_line(int fd, char *buf, size_t n)
{
	size_t got = 0;

	while (got + 1 < n) {
		if (read(fd, buf + got, 1) != 1)
			return -1;
		if (buf[got] == '\n')
			break;
		got++;
	}
	buf[got] = 0;
	return 0;
}

/* Counts every message readable through listings and ranges. */
static int count_all(convlog_db *db, uint64_t *n)
{
	convlog_conv_iter *it;
	const convlog_conv *c;
	int rc;

	*n = 0;
	if ((rc = convlog_conv_list(db, NULL, &it)))
		return rc;
	while ((rc = convlog_conv_iter_next(it, &c)) == 0) {
		convlog_msg_iter *mi;
		const convlog_msg *m;
		if ((rc = convlog_msg_range(db, &c->id, CONVLOG_RANGE_ALL, 0, 0, &mi)))
			break;
		while ((rc = convlog_msg_iter_next(mi, &m)) == 0) {
			if (!m->content_len || !m->metadata) {
				rc = CONVLOG_ECORRUPT;
				break;
			}
			(*n)++;
		}
		convlog_msg_iter_free(mi);
		if (rc != CONVLOG_DONE)
			break;
	}
	convlog_conv_iter_free(it);
	return rc == CONVLOG_DONE ? 0 : rc;
}

/* --ro-follow: opens the store read-only with a 1 MiB map before the
 * writer grows it, then reads everything the writer wrote after. */
static int ro_follow(const char *store, int rfd, int wfd)
{
	convlog_options *o;
	convlog_db *db;
	char line[128];
	uint64_t want = 0, seen = 0;
	int rc;

	if (convlog_options_new(&o) || convlog_options_set_open_flags(o, CONVLOG_OPEN_READONLY) ||
	    convlog_options_set_map_size(o, 1u << 20))
		return 2;
	if ((rc = convlog_open(store, o, &db))) {
		child_say(wfd, "E open: %s\n", convlog_errmsg());
		return 1;
	}
	convlog_options_free(o);
	if ((rc = count_all(db, &seen))) {
		child_say(wfd, "E read: %s\n", convlog_errmsg());
		return 1;
	}
	child_say(wfd, "R %llu %llu\n", (unsigned long long)seen, (unsigned long long)db->lm.map_size);
	if (child_line(rfd, line, sizeof(line)) || sscanf(line, "G %llu", (unsigned long long *)&want) != 1)
		return 2;
	/* the writer checkpointed: the next snapshot moves to its state */
	for (int tries = 0; tries < 200; tries++) {
		if ((rc = count_all(db, &seen))) {
			child_say(wfd, "E read after growth: %d %s\n", rc, convlog_errmsg());
			return 1;
		}
		if (seen == want)
			break;
		usleep(50000);
	}
	child_say(wfd, "D %llu %llu %llu\n", (unsigned long long)seen,
		  (unsigned long long)atomic_load(&db->lm.gate.grows),
		  (unsigned long long)db->lm.map_size);
	convlog_close(db);
	return 0;
}

START_TEST(test_limits__tiny_map_grows_as_the_store_does)
{
	convlog_options *o = tiny_map_opts();
	/* (a 64 KiB memtable would flush after every commit: its text index
	 * alone fills it) */
	CK_OK(convlog_options_set_memtable_size(o, 512u << 10));
	convlog_db *db = tu_open(path, o);
	enum { NCONV = 240, NMSG = 10 };
	char content[2048], meta[512], line[256];
	const char *tags[] = {"alpha", "beta", "gamma"};
	uint64_t rng = 7, total = 0, seen = 0, child_grows = 0, child_map = 0, map0 = 0;
	int to_child, from_child;
	double t0;

	atomic_store(&n_warnings, 0);
	ck_assert_uint_eq(db->lm.map_size, 1u << 20);
	convlog_uuid first = tu_conv(db, "u0", "first");
	CK_OK(append(db, &first, "hello", 5, "{\"n\":0}"));
	total = 1;
	CK_OK(convlog_checkpoint(db));
	pid_t pid = child_start("--ro-follow", "-", &to_child, &from_child);
	read_line(from_child, line, sizeof(line));
	ck_assert_msg(sscanf(line, "R %llu %llu", (unsigned long long *)&seen,
			     (unsigned long long *)&map0) == 2, "child: %s", line);
	ck_assert_uint_eq(seen, 1);
	ck_assert_uint_eq(map0, 1u << 20);

	/* LMDB holds the conversations (metadata included) and the messages'
	 * summaries and indexes: some 4 MiB here */
	char *conv_meta = json_of(12000);
	t0 = now_s();
	for (int i = 0; i < NCONV; i++) {
		convlog_conv c;
		convlog_uuid id;
		char user[32], ext[64];
		convlog_conv_init(&c);
		snprintf(user, sizeof(user), "user-%d", i % 7);
		snprintf(ext, sizeof(ext), "ext-%d", i);
		c.user_id = user;
		c.external_id = ext;
		c.title = "a conversation that fills the map";
		c.tags = tags;
		c.n_tags = 3;
		c.metadata = conv_meta;
		CK_OK(convlog_conv_create(db, NULL, &c, &id));
		for (int j = 0; j < NMSG; j++) {
			size_t len = 200 + tu_rand(&rng) % 1200;
			for (size_t k = 0; k < len; k++)
				content[k] = (char)('a' + tu_rand(&rng) % 26);
			snprintf(meta, sizeof(meta),
				 "{\"turn\":%d,\"conv\":%d,\"tokens\":%llu,\"labels\":[\"x\",\"y\",\"z\"],"
				 "\"note\":\"%.*s\"}",
				 j, i, (unsigned long long)(tu_rand(&rng) % 5000), 60, content);
			CK_OK(append(db, &id, content, len, meta));
			total++;
		}
		if (i % 40 == 39)
			CK_OK(convlog_checkpoint(db));
	}
	CK_OK(convlog_checkpoint(db));
	free(conv_meta);
	double t_write = now_s() - t0;
	uint64_t grows_write = atomic_load(&db->lm.gate.grows), map_write = db->lm.map_size;

	/* a full compaction rewrites every locator (switch_segment) */
	convlog_compact_opts co;
	convlog_compact_stats st = {.version = CONVLOG_COMPACT_VERSION};
	convlog_compact_opts_init(&co);
	co.flags = CONVLOG_COMPACT_FULL;
	t0 = now_s();
	CK_OK(convlog_compact(db, &co, NULL, NULL, &st));
	double t_compact = now_s() - t0;
	ck_assert_uint_gt(st.segments_written, 0);
	ck_assert_uint_eq(messages(db), total);
	tu_verify_clean(db);

	/* the read-only handle opened at 1 MiB reads it all */
	ck_assert_int_eq(child_say(to_child, "G %llu\n", (unsigned long long)total), 0);
	read_line(from_child, line, sizeof(line));
	ck_assert_msg(sscanf(line, "D %llu %llu %llu", (unsigned long long *)&seen,
			     (unsigned long long *)&child_grows, (unsigned long long *)&child_map) == 3,
		      "child: %s", line);
	child_wait(pid, 0);
	close(to_child);
	close(from_child);
	ck_assert_uint_eq(seen, total);
	ck_assert_uint_ge(child_grows, 1);
	ck_assert_uint_gt(child_map, 1u << 20);

	uint64_t grows = atomic_load(&db->lm.gate.grows);
	convlog_stats sst = {.version = CONVLOG_STATS_VERSION};
	CK_OK(convlog_stats_get(db, &sst));
	fprintf(stderr,
		"tiny map: %llu messages, %llu flushes; map 1 MiB -> %.1f MiB in %llu growths (%llu while "
		"writing, %.1f MiB then); writing %.2f s, full compaction %.2f s; the read-only "
		"handle adopted the map %llu time(s), to %.1f MiB\n",
		(unsigned long long)total, (unsigned long long)sst.flushes,
		(double)db->lm.map_size / (1 << 20),
		(unsigned long long)grows, (unsigned long long)grows_write,
		(double)map_write / (1 << 20), t_write, t_compact, (unsigned long long)child_grows,
		(double)child_map / (1 << 20));
	ck_assert_uint_ge(grows, 3);
	ck_assert_uint_gt(db->lm.map_size, 4u << 20);
	ck_assert_uint_ge(sst.flushes, 10);

	/* reopened with the same 1 MiB option: the map starts above the data */
	convlog_close(db);
	db = tu_open(path, o);
	ck_assert_uint_gt(db->lm.map_size, 4u << 20);
	ck_assert_uint_eq(messages(db), total);
	CK_OK(count_all(db, &seen));
	ck_assert_uint_eq(seen, total);
	/* no reader now: a compaction may also swap in a repacked LMDB */
	CK_OK(convlog_compact(db, &co, NULL, NULL, &st));
	CK_OK(append(db, &first, "after", 5, "{\"n\":1}"));
	CK_OK(convlog_checkpoint(db));
	ck_assert_uint_eq(messages(db), total + 1);
	tu_verify_clean(db);
	ck_assert_int_eq(atomic_load(&n_warnings), 0);
	convlog_close(db);
	convlog_options_free(o);
}
END_TEST

/* A tiny-map store whose (unflushed) memtable holds well over 1 MiB of LMDB
 * state (the conversations' metadata lives in LMDB); *id: the last
 * conversation, with 20 messages like every other of the 120. */
static convlog_db *unflushed_store(convlog_options *o, convlog_uuid *id)
{
	char content[1024];
	uint64_t rng = 11;

	/* nothing flushes on its own: the test decides when */
	CK_OK(convlog_options_set_memtable_size(o, 64u << 20));
	CK_OK(convlog_options_set_flush_interval_ms(o, 3600000));
	convlog_db *db = tu_open(path, o);
	char *meta = json_of(12000);
	for (int i = 0; i < 120; i++) {
		convlog_conv c;
		convlog_conv_init(&c);
		c.metadata = meta;
		CK_OK(convlog_conv_create(db, NULL, &c, id));
		for (int j = 0; j < 20; j++) {
			for (size_t k = 0; k < sizeof(content); k++)
				content[k] = (char)('a' + tu_rand(&rng) % 26);
			CK_OK(append(db, id, content, 100 + (i + j) % 900, "{\"k\":[1,2,3]}"));
		}
	}
	free(meta);
	ck_assert_uint_eq(db->lm.map_size, 1u << 20);
	return db;
}

START_TEST(test_limits__map_growth_waits_for_readers_then_gives_up_cleanly)
{
	convlog_options *o = tiny_map_opts();
	convlog_uuid id;
	convlog_db *db = unflushed_store(o, &id);
	/* an open iterator is an LMDB read: the map cannot be replaced under it */
	convlog_msg_iter *it;
	const convlog_msg *m;
	CK_OK(convlog_msg_range(db, &id, CONVLOG_RANGE_ALL, 0, 0, &it));
	CK_OK(convlog_msg_iter_next(it, &m));
	double t0 = now_s();
	int rc = convlog_checkpoint(db);
	double waited = now_s() - t0;
	ck_assert_msg(rc == CONVLOG_EBUSY, "checkpoint: %d %s (map %llu, %llu growths)", rc,
		      convlog_errmsg(), (unsigned long long)db->lm.map_size,
		      (unsigned long long)atomic_load(&db->lm.gate.grows));
	ck_assert_msg(strstr(convlog_errmsg(), "stayed open"), "%s", convlog_errmsg());
	ck_assert_msg(waited >= 0.9 && waited < 10, "waited %.2f s", waited);
	/* nothing is lost and everything reads, the iterator too */
	ck_assert_uint_eq(messages(db), 2400);
	for (uint32_t n = 1; n < 20; n++)
		CK_OK(convlog_msg_iter_next(it, &m));
	ck_assert_int_eq(convlog_msg_iter_next(it, &m), CONVLOG_DONE);
	convlog_msg_iter_free(it);
	/* without the reader the map grows and the flush goes through */
	CK_OK(convlog_checkpoint(db));
	ck_assert_uint_ge(atomic_load(&db->lm.gate.grows), 1);
	ck_assert_uint_gt(db->lm.map_size, 1u << 20);
	convlog_close(db);
	db = tu_open(path, o);
	ck_assert_uint_eq(messages(db), 2400);
	tu_verify_clean(db);
	convlog_close(db);
	convlog_options_free(o);
}
END_TEST

/* Frees the iterator while the MDB_MAP_FULL growth waits for it.  The
 * flush's room check waits for readers first, only briefly (50 ms): a
 * wait that ends within 300 ms was that one, and the next is the
 * growth's, which would wait a second. */
struct late_reader {
	convlog_db *db;
	convlog_msg_iter *it;
	int waits; /* resize waits seen */
};

static int wait_wanted(convlog_db *db, int want, int ms)
{
	for (int i = 0; i < ms * 2; i++) {
		if (cvl_lmdb_wanted(&db->lm) == want)
			return 0;
		usleep(500);
	}
	return -1;
}

static void *late_reader_main(void *arg)
{
	struct late_reader *r = arg;

	while (r->waits < 2 && wait_wanted(r->db, 1, 10000) == 0) {
		r->waits++;
		if (wait_wanted(r->db, 0, 300) != 0)
			break; /* a long one: the growth's */
	}
	convlog_msg_iter_free(r->it);
	return NULL;
}

START_TEST(test_limits__map_full_waits_for_a_reader_that_ends_then_grows)
{
	convlog_options *o = tiny_map_opts();
	convlog_uuid id;
	convlog_db *db = unflushed_store(o, &id);
	struct late_reader r = {.db = db};
	const convlog_msg *m;
	pthread_t th;

	CK_OK(convlog_msg_range(db, &id, CONVLOG_RANGE_ALL, 0, 0, &r.it));
	CK_OK(convlog_msg_iter_next(r.it, &m));
	ck_assert_int_eq(pthread_create(&th, NULL, late_reader_main, &r), 0);
	/* the room check before the flush gives up on the reader at once; the
	 * flush then runs out of map, and its growth waits for the reader,
	 * which ends in time: the flush runs again and goes through */
	atomic_store(&n_warnings, 0);
	CK_OK(convlog_checkpoint(db));
	pthread_join(th, NULL);
	ck_assert_int_ge(r.waits, 1);
	ck_assert_uint_ge(atomic_load(&db->lm.gate.full_retries), 1);
	ck_assert_uint_ge(atomic_load(&db->lm.gate.grows), 1);
	ck_assert_uint_gt(db->lm.map_size, 1u << 20);
	ck_assert_uint_eq(messages(db), 2400);
	ck_assert_int_eq(atomic_load(&n_warnings), 0);
	tu_verify_clean(db);
	convlog_close(db);
	convlog_options_free(o);
}
END_TEST

/* Fills one write transaction of the bare LMDB layer with `n` 1000-byte
 * values (a whole attempt). */
static int fill_txn(cvl_lmdb *lm, int n)
{
	static char val[1000];
	MDB_txn *txn;
	int rc, mrc = 0;

	if ((rc = cvl_lmdb_wtxn(lm, &txn)))
		return rc;
	for (int i = 0; i < n && !mrc; i++) {
		char k[16];
		snprintf(k, sizeof(k), "k%08d", i);
		MDB_val mk = {strlen(k), k}, mv = {sizeof(val), val};
		mrc = mdb_put(txn, lm->dbi[CVL_T_META], &mk, &mv, 0);
	}
	if (mrc) {
		cvl_lmdb_abort(txn);
		return cvl_lmdb_err(mrc, "fill");
	}
	mrc = cvl_lmdb_commit(txn);
	return mrc ? cvl_lmdb_err(mrc, "fill commit") : 0;
}

START_TEST(test_limits__map_growth_takes_less_when_the_address_space_is_short)
{
	static cvl_lmdb lm; /* (zeroed: its gate is made at the first open) */
	int rc;

	ck_assert_int_eq(mkdir(path, 0755), 0);
	CK_OK(cvl_lmdb_open(&lm, path, 1u << 20, 0, 1, 4));
	ck_assert_uint_eq(lm.map_size, 1u << 20);
	/* no address space at all: a clean CONVLOG_ENOMEM, the map as it was */
	rc = fill_txn(&lm, 1500);
	ck_assert_int_eq(rc, CONVLOG_ENOSPC);
	cvl_os_fault_set(CVL_FAULT_MMAP, 0, ENOMEM, 1, 0);
	ck_assert_int_eq(cvl_lmdb_again(&lm, &rc), 0);
	cvl_os_fault_set(0, 0, 0, 0, 0);
	ck_assert_msg(rc == CONVLOG_ENOMEM && strstr(convlog_errmsg(), "no room for a larger one"),
		      "%d %s", rc, convlog_errmsg());
	ck_assert_uint_eq(lm.map_size, 1u << 20);
	/* room for less than double: it grows by half */
	rc = fill_txn(&lm, 1500);
	ck_assert_int_eq(rc, CONVLOG_ENOSPC);
	cvl_os_fault_set(CVL_FAULT_MMAP, 0, ENOMEM, 0, 0);
	ck_assert_int_eq(cvl_lmdb_again(&lm, &rc), 1);
	cvl_os_fault_set(0, 0, 0, 0, 0);
	ck_assert_uint_eq(lm.map_size, 3u << 19);
	/* and doubles from there as often as it takes */
	int tries = 1;
	do
		rc = fill_txn(&lm, 1500);
	while (cvl_lmdb_again(&lm, &rc) && ++tries < 10);
	CK_OK(rc);
	ck_assert_uint_ge(lm.map_size, 3u << 20);
	ck_assert_uint_eq(atomic_load(&lm.gate.grows), tries);
	/* what was written is there, after a reopen too */
	cvl_lmdb_close(&lm);
	CK_OK(cvl_lmdb_open(&lm, path, 1u << 20, 0, 1, 4));
	MDB_txn *txn;
	const uint8_t *v;
	size_t vl;
	CK_OK(cvl_lmdb_rtxn(&lm, &txn));
	CK_OK(cvl_lmdb_get(&lm, txn, CVL_T_META, "k00001499", 9, &v, &vl));
	ck_assert_uint_eq(vl, 1000);
	cvl_lmdb_abort(txn);
	ck_assert_int_eq(lm.gate.ntxn, 0);
	cvl_lmdb_close(&lm);
	cvl_lmdb_fini(&lm);
}
END_TEST

/* ---- reader slots ---- */

/* --ro-hold: a read-only handle with `k` iterators open, until killed. */
static int ro_hold(const char *store, int rfd, int wfd, int k)
{
	convlog_options *o;
	convlog_db *db;
	convlog_conv_iter *ci;
	const convlog_conv *c;

	(void)rfd;
	if (convlog_options_new(&o) || convlog_options_set_open_flags(o, CONVLOG_OPEN_READONLY) ||
	    convlog_open(store, o, &db))
		return 2;
	if (convlog_conv_list(db, NULL, &ci) || convlog_conv_iter_next(ci, &c))
		return 2;
	for (int i = 0; i < k; i++) {
		convlog_msg_iter *mi;
		if (convlog_msg_range(db, &c->id, CONVLOG_RANGE_ALL, 0, 0, &mi))
			return 2;
	}
	child_say(wfd, "H %d\n", (int)getpid());
	for (;;)
		pause();
}

struct slots {
	int pid, n;
};

static int slot_line(const char *msg, void *ctx)
{
	struct slots *s = ctx;
	int pid;

	if (sscanf(msg, "%d", &pid) == 1 && pid == s->pid)
		s->n++;
	return 0;
}

/* Reader slots LMDB lists for process `pid`. */
static int slots_of(convlog_db *db, int pid)
{
	struct slots s = {pid, 0};

	ck_assert_int_ge(mdb_reader_list(db->lm.env, slot_line, &s), 0);
	return s.n;
}

static pid_t killed_holder(int k)
{
	char line[64], arg[16];
	int to_child, from_child, pid;

	snprintf(arg, sizeof(arg), "%d", k);
	pid_t p = child_start("--ro-hold", arg, &to_child, &from_child);
	read_line(from_child, line, sizeof(line));
	ck_assert_msg(sscanf(line, "H %d", &pid) == 1 && pid == p, "child: %s", line);
	ck_assert_int_eq(kill(p, SIGKILL), 0);
	child_wait(p, SIGKILL);
	close(to_child);
	close(from_child);
	return p;
}

static char freed_msg[256];

static void reader_log(void *ud, int level, const char *msg)
{
	(void)ud;
	(void)level;
	if (strstr(msg, "reader slot"))
		snprintf(freed_msg, sizeof(freed_msg), "%s", msg);
}

START_TEST(test_limits__reader_slots_of_killed_readers_are_reclaimed)
{
	enum { HELD = 8 };
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_NORMAL);
	convlog_db *db = tu_open(path, o);
	convlog_uuid id = tu_conv(db, "u", "slots");
	static convlog_msg_iter *its[1100];
	unsigned max = 0;
	int n = 0, rc;

	tu_msg(db, &id, "user", "one");
	tu_msg(db, &id, "user", "two");
	CK_OK(convlog_checkpoint(db));
	ck_assert_int_eq(mdb_env_get_maxreaders(db->lm.env, &max), 0);

	/* a reader killed inside its reads leaves its slots taken ... */
	pid_t dead = killed_holder(HELD);
	ck_assert_int_ge(slots_of(db, dead), HELD);
	/* ... until every slot is wanted: then they are freed and the reads
	 * go on, up to the real limit, which is a clean CONVLOG_EBUSY */
	uint64_t cleared0 = atomic_load(&db->lm.gate.stale_cleared);
	for (;;) {
		ck_assert_int_lt(n, (int)(sizeof(its) / sizeof(its[0])));
		rc = convlog_msg_range(db, &id, CONVLOG_RANGE_ALL, 0, 0, &its[n]);
		if (rc)
			break;
		n++;
	}
	ck_assert_msg(rc == CONVLOG_EBUSY, "rc %d: %s", rc, convlog_errmsg());
	ck_assert_msg(strstr(convlog_errmsg(), "reader slots are taken"), "%s", convlog_errmsg());
	ck_assert_int_eq(slots_of(db, dead), 0);
	ck_assert_uint_ge(atomic_load(&db->lm.gate.stale_cleared) - cleared0, HELD);
	/* every slot went to this process's reads (a background read may
	 * hold one for a moment) */
	ck_assert_msg(n >= (int)max - 2 && n <= (int)max, "%d iterators of %u slots", n, max);
	/* what is open keeps working; ending one makes room for the next */
	const convlog_msg *m;
	CK_OK(convlog_msg_iter_next(its[0], &m));
	ck_assert_str_eq(m->content, "one");
	convlog_msg_iter_free(its[--n]);
	CK_OK(convlog_msg_range(db, &id, CONVLOG_RANGE_ALL, 0, 0, &its[n]));
	n++;
	while (n > 0)
		convlog_msg_iter_free(its[--n]);
	tu_msg(db, &id, "user", "three");

	/* a writer's open frees them too, and says so.  (With no process left
	 * holding the environment, LMDB resets the whole reader table at the
	 * next open; a live reader keeps it, dead slots and all.) */
	CK_OK(convlog_checkpoint(db));
	int to_live, from_live, live_pid;
	char line[64];
	pid_t live = child_start("--ro-hold", "1", &to_live, &from_live);
	read_line(from_live, line, sizeof(line));
	ck_assert_msg(sscanf(line, "H %d", &live_pid) == 1 && live_pid == live, "child: %s", line);
	dead = killed_holder(HELD);
	ck_assert_int_ge(slots_of(db, dead), HELD);
	convlog_close(db);
	CK_OK(convlog_options_set_log(o, reader_log, NULL));
	freed_msg[0] = 0;
	db = tu_open(path, o);
	ck_assert_int_eq(slots_of(db, dead), 0);
	ck_assert_int_ge(slots_of(db, live), 1);
	/* (its listing holds a slot beside the HELD ranges) */
	const char *f = strstr(freed_msg, "freed ");
	int nfreed = 0;
	ck_assert_msg(f && sscanf(f, "freed %d LMDB reader slot(s) of dead processes", &nfreed) == 1,
		      "log: '%s'", freed_msg);
	ck_assert_int_eq(nfreed, HELD + 1);
	ck_assert_uint_eq(messages(db), 3);
	ck_assert_int_eq(kill(live, SIGKILL), 0);
	child_wait(live, SIGKILL);
	close(to_live);
	close(from_live);
	convlog_close(db);
	convlog_options_free(o);
}
END_TEST

/* ---- a full disk ---- */

START_TEST(test_limits__full_disk_fails_appends_until_there_is_room)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_FULL);
	convlog_db *db = tu_open(path, o);
	convlog_uuid id = tu_conv(db, "u", "disk");
	convlog_msg *m;

	tu_msg(db, &id, "user", "before");
	/* every write fails, the background's too, until it is cleared */
	cvl_os_fault_set(CVL_FAULT_WRITE, 0, ENOSPC, 1, 0);
	for (int i = 0; i < 5; i++) {
		CK_ERR(append(db, &id, "lost", 4, NULL), CONVLOG_ENOSPC);
		ck_assert_msg(strstr(convlog_errmsg(), "No space left on device"), "%s",
			      convlog_errmsg());
	}
	convlog_conv c;
	convlog_uuid other;
	convlog_conv_init(&c);
	CK_ERR(convlog_conv_create(db, NULL, &c, &other), CONVLOG_ENOSPC);
	/* nothing changed, and reads work */
	ck_assert_uint_eq(messages(db), 1);
	ck_assert_uint_eq(conversations(db), 1);
	CK_OK(convlog_msg_get(db, &id, 1, &m));
	ck_assert_str_eq(m->content, "before");
	convlog_msg_free(m);
	ck_assert_int_eq(convlog_msg_get(db, &id, 2, &m), CONVLOG_ENOTFOUND);
	ck_assert_int_eq(atomic_load(&db->failed), 0);
	/* room again: the same handle appends */
	cvl_os_fault_set(0, 0, 0, 0, 0);
	tu_msg(db, &id, "user", "after");
	ck_assert_uint_eq(messages(db), 2);
	CK_OK(convlog_msg_get(db, &id, 2, &m));
	ck_assert_str_eq(m->content, "after");
	convlog_msg_free(m);
	tu_verify_clean(db);
	convlog_close(db);
	db = tu_open(path, o);
	ck_assert_uint_eq(messages(db), 2);
	tu_verify_clean(db);
	convlog_close(db);
	convlog_options_free(o);
}
END_TEST

/* A flush that meets a full disk (its index file, or LMDB's commit) fails,
 * loses nothing, and is retried: by the background thread on its own. */
static void flush_on_full_disk(unsigned mask)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_NORMAL);
	CK_OK(convlog_options_set_flush_interval_ms(o, 50));
	convlog_db *db = tu_open(path, o);
	convlog_uuid id = tu_conv(db, "u", "flush");
	convlog_stats s = {.version = CONVLOG_STATS_VERSION};
	char text[64];

	CK_OK(convlog_checkpoint(db));
	/* (less than a memtable: nothing flushes before the disk is full) */
	for (int i = 0; i < 50; i++) {
		snprintf(text, sizeof(text), "word%d searchable", i);
		tu_msg(db, &id, "user", text);
	}
	cvl_os_fault_set(mask, 0, ENOSPC, 1, 0);
	CK_ERR(convlog_checkpoint(db), CONVLOG_ENOSPC);
	CK_OK(convlog_stats_get(db, &s));
	uint64_t flushed = s.flushed_lsn;
	ck_assert_uint_lt(flushed, s.last_lsn);
	/* the background tries again (and fails) meanwhile; reads see it all */
	usleep(300000);
	ck_assert_uint_eq(messages(db), 50);
	convlog_msg *m;
	CK_OK(convlog_msg_get(db, &id, 50, &m));
	ck_assert_str_eq(m->content, "word49 searchable");
	convlog_msg_free(m);
	cvl_os_fault_set(0, 0, 0, 0, 0);
	/* room again: the background flush gets through by itself */
	for (int i = 0; i < 100; i++) {
		CK_OK(convlog_stats_get(db, &s));
		if (s.flushed_lsn == s.last_lsn)
			break;
		usleep(50000);
	}
	ck_assert_uint_eq(s.flushed_lsn, s.last_lsn);
	ck_assert_int_eq(atomic_load(&db->failed), 0);
	tu_msg(db, &id, "user", "more");
	CK_OK(convlog_checkpoint(db));
	tu_verify_clean(db);
	convlog_close(db);
	db = tu_open(path, o);
	ck_assert_uint_eq(messages(db), 51);
	convlog_search_query q;
	convlog_search_result *r;
	convlog_search_query_init(&q);
	q.query = "word17";
	CK_OK(convlog_search(db, &q, &r));
	ck_assert_uint_eq(r->n_hits, 1);
	convlog_search_result_free(r);
	tu_verify_clean(db);
	convlog_close(db);
	convlog_options_free(o);
}

START_TEST(test_limits__flush_on_full_disk_is_retried_and_loses_nothing)
{
	flush_on_full_disk(CVL_FAULT_WRITE);
}
END_TEST

START_TEST(test_limits__lmdb_commit_on_full_disk_is_retried_and_loses_nothing)
{
	flush_on_full_disk(CVL_FAULT_META);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "--ro-follow"))
		return ro_follow(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc == 6 && !strcmp(argv[1], "--ro-hold"))
		return ro_hold(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));

	Suite *s = suite_create("limits");
	TCase *tc = tcase_create("limits");
	/* LIMITS_ONLY=substring runs the matching tests only */
	const char *only = getenv("LIMITS_ONLY");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
#define ADD(t)                                  \
	do {                                    \
		if (!only || strstr(#t, only))  \
			tcase_add_test(tc, t);  \
	} while (0)
	ADD(test_limits__content_one_byte_over_max_content_is_refused);
	ADD(test_limits__metadata_over_its_limit_is_refused);
	ADD(test_limits__tags_and_short_texts_over_their_limits_are_refused);
	ADD(test_limits__tiny_map_grows_as_the_store_does);
	ADD(test_limits__map_growth_waits_for_readers_then_gives_up_cleanly);
	ADD(test_limits__map_full_waits_for_a_reader_that_ends_then_grows);
	ADD(test_limits__map_growth_takes_less_when_the_address_space_is_short);
	ADD(test_limits__reader_slots_of_killed_readers_are_reclaimed);
	ADD(test_limits__full_disk_fails_appends_until_there_is_room);
	ADD(test_limits__flush_on_full_disk_is_retried_and_loses_nothing);
	ADD(test_limits__lmdb_commit_on_full_disk_is_retried_and_loses_nothing);
#undef ADD
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
