/*
 * Recovery: torn tails are cut off, damage anywhere else is reported as
 * corruption with file and offset, interrupted segment creation is undone,
 * and stores of another format version are refused.
 */
#include <fcntl.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "os/os.h"
#include "testutil.h"

static char path[256];
static char logbuf[4096];

static void capture(void *ud, int level, const char *msg)
{
	(void)ud;
	(void)level;
	strncat(logbuf, msg, sizeof(logbuf) - strlen(logbuf) - 2);
	strcat(logbuf, "\n");
}

static int durability = CONVLOG_DURABILITY_FULL;

static convlog_options *opts(void)
{
	convlog_options *o = tu_opts(durability);

	/* keep everything in the log: no flush during the tests' writes */
	CK_OK(convlog_options_set_memtable_size(o, 64u << 20));
	CK_OK(convlog_options_set_flush_interval_ms(o, 3600000));
	CK_OK(convlog_options_set_log(o, capture, NULL));
	return o;
}

static void setup(void)
{
	durability = CONVLOG_DURABILITY_FULL;
	tu_tmppath(path, sizeof(path), "recovery");
	logbuf[0] = '\0';
}

static void teardown(void)
{
	tu_rmrf(path);
}

/* Writes `n` single-message commits in a child that then dies without
 * closing, so nothing is flushed to LMDB: everything lives in the log. */
static void write_and_die(int n, int checkpoint_at)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		convlog_options *o = opts();
		convlog_db *db;
		if (convlog_open(path, o, &db))
			_exit(2);
		convlog_conv c;
		convlog_uuid id;
		convlog_conv_init(&c);
		c.title = "recovery";
		if (convlog_conv_create(db, NULL, &c, &id))
			_exit(3);
		for (int i = 0; i < n; i++) {
			char buf[128];
			convlog_msg m;
			convlog_msg_init(&m);
			m.conv_id = id;
			m.role = "user";
			snprintf(buf, sizeof(buf), "message %d of the recovery test", i);
			m.content = buf;
			m.content_len = strlen(buf);
			if (convlog_msg_append(db, NULL, &m, NULL))
				_exit(4);
			if (i == checkpoint_at && convlog_checkpoint(db))
				_exit(5);
		}
		kill(getpid(), SIGKILL);
	}
	int st;
	waitpid(pid, &st, 0);
	ck_assert(WIFSIGNALED(st));
}

static void seg_path(char *out, size_t n, int id)
{
	snprintf(out, n, "%s/segments/%016x.seg", path, id);
}

static off_t file_size(const char *p)
{
	struct stat st;

	ck_assert_int_eq(stat(p, &st), 0);
	return st.st_size;
}

static void flip_byte(const char *p, off_t off)
{
	int fd = open(p, O_RDWR);
	unsigned char b;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &b, 1, off), 1);
	b ^= 0x10;
	ck_assert_int_eq(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

/* Offsets of the blocks of a segment (walking the headers' lengths). */
/* Offsets of the blocks of segment file p (up to max; walking headers
 * until the magic stops, e.g. at the writer's zero-filled tail); *end
 * (optional) gets the end of the last one. */
static int block_walk(const char *p, off_t *out, int max, off_t *end)
{
	int fd = open(p, O_RDONLY), n = 0;
	off_t off = 64, size = file_size(p);

	ck_assert_int_ge(fd, 0);
	while (off + 48 <= size && n < max) {
		unsigned char h[48];
		ck_assert_int_eq(pread(fd, h, 48, off), 48);
		if (memcmp(h, "CVLB", 4) != 0)
			break;
		uint32_t body = (uint32_t)h[12] | (uint32_t)h[13] << 8 | (uint32_t)h[14] << 16 |
				(uint32_t)h[15] << 24;
		out[n++] = off;
		off += 48 + body;
	}
	close(fd);
	if (end)
		*end = off;
	return n;
}

static int block_offsets(const char *p, off_t *out, int max)
{
	return block_walk(p, out, max, NULL);
}

static convlog_stats reopen_stats(convlog_db **dbp)
{
	convlog_options *o = opts();
	convlog_stats s = {.version = CONVLOG_STATS_VERSION};

	*dbp = tu_open(path, o);
	convlog_options_free(o);
	CK_OK(convlog_stats_get(*dbp, &s));
	return s;
}

START_TEST(test_recovery__torn_tail_is_truncated_and_reported)
{
	char seg[300];
	convlog_db *db;
	off_t size;

	off_t offs[64];

	write_and_die(20, -1);
	seg_path(seg, sizeof(seg), 1);
	block_walk(seg, offs, 64, &size); /* the end of the last block */
	ck_assert_int_eq(truncate(seg, size - 7), 0);
	convlog_stats s = reopen_stats(&db);
	ck_assert_uint_eq(s.messages, 19);
	ck_assert_uint_gt(s.truncated_bytes, 0);
	ck_assert_ptr_nonnull(strstr(logbuf, "torn tail"));
	tu_verify_clean(db);
	/* the store takes new writes after the cut */
	convlog_conv_iter *it;
	const convlog_conv *c;
	CK_OK(convlog_conv_list(db, NULL, &it));
	CK_OK(convlog_conv_iter_next(it, &c));
	convlog_uuid id = c->id;
	convlog_conv_iter_free(it);
	tu_msg(db, &id, "user", "after the cut");
	convlog_close(db);
	s = reopen_stats(&db);
	ck_assert_uint_eq(s.messages, 20);
	ck_assert_uint_eq(s.truncated_bytes, 0);
	tu_verify_clean(db);
	convlog_close(db);
}
END_TEST

START_TEST(test_recovery__zero_tails_are_dropped_and_garbage_tails_reported)
{
	char seg[300];
	convlog_db *db;
	unsigned char junk[8192];
	off_t offs[64], valid;

	write_and_die(10, -1);
	seg_path(seg, sizeof(seg), 1);
	/* the killed writer left the zeros it keeps ahead of the log */
	ck_assert_int_ge(block_walk(seg, offs, 64, &valid), 11);
	ck_assert_int_gt(file_size(seg), valid);
	for (int pass = 0; pass < 3; pass++) {
		int fd = open(seg, O_WRONLY | O_APPEND);
		uint64_t r = 42;
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = pass == 2 ? (unsigned char)tu_rand(&r) : 0;
		if (pass > 0) /* pass 0: just the writer's own zeros */
			ck_assert_int_eq(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
		close(fd);
		convlog_stats s = reopen_stats(&db);
		ck_assert_uint_eq(s.messages, 10);
		/* zeros are not log data; anything else is a torn tail */
		ck_assert_uint_eq(s.truncated_bytes, pass == 2 ? sizeof(junk) : 0);
		ck_assert_int_eq(file_size(seg), valid);
		tu_verify_clean(db);
		convlog_close(db);
		ck_assert_int_eq(file_size(seg), valid);
	}
}
END_TEST

START_TEST(test_recovery__sealed_and_closed_segments_end_with_their_last_block)
{
	convlog_options *o = opts();
	convlog_db *db = tu_open(path, o);
	convlog_uuid id = tu_conv(db, NULL, NULL);
	char seg[300], big[4000];
	off_t offs[1024], end;
	uint64_t r = 9;

	for (int i = 0; i < 600; i++) { /* ~2.4 MB of noise: roll-overs at 1 MiB */
		for (size_t k = 0; k < sizeof(big) - 1; k++)
			big[k] = (char)('a' + tu_rand(&r) % 26);
		big[sizeof(big) - 1] = '\0';
		tu_msg(db, &id, "user", big);
	}
	int last = 1;
	for (;; last++) {
		seg_path(seg, sizeof(seg), last + 1);
		if (access(seg, F_OK) != 0)
			break;
	}
	ck_assert_int_ge(last, 2);
	/* the open segment carries zeros past its last block, sealed ones not */
	for (int i = 1; i <= last; i++) {
		seg_path(seg, sizeof(seg), i);
		block_walk(seg, offs, 1024, &end);
		if (i == last)
			ck_assert_int_gt(file_size(seg), end);
		else
			ck_assert_int_eq(file_size(seg), end);
	}
	convlog_close(db);
	seg_path(seg, sizeof(seg), last);
	block_walk(seg, offs, 1024, &end);
	ck_assert_int_eq(file_size(seg), end);
	db = tu_open(path, o);
	convlog_stats s = {.version = CONVLOG_STATS_VERSION};
	CK_OK(convlog_stats_get(db, &s));
	ck_assert_uint_eq(s.messages, 600);
	ck_assert_uint_eq(s.truncated_bytes, 0);
	tu_verify_clean(db);
	convlog_close(db);
	convlog_options_free(o);
}
END_TEST

START_TEST(test_recovery__damage_before_valid_blocks_is_corruption)
{
	char seg[300];
	off_t offs[64], before;
	convlog_db *db = NULL;

	write_and_die(20, -1);
	seg_path(seg, sizeof(seg), 1);
	ck_assert_int_ge(block_offsets(seg, offs, 64), 15);
	before = file_size(seg);
	flip_byte(seg, offs[5] + 60); /* inside the first frame of block 5 */
	convlog_options *o = opts();
	CK_ERR(convlog_open(path, o, &db), CONVLOG_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "0000000000000001.seg"));
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "offset"));
	ck_assert_int_eq(file_size(seg), before); /* nothing was cut */
	/* a damaged header in the middle is corruption too */
	flip_byte(seg, offs[5] + 60);
	flip_byte(seg, offs[7] + 2);
	CK_ERR(convlog_open(path, o, &db), CONVLOG_ECORRUPT);
	flip_byte(seg, offs[7] + 2);
	CK_OK(convlog_open(path, o, &db));
	convlog_options_free(o);
	tu_verify_clean(db);
	convlog_close(db);
}
END_TEST

START_TEST(test_recovery__damage_followed_by_unsynced_blocks_is_a_torn_tail)
{
	char seg[300];
	off_t offs[64];
	convlog_db *db;

	/* OFF: nothing is synced, so blocks may reach the disk in any order
	 * after a power loss; damage followed by valid blocks is then a torn
	 * tail, not a reason to refuse the store */
	durability = CONVLOG_DURABILITY_OFF;
	write_and_die(20, -1);
	seg_path(seg, sizeof(seg), 1);
	ck_assert_int_ge(block_offsets(seg, offs, 64), 15);
	flip_byte(seg, offs[6] + 60);
	convlog_stats s = reopen_stats(&db);
	ck_assert_uint_eq(s.messages, 5); /* blocks 1..5 hold messages 0..4 */
	ck_assert_int_eq(file_size(seg), offs[6]);
	ck_assert_ptr_nonnull(strstr(logbuf, "unsynced"));
	tu_verify_clean(db);
	convlog_close(db);
}
END_TEST

/* The bytes a "writer" puts back into the log while a reader reads it. */
static struct {
	const char *seg;
	off_t at;
	unsigned char *bytes;
	size_t n;
} late;

static void late_write(void *ud)
{
	(void)ud;
	int fd = open(late.seg, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, late.bytes, late.n, late.at), (ssize_t)late.n);
	close(fd);
}

static convlog_db *open_readonly(int *rc)
{
	convlog_options *o = opts();
	convlog_db *db = NULL;

	CK_OK(convlog_options_set_open_flags(o, CONVLOG_OPEN_READONLY));
	*rc = convlog_open(path, o, &db);
	convlog_options_free(o);
	return db;
}

/*
 * A read-only handle reads the log while its writer appends.  A block it
 * reads as zeros (the writer's zeros ahead of the log) can be written,
 * with synced blocks after it, before the handle looks past it: those later
 * blocks then seem to prove synced data lost.  The handle must read the
 * block again and go on; a block that stays damaged is still corruption.
 */
START_TEST(test_recovery__readonly_handle_reads_a_block_written_while_it_looked)
{
	char seg[300];
	off_t offs[64], end;
	int rc;

	write_and_die(10, -1); /* blocks: the conversation, then 10 messages */
	seg_path(seg, sizeof(seg), 1);
	ck_assert_int_eq(block_walk(seg, offs, 64, &end), 11);
	late.seg = seg;
	late.at = offs[8];
	late.n = (size_t)(end - offs[8]);
	late.bytes = malloc(late.n);
	ck_assert_ptr_nonnull(late.bytes);
	int fd = open(seg, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, late.bytes, late.n, late.at), (ssize_t)late.n);
	unsigned char *zeros = calloc(1, late.n);
	ck_assert_int_eq(pwrite(fd, zeros, late.n, late.at), (ssize_t)late.n);
	close(fd);
	free(zeros);

	/* blocks 8..10 come back right after the reader read block 8's header */
	cvl_os_fault_read_hook((uint64_t)offs[8], late_write, NULL);
	convlog_db *db = open_readonly(&rc);
	cvl_os_fault_read_hook(0, NULL, NULL);
	if (rc)
		ck_abort_msg("read-only open: %s", convlog_errmsg());
	convlog_stats s = {.version = CONVLOG_STATS_VERSION};
	CK_OK(convlog_stats_get(db, &s));
	ck_assert_uint_eq(s.messages, 10);
	ck_assert_uint_eq(s.truncated_bytes, 0);
	ck_assert_ptr_null(strstr(logbuf, "torn tail"));
	convlog_close(db);

	/* real damage to block 8, synced blocks after it: corruption, for a
	 * read-only handle too, and nothing is cut */
	flip_byte(seg, offs[8] + 60);
	off_t before = file_size(seg);
	db = open_readonly(&rc);
	ck_assert_int_eq(rc, CONVLOG_ECORRUPT);
	ck_assert_ptr_null(db);
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "as durable"));
	ck_assert_int_eq(file_size(seg), before);
	free(late.bytes);
}
END_TEST

START_TEST(test_recovery__damage_in_flushed_log_is_reported_by_reads_and_verify)
{
	char seg[300];
	off_t offs[64];
	convlog_db *db;
	uint64_t problems = 0;

	write_and_die(20, 19); /* checkpoint after the last: all flushed */
	seg_path(seg, sizeof(seg), 1);
	ck_assert_int_ge(block_offsets(seg, offs, 64), 15);
	flip_byte(seg, offs[4] + 48 + 30); /* block 4 = message 3 (block 0 made the conv) */
	reopen_stats(&db);
	convlog_conv_iter *it;
	const convlog_conv *c;
	CK_OK(convlog_conv_list(db, NULL, &it));
	CK_OK(convlog_conv_iter_next(it, &c));
	convlog_uuid id = c->id;
	convlog_conv_iter_free(it);
	convlog_msg *m;
	CK_ERR(convlog_msg_get(db, &id, 4, &m), CONVLOG_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "checksum"));
	CK_OK(convlog_msg_get(db, &id, 5, &m));
	convlog_msg_free(m);
	CK_OK(convlog_verify(db, NULL, NULL, &problems));
	ck_assert_uint_ge(problems, 2); /* the block and the message that lives there */
	convlog_close(db);
}
END_TEST

START_TEST(test_recovery__replay_starts_after_the_last_flush)
{
	convlog_db *db;

	write_and_die(30, 9);
	convlog_stats s = reopen_stats(&db);
	ck_assert_uint_eq(s.messages, 30);
	ck_assert_uint_gt(s.flushed_lsn, 0);
	ck_assert_uint_lt(s.recovered_blocks, 30); /* only the tail after the flush */
	ck_assert_uint_ge(s.recovered_blocks, 20);
	tu_verify_clean(db);
	convlog_close(db);
}
END_TEST

START_TEST(test_recovery__interrupted_segment_creation_is_undone)
{
	char seg[300];
	convlog_db *db;
	int fd;

	write_and_die(5, -1);
	seg_path(seg, sizeof(seg), 2);
	fd = open(seg, O_CREAT | O_WRONLY, 0644);
	ck_assert_int_eq(write(fd, "CVLSEG", 6), 6);
	close(fd);
	convlog_stats s = reopen_stats(&db);
	ck_assert_uint_eq(s.messages, 5);
	ck_assert_int_ne(access(seg, F_OK), 0);
	ck_assert_ptr_nonnull(strstr(logbuf, "interrupted"));
	convlog_close(db);
}
END_TEST

START_TEST(test_recovery__damaged_older_segment_header_is_corruption)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_OFF);
	convlog_db *db = tu_open(path, o);
	char seg[300], big[4000];
	convlog_uuid id = tu_conv(db, NULL, NULL);

	uint64_t r = 7;
	for (int i = 0; i < 600; i++) { /* ~2.4 MB of noise: three 1 MiB segments */
		for (size_t k = 0; k < sizeof(big) - 1; k++)
			big[k] = (char)('a' + tu_rand(&r) % 26);
		big[sizeof(big) - 1] = '\0';
		tu_msg(db, &id, "user", big);
	}
	convlog_close(db);
	seg_path(seg, sizeof(seg), 2);
	ck_assert_int_eq(access(seg, F_OK), 0);
	seg_path(seg, sizeof(seg), 1);
	flip_byte(seg, 20);
	CK_ERR(convlog_open(path, o, &db), CONVLOG_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "0000000000000001.seg"));
	flip_byte(seg, 20);
	db = tu_open(path, o);
	tu_verify_clean(db);
	convlog_close(db);
	convlog_options_free(o);
}
END_TEST

/* Reads (want < 0) or writes meta/format of the closed store at path. */
static int meta_format(int want)
{
	char meta[300];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	unsigned char b[4] = {(unsigned char)want, 0, 0, 0};
	MDB_val k = {6, "format"}, v = {4, b};
	int got = -1;

	snprintf(meta, sizeof(meta), "%s/meta", path);
	ck_assert_int_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 32);
	mdb_env_set_mapsize(env, 64u << 20);
	ck_assert_int_eq(mdb_env_open(env, meta, 0, 0644), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	if (want >= 0)
		ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	ck_assert_int_eq(mdb_get(txn, dbi, &k, &v), 0);
	ck_assert_uint_eq(v.mv_size, 4);
	got = ((unsigned char *)v.mv_data)[0];
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	return got;
}

START_TEST(test_recovery__format_1_store_opens_and_a_writer_upgrades_it)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_OFF);
	convlog_db *db = tu_open(path, o);
	convlog_uuid id = tu_conv(db, "u", "old store");

	tu_msg(db, &id, "user", "written by a format 1 library");
	convlog_close(db);
	ck_assert_int_eq(meta_format(-1), 4);
	ck_assert_int_eq(meta_format(1), 1);
	/* a read-only handle reads it as it is */
	convlog_options *ro = tu_opts(CONVLOG_DURABILITY_OFF);
	CK_OK(convlog_options_set_open_flags(ro, CONVLOG_OPEN_READONLY));
	db = tu_open(path, ro);
	convlog_stats st = {.version = CONVLOG_STATS_VERSION};
	CK_OK(convlog_stats_get(db, &st));
	ck_assert_uint_eq(st.messages, 1);
	convlog_close(db);
	ck_assert_int_eq(meta_format(-1), 1);
	/* a writer upgrades it */
	db = tu_open(path, o);
	tu_msg(db, &id, "assistant", "and by format 3");
	tu_verify_clean(db);
	convlog_close(db);
	ck_assert_int_eq(meta_format(-1), 4);
	convlog_options_free(ro);
	convlog_options_free(o);
}
END_TEST

/* A format 2 store has no seg_stats table: read-only handles do without
 * it, a writer computes it from the message locators. */
START_TEST(test_recovery__format_2_store_gets_its_segment_accounting)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_OFF);
	convlog_db *db = tu_open(path, o);
	convlog_uuid a = tu_conv(db, "u", "one"), b = tu_conv(db, "u", "two");
	char meta[300];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;

	for (int i = 0; i < 20; i++)
		tu_msg(db, i % 2 ? &a : &b, "user", "a turn of a format 2 store");
	convlog_close(db);
	ck_assert_int_eq(meta_format(2), 2);
	snprintf(meta, sizeof(meta), "%s/meta", path);
	ck_assert_int_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 32);
	mdb_env_set_mapsize(env, 64u << 20);
	ck_assert_int_eq(mdb_env_open(env, meta, 0, 0644), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "seg_stats", 0, &dbi), 0);
	ck_assert_int_eq(mdb_drop(txn, dbi, 1), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	convlog_options *ro = tu_opts(CONVLOG_DURABILITY_OFF);
	CK_OK(convlog_options_set_open_flags(ro, CONVLOG_OPEN_READONLY));
	db = tu_open(path, ro);
	tu_verify_clean(db);
	convlog_close(db);
	db = tu_open(path, o);
	tu_msg(db, &a, "assistant", "and one by format 3");
	tu_verify_clean(db); /* verify compares seg_stats with the locators */
	CK_OK(convlog_checkpoint(db));
	tu_verify_clean(db);
	convlog_close(db);
	ck_assert_int_eq(meta_format(-1), 4);
	convlog_options_free(ro);
	convlog_options_free(o);
}
END_TEST

START_TEST(test_recovery__newer_format_version_is_refused)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_OFF);
	convlog_db *db = tu_open(path, o);
	char meta[300];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	unsigned char four[4] = {5, 0, 0, 0};
	MDB_val k = {6, "format"}, v = {4, four};

	convlog_close(db);
	snprintf(meta, sizeof(meta), "%s/meta", path);
	ck_assert_int_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 32);
	mdb_env_set_mapsize(env, 64u << 20);
	ck_assert_int_eq(mdb_env_open(env, meta, 0, 0644), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	CK_ERR(convlog_open(path, o, &db), CONVLOG_EVERSION);
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "version 5"));
	convlog_options_free(o);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("recovery");
	TCase *tc = tcase_create("recovery");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_recovery__torn_tail_is_truncated_and_reported);
	tcase_add_test(tc, test_recovery__zero_tails_are_dropped_and_garbage_tails_reported);
	tcase_add_test(tc, test_recovery__sealed_and_closed_segments_end_with_their_last_block);
	tcase_add_test(tc, test_recovery__damage_before_valid_blocks_is_corruption);
	tcase_add_test(tc, test_recovery__damage_followed_by_unsynced_blocks_is_a_torn_tail);
	tcase_add_test(tc, test_recovery__readonly_handle_reads_a_block_written_while_it_looked);
	tcase_add_test(tc, test_recovery__damage_in_flushed_log_is_reported_by_reads_and_verify);
	tcase_add_test(tc, test_recovery__replay_starts_after_the_last_flush);
	tcase_add_test(tc, test_recovery__interrupted_segment_creation_is_undone);
	tcase_add_test(tc, test_recovery__damaged_older_segment_header_is_corruption);
	tcase_add_test(tc, test_recovery__newer_format_version_is_refused);
	tcase_add_test(tc, test_recovery__format_1_store_opens_and_a_writer_upgrades_it);
	tcase_add_test(tc, test_recovery__format_2_store_gets_its_segment_accounting);
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
