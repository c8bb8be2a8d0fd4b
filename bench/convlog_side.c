/*
 * convlog_side.c - every scenario against libconvlog, through the public
 * API only, with the store's default options (durability FULL).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "convlog.h"

typedef struct cl_ctx {
	const workload *w;
	const bench_cfg *cfg;
	results *r;
	char path[4096];
	convlog_db *db;
	uint64_t *conv_bytes; /* content bytes in the store, per conversation */
	uint64_t loaded;      /* ... in all */
	uint64_t fork_bytes;  /* ... of which in the forks of 5b. */
} cl_ctx;

static void cl_check(int rc, const char *what)
{
	if (rc < 0)
		bench_die("convlog: %s: %s (%s)", what, convlog_errmsg(), convlog_strerror(rc));
}

static void cl_open(cl_ctx *c)
{
	convlog_options *o;
	int rc;

	cl_check(convlog_options_new(&o), "options_new");
	cl_check(convlog_options_set_durability(o, CONVLOG_DURABILITY_FULL), "set_durability");
	rc = convlog_open(c->path, o, &c->db);
	convlog_options_free(o);
	cl_check(rc, "open");
}

static uint64_t cl_syncs(cl_ctx *c)
{
	convlog_stats st;

	memset(&st, 0, sizeof(st));
	st.version = CONVLOG_STATS_VERSION;
	cl_check(convlog_stats_get(c->db, &st), "stats_get");
	return st.syncs;
}

static void to_uuid(const uint8_t b[16], convlog_uuid *u)
{
	memcpy(u->bytes, b, 16);
}

static void fill_msg(const workload *w, const wl_msg *m, convlog_msg *out)
{
	convlog_msg_init(out);
	to_uuid(m->id, &out->id);
	to_uuid(w->convs[m->conv].id, &out->conv_id);
	out->seq = m->seq;
	out->role = wl_role_names[m->role];
	out->content = m->content;
	out->content_len = m->len;
	out->token_count = m->token_count;
	out->cost = m->cost;
	out->latency_ms = m->latency_ms;
	out->model = m->model;
	out->created_at = m->created_at;
}

static void create_conv(cl_ctx *c, convlog_txn *txn, uint32_t ci)
{
	const wl_conv *wc = &c->w->convs[ci];
	convlog_conv in;

	convlog_conv_init(&in);
	to_uuid(wc->id, &in.id);
	in.user_id = c->w->users[wc->user];
	in.title = wc->title;
	in.metadata = wc->metadata;
	in.created_at = wc->created_at;
	cl_check(convlog_conv_create(c->db, txn, &in, NULL), "conv_create");
}

/* ---- 1. bulk import ---- */

static double import_all(cl_ctx *c)
{
	const workload *w = c->w;
	wl_batch b = {0};
	double busy = 0;

	for (uint32_t first = 0; first < w->n_msgs; first += c->cfg->batch) {
		convlog_txn *txn;
		convlog_msg msg;
		double t0;

		wl_batch_fill(w, first, c->cfg->batch, &b);
		t0 = now_us();
		cl_check(convlog_txn_begin(c->db, &txn), "txn_begin");
		for (uint32_t i = 0; i < b.n; i++) {
			const wl_msg *m = &b.m[i];
			if (m->seq == 1)
				create_conv(c, txn, m->conv);
			fill_msg(w, m, &msg);
			cl_check(convlog_msg_append(c->db, txn, &msg, NULL), "msg_append");
		}
		cl_check(convlog_txn_commit(txn), "txn_commit");
		busy += now_us() - t0;
		for (uint32_t i = 0; i < b.n; i++)
			c->conv_bytes[b.m[i].conv] += b.m[i].len;
	}
	c->loaded += w->raw_bytes;
	wl_batch_free(&b);
	return (double)w->n_msgs / (busy / 1e6);
}

/* ---- 2./3. durable appends ---- */

typedef struct app_thread {
	cl_ctx *c;
	uint32_t scen, thread, count;
	wl_batch b;
	lat l;
	pthread_barrier_t *start;
	pthread_t tid;
} app_thread;

static void append_one(cl_ctx *c, const wl_msg *m, lat *l)
{
	convlog_msg msg;
	double t0;

	fill_msg(c->w, m, &msg);
	msg.seq = 0;        /* next */
	msg.created_at = 0; /* now */
	t0 = now_us();
	cl_check(convlog_msg_append(c->db, NULL, &msg, NULL), "msg_append (durable)");
	lat_add(l, now_us() - t0);
}

static void *append_main(void *arg)
{
	app_thread *a = arg;
	int rc;

	rc = pthread_barrier_wait(a->start);
	if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD)
		bench_die("pthread_barrier_wait failed");
	for (uint32_t i = 0; i < a->b.n; i++)
		append_one(a->c, &a->b.m[i], &a->l);
	return NULL;
}

static void appends(cl_ctx *c, uint32_t nthreads, uint32_t scen, int m_rate, int m_p50,
		    int m_p99, int x_syncs, int x_n)
{
	app_thread *th = calloc(nthreads, sizeof(*th));
	pthread_barrier_t start;
	uint64_t s0;
	lat all;
	double t0, t1;

	if (!th || pthread_barrier_init(&start, NULL, nthreads + 1) != 0)
		bench_die("cannot set up append threads");
	for (uint32_t t = 0; t < nthreads; t++) {
		app_thread *a = &th[t];
		a->c = c;
		a->start = &start;
		a->count = appends_for_thread(c->cfg->appends, nthreads, t);
		wl_batch_appends(c->w, scen, t, a->count, &a->b);
		lat_init(&a->l, a->count);
		if (pthread_create(&a->tid, NULL, append_main, a) != 0)
			bench_die("pthread_create failed");
	}
	s0 = cl_syncs(c);
	pthread_barrier_wait(&start);
	t0 = now_us();
	for (uint32_t t = 0; t < nthreads; t++)
		pthread_join(th[t].tid, NULL);
	t1 = now_us();
	lat_init(&all, c->cfg->appends);
	for (uint32_t t = 0; t < nthreads; t++) {
		lat_merge(&all, &th[t].l);
		lat_free(&th[t].l);
		for (uint32_t i = 0; i < th[t].b.n; i++) {
			c->conv_bytes[th[t].b.m[i].conv] += th[t].b.m[i].len;
			c->loaded += th[t].b.m[i].len;
		}
		wl_batch_free(&th[t].b);
	}
	res_set(c->r, m_rate, (double)all.n / ((t1 - t0) / 1e6));
	res_set(c->r, m_p50, lat_pct(&all, 50));
	res_set(c->r, m_p99, lat_pct(&all, 99));
	res_xset(c->r, x_syncs, (double)(cl_syncs(c) - s0));
	res_xset(c->r, x_n, (double)all.n);
	lat_free(&all);
	pthread_barrier_destroy(&start);
	free(th);
}

/* ---- 4. tail read ---- */

/* Records p50 in m_p50 and the rest where the id is not -1; the checksum
 * covers each message's seq unless `by_seq` is 0. */
static void tail_reads(cl_ctx *c, int m_p50, int m_p99, int x_check, int x_msgs, int by_seq)
{
	uint64_t check = 0, msgs = 0;
	lat l;
	rng r;

	rng_seed(&r, c->w->seed, 'T', 0, 0);
	lat_init(&l, c->cfg->reads);
	for (uint32_t i = 0; i < c->cfg->reads; i++) {
		convlog_uuid id;
		convlog_msg_iter *it;
		const convlog_msg *m;
		double t0;
		int rc;

		to_uuid(c->w->convs[wl_pick_conv(c->w, &r)].id, &id);
		t0 = now_us();
		cl_check(convlog_msg_range(c->db, &id, CONVLOG_RANGE_LAST, c->cfg->tail_n, 0, &it),
			 "msg_range");
		while ((rc = convlog_msg_iter_next(it, &m)) == 0) {
			check += check_msg(by_seq ? m->seq : 0, m->content, m->content_len);
			msgs++;
		}
		cl_check(rc, "msg_iter_next");
		convlog_msg_iter_free(it);
		lat_add(&l, now_us() - t0);
	}
	res_set(c->r, m_p50, lat_pct(&l, 50));
	if (m_p99 >= 0)
		res_set(c->r, m_p99, lat_pct(&l, 99));
	if (x_check >= 0)
		res_xset(c->r, x_check, (double)(check >> 11));
	if (x_msgs >= 0)
		res_xset(c->r, x_msgs, (double)msgs);
	lat_free(&l);
}

/* ---- 5. recent conversations of a user ---- */

static void recent_lists(cl_ctx *c)
{
	uint64_t check = 0, convs = 0;
	lat l;
	rng r;

	rng_seed(&r, c->w->seed, 'R', 0, 0);
	lat_init(&l, c->cfg->reads);
	for (uint32_t i = 0; i < c->cfg->reads; i++) {
		convlog_conv_filter f;
		convlog_conv_iter *it;
		const convlog_conv *cv;
		uint32_t pos = 0;
		double t0;
		int rc;

		convlog_conv_filter_init(&f);
		f.user_id = c->w->users[wl_pick_user(c->w, &r)];
		f.limit = c->cfg->recent_n;
		t0 = now_us();
		cl_check(convlog_conv_list(c->db, &f, &it), "conv_list");
		while ((rc = convlog_conv_iter_next(it, &cv)) == 0)
			check += check_conv(pos++, cv->updated_at, cv->title);
		cl_check(rc, "conv_iter_next");
		convlog_conv_iter_free(it);
		lat_add(&l, now_us() - t0);
		convs += pos;
	}
	res_set(c->r, M_RECENT_P50, lat_pct(&l, 50));
	res_set(c->r, M_RECENT_P99, lat_pct(&l, 99));
	res_xset(c->r, X_RECENT_CHECK, (double)(check >> 11));
	res_xset(c->r, X_RECENT_CONVS, (double)convs);
	lat_free(&l);
}

/* ---- 5b. thread walk of a forked conversation ---- */

/* Forks each planned conversation at its fork_seq and appends the fork's
 * own turns, one transaction per fork (untimed).  The ids go to ids[]. */
static void make_forks(cl_ctx *c, const fork_pick *p, uint32_t n, convlog_uuid *ids)
{
	wl_batch b = {0};

	for (uint32_t k = 0; k < n; k++) {
		convlog_txn *txn;
		convlog_uuid parent;

		wl_batch_appends(c->w, APPEND_STREAM_FORK, k, FORK_TURNS, &b);
		to_uuid(c->w->convs[p[k].conv].id, &parent);
		cl_check(convlog_txn_begin(c->db, &txn), "txn_begin");
		cl_check(convlog_conv_fork(c->db, txn, &parent, p[k].fork_seq, NULL, 0, &ids[k]),
			 "conv_fork");
		for (uint32_t i = 0; i < b.n; i++) {
			convlog_msg msg;
			fill_msg(c->w, &b.m[i], &msg);
			msg.conv_id = ids[k];
			msg.seq = 0;        /* next: fork_seq + 1 + i */
			msg.created_at = 0; /* now */
			cl_check(convlog_msg_append(c->db, txn, &msg, NULL), "msg_append (fork)");
			c->fork_bytes += b.m[i].len;
		}
		cl_check(convlog_txn_commit(txn), "txn_commit");
	}
	c->loaded += c->fork_bytes;
	wl_batch_free(&b);
}

/* convlog_msg_thread from the root to the tip of a random fork: the
 * parent's messages 1..fork_seq, then the fork's own. */
static void thread_walks(cl_ctx *c)
{
	fork_pick *p = calloc(FORK_COUNT, sizeof(*p));
	convlog_uuid *ids = calloc(FORK_COUNT, sizeof(*ids));
	uint64_t check = 0, msgs = 0, bytes = 0;
	uint32_t n;
	lat l;
	rng r;

	if (!p || !ids)
		bench_die("out of memory");
	n = fork_plan(c->w, FORK_COUNT, p);
	res_xset(c->r, X_THREAD_FORKS, n);
	if (!n)
		goto out;
	make_forks(c, p, n, ids);
	rng_seed(&r, c->w->seed, 'W', 0, 0);
	lat_init(&l, c->cfg->reads);
	for (uint32_t i = 0; i < c->cfg->reads; i++) {
		const convlog_uuid *id = &ids[rng_below(&r, n)];
		convlog_msg_iter *it;
		const convlog_msg *m;
		uint64_t h = 0;
		double t0;
		int rc;

		t0 = now_us();
		cl_check(convlog_msg_thread(c->db, id, 0, &it), "msg_thread");
		while ((rc = convlog_msg_iter_next(it, &m)) == 0) {
			h = walk_hash_msg(h, m->seq, m->content, m->content_len);
			bytes += m->content_len;
			msgs++;
		}
		cl_check(rc, "msg_iter_next (thread)");
		convlog_msg_iter_free(it);
		lat_add(&l, now_us() - t0);
		check = walk_check_add(check, i, h);
	}
	res_set(c->r, M_THREAD_P50, lat_pct(&l, 50));
	res_set(c->r, M_THREAD_P99, lat_pct(&l, 99));
	res_xset(c->r, X_THREAD_CHECK, (double)(check >> 11));
	res_xset(c->r, X_THREAD_MSGS, (double)msgs);
	res_xset(c->r, X_THREAD_BYTES, (double)bytes);
	lat_free(&l);
out:
	free(ids);
	free(p);
}

/* ---- 6. open time ---- */

static double timed_reopen(cl_ctx *c)
{
	double t0;

	convlog_close(c->db);
	c->db = NULL;
	t0 = now_us();
	cl_open(c);
	return now_us() - t0;
}

static void open_times(cl_ctx *c)
{
	double best = 0;

	res_set(c->r, M_OPEN_FIRST, timed_reopen(c));
	cl_check(convlog_checkpoint(c->db), "checkpoint");
	for (uint32_t i = 0; i < c->cfg->opens; i++) {
		double t = timed_reopen(c);
		if (i == 0 || t < best)
			best = t;
	}
	res_set(c->r, M_OPEN_BEST, best);
}

/* ---- 7. disk size ---- */

static void disk_size(cl_ctx *c)
{
	convlog_stats st;
	uint64_t alloc, apparent;

	cl_check(convlog_checkpoint(c->db), "checkpoint");
	dir_usage(c->path, &alloc, &apparent);
	memset(&st, 0, sizeof(st));
	st.version = CONVLOG_STATS_VERSION;
	cl_check(convlog_stats_get(c->db, &st), "stats_get");
	res_set(c->r, M_DISK_BYTES, (double)alloc);
	res_set(c->r, M_DISK_RATIO, (double)alloc / (double)c->w->raw_bytes);
	res_xset(c->r, X_DISK_APPARENT, (double)apparent);
	res_xset(c->r, X_SEGMENT_BYTES, (double)st.segment_bytes);
	res_xset(c->r, X_META_BYTES, (double)st.meta_bytes);
}

/* ---- 10.-15. full-text search and the index's size ---- */

/* The index segment files (after close, every memtable has become one). */
static void index_usage(cl_ctx *c, uint32_t *files, uint64_t *bytes, uint64_t *alloc)
{
	char dir[4200];

	snprintf(dir, sizeof(dir), "%s/index", c->path);
	dir_usage_suffix(dir, ".idx", alloc, bytes, files);
}

/* Top 20 by relevance; every hit comes with its snippet (the library reads
 * the message and cuts it). */
static void search_top(void *ud, const char *query, sq_hits *h)
{
	cl_ctx *c = ud;
	convlog_search_query q;
	convlog_search_result *res;

	convlog_search_query_init(&q);
	q.query = query;
	q.limit = SQ_TOP;
	cl_check(convlog_search(c->db, &q, &res), query);
	h->n = (uint32_t)(res->n_hits < SQ_TOP ? res->n_hits : SQ_TOP);
	for (uint32_t i = 0; i < h->n; i++) {
		const convlog_search_hit *hit = &res->hits[i];
		h->keys[i] = sq_key(hit->conv_id.bytes, hit->seq);
		h->snippet_bytes += (double)strlen(hit->snippet);
	}
	h->candidates = (double)res->candidates;
	convlog_search_result_free(res);
}

/* Newest matches first, 1000 a page, until `cap`. */
static void search_count(void *ud, const char *query, uint32_t cap, double *total, uint64_t *hash)
{
	cl_ctx *c = ud;
	convlog_search_result *prev = NULL, *res;
	convlog_search_query q;
	uint32_t n = 0;

	*hash = 0;
	convlog_search_query_init(&q);
	q.query = query;
	q.order = CONVLOG_SEARCH_NEWEST;
	q.limit = CONVLOG_SEARCH_MAX_LIMIT;
	q.snippet_words = 1;
	for (;;) {
		cl_check(convlog_search(c->db, &q, &res), query);
		convlog_search_result_free(prev);
		prev = res;
		for (size_t i = 0; i < res->n_hits && n < cap; i++, n++) {
			const convlog_search_hit *hit = &res->hits[i];
			*hash = sq_hash_add(*hash, sq_key(hit->conv_id.bytes, hit->seq));
		}
		if (!res->next || n >= cap)
			break;
		q.after = res->next;
	}
	convlog_search_result_free(prev);
	*total = n;
}

/* The merge thread runs the tiered policy after flushes and at open; a
 * merge of the bulk import's segments would run, on the other core, during
 * the timed queries.  So the pending merges run first, untimed, and the
 * index is measured and searched in that settled state. */
static void search_all(cl_ctx *c)
{
	sq_engine e = {"convlog", c, search_top, search_count};
	uint64_t bytes, alloc;
	uint32_t files;
	double t0;

	convlog_close(c->db);
	c->db = NULL;
	index_usage(c, &files, &bytes, &alloc);
	res_xset(c->r, X_INDEX_PRE_FILES, files);
	res_xset(c->r, X_INDEX_PRE_BYTES, (double)bytes);
	cl_open(c);
	t0 = now_us();
	cl_check(convlog_index_merge(c->db, 0), "index_merge");
	res_xset(c->r, X_INDEX_MERGE_S, (now_us() - t0) / 1e6);
	convlog_close(c->db);
	c->db = NULL;
	index_usage(c, &files, &bytes, &alloc);
	res_set(c->r, M_INDEX_BYTES, (double)bytes);
	res_set(c->r, M_INDEX_RATIO, (double)bytes / (double)c->w->raw_bytes);
	res_xset(c->r, X_INDEX_FILES, files);
	res_xset(c->r, X_INDEX_ALLOC, (double)alloc);
	cl_open(c);
	sq_run(c->cfg->qs, &e, c->r);
}

/* ---- 16./17. compaction, tail read after it, warm and cold tiers ---- */

/* Options of the compactions of 16. and 17.: CONVLOG_COMPACT_FULL (the
 * default: seal the active segment and rewrite every segment, as VACUUM
 * rewrites the whole database), or NULL with --compact-default. */
static const convlog_compact_opts *compact_opts(cl_ctx *c, convlog_compact_opts *o)
{
	if (!c->cfg->compact_flags)
		return NULL;
	convlog_compact_opts_init(o);
	o->flags = c->cfg->compact_flags;
	return o;
}

/* The disk_size measurement, taken once the index has no merge pending:
 * the merge thread runs the tiered policy after every flush, and a merge
 * finishing between two measurements would be counted as compaction. */
static uint64_t settled_alloc(cl_ctx *c)
{
	uint64_t alloc, apparent;

	cl_check(convlog_checkpoint(c->db), "checkpoint");
	cl_check(convlog_index_merge(c->db, 0), "index_merge");
	dir_usage(c->path, &alloc, &apparent);
	return alloc;
}

/* One timed compaction; its wall time in ms. */
static double compact_once(cl_ctx *c, const convlog_compact_opts *o, convlog_compact_stats *st)
{
	double t0;

	memset(st, 0, sizeof(*st));
	st->version = CONVLOG_COMPACT_VERSION;
	t0 = now_us();
	cl_check(convlog_compact(c->db, o, NULL, NULL, st), "compact");
	return (now_us() - t0) / 1e3;
}

static void compact_loaded(cl_ctx *c)
{
	convlog_compact_opts o;
	convlog_compact_stats st;
	uint64_t before = settled_alloc(c), after;
	double ms = compact_once(c, compact_opts(c, &o), &st);

	after = settled_alloc(c);
	res_xset(c->r, X_COMPACT_DISK_BEFORE, (double)before);
	res_set(c->r, M_COMPACT_MS, ms);
	res_set(c->r, M_COMPACT_DISK, (double)after);
	res_set(c->r, M_COMPACT_RATIO, (double)after / (double)c->loaded);
	res_xset(c->r, X_COMPACT_REWRITTEN, (double)st.segments_rewritten);
	res_xset(c->r, X_COMPACT_WRITTEN, (double)st.segments_written);
	res_xset(c->r, X_COMPACT_MOVED, (double)st.records_moved);
	res_xset(c->r, X_COMPACT_SEGS_AFTER, (double)st.segments_after);
	bench_log("[convlog] compaction: %.1f ms, disk %.1f -> %.1f MiB; %llu of %llu segments "
		  "rewritten into %llu, %llu records moved",
		  ms, before / 1048576.0, after / 1048576.0,
		  (unsigned long long)st.segments_rewritten, (unsigned long long)st.segments_before,
		  (unsigned long long)st.segments_written, (unsigned long long)st.records_moved);
}

/* Supersedes the content of the messages wl_edited() picks, 1000 edits a
 * transaction, with text of the same length. */
static void edit_messages(cl_ctx *c)
{
	const workload *w = c->w;
	wl_batch b = {0};
	uint32_t next = 0, n = 0;
	double busy = 0;

	for (;;) {
		convlog_txn *txn;
		double t0;

		wl_batch_edits(w, &next, c->cfg->batch, &b);
		if (!b.n)
			break;
		t0 = now_us();
		cl_check(convlog_txn_begin(c->db, &txn), "txn_begin");
		for (uint32_t i = 0; i < b.n; i++) {
			const wl_msg *m = &b.m[i];
			convlog_msg f;
			convlog_uuid id;
			convlog_msg_init(&f);
			f.content = m->content;
			f.content_len = m->len;
			to_uuid(w->convs[m->conv].id, &id);
			cl_check(convlog_msg_supersede(c->db, txn, &id, m->seq, &f,
						       CONVLOG_MSG_CONTENT),
				 "msg_supersede");
		}
		cl_check(convlog_txn_commit(txn), "txn_commit");
		busy += now_us() - t0;
		n += b.n;
	}
	wl_batch_free(&b);
	res_xset(c->r, X_EDITS, n);
	res_xset(c->r, X_EDIT_RATE, busy > 0 ? n / (busy / 1e6) : 0);
}

static void edit_and_reclaim(cl_ctx *c)
{
	convlog_compact_opts o;
	convlog_compact_stats st;
	uint64_t before, after;
	double ms;

	edit_messages(c);
	before = settled_alloc(c);
	ms = compact_once(c, compact_opts(c, &o), &st);
	after = settled_alloc(c);
	res_set(c->r, M_EDIT_DISK, (double)before);
	res_set(c->r, M_EDIT_COMPACT_DISK, (double)after);
	res_set(c->r, M_EDIT_COMPACT_MS, ms);
	res_xset(c->r, X_EDIT_REWRITTEN, (double)st.segments_rewritten);
	res_xset(c->r, X_EDIT_MOVED, (double)st.records_moved);
	bench_log("[convlog] %.0f messages edited (%.0f/s); disk %.1f MiB, after compaction "
		  "(%.1f ms, %llu segments rewritten) %.1f MiB",
		  c->r->x[X_EDITS], c->r->x[X_EDIT_RATE], before / 1048576.0, ms,
		  (unsigned long long)st.segments_rewritten, after / 1048576.0);
}

/* File sizes of the segments, by their header flags (offset 12, u32 LE):
 * 0 log, 1 compacted (warm), 3 compacted cold. */
static void segment_tiers(cl_ctx *c, uint64_t bytes[4])
{
	char dir[4200];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/segments", c->path);
	if (!(d = opendir(dir)))
		bench_die("opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		unsigned char h[16];
		char p[8400];
		struct stat st;
		int fd;
		if (l < 4 || strcmp(de->d_name + l - 4, ".seg"))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
			bench_die("open %s: %s", p, strerror(errno));
		if (fstat(fd, &st) != 0 || pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
			bench_die("reading the header of %s: %s", p, strerror(errno));
		close(fd);
		bytes[h[12] & 3] += (uint64_t)st.st_size;
	}
	closedir(d);
}

/* Archives every other conversation, then compacts with
 * CONVLOG_COMPACT_ARCHIVE: content bytes per segment byte of each tier. */
static void archive_tiers(cl_ctx *c)
{
	const workload *w = c->w;
	convlog_compact_opts o;
	convlog_compact_stats st;
	convlog_txn *txn = NULL;
	uint64_t warm = 0, cold = 0, seg[4] = {0};
	uint32_t n = 0;
	double ms;

	warm += c->fork_bytes; /* the forks stay warm */
	for (uint32_t i = 0; i < w->n_convs; i++) {
		convlog_uuid id;
		if (i % 2) {
			warm += c->conv_bytes[i];
			continue;
		}
		if (!txn)
			cl_check(convlog_txn_begin(c->db, &txn), "txn_begin");
		/* active -> inactive_user_terminated -> archived, one step */
		to_uuid(w->convs[i].id, &id);
		cl_check(convlog_conv_archive(c->db, txn, &id), "conv_archive");
		cold += c->conv_bytes[i];
		if (++n % c->cfg->batch == 0) {
			cl_check(convlog_txn_commit(txn), "txn_commit");
			txn = NULL;
		}
	}
	if (txn)
		cl_check(convlog_txn_commit(txn), "txn_commit");
	convlog_compact_opts_init(&o);
	o.flags = CONVLOG_COMPACT_ARCHIVE | c->cfg->compact_flags;
	ms = compact_once(c, &o, &st);
	segment_tiers(c, seg);
	res_xset(c->r, X_ARCH_CONVS, n);
	res_xset(c->r, X_ARCH_COMPACT_MS, ms);
	res_xset(c->r, X_ARCH_COLD_WRITTEN, (double)st.cold_segments_written);
	res_xset(c->r, X_WARM_CONTENT, (double)warm);
	res_xset(c->r, X_COLD_CONTENT, (double)cold);
	res_xset(c->r, X_WARM_SEG_BYTES, (double)seg[1]);
	res_xset(c->r, X_COLD_SEG_BYTES, (double)seg[3]);
	res_xset(c->r, X_LOG_SEG_BYTES, (double)seg[0]);
	if (seg[1])
		res_xset(c->r, X_WARM_RATIO, (double)warm / (double)seg[1]);
	if (seg[3])
		res_xset(c->r, X_COLD_RATIO, (double)cold / (double)seg[3]);
	bench_log("[convlog] %u conversations archived, compaction (archive) %.1f ms: warm "
		  "segments %.1f MiB, cold %.1f MiB, log %.1f MiB",
		  n, ms, seg[1] / 1048576.0, seg[3] / 1048576.0, seg[0] / 1048576.0);
}

/* Runs on a store that every other selected scenario is done with. */
static void compact_all(cl_ctx *c)
{
	compact_loaded(c);
	tail_reads(c, M_TAIL_COMPACT_P50, -1, X_TAIL_COMPACT_CHECK, X_TAIL_COMPACT_MSGS, 0);
	bench_log("[convlog] tail read after compaction p50 %.1f us", c->r->v[M_TAIL_COMPACT_P50]);
	edit_and_reclaim(c);
	archive_tiers(c);
	dict_experiment(c->w, c->r);
	if (c->r->xhave[X_DICT_MSG_RATIO])
		bench_log("[dict] with / without a dictionary: single messages %.3f, 32 KiB chunks "
			  "%.3f",
			  c->r->x[X_DICT_MSG_RATIO], c->r->x[X_DICT_CHUNK_RATIO]);
}

/* ---- the run ---- */

void convlog_run(const workload *w, const bench_cfg *cfg, results *r)
{
	cl_ctx c = {w, cfg, r, {0}, NULL, NULL, 0, 0};
	uint32_t sc = cfg->scenarios;
	double t0;

	if (!(c.conv_bytes = calloc(w->n_convs ? w->n_convs : 1, sizeof(*c.conv_bytes))))
		bench_die("out of memory");

	anon_sampler_start();
	snprintf(c.path, sizeof(c.path), "%s/convlog.store", cfg->dir);
	dir_remove(c.path);
	cl_open(&c);
	if (sc & ~(SC_FSYNC | SC_IMPORT_NOFTS)) {
		t0 = now_us();
		res_set(r, M_IMPORT_RATE, import_all(&c));
		bench_log("[convlog] bulk import: %.0f msgs/s (%.1f s wall)", r->v[M_IMPORT_RATE],
			  (now_us() - t0) / 1e6);
		if (!(sc & SC_IMPORT))
			r->have[M_IMPORT_RATE] = 0;
	}
	if (sc & SC_OPEN) {
		open_times(&c);
		bench_log("[convlog] open: first %.0f us, best %.0f us", r->v[M_OPEN_FIRST],
			  r->v[M_OPEN_BEST]);
	}
	if (sc & SC_DISK) {
		disk_size(&c);
		bench_log("[convlog] disk: %.1f MiB", r->v[M_DISK_BYTES] / 1048576.0);
	}
	if (sc & SC_TAIL) {
		tail_reads(&c, M_TAIL_P50, M_TAIL_P99, X_TAIL_CHECK, X_TAIL_MSGS, 1);
		bench_log("[convlog] tail read p50 %.1f us", r->v[M_TAIL_P50]);
	}
	if (sc & SC_RECENT) {
		recent_lists(&c);
		bench_log("[convlog] recent conversations p50 %.1f us", r->v[M_RECENT_P50]);
	}
	if (sc & SC_SEARCH) {
		search_all(&c);
		bench_log("[convlog] full-text index: %.1f MiB in %.0f files",
			  r->v[M_INDEX_BYTES] / 1048576.0, r->x[X_INDEX_FILES]);
	}
	if (sc & SC_APPEND1) {
		appends(&c, 1, APPEND_STREAM_1T, M_APPEND1_RATE, M_APPEND1_P50, M_APPEND1_P99,
			X_APPEND1_SYNCS, X_APPEND1_N);
		bench_log("[convlog] durable appends, 1 thread: %.0f commits/s", r->v[M_APPEND1_RATE]);
		/* the disk's floor drifts: measure it next to the appends */
		double fp50, fp99;
		fsync_floor(cfg->dir, cfg->fsyncs, 512, &fp50, &fp99);
		res_set(r, M_APPEND1_FLOOR, fp50);
		res_set(r, M_APPEND1_VS_FLOOR, r->v[M_APPEND1_P50] / fp50);
	}
	if (sc & SC_APPEND4) {
		appends(&c, cfg->threads, APPEND_STREAM_4T, M_APPEND4_RATE, M_APPEND4_P50,
			M_APPEND4_P99, X_APPEND4_SYNCS, X_APPEND4_N);
		bench_log("[convlog] durable appends, %u threads: %.0f commits/s", cfg->threads,
			  r->v[M_APPEND4_RATE]);
	}
	if (sc & SC_THREAD) {
		thread_walks(&c);
		bench_log("[convlog] thread walk of a fork p50 %.1f us (%.0f forks)",
			  r->v[M_THREAD_P50], r->x[X_THREAD_FORKS]);
	}
	convlog_close(c.db);
	c.db = NULL;
	res_set(r, M_RSS_PEAK, (double)peak_rss_kib() * 1024.0);
	res_set(r, M_ANON_PEAK, (double)anon_sampler_stop() * 1024.0);
	/* last, since it changes the store; its memory is kept out of 9. */
	if (sc & SC_COMPACT) {
		anon_sampler_start();
		cl_open(&c);
		compact_all(&c);
		convlog_close(c.db);
		c.db = NULL;
		res_xset(r, X_SCEN_RSS_PEAK, (double)peak_rss_kib() * 1024.0);
		res_xset(r, X_SCEN_ANON_PEAK, (double)anon_sampler_stop() * 1024.0);
	}
	free(c.conv_bytes);
}
