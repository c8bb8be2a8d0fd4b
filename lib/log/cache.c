#include <pthread.h>
#include <string.h>

#include "convlog.h"
#include "log/cache.h"
#include "log/record.h"
#include "util/alloc.h"
#include "util/err.h"

struct cvl_cache {
	pthread_mutex_t mu;
	size_t capacity, used;
	cvl_frame **slots;
	size_t nslots;
	cvl_frame lru; /* sentinel: lru.next = most recent */
};

static size_t slot_of(cvl_cache *c, uint32_t seg, uint64_t off)
{
	uint64_t h = (off * UINT64_C(0x9E3779B97F4A7C15)) ^ ((uint64_t)seg << 32 | seg);

	h ^= h >> 29;
	return (size_t)(h & (c->nslots - 1));
}

int cvl_cache_new(size_t capacity, cvl_cache **out)
{
	cvl_cache *c = cvl_calloc(1, sizeof(*c));

	if (!c)
		return cvl_err(CONVLOG_ENOMEM, "out of memory for the block cache");
	c->capacity = capacity;
	c->nslots = 4096;
	c->slots = cvl_calloc(c->nslots, sizeof(*c->slots));
	if (!c->slots) {
		cvl_free(c);
		return cvl_err(CONVLOG_ENOMEM, "out of memory for the block cache");
	}
	pthread_mutex_init(&c->mu, NULL);
	c->lru.lru_next = c->lru.lru_prev = &c->lru;
	*out = c;
	return 0;
}

void cvl_frame_free(cvl_frame *f)
{
	if (!f)
		return;
	cvl_free(f->raw);
	cvl_free(f);
}

void cvl_cache_free(cvl_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nslots; i++) {
		cvl_frame *f = c->slots[i];
		while (f) {
			cvl_frame *n = f->hnext;
			cvl_frame_free(f);
			f = n;
		}
	}
	pthread_mutex_destroy(&c->mu);
	cvl_free(c->slots);
	cvl_free(c);
}

static void lru_unlink(cvl_frame *f)
{
	f->lru_prev->lru_next = f->lru_next;
	f->lru_next->lru_prev = f->lru_prev;
}

static void lru_front(cvl_cache *c, cvl_frame *f)
{
	f->lru_next = c->lru.lru_next;
	f->lru_prev = &c->lru;
	c->lru.lru_next->lru_prev = f;
	c->lru.lru_next = f;
}

static void unhash(cvl_cache *c, cvl_frame *f)
{
	cvl_frame **pp = &c->slots[slot_of(c, f->seg, f->off)];

	while (*pp && *pp != f)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = f->hnext;
}

/* Evicts unreferenced frames from the LRU tail until within capacity. */
static void evict(cvl_cache *c)
{
	cvl_frame *f = c->lru.lru_prev;

	while (c->used > c->capacity && f != &c->lru) {
		cvl_frame *prev = f->lru_prev;
		if (f->refs == 0) {
			lru_unlink(f);
			unhash(c, f);
			c->used -= f->charge;
			cvl_frame_free(f);
		}
		f = prev;
	}
}

cvl_frame *cvl_cache_get(cvl_cache *c, uint32_t seg, uint64_t off)
{
	cvl_frame *f;

	pthread_mutex_lock(&c->mu);
	for (f = c->slots[slot_of(c, seg, off)]; f; f = f->hnext)
		if (f->seg == seg && f->off == off)
			break;
	if (f) {
		f->refs++;
		lru_unlink(f);
		lru_front(c, f);
	}
	pthread_mutex_unlock(&c->mu);
	return f;
}

cvl_frame *cvl_cache_put(cvl_cache *c, cvl_frame *f)
{
	cvl_frame *g;

	f->refs = 1;
	if (f->charge > c->capacity) {
		f->cached = 0;
		return f;
	}
	pthread_mutex_lock(&c->mu);
	for (g = c->slots[slot_of(c, f->seg, f->off)]; g; g = g->hnext)
		if (g->seg == f->seg && g->off == f->off)
			break;
	if (g) {
		g->refs++;
		pthread_mutex_unlock(&c->mu);
		cvl_frame_free(f);
		return g;
	}
	size_t s = slot_of(c, f->seg, f->off);
	f->hnext = c->slots[s];
	c->slots[s] = f;
	f->cached = 1;
	lru_front(c, f);
	c->used += f->charge;
	evict(c);
	pthread_mutex_unlock(&c->mu);
	return f;
}

void cvl_cache_release(cvl_cache *c, cvl_frame *f)
{
	if (!f)
		return;
	if (!f->cached) {
		cvl_frame_free(f);
		return;
	}
	pthread_mutex_lock(&c->mu);
	f->refs--;
	if (f->refs == 0 && c->used > c->capacity)
		evict(c);
	pthread_mutex_unlock(&c->mu);
}

size_t cvl_cache_bytes(cvl_cache *c)
{
	size_t n;

	pthread_mutex_lock(&c->mu);
	n = c->used;
	pthread_mutex_unlock(&c->mu);
	return n;
}

int cvl_frame_make(uint32_t seg, uint64_t off, uint8_t *raw, size_t raw_len,
		   uint32_t expect_nrec, cvl_frame **out, const char **why)
{
	cvl_frame *f = cvl_calloc(1, sizeof(*f) + expect_nrec * sizeof(uint32_t));
	const uint8_t *p = raw, *end = raw + raw_len;
	uint32_t n = 0;

	if (!f) {
		cvl_free(raw);
		return cvl_err(CONVLOG_ENOMEM, "out of memory reading a frame");
	}
	f->rec_off = (uint32_t *)(f + 1);
	while (p < end) {
		cvl_record r;
		if (n == expect_nrec) {
			*why = "frame holds more records than its header says";
			goto bad;
		}
		f->rec_off[n++] = (uint32_t)(p - raw);
		if (cvl_record_decode(&p, end, &r, why))
			goto bad;
	}
	if (n != expect_nrec) {
		*why = "frame holds fewer records than its header says";
		goto bad;
	}
	f->seg = seg;
	f->off = off;
	f->raw = raw;
	f->raw_len = raw_len;
	f->nrec = n;
	f->charge = raw_len + sizeof(*f) + n * sizeof(uint32_t);
	*out = f;
	return 0;
bad:
	cvl_free(raw);
	cvl_free(f);
	return -1;
}
