/*
 * Fault sweep: for each workload (append, flush, compaction, index merge,
 * and recovery at open and the flush at close) and each injected fault
 * (failed or short writes, full disk, failed fsync, ftruncate, rename,
 * open, read, LMDB commit, mmap; some of them sticky), the Nth call of
 * that kind fails, for N = 0, 1, 2, ... until a run hits no fault.  Every
 * run starts from a copy of a prepared baseline store; the failing public
 * call must report the injected error (or CONVLOG_EFAILED: the handle
 * failed, reopen), nothing may crash, the live handle must stay
 * consistent and usable (or failed, refusing writes), and after a reopen
 * every acknowledged commit is there (checked against an in-test model:
 * conversations, titles, deletions, every message's content, the search
 * hits of a word), a commit that failed left nothing (when its log sync
 * failed: nothing, or all of it), nothing the live handle showed is lost,
 * verify passes, no descriptor leaks and the store takes writes.  A
 * second sweep fails the Nth allocation of public read and write calls:
 * CONVLOG_ENOMEM, no output, the store unchanged and consistent.  The
 * counts go to stderr (FAULTSWEEP_FAULT=substring and FAULTSWEEP_FROM=N
 * narrow the I/O sweep down when debugging).
 *
 * Background threads (flush, merge, compactor) are stopped after each
 * open, so the Nth call is the same in every run.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/db.h"
#include "os/os.h"
#include "testutil.h"
#include "util/alloc.h"

/* ---- small helpers ---- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void copy_tree(const char *from, const char *to)
{
	DIR *d = opendir(from);
	struct dirent *de;
	char a[1024], b[1024];
	static char buf[1 << 16];

	ck_assert_msg(d != NULL, "opendir %s: %s", from, strerror(errno));
	ck_assert_msg(mkdir(to, 0755) == 0, "mkdir %s: %s", to, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(a, sizeof(a), "%s/%s", from, de->d_name);
		snprintf(b, sizeof(b), "%s/%s", to, de->d_name);
		ck_assert_int_eq(stat(a, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			copy_tree(a, b);
			continue;
		}
		int in = open(a, O_RDONLY), out = open(b, O_WRONLY | O_CREAT | O_EXCL, 0644);
		ck_assert_msg(in >= 0 && out >= 0, "copy %s: %s", a, strerror(errno));
		ssize_t n;
		while ((n = read(in, buf, sizeof(buf))) > 0)
			ck_assert_int_eq(write(out, buf, (size_t)n), n);
		ck_assert_int_eq(n, 0);
		close(in);
		close(out);
	}
	closedir(d);
}

/* rm -rf without a shell: thousands of runs */
static void rm_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char p[1024];

	if (!d) {
		unlink(path);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		if (de->d_type == DT_DIR)
			rm_tree(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(path);
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static convlog_options *sweep_opts(void)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_FULL);

	/* flushes, merges and compactions only when the test asks */
	CK_OK(convlog_options_set_memtable_size(o, 256u << 20));
	CK_OK(convlog_options_set_flush_interval_ms(o, 3600000));
	CK_OK(convlog_options_set_map_size(o, 64u << 20));
	return o;
}

/* No background thread runs from here on: every I/O call is the test's. */
static void quiesce(convlog_db *db)
{
	cvl_cp_stop(db);
	cvl_mg_stop(db);
	cvl_bg_stop(db);
}

static convlog_db *open_store(const char *dir)
{
	convlog_options *o = sweep_opts();
	convlog_db *db = tu_open(dir, o);

	convlog_options_free(o);
	quiesce(db);
	return db;
}

static void count_problem(void *ud, const char *where, const char *what)
{
	char *first = ud;

	if (!*first)
		snprintf(first, 512, "%s: %s", where, what);
}

/* 0 when verify runs clean; else the problem count (first one in why). */
static uint64_t verify_problems(convlog_db *db, char *why)
{
	uint64_t n = 0;

	why[0] = 0;
	int rc = convlog_verify(db, count_problem, why, &n);
	if (rc) {
		snprintf(why, 512, "verify failed: %s", convlog_errmsg());
		return 1;
	}
	return n;
}

/* The counts go to a file the parent process reads: each test runs in a
 * process of its own. */
static char summary[256];

static void note(const char *what, uint64_t points, double secs)
{
	FILE *fp = fopen(summary, "a");

	if (fp) {
		fprintf(fp, "%s\t%llu\t%.2f\n", what, (unsigned long long)points, secs);
		fclose(fp);
	}
}

/* ---- the model ---- */

#define NCONV 8
#define NMSG 40
#define TXT 40

typedef struct mconv {
	int exists, deleted;
	char title[24];
	int nmsg;
	char msg[NMSG][TXT];
} mconv;

typedef struct mstate {
	mconv c[NCONV];
	int alpha; /* search hits of "alpha" */
	int rc;    /* the first read that failed */
	char err[160];
} mstate;

enum { OP_APPEND = 1, OP_CREATE, OP_PATCH, OP_SUPERSEDE, OP_DELETE, OP_PURGE, OP_CHECKPOINT,
       OP_COMPACT, OP_MERGE, OP_COMPACT_RETRY, OP_MERGE_RETRY };

/* OP_*_RETRY (post steps): run only when a run step failed (the retry of
 * a failed compaction or merge); nothing new to learn otherwise */
static int run_failed;

typedef struct op {
	int kind, conv, seq;
	const char *text;
} op;

#define MAXOPS 4
/* One public call, or (n > 1) one explicit transaction of n writes. */
typedef struct step {
	int n;
	op o[MAXOPS];
} step;

#define APPEND(c, t) {OP_APPEND, c, 0, t}
#define CREATE(c, t) {OP_CREATE, c, 0, t}
#define PATCH(c, t) {OP_PATCH, c, 0, t}
#define SUPERSEDE(c, s, t) {OP_SUPERSEDE, c, s, t}
#define DELETE(c) {OP_DELETE, c, 0, NULL}
#define PURGE(c) {OP_PURGE, c, 0, NULL}
#define CHECKPOINT {OP_CHECKPOINT, 0, 0, NULL}
#define COMPACT {OP_COMPACT, 0, 0, NULL}
#define MERGE {OP_MERGE, 0, 0, NULL}
#define COMPACT_RETRY {OP_COMPACT_RETRY, 0, 0, NULL}
#define MERGE_RETRY {OP_MERGE_RETRY, 0, 0, NULL}
#define S1(a) {1, {a}}
#define S2(a, b) {2, {a, b}}
#define S3(a, b, c) {3, {a, b, c}}

static convlog_uuid ids[NCONV];

static void model_apply(mstate *m, const step *s)
{
	for (int i = 0; i < s->n; i++) {
		const op *o = &s->o[i];
		mconv *c = &m->c[o->conv];
		switch (o->kind) {
		case OP_CREATE:
			memset(c, 0, sizeof(*c));
			c->exists = 1;
			snprintf(c->title, sizeof(c->title), "%s", o->text);
			break;
		case OP_APPEND:
			ck_assert(c->nmsg < NMSG);
			snprintf(c->msg[c->nmsg++], TXT, "%s", o->text);
			break;
		case OP_PATCH:
			snprintf(c->title, sizeof(c->title), "%s", o->text);
			break;
		case OP_SUPERSEDE:
			snprintf(c->msg[o->seq - 1], TXT, "%s", o->text);
			break;
		case OP_DELETE:
			c->deleted = 1;
			break;
		case OP_PURGE:
			memset(c, 0, sizeof(*c));
			break;
		default:
			break;
		}
	}
}

static int has_word(const char *text, const char *w)
{
	size_t n = strlen(w);

	for (const char *p = strstr(text, w); p; p = strstr(p + 1, w))
		if ((p == text || p[-1] == ' ') && (p[n] == 0 || p[n] == ' '))
			return 1;
	return 0;
}

static void model_finish(mstate *m)
{
	m->alpha = 0;
	for (int i = 0; i < NCONV; i++)
		for (int k = 0; m->c[i].exists && !m->c[i].deleted && k < m->c[i].nmsg; k++)
			m->alpha += has_word(m->c[i].msg[k], "alpha");
}

static int exec_op(convlog_db *db, convlog_txn *t, const op *o)
{
	switch (o->kind) {
	case OP_APPEND: {
		convlog_msg m;
		convlog_msg_init(&m);
		m.conv_id = ids[o->conv];
		m.role = "user";
		m.content = o->text;
		m.content_len = strlen(o->text);
		return convlog_msg_append(db, t, &m, NULL);
	}
	case OP_CREATE: {
		convlog_conv c;
		convlog_conv_init(&c);
		c.id = ids[o->conv];
		c.title = o->text;
		c.user_id = "sweeper";
		return convlog_conv_create(db, t, &c, NULL);
	}
	case OP_PATCH: {
		convlog_conv c;
		convlog_conv_init(&c);
		c.title = o->text;
		return convlog_conv_patch(db, t, &ids[o->conv], &c, CONVLOG_CONV_TITLE);
	}
	case OP_SUPERSEDE: {
		convlog_msg m;
		convlog_msg_init(&m);
		m.content = o->text;
		m.content_len = strlen(o->text);
		return convlog_msg_supersede(db, t, &ids[o->conv], (uint32_t)o->seq, &m,
					     CONVLOG_MSG_CONTENT);
	}
	case OP_DELETE:
		return convlog_conv_delete(db, t, &ids[o->conv]);
	case OP_PURGE:
		return convlog_conv_purge(db, t, &ids[o->conv]);
	case OP_CHECKPOINT:
		return convlog_checkpoint(db);
	case OP_COMPACT:
		return convlog_compact(db, NULL, NULL, NULL, NULL);
	case OP_MERGE:
		return convlog_index_merge(db, CONVLOG_MERGE_ALL);
	case OP_COMPACT_RETRY:
		return run_failed ? convlog_compact(db, NULL, NULL, NULL, NULL) : 0;
	case OP_MERGE_RETRY:
		return run_failed ? convlog_index_merge(db, CONVLOG_MERGE_ALL) : 0;
	}
	return CONVLOG_EINVAL;
}

static int exec_step(convlog_db *db, const step *s)
{
	convlog_txn *t;
	int rc;

	if (s->n == 1)
		return exec_op(db, NULL, &s->o[0]);
	if ((rc = convlog_txn_begin(db, &t)))
		return rc;
	for (int i = 0; i < s->n; i++)
		if ((rc = exec_op(db, t, &s->o[i]))) {
			convlog_txn_abort(t);
			return rc;
		}
	return convlog_txn_commit(t);
}

/* Reads the store's state of the model's conversations. */
static void read_state(convlog_db *db, mstate *m)
{
	memset(m, 0, sizeof(*m));
	for (int i = 0; i < NCONV; i++) {
		mconv *c = &m->c[i];
		convlog_conv *cv;
		convlog_msg_iter *it;
		const convlog_msg *msg;
		int rc = convlog_conv_get(db, &ids[i], &cv);
		if (rc == CONVLOG_ENOTFOUND)
			continue;
		if (rc) {
			m->rc = rc;
			snprintf(m->err, sizeof(m->err), "conv_get: %d %s", rc, convlog_errmsg());
			return;
		}
		c->exists = 1;
		c->deleted = cv->status == CONVLOG_STATUS_DELETED;
		snprintf(c->title, sizeof(c->title), "%s", cv->title ? cv->title : "");
		uint64_t count = cv->message_count;
		convlog_conv_free(cv);
		if ((rc = convlog_msg_range(db, &ids[i], CONVLOG_RANGE_ALL, 0, 0, &it))) {
			snprintf(m->err, sizeof(m->err), "msg_range: %d %s", rc, convlog_errmsg());
			return;
		}
		while ((rc = convlog_msg_iter_next(it, &msg)) == 0 && c->nmsg < NMSG) {
			snprintf(c->msg[c->nmsg], TXT, "%.*s", (int)msg->content_len, msg->content);
			if (msg->seq != (uint32_t)c->nmsg + 1)
				snprintf(m->err, sizeof(m->err), "conversation %d: seq %u at %d", i,
					 msg->seq, c->nmsg + 1);
			c->nmsg++;
		}
		convlog_msg_iter_free(it);
		if (rc != CONVLOG_DONE) {
			snprintf(m->err, sizeof(m->err), "msg_iter_next: %d %s", rc, convlog_errmsg());
			return;
		}
		if (count != (uint64_t)c->nmsg)
			snprintf(m->err, sizeof(m->err), "conversation %d: message_count %llu, %d read",
				 i, (unsigned long long)count, c->nmsg);
	}
	convlog_search_query q;
	convlog_search_result *r;
	convlog_search_query_init(&q);
	q.query = "alpha";
	q.limit = CONVLOG_SEARCH_MAX_LIMIT;
	int rc = convlog_search(db, &q, &r);
	if (rc) {
		snprintf(m->err, sizeof(m->err), "search: %d %s", rc, convlog_errmsg());
		return;
	}
	m->alpha = (int)r->n_hits;
	convlog_search_result_free(r);
}

static int same_state(const mstate *a, const mstate *b, char *why, size_t n)
{
	for (int i = 0; i < NCONV; i++) {
		const mconv *x = &a->c[i], *y = &b->c[i];
		if (x->exists != y->exists || (x->exists && (x->deleted != y->deleted ||
							     strcmp(x->title, y->title)))) {
			snprintf(why, n, "conversation %d: exists %d/%d deleted %d/%d title '%s'/'%s'", i,
				 x->exists, y->exists, x->deleted, y->deleted, x->title, y->title);
			return 0;
		}
		if (x->nmsg != y->nmsg) {
			snprintf(why, n, "conversation %d: %d messages, model %d", i, x->nmsg, y->nmsg);
			return 0;
		}
		for (int k = 0; k < x->nmsg; k++)
			if (strcmp(x->msg[k], y->msg[k])) {
				snprintf(why, n, "conversation %d seq %d: '%s', model '%s'", i, k + 1,
					 x->msg[k], y->msg[k]);
				return 0;
			}
	}
	if (a->alpha != b->alpha) {
		snprintf(why, n, "search finds %d 'alpha', model %d", a->alpha, b->alpha);
		return 0;
	}
	return 1;
}

/* ---- workloads ---- */

typedef struct workload {
	const char *name;
	const step *base; /* builds the baseline store */
	int nbase;
	const step *tail; /* then these, and the copy is taken before the
			     close: a crash image with a log tail to replay */
	int ntail;
	int open_faulted;  /* convlog_open runs under the fault */
	int close_faulted; /* so does convlog_close, after the run steps */
	const step *pre; /* after open, before the fault is armed */
	int npre;
	const step *run; /* under the fault */
	int nrun;
	const step *post; /* after the fault, on the live handle */
	int npost;
} workload;

/* baseline of append and flush: four conversations */
static const step base_small[] = {
	S1(CREATE(0, "zero")), S1(CREATE(1, "one")), S1(CREATE(2, "two")), S1(CREATE(3, "three")),
	S3(APPEND(0, "alpha z1"), APPEND(1, "beta o1"), APPEND(2, "alpha t1")),
	S2(APPEND(0, "gamma z2"), APPEND(3, "alpha h1")),
	S1(APPEND(1, "alpha o2")),
};

static const step run_append[] = {
	S2(APPEND(0, "alpha a1"), APPEND(1, "beta a2")),
	S3(APPEND(2, "alpha a3"), APPEND(0, "alpha a4"), APPEND(3, "gamma a5")),
	S1(CREATE(4, "four")),
	S1(PATCH(1, "one patched")),
	S1(APPEND(2, "alpha a6")),
};

static const step post_common[] = {
	S1(APPEND(0, "alpha after")),
	S1(CHECKPOINT),
};

static const step pre_flush[] = {
	S2(APPEND(0, "alpha f1"), APPEND(1, "beta f2")),
	S1(APPEND(2, "alpha f3")),
	S1(SUPERSEDE(3, 1, "delta h1 edited")),
	S1(CREATE(4, "four")),
};

static const step run_flush[] = {
	S1(CHECKPOINT),
};

/* baseline of compaction: six conversations over a few memtable flushes */
static const step base_compact[] = {
	S1(CREATE(0, "zero")), S1(CREATE(1, "one")), S1(CREATE(2, "two")), S1(CREATE(3, "three")),
	S1(CREATE(4, "four")), S1(CREATE(5, "five")),
	S3(APPEND(0, "alpha z1"), APPEND(1, "beta o1"), APPEND(2, "alpha t1")),
	S3(APPEND(3, "alpha h1"), APPEND(4, "alpha f1"), APPEND(5, "alpha v1")),
	S1(CHECKPOINT),
	S3(APPEND(0, "gamma z2"), APPEND(4, "alpha f2"), APPEND(5, "beta v2")),
	S2(APPEND(2, "alpha t2"), APPEND(3, "beta h2")),
	S1(CHECKPOINT),
	S2(APPEND(0, "alpha z3"), APPEND(5, "alpha v3")),
};

static const step pre_compact[] = {
	S1(SUPERSEDE(0, 1, "delta z1 edited")),
	S1(SUPERSEDE(2, 2, "alpha t2 edited")),
	S1(DELETE(4)),
	S2(DELETE(5), PURGE(5)),
	S1(APPEND(1, "alpha o2")),
};

static const step run_compact[] = {
	S1(COMPACT),
};

static const step post_compact[] = {
	S1(APPEND(0, "alpha after")),
	S1(COMPACT_RETRY),
};

/* baseline of the index merge: four flushed index segments */
static const step base_merge[] = {
	S1(CREATE(0, "zero")), S1(CREATE(1, "one")), S1(CREATE(2, "two")), S1(CREATE(3, "three")),
	S3(APPEND(0, "alpha z1"), APPEND(1, "beta o1"), APPEND(2, "alpha t1")),
	S1(CHECKPOINT),
	S3(APPEND(0, "gamma z2"), APPEND(3, "alpha h1"), APPEND(1, "alpha o2")),
	S1(CHECKPOINT),
	S3(APPEND(2, "alpha t2"), APPEND(3, "beta h2"), APPEND(0, "alpha z3")),
	S1(SUPERSEDE(1, 1, "alpha o1 edited")),
	S1(CHECKPOINT),
	S2(APPEND(1, "alpha o3"), APPEND(2, "gamma t3")),
	S1(CHECKPOINT),
};

static const step run_merge[] = {
	S1(MERGE),
};

static const step post_merge[] = {
	S1(APPEND(0, "alpha after")),
	S1(CHECKPOINT),
	S1(MERGE_RETRY),
};

#define N(a) (int)(sizeof(a) / sizeof((a)[0]))

/* the log tail an open replays, a message superseded and a conversation
 * purged in it */
static const step tail_open[] = {
	S1(CHECKPOINT), /* an index segment to map */
	S2(APPEND(0, "alpha r1"), APPEND(1, "beta r2")),
	S1(SUPERSEDE(2, 1, "delta t1 edited")),
	S1(CREATE(4, "four")),
	S2(DELETE(3), PURGE(3)),
	S1(APPEND(4, "alpha r3")),
};

static const workload workloads[] = {
	{"append", base_small, N(base_small), NULL, 0, 0, 0, NULL, 0, run_append, N(run_append),
	 post_common, N(post_common)},
	{"flush", base_small, N(base_small), NULL, 0, 0, 0, pre_flush, N(pre_flush), run_flush,
	 N(run_flush), post_common, N(post_common)},
	{"compaction", base_compact, N(base_compact), NULL, 0, 0, 0, pre_compact, N(pre_compact),
	 run_compact, N(run_compact), post_compact, N(post_compact)},
	{"index merge", base_merge, N(base_merge), NULL, 0, 0, 0, NULL, 0, run_merge, N(run_merge),
	 post_merge, N(post_merge)},
	/* recovery: replaying a log tail (and what an open writes) */
	{"open", base_small, N(base_small), tail_open, N(tail_open), 1, 0, NULL, 0, NULL, 0,
	 post_common, N(post_common)},
	/* close: flushing the memtable, trimming and syncing the log */
	{"close", base_small, N(base_small), NULL, 0, 0, 1, pre_flush, N(pre_flush), NULL, 0,
	 NULL, 0},
};

/* ---- faults ---- */

typedef struct fault {
	const char *name;
	unsigned mask;
	int err, sticky, short_write;
	int want; /* the error the failing call reports */
} fault;

static const fault faults[] = {
	{"write EIO", CVL_FAULT_WRITE, EIO, 0, 0, CONVLOG_EIO},
	{"write ENOSPC", CVL_FAULT_WRITE, ENOSPC, 0, 0, CONVLOG_ENOSPC},
	{"short write ENOSPC", CVL_FAULT_WRITE, ENOSPC, 0, 1, CONVLOG_ENOSPC},
	{"fsync EIO", CVL_FAULT_SYNC, EIO, 0, 0, CONVLOG_EIO},
	{"ftruncate EIO", CVL_FAULT_TRUNC, EIO, 0, 0, CONVLOG_EIO},
	{"rename EIO", CVL_FAULT_RENAME, EIO, 0, 0, CONVLOG_EIO},
	{"open ENOSPC", CVL_FAULT_OPEN, ENOSPC, 0, 0, CONVLOG_ENOSPC},
	{"LMDB commit EIO", CVL_FAULT_META, EIO, 0, 0, CONVLOG_EIO},
	{"mmap ENOMEM", CVL_FAULT_MMAP, ENOMEM, 0, 0, CONVLOG_ENOMEM},
	{"read EIO", CVL_FAULT_READ, EIO, 0, 0, CONVLOG_EIO},
	/* and some that stay: a full disk, a dying device */
	{"write ENOSPC (sticky)", CVL_FAULT_WRITE, ENOSPC, 1, 1, CONVLOG_ENOSPC},
	{"write+ftruncate EIO (sticky)", CVL_FAULT_WRITE | CVL_FAULT_TRUNC, EIO, 1, 0, CONVLOG_EIO},
	{"fsync EIO (sticky)", CVL_FAULT_SYNC, EIO, 1, 0, CONVLOG_EIO},
	{"LMDB commit EIO (sticky)", CVL_FAULT_META, EIO, 1, 0, CONVLOG_EIO},
};

/* ---- one run ---- */

static char root[256], basedir[256], rundir[300];
static mstate base_model;

static void build_baseline(const workload *w)
{
	snprintf(basedir, sizeof(basedir), "%s/base", root);
	tu_rmrf(basedir);
	convlog_db *db = open_store(basedir);
	memset(&base_model, 0, sizeof(base_model));
	for (int i = 0; i < w->nbase; i++) {
		int rc = exec_step(db, &w->base[i]);
		ck_assert_msg(rc == 0, "%s baseline step %d: %d %s", w->name, i, rc, convlog_errmsg());
		model_apply(&base_model, &w->base[i]);
	}
	if (w->ntail) {
		char crashed[300];
		for (int i = 0; i < w->ntail; i++) {
			int rc = exec_step(db, &w->tail[i]);
			ck_assert_msg(rc == 0, "%s tail step %d: %d %s", w->name, i, rc,
				      convlog_errmsg());
			model_apply(&base_model, &w->tail[i]);
		}
		/* every commit is synced (durability FULL): the copy is what a
		 * crash would leave */
		snprintf(crashed, sizeof(crashed), "%s/crashed", root);
		copy_tree(basedir, crashed);
		convlog_close(db);
		rm_tree(basedir);
		ck_assert_int_eq(rename(crashed, basedir), 0);
		return;
	}
	convlog_close(db);
}

#define MAXSTEPS 8

/* The model after the baseline, pre, the run steps in `applied` (a bit per
 * step) and, when `post` is set, the acknowledged post steps. */
static void model_of(const workload *w, unsigned applied, const int *post_rc, mstate *m)
{
	*m = base_model;
	for (int i = 0; i < w->npre; i++)
		model_apply(m, &w->pre[i]);
	for (int i = 0; i < w->nrun; i++)
		if (applied & (1u << i))
			model_apply(m, &w->run[i]);
	for (int i = 0; post_rc && i < w->npost; i++)
		if (post_rc[i] == 0)
			model_apply(m, &w->post[i]);
	model_finish(m);
}

/* Bit sets of run steps whose model matches state s: acknowledged steps
 * always, those that may or may not have happened in any combination,
 * other failed ones never.  Returns how many matched (their sets in out). */
static int matches(const workload *w, unsigned acked, unsigned failed, const int *post_rc,
		   const mstate *s, unsigned *out, char *why, size_t whyn)
{
	int n = 0;

	for (unsigned sub = failed;; sub = (sub - 1) & failed) {
		mstate m;
		char tmp[256];
		model_of(w, acked | sub, post_rc, &m);
		if (same_state(s, &m, tmp, sizeof(tmp)))
			out[n++] = acked | sub;
		else if (sub == 0)
			snprintf(why, whyn, "%s", tmp);
		if (sub == 0)
			break;
	}
	return n;
}

typedef struct run_result {
	int hit;      /* the fault fired */
	int failed;   /* the handle was failed afterwards */
} run_result;

#define CTX "%s / %s / N=%lld: "
#define CTXA w->name, f->name, (long long)nth

static void one_run(const workload *w, const fault *f, int64_t nth, run_result *res)
{
	int rc[MAXSTEPS], post_rc[MAXSTEPS];
	unsigned acked = 0, failed = 0, maybe = 0, live[64], reopened[64];
	int nlive, nre;
	char why[512] = "", vwhy[512];
	mstate s;

	memset(res, 0, sizeof(*res));
	for (int i = 0; i < MAXSTEPS; i++)
		post_rc[i] = CONVLOG_EFAILED; /* not run: no effect */
	live[0] = 0; /* no live handle to check: nothing it showed */
	nlive = 1;
	int fds = open_fds();
	rm_tree(rundir);
	copy_tree(basedir, rundir);
	uint64_t h0 = cvl_os_fault_hits();
	convlog_db *db = NULL;
	if (w->open_faulted) {
		convlog_options *o = sweep_opts();
		cvl_os_fault_set(f->mask, nth, f->err, f->sticky, f->short_write);
		int r = convlog_open(rundir, o, &db);
		cvl_os_fault_set(0, 0, 0, 0, 0);
		convlog_options_free(o);
		res->hit = cvl_os_fault_hits() != h0;
		ck_assert_msg(r == 0 || res->hit, CTX "open failed without a fault: %s", CTXA,
			      convlog_errmsg());
		ck_assert_msg(r == 0 || r == f->want,
			      CTX "open returned %d (%s), expected %d: %s", CTXA, r,
			      convlog_strerror(r), f->want, convlog_errmsg());
		ck_assert_msg((r == 0) == (db != NULL), CTX "open: rc %d, handle %p", CTXA, r,
			      (void *)db);
		if (db)
			quiesce(db);
	} else {
		db = open_store(rundir);
	}
	for (int i = 0; i < w->npre; i++) {
		int r = exec_step(db, &w->pre[i]);
		ck_assert_msg(r == 0, CTX "pre step %d: %d %s", CTXA, i, r, convlog_errmsg());
	}

	if (!w->open_faulted)
		cvl_os_fault_set(f->mask, nth, f->err, f->sticky, f->short_write);
	for (int i = 0; i < w->nrun; i++) {
		rc[i] = exec_step(db, &w->run[i]);
		if (rc[i] == 0) {
			acked |= 1u << i;
			continue;
		}
		failed |= 1u << i;
		/* a commit whose log sync failed was written: it may come back
		 * at the reopen (whole).  Any other failed commit left nothing. */
		if (rc[i] == CONVLOG_EFAILED || (f->mask & CVL_FAULT_SYNC))
			maybe |= 1u << i;
		ck_assert_msg(rc[i] == f->want || rc[i] == CONVLOG_EFAILED,
			      CTX "step %d returned %d (%s), expected %d or EFAILED: %s", CTXA, i, rc[i],
			      convlog_strerror(rc[i]), f->want, convlog_errmsg());
	}
	if (w->close_faulted) {
		/* failures while closing lose nothing (the log stays the truth) */
		convlog_close(db);
		db = NULL;
	}
	cvl_os_fault_set(0, 0, 0, 0, 0);
	res->hit = cvl_os_fault_hits() != h0;
	ck_assert_msg(res->hit || !failed, CTX "a step failed without a fault: %s", CTXA,
		      convlog_errmsg());
	if (!db)
		goto reopen;
	res->failed = atomic_load(&db->failed) != 0;

	/* the live handle: consistent, and whatever it shows must survive.
	 * A failed handle may have lost LMDB (a failed environment swap):
	 * its reads may then fail, cleanly. */
	read_state(db, &s);
	if (s.err[0] && res->failed && s.rc == CONVLOG_EIO) {
		nlive = 1;
		live[0] = 0;
	} else {
		ck_assert_msg(!s.err[0], CTX "live handle: %s", CTXA, s.err);
		nlive = matches(w, acked, maybe, NULL, &s, live, why, sizeof(why));
		ck_assert_msg(nlive > 0, CTX "live handle differs from the model: %s", CTXA, why);
	}
	if (!res->failed)
		ck_assert_msg(verify_problems(db, vwhy) == 0, CTX "live verify: %s", CTXA, vwhy);

	/* it takes writes again, unless it failed (then it refuses them) */
	run_failed = failed != 0 || res->failed;
	for (int i = 0; i < w->npost; i++) {
		post_rc[i] = exec_step(db, &w->post[i]);
		if (res->failed)
			ck_assert_msg(post_rc[i] == CONVLOG_EFAILED,
				      CTX "post step %d on a failed handle: %d (%s)", CTXA, i,
				      post_rc[i], convlog_errmsg());
		else
			ck_assert_msg(post_rc[i] == 0, CTX "post step %d: %d (%s)", CTXA, i, post_rc[i],
				      convlog_errmsg());
	}
	convlog_close(db);

reopen:
	/* reopen: every acknowledged commit, failed ones whole or not at all */
	db = open_store(rundir);
	read_state(db, &s);
	ck_assert_msg(!s.err[0], CTX "after reopen: %s", CTXA, s.err);
	nre = matches(w, acked, maybe, post_rc, &s, reopened, why, sizeof(why));
	ck_assert_msg(nre > 0, CTX "after reopen the store differs from the model: %s", CTXA, why);
	int kept = 0;
	for (int i = 0; i < nlive && !kept; i++)
		for (int j = 0; j < nre && !kept; j++)
			kept = (live[i] & ~reopened[j]) == 0;
	ck_assert_msg(kept, CTX "a commit the live handle showed is gone after reopen", CTXA);
	ck_assert_msg(verify_problems(db, vwhy) == 0, CTX "verify after reopen: %s", CTXA, vwhy);
	if (failed || res->failed || w->open_faulted || w->close_faulted) {
		/* (else the post steps showed it) */
		int r = exec_step(db, &post_common[0]);
		ck_assert_msg(r == 0, CTX "append after reopen: %d %s", CTXA, r, convlog_errmsg());
	}
	convlog_close(db);
	rm_tree(rundir);
	ck_assert_msg(open_fds() == fds, CTX "%d descriptors open, %d before", CTXA, open_fds(), fds);
}

/* ---- regressions ---- */

static int append_text(convlog_db *db, const convlog_uuid *id, const char *text)
{
	convlog_msg m;

	convlog_msg_init(&m);
	m.conv_id = *id;
	m.role = "user";
	m.content = text;
	m.content_len = strlen(text);
	return convlog_msg_append(db, NULL, &m, NULL);
}

static uint64_t message_count(convlog_db *db, const convlog_uuid *id)
{
	convlog_conv *c;
	uint64_t n;

	CK_OK(convlog_conv_get(db, id, &c));
	n = c->message_count;
	convlog_conv_free(c);
	return n;
}

/*
 * While flushes keep failing, a commit that fills the memtable cannot
 * freeze it.  That commit was written all the same: it must not report
 * failure (it used to, and skipped its sync, yet came back at the next
 * open).  Later commits are refused before they write anything, and a
 * checkpoint, once LMDB works again, flushes the frozen memtables first
 * instead of failing on the full frozen list.
 */
START_TEST(test_faultsweep__a_commit_is_not_failed_by_its_memtable_rotation)
{
	char dir[256], big[2001];
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_FULL);
	convlog_db *db;
	uint64_t acked = 0, r = 7;
	int refused = 0;

	CK_OK(convlog_options_set_memtable_size(o, 64u << 10));
	CK_OK(convlog_options_set_flush_interval_ms(o, 3600000));
	tu_tmppath(dir, sizeof(dir), "rotation");
	db = tu_open(dir, o);
	quiesce(db);
	convlog_uuid id = tu_conv(db, NULL, "rotation");
	cvl_os_fault_set(CVL_FAULT_META, 0, EIO, 1, 0);
	CK_ERR(convlog_checkpoint(db), CONVLOG_EIO); /* flush_error set */
	for (int i = 0; i < 200 && refused < 3; i++) {
		for (size_t k = 0; k < sizeof(big) - 1; k++)
			big[k] = (char)('a' + tu_rand(&r) % 26);
		big[sizeof(big) - 1] = 0;
		int rc = append_text(db, &id, big);
		if (rc == 0) {
			acked++;
			ck_assert_msg(!refused, "a commit went through after one was refused");
			continue;
		}
		ck_assert_msg(rc == CONVLOG_EIO, "append: %d %s", rc, convlog_errmsg());
		refused++;
		ck_assert_uint_eq(message_count(db, &id), acked);
	}
	ck_assert_msg(refused, "the memtable never filled up");
	cvl_os_fault_set(0, 0, 0, 0, 0);
	CK_OK(convlog_checkpoint(db));
	CK_OK(append_text(db, &id, "after"));
	acked++;
	ck_assert_uint_eq(message_count(db, &id), acked);
	tu_verify_clean(db);
	convlog_close(db);
	db = tu_open(dir, o);
	convlog_options_free(o);
	ck_assert_uint_eq(message_count(db, &id), acked);
	tu_verify_clean(db);
	convlog_close(db);
	tu_rmrf(dir);
}
END_TEST

/* ---- failed allocations in public calls ---- */

static convlog_db *adb;
static convlog_uuid aconv, afork, aother;
static int a_nconv = 4, a_victim = 1; /* the model: conversations, the victim alive */
static void *sentinel_obj;
#define SENTINEL ((void *)&sentinel_obj)

/* An output that a failed call left: NULL or untouched, nothing else. */
#define CK_NO_OUTPUT(p, what)                                                         \
	ck_assert_msg((void *)(p) == NULL || (void *)(p) == SENTINEL,                  \
		      "%s failed but returned an output", what)

static int a_conv_get(void)
{
	convlog_conv *c = SENTINEL;
	int rc = convlog_conv_get(adb, &aconv, &c);

	if (rc) {
		CK_NO_OUTPUT(c, "conv_get");
		return rc;
	}
	ck_assert_str_eq(c->title, "allocations");
	ck_assert_uint_eq(c->message_count, 6);
	convlog_conv_free(c);
	return 0;
}

/* Iterates to the end; the messages' contents must be `want` (n of them). */
static int drain_msgs(convlog_msg_iter *it, const char *const *want, int n)
{
	const convlog_msg *m;
	int rc, k = 0;

	while ((rc = convlog_msg_iter_next(it, &m)) == 0) {
		ck_assert_int_lt(k, n);
		ck_assert_msg(m->content_len == strlen(want[k]) &&
				      !memcmp(m->content, want[k], m->content_len),
			      "message %d: '%.*s', expected '%s'", k, (int)m->content_len, m->content,
			      want[k]);
		k++;
	}
	convlog_msg_iter_free(it);
	if (rc != CONVLOG_DONE)
		return rc;
	ck_assert_int_eq(k, n);
	return 0;
}

static const char *a_msgs[] = {"alpha one", "beta two", "alpha three",
			       "gamma four", "alpha five", "delta six"};
static const char *const a_thread[] = {"alpha one", "beta two", "alpha three", "alpha fork"};

static int a_msg_range(void)
{
	convlog_msg_iter *it = SENTINEL;
	int rc = convlog_msg_range(adb, &aconv, CONVLOG_RANGE_ALL, 0, 0, &it);

	if (rc) {
		CK_NO_OUTPUT(it, "msg_range");
		return rc;
	}
	return drain_msgs(it, a_msgs, 6);
}

static int a_msg_thread(void)
{
	convlog_msg_iter *it = SENTINEL;
	int rc = convlog_msg_thread(adb, &afork, 0, &it);

	if (rc) {
		CK_NO_OUTPUT(it, "msg_thread");
		return rc;
	}
	return drain_msgs(it, a_thread, 4);
}

static int a_conv_list(void)
{
	convlog_conv_iter *it = SENTINEL;
	const convlog_conv *c;
	int rc = convlog_conv_list(adb, NULL, &it), n = 0;

	if (rc) {
		CK_NO_OUTPUT(it, "conv_list");
		return rc;
	}
	while ((rc = convlog_conv_iter_next(it, &c)) == 0)
		n++;
	if (rc == CONVLOG_DONE) {
		char *tok = SENTINEL;
		rc = convlog_conv_iter_token(it, &tok);
		if (rc)
			CK_NO_OUTPUT(tok, "conv_iter_token");
		else
			convlog_free(tok);
	}
	convlog_conv_iter_free(it);
	if (rc)
		return rc;
	ck_assert_int_eq(n, a_nconv);
	return 0;
}

static int a_search(void)
{
	convlog_search_query q;
	convlog_search_result *r = SENTINEL;
	int rc;

	convlog_search_query_init(&q);
	q.query = "alpha";
	q.limit = 100;
	if ((rc = convlog_search(adb, &q, &r))) {
		CK_NO_OUTPUT(r, "search");
		return rc;
	}
	size_t want = 1 + (size_t)a_victim; /* the fork's own, the victim's */
	for (int i = 0; i < 6; i++)
		want += has_word(a_msgs[i], "alpha");
	ck_assert_uint_eq(r->n_hits, want);
	for (size_t i = 0; i < r->n_hits; i++)
		ck_assert_ptr_nonnull(strstr(r->hits[i].snippet, "alpha"));
	convlog_search_result_free(r);
	return 0;
}

static int a_stats(void)
{
	convlog_stats st;
	int rc;

	memset(&st, 0, sizeof(st));
	st.version = CONVLOG_STATS_VERSION;
	if ((rc = convlog_stats_get(adb, &st)))
		return rc;
	ck_assert_uint_eq(st.conversations, (uint64_t)a_nconv);
	ck_assert_uint_eq(st.messages, 7u + (unsigned)a_victim);
	return 0;
}

static void *a_export_ref;
static size_t a_export_len;

static int a_export(void)
{
	void *out = SENTINEL;
	size_t len = 0;
	uint64_t upto = 0;
	int rc = convlog_sync_export(adb, 0, &out, &len, &upto);

	if (rc) {
		CK_NO_OUTPUT(out, "sync_export");
		return rc;
	}
	ck_assert_msg(len == a_export_len && !memcmp(out, a_export_ref, len),
		      "the export differs from one made without failures");
	convlog_free(out);
	return 0;
}

static uint64_t a_conversations(void)
{
	convlog_stats st;

	memset(&st, 0, sizeof(st));
	st.version = CONVLOG_STATS_VERSION;
	CK_OK(convlog_stats_get(adb, &st));
	return st.conversations;
}

/* every read as the model says */
static void a_reads_check(void)
{
	ck_assert_int_eq(a_msg_range(), 0);
	ck_assert_int_eq(a_msg_thread(), 0);
	ck_assert_int_eq(a_search(), 0);
	ck_assert_int_eq(a_conv_list(), 0);
}

static convlog_uuid a_forked;
static uint64_t a_before;

static int a_fork(void)
{
	convlog_conv o;

	convlog_conv_init(&o);
	o.title = "forked under pressure";
	memset(&a_forked, 0, sizeof(a_forked));
	return convlog_conv_fork(adb, NULL, &aconv, 2, &o, CONVLOG_CONV_TITLE, &a_forked);
}

static void a_fork_check(int rc)
{
	ck_assert_uint_eq(a_conversations(), a_before + (rc == 0));
	if (rc == 0) {
		a_nconv++;
		convlog_conv *c;
		CK_OK(convlog_conv_get(adb, &a_forked, &c));
		ck_assert_str_eq(c->title, "forked under pressure");
		convlog_conv_free(c);
	}
}

static int a_patch(void)
{
	convlog_conv f;

	convlog_conv_init(&f);
	f.title = "patched";
	f.topic = "under pressure";
	return convlog_conv_patch(adb, NULL, &aother, &f, CONVLOG_CONV_TITLE | CONVLOG_CONV_TOPIC);
}

static void a_patch_check(int rc)
{
	convlog_conv *c;

	CK_OK(convlog_conv_get(adb, &aother, &c));
	if (rc)
		ck_assert_msg(!strcmp(c->title, "other") && !c->topic, "a failed patch changed '%s'",
			      c->title);
	else
		ck_assert_msg(!strcmp(c->title, "patched") && c->topic &&
				      !strcmp(c->topic, "under pressure"),
			      "the patch left '%s'", c->title);
	convlog_conv_free(c);
}

static int a_checkpoint(void)
{
	return convlog_checkpoint(adb);
}

static void a_checkpoint_check(int rc)
{
	convlog_stats st;

	memset(&st, 0, sizeof(st));
	st.version = CONVLOG_STATS_VERSION;
	CK_OK(convlog_stats_get(adb, &st));
	if (!rc)
		ck_assert_uint_eq(st.flushed_lsn, st.last_lsn);
	/* whatever a failed flush did, every read is as before */
	a_reads_check();
}

static int a_supersede(void)
{
	convlog_msg m;

	convlog_msg_init(&m);
	m.content = "epsilon five";
	m.content_len = strlen(m.content);
	return convlog_msg_supersede(adb, NULL, &aconv, 5, &m, CONVLOG_MSG_CONTENT);
}

static void a_supersede_check(int rc)
{
	if (!rc)
		a_msgs[4] = "epsilon five";
	a_reads_check();
}

static convlog_uuid avictim;

static int a_purge(void)
{
	convlog_txn *t;
	int rc;

	if ((rc = convlog_txn_begin(adb, &t)))
		return rc;
	if ((rc = convlog_conv_delete(adb, t, &avictim)) || (rc = convlog_conv_purge(adb, t, &avictim))) {
		convlog_txn_abort(t);
		return rc;
	}
	return convlog_txn_commit(t);
}

static void a_purge_check(int rc)
{
	convlog_conv *c = NULL;
	int r = convlog_conv_get(adb, &avictim, &c);

	if (rc) {
		ck_assert_int_eq(r, 0);
		ck_assert_int_ne(c->status, CONVLOG_STATUS_DELETED);
		convlog_conv_free(c);
		return;
	}
	ck_assert_int_eq(r, CONVLOG_ENOTFOUND);
	a_nconv--;
	a_victim = 0;
	a_reads_check();
}

static int a_merge(void)
{
	return convlog_index_merge(adb, CONVLOG_MERGE_ALL);
}

static int a_compact(void)
{
	return convlog_compact(adb, NULL, NULL, NULL, NULL);
}

static void a_any_check(int rc)
{
	(void)rc;
	a_reads_check();
}

typedef struct acall {
	const char *name;
	int (*fn)(void);      /* the call (a read checks its output itself) */
	void (*check)(int rc); /* a write: the store after it, failed or not */
} acall;

static const acall acalls[] = {
	{"conv_get", a_conv_get, NULL},
	{"msg_range+iter", a_msg_range, NULL},
	{"conv_list+iter", a_conv_list, NULL},
	{"search", a_search, NULL},
	{"msg_thread+iter", a_msg_thread, NULL},
	{"stats_get", a_stats, NULL},
	{"sync_export", a_export, NULL},
	{"conv_fork", a_fork, a_fork_check},
	{"conv_patch", a_patch, a_patch_check},
	{"checkpoint", a_checkpoint, a_checkpoint_check},
	{"msg_supersede", a_supersede, a_supersede_check},
	{"delete+purge txn", a_purge, a_purge_check},
	{"index_merge", a_merge, a_any_check},
	{"compact", a_compact, a_any_check},
};

START_TEST(test_faultsweep__failed_allocations_in_public_calls)
{
	char dir[256], name[64];
	convlog_options *o = sweep_opts();
	uint64_t total = 0;
	double t0 = now_s();

	tu_tmppath(dir, sizeof(dir), "allocsweep");
	adb = tu_open(dir, o);
	quiesce(adb);
	aconv = tu_conv(adb, "u1", "allocations");
	aother = tu_conv(adb, "u2", "other");
	avictim = tu_conv(adb, "u3", "victim");
	tu_msg(adb, &avictim, "user", "alpha victim"); /* (a deleted one is not searched) */
	for (int i = 0; i < 3; i++)
		tu_msg(adb, &aconv, i % 2 ? "assistant" : "user", a_msgs[i]);
	CK_OK(convlog_conv_fork(adb, NULL, &aconv, 3, NULL, 0, &afork));
	tu_msg(adb, &afork, "user", "alpha fork");
	CK_OK(convlog_checkpoint(adb)); /* LMDB and an index segment ... */
	for (int i = 3; i < 6; i++) /* ... and the memtable */
		tu_msg(adb, &aconv, i % 2 ? "assistant" : "user", a_msgs[i]);
	CK_OK(convlog_sync_export(adb, 0, &a_export_ref, &a_export_len, NULL));

	for (size_t c = 0; c < sizeof(acalls) / sizeof(acalls[0]); c++) {
		const acall *a = &acalls[c];
		double t1 = now_s();
		int64_t k;
		int rc = -1;
		for (k = 0; k < 100000; k++) {
			uint64_t f0 = cvl_alloc_failures();
			a_before = a_conversations();
			cvl_alloc_fail_after(k, 0);
			rc = a->fn();
			cvl_alloc_fail_after(-1, 0);
			int failed = cvl_alloc_failures() != f0;
			if (rc)
				ck_assert_msg(rc == CONVLOG_ENOMEM, "%s, allocation %lld: %d (%s) %s",
					      a->name, (long long)k, rc, convlog_strerror(rc),
					      convlog_errmsg());
			ck_assert_msg(rc == 0 || failed, "%s: failed without a failed allocation",
				      a->name);
			if (a->check) {
				char why[512];
				a->check(rc);
				ck_assert_msg(verify_problems(adb, why) == 0, "%s, allocation %lld: verify: %s",
					      a->name, (long long)k, why);
			}
			if (rc == 0) {
				/* a failed allocation a call recovered from is fine
				 * (an optional cache); the count stops at the first
				 * run with none */
				if (!failed)
					break;
				continue;
			}
		}
		ck_assert_msg(rc == 0, "%s never succeeded", a->name);
		fprintf(stderr, "allocation sweep: %-16s %5lld failure points\n", a->name, (long long)k);
		snprintf(name, sizeof(name), "malloc %s", a->name);
		note(name, (uint64_t)k, now_s() - t1);
		total += (uint64_t)k;
	}
	/* everything the successful calls did is there after a reopen */
	tu_verify_clean(adb);
	convlog_close(adb);
	adb = tu_open(dir, o);
	convlog_options_free(o);
	convlog_conv *c;
	CK_OK(convlog_conv_get(adb, &a_forked, &c));
	ck_assert_str_eq(c->title, "forked under pressure");
	ck_assert_uint_eq(c->message_count, 2);
	convlog_conv_free(c);
	CK_OK(convlog_conv_get(adb, &aother, &c));
	ck_assert_str_eq(c->title, "patched");
	convlog_conv_free(c);
	tu_verify_clean(adb);
	convlog_close(adb);
	tu_rmrf(dir);
	convlog_free(a_export_ref);
	fprintf(stderr, "allocation sweep: %llu failure points in %.1f s\n", (unsigned long long)total,
		now_s() - t0);
}
END_TEST

static void sweep(int wi)
{
	const workload *w = &workloads[wi];
	double t0 = now_s();
	uint64_t n = 0;

	/* tmpfs when there is one: thousands of opens and syncs */
	const char *shm = getenv("FAULTSWEEP_DIR") ? getenv("FAULTSWEEP_DIR") : "/dev/shm";
	struct stat st;
	if (*shm && stat(shm, &st) == 0 && S_ISDIR(st.st_mode) && access(shm, W_OK) == 0)
		snprintf(root, sizeof(root), "%s/convlog-faultsweep-%d-%d", shm, (int)getpid(), wi);
	else
		tu_tmppath(root, sizeof(root), "faultsweep");
	tu_rmrf(root);
	ck_assert_int_eq(mkdir(root, 0755), 0);
	snprintf(rundir, sizeof(rundir), "%s/run", root);
	build_baseline(w);
	/* FAULTSWEEP_FAULT=substring and FAULTSWEEP_FROM=N narrow a sweep down
	 * when debugging */
	const char *only = getenv("FAULTSWEEP_FAULT");
	int64_t from = getenv("FAULTSWEEP_FROM") ? atoll(getenv("FAULTSWEEP_FROM")) : 0;
	for (size_t fi = 0; fi < sizeof(faults) / sizeof(faults[0]); fi++) {
		const fault *f = &faults[fi];
		int64_t nth;
		run_result r = {0, 0};
		if (only && !strstr(f->name, only))
			continue;
		for (nth = from; nth < 1000; nth++) {
			one_run(w, f, nth, &r);
			if (!r.hit)
				break;
			n++;
		}
		ck_assert_msg(!r.hit, "%s / %s: still hitting after %lld runs", w->name, f->name,
			      (long long)nth);
		fprintf(stderr, "fault sweep: %-12s %-30s %3lld points\n", w->name, f->name,
			(long long)nth);
	}
	tu_rmrf(root);
	note(w->name, n, now_s() - t0);
}

START_TEST(test_faultsweep__append)
{
	sweep(0);
}
END_TEST

START_TEST(test_faultsweep__flush)
{
	sweep(1);
}
END_TEST

START_TEST(test_faultsweep__compaction)
{
	sweep(2);
}
END_TEST

START_TEST(test_faultsweep__index_merge)
{
	sweep(3);
}
END_TEST

START_TEST(test_faultsweep__open)
{
	sweep(4);
}
END_TEST

START_TEST(test_faultsweep__close)
{
	sweep(5);
}
END_TEST

static void print_summary(void)
{
	FILE *fp = fopen(summary, "r");
	char name[64];
	unsigned long long n, tot[2] = {0, 0};
	double secs, tsecs[2] = {0, 0};

	if (!fp)
		return;
	while (fscanf(fp, "%63[^\t]\t%llu\t%lf\n", name, &n, &secs) == 3) {
		int alloc = !strncmp(name, "malloc ", 7);
		fprintf(stderr, "fault sweep summary: %-20s %6llu %s points  %6.1f s\n", name, n,
			alloc ? "allocation" : "fault", secs);
		tot[alloc] += n;
		tsecs[alloc] += secs;
	}
	fclose(fp);
	unlink(summary);
	fprintf(stderr, "fault sweep summary: I/O fault points %llu (%.1f s), allocation failure points %llu (%.1f s)\n",
		tot[0], tsecs[0], tot[1], tsecs[1]);
}

int main(void)
{
	Suite *s = suite_create("faultsweep");
	TCase *tc = tcase_create("faultsweep");
	int failed;

	for (int i = 0; i < NCONV; i++)
		if (convlog_uuid_generate(&ids[i]) != 0)
			return 1;
	snprintf(summary, sizeof(summary), "%s/convlog-faultsweep-%d.txt",
		 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	unlink(summary);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_faultsweep__append);
	tcase_add_test(tc, test_faultsweep__flush);
	tcase_add_test(tc, test_faultsweep__compaction);
	tcase_add_test(tc, test_faultsweep__index_merge);
	tcase_add_test(tc, test_faultsweep__open);
	tcase_add_test(tc, test_faultsweep__close);
	tcase_add_test(tc, test_faultsweep__a_commit_is_not_failed_by_its_memtable_rotation);
	tcase_add_test(tc, test_faultsweep__failed_allocations_in_public_calls);
	suite_add_tcase(s, tc);
	failed = tu_run(s);
	print_summary();
	return failed != 0;
}
