/*
 * Message trees, forks, replay, resume points and creation-ordered
 * listings; and a randomized test of trees and forks against an in-memory
 * model (CONVLOG_SEED=<n> reruns one seed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static char path[256];
static convlog_db *db;

static convlog_options *opts(void)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_OFF);

	CK_OK(convlog_options_set_flush_interval_ms(o, 50));
	return o;
}

static void setup(void)
{
	convlog_options *o = opts();

	tu_tmppath(path, sizeof(path), "tree");
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

static uint32_t append(const convlog_uuid *c, uint32_t parent, const char *role, const char *text)
{
	convlog_msg m;
	uint32_t seq;

	convlog_msg_init(&m);
	m.conv_id = *c;
	m.parent_seq = parent;
	m.role = role;
	m.content = text;
	m.content_len = strlen(text);
	CK_OK(convlog_msg_append(db, NULL, &m, &seq));
	return seq;
}

/* Collects "seq:content" of an iterator into buf, space separated. */
static void collect(convlog_msg_iter *it, char *buf, size_t n)
{
	const convlog_msg *m;
	int rc;

	buf[0] = '\0';
	while ((rc = convlog_msg_iter_next(it, &m)) == 0) {
		size_t l = strlen(buf);
		snprintf(buf + l, n - l, "%s%u:%.*s", l ? " " : "", m->seq, (int)m->content_len,
			 m->content);
	}
	ck_assert_int_eq(rc, CONVLOG_DONE);
	convlog_msg_iter_free(it);
}

static const char *thread(const convlog_uuid *c, uint32_t seq)
{
	static char buf[4096];
	convlog_msg_iter *it;

	CK_OK(convlog_msg_thread(db, c, seq, &it));
	collect(it, buf, sizeof(buf));
	return buf;
}

static const char *children(const convlog_uuid *c, uint32_t seq)
{
	static char buf[4096];
	convlog_msg_iter *it;

	CK_OK(convlog_msg_children(db, c, seq, &it));
	collect(it, buf, sizeof(buf));
	return buf;
}

static const char *all(const convlog_uuid *c)
{
	static char buf[4096];
	convlog_msg_iter *it;

	CK_OK(convlog_msg_range(db, c, CONVLOG_RANGE_ALL, 0, 0, &it));
	collect(it, buf, sizeof(buf));
	return buf;
}

START_TEST(test_tree__regenerated_answers_are_siblings_and_the_tip_switches)
{
	convlog_uuid c = tu_conv(db, NULL, "tree");
	convlog_conv *g;

	append(&c, CONVLOG_PARENT_TIP, "user", "q");          /* 1 */
	append(&c, CONVLOG_PARENT_TIP, "assistant", "a1");    /* 2 */
	append(&c, 1, "assistant", "a2");                     /* 3: regenerated */
	append(&c, CONVLOG_PARENT_TIP, "user", "follow-up");  /* 4 -> 3 */
	ck_assert_str_eq(children(&c, 1), "2:a1 3:a2");
	ck_assert_str_eq(children(&c, 0), "1:q");
	ck_assert_str_eq(thread(&c, 0), "1:q 3:a2 4:follow-up");
	ck_assert_str_eq(thread(&c, 2), "1:q 2:a1");
	CK_OK(convlog_conv_set_tip(db, NULL, &c, 2));
	append(&c, CONVLOG_PARENT_TIP, "user", "other branch"); /* 5 -> 2 */
	ck_assert_str_eq(thread(&c, 0), "1:q 2:a1 5:other branch");
	CK_OK(convlog_conv_get(db, &c, &g));
	ck_assert_uint_eq(g->tip_seq, 5);
	convlog_conv_free(g);
	CK_ERR(convlog_conv_set_tip(db, NULL, &c, 9), CONVLOG_EINVAL);
	CK_ERR(convlog_conv_set_tip(db, NULL, &c, 0), CONVLOG_EINVAL);
	convlog_msg_iter *it;
	CK_ERR(convlog_msg_thread(db, &c, 9, &it), CONVLOG_ENOTFOUND);
	reopen();
	ck_assert_str_eq(thread(&c, 0), "1:q 2:a1 5:other branch");
	ck_assert_str_eq(children(&c, 2), "5:other branch");
	tu_verify_clean(db);
}
END_TEST

START_TEST(test_tree__a_fork_shares_its_parents_prefix)
{
	convlog_uuid p = tu_conv(db, "u", "parent"), f, ff;
	convlog_conv o, *g;
	const char *tags[] = {"forked"};

	append(&p, CONVLOG_PARENT_TIP, "user", "p1");
	append(&p, CONVLOG_PARENT_TIP, "assistant", "p2");
	append(&p, CONVLOG_PARENT_TIP, "user", "p3");
	append(&p, CONVLOG_PARENT_TIP, "assistant", "p4");
	convlog_conv_init(&o);
	o.system_prompt = "Answer in French.";
	o.tags = tags;
	o.n_tags = 1;
	CK_OK(convlog_conv_fork(db, NULL, &p, 2, &o, CONVLOG_CONV_SYSTEM_PROMPT | CONVLOG_CONV_TAGS, &f));
	CK_OK(convlog_conv_get(db, &f, &g));
	ck_assert_mem_eq(g->parent_id.bytes, p.bytes, 16);
	ck_assert_uint_eq(g->fork_seq, 2);
	ck_assert_uint_eq(g->depth, 1);
	ck_assert_uint_eq(g->tip_seq, 2);
	ck_assert_uint_eq(g->message_count, 2);
	ck_assert_str_eq(g->system_prompt, "Answer in French.");
	ck_assert_str_eq(g->user_id, "u");      /* copied */
	ck_assert_str_eq(g->title, "parent");   /* copied */
	ck_assert_str_eq(g->tags[0], "forked"); /* overridden */
	convlog_conv_free(g);
	ck_assert_uint_eq(append(&f, CONVLOG_PARENT_TIP, "user", "f3"), 3);
	append(&f, CONVLOG_PARENT_TIP, "assistant", "f4");
	ck_assert_str_eq(all(&f), "1:p1 2:p2 3:f3 4:f4");
	ck_assert_str_eq(thread(&f, 0), "1:p1 2:p2 3:f3 4:f4");
	ck_assert_str_eq(all(&p), "1:p1 2:p2 3:p3 4:p4");
	/* inherited messages keep their owner */
	convlog_msg *m;
	CK_OK(convlog_msg_get(db, &f, 1, &m));
	ck_assert_mem_eq(m->conv_id.bytes, p.bytes, 16);
	convlog_msg_free(m);
	CK_OK(convlog_msg_get(db, &f, 3, &m));
	ck_assert_mem_eq(m->conv_id.bytes, f.bytes, 16);
	convlog_msg_free(m);
	/* children of the fork point, seen from each side */
	ck_assert_str_eq(children(&f, 2), "3:f3");
	ck_assert_str_eq(children(&p, 2), "3:p3");
	/* a fork of the fork reaches the grandparent */
	CK_OK(convlog_conv_fork(db, NULL, &f, 3, NULL, 0, &ff));
	append(&ff, CONVLOG_PARENT_TIP, "assistant", "g4");
	ck_assert_str_eq(thread(&ff, 0), "1:p1 2:p2 3:f3 4:g4");
	CK_OK(convlog_conv_get(db, &ff, &g));
	ck_assert_uint_eq(g->depth, 2);
	ck_assert_int_eq(g->token_total, 0);
	convlog_conv_free(g);
	/* inherited messages are superseded in their own conversation */
	convlog_msg e;
	convlog_msg_init(&e);
	e.content = "x";
	e.content_len = 1;
	CK_ERR(convlog_msg_supersede(db, NULL, &f, 1, &e, CONVLOG_MSG_CONTENT), CONVLOG_EINVAL);
	CK_ERR(convlog_conv_fork(db, NULL, &p, 9, NULL, 0, NULL), CONVLOG_EINVAL);
	CK_ERR(convlog_conv_fork(db, NULL, &p, 1, &o, CONVLOG_CONV_CREATED_AT, NULL), CONVLOG_EINVAL);
	/* the fork is listed under its parent; deleting the parent leaves it */
	convlog_conv_filter fl;
	convlog_conv_iter *li;
	const convlog_conv *lc;
	convlog_conv_filter_init(&fl);
	fl.has_parent = 1;
	fl.parent_id = p;
	CK_OK(convlog_conv_list(db, &fl, &li));
	CK_OK(convlog_conv_iter_next(li, &lc));
	ck_assert_mem_eq(lc->id.bytes, f.bytes, 16);
	ck_assert_int_eq(convlog_conv_iter_next(li, &lc), CONVLOG_DONE);
	convlog_conv_iter_free(li);
	CK_OK(convlog_conv_delete(db, NULL, &p));
	ck_assert_str_eq(all(&f), "1:p1 2:p2 3:f3 4:f4");
	CK_ERR(convlog_conv_fork(db, NULL, &p, 1, NULL, 0, NULL), CONVLOG_ETRANSITION);
	/* a fork point cannot move */
	convlog_conv pf;
	convlog_conv_init(&pf);
	pf.parent_id = p;
	pf.fork_seq = 1;
	CK_ERR(convlog_conv_patch(db, NULL, &f, &pf, CONVLOG_CONV_PARENT), CONVLOG_EINVAL);
	reopen();
	ck_assert_str_eq(thread(&ff, 0), "1:p1 2:p2 3:f3 4:g4");
	tu_verify_clean(db);
}
END_TEST

START_TEST(test_tree__replay_forks_at_the_start_and_returns_the_user_turns)
{
	convlog_uuid p = tu_conv(db, "u", "original"), r;
	convlog_msg_iter *turns;
	convlog_conv *g;
	char buf[1024];

	append(&p, CONVLOG_PARENT_TIP, "system", "be brief");
	append(&p, CONVLOG_PARENT_TIP, "user", "first question");
	append(&p, CONVLOG_PARENT_TIP, "assistant", "first answer");
	append(&p, 2, "assistant", "regenerated answer");
	append(&p, CONVLOG_PARENT_TIP, "user", "second question");
	CK_OK(convlog_conv_replay(db, NULL, &p, "You are a pirate.", &r, &turns));
	collect(turns, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2:first question 5:second question");
	CK_OK(convlog_conv_get(db, &r, &g));
	ck_assert_str_eq(g->system_prompt, "You are a pirate.");
	ck_assert_uint_eq(g->fork_seq, 0);
	ck_assert_uint_eq(g->message_count, 0);
	ck_assert_mem_eq(g->parent_id.bytes, p.bytes, 16);
	convlog_conv_free(g);
	ck_assert_uint_eq(append(&r, CONVLOG_PARENT_TIP, "user", "first question"), 1);
	ck_assert_str_eq(all(&r), "1:first question");
	tu_verify_clean(db);
}
END_TEST

START_TEST(test_tree__cursors_are_set_atomically_with_appends)
{
	convlog_uuid c = tu_conv(db, NULL, NULL);
	convlog_txn *t;
	convlog_msg m;
	int64_t v;

	CK_ERR(convlog_conv_get_cursor(db, &c, "client", &v), CONVLOG_ENOTFOUND);
	CK_OK(convlog_txn_begin(db, &t));
	convlog_msg_init(&m);
	m.conv_id = c;
	m.role = "user";
	CK_OK(convlog_msg_append(db, t, &m, NULL));
	CK_OK(convlog_conv_set_cursor(db, t, &c, "client", 37));
	CK_OK(convlog_conv_set_cursor(db, t, &c, "server", -36));
	convlog_txn_abort(t);
	CK_ERR(convlog_conv_get_cursor(db, &c, "client", &v), CONVLOG_ENOTFOUND);
	CK_OK(convlog_txn_begin(db, &t));
	CK_OK(convlog_msg_append(db, t, &m, NULL));
	CK_OK(convlog_conv_set_cursor(db, t, &c, "client", 37));
	CK_OK(convlog_conv_set_cursor(db, t, &c, "server", -36));
	CK_OK(convlog_conv_set_cursor(db, t, &c, "client", 38));
	CK_OK(convlog_txn_commit(t));
	reopen();
	CK_OK(convlog_conv_get_cursor(db, &c, "client", &v));
	ck_assert_int_eq(v, 38);
	CK_OK(convlog_conv_get_cursor(db, &c, "server", &v));
	ck_assert_int_eq(v, -36);
	CK_OK(convlog_conv_clear_cursor(db, NULL, &c, "server"));
	CK_OK(convlog_conv_clear_cursor(db, NULL, &c, "server"));
	CK_ERR(convlog_conv_get_cursor(db, &c, "server", &v), CONVLOG_ENOTFOUND);
	CK_ERR(convlog_conv_set_cursor(db, NULL, &c, "", 1), CONVLOG_EINVAL);
	/* "messages after seq N" for a reconnecting client */
	convlog_msg_iter *it;
	const convlog_msg *mm;
	CK_OK(convlog_msg_range(db, &c, CONVLOG_RANGE_AFTER, 0, 0, &it));
	CK_OK(convlog_msg_iter_next(it, &mm));
	ck_assert_uint_eq(mm->seq, 1);
	convlog_msg_iter_free(it);
	tu_verify_clean(db);
}
END_TEST

static int list_titles(convlog_conv_filter *f, char *buf, size_t n)
{
	convlog_conv_iter *it;
	const convlog_conv *c;
	int rc, count = 0;

	buf[0] = '\0';
	rc = convlog_conv_list(db, f, &it);
	if (rc)
		return rc;
	while ((rc = convlog_conv_iter_next(it, &c)) == 0) {
		size_t l = strlen(buf);
		snprintf(buf + l, n - l, "%s%s", l ? " " : "", c->title);
		count++;
	}
	ck_assert_int_eq(rc, CONVLOG_DONE);
	convlog_conv_iter_free(it);
	return 0;
}

START_TEST(test_tree__sessions_and_agent_logs_list_by_creation)
{
	static const char *titles[] = {"c0", "c1", "c2", "c3", "c4"};
	convlog_conv_filter f;
	char buf[512];

	for (int i = 0; i < 5; i++) {
		convlog_conv c;
		convlog_uuid id;
		convlog_conv_init(&c);
		c.title = titles[i];
		c.org_id = "acme";
		c.session_id = i < 4 ? "s1" : "s2";
		c.initiator_role = i % 2 ? "recruiter_twin" : "bench_sales_twin";
		c.responder_role = "bench_sales_twin";
		c.created_at = 1000 + i;
		CK_OK(convlog_conv_create(db, NULL, &c, &id));
		if (i == 1) /* activity makes c1 the most recent */
			append(&id, CONVLOG_PARENT_TIP, "user", "late");
	}
	convlog_conv_filter_init(&f);
	f.session_id = "s1";
	f.order = CONVLOG_ORDER_CREATED_ASC;
	CK_OK(list_titles(&f, buf, sizeof(buf)));
	ck_assert_str_eq(buf, "c0 c1 c2 c3");
	f.order = CONVLOG_ORDER_CREATED_DESC;
	CK_OK(list_titles(&f, buf, sizeof(buf)));
	ck_assert_str_eq(buf, "c3 c2 c1 c0");
	f.order = CONVLOG_ORDER_DEFAULT;
	CK_OK(list_titles(&f, buf, sizeof(buf)));
	ck_assert_str_eq(buf, "c1 c3 c2 c0");
	convlog_conv_filter_init(&f);
	f.initiator_role = "recruiter_twin";
	CK_OK(list_titles(&f, buf, sizeof(buf)));
	ck_assert_str_eq(buf, "c3 c1");
	convlog_conv_filter_init(&f);
	f.responder_role = "bench_sales_twin";
	f.initiator_role = "bench_sales_twin";
	CK_OK(list_titles(&f, buf, sizeof(buf)));
	ck_assert_str_eq(buf, "c4 c2 c0");
	convlog_conv_filter_init(&f);
	f.org_id = "acme";
	f.order = CONVLOG_ORDER_CREATED_DESC;
	CK_OK(list_titles(&f, buf, sizeof(buf)));
	ck_assert_str_eq(buf, "c4 c3 c2 c1 c0");
	convlog_conv_filter_init(&f);
	f.order = CONVLOG_ORDER_CREATED_ASC;
	CK_OK(list_titles(&f, buf, sizeof(buf)));
	ck_assert_str_eq(buf, "c0 c1 c2 c3 c4");
	f.tag = "x";
	CK_ERR(list_titles(&f, buf, sizeof(buf)), CONVLOG_EINVAL);
	convlog_conv_filter_init(&f);
	f.initiator_role = "recruiter_twin";
	f.order = CONVLOG_ORDER_ACTIVITY;
	CK_ERR(list_titles(&f, buf, sizeof(buf)), CONVLOG_EINVAL);
	convlog_session_summary ss = {.version = CONVLOG_SESSION_VERSION};
	(void)ss;
	tu_verify_clean(db);
}
END_TEST

START_TEST(test_tree__oldest_first_paging_visits_each_once)
{
	convlog_conv_filter f;
	char *tok = NULL;
	int seen = 0;
	int64_t prev = 0;

	for (int i = 0; i < 40; i++) {
		convlog_conv c;
		convlog_conv_init(&c);
		c.user_id = "pager";
		c.created_at = 5000 + (i * 7919) % 40;
		CK_OK(convlog_conv_create(db, NULL, &c, NULL));
		if (i == 20)
			CK_OK(convlog_checkpoint(db));
	}
	for (int page = 0; page < 20; page++) {
		convlog_conv_iter *it;
		const convlog_conv *c;
		int got = 0, rc;
		convlog_conv_filter_init(&f);
		f.user_id = "pager";
		f.order = CONVLOG_ORDER_CREATED_ASC;
		f.limit = 6;
		f.after = tok;
		CK_OK(convlog_conv_list(db, &f, &it));
		while ((rc = convlog_conv_iter_next(it, &c)) == 0) {
			ck_assert_int_gt(c->created_at, prev);
			prev = c->created_at;
			got++;
		}
		ck_assert_int_eq(rc, CONVLOG_DONE);
		convlog_free(tok);
		tok = NULL;
		if (got)
			CK_OK(convlog_conv_iter_token(it, &tok));
		convlog_conv_iter_free(it);
		seen += got;
		if (!got)
			break;
	}
	convlog_free(tok);
	ck_assert_int_eq(seen, 40);
}
END_TEST

/* ---- randomized trees and forks against a model ---- */

typedef struct tmsg {
	uint32_t parent;
	int version;
	int corig; /* whose content it is (a purged parent's, in a fork's copy) */
	uint32_t sorig;
} tmsg;

typedef struct tconv {
	convlog_uuid id;
	int parent; /* model index, -1 for a root */
	uint32_t fork_seq;
	uint32_t tip;
	tmsg *own;
	uint32_t n_own;
	int purged;
} tconv;

static tconv *T;
static int nT;

static uint32_t tcount(int c)
{
	return T[c].fork_seq + T[c].n_own;
}

/* (owner, message) of seq in c's seq space */
static int towner(int c, uint32_t seq)
{
	while (seq <= T[c].fork_seq && T[c].parent >= 0)
		c = T[c].parent;
	return c;
}

static tmsg *tmsg_at(int c, uint32_t seq)
{
	int o = towner(c, seq);

	return &T[o].own[seq - T[o].fork_seq - 1];
}

static void tcontent(char *buf, size_t n, int owner, uint32_t seq, int version)
{
	snprintf(buf, n, "c%d-s%u-v%d", owner, seq, version);
}

static void model_check(int c, uint64_t *rng)
{
	char want[8192], got[8192], one[64];
	convlog_msg_iter *it;
	const convlog_msg *m;
	uint32_t n = tcount(c);
	int rc;

	/* every message of the seq space, with its owner */
	CK_OK(convlog_msg_range(db, &T[c].id, CONVLOG_RANGE_ALL, 0, 0, &it));
	for (uint32_t s = 1; s <= n; s++) {
		CK_OK(convlog_msg_iter_next(it, &m));
		int o = towner(c, s);
		tcontent(one, sizeof(one), tmsg_at(c, s)->corig, tmsg_at(c, s)->sorig,
			 tmsg_at(c, s)->version);
		ck_assert_uint_eq(m->seq, s);
		ck_assert_uint_eq(m->content_len, strlen(one));
		ck_assert_mem_eq(m->content, one, m->content_len);
		ck_assert_mem_eq(m->conv_id.bytes, T[o].id.bytes, 16);
		ck_assert_uint_eq(m->parent_seq, tmsg_at(c, s)->parent);
	}
	ck_assert_int_eq(convlog_msg_iter_next(it, &m), CONVLOG_DONE);
	convlog_msg_iter_free(it);
	/* the thread from the tip and from a random message */
	for (int k = 0; k < 2; k++) {
		uint32_t from = k == 0 ? T[c].tip : (n ? (uint32_t)(tu_rand(rng) % n) + 1 : 0);
		uint32_t chainv[4096], d = 0;
		want[0] = '\0';
		for (uint32_t s = from; s; s = tmsg_at(c, s)->parent)
			chainv[d++] = s;
		for (uint32_t i = d; i-- > 0;) {
			size_t l = strlen(want);
			snprintf(want + l, sizeof(want) - l, "%s%u", l ? " " : "", chainv[i]);
		}
		CK_OK(convlog_msg_thread(db, &T[c].id, from, &it));
		got[0] = '\0';
		while ((rc = convlog_msg_iter_next(it, &m)) == 0) {
			size_t l = strlen(got);
			snprintf(got + l, sizeof(got) - l, "%s%u", l ? " " : "", m->seq);
		}
		convlog_msg_iter_free(it);
		if (from == 0 && k == 0)
			continue; /* tip 0: the empty thread; convlog reads the tip */
		ck_assert_str_eq(got, want);
	}
	/* children of a random message (or the roots) */
	uint32_t of = n ? (uint32_t)(tu_rand(rng) % (n + 1)) : 0;
	want[0] = '\0';
	for (uint32_t s = 1; s <= n; s++) {
		if (tmsg_at(c, s)->parent == of) {
			size_t l = strlen(want);
			snprintf(want + l, sizeof(want) - l, "%s%u", l ? " " : "", s);
		}
	}
	CK_OK(convlog_msg_children(db, &T[c].id, of, &it));
	got[0] = '\0';
	while ((rc = convlog_msg_iter_next(it, &m)) == 0) {
		size_t l = strlen(got);
		snprintf(got + l, sizeof(got) - l, "%s%u", l ? " " : "", m->seq);
	}
	convlog_msg_iter_free(it);
	ck_assert_str_eq(got, want);
	convlog_conv *g;
	CK_OK(convlog_conv_get(db, &T[c].id, &g));
	ck_assert_uint_eq(g->message_count, n);
	ck_assert_uint_eq(g->tip_seq, T[c].tip);
	convlog_conv_free(g);
}

static void tappend(int c, uint64_t *rng)
{
	uint32_t n = tcount(c), parent;
	uint64_t r = tu_rand(rng) % 10;
	char text[64];
	convlog_msg m;
	uint32_t seq;

	parent = r < 6 ? T[c].tip : r < 9 && n ? (uint32_t)(tu_rand(rng) % n) + 1 : 0;
	tcontent(text, sizeof(text), c, n + 1, 0);
	convlog_msg_init(&m);
	m.conv_id = T[c].id;
	m.parent_seq = r < 6 ? CONVLOG_PARENT_TIP : parent;
	m.role = tu_rand(rng) % 2 ? "user" : "assistant";
	m.content = text;
	m.content_len = strlen(text);
	CK_OK(convlog_msg_append(db, NULL, &m, &seq));
	ck_assert_uint_eq(seq, n + 1);
	T[c].own = realloc(T[c].own, (T[c].n_own + 1) * sizeof(tmsg));
	T[c].own[T[c].n_own++] = (tmsg){parent, 0, c, n + 1};
	T[c].tip = seq;
}

static void tfork(int c, uint64_t *rng)
{
	uint32_t at = (uint32_t)(tu_rand(rng) % (tcount(c) + 1));
	tconv *n;

	T = realloc(T, (size_t)(nT + 1) * sizeof(*T));
	n = &T[nT];
	memset(n, 0, sizeof(*n));
	CK_OK(convlog_conv_fork(db, NULL, &T[c].id, at, NULL, 0, &n->id));
	n->parent = c;
	n->fork_seq = at;
	n->tip = at;
	nT++;
}

static void tsupersede(int c, uint64_t *rng)
{
	char text[64];
	convlog_msg m;

	if (!T[c].n_own)
		return;
	uint32_t i = (uint32_t)(tu_rand(rng) % T[c].n_own), seq = T[c].fork_seq + i + 1;
	T[c].own[i].version++;
	tcontent(text, sizeof(text), T[c].own[i].corig, T[c].own[i].sorig, T[c].own[i].version);
	convlog_msg_init(&m);
	m.content = text;
	m.content_len = strlen(text);
	CK_OK(convlog_msg_supersede(db, NULL, &T[c].id, seq, &m, CONVLOG_MSG_CONTENT));
}

/* Deletes and purges c (in one transaction or two calls); its forks get
 * copies of the messages they inherited from it and move up a level. */
static void tpurge(int c, uint64_t *rng)
{
	convlog_txn *txn = NULL;
	convlog_conv *g;

	if (tu_rand(rng) % 2) {
		CK_OK(convlog_txn_begin(db, &txn));
		CK_OK(convlog_conv_delete(db, txn, &T[c].id));
		CK_OK(convlog_conv_purge(db, txn, &T[c].id));
		CK_OK(convlog_txn_commit(txn));
	} else {
		CK_ERR(convlog_conv_purge(db, NULL, &T[c].id), CONVLOG_ETRANSITION);
		CK_OK(convlog_conv_delete(db, NULL, &T[c].id));
		CK_OK(convlog_conv_purge(db, NULL, &T[c].id));
	}
	for (int k = 0; k < nT; k++) {
		if (T[k].purged || T[k].parent != c)
			continue;
		uint32_t from = T[c].parent < 0 ? 1 : T[c].fork_seq + 1, to = T[k].fork_seq;
		uint32_t ncopy = to >= from ? to - from + 1 : 0;
		tmsg *own = malloc((ncopy + T[k].n_own + 1) * sizeof(tmsg));
		for (uint32_t s = from; s <= to; s++)
			own[s - from] = T[c].own[s - T[c].fork_seq - 1];
		if (T[k].n_own)
			memcpy(own + ncopy, T[k].own, T[k].n_own * sizeof(tmsg));
		free(T[k].own);
		T[k].own = own;
		T[k].n_own += ncopy;
		T[k].fork_seq -= ncopy;
		T[k].parent = T[c].parent;
	}
	T[c].purged = 1;
	CK_ERR(convlog_conv_get(db, &T[c].id, &g), CONVLOG_ENOTFOUND);
	CK_ERR(convlog_conv_purge(db, NULL, &T[c].id), CONVLOG_ENOTFOUND);
}

static void run_tree_seed(uint64_t seed, int ops)
{
	uint64_t rng = seed * 0x9E3779B97F4A7C15ull + 7;

	T = NULL;
	nT = 0;
	for (int i = 0; i < ops; i++) {
		uint64_t r = tu_rand(&rng) % 100;
		int c = nT ? (int)(tu_rand(&rng) % (uint64_t)nT) : -1;
		for (int tries = 0; c >= 0 && T[c].purged && tries < 8; tries++)
			c = (int)(tu_rand(&rng) % (uint64_t)nT);
		if (c >= 0 && T[c].purged)
			continue;
		if (c < 0 || r < 8) {
			T = realloc(T, (size_t)(nT + 1) * sizeof(*T));
			memset(&T[nT], 0, sizeof(T[0]));
			T[nT].parent = -1;
			T[nT].id = tu_conv(db, NULL, "root");
			nT++;
		} else if (r < 60) {
			tappend(c, &rng);
		} else if (r < 70 && tcount(c)) {
			uint32_t s = (uint32_t)(tu_rand(&rng) % tcount(c)) + 1;
			CK_OK(convlog_conv_set_tip(db, NULL, &T[c].id, s));
			T[c].tip = s;
		} else if (r < 82) {
			tfork(c, &rng);
		} else if (r < 92) {
			tsupersede(c, &rng);
		} else if (r < 95) {
			reopen();
		} else if (r < 97) {
			CK_OK(convlog_checkpoint(db));
		} else {
			tpurge(c, &rng);
		}
		if (i % 250 == 249)
			for (int k = 0; k < nT; k++)
				if (!T[k].purged)
					model_check(k, &rng);
	}
	for (int k = 0; k < nT; k++)
		if (!T[k].purged)
			model_check(k, &rng);
	reopen();
	for (int k = 0; k < nT; k++)
		if (!T[k].purged)
			model_check(k, &rng);
	tu_verify_clean(db);
	for (int k = 0; k < nT; k++)
		free(T[k].own);
	free(T);
}

START_TEST(test_tree__random_trees_and_forks_match_the_model)
{
	const char *env = getenv("CONVLOG_SEED");

	if (env) {
		run_tree_seed(strtoull(env, NULL, 10), 3000);
		return;
	}
	for (uint64_t seed = 1; seed <= 3; seed++) {
		teardown();
		setup();
		run_tree_seed(seed, 1500);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tree");
	TCase *tc = tcase_create("tree");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_tree__regenerated_answers_are_siblings_and_the_tip_switches);
	tcase_add_test(tc, test_tree__a_fork_shares_its_parents_prefix);
	tcase_add_test(tc, test_tree__replay_forks_at_the_start_and_returns_the_user_turns);
	tcase_add_test(tc, test_tree__cursors_are_set_atomically_with_appends);
	tcase_add_test(tc, test_tree__sessions_and_agent_logs_list_by_creation);
	tcase_add_test(tc, test_tree__oldest_first_paging_visits_each_once);
	tcase_add_test(tc, test_tree__random_trees_and_forks_match_the_model);
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
