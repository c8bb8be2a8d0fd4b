#include <string.h>
#include <xxhash.h>

#include "convlog.h"
#include "meta/memtable.h"
#include "meta/wset.h"
#include "util/alloc.h"
#include "util/err.h"

struct wkey {
	uint8_t table;
	const uint8_t *key;
	size_t klen;
};

static uint64_t whash(uint8_t table, const uint8_t *key, size_t klen)
{
	return XXH3_64bits_withSeed(key, klen, table);
}

static int weq(const cvl_hnode *n, const void *k)
{
	const cvl_wentry *e = (const cvl_wentry *)n;
	const struct wkey *wk = k;

	return e->table == wk->table && e->klen == wk->klen &&
	       memcmp(e->key, wk->key, wk->klen) == 0;
}

int cvl_ws_init(cvl_wset *ws)
{
	memset(ws, 0, sizeof(*ws));
	return cvl_htab_init(&ws->h, 64);
}

void cvl_ws_clear(cvl_wset *ws)
{
	cvl_wentry *e = ws->all;

	while (e) {
		cvl_wentry *n = e->next_all;
		cvl_free(e->val);
		cvl_free(e);
		e = n;
	}
	ws->all = NULL;
	ws->count = 0;
	ws->mt_cost = 0;
	memset(ws->h.slots, 0, ws->h.nslots * sizeof(*ws->h.slots));
	ws->h.count = 0;
}

void cvl_ws_free(cvl_wset *ws)
{
	if (!ws->h.slots)
		return;
	cvl_ws_clear(ws);
	cvl_htab_free(&ws->h);
}

static cvl_wentry *lookup(cvl_wset *ws, uint8_t table, const uint8_t *key, size_t klen,
			  uint64_t *hash)
{
	struct wkey wk = {table, key, klen};

	*hash = whash(table, key, klen);
	return (cvl_wentry *)cvl_htab_find(&ws->h, *hash, weq, &wk);
}

static int set(cvl_wset *ws, uint8_t table, const uint8_t *key, size_t klen,
	       const uint8_t *val, size_t vlen, cvl_wentry **out)
{
	uint64_t hash;
	cvl_wentry *e = lookup(ws, table, key, klen, &hash);
	size_t need = vlen == CVL_MT_TOMB ? 0 : vlen;

	if (!e) {
		/* allocate everything before the entry becomes visible */
		uint8_t *nv = need ? cvl_malloc(need) : NULL;
		e = (need && !nv) ? NULL : cvl_calloc(1, sizeof(*e) + klen);
		if (!e) {
			cvl_free(nv);
			return cvl_err(CONVLOG_ENOMEM, "out of memory in a transaction");
		}
		e->val = nv;
		e->vcap = (uint32_t)need;
		e->key = (uint8_t *)(e + 1);
		if (klen)
			memcpy(e->key, key, klen);
		e->klen = (uint32_t)klen;
		e->table = table;
		e->pend_rec = -1;
		e->hn.hash = hash;
		e->vlen = CVL_MT_TOMB;
		cvl_htab_insert(&ws->h, &e->hn);
		e->next_all = ws->all;
		ws->all = e;
		ws->count++;
	} else {
		ws->mt_cost -= cvl_mt_entry_cost(e->klen, e->vlen);
	}
	if (need > e->vcap) {
		uint8_t *nv = cvl_realloc(e->val, need);
		if (!nv) {
			ws->mt_cost += cvl_mt_entry_cost(e->klen, e->vlen);
			return cvl_err(CONVLOG_ENOMEM, "out of memory in a transaction");
		}
		e->val = nv;
		e->vcap = (uint32_t)need;
	}
	if (need)
		memcpy(e->val, val, need);
	e->vlen = (uint32_t)vlen;
	e->pend_rec = -1;
	ws->mt_cost += cvl_mt_entry_cost(e->klen, e->vlen);
	if (out)
		*out = e;
	return 0;
}

int cvl_ws_put(cvl_wset *ws, uint8_t table, const uint8_t *key, size_t klen,
	       const uint8_t *val, size_t vlen, cvl_wentry **out)
{
	return set(ws, table, key, klen, val, vlen, out);
}

int cvl_ws_del(cvl_wset *ws, uint8_t table, const uint8_t *key, size_t klen)
{
	return set(ws, table, key, klen, NULL, CVL_MT_TOMB, NULL);
}

int cvl_ws_get(cvl_wset *ws, uint8_t table, const uint8_t *key, size_t klen,
	       const uint8_t **val, size_t *vlen)
{
	uint64_t hash;
	cvl_wentry *e = lookup(ws, table, key, klen, &hash);

	if (!e)
		return 0;
	if (e->vlen == CVL_MT_TOMB)
		return 2;
	*val = e->val;
	*vlen = e->vlen;
	return 1;
}
