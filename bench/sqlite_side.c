/*
 * sqlite_side.c - every scenario against SQLite, written the way a typical
 * chat application uses it: WAL, synchronous=FULL, prepared statements,
 * text UUID keys, an external-content FTS5 table kept in sync by the
 * trigger from the FTS5 documentation, conversations.updated_at bumped on
 * every message, BEGIN IMMEDIATE for writers.  Default page cache.
 *
 * Forks (5b.): the seeds' chat schema with branching (../shared/seeds/
 * 004) has conversations.parent_conversation_id; a fork from any point of
 * its parent also needs that point, so conversations has parent_id and
 * fork_seq, as convlog's model: a fork shares its parent's messages
 * 1..fork_seq without copying them and numbers its own fork_seq + 1, ...
 * (messages keep their (conversation_id, seq) key; no per-message parent
 * column, the workload's threads being linear).  Its thread is read with a
 * recursive CTE up the parent_id chain (SQL_THREAD).  No index on
 * parent_id: the walk goes from child to parent, by primary key.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "bench.h"

static const char schema_sql[] =
	"CREATE TABLE conversations(\n"
	"  id TEXT PRIMARY KEY, user_id TEXT, title TEXT, status TEXT,\n"
	"  created_at INTEGER, updated_at INTEGER, metadata TEXT,\n"
	"  parent_id TEXT, fork_seq INTEGER);\n"
	"CREATE INDEX conversations_user ON conversations(user_id, updated_at DESC);\n"
	"CREATE TABLE messages(\n"
	"  id TEXT PRIMARY KEY, conversation_id TEXT, seq INTEGER, role TEXT,\n"
	"  content TEXT, token_count INTEGER, cost INTEGER, latency_ms INTEGER,\n"
	"  model TEXT, created_at INTEGER, UNIQUE(conversation_id, seq));\n";

static const char fts_sql[] =
	"CREATE VIRTUAL TABLE messages_fts USING fts5(content, content='messages',\n"
	"  content_rowid='rowid');\n"
	"CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN\n"
	"  INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content);\n"
	"END;\n"
	"CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN\n"
	"  INSERT INTO messages_fts(messages_fts, rowid, content)\n"
	"    VALUES('delete', old.rowid, old.content);\n"
	"END;\n"
	"CREATE TRIGGER messages_au AFTER UPDATE ON messages BEGIN\n"
	"  INSERT INTO messages_fts(messages_fts, rowid, content)\n"
	"    VALUES('delete', old.rowid, old.content);\n"
	"  INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content);\n"
	"END;\n";

#define SQL_INS_CONV                                                                      \
	"INSERT INTO conversations(id, user_id, title, status, created_at, updated_at, metadata) " \
	"VALUES(?1, ?2, ?3, 'active', ?4, ?4, ?5)"
/* A fork copies its parent's descriptive fields, as convlog_conv_fork. */
#define SQL_FORK_CONV                                                                     \
	"INSERT INTO conversations(id, user_id, title, status, created_at, updated_at, "        \
	"metadata, parent_id, fork_seq) SELECT ?1, user_id, title, 'active', ?2, ?2, metadata, " \
	"id, ?3 FROM conversations WHERE id = ?4"
/* The thread of ?1 from the root: each conversation up the chain with the
 * highest seq of it the thread uses (its child's fork_seq, or less). */
#define SQL_THREAD                                                                         \
	"WITH RECURSIVE chain(id, parent_id, fork_seq, upto) AS ("                             \
	" SELECT id, parent_id, fork_seq, 1 << 62 FROM conversations WHERE id = ?1"            \
	" UNION ALL SELECT c.id, c.parent_id, c.fork_seq, min(chain.upto, chain.fork_seq)"     \
	" FROM conversations c JOIN chain ON c.id = chain.parent_id) "                         \
	"SELECT m.id, m.seq, m.role, m.content, m.token_count, m.cost, m.latency_ms, m.model, " \
	"m.created_at FROM chain JOIN messages m ON m.conversation_id = chain.id "              \
	"AND m.seq <= chain.upto ORDER BY m.seq"
#define SQL_INS_MSG                                                                    \
	"INSERT INTO messages(id, conversation_id, seq, role, content, token_count, cost, " \
	"latency_ms, model, created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
#define SQL_TOUCH_CONV "UPDATE conversations SET updated_at = ?1 WHERE id = ?2"
#define SQL_NEXT_SEQ "SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE conversation_id = ?1"
#define SQL_TAIL                                                                   \
	"SELECT id, seq, role, content, token_count, cost, latency_ms, model, created_at " \
	"FROM messages WHERE conversation_id = ?1 ORDER BY seq DESC LIMIT ?2"
#define SQL_RECENT                                                        \
	"SELECT id, title, status, created_at, updated_at, metadata FROM conversations " \
	"WHERE user_id = ?1 ORDER BY updated_at DESC LIMIT ?2"

typedef struct sq_conn {
	sqlite3 *db;
	sqlite3_stmt *begin, *commit, *ins_conv, *ins_msg, *touch, *next_seq;
} sq_conn;

typedef struct sq_ctx {
	const workload *w;
	const bench_cfg *cfg;
	results *r;
	char dir[4096], path[4096];
	sq_conn c;
	uint64_t loaded; /* content bytes in the database */
} sq_ctx;

/* The id of fork k: a text UUID like the others (the app makes one). */
static void fork_id(const workload *w, uint32_t k, char ids[37])
{
	uint64_t a = mix64(w->seed ^ (0xf0f0ull << 32) ^ k), b = mix64(a + k);

	snprintf(ids, 37, "%08x-%04x-7%03x-8%03x-%012llx", (unsigned)(a >> 32),
		 (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff, (unsigned)(b >> 48) & 0xfff,
		 (unsigned long long)(b & 0xffffffffffffull));
}

static void sq_check(sqlite3 *db, int rc, const char *what)
{
	if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
		bench_die("sqlite: %s: %s (%s)", what, db ? sqlite3_errmsg(db) : "",
			  sqlite3_errstr(rc));
}

static void sq_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);

	if (rc != SQLITE_OK)
		bench_die("sqlite: %s: %s", sql, err ? err : sqlite3_errstr(rc));
}

static sqlite3_stmt *sq_prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;

	sq_check(db, sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL), sql);
	return st;
}

static void sq_step_done(sqlite3 *db, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE)
		sq_check(db, rc == SQLITE_ROW ? SQLITE_MISUSE : rc, what);
	sq_check(db, sqlite3_reset(st), what);
}

/* Opens a connection the way the app does on start-up. */
static void sq_open(const char *path, sq_conn *c, int writer)
{
	memset(c, 0, sizeof(*c));
	sq_check(NULL, sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
		 "open");
	sq_check(c->db, sqlite3_busy_timeout(c->db, 30000), "busy_timeout");
	sq_exec(c->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
	if (!writer)
		return;
	c->begin = sq_prep(c->db, "BEGIN IMMEDIATE");
	c->commit = sq_prep(c->db, "COMMIT");
}

static void sq_prep_writes(sq_conn *c)
{
	c->ins_conv = sq_prep(c->db, SQL_INS_CONV);
	c->ins_msg = sq_prep(c->db, SQL_INS_MSG);
	c->touch = sq_prep(c->db, SQL_TOUCH_CONV);
	c->next_seq = sq_prep(c->db, SQL_NEXT_SEQ);
}

static void sq_close(sq_conn *c)
{
	sqlite3_stmt *all[] = {c->begin, c->commit, c->ins_conv, c->ins_msg, c->touch, c->next_seq};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		sqlite3_finalize(all[i]);
	sq_check(c->db, sqlite3_close(c->db), "close");
	memset(c, 0, sizeof(*c));
}

static void bind_opt_int(sqlite3_stmt *st, int i, int64_t v)
{
	if (v < 0)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int64(st, i, v);
}

static void insert_conv(const workload *w, sq_conn *c, uint32_t ci)
{
	const wl_conv *wc = &w->convs[ci];
	sqlite3_stmt *st = c->ins_conv;

	sqlite3_bind_text(st, 1, wc->ids, 36, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, w->users[wc->user], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, wc->title, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, wc->created_at);
	sqlite3_bind_text(st, 5, wc->metadata, -1, SQLITE_STATIC);
	sq_step_done(c->db, st, "insert conversation");
}

/* Inserts message m into conversation `conv` (seq and created_at as
 * given) and bumps its updated_at. */
static void insert_msg_in(sq_conn *c, const wl_msg *m, const char *conv, uint32_t seq,
			  int64_t created_at)
{
	sqlite3_stmt *st = c->ins_msg;

	sqlite3_bind_text(st, 1, m->ids, 36, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, conv, 36, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, seq);
	sqlite3_bind_text(st, 4, wl_role_names[m->role], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, m->content, (int)m->len, SQLITE_STATIC);
	bind_opt_int(st, 6, m->token_count);
	bind_opt_int(st, 7, m->cost);
	bind_opt_int(st, 8, m->latency_ms);
	if (m->model)
		sqlite3_bind_text(st, 9, m->model, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 9);
	sqlite3_bind_int64(st, 10, created_at);
	sq_step_done(c->db, st, "insert message");
	sqlite3_bind_int64(c->touch, 1, created_at);
	sqlite3_bind_text(c->touch, 2, conv, 36, SQLITE_STATIC);
	sq_step_done(c->db, c->touch, "update conversation");
}

/* The same into m's own conversation. */
static void insert_msg(const workload *w, sq_conn *c, const wl_msg *m, uint32_t seq,
		       int64_t created_at)
{
	insert_msg_in(c, m, w->convs[m->conv].ids, seq, created_at);
}

/* ---- 1. bulk import ---- */

static double import_all(const workload *w, const bench_cfg *cfg, sq_conn *c)
{
	wl_batch b = {0};
	double busy = 0;

	for (uint32_t first = 0; first < w->n_msgs; first += cfg->batch) {
		double t0;

		wl_batch_fill(w, first, cfg->batch, &b);
		t0 = now_us();
		sq_step_done(c->db, c->begin, "BEGIN");
		for (uint32_t i = 0; i < b.n; i++) {
			const wl_msg *m = &b.m[i];
			if (m->seq == 1)
				insert_conv(w, c, m->conv);
			insert_msg(w, c, m, m->seq, m->created_at);
		}
		sq_step_done(c->db, c->commit, "COMMIT");
		busy += now_us() - t0;
	}
	wl_batch_free(&b);
	return (double)w->n_msgs / (busy / 1e6);
}

static void create_db(const char *path, int fts, sq_conn *c)
{
	sq_open(path, c, 1);
	sq_exec(c->db, schema_sql);
	if (fts)
		sq_exec(c->db, fts_sql);
	sq_prep_writes(c);
}

/* Same import into a database without FTS5: how much of SQLite's cost is
 * the full-text index (convlog has none yet). */
static void import_nofts(sq_ctx *x)
{
	char dir[4200], path[4300];
	uint64_t alloc, apparent;
	sq_conn c;

	snprintf(dir, sizeof(dir), "%s/sqlite-nofts", x->cfg->dir);
	snprintf(path, sizeof(path), "%s/chat.db", dir);
	dir_remove(dir);
	dir_make(dir);
	create_db(path, 0, &c);
	res_set(x->r, M_IMPORT_NOFTS_RATE, import_all(x->w, x->cfg, &c));
	sq_exec(c.db, "PRAGMA wal_checkpoint(TRUNCATE)");
	dir_usage(dir, &alloc, &apparent);
	res_xset(x->r, X_NOFTS_DISK, (double)alloc);
	sq_close(&c);
	dir_remove(dir);
}

/* ---- 2./3. durable appends ---- */

typedef struct app_thread {
	sq_ctx *x;
	sq_conn c;
	wl_batch b;
	lat l;
	pthread_barrier_t *start;
	pthread_t tid;
} app_thread;

static void append_one(const workload *w, sq_conn *c, const wl_msg *m, lat *l)
{
	uint32_t seq;
	double t0 = now_us();
	int rc;

	sq_step_done(c->db, c->begin, "BEGIN IMMEDIATE");
	sqlite3_bind_text(c->next_seq, 1, w->convs[m->conv].ids, 36, SQLITE_STATIC);
	rc = sqlite3_step(c->next_seq);
	if (rc != SQLITE_ROW)
		sq_check(c->db, rc == SQLITE_DONE ? SQLITE_ERROR : rc, "next seq");
	seq = (uint32_t)sqlite3_column_int64(c->next_seq, 0);
	sq_check(c->db, sqlite3_reset(c->next_seq), "next seq");
	insert_msg(w, c, m, seq, wall_ms());
	sq_step_done(c->db, c->commit, "COMMIT");
	lat_add(l, now_us() - t0);
}

static void *append_main(void *arg)
{
	app_thread *a = arg;
	int rc = pthread_barrier_wait(a->start);

	if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD)
		bench_die("pthread_barrier_wait failed");
	for (uint32_t i = 0; i < a->b.n; i++)
		append_one(a->x->w, &a->c, &a->b.m[i], &a->l);
	return NULL;
}

/* Each thread has its own connection, opened before the clock starts. */
static void appends(sq_ctx *x, uint32_t nthreads, uint32_t scen, int m_rate, int m_p50,
		    int m_p99, int x_n)
{
	app_thread *th = calloc(nthreads, sizeof(*th));
	pthread_barrier_t start;
	lat all;
	double t0, t1;

	if (!th || pthread_barrier_init(&start, NULL, nthreads + 1) != 0)
		bench_die("cannot set up append threads");
	for (uint32_t t = 0; t < nthreads; t++) {
		app_thread *a = &th[t];
		a->x = x;
		a->start = &start;
		sq_open(x->path, &a->c, 1);
		sq_prep_writes(&a->c);
		wl_batch_appends(x->w, scen, t, appends_for_thread(x->cfg->appends, nthreads, t),
				 &a->b);
		lat_init(&a->l, a->b.n);
		if (pthread_create(&a->tid, NULL, append_main, a) != 0)
			bench_die("pthread_create failed");
	}
	pthread_barrier_wait(&start);
	t0 = now_us();
	for (uint32_t t = 0; t < nthreads; t++)
		pthread_join(th[t].tid, NULL);
	t1 = now_us();
	lat_init(&all, x->cfg->appends);
	for (uint32_t t = 0; t < nthreads; t++) {
		lat_merge(&all, &th[t].l);
		lat_free(&th[t].l);
		for (uint32_t i = 0; i < th[t].b.n; i++)
			x->loaded += th[t].b.m[i].len;
		wl_batch_free(&th[t].b);
		sq_close(&th[t].c);
	}
	res_set(x->r, m_rate, (double)all.n / ((t1 - t0) / 1e6));
	res_set(x->r, m_p50, lat_pct(&all, 50));
	res_set(x->r, m_p99, lat_pct(&all, 99));
	res_xset(x->r, x_n, (double)all.n);
	lat_free(&all);
	pthread_barrier_destroy(&start);
	free(th);
}

/* ---- 4. tail read ---- */

/* Records p50 in m_p50 and the rest where the id is not -1; the checksum
 * covers each message's seq unless `by_seq` is 0. */
static void tail_reads(sq_ctx *x, int m_p50, int m_p99, int x_check, int x_msgs, int by_seq)
{
	sqlite3 *db = x->c.db;
	sqlite3_stmt *st = sq_prep(db, SQL_TAIL);
	uint64_t check = 0, msgs = 0;
	lat l;
	rng r;

	rng_seed(&r, x->w->seed, 'T', 0, 0);
	lat_init(&l, x->cfg->reads);
	for (uint32_t i = 0; i < x->cfg->reads; i++) {
		const char *conv = x->w->convs[wl_pick_conv(x->w, &r)].ids;
		double t0 = now_us();
		int rc;

		sqlite3_bind_text(st, 1, conv, 36, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, (int)x->cfg->tail_n);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *content = (const char *)sqlite3_column_text(st, 3);
			size_t len = (size_t)sqlite3_column_bytes(st, 3);
			uint32_t seq = (uint32_t)sqlite3_column_int64(st, 1);
			if (!content && len)
				bench_die("sqlite: tail read: out of memory");
			check += check_msg(by_seq ? seq : 0, content, len);
			msgs++;
		}
		sq_check(db, rc, "tail read");
		sq_check(db, sqlite3_reset(st), "tail read");
		lat_add(&l, now_us() - t0);
	}
	sqlite3_finalize(st);
	res_set(x->r, m_p50, lat_pct(&l, 50));
	if (m_p99 >= 0)
		res_set(x->r, m_p99, lat_pct(&l, 99));
	if (x_check >= 0)
		res_xset(x->r, x_check, (double)(check >> 11));
	if (x_msgs >= 0)
		res_xset(x->r, x_msgs, (double)msgs);
	lat_free(&l);
}

/* ---- 5. recent conversations of a user ---- */

static void recent_lists(sq_ctx *x)
{
	sqlite3 *db = x->c.db;
	sqlite3_stmt *st = sq_prep(db, SQL_RECENT);
	uint64_t check = 0, convs = 0;
	lat l;
	rng r;

	rng_seed(&r, x->w->seed, 'R', 0, 0);
	lat_init(&l, x->cfg->reads);
	for (uint32_t i = 0; i < x->cfg->reads; i++) {
		const char *user = x->w->users[wl_pick_user(x->w, &r)];
		uint32_t pos = 0;
		double t0 = now_us();
		int rc;

		sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, (int)x->cfg->recent_n);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			check += check_conv(pos++, sqlite3_column_int64(st, 4),
					    (const char *)sqlite3_column_text(st, 1));
		sq_check(db, rc, "recent conversations");
		sq_check(db, sqlite3_reset(st), "recent conversations");
		lat_add(&l, now_us() - t0);
		convs += pos;
	}
	sqlite3_finalize(st);
	res_set(x->r, M_RECENT_P50, lat_pct(&l, 50));
	res_set(x->r, M_RECENT_P99, lat_pct(&l, 99));
	res_xset(x->r, X_RECENT_CHECK, (double)(check >> 11));
	res_xset(x->r, X_RECENT_CONVS, (double)convs);
	lat_free(&l);
}

/* ---- 5b. thread walk of a forked conversation ---- */

/* Forks each planned conversation and inserts the fork's own turns, one
 * transaction per fork (untimed); the ids go to ids[k]. */
static void make_forks(sq_ctx *x, const fork_pick *p, uint32_t n, char (*ids)[37])
{
	sqlite3 *db = x->c.db;
	sqlite3_stmt *st = sq_prep(db, SQL_FORK_CONV);
	wl_batch b = {0};

	if (!x->c.ins_msg) /* reopened by 6. or 10.: no write statements */
		sq_prep_writes(&x->c);
	for (uint32_t k = 0; k < n; k++) {
		int64_t now = wall_ms();

		wl_batch_appends(x->w, APPEND_STREAM_FORK, k, FORK_TURNS, &b);
		fork_id(x->w, k, ids[k]);
		sq_step_done(db, x->c.begin, "BEGIN");
		sqlite3_bind_text(st, 1, ids[k], 36, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_bind_int64(st, 3, p[k].fork_seq);
		sqlite3_bind_text(st, 4, x->w->convs[p[k].conv].ids, 36, SQLITE_STATIC);
		sq_step_done(db, st, "insert fork");
		if (sqlite3_changes(db) != 1)
			bench_die("sqlite: fork: no conversation %s", x->w->convs[p[k].conv].ids);
		for (uint32_t i = 0; i < b.n; i++) {
			insert_msg_in(&x->c, &b.m[i], ids[k], p[k].fork_seq + 1 + i, now);
			x->loaded += b.m[i].len;
		}
		sq_step_done(db, x->c.commit, "COMMIT");
	}
	sqlite3_finalize(st);
	wl_batch_free(&b);
}

/* One walk of the thread of fork `id`, root to tip, into *h (walk_hash_msg). */
static void walk_one(sq_ctx *x, sqlite3_stmt *st, const char *id, uint64_t *h, uint64_t *msgs,
		     uint64_t *bytes)
{
	int rc;

	sqlite3_bind_text(st, 1, id, 36, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *content = (const char *)sqlite3_column_text(st, 3);
		size_t len = (size_t)sqlite3_column_bytes(st, 3);
		if (!content && len)
			bench_die("sqlite: thread walk: out of memory");
		*h = walk_hash_msg(*h, (uint32_t)sqlite3_column_int64(st, 1), content, len);
		*bytes += len;
		(*msgs)++;
	}
	sq_check(x->c.db, rc, "thread walk");
	sq_check(x->c.db, sqlite3_reset(st), "thread walk");
}

static void thread_walks(sq_ctx *x)
{
	fork_pick *p = calloc(FORK_COUNT, sizeof(*p));
	char (*ids)[37] = calloc(FORK_COUNT, sizeof(*ids));
	uint64_t check = 0, msgs = 0, bytes = 0;
	sqlite3_stmt *st;
	uint32_t n;
	lat l;
	rng r;

	if (!p || !ids)
		bench_die("out of memory");
	n = fork_plan(x->w, FORK_COUNT, p);
	res_xset(x->r, X_THREAD_FORKS, n);
	if (!n)
		goto out;
	make_forks(x, p, n, ids);
	st = sq_prep(x->c.db, SQL_THREAD);
	rng_seed(&r, x->w->seed, 'W', 0, 0);
	lat_init(&l, x->cfg->reads);
	for (uint32_t i = 0; i < x->cfg->reads; i++) {
		const char *id = ids[rng_below(&r, n)];
		uint64_t h = 0;
		double t0 = now_us();

		walk_one(x, st, id, &h, &msgs, &bytes);
		lat_add(&l, now_us() - t0);
		check = walk_check_add(check, i, h);
	}
	sqlite3_finalize(st);
	res_set(x->r, M_THREAD_P50, lat_pct(&l, 50));
	res_set(x->r, M_THREAD_P99, lat_pct(&l, 99));
	res_xset(x->r, X_THREAD_CHECK, (double)(check >> 11));
	res_xset(x->r, X_THREAD_MSGS, (double)msgs);
	res_xset(x->r, X_THREAD_BYTES, (double)bytes);
	lat_free(&l);
out:
	free(ids);
	free(p);
}

/* ---- 6. open time: open_v2 + pragmas + one query that loads the schema ---- */

static double timed_reopen(sq_ctx *x)
{
	sqlite3_stmt *st;
	double t0, t;
	int rc;

	sq_close(&x->c);
	t0 = now_us();
	sq_open(x->path, &x->c, 1);
	st = sq_prep(x->c.db, "SELECT id FROM conversations LIMIT 1");
	rc = sqlite3_step(st);
	sq_check(x->c.db, rc, "first query");
	t = now_us() - t0;
	sqlite3_finalize(st);
	return t;
}

static void open_times(sq_ctx *x)
{
	double best = 0;

	res_set(x->r, M_OPEN_FIRST, timed_reopen(x));
	sq_exec(x->c.db, "PRAGMA wal_checkpoint(TRUNCATE)");
	for (uint32_t i = 0; i < x->cfg->opens; i++) {
		double t = timed_reopen(x);
		if (i == 0 || t < best)
			best = t;
	}
	res_set(x->r, M_OPEN_BEST, best);
}

/* ---- 7. disk size ---- */

static void disk_size(sq_ctx *x)
{
	uint64_t alloc, apparent;

	sq_exec(x->c.db, "PRAGMA wal_checkpoint(TRUNCATE)");
	dir_usage(x->dir, &alloc, &apparent);
	res_set(x->r, M_DISK_BYTES, (double)alloc);
	res_set(x->r, M_DISK_RATIO, (double)alloc / (double)x->w->raw_bytes);
	res_xset(x->r, X_DISK_APPARENT, (double)apparent);
}

/* ---- 10.-15. full-text search and the index's size ---- */

/* Top 20 by bm25, each hit with a snippet of 24 tokens, as convlog gives.
 * Two ways to write it, each faster on some queries: ORDER BY bm25() goes
 * through SQLite's top-N sorter (cheap on large match sets, but rows
 * entering the sorter get their snippet computed before they may be
 * dropped); ORDER BY rank has FTS5 sort every match itself, then computes
 * 20 snippets.  Both are timed; each class reports the faster. */
#define SQL_SEARCH_COLS \
	"SELECT rowid, snippet(messages_fts, 0, '[', ']', '...', 24) FROM messages_fts "
#define SQL_SEARCH_BM25 \
	SQL_SEARCH_COLS "WHERE messages_fts MATCH ?1 ORDER BY bm25(messages_fts) LIMIT ?2"
#define SQL_SEARCH_RANK SQL_SEARCH_COLS "WHERE messages_fts MATCH ?1 ORDER BY rank LIMIT ?2"
#define SQL_COUNT "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?1"
#define SQL_NEWEST \
	"SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1 ORDER BY rowid DESC LIMIT ?2"
#define SQL_FTS_SIZE                                                   \
	"SELECT count(DISTINCT name), sum(pgsize) FROM dbstat WHERE name " \
	"LIKE 'messages_fts%'"

typedef struct sq_search {
	sq_ctx *x;
	sqlite3_stmt *top, *count, *newest;
} sq_search;

/* The FTS5 shadow tables' pages (dbstat), if SQLite has dbstat; else the
 * parent falls back to the difference with the database without FTS5. */
static void index_size(sq_ctx *x)
{
	sqlite3_stmt *st = NULL;
	double pages;

	if (sqlite3_prepare_v2(x->c.db, SQL_FTS_SIZE, -1, &st, NULL) != SQLITE_OK) {
		bench_log("[sqlite] no dbstat (%s): FTS5 size from the database without FTS5",
			  sqlite3_errmsg(x->c.db));
		return;
	}
	if (sqlite3_step(st) != SQLITE_ROW)
		sq_check(x->c.db, sqlite3_errcode(x->c.db), "dbstat");
	pages = (double)sqlite3_column_int64(st, 1);
	res_set(x->r, M_INDEX_BYTES, pages);
	res_set(x->r, M_INDEX_RATIO, pages / (double)x->w->raw_bytes);
	res_xset(x->r, X_INDEX_FILES, (double)sqlite3_column_int64(st, 0));
	x->r->s.index_via_dbstat = 1;
	sqlite3_finalize(st);
}

/* rowid is the import position + 1 (a fresh table, inserts in order). */
static uint64_t key_of_rowid(const workload *w, sqlite3_int64 rowid)
{
	if (rowid < 1 || rowid > w->n_msgs)
		bench_die("sqlite: search returned rowid %lld, not a corpus message",
			  (long long)rowid);
	return sq_key_of_event(w, (uint32_t)(rowid - 1));
}

static void search_top(void *ud, const char *query, sq_hits *h)
{
	sq_search *s = ud;
	sqlite3 *db = s->x->c.db;
	int rc;

	sqlite3_bind_text(s->top, 1, query, -1, SQLITE_STATIC);
	sqlite3_bind_int(s->top, 2, SQ_TOP);
	while ((rc = sqlite3_step(s->top)) == SQLITE_ROW && h->n < SQ_TOP) {
		const unsigned char *snip = sqlite3_column_text(s->top, 1);
		if (!snip)
			bench_die("sqlite: search: no snippet (out of memory?)");
		h->keys[h->n++] = key_of_rowid(s->x->w, sqlite3_column_int64(s->top, 0));
		h->snippet_bytes += sqlite3_column_bytes(s->top, 1);
	}
	sq_check(db, rc, query);
	sq_check(db, sqlite3_reset(s->top), query);
}

static void search_count(void *ud, const char *query, uint32_t cap, double *total, uint64_t *hash)
{
	sq_search *s = ud;
	sqlite3 *db = s->x->c.db;
	int rc;

	*hash = 0;
	sqlite3_bind_text(s->count, 1, query, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(s->count)) != SQLITE_ROW)
		sq_check(db, rc == SQLITE_DONE ? SQLITE_ERROR : rc, query);
	*total = (double)sqlite3_column_int64(s->count, 0);
	sq_check(db, sqlite3_reset(s->count), query);
	sqlite3_bind_text(s->newest, 1, query, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->newest, 2, cap);
	while ((rc = sqlite3_step(s->newest)) == SQLITE_ROW) {
		sqlite3_int64 rowid = sqlite3_column_int64(s->newest, 0);
		*hash = sq_hash_add(*hash, key_of_rowid(s->x->w, rowid));
	}
	sq_check(db, rc, query);
	sq_check(db, sqlite3_reset(s->newest), query);
}

/* The rowid assumption of key_of_rowid. */
static void check_rowids(sq_ctx *x)
{
	sqlite3_stmt *st =
		sq_prep(x->c.db, "SELECT count(*), min(rowid), max(rowid) FROM messages");
	int rc = sqlite3_step(st);
	uint64_t n = x->w->n_msgs;

	if (rc != SQLITE_ROW)
		sq_check(x->c.db, rc == SQLITE_DONE ? SQLITE_ERROR : rc, "count messages");
	if ((uint64_t)sqlite3_column_int64(st, 0) != n || sqlite3_column_int64(st, 1) != 1 ||
	    (uint64_t)sqlite3_column_int64(st, 2) != n)
		bench_die("sqlite: search: message rowids are not 1..%u in import order",
			  x->w->n_msgs);
	sqlite3_finalize(st);
}

/* Times the second form of the top-20 statement and keeps, per class, the
 * faster p50 (with its p95) in the results. */
static void search_other_form(sq_ctx *x, const sq_engine *e)
{
	static results other;
	results *r = x->r;

	memset(&other, 0, sizeof(other));
	sq_time(x->cfg->qs, e, &other);
	for (int c = 0; c < SQ_CLASSES; c++) {
		int m = M_SEARCH_P50 + 2 * c;
		double p50 = r->v[m], p95 = r->v[m + 1];
		if (!other.have[m])
			continue;
		r->s.other_p50[c] = other.v[m];
		r->s.other_p95[c] = other.v[m + 1];
		if (other.v[m] >= p50)
			continue;
		r->s.form[c] = 1;
		r->v[m] = other.v[m];
		r->v[m + 1] = other.v[m + 1];
		r->s.mean_us[c] = other.s.mean_us[c];
		r->s.other_p50[c] = p50;
		r->s.other_p95[c] = p95;
	}
}

/* Closed and reopened first, so that the page cache starts empty, as
 * convlog's block cache does. */
static void search_all(sq_ctx *x)
{
	sq_search s = {x, NULL, NULL, NULL};
	sq_engine e = {"sqlite", &s, search_top, search_count};

	sq_close(&x->c);
	sq_open(x->path, &x->c, 1);
	index_size(x);
	check_rowids(x);
	sq_close(&x->c);
	sq_open(x->path, &x->c, 1);
	s.top = sq_prep(x->c.db, SQL_SEARCH_BM25);
	s.count = sq_prep(x->c.db, SQL_COUNT);
	s.newest = sq_prep(x->c.db, SQL_NEWEST);
	sq_time(x->cfg->qs, &e, x->r);
	sqlite3_finalize(s.top);
	s.top = sq_prep(x->c.db, SQL_SEARCH_RANK);
	e.name = "sqlite, ORDER BY rank";
	search_other_form(x, &e);
	e.name = "sqlite";
	sq_count(x->cfg->qs, &e, x->r);
	sqlite3_finalize(s.top);
	sqlite3_finalize(s.count);
	sqlite3_finalize(s.newest);
}

/* ---- 16./17. VACUUM, the equivalent of convlog's compaction ---- */

/* The disk_size measurement: the WAL checkpointed into the database. */
static uint64_t checkpointed_alloc(sq_ctx *x)
{
	uint64_t alloc, apparent;

	sq_exec(x->c.db, "PRAGMA wal_checkpoint(TRUNCATE)");
	dir_usage(x->dir, &alloc, &apparent);
	return alloc;
}

/* A timed VACUUM (in WAL mode it writes the new database into the WAL),
 * then the checkpoint that moves it into place (*ckpt_ms), then the size.
 * The VACUUM's time in ms. */
static double vacuum(sq_ctx *x, uint64_t *after, double *ckpt_ms)
{
	double t0 = now_us(), ms;

	sq_exec(x->c.db, "VACUUM");
	ms = (now_us() - t0) / 1e3;
	t0 = now_us();
	*after = checkpointed_alloc(x);
	*ckpt_ms = (now_us() - t0) / 1e3;
	return ms;
}

static void vacuum_loaded(sq_ctx *x)
{
	uint64_t before = checkpointed_alloc(x), after;
	double ckpt, ms = vacuum(x, &after, &ckpt);

	res_xset(x->r, X_COMPACT_DISK_BEFORE, (double)before);
	res_xset(x->r, X_VACUUM_CKPT_MS, ckpt);
	res_set(x->r, M_COMPACT_MS, ms);
	res_set(x->r, M_COMPACT_DISK, (double)after);
	res_set(x->r, M_COMPACT_RATIO, (double)after / (double)x->loaded);
	bench_log("[sqlite] VACUUM: %.1f ms (checkpoint after it %.1f ms), disk %.1f -> %.1f MiB",
		  ms, x->r->x[X_VACUUM_CKPT_MS], before / 1048576.0, after / 1048576.0);
}

/* UPDATE of the content of the messages wl_edited() picks (the FTS5
 * trigger replaces their documents), 1000 a transaction. */
static void edit_messages(sq_ctx *x)
{
	sqlite3 *db = x->c.db;
	sqlite3_stmt *st = sq_prep(db, "UPDATE messages SET content = ?1 WHERE id = ?2");
	wl_batch b = {0};
	uint32_t next = 0, n = 0;
	double busy = 0;

	for (;;) {
		double t0;

		wl_batch_edits(x->w, &next, x->cfg->batch, &b);
		if (!b.n)
			break;
		t0 = now_us();
		sq_step_done(db, x->c.begin, "BEGIN");
		for (uint32_t i = 0; i < b.n; i++) {
			const wl_msg *m = &b.m[i];
			sqlite3_bind_text(st, 1, m->content, (int)m->len, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, m->ids, 36, SQLITE_STATIC);
			sq_step_done(db, st, "update message");
			if (sqlite3_changes(db) != 1)
				bench_die("sqlite: edit: message %s not found", m->ids);
		}
		sq_step_done(db, x->c.commit, "COMMIT");
		busy += now_us() - t0;
		n += b.n;
	}
	sqlite3_finalize(st);
	wl_batch_free(&b);
	res_xset(x->r, X_EDITS, n);
	res_xset(x->r, X_EDIT_RATE, busy > 0 ? n / (busy / 1e6) : 0);
}

static void edit_and_reclaim(sq_ctx *x)
{
	uint64_t before, after;
	double ms, ckpt;

	edit_messages(x);
	before = checkpointed_alloc(x);
	ms = vacuum(x, &after, &ckpt);
	res_set(x->r, M_EDIT_DISK, (double)before);
	res_set(x->r, M_EDIT_COMPACT_DISK, (double)after);
	res_set(x->r, M_EDIT_COMPACT_MS, ms);
	bench_log("[sqlite] %.0f messages edited (%.0f/s); disk %.1f MiB, after VACUUM (%.1f ms) "
		  "%.1f MiB",
		  x->r->x[X_EDITS], x->r->x[X_EDIT_RATE], before / 1048576.0, ms,
		  after / 1048576.0);
}

/* Runs on a database that every other selected scenario is done with. */
static void compact_all(sq_ctx *x)
{
	vacuum_loaded(x);
	tail_reads(x, M_TAIL_COMPACT_P50, -1, X_TAIL_COMPACT_CHECK, X_TAIL_COMPACT_MSGS, 0);
	bench_log("[sqlite] tail read after VACUUM p50 %.1f us", x->r->v[M_TAIL_COMPACT_P50]);
	edit_and_reclaim(x);
}

/* ---- the run ---- */

void sqlite_run(const workload *w, const bench_cfg *cfg, results *r)
{
	sq_ctx x = {.w = w, .cfg = cfg, .r = r};
	uint32_t sc = cfg->scenarios;
	double t0;

	anon_sampler_start();
	snprintf(x.dir, sizeof(x.dir), "%s/sqlite", cfg->dir);
	snprintf(x.path, sizeof(x.path), "%s/chat.db", x.dir);
	dir_remove(x.dir);
	dir_make(x.dir);
	create_db(x.path, 1, &x.c);
	if (sc & ~(SC_FSYNC | SC_IMPORT_NOFTS)) {
		t0 = now_us();
		res_set(r, M_IMPORT_RATE, import_all(w, cfg, &x.c));
		x.loaded = w->raw_bytes;
		bench_log("[sqlite] bulk import: %.0f msgs/s (%.1f s wall)", r->v[M_IMPORT_RATE],
			  (now_us() - t0) / 1e6);
		if (!(sc & SC_IMPORT))
			r->have[M_IMPORT_RATE] = 0;
	}
	if (sc & SC_OPEN) {
		open_times(&x);
		bench_log("[sqlite] open: first %.0f us, best %.0f us", r->v[M_OPEN_FIRST],
			  r->v[M_OPEN_BEST]);
	}
	if (sc & SC_DISK) {
		disk_size(&x);
		bench_log("[sqlite] disk: %.1f MiB", r->v[M_DISK_BYTES] / 1048576.0);
	}
	if (sc & SC_TAIL) {
		tail_reads(&x, M_TAIL_P50, M_TAIL_P99, X_TAIL_CHECK, X_TAIL_MSGS, 1);
		bench_log("[sqlite] tail read p50 %.1f us", r->v[M_TAIL_P50]);
	}
	if (sc & SC_RECENT) {
		recent_lists(&x);
		bench_log("[sqlite] recent conversations p50 %.1f us", r->v[M_RECENT_P50]);
	}
	if (sc & SC_SEARCH) {
		search_all(&x);
		if (r->have[M_INDEX_BYTES])
			bench_log("[sqlite] FTS5 index: %.1f MiB in %.0f tables",
				  r->v[M_INDEX_BYTES] / 1048576.0, r->x[X_INDEX_FILES]);
	}
	if (sc & SC_APPEND1) {
		appends(&x, 1, APPEND_STREAM_1T, M_APPEND1_RATE, M_APPEND1_P50, M_APPEND1_P99,
			X_APPEND1_N);
		bench_log("[sqlite] durable appends, 1 thread: %.0f commits/s", r->v[M_APPEND1_RATE]);
		/* the disk's floor drifts: measure it next to the appends */
		double fp50, fp99;
		fsync_floor(cfg->dir, cfg->fsyncs, 512, &fp50, &fp99);
		res_set(r, M_APPEND1_FLOOR, fp50);
		res_set(r, M_APPEND1_VS_FLOOR, r->v[M_APPEND1_P50] / fp50);
	}
	if (sc & SC_APPEND4) {
		appends(&x, cfg->threads, APPEND_STREAM_4T, M_APPEND4_RATE, M_APPEND4_P50,
			M_APPEND4_P99, X_APPEND4_N);
		bench_log("[sqlite] durable appends, %u threads: %.0f commits/s", cfg->threads,
			  r->v[M_APPEND4_RATE]);
	}
	if (sc & SC_THREAD) {
		thread_walks(&x);
		bench_log("[sqlite] thread walk of a fork p50 %.1f us (%.0f forks)",
			  r->v[M_THREAD_P50], r->x[X_THREAD_FORKS]);
	}
	sq_close(&x.c);
	res_set(r, M_RSS_PEAK, (double)peak_rss_kib() * 1024.0);
	res_set(r, M_ANON_PEAK, (double)anon_sampler_stop() * 1024.0);
	/* last, since it changes the database; its memory is kept out of 9. */
	if (sc & SC_COMPACT) {
		anon_sampler_start();
		sq_open(x.path, &x.c, 1);
		compact_all(&x);
		sq_close(&x.c);
		res_xset(r, X_SCEN_RSS_PEAK, (double)peak_rss_kib() * 1024.0);
		res_xset(r, X_SCEN_ANON_PEAK, (double)anon_sampler_stop() * 1024.0);
	}
	if (sc & SC_IMPORT_NOFTS) {
		import_nofts(&x);
		bench_log("[sqlite] bulk import without FTS5: %.0f msgs/s", r->v[M_IMPORT_NOFTS_RATE]);
	}
}
