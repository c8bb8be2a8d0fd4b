/*
 * fuzz_segment: a whole log segment.  The input becomes the only segment
 * of an otherwise valid store (a fresh store made once at start-up, copied
 * for each input); convlog_open then replays it (recovery), and the store
 * is read back: listings, message ranges, a search, the log scan, stats
 * and convlog_verify.  Any error return is fine; a crash, a leak, a hang
 * or a sanitizer report is a bug.
 *
 * Input: one flags byte, then the segment after its 64-byte header.
 *   bit 0: rewrite block header and frame checksums (fz_fix_blocks)
 *   bit 1: the input's first 64 bytes replace the store's segment header
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convlog.h"
#include "fuzz_common.h"

#define SEG_NAME "segments/0000000000000001.seg"

static char base[4096], tmpl[4200], store[4200];
static uint8_t seg_header[64];
static convlog_options *opts;

static void init(void)
{
	char path[4400];
	convlog_db *db;
	size_t n;
	uint8_t *h;

	fz_tempdir(base, sizeof(base), "segment");
	snprintf(tmpl, sizeof(tmpl), "%s/tmpl", base);
	snprintf(store, sizeof(store), "%s/store", base);
	if (convlog_options_new(&opts) || convlog_options_set_map_size(opts, 64u << 20) ||
	    convlog_options_set_durability(opts, CONVLOG_DURABILITY_OFF) ||
	    convlog_options_set_block_cache_size(opts, 1u << 20) ||
	    convlog_options_set_memtable_size(opts, 1u << 20))
		abort();
	if (convlog_open(tmpl, opts, &db)) {
		fprintf(stderr, "fuzz_segment: %s\n", convlog_errmsg());
		abort();
	}
	convlog_close(db);
	snprintf(path, sizeof(path), "%s/" SEG_NAME, tmpl);
	if (!(h = fz_read(path, &n)) || n != 64)
		abort();
	memcpy(seg_header, h, 64);
	free(h);
	/* the lock table is recreated by LMDB; the log is replaced per input */
	snprintf(path, sizeof(path), "%s/meta/lock.mdb", tmpl);
	unlink(path);
}

static int on_block(void *ud, const convlog_log_block *b)
{
	return 0;
}

static int on_record(void *ud, const convlog_log_record *r)
{
	/* touch the JSON rendering of the body */
	return r->json && strlen(r->json) == SIZE_MAX;
}

static void read_conv(convlog_db *db, const convlog_conv *c)
{
	convlog_msg_iter *it;
	const convlog_msg *m;
	convlog_conv *got;
	convlog_msg *one;

	if (convlog_conv_get(db, &c->id, &got) == 0)
		convlog_conv_free(got);
	if (convlog_msg_range(db, &c->id, CONVLOG_RANGE_ALL, 200, 0, &it) == 0) {
		while (convlog_msg_iter_next(it, &m) == 0)
			;
		convlog_msg_iter_free(it);
	}
	if (convlog_msg_get(db, &c->id, 1, &one) == 0)
		convlog_msg_free(one);
}

static void exercise(convlog_db *db)
{
	convlog_conv_iter *li;
	const convlog_conv *c;
	convlog_search_query q;
	convlog_search_result *res;
	convlog_stats st;
	uint64_t problems = 0;
	int n = 0;

	if (convlog_conv_list(db, NULL, &li) == 0) {
		while (n++ < 20 && convlog_conv_iter_next(li, &c) == 0)
			read_conv(db, c);
		convlog_conv_iter_free(li);
	}
	convlog_search_query_init(&q);
	q.query = "hello OR the OR a*";
	if (convlog_search(db, &q, &res) == 0)
		convlog_search_result_free(res);
	(void)convlog_log_scan(db, 0, on_block, on_record, NULL);
	(void)convlog_stats_get(db, &st);
	(void)convlog_verify(db, NULL, NULL, &problems);
	if (getenv("FUZZ_DEBUG"))
		fprintf(stderr, "fuzz_segment: opened, %d conversations, %" PRIu64 " problems\n",
			n - 1, problems);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[4400];
	const uint8_t *hdr = seg_header;
	convlog_db *db;
	uint8_t *body;
	size_t len;

	if (!opts)
		init();
	if (size < 1)
		return 0;
	len = size - 1;
	body = malloc(len ? len : 1);
	if (!body)
		return 0;
	memcpy(body, data + 1, len);
	if ((data[0] & 2) && len >= 64) {
		hdr = body;
		if (data[0] & 1)
			fz_fix_blocks(body + 64, len - 64);
	} else if (data[0] & 1) {
		fz_fix_blocks(body, len);
	}
	fz_rmtree(store);
	fz_copytree(tmpl, store);
	snprintf(path, sizeof(path), "%s/" SEG_NAME, store);
	if (hdr == seg_header)
		fz_write(path, seg_header, 64, body, len);
	else
		fz_write(path, body, len, NULL, 0);
	free(body);
	if (convlog_open(store, opts, &db) == 0) {
		exercise(db);
		convlog_close(db);
	} else if (getenv("FUZZ_DEBUG")) {
		fprintf(stderr, "fuzz_segment: open: %s\n", convlog_errmsg());
	}
	return 0;
}
