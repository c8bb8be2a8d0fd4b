/*
 * fuzz_changeset: convlog_sync_apply() (format-spec.md §15) on a store made
 * at start-up, with conversations whose ids the seed changesets also use
 * (tests/data/good.jsonl's), so merges meet existing state.  State
 * accumulates across runs; the store is recreated every 500 of them.
 *
 * Built twice:
 *   fuzz_changeset      the input is the payload (items, §15.2): the
 *     harness wraps it in a valid container (header, n_items counted by
 *     walking the items as cvl_cs_read does, XXH3 trailer) so that the
 *     fuzzer works on the items instead of dying at the checksum.  The
 *     first byte is flags: bit 0 compresses the payload (codec 1), bit 1
 *     adds one to n_items (a count that does not match).
 *   fuzz_changeset_raw  (-DFUZZ_RAW) the input is the whole file, as
 *     `convlog sync apply` reads it: the container checks themselves.
 * Both also run convlog_sync_peek().  With FUZZ_VERIFY=1 in the
 * environment, a store that convlog_verify() finds problems in after an
 * apply aborts (so the input is saved).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "convlog.h"
#include "fuzz_common.h"
#include "util/codec.h"

#define SOURCE UINT64_C(0x5eed5eed5eed5eed)

static char dir[4096], store[4200];
static convlog_db *db;
static convlog_options *opts;

static const char *conv_ids[] = {"0190aaaa-0000-7000-8000-00000000000a",
				 "0190bbbb-0000-7000-8000-00000000000b",
				 "0190f000-0000-7000-8000-000000000001"};

static void make_store(void)
{
	convlog_uuid first;

	fz_rmtree(store);
	if (convlog_open(store, opts, &db)) {
		fprintf(stderr, "fuzz_changeset: %s\n", convlog_errmsg());
		abort();
	}
	for (int c = 0; c < 3; c++) {
		convlog_conv cv;
		convlog_conv_init(&cv);
		if (convlog_uuid_parse(conv_ids[c], &cv.id))
			abort();
		cv.user_id = "test-user";
		cv.title = c ? "local title" : "Conversation A";
		if (convlog_conv_create(db, NULL, &cv, NULL))
			abort();
		if (c == 0)
			first = cv.id;
		for (int i = 0; i < 3; i++) {
			convlog_msg m;
			convlog_msg_init(&m);
			m.conv_id = cv.id;
			m.role = i % 2 ? "assistant" : "user";
			m.content = i % 2 ? "a local answer" : "a local question";
			m.content_len = strlen(m.content);
			if (convlog_msg_append(db, NULL, &m, NULL))
				abort();
		}
	}
	if (convlog_conv_fork(db, NULL, &first, 2, NULL, 0, NULL))
		abort();
}

static void init(void)
{
	fz_tempdir(dir, sizeof(dir), "changeset");
	snprintf(store, sizeof(store), "%s/store", dir);
	if (convlog_options_new(&opts) || convlog_options_set_map_size(opts, 256u << 20) ||
	    convlog_options_set_durability(opts, CONVLOG_DURABILITY_OFF))
		abort();
	make_store();
}

#ifndef FUZZ_RAW
/* Items in p[0..n) as cvl_cs_read counts them (up to the first that does
 * not frame). */
static uint32_t count_items(const uint8_t *p, size_t n)
{
	const uint8_t *q = p, *end = p + n;
	uint32_t items = 0;

	while (q < end) {
		uint64_t bl;
		q++;
		if (cvl_varint_get(&q, end, &bl) || bl > (uint64_t)(end - q))
			break;
		q += bl;
		items++;
	}
	return items;
}

/* A version 1 container around payload p[0..n); malloc'd. */
static uint8_t *wrap(const uint8_t *p, size_t n, unsigned flags, size_t *len)
{
	size_t cap = n, stored = n;
	uint8_t *z = NULL, *b;
	const uint8_t *pl = p;
	int codec = 0;

	if (flags & 1) {
		cap = ZSTD_compressBound(n);
		if ((z = malloc(cap)) && !ZSTD_isError(stored = ZSTD_compress(z, cap, p, n, 1))) {
			pl = z;
			codec = 1;
		} else {
			stored = n;
		}
	}
	b = malloc(64 + stored + 8);
	if (!b)
		abort();
	memset(b, 0, 64);
	memcpy(b, "CVLCHSET", 8);
	cvl_put_u32le(b + 8, 1);
	cvl_put_u64le(b + 16, SOURCE);
	cvl_put_u64le(b + 24, 0);
	cvl_put_u64le(b + 32, 100);
	cvl_put_u32le(b + 40, count_items(p, n) + ((flags >> 1) & 1));
	b[44] = (uint8_t)codec;
	cvl_put_u64le(b + 48, n);
	cvl_put_u64le(b + 56, stored);
	memcpy(b + 64, pl, stored);
	cvl_put_u64le(b + 64 + stored, XXH3_64bits(b, 64 + stored));
	free(z);
	*len = 64 + stored + 8;
	return b;
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned runs;
	convlog_sync_result res;
	uint8_t *cs;
	size_t len;
	int rc;

	if (!db)
		init();
	if (size > (4u << 20))
		return 0;
	if (++runs % 500 == 0) {
		convlog_close(db);
		make_store();
	}
#ifdef FUZZ_RAW
	len = size;
	cs = malloc(len ? len : 1);
	if (!cs)
		return 0;
	memcpy(cs, data, size);
#else
	if (size < 1)
		return 0;
	cs = wrap(data + 1, size - 1, data[0], &len);
#endif
	memset(&res, 0, sizeof(res));
	(void)convlog_sync_peek(cs, len, &res);
	memset(&res, 0, sizeof(res));
	rc = convlog_sync_apply(db, cs, len, &res);
	if (getenv("FUZZ_DEBUG"))
		fprintf(stderr, "fuzz_changeset: apply: %d %s\n", rc, rc ? convlog_errmsg() : "");
	if (rc == 0 && getenv("FUZZ_VERIFY")) {
		uint64_t problems = 0;
		if (convlog_verify(db, NULL, NULL, &problems) == 0 && problems) {
			fprintf(stderr, "fuzz_changeset: %" PRIu64 " problems after apply\n", problems);
			abort();
		}
	}
	free(cs);
	return 0;
}
