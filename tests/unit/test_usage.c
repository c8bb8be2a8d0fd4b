/* Session summaries and usage analytics (convlog_session_get_summary,
 * convlog_usage_get). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "util/alloc.h"

#define DAY INT64_C(86400000)
#define T0 INT64_C(1749168000000) /* 2025-06-06T00:00:00Z */
#define T1 (T0 + DAY)             /* 2025-06-07 */
#define T2 (T0 + 2 * DAY)         /* 2025-06-08 */

static char path[256];
static convlog_db *db;

/* The fixture's conversations: A alice/acme/s1, B bob/acme/s1, C
 * alice/globex, D bob/globex/s1 (deleted), N no user or org, F a fork of A
 * at seq 2. */
static convlog_uuid cA, cB, cC, cD, cN, cF;

typedef struct spec {
	const char *role, *model;
	int64_t tokens, cost, latency;
	int status;
	int64_t at;
} spec;

static void open_db(void)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_OFF);

	db = tu_open(path, o);
	convlog_options_free(o);
}

static void reopen(void)
{
	convlog_close(db);
	open_db();
}

static convlog_uuid mkconv(convlog_txn *txn, const char *user, const char *org,
			   const char *session, int64_t created)
{
	convlog_conv c;
	convlog_uuid id;

	convlog_conv_init(&c);
	c.user_id = user;
	c.org_id = org;
	c.session_id = session;
	c.created_at = created;
	CK_OK(convlog_conv_create(db, txn, &c, &id));
	return id;
}

static void put(convlog_txn *txn, const convlog_uuid *conv, const spec *s)
{
	convlog_msg m;

	convlog_msg_init(&m);
	m.conv_id = *conv;
	m.role = s->role;
	m.model = s->model;
	m.content = "x";
	m.content_len = 1;
	m.token_count = s->tokens;
	m.cost = s->cost;
	m.latency_ms = s->latency;
	m.status = s->status ? s->status : CONVLOG_MSG_COMPLETED;
	m.created_at = s->at;
	CK_OK(convlog_msg_append(db, txn, &m, NULL));
}

#define ERR CONVLOG_MSG_ERROR
#define PENDING CONVLOG_MSG_PENDING

/* Forks A at seq 2 into F; F inherits alice, acme and s1. */
static void make_fork(void)
{
	convlog_conv *f;

	CK_OK(convlog_conv_fork(db, NULL, &cA, 2, NULL, 0, &cF));
	CK_OK(convlog_conv_get(db, &cF, &f));
	ck_assert_str_eq(f->user_id, "alice");
	ck_assert_str_eq(f->org_id, "acme");
	ck_assert_str_eq(f->session_id, "s1");
	ck_assert_uint_eq(f->fork_seq, 2);
	ck_assert_uint_eq(f->message_count, 2);
	convlog_conv_free(f);
}

static void build_fixture(void)
{
	static const spec first[] = {
		{"user", NULL, 10, -1, -1, 0, T0 + 1000},          /* a1 */
		{"assistant", "gpt-4o", 100, 500, 1200, 0, T0 + 2000}, /* a2 */
		{"user", NULL, 5, -1, -1, 0, T0 + 3000},           /* b1 */
		{"assistant", "claude", -1, -1, -1, PENDING, T0 + 4000}, /* b2 */
		{"user", NULL, 8, -1, -1, 0, T1 + 3000},           /* c1 */
		{"user", NULL, 1000, 9999, 5000, 0, T0 + 5000},    /* d1 */
		{"assistant", "claude", 2000, 8888, 7000, 0, T0 + 6000}, /* d2 */
		{"system", NULL, 3, -1, -1, 0, -DAY - 5},          /* n1 */
	};
	const convlog_uuid *first_conv[] = {&cA, &cA, &cB, &cB, &cC, &cD, &cD, &cN};
	convlog_txn *txn;

	CK_OK(convlog_txn_begin(db, &txn));
	cA = mkconv(txn, "alice", "acme", "s1", T0);
	cB = mkconv(txn, "bob", "acme", "s1", T0 + 500);
	cC = mkconv(txn, "alice", "globex", NULL, T0 + 600);
	cD = mkconv(txn, "bob", "globex", "s1", T0 + 700);
	cN = mkconv(txn, NULL, NULL, NULL, -90000000);
	for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++)
		put(txn, first_conv[i], &first[i]);
	CK_OK(convlog_txn_commit(txn));
	CK_OK(convlog_checkpoint(db)); /* the rest stays in the memtable */

	put(NULL, &cA, &(spec){"user", NULL, 12, -1, -1, 0, T1 + 1000});               /* a3 */
	put(NULL, &cA, &(spec){"assistant", "gpt-4o", -1, 700, 800, ERR, T1 + 2000});  /* a4 */
	put(NULL, &cB, &(spec){"tool", NULL, -1, -1, 20, 0, T2 + 1000});               /* b3 */
	put(NULL, &cB, &(spec){"assistant", "claude", 70, 350, 600, ERR, T2 + 2000});  /* b4 */
	put(NULL, &cC, &(spec){"assistant", "gpt-4o", 80, 400, 1500, 0, T1 + 4000});   /* c2 */
	put(NULL, &cN, &(spec){"assistant", "llama", 30, 0, 100, 0, -1});              /* n2 */

	/* the pending b2 completes: its summary must be the new version's */
	convlog_msg f;
	convlog_msg_init(&f);
	f.token_count = 50;
	f.cost = 250;
	f.latency_ms = 300;
	f.status = CONVLOG_MSG_COMPLETED;
	CK_OK(convlog_msg_supersede(db, NULL, &cB, 2, &f,
				    CONVLOG_MSG_TOKEN_COUNT | CONVLOG_MSG_COST | CONVLOG_MSG_LATENCY |
					    CONVLOG_MSG_STATUS));

	make_fork();
	put(NULL, &cF, &(spec){"user", NULL, 7, -1, -1, 0, T2 + 3000});                /* f3 */
	put(NULL, &cF, &(spec){"assistant", "claude", 60, 300, 400, 0, T2 + 4000});    /* f4 */
	CK_OK(convlog_conv_delete(db, NULL, &cD));
}

static void setup(void)
{
	tu_tmppath(path, sizeof(path), "usage");
	open_db();
	build_fixture();
}

static void teardown(void)
{
	convlog_close(db);
	db = NULL;
	tu_rmrf(path);
}

/* Pass 0 reads what was built (partly in the memtable), pass 1 after a
 * checkpoint, pass 2 after reopening. */
static void next_pass(int pass)
{
	if (pass == 0)
		CK_OK(convlog_checkpoint(db));
	else if (pass == 1)
		reopen();
}

#define PASSES 3

static convlog_usage_query query(int group)
{
	convlog_usage_query q;

	convlog_usage_query_init(&q);
	q.group_by = group;
	return q;
}

static convlog_usage *usage(const convlog_usage_query *q)
{
	convlog_usage *u = NULL;

	CK_OK(convlog_usage_get(db, q, &u));
	ck_assert_ptr_nonnull(u);
	ck_assert_uint_eq(u->version, CONVLOG_USAGE_VERSION);
	for (size_t i = 1; i < u->n_rows; i++)
		ck_assert_msg(strcmp(u->rows[i - 1].key, u->rows[i].key) < 0,
			      "rows out of order: '%s' before '%s'", u->rows[i - 1].key,
			      u->rows[i].key);
	return u;
}

/* Expected figures of one row. */
typedef struct want {
	const char *key;
	uint64_t count, errors;
	int64_t tokens, cost;
	uint64_t latency_count;
	int64_t p50, p95, max;
} want;

static void check_rows(const convlog_usage *u, const want *w, size_t n)
{
	ck_assert_uint_eq(u->n_rows, n);
	for (size_t i = 0; i < n; i++) {
		const convlog_usage_row *r = &u->rows[i];
		ck_assert_str_eq(r->key, w[i].key);
		ck_assert_msg(r->count == w[i].count && r->errors == w[i].errors &&
				      r->tokens == w[i].tokens && r->cost == w[i].cost,
			      "row '%s': count %llu errors %llu tokens %lld cost %lld", r->key,
			      (unsigned long long)r->count, (unsigned long long)r->errors,
			      (long long)r->tokens, (long long)r->cost);
		ck_assert_msg(r->latency_count == w[i].latency_count && r->latency_p50 == w[i].p50 &&
				      r->latency_p95 == w[i].p95 && r->latency_max == w[i].max,
			      "row '%s': latency n %llu p50 %lld p95 %lld max %lld", r->key,
			      (unsigned long long)r->latency_count, (long long)r->latency_p50,
			      (long long)r->latency_p95, (long long)r->latency_max);
	}
}

/* One-row (GROUP_NONE) report: count and tokens. */
static void check_total(const convlog_usage_query *q, uint64_t count, int64_t tokens)
{
	convlog_usage *u = usage(q);

	ck_assert_uint_eq(u->n_rows, 1);
	ck_assert_str_eq(u->rows[0].key, "");
	ck_assert_msg(u->rows[0].count == count && u->rows[0].tokens == tokens,
		      "expected %llu messages / %lld tokens, got %llu / %lld",
		      (unsigned long long)count, (long long)tokens,
		      (unsigned long long)u->rows[0].count, (long long)u->rows[0].tokens);
	convlog_usage_free(u);
}

START_TEST(test_usage__no_grouping_sums_every_live_message)
{
	static const want all[] = {{"", 14, 2, 435, 2500, 8, 400, 1500, 1500}};
	static const want with_deleted[] = {{"", 16, 2, 3435, 21387, 10, 600, 7000, 7000}};

	for (int pass = 0; pass < PASSES; pass++) {
		convlog_usage_query q = query(CONVLOG_GROUP_NONE);
		convlog_usage *u = usage(&q);
		check_rows(u, all, 1);
		ck_assert_uint_eq(u->messages_scanned, 14); /* D is skipped whole */
		convlog_usage_free(u);
		q.include_deleted = 1;
		u = usage(&q);
		check_rows(u, with_deleted, 1);
		ck_assert_uint_eq(u->messages_scanned, 16);
		convlog_usage_free(u);
		next_pass(pass);
	}
}
END_TEST

START_TEST(test_usage__groups_by_role)
{
	static const want w[] = {
		{"assistant", 7, 2, 390, 2500, 7, 600, 1500, 1500},
		{"system", 1, 0, 3, 0, 0, -1, -1, -1},
		{"tool", 1, 0, 0, 0, 1, 20, 20, 20},
		{"user", 5, 0, 42, 0, 0, -1, -1, -1},
	};

	for (int pass = 0; pass < PASSES; pass++) {
		convlog_usage_query q = query(CONVLOG_GROUP_ROLE);
		convlog_usage *u = usage(&q);
		check_rows(u, w, 4);
		convlog_usage_free(u);
		next_pass(pass);
	}
}
END_TEST

START_TEST(test_usage__groups_by_model_sum_tokens_and_cost)
{
	static const want w[] = {
		{"", 7, 0, 45, 0, 1, 20, 20, 20}, /* no model */
		{"claude", 3, 1, 180, 900, 3, 400, 600, 600},
		{"gpt-4o", 3, 1, 180, 1600, 3, 1200, 1500, 1500},
		{"llama", 1, 0, 30, 0, 1, 100, 100, 100},
	};

	for (int pass = 0; pass < PASSES; pass++) {
		convlog_usage_query q = query(CONVLOG_GROUP_MODEL);
		convlog_usage *u = usage(&q);
		check_rows(u, w, 4);
		convlog_usage_free(u);
		next_pass(pass);
	}
}
END_TEST

START_TEST(test_usage__groups_by_org_and_user_of_the_conversation)
{
	static const want org[] = {
		{"", 2, 0, 33, 0, 1, 100, 100, 100},
		{"acme", 10, 2, 314, 2100, 6, 400, 1200, 1200},
		{"globex", 2, 0, 88, 400, 1, 1500, 1500, 1500},
	};
	static const want user[] = {
		{"", 2, 0, 33, 0, 1, 100, 100, 100},
		{"alice", 8, 1, 277, 1900, 4, 800, 1500, 1500},
		{"bob", 4, 1, 125, 600, 3, 300, 600, 600},
	};
	static const want user_deleted[] = {
		{"", 2, 0, 33, 0, 1, 100, 100, 100},
		{"alice", 8, 1, 277, 1900, 4, 800, 1500, 1500},
		{"bob", 6, 1, 3125, 19487, 5, 600, 7000, 7000},
	};

	for (int pass = 0; pass < PASSES; pass++) {
		convlog_usage_query q = query(CONVLOG_GROUP_ORG);
		convlog_usage *u = usage(&q);
		check_rows(u, org, 3);
		convlog_usage_free(u);
		q = query(CONVLOG_GROUP_USER);
		u = usage(&q);
		check_rows(u, user, 3);
		convlog_usage_free(u);
		q.include_deleted = 1;
		u = usage(&q);
		check_rows(u, user_deleted, 3);
		convlog_usage_free(u);
		next_pass(pass);
	}
}
END_TEST

START_TEST(test_usage__groups_by_utc_day_including_negative_times)
{
	static const want w[] = {
		{"1969-12-30", 1, 0, 3, 0, 0, -1, -1, -1},
		{"1969-12-31", 1, 0, 30, 0, 1, 100, 100, 100},
		{"2025-06-06", 4, 0, 165, 750, 2, 300, 1200, 1200},
		{"2025-06-07", 4, 1, 100, 1100, 2, 800, 1500, 1500},
		{"2025-06-08", 4, 1, 137, 650, 3, 400, 600, 600},
	};

	for (int pass = 0; pass < PASSES; pass++) {
		convlog_usage_query q = query(CONVLOG_GROUP_DAY);
		convlog_usage *u = usage(&q);
		check_rows(u, w, 5);
		convlog_usage_free(u);
		next_pass(pass);
	}
}
END_TEST

START_TEST(test_usage__day_keys_are_civil_dates_at_the_edges)
{
	static const struct {
		int64_t at;
		const char *day;
	} v[] = {
		{1, "1970-01-01"},
		{-1, "1969-12-31"},
		{-DAY, "1969-12-31"},
		{-DAY - 1, "1969-12-30"},
		{951782400000, "2000-02-29"},
		{951868799999, "2000-02-29"},
		{951868800000, "2000-03-01"},
		{4107542399999, "2100-02-28"}, /* 2100 is not a leap year */
		{4107542400000, "2100-03-01"},
		{-2208988800000, "1900-01-01"},
		{-62135596800000, "0001-01-01"},
		{-62167219200000, "0000-01-01"},
		{-62167219200001, "-0001-12-31"},
		{253402300799999, "9999-12-31"},
	};
	size_t n = sizeof(v) / sizeof(v[0]);
	convlog_uuid id = tu_conv(db, "edge", NULL);
	convlog_usage_query q = query(CONVLOG_GROUP_DAY);
	convlog_usage *u;

	for (size_t i = 0; i < n; i++)
		put(NULL, &id, &(spec){"user", NULL, (int64_t)i, -1, -1, 0, v[i].at});
	q.has_conv = 1;
	q.conv_id = id;
	u = usage(&q);
	ck_assert_uint_eq(u->n_rows, n - 2); /* two pairs share a day */
	for (size_t i = 0; i < n; i++) {
		size_t r;
		for (r = 0; r < u->n_rows; r++)
			if (!strcmp(u->rows[r].key, v[i].day))
				break;
		ck_assert_msg(r < u->n_rows, "no row for %lld (%s)", (long long)v[i].at, v[i].day);
	}
	convlog_usage_free(u);
}
END_TEST

START_TEST(test_usage__scopes_walk_their_index_and_check_the_rest)
{
	for (int pass = 0; pass < PASSES; pass++) {
		convlog_usage_query q = query(CONVLOG_GROUP_NONE);
		q.user_id = "alice";
		check_total(&q, 8, 277);
		q.user_id = "bob";
		check_total(&q, 4, 125);
		q.include_deleted = 1;
		check_total(&q, 6, 3125);

		q = query(CONVLOG_GROUP_NONE);
		q.org_id = "globex";
		check_total(&q, 2, 88);
		q.include_deleted = 1;
		check_total(&q, 4, 3088);

		q = query(CONVLOG_GROUP_NONE);
		q.session_id = "s1"; /* A, B and the fork; D is deleted */
		check_total(&q, 10, 314);
		q.user_id = "bob";
		check_total(&q, 4, 125);

		q = query(CONVLOG_GROUP_NONE);
		q.user_id = "alice";
		q.org_id = "globex";
		check_total(&q, 2, 88);
		q.user_id = "nobody";
		check_total(&q, 0, 0);
		next_pass(pass);
	}
}
END_TEST

START_TEST(test_usage__conversation_scope_counts_own_messages)
{
	for (int pass = 0; pass < PASSES; pass++) {
		convlog_usage_query q = query(CONVLOG_GROUP_NONE);
		convlog_usage *u;

		q.has_conv = 1;
		q.conv_id = cA;
		check_total(&q, 4, 122);
		q.conv_id = cF; /* the fork: seqs 3 and 4 only */
		u = usage(&q);
		ck_assert_uint_eq(u->rows[0].count, 2);
		ck_assert_int_eq(u->rows[0].tokens, 67);
		ck_assert_int_eq(u->rows[0].cost, 300);
		ck_assert_uint_eq(u->messages_scanned, 2);
		convlog_usage_free(u);
		q.conv_id = cD;
		check_total(&q, 0, 0); /* deleted */
		q.include_deleted = 1;
		check_total(&q, 2, 3000);
		q.conv_id = cA;
		q.user_id = "bob"; /* the other scope fields must match too */
		check_total(&q, 0, 0);
		convlog_uuid_generate(&q.conv_id);
		q.user_id = NULL;
		check_total(&q, 0, 0); /* unknown conversation: nothing */
		next_pass(pass);
	}
}
END_TEST

START_TEST(test_usage__time_range_is_half_open)
{
	for (int pass = 0; pass < PASSES; pass++) {
		convlog_usage_query q = query(CONVLOG_GROUP_NONE);

		q.since = T1;
		q.until = T2;
		check_total(&q, 4, 100);
		q.since = T0 + 3000; /* b1 is at since, b2 at until */
		q.until = T0 + 4000;
		check_total(&q, 1, 5);
		q.until = 0;
		q.since = T2;
		check_total(&q, 4, 137);
		q.since = -DAY - 5;
		check_total(&q, 14, 435);
		q.since = -DAY - 4;
		check_total(&q, 13, 432);
		q.since = -DAY - 5;
		q.until = -1; /* n2 is at -1 */
		check_total(&q, 1, 3);
		q.since = q.until = T1; /* empty range */
		check_total(&q, 0, 0);
		q.since = T2;
		q.until = T1;
		convlog_usage *u = (convlog_usage *)&q; /* must be reset to NULL */
		CK_ERR(convlog_usage_get(db, &q, &u), CONVLOG_EINVAL);
		ck_assert_ptr_null(u);
		next_pass(pass);
	}
}
END_TEST

START_TEST(test_usage__activity_index_walk_stops_before_since)
{
	for (int pass = 0; pass < PASSES; pass++) {
		convlog_usage_query q = query(CONVLOG_GROUP_MODEL);
		convlog_usage *u;

		/* alice's newest activity first: F, C (T1 + 4000), A (T1 + 2000) */
		q.user_id = "alice";
		q.since = T2;
		u = usage(&q);
		ck_assert_uint_eq(u->n_rows, 2);
		ck_assert_str_eq(u->rows[0].key, "");
		ck_assert_str_eq(u->rows[1].key, "claude");
		ck_assert_uint_eq(u->rows[1].count, 1);
		ck_assert_uint_eq(u->messages_scanned, 2); /* only the fork's */
		convlog_usage_free(u);
		q.since = T1 + 3000;
		u = usage(&q);
		ck_assert_uint_eq(u->messages_scanned, 4); /* F and C */
		convlog_usage_free(u);
		next_pass(pass);
	}
}
END_TEST

START_TEST(test_usage__latency_percentiles_are_nearest_rank)
{
	/* nearest rank: p = value at 1-based rank ceil(q * n) */
	static const int64_t twenty[] = {130, 20, 200, 50, 10, 190, 70, 110, 40, 160,
					 180, 30, 90, 150, 60, 120, 80, 170, 140, 100};
	static const int64_t five[] = {5, 1, 4, 2, 3};
	convlog_uuid a = tu_conv(db, "lat", NULL), b = tu_conv(db, "lat", NULL);
	convlog_usage_query q = query(CONVLOG_GROUP_NONE);
	convlog_usage *u;

	for (size_t i = 0; i < 20; i++)
		put(NULL, &a, &(spec){"assistant", NULL, -1, -1, twenty[i], 0, T0 + (int64_t)i});
	put(NULL, &a, &(spec){"assistant", NULL, -1, -1, -1, 0, T0 + 99}); /* unknown */
	for (size_t i = 0; i < 5; i++)
		put(NULL, &b, &(spec){"assistant", NULL, -1, -1, five[i], 0, T0 + (int64_t)i});
	q.has_conv = 1;
	q.conv_id = a;
	u = usage(&q);
	check_rows(u, &(want){"", 21, 0, 0, 0, 20, 100, 190, 200}, 1);
	convlog_usage_free(u);
	q.conv_id = b;
	u = usage(&q);
	check_rows(u, &(want){"", 5, 0, 0, 0, 5, 3, 5, 5}, 1);
	convlog_usage_free(u);
	q.until = T0 + 1; /* one value: every percentile is it */
	u = usage(&q);
	check_rows(u, &(want){"", 1, 0, 0, 0, 1, 5, 5, 5}, 1);
	convlog_usage_free(u);
	q.since = T0 + 50;
	q.until = 0;
	u = usage(&q);
	check_rows(u, &(want){"", 0, 0, 0, 0, 0, -1, -1, -1}, 1);
	ck_assert_uint_eq(u->messages_scanned, 5);
	convlog_usage_free(u);
}
END_TEST

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest rank: the smallest r with r >= pct/100 * n. */
static size_t rank(unsigned pct, size_t n)
{
	size_t r = 1;

	while (r * 100 < pct * n)
		r++;
	return r;
}

START_TEST(test_usage__percentiles_hold_for_sorted_reversed_and_repeated_latencies)
{
	enum { N = 1001 };
	static int64_t lat[N];
	uint64_t seed = 42;

	for (int shape = 0; shape < 6; shape++) {
		convlog_uuid id = tu_conv(db, "shapes", NULL);
		convlog_usage_query q = query(CONVLOG_GROUP_NONE);
		convlog_txn *txn;
		convlog_usage *u;

		CK_OK(convlog_txn_begin(db, &txn));
		for (int i = 0; i < N; i++) {
			switch (shape) {
			case 0: lat[i] = 7; break;                        /* all equal */
			case 1: lat[i] = i; break;                        /* ascending */
			case 2: lat[i] = N - i; break;                    /* descending */
			case 3: lat[i] = i % 10; break;                   /* sawtooth */
			case 4: lat[i] = i % 2 ? 1 : 1000; break;         /* two values */
			default: lat[i] = (int64_t)(tu_rand(&seed) % 50); /* random, repeats */
			}
			put(txn, &id, &(spec){"assistant", NULL, -1, -1, lat[i], 0, T0 + i});
		}
		CK_OK(convlog_txn_commit(txn));
		qsort(lat, N, sizeof(lat[0]), cmp_i64);
		q.has_conv = 1;
		q.conv_id = id;
		u = usage(&q);
		check_rows(u, &(want){"", N, 0, 0, 0, N, lat[rank(50, N) - 1], lat[rank(95, N) - 1],
				      lat[N - 1]}, 1);
		convlog_usage_free(u);
	}
}
END_TEST

START_TEST(test_usage__session_summary_counts_own_messages_of_live_conversations)
{
	for (int pass = 0; pass < PASSES; pass++) {
		convlog_session_summary s = {.version = CONVLOG_SESSION_VERSION};
		convlog_conv *f;

		CK_OK(convlog_conv_get(db, &cF, &f));
		ck_assert_uint_eq(f->fork_seq, 2);
		CK_OK(convlog_session_get_summary(db, "s1", &s));
		ck_assert_uint_eq(s.conversations, 3); /* A, B, F; D is deleted */
		ck_assert_uint_eq(s.messages, 10);      /* 4 + 4 + F's own 2 */
		ck_assert_int_eq(s.token_total, 314);
		ck_assert_int_eq(s.cost_total, 2100);
		ck_assert_int_eq(s.first_activity_at, T0);
		ck_assert_int_eq(s.last_activity_at,
				 f->last_activity_at > T2 + 4000 ? f->last_activity_at : T2 + 4000);
		convlog_conv_free(f);
		CK_OK(convlog_conv_restore(db, NULL, &cD));
		CK_OK(convlog_session_get_summary(db, "s1", &s));
		ck_assert_uint_eq(s.conversations, 4);
		ck_assert_uint_eq(s.messages, 12);
		ck_assert_int_eq(s.token_total, 3314);
		CK_OK(convlog_conv_delete(db, NULL, &cD));
		next_pass(pass);
	}
}
END_TEST

START_TEST(test_usage__unknown_session_is_all_zeros)
{
	convlog_session_summary s;

	memset(&s, 0x5a, sizeof(s));
	s.version = CONVLOG_SESSION_VERSION;
	CK_OK(convlog_session_get_summary(db, "no-such-session", &s));
	ck_assert_uint_eq(s.version, CONVLOG_SESSION_VERSION);
	ck_assert_uint_eq(s.conversations, 0);
	ck_assert_uint_eq(s.messages, 0);
	ck_assert_int_eq(s.token_total, 0);
	ck_assert_int_eq(s.cost_total, 0);
	ck_assert_int_eq(s.first_activity_at, 0);
	ck_assert_int_eq(s.last_activity_at, 0);
	CK_OK(convlog_session_get_summary(db, "", &s));
	ck_assert_uint_eq(s.conversations, 0);
}
END_TEST

START_TEST(test_usage__bad_arguments_are_einval)
{
	convlog_usage_query q;
	convlog_usage *u = NULL;
	convlog_session_summary s = {.version = CONVLOG_SESSION_VERSION};

	convlog_usage_query_init(&q);
	ck_assert_uint_eq(q.version, CONVLOG_USAGE_VERSION);
	ck_assert_int_eq(q.group_by, CONVLOG_GROUP_NONE);
	ck_assert_ptr_null(q.user_id);
	ck_assert_int_eq(q.since, 0);
	CK_ERR(convlog_usage_get(db, &q, NULL), CONVLOG_EINVAL);
	CK_ERR(convlog_usage_get(db, NULL, &u), CONVLOG_EINVAL);
	CK_ERR(convlog_usage_get(NULL, &q, &u), CONVLOG_EINVAL);
	q.version = 99;
	CK_ERR(convlog_usage_get(db, &q, &u), CONVLOG_EINVAL);
	ck_assert_str_ne(convlog_errmsg(), "");
	q = query(-1);
	CK_ERR(convlog_usage_get(db, &q, &u), CONVLOG_EINVAL);
	q = query(CONVLOG_GROUP_DAY + 1);
	CK_ERR(convlog_usage_get(db, &q, &u), CONVLOG_EINVAL);
	q = query(CONVLOG_GROUP_NONE);
	q.since = 2;
	q.until = 1;
	CK_ERR(convlog_usage_get(db, &q, &u), CONVLOG_EINVAL);
	q = query(CONVLOG_GROUP_NONE);
	q.has_conv = 1; /* with a nil id */
	CK_ERR(convlog_usage_get(db, &q, &u), CONVLOG_EINVAL);
	ck_assert_ptr_null(u);
	convlog_usage_free(NULL);
	convlog_usage_query_init(NULL);

	CK_ERR(convlog_session_get_summary(db, "s1", NULL), CONVLOG_EINVAL);
	CK_ERR(convlog_session_get_summary(db, NULL, &s), CONVLOG_EINVAL);
	CK_ERR(convlog_session_get_summary(NULL, "s1", &s), CONVLOG_EINVAL);
	s.version = 0;
	CK_ERR(convlog_session_get_summary(db, "s1", &s), CONVLOG_EINVAL);
	s.version = CONVLOG_SESSION_VERSION;
	CK_OK(convlog_session_get_summary(db, "s1", &s));
	ck_assert_str_eq(convlog_errmsg(), "");
}
END_TEST

static void same_report(const convlog_usage *a, const convlog_usage *b)
{
	ck_assert_uint_eq(a->n_rows, b->n_rows);
	ck_assert_uint_eq(a->messages_scanned, b->messages_scanned);
	for (size_t i = 0; i < a->n_rows; i++) {
		const convlog_usage_row *x = &a->rows[i], *y = &b->rows[i];
		ck_assert_str_eq(x->key, y->key);
		ck_assert(x->count == y->count && x->errors == y->errors && x->tokens == y->tokens &&
			  x->cost == y->cost && x->latency_count == y->latency_count &&
			  x->latency_p50 == y->latency_p50 && x->latency_p95 == y->latency_p95 &&
			  x->latency_max == y->latency_max);
	}
}

/* Fails the k-th allocation of a query for every k until it goes through:
 * each failure is ENOMEM with no report (leaks show under valgrind/ASan). */
START_TEST(test_usage__failed_allocations_report_enomem)
{
	CK_OK(convlog_checkpoint(db)); /* nothing left for the flusher */
	for (int group = CONVLOG_GROUP_NONE; group <= CONVLOG_GROUP_DAY; group++) {
		convlog_usage_query q = query(group);
		convlog_usage *ref, *u;
		uint64_t k;
		int rc = -1;

		q.session_id = group % 2 ? "s1" : NULL;
		ref = usage(&q);
		for (k = 0; k < 10000 && rc; k++) {
			u = (convlog_usage *)&q; /* must be reset to NULL */
			cvl_alloc_fail_after((int64_t)k, 0);
			rc = convlog_usage_get(db, &q, &u);
			cvl_alloc_fail_after(-1, 0);
			if (rc) {
				ck_assert_msg(rc == CONVLOG_ENOMEM, "allocation %llu: %d (%s)",
					      (unsigned long long)k, rc, convlog_errmsg());
				ck_assert_ptr_null(u);
			}
		}
		ck_assert_int_eq(rc, 0);
		same_report(u, ref);
		convlog_usage_free(u);
		convlog_usage_free(ref);
	}
	for (uint64_t k = 0;; k++) {
		convlog_session_summary s = {.version = CONVLOG_SESSION_VERSION};
		cvl_alloc_fail_after((int64_t)k, 0);
		int rc = convlog_session_get_summary(db, "s1", &s);
		cvl_alloc_fail_after(-1, 0);
		if (rc == 0) {
			ck_assert_uint_eq(s.conversations, 3);
			ck_assert_uint_eq(s.messages, 10);
			break;
		}
		ck_assert_int_eq(rc, CONVLOG_ENOMEM);
		ck_assert_uint_eq(s.conversations, 0);
		ck_assert_uint_lt(k, 10000);
	}
}
END_TEST

START_TEST(test_usage__long_scope_ids_are_hashed_in_keys_but_compared_whole)
{
	char u1[300], u2[300];
	convlog_usage_query q = query(CONVLOG_GROUP_USER);
	convlog_usage *u;

	memset(u1, 'u', sizeof(u1) - 1);
	u1[sizeof(u1) - 1] = '\0';
	memcpy(u2, u1, sizeof(u2));
	u2[0] = 'v';
	convlog_uuid a = tu_conv(db, u1, NULL), b = tu_conv(db, u2, NULL);
	tu_msg(db, &a, "user", "one");
	tu_msg(db, &b, "user", "two");
	tu_msg(db, &b, "user", "three");
	q.user_id = u2;
	u = usage(&q);
	ck_assert_uint_eq(u->n_rows, 1);
	ck_assert_str_eq(u->rows[0].key, u2);
	ck_assert_uint_eq(u->rows[0].count, 2);
	convlog_usage_free(u);
}
END_TEST

/* ---- randomized comparison with an in-memory tally ---- */

#define RBASE 12
#define RCONV 16 /* the last 4 are forks */
#define RMSG 1500

typedef struct rconv {
	convlog_uuid id;
	const char *user, *org, *session;
	int deleted;
} rconv;

typedef struct rmsg {
	int conv;
	const char *role, *model;
	int64_t tokens, cost, latency, at;
	int status;
} rmsg;

static rconv rc_[RCONV];
static rmsg rm_[RMSG];

typedef struct tally {
	char key[64];
	uint64_t count, errors;
	int64_t tokens, cost;
	int64_t lat[RMSG];
	size_t nlat;
} tally;

static const char *pick(uint64_t *s, const char *const *v, size_t n)
{
	return v[tu_rand(s) % n];
}

static int64_t maybe(uint64_t *s, int64_t range)
{
	return tu_rand(s) % 4 == 0 ? -1 : (int64_t)(tu_rand(s) % (uint64_t)range);
}

/* Makes conversation `f` a fork of an earlier one (maybe itself a fork)
 * at a random point, inside `txn`.  count[] is each seq space's size. */
static void random_fork(uint64_t *s, convlog_txn *txn, int f, uint32_t *count)
{
	int p = (int)(tu_rand(s) % (uint64_t)f);

	count[f] = (uint32_t)(tu_rand(s) % (count[p] + 1));
	CK_OK(convlog_conv_fork(db, txn, &rc_[p].id, count[f], NULL, 0, &rc_[f].id));
	rc_[f].user = rc_[p].user;
	rc_[f].org = rc_[p].org;
	rc_[f].session = rc_[p].session;
}

static void random_store(uint64_t *s)
{
	static const char *const users[] = {"ann", "ben", "cy", NULL};
	static const char *const orgs[] = {"o1", "o2", NULL};
	static const char *const sessions[] = {"sa", "sb", NULL};
	static const char *const roles[] = {"user", "assistant", "tool", "system"};
	static const char *const models[] = {"m-a", "m-b", "m-c", NULL};
	uint32_t count[RCONV] = {0};
	convlog_txn *txn = NULL;
	int live = RBASE;

	for (int i = 0; i < RBASE; i++) {
		rc_[i].user = pick(s, users, 4);
		rc_[i].org = pick(s, orgs, 3);
		rc_[i].session = pick(s, sessions, 3);
		rc_[i].id = mkconv(NULL, rc_[i].user, rc_[i].org, rc_[i].session, T0);
	}
	for (int i = 0; i < RMSG; i++) {
		rmsg *m = &rm_[i];
		if (!txn)
			CK_OK(convlog_txn_begin(db, &txn));
		if (i % (RMSG / 8) == RMSG / 8 - 1 && live < RCONV)
			random_fork(s, txn, live++, count);
		m->conv = (int)(tu_rand(s) % (uint64_t)live);
		m->role = pick(s, roles, 4);
		m->model = pick(s, models, 4);
		m->tokens = maybe(s, 5000);
		m->cost = maybe(s, 100000);
		m->latency = maybe(s, 30000);
		m->status = tu_rand(s) % 10 == 0 ? ERR : CONVLOG_MSG_COMPLETED;
		/* 20 days either side of the epoch and of T0 */
		m->at = (tu_rand(s) % 2 ? T0 : 0) + (int64_t)(tu_rand(s) % (40 * DAY)) - 20 * DAY;
		if (m->at == 0)
			m->at = 1;
		put(txn, &rc_[m->conv].id,
		    &(spec){m->role, m->model, m->tokens, m->cost, m->latency, m->status, m->at});
		count[m->conv]++;
		if (tu_rand(s) % 100 == 0 || i == RMSG / 2 || i == RMSG - 1) {
			CK_OK(convlog_txn_commit(txn));
			txn = NULL;
		}
		if (i == RMSG / 2) /* half in LMDB, half in the memtable */
			CK_OK(convlog_checkpoint(db));
	}
	ck_assert_int_eq(live, RCONV);
	for (int i = 0; i < RCONV; i++)
		if (tu_rand(s) % 4 == 0) {
			rc_[i].deleted = 1;
			CK_OK(convlog_conv_delete(db, NULL, &rc_[i].id));
		}
}

static int str_same(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static int msg_matches(const convlog_usage_query *q, const rmsg *m)
{
	const rconv *c = &rc_[m->conv];

	if (c->deleted && !q->include_deleted)
		return 0;
	if ((q->user_id && !str_same(q->user_id, c->user)) ||
	    (q->org_id && !str_same(q->org_id, c->org)) ||
	    (q->session_id && !str_same(q->session_id, c->session)))
		return 0;
	if (q->has_conv && memcmp(q->conv_id.bytes, c->id.bytes, 16))
		return 0;
	return (!q->since || m->at >= q->since) && (!q->until || m->at < q->until);
}

/* The group key by an independent route (gmtime_r for days). */
static void tally_key(int group, const rmsg *m, char *out, size_t n)
{
	const rconv *c = &rc_[m->conv];
	const char *s = NULL;

	switch (group) {
	case CONVLOG_GROUP_ROLE: s = m->role; break;
	case CONVLOG_GROUP_MODEL: s = m->model; break;
	case CONVLOG_GROUP_ORG: s = c->org; break;
	case CONVLOG_GROUP_USER: s = c->user; break;
	case CONVLOG_GROUP_DAY: {
		time_t t = (time_t)(m->at >= 0 ? m->at / 1000 : -((-m->at + 999) / 1000));
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(out, n, "%Y-%m-%d", &tm);
		return;
	}
	default: break;
	}
	snprintf(out, n, "%s", s ? s : "");
}

static size_t tally_all(const convlog_usage_query *q, tally *t, size_t cap)
{
	size_t n = 0;

	if (q->group_by == CONVLOG_GROUP_NONE) {
		memset(&t[0], 0, sizeof(t[0]));
		n = 1;
	}
	for (int i = 0; i < RMSG; i++) {
		const rmsg *m = &rm_[i];
		char key[64];
		size_t g;
		if (!msg_matches(q, m))
			continue;
		tally_key(q->group_by, m, key, sizeof(key));
		for (g = 0; g < n && strcmp(t[g].key, key); g++)
			;
		if (g == n) {
			ck_assert_uint_lt(n, cap);
			memset(&t[n], 0, sizeof(t[n]));
			snprintf(t[n].key, sizeof(t[n].key), "%s", key);
			n++;
		}
		t[g].count++;
		t[g].errors += m->status == ERR;
		t[g].tokens += m->tokens >= 0 ? m->tokens : 0;
		t[g].cost += m->cost >= 0 ? m->cost : 0;
		if (m->latency >= 0)
			t[g].lat[t[g].nlat++] = m->latency;
	}
	return n;
}

static void compare(const convlog_usage_query *q, tally *t, size_t cap)
{
	size_t n = tally_all(q, t, cap);
	convlog_usage *u = usage(q);

	ck_assert_msg(u->n_rows == n, "group %d: %zu rows, expected %zu", q->group_by, u->n_rows, n);
	for (size_t g = 0; g < n; g++) {
		size_t r;
		for (r = 0; r < u->n_rows && strcmp(u->rows[r].key, t[g].key); r++)
			;
		ck_assert_msg(r < u->n_rows, "group %d: no row '%s'", q->group_by, t[g].key);
		const convlog_usage_row *row = &u->rows[r];
		ck_assert_uint_eq(row->count, t[g].count);
		ck_assert_uint_eq(row->errors, t[g].errors);
		ck_assert_int_eq(row->tokens, t[g].tokens);
		ck_assert_int_eq(row->cost, t[g].cost);
		ck_assert_uint_eq(row->latency_count, t[g].nlat);
		qsort(t[g].lat, t[g].nlat, sizeof(int64_t), cmp_i64);
		size_t nl = t[g].nlat;
		int64_t p50 = nl ? t[g].lat[rank(50, nl) - 1] : -1;
		int64_t p95 = nl ? t[g].lat[rank(95, nl) - 1] : -1;
		ck_assert_int_eq(row->latency_p50, p50);
		ck_assert_int_eq(row->latency_p95, p95);
		ck_assert_int_eq(row->latency_max, nl ? t[g].lat[nl - 1] : -1);
	}
	convlog_usage_free(u);
}

/* Session summaries against the tally (times from the records). */
static void compare_session(const char *sid)
{
	convlog_session_summary got = {.version = CONVLOG_SESSION_VERSION}, w = {0};

	for (int c = 0; c < RCONV; c++) {
		convlog_conv *rec;
		if (rc_[c].deleted || !str_same(rc_[c].session, sid))
			continue;
		CK_OK(convlog_conv_get(db, &rc_[c].id, &rec));
		if (!w.conversations || rec->created_at < w.first_activity_at)
			w.first_activity_at = rec->created_at;
		if (!w.conversations || rec->last_activity_at > w.last_activity_at)
			w.last_activity_at = rec->last_activity_at;
		w.conversations++;
		convlog_conv_free(rec);
		for (int i = 0; i < RMSG; i++) {
			if (rm_[i].conv != c)
				continue;
			w.messages++;
			w.token_total += rm_[i].tokens >= 0 ? rm_[i].tokens : 0;
			w.cost_total += rm_[i].cost >= 0 ? rm_[i].cost : 0;
		}
	}
	CK_OK(convlog_session_get_summary(db, sid, &got));
	ck_assert_uint_eq(got.conversations, w.conversations);
	ck_assert_uint_eq(got.messages, w.messages);
	ck_assert_int_eq(got.token_total, w.token_total);
	ck_assert_int_eq(got.cost_total, w.cost_total);
	ck_assert_int_eq(got.first_activity_at, w.first_activity_at);
	ck_assert_int_eq(got.last_activity_at, w.last_activity_at);
}

START_TEST(test_usage__random_messages_match_an_in_memory_tally)
{
	static tally t[128];
	uint64_t s = 0x5eed0123456789abull;
	static const char *const users[] = {NULL, "ann", "ben", "zed"};
	static const char *const orgs[] = {NULL, "o1", "o2"};
	static const char *const sessions[] = {NULL, "sa", "sb"};

	/* a fresh store: the fixture's data is not in the tally */
	convlog_close(db);
	tu_rmrf(path);
	open_db();
	random_store(&s);
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < 400; i++) {
			convlog_usage_query q = query((int)(tu_rand(&s) % 6));
			q.include_deleted = tu_rand(&s) % 3 == 0;
			q.user_id = users[tu_rand(&s) % 4];
			q.org_id = tu_rand(&s) % 3 ? NULL : orgs[tu_rand(&s) % 3];
			q.session_id = tu_rand(&s) % 3 ? NULL : sessions[tu_rand(&s) % 3];
			if (tu_rand(&s) % 5 == 0) {
				q.has_conv = 1;
				q.conv_id = rc_[tu_rand(&s) % RCONV].id;
			}
			if (tu_rand(&s) % 2) {
				int64_t base = tu_rand(&s) % 2 ? T0 : 0;
				q.since = base + (int64_t)(tu_rand(&s) % (30 * DAY)) - 15 * DAY;
				q.until = tu_rand(&s) % 3 ? q.since + (int64_t)(tu_rand(&s) % (10 * DAY)) : 0;
				if (tu_rand(&s) % 4 == 0)
					q.since = 0;
			}
			compare(&q, t, 128);
		}
		compare_session("sa");
		compare_session("sb");
		compare_session("sc");
		reopen();
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("usage");
	TCase *tc = tcase_create("usage");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_usage__no_grouping_sums_every_live_message);
	tcase_add_test(tc, test_usage__groups_by_role);
	tcase_add_test(tc, test_usage__groups_by_model_sum_tokens_and_cost);
	tcase_add_test(tc, test_usage__groups_by_org_and_user_of_the_conversation);
	tcase_add_test(tc, test_usage__groups_by_utc_day_including_negative_times);
	tcase_add_test(tc, test_usage__day_keys_are_civil_dates_at_the_edges);
	tcase_add_test(tc, test_usage__scopes_walk_their_index_and_check_the_rest);
	tcase_add_test(tc, test_usage__conversation_scope_counts_own_messages);
	tcase_add_test(tc, test_usage__time_range_is_half_open);
	tcase_add_test(tc, test_usage__activity_index_walk_stops_before_since);
	tcase_add_test(tc, test_usage__latency_percentiles_are_nearest_rank);
	tcase_add_test(tc, test_usage__percentiles_hold_for_sorted_reversed_and_repeated_latencies);
	tcase_add_test(tc, test_usage__session_summary_counts_own_messages_of_live_conversations);
	tcase_add_test(tc, test_usage__unknown_session_is_all_zeros);
	tcase_add_test(tc, test_usage__bad_arguments_are_einval);
	tcase_add_test(tc, test_usage__failed_allocations_report_enomem);
	tcase_add_test(tc, test_usage__long_scope_ids_are_hashed_in_keys_but_compared_whole);
	tcase_add_test(tc, test_usage__random_messages_match_an_in_memory_tally);
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
