/*
 * Crash test of the compactor: a child process writes to the store in FULL
 * durability (appends, supersedes, archives, unarchives, delete+purge) and
 * runs convlog_compact() often, with random flags (none, FULL, ARCHIVE,
 * both; sometimes a garbage threshold or an I/O budget); the parent
 * SIGKILLs it at a random moment, so the kill often lands inside a
 * compaction.  Segment size and memtable are at their minimums (1 MiB,
 * 64 KiB).
 *
 * Pipe protocol (child -> parent, fixed-size records, each written with one
 * write() of less than PIPE_BUF bytes, so a record arrives whole or not at
 * all):
 *   R_READY    the store is open (recovery done);
 *   R_OP       one operation of the transaction being built, sent after the
 *              call that applied it to the (uncommitted) transaction;
 *   R_COMMIT   convlog_txn_commit() of those operations returned 0;
 *   R_CSTART   convlog_compact() is about to be called (aux: flags);
 *   R_CPHASE   the compaction's progress callback ran (tok: done, aux: total);
 *   R_CEND     convlog_compact() returned 0.
 * The parent keeps a model of every committed operation.  Operations sent
 * without their R_COMMIT form the transaction in flight at the kill: it is
 * either entirely in the store or not at all (one read decides which; the
 * full check then confirms every other operation of it agrees).  The
 * parent reads the pipe while it waits, and to its end after the kill.
 *
 * When the kill lands: mostly 0..150 ms after the child opened the store,
 * sometimes later, during open/recovery, or just after a compaction's
 * first or last progress call (see the test body).
 *
 * After each kill the parent reopens the store as the writer (recovery and
 * remove_leftovers run) and checks: convlog_verify is clean; every
 * committed message reads back with its latest committed content, by
 * (conversation, seq) and by id; statuses, message counts and store
 * counters match; purged conversations stay gone; search finds live tokens
 * exactly once and dead (superseded, purged) ones never.  Then it runs one
 * convlog_compact(db, NULL, ...) and checks the segments directory: no
 * *.tmp, as many *.seg files as convlog_stats counts, their sizes adding up
 * to stats.segment_bytes; verify and the model check again.  After close:
 * LMDB's manifest (`segments`) against the files, and that no file of the
 * store holds the title of a purged conversation (the erasure convlog_compact
 * promises; CONVLOG_COMPACT_CRASH_NO_ERASE=1 skips this last check).  The
 * same store goes through every round.
 *
 * CONVLOG_COMPACT_CRASH_ROUNDS and CONVLOG_COMPACT_CRASH_SEED override the
 * number of rounds and the (fixed) seed; CONVLOG_COMPACT_CRASH_DEBUG=1 has
 * the child print its timings.  The kill timing is real time, so a seed
 * fixes the choices, not the outcome.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define DEFAULT_ROUNDS 50
#define DEFAULT_SEED UINT64_C(0x5eedc0ffee1234)
#define MAX_CONTENT 20480

static char path[256];
static char ctx[96]; /* "seed S round R": prefixed to every failure */
static char erase_ctx[512]; /* what the round did about erasure */
static int cur_round = -1;  /* the parent's round, for purge_round */

#define CHK(cond, ...)                                                           \
	do {                                                                     \
		if (!(cond)) {                                                   \
			char _m[1024];                                           \
			snprintf(_m, sizeof(_m), __VA_ARGS__);                    \
			ck_abort_msg("[%s] %s", ctx, _m);                        \
		}                                                                \
	} while (0)

#define OKR(expr)                                                                \
	do {                                                                     \
		int _rc = (expr);                                                \
		CHK(_rc == 0, "%s -> %d (%s): %s", #expr, _rc, convlog_strerror(_rc), \
		    convlog_errmsg());                                           \
	} while (0)

/* ---- records on the pipe ---- */

enum { R_READY = 1, R_OP, R_COMMIT, R_CSTART, R_CPHASE, R_CEND };
enum { OP_CREATE = 1, OP_APPEND, OP_SUPERSEDE, OP_ARCHIVE, OP_UNARCHIVE, OP_PURGE };

typedef struct rec {
	uint32_t type, op, conv, seq;
	uint64_t tok, aux;
} rec;

static const char *op_name(uint32_t op)
{
	static const char *n[] = {"?", "create", "append", "supersede", "archive", "unarchive", "purge"};
	return op <= OP_PURGE ? n[op] : "?";
}

/* ---- the model ---- */

enum { C_NONE = 0, C_ACTIVE, C_ARCHIVED, C_PURGED };

typedef struct mconv {
	int state;
	uint32_t n, cap;
	uint64_t *tok; /* tok[seq - 1]: token of the latest version */
	int purge_round; /* parent: the round whose kill followed the purge */
} mconv;

typedef struct model {
	mconv *c;
	uint32_t nconv; /* conversation indexes 0..nconv-1 were ever named */
	uint64_t *dead; /* tokens that must not match any more */
	size_t ndead, deadcap;
	uint64_t next_tok;
	uint32_t next_conv;
} model;

static model M;

static mconv *mconv_at(model *m, uint32_t i)
{
	if (i >= m->nconv) {
		mconv *nc = realloc(m->c, (size_t)(i + 1) * sizeof(*nc));
		ck_assert_ptr_nonnull(nc);
		memset(nc + m->nconv, 0, (size_t)(i + 1 - m->nconv) * sizeof(*nc));
		m->c = nc;
		m->nconv = i + 1;
	}
	return &m->c[i];
}

static void dead_push(model *m, uint64_t tok)
{
	if (m->ndead == m->deadcap) {
		m->deadcap = m->deadcap ? m->deadcap * 2 : 256;
		m->dead = realloc(m->dead, m->deadcap * sizeof(*m->dead));
		ck_assert_ptr_nonnull(m->dead);
	}
	m->dead[m->ndead++] = tok;
}

/* Notes the ids an operation names, committed or not: never reused. */
static void note_ids(model *m, const rec *r)
{
	if (r->tok >= m->next_tok)
		m->next_tok = r->tok + 1;
	if (r->conv >= m->next_conv)
		m->next_conv = r->conv + 1;
	mconv_at(m, r->conv);
}

static void apply_op(model *m, const rec *r)
{
	mconv *c;

	note_ids(m, r);
	c = mconv_at(m, r->conv);
	switch (r->op) {
	case OP_CREATE:
		c->state = C_ACTIVE;
		break;
	case OP_APPEND:
		if (c->n == c->cap) {
			c->cap = c->cap ? c->cap * 2 : 16;
			c->tok = realloc(c->tok, c->cap * sizeof(*c->tok));
			ck_assert_ptr_nonnull(c->tok);
		}
		c->tok[c->n++] = r->tok;
		break;
	case OP_SUPERSEDE:
		dead_push(m, c->tok[r->seq - 1]);
		c->tok[r->seq - 1] = r->tok;
		break;
	case OP_ARCHIVE:
		c->state = C_ARCHIVED;
		break;
	case OP_UNARCHIVE:
		c->state = C_ACTIVE;
		break;
	case OP_PURGE:
		for (uint32_t s = 0; s < c->n; s++)
			dead_push(m, c->tok[s]);
		c->state = C_PURGED;
		c->purge_round = cur_round;
		break;
	}
}

/* ---- ids and content ---- */

static convlog_uuid conv_uuid(uint32_t c)
{
	convlog_uuid id = {{0x01, 0x90, 0xc4, 0x5b, 'C', 0, 0x70, 0, 0x80}};

	for (int i = 0; i < 4; i++)
		id.bytes[12 + i] = (unsigned char)(c >> (8 * (3 - i)));
	return id;
}

static convlog_uuid msg_uuid(uint32_t c, uint32_t seq)
{
	convlog_uuid id = {{0x01, 0x90, 0xc4, 0x5b, 'M', 0, 0x70, 0, 0x80}};

	for (int i = 0; i < 4; i++)
		id.bytes[9 + i] = (unsigned char)(c >> (8 * (3 - i)));
	for (int i = 0; i < 3; i++)
		id.bytes[13 + i] = (unsigned char)(seq >> (8 * (2 - i)));
	return id;
}

/* A unique, purely alphabetic word per token: "qx" + base 26. */
static void tok_word(uint64_t tok, char out[24])
{
	char *p = out;

	*p++ = 'q';
	*p++ = 'x';
	do {
		*p++ = (char)('a' + tok % 26);
		tok /= 26;
	} while (tok);
	*p = '\0';
}

static const char *const vocab[] = {
	"the",     "model",   "answer", "token",   "stream", "context", "window", "user",
	"tool",    "call",    "result", "error",   "retry",  "latency", "vector", "search",
	"index",   "segment", "block",  "frame",   "archive", "cold",   "warm",   "commit",
	"durable", "replay",  "flush",  "alpha",   "beta",   "gamma",   "delta",  "omega",
	"river",   "stone",   "cloud",  "garden",  "copper", "violet",  "harbor", "lantern",
	"meadow",  "orbit",   "pixel",  "saddle",  "timber", "velvet",  "walnut", "zephyr",
};

/* Content of token `tok`: its word first, then 40..16000 bytes of filler
 * (words, numbers and random letters: it compresses about 2:1, so the
 * 1 MiB segments fill). */
static size_t content_for(uint64_t tok, char *buf, size_t cap)
{
	uint64_t s = tok * UINT64_C(0x9E3779B97F4A7C15) + 0x1234567;
	char w[24];
	size_t n, target;

	tu_rand(&s);
	target = 40 + (size_t)(tu_rand(&s) % 15960);
	if (target > cap - 32)
		target = cap - 32;
	tok_word(tok, w);
	n = (size_t)snprintf(buf, cap, "%s", w);
	while (n < target) {
		uint64_t r = tu_rand(&s);
		if (r % 4 == 0) {
			n += (size_t)snprintf(buf + n, cap - n, " %u", (unsigned)(r >> 20) % 100000);
		} else if (r % 4 != 2) {
			/* a random word; never "q...", so never a token */
			buf[n++] = ' ';
			buf[n++] = (char)('a' + (r >> 8) % 16);
			for (int i = 0; i < 3 + (int)((r >> 12) % 6); i++)
				buf[n++] = (char)('a' + (r >> (16 + 5 * i)) % 26);
			buf[n] = '\0';
		} else {
			n += (size_t)snprintf(buf + n, cap - n, " %s",
					      vocab[(r >> 8) % (sizeof(vocab) / sizeof(vocab[0]))]);
		}
	}
	return n;
}

static convlog_options *opts(void)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_FULL);

	CK_OK(convlog_options_set_segment_size(o, 1u << 20)); /* the minimum */
	CK_OK(convlog_options_set_memtable_size(o, 64u << 10)); /* the minimum */
	CK_OK(convlog_options_set_flush_interval_ms(o, 20));
	return o;
}

/* A title unique to conversation c (no title is part of another). */
static void title_of(uint32_t c, char *buf, size_t cap)
{
	snprintf(buf, cap, "canary-%u-title", c);
}

/* ---- the child ---- */

static int pipe_fd = -1;
static int debug; /* CONVLOG_COMPACT_CRASH_DEBUG: the child reports timings */

static int64_t now_ns(void);

static void send_rec(const rec *r)
{
	if (write(pipe_fd, r, sizeof(*r)) != (ssize_t)sizeof(*r))
		_exit(4);
}

static void must(int rc, const char *what)
{
	if (rc) {
		fprintf(stderr, "compact-crash child: %s -> %d (%s): %s\n", what, rc,
			convlog_strerror(rc), convlog_errmsg());
		_exit(20);
	}
}

/* Random conversation in state `st` with at least `min_msgs` messages, or -1. */
static int64_t pick(model *m, uint64_t *rs, int st, uint32_t min_msgs)
{
	uint32_t cnt = 0;

	for (uint32_t i = 0; i < m->nconv; i++)
		cnt += m->c[i].state == st && m->c[i].n >= min_msgs;
	if (!cnt)
		return -1;
	uint32_t k = (uint32_t)(tu_rand(rs) % cnt);
	for (uint32_t i = 0; i < m->nconv; i++)
		if (m->c[i].state == st && m->c[i].n >= min_msgs && k-- == 0)
			return i;
	return -1;
}

static uint32_t count_state(model *m, int st)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < m->nconv; i++)
		n += m->c[i].state == st;
	return n;
}

/* Applies one random operation to txn t; returns 0 when none was possible. */
static int child_op(convlog_db *db, convlog_txn *t, model *m, uint64_t *rs)
{
	static char buf[MAX_CONTENT];
	rec r = {.type = R_OP};
	uint32_t active = count_state(m, C_ACTIVE), archived = count_state(m, C_ARCHIVED);
	uint64_t dice = tu_rand(rs) % 100;
	int64_t c;

	if (active < 4 || dice < 4) {
		convlog_conv cv;
		char title[48];
		r.op = OP_CREATE;
		r.conv = m->next_conv;
		convlog_conv_init(&cv);
		cv.id = conv_uuid(r.conv);
		title_of(r.conv, title, sizeof(title));
		cv.title = title;
		cv.user_id = "compact-crash";
		must(convlog_conv_create(db, t, &cv, NULL), "conv_create");
	} else if (dice < 72 && (c = pick(m, rs, C_ACTIVE, 0)) >= 0) {
		convlog_msg msg;
		r.op = OP_APPEND;
		r.conv = (uint32_t)c;
		r.seq = m->c[c].n + 1;
		r.tok = m->next_tok;
		convlog_msg_init(&msg);
		msg.id = msg_uuid(r.conv, r.seq);
		msg.conv_id = conv_uuid(r.conv);
		msg.seq = r.seq;
		msg.role = r.seq % 2 ? "user" : "assistant";
		msg.content = buf;
		msg.content_len = content_for(r.tok, buf, sizeof(buf));
		msg.token_count = (int64_t)(msg.content_len / 4);
		must(convlog_msg_append(db, t, &msg, NULL), "msg_append");
	} else if (dice < 86 && (c = pick(m, rs, C_ACTIVE, 1)) >= 0) {
		convlog_msg f;
		r.op = OP_SUPERSEDE;
		r.conv = (uint32_t)c;
		r.seq = 1 + (uint32_t)(tu_rand(rs) % m->c[c].n);
		r.tok = m->next_tok;
		convlog_msg_init(&f);
		f.content = buf;
		f.content_len = content_for(r.tok, buf, sizeof(buf));
		convlog_uuid cid = conv_uuid(r.conv);
		must(convlog_msg_supersede(db, t, &cid, r.seq, &f, CONVLOG_MSG_CONTENT), "msg_supersede");
	} else if (dice < 91 && active > 4 && (c = pick(m, rs, C_ACTIVE, 1)) >= 0) {
		r.op = OP_ARCHIVE;
		r.conv = (uint32_t)c;
		convlog_uuid cid = conv_uuid(r.conv);
		must(convlog_conv_archive(db, t, &cid), "conv_archive");
	} else if (dice < 94 && archived && (c = pick(m, rs, C_ARCHIVED, 0)) >= 0) {
		r.op = OP_UNARCHIVE;
		r.conv = (uint32_t)c;
		convlog_uuid cid = conv_uuid(r.conv);
		must(convlog_conv_set_status(db, t, &cid, CONVLOG_STATUS_ACTIVE), "unarchive");
	} else if (dice >= 97 && active + archived > 6) {
		c = tu_rand(rs) % 3 == 0 && archived ? pick(m, rs, C_ARCHIVED, 0)
						     : pick(m, rs, C_ACTIVE, 0);
		if (c < 0)
			return 0;
		r.op = OP_PURGE;
		r.conv = (uint32_t)c;
		convlog_uuid cid = conv_uuid(r.conv);
		must(convlog_conv_delete(db, t, &cid), "conv_delete");
		must(convlog_conv_purge(db, t, &cid), "conv_purge");
	} else {
		return 0;
	}
	send_rec(&r);
	apply_op(m, &r);
	return 1;
}

static int child_progress(void *ud, uint64_t done, uint64_t total)
{
	rec r = {.type = R_CPHASE, .tok = done, .aux = total};

	(void)ud;
	send_rec(&r);
	return 0;
}

static void child_compact(convlog_db *db, uint64_t *rs)
{
	convlog_compact_opts o;
	convlog_compact_stats st = {.version = CONVLOG_COMPACT_VERSION};
	uint64_t k = tu_rand(rs) % 10;
	int use_opts = 1;

	convlog_compact_opts_init(&o);
	o.flags = k < 4 ? 0 : k < 7 ? CONVLOG_COMPACT_FULL : k < 9 ? CONVLOG_COMPACT_ARCHIVE
								: CONVLOG_COMPACT_FULL | CONVLOG_COMPACT_ARCHIVE;
	if (tu_rand(rs) % 3 == 0)
		o.garbage_pct = 5 + (unsigned)(tu_rand(rs) % 60);
	if (tu_rand(rs) % 4 == 0) /* paced: the kill then often lands between blocks */
		o.io_bytes_per_sec = (2 + tu_rand(rs) % 14) << 20;
	if (o.flags == 0 && o.garbage_pct == 0 && o.io_bytes_per_sec == 0 && tu_rand(rs) % 2)
		use_opts = 0;
	rec r = {.type = R_CSTART, .aux = o.flags};
	send_rec(&r);
	int64_t c0 = debug ? now_ns() : 0;
	must(convlog_compact(db, use_opts ? &o : NULL, child_progress, NULL, &st), "compact");
	if (debug)
		fprintf(stderr,
			"  child: compact flags %u budget %llu: %.1f ms, %llu/%llu segments rewritten, "
			"%llu written, %llu records, erased %d\n",
			o.flags, (unsigned long long)o.io_bytes_per_sec, (double)(now_ns() - c0) / 1e6,
			(unsigned long long)st.segments_rewritten, (unsigned long long)st.segments_before,
			(unsigned long long)st.segments_written, (unsigned long long)st.records_moved,
			st.erased);
	r.type = R_CEND;
	r.aux = st.segments_rewritten;
	send_rec(&r);
}

static void child_main(uint64_t seed)
{
	convlog_options *o = opts();
	convlog_db *db = NULL;
	uint64_t rs = seed | 1;
	model *m = &M; /* the parent's model, as of the fork */

	int64_t o0 = now_ns();
	must(convlog_open(path, o, &db), "open");
	if (debug)
		fprintf(stderr, "  child: open %.1f ms\n", (double)(now_ns() - o0) / 1e6);
	convlog_options_free(o);
	rec r = {.type = R_READY};
	send_rec(&r);
	for (;;) {
		int ntx = 1 + (int)(tu_rand(&rs) % 3);
		for (int i = 0; i < ntx; i++) {
			convlog_txn *t;
			int nops = 1 + (int)(tu_rand(&rs) % 10), done = 0;
			must(convlog_txn_begin(db, &t), "txn_begin");
			for (int j = 0; j < nops * 3 && done < nops; j++)
				done += child_op(db, t, m, &rs);
			if (!done) {
				convlog_txn_abort(t);
				continue;
			}
			int64_t c0 = debug ? now_ns() : 0;
			must(convlog_txn_commit(t), "txn_commit");
			if (debug)
				fprintf(stderr, "  child: commit of %d ops: %.2f ms\n", done,
					(double)(now_ns() - c0) / 1e6);
			r.type = R_COMMIT;
			send_rec(&r);
		}
		if (tu_rand(&rs) % 10 < 7)
			child_compact(db, &rs);
	}
}

/* ---- the parent: reading the pipe ---- */

typedef struct pstate {
	rec *pend; /* operations of the transaction in flight */
	size_t npend, pcap;
	int ready;
	int in_compact;     /* R_CSTART seen, R_CEND not yet */
	int ncb;            /* progress callbacks of the current compaction */
	uint64_t cb_done, cb_total;
	unsigned cflags;
	uint64_t commits, cstarted, cended;
	int ev_rewrite, ev_rewritten; /* a compaction's first / last progress call seen */
	uint8_t part[sizeof(rec)];
	size_t npart;
} pstate;

static void on_rec(pstate *ps, const rec *r)
{
	switch (r->type) {
	case R_READY:
		ps->ready = 1;
		break;
	case R_OP:
		if (ps->npend == ps->pcap) {
			ps->pcap = ps->pcap ? ps->pcap * 2 : 16;
			ps->pend = realloc(ps->pend, ps->pcap * sizeof(*ps->pend));
			ck_assert_ptr_nonnull(ps->pend);
		}
		ps->pend[ps->npend++] = *r;
		note_ids(&M, r);
		break;
	case R_COMMIT:
		for (size_t i = 0; i < ps->npend; i++)
			apply_op(&M, &ps->pend[i]);
		ps->npend = 0;
		ps->commits++;
		break;
	case R_CSTART:
		ps->in_compact = 1;
		ps->ncb = 0;
		ps->cflags = (unsigned)r->aux;
		ps->cstarted++;
		break;
	case R_CPHASE:
		ps->ncb++;
		ps->cb_done = r->tok;
		ps->cb_total = r->aux;
		if (ps->ncb == 1)
			ps->ev_rewrite = 1;
		else if (r->tok == r->aux)
			ps->ev_rewritten = 1;
		break;
	case R_CEND:
		ps->in_compact = 0;
		ps->cended++;
		break;
	default:
		CHK(0, "unknown record type %u on the pipe", r->type);
	}
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

enum { UNTIL_DEADLINE, UNTIL_READY, UNTIL_REWRITE, UNTIL_REWRITTEN };

static int reached(const pstate *ps, int until)
{
	return until == UNTIL_READY ? ps->ready
	       : until == UNTIL_REWRITE ? ps->ev_rewrite
	       : until == UNTIL_REWRITTEN ? ps->ev_rewritten
				       : 0;
}

/* Reads records until `deadline` (0: none) or the event `until`; returns 1
 * at end of file. */
static int drain(int fd, pstate *ps, int64_t deadline, int until)
{
	uint8_t buf[8192];

	for (;;) {
		if (reached(ps, until))
			return 0;
		int64_t left = deadline - now_ns();
		if (deadline && left <= 0)
			return 0;
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		int to = deadline ? (int)((left + 999999) / 1000000) : -1;
		int pr = poll(&pf, 1, to);
		if (pr < 0 && errno == EINTR)
			continue;
		CHK(pr >= 0, "poll: %s", strerror(errno));
		if (pr == 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		CHK(n >= 0, "read: %s", strerror(errno));
		if (n == 0)
			return 1;
		for (ssize_t i = 0; i < n; i++) {
			ps->part[ps->npart++] = buf[i];
			if (ps->npart == sizeof(rec)) {
				rec r;
				memcpy(&r, ps->part, sizeof(r));
				ps->npart = 0;
				on_rec(ps, &r);
			}
		}
	}
}

/* ---- the parent: checks ---- */

static int conv_status_of(int st)
{
	return st == C_ARCHIVED ? CONVLOG_STATUS_ARCHIVED : CONVLOG_STATUS_ACTIVE;
}

static void model_clone(model *dst, const model *src)
{
	*dst = *src;
	dst->c = calloc(src->nconv ? src->nconv : 1, sizeof(*dst->c));
	dst->dead = malloc((src->deadcap ? src->deadcap : 1) * sizeof(*dst->dead));
	ck_assert_ptr_nonnull(dst->c);
	ck_assert_ptr_nonnull(dst->dead);
	if (src->ndead)
		memcpy(dst->dead, src->dead, src->ndead * sizeof(*dst->dead));
	for (uint32_t i = 0; i < src->nconv; i++) {
		dst->c[i] = src->c[i];
		dst->c[i].tok = malloc((src->c[i].cap ? src->c[i].cap : 1) * sizeof(uint64_t));
		ck_assert_ptr_nonnull(dst->c[i].tok);
		if (src->c[i].n)
			memcpy(dst->c[i].tok, src->c[i].tok, src->c[i].n * sizeof(uint64_t));
	}
}

static void model_free(model *m)
{
	for (uint32_t i = 0; i < m->nconv; i++)
		free(m->c[i].tok);
	free(m->c);
	free(m->dead);
	memset(m, 0, sizeof(*m));
}

static int exists(int st)
{
	return st == C_ACTIVE || st == C_ARCHIVED;
}

/* The token a stored message's content starts with (0 when none). */
static uint64_t content_tok(const convlog_msg *msg)
{
	uint64_t tok = 0, mul = 1;
	size_t i = 2;

	if (msg->content_len < 3 || msg->content[0] != 'q' || msg->content[1] != 'x')
		return 0;
	for (; i < msg->content_len && msg->content[i] >= 'a' && msg->content[i] <= 'z'; i++) {
		tok += (uint64_t)(msg->content[i] - 'a') * mul;
		mul *= 26;
	}
	return tok;
}

/*
 * Whether the transaction in flight at the kill is in the store: `with` is
 * the model with it, M the model without.  The first observable fact in
 * which they differ (existence, status, message count, a message's
 * version) is read from the store; the full check that follows confirms
 * every other effect of the transaction agrees (all or nothing).  Returns
 * 1 when the store has it, 0 when not (or when it changed nothing
 * observable).
 */
static int inflight_committed(convlog_db *db, const model *with)
{
	static const mconv none = {0};

	for (uint32_t i = 0; i < with->nconv; i++) {
		const mconv *a = i < M.nconv ? &M.c[i] : &none, *b = &with->c[i];
		convlog_uuid cid = conv_uuid(i);
		convlog_conv *cv = NULL;
		int rc;

		if (exists(a->state) != exists(b->state)) {
			rc = convlog_conv_get(db, &cid, &cv);
			convlog_conv_free(cv);
			CHK(rc == 0 || rc == CONVLOG_ENOTFOUND, "conv_get %u: %d %s", i, rc,
			    convlog_errmsg());
			return (rc == 0) == exists(b->state);
		}
		if (!exists(b->state))
			continue;
		if (a->state != b->state || a->n != b->n) {
			rc = convlog_conv_get(db, &cid, &cv);
			CHK(rc == 0, "conversation %u is missing: %d %s", i, rc, convlog_errmsg());
			int in = a->state != b->state ? cv->status == conv_status_of(b->state)
						      : cv->message_count == b->n;
			convlog_conv_free(cv);
			return in;
		}
		for (uint32_t s = 1; s <= b->n; s++) {
			if (a->tok[s - 1] == b->tok[s - 1])
				continue;
			convlog_msg *msg = NULL;
			rc = convlog_msg_get(db, &cid, s, &msg);
			CHK(rc == 0, "message %u/%u is missing: %d %s", i, s, rc, convlog_errmsg());
			int in = content_tok(msg) == b->tok[s - 1];
			convlog_msg_free(msg);
			return in;
		}
	}
	return 0;
}

static size_t search_hits(convlog_db *db, uint64_t tok, convlog_uuid *conv, uint32_t *seq)
{
	convlog_search_query q;
	convlog_search_result *res;
	char w[24];
	size_t n;

	tok_word(tok, w);
	convlog_search_query_init(&q);
	q.query = w;
	q.limit = 5;
	OKR(convlog_search(db, &q, &res));
	n = res->n_hits;
	if (n && conv)
		*conv = res->hits[0].conv_id;
	if (n && seq)
		*seq = res->hits[0].seq;
	convlog_search_result_free(res);
	return n;
}

/* Everything the model says is in the store, and nothing else. */
static void check_model(convlog_db *db, uint64_t *rs, const char *when)
{
	static char want[MAX_CONTENT];
	uint64_t live_convs = 0, live_msgs = 0;

	for (uint32_t i = 0; i < M.nconv; i++) {
		mconv *c = &M.c[i];
		convlog_uuid cid = conv_uuid(i);
		convlog_conv *cv = NULL;
		int rc = convlog_conv_get(db, &cid, &cv);
		if (c->state == C_NONE || c->state == C_PURGED) {
			CHK(rc == CONVLOG_ENOTFOUND, "%s: conversation %u (%s) should not exist: get -> %d",
			    when, i, c->state == C_NONE ? "never committed" : "purge acknowledged", rc);
			for (uint32_t s = 1; s <= c->n; s++) {
				convlog_msg *mm = NULL;
				convlog_uuid mid = msg_uuid(i, s);
				rc = convlog_msg_get_by_id(db, &mid, &mm);
				convlog_msg_free(mm);
				CHK(rc == CONVLOG_ENOTFOUND,
				    "%s: message %u/%u of purged conversation readable by id (%d)", when, i,
				    s, rc);
			}
			continue;
		}
		CHK(rc == 0, "%s: conversation %u missing: %d (%s) %s", when, i, rc,
		    convlog_strerror(rc), convlog_errmsg());
		CHK(cv->status == conv_status_of(c->state), "%s: conversation %u has status %d, expected %d",
		    when, i, cv->status, conv_status_of(c->state));
		CHK(cv->message_count == c->n, "%s: conversation %u has %llu messages, %u acknowledged",
		    when, i, (unsigned long long)cv->message_count, c->n);
		convlog_conv_free(cv);
		live_convs++;
		live_msgs += c->n;

		convlog_msg_iter *it;
		const convlog_msg *mm;
		OKR(convlog_msg_range(db, &cid, CONVLOG_RANGE_ALL, 0, 0, &it));
		for (uint32_t s = 1; s <= c->n; s++) {
			rc = convlog_msg_iter_next(it, &mm);
			CHK(rc == 0, "%s: conversation %u: message %u (token %llu) missing from its range: %d %s",
			    when, i, s, (unsigned long long)c->tok[s - 1], rc, convlog_errmsg());
			size_t n = content_for(c->tok[s - 1], want, sizeof(want));
			CHK(mm->seq == s, "%s: conversation %u: seq %u where %u was expected", when, i,
			    mm->seq, s);
			CHK(mm->content_len == n && memcmp(mm->content, want, n) == 0,
			    "%s: conversation %u message %u: content is not the acknowledged version "
			    "(token %llu, %zu bytes; read %zu bytes starting \"%.24s\")",
			    when, i, s, (unsigned long long)c->tok[s - 1], n, mm->content_len,
			    mm->content_len ? mm->content : "");
			convlog_uuid mid = msg_uuid(i, s);
			CHK(memcmp(&mm->id, &mid, sizeof(mid)) == 0, "%s: message %u/%u has another id",
			    when, i, s);
		}
		rc = convlog_msg_iter_next(it, &mm);
		CHK(rc == CONVLOG_DONE, "%s: conversation %u has more than its %u messages (%d)", when, i,
		    c->n, rc);
		convlog_msg_iter_free(it);
		/* by id, a few */
		for (int k = 0; k < 2 && c->n; k++) {
			uint32_t s = 1 + (uint32_t)(tu_rand(rs) % c->n);
			convlog_uuid mid = msg_uuid(i, s);
			convlog_msg *m1 = NULL;
			rc = convlog_msg_get_by_id(db, &mid, &m1);
			CHK(rc == 0, "%s: message %u/%u not found by id: %d %s", when, i, s, rc,
			    convlog_errmsg());
			size_t n = content_for(c->tok[s - 1], want, sizeof(want));
			CHK(m1->seq == s && m1->content_len == n && memcmp(m1->content, want, n) == 0,
			    "%s: message %u/%u by id: wrong seq or content", when, i, s);
			convlog_msg_free(m1);
		}
	}

	convlog_stats st = {.version = CONVLOG_STATS_VERSION};
	OKR(convlog_stats_get(db, &st));
	CHK(st.conversations == live_convs && st.messages == live_msgs && st.deleted_conversations == 0,
	    "%s: stats count %llu conversations / %llu messages / %llu deleted; the model %llu / %llu / 0",
	    when, (unsigned long long)st.conversations, (unsigned long long)st.messages,
	    (unsigned long long)st.deleted_conversations, (unsigned long long)live_convs,
	    (unsigned long long)live_msgs);

	/* search: a sample of live tokens exactly once, dead ones never */
	for (int k = 0; k < 12 && live_msgs; k++) {
		uint32_t i = (uint32_t)(tu_rand(rs) % M.nconv);
		mconv *c = &M.c[i];
		if ((c->state != C_ACTIVE && c->state != C_ARCHIVED) || !c->n)
			continue;
		uint32_t s = 1 + (uint32_t)(tu_rand(rs) % c->n), hs = 0;
		convlog_uuid hc, cid = conv_uuid(i);
		size_t n = search_hits(db, c->tok[s - 1], &hc, &hs);
		CHK(n == 1 && hs == s && memcmp(&hc, &cid, sizeof(cid)) == 0,
		    "%s: search for token %llu (message %u/%u): %zu hits", when,
		    (unsigned long long)c->tok[s - 1], i, s, n);
	}
	for (int k = 0; k < 8 && M.ndead; k++) {
		uint64_t tok = M.dead[tu_rand(rs) % M.ndead];
		size_t n = search_hits(db, tok, NULL, NULL);
		CHK(n == 0, "%s: search for dead token %llu (superseded or purged): %zu hits", when,
		    (unsigned long long)tok, n);
	}
}

static void print_problem(void *ud, const char *where, const char *what)
{
	fprintf(stderr, "[%s] %s: verify: %s: %s\n", ctx, (const char *)ud, where, what);
}

/* tu_verify_clean, with the seed and round in the failure message. */
static void verify_clean(convlog_db *db, const char *when)
{
	uint64_t n = 0;

	OKR(convlog_verify(db, print_problem, (void *)when, &n));
	CHK(n == 0, "%s: convlog_verify found %llu problems (printed above)", when,
	    (unsigned long long)n);
}

static int has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && strcmp(s + n - m, suf) == 0;
}

static int parse_seg_name(const char *name, uint64_t *id)
{
	uint64_t v = 0;

	if (strlen(name) != 20 || strcmp(name + 16, ".seg") != 0)
		return -1;
	for (int i = 0; i < 16; i++) {
		char ch = name[i];
		int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
		if (d < 0)
			return -1;
		v = v << 4 | (uint64_t)d;
	}
	*id = v;
	return 0;
}

/* The segments directory agrees with what the open store counts. */
static void check_dir(convlog_db *db, uint64_t *segments, uint64_t *segment_bytes)
{
	char dir[300], p[600];
	uint64_t nseg = 0, bytes = 0;
	DIR *d;
	struct dirent *e;

	snprintf(dir, sizeof(dir), "%s/segments", path);
	d = opendir(dir);
	CHK(d != NULL, "opendir %s: %s", dir, strerror(errno));
	while ((e = readdir(d))) {
		uint64_t id;
		struct stat sb;
		if (e->d_name[0] == '.')
			continue;
		CHK(!has_suffix(e->d_name, ".tmp"), "after compaction, segments/%s is left over",
		    e->d_name);
		if (parse_seg_name(e->d_name, &id) != 0)
			continue; /* dictionaries */
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		CHK(stat(p, &sb) == 0, "stat %s: %s", p, strerror(errno));
		nseg++;
		bytes += (uint64_t)sb.st_size;
	}
	closedir(d);
	convlog_stats st = {.version = CONVLOG_STATS_VERSION};
	OKR(convlog_stats_get(db, &st));
	CHK(st.segments == nseg && st.segment_bytes == bytes,
	    "after compaction: segments/ holds %llu .seg files of %llu bytes; the store counts %llu "
	    "segments of %llu bytes",
	    (unsigned long long)nseg, (unsigned long long)bytes, (unsigned long long)st.segments,
	    (unsigned long long)st.segment_bytes);
	*segments = st.segments;
	*segment_bytes = st.segment_bytes;
}

static uint64_t get_u64be(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static uint64_t get_u64le(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

/* With the store closed: which erasure flags LMDB's meta table holds, and
 * whether a meta.compact directory (an unfinished LMDB rewrite) exists. */
static void erase_state(char *out, size_t cap)
{
	char meta[300], mc[300];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, v;
	int lsn = 0, pending = 0, ok = 0;
	struct stat sb;

	snprintf(meta, sizeof(meta), "%s/meta", path);
	snprintf(mc, sizeof(mc), "%s/meta.compact", path);
	if (!mdb_env_create(&env)) {
		mdb_env_set_maxdbs(env, 64);
		mdb_env_set_mapsize(env, (size_t)1 << 36);
		if (!mdb_env_open(env, meta, MDB_RDONLY | MDB_NOLOCK, 0644) &&
		    !mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) {
			if (!mdb_dbi_open(txn, "meta", 0, &dbi)) {
				ok = 1;
				k.mv_size = 9;
				k.mv_data = "erase_lsn";
				lsn = mdb_get(txn, dbi, &k, &v) == 0;
				k.mv_size = 10;
				k.mv_data = "erase_meta";
				pending = mdb_get(txn, dbi, &k, &v) == 0;
			}
			mdb_txn_abort(txn);
		}
		mdb_env_close(env);
	}
	snprintf(out, cap, "%s%s%s%s", ok ? "" : "meta unreadable ", lsn ? "erase_lsn " : "",
		 pending ? "erase_meta " : "", stat(mc, &sb) == 0 ? "meta.compact/ " : "");
	if (!*out)
		snprintf(out, cap, "none");
}

/*
 * With the store closed: every compacted .seg file is in LMDB's manifest,
 * every log .seg file either is or belongs to the log tail (at or after
 * the replay position), and every manifest entry has its file.  Anything
 * else is what remove_leftovers would delete at the next open: the
 * compaction before the close should have left none of it.
 */
static void check_manifest(void)
{
	char meta[300], dir[300], p[600];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi segs_dbi, meta_dbi;
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t *man = NULL, *manv = NULL, replay_seg = 0;
	size_t nman = 0, cap = 0;
	int mrc;

	snprintf(meta, sizeof(meta), "%s/meta", path);
	snprintf(dir, sizeof(dir), "%s/segments", path);
	CHK(mdb_env_create(&env) == 0, "mdb_env_create");
	mdb_env_set_maxdbs(env, 64);
	mdb_env_set_mapsize(env, (size_t)1 << 36);
	mrc = mdb_env_open(env, meta, MDB_RDONLY | MDB_NOLOCK, 0644);
	CHK(mrc == 0, "mdb_env_open %s: %s", meta, mdb_strerror(mrc));
	CHK(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0, "mdb_txn_begin");
	CHK(mdb_dbi_open(txn, "segments", 0, &segs_dbi) == 0, "no segments table");
	CHK(mdb_dbi_open(txn, "meta", 0, &meta_dbi) == 0, "no meta table");
	k.mv_size = 10;
	k.mv_data = "replay_pos";
	if (mdb_get(txn, meta_dbi, &k, &v) == 0 && v.mv_size == 16)
		replay_seg = get_u64le(v.mv_data);
	CHK(mdb_cursor_open(txn, segs_dbi, &cur) == 0, "cursor");
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); !mrc;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		CHK(k.mv_size == 8, "manifest key of %zu bytes", k.mv_size);
		if (nman == cap) {
			cap = cap ? cap * 2 : 64;
			man = realloc(man, cap * sizeof(*man));
			manv = realloc(manv, cap * sizeof(*manv));
			ck_assert_ptr_nonnull(man);
			ck_assert_ptr_nonnull(manv);
		}
		manv[nman] = v.mv_size == 8 ? get_u64le(v.mv_data) : 0;
		man[nman++] = get_u64be(k.mv_data);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	mdb_env_close(env);

	/* every manifest entry has its file */
	for (size_t i = 0; i < nman; i++) {
		struct stat sb;
		snprintf(p, sizeof(p), "%s/%016" PRIx64 ".seg", dir, man[i]);
		CHK(stat(p, &sb) == 0, "manifest lists segment %016" PRIx64 " (size %" PRIu64
		    ") but its file is missing", man[i], manv[i]);
	}
	/* every file is listed, or is log tail */
	DIR *d = opendir(dir);
	struct dirent *e;
	CHK(d != NULL, "opendir %s", dir);
	while ((e = readdir(d))) {
		uint64_t id;
		if (parse_seg_name(e->d_name, &id) != 0)
			continue;
		int listed = 0;
		for (size_t i = 0; i < nman && !listed; i++)
			listed = man[i] == id;
		if (listed)
			continue;
		uint8_t hdr[64] = {0};
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		int fd = open(p, O_RDONLY);
		CHK(fd >= 0, "open %s: %s", p, strerror(errno));
		ssize_t n = read(fd, hdr, sizeof(hdr));
		close(fd);
		uint32_t flags = (uint32_t)hdr[12] | (uint32_t)hdr[13] << 8 | (uint32_t)hdr[14] << 16 |
				 (uint32_t)hdr[15] << 24;
		CHK(n == (ssize_t)sizeof(hdr) && !(flags & 1u) && id >= replay_seg,
		    "segments/%s (%s, header flags %u) is not in the manifest and is no log tail "
		    "(replay position in segment %016" PRIx64 ")",
		    e->d_name, n == (ssize_t)sizeof(hdr) ? "complete header" : "short header", flags,
		    replay_seg);
	}
	closedir(d);
	free(man);
	free(manv);
}

/*
 * After the parent's compaction, no file of the store may hold the title of
 * a purged conversation (convlog_conv_purge, convlog_compact: "no byte of
 * the purged conversations remains in any file of the store").  Live
 * titles are the control: at least one must be found, or the search
 * proves nothing.
 */
typedef struct scan {
	uint32_t *found_purged; /* per conversation: where its title was found */
	char (*where)[128];
	int live_found;
} scan;

static void scan_file(const char *p, const char *rel, scan *sc)
{
	int fd = open(p, O_RDONLY);
	struct stat sb;

	if (fd < 0)
		return; /* vanished meanwhile: nothing to check */
	CHK(fstat(fd, &sb) == 0, "fstat %s", p);
	size_t n = (size_t)sb.st_size;
	char *b = malloc(n ? n : 1);
	ck_assert_ptr_nonnull(b);
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, b + got, n - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	for (uint32_t i = 0; i < M.nconv; i++) {
		char title[48];
		int st = M.c[i].state;
		if (st != C_PURGED && !(exists(st) && !sc->live_found))
			continue;
		title_of(i, title, sizeof(title));
		if (!memmem(b, got, title, strlen(title)))
			continue;
		if (st == C_PURGED) {
			if (!sc->found_purged[i]++)
				snprintf(sc->where[i], sizeof(sc->where[i]), "%s", rel);
		} else {
			sc->live_found = 1;
		}
	}
	free(b);
}

static void scan_dir(const char *dir, const char *rel, scan *sc)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	CHK(d != NULL, "opendir %s: %s", dir, strerror(errno));
	while ((e = readdir(d))) {
		char p[700], r[300];
		struct stat sb;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		snprintf(r, sizeof(r), "%s%s%s", rel, *rel ? "/" : "", e->d_name);
		if (lstat(p, &sb) != 0)
			continue;
		if (S_ISDIR(sb.st_mode))
			scan_dir(p, r, sc);
		else if (S_ISREG(sb.st_mode))
			scan_file(p, r, sc);
	}
	closedir(d);
}

static void check_erased(void)
{
	scan sc = {0};
	uint32_t live = 0;

	sc.found_purged = calloc(M.nconv ? M.nconv : 1, sizeof(*sc.found_purged));
	sc.where = calloc(M.nconv ? M.nconv : 1, sizeof(*sc.where));
	ck_assert_ptr_nonnull(sc.found_purged);
	ck_assert_ptr_nonnull(sc.where);
	for (uint32_t i = 0; i < M.nconv; i++)
		live += exists(M.c[i].state);
	scan_dir(path, "", &sc);
	CHK(!live || sc.live_found, "control: no live conversation's title is found in any file");
	for (uint32_t i = 0; i < M.nconv; i++)
		CHK(!sc.found_purged[i],
		    "after the parent's compaction, the title of purged conversation %u (purged in "
		    "round %d) is still in %u file(s), e.g. %s; this round: %s",
		    i, M.c[i].purge_round, sc.found_purged[i], sc.where[i], erase_ctx);
	free(sc.found_purged);
	free(sc.where);
}

/* ---- the test ---- */

typedef struct tally {
	int rounds, in_open, in_writes, in_compact, exited;
	int compact_phase[3]; /* prepare, rewrite, after rewrite */
	int compact_flags[8];
	int inflight, inflight_committed;
	int targeted, targeted_hit; /* rounds waiting for a compaction event; got it */
	uint64_t commits, cstarted, cended;
	uint64_t segments, segment_bytes; /* after the last round */
	int purged;
	int meta_compact_left; /* rounds that ended with STORE/meta.compact/ */
} tally;

START_TEST(compact_crash__sigkill_during_compaction_loses_nothing)
{
	const char *env_rounds = getenv("CONVLOG_COMPACT_CRASH_ROUNDS");
	const char *env_seed = getenv("CONVLOG_COMPACT_CRASH_SEED");
	int rounds = env_rounds ? atoi(env_rounds) : DEFAULT_ROUNDS;
	uint64_t seed = env_seed ? strtoull(env_seed, NULL, 0) : DEFAULT_SEED;
	uint64_t rs = seed ? seed : 1, crs = seed ^ UINT64_C(0xA5A5A5A5A5A5A5A5);
	tally t = {0};
	int64_t t0 = now_ns();
	/* CONVLOG_COMPACT_CRASH_NO_ERASE=1 skips the erasure check (purged
	 * bytes in no file), to run the loss checks alone */
	const char *env_ne = getenv("CONVLOG_COMPACT_CRASH_NO_ERASE");
	int skip_erase = env_ne && *env_ne && strcmp(env_ne, "0") != 0;

	signal(SIGPIPE, SIG_IGN);
	debug = getenv("CONVLOG_COMPACT_CRASH_DEBUG") != NULL;
	fprintf(stderr, "compact crash test: %d rounds, seed %llu (CONVLOG_COMPACT_CRASH_SEED)\n",
		rounds, (unsigned long long)seed);
	tu_tmppath(path, sizeof(path), "compact-crash");
	memset(&M, 0, sizeof(M));
	M.next_tok = 1;
	for (int round = 0; round < rounds; round++) {
		pstate ps = {0};
		int fds[2];
		pid_t pid;

		snprintf(ctx, sizeof(ctx), "seed %llu round %d", (unsigned long long)seed, round);
		cur_round = round;
		ck_assert_int_eq(pipe(fds), 0);
		uint64_t child_seed = tu_rand(&crs);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(fds[0]);
			pipe_fd = fds[1];
			signal(SIGPIPE, SIG_DFL);
			child_main(child_seed);
			_exit(0);
		}
		close(fds[1]);
		CHK(fcntl(fds[0], F_SETFL, O_NONBLOCK) == 0, "fcntl");
		/*
		 * When the kill lands:
		 *  12%  0..30 ms after the fork (often inside open/recovery);
		 *  56%  0..150 ms after the store is open;
		 *  12%  150..600 ms after (the store grows, segments roll by size);
		 *  10%  0..60 ms after a compaction's first progress call (it has
		 *       planned and starts copying and switching outputs);
		 *  10%  0..25 ms after its last one (victims dropped; LMDB erasure
		 *       or repack next).
		 * The last two wait up to 2 s for their event, then kill anyway.
		 */
		int eof = 0;
		uint64_t dice = tu_rand(&rs) % 100;
		int64_t us = (int64_t)tu_rand(&rs);
		if (dice < 12) {
			eof = drain(fds[0], &ps, now_ns() + us % 30000 * 1000, UNTIL_DEADLINE);
		} else {
			eof = drain(fds[0], &ps, now_ns() + INT64_C(30) * 1000000000, UNTIL_READY);
			CHK(ps.ready || eof, "the child did not open the store within 30 s");
			if (!eof && dice >= 80) {
				int ev = dice < 90 ? UNTIL_REWRITE : UNTIL_REWRITTEN;
				eof = drain(fds[0], &ps, now_ns() + INT64_C(2000000000), ev);
				us = ev == UNTIL_REWRITE ? us % 60001 : us % 25001;
				t.targeted++;
				t.targeted_hit += reached(&ps, ev);
			} else {
				us = dice < 68 ? us % 150001 : 150000 + us % 450001;
			}
			if (!eof)
				eof = drain(fds[0], &ps, now_ns() + us * 1000, UNTIL_DEADLINE);
		}
		kill(pid, SIGKILL);
		int status;
		CHK(waitpid(pid, &status, 0) == pid, "waitpid");
		if (!eof)
			drain(fds[0], &ps, 0, UNTIL_DEADLINE);
		close(fds[0]);
		CHK(ps.npart == 0, "a partial record (%zu bytes) on the pipe", ps.npart);
		CHK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		    "the child ended on its own (exit status %d): see its message above",
		    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		t.rounds++;
		t.commits += ps.commits;
		t.cstarted += ps.cstarted;
		t.cended += ps.cended;
		if (!ps.ready) {
			t.in_open++;
		} else if (ps.in_compact) {
			t.in_compact++;
			t.compact_flags[ps.cflags & 7]++;
			t.compact_phase[ps.ncb == 0 ? 0 : (ps.ncb >= 2 && ps.cb_done == ps.cb_total) ? 2 : 1]++;
		} else {
			t.in_writes++;
		}

		char flags_kill[96], flags_end[96], kill_at[96];
		erase_state(flags_kill, sizeof(flags_kill));
		snprintf(kill_at, sizeof(kill_at), "%s",
			 !ps.ready ? "during open" : !ps.in_compact ? "during writes"
			 : ps.ncb == 0 ? "in a compaction, before its first progress call"
			 : (ps.ncb >= 2 && ps.cb_done == ps.cb_total) ? "in a compaction, after its last progress call"
			 : "in a compaction, between its progress calls");
		/* reopen as the writer: recovery and remove_leftovers run */
		convlog_options *o = opts();
		convlog_db *db = NULL;
		int rc = convlog_open(path, o, &db);
		convlog_options_free(o);
		CHK(rc == 0, "reopen after the kill (%s): %d (%s): %s", kill_at, rc, convlog_strerror(rc),
		    convlog_errmsg());
		verify_clean(db, "after the kill");
		int in = -1;
		if (ps.npend) {
			model with;
			model_clone(&with, &M);
			for (size_t i = 0; i < ps.npend; i++)
				apply_op(&with, &ps.pend[i]);
			in = inflight_committed(db, &with);
			t.inflight++;
			t.inflight_committed += in;
			if (in) {
				model_free(&M);
				M = with;
			} else {
				model_free(&with);
			}
		}
		char when[96];
		snprintf(when, sizeof(when), "after the kill (%zu ops in flight, first %s, %s)",
			 ps.npend, ps.npend ? op_name(ps.pend[0].op) : "-",
			 in < 0 ? "-" : in ? "judged committed" : "judged not committed");
		check_model(db, &rs, when);

		/* one compaction of the recovered store, then the files */
		convlog_compact_stats cst = {.version = CONVLOG_COMPACT_VERSION};
		OKR(convlog_compact(db, NULL, NULL, NULL, &cst));
		check_dir(db, &t.segments, &t.segment_bytes);
		verify_clean(db, "after the parent's compaction");
		check_model(db, &rs, "after the parent's compaction");
		convlog_close(db);
		check_manifest();
		erase_state(flags_end, sizeof(flags_end));
		snprintf(erase_ctx, sizeof(erase_ctx),
			 "killed %s%s; erasure state after the kill: %s; the parent's compaction: "
			 "%llu segments rewritten, erased %d; erasure state after it: %s",
			 kill_at,
			 !ps.in_compact ? "" : ps.cflags == 0 ? " (flags none)"
			 : ps.cflags == CONVLOG_COMPACT_FULL ? " (flags FULL)"
			 : ps.cflags == CONVLOG_COMPACT_ARCHIVE ? " (flags ARCHIVE)" : " (flags FULL|ARCHIVE)",
			 flags_kill, (unsigned long long)cst.segments_rewritten, cst.erased, flags_end);
		t.meta_compact_left += strstr(flags_end, "meta.compact") != NULL;
		if (!skip_erase)
			check_erased();
		free(ps.pend);
	}
	for (uint32_t i = 0; i < M.nconv; i++)
		t.purged += M.c[i].state == C_PURGED;
	fprintf(stderr,
		"compact crash test: %d kills in %.1f s: %d during open, %d during writes, %d during "
		"compaction (prepare %d, rewrite %d, after rewrite %d; flags none %d, archive %d, "
		"full %d, full|archive %d)\n"
		"  %llu commits, %llu compactions started, %llu finished; %d transactions in flight "
		"at the kill, %d of them committed; %u conversations (%d purged), %zu dead tokens; "
		"at the end %llu segments of %llu bytes; %d rounds waited for a compaction event, "
		"%d saw it; %d rounds left STORE/meta.compact/ behind%s\n",
		t.rounds, (double)(now_ns() - t0) / 1e9, t.in_open, t.in_writes, t.in_compact,
		t.compact_phase[0], t.compact_phase[1], t.compact_phase[2], t.compact_flags[0],
		t.compact_flags[CONVLOG_COMPACT_ARCHIVE], t.compact_flags[CONVLOG_COMPACT_FULL],
		t.compact_flags[CONVLOG_COMPACT_FULL | CONVLOG_COMPACT_ARCHIVE],
		(unsigned long long)t.commits, (unsigned long long)t.cstarted,
		(unsigned long long)t.cended, t.inflight, t.inflight_committed, M.nconv, t.purged, M.ndead,
		(unsigned long long)t.segments, (unsigned long long)t.segment_bytes, t.targeted,
		t.targeted_hit, t.meta_compact_left, skip_erase ? "; erasure not checked" : "");
	ck_assert_uint_gt(t.commits, 0);
	ck_assert_int_gt(t.in_compact, 0);
	model_free(&M);
	tu_rmrf(path);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("compact_crash");
	TCase *tc = tcase_create("compact_crash");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, compact_crash__sigkill_during_compaction_loses_nothing);
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
