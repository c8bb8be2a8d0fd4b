/*
 * Fault injection through the library's I/O and allocation seams: a failed
 * write, a short write, a full disk, a failed sync and failed allocations
 * report an error, change nothing visible, and leave a store that reopens
 * with every acknowledged commit and passes verify.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "os/os.h"
#include "testutil.h"
#include "util/alloc.h"

static char path[256];
static convlog_db *db;

static convlog_options *opts(void)
{
	return tu_opts(CONVLOG_DURABILITY_FULL);
}

static void setup(void)
{
	convlog_options *o = opts();

	tu_tmppath(path, sizeof(path), "faults");
	db = tu_open(path, o);
	convlog_options_free(o);
}

static void teardown(void)
{
	cvl_os_fault_set(0, 0, 0, 0, 0);
	cvl_alloc_fail_after(-1, 0);
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

static uint64_t messages(void)
{
	convlog_stats s = {.version = CONVLOG_STATS_VERSION};

	CK_OK(convlog_stats_get(db, &s));
	return s.messages;
}

static int append(const convlog_uuid *id, const char *text)
{
	convlog_msg m;

	convlog_msg_init(&m);
	m.conv_id = *id;
	m.role = "user";
	m.content = text;
	m.content_len = strlen(text);
	return convlog_msg_append(db, NULL, &m, NULL);
}

static void check_write_fault(int err, int short_write, int want, const char *msg)
{
	convlog_uuid id = tu_conv(db, NULL, "faults");

	CK_OK(append(&id, "before"));
	cvl_os_fault_set(CVL_FAULT_WRITE | CVL_FAULT_THIS_THREAD, 0, err, 0, short_write);
	CK_ERR(append(&id, "lost"), want);
	ck_assert_msg(strstr(convlog_errmsg(), msg) && strstr(convlog_errmsg(), ".seg"),
		      "message: %s", convlog_errmsg());
	ck_assert_uint_eq(messages(), 1);
	/* the failed block was taken back: the next commit lands cleanly */
	CK_OK(append(&id, "after"));
	ck_assert_uint_eq(messages(), 2);
	tu_verify_clean(db);
	reopen();
	ck_assert_uint_eq(messages(), 2);
	convlog_msg *m;
	CK_OK(convlog_msg_get(db, &id, 2, &m));
	ck_assert_str_eq(m->content, "after");
	convlog_msg_free(m);
	tu_verify_clean(db);
}

START_TEST(test_faults__failed_log_write_changes_nothing)
{
	check_write_fault(EIO, 0, CONVLOG_EIO, "Input/output error");
}
END_TEST

START_TEST(test_faults__short_log_write_is_taken_back)
{
	check_write_fault(EIO, 1, CONVLOG_EIO, "Input/output error");
}
END_TEST

START_TEST(test_faults__full_disk_is_reported_as_enospc)
{
	check_write_fault(ENOSPC, 1, CONVLOG_ENOSPC, "No space left on device");
}
END_TEST

START_TEST(test_faults__failed_sync_fails_the_handle_until_reopen)
{
	convlog_uuid id = tu_conv(db, NULL, "sync");

	CK_OK(append(&id, "acknowledged"));
	cvl_os_fault_set(CVL_FAULT_SYNC | CVL_FAULT_THIS_THREAD, 0, EIO, 0, 0);
	int rc = append(&id, "not acknowledged");
	ck_assert_msg(rc == CONVLOG_EIO || rc == CONVLOG_EFAILED, "rc %d", rc);
	/* a failed fdatasync may have lost pages: no more writes on this handle */
	CK_ERR(append(&id, "refused"), CONVLOG_EFAILED);
	convlog_txn *t;
	CK_ERR(convlog_txn_begin(db, &t), CONVLOG_EFAILED);
	/* reads still work */
	ck_assert_uint_ge(messages(), 1);
	reopen();
	uint64_t n = messages();
	ck_assert_msg(n == 1 || n == 2, "%llu messages", (unsigned long long)n);
	convlog_msg *m;
	CK_OK(convlog_msg_get(db, &id, 1, &m));
	ck_assert_str_eq(m->content, "acknowledged");
	convlog_msg_free(m);
	CK_OK(append(&id, "writable again"));
	tu_verify_clean(db);
}
END_TEST

START_TEST(test_faults__failed_segment_creation_keeps_the_old_segment)
{
	char big[3000];
	uint64_t r = 5;
	convlog_options *o = opts();
	int failed = 0;

	/* no memtable flush (which opens index files) while the fault waits
	 * for the roll-over's open */
	CK_OK(convlog_options_set_memtable_size(o, 256u << 20));
	CK_OK(convlog_options_set_flush_interval_ms(o, 3600000));
	convlog_close(db);
	db = tu_open(path, o);
	convlog_options_free(o);
	convlog_uuid id = tu_conv(db, NULL, "rollover");

	for (int i = 0; i < 600 && !failed; i++) { /* 1 MiB segments */
		for (size_t k = 0; k < sizeof(big) - 1; k++)
			big[k] = (char)('a' + tu_rand(&r) % 26);
		big[sizeof(big) - 1] = '\0';
		if (i == 300)
			cvl_os_fault_set(CVL_FAULT_OPEN, 0, ENOSPC, 0, 0);
		int rc = append(&id, big);
		if (rc) {
			ck_assert_int_eq(rc, CONVLOG_ENOSPC);
			failed = 1;
		}
	}
	ck_assert_msg(failed, "no roll-over happened while the fault was armed");
	uint64_t n = messages();
	CK_OK(append(&id, "after the failed roll-over"));
	ck_assert_uint_eq(messages(), n + 1);
	reopen();
	ck_assert_uint_eq(messages(), n + 1);
	tu_verify_clean(db);
}
END_TEST

/* Fails the k-th allocation of a batch for every k until the batch goes
 * through: each failed attempt must report ENOMEM and change nothing. */
START_TEST(test_faults__every_failed_allocation_leaves_the_store_intact)
{
	convlog_uuid id = tu_conv(db, "alloc", "allocation sweep");
	uint64_t before = messages(), k;
	int done = 0;

	for (k = 0; k < 5000 && !done; k++) {
		convlog_txn *t = NULL;
		convlog_conv c;
		convlog_msg m;
		int rc;
		cvl_alloc_fail_after((int64_t)k, 0);
		rc = convlog_txn_begin(db, &t);
		convlog_conv_init(&c);
		c.user_id = "alloc";
		c.metadata = "{\"k\":[1,2,3]}";
		convlog_msg_init(&m);
		m.conv_id = id;
		m.role = "assistant";
		m.content = "an answer";
		m.content_len = 9;
		m.metadata = "{\"tokens\":12}";
		if (!rc)
			rc = convlog_conv_create(db, t, &c, NULL);
		for (int i = 0; i < 3 && !rc; i++)
			rc = convlog_msg_append(db, t, &m, NULL);
		if (!rc)
			rc = convlog_txn_commit(t);
		else if (t)
			convlog_txn_abort(t);
		cvl_alloc_fail_after(-1, 0);
		if (rc == 0) {
			done = 1;
			break;
		}
		ck_assert_msg(rc == CONVLOG_ENOMEM || rc == CONVLOG_ETXN,
			      "allocation %llu: rc %d (%s)", (unsigned long long)k, rc, convlog_errmsg());
		ck_assert_uint_eq(messages(), before);
	}
	ck_assert_msg(done, "the batch never succeeded");
	fprintf(stderr, "allocation sweep: %llu failure points tried\n", (unsigned long long)k);
	ck_assert_uint_eq(messages(), before + 3);
	tu_verify_clean(db);
	reopen();
	ck_assert_uint_eq(messages(), before + 3);
	tu_verify_clean(db);
}
END_TEST

static int hits(const char *query)
{
	convlog_search_query q;
	convlog_search_result *r;
	int n;

	convlog_search_query_init(&q);
	q.query = query;
	q.limit = 100;
	CK_OK(convlog_search(db, &q, &r));
	n = (int)r->n_hits;
	convlog_search_result_free(r);
	return n;
}

static uint64_t index_segments(void)
{
	convlog_stats s = {.version = CONVLOG_STATS_VERSION};

	CK_OK(convlog_stats_get(db, &s));
	return s.index_segments;
}

START_TEST(test_faults__failed_index_writes_lose_nothing)
{
	convlog_options *o = opts();

	/* flushes and merges only when the test asks */
	CK_OK(convlog_options_set_memtable_size(o, 256u << 20));
	CK_OK(convlog_options_set_flush_interval_ms(o, 3600000));
	convlog_close(db);
	db = tu_open(path, o);
	convlog_options_free(o);
	convlog_uuid id = tu_conv(db, NULL, "index");
	for (int i = 0; i < 3; i++)
		CK_OK(append(&id, "alpha beta"));

	/* the index segment cannot be created: that flush fails (the
	 * checkpoint's or the background thread's, whichever runs first; the
	 * checkpoint then retries), nothing is lost */
	uint64_t h0 = cvl_os_fault_hits();
	cvl_os_fault_set(CVL_FAULT_OPEN, 0, ENOSPC, 0, 0);
	int rc = convlog_checkpoint(db);
	ck_assert_msg(rc == 0 || rc == CONVLOG_ENOSPC, "checkpoint: %d", rc);
	ck_assert_uint_eq(cvl_os_fault_hits(), h0 + 1);
	ck_assert_int_eq(hits("alpha"), 3);
	CK_OK(convlog_checkpoint(db));
	ck_assert_int_eq(hits("alpha"), 3);
	ck_assert_uint_eq(index_segments(), 1);
	tu_verify_clean(db);

	/* a failed merge leaves the old segments in place */
	for (int k = 0; k < 2; k++) {
		CK_OK(append(&id, "alpha gamma"));
		CK_OK(convlog_checkpoint(db));
	}
	ck_assert_uint_eq(index_segments(), 3);
	cvl_os_fault_set(CVL_FAULT_WRITE, 2, EIO, 0, 0);
	CK_ERR(convlog_index_merge(db, CONVLOG_MERGE_ALL), CONVLOG_EIO);
	ck_assert_uint_eq(index_segments(), 3);
	ck_assert_int_eq(hits("alpha"), 5);
	CK_OK(convlog_index_merge(db, CONVLOG_MERGE_ALL));
	ck_assert_uint_eq(index_segments(), 1);
	ck_assert_int_eq(hits("alpha"), 5);
	ck_assert_int_eq(hits("gamma"), 2);
	tu_verify_clean(db);
	reopen();
	ck_assert_int_eq(hits("alpha"), 5);
	tu_verify_clean(db);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("faults");
	TCase *tc = tcase_create("faults");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_faults__failed_log_write_changes_nothing);
	tcase_add_test(tc, test_faults__short_log_write_is_taken_back);
	tcase_add_test(tc, test_faults__full_disk_is_reported_as_enospc);
	tcase_add_test(tc, test_faults__failed_sync_fails_the_handle_until_reopen);
	tcase_add_test(tc, test_faults__failed_segment_creation_keeps_the_old_segment);
	tcase_add_test(tc, test_faults__every_failed_allocation_leaves_the_store_intact);
	tcase_add_test(tc, test_faults__failed_index_writes_lose_nothing);
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
