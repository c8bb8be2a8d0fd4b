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

/* A queued token: offset of its term bytes, length, position. */
typedef struct qtok {
	uint32_t off;
	uint16_t len;
	uint32_t pos;
} qtok;

struct collect {
	cvl_text *t;
	int rc;
};

static int on_token(void *ud, const cvl_token *k)
{
	struct collect *c = ud;
	qtok q = {(uint32_t)c->t->terms.len, (uint16_t)k->len, k->pos};
	int rc;

	if ((rc = cvl_buf_append(&c->t->terms, k->text, k->len)) ||
	    (rc = cvl_buf_append(&c->t->tok, &q, sizeof(q))))
		c->rc = rc;
	return rc;
}

static const char *term_base;

static int cmp_qtok(const void *a, const void *b)
{
	const qtok *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(term_base + x->off, term_base + y->off, n);

	if (c)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

int cvl_text_add(cvl_actx *a, const cvl_msg_peek *m, const cvl_loc *loc)
{
	cvl_text *t = &a->text;
	struct collect c = {t, 0};
	size_t first = t->tok.len / sizeof(qtok);
	int rc;

	cvl_analyzer *an = t->an ? t->an : a->db->an;

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
	rc = cvl_analyze(an, m->content, m->content_len, on_token, &c);
	if (rc || c.rc)
		return rc ? rc : c.rc;
	size_t n = t->tok.len / sizeof(qtok) - first;
	term_base = (const char *)t->terms.p; /* writer lock held: one sorter at a time */
	if (n > 1)
		qsort(t->tok.p + first * sizeof(qtok), n, sizeof(qtok), cmp_qtok);
	cvl_tdoc *d = &t->docs[t->ndocs++];
	d->docid = a->lsn;
	d->rec = a->lsn ? -1 : (int64_t)loc->frame_off;
	d->conv = m->conv;
	d->seq = m->seq;
	d->len = 0; /* in positions: whole-identifier tokens share theirs */
	for (size_t i = 0; i < n; i++) {
		uint32_t p = ((qtok *)t->tok.p)[first + i].pos + 1;
		if (p > d->len)
			d->len = p;
	}
	d->created_at = m->created_at;
	d->role_h = m->role ? XXH3_64bits(m->role, m->role_len) : 0;
	d->model_h = m->model ? XXH3_64bits(m->model, m->model_len) : 0;
	d->tok_off = first;
	d->ntok = n;
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
	cvl_text *t = &a->text;
	uint64_t docid = 0;
	int64_t rec = -1;
	int rc;

	if (!a->db->an)
		return 0;
	if (old->seg == 0)
		rec = (int64_t)old->frame_off;
	else if ((rc = record_lsn(a->db, old, &docid)))
		return rc;
	/* a version queued in this same batch is simply not indexed */
	for (size_t i = 0; i < t->ndocs; i++) {
		cvl_tdoc *d = &t->docs[i];
		if ((rec >= 0 && d->rec == rec) || (docid && d->docid == docid)) {
			d->ntok = SIZE_MAX; /* dropped */
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
	size_t ntok = t->tok.len / sizeof(qtok), most = 0;
	cvl_memidx *mi;

	if (!t->ndocs)
		return 0;
	if (!(mi = cvl_mt_text(mt)))
		return cvl_err(CONVLOG_ENOMEM, "out of memory for the text index");
	for (size_t i = 0; i < t->ndocs; i++)
		if (t->docs[i].ntok != SIZE_MAX && t->docs[i].ntok > most)
			most = t->docs[i].ntok;
	if (most > t->scap) {
		cvl_mi_tok *ns = cvl_realloc(t->scratch, most * sizeof(*ns));
		if (!ns)
			return cvl_err(CONVLOG_ENOMEM, "out of memory for the text index");
		t->scratch = ns;
		t->scap = most;
	}
	return cvl_mi_reserve(mi, cvl_mi_cost(t->ndocs, ntok, ntok), t->ndocs, ntok);
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
	cvl_mi_tok *toks = t->scratch;

	for (size_t i = 0; i < t->ndocs && mi; i++) {
		cvl_tdoc *d = &t->docs[i];
		if (d->ntok == SIZE_MAX)
			continue;
		const qtok *q = (const qtok *)t->tok.p + d->tok_off;
		for (size_t k = 0; k < d->ntok; k++)
			toks[k] = (cvl_mi_tok){(const char *)t->terms.p + q[k].off, q[k].len, q[k].pos};
		cvl_idoc doc = {d->docid, d->conv, d->seq, d->len, d->created_at, d->role_h, d->model_h};
		cvl_mi_add(mi, &doc, toks, d->ntok);
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
	size_t ntok = a->text.tok.len / sizeof(qtok);

	return a->text.ndocs ? cvl_mi_cost(a->text.ndocs, ntok, ntok) : 0;
}

void cvl_text_reset(cvl_actx *a)
{
	a->text.ndocs = a->text.nkills = 0;
	a->text.tok.len = a->text.terms.len = 0;
}

void cvl_text_free(cvl_actx *a)
{
	cvl_free(a->text.docs);
	cvl_free(a->text.kills);
	cvl_free(a->text.scratch);
	cvl_buf_free(&a->text.tok);
	cvl_buf_free(&a->text.terms);
	memset(&a->text, 0, sizeof(a->text));
	cvl_buf_init(&a->text.tok, 0);
	cvl_buf_init(&a->text.terms, 0);
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

	if (l < 4 || (strcmp(name + l - 4, ".idx") && strcmp(name + l - 4, ".tmp")))
		return 0;
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
		  cvl_iseg ***out, int *nout)
{
	cvl_iseg **v = NULL;
	cvl_view view = {.lm = &db->lm, .snap = UINT64_MAX};
	int k = 0, rc = 0;

	*out = NULL;
	*nout = 0;
	if (!n)
		return 0;
	if (!(v = cvl_malloc(n * sizeof(*v))))
		return cvl_err(CONVLOG_ENOMEM, "out of memory opening the text index");
	for (size_t i = 0; i < n && !rc; i++) {
		cvl_iseg *s = NULL;
		pthread_mutex_lock(&db->mtmu);
		for (int j = 0; j < db->nisegs && !s; j++)
			if (db->isegs[j]->id == ids[i]) {
				s = db->isegs[j];
				cvl_iseg_ref(s);
			}
		pthread_mutex_unlock(&db->mtmu);
		if (!s && (rc = cvl_iseg_open(db->idx_dir, ids[i], &s)))
			break;
		v[k++] = s;
	}
	if (!rc) {
		view.mt[view.nmt++] = mt;
		cvl_mt_ref(mt);
		rc = cvl_lmdb_rtxn(&db->lm, &view.txn);
		for (int i = 0; i < k && !rc; i++)
			rc = mark_deleted(&view, v[i]);
		cvl_view_release(&view);
	}
	if (rc) {
		cvl_text_segs_release(v, k);
		return rc;
	}
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
