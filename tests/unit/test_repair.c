/*
 * convlog_repair: derived LMDB state damaged behind the library's back
 * (entries deleted, stale entries added, summaries, counters and segment
 * accounting overwritten) is found by convlog_verify and rebuilt by
 * convlog_repair, after which verify is clean and every conversation,
 * message, listing and search reads exactly as before the damage.  What
 * has no primary data to come from is reported, not invented.
 */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static char path[256];

static void setup(void)
{
	tu_tmppath(path, sizeof(path), "repair");
}

static void teardown(void)
{
	tu_rmrf(path);
}

/* ---- a store with a bit of everything ---- */

#define NCONV 12

static convlog_uuid ids[NCONV + 1];

static void build(uint64_t seed)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_OFF);
	convlog_db *db = tu_open(path, o);
	uint64_t r = seed;
	char text[160], user[16], ext[32];

	for (int i = 0; i < NCONV; i++) {
		convlog_conv c;
		convlog_conv_init(&c);
		snprintf(user, sizeof(user), "user-%d", i % 3);
		snprintf(text, sizeof(text), "conversation %d about topic%d", i, i % 4);
		snprintf(ext, sizeof(ext), "ext-%d", i);
		const char *tags[] = {"red", i % 2 ? "odd" : "even"};
		c.user_id = user;
		c.org_id = i % 2 ? "org-a" : "org-b";
		c.session_id = "s1";
		c.title = text;
		c.external_id = ext;
		c.tags = tags;
		c.n_tags = 2;
		CK_OK(convlog_conv_create(db, NULL, &c, &ids[i]));
		int n = 2 + (int)(tu_rand(&r) % 9);
		for (int j = 0; j < n; j++) {
			convlog_msg m;
			convlog_msg_init(&m);
			snprintf(text, sizeof(text), "turn %d of %d: zebra%d quokka words %llu", j, i,
				 j % 3, (unsigned long long)(tu_rand(&r) % 1000));
			m.conv_id = ids[i];
			m.role = j % 2 ? "assistant" : "user";
			m.content = text;
			m.content_len = strlen(text);
			m.token_count = (int64_t)(tu_rand(&r) % 500);
			m.cost = j % 2 ? 17 : -1;
			CK_OK(convlog_msg_append(db, NULL, &m, NULL));
		}
		if (i % 3 == 0) {
			convlog_msg m;
			convlog_msg_init(&m);
			m.content = "an edited turn about zebra0";
			m.content_len = strlen(m.content);
			CK_OK(convlog_msg_supersede(db, NULL, &ids[i], 1, &m, CONVLOG_MSG_CONTENT));
		}
	}
	CK_OK(convlog_conv_fork(db, NULL, &ids[1], 1, NULL, 0, &ids[NCONV]));
	tu_msg(db, &ids[NCONV], "user", "a turn of the fork about zebra1");
	CK_OK(convlog_conv_delete(db, NULL, &ids[2]));
	convlog_close(db);
	convlog_options_free(o);
}

/* Everything a reader can see, as one string. */
static char *state(convlog_db *db)
{
	convlog_conv_filter f;
	convlog_conv_iter *it;
	const convlog_conv *c;
	char *buf = NULL, s[CONVLOG_UUID_STRLEN];
	size_t len = 0;
	FILE *mf = open_memstream(&buf, &len);
	int rc;

	convlog_conv_filter_init(&f);
	f.include_deleted = 1;
	f.order = CONVLOG_ORDER_CREATED_DESC;
	CK_OK(convlog_conv_list(db, &f, &it));
	while ((rc = convlog_conv_iter_next(it, &c)) == 0) {
		convlog_msg_iter *mi;
		const convlog_msg *m;
		convlog_uuid_format(&c->id, s);
		fprintf(mf, "conv %s %s u=%s ext=%s st=%d n=%llu tok=%lld cost=%lld last=%lld act=%lld tip=%u\n",
			s, c->title, c->user_id, c->external_id ? c->external_id : "", c->status,
			(unsigned long long)c->message_count, (long long)c->token_total,
			(long long)c->cost_total, (long long)c->last_message_at,
			(long long)c->last_activity_at, c->tip_seq);
		CK_OK(convlog_msg_range(db, &c->id, CONVLOG_RANGE_ALL, 0, 0, &mi));
		while ((rc = convlog_msg_iter_next(mi, &m)) == 0)
			fprintf(mf, "  %u<-%u %s %.*s t=%lld\n", m->seq, m->parent_seq, m->role,
				(int)m->content_len, m->content, (long long)m->token_count);
		ck_assert_int_eq(rc, CONVLOG_DONE);
		convlog_msg_iter_free(mi);
	}
	ck_assert_int_eq(rc, CONVLOG_DONE);
	convlog_conv_iter_free(it);
	/* the indexes behind listings and search */
	const char *users[] = {"user-0", "user-1", "user-2"};
	for (int u = 0; u < 3; u++) {
		uint64_t n = 0;
		convlog_conv_filter_init(&f);
		f.user_id = users[u];
		f.include_deleted = 1;
		CK_OK(convlog_conv_list(db, &f, &it));
		while (convlog_conv_iter_next(it, &c) == 0)
			n++;
		convlog_conv_iter_free(it);
		fprintf(mf, "user %s: %llu\n", users[u], (unsigned long long)n);
	}
	convlog_conv_filter_init(&f);
	f.tag = "odd";
	CK_OK(convlog_conv_list(db, &f, &it));
	while (convlog_conv_iter_next(it, &c) == 0)
		{ convlog_uuid_format(&c->id, s); fprintf(mf, "odd %s\n", s); }
	convlog_conv_iter_free(it);
	const char *qs[] = {"zebra0", "quokka", "\"edited turn\"", "zebra1"};
	for (int q = 0; q < 4; q++) {
		convlog_search_query sq;
		convlog_search_result *res = NULL;
		convlog_search_query_init(&sq);
		sq.query = qs[q];
		sq.limit = 1000;
		sq.order = CONVLOG_SEARCH_NEWEST;
		CK_OK(convlog_search(db, &sq, &res));
		fprintf(mf, "search %s: %zu\n", qs[q], res->n_hits);
		convlog_search_result_free(res);
	}
	convlog_conv *byext = NULL;
	CK_OK(convlog_conv_get_by_external(db, "ext-5", &byext));
	convlog_uuid_format(&byext->id, s);
	fprintf(mf, "ext-5 %s\n", s);
	convlog_conv_free(byext);
	fclose(mf);
	return buf;
}

/* ---- damage through LMDB directly (the store closed) ---- */

typedef struct lm {
	MDB_env *env;
	MDB_txn *txn;
} lm;

static void lm_open(lm *l)
{
	char meta[300];

	snprintf(meta, sizeof(meta), "%s/meta", path);
	ck_assert_int_eq(mdb_env_create(&l->env), 0);
	mdb_env_set_maxdbs(l->env, 32);
	mdb_env_set_mapsize(l->env, 64u << 20);
	ck_assert_int_eq(mdb_env_open(l->env, meta, 0, 0644), 0);
	ck_assert_int_eq(mdb_txn_begin(l->env, NULL, 0, &l->txn), 0);
}

static void lm_close(lm *l)
{
	ck_assert_int_eq(mdb_txn_commit(l->txn), 0);
	mdb_env_close(l->env);
}

static MDB_dbi dbi(lm *l, const char *name)
{
	MDB_dbi d;

	ck_assert_msg(mdb_dbi_open(l->txn, name, 0, &d) == 0, "no table %s", name);
	return d;
}

/* Deletes the `nth` entry of `table` (modulo its size); returns 1 if one
 * was deleted. */
static int del_nth(lm *l, const char *table, uint64_t nth)
{
	MDB_dbi d = dbi(l, table);
	MDB_stat st;
	MDB_cursor *c;
	MDB_val k, v;

	mdb_stat(l->txn, d, &st);
	if (!st.ms_entries)
		return 0;
	nth %= st.ms_entries;
	ck_assert_int_eq(mdb_cursor_open(l->txn, d, &c), 0);
	ck_assert_int_eq(mdb_cursor_get(c, &k, &v, MDB_FIRST), 0);
	for (uint64_t i = 0; i < nth; i++)
		ck_assert_int_eq(mdb_cursor_get(c, &k, &v, MDB_NEXT), 0);
	ck_assert_int_eq(mdb_cursor_del(c, 0), 0);
	mdb_cursor_close(c);
	return 1;
}

/* The nth entry's key and value, copied. */
static void get_nth(lm *l, MDB_dbi d, uint64_t nth, uint8_t *k, size_t *kl, uint8_t *v, size_t *vl)
{
	MDB_cursor *c;
	MDB_val mk, mv;

	ck_assert_int_eq(mdb_cursor_open(l->txn, d, &c), 0);
	ck_assert_int_eq(mdb_cursor_get(c, &mk, &mv, MDB_FIRST), 0);
	for (uint64_t i = 0; i < nth; i++)
		ck_assert_int_eq(mdb_cursor_get(c, &mk, &mv, MDB_NEXT), 0);
	memcpy(k, mk.mv_data, mk.mv_size);
	*kl = mk.mv_size;
	memcpy(v, mv.mv_data, mv.mv_size);
	*vl = mv.mv_size;
	mdb_cursor_close(c);
}

enum { D_MSGID, D_CHILD, D_IXUSER, D_IXACT, D_IXTAG, D_EXT, D_STALE_IX, D_SUMMARY, D_COUNTERS,
       D_SEGSTAT, D_AGG, D_NKINDS };

static const char *const dnames[] = {"msg_id", "msg_children", "ix_user", "ix_activity",
				     "ix_tag", "conv_external", "stale", "summary", "counters",
				     "seg_stats", "aggregates"};

static size_t get_varint(const uint8_t *p, size_t n, uint64_t *v)
{
	size_t i = 0;

	*v = 0;
	for (int s = 0; i < n; s += 7) {
		*v |= (uint64_t)(p[i] & 0x7f) << s;
		if (!(p[i++] & 0x80))
			return i;
	}
	ck_abort_msg("truncated varint");
	return 0;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t i = 0;

	for (; v >= 0x80; v >>= 7)
		p[i++] = (uint8_t)(v | 0x80);
	p[i++] = (uint8_t)v;
	return i;
}

/* Rewrites a conv_stats value (TLV, format-spec §6.1/§6.3) with wrong
 * aggregates: token_total (28) 12345, last_message_at (30) 1 ms. */
static size_t wrong_aggregates(const uint8_t *v, size_t vl, uint8_t *out)
{
	size_t i = 0, o = 0;
	int seen = 0;

	while (i < vl) {
		uint64_t key, x;
		size_t start = i;
		i += get_varint(v + i, vl - i, &key);
		if ((key & 7) == 2) {
			i += get_varint(v + i, vl - i, &x);
			i += x;
			memcpy(out + o, v + start, i - start);
			o += i - start;
			continue;
		}
		i += get_varint(v + i, vl - i, &x);
		if (key >> 3 == 28 || key >> 3 == 30) {
			o += put_varint(out + o, key);
			o += put_varint(out + o, key >> 3 == 28 ? 12345 * 2 : 2); /* zigzag */
			seen++;
		} else {
			memcpy(out + o, v + start, i - start);
			o += i - start;
		}
	}
	ck_assert_int_eq(seen, 2);
	return o;
}

static void damage(lm *l, int kind, uint64_t *r)
{
	uint8_t k[512], v[4096], k2[512], v2[4096];
	size_t kl, vl, kl2, vl2;
	MDB_val mk, mv;
	MDB_stat st;
	MDB_dbi d;

	switch (kind) {
	case D_MSGID: case D_CHILD: case D_IXUSER: case D_IXACT: case D_IXTAG: case D_EXT:
		ck_assert(del_nth(l, dnames[kind], tu_rand(r)));
		break;
	case D_STALE_IX:
		/* an activity entry with a wrong time for a real conversation */
		d = dbi(l, "ix_activity");
		get_nth(l, d, 0, k, &kl, v, &vl);
		memset(k, 0x11, 8);
		mk = (MDB_val){kl, k};
		mv = (MDB_val){0, v};
		ck_assert_int_eq(mdb_put(l->txn, d, &mk, &mv, 0), 0);
		break;
	case D_SUMMARY:
		/* message A's locator with message B's summary */
		d = dbi(l, "msg");
		mdb_stat(l->txn, d, &st);
		uint64_t a = tu_rand(r) % st.ms_entries, b = (a + 1) % st.ms_entries;
		get_nth(l, d, a, k, &kl, v, &vl);
		get_nth(l, d, b, k2, &kl2, v2, &vl2);
		memcpy(v2, v, 14);
		mk = (MDB_val){kl, k};
		mv = (MDB_val){vl2, v2};
		ck_assert_int_eq(mdb_put(l->txn, d, &mk, &mv, 0), 0);
		break;
	case D_COUNTERS: {
		/* 1 conversation, 0 deleted, 1 message, 1 byte */
		static uint8_t cv[] = {0x08, 0x02, 0x10, 0x00, 0x18, 0x02, 0x20, 0x02};
		mk = (MDB_val){8, "counters"};
		mv = (MDB_val){sizeof(cv), cv};
		ck_assert_int_eq(mdb_put(l->txn, dbi(l, "meta"), &mk, &mv, 0), 0);
		break;
	}
	case D_AGG:
		/* a conversation with messages gets wrong aggregates */
		d = dbi(l, "conv_stats");
		memcpy(k, ids[tu_rand(r) % NCONV].bytes, 16);
		mk = (MDB_val){16, k};
		ck_assert_int_eq(mdb_get(l->txn, d, &mk, &mv), 0);
		vl = wrong_aggregates(mv.mv_data, mv.mv_size, v);
		mv = (MDB_val){vl, v};
		ck_assert_int_eq(mdb_put(l->txn, d, &mk, &mv, 0), 0);
		break;
	case D_SEGSTAT:
		d = dbi(l, "seg_stats");
		mdb_stat(l->txn, d, &st);
		ck_assert_uint_gt(st.ms_entries, 0);
		get_nth(l, d, tu_rand(r) % st.ms_entries, k, &kl, v, &vl);
		v[0] ^= 0x5a;
		v[8] ^= 0x01;
		mk = (MDB_val){kl, k};
		mv = (MDB_val){vl, v};
		ck_assert_int_eq(mdb_put(l->txn, d, &mk, &mv, 0), 0);
		break;
	}
}

static void count_problem(void *ud, const char *where, const char *what)
{
	(void)where;
	(void)what;
	(*(int *)ud)++;
}

static uint64_t verify_count(convlog_db *db)
{
	uint64_t n = 0;

	CK_OK(convlog_verify(db, NULL, NULL, &n));
	return n;
}

START_TEST(repair__every_kind_of_derived_damage_is_rebuilt)
{
	convlog_db *db;
	char *before, *after;
	uint64_t unfixable = 99, r = 42;

	build(7);
	db = tu_open(path, NULL);
	tu_verify_clean(db);
	before = state(db);
	convlog_close(db);

	for (int kind = 0; kind < D_NKINDS; kind++) {
		lm l;
		lm_open(&l);
		damage(&l, kind, &r);
		lm_close(&l);
		db = tu_open(path, NULL);
		ck_assert_msg(verify_count(db) > 0, "verify misses damage '%s'", dnames[kind]);
		int reported = 0;
		CK_OK(convlog_repair(db, count_problem, &reported, &unfixable));
		ck_assert_uint_eq(unfixable, 0);
		ck_assert_int_eq(reported, 0);
		ck_assert_msg(verify_count(db) == 0, "repair left problems after '%s'", dnames[kind]);
		after = state(db);
		ck_assert_msg(!strcmp(before, after), "state differs after repairing '%s':\n%s\n---\n%s",
			      dnames[kind], before, after);
		free(after);
		convlog_close(db);
	}
	/* and it stays repaired across a reopen */
	db = tu_open(path, NULL);
	tu_verify_clean(db);
	after = state(db);
	ck_assert_str_eq(before, after);
	free(after);
	convlog_close(db);
	free(before);
}
END_TEST

START_TEST(repair__random_combinations_of_damage)
{
	for (uint64_t seed = 1; seed <= 4; seed++) {
		uint64_t r = seed * 7919, unfixable = 1;
		convlog_db *db;
		char *before, *after;

		tu_rmrf(path);
		build(seed);
		db = tu_open(path, NULL);
		before = state(db);
		convlog_close(db);
		lm l;
		lm_open(&l);
		int n = 2 + (int)(tu_rand(&r) % 6);
		for (int i = 0; i < n; i++)
			damage(&l, (int)(tu_rand(&r) % D_NKINDS), &r);
		lm_close(&l);
		db = tu_open(path, NULL);
		ck_assert_uint_gt(verify_count(db), 0);
		CK_OK(convlog_repair(db, NULL, NULL, &unfixable));
		ck_assert_uint_eq(unfixable, 0);
		tu_verify_clean(db);
		after = state(db);
		ck_assert_msg(!strcmp(before, after), "seed %llu: state differs", (unsigned long long)seed);
		free(before);
		free(after);
		convlog_close(db);
	}
}
END_TEST

START_TEST(repair__a_healthy_store_is_left_as_it_was_and_writes_go_on)
{
	convlog_db *db;
	char *before, *after;
	uint64_t unfixable = 1;

	build(3);
	db = tu_open(path, NULL);
	before = state(db);
	/* unflushed writes are part of what is repaired */
	tu_msg(db, &ids[0], "user", "written just before the repair zebra0");
	CK_OK(convlog_repair(db, NULL, NULL, &unfixable));
	ck_assert_uint_eq(unfixable, 0);
	tu_verify_clean(db);
	uint32_t seq = tu_msg(db, &ids[0], "assistant", "and after it");
	convlog_msg *m = NULL;
	CK_OK(convlog_msg_get(db, &ids[0], seq, &m));
	ck_assert_str_eq(m->role, "assistant");
	convlog_msg_free(m);
	tu_verify_clean(db);
	after = state(db);
	ck_assert_str_ne(before, after); /* the two new turns */
	free(before);
	free(after);
	convlog_close(db);
}
END_TEST

START_TEST(repair__what_has_no_primary_data_is_reported_not_invented)
{
	convlog_db *db;
	lm l;
	int reported = 0;
	uint64_t unfixable = 0;
	uint8_t id[16];
	MDB_val k = {16, id};

	build(5);
	/* conversation 4 loses its HOT/AGG record (status, tip: primary) */
	memcpy(id, ids[4].bytes, 16);
	lm_open(&l);
	ck_assert_int_eq(mdb_del(l.txn, dbi(&l, "conv_stats"), &k, NULL), 0);
	damage(&l, D_MSGID, &(uint64_t){3});
	lm_close(&l);
	db = tu_open(path, NULL);
	CK_OK(convlog_repair(db, count_problem, &reported, &unfixable));
	ck_assert_uint_ge(unfixable, 2); /* the conversation, its orphaned messages */
	ck_assert_int_eq((int)unfixable, reported);
	/* the rest was repaired: only conversation 4's problems remain */
	convlog_conv *c = NULL;
	CK_ERR(convlog_conv_get(db, &ids[4], &c), CONVLOG_ECORRUPT);
	CK_OK(convlog_conv_get(db, &ids[5], &c));
	convlog_conv_free(c);
	ck_assert_uint_gt(verify_count(db), 0);
	convlog_close(db);
}
END_TEST

START_TEST(repair__needs_a_writable_handle)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_OFF);
	convlog_db *db;

	build(1);
	CK_OK(convlog_options_set_open_flags(o, CONVLOG_OPEN_READONLY));
	db = tu_open(path, o);
	CK_ERR(convlog_repair(db, NULL, NULL, NULL), CONVLOG_EREADONLY);
	convlog_close(db);
	convlog_options_free(o);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("repair");
	TCase *tc = tcase_create("repair");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, repair__every_kind_of_derived_damage_is_rebuilt);
	tcase_add_test(tc, repair__random_combinations_of_damage);
	tcase_add_test(tc, repair__a_healthy_store_is_left_as_it_was_and_writes_go_on);
	tcase_add_test(tc, repair__what_has_no_primary_data_is_reported_not_invented);
	tcase_add_test(tc, repair__needs_a_writable_handle);
	suite_add_tcase(s, tc);
	return tu_run(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
