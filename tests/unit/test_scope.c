/* Scoped handles (convlog_scope_open): every call through a handle scoped
 * to one user or org sees and changes only that scope's conversations.
 * Each call is tried with ids from outside the scope: the answer must be
 * the one an id that never existed gets (not-found, the same message),
 * and nothing may change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static char path[256];
static convlog_db *db;   /* unscoped */
static convlog_db *sa;   /* user alice */
static convlog_db *sorg; /* org acme: alice and bob */
static convlog_uuid a1, a2, b1, b2, c1, nowhere, bmsg, amsg;

static convlog_uuid mk(convlog_db *h, const char *org, const char *user, const char *ext,
		       const char *session, const char *title)
{
	static const char *tags[] = {"t"};
	convlog_conv c;
	convlog_uuid id;

	convlog_conv_init(&c);
	c.org_id = org;
	c.user_id = user;
	c.external_id = ext;
	c.session_id = session;
	c.title = title;
	c.tags = tags;
	c.n_tags = 1;
	CK_OK(convlog_conv_create(h, NULL, &c, &id));
	return id;
}

static void setup(void)
{
	tu_tmppath(path, sizeof(path), "scope");
	db = tu_open(path, NULL);
	a1 = mk(db, "acme", "alice", "ext-a1", "s1", "alice one");
	a2 = mk(db, "acme", "alice", NULL, NULL, "alice two");
	b1 = mk(db, "acme", "bob", "ext-b1", "s1", "bob one");
	b2 = mk(db, "acme", "bob", NULL, NULL, "bob two");
	c1 = mk(db, "other", "carol", NULL, "s1", "carol one");
	const char *who[] = {"alice", "bob", "carol"};
	convlog_uuid *ids[] = {&a1, &b1, &c1};
	for (int u = 0; u < 3; u++)
		for (int i = 0; i < 3; i++) {
			char text[128];
			snprintf(text, sizeof(text), "secret words of %s number %d", who[u], i);
			tu_msg(db, ids[u], i % 2 ? "assistant" : "user", text);
		}
	tu_msg(db, &a2, "user", "secret second of alice");
	CK_OK(convlog_conv_set_cursor(db, NULL, &a1, "c", 5));
	CK_OK(convlog_conv_set_cursor(db, NULL, &b1, "c", 7));
	CK_OK(convlog_conv_delete(db, NULL, &b2));
	convlog_msg *m;
	CK_OK(convlog_msg_get(db, &b1, 2, &m));
	bmsg = m->id;
	convlog_msg_free(m);
	CK_OK(convlog_msg_get(db, &a1, 2, &m));
	amsg = m->id;
	convlog_msg_free(m);
	CK_OK(convlog_uuid_generate(&nowhere));
	CK_OK(convlog_scope_open(db, NULL, "alice", &sa));
	CK_OK(convlog_scope_open(db, "acme", NULL, &sorg));
}

static void teardown(void)
{
	convlog_close(sa);
	convlog_close(sorg);
	convlog_close(db);
	tu_rmrf(path);
}

/* The error message with every occurrence of id `from` written as `to`. */
static void swap_id(char *msg, const convlog_uuid *from, const convlog_uuid *to)
{
	char f[CONVLOG_UUID_STRLEN], t[CONVLOG_UUID_STRLEN], *p;

	convlog_uuid_format(from, f);
	convlog_uuid_format(to, t);
	while ((p = strstr(msg, f)) != NULL)
		memcpy(p, t, strlen(t));
}

/* A call about one conversation id, through handle h. */
typedef int (*idcall)(convlog_db *h, const convlog_uuid *id);

/* Through the scoped handle, the call on `hidden` must fail exactly as on
 * an id that never existed. */
static void like_unknown(const char *what, idcall fn, const convlog_uuid *hidden)
{
	char m1[512], m2[512];
	int r1 = fn(sa, hidden);

	snprintf(m1, sizeof(m1), "%s", convlog_errmsg());
	int r2 = fn(sa, &nowhere);
	snprintf(m2, sizeof(m2), "%s", convlog_errmsg());
	ck_assert_msg(r1 == CONVLOG_ENOTFOUND, "%s on a hidden conversation: %d (%s)", what, r1, m1);
	ck_assert_msg(r2 == r1, "%s: unknown id gives %d, hidden %d", what, r2, r1);
	swap_id(m1, hidden, &nowhere);
	ck_assert_msg(strcmp(m1, m2) == 0, "%s: '%s' differs from '%s'", what, m1, m2);
}

static int c_get(convlog_db *h, const convlog_uuid *id)
{
	convlog_conv *c = NULL;
	int rc = convlog_conv_get(h, id, &c);
	ck_assert(rc != 0 || c);
	convlog_conv_free(c);
	return rc;
}

static int c_msg_get(convlog_db *h, const convlog_uuid *id)
{
	convlog_msg *m = NULL;
	int rc = convlog_msg_get(h, id, 1, &m);
	convlog_msg_free(m);
	return rc;
}

static int drain(int rc, convlog_msg_iter *it)
{
	const convlog_msg *m;
	if (rc)
		return rc;
	while ((rc = convlog_msg_iter_next(it, &m)) == 0)
		;
	convlog_msg_iter_free(it);
	return rc == CONVLOG_DONE ? 0 : rc;
}

static int c_range(convlog_db *h, const convlog_uuid *id)
{
	convlog_msg_iter *it = NULL;
	int rc = convlog_msg_range(h, id, CONVLOG_RANGE_LAST, 2, 0, &it);
	return drain(rc, it);
}

static int c_thread(convlog_db *h, const convlog_uuid *id)
{
	convlog_msg_iter *it = NULL;
	int rc = convlog_msg_thread(h, id, 3, &it);
	return drain(rc, it);
}

static int c_children(convlog_db *h, const convlog_uuid *id)
{
	convlog_msg_iter *it = NULL;
	int rc = convlog_msg_children(h, id, 0, &it);
	return drain(rc, it);
}

static int c_get_cursor(convlog_db *h, const convlog_uuid *id)
{
	int64_t v = 0;
	return convlog_conv_get_cursor(h, id, "c", &v);
}

static int c_patch(convlog_db *h, const convlog_uuid *id)
{
	convlog_conv f;
	convlog_conv_init(&f);
	f.title = "taken over";
	return convlog_conv_patch(h, NULL, id, &f, CONVLOG_CONV_TITLE);
}

static int c_set_status(convlog_db *h, const convlog_uuid *id)
{
	return convlog_conv_set_status(h, NULL, id, CONVLOG_STATUS_COMPLETED);
}

static int c_archive(convlog_db *h, const convlog_uuid *id)
{
	return convlog_conv_archive(h, NULL, id);
}

static int c_delete(convlog_db *h, const convlog_uuid *id)
{
	return convlog_conv_delete(h, NULL, id);
}

static int c_restore(convlog_db *h, const convlog_uuid *id)
{
	return convlog_conv_restore(h, NULL, id);
}

static int c_purge(convlog_db *h, const convlog_uuid *id)
{
	return convlog_conv_purge(h, NULL, id);
}

static int append_in(convlog_db *h, convlog_txn *t, const convlog_uuid *id)
{
	convlog_msg m;
	convlog_msg_init(&m);
	m.conv_id = *id;
	m.role = "user";
	m.content = "injected";
	m.content_len = 8;
	return convlog_msg_append(h, t, &m, NULL);
}

static int c_append(convlog_db *h, const convlog_uuid *id)
{
	return append_in(h, NULL, id);
}

static int c_supersede(convlog_db *h, const convlog_uuid *id)
{
	convlog_msg m;
	convlog_msg_init(&m);
	m.content = "rewritten";
	m.content_len = 9;
	return convlog_msg_supersede(h, NULL, id, 1, &m, CONVLOG_MSG_CONTENT);
}

static int c_set_tip(convlog_db *h, const convlog_uuid *id)
{
	return convlog_conv_set_tip(h, NULL, id, 1);
}

static int c_fork(convlog_db *h, const convlog_uuid *id)
{
	convlog_uuid out;
	return convlog_conv_fork(h, NULL, id, 1, NULL, 0, &out);
}

static int c_replay(convlog_db *h, const convlog_uuid *id)
{
	convlog_uuid out;
	convlog_msg_iter *it = NULL;
	int rc = convlog_conv_replay(h, NULL, id, NULL, &out, &it);
	return drain(rc, it);
}

static int c_set_cursor(convlog_db *h, const convlog_uuid *id)
{
	return convlog_conv_set_cursor(h, NULL, id, "c", 99);
}

static int c_clear_cursor(convlog_db *h, const convlog_uuid *id)
{
	return convlog_conv_clear_cursor(h, NULL, id, "c");
}

static int c_put(convlog_db *h, const convlog_uuid *id)
{
	convlog_conv c;
	convlog_conv_init(&c);
	c.id = *id;
	c.user_id = "alice";
	c.status = CONVLOG_STATUS_ACTIVE;
	c.title = "put over";
	return convlog_conv_put(h, NULL, &c);
}

static int c_txn_append(convlog_db *h, const convlog_uuid *id)
{
	convlog_txn *t;
	int rc;
	CK_OK(convlog_txn_begin(h, &t));
	rc = append_in(h, t, id);
	/* the failed call wrote nothing: the txn carries on */
	int rc2 = append_in(h, t, &a1);
	ck_assert_msg(rc2 == 0, "append to a1 in the same txn: %d %s", rc2, convlog_errmsg());
	CK_OK(convlog_txn_commit(t));
	return rc;
}

static const struct {
	const char *name;
	idcall fn;
} reads[] = {
	{"conv_get", c_get},       {"msg_get", c_msg_get},           {"msg_range", c_range},
	{"msg_thread", c_thread},  {"msg_children", c_children},     {"get_cursor", c_get_cursor},
}, writes[] = {
	{"conv_patch", c_patch},     {"set_status", c_set_status}, {"archive", c_archive},
	{"delete", c_delete},        {"restore", c_restore},       {"purge", c_purge},
	{"msg_append", c_append},    {"supersede", c_supersede},   {"set_tip", c_set_tip},
	{"fork", c_fork},            {"replay", c_replay},         {"set_cursor", c_set_cursor},
	{"clear_cursor", c_clear_cursor},
};

static uint64_t conv_state(const convlog_uuid *id)
{
	convlog_conv *c;
	int64_t cur = 0;

	CK_OK(convlog_conv_get(db, id, &c));
	uint64_t h = c->message_count * 1000003u + (uint64_t)c->status * 101u + c->tip_seq +
		     strlen(c->title) * 7u + (uint64_t)c->updated_at;
	if (convlog_conv_get_cursor(db, id, "c", &cur) == 0)
		h += (uint64_t)cur << 32;
	convlog_conv_free(c);
	return h;
}

START_TEST(test_scope__hidden_ids_read_as_unknown)
{
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
		like_unknown(reads[i].name, reads[i].fn, &b1);
		like_unknown(reads[i].name, reads[i].fn, &c1);
		ck_assert_msg(reads[i].fn(sa, &a1) == 0, "%s on alice's own: %s", reads[i].name,
			      convlog_errmsg());
		/* the org scope sees bob, not carol */
		ck_assert_msg(reads[i].fn(sorg, &b1) == 0, "%s via the org", reads[i].name);
		ck_assert_int_eq(reads[i].fn(sorg, &c1), CONVLOG_ENOTFOUND);
	}
	convlog_conv *c = NULL;
	CK_ERR(convlog_conv_get_by_external(sa, "ext-b1", &c), CONVLOG_ENOTFOUND);
	ck_assert_ptr_null(c);
	CK_OK(convlog_conv_get_by_external(sa, "ext-a1", &c));
	ck_assert_str_eq(c->user_id, "alice");
	convlog_conv_free(c);
	convlog_msg *m = NULL;
	CK_ERR(convlog_msg_get_by_id(sa, &bmsg, &m), CONVLOG_ENOTFOUND);
	ck_assert_ptr_null(m);
	CK_OK(convlog_msg_get_by_id(sa, &amsg, &m));
	convlog_msg_free(m);
	/* deleted ones too */
	like_unknown("conv_get (deleted)", c_get, &b2);
}
END_TEST

START_TEST(test_scope__hidden_ids_cannot_be_changed)
{
	uint64_t before_b1 = conv_state(&b1), before_b2 = conv_state(&b2),
		 before_c1 = conv_state(&c1);
	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
		const convlog_uuid *target = writes[i].fn == c_restore || writes[i].fn == c_purge ? &b2 : &b1;
		like_unknown(writes[i].name, writes[i].fn, target);
		like_unknown(writes[i].name, writes[i].fn, &c1);
	}
	like_unknown("append in a txn", c_txn_append, &b1);
	/* put creates an unknown id, so a hidden one cannot read as unknown:
	 * it is not found, and not overwritten */
	CK_ERR(c_put(sa, &b1), CONVLOG_ENOTFOUND);
	CK_ERR(c_put(sa, &c1), CONVLOG_ENOTFOUND);
	ck_assert_uint_eq(conv_state(&b1), before_b1);
	ck_assert_uint_eq(conv_state(&b2), before_b2);
	ck_assert_uint_eq(conv_state(&c1), before_c1);
	/* creating under a hidden id: taken, as the id of any conversation */
	convlog_conv c;
	convlog_conv_init(&c);
	c.id = b1;
	CK_ERR(convlog_conv_create(sa, NULL, &c, NULL), CONVLOG_EEXIST);
	ck_assert_uint_eq(conv_state(&b1), before_b1);
	tu_verify_clean(db);
}
END_TEST

START_TEST(test_scope__writes_stay_in_the_scope)
{
	convlog_conv c, *got;
	convlog_uuid id, fk;

	/* a new conversation takes the scope's owner */
	convlog_conv_init(&c);
	c.title = "scoped create";
	CK_OK(convlog_conv_create(sa, NULL, &c, &id));
	CK_OK(convlog_conv_get(db, &id, &got));
	ck_assert_str_eq(got->user_id, "alice");
	ck_assert_ptr_null(got->org_id);
	convlog_conv_free(got);
	/* the org scope fills the org */
	CK_OK(convlog_conv_create(sorg, NULL, &c, &id));
	CK_OK(convlog_conv_get(db, &id, &got));
	ck_assert_str_eq(got->org_id, "acme");
	ck_assert_ptr_null(got->user_id);
	convlog_conv_free(got);

	uint64_t n0;
	convlog_stats st = {.version = CONVLOG_STATS_VERSION};
	CK_OK(convlog_stats_get(db, &st));
	n0 = st.conversations;
	/* another owner: refused, nothing written */
	c.user_id = "bob";
	CK_ERR(convlog_conv_create(sa, NULL, &c, NULL), CONVLOG_EINVAL);
	c.user_id = NULL;
	c.org_id = "other";
	CK_ERR(convlog_conv_create(sorg, NULL, &c, NULL), CONVLOG_EINVAL);
	convlog_conv_init(&c);
	c.id = nowhere;
	c.user_id = "bob";
	c.status = CONVLOG_STATUS_ACTIVE;
	CK_ERR(convlog_conv_put(sa, NULL, &c), CONVLOG_EINVAL);
	CK_OK(convlog_stats_get(db, &st));
	ck_assert_uint_eq(st.conversations, n0);

	/* moving one's own conversation out, by patch or fork */
	uint64_t before = conv_state(&a1);
	convlog_conv_init(&c);
	c.user_id = "bob";
	CK_ERR(convlog_conv_patch(sa, NULL, &a1, &c, CONVLOG_CONV_USER_ID), CONVLOG_EINVAL);
	CK_ERR(convlog_conv_patch(sa, NULL, &a1, &c, CONVLOG_CONV_ORG_ID | CONVLOG_CONV_USER_ID),
	       CONVLOG_EINVAL);
	c.user_id = NULL;
	CK_ERR(convlog_conv_patch(sa, NULL, &a1, &c, CONVLOG_CONV_USER_ID), CONVLOG_EINVAL);
	ck_assert_uint_eq(conv_state(&a1), before);
	c.user_id = "bob";
	CK_ERR(convlog_conv_fork(sa, NULL, &a1, 2, &c, CONVLOG_CONV_USER_ID, &fk), CONVLOG_EINVAL);
	/* in an explicit txn the refused write fails the txn: nothing lands */
	convlog_txn *t;
	convlog_msg m;
	convlog_msg_init(&m);
	m.conv_id = a1;
	m.role = "user";
	m.content = "inside the txn";
	m.content_len = strlen(m.content);
	CK_OK(convlog_txn_begin(sa, &t));
	CK_OK(convlog_msg_append(sa, t, &m, NULL));
	CK_ERR(convlog_conv_patch(sa, t, &a1, &c, CONVLOG_CONV_USER_ID), CONVLOG_EINVAL);
	ck_assert_int_ne(convlog_txn_commit(t), 0);
	ck_assert_uint_eq(conv_state(&a1), before);

	/* the scope's own writes work: fork, patch within the scope */
	CK_OK(convlog_conv_fork(sa, NULL, &a1, 2, NULL, 0, &fk));
	CK_OK(convlog_conv_get(sa, &fk, &got));
	ck_assert_str_eq(got->user_id, "alice");
	convlog_conv_free(got);
	convlog_conv_init(&c);
	c.title = "renamed";
	CK_OK(convlog_conv_patch(sa, NULL, &a1, &c, CONVLOG_CONV_TITLE));
	/* a transaction from the scoped handle is bound to it */
	CK_OK(convlog_txn_begin(db, &t));
	CK_ERR(convlog_conv_patch(sa, t, &a1, &c, CONVLOG_CONV_TITLE), CONVLOG_EINVAL);
	convlog_txn_abort(t);
	tu_verify_clean(db);
}
END_TEST

static int ids_of_listing(convlog_db *h, const convlog_conv_filter *f, convlog_uuid *out, int max)
{
	convlog_conv_iter *it;
	const convlog_conv *c;
	int n = 0, rc;

	CK_OK(convlog_conv_list(h, f, &it));
	while ((rc = convlog_conv_iter_next(it, &c)) == 0) {
		ck_assert_int_lt(n, max);
		out[n++] = c->id;
	}
	ck_assert_int_eq(rc, CONVLOG_DONE);
	convlog_conv_iter_free(it);
	return n;
}

static int has(const convlog_uuid *v, int n, const convlog_uuid *id)
{
	for (int i = 0; i < n; i++)
		if (!memcmp(v[i].bytes, id->bytes, 16))
			return 1;
	return 0;
}

static int search_ids(convlog_db *h, const char *q, convlog_uuid *out, int max)
{
	convlog_search_query sq;
	convlog_search_result *r;
	int n = 0;

	convlog_search_query_init(&sq);
	sq.query = q;
	sq.limit = 100;
	CK_OK(convlog_search(h, &sq, &r));
	for (size_t i = 0; i < r->n_hits; i++) {
		ck_assert_int_lt(n, max);
		out[n++] = r->hits[i].conv_id;
	}
	convlog_search_result_free(r);
	return n;
}

START_TEST(test_scope__listings_show_only_the_scope)
{
	convlog_uuid ids[64];
	convlog_conv_filter f;
	int n;

	n = ids_of_listing(sa, NULL, ids, 64);
	ck_assert_int_eq(n, 2);
	ck_assert(has(ids, n, &a1) && has(ids, n, &a2));
	convlog_conv_filter_init(&f);
	f.include_deleted = 1;
	n = ids_of_listing(sorg, &f, ids, 64);
	ck_assert_int_eq(n, 4); /* alice's two, bob's two (one deleted) */
	ck_assert(!has(ids, n, &c1));
	/* a filter naming someone else finds nothing; other filters narrow */
	f.user_id = "bob";
	ck_assert_int_eq(ids_of_listing(sa, &f, ids, 64), 0);
	convlog_conv_filter_init(&f);
	f.tag = "t";
	n = ids_of_listing(sa, &f, ids, 64);
	ck_assert_int_eq(n, 2);
	f.tag = NULL;
	f.session_id = "s1";
	n = ids_of_listing(sa, &f, ids, 64);
	ck_assert_int_eq(n, 1);
	ck_assert(has(ids, n, &a1));
	f.session_id = NULL;
	f.order = CONVLOG_ORDER_CREATED_ASC;
	ck_assert_int_eq(ids_of_listing(sa, &f, ids, 64), 2);

	/* search: the words every user wrote */
	n = search_ids(sa, "secret", ids, 64);
	ck_assert_int_eq(n, 4); /* alice: 3 in a1, 1 in a2 */
	for (int i = 0; i < n; i++)
		ck_assert(!memcmp(ids[i].bytes, a1.bytes, 16) || !memcmp(ids[i].bytes, a2.bytes, 16));
	ck_assert_int_eq(search_ids(sa, "bob", ids, 64), 0);
	ck_assert_int_eq(search_ids(sa, "secret user:bob", ids, 64), 0);
	ck_assert_int_eq(search_ids(sorg, "secret", ids, 64), 7);
	ck_assert_int_eq(search_ids(sorg, "carol", ids, 64), 0);
	ck_assert_int_eq(search_ids(db, "secret", ids, 64), 10);

	/* session summary and usage */
	convlog_session_summary ss = {.version = CONVLOG_SESSION_VERSION};
	CK_OK(convlog_session_get_summary(sa, "s1", &ss));
	ck_assert_uint_eq(ss.conversations, 1);
	ck_assert_uint_eq(ss.messages, 3);
	CK_OK(convlog_session_get_summary(db, "s1", &ss));
	ck_assert_uint_eq(ss.conversations, 3);
	convlog_usage_query uq;
	convlog_usage *u;
	convlog_usage_query_init(&uq);
	uq.group_by = CONVLOG_GROUP_USER;
	CK_OK(convlog_usage_get(sa, &uq, &u));
	ck_assert_uint_eq(u->n_rows, 1);
	ck_assert_str_eq(u->rows[0].key, "alice");
	ck_assert_uint_eq(u->rows[0].count, 4);
	convlog_usage_free(u);
	uq.has_conv = 1;
	uq.conv_id = b1;
	CK_OK(convlog_usage_get(sa, &uq, &u));
	ck_assert_uint_eq(u->n_rows, 0);
	convlog_usage_free(u);

	/* statistics of the scope */
	convlog_stats st = {.version = CONVLOG_STATS_VERSION};
	CK_OK(convlog_stats_get(sa, &st));
	ck_assert_uint_eq(st.conversations, 2);
	ck_assert_uint_eq(st.messages, 4);
	ck_assert_uint_eq(st.segments, 0);
	CK_OK(convlog_stats_get(sorg, &st));
	ck_assert_uint_eq(st.conversations, 4);
	ck_assert_uint_eq(st.deleted_conversations, 1);
	ck_assert_uint_eq(st.messages, 7);
}
END_TEST

static int feed_collect(void *ud, uint64_t pos, const convlog_uuid *conv, int purged)
{
	convlog_uuid *v = ud;
	int i = 0;
	(void)pos;
	(void)purged;
	while (!convlog_uuid_is_nil(&v[i]))
		i++;
	v[i] = *conv;
	return 0;
}

START_TEST(test_scope__sync_carries_only_the_scope)
{
	void *cs;
	size_t len;
	uint64_t upto;
	char p2[256];
	convlog_db *other;
	convlog_sync_result res;
	convlog_uuid ids[64];
	int n;

	/* a purge leaves a tombstone that scoped exports must not carry */
	CK_OK(convlog_conv_purge(db, NULL, &b2));
	memset(ids, 0, sizeof(ids));
	CK_OK(convlog_sync_feed(sa, 0, NULL, feed_collect, ids));
	for (n = 0; !convlog_uuid_is_nil(&ids[n]); n++)
		;
	ck_assert_int_eq(n, 2);
	ck_assert(has(ids, n, &a1) && has(ids, n, &a2));

	CK_OK(convlog_sync_export(sa, 0, &cs, &len, &upto));
	tu_tmppath(p2, sizeof(p2), "scope-peer");
	other = tu_open(p2, NULL);
	CK_OK(convlog_sync_apply(other, cs, len, &res));
	ck_assert_uint_eq(res.created, 2);
	ck_assert_uint_eq(res.messages_added, 4);
	ck_assert_uint_eq(res.purged + res.ignored, 0);
	convlog_free(cs);
	convlog_conv *c;
	CK_OK(convlog_conv_get(other, &a1, &c));
	ck_assert_uint_eq(c->message_count, 3);
	convlog_conv_free(c);
	CK_ERR(convlog_conv_get(other, &b1, &c), CONVLOG_ENOTFOUND);

	/* the other way: a full changeset applied through a scoped handle
	 * takes alice's conversations only and leaves the peer cursor */
	convlog_uuid d1 = mk(other, "acme", "dave", NULL, NULL, "dave's");
	convlog_uuid a3 = mk(other, "acme", "alice", NULL, NULL, "alice on the other device");
	tu_msg(other, &a3, "user", "from the phone");
	CK_OK(convlog_sync_export(other, 0, &cs, &len, NULL));
	CK_OK(convlog_sync_apply(sa, cs, len, &res));
	ck_assert_uint_eq(res.created, 1);
	ck_assert_uint_ge(res.ignored, 1);
	ck_assert_int_eq(res.cursor_moved, 0);
	CK_OK(convlog_conv_get(sa, &a3, &c));
	convlog_conv_free(c);
	CK_ERR(convlog_conv_get(db, &d1, &c), CONVLOG_ENOTFOUND);
	/* the unscoped apply of the same changeset still brings dave's */
	CK_OK(convlog_sync_apply(db, cs, len, &res));
	ck_assert_int_eq(res.cursor_moved, 1);
	CK_OK(convlog_conv_get(db, &d1, &c));
	convlog_conv_free(c);
	convlog_free(cs);
	convlog_close(other);
	tu_rmrf(p2);
	tu_verify_clean(db);
}
END_TEST

static void no_problem(void *ud, const char *where, const char *what)
{
	(void)ud;
	(void)where;
	(void)what;
}

START_TEST(test_scope__whole_store_calls_are_refused)
{
	convlog_compact_opts co;
	convlog_sweep_stats sw = {.version = CONVLOG_SWEEP_VERSION};
	convlog_inspect_info *ii = NULL;
	convlog_sync_info *si = NULL;
	convlog_db *again = NULL;
	uint64_t n;

	convlog_compact_opts_init(&co);
	CK_ERR(convlog_checkpoint(sa), CONVLOG_ESCOPE);
	CK_ERR(convlog_sync(sa), CONVLOG_ESCOPE);
	CK_ERR(convlog_compact(sa, &co, NULL, NULL, NULL), CONVLOG_ESCOPE);
	CK_ERR(convlog_verify(sa, no_problem, NULL, &n), CONVLOG_ESCOPE);
	CK_ERR(convlog_repair(sa, no_problem, NULL, &n), CONVLOG_ESCOPE);
	CK_ERR(convlog_inspect(sa, &ii), CONVLOG_ESCOPE);
	CK_ERR(convlog_log_scan(sa, 0, NULL, NULL, NULL), CONVLOG_ESCOPE);
	CK_ERR(convlog_reindex(sa, NULL), CONVLOG_ESCOPE);
	CK_ERR(convlog_index_merge(sa, 0), CONVLOG_ESCOPE);
	CK_ERR(convlog_lifecycle_sweep(sa, 0, &sw), CONVLOG_ESCOPE);
	CK_ERR(convlog_sync_status(sa, &si), CONVLOG_ESCOPE);
	CK_ERR(convlog_scope_open(sa, NULL, "bob", &again), CONVLOG_ESCOPE);
	ck_assert_ptr_null(again);
	CK_ERR(convlog_scope_open(db, NULL, NULL, &again), CONVLOG_EINVAL);
	CK_ERR(convlog_scope_open(db, "", NULL, &again), CONVLOG_EINVAL);
	CK_ERR(convlog_scope_open(db, NULL, "\xff", &again), CONVLOG_EUTF8);
	ck_assert_str_eq(convlog_strerror(CONVLOG_ESCOPE), "not available on a scoped handle");
}
END_TEST

/* Random operations through random scoped handles against a model of
 * who owns what: every read succeeds exactly for the owner's scope, and
 * every listing equals the model's. */
#define RU 4
#define RC 48
START_TEST(test_scope__random_ops_match_the_owner_model)
{
	static const char *users[RU] = {"u0", "u1", "u2", "u3"};
	convlog_db *h[RU];
	convlog_uuid ids[RC];
	int owner[RC], msgs[RC], nc = 0, deleted[RC];
	uint64_t rng = 0x5c09e;

	for (int u = 0; u < RU; u++)
		CK_OK(convlog_scope_open(db, "org", users[u], &h[u]));
	for (int step = 0; step < 1500; step++) {
		int u = (int)(tu_rand(&rng) % RU);
		int op = (int)(tu_rand(&rng) % 6);
		if (nc == 0 || (op == 0 && nc < RC)) {
			convlog_conv c;
			convlog_conv_init(&c);
			c.title = "random";
			CK_OK(convlog_conv_create(h[u], NULL, &c, &ids[nc]));
			owner[nc] = u;
			msgs[nc] = 0;
			deleted[nc] = 0;
			nc++;
			continue;
		}
		int k = (int)(tu_rand(&rng) % (uint64_t)nc);
		int mine = owner[k] == u;
		convlog_conv *c = NULL;
		int rc;
		switch (op) {
		case 1: /* append */
			rc = c_append(h[u], &ids[k]);
			if (mine && !deleted[k]) {
				ck_assert_msg(rc == 0, "append: %s", convlog_errmsg());
				msgs[k]++;
			} else {
				ck_assert_int_eq(rc, mine ? CONVLOG_ETRANSITION : CONVLOG_ENOTFOUND);
			}
			break;
		case 2: /* get */
			rc = convlog_conv_get(h[u], &ids[k], &c);
			ck_assert_int_eq(rc, mine ? 0 : CONVLOG_ENOTFOUND);
			if (c)
				ck_assert_uint_eq(c->message_count, (uint64_t)msgs[k]);
			convlog_conv_free(c);
			break;
		case 3: /* delete / restore */
			rc = deleted[k] ? c_restore(h[u], &ids[k]) : c_delete(h[u], &ids[k]);
			ck_assert_int_eq(rc, mine ? 0 : CONVLOG_ENOTFOUND);
			if (mine)
				deleted[k] = !deleted[k];
			break;
		case 4: { /* hand it to someone else: only the unscoped handle can */
			convlog_conv f;
			int to = (int)(tu_rand(&rng) % RU);
			convlog_conv_init(&f);
			f.user_id = users[to];
			rc = convlog_conv_patch(h[u], NULL, &ids[k], &f, CONVLOG_CONV_USER_ID);
			if (!mine)
				ck_assert_int_eq(rc, CONVLOG_ENOTFOUND);
			else if (deleted[k])
				ck_assert_int_eq(rc, CONVLOG_ETRANSITION);
			else
				ck_assert_int_eq(rc, to == u ? 0 : CONVLOG_EINVAL);
			if (!deleted[k] && tu_rand(&rng) % 4 == 0) {
				CK_OK(convlog_conv_patch(db, NULL, &ids[k], &f, CONVLOG_CONV_USER_ID));
				owner[k] = to;
			}
			break;
		}
		default: { /* list */
			convlog_uuid got[RC];
			convlog_conv_filter f;
			convlog_conv_filter_init(&f);
			f.include_deleted = 1;
			int n = ids_of_listing(h[u], &f, got, RC), want = 0;
			for (int i = 0; i < nc; i++)
				if (owner[i] == u) {
					want++;
					ck_assert(has(got, n, &ids[i]));
				}
			ck_assert_int_eq(n, want);
		}
		}
	}
	for (int u = 0; u < RU; u++)
		convlog_close(h[u]);
	tu_verify_clean(db);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("scope");
	TCase *tc = tcase_create("scope");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_scope__hidden_ids_read_as_unknown);
	tcase_add_test(tc, test_scope__hidden_ids_cannot_be_changed);
	tcase_add_test(tc, test_scope__writes_stay_in_the_scope);
	tcase_add_test(tc, test_scope__listings_show_only_the_scope);
	tcase_add_test(tc, test_scope__sync_carries_only_the_scope);
	tcase_add_test(tc, test_scope__whole_store_calls_are_refused);
	tcase_add_test(tc, test_scope__random_ops_match_the_owner_model);
	suite_add_tcase(s, tc);
	return tu_run(s) ? 1 : 0;
}
