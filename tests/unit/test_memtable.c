/* lib/meta/memtable.c: the multi-version skiplist overlay. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta/memtable.h"
#include "testutil.h"
#include "util/codec.h"

static cvl_memtable *new_mt(void)
{
	cvl_memtable *mt = NULL;

	CK_OK(cvl_mt_new(&mt));
	ck_assert_ptr_nonnull(mt);
	return mt;
}

/* Inserts after reserving, as the engine does. */
static void put(cvl_memtable *mt, uint8_t table, const char *key, const char *val, uint64_t lsn)
{
	size_t klen = strlen(key), vlen = val ? strlen(val) : CVL_MT_TOMB;

	CK_OK(cvl_mt_reserve(mt, cvl_mt_entry_cost(klen, vlen)));
	cvl_mt_insert(mt, table, (const uint8_t *)key, klen, (const uint8_t *)val, vlen, lsn);
}

/* "value" as a string, "<tomb>" or "<none>". */
static const char *get_s(cvl_memtable *mt, uint8_t table, const char *key, uint64_t snap)
{
	static char out[256];
	const uint8_t *v = NULL;
	size_t vl = 0;
	int r = cvl_mt_get(mt, table, (const uint8_t *)key, strlen(key), snap, &v, &vl);

	if (r == 0)
		return "<none>";
	if (r == 2)
		return "<tomb>";
	ck_assert_int_eq(r, 1);
	ck_assert_uint_lt(vl, sizeof(out));
	memcpy(out, v, vl);
	out[vl] = '\0';
	return out;
}

/* Collects "key=value" pairs of an iteration into one string. */
static void walk(cvl_mt_iter *it, char *out, size_t n)
{
	size_t o = 0;

	out[0] = '\0';
	for (; cvl_mt_iter_valid(it); cvl_mt_iter_next(it)) {
		const uint8_t *k, *v;
		size_t kl, vl;
		cvl_mt_iter_entry(it, &k, &kl, &v, &vl);
		o += (size_t)snprintf(out + o, n - o, "%s%.*s=", o ? " " : "", (int)kl,
				      (const char *)k);
		if (vl == CVL_MT_TOMB) {
			ck_assert_ptr_null(v);
			o += (size_t)snprintf(out + o, n - o, "<tomb>");
		} else {
			o += (size_t)snprintf(out + o, n - o, "%.*s", (int)vl, (const char *)v);
		}
		ck_assert_uint_lt(o, n);
	}
}

static void scan(cvl_memtable *mt, uint8_t table, uint64_t snap, const char *from, char *out,
		 size_t n)
{
	cvl_mt_iter it;

	cvl_mt_iter_init(&it, mt, table, snap);
	cvl_mt_iter_seek(&it, (const uint8_t *)from, from ? strlen(from) : 0);
	walk(&it, out, n);
}

START_TEST(test_memtable__get_returns_what_was_inserted)
{
	cvl_memtable *mt = new_mt();

	ck_assert_str_eq(get_s(mt, 1, "a", UINT64_MAX), "<none>");
	put(mt, 1, "a", "alpha", 1);
	put(mt, 1, "b", "beta", 2);
	put(mt, 1, "", "empty-key", 3);
	put(mt, 1, "c", "", 4);
	ck_assert_str_eq(get_s(mt, 1, "a", UINT64_MAX), "alpha");
	ck_assert_str_eq(get_s(mt, 1, "b", UINT64_MAX), "beta");
	ck_assert_str_eq(get_s(mt, 1, "", UINT64_MAX), "empty-key");
	ck_assert_str_eq(get_s(mt, 1, "c", UINT64_MAX), "");
	/* prefixes and extensions of a key are other keys */
	ck_assert_str_eq(get_s(mt, 1, "ab", UINT64_MAX), "<none>");
	ck_assert_str_eq(get_s(mt, 1, "alpha", UINT64_MAX), "<none>");
	/* the same key in another table is another key */
	ck_assert_str_eq(get_s(mt, 2, "a", UINT64_MAX), "<none>");
	ck_assert_str_eq(get_s(mt, 0, "b", UINT64_MAX), "<none>");
	ck_assert_uint_eq(mt->entries, 4);
	ck_assert_uint_eq(mt->min_lsn, 1);
	ck_assert_uint_eq(mt->max_lsn, 4);
	cvl_mt_unref(mt);
}
END_TEST

START_TEST(test_memtable__binary_keys_and_values_are_kept_exactly)
{
	cvl_memtable *mt = new_mt();
	uint8_t key[40], val[300];
	const uint8_t *v;
	size_t vl;

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 37);
	for (size_t i = 0; i < sizeof(val); i++)
		val[i] = (uint8_t)(255 - i);
	key[3] = 0;
	CK_OK(cvl_mt_reserve(mt, cvl_mt_entry_cost(sizeof(key), sizeof(val))));
	cvl_mt_insert(mt, 9, key, sizeof(key), val, sizeof(val), 5);
	ck_assert_int_eq(cvl_mt_get(mt, 9, key, sizeof(key), 5, &v, &vl), 1);
	ck_assert_uint_eq(vl, sizeof(val));
	ck_assert_int_eq(memcmp(v, val, sizeof(val)), 0);
	ck_assert_int_eq(cvl_mt_get(mt, 9, key, 3, 5, &v, &vl), 0);
	cvl_mt_unref(mt);
}
END_TEST

START_TEST(test_memtable__reader_sees_newest_version_at_or_below_its_snapshot)
{
	cvl_memtable *mt = new_mt();

	/* inserted out of LSN order on purpose */
	put(mt, 3, "k", "v20", 20);
	put(mt, 3, "k", "v10", 10);
	put(mt, 3, "k", NULL, 30);
	put(mt, 3, "k", "v40", 40);
	put(mt, 3, "other", "o25", 25);

	ck_assert_str_eq(get_s(mt, 3, "k", 0), "<none>");
	ck_assert_str_eq(get_s(mt, 3, "k", 9), "<none>");
	for (uint64_t s = 10; s < 20; s++)
		ck_assert_str_eq(get_s(mt, 3, "k", s), "v10");
	for (uint64_t s = 20; s < 30; s++)
		ck_assert_str_eq(get_s(mt, 3, "k", s), "v20");
	for (uint64_t s = 30; s < 40; s++)
		ck_assert_str_eq(get_s(mt, 3, "k", s), "<tomb>");
	ck_assert_str_eq(get_s(mt, 3, "k", 40), "v40");
	ck_assert_str_eq(get_s(mt, 3, "k", UINT64_MAX), "v40");
	ck_assert_str_eq(get_s(mt, 3, "other", 24), "<none>");
	ck_assert_str_eq(get_s(mt, 3, "other", 25), "o25");
	ck_assert_uint_eq(mt->min_lsn, 10);
	ck_assert_uint_eq(mt->max_lsn, 40);
	cvl_mt_unref(mt);
}
END_TEST

START_TEST(test_memtable__tombstone_hides_older_value_in_get_and_iteration)
{
	cvl_memtable *mt = new_mt();
	char out[512];

	put(mt, 1, "a", "1", 1);
	put(mt, 1, "b", "2", 2);
	put(mt, 1, "b", NULL, 3);
	ck_assert_str_eq(get_s(mt, 1, "b", 3), "<tomb>");
	scan(mt, 1, 3, NULL, out, sizeof(out));
	ck_assert_str_eq(out, "a=1 b=<tomb>");
	scan(mt, 1, 2, NULL, out, sizeof(out));
	ck_assert_str_eq(out, "a=1 b=2");
	/* a tombstone for a key never written is still reported */
	put(mt, 1, "z", NULL, 4);
	scan(mt, 1, 4, NULL, out, sizeof(out));
	ck_assert_str_eq(out, "a=1 b=<tomb> z=<tomb>");
	cvl_mt_unref(mt);
}
END_TEST

START_TEST(test_memtable__iteration_is_ordered_by_key_within_one_table)
{
	cvl_memtable *mt = new_mt();
	char out[512];

	/* shorter keys first on a common prefix; bytes compare unsigned */
	put(mt, 2, "b", "5", 1);
	put(mt, 2, "ab", "3", 2);
	put(mt, 2, "a", "1", 3);
	put(mt, 2, "\xff", "6", 4);
	put(mt, 2, "a\x01", "2", 5);
	put(mt, 2, "abc", "4", 6);
	put(mt, 1, "aa", "t1", 7);
	put(mt, 3, "", "t3", 8);
	put(mt, 1, "zz", "t1", 9);
	scan(mt, 2, UINT64_MAX, NULL, out, sizeof(out));
	ck_assert_str_eq(out, "a=1 a\x01=2 ab=3 abc=4 b=5 \xff=6");
	scan(mt, 1, UINT64_MAX, NULL, out, sizeof(out));
	ck_assert_str_eq(out, "aa=t1 zz=t1");
	scan(mt, 3, UINT64_MAX, NULL, out, sizeof(out));
	ck_assert_str_eq(out, "=t3");
	scan(mt, 0, UINT64_MAX, NULL, out, sizeof(out));
	ck_assert_str_eq(out, "");
	scan(mt, 4, UINT64_MAX, NULL, out, sizeof(out));
	ck_assert_str_eq(out, "");
	cvl_mt_unref(mt);
}
END_TEST

START_TEST(test_memtable__iterator_skips_versions_newer_than_its_snapshot)
{
	cvl_memtable *mt = new_mt();
	char out[512];

	put(mt, 1, "a", "a5", 5);
	put(mt, 1, "a", "a15", 15);
	put(mt, 1, "b", "b12", 12); /* b only exists after snap 10 */
	put(mt, 1, "c", "c1", 1);
	put(mt, 1, "c", "c11", 11);
	put(mt, 1, "c", "c13", 13);
	put(mt, 1, "d", "d20", 20);
	put(mt, 2, "a", "next-table", 2);

	scan(mt, 1, 10, NULL, out, sizeof(out));
	ck_assert_str_eq(out, "a=a5 c=c1");
	scan(mt, 1, 12, NULL, out, sizeof(out));
	ck_assert_str_eq(out, "a=a5 b=b12 c=c11");
	scan(mt, 1, 0, NULL, out, sizeof(out));
	ck_assert_str_eq(out, "");
	scan(mt, 1, UINT64_MAX, NULL, out, sizeof(out));
	ck_assert_str_eq(out, "a=a15 b=b12 c=c13 d=d20");
	/* a table whose last keys are invisible does not leak the next table */
	scan(mt, 1, 4, "b", out, sizeof(out));
	ck_assert_str_eq(out, "c=c1");
	cvl_mt_unref(mt);
}
END_TEST

START_TEST(test_memtable__seek_positions_at_first_visible_key_at_or_after)
{
	cvl_memtable *mt = new_mt();
	char out[512];

	put(mt, 1, "b", "B", 1);
	put(mt, 1, "d", "D", 2);
	put(mt, 1, "f", "F", 9);
	put(mt, 1, "h", "H", 3);
	put(mt, 0, "z", "t0", 4);
	put(mt, 2, "a", "t2", 5);

	scan(mt, 1, 5, "b", out, sizeof(out));
	ck_assert_str_eq(out, "b=B d=D h=H");
	scan(mt, 1, 5, "c", out, sizeof(out));
	ck_assert_str_eq(out, "d=D h=H");
	scan(mt, 1, 5, "a", out, sizeof(out));
	ck_assert_str_eq(out, "b=B d=D h=H");
	scan(mt, 1, 5, "", out, sizeof(out));
	ck_assert_str_eq(out, "b=B d=D h=H");
	/* "f" exists only after the snapshot: seek lands on the next key */
	scan(mt, 1, 5, "e", out, sizeof(out));
	ck_assert_str_eq(out, "h=H");
	scan(mt, 1, 9, "e", out, sizeof(out));
	ck_assert_str_eq(out, "f=F h=H");
	/* a longer key sorts after its prefix */
	scan(mt, 1, 5, "d\x01", out, sizeof(out));
	ck_assert_str_eq(out, "h=H");
	/* past the last key of the table */
	scan(mt, 1, 5, "i", out, sizeof(out));
	ck_assert_str_eq(out, "");
	scan(mt, 1, 5, "\xff\xff", out, sizeof(out));
	ck_assert_str_eq(out, "");

	cvl_mt_iter it;
	cvl_mt_iter_init(&it, mt, 7, UINT64_MAX);
	cvl_mt_iter_seek(&it, NULL, 0);
	ck_assert_int_eq(cvl_mt_iter_valid(&it), 0);
	cvl_mt_unref(mt);
}
END_TEST

/* ---- each_latest ---- */

typedef struct collect {
	char s[1024];
	size_t o;
	int stop_after;
	int calls;
} collect;

static int collect_fn(void *ud, uint8_t table, const uint8_t *key, size_t klen,
		      const uint8_t *val, size_t vlen)
{
	collect *c = ud;

	c->calls++;
	c->o += (size_t)snprintf(c->s + c->o, sizeof(c->s) - c->o, "%s%u:%.*s=", c->o ? " " : "",
				 table, (int)klen, (const char *)key);
	if (vlen == CVL_MT_TOMB) {
		ck_assert_ptr_null(val);
		c->o += (size_t)snprintf(c->s + c->o, sizeof(c->s) - c->o, "<tomb>");
	} else {
		c->o += (size_t)snprintf(c->s + c->o, sizeof(c->s) - c->o, "%.*s", (int)vlen,
					 (const char *)val);
	}
	return c->stop_after && c->calls == c->stop_after ? 42 : 0;
}

START_TEST(test_memtable__each_latest_yields_only_newest_versions_of_every_table)
{
	cvl_memtable *mt = new_mt();
	collect c = {.o = 0};

	put(mt, 2, "x", "x1", 1);
	put(mt, 2, "x", "x2", 2);
	put(mt, 0, "m", "m1", 3);
	put(mt, 2, "a", "a1", 4);
	put(mt, 0, "m", NULL, 5);
	put(mt, 5, "k", "k1", 6);
	put(mt, 2, "x", "x3", 7);
	put(mt, 5, "k", "k0", 0 + 1); /* older version inserted later */

	CK_OK(cvl_mt_each_latest(mt, collect_fn, &c));
	ck_assert_str_eq(c.s, "0:m=<tomb> 2:a=a1 2:x=x3 5:k=k1");
	ck_assert_int_eq(c.calls, 4);

	collect stop = {.o = 0, .stop_after = 2};
	ck_assert_int_eq(cvl_mt_each_latest(mt, collect_fn, &stop), 42);
	ck_assert_int_eq(stop.calls, 2);
	cvl_mt_unref(mt);

	mt = new_mt();
	collect none = {.o = 0};
	CK_OK(cvl_mt_each_latest(mt, collect_fn, &none));
	ck_assert_int_eq(none.calls, 0);
	cvl_mt_unref(mt);
}
END_TEST

/* ---- reservation ---- */

START_TEST(test_memtable__reserved_inserts_do_not_allocate)
{
	cvl_memtable *mt = new_mt();
	size_t total = 0;
	uint8_t val[3000];

	memset(val, 'v', sizeof(val));
	for (int i = 0; i < 1000; i++)
		total += cvl_mt_entry_cost(12, (size_t)(i * 7) % sizeof(val));
	total += cvl_mt_entry_cost(12, CVL_MT_TOMB);
	/* more than one default chunk */
	ck_assert_uint_gt(total, 1u << 20);
	CK_OK(cvl_mt_reserve(mt, total));
	cvl_mt_chunk *chunk = mt->chunks;
	size_t before = mt->bytes;
	for (int i = 0; i < 1000; i++) {
		uint8_t key[12];
		memset(key, 'k', sizeof(key));
		cvl_put_u32be(key, (uint32_t)i);
		cvl_mt_insert(mt, 1, key, sizeof(key), val, (size_t)(i * 7) % sizeof(val),
			      (uint64_t)i + 1);
	}
	cvl_mt_insert(mt, 1, (const uint8_t *)"tombstone-kk", 12, NULL, CVL_MT_TOMB, 1100);
	ck_assert_ptr_eq(mt->chunks, chunk);
	ck_assert_uint_le(mt->bytes - before, total);
	ck_assert_uint_eq(mt->entries, 1001);

	/* a value larger than a default chunk still fits after a reserve */
	size_t big = (3u << 20) + 5;
	uint8_t *bv = malloc(big);
	memset(bv, 0x42, big);
	CK_OK(cvl_mt_reserve(mt, cvl_mt_entry_cost(3, big)));
	cvl_mt_insert(mt, 1, (const uint8_t *)"big", 3, bv, big, 1200);
	const uint8_t *v;
	size_t vl;
	ck_assert_int_eq(cvl_mt_get(mt, 1, (const uint8_t *)"big", 3, 1200, &v, &vl), 1);
	ck_assert_uint_eq(vl, big);
	ck_assert_int_eq(memcmp(v, bv, big), 0);
	free(bv);
	cvl_mt_unref(mt);
}
END_TEST

START_TEST(test_memtable__reference_counting_keeps_it_alive)
{
	cvl_memtable *mt = new_mt();

	put(mt, 1, "a", "1", 1);
	cvl_mt_ref(mt);
	cvl_mt_unref(mt);
	/* still referenced once: readable */
	ck_assert_str_eq(get_s(mt, 1, "a", 1), "1");
	ck_assert_int_eq(atomic_load(&mt->refs), 1);
	cvl_mt_unref(mt);
	cvl_mt_unref(NULL);
}
END_TEST

/* ---- randomized model check ---- */

#define RK 300
typedef struct model_ver {
	uint8_t table;
	uint16_t key;
	uint64_t lsn;
	int tomb;
	uint32_t val;
} model_ver;

static void key_bytes(uint16_t k, uint8_t out[3], size_t *len)
{
	/* distinct keys of 1..3 bytes where [q] is a prefix of [q,1], so
	 * prefix ordering is exercised */
	out[0] = (uint8_t)(k / 3);
	out[1] = 1;
	out[2] = 2;
	*len = (size_t)1 + k % 3;
}

static int model_cmp_key(const void *a, const void *b)
{
	const model_ver *x = a, *y = b;
	uint8_t kx[3], ky[3];
	size_t lx, ly;

	if (x->table != y->table)
		return x->table < y->table ? -1 : 1;
	key_bytes(x->key, kx, &lx);
	key_bytes(y->key, ky, &ly);
	int c = memcmp(kx, ky, lx < ly ? lx : ly);
	if (c)
		return c;
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return x->lsn > y->lsn ? -1 : x->lsn < y->lsn; /* newest first */
}

START_TEST(test_memtable__random_history_matches_a_model_at_every_snapshot)
{
	enum { N = 3000 };
	model_ver *vers = calloc(N, sizeof(*vers)), *sorted = calloc(N, sizeof(*vers));
	cvl_memtable *mt = new_mt();
	uint64_t seed = 8080;

	for (int i = 0; i < N; i++) {
		model_ver *m = &vers[i];
		uint8_t kb[3], vb[4];
		size_t kl;
		m->table = (uint8_t)(tu_rand(&seed) % 3);
		m->key = (uint16_t)(tu_rand(&seed) % RK);
		m->lsn = (uint64_t)i + 1; /* unique per (key), any insertion order */
		m->tomb = tu_rand(&seed) % 5 == 0;
		m->val = (uint32_t)tu_rand(&seed);
		key_bytes(m->key, kb, &kl);
		cvl_put_u32le(vb, m->val);
		CK_OK(cvl_mt_reserve(mt, cvl_mt_entry_cost(kl, m->tomb ? CVL_MT_TOMB : 4)));
		cvl_mt_insert(mt, m->table, kb, kl, m->tomb ? NULL : vb, m->tomb ? CVL_MT_TOMB : 4,
			      m->lsn);
	}
	memcpy(sorted, vers, N * sizeof(*vers));
	qsort(sorted, N, sizeof(*sorted), model_cmp_key);

	static const uint64_t snaps[] = {0, 1, 7, 100, 1000, 1500, 2999, 3000, UINT64_MAX};
	for (size_t si = 0; si < sizeof(snaps) / sizeof(snaps[0]); si++) {
		uint64_t snap = snaps[si];
		for (uint8_t table = 0; table < 4; table++) {
			cvl_mt_iter it;
			cvl_mt_iter_init(&it, mt, table, snap);
			cvl_mt_iter_seek(&it, NULL, 0);
			for (int i = 0; i < N; i++) {
				const model_ver *m = &sorted[i];
				if (m->table != table || m->lsn > snap)
					continue;
				/* first visible version of its key in newest-first order */
				int newer_visible = 0;
				for (int j = i - 1; j >= 0 && sorted[j].table == m->table &&
						    sorted[j].key == m->key;
				     j--)
					if (sorted[j].lsn <= snap)
						newer_visible = 1;
				if (newer_visible)
					continue;
				uint8_t kb[3];
				size_t kl, gkl, gvl;
				const uint8_t *gk, *gv;
				key_bytes(m->key, kb, &kl);
				ck_assert_msg(cvl_mt_iter_valid(&it), "snap %llu table %u ended early",
					      (unsigned long long)snap, table);
				cvl_mt_iter_entry(&it, &gk, &gkl, &gv, &gvl);
				ck_assert_uint_eq(gkl, kl);
				ck_assert_int_eq(memcmp(gk, kb, kl), 0);
				if (m->tomb) {
					ck_assert_uint_eq(gvl, CVL_MT_TOMB);
				} else {
					ck_assert_uint_eq(gvl, 4);
					ck_assert_uint_eq(cvl_get_u32le(gv), m->val);
				}
				/* point reads agree with the iterator */
				const uint8_t *pv;
				size_t pvl;
				int r = cvl_mt_get(mt, table, kb, kl, snap, &pv, &pvl);
				ck_assert_int_eq(r, m->tomb ? 2 : 1);
				cvl_mt_iter_next(&it);
			}
			ck_assert_msg(!cvl_mt_iter_valid(&it), "snap %llu table %u has extra keys",
				      (unsigned long long)snap, table);
		}
	}
	cvl_mt_unref(mt);
	free(vers);
	free(sorted);
}
END_TEST

/* ---- concurrency ---- */

#define CK_KEYS 5000u
#define CK_VERSIONS 200000u

typedef struct conc {
	cvl_memtable *mt;
	_Atomic uint64_t published; /* newest LSN fully inserted */
	_Atomic int done;
	_Atomic int failures;
	_Atomic uint64_t scans;
	char why[256];
} conc;

static uint32_t scramble(uint32_t k)
{
	return (k * 2654435761u) ^ (k >> 7);
}

/* Key of slot k: a scrambled prefix (so keys are inserted all over the
 * list) then k itself. */
static void ckey(uint32_t k, uint8_t out[8])
{
	cvl_put_u32be(out, scramble(k));
	cvl_put_u32be(out + 4, k);
}

static int is_tomb_version(uint64_t lsn)
{
	return (lsn / CK_KEYS) % 7 == 3;
}

static size_t val_len(uint64_t lsn)
{
	return 8 + (size_t)(lsn % 13);
}

static void cval(uint64_t lsn, uint8_t *out)
{
	cvl_put_u64le(out, lsn);
	memset(out + 8, (int)(lsn & 0x7f), val_len(lsn) - 8);
}

/* Newest LSN <= snap written to slot k (LSN L writes slot L % K), or 0. */
static uint64_t expected_lsn(uint32_t k, uint64_t snap)
{
	uint64_t first = k == 0 ? CK_KEYS : k;

	if (snap < first)
		return 0;
	return snap - ((snap - k) % CK_KEYS);
}

static void *writer(void *arg)
{
	conc *c = arg;
	uint8_t val[32], key[8];

	for (uint64_t lsn = 1; lsn <= CK_VERSIONS; lsn++) {
		uint32_t k = (uint32_t)(lsn % CK_KEYS);
		int tomb = is_tomb_version(lsn);
		size_t vl = tomb ? CVL_MT_TOMB : val_len(lsn);
		size_t cost = cvl_mt_entry_cost(8, vl);
		if (lsn % 100 == 0)
			cost += 2 * cvl_mt_entry_cost(8, 8);
		if (cvl_mt_reserve(c->mt, cost) != 0) {
			atomic_fetch_add(&c->failures, 1);
			break;
		}
		ckey(k, key);
		cval(lsn, val);
		cvl_mt_insert(c->mt, 1, key, 8, tomb ? NULL : val, vl, lsn);
		if (lsn % 100 == 0) {
			/* neighbours in other tables at the same LSN */
			cvl_mt_insert(c->mt, 0, key, 8, val, 8, lsn);
			cvl_mt_insert(c->mt, 2, key, 8, val, 8, lsn);
		}
		atomic_store_explicit(&c->published, lsn, memory_order_release);
	}
	atomic_store(&c->done, 1);
	return NULL;
}

static void conc_fail(conc *c, const char *why)
{
	if (atomic_fetch_add(&c->failures, 1) == 0)
		snprintf(c->why, sizeof(c->why), "%s", why);
}

/* One full scan of table 1 at snapshot `snap`, checked exactly. */
static void check_scan(conc *c, uint64_t snap)
{
	cvl_mt_iter it;
	uint8_t prev[8];
	uint64_t count = 0;
	int have_prev = 0;

	cvl_mt_iter_init(&it, c->mt, 1, snap);
	cvl_mt_iter_seek(&it, NULL, 0);
	for (; cvl_mt_iter_valid(&it); cvl_mt_iter_next(&it)) {
		const uint8_t *k, *v;
		size_t kl, vl;
		uint8_t want_key[8];
		cvl_mt_iter_entry(&it, &k, &kl, &v, &vl);
		if (kl != 8) {
			conc_fail(c, "key of the wrong length (another table leaked?)");
			return;
		}
		if (have_prev && memcmp(prev, k, 8) >= 0) {
			conc_fail(c, "keys out of order or repeated");
			return;
		}
		memcpy(prev, k, 8);
		have_prev = 1;
		uint32_t slot = cvl_get_u32be(k + 4);
		ckey(slot, want_key);
		if (slot >= CK_KEYS || memcmp(want_key, k, 8) != 0) {
			conc_fail(c, "torn or unknown key");
			return;
		}
		uint64_t want = expected_lsn(slot, snap);
		if (want == 0) {
			conc_fail(c, "key visible before its first version");
			return;
		}
		if (is_tomb_version(want)) {
			if (vl != CVL_MT_TOMB || v != NULL) {
				conc_fail(c, "expected a tombstone");
				return;
			}
		} else {
			uint8_t wv[32];
			cval(want, wv);
			if (vl != val_len(want) || memcmp(v, wv, vl) != 0) {
				conc_fail(c, "value is not the newest version within the snapshot");
				return;
			}
		}
		count++;
	}
	if (count != (snap < CK_KEYS ? snap : CK_KEYS))
		conc_fail(c, "scan missed or invented keys");
}

static void check_gets(conc *c, uint64_t snap, uint64_t *seed)
{
	for (int i = 0; i < 50; i++) {
		uint32_t slot = (uint32_t)(tu_rand(seed) % CK_KEYS);
		uint8_t key[8];
		const uint8_t *v;
		size_t vl;
		ckey(slot, key);
		int r = cvl_mt_get(c->mt, 1, key, 8, snap, &v, &vl);
		uint64_t want = expected_lsn(slot, snap);
		int want_r = want == 0 ? 0 : is_tomb_version(want) ? 2 : 1;
		if (r != want_r) {
			conc_fail(c, "point read saw the wrong kind of version");
			return;
		}
		if (r == 1 && (vl != val_len(want) || cvl_get_u64le(v) != want)) {
			conc_fail(c, "point read saw the wrong version");
			return;
		}
	}
}

static void *reader(void *arg)
{
	conc *c = arg;
	uint64_t seed = (uint64_t)(uintptr_t)&seed | 1;

	cvl_mt_ref(c->mt);
	for (;;) {
		int was_done = atomic_load(&c->done);
		uint64_t snap = atomic_load_explicit(&c->published, memory_order_acquire);
		check_scan(c, snap);
		check_gets(c, snap, &seed);
		atomic_fetch_add(&c->scans, 1);
		if (was_done || atomic_load(&c->failures))
			break;
	}
	cvl_mt_unref(c->mt);
	return NULL;
}

START_TEST(test_memtable__concurrent_readers_see_consistent_snapshots_during_inserts)
{
	conc c;
	pthread_t w, r[2];

	memset(&c, 0, sizeof(c));
	c.mt = new_mt();
	atomic_init(&c.published, 0);
	atomic_init(&c.done, 0);
	atomic_init(&c.failures, 0);
	atomic_init(&c.scans, 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&r[i], NULL, reader, &c), 0);
	ck_assert_int_eq(pthread_create(&w, NULL, writer, &c), 0);
	pthread_join(w, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(r[i], NULL);
	ck_assert_msg(atomic_load(&c.failures) == 0, "reader saw: %s", c.why);
	ck_assert_uint_eq(atomic_load(&c.published), CK_VERSIONS);
	/* each reader finished with at least one scan of the final state */
	ck_assert_uint_ge(atomic_load(&c.scans), 2);
	ck_assert_uint_eq(c.mt->entries, CK_VERSIONS + 2 * (CK_VERSIONS / 100));
	ck_assert_uint_eq(c.mt->max_lsn, CK_VERSIONS);
	/* and the final state checks out from this thread too */
	check_scan(&c, CK_VERSIONS);
	ck_assert_msg(atomic_load(&c.failures) == 0, "final scan: %s", c.why);
	cvl_mt_unref(c.mt);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("memtable");
	TCase *tc = tcase_create("memtable");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_memtable__get_returns_what_was_inserted);
	tcase_add_test(tc, test_memtable__binary_keys_and_values_are_kept_exactly);
	tcase_add_test(tc, test_memtable__reader_sees_newest_version_at_or_below_its_snapshot);
	tcase_add_test(tc, test_memtable__tombstone_hides_older_value_in_get_and_iteration);
	tcase_add_test(tc, test_memtable__iteration_is_ordered_by_key_within_one_table);
	tcase_add_test(tc, test_memtable__iterator_skips_versions_newer_than_its_snapshot);
	tcase_add_test(tc, test_memtable__seek_positions_at_first_visible_key_at_or_after);
	tcase_add_test(tc, test_memtable__each_latest_yields_only_newest_versions_of_every_table);
	tcase_add_test(tc, test_memtable__reserved_inserts_do_not_allocate);
	tcase_add_test(tc, test_memtable__reference_counting_keeps_it_alive);
	tcase_add_test(tc, test_memtable__random_history_matches_a_model_at_every_snapshot);
	tcase_add_test(tc, test_memtable__concurrent_readers_see_consistent_snapshots_during_inserts);
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
