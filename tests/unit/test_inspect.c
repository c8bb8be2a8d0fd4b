/*
 * convlog_inspect and convlog_log_scan through the public API: a store
 * with log, warm and cold segments and a dictionary (conversations,
 * messages, supersedes, purges, compactions with and without --archive);
 * what inspect counts against what was written and what the scan sees;
 * the JSON of each record type; one named segment; read-only handles
 * beside a writer; bytes flipped on disk.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/block.h"
#include "log/segment.h"
#include "testutil.h"

static char path[256];
static convlog_db *db;

static convlog_options *opts(unsigned flags)
{
	convlog_options *o = tu_opts(CONVLOG_DURABILITY_NORMAL);

	CK_OK(convlog_options_set_map_size(o, 4ull << 30)); /* see test_compact.c */
	CK_OK(convlog_options_set_open_flags(o, flags));
	return o;
}

static convlog_db *open_with(unsigned flags)
{
	convlog_options *o = opts(flags);
	convlog_db *h = tu_open(path, o);

	convlog_options_free(o);
	return h;
}

static void setup(void)
{
	tu_tmppath(path, sizeof(path), "inspect");
	db = open_with(CONVLOG_OPEN_CREATE);
}

static void teardown(void)
{
	convlog_close(db);
	db = NULL;
	tu_rmrf(path);
}

/* ---- what a scan sees ---- */

typedef struct rec {
	uint64_t lsn, segment, frame_offset;
	uint32_t index, seq;
	char type[16];
	convlog_uuid conv;
	char *json;
} rec;

typedef struct blk {
	convlog_log_block b;
	char *problem;
} blk;

typedef struct seen {
	rec *r;
	size_t n, cap;
	blk *b;
	size_t nb, bcap;
	int stop_rec_after; /* record_fn returns 42 on this call (1-based) */
	int stop_block;     /* block_fn returns 7 on the first block */
} seen;

static int on_block(void *ud, const convlog_log_block *b)
{
	seen *s = ud;

	if (s->nb == s->bcap) {
		s->bcap = s->bcap ? s->bcap * 2 : 64;
		s->b = realloc(s->b, s->bcap * sizeof(*s->b));
		ck_assert_ptr_nonnull(s->b);
	}
	s->b[s->nb].b = *b;
	s->b[s->nb].problem = b->problem ? strdup(b->problem) : NULL;
	s->b[s->nb].b.problem = NULL;
	s->nb++;
	return s->stop_block ? 7 : 0;
}

static int on_rec(void *ud, const convlog_log_record *r)
{
	seen *s = ud;
	json_error_t err;
	json_t *j = json_loads(r->json, JSON_ALLOW_NUL, &err);

	ck_assert_msg(j && json_is_object(j), "LSN %llu: not a JSON object (%s): %.300s",
		      (unsigned long long)r->lsn, err.text, r->json);
	json_decref(j);
	ck_assert_uint_eq(r->length > 26, 1);
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->r = realloc(s->r, s->cap * sizeof(*s->r));
		ck_assert_ptr_nonnull(s->r);
	}
	rec *x = &s->r[s->n++];
	x->lsn = r->lsn;
	x->segment = r->segment;
	x->frame_offset = r->frame_offset;
	x->index = r->index;
	x->seq = r->seq;
	snprintf(x->type, sizeof(x->type), "%s", r->type);
	x->conv = r->conv_id;
	x->json = strdup(r->json);
	return s->stop_rec_after && (int)s->n == s->stop_rec_after ? 42 : 0;
}

static void seen_free(seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->r[i].json);
	for (size_t i = 0; i < s->nb; i++)
		free(s->b[i].problem);
	free(s->r);
	free(s->b);
	memset(s, 0, sizeof(*s));
}

static void scan(convlog_db *h, uint64_t seg, seen *s)
{
	memset(s, 0, sizeof(*s));
	CK_OK(convlog_log_scan(h, seg, on_block, on_rec, s));
}

static int same_id(const convlog_uuid *a, const convlog_uuid *b)
{
	return memcmp(a->bytes, b->bytes, 16) == 0;
}

/* Records of `type` (NULL: any) about conv (and seq when not 0). */
static size_t count_recs(const seen *s, const char *type, const convlog_uuid *conv, uint32_t seq)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		n += (!type || !strcmp(s->r[i].type, type)) && same_id(&s->r[i].conv, conv) &&
		     (!seq || s->r[i].seq == seq);
	return n;
}

/* The fields of the last such record, parsed (json_decref). */
static json_t *fields_of(const seen *s, const char *type, const convlog_uuid *conv, uint32_t seq)
{
	for (size_t i = s->n; i-- > 0;)
		if (!strcmp(s->r[i].type, type) && same_id(&s->r[i].conv, conv) &&
		    (!seq || s->r[i].seq == seq)) {
			json_t *j = json_loads(s->r[i].json, JSON_ALLOW_NUL, NULL);
			ck_assert_ptr_nonnull(j);
			return j;
		}
	ck_abort_msg("no %s record for that conversation (seq %u)", type, seq);
	return NULL;
}

static const char *str_field(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	ck_assert_msg(json_is_string(v), "field %s is not a string", k);
	return json_string_value(v);
}

/* ---- a store with every tier ---- */

enum { NCONV = 40, PER = 14, NARCH = 32 };

static convlog_uuid convs[NCONV];
static convlog_uuid special, late;
static uint64_t live_convs, live_msgs;

/* a message with every awkward byte the renderer must escape */
static const char weird[] = "say \"hi\"\\ \n\ttab \x01 nul\0after \xc3\xa9\xe6\x97\xa5 end";

static size_t chat_text(uint64_t *rs, char *out, size_t target)
{
	static const char *lines[] = {
		"Can you help me write a Python function that parses a CSV file? ",
		"I'm planning a trip to Lisbon in October, which neighbourhoods are nice? ",
		"Here is a step-by-step explanation, first make sure you understand the concept. ",
		"You can add an index on the columns used in the WHERE clause. ",
		"In short: a process has its own memory space, threads share it. ",
		"Keep the temperature stable and feed the starter regularly. ",
	};
	size_t n = 0;

	while (n < target) {
		const char *l = lines[tu_rand(rs) % 6];
		memcpy(out + n, l, strlen(l));
		n += strlen(l);
		n += (size_t)sprintf(out + n, "(step %u) ", (unsigned)(tu_rand(rs) % 100));
	}
	return n;
}

static uint32_t append(const convlog_uuid *conv, convlog_txn *t, const char *role, const char *s,
		       size_t n)
{
	convlog_msg m;
	uint32_t seq = 0;

	convlog_msg_init(&m);
	m.conv_id = *conv;
	m.role = role;
	m.content = s;
	m.content_len = n;
	CK_OK(convlog_msg_append(db, t, &m, &seq));
	return seq;
}

static void supersede(const convlog_uuid *conv, uint32_t seq, const char *s)
{
	convlog_msg m;

	convlog_msg_init(&m);
	m.content = s;
	m.content_len = strlen(s);
	CK_OK(convlog_msg_supersede(db, NULL, conv, seq, &m, CONVLOG_MSG_CONTENT));
}

static convlog_compact_stats compact(unsigned flags)
{
	convlog_compact_opts o;
	convlog_compact_stats st = {.version = CONVLOG_COMPACT_VERSION};

	convlog_compact_opts_init(&o);
	o.flags = flags;
	CK_OK(convlog_compact(db, &o, NULL, NULL, &st));
	return st;
}

static void purge(const convlog_uuid *id)
{
	CK_OK(convlog_conv_delete(db, NULL, id));
	CK_OK(convlog_conv_purge(db, NULL, id));
}

/* What compaction leaves in the log tier: a conversation with tags and
 * metadata, a patch, awkward content, tool calls, a supersede, a purge. */
static void write_special(void)
{
	static const char *tags[] = {"beta", "alpha"};
	convlog_conv c;
	convlog_msg m;
	uint32_t seq;

	convlog_conv_init(&c);
	c.title = "Special title";
	c.user_id = "u-special";
	c.tags = tags;
	c.n_tags = 2;
	c.metadata = "{\"k\":[1,2],\"s\":\"x\"}";
	CK_OK(convlog_conv_create(db, NULL, &c, &special));
	convlog_msg_init(&m);
	m.conv_id = special;
	m.role = "assistant";
	m.content = weird;
	m.content_len = sizeof(weird) - 1;
	m.tool_calls = "[{\"name\":\"f\",\"args\":{\"a\":1}}]";
	m.token_count = 12;
	CK_OK(convlog_msg_append(db, NULL, &m, &seq));
	ck_assert_uint_eq(seq, 1);
	tu_msg(db, &special, "user", "second turn");
	supersede(&special, 1, "edited first turn");
	convlog_conv_init(&c);
	c.title = "Renamed";
	CK_OK(convlog_conv_patch(db, NULL, &special, &c, CONVLOG_CONV_TITLE));
	late = tu_conv(db, "u-late", "purged after the compaction");
	tu_msg(db, &late, "user", "soon gone");
	purge(&late);
	live_convs++;
	live_msgs += 2;
}

static void build_store(void)
{
	uint64_t rs = 5;
	char buf[4096];

	live_convs = live_msgs = 0;
	for (int i = 0; i < NCONV; i++)
		convs[i] = tu_conv(db, "u", "chat");
	for (int j = 0; j < PER; j++) {
		convlog_txn *t;
		CK_OK(convlog_txn_begin(db, &t));
		for (int i = 0; i < NCONV; i++) {
			size_t n = chat_text(&rs, buf, 500 + tu_rand(&rs) % 1200);
			append(&convs[i], t, j % 2 ? "assistant" : "user", buf, n);
		}
		CK_OK(convlog_txn_commit(t));
	}
	for (int i = 0; i < NCONV; i += 5)
		supersede(&convs[i], 2, "a shorter second turn");
	purge(&convs[NCONV - 1]);
	live_convs = NCONV - 1;
	live_msgs = (uint64_t)(NCONV - 1) * PER;
	/* a plain full pass: everything goes warm */
	compact(CONVLOG_COMPACT_FULL);
	for (int i = 0; i < NARCH; i++)
		CK_OK(convlog_conv_archive(db, NULL, &convs[i]));
	/* the archive pass moves most of it cold, with a dictionary */
	convlog_compact_stats st = compact(CONVLOG_COMPACT_ARCHIVE);
	ck_assert_uint_gt(st.cold_segments_written, 0);
	write_special();
}

static size_t count_tier(const convlog_inspect_info *in, int tier)
{
	size_t n = 0;

	for (size_t i = 0; i < in->n_segments; i++)
		n += in->segments[i].tier == tier;
	return n;
}

static const convlog_table_info *table(const convlog_inspect_info *in, const char *name)
{
	for (size_t i = 0; i < in->n_tables; i++)
		if (!strcmp(in->tables[i].name, name))
			return &in->tables[i];
	ck_abort_msg("no table %s", name);
	return NULL;
}

/* ---- tests ---- */

START_TEST(inspect__counts_agree_with_the_store_and_the_scan)
{
	convlog_inspect_info *in = NULL;
	uint64_t recs = 0, blocks = 0, live = 0, docs = 0, maxlsn = 0;
	size_t active = 0;
	seen s;

	build_store();
	CK_OK(convlog_checkpoint(db));
	CK_OK(convlog_inspect(db, &in));
	ck_assert_uint_eq(in->version, CONVLOG_INSPECT_VERSION);
	ck_assert_uint_eq(in->format, 4);
	ck_assert_uint_eq(strlen(in->store_id), 32);
	ck_assert_int_eq(in->readonly, 0);
	ck_assert_uint_ge(count_tier(in, CONVLOG_TIER_LOG), 1);
	ck_assert_uint_ge(count_tier(in, CONVLOG_TIER_WARM), 1);
	ck_assert_uint_ge(count_tier(in, CONVLOG_TIER_COLD), 1);
	ck_assert_uint_ge(in->n_dicts, 1);
	ck_assert_uint_gt(in->dict_bytes, 0);
	scan(db, 0, &s);
	for (size_t i = 0; i < s.n; i++)
		maxlsn = s.r[i].lsn > maxlsn ? s.r[i].lsn : maxlsn;
	for (size_t i = 0; i < in->n_segments; i++) {
		const convlog_segment_info *g = &in->segments[i];
		uint64_t n = 0, lo = UINT64_MAX, hi = 0, nb = 0;
		if (i)
			ck_assert_uint_gt(g->id, in->segments[i - 1].id);
		for (size_t k = 0; k < s.n; k++)
			if (s.r[k].segment == g->id) {
				n++;
				lo = s.r[k].lsn < lo ? s.r[k].lsn : lo;
				hi = s.r[k].lsn > hi ? s.r[k].lsn : hi;
			}
		for (size_t k = 0; k < s.nb; k++)
			nb += s.b[k].b.segment == g->id;
		ck_assert_msg(g->records == n, "segment %llu: inspect counts %llu records, the scan %llu",
			      (unsigned long long)g->id, (unsigned long long)g->records,
			      (unsigned long long)n);
		ck_assert_uint_eq(g->blocks, nb);
		if (n) {
			ck_assert_uint_eq(g->min_lsn, lo);
			ck_assert_uint_eq(g->max_lsn, hi);
			ck_assert_uint_gt(g->raw_bytes, 0);
			ck_assert_uint_gt(g->frames, 0);
		}
		if (g->tier == CONVLOG_TIER_COLD)
			ck_assert_uint_ne(g->dict_id, 0);
		ck_assert_uint_ge(g->file_bytes, g->valid_bytes);
		ck_assert_int_eq(g->damaged, 0);
		if (g->active) { /* the newest log segment */
			active++;
			ck_assert_int_eq(g->tier, CONVLOG_TIER_LOG);
			for (size_t k = i + 1; k < in->n_segments; k++)
				ck_assert_int_ne(in->segments[k].tier, CONVLOG_TIER_LOG);
		}
		recs += g->records;
		blocks += g->blocks;
		live += g->live_records;
	}
	ck_assert_uint_eq(active, 1);
	ck_assert_uint_eq(recs, s.n);
	ck_assert_uint_eq(blocks, s.nb);
	ck_assert_uint_eq(live, live_msgs);
	ck_assert_uint_eq(in->messages, live_msgs);
	ck_assert_uint_eq(in->conversations, live_convs);
	ck_assert_uint_eq(table(in, "conv")->entries, live_convs);
	ck_assert_uint_eq(table(in, "msg")->entries, live_msgs);
	ck_assert_uint_eq(table(in, "msg_id")->entries, live_msgs);
	ck_assert_uint_eq(table(in, "seg_stats")->entries > 0, 1);
	ck_assert_uint_ge(table(in, "msg")->depth, 1);
	for (size_t i = 0; i < in->n_index_segments; i++)
		docs += in->index_segments[i].docs - in->index_segments[i].dead_docs;
	ck_assert_uint_eq(docs, live_msgs);
	ck_assert_uint_eq(in->last_lsn, maxlsn);
	ck_assert_uint_eq(in->flushed_lsn, in->last_lsn);
	ck_assert_uint_eq(in->memtable_entries, 0);
	ck_assert_int_eq(in->frozen_memtables, 0);
	ck_assert_uint_gt(in->lmdb_file_bytes, 0);
	ck_assert_uint_ge(in->lmdb_map_bytes, in->lmdb_file_bytes);
	ck_assert_uint_ge(in->lmdb_readers, 1);
	ck_assert(in->content_ratio > 0.0);
	ck_assert(in->frame_ratio > 1.0);
	convlog_inspect_free(in);
	seen_free(&s);
}
END_TEST

START_TEST(scan__lsns_ascend_once_and_records_decode)
{
	json_t *j, *v;
	seen s;

	build_store();
	scan(db, 0, &s);
	ck_assert_uint_gt(s.n, (uint64_t)NCONV * PER / 2);
	for (size_t i = 1; i < s.n; i++)
		ck_assert_msg(s.r[i].lsn > s.r[i - 1].lsn, "LSN %llu after %llu",
			      (unsigned long long)s.r[i].lsn, (unsigned long long)s.r[i - 1].lsn);
	for (size_t i = 0; i < s.nb; i++)
		ck_assert_msg(!s.b[i].problem, "problem: %s", s.b[i].problem);

	/* the conversation as created */
	j = fields_of(&s, "conv_put", &special, 0);
	ck_assert_str_eq(str_field(j, "title"), "Special title");
	ck_assert_str_eq(str_field(j, "status"), "active");
	v = json_object_get(j, "tag");
	ck_assert(json_is_array(v) && json_array_size(v) == 2);
	ck_assert_str_eq(json_string_value(json_array_get(v, 0)), "alpha");
	v = json_object_get(j, "metadata");
	ck_assert_msg(json_is_object(v) && json_array_size(json_object_get(v, "k")) == 2,
		      "metadata is not embedded as an object");
	json_decref(j);
	j = fields_of(&s, "conv_patch", &special, 0);
	ck_assert_str_eq(str_field(j, "title"), "Renamed");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "mask")), CONVLOG_CONV_TITLE);
	json_decref(j);

	/* every awkward byte comes back */
	j = fields_of(&s, "msg_append", &special, 1);
	v = json_object_get(j, "content");
	ck_assert(json_is_string(v));
	ck_assert_uint_eq(json_string_length(v), sizeof(weird) - 1);
	ck_assert_int_eq(memcmp(json_string_value(v), weird, sizeof(weird) - 1), 0);
	ck_assert(json_is_array(json_object_get(j, "tool_calls")));
	ck_assert_int_eq(json_integer_value(json_object_get(j, "token_count")), 12);
	ck_assert_ptr_null(json_object_get(j, "cost")); /* unknown: not stored */
	ck_assert_str_eq(str_field(j, "role"), "assistant");
	ck_assert_str_eq(str_field(j, "status"), "completed");
	json_decref(j);
	j = fields_of(&s, "msg_supersede", &special, 1);
	ck_assert_str_eq(str_field(j, "content"), "edited first turn");
	ck_assert_int_gt(json_integer_value(json_object_get(j, "edited_at")), 0);
	json_decref(j);
	ck_assert_uint_eq(count_recs(&s, "msg_append", &special, 2), 1);

	/* purged after the compaction: in the log until the next one */
	ck_assert_uint_eq(count_recs(&s, "msg_append", &late, 1), 1);
	j = fields_of(&s, "conv_status", &late, 0);
	ck_assert_str_eq(str_field(j, "status"), "deleted");
	json_decref(j);
	j = fields_of(&s, "conv_purge", &late, 0);
	ck_assert(json_is_integer(json_object_get(j, "at")));
	json_decref(j);

	/* compacted: only current versions, nothing of the purged one */
	ck_assert_uint_eq(count_recs(&s, NULL, &convs[NCONV - 1], 0), 0);
	ck_assert_uint_eq(count_recs(&s, NULL, &convs[0], 2), 1);
	ck_assert_uint_eq(count_recs(&s, "msg_supersede", &convs[0], 2), 1);
	j = fields_of(&s, "msg_supersede", &convs[0], 2);
	ck_assert_str_eq(str_field(j, "content"), "a shorter second turn");
	json_decref(j);
	ck_assert_uint_eq(count_recs(&s, "msg_append", &convs[1], 0), PER);
	seen_free(&s);
}
END_TEST

START_TEST(scan__one_segment_unknown_segments_and_stopping)
{
	convlog_inspect_info *in = NULL;
	seen s;

	build_store();
	CK_OK(convlog_inspect(db, &in));
	for (size_t i = 0; i < in->n_segments; i++) {
		const convlog_segment_info *g = &in->segments[i];
		scan(db, g->id, &s);
		ck_assert_uint_eq(s.n, g->records);
		ck_assert_uint_eq(s.nb, g->blocks);
		for (size_t k = 0; k < s.n; k++)
			ck_assert_uint_eq(s.r[k].segment, g->id);
		for (size_t k = 0; k < s.nb; k++)
			ck_assert_uint_eq(s.b[k].b.segment, g->id);
		seen_free(&s);
	}
	/* segment 1 was compacted away; the others were never made */
	ck_assert_uint_gt(in->segments[0].id, 1);
	CK_ERR(convlog_log_scan(db, 1, on_block, on_rec, &s), CONVLOG_ENOTFOUND);
	CK_ERR(convlog_log_scan(db, 999999, NULL, NULL, NULL), CONVLOG_ENOTFOUND);
	CK_ERR(convlog_log_scan(db, UINT64_MAX, NULL, NULL, NULL), CONVLOG_ENOTFOUND);
	convlog_inspect_free(in);

	memset(&s, 0, sizeof(s));
	s.stop_rec_after = 3;
	ck_assert_int_eq(convlog_log_scan(db, 0, on_block, on_rec, &s), 42);
	ck_assert_uint_eq(s.n, 3);
	seen_free(&s);
	s.stop_block = 1;
	ck_assert_int_eq(convlog_log_scan(db, 0, on_block, on_rec, &s), 7);
	ck_assert_uint_eq(s.nb, 1);
	ck_assert_uint_eq(s.n, 0);
	seen_free(&s);
	CK_OK(convlog_log_scan(db, 0, NULL, NULL, NULL));
	CK_ERR(convlog_log_scan(NULL, 0, NULL, NULL, NULL), CONVLOG_EINVAL);
	CK_ERR(convlog_inspect(db, NULL), CONVLOG_EINVAL);
	CK_ERR(convlog_inspect(NULL, &in), CONVLOG_EINVAL);
	ck_assert_ptr_null(in);
	convlog_inspect_free(NULL);
}
END_TEST

START_TEST(readonly__inspect_and_scan_beside_a_writer)
{
	convlog_inspect_info *w = NULL, *r = NULL;
	convlog_db *ro;
	seen s;

	for (int i = 0; i < 20; i++) {
		convlog_uuid c = tu_conv(db, "u", "ro");
		for (int k = 0; k < 5; k++)
			tu_msg(db, &c, k % 2 ? "assistant" : "user", "beside a writer");
	}
	CK_OK(convlog_inspect(db, &w));
	ck_assert_uint_gt(w->memtable_entries, 0); /* nothing flushed yet */
	ro = open_with(CONVLOG_OPEN_READONLY);
	CK_OK(convlog_inspect(ro, &r));
	ck_assert_int_eq(r->readonly, 1);
	ck_assert_uint_eq(r->last_lsn, w->last_lsn);
	ck_assert_uint_eq(r->last_lsn, 120);
	ck_assert_uint_eq(r->n_segments, 1);
	/* the writer keeps zeros after its last block: the end, not damage */
	const convlog_segment_info *g = &r->segments[0];
	ck_assert_int_eq(g->active, 1);
	ck_assert_int_eq(g->damaged, 0);
	ck_assert_uint_gt(g->file_bytes, g->valid_bytes);
	ck_assert_uint_eq(g->valid_bytes, w->segments[0].valid_bytes);
	ck_assert_uint_eq(g->records, 120);
	scan(ro, 0, &s);
	ck_assert_uint_eq(s.n, 120);
	for (size_t i = 0; i < s.n; i++)
		ck_assert_uint_eq(s.r[i].lsn, i + 1);
	for (size_t i = 0; i < s.nb; i++)
		ck_assert_ptr_null(s.b[i].problem);
	seen_free(&s);
	convlog_inspect_free(w);
	convlog_inspect_free(r);
	convlog_close(ro);
}
END_TEST

/* Offsets of the first `n` blocks of a segment file. */
static void block_offsets(const char *file, uint64_t *off, int n)
{
	FILE *f = fopen(file, "rb");
	uint8_t h[CVL_BLOCK_HEADER];

	ck_assert_ptr_nonnull(f);
	off[0] = CVL_SEG_HEADER;
	for (int i = 0; i + 1 < n; i++) {
		ck_assert_int_eq(fseek(f, (long)off[i], SEEK_SET), 0);
		ck_assert_uint_eq(fread(h, 1, sizeof(h), f), sizeof(h));
		uint32_t body = (uint32_t)h[12] | (uint32_t)h[13] << 8 | (uint32_t)h[14] << 16 |
				(uint32_t)h[15] << 24;
		off[i + 1] = off[i] + CVL_BLOCK_HEADER + body;
	}
	fclose(f);
}

static void flip(const char *file, uint64_t at)
{
	FILE *f = fopen(file, "r+b");
	int c;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, (long)at, SEEK_SET), 0);
	c = fgetc(f);
	ck_assert_int_ne(c, EOF);
	ck_assert_int_eq(fseek(f, (long)at, SEEK_SET), 0);
	fputc(c ^ 0x5a, f);
	fclose(f);
}

START_TEST(damage__flipped_bytes_are_reported_and_skipped)
{
	convlog_inspect_info *in = NULL;
	char buf[8192], file[400];
	uint64_t rs = 9, off[4], before = 0, last;
	seen s;

	/* about 3 MB that compress little: three log segments of 1 MiB */
	for (int i = 0; i < 40; i++) {
		convlog_uuid c = tu_conv(db, "u", "big");
		convlog_txn *t;
		CK_OK(convlog_txn_begin(db, &t));
		for (int k = 0; k < 10; k++) {
			for (size_t b = 0; b < 7800; b++)
				buf[b] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ."
					[tu_rand(&rs) % 64];
			append(&c, t, "user", buf, 7800);
		}
		CK_OK(convlog_txn_commit(t));
	}
	CK_OK(convlog_checkpoint(db));
	CK_OK(convlog_inspect(db, &in));
	ck_assert_uint_ge(in->n_segments, 3);
	ck_assert_uint_eq(in->segments[0].id, 1);
	ck_assert_uint_ge(in->segments[0].blocks, 4);
	last = in->last_lsn;
	convlog_inspect_free(in);
	convlog_close(db);

	/* block 2: a byte of frame data; block 3: a byte of its header */
	snprintf(file, sizeof(file), "%s/segments/%016x.seg", path, 1);
	block_offsets(file, off, 4);
	flip(file, off[1] + CVL_BLOCK_HEADER + CVL_FRAME_HEADER + 4);
	flip(file, off[2] + 20);

	db = open_with(CONVLOG_OPEN_READONLY);
	scan(db, 0, &s);
	size_t problems = 0;
	for (size_t i = 0; i < s.nb; i++) {
		if (!s.b[i].problem)
			continue;
		ck_assert_uint_eq(s.b[i].b.segment, 1);
		ck_assert_uint_eq(s.b[i].b.offset, off[1 + problems]);
		problems++;
	}
	ck_assert_uint_eq(problems, 2);
	for (size_t i = 0; i < s.nb; i++)
		if (s.b[i].b.segment == 1 && s.b[i].b.offset == off[0])
			before = s.b[i].b.record_count;
	ck_assert_uint_gt(before, 0);
	/* block 1 of segment 1 and every other segment are still read */
	size_t in1 = 0;
	for (size_t i = 0; i < s.n; i++)
		in1 += s.r[i].segment == 1;
	ck_assert_uint_eq(in1, before);
	ck_assert_uint_eq(s.r[s.n - 1].lsn, last);
	for (size_t i = 1; i < s.n; i++)
		ck_assert_uint_gt(s.r[i].lsn, s.r[i - 1].lsn);

	/* inspect reads headers: block 3's is damaged, and ends the segment */
	CK_OK(convlog_inspect(db, &in));
	ck_assert_int_eq(in->segments[0].damaged, 1);
	ck_assert_uint_eq(in->segments[0].valid_bytes, off[2]);
	for (size_t i = 1; i < in->n_segments; i++)
		ck_assert_int_eq(in->segments[i].damaged, 0);
	convlog_inspect_free(in);
	seen_free(&s);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("inspect");
	TCase *tc = tcase_create("inspect");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, inspect__counts_agree_with_the_store_and_the_scan);
	tcase_add_test(tc, scan__lsns_ascend_once_and_records_decode);
	tcase_add_test(tc, scan__one_segment_unknown_segments_and_stopping);
	tcase_add_test(tc, readonly__inspect_and_scan_beside_a_writer);
	tcase_add_test(tc, damage__flipped_bytes_are_reported_and_skipped);
	suite_add_tcase(su, tc);
	return tu_run(su) != 0;
}
