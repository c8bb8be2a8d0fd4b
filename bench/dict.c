/*
 * dict.c - does a zstd dictionary pay for small frames?
 *
 * A 64 KiB dictionary is trained (ZDICT_trainFromBuffer) on DICT_MSGS
 * corpus messages; DICT_MSGS other messages are then compressed at level
 * 3 without and with it, once each message in a frame of its own (what a
 * small commit would look like) and once concatenated and cut into 32 KiB
 * chunks (the log's frame size).  Engine-independent; reported with
 * convlog's extras.
 */
#include <stdlib.h>
#include <string.h>
#include <zdict.h>
#include <zstd.h>

#include "bench.h"

typedef struct sample {
	char *buf;
	size_t *sizes;
	size_t n, used;
} sample;

/* Messages first, first + 2 * stride, ...: `n` of them, one after another. */
static void sample_fill(const workload *w, uint32_t first, uint32_t stride, uint32_t n, sample *s)
{
	static char text[WL_MAX_CONTENT];
	size_t cap = 1u << 20;
	wl_msg m;

	s->buf = malloc(cap);
	s->sizes = calloc(n, sizeof(*s->sizes));
	s->n = s->used = 0;
	if (!s->buf || !s->sizes)
		bench_die("out of memory for the dictionary samples");
	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = first + 2 * k * stride;
		if (i >= w->n_msgs)
			break;
		wl_corpus_msg(w, i, text, &m);
		if (s->used + m.len > cap) {
			char *nb = realloc(s->buf, cap *= 2);
			if (!nb)
				bench_die("out of memory for the dictionary samples");
			s->buf = nb;
		}
		memcpy(s->buf + s->used, m.content, m.len);
		s->sizes[s->n++] = m.len;
		s->used += m.len;
	}
}

static void sample_free(sample *s)
{
	free(s->buf);
	free(s->sizes);
	memset(s, 0, sizeof(*s));
}

static size_t zcheck(size_t rc, const char *what)
{
	if (ZSTD_isError(rc))
		bench_die("zstd: %s: %s", what, ZSTD_getErrorName(rc));
	return rc;
}

/* Compressed bytes of `len` bytes at `src` cut into pieces of the sizes in
 * `sizes` (or of `chunk` bytes when sizes is NULL), each its own frame. */
static uint64_t frames(ZSTD_CCtx *cc, const ZSTD_CDict *cd, const char *src, size_t len,
		       const size_t *sizes, size_t chunk, char *dst, size_t cap)
{
	uint64_t total = 0;
	size_t off = 0;

	for (size_t k = 0; off < len; k++) {
		size_t n = sizes ? sizes[k] : (len - off < chunk ? len - off : chunk);
		if (cd)
			total += zcheck(ZSTD_compress_usingCDict(cc, dst, cap, src + off, n, cd),
					"compress with dictionary");
		else
			total += zcheck(ZSTD_compressCCtx(cc, dst, cap, src + off, n, DICT_LEVEL),
					"compress");
		off += n;
	}
	return total;
}

void dict_experiment(const workload *w, results *r)
{
	uint32_t n = w->n_msgs / 2 < DICT_MSGS ? w->n_msgs / 2 : DICT_MSGS;
	uint32_t stride = w->n_msgs / (2 * n);
	size_t cap = ZSTD_compressBound(DICT_CHUNK > WL_MAX_CONTENT ? DICT_CHUNK : WL_MAX_CONTENT);
	size_t dsize;
	sample train, test;
	char *dict = malloc(DICT_CAPACITY), *dst = malloc(cap);
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	ZSTD_CDict *cd;
	uint64_t plain, with;

	if (!dict || !dst || !cc)
		bench_die("out of memory for the dictionary experiment");
	/* training and test samples interleave over the whole corpus */
	sample_fill(w, 0, stride, n, &train);
	sample_fill(w, stride, stride, n, &test);
	dsize =
	    ZDICT_trainFromBuffer(dict, DICT_CAPACITY, train.buf, train.sizes, (unsigned)train.n);
	if (ZDICT_isError(dsize)) {
		bench_log("[dict] ZDICT_trainFromBuffer on %zu messages failed: %s", train.n,
			  ZDICT_getErrorName(dsize));
		goto out;
	}
	cd = ZSTD_createCDict(dict, dsize, DICT_LEVEL);
	if (!cd)
		bench_die("zstd: cannot create the dictionary");
	res_xset(r, X_DICT_SIZE, (double)dsize);
	res_xset(r, X_DICT_RAW, (double)test.used);
	plain = frames(cc, NULL, test.buf, test.used, test.sizes, 0, dst, cap);
	with = frames(cc, cd, test.buf, test.used, test.sizes, 0, dst, cap);
	res_xset(r, X_DICT_MSG_PLAIN, (double)plain);
	res_xset(r, X_DICT_MSG_DICT, (double)with);
	res_xset(r, X_DICT_MSG_RATIO, (double)with / (double)plain);
	plain = frames(cc, NULL, test.buf, test.used, NULL, DICT_CHUNK, dst, cap);
	with = frames(cc, cd, test.buf, test.used, NULL, DICT_CHUNK, dst, cap);
	res_xset(r, X_DICT_CHUNK_PLAIN, (double)plain);
	res_xset(r, X_DICT_CHUNK_DICT, (double)with);
	res_xset(r, X_DICT_CHUNK_RATIO, (double)with / (double)plain);
	ZSTD_freeCDict(cd);
out:
	ZSTD_freeCCtx(cc);
	sample_free(&train);
	sample_free(&test);
	free(dict);
	free(dst);
}
