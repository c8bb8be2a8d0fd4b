/*
 * jsonl.h - the convlog JSONL format: conversations and messages as one
 * JSON object per line (documented in convlog(1), section JSONL FORMAT).
 *
 * Output: jsonl_conv_json()/jsonl_msg_json() build a jansson object with
 * the keys in the documented order; jsonl_print() writes it as one compact
 * line (UTF-8 not escaped).
 *
 * Input: jsonl_conv_parse()/jsonl_msg_parse() check one object strictly
 * (types, ranges, enum names, UUIDs, times; unknown keys are errors) and
 * fill a convlog input record whose strings are borrowed from the object:
 * keep the json_t alive while the record is used, then call *_clear().
 */
#ifndef CONVLOG_TOOL_JSONL_H
#define CONVLOG_TOOL_JSONL_H

#include <stdio.h>

#include <jansson.h>

#include "convlog.h"

/* Flags used to parse one line: duplicate keys are errors, \u0000 allowed. */
#define JSONL_LOAD_FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)

/* New object for `c` (derived aggregates included), NULL on failure. */
json_t *jsonl_conv_json(const convlog_conv *c);

/* New object for `m`, NULL on failure. */
json_t *jsonl_msg_json(const convlog_msg *m);

/* Writes `obj` compactly plus "\n".  Returns 0, or -1 on a write error. */
int jsonl_print(FILE *f, const json_t *obj);

/* jsonl_conv_json()/jsonl_msg_json() then jsonl_print().  Returns 0, or
 * -1 when the object cannot be built or written. */
int jsonl_print_conv(FILE *f, const convlog_conv *c);
int jsonl_print_msg(FILE *f, const convlog_msg *m);

/* Sets o[k] to ms since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ", nothing
 * when ms is 0.  Returns 0, or -1 on failure. */
int jsonl_set_time(json_t *o, const char *k, int64_t ms);

/* Stored JSON text re-serialised compactly with short reals (malloc'd;
 * free()).  NULL on failure. */
char *jsonl_reformat(const char *text);

/* "conversation", "message", or NULL when "type" is missing/not a string. */
const char *jsonl_type(const json_t *obj);

/* v's JSON type for error messages: "an object", "a string", ..., "null". */
const char *jsonl_type_name(const json_t *v);

typedef struct jsonl_conv_in {
	convlog_conv c;
	const char **tags;        /* owned array, strings borrowed */
	convlog_cursor *cursors;  /* owned array, names borrowed */
	char *metadata;           /* owned compact JSON text */
} jsonl_conv_in;

typedef struct jsonl_msg_in {
	convlog_msg m;
	char *tool_calls;         /* owned compact JSON text */
	char *metadata;           /* owned compact JSON text */
	int has_parent_seq;       /* "parent_seq" was given */
} jsonl_msg_in;

/*
 * Fills `out` from a "conversation" object.  Returns 0, or -1 with a
 * message in err.  Call jsonl_conv_clear() in both cases.
 */
int jsonl_conv_parse(const json_t *obj, jsonl_conv_in *out, char *err, size_t errlen);
void jsonl_conv_clear(jsonl_conv_in *in);

/* Same for a "message" object.  parent_seq defaults to seq - 1. */
int jsonl_msg_parse(const json_t *obj, jsonl_msg_in *out, char *err, size_t errlen);
void jsonl_msg_clear(jsonl_msg_in *in);

/* Compact JSON text of a value the way jsonl input hands it to convlog
 * (malloc'd; free()).  NULL on failure. */
char *jsonl_dump_value(const json_t *v);

#endif
