/* lib/log/cache.c: the LRU cache of decompressed frames. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "log/cache.h"
#include "log/record.h"
#include "testutil.h"
#include "util/alloc.h"
#include "util/codec.h"

#define BODY 100

/* Raw frame bytes: `nrec` records whose bodies encode (seg, off, i). */
static uint8_t *raw_records(uint32_t seg, uint64_t off, uint32_t nrec, size_t *len)
{
	cvl_buf b;
	uint8_t body[BODY];

	cvl_buf_init(&b, 0);
	for (uint32_t i = 0; i < nrec; i++) {
		memset(body, (int)(i & 0xff), sizeof(body));
		cvl_put_u32le(body, seg);
		cvl_put_u64le(body + 4, off);
		cvl_put_u32le(body + 12, i);
		CK_OK(cvl_record_encode(&b, CVL_REC_MSG_APPEND, off + i + 1, 0, 0, body, sizeof(body)));
	}
	return cvl_buf_detach(&b, len);
}

static cvl_frame *make(uint32_t seg, uint64_t off, uint32_t nrec)
{
	size_t len;
	uint8_t *raw = raw_records(seg, off, nrec, &len);
	cvl_frame *f = NULL;
	const char *why = NULL;

	ck_assert_msg(cvl_frame_make(seg, off, raw, len, nrec, &f, &why) == 0, "%s", why);
	return f;
}

/* Asserts `f` is the frame for (seg, off) with intact records. */
static void assert_frame(const cvl_frame *f, uint32_t seg, uint64_t off, uint32_t nrec)
{
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->seg, seg);
	ck_assert_uint_eq(f->off, off);
	ck_assert_uint_eq(f->nrec, nrec);
	for (uint32_t i = 0; i < nrec; i++) {
		const uint8_t *p = f->raw + f->rec_off[i];
		cvl_record r;
		const char *why;
		ck_assert_int_eq(cvl_record_decode(&p, f->raw + f->raw_len, &r, &why), 0);
		ck_assert_uint_eq(r.lsn, off + i + 1);
		ck_assert_uint_eq(cvl_get_u32le(r.body), seg);
		ck_assert_uint_eq(cvl_get_u64le(r.body + 4), off);
		ck_assert_uint_eq(cvl_get_u32le(r.body + 12), i);
	}
}

static size_t one_charge(void)
{
	cvl_frame *f = make(0, 0, 2);
	size_t c = f->charge;

	cvl_frame_free(f);
	return c;
}

START_TEST(test_cache__frame_make_indexes_every_record)
{
	cvl_frame *f = make(3, 4096, 7);

	assert_frame(f, 3, 4096, 7);
	ck_assert_uint_eq(f->rec_off[0], 0);
	for (uint32_t i = 1; i < 7; i++)
		ck_assert_uint_eq(f->rec_off[i] - f->rec_off[i - 1], 1 + CVL_REC_FIXED + BODY);
	ck_assert_uint_ge(f->charge, f->raw_len);
	cvl_frame_free(f);
	cvl_frame_free(NULL);
}
END_TEST

START_TEST(test_cache__frame_make_rejects_bad_record_counts)
{
	size_t len;
	uint8_t *raw;
	cvl_frame *f = (cvl_frame *)0x1;
	const char *why = NULL;

	raw = raw_records(1, 0, 3, &len);
	ck_assert_int_eq(cvl_frame_make(1, 0, raw, len, 2, &f, &why), -1);
	ck_assert_str_eq(why, "frame holds more records than its header says");
	ck_assert_ptr_eq(f, (cvl_frame *)0x1);

	raw = raw_records(1, 0, 3, &len);
	ck_assert_int_eq(cvl_frame_make(1, 0, raw, len, 4, &f, &why), -1);
	ck_assert_str_eq(why, "frame holds fewer records than its header says");

	raw = raw_records(1, 0, 3, &len);
	ck_assert_int_eq(cvl_frame_make(1, 0, raw, len, 0, &f, &why), -1);

	/* a record cut short inside the frame */
	raw = raw_records(1, 0, 3, &len);
	ck_assert_int_eq(cvl_frame_make(1, 0, raw, len - 1, 3, &f, &why), -1);
	ck_assert_str_eq(why, "record length runs past the frame");

	/* a bad record in the middle */
	raw = raw_records(1, 0, 3, &len);
	raw[1 + CVL_REC_FIXED + BODY + 1] = 0xEE; /* type of record 1 */
	ck_assert_int_eq(cvl_frame_make(1, 0, raw, len, 3, &f, &why), -1);
	ck_assert_str_eq(why, "unknown record type");
	ck_assert_ptr_eq(f, (cvl_frame *)0x1);
}
END_TEST

START_TEST(test_cache__get_of_a_missing_frame_is_null)
{
	cvl_cache *c = NULL;

	CK_OK(cvl_cache_new(1 << 20, &c));
	ck_assert_ptr_null(cvl_cache_get(c, 1, 0));
	ck_assert_uint_eq(cvl_cache_bytes(c), 0);
	cvl_cache_free(c);
	cvl_cache_free(NULL);
}
END_TEST

START_TEST(test_cache__put_then_get_returns_the_same_frame)
{
	cvl_cache *c;

	CK_OK(cvl_cache_new(1 << 20, &c));
	cvl_frame *f = make(2, 640, 3);
	size_t charge = f->charge;
	cvl_frame *p = cvl_cache_put(c, f);
	ck_assert_ptr_eq(p, f);
	ck_assert_int_eq(p->refs, 1);
	ck_assert_int_eq(p->cached, 1);
	ck_assert_uint_eq(cvl_cache_bytes(c), charge);

	cvl_frame *g = cvl_cache_get(c, 2, 640);
	ck_assert_ptr_eq(g, f);
	ck_assert_int_eq(g->refs, 2);
	assert_frame(g, 2, 640, 3);
	cvl_cache_release(c, g);
	cvl_cache_release(c, p);
	ck_assert_int_eq(f->refs, 0);
	/* still cached after the last release: within capacity */
	g = cvl_cache_get(c, 2, 640);
	ck_assert_ptr_eq(g, f);
	cvl_cache_release(c, g);
	cvl_cache_release(c, NULL);

	/* same offset in another segment, same segment at another offset */
	ck_assert_ptr_null(cvl_cache_get(c, 3, 640));
	ck_assert_ptr_null(cvl_cache_get(c, 2, 641));
	cvl_cache_free(c);
}
END_TEST

START_TEST(test_cache__putting_a_cached_frame_again_returns_the_cached_one)
{
	cvl_cache *c;

	CK_OK(cvl_cache_new(1 << 20, &c));
	cvl_frame *a = cvl_cache_put(c, make(1, 100, 2));
	size_t bytes = cvl_cache_bytes(c);
	cvl_frame *b = cvl_cache_put(c, make(1, 100, 2));
	ck_assert_ptr_eq(b, a);
	ck_assert_int_eq(a->refs, 2);
	ck_assert_uint_eq(cvl_cache_bytes(c), bytes);
	cvl_cache_release(c, a);
	cvl_cache_release(c, b);
	cvl_cache_free(c);
}
END_TEST

START_TEST(test_cache__least_recently_used_frames_are_evicted_past_capacity)
{
	cvl_cache *c;
	size_t charge = one_charge();

	CK_OK(cvl_cache_new(3 * charge + charge / 2, &c));
	for (uint64_t i = 0; i < 6; i++) {
		cvl_frame *f = cvl_cache_put(c, make(1, i * 1000, 2));
		cvl_cache_release(c, f);
		ck_assert_uint_le(cvl_cache_bytes(c), 3 * charge + charge / 2);
	}
	ck_assert_uint_eq(cvl_cache_bytes(c), 3 * charge);
	for (uint64_t i = 0; i < 3; i++)
		ck_assert_ptr_null(cvl_cache_get(c, 1, i * 1000));
	for (uint64_t i = 3; i < 6; i++) {
		cvl_frame *g = cvl_cache_get(c, 1, i * 1000);
		assert_frame(g, 1, i * 1000, 2);
		cvl_cache_release(c, g);
	}
	cvl_cache_free(c);
}
END_TEST

START_TEST(test_cache__get_refreshes_recency)
{
	cvl_cache *c;
	size_t charge = one_charge();

	CK_OK(cvl_cache_new(3 * charge, &c));
	for (uint64_t i = 0; i < 3; i++)
		cvl_cache_release(c, cvl_cache_put(c, make(1, i, 2)));
	/* touch the oldest: frame 1 becomes the eviction candidate */
	cvl_cache_release(c, cvl_cache_get(c, 1, 0));
	cvl_cache_release(c, cvl_cache_put(c, make(1, 3, 2)));
	ck_assert_ptr_null(cvl_cache_get(c, 1, 1));
	for (uint64_t i = 0; i < 4; i++) {
		if (i == 1)
			continue;
		cvl_frame *g = cvl_cache_get(c, 1, i);
		ck_assert_msg(g != NULL, "frame %llu was evicted", (unsigned long long)i);
		cvl_cache_release(c, g);
	}
	cvl_cache_free(c);
}
END_TEST

START_TEST(test_cache__referenced_frames_are_not_evicted)
{
	cvl_cache *c;
	size_t charge = one_charge();
	cvl_frame *held[5];

	CK_OK(cvl_cache_new(2 * charge + charge / 2, &c));
	for (uint64_t i = 0; i < 5; i++)
		held[i] = cvl_cache_put(c, make(4, i * 64, 2));
	/* over capacity, but every frame is in use: nothing may go */
	ck_assert_uint_eq(cvl_cache_bytes(c), 5 * charge);
	for (uint64_t i = 0; i < 5; i++) {
		cvl_frame *g = cvl_cache_get(c, 4, i * 64);
		ck_assert_ptr_eq(g, held[i]);
		assert_frame(g, 4, i * 64, 2);
		cvl_cache_release(c, g);
	}
	/* releasing the middle one lets it go (it is the LRU unreferenced one) */
	cvl_cache_release(c, held[2]);
	ck_assert_uint_eq(cvl_cache_bytes(c), 4 * charge);
	ck_assert_ptr_null(cvl_cache_get(c, 4, 2 * 64));
	/* the still-held frames are intact */
	assert_frame(held[0], 4, 0, 2);
	assert_frame(held[4], 4, 4 * 64, 2);
	/* releasing the rest shrinks the cache back within capacity */
	for (uint64_t i = 0; i < 5; i++)
		if (i != 2)
			cvl_cache_release(c, held[i]);
	ck_assert_uint_le(cvl_cache_bytes(c), 2 * charge + charge / 2);
	ck_assert_uint_eq(cvl_cache_bytes(c), 2 * charge);
	cvl_cache_free(c);
}
END_TEST

START_TEST(test_cache__frame_larger_than_capacity_is_not_cached)
{
	cvl_cache *c;
	size_t charge = one_charge();

	CK_OK(cvl_cache_new(charge - 1, &c));
	cvl_frame *f = cvl_cache_put(c, make(1, 0, 2));
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(f->cached, 0);
	ck_assert_int_eq(f->refs, 1);
	assert_frame(f, 1, 0, 2);
	ck_assert_uint_eq(cvl_cache_bytes(c), 0);
	ck_assert_ptr_null(cvl_cache_get(c, 1, 0));
	cvl_cache_release(c, f); /* frees it */
	cvl_cache_free(c);

	/* a zero-capacity cache caches nothing */
	CK_OK(cvl_cache_new(0, &c));
	f = cvl_cache_put(c, make(1, 0, 1));
	ck_assert_int_eq(f->cached, 0);
	cvl_cache_release(c, f);
	ck_assert_ptr_null(cvl_cache_get(c, 1, 0));
	cvl_cache_free(c);
}
END_TEST

START_TEST(test_cache__many_frames_in_colliding_slots_are_all_found)
{
	cvl_cache *c;

	CK_OK(cvl_cache_new(SIZE_MAX / 2, &c));
	/* more frames than hash slots: chains must work */
	for (uint32_t seg = 1; seg <= 3; seg++)
		for (uint64_t i = 0; i < 2000; i++)
			cvl_cache_release(c, cvl_cache_put(c, make(seg, i * 4096, 1)));
	for (uint32_t seg = 1; seg <= 3; seg++)
		for (uint64_t i = 0; i < 2000; i += 7) {
			cvl_frame *g = cvl_cache_get(c, seg, i * 4096);
			assert_frame(g, seg, i * 4096, 1);
			cvl_cache_release(c, g);
		}
	cvl_cache_free(c);
}
END_TEST

/* ---- threads ---- */

typedef struct shared {
	cvl_cache *c;
	_Atomic int bad;
	uint64_t seed;
} shared;

static void *hammer(void *arg)
{
	shared *s = arg;
	uint64_t seed = s->seed;

	for (int n = 0; n < 20000; n++) {
		uint64_t off = tu_rand(&seed) % 64;
		cvl_frame *f = cvl_cache_get(s->c, 9, off);
		if (!f)
			f = cvl_cache_put(s->c, make(9, off, 1));
		/* the frame must stay valid while referenced */
		const uint8_t *p = f->raw;
		cvl_record r;
		const char *why;
		if (f->off != off || cvl_record_decode(&p, f->raw + f->raw_len, &r, &why) != 0 ||
		    cvl_get_u64le(r.body + 4) != off)
			atomic_store(&s->bad, 1);
		cvl_cache_release(s->c, f);
	}
	return NULL;
}

START_TEST(test_cache__concurrent_get_put_release_keep_frames_valid)
{
	shared s[4];
	pthread_t t[4];
	cvl_cache *c;
	size_t charge = one_charge();

	CK_OK(cvl_cache_new(8 * charge, &c));
	for (int i = 0; i < 4; i++) {
		s[i].c = c;
		atomic_init(&s[i].bad, 0);
		s[i].seed = (uint64_t)i * 7919 + 1;
		ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, &s[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 4; i++) {
		int bad = atomic_load(&s[i].bad);
		ck_assert_msg(bad == 0, "thread %d saw a frame that was not the one it asked for", i);
	}
	ck_assert_uint_le(cvl_cache_bytes(c), 8 * charge);
	cvl_cache_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cache");
	TCase *tc = tcase_create("cache");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_cache__frame_make_indexes_every_record);
	tcase_add_test(tc, test_cache__frame_make_rejects_bad_record_counts);
	tcase_add_test(tc, test_cache__get_of_a_missing_frame_is_null);
	tcase_add_test(tc, test_cache__put_then_get_returns_the_same_frame);
	tcase_add_test(tc, test_cache__putting_a_cached_frame_again_returns_the_cached_one);
	tcase_add_test(tc, test_cache__least_recently_used_frames_are_evicted_past_capacity);
	tcase_add_test(tc, test_cache__get_refreshes_recency);
	tcase_add_test(tc, test_cache__referenced_frames_are_not_evicted);
	tcase_add_test(tc, test_cache__frame_larger_than_capacity_is_not_cached);
	tcase_add_test(tc, test_cache__many_frames_in_colliding_slots_are_all_found);
	tcase_add_test(tc, test_cache__concurrent_get_put_release_keep_frames_valid);
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
