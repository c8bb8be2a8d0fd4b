/*
 * fuzz_import: every import format.  Input: one selector byte, then the
 * file.  Selector % 5 picks the format (auto, chatgpt, claude, openai,
 * convlog); then
 *   bit 7 clear: in process, as the importer hands items over: the file
 *     is parsed as a JSON array (each element one source conversation) or
 *     as JSONL (each line one), every item goes through foreign_detect,
 *     foreign_convert (tools/foreign*.c) and foreign_describe, and every
 *     object that yields through the strict convlog JSONL parser
 *     (tools/jsonl.c), as do the lines of a convlog file;
 *   bit 7 set: the whole `convlog import -k [-f FORMAT] STORE FILE`
 *     (tools/cmd_import.c: the streaming array scanner, detection, the
 *     per-conversation transactions) on a store kept between runs and
 *     recreated every 500 of them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmds.h"
#include "convlog.h"
#include "foreign.h"
#include "fuzz_common.h"
#include "jsonl.h"

#define NOW 1700000000000LL
#define MAX_ITEMS 32

static const foreign_format formats[5] = {FOREIGN_AUTO, FOREIGN_CHATGPT, FOREIGN_CLAUDE,
					  FOREIGN_OPENAI, FOREIGN_CONVLOG};

static void convlog_obj(const json_t *o)
{
	char err[512];
	const char *t = jsonl_type(o);

	if (t && !strcmp(t, "conversation")) {
		jsonl_conv_in ci;
		memset(&ci, 0, sizeof(ci));
		(void)jsonl_conv_parse(o, &ci, err, sizeof(err));
		jsonl_conv_clear(&ci);
	} else if (t && !strcmp(t, "message")) {
		jsonl_msg_in mi;
		memset(&mi, 0, sizeof(mi));
		(void)jsonl_msg_parse(o, &mi, err, sizeof(err));
		jsonl_msg_clear(&mi);
	}
}

/* One source item: converted if foreign, parsed if convlog. */
static void item(foreign_format fmt, const json_t *src, long index, const char *raw, size_t len,
		 int in_array)
{
	char err[512], name[256];
	json_t *out = NULL;

	if (fmt == FOREIGN_AUTO)
		fmt = foreign_detect(src, in_array);
	if (fmt == FOREIGN_AUTO || fmt == FOREIGN_CONVLOG) {
		convlog_obj(src);
		return;
	}
	foreign_describe(fmt, src, name, sizeof(name));
	if (foreign_convert(fmt, src, index, raw, len, NOW, &out, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < json_array_size(out); i++) {
			const json_t *o = json_array_get(out, i);
			char *s = jsonl_dump_value(o);
			free(s);
			convlog_obj(o);
		}
		json_decref(out);
	}
	foreign_describe(fmt, src, name, sizeof(name));
}

static void in_process(foreign_format fmt, const char *text, size_t len)
{
	json_error_t e;
	json_t *v;

	if (len && text[0] == '[') {
		if (!(v = json_loadb(text, len, JSONL_LOAD_FLAGS, &e)))
			return;
		for (size_t i = 0; i < json_array_size(v) && i < MAX_ITEMS; i++) {
			json_t *el = json_array_get(v, i);
			char *raw = json_dumps(el, JSON_COMPACT | JSON_ENCODE_ANY);
			item(fmt, el, (long)i, raw ? raw : "", raw ? strlen(raw) : 0, 1);
			free(raw);
		}
		json_decref(v);
		return;
	}
	for (size_t off = 0, n = 0; off < len && n < MAX_ITEMS; n++) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t l = nl ? (size_t)(nl - (text + off)) + 1 : len - off;
		if ((v = json_loadb(text + off, l, JSONL_LOAD_FLAGS, &e))) {
			item(fmt, v, (long)n, text + off, l, 0);
			json_decref(v);
		}
		off += l;
	}
}

static char dir[4096], store[4200], file[4200];

static void whole_command(foreign_format fmt, const uint8_t *text, size_t len)
{
	static unsigned runs;
	char *argv[8];
	int argc = 0;
	FILE *out = stdout, *err = stderr, *null;

	if (runs++ % 500 == 0) {
		/* `convlog init`: the command imports into an existing store */
		convlog_db *db;
		fz_rmtree(store);
		if (convlog_open(store, NULL, &db))
			abort();
		convlog_close(db);
	}
	fz_write(file, text, len, NULL, 0);
	argv[argc++] = "import";
	argv[argc++] = "-k";
	argv[argc++] = "--no-progress";
	if (fmt != FOREIGN_AUTO) {
		argv[argc++] = "-f";
		argv[argc++] = (char *)foreign_name(fmt);
	}
	argv[argc++] = store;
	argv[argc++] = file;
	argv[argc] = NULL;
	/* the command's messages go nowhere; sanitizer reports still reach
	 * file descriptor 2 */
	if (!getenv("FUZZ_DEBUG") && (null = fopen("/dev/null", "w"))) {
		stdout = stderr = null;
		(void)cmd_import(argc, argv);
		stdout = out;
		stderr = err;
		fclose(null);
	} else {
		(void)cmd_import(argc, argv);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		fz_tempdir(dir, sizeof(dir), "import");
		snprintf(store, sizeof(store), "%s/store", dir);
		snprintf(file, sizeof(file), "%s/input", dir);
	}
	if (size < 1 || size > (1u << 20))
		return 0;
	foreign_format fmt = formats[(data[0] & 0x7f) % 5];
	if (data[0] & 0x80)
		whole_command(fmt, data + 1, size - 1);
	else
		in_process(fmt, (const char *)data + 1, size - 1);
	return 0;
}
