/*
 * Usage analytics: counts, token and cost sums, error counts and latency
 * percentiles over the per-message summaries of the msg table (§7.6),
 * optionally scoped and grouped.  Message content is never read.
 *
 * Scope: one conversation (a prefix scan of the msg table), else the most
 * selective of the session, user and org indexes (walked newest activity
 * first; the other scope fields are checked on each conversation), else
 * the whole msg table in one pass, loading each conversation once only
 * when the grouping or the deleted filter needs it.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "engine/db.h"
#include "model/msg.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/htab.h"
#include "util/uuid.h"

#define LAT_CAP ((size_t)1 << 26) /* known latencies kept per group */
#define DAY_MS INT64_C(86400000)
#define DAY_KEY_MAX 24

typedef struct ugroup {
	cvl_hnode hn;
	struct ugroup *next_all;
	const char *key; /* stored after the struct, NUL-terminated */
	size_t klen;
	uint64_t count, errors;
	int64_t tokens, cost, lat_max;
	int64_t *lat; /* known latencies, in arrival order */
	size_t nlat, latcap;
} ugroup;

typedef struct gkey {
	const char *p;
	size_t n;
} gkey;

typedef struct uctx {
	const convlog_usage_query *q;
	cvl_view v;
	cvl_vcur mc; /* msg table */
	int have_view, have_mc;
	cvl_htab groups;
	ugroup *all;
	ugroup *last;       /* ROLE/MODEL: group of the previous message */
	ugroup *conv_group; /* NONE/ORG/USER: group of the current conversation */
	ugroup *day_group;  /* DAY: group of day number `day` */
	int64_t day;
	uint64_t scanned;
	const cvl_scope *scope; /* a scoped handle's: only its conversations count */
} uctx;

CONVLOG_API void convlog_usage_query_init(convlog_usage_query *q)
{
	if (!q)
		return;
	memset(q, 0, sizeof(*q));
	q->version = CONVLOG_USAGE_VERSION;
	q->group_by = CONVLOG_GROUP_NONE;
}

/* ---- groups ---- */

static int gkey_eq(const cvl_hnode *n, const void *key)
{
	const ugroup *g = (const ugroup *)n;
	const gkey *k = key;

	return g->klen == k->n && (k->n == 0 || memcmp(g->key, k->p, k->n) == 0);
}

/* The group whose key is the `n` bytes at `p`, created when new. */
static int group_get(uctx *x, const char *p, size_t n, ugroup **out)
{
	gkey k = {p, n};
	uint64_t h = XXH3_64bits(p, n);
	ugroup *g = (ugroup *)cvl_htab_find(&x->groups, h, gkey_eq, &k);

	if (!g) {
		if (n > SIZE_MAX - sizeof(*g) - 1 || !(g = cvl_calloc(1, sizeof(*g) + n + 1)))
			return cvl_err(CONVLOG_ENOMEM, "usage: out of memory for a group");
		char *kp = (char *)(g + 1);
		if (n)
			memcpy(kp, p, n);
		kp[n] = '\0';
		g->key = kp;
		g->klen = n;
		g->lat_max = -1;
		g->hn.hash = h;
		cvl_htab_insert(&x->groups, &g->hn);
		g->next_all = x->all;
		x->all = g;
	}
	*out = g;
	return 0;
}

/* Like group_get, remembering the last group (consecutive messages mostly
 * share their role or model). */
static int text_group(uctx *x, const char *p, size_t n, ugroup **out)
{
	ugroup *g = x->last;
	int rc;

	if (!p)
		n = 0;
	if (g && g->klen == n && (n == 0 || memcmp(g->key, p, n) == 0)) {
		*out = g;
		return 0;
	}
	if ((rc = group_get(x, p ? p : "", n, out)))
		return rc;
	x->last = *out;
	return 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b < 0) ? q - 1 : q;
}

/* UTC "YYYY-MM-DD" of day number `z` (days since 1970-01-01, may be
 * negative), by Howard Hinnant's civil_from_days: integer arithmetic only,
 * no time zone or gmtime involved.  Years outside 0..9999 get a sign or
 * more digits. */
static size_t format_day(int64_t z, char out[DAY_KEY_MAX])
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;                                    /* [0, 146096] */
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);             /* [0, 365] */
	int64_t mp = (5 * doy + 2) / 153;                                  /* [0, 11] */
	int d = (int)(doy - (153 * mp + 2) / 5 + 1);
	int m = (int)(mp < 10 ? mp + 3 : mp - 9);
	int64_t y = yoe + era * 400 + (m <= 2);
	int n;

	if (y < 0)
		n = snprintf(out, DAY_KEY_MAX, "-%04lld-%02d-%02d", (long long)-y, m, d);
	else
		n = snprintf(out, DAY_KEY_MAX, "%04lld-%02d-%02d", (long long)y, m, d);
	return n > 0 ? (size_t)n : 0;
}

static int day_group(uctx *x, int64_t created_at, ugroup **out)
{
	int64_t day = floor_div(created_at, DAY_MS);
	char key[DAY_KEY_MAX];
	int rc;

	if (x->day_group && x->day == day) {
		*out = x->day_group;
		return 0;
	}
	if ((rc = group_get(x, key, format_day(day, key), out)))
		return rc;
	x->day_group = *out;
	x->day = day;
	return 0;
}

/* Sets the group every message of conversation `c` falls in, for the
 * groupings that do not depend on the message. */
static int conv_group(uctx *x, const convlog_conv *c)
{
	const char *s = NULL;

	if (x->q->group_by == CONVLOG_GROUP_ORG)
		s = c->org_id;
	else if (x->q->group_by == CONVLOG_GROUP_USER)
		s = c->user_id;
	else
		return 0;
	return text_group(x, s, s ? strlen(s) : 0, &x->conv_group);
}

/* ---- messages ---- */

static int lat_push(ugroup *g, int64_t ms)
{
	if (g->nlat == g->latcap) {
		if (g->latcap >= LAT_CAP)
			return cvl_err(CONVLOG_ETOOBIG,
				       "usage: group '%.64s' has more than %zu known latencies; narrow the query",
				       g->key, LAT_CAP);
		size_t nc = g->latcap ? g->latcap * 2 : 64;
		if (nc > LAT_CAP)
			nc = LAT_CAP;
		int64_t *nl = cvl_realloc(g->lat, nc * sizeof(*nl));
		if (!nl)
			return cvl_err(CONVLOG_ENOMEM, "usage: out of memory for latencies");
		g->lat = nl;
		g->latcap = nc;
	}
	g->lat[g->nlat++] = ms;
	if (ms > g->lat_max)
		g->lat_max = ms;
	return 0;
}

static int add_msg(ugroup *g, const cvl_msg_sum *s)
{
	g->count++;
	if (s->status == CONVLOG_MSG_ERROR)
		g->errors++;
	/* known values are >= 0 (appends refuse other negatives) */
	if (s->tokens >= 0) {
		if (s->tokens > INT64_MAX - g->tokens)
			return cvl_err(CONVLOG_ERANGE, "usage: token sum of group '%.64s' overflows",
				       g->key);
		g->tokens += s->tokens;
	}
	if (s->cost >= 0) {
		if (s->cost > INT64_MAX - g->cost)
			return cvl_err(CONVLOG_ERANGE, "usage: cost sum of group '%.64s' overflows",
				       g->key);
		g->cost += s->cost;
	}
	return s->latency >= 0 ? lat_push(g, s->latency) : 0;
}

static int in_range(const convlog_usage_query *q, int64_t t)
{
	return (!q->since || t >= q->since) && (!q->until || t < q->until);
}

/* Counts the message at the msg cursor (key conv ‖ seq). */
static int take(uctx *x)
{
	const uint8_t *k = x->mc.key;
	uint32_t seq = cvl_get_u32be(k + 16);
	char s[CONVLOG_UUID_STRLEN];
	convlog_uuid id;
	cvl_msg_sum sum;
	ugroup *g = x->conv_group;
	int rc = 0;

	x->scanned++;
	if (cvl_msg_sum_decode(x->mc.val, x->mc.vlen, seq, &sum)) {
		memcpy(id.bytes, k, 16);
		return cvl_err(CONVLOG_ECORRUPT, "message %u of conversation %s: summary is malformed",
			       seq, cvl_uuid_str(&id, s));
	}
	if (!in_range(x->q, sum.created_at))
		return 0;
	switch (x->q->group_by) {
	case CONVLOG_GROUP_ROLE:
		rc = text_group(x, sum.role, sum.role_len, &g);
		break;
	case CONVLOG_GROUP_MODEL:
		rc = text_group(x, sum.model, sum.model_len, &g);
		break;
	case CONVLOG_GROUP_DAY:
		rc = day_group(x, sum.created_at, &g);
		break;
	default:
		break;
	}
	if (rc)
		return rc;
	return add_msg(g, &sum);
}

static int bad_msg_key(void)
{
	return cvl_err(CONVLOG_ECORRUPT, "msg table: a key is not conversation id + seq (20 bytes)");
}

/* Counts every message of conversation `id`. */
static int scan_conv(uctx *x, const convlog_uuid *id)
{
	int rc;

	for (rc = cvl_vcur_seek(&x->mc, id->bytes, 16); rc == 0; rc = cvl_vcur_next(&x->mc)) {
		if (x->mc.klen < 16 || memcmp(x->mc.key, id->bytes, 16) != 0)
			break;
		if (x->mc.klen != 20)
			return bad_msg_key();
		if ((rc = take(x)))
			return rc;
	}
	return rc == CONVLOG_DONE ? 0 : rc;
}

/* ---- conversations ---- */

static int str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/*
 * 1 when conversation `c` is in the query's scope and may hold messages
 * of its time range.  Every append raises last_activity_at to at least
 * the message's created_at, so a conversation last active before `since`
 * holds no message at or after it (walk_index stops on the same ground).
 * convlog_conv_put can store an older last_activity_at than its messages'
 * created_at; such a conversation's newer messages are then missed.
 */
static int conv_wanted(const convlog_usage_query *q, const convlog_conv *c)
{
	if (!q->include_deleted && c->status == CONVLOG_STATUS_DELETED)
		return 0;
	if (q->user_id && !str_eq(c->user_id, q->user_id))
		return 0;
	if (q->org_id && !str_eq(c->org_id, q->org_id))
		return 0;
	if (q->session_id && !str_eq(c->session_id, q->session_id))
		return 0;
	return !q->since || c->last_activity_at >= q->since;
}

/* Loads conversation `id`; *wanted says whether its messages count (and
 * if so its group is set).  `missing_rc` is the error for an absent one
 * (0: not an error, *wanted = 0). */
static int enter_conv(uctx *x, const convlog_uuid *id, int missing_rc, int *wanted)
{
	char s[CONVLOG_UUID_STRLEN];
	convlog_conv *c = NULL;
	int rc;

	*wanted = 0;
	rc = cvl_conv_load(&x->v, id, &c);
	if (rc == CONVLOG_ENOTFOUND && !missing_rc)
		return 0;
	if (rc == CONVLOG_ENOTFOUND)
		return cvl_err(missing_rc, "usage: conversation %s is referenced but does not exist",
			       cvl_uuid_str(id, s));
	if (rc)
		return rc;
	*wanted = cvl_scope_covers(x->scope, c) && conv_wanted(x->q, c);
	if (*wanted)
		rc = conv_group(x, c);
	convlog_conv_free(c);
	return rc;
}

/* Walks index `table` (text ‖ desc(last_activity_at) ‖ id) for `text`. */
static int walk_index(uctx *x, int table, const char *text)
{
	uint8_t pfx[CVL_KEY_MAX];
	size_t plen = cvl_key_text(pfx, text, strlen(text));
	convlog_uuid id;
	cvl_vcur ic;
	int wanted, rc;

	if ((rc = cvl_vcur_open(&x->v, table, &ic)))
		return rc;
	for (rc = cvl_vcur_seek(&ic, pfx, plen); rc == 0; rc = cvl_vcur_next(&ic)) {
		if (ic.klen < plen || memcmp(ic.key, pfx, plen) != 0)
			break;
		if (ic.klen != plen + 24) {
			rc = cvl_err(CONVLOG_ECORRUPT, "index %s: a key has the wrong length",
				     cvl_table_name(table));
			break;
		}
		/* newest activity first: nothing further reaches `since` */
		if (x->q->since && cvl_key_get_desc_time(ic.key + plen) < x->q->since)
			break;
		memcpy(id.bytes, ic.key + plen + 8, 16);
		if ((rc = enter_conv(x, &id, CONVLOG_ECORRUPT, &wanted)))
			break;
		if (wanted && (rc = scan_conv(x, &id)))
			break;
	}
	cvl_vcur_close(&ic);
	return rc == CONVLOG_DONE ? 0 : rc;
}

/* One pass over the whole msg table.  Keys are grouped by conversation,
 * so each conversation is loaded (when needed) once, and skipped whole. */
static int scan_all(uctx *x)
{
	const convlog_usage_query *q = x->q;
	int need = !q->include_deleted || q->group_by == CONVLOG_GROUP_ORG ||
		   q->group_by == CONVLOG_GROUP_USER;
	uint8_t past[21];
	convlog_uuid cur;
	int have = 0, wanted, rc;

	rc = cvl_vcur_seek(&x->mc, "", 0);
	while (rc == 0) {
		if (x->mc.klen != 20)
			return bad_msg_key();
		if (need && (!have || memcmp(x->mc.key, cur.bytes, 16) != 0)) {
			memcpy(cur.bytes, x->mc.key, 16);
			have = 1;
			if ((rc = enter_conv(x, &cur, CONVLOG_ECORRUPT, &wanted)))
				return rc;
			if (!wanted) {
				/* longer than any key of `cur`, shorter than the next */
				memcpy(past, cur.bytes, 16);
				memset(past + 16, 0xff, 5);
				rc = cvl_vcur_seek(&x->mc, past, sizeof(past));
				continue;
			}
		}
		if ((rc = take(x)))
			return rc;
		rc = cvl_vcur_next(&x->mc);
	}
	return rc == CONVLOG_DONE ? 0 : rc;
}

static int run_query(uctx *x)
{
	const convlog_usage_query *q = x->q;
	int wanted, rc;

	if (q->group_by == CONVLOG_GROUP_NONE &&
	    (rc = group_get(x, "", 0, &x->conv_group)))
		return rc;
	if (q->has_conv) {
		/* an unknown conversation, like an unknown user, matches nothing */
		if ((rc = enter_conv(x, &q->conv_id, 0, &wanted)) || !wanted)
			return rc;
		return scan_conv(x, &q->conv_id);
	}
	if (q->session_id)
		return walk_index(x, CVL_T_IX_SESSION, q->session_id);
	if (q->user_id)
		return walk_index(x, CVL_T_IX_USER, q->user_id);
	if (q->org_id)
		return walk_index(x, CVL_T_IX_ORG, q->org_id);
	return scan_all(x);
}

/* ---- result ---- */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int cmp_group(const void *a, const void *b)
{
	const ugroup *x = *(ugroup *const *)a, *y = *(ugroup *const *)b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int c = n ? memcmp(x->key, y->key, n) : 0;

	if (c)
		return c;
	return (x->klen > y->klen) - (x->klen < y->klen);
}

static void swap_i64(int64_t *v, size_t a, size_t b)
{
	int64_t t = v[a];

	v[a] = v[b];
	v[b] = t;
}

/*
 * Moves the value of 0-based rank k among v[0..n) to v[k], with no larger
 * value before it and no smaller one after (quickselect, median-of-three
 * pivots, expected O(n)).  A range that keeps shrinking too slowly is
 * sorted instead, which bounds the worst case at O(n log n).
 */
static void select_rank(int64_t *v, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1;
	int budget = 2 * 64;

	while (lo < hi) {
		if (budget-- == 0) {
			qsort(v + lo, hi - lo + 1, sizeof(*v), cmp_i64);
			return;
		}
		size_t mid = lo + (hi - lo) / 2, i = lo, j = hi;
		if (v[mid] < v[lo])
			swap_i64(v, mid, lo);
		if (v[hi] < v[lo])
			swap_i64(v, hi, lo);
		if (v[hi] < v[mid])
			swap_i64(v, hi, mid);
		int64_t p = v[mid];
		/* Hoare partition: afterwards v[lo..j] <= p <= v[i..hi], j < i */
		while (i <= j) {
			while (v[i] < p)
				i++;
			while (v[j] > p)
				j--;
			if (i <= j) {
				swap_i64(v, i++, j);
				if (j-- == lo)
					break;
			}
		}
		if (k <= j && j < hi)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			return; /* lo <= j < k < i: v[k] == p */
	}
}

/* 1-based nearest rank of percentile `pct` among n values: ceil(pct/100 * n),
 * computed in integers. */
static size_t nearest_rank(size_t n, unsigned pct)
{
	size_t r = (size_t)(((uint64_t)n * pct + 99) / 100);

	return r ? r : 1;
}

/*
 * Latency percentiles by the nearest-rank method: p = the value at 1-based
 * rank ceil(q * n) of the n known latencies in ascending order (so p95 of
 * 20 values is the 19th, p50 of 5 values the 3rd).  Two selections give
 * the same values as sorting, in linear expected time.
 */
static void percentiles(int64_t *v, size_t n, int64_t *p50, int64_t *p95)
{
	size_t r95 = nearest_rank(n, 95), r50 = nearest_rank(n, 50);

	select_rank(v, n, r95 - 1);
	*p95 = v[r95 - 1];
	/* v[0..r95-1) now holds the r95 - 1 smallest values */
	if (r50 < r95)
		select_rank(v, r95 - 1, r50 - 1);
	*p50 = v[r50 - 1];
}

static void fill_row(ugroup *g, convlog_usage_row *r, char *key)
{
	memcpy(key, g->key, g->klen + 1);
	r->key = key;
	r->count = g->count;
	r->errors = g->errors;
	r->tokens = g->tokens;
	r->cost = g->cost;
	r->latency_count = g->nlat;
	r->latency_p50 = r->latency_p95 = r->latency_max = -1;
	if (g->nlat) {
		percentiles(g->lat, g->nlat, &r->latency_p50, &r->latency_p95);
		r->latency_max = g->lat_max;
	}
}

/* 1 when group `g` becomes a row: it counted a message, or it is the
 * single row of an ungrouped report.  (ORG and USER groups are made when
 * a conversation is entered, before its messages are filtered by time.) */
static int has_row(const uctx *x, const ugroup *g)
{
	return g->count || x->q->group_by == CONVLOG_GROUP_NONE;
}

/* One allocation: the report, its rows, then the keys. */
static int build(uctx *x, convlog_usage **out)
{
	size_t n = 0, i, size = sizeof(convlog_usage);
	ugroup **v = NULL;
	convlog_usage *u;
	int rc = 0;

	for (ugroup *g = x->all; g; g = g->next_all)
		if (has_row(x, g)) {
			n++;
			size += sizeof(convlog_usage_row) + g->klen + 1;
		}
	if (n && !(v = cvl_malloc(n * sizeof(*v))))
		return cvl_err(CONVLOG_ENOMEM, "usage: out of memory for the report");
	i = 0;
	for (ugroup *g = x->all; g; g = g->next_all)
		if (has_row(x, g))
			v[i++] = g;
	if (n)
		qsort(v, n, sizeof(*v), cmp_group);
	if (!(u = cvl_calloc(1, size))) {
		rc = cvl_err(CONVLOG_ENOMEM, "usage: out of memory for the report");
		goto out;
	}
	u->version = CONVLOG_USAGE_VERSION;
	u->n_rows = n;
	u->rows = (convlog_usage_row *)(u + 1);
	u->messages_scanned = x->scanned;
	char *keys = (char *)(u->rows + n);
	for (i = 0; i < n; i++) {
		fill_row(v[i], &u->rows[i], keys);
		keys += v[i]->klen + 1;
	}
	*out = u;
out:
	cvl_free(v);
	return rc;
}

static void ctx_free(uctx *x)
{
	ugroup *g = x->all, *next;

	for (; g; g = next) {
		next = g->next_all;
		cvl_free(g->lat);
		cvl_free(g);
	}
	x->all = NULL;
	cvl_htab_free(&x->groups);
	if (x->have_mc)
		cvl_vcur_close(&x->mc);
	if (x->have_view)
		cvl_view_release(&x->v);
}

static int check_query(const convlog_usage_query *q)
{
	if (!q)
		return cvl_err(CONVLOG_EINVAL, "usage_get: query is NULL (use convlog_usage_query_init)");
	if (q->version != CONVLOG_USAGE_VERSION)
		return cvl_err(CONVLOG_EINVAL, "usage_get: query version %u (use convlog_usage_query_init)",
			       q->version);
	if (q->group_by < CONVLOG_GROUP_NONE || q->group_by > CONVLOG_GROUP_DAY)
		return cvl_err(CONVLOG_EINVAL, "usage_get: unknown grouping %d", q->group_by);
	if (q->since && q->until && q->since > q->until)
		return cvl_err(CONVLOG_EINVAL, "usage_get: since %lld is after until %lld",
			       (long long)q->since, (long long)q->until);
	if (q->has_conv && convlog_uuid_is_nil(&q->conv_id))
		return cvl_err(CONVLOG_EINVAL, "usage_get: has_conv is set but conv_id is nil");
	return 0;
}

CONVLOG_API int convlog_usage_get(convlog_db *db, const convlog_usage_query *q,
				  convlog_usage **out)
{
	uctx x;
	const cvl_scope *scope;
	int rc;

	cvl_err_clear();
	if (!out)
		return cvl_err(CONVLOG_EINVAL, "usage_get: out is NULL");
	*out = NULL;
	if ((rc = check_query(q)) || (rc = cvl_db_enter(&db, &scope)))
		return rc;
	memset(&x, 0, sizeof(x));
	x.q = q;
	x.scope = scope;
	if ((rc = cvl_htab_init(&x.groups, 16)))
		return rc;
	if ((rc = cvl_db_snapshot(db, &x.v)))
		goto out;
	x.have_view = 1;
	if ((rc = cvl_vcur_open(&x.v, CVL_T_MSG, &x.mc)))
		goto out;
	x.have_mc = 1;
	if ((rc = run_query(&x)))
		goto out;
	rc = build(&x, out);
out:
	ctx_free(&x);
	return rc;
}

CONVLOG_API void convlog_usage_free(convlog_usage *u)
{
	cvl_free(u);
}
