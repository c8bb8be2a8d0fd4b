/* The in-memory index, index segments and their postings iterators. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <xxhash.h>

#include "index/flush.h"
#include "index/iseg.h"
#include "index/memidx.h"
#include "testutil.h"
#include "util/codec.h"

#define NT 60 /* vocabulary */

static char dir[256];

static void setup(void)
{
	char cmd[300];

	tu_tmppath(dir, sizeof(dir), "index");
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void teardown(void)
{
	tu_rmrf(dir);
}

typedef struct mdoc {
	int nt;
	int term[400];
	uint32_t pos[400];
	int dead;
} mdoc;

static void term_text(int t, char *buf)
{
	/* shared prefixes exercise the front coding */
	snprintf(buf, 16, "%s%d", t % 3 == 0 ? "pre" : t % 3 == 1 ? "prefix" : "w", t);
}

static int cmp_tok(const void *a, const void *b)
{
	const cvl_mi_tok *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->text, y->text, n);

	if (c)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static char texts[NT][16];

/* Builds `n` random docs into mi and the model. */
static void build(cvl_memidx *mi, mdoc *md, int n, uint64_t *rng)
{
	for (int t = 0; t < NT; t++)
		term_text(t, texts[t]);
	for (int d = 0; d < n; d++) {
		cvl_mi_tok toks[400];
		cvl_idoc doc = {0};
		int nt = 1 + (int)(tu_rand(rng) % 300);
		md[d].nt = nt;
		for (int i = 0; i < nt; i++) {
			/* skewed: low term numbers are common */
			uint64_t r = tu_rand(rng) % 1000;
			int t = r < 500 ? (int)(r % 3) : (int)(r % NT);
			md[d].term[i] = t;
			md[d].pos[i] = (uint32_t)i;
			toks[i] = (cvl_mi_tok){texts[t], (uint16_t)strlen(texts[t]), (uint32_t)i};
		}
		qsort(toks, (size_t)nt, sizeof(toks[0]), cmp_tok);
		doc.docid = 1000 + (uint64_t)d * 3;
		doc.conv.bytes[0] = (uint8_t)(d % 7 + 1);
		doc.seq = (uint32_t)d + 1;
		doc.len = (uint32_t)nt;
		doc.created_at = 1700000000000 + d;
		doc.role_h = d % 2 ? 11 : 22;
		doc.model_h = d % 5 ? 0 : 33;
		CK_OK(cvl_mi_reserve(mi, cvl_mi_cost(1, (size_t)nt, (size_t)nt), 1, (size_t)nt));
		ck_assert_uint_eq(cvl_mi_add(mi, &doc, toks, (size_t)nt), (uint32_t)d);
	}
}

/* The model's postings of term t over live docs: doc, tf, positions. */
static int model_postings(mdoc *md, int n, int t, int skip_dead, uint32_t *docs, uint32_t *tfs)
{
	int k = 0, live = 0;

	for (int d = 0; d < n; d++) {
		if (skip_dead && md[d].dead)
			continue;
		int tf = 0;
		for (int i = 0; i < md[d].nt; i++)
			tf += md[d].term[i] == t;
		if (tf) {
			docs[k] = (uint32_t)(skip_dead ? live : d);
			tfs[k++] = (uint32_t)tf;
		}
		live++;
	}
	return k;
}

START_TEST(test_index__segment_round_trips_postings_and_positions)
{
	cvl_iseg_spill = _i ? 100 : (8u << 20); /* 1: positions spill to a side file */
	enum { N = 1500 };
	static mdoc md[N];
	static uint32_t docs[N], tfs[N], pos[400];
	cvl_memidx *mi;
	cvl_iseg *s;
	uint64_t rng = 99, bytes;
	uint32_t written;

	CK_OK(cvl_mi_new(&mi));
	build(mi, md, N, &rng);
	for (int d = 0; d < N; d += 13) {
		md[d].dead = 1;
		cvl_mi_kill(mi, (uint32_t)d);
	}
	CK_OK(cvl_mi_write(mi, dir, 7, &written, &bytes));
	ck_assert_uint_eq(written, N - (N + 12) / 13);
	CK_OK(cvl_iseg_open(dir, 7, &s));
	ck_assert_uint_eq(s->ndocs, written);
	ck_assert_uint_eq(s->min_docid, 1003);
	for (int t = 0; t < NT; t++) {
		cvl_iterm it;
		cvl_pit p;
		int n = model_postings(md, N, t, 1, docs, tfs);
		int rc = cvl_iseg_lookup(s, texts[t], strlen(texts[t]), &it);
		if (n == 0) {
			ck_assert_int_eq(rc, CONVLOG_ENOTFOUND);
			continue;
		}
		CK_OK(rc);
		ck_assert_uint_eq(it.df, (uint32_t)n);
		cvl_pit_init(&p, s, &it);
		for (int k = 0; k < n; k++) {
			ck_assert_uint_eq(cvl_pit_next(&p), docs[k]);
			ck_assert_uint_eq(cvl_pit_tf(&p), tfs[k]);
			if (k % 3 == 0) {
				ck_assert_int_eq(cvl_pit_positions(&p, pos), 0);
				/* positions of the term in the model's (live) doc */
				int d = 0, live = -1;
				for (d = 0; d < N; d++)
					if (!md[d].dead && ++live == (int)docs[k])
						break;
				uint32_t j = 0;
				for (int i = 0; i < md[d].nt; i++)
					if (md[d].term[i] == t)
						ck_assert_uint_eq(pos[j++], md[d].pos[i]);
			}
		}
		ck_assert_uint_eq(cvl_pit_next(&p), UINT32_MAX);
		/* random advances land on the first doc >= target */
		for (int r = 0; r < 40; r++) {
			uint32_t target = (uint32_t)(tu_rand(&rng) % (written + 10));
			cvl_pit_init(&p, s, &it);
			uint32_t got = cvl_pit_advance(&p, target), want = UINT32_MAX;
			for (int k = 0; k < n; k++)
				if (docs[k] >= target) {
					want = docs[k];
					break;
				}
			ck_assert_uint_eq(got, want);
		}
	}
	/* document records */
	cvl_idoc d0;
	cvl_iseg_doc(s, 0, &d0);
	ck_assert_uint_eq(d0.docid, 1003);
	ck_assert_uint_eq(d0.seq, 2);
	ck_assert_uint_eq(d0.role_h, 11);
	uint32_t local;
	CK_OK(cvl_iseg_find_doc(s, 1006, &local));
	ck_assert_uint_eq(local, 1);
	ck_assert_int_eq(cvl_iseg_find_doc(s, 1000, &local), CONVLOG_ENOTFOUND);
	cvl_iseg_unref(s);
	cvl_mi_free(mi);
}
END_TEST

static int count_terms(void *ud, const char *text, size_t len, const cvl_iterm *t)
{
	int *n = ud;

	(void)t;
	if (len < 6 || memcmp(text, "prefix", 6) != 0)
		return 1; /* past the prefix */
	(*n)++;
	return 0;
}

START_TEST(test_index__terms_walk_from_a_prefix)
{
	enum { N = 300 };
	static mdoc md[N];
	cvl_memidx *mi;
	cvl_iseg *s;
	uint64_t rng = 5, bytes;
	uint32_t written;
	int n = 0, want = 0;

	CK_OK(cvl_mi_new(&mi));
	build(mi, md, N, &rng);
	CK_OK(cvl_mi_write(mi, dir, 1, &written, &bytes));
	CK_OK(cvl_iseg_open(dir, 1, &s));
	ck_assert_int_ge(cvl_iseg_terms(s, "prefix", 6, count_terms, &n), 0);
	for (int t = 0; t < NT; t++) {
		uint32_t d[N], f[N];
		if (t % 3 == 1 && model_postings(md, N, t, 0, d, f) > 0)
			want++;
	}
	ck_assert_int_eq(n, want);
	cvl_iseg_unref(s);
	cvl_mi_free(mi);
}
END_TEST

START_TEST(test_index__damaged_segment_is_refused)
{
	enum { N = 200 };
	static mdoc md[N];
	cvl_memidx *mi;
	cvl_iseg *s;
	uint64_t rng = 7, bytes;
	uint32_t written;
	char path[400];

	CK_OK(cvl_mi_new(&mi));
	build(mi, md, N, &rng);
	CK_OK(cvl_mi_write(mi, dir, 3, &written, &bytes));
	snprintf(path, sizeof(path), "%s/%016x.idx", dir, 3);
	for (uint64_t off = 10; off < bytes; off += bytes / 7) {
		int fd = open(path, O_RDWR);
		unsigned char b;
		ck_assert_int_eq(pread(fd, &b, 1, (off_t)off), 1);
		b ^= 0x40;
		ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)off), 1);
		/* refused at open, or (bulk sections) by the full check */
		int rc = cvl_iseg_open(dir, 3, &s);
		if (rc == 0) {
			rc = cvl_iseg_verify(s);
			cvl_iseg_unref(s);
		}
		ck_assert_int_eq(rc, CONVLOG_ECORRUPT);
		b ^= 0x40;
		ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)off), 1);
		close(fd);
	}
	CK_OK(cvl_iseg_open(dir, 3, &s));
	CK_OK(cvl_iseg_verify(s));
	cvl_iseg_unref(s);
	cvl_mi_free(mi);
}
END_TEST

/* ---- a damaged term frequency, through the public API ---- */

#define ISEG_FOOTER (8 * 24 + 16) /* footer before its own checksum */

/* Under AddressSanitizer or ThreadSanitizer the shadow memory needs the
 * address space that cap_address_space would take away. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TU_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TU_SANITIZED 1
#endif
#endif

/* Caps the address space at what the process maps now plus 1 GiB, so that
 * an allocation of gigabytes fails instead of quietly succeeding (memory
 * is overcommitted: an untouched 16 GiB realloc costs nothing and the
 * search would then fail the same way).  Returns 0 if it could not (a
 * sanitizer, no /proc); the caller restores *old. */
static int cap_address_space(struct rlimit *old)
{
#ifdef TU_SANITIZED
	(void)old;
	return 0;
#else
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long long pages = 0;
	int got = f && fscanf(f, "%llu", &pages) == 1;

	if (f)
		fclose(f);
	if (!got || getrlimit(RLIMIT_AS, old) != 0)
		return 0;
	struct rlimit cap = *old;
	cap.rlim_cur = (rlim_t)(pages * (unsigned long long)sysconf(_SC_PAGESIZE) + (1ull << 30));
	if (old->rlim_max != RLIM_INFINITY && cap.rlim_cur > old->rlim_max)
		return 0;
	return setrlimit(RLIMIT_AS, &cap) == 0;
#endif
}

/* Id of the only index segment in directory `idir`. */
static uint64_t only_segment(const char *idir)
{
	DIR *d = opendir(idir);
	struct dirent *e;
	uint64_t id = 0;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len == 20 && strcmp(e->d_name + 16, ".idx") == 0) {
			id = strtoull(e->d_name, NULL, 16);
			n++;
		}
	}
	closedir(d);
	ck_assert_int_eq(n, 1);
	return id;
}

/*
 * Rewrites the first postings block of `term` in segment `id` in place: the
 * writer's block of 32 documents with 1-bit tfs (gaps 0 bits, body 4
 * bytes) becomes a block of one document, local 0, whose 32-bit tf - 1 is
 * UINT32_MAX - 1, in exactly the same bytes.  Every header field stays
 * valid for the block reader; only the tf is impossible.  Then the file is
 * re-sealed (the POST checksum in the footer, the footer's own), so that
 * only decoding the postings can tell.
 */
static void damage_tf(const char *idir, uint64_t id, const char *term)
{
	cvl_iseg *s;
	cvl_iterm t;
	char file[400];
	uint64_t n, last, mtf, mlen, prel, body;

	CK_OK(cvl_iseg_open(idir, id, &s));
	CK_OK(cvl_iseg_lookup(s, term, strlen(term), &t));
	ck_assert_uint_eq(t.df, 32);
	size_t off = (size_t)(s->post - s->map) + (size_t)t.post_off, size = (size_t)s->file_size;
	cvl_iseg_unref(s);

	snprintf(file, sizeof(file), "%s/%016llx.idx", idir, (unsigned long long)id);
	int fd = open(file, O_RDWR);
	ck_assert_int_ge(fd, 0);
	uint8_t *b = malloc(size);
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(pread(fd, b, size, 0), (ssize_t)size);

	/* the block as written (format-spec.md §10.3) */
	const uint8_t *p = b + off, *end = b + off + t.post_len;
	ck_assert(!cvl_varint_get(&p, end, &n) && !cvl_varint_get(&p, end, &last) &&
		  !cvl_varint_get(&p, end, &mtf) && !cvl_varint_get(&p, end, &mlen) &&
		  end - p >= 2);
	unsigned gb = p[0], tb = p[1];
	p += 2;
	ck_assert(!cvl_varint_get(&p, end, &prel) && !cvl_varint_get(&p, end, &body));
	ck_assert_uint_eq(n, 32);
	ck_assert_uint_eq(last, 31);
	ck_assert_uint_eq(gb, 0);
	ck_assert_uint_eq(tb, 1);
	ck_assert_uint_eq(body, 4);
	size_t old = (size_t)(p - (b + off)) + (size_t)body;

	/* the same bytes as one document with tf = UINT32_MAX (maxima kept) */
	uint8_t nb[64];
	size_t k = 0;
	k += cvl_varint_put(nb + k, 1);
	k += cvl_varint_put(nb + k, 0);
	k += cvl_varint_put(nb + k, mtf);
	k += cvl_varint_put(nb + k, mlen);
	nb[k++] = 0;
	nb[k++] = 32;
	k += cvl_varint_put(nb + k, prel);
	k += cvl_varint_put(nb + k, 4);
	cvl_put_u32le(nb + k, UINT32_MAX - 1);
	k += 4;
	ck_assert_uint_eq(k, old);
	memcpy(b + off, nb, k);

	/* re-seal: POST is the footer's first section */
	uint8_t *f = b + size - ISEG_FOOTER - 8;
	cvl_put_u64le(f + 16, XXH3_64bits(b + cvl_get_u64le(f), (size_t)cvl_get_u64le(f + 8)));
	cvl_put_u64le(f + ISEG_FOOTER, XXH3_64bits(f, ISEG_FOOTER));
	ck_assert_int_eq(pwrite(fd, b, size, 0), (ssize_t)size);
	close(fd);
	free(b);
	CK_OK(cvl_iseg_open(idir, id, &s));
	CK_OK(cvl_iseg_verify(s));
	cvl_iseg_unref(s);
}

/* Hits of `query` (at most 100) into *hits; returns the status. */
static int search(convlog_db *db, const char *query, size_t *hits)
{
	convlog_search_query q;
	convlog_search_result *r = NULL;

	convlog_search_query_init(&q);
	q.query = query;
	q.limit = 100;
	int rc = convlog_search(db, &q, &r);
	*hits = rc == 0 ? r->n_hits : 0;
	convlog_search_result_free(r);
	return rc;
}

/* Regression (8090b5f): a phrase query reallocated tf positions before
 * reading them, so a damaged tf near 2^32 asked for 16 GiB. */
START_TEST(test_index__tf_past_the_positions_section_is_corruption)
{
	char store[300], idir[320];
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_OFF);
	convlog_db *db;
	struct rlimit lim;
	size_t hits;

	snprintf(store, sizeof(store), "%s/store", dir);
	snprintf(idir, sizeof(idir), "%s/index", store);
	db = tu_open(store, o);
	convlog_uuid conv = tu_conv(db, NULL, "phrases");
	/* alpha's tf is 1 or 2: its block of 32 has 1-bit tfs, 4 bytes */
	for (int i = 0; i < 32; i++)
		tu_msg(db, &conv, "user", i % 2 ? "alpha beta gamma alpha" : "alpha beta gamma");
	/* every document into segments (tu_opts' small memtable flushes
	 * often), then all of them into one */
	CK_OK(convlog_checkpoint(db));
	CK_OK(convlog_index_merge(db, CONVLOG_MERGE_ALL));
	convlog_close(db);

	damage_tf(idir, only_segment(idir), "alpha");

	db = tu_open(store, o);
	int capped = cap_address_space(&lim);
	int rc = search(db, "\"alpha beta\"", &hits);
	if (capped)
		ck_assert_int_eq(setrlimit(RLIMIT_AS, &lim), 0);
	ck_assert_msg(rc == CONVLOG_ECORRUPT, "phrase search -> %d (%s), expected ECORRUPT: %s", rc,
		      convlog_strerror(rc), convlog_errmsg());
	/* the other words' postings are intact */
	CK_OK(search(db, "\"beta gamma\"", &hits));
	ck_assert_uint_eq(hits, 32);
	CK_OK(search(db, "gamma", &hits));
	ck_assert_uint_eq(hits, 32);
	convlog_close(db);
	convlog_options_free(o);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("index");
	TCase *tc = tcase_create("index");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_index__segment_round_trips_postings_and_positions, 0, 2);
	tcase_add_test(tc, test_index__terms_walk_from_a_prefix);
	tcase_add_test(tc, test_index__damaged_segment_is_refused);
	tcase_add_test(tc, test_index__tf_past_the_positions_section_is_corruption);
	suite_add_tcase(s, tc);
	return tu_run(s) != 0;
}
