/*
 * Lifecycle policies: inactivity timeouts, archival after inactivity, a
 * maximum age and purges after a grace period (convlog_lifecycle_sweep).
 *
 * Candidates come from the ix_status and ix_created indexes of one
 * snapshot: the status index orders each status by descending activity,
 * so the conversations idle since before a cutoff are one key range.  The
 * changes are then made in small transactions, each conversation checked
 * again against its current state first.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/db.h"
#include "meta/keys.h"
#include "os/os.h"
#include "util/alloc.h"
#include "util/err.h"

#define SWEEP_BATCH 64

typedef struct ids {
	convlog_uuid *v;
	size_t n, cap;
} ids;

static int ids_add(ids *s, const uint8_t *id)
{
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 64;
		convlog_uuid *nv = cvl_realloc(s->v, nc * sizeof(*nv));
		if (!nv)
			return cvl_err(CONVLOG_ENOMEM, "out of memory sweeping lifecycles");
		s->v = nv;
		s->cap = nc;
	}
	memcpy(s->v[s->n++].bytes, id, 16);
	return 0;
}

/*
 * Conversation ids of table `table` from key `from` on while keys start
 * with prefix[0..plen) (the id is a key's last 16 bytes).
 */
static int collect(convlog_db *db, int table, const uint8_t *from, size_t flen,
		   const uint8_t *prefix, size_t plen, ids *out)
{
	cvl_view v;
	cvl_vcur c;
	int rc;

	if ((rc = cvl_db_snapshot(db, &v)))
		return rc;
	if ((rc = cvl_vcur_open(&v, table, &c))) {
		cvl_view_release(&v);
		return rc;
	}
	for (rc = cvl_vcur_seek(&c, from, flen); !rc; rc = cvl_vcur_next(&c)) {
		if (c.klen < plen + 16 || (plen && memcmp(c.key, prefix, plen) != 0))
			break;
		if ((rc = ids_add(out, c.key + c.klen - 16)))
			break;
	}
	cvl_vcur_close(&c);
	cvl_view_release(&v);
	return rc == CONVLOG_DONE ? 0 : rc;
}

/* Ids of conversations with `status` whose activity is at or before
 * `cutoff` (INT64_MAX: all of them). */
static int idle_since(convlog_db *db, int status, int64_t cutoff, ids *out)
{
	uint8_t k[9], p[1] = {(uint8_t)status};

	k[0] = (uint8_t)status;
	if (cutoff == INT64_MAX)
		return collect(db, CVL_T_IX_STATUS, k, 1, p, 1, out);
	cvl_key_desc_time(k + 1, cutoff);
	return collect(db, CVL_T_IX_STATUS, k, 9, p, 1, out);
}

enum { ACT_TIMEOUT, ACT_ARCHIVE, ACT_DELETE, ACT_PURGE };

/* Whether conversation c (current state) still qualifies. */
static int still(int act, const convlog_conv *c, int64_t cutoff)
{
	switch (act) {
	case ACT_TIMEOUT:
		return c->status == CONVLOG_STATUS_ACTIVE && c->last_activity_at <= cutoff;
	case ACT_ARCHIVE:
		return c->status >= CONVLOG_STATUS_INACTIVE_TIMEOUT &&
		       c->status <= CONVLOG_STATUS_COMPLETED && c->last_activity_at <= cutoff;
	case ACT_DELETE:
		return c->status != CONVLOG_STATUS_DELETED && c->created_at <= cutoff;
	default:
		return c->status == CONVLOG_STATUS_DELETED && c->deleted_at <= cutoff;
	}
}

static int change(convlog_db *db, convlog_txn *t, int act, const convlog_uuid *id)
{
	switch (act) {
	case ACT_TIMEOUT:
		return convlog_conv_set_status(db, t, id, CONVLOG_STATUS_INACTIVE_TIMEOUT);
	case ACT_ARCHIVE: return convlog_conv_archive(db, t, id);
	case ACT_DELETE: return convlog_conv_delete(db, t, id);
	default: return convlog_conv_purge(db, t, id);
	}
}

static int cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

/* Applies `act` to the candidates that still qualify, except those in
 * `skip` (sorted); *done counts them and `changed` (optional) gets them. */
static int apply_all(convlog_db *db, int act, const ids *c, int64_t cutoff, const ids *skip,
		     uint64_t *done, ids *changed)
{
	int rc = 0;

	for (size_t i = 0; i < c->n && !rc;) {
		convlog_txn *t;
		uint64_t n = 0;
		if ((rc = convlog_txn_begin(db, &t)))
			break;
		for (size_t end = i + SWEEP_BATCH; i < c->n && i < end && !rc; i++) {
			cvl_cstate *cs;
			if (skip && skip->n &&
			    bsearch(&c->v[i], skip->v, skip->n, sizeof(*skip->v), cmp_id))
				continue;
			rc = cvl_actx_conv(&t->a, &c->v[i], &cs);
			if (rc == CONVLOG_ENOTFOUND) { /* purged meanwhile */
				rc = 0;
				continue;
			}
			if (!rc && still(act, cs->cur, cutoff) && !(rc = change(db, t, act, &c->v[i]))) {
				n++;
				if (changed)
					rc = ids_add(changed, c->v[i].bytes);
			}
		}
		if (rc) {
			convlog_txn_abort(t);
			break;
		}
		if ((rc = convlog_txn_commit(t)))
			break;
		*done += n;
	}
	return rc;
}

static int64_t before(int64_t now, int64_t period)
{
	return now < INT64_MIN + period ? INT64_MIN : now - period;
}

CONVLOG_API void convlog_lifecycle_init(convlog_lifecycle *p)
{
	if (p) {
		memset(p, 0, sizeof(*p));
		p->version = CONVLOG_LIFECYCLE_VERSION;
	}
}

CONVLOG_API int convlog_lifecycle_sweep(convlog_db *db, int64_t now_ms, convlog_sweep_stats *out)
{
	convlog_sweep_stats st = {.version = CONVLOG_SWEEP_VERSION};
	const convlog_lifecycle *p;
	ids c = {0}, aged = {0};
	int rc;

	cvl_err_clear();
	if (out && out->version != CONVLOG_SWEEP_VERSION)
		return cvl_err(CONVLOG_EINVAL, "lifecycle_sweep: stats version %u, expected %u",
			       out->version, CONVLOG_SWEEP_VERSION);
	if ((rc = cvl_db_check_write(db)))
		return rc;
	p = &db->opts.life;
	if (!now_ms)
		now_ms = cvl_os_now_ms();
	if (p->inactive_after_ms > 0) {
		int64_t cut = before(now_ms, p->inactive_after_ms);
		c.n = 0;
		if (!(rc = idle_since(db, CONVLOG_STATUS_ACTIVE, cut, &c)))
			rc = apply_all(db, ACT_TIMEOUT, &c, cut, NULL, &st.timed_out, NULL);
	}
	if (!rc && p->archive_after_ms > 0) {
		int64_t cut = before(now_ms, p->archive_after_ms);
		c.n = 0;
		for (int s = CONVLOG_STATUS_INACTIVE_TIMEOUT; s <= CONVLOG_STATUS_COMPLETED && !rc; s++)
			rc = idle_since(db, s, cut, &c);
		if (!rc)
			rc = apply_all(db, ACT_ARCHIVE, &c, cut, NULL, &st.archived, NULL);
	}
	if (!rc && p->max_age_ms > 0) {
		int64_t cut = before(now_ms, p->max_age_ms);
		uint8_t k[8];
		cvl_key_desc_time(k, cut);
		c.n = 0;
		if (!(rc = collect(db, CVL_T_IX_CREATED, k, 8, NULL, 0, &c)))
			rc = apply_all(db, ACT_DELETE, &c, cut, NULL, &st.deleted, &aged);
	}
	if (!rc && p->purge_after_ms > 0) {
		/* those deleted for their age just now start their grace period
		 * (whatever clock now_ms follows) */
		int64_t cut = before(now_ms, p->purge_after_ms);
		if (aged.n > 1)
			qsort(aged.v, aged.n, sizeof(*aged.v), cmp_id);
		c.n = 0;
		if (!(rc = idle_since(db, CONVLOG_STATUS_DELETED, INT64_MAX, &c)))
			rc = apply_all(db, ACT_PURGE, &c, cut, &aged, &st.purged, NULL);
	}
	cvl_free(c.v);
	cvl_free(aged.v);
	if (out)
		*out = st;
	return rc;
}
