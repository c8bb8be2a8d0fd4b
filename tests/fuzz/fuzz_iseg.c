/*
 * fuzz_iseg: a text index segment file (format-spec.md §10.3) through the
 * reader: open (header, footer, section bounds, small-section checksums),
 * verify, the dictionary cursor and term walk, lookups, document records,
 * and every term's postings with block skipping and positions.
 *
 * Input: one flags byte, then the file.  Flags bit 0 set: the harness
 * rewrites the header's id and checksum, the small sections' checksums
 * and the footer checksum first, so mutations reach the decoders behind
 * them; clear: the bytes are used as they are.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convlog.h"
#include "fuzz_common.h"
#include "index/iseg.h"

#define FOOT (8 * 24 + 16) /* footer before its own checksum */
#define MAX_TERMS 2000

static char dir[4096], file[4200];

static void fix(uint8_t *b, size_t n)
{
	if (n < CVL_ISEG_HEADER + FOOT + 8)
		return;
	cvl_put_u64le(b + 16, 1);
	cvl_put_u64le(b + 56, XXH3_64bits(b, 56));
	uint8_t *f = b + n - FOOT - 8;
	for (int k = 3; k < 8; k++) {
		uint64_t off = cvl_get_u64le(f + k * 24), len = cvl_get_u64le(f + k * 24 + 8);
		if (k == 5 || off > n || len > n - off)
			continue;
		cvl_put_u64le(f + k * 24 + 16, XXH3_64bits(b + off, len));
	}
	cvl_put_u64le(f + FOOT, XXH3_64bits(f, FOOT));
}

static void postings(const cvl_iseg *s, const cvl_iterm *t)
{
	cvl_pit it;
	uint32_t *pos = NULL, cap = 0, d, n = 0;

	cvl_pit_init(&it, s, t);
	while (n++ < 5000 && (d = cvl_pit_next(&it)) != UINT32_MAX) {
		uint32_t tf = cvl_pit_tf(&it);
		/* every position takes at least one byte: a bigger tf fails */
		uint32_t need = tf < s->pos_len + 1 ? tf : (uint32_t)s->pos_len + 1;
		if (need > cap) {
			uint32_t *np = realloc(pos, (size_t)need * sizeof(*np));
			if (!np)
				break;
			pos = np;
			cap = need;
		}
		if (d < s->ndocs && n % 3 == 0)
			(void)cvl_iseg_dead(s, d);
		if (cvl_pit_positions(&it, pos))
			break;
	}
	/* skipping: a second pass that jumps ahead */
	cvl_pit_init(&it, s, t);
	for (uint32_t target = 0, k = 0; k < 64; k++) {
		if (cvl_pit_shallow(&it, target) == UINT32_MAX)
			break;
		d = cvl_pit_advance(&it, target);
		if (d == UINT32_MAX || d > UINT32_MAX - 3)
			break;
		target = d + 1 + (d & 3);
	}
	free(pos);
}

static int on_term(void *ud, const char *text, size_t len, const cvl_iterm *t)
{
	int *n = ud;

	return ++*n > MAX_TERMS;
}

static void exercise(cvl_iseg *s)
{
	static const char *words[] = {"", "a", "hello", "the", "zzzz", "\xe6\x97\xa5"};
	cvl_dcur c;
	cvl_iterm t;
	cvl_idoc doc;
	uint32_t local;
	int n = 0, r;

	(void)cvl_iseg_verify(s);
	for (uint32_t i = 0; i < s->ndocs && i < 10000; i++) {
		cvl_iseg_doc(s, i, &doc);
		(void)cvl_iseg_doclen(s, i);
		if (i % 7 == 0)
			(void)cvl_iseg_find_doc(s, doc.docid, &local);
	}
	(void)cvl_iseg_find_doc(s, s->min_docid, &local);
	if (s->ndocs)
		cvl_iseg_kill(s, s->ndocs - 1);
	(void)cvl_iseg_ndead(s);
	for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++) {
		if (cvl_iseg_lookup(s, words[i], strlen(words[i]), &t) == 0)
			postings(s, &t);
		n = 0;
		(void)cvl_iseg_terms(s, words[i], strlen(words[i]), on_term, &n);
	}
	if (cvl_dcur_first(s, &c) != 0)
		return;
	for (n = 0; n < MAX_TERMS && (r = cvl_dcur_next(&c)) == 1; n++) {
		postings(s, &c.t);
		if (n % 5 == 0 && cvl_iseg_lookup(s, c.term, c.tlen, &t) == 0)
			(void)t;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cvl_iseg *s;
	uint8_t *b;

	if (!dir[0]) {
		fz_tempdir(dir, sizeof(dir), "iseg");
		snprintf(file, sizeof(file), "%s/0000000000000001.idx", dir);
	}
	if (size < 1)
		return 0;
	b = malloc(size);
	if (!b)
		return 0;
	memcpy(b, data + 1, size - 1);
	if (data[0] & 1)
		fix(b, size - 1);
	fz_write(file, b, size - 1, NULL, 0);
	free(b);
	if (cvl_iseg_open(dir, 1, &s) == 0) {
		exercise(s);
		cvl_iseg_unref(s);
	}
	return 0;
}
