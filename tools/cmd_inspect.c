/* cmd_inspect.c - convlog inspect: the segments, LMDB tables, text index
 * and memtables of a store (convlog_inspect). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "jsonl.h"
#include "util.h"

static const char usage_text[] =
	"usage: convlog inspect [--json] STORE\n"
	"\n"
	"Describes how STORE is laid out: a header (format, store id, replica,\n"
	"log sequence numbers, counts), every segment file (id, tier log, warm\n"
	"or cold, size, share of its record bytes current messages still use,\n"
	"blocks, frames, records, LSN range, dictionary, whether it is the active\n"
	"segment or damaged), the compression ratios, every LMDB table (entries,\n"
	"B-tree depth, pages), the LMDB environment, the text index segments\n"
	"(documents, dead ones, terms, size), the memtables and the dictionary\n"
	"files.  Only block and frame headers are read, so this is fast on a\n"
	"large store but finds only damage to headers ('convlog verify' reads\n"
	"everything).  The store is opened read-only, so inspect can run beside\n"
	"a writer.\n"
	"\n"
	"Options:\n"
	"  --json       one JSON object per line, each with a \"kind\": \"store\",\n"
	"               then \"segment\" (one per segment), \"table\", \"lmdb\",\n"
	"               \"index_segment\" and \"memtable\"; sizes in bytes\n"
	"  -h, --help   show this help\n"
	"\n"
	"Exit status: 0, 1 if a segment is damaged or the store cannot be read,\n"
	"2 usage error.\n";

static const char *tier_name(int t)
{
	return t == CONVLOG_TIER_COLD ? "cold" : t == CONVLOG_TIER_WARM ? "warm" : "log";
}

/* ---- aligned text tables ---- */

#define TMAXCOL 12
#define TCELL 40

typedef struct table {
	int ncol;
	const char *head[TMAXCOL];
	int left[TMAXCOL]; /* left-aligned column */
	char (*cells)[TMAXCOL][TCELL];
	size_t n, cap;
} table;

static char *cell(table *t, size_t row, int col)
{
	return t->cells[row][col];
}

/* A new row; NULL when out of memory. */
static size_t table_row(table *t)
{
	if (t->n == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 16;
		void *p = realloc(t->cells, nc * sizeof(*t->cells));
		if (!p)
			return SIZE_MAX;
		t->cells = p;
		t->cap = nc;
	}
	memset(t->cells[t->n], 0, sizeof(*t->cells));
	return t->n++;
}

static void table_print(const table *t)
{
	char line[TMAXCOL * (TCELL + 2) + 8];
	int w[TMAXCOL];

	for (int c = 0; c < t->ncol; c++) {
		w[c] = (int)strlen(t->head[c]);
		for (size_t r = 0; r < t->n; r++) {
			int l = (int)strlen(t->cells[r][c]);
			w[c] = l > w[c] ? l : w[c];
		}
	}
	for (size_t r = 0; r <= t->n; r++) {
		size_t n = 0;
		for (int c = 0; c < t->ncol; c++) {
			const char *s = r == 0 ? t->head[c] : t->cells[r - 1][c];
			n += (size_t)snprintf(line + n, sizeof(line) - n, t->left[c] ? "  %-*s" : "  %*s",
					      w[c], s);
		}
		while (n > 0 && line[n - 1] == ' ')
			n--;
		printf("%.*s\n", (int)n, line);
	}
}

/* ---- text ---- */

static void header(const char *path, const convlog_inspect_info *in)
{
	char c[32];

	tool_human_size(in->content_bytes, c, sizeof(c));
	printf("store     %s\n", path);
	printf("format    %u  id %s  replica %016llx\n", in->format, in->store_id,
	       (unsigned long long)in->replica_id);
	printf("lsn       last %llu  flushed %llu  replay from segment %llu @0x%llx\n",
	       (unsigned long long)in->last_lsn, (unsigned long long)in->flushed_lsn,
	       (unsigned long long)in->replay_segment, (unsigned long long)in->replay_offset);
	printf("content   %llu conversations, %llu messages, %s\n",
	       (unsigned long long)in->conversations, (unsigned long long)in->messages, c);
}

static int segment_rows(const convlog_inspect_info *in, table *t, uint64_t *total)
{
	*total = 0;
	for (size_t i = 0; i < in->n_segments; i++) {
		const convlog_segment_info *s = &in->segments[i];
		size_t r = table_row(t);
		if (r == SIZE_MAX)
			return -1;
		*total += s->file_bytes;
		snprintf(cell(t, r, 0), TCELL, "%llu", (unsigned long long)s->id);
		snprintf(cell(t, r, 1), TCELL, "%s", tier_name(s->tier));
		tool_human_size(s->file_bytes, cell(t, r, 2), TCELL);
		if (in->format >= 3 && s->raw_bytes)
			snprintf(cell(t, r, 3), TCELL, "%.0f%%",
				 100.0 * (double)s->live_bytes / (double)s->raw_bytes);
		else
			snprintf(cell(t, r, 3), TCELL, "-");
		snprintf(cell(t, r, 4), TCELL, "%llu", (unsigned long long)s->blocks);
		snprintf(cell(t, r, 5), TCELL, "%llu", (unsigned long long)s->frames);
		snprintf(cell(t, r, 6), TCELL, "%llu", (unsigned long long)s->records);
		if (s->max_lsn)
			snprintf(cell(t, r, 7), TCELL, "%llu..%llu", (unsigned long long)s->min_lsn,
				 (unsigned long long)s->max_lsn);
		else
			snprintf(cell(t, r, 7), TCELL, "-");
		if (s->dict_id)
			snprintf(cell(t, r, 8), TCELL, "%08x", s->dict_id);
		else
			snprintf(cell(t, r, 8), TCELL, "-");
		snprintf(cell(t, r, 9), TCELL, "%s%s%s", s->active ? "active" : "",
			 s->active && s->damaged ? "," : "", s->damaged ? "DAMAGED" : "");
	}
	return 0;
}

static int segments_text(const convlog_inspect_info *in)
{
	table t = {10, {"ID", "TIER", "SIZE", "LIVE%", "BLOCKS", "FRAMES", "RECORDS", "LSN RANGE", "DICT", "FLAGS"},
		   {0, 1, 0, 0, 0, 0, 0, 1, 1, 1}, NULL, 0, 0};
	uint64_t total, recs = 0;
	char h[32];

	if (segment_rows(in, &t, &total)) {
		free(t.cells);
		return -1;
	}
	for (size_t i = 0; i < in->n_segments; i++)
		recs += in->segments[i].records;
	printf("\nsegments\n");
	table_print(&t);
	free(t.cells);
	tool_human_size(total, h, sizeof(h));
	printf("  total: %zu segment%s, %s, %llu records; records raw/stored %.2fx, "
	       "content/files %.2f\n",
	       in->n_segments, in->n_segments == 1 ? "" : "s", h, (unsigned long long)recs,
	       in->frame_ratio, in->content_ratio);
	return 0;
}

static int tables_text(const convlog_inspect_info *in)
{
	table t = {4, {"NAME", "ENTRIES", "DEPTH", "PAGES"}, {1, 0, 0, 0}, NULL, 0, 0};
	char m[32], f[32], p[32];

	for (size_t i = 0; i < in->n_tables; i++) {
		const convlog_table_info *x = &in->tables[i];
		size_t r = table_row(&t);
		if (r == SIZE_MAX) {
			free(t.cells);
			return -1;
		}
		snprintf(cell(&t, r, 0), TCELL, "%s", x->name);
		snprintf(cell(&t, r, 1), TCELL, "%llu", (unsigned long long)x->entries);
		snprintf(cell(&t, r, 2), TCELL, "%u", x->depth);
		snprintf(cell(&t, r, 3), TCELL, "%llu",
			 (unsigned long long)(x->branch_pages + x->leaf_pages + x->overflow_pages));
	}
	printf("\nlmdb tables\n");
	table_print(&t);
	free(t.cells);
	tool_human_size(in->lmdb_file_bytes, f, sizeof(f));
	tool_human_size(in->lmdb_map_bytes, m, sizeof(m));
	tool_human_size(in->lmdb_page_size, p, sizeof(p));
	printf("lmdb      data.mdb %s, map %s, page %s, %llu pages used, last txn %llu, "
	       "readers %u/%u\n",
	       f, m, p, (unsigned long long)in->lmdb_used_pages, (unsigned long long)in->lmdb_last_txn,
	       in->lmdb_readers, in->lmdb_max_readers);
	return 0;
}

static int index_text(const convlog_inspect_info *in)
{
	table t = {5, {"ID", "DOCS", "DEAD", "TERMS", "SIZE"}, {0, 0, 0, 0, 0}, NULL, 0, 0};

	for (size_t i = 0; i < in->n_index_segments; i++) {
		const convlog_index_segment_info *x = &in->index_segments[i];
		size_t r = table_row(&t);
		if (r == SIZE_MAX) {
			free(t.cells);
			return -1;
		}
		snprintf(cell(&t, r, 0), TCELL, "%llu", (unsigned long long)x->id);
		snprintf(cell(&t, r, 1), TCELL, "%llu", (unsigned long long)x->docs);
		snprintf(cell(&t, r, 2), TCELL, "%llu", (unsigned long long)x->dead_docs);
		snprintf(cell(&t, r, 3), TCELL, "%llu", (unsigned long long)x->terms);
		tool_human_size(x->bytes, cell(&t, r, 4), TCELL);
	}
	printf("\nindex segments (stemming: %s)\n", in->stemming[0] ? in->stemming : "none");
	if (t.n)
		table_print(&t);
	else
		printf("  none\n");
	free(t.cells);
	return 0;
}

static int text_out(const char *path, const convlog_inspect_info *in)
{
	char m[32], d[32];

	header(path, in);
	if (segments_text(in) || tables_text(in) || index_text(in))
		return -1;
	tool_human_size(in->memtable_bytes, m, sizeof(m));
	tool_human_size(in->dict_bytes, d, sizeof(d));
	printf("\nmemtable  %s, %llu entries, %d frozen\n", m,
	       (unsigned long long)in->memtable_entries, in->frozen_memtables);
	printf("dicts     %u files, %s\n", in->n_dicts, d);
	return 0;
}

/* ---- JSON ---- */

#define JI(v) json_integer((json_int_t)(v))

static int emit(json_t *o)
{
	int rc = o ? jsonl_print(stdout, o) : -1;

	json_decref(o);
	return rc;
}

static int store_json(const char *path, const convlog_inspect_info *in)
{
	char rep[24];
	uint64_t total = 0;

	for (size_t i = 0; i < in->n_segments; i++)
		total += in->segments[i].file_bytes;
	snprintf(rep, sizeof(rep), "%016llx", (unsigned long long)in->replica_id);
	return emit(json_pack(
		"{s:s, s:s, s:I, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, "
		"s:I, s:I, s:s}",
		"kind", "store", "path", path, "format", (json_int_t)in->format, "store_id",
		in->store_id, "replica_id", rep, "readonly", in->readonly, "last_lsn",
		(json_int_t)in->last_lsn, "flushed_lsn", (json_int_t)in->flushed_lsn,
		"replay_segment", (json_int_t)in->replay_segment, "replay_offset",
		(json_int_t)in->replay_offset, "conversations", (json_int_t)in->conversations,
		"messages", (json_int_t)in->messages, "content_bytes", (json_int_t)in->content_bytes,
		"segments", (json_int_t)in->n_segments, "segment_bytes", (json_int_t)total,
		"content_ratio", in->content_ratio, "frame_ratio", in->frame_ratio, "dicts",
		(json_int_t)in->n_dicts, "dict_bytes", (json_int_t)in->dict_bytes, "stemming",
		in->stemming));
}

static json_t *segment_json(const convlog_segment_info *s)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	if (json_object_set_new(o, "kind", json_string("segment")) ||
	    json_object_set_new(o, "id", JI(s->id)) ||
	    json_object_set_new(o, "tier", json_string(tier_name(s->tier))) ||
	    json_object_set_new(o, "active", json_boolean(s->active)) ||
	    json_object_set_new(o, "damaged", json_boolean(s->damaged)) ||
	    json_object_set_new(o, "file_bytes", JI(s->file_bytes)) ||
	    json_object_set_new(o, "valid_bytes", JI(s->valid_bytes)) ||
	    json_object_set_new(o, "blocks", JI(s->blocks)) ||
	    json_object_set_new(o, "frames", JI(s->frames)) ||
	    json_object_set_new(o, "records", JI(s->records)) ||
	    json_object_set_new(o, "raw_bytes", JI(s->raw_bytes)) ||
	    json_object_set_new(o, "min_lsn", JI(s->min_lsn)) ||
	    json_object_set_new(o, "max_lsn", JI(s->max_lsn)) ||
	    json_object_set_new(o, "live_bytes", JI(s->live_bytes)) ||
	    json_object_set_new(o, "live_records", JI(s->live_records)) ||
	    json_object_set_new(o, "erased_bytes", JI(s->erased_bytes)) ||
	    json_object_set_new(o, "dict_id", JI(s->dict_id))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int json_out(const char *path, const convlog_inspect_info *in)
{
	int rc = store_json(path, in);

	for (size_t i = 0; i < in->n_segments && !rc; i++)
		rc = emit(segment_json(&in->segments[i]));
	for (size_t i = 0; i < in->n_tables && !rc; i++) {
		const convlog_table_info *t = &in->tables[i];
		rc = emit(json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "kind", "table", "name",
				    t->name, "entries", (json_int_t)t->entries, "depth",
				    (json_int_t)t->depth, "branch_pages", (json_int_t)t->branch_pages,
				    "leaf_pages", (json_int_t)t->leaf_pages, "overflow_pages",
				    (json_int_t)t->overflow_pages));
	}
	if (!rc)
		rc = emit(json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "kind", "lmdb",
				    "file_bytes", (json_int_t)in->lmdb_file_bytes, "map_bytes",
				    (json_int_t)in->lmdb_map_bytes, "page_size",
				    (json_int_t)in->lmdb_page_size, "used_pages",
				    (json_int_t)in->lmdb_used_pages, "last_txn",
				    (json_int_t)in->lmdb_last_txn, "readers", (json_int_t)in->lmdb_readers,
				    "max_readers", (json_int_t)in->lmdb_max_readers));
	for (size_t i = 0; i < in->n_index_segments && !rc; i++) {
		const convlog_index_segment_info *x = &in->index_segments[i];
		rc = emit(json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "kind", "index_segment", "id",
				    (json_int_t)x->id, "bytes", (json_int_t)x->bytes, "docs",
				    (json_int_t)x->docs, "dead_docs", (json_int_t)x->dead_docs, "terms",
				    (json_int_t)x->terms));
	}
	if (!rc)
		rc = emit(json_pack("{s:s, s:I, s:I, s:i}", "kind", "memtable", "bytes",
				    (json_int_t)in->memtable_bytes, "entries",
				    (json_int_t)in->memtable_entries, "frozen", in->frozen_memtables));
	return rc;
}

int cmd_inspect(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	convlog_inspect_info *in = NULL;
	convlog_db *db = NULL;
	int c, rc, json = 0, st = TOOL_OK;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'h': fputs(usage_text, stdout); return TOOL_OK;
		default: return tool_getopt_error("inspect", c, argv);
		}
	}
	if (argc - optind != 1)
		return tool_usage("inspect", argc - optind < 1 ? "STORE is required" : "too many arguments");
	if (tool_open("inspect", argv[optind], CONVLOG_OPEN_READONLY, CONVLOG_DURABILITY_FULL, &db))
		return TOOL_FAIL;
	rc = convlog_inspect(db, &in);
	tool_close(db);
	if (rc)
		return tool_lib_err("inspect", rc, NULL);
	if (json ? json_out(argv[optind], in) : text_out(argv[optind], in)) {
		tool_err("inspect", "out of memory or write error");
		st = TOOL_FAIL;
	}
	size_t damaged = 0;
	for (size_t i = 0; i < in->n_segments; i++)
		damaged += in->segments[i].damaged != 0;
	if (damaged) {
		tool_err("inspect", "%zu damaged segment%s (see 'convlog verify')", damaged,
			 damaged == 1 ? "" : "s");
		st = TOOL_FAIL;
	}
	convlog_inspect_free(in);
	if (fflush(stdout) && !st) {
		tool_err("inspect", "write error");
		st = TOOL_FAIL;
	}
	return st;
}
