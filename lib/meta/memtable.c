#include <string.h>

#include "convlog.h"
#include "meta/memtable.h"
#include "os/os.h"
#include "util/alloc.h"
#include "util/err.h"

struct cvl_mt_node {
	uint64_t lsn;
	uint32_t klen; /* with the table byte */
	uint32_t vlen;
	uint8_t height;
	_Atomic(cvl_mt_node *) next[];
	/* key bytes, then value bytes, follow next[height] */
};

struct cvl_mt_chunk {
	cvl_mt_chunk *prev;
	size_t size;
};

#define CHUNK_MIN (1u << 20)

static inline uint8_t *node_key(cvl_mt_node *n)
{
	return (uint8_t *)&n->next[n->height];
}

static inline uint8_t *node_val(cvl_mt_node *n)
{
	return node_key(n) + n->klen;
}

static size_t node_size(int height, size_t klen, size_t vlen)
{
	size_t s = sizeof(cvl_mt_node) + (size_t)height * sizeof(void *) + klen +
		   (vlen == CVL_MT_TOMB ? 0 : vlen);
	return (s + 7) & ~(size_t)7;
}

size_t cvl_mt_entry_cost(size_t klen, size_t vlen)
{
	return node_size(CVL_MT_HEIGHT, klen + 1, vlen);
}

static int add_chunk(cvl_memtable *mt, size_t need)
{
	size_t size = need + sizeof(cvl_mt_chunk) + 8;
	cvl_mt_chunk *c;

	if (size < CHUNK_MIN)
		size = CHUNK_MIN;
	c = cvl_malloc(size);
	if (!c)
		return cvl_err(CONVLOG_ENOMEM, "out of memory growing the memtable");
	c->prev = mt->chunks;
	c->size = size;
	mt->chunks = c;
	mt->cur = (uint8_t *)(c + 1);
	mt->cur += -(uintptr_t)mt->cur & 7; /* up to 8-byte alignment */
	mt->cur_left = size - (size_t)(mt->cur - (uint8_t *)c);
	return 0;
}

int cvl_mt_reserve(cvl_memtable *mt, size_t bytes)
{
	return mt->cur_left >= bytes ? 0 : add_chunk(mt, bytes);
}

static void *arena_take(cvl_memtable *mt, size_t n)
{
	void *p;

	/* Callers reserved; a fresh chunk here would break that contract. */
	if (mt->cur_left < n && add_chunk(mt, n) != 0)
		return NULL;
	p = mt->cur;
	mt->cur += n;
	mt->cur_left -= n;
	atomic_fetch_add_explicit(&mt->bytes, n, memory_order_relaxed);
	return p;
}

int cvl_mt_new(cvl_memtable **out)
{
	cvl_memtable *mt = cvl_calloc(1, sizeof(*mt));
	int rc;

	if (!mt)
		return cvl_err(CONVLOG_ENOMEM, "out of memory for a memtable");
	atomic_init(&mt->refs, 1);
	atomic_init(&mt->height, 1);
	mt->rng = cvl_os_mono_ns() | 1;
	rc = add_chunk(mt, node_size(CVL_MT_HEIGHT, 0, 0));
	if (rc) {
		cvl_free(mt);
		return rc;
	}
	mt->head = arena_take(mt, node_size(CVL_MT_HEIGHT, 0, 0));
	memset(mt->head, 0, sizeof(*mt->head));
	mt->head->height = CVL_MT_HEIGHT;
	for (int i = 0; i < CVL_MT_HEIGHT; i++)
		atomic_init(&mt->head->next[i], NULL);
	*out = mt;
	return 0;
}

void cvl_mt_ref(cvl_memtable *mt)
{
	atomic_fetch_add(&mt->refs, 1);
}

void cvl_mt_unref(cvl_memtable *mt)
{
	if (!mt || atomic_fetch_sub(&mt->refs, 1) != 1)
		return;
	if (mt->aux_free)
		mt->aux_free(mt->aux);
	cvl_mt_chunk *c = mt->chunks;
	while (c) {
		cvl_mt_chunk *p = c->prev;
		cvl_free(c);
		c = p;
	}
	cvl_free(mt);
}

/* Order: key bytes (table byte first), shorter first on a tie; then newer
 * LSN first. */
static int cmp_key(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	size_t n = al < bl ? al : bl;
	int c = memcmp(a, b, n);

	if (c)
		return c;
	return al < bl ? -1 : al > bl;
}

/* < 0 if node sorts before (key, lsn). */
static int cmp_node(cvl_mt_node *n, const uint8_t *key, size_t klen, uint64_t lsn)
{
	int c = cmp_key(node_key(n), n->klen, key, klen);

	if (c)
		return c;
	return n->lsn > lsn ? -1 : n->lsn < lsn;
}

static int random_height(cvl_memtable *mt)
{
	int h = 1;

	mt->rng ^= mt->rng << 13;
	mt->rng ^= mt->rng >> 7;
	mt->rng ^= mt->rng << 17;
	uint64_t r = mt->rng;
	while (h < CVL_MT_HEIGHT && (r & 3) == 0) {
		h++;
		r >>= 2;
	}
	return h;
}

/* First node >= (key, lsn); fills prev[] when non-NULL. */
static cvl_mt_node *find_ge(cvl_memtable *mt, const uint8_t *key, size_t klen, uint64_t lsn,
			    cvl_mt_node **prev)
{
	cvl_mt_node *x = mt->head;
	int level = atomic_load_explicit(&mt->height, memory_order_acquire) - 1;

	for (;;) {
		cvl_mt_node *next = atomic_load_explicit(&x->next[level], memory_order_acquire);
		if (next && cmp_node(next, key, klen, lsn) < 0) {
			x = next;
			continue;
		}
		if (prev)
			prev[level] = x;
		if (level == 0)
			return next;
		level--;
	}
}

void cvl_mt_insert(cvl_memtable *mt, uint8_t table, const uint8_t *key, size_t klen,
		   const uint8_t *val, size_t vlen, uint64_t lsn)
{
	cvl_mt_node *prev[CVL_MT_HEIGHT];
	int h = random_height(mt), cur_h;
	cvl_mt_node *n = arena_take(mt, node_size(h, klen + 1, vlen));

	if (!n)
		return; /* only without a covering reserve */
	n->lsn = lsn;
	n->klen = (uint32_t)klen + 1;
	n->vlen = (uint32_t)vlen;
	n->height = (uint8_t)h;
	node_key(n)[0] = table;
	memcpy(node_key(n) + 1, key, klen);
	if (vlen != CVL_MT_TOMB && vlen)
		memcpy(node_val(n), val, vlen);
	cur_h = atomic_load_explicit(&mt->height, memory_order_relaxed);
	if (h > cur_h) {
		for (int i = cur_h; i < h; i++)
			prev[i] = mt->head;
		atomic_store_explicit(&mt->height, h, memory_order_release);
	}
	find_ge(mt, node_key(n), n->klen, lsn, prev);
	for (int i = 0; i < h; i++)
		atomic_init(&n->next[i],
			    atomic_load_explicit(&prev[i]->next[i], memory_order_relaxed));
	for (int i = 0; i < h; i++)
		atomic_store_explicit(&prev[i]->next[i], n, memory_order_release);
	mt->entries++;
	if (!mt->min_lsn || lsn < mt->min_lsn)
		mt->min_lsn = lsn;
	if (lsn > mt->max_lsn)
		mt->max_lsn = lsn;
	if (!mt->born_ns)
		mt->born_ns = cvl_os_mono_ns();
}

static int node_in_table_key(cvl_mt_node *n, uint8_t table, const uint8_t *key, size_t klen)
{
	return n->klen == klen + 1 && node_key(n)[0] == table &&
	       memcmp(node_key(n) + 1, key, klen) == 0;
}

int cvl_mt_get(cvl_memtable *mt, uint8_t table, const uint8_t *key, size_t klen,
	       uint64_t snap, const uint8_t **val, size_t *vlen)
{
	uint8_t kbuf[600];
	cvl_mt_node *n;

	if (klen + 1 > sizeof(kbuf))
		return 0;
	kbuf[0] = table;
	memcpy(kbuf + 1, key, klen);
	n = find_ge(mt, kbuf, klen + 1, snap, NULL);
	if (!n || !node_in_table_key(n, table, key, klen))
		return 0;
	if (n->vlen == CVL_MT_TOMB)
		return 2;
	*val = node_val(n);
	*vlen = n->vlen;
	return 1;
}

/* ---- iteration ---- */

void cvl_mt_iter_init(cvl_mt_iter *it, cvl_memtable *mt, uint8_t table, uint64_t snap)
{
	it->mt = mt;
	it->node = NULL;
	it->snap = snap;
	it->table = table;
}

/* From n, the first node that is the newest visible version of its key. */
static cvl_mt_node *settle(cvl_mt_iter *it, cvl_mt_node *n)
{
	while (n && n->lsn > it->snap)
		n = atomic_load_explicit(&n->next[0], memory_order_acquire);
	if (n && node_key(n)[0] != it->table)
		return NULL;
	return n;
}

void cvl_mt_iter_seek(cvl_mt_iter *it, const uint8_t *key, size_t klen)
{
	uint8_t kbuf[600];
	size_t kl = klen + 1;

	if (kl > sizeof(kbuf))
		kl = sizeof(kbuf);
	kbuf[0] = it->table;
	if (klen)
		memcpy(kbuf + 1, key, kl - 1);
	it->node = settle(it, find_ge(it->mt, kbuf, kl, UINT64_MAX, NULL));
}

int cvl_mt_iter_valid(const cvl_mt_iter *it)
{
	return it->node != NULL;
}

void cvl_mt_iter_next(cvl_mt_iter *it)
{
	cvl_mt_node *cur = it->node, *n;

	n = atomic_load_explicit(&cur->next[0], memory_order_acquire);
	while (n && cmp_key(node_key(n), n->klen, node_key(cur), cur->klen) == 0)
		n = atomic_load_explicit(&n->next[0], memory_order_acquire);
	/* n is the first version of the next key; skip versions beyond snap,
	 * which may expose older versions of that same key. */
	while (n && n->lsn > it->snap) {
		cvl_mt_node *m = atomic_load_explicit(&n->next[0], memory_order_acquire);
		n = m;
	}
	it->node = (n && node_key(n)[0] == it->table) ? n : NULL;
}

/* The newest version <= snap of the greatest key < (or <=) kbuf[0..kl)
 * in the iterator's table, walking back over keys with no visible version. */
static cvl_mt_node *find_le(cvl_mt_iter *it, const uint8_t *kbuf, size_t kl, int strict)
{
	cvl_mt_node *prev[CVL_MT_HEIGHT], *n;
	uint8_t cur[600];
	size_t cl = kl;

	memcpy(cur, kbuf, kl);
	if (!strict) {
		/* the visible version of the key itself, if any */
		n = find_ge(it->mt, cur, cl, it->snap, NULL);
		if (n && cmp_key(node_key(n), n->klen, cur, cl) == 0)
			return n;
	}
	for (;;) {
		/* prev[0]: the last node sorting before every version of cur */
		find_ge(it->mt, cur, cl, UINT64_MAX, prev);
		cvl_mt_node *p = prev[0];
		if (p == it->mt->head || node_key(p)[0] != it->table)
			return NULL;
		n = find_ge(it->mt, node_key(p), p->klen, it->snap, NULL);
		if (n && cmp_key(node_key(n), n->klen, node_key(p), p->klen) == 0)
			return n;
		cl = p->klen < sizeof(cur) ? p->klen : sizeof(cur);
		memcpy(cur, node_key(p), cl);
	}
}

void cvl_mt_iter_seek_le(cvl_mt_iter *it, const uint8_t *key, size_t klen, int strict)
{
	uint8_t kbuf[600];
	size_t kl = klen + 1 < sizeof(kbuf) ? klen + 1 : sizeof(kbuf);

	kbuf[0] = it->table;
	if (kl > 1)
		memcpy(kbuf + 1, key, kl - 1);
	it->node = find_le(it, kbuf, kl, strict);
}

void cvl_mt_iter_prev(cvl_mt_iter *it)
{
	cvl_mt_node *cur = it->node;

	it->node = find_le(it, node_key(cur), cur->klen, 1);
}

void cvl_mt_iter_entry(const cvl_mt_iter *it, const uint8_t **key, size_t *klen,
		       const uint8_t **val, size_t *vlen)
{
	cvl_mt_node *n = it->node;

	*key = node_key(n) + 1;
	*klen = n->klen - 1;
	*vlen = n->vlen;
	*val = n->vlen == CVL_MT_TOMB ? NULL : node_val(n);
}

int cvl_mt_each_latest(cvl_memtable *mt,
		       int (*fn)(void *ud, uint8_t table, const uint8_t *key, size_t klen,
				 const uint8_t *val, size_t vlen),
		       void *ud)
{
	cvl_mt_node *n = atomic_load_explicit(&mt->head->next[0], memory_order_acquire);
	cvl_mt_node *last = NULL;

	for (; n; n = atomic_load_explicit(&n->next[0], memory_order_acquire)) {
		if (last && cmp_key(node_key(n), n->klen, node_key(last), last->klen) == 0)
			continue;
		last = n;
		int rc = fn(ud, node_key(n)[0], node_key(n) + 1, n->klen - 1,
			    n->vlen == CVL_MT_TOMB ? NULL : node_val(n), n->vlen);
		if (rc)
			return rc;
	}
	return 0;
}
