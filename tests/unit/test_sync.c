/*
 * Sync through the public API: changesets, their merge, and convergence.
 *
 * The randomised test runs three replicas through thousands of operations
 * (creates, appends on the tip or on an older turn, edits, field patches,
 * lifecycle changes, tip moves, forks, purges) with changesets exchanged
 * in random order, duplicated, dropped, and exported from stale or too
 * new cursors; then a full exchange.  Every operation runs in a fresh
 * millisecond, so the stamps the stores give it (hybrid logical clocks)
 * order operations exactly as the test ran them, and the model can say who
 * wins each field: the last writer.  The three stores must end
 * byte-identical (every field through the API) and equal to the model.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>

#include "testutil.h"
#include "api/sync_int.h"

#define NREP 3

static char paths[NREP][256];
static convlog_db *dbs[NREP];

static void setup(void)
{
	for (int i = 0; i < NREP; i++) {
		convlog_options *o = tu_opts(CONVLOG_DURABILITY_OFF);
		char tag[16];
		snprintf(tag, sizeof(tag), "sync%d", i);
		tu_tmppath(paths[i], sizeof(paths[i]), tag);
		dbs[i] = tu_open(paths[i], o);
		convlog_options_free(o);
	}
}

static void teardown(void)
{
	for (int i = 0; i < NREP; i++) {
		convlog_close(dbs[i]);
		dbs[i] = NULL;
		tu_rmrf(paths[i]);
	}
}

static void reopen(int i)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_OFF);

	if (dbs[i])
		convlog_close(dbs[i]);
	dbs[i] = tu_open(paths[i], o);
	convlog_options_free(o);
}

/* Waits for the next millisecond: every operation gets its own. */
static void next_ms(void)
{
	struct timespec a, b;

	clock_gettime(CLOCK_REALTIME, &a);
	do {
		clock_gettime(CLOCK_REALTIME, &b);
	} while (b.tv_sec == a.tv_sec && b.tv_nsec / 1000000 == a.tv_nsec / 1000000);
}

/* export from s since `since`, apply to d; returns apply's result code */
static int xfer(int s, int d, uint64_t since, convlog_sync_result *r, uint64_t *upto)
{
	void *cs;
	size_t len;
	int rc;

	CK_OK(convlog_sync_export(dbs[s], since, &cs, &len, upto));
	rc = convlog_sync_apply(dbs[d], cs, len, r);
	convlog_free(cs);
	return rc;
}

/* ---- a canonical dump of everything the API shows ---- */

typedef struct sbuf {
	char *p;
	size_t n, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
	va_list ap;

	for (;;) {
		va_start(ap, fmt);
		int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
		va_end(ap);
		if (b->p && (size_t)k < b->cap - b->n) {
			b->n += (size_t)k;
			return;
		}
		b->cap = (b->cap + (size_t)k + 1) * 2;
		b->p = realloc(b->p, b->cap);
		ck_assert_ptr_nonnull(b->p);
	}
}

static const char *nz(const char *s)
{
	return s ? s : "(null)";
}

static void dump_conv(sbuf *b, const convlog_conv *c)
{
	char id[CONVLOG_UUID_STRLEN], pid[CONVLOG_UUID_STRLEN];

	convlog_uuid_format(&c->id, id);
	convlog_uuid_format(&c->parent_id, pid);
	sb_printf(b, "conv %s ext=%s org=%s user=%s dev=%s sess=%s ir=%s rr=%s title=%s topic=%s sp=%s\n",
		  id, nz(c->external_id), nz(c->org_id), nz(c->user_id), nz(c->device_id),
		  nz(c->session_id), nz(c->initiator_role), nz(c->responder_role), nz(c->title),
		  nz(c->topic), nz(c->system_prompt));
	sb_printf(b, "  status=%d prev=%d arch=%" PRId64 " del=%" PRId64 " rating=%d parent=%s fork=%u depth=%u tip=%u\n",
		  c->status, c->prev_status, c->archived_at, c->deleted_at, c->rating, pid, c->fork_seq,
		  c->depth, c->tip_seq);
	sb_printf(b, "  tags=");
	for (size_t i = 0; i < c->n_tags; i++)
		sb_printf(b, "%s,", c->tags[i]);
	sb_printf(b, " cursors=");
	for (size_t i = 0; i < c->n_cursors; i++)
		sb_printf(b, "%s:%" PRId64 ",", c->cursors[i].name, c->cursors[i].value);
	sb_printf(b, " meta=%s created=%" PRId64 " updated=%" PRId64 " act=%" PRId64 "\n", nz(c->metadata),
		  c->created_at, c->updated_at, c->last_activity_at);
	sb_printf(b, "  count=%" PRIu64 " tokens=%" PRId64 " cost=%" PRId64 " last=%" PRId64 "\n", c->message_count,
		  c->token_total, c->cost_total, c->last_message_at);
}

static void dump_msg(sbuf *b, const convlog_msg *m)
{
	char id[CONVLOG_UUID_STRLEN];

	convlog_uuid_format(&m->id, id);
	sb_printf(b, "  msg %u %s parent=%u role=%s content=%.*s tok=%" PRId64 " created=%" PRId64
		  " edited=%" PRId64 " status=%d meta=%s\n",
		  m->seq, id, m->parent_seq, m->role, (int)m->content_len, m->content ? m->content : "",
		  m->token_count, m->created_at, m->edited_at, m->status, nz(m->metadata));
}

static int id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

static char *dump(convlog_db *db, size_t *nconv)
{
	convlog_conv_filter f;
	convlog_conv_iter *it;
	const convlog_conv *lc;
	convlog_conv *c;
	convlog_uuid *ids = NULL;
	size_t n = 0;
	sbuf b = {0};
	int rc;

	convlog_conv_filter_init(&f);
	f.include_deleted = 1;
	CK_OK(convlog_conv_list(db, &f, &it));
	while ((rc = convlog_conv_iter_next(it, &lc)) == 0) {
		ids = realloc(ids, (n + 1) * sizeof(*ids));
		ids[n++] = lc->id;
	}
	ck_assert_int_eq(rc, CONVLOG_DONE);
	convlog_conv_iter_free(it);
	if (n)
		qsort(ids, n, sizeof(*ids), id_cmp);
	for (size_t i = 0; i < n; i++) {
		CK_OK(convlog_conv_get(db, &ids[i], &c));
		dump_conv(&b, c);
		for (uint32_t s = 1; s <= c->message_count; s++) {
			convlog_msg *m;
			CK_OK(convlog_msg_get(db, &ids[i], s, &m));
			dump_msg(&b, m);
			convlog_msg_free(m);
		}
		convlog_conv_free(c);
	}
	free(ids);
	*nconv = n;
	sb_printf(&b, "%s", "");
	return b.p;
}

/* Full exchange until nothing changes; then every store reads the same. */
static void converge(void)
{
	for (int round = 0; round < 4; round++) {
		int changed = 0;
		for (int s = 0; s < NREP; s++)
			for (int d = 0; d < NREP; d++) {
				convlog_sync_result r;
				if (s == d)
					continue;
				CK_OK(xfer(s, d, 0, &r, NULL));
				changed |= r.created || r.updated || r.messages_added || r.messages_updated ||
					   r.purged || r.renumbered;
			}
		if (!changed && round > 0)
			return;
	}
	ck_abort_msg("replicas still exchange changes after 4 full rounds");
}

static void assert_same_n(int nrep)
{
	size_t n0, n;
	char *d0 = dump(dbs[0], &n0);

	for (int i = 1; i < nrep; i++) {
		char *d = dump(dbs[i], &n);
		if (strcmp(d0, d) != 0) {
			/* print the first difference */
			size_t k = 0;
			while (d0[k] && d0[k] == d[k])
				k++;
			size_t s = k > 300 ? k - 300 : 0;
			fprintf(stderr, "replica 0 vs %d differ at byte %zu:\n--- 0:\n%.600s\n--- %d:\n%.600s\n", i,
				k, d0 + s, i, d + s);
			ck_abort_msg("replicas differ after a full exchange");
		}
		free(d);
	}
	free(d0);
}

static void assert_same(void)
{
	assert_same_n(NREP);
}

/* ---- targeted cases ---- */

static convlog_uuid mkconv(int r, const char *title)
{
	next_ms();
	return tu_conv(dbs[r], "u1", title);
}

static uint32_t say(int r, const convlog_uuid *c, const char *text)
{
	next_ms();
	return tu_msg(dbs[r], c, "user", text);
}

START_TEST(test_sync__export_apply_round_trip_and_idempotence)
{
	convlog_sync_result r;
	uint64_t upto, upto2;
	convlog_uuid c = mkconv(0, "hello");
	size_t n;

	say(0, &c, "first");
	say(0, &c, "second");
	CK_OK(xfer(0, 1, 0, &r, &upto));
	ck_assert_uint_eq(r.created, 1);
	ck_assert_uint_eq(r.messages_added, 2);
	ck_assert(r.cursor_moved);
	ck_assert(r.snapshot);
	/* again: nothing changes, not even the feed */
	convlog_sync_info *in;
	CK_OK(convlog_sync_status(dbs[1], &in));
	uint64_t head = in->head;
	ck_assert_uint_eq(in->n_peers, 1);
	ck_assert_uint_eq(in->peers[0].recv, upto);
	convlog_sync_info_free(in);
	CK_OK(xfer(0, 1, 0, &r, NULL));
	ck_assert_uint_eq(r.created + r.updated + r.messages_added + r.messages_updated, 0);
	ck_assert_uint_eq(r.conversations, 1);
	/* an incremental export after the cursor holds only what changed */
	say(0, &c, "third");
	CK_OK(xfer(0, 1, upto, &r, &upto2));
	ck_assert_uint_eq(r.messages_added, 1);
	ck_assert_uint_gt(upto2, upto);
	CK_OK(convlog_sync_status(dbs[1], &in));
	ck_assert_uint_gt(in->head, head);
	ck_assert_uint_eq(in->peers[0].recv, upto2);
	convlog_sync_info_free(in);
	/* nothing after the newest cursor */
	void *cs;
	size_t len;
	CK_OK(convlog_sync_export(dbs[0], upto2, &cs, &len, NULL));
	CK_OK(convlog_sync_peek(cs, len, &r));
	ck_assert_uint_eq(r.conversations, 0); /* no items: 0 has applied nothing from 1 yet */
	convlog_free(cs);
	/* 1's ack reaches 0 */
	CK_OK(xfer(1, 0, 0, &r, NULL));
	CK_OK(convlog_sync_status(dbs[0], &in));
	ck_assert_uint_eq(in->n_peers, 1);
	ck_assert_uint_eq(in->peers[0].ack, upto2);
	convlog_sync_info_free(in);
	char *a = dump(dbs[0], &n), *b = dump(dbs[1], &n);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
	tu_verify_clean(dbs[1]);
	reopen(1);
	b = dump(dbs[1], &n);
	a = dump(dbs[0], &n);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_sync__bad_changesets_change_nothing)
{
	convlog_sync_result r;
	convlog_uuid c = mkconv(0, "x");
	void *cs;
	size_t len, n;

	say(0, &c, "some text to compress some text to compress some text to compress");
	CK_OK(convlog_sync_export(dbs[0], 0, &cs, &len, NULL));
	char *before = dump(dbs[1], &n);
	uint8_t *p = cs;
	/* every single-byte flip is caught by the checksum or the header */
	for (size_t i = 0; i < len; i += (len / 97) + 1) {
		p[i] ^= 0x20;
		int rc = convlog_sync_apply(dbs[1], cs, len, &r);
		ck_assert_msg(rc == CONVLOG_ECORRUPT || rc == CONVLOG_EINVAL || rc == CONVLOG_EVERSION,
			      "flip at %zu: %d", i, rc);
		p[i] ^= 0x20;
	}
	CK_ERR(convlog_sync_apply(dbs[1], cs, len - 1, &r), CONVLOG_ECORRUPT);
	CK_ERR(convlog_sync_apply(dbs[1], cs, 10, &r), CONVLOG_EINVAL);
	CK_ERR(convlog_sync_apply(dbs[0], cs, len, &r), CONVLOG_EINVAL); /* its own */
	char *after = dump(dbs[1], &n);
	ck_assert_str_eq(before, after);
	ck_assert_uint_eq(n, 0);
	CK_OK(convlog_sync_apply(dbs[1], cs, len, &r));
	convlog_free(cs);
	free(before);
	free(after);
}
END_TEST

/* Two offline replicas append to one conversation: after the exchange the
 * turns are ordered by creation on both, with one numbering. */
START_TEST(test_sync__concurrent_appends_get_one_numbering)
{
	convlog_sync_result r;
	convlog_uuid c = mkconv(0, "shared");

	say(0, &c, "a1");
	CK_OK(xfer(0, 1, 0, &r, NULL));
	say(1, &c, "b2"); /* older than a3: sorts first */
	say(0, &c, "a3");
	say(0, &c, "a4");
	say(1, &c, "b5");
	/* a fork on replica 0 at a4, whose place moves */
	next_ms();
	convlog_uuid f;
	CK_OK(convlog_conv_fork(dbs[0], NULL, &c, 3, NULL, 0, &f));
	say(0, &f, "f-own");
	CK_OK(xfer(1, 0, 0, &r, NULL));
	ck_assert_uint_eq(r.messages_added, 2);
	ck_assert_uint_eq(r.renumbered, 3); /* a3, a4 and the fork's own turn move up by one */
	CK_OK(xfer(0, 1, 0, &r, NULL));
	assert_same_n(2);
	const char *want[] = {"a1", "b2", "a3", "a4", "b5"};
	for (int i = 0; i < NREP - 1; i++)
		for (uint32_t s = 1; s <= 5; s++) {
			convlog_msg *m;
			CK_OK(convlog_msg_get(dbs[i], &c, s, &m));
			ck_assert_int_eq((int)m->content_len, 2);
			ck_assert(!memcmp(m->content, want[s - 1], 2));
			convlog_msg_free(m);
		}
	/* the fork still forks at a4 (now seq 4) and keeps its own turn */
	convlog_conv *fc;
	CK_OK(convlog_conv_get(dbs[0], &f, &fc));
	ck_assert_uint_eq(fc->fork_seq, 4);
	ck_assert_uint_eq(fc->message_count, 5);
	convlog_conv_free(fc);
	convlog_msg *m;
	CK_OK(convlog_msg_get(dbs[1], &f, 5, &m));
	ck_assert_int_eq((int)m->content_len, 5);
	ck_assert_uint_eq(m->parent_seq, 4);
	convlog_msg_free(m);
	CK_OK(convlog_msg_get(dbs[1], &f, 4, &m));
	ck_assert(!memcmp(m->content, "a4", 2));
	convlog_msg_free(m);
	for (int i = 0; i < NREP; i++)
		tu_verify_clean(dbs[i]);
	/* the search index follows the renumbering */
	convlog_search_query q;
	convlog_search_result *res;
	convlog_search_query_init(&q);
	q.query = "a3";
	CK_OK(convlog_search(dbs[0], &q, &res));
	ck_assert_uint_eq(res->n_hits, 1);
	ck_assert_uint_eq(res->hits[0].seq, 3);
	convlog_search_result_free(res);
}
END_TEST

/* Per-field last writer wins; a purge wins over everything. */
START_TEST(test_sync__fields_merge_per_unit_and_purge_wins)
{
	convlog_sync_result r;
	convlog_uuid c = mkconv(0, "t0"), d = mkconv(0, "doomed");
	convlog_conv p;

	say(0, &d, "to be purged");
	CK_OK(xfer(0, 1, 0, &r, NULL));
	convlog_conv_init(&p);
	next_ms();
	p.title = "title from 1";
	CK_OK(convlog_conv_patch(dbs[1], NULL, &c, &p, CONVLOG_CONV_TITLE));
	next_ms();
	p.title = NULL;
	p.topic = "topic from 0";
	CK_OK(convlog_conv_patch(dbs[0], NULL, &c, &p, CONVLOG_CONV_TOPIC));
	next_ms();
	CK_OK(convlog_conv_archive(dbs[0], NULL, &c));
	/* replica 1 keeps writing to d; replica 0 purges it */
	say(1, &d, "late words");
	next_ms();
	CK_OK(convlog_conv_delete(dbs[0], NULL, &d));
	CK_OK(convlog_conv_purge(dbs[0], NULL, &d));
	void *from1;
	size_t len1;
	CK_OK(convlog_sync_export(dbs[1], 0, &from1, &len1, NULL)); /* still has d */
	CK_OK(xfer(0, 1, 0, &r, NULL));
	ck_assert_uint_eq(r.purged, 1);
	CK_OK(convlog_sync_apply(dbs[0], from1, len1, &r));
	convlog_free(from1);
	ck_assert_uint_eq(r.ignored, 1); /* d: purged here */
	assert_same_n(2);
	convlog_conv *g;
	CK_OK(convlog_conv_get(dbs[1], &c, &g));
	ck_assert_str_eq(g->title, "title from 1");
	ck_assert_str_eq(g->topic, "topic from 0");
	ck_assert_int_eq(g->status, CONVLOG_STATUS_ARCHIVED);
	convlog_conv_free(g);
	CK_ERR(convlog_conv_get(dbs[1], &d, &g), CONVLOG_ENOTFOUND);
	/* the purge reaches a replica that never saw the conversation */
	CK_OK(xfer(0, 2, 0, &r, NULL));
	CK_OK(xfer(1, 2, 0, &r, NULL));
	CK_ERR(convlog_conv_get(dbs[2], &d, &g), CONVLOG_ENOTFOUND);
	assert_same();
	for (int i = 0; i < NREP; i++)
		tu_verify_clean(dbs[i]);
}
END_TEST

/* A changeset that needs what this store has not seen fails whole. */
START_TEST(test_sync__missing_dependencies_fail_atomically)
{
	convlog_sync_result r;
	uint64_t upto;
	convlog_uuid c = mkconv(0, "base"), other = mkconv(0, "other");
	size_t n;

	say(0, &c, "one");
	void *cs;
	size_t len;
	CK_OK(convlog_sync_export(dbs[0], 0, &cs, &len, &upto));
	convlog_free(cs);
	say(0, &c, "two (answers one)");
	say(0, &other, "unrelated");
	/* replica 1 missed the first changeset: "two" has no parent there */
	char *before = dump(dbs[1], &n);
	CK_ERR(xfer(0, 1, upto, &r, NULL), CONVLOG_ENOTFOUND);
	char *after = dump(dbs[1], &n);
	ck_assert_str_eq(before, after);
	ck_assert_uint_eq(n, 0);
	convlog_sync_info *in;
	CK_OK(convlog_sync_status(dbs[1], &in));
	ck_assert_uint_eq(in->n_peers, 0);
	convlog_sync_info_free(in);
	CK_OK(xfer(0, 1, 0, &r, NULL));
	assert_same_n(2);
	free(before);
	free(after);
}
END_TEST

/* Compaction rewrites and erases the log; a peer that last synced before
 * it still gets exactly what it missed: the feed is state, not history. */
START_TEST(test_sync__export_after_compaction_and_erasure)
{
	convlog_sync_result r;
	uint64_t upto;
	convlog_uuid c = mkconv(0, "kept"), d = mkconv(0, "erased");
	convlog_compact_opts o;
	convlog_compact_stats st = {.version = CONVLOG_COMPACT_VERSION};

	for (int i = 0; i < 40; i++) {
		char t[64];
		snprintf(t, sizeof(t), "turn %d of a conversation that stays", i);
		say(0, &c, t);
		say(0, &d, "words that must disappear");
	}
	CK_OK(xfer(0, 1, 0, &r, &upto));
	say(0, &c, "after the first sync");
	convlog_msg f;
	convlog_msg_init(&f);
	f.content = "edited after the first sync";
	f.content_len = strlen(f.content);
	next_ms();
	CK_OK(convlog_msg_supersede(dbs[0], NULL, &c, 3, &f, CONVLOG_MSG_CONTENT));
	next_ms();
	CK_OK(convlog_conv_delete(dbs[0], NULL, &d));
	CK_OK(convlog_conv_purge(dbs[0], NULL, &d));
	convlog_compact_opts_init(&o);
	o.flags = CONVLOG_COMPACT_FULL;
	CK_OK(convlog_compact(dbs[0], &o, NULL, NULL, &st));
	CK_OK(convlog_compact(dbs[0], &o, NULL, NULL, &st));
	reopen(0);
	CK_OK(xfer(0, 1, upto, &r, NULL));
	ck_assert_uint_eq(r.messages_added, 1);
	ck_assert_uint_eq(r.messages_updated, 1);
	ck_assert_uint_eq(r.purged, 1);
	assert_same_n(2);
	/* and a third replica from nothing */
	CK_OK(xfer(0, 2, 0, &r, NULL));
	assert_same();
	for (int i = 0; i < NREP; i++)
		tu_verify_clean(dbs[i]);
}
END_TEST

/* Opens replica i's LMDB environment directly (the store closed). */
static MDB_env *raw_env(int i, MDB_txn **txn)
{
	char meta[300];
	MDB_env *env;

	snprintf(meta, sizeof(meta), "%s/meta", paths[i]);
	ck_assert_int_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 40);
	mdb_env_set_mapsize(env, 64u << 20);
	ck_assert_int_eq(mdb_env_open(env, meta, 0, 0644), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, txn), 0);
	return env;
}

/* A format 3 store (no sync tables) is upgraded at open: its
 * conversations are in an export since 0 and in no later one. */
START_TEST(test_sync__format_3_store_is_upgraded)
{
	convlog_sync_result r;
	convlog_uuid c = mkconv(0, "old");
	MDB_txn *txn;
	MDB_dbi dbi;
	unsigned char three[4] = {3, 0, 0, 0};
	MDB_val k = {6, "format"}, v = {4, three};
	const char *tables[] = {"sync_conv", "sync_feed", "sync_tomb", "sync_peer"};

	say(0, &c, "written by 0.3");
	CK_OK(convlog_checkpoint(dbs[0]));
	convlog_close(dbs[0]);
	dbs[0] = NULL;
	MDB_env *env = raw_env(0, &txn);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(mdb_dbi_open(txn, tables[i], 0, &dbi), 0);
		ck_assert_int_eq(mdb_drop(txn, dbi, 1), 0);
	}
	ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	/* read-only: no feed */
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_OFF);
	CK_OK(convlog_options_set_open_flags(o, CONVLOG_OPEN_READONLY));
	convlog_db *ro = tu_open(paths[0], o);
	void *cs;
	size_t len;
	CK_ERR(convlog_sync_export(ro, 0, &cs, &len, NULL), CONVLOG_EVERSION);
	convlog_close(ro);
	convlog_options_free(o);
	reopen(0);
	tu_verify_clean(dbs[0]);
	CK_OK(xfer(0, 1, 0, &r, NULL));
	ck_assert_uint_eq(r.created, 1);
	ck_assert_uint_eq(r.messages_added, 1);
	CK_OK(convlog_sync_export(dbs[0], 1, &cs, &len, NULL));
	CK_OK(convlog_sync_peek(cs, len, &r));
	ck_assert_uint_eq(r.conversations, 0);
	convlog_free(cs);
	/* its fields carry zero stamps: any later write wins on every replica */
	convlog_conv p;
	convlog_conv_init(&p);
	p.title = "renamed on 1";
	next_ms();
	CK_OK(convlog_conv_patch(dbs[1], NULL, &c, &p, CONVLOG_CONV_TITLE));
	CK_OK(xfer(1, 0, 0, &r, NULL));
	assert_same_n(2);
	convlog_conv *g;
	CK_OK(convlog_conv_get(dbs[0], &c, &g));
	ck_assert_str_eq(g->title, "renamed on 1");
	convlog_conv_free(g);
}
END_TEST

/* verify checks the sync tables against the conversations. */
START_TEST(test_sync__verify_finds_damaged_sync_state)
{
	convlog_uuid c = mkconv(0, "one"), d = mkconv(0, "two");
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = {16, c.bytes};
	uint64_t n = 0;

	say(0, &d, "x");
	CK_OK(convlog_checkpoint(dbs[0]));
	convlog_close(dbs[0]);
	dbs[0] = NULL;
	MDB_env *env = raw_env(0, &txn);
	ck_assert_int_eq(mdb_dbi_open(txn, "sync_conv", 0, &dbi), 0);
	ck_assert_int_eq(mdb_del(txn, dbi, &k, NULL), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	reopen(0);
	CK_OK(convlog_verify(dbs[0], NULL, NULL, &n));
	ck_assert_uint_eq(n, 2); /* the conversation lacks stamps; its feed entry is orphaned */
	/* repair gives it zero stamps at the feed's head: every peer gets it
	 * again, and any write wins over it */
	CK_OK(convlog_repair(dbs[0], NULL, NULL, &n));
	ck_assert_uint_eq(n, 0);
	tu_verify_clean(dbs[0]);
	convlog_sync_result r;
	CK_OK(xfer(0, 1, 0, &r, NULL));
	ck_assert_uint_eq(r.created, 2);
	assert_same_n(2);
}
END_TEST

/* A process killed while it applies a changeset leaves all of it or none
 * of it: the merge is one transaction of the log. */
START_TEST(test_sync__kill_during_apply_is_all_or_nothing)
{
	uint64_t rs = 0xc0ffee;
	void *cs;
	size_t len;
	int all = 0, none = 0;

	for (int k = 0; k < 30; k++) {
		char t[80];
		convlog_uuid c = tu_conv(dbs[0], "u1", "bulk");
		for (int i = 0; i < 60; i++) {
			snprintf(t, sizeof(t), "conversation %d turn %d with some words to index", k, i);
			tu_msg(dbs[0], &c, i & 1 ? "assistant" : "user", t);
		}
	}
	CK_OK(convlog_sync_export(dbs[0], 0, &cs, &len, NULL));
	convlog_close(dbs[1]);
	dbs[1] = NULL;
	for (int round = 0; round < 12; round++) {
		tu_rmrf(paths[1]);
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			convlog_options *o = tu_opts(CONVLOG_DURABILITY_FULL);
			convlog_db *db;
			if (convlog_open(paths[1], o, &db) || convlog_sync_apply(db, cs, len, NULL))
				_exit(3);
			convlog_close(db);
			_exit(0);
		}
		usleep((useconds_t)(tu_rand(&rs) % 120000));
		kill(pid, SIGKILL);
		int st;
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert(!WIFEXITED(st) || WEXITSTATUS(st) == 0);
		convlog_options *o = tu_opts(CONVLOG_DURABILITY_OFF);
		if (convlog_open(paths[1], o, &dbs[1]) != 0) {
			/* killed before the store was made: nothing to check */
			convlog_options_free(o);
			dbs[1] = NULL;
			none++;
			continue;
		}
		convlog_options_free(o);
		convlog_stats sst = {.version = CONVLOG_STATS_VERSION};
		CK_OK(convlog_stats_get(dbs[1], &sst));
		ck_assert_msg(sst.conversations == 0 || sst.conversations == 30,
			      "a killed apply left %" PRIu64 " of 30 conversations", sst.conversations);
		if (sst.conversations) {
			assert_same_n(2);
			all++;
		} else {
			none++;
		}
		tu_verify_clean(dbs[1]);
		convlog_close(dbs[1]);
		dbs[1] = NULL;
	}
	convlog_free(cs);
	fprintf(stderr, "sync kill: %d applies whole, %d not at all\n", all, none);
	reopen(1);
}
END_TEST

/* Changesets built by hand: a clock far ahead is refused, and so is an
 * item that breaks the rules. */
START_TEST(test_sync__future_stamps_and_bad_items_are_refused)
{
	cvl_cs_builder w;
	convlog_conv c;
	cvl_stamp st[18], born;
	convlog_uuid id, tip = {{0}};
	void *cs;
	size_t len, n;
	uint64_t ahead = (uint64_t)(time(NULL) + 3 * 86400) * 1000 << 16;

	CK_OK(convlog_uuid_generate(&id));
	convlog_conv_init(&c);
	c.id = id;
	c.status = CONVLOG_STATUS_ACTIVE;
	c.title = "from the future";
	for (int u = 0; u < 18; u++)
		st[u] = (cvl_stamp){ahead, 77};
	born = st[0];
	cvl_csb_init(&w, 77, 0, 10);
	CK_OK(cvl_csb_conv(&w, &c, st, &born, &tip, NULL));
	CK_OK(cvl_csb_seal(&w, &cs, &len));
	CK_ERR(convlog_sync_apply(dbs[1], cs, len, NULL), CONVLOG_ERANGE);
	ck_assert_ptr_nonnull(strstr(convlog_errmsg(), "hours ahead"));
	convlog_free(cs);
	/* the same an hour ago is fine */
	for (int u = 0; u < 18; u++)
		st[u].hlc = (uint64_t)(time(NULL) - 3600) * 1000 << 16;
	born = st[0];
	cvl_csb_init(&w, 77, 0, 10);
	CK_OK(cvl_csb_conv(&w, &c, st, &born, &tip, NULL));
	/* a message whose parent is unknown here: the whole changeset fails */
	convlog_msg m;
	convlog_uuid ghost;
	convlog_msg_init(&m);
	CK_OK(convlog_uuid_generate(&m.id));
	CK_OK(convlog_uuid_generate(&ghost));
	m.conv_id = id;
	m.seq = 1;
	m.role = "user";
	m.content = "hi";
	m.content_len = 2;
	m.status = CONVLOG_MSG_COMPLETED;
	CK_OK(cvl_csb_msg(&w, &m, &st[0], &st[0], &ghost));
	CK_OK(cvl_csb_seal(&w, &cs, &len));
	char *before = dump(dbs[1], &n);
	CK_ERR(convlog_sync_apply(dbs[1], cs, len, NULL), CONVLOG_ENOTFOUND);
	char *after = dump(dbs[1], &n);
	ck_assert_str_eq(before, after);
	convlog_free(cs);
	/* invalid UTF-8 in a field: refused by the same checks as a write */
	cvl_csb_init(&w, 77, 0, 10);
	c.title = "bad \xff title";
	CK_OK(cvl_csb_conv(&w, &c, st, &born, &tip, NULL));
	CK_OK(cvl_csb_seal(&w, &cs, &len));
	CK_ERR(convlog_sync_apply(dbs[1], cs, len, NULL), CONVLOG_EUTF8);
	convlog_free(cs);
	free(before);
	free(after);
}
END_TEST

/* An export in small parts, applied in order to an empty store: no part
 * depends on a later one (forks bring their parents), and the result is
 * the whole store. */
START_TEST(test_sync__export_in_parts)
{
	uint64_t rs = 42, from = 0, upto;
	convlog_uuid ids[40];
	int n = 0, parts = 0;

	for (int k = 0; k < 40; k++) {
		char t[64];
		if (k > 5 && tu_rand(&rs) % 3 == 0) {
			/* a fork of an earlier conversation, made now: its feed
			 * entry comes before its parent's next change */
			convlog_conv *c;
			convlog_uuid p = ids[tu_rand(&rs) % (uint64_t)n];
			CK_OK(convlog_conv_get(dbs[0], &p, &c));
			uint32_t at = c->message_count ? 1 + (uint32_t)(tu_rand(&rs) % c->message_count) : 0;
			convlog_conv_free(c);
			CK_OK(convlog_conv_fork(dbs[0], NULL, &p, at, NULL, 0, &ids[n]));
		} else {
			ids[n] = tu_conv(dbs[0], "u1", "part");
		}
		n++;
		for (int i = 0; i < 5; i++) {
			snprintf(t, sizeof(t), "conversation %d turn %d", k, i);
			tu_msg(dbs[0], &ids[tu_rand(&rs) % (uint64_t)n], "user", t);
		}
	}
	CK_OK(convlog_conv_delete(dbs[0], NULL, &ids[1]));
	if (convlog_conv_purge(dbs[0], NULL, &ids[1]) != 0)
		ck_abort_msg("purge: %s", convlog_errmsg());
	do {
		void *cs;
		size_t len;
		convlog_sync_result r;
		CK_OK(convlog_sync_export_part(dbs[0], 0, from, 2000, &cs, &len, &upto, &from));
		ck_assert_msg(convlog_sync_apply(dbs[1], cs, len, &r) == 0, "part %d: %s", parts,
			      convlog_errmsg());
		/* only the last part moves the cursor */
		ck_assert_int_eq(r.cursor_moved, from == 0);
		ck_assert_uint_eq(upto, from ? 0 : r.upto);
		convlog_free(cs);
		parts++;
		ck_assert_int_lt(parts, 400);
	} while (from);
	ck_assert_int_gt(parts, 5);
	assert_same_n(2);
	tu_verify_clean(dbs[1]);
	/* incremental, in parts too: older conversations change after newer
	 * ones, and new forks hang from conversations that change later */
	uint64_t since = upto;
	int parts2 = 0;
	for (int k = 0; k < 30; k++) {
		convlog_uuid p = ids[2 + tu_rand(&rs) % (uint64_t)(n - 2)];
		if (k % 5 == 0) {
			CK_OK(convlog_conv_fork(dbs[0], NULL, &p, 1, NULL, 0, NULL));
		}
		tu_msg(dbs[0], &p, "assistant", "a later turn with enough words to fill parts");
	}
	do {
		void *cs;
		size_t len;
		convlog_sync_result r;
		CK_OK(convlog_sync_export_part(dbs[0], since, from, 1500, &cs, &len, &upto, &from));
		ck_assert_msg(convlog_sync_apply(dbs[1], cs, len, &r) == 0, "incremental part %d: %s", parts2,
			      convlog_errmsg());
		convlog_free(cs);
		parts2++;
	} while (from);
	ck_assert_int_gt(parts2, 2);
	assert_same_n(2);
	fprintf(stderr, "sync parts: %d parts of about 2000 bytes, then %d incremental\n", parts, parts2);
}
END_TEST

/* A purge of a parent reaches a replica that has its forks: they are
 * detached there exactly as on the replica that purged (copies with the
 * same derived ids), so both stay identical. */
START_TEST(test_sync__purged_parent_detaches_forks_everywhere)
{
	convlog_sync_result r;
	convlog_uuid p = mkconv(0, "parent"), f, g;

	say(0, &p, "p1");
	say(0, &p, "p2");
	say(0, &p, "p3");
	next_ms();
	CK_OK(convlog_conv_fork(dbs[0], NULL, &p, 2, NULL, 0, &f));
	say(0, &f, "f-own");
	CK_OK(xfer(0, 1, 0, &r, NULL));
	/* replica 1 forks the parent too, offline */
	next_ms();
	CK_OK(convlog_conv_fork(dbs[1], NULL, &p, 3, NULL, 0, &g));
	say(1, &g, "g-own");
	next_ms();
	CK_OK(convlog_conv_delete(dbs[0], NULL, &p));
	CK_OK(convlog_conv_purge(dbs[0], NULL, &p));
	CK_OK(xfer(0, 1, 0, &r, NULL));
	ck_assert_uint_eq(r.purged, 1);
	CK_OK(xfer(1, 0, 0, &r, NULL));
	CK_OK(xfer(0, 1, 0, &r, NULL));
	assert_same_n(2);
	convlog_conv *c;
	for (int i = 0; i < 2; i++) {
		CK_ERR(convlog_conv_get(dbs[i], &p, &c), CONVLOG_ENOTFOUND);
		CK_OK(convlog_conv_get(dbs[i], &g, &c));
		ck_assert(convlog_uuid_is_nil(&c->parent_id));
		ck_assert_uint_eq(c->message_count, 4);
		convlog_conv_free(c);
		convlog_msg *m;
		CK_OK(convlog_msg_get(dbs[i], &g, 3, &m));
		ck_assert(!memcmp(m->content, "p3", 2));
		convlog_msg_free(m);
		tu_verify_clean(dbs[i]);
	}
}
END_TEST

/* A one-way copy reproduces the times as the source holds them, even
 * when they are older than its messages (a put or an import sets them as
 * given). */
START_TEST(test_sync__one_way_copy_keeps_the_times)
{
	convlog_sync_result r;
	convlog_uuid c = mkconv(0, "times");
	convlog_conv *g;

	say(0, &c, "one");
	say(0, &c, "two");
	CK_OK(convlog_conv_get(dbs[0], &c, &g));
	g->updated_at = 1000;
	g->last_activity_at = 2000;
	CK_OK(convlog_conv_put(dbs[0], NULL, g));
	convlog_conv_free(g);
	CK_OK(xfer(0, 1, 0, &r, NULL));
	assert_same_n(2);
	CK_OK(convlog_conv_get(dbs[1], &c, &g));
	ck_assert_int_eq(g->updated_at, 1000); /* older than its messages */
	convlog_conv_free(g);
}
END_TEST

typedef struct feedlog {
	uint64_t pos[64];
	convlog_uuid id[64];
	int purged[64], n, stop_at;
} feedlog;

static int on_feed(void *ud, uint64_t pos, const convlog_uuid *conv, int purged)
{
	feedlog *f = ud;

	if (f->n == f->stop_at)
		return 7;
	f->pos[f->n] = pos;
	f->id[f->n] = *conv;
	f->purged[f->n++] = purged;
	return 0;
}

/* The feed lists each changed conversation once, at its latest change, in
 * order, resumably. */
START_TEST(test_sync__change_feed)
{
	convlog_uuid a = mkconv(0, "a"), b = mkconv(0, "b"), c = mkconv(0, "c");
	feedlog f = {.stop_at = -1};
	uint64_t head, head2;

	say(0, &a, "a1");
	CK_OK(convlog_sync_feed(dbs[0], 0, &head, on_feed, &f));
	ck_assert_int_eq(f.n, 3);
	ck_assert(!memcmp(f.id[0].bytes, b.bytes, 16)); /* a moved after c */
	ck_assert(!memcmp(f.id[1].bytes, c.bytes, 16));
	ck_assert(!memcmp(f.id[2].bytes, a.bytes, 16));
	ck_assert_uint_lt(f.pos[0], f.pos[1]);
	ck_assert_uint_le(f.pos[2], head);
	/* resume: only what changed since */
	say(0, &b, "b1");
	CK_OK(convlog_conv_delete(dbs[0], NULL, &c));
	CK_OK(convlog_conv_purge(dbs[0], NULL, &c));
	f.n = 0;
	CK_OK(convlog_sync_feed(dbs[0], head, &head2, on_feed, &f));
	ck_assert_int_eq(f.n, 2);
	ck_assert(!memcmp(f.id[0].bytes, b.bytes, 16) && !f.purged[0]);
	ck_assert(!memcmp(f.id[1].bytes, c.bytes, 16) && f.purged[1]);
	ck_assert_uint_gt(head2, head);
	f.n = 0;
	f.stop_at = 1;
	CK_ERR(convlog_sync_feed(dbs[0], 0, NULL, on_feed, &f), 7);
	ck_assert_int_eq(f.n, 1);
}
END_TEST

/* ---- the randomised convergence test ---- */

#define MAXC 160
#define MAXM 4096
#define NUNIT 18

typedef struct mconv {
	convlog_uuid id;
	int alive, purged;
	int parent;             /* model index of the parent conversation, -1 */
	int point;              /* model index of the fork point message, -1 */
	char *unit[NUNIT];      /* last value written, as text */
	int nforks;
} mconv;

typedef struct mmsg {
	convlog_uuid id;
	int conv;
	int parent;  /* model index of the parent message, -1 */
	char text[48];
} mmsg;

static mconv mc[MAXC];
static int nmc;
static mmsg mm[MAXM];
static int nmm;

static int msg_index(const convlog_uuid *id)
{
	for (int i = nmm - 1; i >= 0; i--)
		if (!memcmp(mm[i].id.bytes, id->bytes, 16))
			return i;
	return -1;
}

/* Text of unit u of conversation c as replica db sees it. */
static char *unit_text(convlog_db *db, const convlog_conv *c, int u)
{
	sbuf b = {0};
	char s[CONVLOG_UUID_STRLEN];

	switch (u) {
	case 0: sb_printf(&b, "%s", nz(c->external_id)); break;
	case 1: sb_printf(&b, "%s", nz(c->org_id)); break;
	case 2: sb_printf(&b, "%s", nz(c->user_id)); break;
	case 3: sb_printf(&b, "%s", nz(c->device_id)); break;
	case 4: sb_printf(&b, "%s", nz(c->session_id)); break;
	case 5: sb_printf(&b, "%s", nz(c->initiator_role)); break;
	case 6: sb_printf(&b, "%s", nz(c->responder_role)); break;
	case 7: sb_printf(&b, "%s", nz(c->title)); break;
	case 8: sb_printf(&b, "%s", nz(c->topic)); break;
	case 9: sb_printf(&b, "%s", nz(c->system_prompt)); break;
	case 10:
		for (size_t i = 0; i < c->n_tags; i++)
			sb_printf(&b, "%s,", c->tags[i]);
		sb_printf(&b, "%s", "");
		break;
	case 11: sb_printf(&b, "%d", c->rating); break;
	case 12: convlog_uuid_format(&c->parent_id, s); sb_printf(&b, "%s", s); break;
	case 13:
		if (c->tip_seq) {
			convlog_msg *m;
			CK_OK(convlog_msg_get(db, &c->id, c->tip_seq, &m));
			convlog_uuid_format(&m->id, s);
			convlog_msg_free(m);
			sb_printf(&b, "%s", s);
		} else {
			sb_printf(&b, "none");
		}
		break;
	case 14:
		for (size_t i = 0; i < c->n_cursors; i++)
			sb_printf(&b, "%s:%" PRId64 ",", c->cursors[i].name, c->cursors[i].value);
		sb_printf(&b, "%s", "");
		break;
	case 15: sb_printf(&b, "%s", nz(c->metadata)); break;
	case 16: sb_printf(&b, "%" PRId64, c->created_at); break;
	case 17:
		sb_printf(&b, "%d/%d/%" PRId64 "/%" PRId64, c->status, c->prev_status, c->archived_at,
			  c->deleted_at);
		break;
	}
	return b.p;
}

static uint64_t head_before; /* replica's feed head before the operation */

static uint64_t head(int r)
{
	convlog_sync_info *in;
	uint64_t h;

	CK_OK(convlog_sync_status(dbs[r], &in));
	h = in->head;
	convlog_sync_info_free(in);
	return h;
}

/* Records the values of `units` of model conversation k as replica r
 * has them right after an operation (when it wrote anything: a lifecycle
 * call that finds the status already there writes nothing). */
static void record(int r, int k, uint64_t units)
{
	convlog_conv *c;

	if (head(r) == head_before)
		return;
	CK_OK(convlog_conv_get(dbs[r], &mc[k].id, &c));
	for (int u = 0; u < NUNIT; u++)
		if (units & (UINT64_C(1) << u)) {
			free(mc[k].unit[u]);
			mc[k].unit[u] = unit_text(dbs[r], c, u);
			if (getenv("SYNC_TRACE") && u == 17)
				fprintf(stderr, "replica %d conv %d unit 17 := %s\n", r, k, mc[k].unit[u]);
		}
	convlog_conv_free(c);
}

/* The model's seq space of conversation k: message indexes in order. */
static int space(int k, int *out)
{
	int n = 0;

	if (mc[k].parent >= 0) {
		int tmp[MAXM];
		int pn = space(mc[k].parent, tmp);
		for (int i = 0; i < pn; i++) {
			out[n++] = tmp[i];
			if (tmp[i] == mc[k].point)
				break;
		}
		if (mc[k].point < 0)
			n = 0;
	}
	/* own messages in creation order (= model order) */
	for (int i = 0; i < nmm; i++)
		if (mm[i].conv == k)
			out[n++] = i;
	return n;
}

static void check_model(convlog_db *db)
{
	static int sp[MAXM];
	size_t nlisted;
	int alive = 0;
	char *d = dump(db, &nlisted);
	free(d);

	for (int k = 0; k < nmc; k++) {
		convlog_conv *c;
		if (mc[k].purged) {
			CK_ERR(convlog_conv_get(db, &mc[k].id, &c), CONVLOG_ENOTFOUND);
			continue;
		}
		alive++;
		CK_OK(convlog_conv_get(db, &mc[k].id, &c));
		for (int u = 0; u < NUNIT; u++) {
			char *t = unit_text(db, c, u);
			ck_assert_msg(!strcmp(t, mc[k].unit[u]), "conversation %d unit %d: store has '%s', model '%s'",
				      k, u, t, mc[k].unit[u]);
			free(t);
		}
		int n = space(k, sp);
		ck_assert_msg(c->message_count == (uint64_t)n, "conversation %d: %" PRIu64 " messages, model %d", k,
			      c->message_count, n);
		for (int i = 0; i < n; i++) {
			convlog_msg *m;
			CK_OK(convlog_msg_get(db, &mc[k].id, (uint32_t)(i + 1), &m));
			const mmsg *e = &mm[sp[i]];
			ck_assert_msg(!memcmp(m->id.bytes, e->id.bytes, 16), "conversation %d seq %d: another message",
				      k, i + 1);
			ck_assert_msg(m->content_len == strlen(e->text) && !memcmp(m->content, e->text, m->content_len),
				      "conversation %d seq %d: content '%.*s', model '%s'", k, i + 1,
				      (int)m->content_len, m->content, e->text);
			uint32_t want = 0;
			for (int j = 0; j < i && e->parent >= 0; j++)
				if (sp[j] == e->parent)
					want = (uint32_t)j + 1;
			ck_assert_msg(m->parent_seq == want, "conversation %d seq %d: parent %u, model %u", k, i + 1,
				      m->parent_seq, want);
			convlog_msg_free(m);
		}
		convlog_conv_free(c);
	}
	ck_assert_uint_eq(nlisted, (size_t)alive);
}

/* A random conversation replica r has, alive there, or -1. */
static int pick_conv(uint64_t *rs, int r, convlog_conv **out)
{
	for (int tries = 0; tries < 8 && nmc; tries++) {
		int k = (int)(tu_rand(rs) % (uint64_t)nmc);
		if (mc[k].purged)
			continue;
		if (convlog_conv_get(dbs[r], &mc[k].id, out) == 0)
			return k;
	}
	return -1;
}

static void random_op(uint64_t *rs, int r, int step)
{
	convlog_conv *c = NULL, p;
	int k, op = (int)(tu_rand(rs) % 100);
	char text[48];

	next_ms();
	head_before = head(r);
	convlog_conv_init(&p);
	if (op < 8 || nmc == 0) {
		if (nmc == MAXC)
			return;
		snprintf(text, sizeof(text), "conv %d by %d", nmc, r);
		k = nmc++;
		memset(&mc[k], 0, sizeof(mc[k]));
		mc[k].parent = mc[k].point = -1;
		mc[k].id = tu_conv(dbs[r], (tu_rand(rs) & 1) ? "u1" : "u2", text);
		if (getenv("SYNC_TRACE")) {
			char a[40];
			convlog_uuid_format(&mc[k].id, a);
			fprintf(stderr, "step %d: replica %d creates %s\n", step, r, a);
		}
		mc[k].alive = 1;
		record(r, k, (UINT64_C(1) << NUNIT) - 1);
		return;
	}
	if ((k = pick_conv(rs, r, &c)) < 0)
		return;
	int st = c->status;
	if (op < 50) { /* append: to the tip, or to an older turn (a branch) */
		convlog_msg m;
		uint32_t seq;
		if (st == CONVLOG_STATUS_ARCHIVED || st == CONVLOG_STATUS_DELETED || nmm == MAXM)
			goto out;
		convlog_msg_init(&m);
		m.conv_id = c->id;
		m.role = (tu_rand(rs) & 1) ? "user" : "assistant";
		snprintf(text, sizeof(text), "m%d r%d s%d", nmm, r, step);
		m.content = text;
		m.content_len = strlen(text);
		m.token_count = (int64_t)(tu_rand(rs) % 50);
		if (c->message_count && tu_rand(rs) % 4 == 0)
			m.parent_seq = 1 + (uint32_t)(tu_rand(rs) % c->message_count);
		CK_OK(convlog_msg_append(dbs[r], NULL, &m, &seq));
		convlog_msg *got;
		CK_OK(convlog_msg_get(dbs[r], &c->id, seq, &got));
		mmsg *e = &mm[nmm];
		e->id = got->id;
		e->conv = k;
		e->parent = -1;
		snprintf(e->text, sizeof(e->text), "%s", text);
		if (got->parent_seq) {
			convlog_msg *pm;
			CK_OK(convlog_msg_get(dbs[r], &c->id, got->parent_seq, &pm));
			e->parent = msg_index(&pm->id);
			ck_assert_int_ge(e->parent, 0);
			convlog_msg_free(pm);
		}
		convlog_msg_free(got);
		nmm++;
		uint64_t units = UINT64_C(1) << 13;
		if (st >= CONVLOG_STATUS_INACTIVE_TIMEOUT && st <= CONVLOG_STATUS_COMPLETED)
			units |= UINT64_C(1) << 17; /* reactivated */
		record(r, k, units);
	} else if (op < 60) { /* edit one of its own messages */
		uint32_t own0 = convlog_uuid_is_nil(&c->parent_id) ? 0 : c->fork_seq;
		if (c->message_count <= own0 || st == CONVLOG_STATUS_DELETED || st == CONVLOG_STATUS_ARCHIVED)
			goto out;
		uint32_t seq = own0 + 1 + (uint32_t)(tu_rand(rs) % (c->message_count - own0));
		convlog_msg f, *got;
		convlog_msg_init(&f);
		snprintf(text, sizeof(text), "edit r%d s%d", r, step);
		f.content = text;
		f.content_len = strlen(text);
		CK_OK(convlog_msg_supersede(dbs[r], NULL, &c->id, seq, &f, CONVLOG_MSG_CONTENT));
		CK_OK(convlog_msg_get(dbs[r], &c->id, seq, &got));
		int i = msg_index(&got->id);
		ck_assert_int_ge(i, 0);
		snprintf(mm[i].text, sizeof(mm[i].text), "%s", text);
		convlog_msg_free(got);
	} else if (op < 72) { /* patch a field */
		uint64_t mask;
		int u;
		const char *tags[2] = {"t1", text};
		snprintf(text, sizeof(text), "v r%d s%d", r, step);
		switch (tu_rand(rs) % 4) {
		case 0: p.title = text; mask = CONVLOG_CONV_TITLE; u = 7; break;
		case 1: p.tags = tags; p.n_tags = 2; mask = CONVLOG_CONV_TAGS; u = 10; break;
		case 2: p.rating = 1 + (int)(tu_rand(rs) % 5); mask = CONVLOG_CONV_RATING; u = 11; break;
		default: p.metadata = "{\"k\":1}"; mask = CONVLOG_CONV_METADATA; u = 15; break;
		}
		if (st == CONVLOG_STATUS_DELETED)
			goto out;
		CK_OK(convlog_conv_patch(dbs[r], NULL, &c->id, &p, mask));
		record(r, k, UINT64_C(1) << u);
	} else if (op < 84) { /* lifecycle */
		int rc;
		switch (tu_rand(rs) % 4) {
		case 0: rc = convlog_conv_set_status(dbs[r], NULL, &c->id, CONVLOG_STATUS_COMPLETED); break;
		case 1: rc = convlog_conv_archive(dbs[r], NULL, &c->id); break;
		case 2: rc = convlog_conv_delete(dbs[r], NULL, &c->id); break;
		default: rc = convlog_conv_restore(dbs[r], NULL, &c->id); break;
		}
		if (rc == CONVLOG_ETRANSITION)
			goto out;
		CK_OK(rc);
		record(r, k, UINT64_C(1) << 17);
	} else if (op < 90) { /* move the tip */
		if (!c->message_count || st == CONVLOG_STATUS_DELETED)
			goto out;
		CK_OK(convlog_conv_set_tip(dbs[r], NULL, &c->id, 1 + (uint32_t)(tu_rand(rs) % c->message_count)));
		record(r, k, UINT64_C(1) << 13);
	} else if (op < 96) { /* fork */
		if (st == CONVLOG_STATUS_DELETED || nmc == MAXC)
			goto out;
		uint32_t at = c->message_count ? 1 + (uint32_t)(tu_rand(rs) % c->message_count) : 0;
		convlog_uuid fid;
		CK_OK(convlog_conv_fork(dbs[r], NULL, &c->id, at, NULL, 0, &fid));
		if (getenv("SYNC_TRACE")) {
			char a[40], b[40];
			convlog_uuid_format(&fid, a);
			convlog_uuid_format(&c->id, b);
			fprintf(stderr, "step %d: replica %d forks %s from %s at %u\n", step, r, a, b, at);
		}
		int f = nmc++;
		memset(&mc[f], 0, sizeof(mc[f]));
		mc[f].id = fid;
		mc[f].alive = 1;
		mc[f].parent = k;
		mc[f].point = -1;
		mc[k].nforks++;
		if (at) {
			convlog_msg *pm;
			CK_OK(convlog_msg_get(dbs[r], &c->id, at, &pm));
			mc[f].point = msg_index(&pm->id);
			ck_assert_int_ge(mc[f].point, 0);
			convlog_msg_free(pm);
		}
		record(r, f, (UINT64_C(1) << NUNIT) - 1);
	} else if (op < 98) { /* purge: only conversations no fork hangs from */
		if (mc[k].nforks)
			goto out;
		if (st != CONVLOG_STATUS_DELETED)
			CK_OK(convlog_conv_delete(dbs[r], NULL, &c->id));
		CK_OK(convlog_conv_purge(dbs[r], NULL, &c->id));
		if (getenv("SYNC_TRACE")) {
			char a[40];
			convlog_uuid_format(&c->id, a);
			fprintf(stderr, "step %d: replica %d purges %s\n", step, r, a);
		}
		mc[k].purged = 1;
		if (mc[k].parent >= 0)
			mc[mc[k].parent].nforks--;
	}
out:
	convlog_conv_free(c);
}

/* A changeset in flight: kept to be delivered late, twice, or never. */
typedef struct flight {
	void *cs;
	size_t len;
	int to;
} flight;

START_TEST(test_sync__random_replicas_converge_to_the_model)
{
	uint64_t rs = 0x5eed5eedULL + (uint64_t)_i * 7919;
	flight late[16];
	int nlate = 0, applied = 0, refused = 0, dropped = 0, ops = 0;
	unsigned renumbered = 0, purged = 0, updated = 0;
	const int steps = 2400;

	nmc = nmm = 0;
	for (int step = 0; step < steps; step++) {
		int r = (int)(tu_rand(&rs) % NREP);
		if (tu_rand(&rs) % 100 < 75) {
			random_op(&rs, r, step);
			ops++;
			continue;
		}
		/* an exchange s -> d from the cursor d keeps for s, or from a
		 * stale one (duplicates), 0, or a too new one (a gap) */
		int d = (r + 1 + (int)(tu_rand(&rs) % (NREP - 1))) % NREP;
		convlog_sync_info *in;
		uint64_t since = 0;
		CK_OK(convlog_sync_status(dbs[r], &in));
		uint64_t head = in->head;
		convlog_sync_info_free(in);
		CK_OK(convlog_sync_status(dbs[d], &in));
		for (size_t i = 0; i < in->n_peers; i++) {
			convlog_sync_info *me;
			CK_OK(convlog_sync_status(dbs[r], &me));
			if (in->peers[i].replica_id == me->replica_id)
				since = in->peers[i].recv;
			convlog_sync_info_free(me);
		}
		convlog_sync_info_free(in);
		switch (tu_rand(&rs) % 8) {
		case 0: since = 0; break;
		case 1: since = since / 2; break;
		case 2: since = since + (head - since) / 2; break; /* a gap */
		default: break;
		}
		void *cs;
		size_t len;
		CK_OK(convlog_sync_export(dbs[r], since, &cs, &len, NULL));
		int fate = (int)(tu_rand(&rs) % 10);
		if (fate == 0) { /* lost */
			convlog_free(cs);
			dropped++;
			continue;
		}
		if (fate == 1 && nlate < 16) { /* delivered later */
			late[nlate++] = (flight){cs, len, d};
			continue;
		}
		convlog_sync_result res;
		int rc = convlog_sync_apply(dbs[d], cs, len, &res);
		ck_assert_msg(rc == 0 || rc == CONVLOG_ENOTFOUND, "apply: %s (%s)", convlog_strerror(rc),
			      convlog_errmsg());
		rc ? refused++ : applied++;
		renumbered += res.renumbered;
		purged += res.purged;
		updated += res.messages_updated;
		if (fate == 2) { /* and again */
			rc = convlog_sync_apply(dbs[d], cs, len, &res);
			ck_assert_msg(rc == 0 || rc == CONVLOG_ENOTFOUND, "apply again: %s",
				      convlog_errmsg());
		}
		convlog_free(cs);
		/* deliver an old one now and then (reordering) */
		if (nlate && tu_rand(&rs) % 3 == 0) {
			flight *f = &late[tu_rand(&rs) % (uint64_t)nlate];
			rc = convlog_sync_apply(dbs[f->to], f->cs, f->len, &res);
			ck_assert_msg(rc == 0 || rc == CONVLOG_ENOTFOUND, "late apply: %s (%s)",
				      convlog_strerror(rc), convlog_errmsg());
			convlog_free(f->cs);
			*f = late[--nlate];
		}
		if (step % 600 == 0)
			reopen(d);
	}
	for (int i = 0; i < nlate; i++)
		convlog_free(late[i].cs);
	converge();
	assert_same();
	for (int i = 0; i < NREP; i++) {
		check_model(dbs[i]);
		tu_verify_clean(dbs[i]);
	}
	/* the state survives a reopen (log replay rebuilds the same) */
	reopen(0);
	check_model(dbs[0]);
	fprintf(stderr, "sync random %d: %d operations, %d conversations, %d messages; %d changesets applied, %d refused (missing dependencies), %d lost; %u messages renumbered, %u edits taken, %u purges\n",
		_i, ops, nmc, nmm, applied, refused, dropped, renumbered, updated, purged);
	for (int k = 0; k < nmc; k++)
		for (int u = 0; u < NUNIT; u++)
			free(mc[k].unit[u]);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("sync");
	TCase *tc = tcase_create("sync");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_sync__export_apply_round_trip_and_idempotence);
	tcase_add_test(tc, test_sync__bad_changesets_change_nothing);
	tcase_add_test(tc, test_sync__concurrent_appends_get_one_numbering);
	tcase_add_test(tc, test_sync__fields_merge_per_unit_and_purge_wins);
	tcase_add_test(tc, test_sync__missing_dependencies_fail_atomically);
	tcase_add_test(tc, test_sync__export_after_compaction_and_erasure);
	tcase_add_test(tc, test_sync__format_3_store_is_upgraded);
	tcase_add_test(tc, test_sync__verify_finds_damaged_sync_state);
	tcase_add_test(tc, test_sync__kill_during_apply_is_all_or_nothing);
	tcase_add_test(tc, test_sync__future_stamps_and_bad_items_are_refused);
	tcase_add_test(tc, test_sync__export_in_parts);
	tcase_add_test(tc, test_sync__purged_parent_detaches_forks_everywhere);
	tcase_add_test(tc, test_sync__one_way_copy_keeps_the_times);
	tcase_add_test(tc, test_sync__change_feed);
	tcase_add_loop_test(tc, test_sync__random_replicas_converge_to_the_model, 0, 3);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite()) ? EXIT_FAILURE : EXIT_SUCCESS;
}
