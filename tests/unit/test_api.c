/* End-to-end behaviour of the public API. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static char path[256];
static convlog_db *db;

static void setup(void)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_OFF);

	tu_tmppath(path, sizeof(path), "api");
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
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_OFF);

	convlog_close(db);
	db = tu_open(path, o);
	convlog_options_free(o);
}

static convlog_stats stats(void)
{
	convlog_stats s = {.version = CONVLOG_STATS_VERSION};

	CK_OK(convlog_stats_get(db, &s));
	return s;
}

START_TEST(test_api__create_and_get_roundtrip_every_field)
{
	convlog_conv c, *g;
	convlog_uuid id, parent = tu_conv(db, "u", "parent");
	const char *tags[] = {"zeta", "alpha", "zeta"};
	convlog_cursor cur[] = {{"server", -3}, {"client", 17}};

	convlog_conv_init(&c);
	c.external_id = "ac_7f3k";
	c.org_id = "org-1";
	c.user_id = "user-alpha-123";
	c.device_id = "whatsapp-channel-12345";
	c.session_id = "sess-1";
	c.initiator_role = "recruiter_twin";
	c.responder_role = "bench_sales_twin";
	c.title = "Flüge nach 東京";
	c.topic = "flight_booking";
	c.system_prompt = "You are terse.";
	c.status = CONVLOG_STATUS_INACTIVE_TIMEOUT;
	c.tags = tags;
	c.n_tags = 3;
	c.rating = 4;
	c.parent_id = parent;
	c.fork_seq = 0;
	c.depth = 1;
	c.cursors = cur;
	c.n_cursors = 2;
	c.metadata = "{ \"current_goal\": {\"name\": \"book_flight\"}, \"n\": 2 }";
	c.created_at = 1749204000000;
	CK_OK(convlog_conv_create(db, NULL, &c, &id));
	for (int pass = 0; pass < 2; pass++) {
		CK_OK(convlog_conv_get(db, &id, &g));
		ck_assert_str_eq(g->external_id, "ac_7f3k");
		ck_assert_str_eq(g->org_id, "org-1");
		ck_assert_str_eq(g->user_id, "user-alpha-123");
		ck_assert_str_eq(g->device_id, "whatsapp-channel-12345");
		ck_assert_str_eq(g->session_id, "sess-1");
		ck_assert_str_eq(g->initiator_role, "recruiter_twin");
		ck_assert_str_eq(g->responder_role, "bench_sales_twin");
		ck_assert_str_eq(g->title, "Flüge nach 東京");
		ck_assert_str_eq(g->topic, "flight_booking");
		ck_assert_str_eq(g->system_prompt, "You are terse.");
		ck_assert_int_eq(g->status, CONVLOG_STATUS_INACTIVE_TIMEOUT);
		ck_assert_uint_eq(g->n_tags, 2);
		ck_assert_str_eq(g->tags[0], "alpha");
		ck_assert_str_eq(g->tags[1], "zeta");
		ck_assert_int_eq(g->rating, 4);
		ck_assert_mem_eq(g->parent_id.bytes, parent.bytes, 16);
		ck_assert_uint_eq(g->depth, 1);
		ck_assert_uint_eq(g->n_cursors, 2);
		ck_assert_str_eq(g->cursors[0].name, "client");
		ck_assert_int_eq(g->cursors[0].value, 17);
		ck_assert_int_eq(g->cursors[1].value, -3);
		ck_assert_str_eq(g->metadata, "{\"current_goal\":{\"name\":\"book_flight\"},\"n\":2}");
		ck_assert_int_eq(g->created_at, 1749204000000);
		ck_assert_int_eq(g->updated_at, 1749204000000);
		ck_assert_int_eq(g->last_activity_at, 1749204000000);
		ck_assert_uint_eq(g->message_count, 0);
		convlog_conv_free(g);
		CK_OK(convlog_conv_get_by_external(db, "ac_7f3k", &g));
		ck_assert_mem_eq(g->id.bytes, id.bytes, 16);
		convlog_conv_free(g);
		reopen();
	}
}
END_TEST

START_TEST(test_api__ids_and_external_ids_are_unique)
{
	convlog_conv c;
	convlog_uuid id, id2;
	convlog_stats before;

	convlog_conv_init(&c);
	c.external_id = "ext-1";
	CK_OK(convlog_conv_create(db, NULL, &c, &id));
	before = stats();
	CK_ERR(convlog_conv_create(db, NULL, &c, &id2), CONVLOG_EEXIST);
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "ext-1"));
	c.external_id = NULL;
	c.id = id;
	CK_ERR(convlog_conv_create(db, NULL, &c, &id2), CONVLOG_EEXIST);
	ck_assert_uint_eq(stats().last_lsn, before.last_lsn);
	ck_assert_uint_eq(stats().conversations, 1);
	/* a patch may not steal an external id either */
	id2 = tu_conv(db, NULL, "other");
	c.external_id = "ext-1";
	CK_ERR(convlog_conv_patch(db, NULL, &id2, &c, CONVLOG_CONV_EXTERNAL_ID), CONVLOG_EEXIST);
	/* but moving it frees the old one */
	c.external_id = "ext-2";
	CK_OK(convlog_conv_patch(db, NULL, &id, &c, CONVLOG_CONV_EXTERNAL_ID));
	c.external_id = "ext-1";
	CK_OK(convlog_conv_patch(db, NULL, &id2, &c, CONVLOG_CONV_EXTERNAL_ID));
	convlog_conv *g;
	CK_OK(convlog_conv_get_by_external(db, "ext-1", &g));
	ck_assert_mem_eq(g->id.bytes, id2.bytes, 16);
	convlog_conv_free(g);
	tu_verify_clean(db);
}
END_TEST

START_TEST(test_api__patch_changes_only_masked_fields)
{
	convlog_uuid id = tu_conv(db, "u1", "first");
	convlog_conv f, *g;
	const char *tags[] = {"x"};

	convlog_conv_init(&f);
	f.title = "second";
	f.user_id = "ignored";
	f.tags = tags;
	f.n_tags = 1;
	CK_OK(convlog_conv_patch(db, NULL, &id, &f, CONVLOG_CONV_TITLE | CONVLOG_CONV_TAGS));
	CK_OK(convlog_conv_get(db, &id, &g));
	ck_assert_str_eq(g->title, "second");
	ck_assert_str_eq(g->user_id, "u1");
	ck_assert_uint_eq(g->n_tags, 1);
	ck_assert_int_ge(g->updated_at, g->created_at);
	convlog_conv_free(g);
	/* a selected NULL clears */
	convlog_conv_init(&f);
	CK_OK(convlog_conv_patch(db, NULL, &id, &f, CONVLOG_CONV_TITLE | CONVLOG_CONV_USER_ID));
	CK_OK(convlog_conv_get(db, &id, &g));
	ck_assert_ptr_null(g->title);
	ck_assert_ptr_null(g->user_id);
	ck_assert_uint_eq(g->n_tags, 1);
	convlog_conv_free(g);
	CK_ERR(convlog_conv_patch(db, NULL, &id, &f, 1ull << 40), CONVLOG_EINVAL);
	tu_verify_clean(db);
}
END_TEST

static const int all_status[] = {
	CONVLOG_STATUS_ACTIVE, CONVLOG_STATUS_INACTIVE_TIMEOUT,
	CONVLOG_STATUS_INACTIVE_USER_TERMINATED, CONVLOG_STATUS_INACTIVE_SYSTEM_TERMINATED,
	CONVLOG_STATUS_COMPLETED, CONVLOG_STATUS_ARCHIVED,
};

/* DESIGN.md §1. */
static int allowed(int from, int to)
{
	int inactive_to = to >= 2 && to <= 5, inactive_from = from >= 2 && from <= 5;

	if (from == to)
		return 1;
	if (from == CONVLOG_STATUS_ACTIVE)
		return inactive_to;
	if (inactive_from)
		return to == CONVLOG_STATUS_ACTIVE || to == CONVLOG_STATUS_ARCHIVED;
	if (from == CONVLOG_STATUS_ARCHIVED)
		return to == CONVLOG_STATUS_ACTIVE;
	return 0;
}

START_TEST(test_api__status_transitions_follow_the_lifecycle)
{
	for (size_t i = 0; i < 6; i++) {
		for (size_t j = 0; j < 6; j++) {
			convlog_conv c, *g;
			convlog_uuid id;
			convlog_conv_init(&c);
			c.status = all_status[i];
			CK_OK(convlog_conv_create(db, NULL, &c, &id));
			int rc = convlog_conv_set_status(db, NULL, &id, all_status[j]);
			CK_OK(convlog_conv_get(db, &id, &g));
			if (allowed(all_status[i], all_status[j])) {
				ck_assert_msg(rc == 0, "%d -> %d refused: %s", all_status[i], all_status[j],
					      convlog_errmsg());
				ck_assert_int_eq(g->status, all_status[j]);
			} else {
				ck_assert_msg(rc == CONVLOG_ETRANSITION, "%d -> %d gave %d", all_status[i],
					      all_status[j], rc);
				ck_assert_int_eq(g->status, all_status[i]);
			}
			convlog_conv_free(g);
		}
	}
	convlog_uuid id = tu_conv(db, NULL, NULL);
	CK_ERR(convlog_conv_set_status(db, NULL, &id, 99), CONVLOG_ESTATUS);
	convlog_uuid nope = {{1}};
	CK_ERR(convlog_conv_set_status(db, NULL, &nope, CONVLOG_STATUS_COMPLETED), CONVLOG_ENOTFOUND);
	tu_verify_clean(db);
}
END_TEST

START_TEST(test_api__archive_passes_through_inactive_and_unarchives)
{
	convlog_uuid id = tu_conv(db, NULL, NULL);
	convlog_conv *g;
	convlog_stats s0 = stats();

	CK_OK(convlog_conv_archive(db, NULL, &id));
	CK_OK(convlog_conv_get(db, &id, &g));
	ck_assert_int_eq(g->status, CONVLOG_STATUS_ARCHIVED);
	ck_assert_int_ne(g->archived_at, 0);
	convlog_conv_free(g);
	ck_assert_uint_eq(stats().last_lsn, s0.last_lsn + 2); /* two records, one commit */
	ck_assert_uint_eq(stats().commits, s0.commits + 1);
	CK_OK(convlog_conv_set_status(db, NULL, &id, CONVLOG_STATUS_ACTIVE));
	CK_OK(convlog_conv_get(db, &id, &g));
	ck_assert_int_eq(g->status, CONVLOG_STATUS_ACTIVE);
	ck_assert_int_eq(g->archived_at, 0);
	convlog_conv_free(g);
}
END_TEST

START_TEST(test_api__delete_and_restore_keep_the_previous_status)
{
	convlog_uuid id = tu_conv(db, "u", NULL);
	convlog_conv *g, f;

	CK_OK(convlog_conv_set_status(db, NULL, &id, CONVLOG_STATUS_COMPLETED));
	CK_ERR(convlog_conv_restore(db, NULL, &id), CONVLOG_ETRANSITION);
	CK_OK(convlog_conv_delete(db, NULL, &id));
	CK_OK(convlog_conv_get(db, &id, &g));
	ck_assert_int_eq(g->status, CONVLOG_STATUS_DELETED);
	ck_assert_int_eq(g->prev_status, CONVLOG_STATUS_COMPLETED);
	ck_assert_int_ne(g->deleted_at, 0);
	convlog_conv_free(g);
	ck_assert_uint_eq(stats().deleted_conversations, 1);
	convlog_conv_init(&f);
	f.title = "x";
	CK_ERR(convlog_conv_patch(db, NULL, &id, &f, CONVLOG_CONV_TITLE), CONVLOG_ETRANSITION);
	CK_ERR(convlog_conv_set_status(db, NULL, &id, CONVLOG_STATUS_ACTIVE), CONVLOG_ETRANSITION);
	reopen();
	CK_OK(convlog_conv_restore(db, NULL, &id));
	CK_OK(convlog_conv_get(db, &id, &g));
	ck_assert_int_eq(g->status, CONVLOG_STATUS_COMPLETED);
	ck_assert_int_eq(g->deleted_at, 0);
	convlog_conv_free(g);
	ck_assert_uint_eq(stats().deleted_conversations, 0);
	tu_verify_clean(db);
}
END_TEST

START_TEST(test_api__append_assigns_dense_seqs_and_keeps_aggregates)
{
	convlog_uuid id = tu_conv(db, NULL, NULL);
	convlog_conv *g;

	for (int i = 1; i <= 30; i++) {
		convlog_msg m;
		uint32_t seq;
		convlog_msg_init(&m);
		m.conv_id = id;
		m.role = i % 2 ? "user" : "assistant";
		m.content = "hello";
		m.content_len = 5;
		m.token_count = i;
		m.cost = i % 3 ? 100 : -1;
		m.created_at = 1000 + i;
		CK_OK(convlog_msg_append(db, NULL, &m, &seq));
		ck_assert_uint_eq(seq, (uint32_t)i);
	}
	CK_OK(convlog_conv_get(db, &id, &g));
	ck_assert_uint_eq(g->message_count, 30);
	ck_assert_int_eq(g->token_total, 30 * 31 / 2);
	ck_assert_int_eq(g->cost_total, 100 * 20);
	ck_assert_uint_eq(g->tip_seq, 30);
	ck_assert_int_ge(g->last_activity_at, 1030);
	convlog_conv_free(g);
	convlog_msg *m;
	CK_OK(convlog_msg_get(db, &id, 7, &m));
	ck_assert_uint_eq(m->parent_seq, 6);
	ck_assert_int_eq(m->token_count, 7);
	ck_assert_int_eq(m->cost, 100);
	ck_assert_int_eq(m->latency_ms, -1);
	ck_assert_int_eq(m->status, CONVLOG_MSG_COMPLETED);
	convlog_msg_free(m);
	CK_OK(convlog_msg_get(db, &id, 9, &m));
	ck_assert_int_eq(m->cost, -1);
	convlog_msg_free(m);
	tu_verify_clean(db);
}
END_TEST

START_TEST(test_api__append_reactivates_an_inactive_conversation)
{
	convlog_uuid id = tu_conv(db, NULL, NULL);
	convlog_conv *g;

	CK_OK(convlog_conv_set_status(db, NULL, &id, CONVLOG_STATUS_INACTIVE_TIMEOUT));
	tu_msg(db, &id, "user", "back again");
	CK_OK(convlog_conv_get(db, &id, &g));
	ck_assert_int_eq(g->status, CONVLOG_STATUS_ACTIVE);
	convlog_conv_free(g);
	tu_verify_clean(db);
}
END_TEST

START_TEST(test_api__append_to_archived_or_deleted_is_refused)
{
	convlog_uuid a = tu_conv(db, NULL, NULL), d = tu_conv(db, NULL, NULL);
	convlog_msg m;

	CK_OK(convlog_conv_archive(db, NULL, &a));
	CK_OK(convlog_conv_delete(db, NULL, &d));
	convlog_msg_init(&m);
	m.role = "user";
	m.conv_id = a;
	CK_ERR(convlog_msg_append(db, NULL, &m, NULL), CONVLOG_ETRANSITION);
	m.conv_id = d;
	CK_ERR(convlog_msg_append(db, NULL, &m, NULL), CONVLOG_ETRANSITION);
	m.conv_id.bytes[0] ^= 0x55;
	CK_ERR(convlog_msg_append(db, NULL, &m, NULL), CONVLOG_ENOTFOUND);
	ck_assert_uint_eq(stats().messages, 0);
}
END_TEST

START_TEST(test_api__explicit_seq_and_parent_are_checked)
{
	convlog_uuid id = tu_conv(db, NULL, NULL);
	convlog_msg m;
	uint32_t seq;

	tu_msg(db, &id, "user", "q");
	tu_msg(db, &id, "assistant", "a1");
	convlog_msg_init(&m);
	m.conv_id = id;
	m.role = "assistant";
	m.seq = 5;
	CK_ERR(convlog_msg_append(db, NULL, &m, &seq), CONVLOG_ESEQ);
	m.seq = 3;
	m.parent_seq = 3;
	CK_ERR(convlog_msg_append(db, NULL, &m, &seq), CONVLOG_EINVAL);
	m.parent_seq = 1; /* a regenerated answer: sibling of seq 2 */
	CK_OK(convlog_msg_append(db, NULL, &m, &seq));
	ck_assert_uint_eq(seq, 3);
	convlog_msg *g;
	CK_OK(convlog_msg_get(db, &id, 3, &g));
	ck_assert_uint_eq(g->parent_seq, 1);
	convlog_msg_free(g);
	convlog_conv *c;
	CK_OK(convlog_conv_get(db, &id, &c));
	ck_assert_uint_eq(c->tip_seq, 3);
	convlog_conv_free(c);
	tu_verify_clean(db);
}
END_TEST

START_TEST(test_api__message_ids_are_unique_and_readable)
{
	convlog_uuid id = tu_conv(db, NULL, NULL), other = tu_conv(db, NULL, NULL);
	convlog_msg m, *g;

	convlog_msg_init(&m);
	m.conv_id = id;
	m.role = "user";
	CK_OK(convlog_uuid_parse("01890000-0000-7000-8000-0000000000aa", &m.id));
	CK_OK(convlog_msg_append(db, NULL, &m, NULL));
	m.conv_id = other;
	CK_ERR(convlog_msg_append(db, NULL, &m, NULL), CONVLOG_EEXIST);
	CK_OK(convlog_msg_get_by_id(db, &m.id, &g));
	ck_assert_mem_eq(g->conv_id.bytes, id.bytes, 16);
	ck_assert_uint_eq(g->seq, 1);
	convlog_msg_free(g);
}
END_TEST

START_TEST(test_api__supersede_replaces_the_version_and_adjusts_totals)
{
	convlog_uuid id = tu_conv(db, NULL, NULL);
	convlog_msg m, *g;
	convlog_conv *c;

	convlog_msg_init(&m);
	m.conv_id = id;
	m.role = "assistant";
	m.status = CONVLOG_MSG_PENDING;
	m.content = "partial";
	m.content_len = 7;
	m.token_count = 5;
	CK_OK(convlog_msg_append(db, NULL, &m, NULL));
	convlog_msg_init(&m);
	m.content = "the complete answer";
	m.content_len = strlen(m.content);
	m.status = CONVLOG_MSG_COMPLETED;
	m.token_count = 42;
	m.latency_ms = 850;
	m.model = "gpt-4o-mini";
	CK_OK(convlog_msg_supersede(db, NULL, &id, 1, &m,
				    CONVLOG_MSG_CONTENT | CONVLOG_MSG_STATUS | CONVLOG_MSG_TOKEN_COUNT |
					    CONVLOG_MSG_LATENCY | CONVLOG_MSG_MODEL));
	for (int pass = 0; pass < 2; pass++) {
		CK_OK(convlog_msg_get(db, &id, 1, &g));
		ck_assert_str_eq(g->content, "the complete answer");
		ck_assert_int_eq(g->status, CONVLOG_MSG_COMPLETED);
		ck_assert_int_eq(g->latency_ms, 850);
		ck_assert_str_eq(g->model, "gpt-4o-mini");
		ck_assert_str_eq(g->role, "assistant");
		ck_assert_int_ne(g->edited_at, 0);
		convlog_msg_free(g);
		CK_OK(convlog_conv_get(db, &id, &c));
		ck_assert_int_eq(c->token_total, 42);
		ck_assert_uint_eq(c->message_count, 1);
		convlog_conv_free(c);
		reopen();
	}
	/* feedback */
	convlog_msg_init(&m);
	m.feedback = 1;
	m.feedback_text = "great";
	CK_OK(convlog_msg_supersede(db, NULL, &id, 1, &m, CONVLOG_MSG_FEEDBACK));
	m.feedback = 2;
	CK_ERR(convlog_msg_supersede(db, NULL, &id, 1, &m, CONVLOG_MSG_FEEDBACK), CONVLOG_ERANGE);
	CK_ERR(convlog_msg_supersede(db, NULL, &id, 2, &m, CONVLOG_MSG_NAME), CONVLOG_ENOTFOUND);
	CK_OK(convlog_msg_get(db, &id, 1, &g));
	ck_assert_int_eq(g->feedback, 1);
	ck_assert_str_eq(g->feedback_text, "great");
	ck_assert_str_eq(g->content, "the complete answer");
	convlog_msg_free(g);
	tu_verify_clean(db);
}
END_TEST

static void check_range(const convlog_uuid *id, int kind, uint32_t n, uint32_t after,
			uint32_t first, uint32_t last)
{
	convlog_msg_iter *it;
	const convlog_msg *m;
	uint32_t want = first;
	int rc;

	CK_OK(convlog_msg_range(db, id, kind, n, after, &it));
	while ((rc = convlog_msg_iter_next(it, &m)) == 0) {
		char buf[32];
		snprintf(buf, sizeof(buf), "m%u", m->seq);
		ck_assert_uint_eq(m->seq, want);
		ck_assert_uint_eq(m->content_len, strlen(buf));
		ck_assert_mem_eq(m->content, buf, m->content_len);
		want++;
	}
	ck_assert_int_eq(rc, CONVLOG_DONE);
	ck_assert_uint_eq(want, last + 1);
	convlog_msg_iter_free(it);
}

START_TEST(test_api__ranges_first_last_after)
{
	convlog_uuid id = tu_conv(db, NULL, NULL);
	char buf[32];

	for (int i = 1; i <= 40; i++) {
		snprintf(buf, sizeof(buf), "m%d", i);
		tu_msg(db, &id, "user", buf);
		if (i == 20)
			CK_OK(convlog_checkpoint(db)); /* half in LMDB, half in memtable */
	}
	check_range(&id, CONVLOG_RANGE_ALL, 0, 0, 1, 40);
	check_range(&id, CONVLOG_RANGE_FIRST, 5, 0, 1, 5);
	check_range(&id, CONVLOG_RANGE_LAST, 5, 0, 36, 40);
	check_range(&id, CONVLOG_RANGE_LAST, 100, 0, 1, 40);
	check_range(&id, CONVLOG_RANGE_AFTER, 0, 17, 18, 40);
	check_range(&id, CONVLOG_RANGE_AFTER, 3, 17, 18, 20);
	check_range(&id, CONVLOG_RANGE_AFTER, 0, 40, 41, 40);
	convlog_msg_iter *it;
	CK_ERR(convlog_msg_range(db, &id, CONVLOG_RANGE_LAST, 0, 0, &it), CONVLOG_EINVAL);
	CK_ERR(convlog_msg_range(db, &id, 9, 1, 0, &it), CONVLOG_EINVAL);
	id.bytes[3] ^= 1;
	CK_ERR(convlog_msg_range(db, &id, CONVLOG_RANGE_ALL, 0, 0, &it), CONVLOG_ENOTFOUND);
}
END_TEST

static int list_ids(const convlog_conv_filter *f, convlog_uuid *out, int max)
{
	convlog_conv_iter *it;
	const convlog_conv *c;
	int n = 0, rc;
	int64_t prev = INT64_MAX;

	CK_OK(convlog_conv_list(db, f, &it));
	while ((rc = convlog_conv_iter_next(it, &c)) == 0) {
		ck_assert_int_le(c->last_activity_at, prev);
		prev = c->last_activity_at;
		ck_assert_int_lt(n, max);
		out[n++] = c->id;
	}
	ck_assert_int_eq(rc, CONVLOG_DONE);
	convlog_conv_iter_free(it);
	return n;
}

START_TEST(test_api__list_filters_and_orders_by_activity)
{
	convlog_uuid ids[12], got[32];
	convlog_conv_filter f;

	for (int i = 0; i < 12; i++) {
		convlog_conv c;
		const char *tags[] = {i % 2 ? "odd" : "even"};
		convlog_conv_init(&c);
		c.user_id = i % 3 ? "alice" : "bob";
		c.org_id = "acme";
		c.session_id = i < 4 ? "s1" : NULL;
		c.tags = tags;
		c.n_tags = 1;
		c.created_at = 1000 + i;
		CK_OK(convlog_conv_create(db, NULL, &c, &ids[i]));
	}
	/* activity: message on conversation 0 makes it the most recent */
	convlog_msg m;
	convlog_msg_init(&m);
	m.conv_id = ids[0];
	m.role = "user";
	m.created_at = 5000;
	CK_OK(convlog_msg_append(db, NULL, &m, NULL));
	convlog_conv_filter_init(&f);
	ck_assert_int_eq(list_ids(&f, got, 32), 12);
	ck_assert_mem_eq(got[0].bytes, ids[0].bytes, 16);
	ck_assert_mem_eq(got[1].bytes, ids[11].bytes, 16);
	f.user_id = "bob";
	ck_assert_int_eq(list_ids(&f, got, 32), 4);
	f.tag = "odd";
	ck_assert_int_eq(list_ids(&f, got, 32), 2); /* bob: 0,3,6,9; odd: 3,9 */
	convlog_conv_filter_init(&f);
	f.session_id = "s1";
	ck_assert_int_eq(list_ids(&f, got, 32), 4);
	convlog_conv_filter_init(&f);
	f.org_id = "acme";
	f.status = CONVLOG_STATUS_ACTIVE;
	ck_assert_int_eq(list_ids(&f, got, 32), 12);
	CK_OK(convlog_conv_delete(db, NULL, &ids[5]));
	ck_assert_int_eq(list_ids(&f, got, 32), 11);
	convlog_conv_filter_init(&f);
	ck_assert_int_eq(list_ids(&f, got, 32), 11);
	f.include_deleted = 1;
	ck_assert_int_eq(list_ids(&f, got, 32), 12);
	convlog_conv_filter_init(&f);
	f.status = CONVLOG_STATUS_DELETED;
	ck_assert_int_eq(list_ids(&f, got, 32), 1);
	convlog_conv_filter_init(&f);
	f.status = 42;
	convlog_conv_iter *it;
	CK_ERR(convlog_conv_list(db, &f, &it), CONVLOG_ESTATUS);
	tu_verify_clean(db);
}
END_TEST

START_TEST(test_api__list_paging_with_tokens_visits_each_once)
{
	convlog_uuid all[50], seen[50];
	convlog_conv_filter f;
	char *tok = NULL;
	int n = 0;

	for (int i = 0; i < 50; i++)
		all[i] = tu_conv(db, "pager", NULL);
	CK_OK(convlog_checkpoint(db));
	for (int page = 0; page < 20; page++) {
		convlog_conv_iter *it;
		const convlog_conv *c;
		int got = 0, rc;
		convlog_conv_filter_init(&f);
		f.user_id = "pager";
		f.limit = 7;
		f.after = tok;
		CK_OK(convlog_conv_list(db, &f, &it));
		while ((rc = convlog_conv_iter_next(it, &c)) == 0) {
			ck_assert_int_lt(n, 50);
			seen[n++] = c->id;
			got++;
		}
		ck_assert_int_eq(rc, CONVLOG_DONE);
		convlog_free(tok);
		tok = NULL;
		if (got)
			CK_OK(convlog_conv_iter_token(it, &tok));
		convlog_conv_iter_free(it);
		if (!got)
			break;
	}
	convlog_free(tok);
	ck_assert_int_eq(n, 50);
	for (int i = 0; i < 50; i++)
		for (int j = i + 1; j < 50; j++)
			ck_assert(memcmp(seen[i].bytes, seen[j].bytes, 16) != 0);
	(void)all;
	convlog_conv_filter_init(&f);
	f.after = "cl1.zz";
	convlog_conv_iter *it;
	CK_ERR(convlog_conv_list(db, &f, &it), CONVLOG_EINVAL);
}
END_TEST

START_TEST(test_api__bad_input_changes_nothing)
{
	convlog_uuid id = tu_conv(db, NULL, NULL);
	convlog_stats s0;
	convlog_conv c;
	convlog_msg m;
	char *big;

	tu_msg(db, &id, "user", "ok");
	s0 = stats();
	convlog_conv_init(&c);
	c.title = "bad \xff utf8";
	CK_ERR(convlog_conv_create(db, NULL, &c, NULL), CONVLOG_EUTF8);
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "title"));
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "byte 4"));
	convlog_conv_init(&c);
	c.metadata = "{\"a\": }";
	CK_ERR(convlog_conv_create(db, NULL, &c, NULL), CONVLOG_EJSON);
	c.metadata = "[1,2]";
	CK_ERR(convlog_conv_create(db, NULL, &c, NULL), CONVLOG_EJSON);
	c.metadata = "{\"a\":1,\"a\":2}";
	CK_ERR(convlog_conv_create(db, NULL, &c, NULL), CONVLOG_EJSON);
	convlog_conv_init(&c);
	c.status = 77;
	CK_ERR(convlog_conv_create(db, NULL, &c, NULL), CONVLOG_ESTATUS);
	c.status = 0;
	c.rating = 6;
	CK_ERR(convlog_conv_create(db, NULL, &c, NULL), CONVLOG_ERANGE);
	convlog_msg_init(&m);
	m.conv_id = id;
	m.role = "user";
	m.content = "caf\xc3";
	m.content_len = 4;
	CK_ERR(convlog_msg_append(db, NULL, &m, NULL), CONVLOG_EUTF8);
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "message 2 of conversation"));
	m.content = "ok";
	m.content_len = 2;
	m.tool_calls = "[{\"id\":1},";
	CK_ERR(convlog_msg_append(db, NULL, &m, NULL), CONVLOG_EJSON);
	m.tool_calls = NULL;
	m.status = 9;
	CK_ERR(convlog_msg_append(db, NULL, &m, NULL), CONVLOG_ESTATUS);
	m.status = 0;
	m.token_count = -5;
	CK_ERR(convlog_msg_append(db, NULL, &m, NULL), CONVLOG_ERANGE);
	m.token_count = -1;
	m.role = NULL;
	CK_ERR(convlog_msg_append(db, NULL, &m, NULL), CONVLOG_EINVAL);
	m.role = "user";
	big = malloc((16u << 20) + 1);
	memset(big, 'a', (16u << 20) + 1);
	m.content = big;
	m.content_len = (16u << 20) + 1;
	CK_ERR(convlog_msg_append(db, NULL, &m, NULL), CONVLOG_ETOOBIG);
	m.content_len = 16u << 20; /* exactly the limit is fine */
	CK_OK(convlog_msg_append(db, NULL, &m, NULL));
	free(big);
	convlog_stats s1 = stats();
	ck_assert_uint_eq(s1.conversations, s0.conversations);
	ck_assert_uint_eq(s1.messages, s0.messages + 1);
	ck_assert_uint_eq(s1.last_lsn, s0.last_lsn + 1);
	tu_verify_clean(db);
}
END_TEST

START_TEST(test_api__transaction_commits_all_or_nothing)
{
	convlog_txn *t;
	convlog_uuid id;
	convlog_conv c;
	convlog_msg m;
	convlog_stats s0 = stats();

	CK_OK(convlog_txn_begin(db, &t));
	convlog_conv_init(&c);
	c.title = "batched";
	CK_OK(convlog_conv_create(db, t, &c, &id));
	convlog_msg_init(&m);
	m.conv_id = id;
	m.role = "user";
	for (int i = 0; i < 100; i++)
		CK_OK(convlog_msg_append(db, t, &m, NULL));
	/* a failing call inside the txn changes nothing and the txn goes on */
	m.role = "";
	CK_ERR(convlog_msg_append(db, t, &m, NULL), CONVLOG_EINVAL);
	m.role = "user";
	CK_OK(convlog_msg_append(db, t, &m, NULL));
	/* supersede a message written earlier in this same txn */
	convlog_msg e;
	convlog_msg_init(&e);
	e.content = "edited in txn";
	e.content_len = strlen(e.content);
	CK_OK(convlog_msg_supersede(db, t, &id, 50, &e, CONVLOG_MSG_CONTENT));
	/* not visible before commit */
	convlog_conv *g;
	CK_ERR(convlog_conv_get(db, &id, &g), CONVLOG_ENOTFOUND);
	CK_OK(convlog_txn_commit(t));
	CK_OK(convlog_conv_get(db, &id, &g));
	ck_assert_uint_eq(g->message_count, 101);
	convlog_conv_free(g);
	convlog_msg *mm;
	CK_OK(convlog_msg_get(db, &id, 50, &mm));
	ck_assert_str_eq(mm->content, "edited in txn");
	convlog_msg_free(mm);
	ck_assert_uint_eq(stats().commits, s0.commits + 1);
	/* abort leaves nothing */
	CK_OK(convlog_txn_begin(db, &t));
	m.conv_id = id;
	CK_OK(convlog_msg_append(db, t, &m, NULL));
	convlog_txn_abort(t);
	CK_OK(convlog_conv_get(db, &id, &g));
	ck_assert_uint_eq(g->message_count, 101);
	convlog_conv_free(g);
	/* the next commit reuses the aborted LSNs cleanly */
	tu_msg(db, &id, "user", "after abort");
	reopen();
	CK_OK(convlog_conv_get(db, &id, &g));
	ck_assert_uint_eq(g->message_count, 102);
	convlog_conv_free(g);
	tu_verify_clean(db);
}
END_TEST

START_TEST(test_api__iterators_keep_their_snapshot)
{
	convlog_uuid id = tu_conv(db, "snap", NULL);
	convlog_msg_iter *it;
	convlog_conv_iter *li;
	const convlog_msg *m;
	const convlog_conv *c;
	convlog_conv_filter f;
	int n = 0;

	tu_msg(db, &id, "user", "one");
	CK_OK(convlog_msg_range(db, &id, CONVLOG_RANGE_ALL, 0, 0, &it));
	convlog_conv_filter_init(&f);
	f.user_id = "snap";
	CK_OK(convlog_conv_list(db, &f, &li));
	tu_msg(db, &id, "user", "two");
	tu_conv(db, "snap", NULL);
	CK_OK(convlog_checkpoint(db)); /* the flush must not disturb the snapshot */
	while (convlog_msg_iter_next(it, &m) == 0)
		n++;
	ck_assert_int_eq(n, 1);
	n = 0;
	while (convlog_conv_iter_next(li, &c) == 0) {
		ck_assert_uint_eq(c->message_count, 1);
		n++;
	}
	ck_assert_int_eq(n, 1);
	convlog_msg_iter_free(it);
	convlog_conv_iter_free(li);
}
END_TEST

START_TEST(test_api__second_writer_is_locked_out_readonly_is_not)
{
	convlog_db *other;
	convlog_options *o;
	convlog_uuid id = tu_conv(db, NULL, "shared");

	CK_ERR(convlog_open(path, NULL, &other), CONVLOG_ELOCKED);
	ck_assert_ptr_null(other);
	CK_OK(convlog_options_new(&o));
	CK_OK(convlog_options_set_open_flags(o, CONVLOG_OPEN_READONLY));
	CK_OK(convlog_open(path, o, &other));
	convlog_conv *g;
	CK_OK(convlog_conv_get(other, &id, &g)); /* replayed from the log */
	ck_assert_str_eq(g->title, "shared");
	convlog_conv_free(g);
	convlog_conv c;
	convlog_conv_init(&c);
	CK_ERR(convlog_conv_create(other, NULL, &c, NULL), CONVLOG_EREADONLY);
	CK_ERR(convlog_checkpoint(other), CONVLOG_EREADONLY);
	tu_verify_clean(other);
	convlog_close(other);
	convlog_options_free(o);
}
END_TEST

START_TEST(test_api__readonly_handle_follows_a_writer_that_flushes)
{
	convlog_db *ro;
	convlog_options *o;
	convlog_uuid id = tu_conv(db, "ro", "followed");
	char big[3000];
	uint64_t r = 3;

	CK_OK(convlog_options_new(&o));
	CK_OK(convlog_options_set_open_flags(o, CONVLOG_OPEN_READONLY));
	CK_OK(convlog_open(path, o, &ro));
	for (int round = 0; round < 6; round++) {
		/* enough noise to roll over 1 MiB segments, then a flush */
		for (int i = 0; i < 150; i++) {
			for (size_t k = 0; k < sizeof(big) - 1; k++)
				big[k] = (char)('a' + tu_rand(&r) % 26);
			big[sizeof(big) - 1] = '\0';
			tu_msg(db, &id, "user", big);
		}
		CK_OK(convlog_checkpoint(db));
		/* the read-only handle sees a consistent state: the writer's
		 * flushed state with its own replayed tail, never a mix */
		convlog_conv *c;
		CK_OK(convlog_conv_get(ro, &id, &c));
		ck_assert_uint_eq(c->message_count, 150u * (round + 1));
		convlog_msg_iter *it;
		const convlog_msg *m;
		uint32_t n = 0;
		CK_OK(convlog_msg_range(ro, &id, CONVLOG_RANGE_LAST, 20, 0, &it));
		while (convlog_msg_iter_next(it, &m) == 0)
			n++;
		convlog_msg_iter_free(it);
		ck_assert_uint_eq(n, 20);
		convlog_conv_free(c);
		tu_verify_clean(ro);
	}
	convlog_stats s = {.version = CONVLOG_STATS_VERSION};
	CK_OK(convlog_stats_get(ro, &s));
	ck_assert_uint_ge(s.segments, 2);
	convlog_close(ro);
	convlog_options_free(o);
}
END_TEST

START_TEST(test_api__open_refuses_foreign_and_missing_directories)
{
	char p[300];
	convlog_db *d;
	convlog_options *o;
	FILE *f;

	tu_tmppath(p, sizeof(p), "foreign");
	CK_OK(convlog_options_new(&o));
	CK_OK(convlog_options_set_open_flags(o, 0));
	CK_ERR(convlog_open(p, o, &d), CONVLOG_ENOTFOUND);
	ck_assert_int_eq(system("true"), 0);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", p);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/notes.txt", p);
	f = fopen(cmd, "w");
	fputs("mine", f);
	fclose(f);
	CK_ERR(convlog_open(p, NULL, &d), CONVLOG_EINVAL);
	CK_ERR(convlog_open(NULL, NULL, &d), CONVLOG_EINVAL);
	convlog_options_free(o);
	tu_rmrf(p);
}
END_TEST

static void *committer(void *arg)
{
	convlog_uuid *id = arg;

	for (int i = 0; i < 100; i++)
		tu_msg(db, id, "user", "from a thread");
	return NULL;
}

START_TEST(test_api__concurrent_full_commits_share_syncs)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_FULL);
	pthread_t th[4];
	convlog_uuid ids[4];
	convlog_stats s0, s1;

	convlog_close(db);
	CK_OK(convlog_options_set_memtable_size(o, 8u << 20));
	db = tu_open(path, o);
	convlog_options_free(o);
	for (int i = 0; i < 4; i++)
		ids[i] = tu_conv(db, NULL, NULL);
	s0 = stats();
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, committer, &ids[i]);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	s1 = stats();
	ck_assert_uint_eq(s1.commits - s0.commits, 400);
	ck_assert_uint_eq(s1.messages, 400);
	ck_assert_uint_le(s1.syncs - s0.syncs, 400);
	fprintf(stderr, "group commit: 400 commits, %llu syncs\n",
		(unsigned long long)(s1.syncs - s0.syncs));
	reopen();
	tu_verify_clean(db);
	ck_assert_uint_eq(stats().messages, 400);
}
END_TEST

START_TEST(test_api__content_keeps_nul_bytes_and_unicode)
{
	convlog_uuid id = tu_conv(db, NULL, NULL);
	static const char content[] = "a\0b 日本語 🎉 \xd8\xa7\xd9\x84";
	convlog_msg m, *g;

	convlog_msg_init(&m);
	m.conv_id = id;
	m.role = "user";
	m.content = content;
	m.content_len = sizeof(content) - 1;
	CK_OK(convlog_msg_append(db, NULL, &m, NULL));
	reopen();
	CK_OK(convlog_msg_get(db, &id, 1, &g));
	ck_assert_uint_eq(g->content_len, sizeof(content) - 1);
	ck_assert_mem_eq(g->content, content, sizeof(content) - 1);
	convlog_msg_free(g);
}
END_TEST

START_TEST(test_api__options_and_names_validate)
{
	convlog_options *o;
	int s;

	CK_OK(convlog_options_new(&o));
	CK_ERR(convlog_options_set_durability(o, 7), CONVLOG_EINVAL);
	CK_ERR(convlog_options_set_segment_size(o, 10), CONVLOG_EINVAL);
	CK_ERR(convlog_options_set_compression_level(o, 0), CONVLOG_EINVAL);
	CK_ERR(convlog_options_set_open_flags(o, 0x80), CONVLOG_EINVAL);
	CK_OK(convlog_options_set_frame_size(o, 65536));
	convlog_options_free(o);
	ck_assert_str_eq(convlog_version(), CONVLOG_VERSION_STRING);
	ck_assert_str_eq(convlog_status_name(CONVLOG_STATUS_INACTIVE_USER_TERMINATED),
			 "inactive_user_terminated");
	CK_OK(convlog_status_parse("archived", &s));
	ck_assert_int_eq(s, CONVLOG_STATUS_ARCHIVED);
	CK_ERR(convlog_status_parse("gone", &s), CONVLOG_ESTATUS);
	CK_OK(convlog_msg_status_parse("pending", &s));
	ck_assert_int_eq(s, CONVLOG_MSG_PENDING);
	ck_assert_str_eq(convlog_strerror(CONVLOG_ETRANSITION), "status transition not allowed");
	ck_assert_str_eq(convlog_strerror(-999), "unknown error");
	convlog_uuid u;
	char buf[CONVLOG_UUID_STRLEN];
	CK_OK(convlog_uuid_generate(&u));
	ck_assert_int_eq(u.bytes[6] >> 4, 7);
	convlog_uuid_format(&u, buf);
	convlog_uuid back;
	CK_OK(convlog_uuid_parse(buf, &back));
	ck_assert_mem_eq(back.bytes, u.bytes, 16);
	CK_ERR(convlog_uuid_parse("not-a-uuid", &back), CONVLOG_EINVAL);
}
END_TEST

START_TEST(test_api__durability_modes_survive_reopen)
{
	for (int mode = 0; mode < 3; mode++) {
		convlog_options *o = tu_opts(mode);
		convlog_close(db);
		tu_rmrf(path);
		db = tu_open(path, o);
		convlog_uuid id = tu_conv(db, NULL, NULL);
		for (int i = 0; i < 200; i++)
			tu_msg(db, &id, "user", "durable enough");
		CK_OK(convlog_sync(db));
		convlog_close(db);
		db = tu_open(path, o);
		convlog_options_free(o);
		ck_assert_uint_eq(stats().messages, 200);
		tu_verify_clean(db);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("api");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_api__create_and_get_roundtrip_every_field);
	tcase_add_test(tc, test_api__ids_and_external_ids_are_unique);
	tcase_add_test(tc, test_api__patch_changes_only_masked_fields);
	tcase_add_test(tc, test_api__status_transitions_follow_the_lifecycle);
	tcase_add_test(tc, test_api__archive_passes_through_inactive_and_unarchives);
	tcase_add_test(tc, test_api__delete_and_restore_keep_the_previous_status);
	tcase_add_test(tc, test_api__append_assigns_dense_seqs_and_keeps_aggregates);
	tcase_add_test(tc, test_api__append_reactivates_an_inactive_conversation);
	tcase_add_test(tc, test_api__append_to_archived_or_deleted_is_refused);
	tcase_add_test(tc, test_api__explicit_seq_and_parent_are_checked);
	tcase_add_test(tc, test_api__message_ids_are_unique_and_readable);
	tcase_add_test(tc, test_api__supersede_replaces_the_version_and_adjusts_totals);
	tcase_add_test(tc, test_api__ranges_first_last_after);
	tcase_add_test(tc, test_api__list_filters_and_orders_by_activity);
	tcase_add_test(tc, test_api__list_paging_with_tokens_visits_each_once);
	tcase_add_test(tc, test_api__bad_input_changes_nothing);
	tcase_add_test(tc, test_api__transaction_commits_all_or_nothing);
	tcase_add_test(tc, test_api__iterators_keep_their_snapshot);
	tcase_add_test(tc, test_api__second_writer_is_locked_out_readonly_is_not);
	tcase_add_test(tc, test_api__readonly_handle_follows_a_writer_that_flushes);
	tcase_add_test(tc, test_api__open_refuses_foreign_and_missing_directories);
	tcase_add_test(tc, test_api__concurrent_full_commits_share_syncs);
	tcase_add_test(tc, test_api__content_keeps_nul_bytes_and_unicode);
	tcase_add_test(tc, test_api__options_and_names_validate);
	tcase_add_test(tc, test_api__durability_modes_survive_reopen);
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
