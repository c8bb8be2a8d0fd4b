/* lib/meta/wset.c: a transaction's private write-set. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta/memtable.h"
#include "meta/wset.h"
#include "testutil.h"
#include "util/alloc.h"

static void init(cvl_wset *ws)
{
	CK_OK(cvl_ws_init(ws));
	ck_assert_uint_eq(ws->count, 0);
	ck_assert_uint_eq(ws->mt_cost, 0);
}

static int put_s(cvl_wset *ws, uint8_t table, const char *key, const char *val)
{
	return cvl_ws_put(ws, table, (const uint8_t *)key, strlen(key), (const uint8_t *)val,
			  strlen(val), NULL);
}

static int del_s(cvl_wset *ws, uint8_t table, const char *key)
{
	return cvl_ws_del(ws, table, (const uint8_t *)key, strlen(key));
}

/* "value", "<tomb>" or "<none>". */
static const char *get_s(cvl_wset *ws, uint8_t table, const char *key)
{
	static char out[4096];
	const uint8_t *v = NULL;
	size_t vl = 12345;
	int r = cvl_ws_get(ws, table, (const uint8_t *)key, strlen(key), &v, &vl);

	if (r == 0)
		return "<none>";
	if (r == 2)
		return "<tomb>";
	ck_assert_int_eq(r, 1);
	ck_assert_uint_lt(vl, sizeof(out));
	if (vl)
		memcpy(out, v, vl);
	out[vl] = '\0';
	return out;
}

/* The cost the write-set should report: one memtable entry per key. */
static size_t expected_cost(cvl_wset *ws)
{
	size_t sum = 0, n = 0;

	for (cvl_wentry *e = ws->all; e; e = e->next_all, n++)
		sum += cvl_mt_entry_cost(e->klen, e->vlen);
	ck_assert_uint_eq(n, ws->count);
	return sum;
}

START_TEST(test_wset__put_then_get_returns_the_value)
{
	cvl_wset ws;
	cvl_wentry *e = NULL;

	init(&ws);
	ck_assert_str_eq(get_s(&ws, 1, "k"), "<none>");
	CK_OK(cvl_ws_put(&ws, 1, (const uint8_t *)"k", 1, (const uint8_t *)"value", 5, &e));
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->table, 1);
	ck_assert_uint_eq(e->klen, 1);
	ck_assert_uint_eq(e->vlen, 5);
	ck_assert_int_eq(e->pend_rec, -1);
	ck_assert_str_eq(get_s(&ws, 1, "k"), "value");
	ck_assert_uint_eq(ws.count, 1);
	ck_assert_uint_eq(ws.mt_cost, cvl_mt_entry_cost(1, 5));
	cvl_ws_free(&ws);
}
END_TEST

START_TEST(test_wset__value_is_copied_not_borrowed)
{
	cvl_wset ws;
	char key[] = "key", val[] = "original";

	init(&ws);
	CK_OK(put_s(&ws, 1, key, val));
	memcpy(val, "XXXXXXXX", 8);
	key[0] = 'X';
	ck_assert_str_eq(get_s(&ws, 1, "key"), "original");
	ck_assert_str_eq(get_s(&ws, 1, "Xey"), "<none>");
	cvl_ws_free(&ws);
}
END_TEST

START_TEST(test_wset__tables_and_key_lengths_separate_entries)
{
	cvl_wset ws;

	init(&ws);
	CK_OK(put_s(&ws, 1, "a", "t1"));
	CK_OK(put_s(&ws, 2, "a", "t2"));
	CK_OK(put_s(&ws, 1, "ab", "t1ab"));
	CK_OK(cvl_ws_put(&ws, 1, (const uint8_t *)"a\0", 2, (const uint8_t *)"nul", 3, NULL));
	CK_OK(cvl_ws_put(&ws, 1, (const uint8_t *)"", 0, (const uint8_t *)"empty", 5, NULL));
	ck_assert_str_eq(get_s(&ws, 1, "a"), "t1");
	ck_assert_str_eq(get_s(&ws, 2, "a"), "t2");
	ck_assert_str_eq(get_s(&ws, 1, "ab"), "t1ab");
	ck_assert_str_eq(get_s(&ws, 1, ""), "empty");
	ck_assert_str_eq(get_s(&ws, 3, "a"), "<none>");
	const uint8_t *v;
	size_t vl;
	ck_assert_int_eq(cvl_ws_get(&ws, 1, (const uint8_t *)"a\0", 2, &v, &vl), 1);
	ck_assert_uint_eq(vl, 3);
	ck_assert_int_eq(memcmp(v, "nul", 3), 0);
	ck_assert_uint_eq(ws.count, 5);
	ck_assert_uint_eq(ws.mt_cost, expected_cost(&ws));
	cvl_ws_free(&ws);
}
END_TEST

START_TEST(test_wset__delete_leaves_a_tombstone)
{
	cvl_wset ws;

	init(&ws);
	/* deleting a key never put records a tombstone (it may exist below) */
	CK_OK(del_s(&ws, 4, "ghost"));
	ck_assert_str_eq(get_s(&ws, 4, "ghost"), "<tomb>");
	ck_assert_uint_eq(ws.count, 1);
	ck_assert_uint_eq(ws.mt_cost, cvl_mt_entry_cost(5, CVL_MT_TOMB));

	CK_OK(put_s(&ws, 4, "k", "v"));
	CK_OK(del_s(&ws, 4, "k"));
	ck_assert_str_eq(get_s(&ws, 4, "k"), "<tomb>");
	ck_assert_uint_eq(ws.count, 2);
	ck_assert_uint_eq(ws.mt_cost, expected_cost(&ws));
	ck_assert_uint_eq(ws.mt_cost,
			  cvl_mt_entry_cost(5, CVL_MT_TOMB) + cvl_mt_entry_cost(1, CVL_MT_TOMB));
	/* deleting twice changes nothing */
	CK_OK(del_s(&ws, 4, "k"));
	ck_assert_uint_eq(ws.count, 2);
	ck_assert_uint_eq(ws.mt_cost, expected_cost(&ws));
	cvl_ws_free(&ws);
}
END_TEST

START_TEST(test_wset__put_after_delete_revives_the_key)
{
	cvl_wset ws;

	init(&ws);
	CK_OK(put_s(&ws, 1, "k", "first"));
	CK_OK(del_s(&ws, 1, "k"));
	CK_OK(put_s(&ws, 1, "k", "second"));
	ck_assert_str_eq(get_s(&ws, 1, "k"), "second");
	ck_assert_uint_eq(ws.count, 1);
	ck_assert_uint_eq(ws.mt_cost, cvl_mt_entry_cost(1, 6));
	cvl_ws_free(&ws);
}
END_TEST

START_TEST(test_wset__replace_keeps_one_entry_with_the_newest_value)
{
	cvl_wset ws;
	char big[3000];

	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	init(&ws);
	CK_OK(put_s(&ws, 1, "k", "short"));
	CK_OK(put_s(&ws, 1, "k", big));
	ck_assert_str_eq(get_s(&ws, 1, "k"), big);
	ck_assert_uint_eq(ws.mt_cost, cvl_mt_entry_cost(1, sizeof(big) - 1));
	CK_OK(put_s(&ws, 1, "k", "tiny"));
	ck_assert_str_eq(get_s(&ws, 1, "k"), "tiny");
	ck_assert_uint_eq(ws.mt_cost, cvl_mt_entry_cost(1, 4));
	CK_OK(put_s(&ws, 1, "k", ""));
	ck_assert_str_eq(get_s(&ws, 1, "k"), "");
	ck_assert_uint_eq(ws.mt_cost, cvl_mt_entry_cost(1, 0));
	ck_assert_uint_eq(ws.count, 1);
	/* the entry's pending locator is reset on every write */
	cvl_wentry *e = NULL;
	CK_OK(cvl_ws_put(&ws, 1, (const uint8_t *)"k", 1, (const uint8_t *)"x", 1, &e));
	e->pend_rec = 17;
	CK_OK(cvl_ws_put(&ws, 1, (const uint8_t *)"k", 1, (const uint8_t *)"y", 1, &e));
	ck_assert_int_eq(e->pend_rec, -1);
	cvl_ws_free(&ws);
}
END_TEST

START_TEST(test_wset__many_keys_survive_table_growth)
{
	cvl_wset ws;
	char key[32], val[64];

	init(&ws);
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		snprintf(val, sizeof(val), "value-%d-%s", i, i % 2 ? "odd" : "even");
		CK_OK(put_s(&ws, (uint8_t)(i % 3), key, val));
	}
	for (int i = 0; i < 5000; i += 3) {
		snprintf(key, sizeof(key), "key-%d", i);
		CK_OK(del_s(&ws, (uint8_t)(i % 3), key));
	}
	ck_assert_uint_eq(ws.count, 5000);
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		snprintf(val, sizeof(val), "value-%d-%s", i, i % 2 ? "odd" : "even");
		ck_assert_str_eq(get_s(&ws, (uint8_t)(i % 3), key), i % 3 == 0 ? "<tomb>" : val);
		ck_assert_str_eq(get_s(&ws, (uint8_t)((i + 1) % 3), key), "<none>");
	}
	ck_assert_uint_eq(ws.mt_cost, expected_cost(&ws));
	cvl_ws_free(&ws);
}
END_TEST

START_TEST(test_wset__clear_empties_and_stays_usable)
{
	cvl_wset ws;

	init(&ws);
	for (int i = 0; i < 200; i++) {
		char k[16];
		snprintf(k, sizeof(k), "k%d", i);
		CK_OK(put_s(&ws, 1, k, "v"));
	}
	cvl_ws_clear(&ws);
	ck_assert_uint_eq(ws.count, 0);
	ck_assert_uint_eq(ws.mt_cost, 0);
	ck_assert_ptr_null(ws.all);
	ck_assert_str_eq(get_s(&ws, 1, "k5"), "<none>");
	CK_OK(put_s(&ws, 1, "k5", "again"));
	ck_assert_str_eq(get_s(&ws, 1, "k5"), "again");
	ck_assert_uint_eq(ws.count, 1);
	ck_assert_uint_eq(ws.mt_cost, cvl_mt_entry_cost(2, 5));
	cvl_ws_free(&ws);
	/* freeing twice is harmless */
	cvl_ws_free(&ws);
}
END_TEST

START_TEST(test_wset__every_entry_is_listed_once_for_publication)
{
	cvl_wset ws;
	int seen[100];

	memset(seen, 0, sizeof(seen));
	init(&ws);
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 100; i++) {
			char k[16];
			snprintf(k, sizeof(k), "%d", i);
			if (round == 1 && i % 4 == 0)
				CK_OK(del_s(&ws, 7, k));
			else
				CK_OK(put_s(&ws, 7, k, round == 2 ? "last" : "earlier"));
		}
	for (cvl_wentry *e = ws.all; e; e = e->next_all) {
		char k[16];
		ck_assert_uint_lt(e->klen, sizeof(k));
		memcpy(k, e->key, e->klen);
		k[e->klen] = '\0';
		int i = atoi(k);
		ck_assert_int_eq(seen[i], 0);
		seen[i] = 1;
		ck_assert_uint_eq(e->vlen, 4);
		ck_assert_int_eq(memcmp(e->val, "last", 4), 0);
	}
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(seen[i], 1);
	cvl_ws_free(&ws);
}
END_TEST

START_TEST(test_wset__failed_replace_keeps_old_value_and_cost)
{
	cvl_wset ws;
	char big[5000];

	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	init(&ws);
	CK_OK(put_s(&ws, 1, "k", "old"));
	size_t cost = ws.mt_cost;
	cvl_alloc_fail_after(0, 0);
	int rc = put_s(&ws, 1, "k", big);
	cvl_alloc_fail_after(-1, 0);
	ck_assert_int_eq(rc, CONVLOG_ENOMEM);
	ck_assert_str_eq(get_s(&ws, 1, "k"), "old");
	ck_assert_uint_eq(ws.mt_cost, cost);
	ck_assert_uint_eq(ws.count, 1);
	cvl_ws_free(&ws);
}
END_TEST

START_TEST(test_wset__failed_insert_of_a_new_key_changes_nothing)
{
	cvl_wset ws;

	init(&ws);
	CK_OK(put_s(&ws, 1, "a", "1"));
	size_t cost = ws.mt_cost;
	/* the entry allocation fails */
	cvl_alloc_fail_after(0, 0);
	int rc = put_s(&ws, 1, "b", "2");
	cvl_alloc_fail_after(-1, 0);
	ck_assert_int_eq(rc, CONVLOG_ENOMEM);
	ck_assert_str_eq(get_s(&ws, 1, "b"), "<none>");
	ck_assert_uint_eq(ws.count, 1);
	ck_assert_uint_eq(ws.mt_cost, cost);
	cvl_ws_free(&ws);
}
END_TEST

/* A failed allocation for a new key leaves no entry behind (found by this
 * test: the entry used to stay as a tombstone). */
START_TEST(test_wset__failed_value_allocation_for_a_new_key_leaves_no_tombstone)
{
	cvl_wset ws;

	init(&ws);
	CK_OK(put_s(&ws, 1, "a", "1"));
	size_t cost = ws.mt_cost;
	/* the entry allocation succeeds, the value allocation fails */
	cvl_alloc_fail_after(1, 0);
	int rc = put_s(&ws, 1, "b", "2");
	cvl_alloc_fail_after(-1, 0);
	ck_assert_int_eq(rc, CONVLOG_ENOMEM);
	ck_assert_str_eq(get_s(&ws, 1, "b"), "<none>");
	ck_assert_uint_eq(ws.count, 1);
	ck_assert_uint_eq(ws.mt_cost, cost);
	cvl_ws_free(&ws);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wset");
	TCase *tc = tcase_create("wset");

	tcase_add_test(tc, test_wset__put_then_get_returns_the_value);
	tcase_add_test(tc, test_wset__value_is_copied_not_borrowed);
	tcase_add_test(tc, test_wset__tables_and_key_lengths_separate_entries);
	tcase_add_test(tc, test_wset__delete_leaves_a_tombstone);
	tcase_add_test(tc, test_wset__put_after_delete_revives_the_key);
	tcase_add_test(tc, test_wset__replace_keeps_one_entry_with_the_newest_value);
	tcase_add_test(tc, test_wset__many_keys_survive_table_growth);
	tcase_add_test(tc, test_wset__clear_empties_and_stays_usable);
	tcase_add_test(tc, test_wset__every_entry_is_listed_once_for_publication);
	tcase_add_test(tc, test_wset__failed_replace_keeps_old_value_and_cost);
	tcase_add_test(tc, test_wset__failed_insert_of_a_new_key_changes_nothing);
	tcase_add_test(tc, test_wset__failed_value_allocation_for_a_new_key_leaves_no_tombstone);
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
