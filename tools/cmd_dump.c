/* cmd_dump.c - convlog dump: the log's records, decoded (convlog_log_scan). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "jsonl.h"
#include "util.h"

static const char usage_text[] =
	"usage: convlog dump [--raw] [--json] STORE [SEGMENT]\n"
	"\n"
	"Prints every record of STORE's segment files, decoded, in LSN order:\n"
	"first the records of compacted segments (sorted by LSN), then the log\n"
	"segments in file order.  With SEGMENT, only that segment, in file order;\n"
	"SEGMENT is its id in decimal, or the 16 hex digits of its file name\n"
	"(optionally with '.seg'), or hex with a 0x prefix.  Superseded and\n"
	"purged records are printed until a compaction drops them: this is the\n"
	"log, not the current state.  One line per record:\n"
	"\n"
	"  LSN 12  seg 1 @0x1a2b/2  msg_append  CONV seq 5  {fields}\n"
	"\n"
	"with the offset of its frame, its index in the frame, its type, its\n"
	"conversation (and seq for messages) and its fields as a JSON object\n"
	"named as in format-spec.md section 6; strings longer than 200 bytes\n"
	"are cut (\"...(N bytes)\").  The store is opened read-only, so dump\n"
	"can run beside a writer.\n"
	"\n"
	"Options:\n"
	"  --raw        also print each block header before its records:\n"
	"               block seg 1 @0x40 body 190 frames 1 records 2 lsn 1..2\n"
	"               durable 0 dict 0\n"
	"  --json       one JSON object per line, strings never cut:\n"
	"               {\"lsn\":N,\"hlc\":N,\"origin\":N,\"segment\":N,\n"
	"               \"frame_offset\":N,\"index\":N,\"length\":N,\"type\":T,\n"
	"               \"conversation_id\":ID,\"seq\":N,\"fields\":{...}}\n"
	"               (seq for message records), and with --raw\n"
	"               {\"block\":{...}} per block\n"
	"  -h, --help   show this help\n"
	"\n"
	"A damaged block is reported on standard error (and as a block line with\n"
	"--raw) and skipped.  Exit status: 0, 1 if a block was damaged or the log\n"
	"could not be read, 2 usage error.\n";

#define CUT 200 /* bytes of a string kept in human output */

typedef struct dump {
	int raw, json;
	uint64_t damaged;
} dump;

/* Bytes of text the JSON escape at s stands for (approximately for
 * \u escapes: their UTF-8 length). */
static size_t esc_len(const char *s, size_t *adv)
{
	if (s[1] != 'u') {
		*adv = s[1] ? 2 : 1;
		return 1;
	}
	unsigned v = 0;
	size_t i = 2;
	for (; i < 6 && s[i]; i++) {
		char c = s[i];
		v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	*adv = i;
	return v < 0x80 ? 1 : v < 0x800 || (v >= 0xd800 && v < 0xe000) ? 2 : 3;
}

/*
 * Writes JSON text with every string longer than CUT bytes cut at a
 * character boundary and ended with "…(N bytes)".
 */
static void put_cut(FILE *f, const char *j)
{
	const char *p = j;

	while (*p) {
		if (*p != '"') {
			fputc(*p++, f);
			continue;
		}
		const char *s = ++p, *cut = NULL;
		size_t n = 0, adv;
		while (*p && *p != '"') {
			if (n >= CUT && !cut)
				cut = p;
			if (*p == '\\') {
				n += esc_len(p, &adv);
				p += adv;
			} else {
				n++;
				p++;
				while ((*p & 0xc0) == 0x80) { /* the rest of a UTF-8 character */
					n++;
					p++;
				}
			}
		}
		if (cut) {
			fputc('"', f);
			fwrite(s, 1, (size_t)(cut - s), f);
			fprintf(f, "\xe2\x80\xa6(%zu bytes)\"", n);
		} else {
			fputc('"', f);
			fwrite(s, 1, (size_t)(p - s), f);
			if (*p)
				fputc('"', f);
		}
		if (*p)
			p++;
	}
}

static int on_block(void *ud, const convlog_log_block *b)
{
	dump *d = ud;

	if (b->problem) {
		d->damaged++;
		tool_err("dump", "segment %llu offset 0x%llx: damaged block: %s",
			 (unsigned long long)b->segment, (unsigned long long)b->offset, b->problem);
	}
	if (!d->raw)
		return 0;
	if (d->json) {
		json_t *o = json_pack("{s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}}", "block",
				      "segment", (json_int_t)b->segment, "offset", (json_int_t)b->offset,
				      "body_len", (json_int_t)b->body_len, "frames",
				      (json_int_t)b->frame_count, "records", (json_int_t)b->record_count,
				      "min_lsn", (json_int_t)b->min_lsn, "max_lsn", (json_int_t)b->max_lsn,
				      "durable_lsn", (json_int_t)b->durable_lsn, "dict_id",
				      (json_int_t)b->dict_id, "problem",
				      b->problem ? json_string(b->problem) : json_null());
		int rc = o ? jsonl_print(stdout, o) : -1;
		json_decref(o);
		return rc ? 1 : 0;
	}
	printf("block seg %llu @0x%llx body %u frames %u records %u lsn %llu..%llu durable %llu dict %u%s%s\n",
	       (unsigned long long)b->segment, (unsigned long long)b->offset, b->body_len,
	       b->frame_count, b->record_count, (unsigned long long)b->min_lsn,
	       (unsigned long long)b->max_lsn, (unsigned long long)b->durable_lsn, b->dict_id,
	       b->problem ? "  DAMAGED: " : "", b->problem ? b->problem : "");
	return ferror(stdout) ? 1 : 0;
}

static int is_msg(const convlog_log_record *r)
{
	return !strncmp(r->type, "msg_", 4);
}

static int on_record(void *ud, const convlog_log_record *r)
{
	dump *d = ud;
	char id[CONVLOG_UUID_STRLEN];

	convlog_uuid_format(&r->conv_id, id);
	if (d->json) {
		printf("{\"lsn\":%llu,\"hlc\":%llu,\"origin\":%llu,\"segment\":%llu,\"frame_offset\":%llu,"
		       "\"index\":%u,\"length\":%u,\"type\":\"%s\",\"conversation_id\":\"%s\"",
		       (unsigned long long)r->lsn, (unsigned long long)r->hlc,
		       (unsigned long long)r->origin, (unsigned long long)r->segment,
		       (unsigned long long)r->frame_offset, r->index, r->length, r->type, id);
		if (is_msg(r))
			printf(",\"seq\":%u", r->seq);
		printf(",\"fields\":%s}\n", r->json);
	} else {
		printf("LSN %llu  seg %llu @0x%llx/%u  %s  %s", (unsigned long long)r->lsn,
		       (unsigned long long)r->segment, (unsigned long long)r->frame_offset, r->index,
		       r->type, id);
		if (is_msg(r))
			printf(" seq %u", r->seq);
		fputs("  ", stdout);
		put_cut(stdout, r->json);
		fputc('\n', stdout);
	}
	return ferror(stdout) ? 1 : 0;
}

static int hexval(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 16)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
						     : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (x < 0)
			return -1;
		v = v << 4 | (uint64_t)x;
	}
	*out = v;
	return 0;
}

/* A SEGMENT operand: decimal, "0x" hex, or a file name's 16 hex digits
 * (with or without ".seg"). */
static int parse_segment(const char *s, uint64_t *id)
{
	size_t n = strlen(s);
	int rc;

	if (n > 4 && !strcmp(s + n - 4, ".seg"))
		rc = n == 20 ? hexval(s, 16, id) : -1;
	else if (n == 16)
		rc = hexval(s, 16, id);
	else if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		rc = hexval(s + 2, n - 2, id);
	else
		rc = tool_parse_u64(s, UINT64_MAX, id);
	return rc || *id == 0 ? -1 : 0;
}

int cmd_dump(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"raw", no_argument, NULL, 'r'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	dump d = {0};
	convlog_db *db = NULL;
	uint64_t seg = 0;
	int c, rc, st = TOOL_OK;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': d.raw = 1; break;
		case 'j': d.json = 1; break;
		case 'h': fputs(usage_text, stdout); return TOOL_OK;
		default: return tool_getopt_error("dump", c, argv);
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		return tool_usage("dump", argc - optind < 1 ? "STORE is required" : "too many arguments");
	if (argc - optind == 2 && parse_segment(argv[optind + 1], &seg))
		return tool_usage("dump", "SEGMENT is a segment id (decimal, 0x hex, or the 16 hex "
				  "digits of its file name), not '%s'", argv[optind + 1]);
	if (tool_open("dump", argv[optind], CONVLOG_OPEN_READONLY, CONVLOG_DURABILITY_FULL, &db))
		return TOOL_FAIL;
	rc = convlog_log_scan(db, seg, on_block, on_record, &d);
	if (rc < 0)
		st = tool_lib_err("dump", rc, NULL);
	else if (rc > 0 || fflush(stdout)) {
		tool_err("dump", "write error");
		st = TOOL_FAIL;
	}
	tool_close(db);
	if (d.damaged) {
		tool_err("dump", "%llu damaged block%s skipped", (unsigned long long)d.damaged,
			 d.damaged == 1 ? "" : "s");
		st = TOOL_FAIL;
	}
	return st;
}
