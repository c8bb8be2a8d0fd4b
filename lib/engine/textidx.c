/*
 * The engine side of the full-text index: documents are analysed while
 * their records are applied, published into the memtable's in-memory
 * index at commit, written out as index segments when their memtable is
 * flushed, and removed (superseded versions) through text_deleted.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "engine/db.h"
#include "index/analyze.h"
#include "index/flush.h"
#include "index/iseg.h"
#include "index/memidx.h"
#include "log/record.h"
#include "model/tlv.h"
#include "os/os.h"
#include "util/alloc.h"
#include "util/codec.h"
#include "util/err.h"

/*
 * A document's tokens are grouped by term as they arrive (a small open
 * hash per document), so that publishing touches each distinct term once
 * and nothing is sorted.  A group's positions are chained through `next`
 * and laid out contiguously when the document ends.
 */
typedef struct tgroup {
	uint32_t term_off;  /* into terms */
	uint16_t len;
	uint32_t npos;
	uint32_t first, last; /* token chain */
	uint32_t pos_off;   /* into gpos, when the document ends */
	uint64_t hash;
} tgroup;

struct collect {
	cvl_text *t;
	uint32_t ntok;      /* tokens of this document */
	uint32_t maxpos;
	int rc;
};

/* Grows the per-document slot table to at least 2n entries (empty). */
static int slots_fit(cvl_text *t, size_t n)
{
	size_t want = 64;

	while (want < 2 * n)
		want *= 2;
	if (want <= t->nslots)
		return 0;
	uint32_t *ns = cvl_calloc(want, sizeof(*ns));
	if (!ns)
		return cvl_err(CONVLOG_ENOMEM, "out of memory indexing a message");
	cvl_free(t->slots);
	t->slots = ns;
	t->nslots = want;
	return 0;
}

static tgroup *grp(cvl_text *t, size_t i)
{
	return (tgroup *)t->groups.p + i;
}

/* Re-inserts this document's groups (g0..) into a table twice as big. */
static int slots_grow(cvl_text *t, size_t g0)
{
	size_t ng = t->groups.len / sizeof(tgroup) - g0;
	size_t want = t->nslots * 2;
	uint32_t *ns = cvl_calloc(want, sizeof(*ns));

	if (!ns)
		return cvl_err(CONVLOG_ENOMEM, "out of memory indexing a message");
	for (size_t i = 0; i < ng; i++) {
		size_t s = grp(t, g0 + i)->hash & (want - 1);
		while (ns[s])
			s = (s + 1) & (want - 1);
		ns[s] = (uint32_t)(i + 1);
	}
	cvl_free(t->slots);
	t->slots = ns;
	t->nslots = want;
	return 0;
}

static int on_token(void *ud, const cvl_token *k)
{
	struct collect *c = ud;
	cvl_text *t = c->t;
	size_t g0 = t->g0, ng = t->groups.len / sizeof(tgroup) - g0;
	uint64_t h = XXH3_64bits(k->text, k->len);
	uint32_t tok = c->ntok;
	int rc;

	if (2 * (ng + 1) > t->nslots && (rc = slots_grow(t, g0)))
		return c->rc = rc;
	size_t s = h & (t->nslots - 1);
	for (; t->slots[s]; s = (s + 1) & (t->nslots - 1)) {
		tgroup *g = grp(t, g0 + t->slots[s] - 1);
		if (g->hash == h && g->len == k->len &&
		    !memcmp(t->terms.p + g->term_off, k->text, k->len)) {
			((uint32_t *)t->tnext.p)[g->last] = tok;
			g->last = tok;
			g->npos++;
			goto chained;
		}
	}
	tgroup ng1 = {(uint32_t)t->terms.len, (uint16_t)k->len, 1, tok, tok, 0, h};
	if ((rc = cvl_buf_append(&t->terms, k->text, k->len)) ||
	    (rc = cvl_buf_append(&t->groups, &ng1, sizeof(ng1))))
		return c->rc = rc;
	t->slots[s] = (uint32_t)(ng + 1);
chained:
	if ((rc = cvl_buf_append(&t->tpos, &k->pos, 4)) ||
	    (rc = cvl_buf_append(&t->tnext, &tok, 4)))
		return c->rc = rc;
	c->ntok++;
	if (k->pos + 1 > c->maxpos)
		c->maxpos = k->pos + 1;
	return 0;
}

/* Lays the document's positions out per group and clears its slots. */
static int finish_groups(cvl_text *t, size_t g0, uint32_t ntok)
{
	size_t ng = t->groups.len / sizeof(tgroup) - g0;
	const uint32_t *pos = (const uint32_t *)t->tpos.p, *next = (const uint32_t *)t->tnext.p;
	int rc;

	if ((rc = cvl_buf_reserve(&t->gpos, ntok * sizeof(uint32_t))))
		return rc;
	for (size_t i = 0; i < ng; i++) {
		tgroup *g = grp(t, g0 + i);
		uint32_t *out = (uint32_t *)(t->gpos.p + t->gpos.len);
		g->pos_off = (uint32_t)(t->gpos.len / sizeof(uint32_t));
		for (uint32_t k = 0, tk = g->first; k < g->npos; k++, tk = next[tk])
			out[k] = pos[tk];
		t->gpos.len += g->npos * sizeof(uint32_t);
		/* free the group's slot (found by probing, as it was placed) */
		size_t sl = g->hash & (t->nslots - 1);
		while (t->slots[sl] != i + 1)
			sl = (sl + 1) & (t->nslots - 1);
		t->slots[sl] = 0;
	}
	return 0;
}

int cvl_text_add(cvl_actx *a, const cvl_msg_peek *m, const cvl_loc *loc)
{
	cvl_text *t = &a->text;
	struct collect c = {t, 0, 0, 0};
	cvl_analyzer *an = t->an ? t->an : a->db->an;
	int rc;

	if (!an)
		return 0;
	if (t->ndocs == t->dcap) {
		size_t nc = t->dcap ? t->dcap * 2 : 64;
		cvl_tdoc *nd = cvl_realloc(t->docs, nc * sizeof(*nd));
		if (!nd)
			return cvl_err(CONVLOG_ENOMEM, "out of memory indexing a message");
		t->docs = nd;
		t->dcap = nc;
	}
	/* a guess at the distinct terms; the table grows if needed */
	if ((rc = slots_fit(t, m->content_len / 8 + 16)))
		return rc;
	t->g0 = t->groups.len / sizeof(tgroup);
	t->tpos.len = t->tnext.len = 0;
	rc = cvl_analyze(an, m->content, m->content_len, on_token, &c);
	if (!rc && !c.rc)
		rc = finish_groups(t, t->g0, c.ntok);
	if (rc || c.rc) {
		memset(t->slots, 0, t->nslots * sizeof(*t->slots));
		t->groups.len = t->g0 * sizeof(tgroup);
		return rc ? rc : c.rc;
	}
	cvl_tdoc *d = &t->docs[t->ndocs++];
	d->docid = a->lsn;
	d->rec = a->lsn ? -1 : (int64_t)loc->frame_off;
	d->conv = m->conv;
	d->seq = m->seq;
	d->len = c.maxpos; /* in positions: whole-identifier tokens share theirs */
	d->created_at = m->created_at;
	d->role_h = m->role ? XXH3_64bits(m->role, m->role_len) : 0;
	d->model_h = m->model ? XXH3_64bits(m->model, m->model_len) : 0;
	d->grp_off = t->g0;
	d->ngrp = t->groups.len / sizeof(tgroup) - t->g0;
	t->ntok += c.ntok;
	return 0;
}

/* LSN of the record stored at loc. */
static int record_lsn(convlog_db *db, const cvl_loc *loc, uint64_t *lsn)
{
	cvl_frame *f;
	cvl_record r;
	const char *why;
	int rc = cvl_frame_get(db, loc, &f);

	if (rc)
		return rc;
	const uint8_t *p = f->raw + f->rec_off[loc->rec_idx < f->nrec ? loc->rec_idx : 0];
	if (loc->rec_idx >= f->nrec || cvl_record_decode(&p, f->raw + f->raw_len, &r, &why))
		rc = cvl_err(CONVLOG_ECORRUPT, "a message locator names no record");
	else
		*lsn = r.lsn;
	cvl_cache_release(db->cache, f);
	return rc;
}

int cvl_text_kill(cvl_actx *a, const cvl_loc *old)
{
	uint64_t docid = 0;
	int rc;

	if (!a->db->an)
		return 0;
	if (old->seg == 0)
		return cvl_text_kill_doc(a, 0, (int64_t)old->frame_off);
	if ((rc = record_lsn(a->db, old, &docid)))
		return rc;
	return cvl_text_kill_doc(a, docid, -1);
}

int cvl_text_kill_doc(cvl_actx *a, uint64_t docid, int64_t rec)
{
	cvl_text *t = &a->text;

	if (!a->db->an)
		return 0;
	/* a version queued in this same batch is simply not indexed */
	for (size_t i = 0; i < t->ndocs; i++) {
		cvl_tdoc *d = &t->docs[i];
		if ((rec >= 0 && d->rec == rec) || (docid && d->docid == docid)) {
			d->ngrp = SIZE_MAX; /* dropped */
			return 0;
		}
	}
	if (t->nkills == t->kcap) {
		size_t nc = t->kcap ? t->kcap * 2 : 16;
		cvl_tkill *nk = cvl_realloc(t->kills, nc * sizeof(*nk));
		if (!nk)
			return cvl_err(CONVLOG_ENOMEM, "out of memory indexing a message");
		t->kills = nk;
		t->kcap = nc;
	}
	t->kills[t->nkills++] = (cvl_tkill){docid, rec};
	return 0;
}

static int cmp_docid(const void *a, const void *b)
{
	const cvl_tdoc *x = a, *y = b;

	return x->docid < y->docid ? -1 : x->docid > y->docid;
}

int cvl_text_settle(cvl_actx *a, const uint64_t *rec_lsn)
{
	cvl_text *t = &a->text;
	uint8_t k[8];
	int rc;

	for (size_t i = 0; i < t->ndocs; i++)
		if (!t->docs[i].docid && t->docs[i].rec >= 0)
			t->docs[i].docid = rec_lsn[t->docs[i].rec];
	/* indexes number documents in docid order (grouping may renumber) */
	if (t->ndocs > 1)
		qsort(t->docs, t->ndocs, sizeof(*t->docs), cmp_docid);
	for (size_t i = 0; i < t->nkills; i++) {
		if (!t->kills[i].docid && t->kills[i].rec >= 0)
			t->kills[i].docid = rec_lsn[t->kills[i].rec];
		cvl_put_u64be(k, t->kills[i].docid);
		if ((rc = cvl_ws_put(&a->ws, CVL_T_IX_DELETED, k, 8, NULL, 0, NULL)))
			return rc;
	}
	return 0;
}

static void free_mi(void *p)
{
	cvl_mi_free(p);
}

struct cvl_memidx *cvl_mt_text(cvl_memtable *mt)
{
	cvl_memidx *mi;

	if (!mt->aux && cvl_mi_new(&mi) == 0) {
		mt->aux = mi;
		mt->aux_free = free_mi;
	}
	return mt->aux;
}

int cvl_text_reserve(cvl_actx *a, cvl_memtable *mt)
{
	cvl_text *t = &a->text;
	size_t ngrp = t->groups.len / sizeof(tgroup), most = 0;
	cvl_memidx *mi;

	if (!t->ndocs)
		return 0;
	if (!(mi = cvl_mt_text(mt)))
		return cvl_err(CONVLOG_ENOMEM, "out of memory for the text index");
	for (size_t i = 0; i < t->ndocs; i++)
		if (t->docs[i].ngrp != SIZE_MAX && t->docs[i].ngrp > most)
			most = t->docs[i].ngrp;
	if (most > t->scap) {
		cvl_mi_group *ns = cvl_realloc(t->scratch, most * sizeof(*ns));
		if (!ns)
			return cvl_err(CONVLOG_ENOMEM, "out of memory for the text index");
		t->scratch = ns;
		t->scap = most;
	}
	return cvl_mi_reserve(mi, cvl_mi_cost(t->ndocs, t->ntok, ngrp), t->ndocs, t->ntok);
}

/* Marks docid dead wherever it is indexed: in `mt` (the memtable being
 * filled, which replay of a read-only refresh keeps unregistered), the
 * registered memtables and the registered segments (mtmu held). */
static void kill_everywhere(convlog_db *db, cvl_memtable *mt, uint64_t docid)
{
	cvl_memtable *mts[CVL_FROZEN_MAX + 2];
	int n = 0;
	uint32_t doc;

	mts[n++] = mt;
	if (db->active != mt)
		mts[n++] = db->active;
	for (int i = 0; i < db->nfrozen; i++)
		mts[n++] = db->frozen[i];
	for (int i = 0; i < n; i++)
		if (mts[i] && mts[i]->aux && cvl_mi_lookup(mts[i]->aux, docid, &doc) == 0)
			cvl_mi_kill(mts[i]->aux, doc);
	for (int i = 0; i < db->nisegs; i++) {
		cvl_iseg *s = db->isegs[i];
		if (docid >= s->min_docid && docid <= s->max_docid && cvl_iseg_find_doc(s, docid, &doc) == 0)
			cvl_iseg_kill(s, doc);
	}
}

void cvl_text_publish(cvl_actx *a, cvl_memtable *mt)
{
	cvl_text *t = &a->text;
	cvl_memidx *mi = mt->aux;
	cvl_mi_group *gs = t->scratch;

	for (size_t i = 0; i < t->ndocs && mi; i++) {
		cvl_tdoc *d = &t->docs[i];
		if (d->ngrp == SIZE_MAX)
			continue;
		for (size_t k = 0; k < d->ngrp; k++) {
			const tgroup *g = grp(t, d->grp_off + k);
			gs[k] = (cvl_mi_group){(const char *)t->terms.p + g->term_off, g->len, g->npos,
					       g->hash, (const uint32_t *)t->gpos.p + g->pos_off};
		}
		cvl_idoc doc = {d->docid, d->conv, d->seq, d->len, d->created_at, d->role_h, d->model_h};
		cvl_mi_add_groups(mi, &doc, gs, d->ngrp);
	}
	if (t->nkills) {
		pthread_mutex_lock(&a->db->mtmu);
		for (size_t i = 0; i < t->nkills; i++)
			kill_everywhere(a->db, mt, t->kills[i].docid);
		pthread_mutex_unlock(&a->db->mtmu);
	}
	cvl_text_reset(a);
}

size_t cvl_text_cost(const cvl_actx *a)
{
	const cvl_text *t = &a->text;

	return t->ndocs ? cvl_mi_cost(t->ndocs, t->ntok, t->groups.len / sizeof(tgroup)) : 0;
}

void cvl_text_init(cvl_text *t)
{
	cvl_buf_init(&t->terms, 0);
	cvl_buf_init(&t->groups, 0);
	cvl_buf_init(&t->gpos, 0);
	cvl_buf_init(&t->tpos, 0);
	cvl_buf_init(&t->tnext, 0);
}

void cvl_text_reset(cvl_actx *a)
{
	a->text.ndocs = a->text.nkills = 0;
	a->text.terms.len = a->text.groups.len = a->text.gpos.len = 0;
	a->text.ntok = 0;
}

void cvl_text_release(cvl_text *t)
{
	cvl_free(t->docs);
	cvl_free(t->kills);
	cvl_free(t->scratch);
	cvl_buf_free(&t->terms);
	cvl_buf_free(&t->groups);
	cvl_buf_free(&t->gpos);
	cvl_buf_free(&t->tpos);
	cvl_buf_free(&t->tnext);
	cvl_free(t->slots);
	memset(t, 0, sizeof(*t));
	cvl_text_init(t);
}

void cvl_text_free(cvl_actx *a)
{
	cvl_text_release(&a->text);
}

/* ---- segments ---- */

static int meta_get(MDB_txn *txn, convlog_db *db, const char *key, const uint8_t **v, size_t *n)
{
	return cvl_lmdb_get(&db->lm, txn, CVL_T_META, key, strlen(key), v, n);
}

/* The segment ids listed in meta/text_segs (cvl_free *ids). */
static int read_list(convlog_db *db, MDB_txn *txn, uint64_t **ids, size_t *n)
{
	const uint8_t *v, *p, *end;
	size_t vl;
	uint64_t cnt;
	int rc = meta_get(txn, db, "text_segs", &v, &vl);

	*ids = NULL;
	*n = 0;
	if (rc == CONVLOG_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	p = v;
	end = v + vl;
	if (cvl_varint_get(&p, end, &cnt) || cnt > vl)
		return cvl_err(CONVLOG_ECORRUPT, "meta/text_segs is malformed");
	*ids = cvl_malloc((cnt + 1) * sizeof(uint64_t));
	if (!*ids)
		return cvl_err(CONVLOG_ENOMEM, "out of memory reading the index manifest");
	for (uint64_t i = 0; i < cnt; i++) {
		if (cvl_varint_get(&p, end, &(*ids)[i])) {
			cvl_free(*ids);
			*ids = NULL;
			return cvl_err(CONVLOG_ECORRUPT, "meta/text_segs is malformed");
		}
	}
	*n = (size_t)cnt;
	return 0;
}

/* Marks the documents of s listed in text_deleted (through view v). */
static int mark_deleted(cvl_view *v, cvl_iseg *s)
{
	cvl_vcur cur;
	uint8_t k[8];
	uint32_t doc;
	int rc = cvl_vcur_open(v, CVL_T_IX_DELETED, &cur);

	if (rc)
		return rc;
	cvl_put_u64be(k, s->min_docid);
	for (rc = cvl_vcur_seek(&cur, k, 8); rc == 0; rc = cvl_vcur_next(&cur)) {
		if (cur.klen != 8)
			continue;
		uint64_t id = cvl_get_u64be(cur.key);
		if (id > s->max_docid)
			break;
		if (cvl_iseg_find_doc(s, id, &doc) == 0)
			cvl_iseg_kill(s, doc);
	}
	cvl_vcur_close(&cur);
	return rc == CONVLOG_DONE ? 0 : rc;
}

struct orphans {
	convlog_db *db;
	const uint64_t *ids;
	size_t n;
};

static int remove_orphan(void *ud, const char *name)
{
	struct orphans *o = ud;
	char path[CVL_PATH_MAX];
	uint64_t id = 0;
	size_t l = strlen(name);
	int known = 0;

	if (l < 4 || (strcmp(name + l - 4, ".idx") != 0 && strcmp(name + l - 4, ".tmp") != 0))
		return 0;
	/* NOLINTNEXTLINE(cert-err34-c): 16 hex digits always fit in a uint64_t */
	if (l == 20 && !strcmp(name + 16, ".idx") && sscanf(name, "%16" SCNx64, &id) == 1)
		for (size_t i = 0; i < o->n; i++)
			known |= o->ids[i] == id;
	if (known)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", o->db->idx_dir, name);
	cvl_db_log(o->db, CONVLOG_LOG_INFO, "%s: removing an index file no flush recorded", path);
	return cvl_os_unlink(path);
}

void cvl_text_close(convlog_db *db)
{
	cvl_text_segs_release(db->isegs, db->nisegs);
	db->isegs = NULL;
	db->nisegs = db->isegcap = 0;
}

int cvl_text_open_list(convlog_db *db, MDB_txn *txn, uint64_t **ids, size_t *n)
{
	const uint8_t *v;
	size_t vl;
	int rc = read_list(db, txn, ids, n);

	if (rc)
		return rc;
	rc = meta_get(txn, db, "text_next", &v, &vl);
	if (rc == 0 && vl == 8 && cvl_get_u64le(v) > atomic_load(&db->iseg_next))
		atomic_store(&db->iseg_next, cvl_get_u64le(v));
	if (atomic_load(&db->iseg_next) == 0)
		atomic_store(&db->iseg_next, 1);
	return rc == CONVLOG_ENOTFOUND ? 0 : rc;
}

int cvl_text_remove_orphans(convlog_db *db, const uint64_t *ids, size_t n)
{
	struct orphans o = {db, ids, n};
	int rc;

	if ((rc = cvl_os_mkdir(db->idx_dir)))
		return rc;
	return cvl_os_listdir(db->idx_dir, remove_orphan, &o);
}

int cvl_text_load(convlog_db *db, const uint64_t *ids, size_t n, cvl_memtable *mt,
		  MDB_txn *txn, int tolerate, cvl_iseg ***out, int *nout)
{
	cvl_iseg **v = NULL;
	cvl_view view = {.lm = &db->lm, .snap = UINT64_MAX};
	uint64_t damaged = 0;
	int k = 0, rc = 0;

	*out = NULL;
	*nout = 0;
	if (!n) {
		if (txn)
			cvl_lmdb_abort(txn);
		atomic_store(&db->text_damaged, 0);
		return 0;
	}
	if (!(v = cvl_malloc(n * sizeof(*v)))) {
		if (txn)
			cvl_lmdb_abort(txn);
		return cvl_err(CONVLOG_ENOMEM, "out of memory opening the text index");
	}
	for (size_t i = 0; i < n && !rc; i++) {
		cvl_iseg *s = NULL;
		pthread_mutex_lock(&db->mtmu);
		for (int j = 0; j < db->nisegs && !s; j++)
			if (db->isegs[j]->id == ids[i]) {
				s = db->isegs[j];
				cvl_iseg_ref(s);
			}
		pthread_mutex_unlock(&db->mtmu);
		if (!s && (rc = cvl_iseg_open(db->idx_dir, ids[i], &s))) {
			/* only damage (a bad or missing file) is tolerated; an
			 * error of the system (EIO, ENOSPC, ENOMEM) is no reason
			 * to rebuild the index: it is reported */
			if (!tolerate || (rc != CONVLOG_ECORRUPT && rc != CONVLOG_ENOTFOUND &&
					  rc != CONVLOG_EVERSION))
				break;
			/* derived data: the store still opens; search refuses and
			 * verify reports it until a reindex or repair rebuilds it */
			cvl_db_log(db, CONVLOG_LOG_WARN, "text index damaged: %s", cvl_err_msg());
			damaged = ids[i] + 1;
			cvl_err_clear();
			rc = 0;
			continue;
		}
		v[k++] = s;
	}
	if (!rc) {
		view.mt[view.nmt++] = mt;
		cvl_mt_ref(mt);
		if (txn)
			view.txn = txn;
		else
			rc = cvl_lmdb_rtxn(&db->lm, &view.txn);
		txn = NULL;
		for (int i = 0; i < k && !rc; i++)
			rc = mark_deleted(&view, v[i]);
		cvl_view_release(&view);
	}
	if (txn)
		cvl_lmdb_abort(txn);
	if (rc) {
		cvl_text_segs_release(v, k);
		return rc;
	}
	atomic_store(&db->text_damaged, damaged);
	*out = v;
	*nout = k;
	return 0;
}

void cvl_text_install_locked(convlog_db *db, cvl_iseg **segs, int n)
{
	cvl_iseg **old = db->isegs;
	int nold = db->nisegs;

	db->isegs = segs;
	db->nisegs = db->isegcap = n;
	cvl_text_segs_release(old, nold);
}

int cvl_text_flush_write(convlog_db *db, cvl_memtable *mt, uint64_t *seg_id)
{
	uint32_t n = 0;
	uint64_t bytes;
	int rc;

	*seg_id = 0;
	if (!mt->aux || !atomic_load(&((cvl_memidx *)mt->aux)->ndocs))
		return 0;
	uint64_t id = atomic_fetch_add(&db->iseg_next, 1);
	if ((rc = cvl_os_mkdir(db->idx_dir)) || (rc = cvl_mi_write(mt->aux, db->idx_dir, id, &n, &bytes)))
		return rc;
	if (n)
		*seg_id = id;
	return 0;
}

int cvl_text_flush_meta(convlog_db *db, MDB_txn *txn, uint64_t seg_id)
{
	uint64_t *ids = NULL;
	size_t n = 0;
	cvl_buf b;
	uint8_t next[8];
	int rc;

	if (!seg_id)
		return 0;
	if ((rc = read_list(db, txn, &ids, &n)))
		return rc;
	cvl_buf_init(&b, 0);
	rc = cvl_buf_put_varint(&b, n + 1);
	for (size_t i = 0; i < n && !rc; i++)
		rc = cvl_buf_put_varint(&b, ids[i]);
	if (!rc)
		rc = cvl_buf_put_varint(&b, seg_id);
	cvl_put_u64le(next, atomic_load(&db->iseg_next));
	MDB_val k1 = {9, "text_segs"}, v1 = {b.len, b.p}, k2 = {9, "text_next"}, v2 = {8, next};
	int mrc = 0;
	if (!rc && !(mrc = mdb_put(txn, db->lm.dbi[CVL_T_META], &k1, &v1, 0)))
		mrc = mdb_put(txn, db->lm.dbi[CVL_T_META], &k2, &v2, 0);
	if (!rc && mrc)
		rc = cvl_lmdb_err(mrc, "meta/text_segs");
	cvl_buf_free(&b);
	cvl_free(ids);
	return rc;
}

int cvl_text_seg_room(convlog_db *db)
{
	int rc = 0;

	pthread_mutex_lock(&db->mtmu);
	if (db->nisegs == db->isegcap) {
		int nc = db->isegcap ? db->isegcap * 2 : 16;
		cvl_iseg **nv = cvl_realloc(db->isegs, (size_t)nc * sizeof(*nv));
		if (!nv)
			rc = cvl_err(CONVLOG_ENOMEM, "out of memory registering an index segment");
		else {
			db->isegs = nv;
			db->isegcap = nc;
		}
	}
	pthread_mutex_unlock(&db->mtmu);
	return rc;
}

/*
 * Registers segment s, written from frozen memtable mt, in the same
 * critical section (mtmu) that retires mt.  Versions superseded since the
 * segment was written were marked dead in mt's index: those marks carry
 * over, so no removal is lost between the write and the registration.
 */
void cvl_text_register_locked(convlog_db *db, cvl_iseg *s, cvl_memtable *mt)
{
	cvl_memidx *mi = mt->aux;
	uint32_t n = mi ? atomic_load(&mi->ndocs) : 0, doc;

	for (uint32_t d = 0; d < n; d++)
		if (cvl_mi_dead(mi, d) && cvl_iseg_find_doc(s, cvl_mi_doc(mi, d)->docid, &doc) == 0)
			cvl_iseg_kill(s, doc);
	db->isegs[db->nisegs++] = s; /* room made by cvl_text_seg_room */
}

int cvl_text_segs_locked(convlog_db *db, cvl_iseg ***out, int *n)
{
	*out = NULL;
	*n = 0;
	if (!db->nisegs)
		return 0;
	*out = cvl_malloc((size_t)db->nisegs * sizeof(**out));
	if (!*out)
		return cvl_err(CONVLOG_ENOMEM, "out of memory for a search");
	for (int i = 0; i < db->nisegs; i++) {
		(*out)[i] = db->isegs[i];
		cvl_iseg_ref(db->isegs[i]);
	}
	*n = db->nisegs;
	return 0;
}

void cvl_text_segs_release(cvl_iseg **v, int n)
{
	for (int i = 0; i < n; i++)
		cvl_iseg_unref(v[i]);
	cvl_free(v);
}

int cvl_text_snapshot(convlog_db *db, cvl_tsnap *s)
{
	int rc;

	memset(s, 0, sizeof(*s));
	if (db->readonly) {
		/* catch up with the writer's flushes first */
		cvl_view v;
		if ((rc = cvl_db_snapshot(db, &v)))
			return rc;
		cvl_view_release(&v);
	}
	pthread_mutex_lock(&db->mtmu);
	rc = cvl_text_segs_locked(db, &s->segs, &s->nsegs);
	if (!rc) {
		for (int i = 0; i < db->nfrozen; i++) {
			s->mt[s->nmt++] = db->frozen[i];
			cvl_mt_ref(db->frozen[i]);
		}
		s->mt[s->nmt++] = db->active;
		cvl_mt_ref(db->active);
		s->snap = atomic_load(&db->visible_lsn);
	}
	pthread_mutex_unlock(&db->mtmu);
	return rc;
}

void cvl_text_snapshot_release(cvl_tsnap *s)
{
	cvl_text_segs_release(s->segs, s->nsegs);
	for (int i = 0; i < s->nmt; i++)
		cvl_mt_unref(s->mt[i]);
	memset(s, 0, sizeof(*s));
}

int cvl_text_analyzer_get(convlog_db *db, cvl_analyzer **out)
{
	*out = NULL;
	pthread_mutex_lock(&db->dctx_mu);
	if (db->nan_pool)
		*out = db->an_pool[--db->nan_pool];
	pthread_mutex_unlock(&db->dctx_mu);
	return *out ? 0 : cvl_analyzer_new(db->stem, out);
}

void cvl_text_analyzer_put(convlog_db *db, cvl_analyzer *an)
{
	pthread_mutex_lock(&db->dctx_mu);
	if (db->nan_pool < (int)(sizeof(db->an_pool) / sizeof(db->an_pool[0]))) {
		db->an_pool[db->nan_pool++] = an;
		an = NULL;
	}
	pthread_mutex_unlock(&db->dctx_mu);
	cvl_analyzer_free(an);
}
