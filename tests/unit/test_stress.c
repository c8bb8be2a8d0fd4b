/*
 * Concurrency stress: one writer, several reader threads, explicit
 * compactions and checkpoints from another thread, the background
 * compactor and small-memtable flushes all run at once for a fixed number
 * of operations, while a second process reads the store read-only.
 *
 * The writer keeps invariants that span records and only hold in a
 * consistent snapshot:
 *   - every transaction completes the conversation's last (pending) turn,
 *     may edit an older one, appends 1 to 3 turns of which the last is
 *     pending again, and patches the conversation's metadata to the ledger
 *     {"n": message_count, "tok": token_total};
 *   - a pending turn's content carries the sum of the token counts of the
 *     conversation's own completed turns before it ("L=");
 *   - every turn's content names its conversation, seq and version, and
 *     its token count is a function of seq and version.
 * Readers check, through the public API only: a conversation's aggregates
 * against its ledger (one record); within one msg_range / msg_thread
 * snapshot, dense seqs, only the last turn pending, and the pending turn's
 * ledger against the token counts of the others; message_count read
 * before and after a range brackets the range's length; listed
 * conversations can be read; search hits name messages that exist (or
 * were purged since).  Everything stops at a fixed count of operations;
 * readers are paced by the writer's progress so they overlap it.
 * CONVLOG_STRESS_SCALE multiplies the counts.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define MAX_SLOTS 256
#define MAX_SEQ 1024  /* the writer stops appending to a conversation here */
#define N_READERS 3
#define N_ROOTS 12
#define RO_ROUNDS 40 /* rounds of the read-only process beside the writer */

enum { S_LIVE = 1, S_ARCHIVED, S_DELETED, S_PURGED };

static const char *const words[16] = {
	"amber", "basil", "cedar", "dune",  "ember", "fjord", "grove", "heron",
	"iris",  "juniper", "kelp", "lichen", "moss", "nectar", "orchid", "pebble",
};

/* Filler: a small vocabulary, as real turns have (random letters would make
 * every word a new term and the text index merges the test's bottleneck). */
static const char *const filler[32] = {
	"the",   "flight", "to",     "new",    "york",  "book",   "me",    "a",
	"seat",  "window", "please", "price",  "under", "dollars", "hotel", "near",
	"park",  "late",   "check",  "in",     "train", "from",   "boston", "or",
	"what",  "about",  "friday", "return", "sunday", "evening", "thanks", "ok",
};

/* One conversation as the writer knows it; readers see `id`, `fork_seq`
 * and `state`. */
typedef struct slot {
	convlog_uuid id;
	uint32_t fork_seq;
	_Atomic int state;
	int prev_state; /* before deletion (writer only) */
	int has_forks;  /* never purged: its forks read through it */
	uint32_t n;     /* message_count */
	int64_t tok;    /* token_total: own completed turns */
	uint8_t ver[MAX_SEQ + 1];
} slot;

static struct {
	convlog_db *db;
	slot slots[MAX_SLOTS];
	_Atomic int nslots;      /* published after the creating commit */
	_Atomic int progress;    /* writer transactions committed */
	_Atomic int rprogress[N_READERS]; /* reader operations done */
	int ro_fd;               /* pipe to the read-only process, -1: none */
	_Atomic int failed;
	pthread_mutex_t errmu;
	char err[1024];
	int w_txns, r_ops, compactions;
	/* what the readers did, for the report */
	double t_writer;
	_Atomic long ro_retries;
	_Atomic long ranges, gets, searches, hits, listings, listed, purged_seen;
} G;

static char path[256];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int scale(void)
{
	const char *s = getenv("CONVLOG_STRESS_SCALE");
	int v = s ? atoi(s) : 1;

	return v > 0 ? v : 1;
}

/* Records the first failure; threads then stop. */
static void stress_fail(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&G.errmu);
	if (!atomic_load(&G.failed)) {
		va_start(ap, fmt);
		vsnprintf(G.err, sizeof(G.err), fmt, ap);
		va_end(ap);
		atomic_store(&G.failed, 1);
	}
	pthread_mutex_unlock(&G.errmu);
}

#define CHECK(cond, ...)                                                         \
	do {                                                                     \
		if (!(cond)) {                                                   \
			stress_fail(__VA_ARGS__);                                       \
			return -1;                                               \
		}                                                                \
	} while (0)

#define CALL(expr)                                                               \
	do {                                                                     \
		int _rc = (expr);                                                \
		CHECK(_rc == 0, "%s:%d: %s -> %s: %s", __FILE__, __LINE__, #expr,  \
		      convlog_strerror(_rc), convlog_errmsg());                  \
	} while (0)

static void nap_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
	nanosleep(&ts, NULL);
}

static int64_t tok_of(uint32_t seq, unsigned ver)
{
	return 1 + (int64_t)((seq * 7u + ver * 13u) % 50u);
}

/* ------------------------------------------------------------------------ */
/* Content: "c=<uuid> s=<seq> v=<ver> st=<P|C> L=<ledger> w=<w1> <w2> pad"    */
/* ------------------------------------------------------------------------ */

static size_t make_content(char *buf, size_t cap, const convlog_uuid *conv, uint32_t seq,
			   unsigned ver, int pending, int64_t ledger, uint64_t *rng)
{
	char u[CONVLOG_UUID_STRLEN];
	size_t n;
	size_t pad = 100 + tu_rand(rng) % 1400;

	convlog_uuid_format(conv, u);
	n = (size_t)snprintf(buf, cap, "c=%s s=%u v=%u st=%c L=%" PRId64 " w=%s %s ", u, seq, ver,
			     pending ? 'P' : 'C', pending ? ledger : (int64_t)0, words[seq % 16],
			     words[(seq / 16 + 5) % 16]);
	while (n < pad && n + 16 < cap)
		n += (size_t)snprintf(buf + n, cap - n, "%s ", filler[tu_rand(rng) % 32]);
	buf[n] = '\0';
	return n;
}

typedef struct parsed {
	char conv[CONVLOG_UUID_STRLEN];
	unsigned seq, ver;
	char st;
	long long ledger;
} parsed;

/* Checks one message on its own: content, seq, conversation, status and
 * token count agree.  *p receives what its content says. */
static int check_msg(const convlog_msg *m, parsed *p)
{
	char u[CONVLOG_UUID_STRLEN], head[160];
	size_t hl = m->content_len < sizeof(head) - 1 ? m->content_len : sizeof(head) - 1;

	memcpy(head, m->content, hl);
	head[hl] = '\0';
	CHECK(sscanf(head, "c=%36s s=%u v=%u st=%c L=%lld", p->conv, &p->seq, &p->ver, &p->st,
		     &p->ledger) == 5,
	      "message %u: unexpected content \"%.60s\"", m->seq, head);
	convlog_uuid_format(&m->conv_id, u);
	CHECK(!strcmp(u, p->conv), "message %u: conv_id %s but content written for %s", m->seq, u,
	      p->conv);
	CHECK(p->seq == m->seq, "message %u of %s: content written for seq %u", m->seq, u, p->seq);
	if (p->st == 'P') {
		CHECK(m->status == CONVLOG_MSG_PENDING && m->token_count == -1 && p->ver == 0,
		      "message %u of %s: pending content but status %d, tokens %" PRId64, m->seq, u,
		      m->status, m->token_count);
	} else {
		CHECK(m->status == CONVLOG_MSG_COMPLETED && m->token_count == tok_of(p->seq, p->ver),
		      "message %u of %s v%u: completed content but status %d, tokens %" PRId64
		      " (expected %" PRId64 ")",
		      m->seq, u, p->ver, m->status, m->token_count, tok_of(p->seq, p->ver));
	}
	CHECK(strstr(head, words[m->seq % 16]) != NULL, "message %u of %s lacks its word", m->seq,
	      u);
	return 0;
}

/* The conversation record agrees with its ledger (one snapshot). */
static int check_ledger(const convlog_conv *c)
{
	long long n = -1, tok = -1;
	char u[CONVLOG_UUID_STRLEN];

	convlog_uuid_format(&c->id, u);
	CHECK(c->metadata && sscanf(c->metadata, "{\"n\":%lld,\"tok\":%lld}", &n, &tok) == 2,
	      "conversation %s: metadata %s", u, c->metadata ? c->metadata : "(null)");
	CHECK((long long)c->message_count == n && c->token_total == tok,
	      "conversation %s torn: message_count %" PRIu64 " token_total %" PRId64
	      " but the same commit wrote n=%lld tok=%lld",
	      u, c->message_count, c->token_total, n, tok);
	CHECK(c->message_count >= 1 && c->message_count > c->fork_seq,
	      "conversation %s: %" PRIu64 " messages, fork_seq %u", u, c->message_count, c->fork_seq);
	return 0;
}

/* Walks an iterator that must return seqs first, first + 1, ... of
 * conversation `id` (own turns after fork_seq) up to its pending last turn,
 * all from one snapshot.  *last_seq receives the last seq and *tokens
 * (optional) the token counts of the own completed turns read. */
static int check_iter(convlog_msg_iter *it, const convlog_uuid *id, uint32_t fork_seq,
		      uint32_t first, uint32_t *last_seq, int64_t *tokens, const char *what)
{
	const convlog_msg *m;
	parsed p;
	uint32_t expect = first, n = 0;
	int64_t own_tokens = 0, rc;
	int pending_at = 0;
	long long ledger = -1;
	char u[CONVLOG_UUID_STRLEN];

	convlog_uuid_format(id, u);
	while ((rc = convlog_msg_iter_next(it, &m)) == 0) {
		CHECK(m->seq == expect, "%s of %s: seq %u where %u was due", what, u, m->seq, expect);
		if (check_msg(m, &p))
			return -1;
		if (m->seq > fork_seq) {
			CHECK(!memcmp(&m->conv_id, id, sizeof(*id)),
			      "%s of %s: own seq %u belongs to another conversation", what, u,
			      m->seq);
		} else {
			CHECK(memcmp(&m->conv_id, id, sizeof(*id)) && p.st == 'C',
			      "%s of %s: inherited seq %u is its own or pending", what, u, m->seq);
		}
		CHECK(!pending_at, "%s of %s: seq %u follows pending seq %d in one snapshot", what,
		      u, m->seq, pending_at);
		if (p.st == 'P') {
			pending_at = (int)m->seq;
			ledger = p.ledger;
		} else if (m->seq > fork_seq) {
			own_tokens += m->token_count;
		}
		expect++;
		n++;
	}
	CHECK(rc == CONVLOG_DONE, "%s of %s: iterator failed at seq %u: %s: %s", what, u, expect,
	      convlog_strerror((int)rc), convlog_errmsg());
	CHECK(n > 0 && pending_at == (int)(expect - 1),
	      "%s of %s: %u messages, the last (%u) not pending", what, u, n, expect - 1);
	/* the whole own part was read: the pending turn's ledger must hold */
	if (first <= fork_seq + 1)
		CHECK(ledger == own_tokens,
		      "%s of %s: torn snapshot: pending seq %d says its conversation's completed "
		      "turns hold %lld tokens, the snapshot's hold %" PRId64,
		      what, u, pending_at, ledger, own_tokens);
	*last_seq = expect - 1;
	if (tokens)
		*tokens = own_tokens;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Reader checks, shared by reader threads and the read-only process.        */
/* `gone` says whether ENOTFOUND is acceptable for this id right now (NULL:  */
/* always, for the process that cannot know).                               */
/* ------------------------------------------------------------------------ */

typedef int (*gone_fn)(const convlog_uuid *id);

static int get_conv(convlog_db *db, const convlog_uuid *id, gone_fn gone, convlog_conv **out)
{
	char u[CONVLOG_UUID_STRLEN];
	int rc;

	*out = NULL;
	rc = convlog_conv_get(db, id, out);
	if (rc)
		*out = NULL;
	if (rc == CONVLOG_ENOTFOUND) {
		convlog_uuid_format(id, u);
		CHECK(!gone || gone(id), "conversation %s not found but never purged", u);
		atomic_fetch_add(&G.purged_seen, 1);
		return 1;
	}
	CALL(rc);
	return check_ledger(*out);
}

/* get, range ALL, get: the range is one snapshot between the two. */
static int check_range(convlog_db *db, const convlog_uuid *id, gone_fn gone)
{
	convlog_conv *c0 = NULL, *c1 = NULL;
	convlog_msg_iter *it = NULL;
	uint32_t last = 0;
	int64_t tokens = 0;
	int rc;

	if ((rc = get_conv(db, id, gone, &c0)))
		return rc < 0 ? rc : 0;
	rc = convlog_msg_range(db, id, CONVLOG_RANGE_ALL, 0, 0, &it);
	if (rc == CONVLOG_ENOTFOUND && (!gone || gone(id))) {
		convlog_conv_free(c0);
		return 0;
	}
	if (rc) {
		convlog_conv_free(c0);
		CALL(rc);
	}
	rc = check_iter(it, id, c0->fork_seq, 1, &last, &tokens, "range");
	convlog_msg_iter_free(it);
	atomic_fetch_add(&G.ranges, 1);
	if (!rc && !(rc = get_conv(db, id, gone, &c1)) && c1) {
		/* message_count only grows, and every commit that changes
		 * token_total also appends: a range as long as a conv_get's
		 * count read the same state */
		if (last < c0->message_count || last > c1->message_count ||
		    (last == c0->message_count && tokens != c0->token_total) ||
		    (last == c1->message_count && tokens != c1->token_total))
			rc = -1;
		if (rc)
			stress_fail("range of %s read %u messages holding %" PRId64
			     " tokens between conv_gets of %" PRIu64 " (%" PRId64 " tokens) and %" PRIu64
			     " (%" PRId64 " tokens)",
			     c0->title, last, tokens, c0->message_count, c0->token_total,
			     c1->message_count, c1->token_total);
	}
	convlog_conv_free(c0);
	convlog_conv_free(c1);
	return rc < 0 ? -1 : 0;
}

/* RANGE_LAST and the thread to the tip, each one snapshot. */
static int check_last_and_thread(convlog_db *db, const convlog_uuid *id, gone_fn gone)
{
	convlog_conv *c = NULL;
	convlog_msg_iter *it = NULL;
	const convlog_msg *m;
	uint32_t last = 0;
	int rc;

	if ((rc = get_conv(db, id, gone, &c)))
		return rc < 0 ? rc : 0;
	uint32_t fork_seq = c->fork_seq;
	uint64_t n0 = c->message_count;
	convlog_conv_free(c);
	rc = convlog_msg_range(db, id, CONVLOG_RANGE_LAST, 3, 0, &it);
	if (rc == CONVLOG_ENOTFOUND && (!gone || gone(id)))
		return 0;
	CALL(rc);
	/* the first of the last three: peek, then check the rest in order */
	rc = convlog_msg_iter_next(it, &m);
	if (rc) {
		convlog_msg_iter_free(it);
		CHECK(0, "RANGE_LAST 3 returned nothing: %s", convlog_errmsg());
	}
	parsed p;
	uint32_t first = m->seq;
	rc = check_msg(m, &p);
	if (!rc && p.st == 'P') {
		/* a one-turn conversation: nothing after it */
		if (convlog_msg_iter_next(it, &m) != CONVLOG_DONE)
			rc = -1, stress_fail("RANGE_LAST: a turn after pending seq %u", first);
		last = first;
	} else if (!rc) {
		rc = check_iter(it, id, fork_seq, first + 1, &last, NULL, "last 3");
	}
	convlog_msg_iter_free(it);
	if (rc)
		return -1;
	CHECK(last >= n0 && (last - first == 2 || first == 1),
	      "RANGE_LAST 3 returned %u..%u, message_count was %" PRIu64 " before", first, last,
	      n0);
	rc = convlog_msg_thread(db, id, 0, &it);
	if (rc == CONVLOG_ENOTFOUND && (!gone || gone(id)))
		return 0;
	CALL(rc);
	rc = check_iter(it, id, fork_seq, 1, &last, NULL, "thread");
	convlog_msg_iter_free(it);
	return rc;
}

static int check_point_reads(convlog_db *db, const convlog_uuid *id, gone_fn gone,
			     uint64_t *rng)
{
	convlog_conv *c = NULL;
	convlog_msg *m = NULL, *m2 = NULL;
	parsed p;
	int rc;

	if ((rc = get_conv(db, id, gone, &c)))
		return rc < 0 ? rc : 0;
	uint32_t seq = 1 + (uint32_t)(tu_rand(rng) % c->message_count);
	convlog_conv_free(c);
	rc = convlog_msg_get(db, id, seq, &m);
	if (rc == CONVLOG_ENOTFOUND && (!gone || gone(id)))
		return 0;
	CALL(rc);
	rc = check_msg(m, &p);
	convlog_uuid owner = m->conv_id, mid = m->id;
	convlog_msg_free(m);
	if (rc)
		return -1;
	rc = convlog_msg_get_by_id(db, &mid, &m2);
	if (rc == CONVLOG_ENOTFOUND && (!gone || gone(&owner)))
		return 0;
	CALL(rc);
	rc = check_msg(m2, &p);
	if (!rc && (m2->seq != seq || memcmp(&m2->conv_id, &owner, sizeof(owner))))
		rc = -1, stress_fail("msg_get_by_id named another message");
	convlog_msg_free(m2);
	atomic_fetch_add(&G.gets, 1);
	return rc;
}

static int check_search(convlog_db *db, gone_fn gone, uint64_t *rng)
{
	convlog_search_query q;
	convlog_search_result *r = NULL;
	const char *w = words[tu_rand(rng) % 16];

	convlog_search_query_init(&q);
	q.query = w;
	q.limit = 30;
	q.include_deleted = 1;
	q.order = tu_rand(rng) % 2 ? CONVLOG_SEARCH_NEWEST : CONVLOG_SEARCH_RELEVANCE;
	CALL(convlog_search(db, &q, &r));
	for (size_t i = 0; i < r->n_hits; i++) {
		convlog_msg *m = NULL;
		parsed p;
		int rc = convlog_msg_get(db, &r->hits[i].conv_id, r->hits[i].seq, &m);
		if (rc == CONVLOG_ENOTFOUND && (!gone || gone(&r->hits[i].conv_id)))
			continue;
		if (rc) {
			convlog_search_result_free(r);
			CALL(rc);
		}
		rc = check_msg(m, &p);
		if (!rc && !memmem(m->content, m->content_len, w, strlen(w)))
			rc = -1, stress_fail("search hit %u for \"%s\" does not contain it", m->seq, w);
		convlog_msg_free(m);
		if (rc) {
			convlog_search_result_free(r);
			return -1;
		}
	}
	atomic_fetch_add(&G.searches, 1);
	atomic_fetch_add(&G.hits, (long)r->n_hits);
	convlog_search_result_free(r);
	return 0;
}

/* A listing (one snapshot): every entry is consistent and readable. */
static int check_listing(convlog_db *db, const char *user, int include_deleted, gone_fn gone,
			 int deep)
{
	convlog_conv_filter f;
	convlog_conv_iter *it = NULL;
	const convlog_conv *c;
	convlog_uuid ids[MAX_SLOTS];
	uint64_t counts[MAX_SLOTS];
	int n = 0, rc;

	convlog_conv_filter_init(&f);
	f.user_id = user;
	f.include_deleted = include_deleted;
	CALL(convlog_conv_list(db, &f, &it));
	while ((rc = convlog_conv_iter_next(it, &c)) == 0) {
		if (check_ledger(c)) {
			convlog_conv_iter_free(it);
			return -1;
		}
		if (!include_deleted && c->status == CONVLOG_STATUS_DELETED) {
			convlog_conv_iter_free(it);
			CHECK(0, "a deleted conversation in a listing without deleted ones");
		}
		if (user && (!c->user_id || strcmp(c->user_id, user))) {
			convlog_conv_iter_free(it);
			CHECK(0, "listing of %s returned a conversation of %s", user,
			      c->user_id ? c->user_id : "nobody");
		}
		if (n < MAX_SLOTS) {
			ids[n] = c->id;
			counts[n++] = c->message_count;
		}
	}
	convlog_conv_iter_free(it);
	CHECK(rc == CONVLOG_DONE, "listing failed: %s", convlog_errmsg());
	atomic_fetch_add(&G.listings, 1);
	atomic_fetch_add(&G.listed, n);
	for (int i = 0; i < n; i++) {
		convlog_conv *g = NULL;
		if ((rc = get_conv(db, &ids[i], gone, &g)) < 0)
			return -1;
		if (g) {
			rc = g->message_count >= counts[i] ? 0 : -1;
			convlog_conv_free(g);
			CHECK(!rc, "a listed conversation went back in time");
		}
		if (deep && check_range(db, &ids[i], gone))
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Writer                                                                    */
/* ------------------------------------------------------------------------ */

static int slot_gone(const convlog_uuid *id)
{
	int n = atomic_load(&G.nslots);

	for (int i = 0; i < n; i++)
		if (!memcmp(&G.slots[i].id, id, sizeof(*id)))
			return atomic_load(&G.slots[i].state) == S_PURGED;
	return 0;
}

static int patch_ledger(convlog_txn *t, slot *s)
{
	convlog_conv f;
	char meta[80];

	convlog_conv_init(&f);
	snprintf(meta, sizeof(meta), "{\"n\":%u,\"tok\":%" PRId64 "}", s->n, s->tok);
	f.metadata = meta;
	CALL(convlog_conv_patch(G.db, t, &s->id, &f, CONVLOG_CONV_METADATA));
	return 0;
}

/* One turn inside `t`: maybe edit an older own turn, complete the pending
 * one, append 1..3 turns (the last pending), patch the ledger. */
static int turn(convlog_txn *t, slot *s, uint64_t *rng)
{
	static char buf[2048];
	convlog_msg m;
	size_t len;

	if (s->n > s->fork_seq + 1 && tu_rand(rng) % 4 == 0) {
		uint32_t e = s->fork_seq + 1 + (uint32_t)(tu_rand(rng) % (s->n - 1 - s->fork_seq));
		unsigned v = s->ver[e] + 1u;
		if (v < 250) {
			len = make_content(buf, sizeof(buf), &s->id, e, v, 0, 0, rng);
			convlog_msg_init(&m);
			m.content = buf;
			m.content_len = len;
			m.token_count = tok_of(e, v);
			CALL(convlog_msg_supersede(G.db, t, &s->id, e, &m,
						   CONVLOG_MSG_CONTENT | CONVLOG_MSG_TOKEN_COUNT));
			s->tok += tok_of(e, v) - tok_of(e, s->ver[e]);
			s->ver[e] = (uint8_t)v;
		}
	}
	if (s->n > s->fork_seq) { /* complete the pending turn */
		len = make_content(buf, sizeof(buf), &s->id, s->n, 1, 0, 0, rng);
		convlog_msg_init(&m);
		m.content = buf;
		m.content_len = len;
		m.status = CONVLOG_MSG_COMPLETED;
		m.token_count = tok_of(s->n, 1);
		CALL(convlog_msg_supersede(G.db, t, &s->id, s->n, &m,
					   CONVLOG_MSG_CONTENT | CONVLOG_MSG_STATUS |
						   CONVLOG_MSG_TOKEN_COUNT));
		s->ver[s->n] = 1;
		s->tok += tok_of(s->n, 1);
	}
	int b = 1 + (int)(tu_rand(rng) % 3);
	for (int i = 0; i < b; i++) {
		uint32_t seq = s->n + 1, got = 0;
		int pending = i == b - 1;
		len = make_content(buf, sizeof(buf), &s->id, seq, pending ? 0 : 1, pending, s->tok,
				   rng);
		convlog_msg_init(&m);
		m.conv_id = s->id;
		m.role = seq % 2 ? "user" : "assistant";
		m.content = buf;
		m.content_len = len;
		m.status = pending ? CONVLOG_MSG_PENDING : CONVLOG_MSG_COMPLETED;
		m.token_count = pending ? -1 : tok_of(seq, 1);
		CALL(convlog_msg_append(G.db, t, &m, &got));
		CHECK(got == seq, "append got seq %u, expected %u", got, seq);
		s->n = seq;
		s->ver[seq] = pending ? 0 : 1;
		if (!pending)
			s->tok += tok_of(seq, 1);
	}
	return patch_ledger(t, s);
}

/* A random slot in `state` (and fit for `purpose`), or -1. */
static int pick(int state, int purpose, uint64_t *rng)
{
	int n = atomic_load(&G.nslots), start = (int)(tu_rand(rng) % (uint64_t)n);

	for (int k = 0; k < n; k++) {
		slot *s = &G.slots[(start + k) % n];
		if (atomic_load(&s->state) != state)
			continue;
		if (purpose == 't' && s->n + 4 >= MAX_SEQ)
			continue;
		if (purpose == 'p' && s->has_forks)
			continue;
		if (purpose == 'f' && s->n < 1)
			continue;
		return (start + k) % n;
	}
	return -1;
}

static int count_state(int state)
{
	int n = atomic_load(&G.nslots), c = 0;

	for (int i = 0; i < n; i++)
		c += atomic_load(&G.slots[i].state) == state;
	return c;
}

/* Creates (fork_of < 0) or forks a conversation with its first turn. */
static int create(int fork_of, uint64_t *rng)
{
	int i = atomic_load(&G.nslots);
	slot *s = &G.slots[i];
	convlog_txn *t = NULL;
	char title[32];

	CHECK(i < MAX_SLOTS, "out of slots");
	memset(s, 0, sizeof(*s));
	CALL(convlog_txn_begin(G.db, &t));
	snprintf(title, sizeof(title), "stress %d", i);
	if (fork_of < 0) {
		convlog_conv c;
		char user[8];
		convlog_conv_init(&c);
		snprintf(user, sizeof(user), "u%d", i % 4);
		c.user_id = user;
		c.title = title;
		c.metadata = "{\"n\":0,\"tok\":0}";
		if (convlog_conv_create(G.db, t, &c, &s->id)) {
			convlog_txn_abort(t);
			CALL(-1);
		}
	} else {
		slot *p = &G.slots[fork_of];
		convlog_conv o;
		convlog_conv_init(&o);
		o.title = title;
		s->fork_seq = (uint32_t)(tu_rand(rng) % p->n); /* before p's pending turn */
		s->n = s->fork_seq;
		p->has_forks = 1;
		if (convlog_conv_fork(G.db, t, &p->id, s->fork_seq, &o, CONVLOG_CONV_TITLE, &s->id)) {
			convlog_txn_abort(t);
			CALL(-1);
		}
	}
	if (turn(t, s, rng)) {
		convlog_txn_abort(t);
		return -1;
	}
	CALL(convlog_txn_commit(t));
	atomic_store(&s->state, S_LIVE);
	atomic_store(&G.nslots, i + 1);
	return 0;
}

static int lifecycle(uint64_t *rng, int what)
{
	int i;
	slot *s;

	switch (what) {
	case 'd': /* soft delete */
		if ((i = pick(tu_rand(rng) % 3 ? S_LIVE : S_ARCHIVED, 0, rng)) < 0)
			return 0;
		s = &G.slots[i];
		CALL(convlog_conv_delete(G.db, NULL, &s->id));
		s->prev_state = atomic_load(&s->state);
		atomic_store(&s->state, S_DELETED);
		return 0;
	case 'r': /* restore */
		if ((i = pick(S_DELETED, 0, rng)) < 0)
			return 0;
		s = &G.slots[i];
		CALL(convlog_conv_restore(G.db, NULL, &s->id));
		atomic_store(&s->state, s->prev_state);
		return 0;
	case 'p': /* purge: flagged before the commit, so readers may miss it */
		if ((i = pick(S_DELETED, 'p', rng)) < 0)
			return 0;
		s = &G.slots[i];
		atomic_store(&s->state, S_PURGED);
		CALL(convlog_conv_purge(G.db, NULL, &s->id));
		return 0;
	case 'a': /* archive: no more turns */
		if (count_state(S_LIVE) < 6 || (i = pick(S_LIVE, 0, rng)) < 0)
			return 0;
		s = &G.slots[i];
		CALL(convlog_conv_archive(G.db, NULL, &s->id));
		atomic_store(&s->state, S_ARCHIVED);
		return 0;
	}
	return 0;
}

static int write_one(uint64_t *rng)
{
	unsigned r = (unsigned)(tu_rand(rng) % 100);
	int i;

	if (count_state(S_LIVE) < 6 || (r < 4 && atomic_load(&G.nslots) < MAX_SLOTS - 8))
		return create(-1, rng);
	if (r < 8 && atomic_load(&G.nslots) < MAX_SLOTS - 8 && (i = pick(S_LIVE, 'f', rng)) >= 0)
		return create(i, rng);
	if (r < 12)
		return lifecycle(rng, 'd');
	if (r < 14)
		return lifecycle(rng, 'r');
	if (r < 17)
		return lifecycle(rng, 'p');
	if (r < 19)
		return lifecycle(rng, 'a');
	if ((i = pick(S_LIVE, 't', rng)) < 0)
		return create(-1, rng);
	convlog_txn *t = NULL;
	CALL(convlog_txn_begin(G.db, &t));
	if (turn(t, &G.slots[i], rng)) {
		convlog_txn_abort(t);
		return -1;
	}
	CALL(convlog_txn_commit(t));
	return 0;
}

/* The writer keeps within a few operations of the slowest reader, so that
 * they overlap from start to end whatever their speeds. */
static void writer_pace(int k)
{
	for (int i = 0; i < N_READERS; i++) {
		long want = (long)G.r_ops * k / G.w_txns - 4;
		while (atomic_load(&G.rprogress[i]) < want && !atomic_load(&G.failed))
			nap_us(100);
	}
}

static void *writer(void *arg)
{
	uint64_t rng = 0x5eed;
	int ro_sent = 0;

	(void)arg;
	for (int k = 0; k < G.w_txns && !atomic_load(&G.failed); k++) {
		writer_pace(k);
		if (write_one(&rng))
			break;
		atomic_store(&G.progress, k + 1);
		/* the read-only process reads a round per share of the work */
		while (G.ro_fd >= 0 && ro_sent < (long)RO_ROUNDS * (k + 1) / G.w_txns) {
			if (write(G.ro_fd, "p", 1) != 1)
				break;
			ro_sent++;
		}
	}
	atomic_store(&G.progress, G.w_txns);
	G.t_writer = now_s();
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Reader threads and the maintenance thread                                 */
/* ------------------------------------------------------------------------ */

/* Waits until the writer has done `share` of its work (stops on failure). */
static void pace(long done, long total)
{
	long want = (long)G.w_txns * done / total;

	while (atomic_load(&G.progress) < want && !atomic_load(&G.failed))
		nap_us(200);
}

static void *reader(void *arg)
{
	uint64_t rng = 0x1234 + (uint64_t)(uintptr_t)arg * 7919;
	char user[8];

	for (int k = 0; k < G.r_ops && !atomic_load(&G.failed); k++) {
		pace(k, G.r_ops);
		int n = atomic_load(&G.nslots);
		const convlog_uuid *id = &G.slots[tu_rand(&rng) % (uint64_t)n].id;
		int rc = 0;
		switch (tu_rand(&rng) % 6) {
		case 0:
		case 1:
			rc = check_range(G.db, id, slot_gone);
			break;
		case 2:
			rc = check_last_and_thread(G.db, id, slot_gone);
			break;
		case 3:
			rc = check_point_reads(G.db, id, slot_gone, &rng);
			break;
		case 4:
			rc = check_search(G.db, slot_gone, &rng);
			break;
		case 5:
			snprintf(user, sizeof(user), "u%d", (int)(tu_rand(&rng) % 4));
			rc = check_listing(G.db, tu_rand(&rng) % 2 ? user : NULL,
					   (int)(tu_rand(&rng) % 2), slot_gone, 0);
			break;
		}
		if (rc)
			break;
		atomic_store(&G.rprogress[(uintptr_t)arg], k + 1);
	}
	atomic_store(&G.rprogress[(uintptr_t)arg], G.r_ops);
	return NULL;
}

/* Explicit compactions (archive, full, plain), checkpoints and index
 * merges, spread over the writer's run. */
static void *maintainer(void *arg)
{
	(void)arg;
	for (int k = 0; k < G.compactions && !atomic_load(&G.failed); k++) {
		pace(k, G.compactions);
		convlog_compact_opts o;
		convlog_compact_stats st = {.version = CONVLOG_COMPACT_VERSION};
		int rc;
		convlog_compact_opts_init(&o);
		o.flags = k % 3 == 1 ? CONVLOG_COMPACT_ARCHIVE : k % 3 == 2 ? CONVLOG_COMPACT_FULL : 0;
		if ((rc = convlog_compact(G.db, &o, NULL, NULL, &st))) {
			stress_fail("compact %d: %s: %s", k, convlog_strerror(rc), convlog_errmsg());
			break;
		}
		if ((rc = convlog_checkpoint(G.db)) ||
		    (k % 4 == 3 && (rc = convlog_index_merge(G.db, k % 8 == 7 ? CONVLOG_MERGE_ALL : 0)))) {
			stress_fail("checkpoint/merge %d: %s: %s", k, convlog_strerror(rc), convlog_errmsg());
			break;
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* The read-only process                                                     */
/* ------------------------------------------------------------------------ */


/* Every conversation the listing shows, checked as the threads do. */
static int ro_round(convlog_db *db, int deep)
{
	uint64_t rng = 99;

	for (int tries = 0;; tries++) {
		int rc = check_listing(db, NULL, 1, NULL, deep);
		if (!rc)
			rc = check_search(db, NULL, &rng);
		/* A read fails with EIO when the writer flushed 8 times while
		 * this handle caught up once (cvl_db_snapshot): liveness under
		 * load, not consistency, so the round is read again. */
		if (!rc || tries == 8 || !strstr(G.err, "flushes faster than this read-only handle"))
			return rc;
		atomic_fetch_add(&G.ro_retries, 1);
		G.err[0] = '\0';
		atomic_store(&G.failed, 0);
	}
}

static void ro_problem(void *ud, const char *where, const char *what)
{
	(void)ud;
	fprintf(stderr, "read-only process: verify: %s: %s\n", where, what);
}

static int ro_main(const char *store, int rfd, int wfd)
{
	convlog_options *o = NULL;
	convlog_db *db = NULL;
	convlog_stats st = {.version = CONVLOG_STATS_VERSION};
	unsigned long long want_msgs = 0, want_convs = 0;
	char line[128];
	ssize_t got;
	int rc;

	pthread_mutex_init(&G.errmu, NULL);
	if (convlog_options_new(&o) || convlog_options_set_open_flags(o, CONVLOG_OPEN_READONLY))
		return 2;
	if ((rc = convlog_open(store, o, &db))) {
		fprintf(stderr, "read-only open: %s\n", convlog_errmsg());
		return 2;
	}
	convlog_options_free(o);
	rc = ro_round(db, 1);
	if (write(wfd, "R", 1) != 1)
		return 2;
	/* beside the writer: a fixed count of rounds, each when the writer
	 * says it has done another share of its work: a listing with every
	 * conversation's range, then a search */
	for (int k = 0; k < RO_ROUNDS && !rc; k++) {
		if (read(rfd, line, 1) != 1)
			rc = -1, stress_fail("the writer went away");
		else
			rc = ro_round(db, 1);
	}
	/* the writer's final state, once it has checkpointed */
	if (!rc) {
		got = read(rfd, line, sizeof(line) - 1);
		line[got > 0 ? got : 0] = '\0';
		if (sscanf(line, "%llu %llu", &want_msgs, &want_convs) != 2)
			rc = -1, stress_fail("no final state from the writer");
	}
	for (int tries = 0; !rc; tries++) {
		if ((rc = convlog_stats_get(db, &st))) {
			stress_fail("stats: %s", convlog_errmsg());
			break;
		}
		if (st.messages == want_msgs && st.conversations == want_convs)
			break;
		if (tries == 200) {
			rc = -1;
			stress_fail("read-only handle stuck at %" PRIu64 " messages, %" PRIu64
			     " conversations; the writer has %llu, %llu",
			     st.messages, st.conversations, want_msgs, want_convs);
		}
		nap_us(20000);
	}
	if (!rc)
		rc = ro_round(db, 1);
	/* Off by default: beside a writer whose background compactor merges
	 * the text index, this verify sometimes counts a few superseded
	 * versions as searchable (the read-only handle's index lags the
	 * writer's merge until the next flush); see issue 9's report. */
	if (!rc && getenv("CONVLOG_STRESS_RO_VERIFY")) {
		uint64_t problems = 0;
		if (convlog_verify(db, ro_problem, NULL, &problems) || problems)
			rc = -1, stress_fail("verify on the read-only handle: %" PRIu64 " problems", problems);
	}
	convlog_close(db);
	if (rc) {
		fprintf(stderr, "read-only process: %s\n", G.err);
		return 1;
	}
	fprintf(stderr,
		"read-only process: %d rounds (%ld read again: the writer flushed faster than it "
		"caught up), %ld ranges, %ld searches; final %llu messages\n",
		RO_ROUNDS + 2, atomic_load(&G.ro_retries), atomic_load(&G.ranges),
		atomic_load(&G.searches), want_msgs);
	return 0;
}

/* Starts the read-only process; returns its pid, fds to talk to it. */
static pid_t ro_start(int *to_child, int *from_child)
{
	int down[2], up[2];
	char a1[16], a2[16];
	pid_t pid;

	ck_assert_int_eq(pipe2(down, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(up, O_CLOEXEC), 0);
	snprintf(a1, sizeof(a1), "%d", down[0]);
	snprintf(a2, sizeof(a2), "%d", up[1]);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		fcntl(down[0], F_SETFD, 0);
		fcntl(up[1], F_SETFD, 0);
		execl("/proc/self/exe", "test_stress", "--read-only-reader", path, a1, a2, (char *)NULL);
		_exit(3);
	}
	close(down[0]);
	close(up[1]);
	*to_child = down[1];
	*from_child = up[0];
	return pid;
}

/* ------------------------------------------------------------------------ */

static void setup(void)
{
	tu_tmppath(path, sizeof(path), "stress");
}

static void teardown(void)
{
	tu_rmrf(path);
}

static void log_fn(void *ud, int level, const char *msg)
{
	(void)ud;
	if (level == CONVLOG_LOG_WARN)
		fprintf(stderr, "convlog warning: %s\n", msg);
}

START_TEST(test_stress__readers_see_consistent_snapshots_while_writing_and_compacting)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_NORMAL);
	pthread_t w, m, r[N_READERS];
	uint64_t rng = 42;
	int to_child, from_child, status;
	char c, line[128];
	double t0 = now_s(), t_threads, t_child;

	memset(&G, 0, sizeof(G));
	G.ro_fd = -1;
	pthread_mutex_init(&G.errmu, NULL);
	G.w_txns = 1500 * scale();
	G.r_ops = 500 * scale();
	G.compactions = 12 * scale();
	/* each flush costs ~20 ms of fsyncs here: with tu_opts' 64 KiB the
	 * writer waits on flushes most of the time; 1 MiB flushes by age */
	CK_OK(convlog_options_set_memtable_size(o, 1u << 20));
	CK_OK(convlog_options_set_flush_interval_ms(o, 10));
	CK_OK(convlog_options_set_compactor(o, 20, 0));
	CK_OK(convlog_options_set_log(o, log_fn, NULL));
	G.db = tu_open(path, o);
	for (int i = 0; i < N_ROOTS; i++)
		ck_assert_msg(create(-1, &rng) == 0, "%s", G.err);
	CK_OK(convlog_checkpoint(G.db));

	/* the read-only process opens the store and reads it once first */
	pid_t pid = ro_start(&to_child, &from_child);
	ck_assert_msg(read(from_child, &c, 1) == 1, "the read-only process did not start");
	signal(SIGPIPE, SIG_IGN); /* a failed child has gone: its status says why */
	G.ro_fd = to_child;

	pthread_create(&w, NULL, writer, NULL);
	pthread_create(&m, NULL, maintainer, NULL);
	for (intptr_t i = 0; i < N_READERS; i++)
		pthread_create(&r[i], NULL, reader, (void *)i);
	pthread_join(w, NULL);
	pthread_join(m, NULL);
	for (int i = 0; i < N_READERS; i++)
		pthread_join(r[i], NULL);
	t_threads = now_s();
	ck_assert_msg(!atomic_load(&G.failed), "%s", G.err);

	/* tell the read-only process what it must end up seeing */
	convlog_stats st = {.version = CONVLOG_STATS_VERSION};
	CK_OK(convlog_checkpoint(G.db));
	CK_OK(convlog_stats_get(G.db, &st));
	int len = snprintf(line, sizeof(line), "%" PRIu64 " %" PRIu64 "\n", st.messages,
			   st.conversations);
	if (write(to_child, line, (size_t)len) != len)
		fprintf(stderr, "stress: the read-only process is gone\n");
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	t_child = now_s();
	close(to_child);
	close(from_child);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the read-only process failed (status %d): see its stderr", status);

	/* the writer's model, exactly */
	int n = atomic_load(&G.nslots), purged = 0, forks = 0;
	for (int i = 0; i < n; i++) {
		slot *s = &G.slots[i];
		convlog_conv *cv = NULL;
		int rc = convlog_conv_get(G.db, &s->id, &cv);
		if (atomic_load(&s->state) == S_PURGED) {
			ck_assert_int_eq(rc, CONVLOG_ENOTFOUND);
			purged++;
			continue;
		}
		CK_OK(rc);
		ck_assert_uint_eq(cv->message_count, s->n);
		ck_assert_int_eq(cv->token_total, s->tok);
		forks += s->fork_seq > 0 || !convlog_uuid_is_nil(&cv->parent_id);
		convlog_conv_free(cv);
		ck_assert_msg(check_range(G.db, &s->id, NULL) == 0, "%s", G.err);
	}
	tu_verify_clean(G.db);
	/* with the read-only process gone, a compaction may erase */
	CK_OK(convlog_compact(G.db, NULL, NULL, NULL, NULL));
	convlog_close(G.db);
	G.db = tu_open(path, o);
	tu_verify_clean(G.db);
	ck_assert_msg(check_listing(G.db, NULL, 1, slot_gone, 1) == 0, "%s", G.err);
	convlog_close(G.db);
	convlog_options_free(o);
	fprintf(stderr,
		"stress: %d writer txns, %d conversations (%d forks, %d purged), %" PRIu64
		" messages, %" PRIu64 " flushes; %d x %d reader ops: %ld ranges, %ld point reads, %ld searches (%ld "
		"hits), %ld listings (%ld entries), %ld purged seen; %d compactions; writer %.1f s, threads %.1f s, read-only process %.1f s, all %.1f s\n",
		G.w_txns, n, forks, purged, st.messages, st.flushes, N_READERS, G.r_ops, atomic_load(&G.ranges),
		atomic_load(&G.gets), atomic_load(&G.searches), atomic_load(&G.hits),
		atomic_load(&G.listings), atomic_load(&G.listed), atomic_load(&G.purged_seen),
		G.compactions,
		G.t_writer - t0, t_threads - t0, t_child - t0, now_s() - t0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("stress");
	TCase *tc = tcase_create("stress");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_stress__readers_see_consistent_snapshots_while_writing_and_compacting);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "--read-only-reader"))
		return ro_main(argv[2], atoi(argv[3]), atoi(argv[4]));
	return tu_run(suite());
}
