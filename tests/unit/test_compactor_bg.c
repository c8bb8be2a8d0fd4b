/*
 * The background compactor (convlog_options_set_compactor): with no call
 * from the application, sealed segments get compacted, the lifecycle
 * policies run, and a conversation purged by the policy leaves no byte in
 * LMDB's file.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

static char path[256];

static void setup(void)
{
	tu_tmppath(path, sizeof(path), "cpbg");
}

static void teardown(void)
{
	tu_rmrf(path);
}

static void nap_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Segment files whose header flags (offset 12) have the COMPACTED bit. */
static int compacted_segments(void)
{
	char dir[300], f[600];
	struct dirent *e;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/segments", path);
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 5 || strcmp(e->d_name + l - 4, ".seg"))
			continue;
		snprintf(f, sizeof(f), "%s/%s", dir, e->d_name);
		FILE *fp = fopen(f, "rb");
		unsigned char h[16];
		if (fp && fread(h, 1, 16, fp) == 16 && (h[12] & 1))
			n++;
		if (fp)
			fclose(fp);
	}
	closedir(d);
	return n;
}

/* 1 if the file holds the bytes s. */
static int file_has(const char *file, const char *s)
{
	FILE *fp = fopen(file, "rb");
	size_t n = strlen(s), cap = 1 << 20, len = 0, got;
	char *buf = malloc(cap);
	int found = 0;

	ck_assert_ptr_nonnull(fp);
	while ((got = fread(buf + len, 1, cap - len, fp)) > 0) {
		len += got;
		if (len == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(fp);
	for (size_t i = 0; i + n <= len && !found; i++)
		found = memcmp(buf + i, s, n) == 0;
	free(buf);
	return found;
}

START_TEST(test_compactor_bg__compacts_and_applies_policies_on_its_own)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_NORMAL);
	convlog_lifecycle p;
	char text[1200], meta[300];
	const char *canary = "cnryBgQ3xw8LmP2vZt7";
	convlog_uuid keep[8], gone;
	convlog_db *db;

	CK_OK(convlog_options_set_segment_size(o, 1u << 20));
	CK_OK(convlog_options_set_memtable_size(o, 256u << 10));
	CK_OK(convlog_options_set_flush_interval_ms(o, 50));
	CK_OK(convlog_options_set_compactor(o, 20, 64u << 20));
	convlog_lifecycle_init(&p);
	p.purge_after_ms = 1; /* deleted conversations go at the next sweep */
	CK_OK(convlog_options_set_lifecycle(o, &p));
	CK_ERR(convlog_options_set_compactor(o, 5, 0), CONVLOG_EINVAL);
	db = tu_open(path, o);
	for (int i = 0; i < 8; i++)
		keep[i] = tu_conv(db, "u", "kept");
	gone = tu_conv(db, "u", canary);
	tu_msg(db, &gone, "user", canary);
	uint64_t seed = 7;
	convlog_txn *t = NULL;
	for (int i = 0; i < 3000; i++) {
		size_t n = 200 + tu_rand(&seed) % 900;
		for (size_t k = 0; k < n; k++)
			text[k] = (char)('a' + tu_rand(&seed) % 26);
		text[n] = 0;
		convlog_msg m;
		uint32_t seq;
		convlog_msg_init(&m);
		m.conv_id = keep[i % 8];
		m.role = i % 2 ? "assistant" : "user";
		m.content = text;
		m.content_len = n;
		if (!t)
			CK_OK(convlog_txn_begin(db, &t));
		CK_OK(convlog_msg_append(db, t, &m, &seq));
		if (i % 100 == 99) {
			CK_OK(convlog_txn_commit(t));
			t = NULL;
		}
	}
	CK_OK(convlog_checkpoint(db));
	/* log segments roll over at 1 MiB: the compactor finds sealed ones */
	for (int w = 0; w < 500 && compacted_segments() == 0; w++)
		nap_ms(10);
	ck_assert_int_gt(compacted_segments(), 0);
	snprintf(meta, sizeof(meta), "%s/meta/data.mdb", path);
	ck_assert(file_has(meta, canary)); /* the title is in LMDB */
	CK_OK(convlog_conv_delete(db, NULL, &gone));
	convlog_conv *c = NULL;
	int rc = 0;
	for (int w = 0; w < 500; w++) {
		rc = convlog_conv_get(db, &gone, &c);
		if (rc == CONVLOG_ENOTFOUND && !file_has(meta, canary))
			break;
		convlog_conv_free(c);
		c = NULL;
		nap_ms(10);
	}
	ck_assert_int_eq(rc, CONVLOG_ENOTFOUND);
	ck_assert_msg(!file_has(meta, canary), "the purged title is still in data.mdb");
	for (int i = 0; i < 8; i++) {
		CK_OK(convlog_conv_get(db, &keep[i], &c));
		ck_assert_uint_eq(c->message_count, 375);
		convlog_conv_free(c);
	}
	tu_verify_clean(db);
	convlog_close(db);
	db = tu_open(path, o);
	tu_verify_clean(db);
	convlog_close(db);
	convlog_options_free(o);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("compactor_bg");
	TCase *tc = tcase_create("compactor_bg");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_compactor_bg__compacts_and_applies_policies_on_its_own);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
