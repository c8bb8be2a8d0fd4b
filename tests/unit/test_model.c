/*
 * Randomised test: thousands of operations applied both to a store and to
 * a simple in-memory model, with reopens, checkpoints, aborted and
 * committed transactions in between; after every phase the store must
 * equal the model and convlog_verify must find nothing.
 * CONVLOG_SEED=<n> reruns one seed; CONVLOG_MODEL_OPS=<n> sets the length.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct mmsg {
	convlog_uuid id;
	const char *role;
	char *content;
	size_t len;
	int64_t tokens, cost;
	uint32_t parent;
	int status;
} mmsg;

typedef struct mconv {
	convlog_uuid id;
	const char *user;
	char title[48];
	int status, prev;
	int tagmask;
	mmsg *m;
	uint32_t n, cap;
	uint32_t tip;
} mconv;

typedef struct model {
	mconv *c;
	size_t n, cap;
} model;

static const char *users[] = {"u0", "u1", "u2", "u3", NULL};
static const char *tagnames[] = {"t0", "t1", "t2"};
static const char *pieces[] = {
	"hello ", "the quick brown fox ", "日本語のテキスト ", "émigré café ", "🎉🚀 ",
	"```c\nint main(void) { return 0; }\n```\n", "\n", "Здравствуйте ", "مرحبا ", "a\0b",
};
static const size_t piece_len[] = {6, 20, 25, 14, 9, 37, 1, 25, 11, 3};

static char path[256];
static convlog_db *db;
static uint64_t rng;
static model M;

static uint64_t rnd(uint64_t n)
{
	return n ? tu_rand(&rng) % n : 0;
}

static convlog_options *opts(void)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_OFF);

	CK_OK(convlog_options_set_flush_interval_ms(o, 50));
	return o;
}

static void reopen(void)
{
	convlog_options *o = opts();

	convlog_close(db);
	db = tu_open(path, o);
	convlog_options_free(o);
}

static char *make_content(size_t *len)
{
	size_t n = rnd(40), cap = 64, l = 0;
	char *s = malloc(cap);

	for (size_t i = 0; i < n; i++) {
		size_t k = rnd(sizeof(pieces) / sizeof(pieces[0]));
		if (l + piece_len[k] + 1 > cap) {
			cap = (l + piece_len[k] + 1) * 2;
			s = realloc(s, cap);
		}
		memcpy(s + l, pieces[k], piece_len[k]);
		l += piece_len[k];
	}
	*len = l;
	return s;
}

static mconv *add_conv(void)
{
	if (M.n == M.cap) {
		M.cap = M.cap ? M.cap * 2 : 64;
		M.c = realloc(M.c, M.cap * sizeof(*M.c));
	}
	memset(&M.c[M.n], 0, sizeof(M.c[0]));
	return &M.c[M.n++];
}

static void conv_tags(int mask, const char **v, size_t *n)
{
	*n = 0;
	for (int i = 0; i < 3; i++)
		if (mask & (1 << i))
			v[(*n)++] = tagnames[i];
}

static void op_create(convlog_txn *t, mconv *pend)
{
	convlog_conv c;
	const char *tags[3];
	mconv *mc = pend ? pend : add_conv();

	convlog_conv_init(&c);
	mc->user = users[rnd(5)];
	snprintf(mc->title, sizeof(mc->title), "title %llu", (unsigned long long)rnd(100000));
	mc->tagmask = (int)rnd(8);
	mc->status = rnd(4) ? CONVLOG_STATUS_ACTIVE : CONVLOG_STATUS_COMPLETED;
	c.user_id = mc->user;
	c.title = mc->title;
	c.status = mc->status;
	conv_tags(mc->tagmask, tags, &c.n_tags);
	c.tags = tags;
	CK_OK(convlog_conv_create(db, t, &c, &mc->id));
}

static int writable(const mconv *mc)
{
	return mc->status != CONVLOG_STATUS_ARCHIVED && mc->status != CONVLOG_STATUS_DELETED;
}

static void model_append(mconv *mc, const mmsg *m)
{
	if (mc->n == mc->cap) {
		mc->cap = mc->cap ? mc->cap * 2 : 8;
		mc->m = realloc(mc->m, mc->cap * sizeof(*mc->m));
	}
	mc->m[mc->n++] = *m;
	mc->tip = mc->n;
	if (mc->status >= CONVLOG_STATUS_INACTIVE_TIMEOUT && mc->status <= CONVLOG_STATUS_COMPLETED)
		mc->status = CONVLOG_STATUS_ACTIVE;
}

/* Appends to mc; `extra` counts messages already pending in a txn. */
static void op_append(convlog_txn *t, mconv *mc, uint32_t extra, mmsg *out)
{
	convlog_msg m;
	mmsg mm = {0};
	uint32_t seq;
	int rc;

	convlog_msg_init(&m);
	m.conv_id = mc->id;
	mm.role = rnd(2) ? "user" : "assistant";
	mm.content = make_content(&mm.len);
	mm.tokens = rnd(4) ? (int64_t)rnd(5000) : -1;
	mm.cost = rnd(3) ? (int64_t)rnd(90000) : -1;
	mm.status = CONVLOG_MSG_COMPLETED;
	uint32_t next = mc->n + extra + 1;
	mm.parent = rnd(5) == 0 && next > 1 ? (uint32_t)rnd(next - 1) : mc->n + extra;
	if (extra == 0)
		mm.parent = rnd(5) == 0 && next > 1 ? (uint32_t)rnd(next - 1) : mc->tip;
	m.role = mm.role;
	m.content = mm.content;
	m.content_len = mm.len;
	m.token_count = mm.tokens;
	m.cost = mm.cost;
	m.parent_seq = mm.parent;
	rc = convlog_msg_append(db, t, &m, &seq);
	if (!writable(mc)) {
		ck_assert_int_eq(rc, CONVLOG_ETRANSITION);
		free(mm.content);
		out->content = NULL;
		return;
	}
	ck_assert_msg(rc == 0, "append: %s", convlog_errmsg());
	ck_assert_uint_eq(seq, next);
	*out = mm;
}

static void op_supersede(mconv *mc)
{
	convlog_msg m;
	uint32_t seq;
	char *content;
	size_t len;
	int rc;

	if (mc->n == 0)
		return;
	seq = (uint32_t)rnd(mc->n) + 1;
	content = make_content(&len);
	convlog_msg_init(&m);
	m.content = content;
	m.content_len = len;
	m.token_count = rnd(2) ? (int64_t)rnd(100) : -1;
	m.status = CONVLOG_MSG_ERROR;
	rc = convlog_msg_supersede(db, NULL, &mc->id, seq, &m,
				   CONVLOG_MSG_CONTENT | CONVLOG_MSG_TOKEN_COUNT | CONVLOG_MSG_STATUS);
	if (!writable(mc)) {
		ck_assert_int_eq(rc, CONVLOG_ETRANSITION);
		free(content);
		return;
	}
	ck_assert_msg(rc == 0, "supersede: %s", convlog_errmsg());
	mmsg *mm = &mc->m[seq - 1];
	free(mm->content);
	mm->content = content;
	mm->len = len;
	mm->tokens = m.token_count;
	mm->status = CONVLOG_MSG_ERROR;
}

static void op_patch(mconv *mc)
{
	convlog_conv f;
	const char *tags[3];
	char title[48];
	int mask = (int)rnd(8), rc;
	const char *user = users[rnd(5)];

	convlog_conv_init(&f);
	snprintf(title, sizeof(title), "patched %llu", (unsigned long long)rnd(1000));
	f.title = title;
	f.user_id = user;
	conv_tags(mask, tags, &f.n_tags);
	f.tags = tags;
	rc = convlog_conv_patch(db, NULL, &mc->id, &f,
				CONVLOG_CONV_TITLE | CONVLOG_CONV_USER_ID | CONVLOG_CONV_TAGS);
	if (mc->status == CONVLOG_STATUS_DELETED) {
		ck_assert_int_eq(rc, CONVLOG_ETRANSITION);
		return;
	}
	ck_assert_msg(rc == 0, "patch: %s", convlog_errmsg());
	snprintf(mc->title, sizeof(mc->title), "%s", title);
	mc->user = user;
	mc->tagmask = mask;
}

static int lifecycle_ok(int from, int to)
{
	int in_to = to >= 2 && to <= 5, in_from = from >= 2 && from <= 5;

	if (from == CONVLOG_STATUS_ACTIVE)
		return in_to;
	if (in_from)
		return to == CONVLOG_STATUS_ACTIVE || to == CONVLOG_STATUS_ARCHIVED;
	if (from == CONVLOG_STATUS_ARCHIVED)
		return to == CONVLOG_STATUS_ACTIVE;
	return 0;
}

static void op_status(mconv *mc)
{
	int which = (int)rnd(4), rc;

	if (which == 0) { /* set_status */
		int to = (int)rnd(6) + 1;
		rc = convlog_conv_set_status(db, NULL, &mc->id, to);
		if (mc->status == CONVLOG_STATUS_DELETED || (to != mc->status && !lifecycle_ok(mc->status, to))) {
			ck_assert_int_eq(rc, CONVLOG_ETRANSITION);
		} else {
			ck_assert_msg(rc == 0, "set_status: %s", convlog_errmsg());
			mc->status = to;
		}
	} else if (which == 1) { /* archive */
		rc = convlog_conv_archive(db, NULL, &mc->id);
		if (mc->status == CONVLOG_STATUS_DELETED) {
			ck_assert_int_eq(rc, CONVLOG_ETRANSITION);
		} else {
			ck_assert_msg(rc == 0, "archive: %s", convlog_errmsg());
			mc->status = CONVLOG_STATUS_ARCHIVED;
		}
	} else if (which == 2) { /* delete */
		CK_OK(convlog_conv_delete(db, NULL, &mc->id));
		if (mc->status != CONVLOG_STATUS_DELETED) {
			mc->prev = mc->status;
			mc->status = CONVLOG_STATUS_DELETED;
		}
	} else { /* restore */
		rc = convlog_conv_restore(db, NULL, &mc->id);
		if (mc->status != CONVLOG_STATUS_DELETED) {
			ck_assert_int_eq(rc, CONVLOG_ETRANSITION);
		} else {
			ck_assert_msg(rc == 0, "restore: %s", convlog_errmsg());
			mc->status = mc->prev;
			mc->prev = 0;
		}
	}
}

/* A batch: creates and appends in one txn, then commit or abort. */
static void op_txn(void)
{
	convlog_txn *t;
	mconv newc[4];
	int nnew = 0;
	struct { size_t ci; mmsg m; } pend[16];
	int npend = 0, abort = rnd(3) == 0;
	uint32_t extra[16];

	CK_OK(convlog_txn_begin(db, &t));
	for (int k = 0, ops = 1 + (int)rnd(12); k < ops && npend < 16; k++) {
		if (nnew < 4 && (M.n == 0 || rnd(4) == 0)) {
			memset(&newc[nnew], 0, sizeof(newc[0]));
			op_create(t, &newc[nnew++]);
			continue;
		}
		size_t ci = rnd(M.n);
		if (!writable(&M.c[ci]))
			continue;
		uint32_t ex = 0;
		for (int p = 0; p < npend; p++)
			ex += pend[p].ci == ci;
		(void)extra;
		pend[npend].ci = ci;
		op_append(t, &M.c[ci], ex, &pend[npend].m);
		npend++;
	}
	if (abort) {
		convlog_txn_abort(t);
		for (int p = 0; p < npend; p++)
			free(pend[p].m.content);
		return;
	}
	CK_OK(convlog_txn_commit(t));
	for (int p = 0; p < npend; p++)
		model_append(&M.c[pend[p].ci], &pend[p].m);
	for (int i = 0; i < nnew; i++)
		*add_conv() = newc[i];
}

static void check_conv(const mconv *mc)
{
	convlog_conv *g;
	convlog_msg_iter *it;
	const convlog_msg *m;
	int64_t tokens = 0, cost = 0;
	uint32_t seq = 0;
	int rc;

	CK_OK(convlog_conv_get(db, &mc->id, &g));
	ck_assert_int_eq(g->status, mc->status);
	ck_assert_str_eq(g->title, mc->title);
	if (mc->user)
		ck_assert_str_eq(g->user_id, mc->user);
	else
		ck_assert_ptr_null(g->user_id);
	ck_assert_uint_eq(g->n_tags, (size_t)__builtin_popcount((unsigned)mc->tagmask));
	ck_assert_uint_eq(g->message_count, mc->n);
	ck_assert_uint_eq(g->tip_seq, mc->tip);
	if (mc->status == CONVLOG_STATUS_DELETED)
		ck_assert_int_eq(g->prev_status, mc->prev);
	CK_OK(convlog_msg_range(db, &mc->id, CONVLOG_RANGE_ALL, 0, 0, &it));
	while ((rc = convlog_msg_iter_next(it, &m)) == 0) {
		const mmsg *x = &mc->m[seq++];
		ck_assert_uint_eq(m->seq, seq);
		ck_assert_str_eq(m->role, x->role);
		ck_assert_uint_eq(m->content_len, x->len);
		if (x->len)
			ck_assert_mem_eq(m->content, x->content, x->len);
		ck_assert_int_eq(m->token_count, x->tokens);
		ck_assert_int_eq(m->status, x->status);
		ck_assert_uint_eq(m->parent_seq, x->parent);
		tokens += x->tokens > 0 ? x->tokens : 0;
		cost += x->cost > 0 ? x->cost : 0;
	}
	ck_assert_int_eq(rc, CONVLOG_DONE);
	convlog_msg_iter_free(it);
	ck_assert_uint_eq(seq, mc->n);
	ck_assert_int_eq(g->token_total, tokens);
	ck_assert_int_eq(g->cost_total, cost);
	convlog_conv_free(g);
}

static void check_all(void)
{
	convlog_stats s = {.version = CONVLOG_STATS_VERSION};
	uint64_t msgs = 0, content = 0, deleted = 0;

	for (size_t i = 0; i < M.n; i++) {
		check_conv(&M.c[i]);
		msgs += M.c[i].n;
		deleted += M.c[i].status == CONVLOG_STATUS_DELETED;
		for (uint32_t k = 0; k < M.c[i].n; k++)
			content += M.c[i].m[k].len;
	}
	for (int u = 0; u < 4; u++) {
		convlog_conv_filter f;
		convlog_conv_iter *it;
		const convlog_conv *c;
		size_t want = 0, got = 0;
		for (size_t i = 0; i < M.n; i++)
			want += M.c[i].user && !strcmp(M.c[i].user, users[u]) &&
				M.c[i].status != CONVLOG_STATUS_DELETED;
		convlog_conv_filter_init(&f);
		f.user_id = users[u];
		CK_OK(convlog_conv_list(db, &f, &it));
		while (convlog_conv_iter_next(it, &c) == 0) {
			ck_assert_str_eq(c->user_id, users[u]);
			got++;
		}
		convlog_conv_iter_free(it);
		ck_assert_uint_eq(got, want);
	}
	CK_OK(convlog_stats_get(db, &s));
	ck_assert_uint_eq(s.conversations, M.n);
	ck_assert_uint_eq(s.deleted_conversations, deleted);
	ck_assert_uint_eq(s.messages, msgs);
	ck_assert_uint_eq(s.content_bytes, content);
	tu_verify_clean(db);
}

static void free_model(void)
{
	for (size_t i = 0; i < M.n; i++) {
		for (uint32_t k = 0; k < M.c[i].n; k++)
			free(M.c[i].m[k].content);
		free(M.c[i].m);
	}
	free(M.c);
	memset(&M, 0, sizeof(M));
}

static void run_seed(uint64_t seed, int nops)
{
	convlog_options *o = opts();

	rng = seed * 2654435761u + 1;
	tu_tmppath(path, sizeof(path), "model");
	db = tu_open(path, o);
	convlog_options_free(o);
	for (int i = 0; i < nops; i++) {
		uint64_t r = rnd(100);
		mconv *mc = M.n ? &M.c[rnd(M.n)] : NULL;
		mmsg mm;
		if (!mc || r < 8) {
			op_create(NULL, NULL);
		} else if (r < 48) {
			op_append(NULL, mc, 0, &mm);
			if (mm.content || writable(mc))
				model_append(mc, &mm);
		} else if (r < 58) {
			op_supersede(mc);
		} else if (r < 66) {
			op_patch(mc);
		} else if (r < 80) {
			op_status(mc);
		} else if (r < 95) {
			op_txn();
		} else if (r < 97) {
			reopen();
		} else if (r < 98) {
			CK_OK(convlog_checkpoint(db));
		}
		if (i % 1000 == 999)
			check_all();
	}
	check_all();
	reopen();
	check_all();
	convlog_close(db);
	db = NULL;
	free_model();
	tu_rmrf(path);
}

START_TEST(test_model__random_operations_match_the_model)
{
	const char *env = getenv("CONVLOG_SEED"), *ops = getenv("CONVLOG_MODEL_OPS");
	int n = ops ? atoi(ops) : 3000;

	if (env) {
		run_seed(strtoull(env, NULL, 10), n);
		return;
	}
	for (uint64_t seed = 1; seed <= 4; seed++) {
		fprintf(stderr, "model seed %llu, %d operations\n", (unsigned long long)seed, n);
		run_seed(seed, n);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("model");
	TCase *tc = tcase_create("model");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_model__random_operations_match_the_model);
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
